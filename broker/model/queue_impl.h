/* queue_impl.h — what the queue types share from queue.c: the classic
 * implementation of each op, for a type that keeps most of them (quorum),
 * and the two steps a type builds its own ops from. Private to model/queue*.c. */
#ifndef WARREN_QUEUE_IMPL_H
#define WARREN_QUEUE_IMPL_H
#include <stdbool.h>
#include <stdint.h>

#include "qfeat.h"
#include "qsched.h"
#include "queue.h"
#include "queue_type.h"

int queue_classic_enqueue(queue *q, msg *m);
void queue_classic_dispatch(queue *q);
void queue_classic_ack(queue *q, msg *m);
int queue_classic_get(queue *q, qentry *e, uint32_t *left);
uint32_t queue_classic_purge(queue *q);
uint32_t queue_classic_delete(queue *q);
void queue_classic_stats(queue *q, uint32_t *messages, uint32_t *consumers);
void queue_classic_restore(queue *q, uint64_t pos, msg *full, bool redelivered, uint64_t exp);
/* Put m back (takes the reference) at its place (seq), or behind everything
 * ready (back), and dispatch; logged: write a return record (its count and
 * place survive a restart). A deleted queue drops it. No lock held. */
void queue_put_back(queue *q, msg *m, uint64_t seq, uint64_t exp, bool redelivered, bool back, bool logged);
/* m leaves q undelivered: dead-lettered for reason when q has a dead-letter
 * exchange, else acked in the log. Takes the reference. Caller holds q's lock
 * (its dead-letter configuration may be replaced by a policy). */
void queue_drop(queue *q, msg *m, enum dl_reason reason);
#endif
