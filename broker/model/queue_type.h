/* queue_type.h — queue types behind one interface, as RabbitMQ's
 * rabbit_queue_type: the channel and the rest of the broker call the queue_*
 * functions of queue.h ("a queue"), and each of them goes through q->type.
 * Today: classic (queue.c) and quorum (queue_quorum.c, the classic machinery
 * plus delivery counts, its delivery limit and return-to-back); a stream
 * declare is accepted as RabbitMQ's and runs as classic until a stream type is
 * written. A new type (a replicated quorum queue, a stream) is one file that
 * fills in a queue_type and one row in queue_type.c.
 *
 * Every op takes the queue unlocked and locks what it needs; threads as in
 * queue.h. */
#ifndef WARREN_QUEUE_TYPE_H
#define WARREN_QUEUE_TYPE_H
#include <stdbool.h>
#include <stdint.h>

#include "amq/buf.h"
#include "message.h"

struct queue;
struct qentry;

typedef struct queue_type {
    const char *name;        /* its x-queue-type value: "classic", "quorum" */
    const char *rabbit_name; /* RabbitMQ's module, in error texts: "rabbit_quorum_queue" */
    int qt;                  /* its QT_* bit (qfeat.h): the arguments it takes */
    bool check_args;         /* refuse the arguments its qfeat rows do not list */
    bool durable_only;       /* refuses exclusive, auto-delete and non-durable declares */
    bool positions_tail;     /* a deep durable queue may keep its tail as log positions only */
    bool recover_returns;    /* recovery replays its return records (order, delivery counts) */
    /* declare: read the type's own arguments into a new q (no lock: nobody sees q yet). */
    void (*declare)(struct queue *q, amq_bytes args);
    /* enqueue a routed message: 0, -1 (queue deleted), 1 / 2 (x-overflow refused; see queue_publish). */
    int (*enqueue)(struct queue *q, msg *m);
    /* hand ready messages to consumers with credit. */
    void (*dispatch)(struct queue *q);
    /* a delivered message was acked (or dropped without requeue): it leaves for good. */
    void (*ack)(struct queue *q, msg *m);
    /* a delivery comes back: its consumer or channel went away (requeue, keeps its place) or
     * the client asked (ret: reject/nack requeue, recover). Take the reference on m. */
    void (*requeue)(struct queue *q, msg *m, uint64_t seq, uint64_t exp, bool redelivered);
    void (*ret)(struct queue *q, msg *m, uint64_t seq, uint64_t exp);
    /* basic.get: the next ready message (see queue_get); got: the copy to hand out
     * (NULL = m as it is). */
    int (*get)(struct queue *q, struct qentry *e, uint32_t *left);
    msg *(*got)(const struct queue *q, const msg *m);
    uint32_t (*purge)(struct queue *q);
    uint32_t (*del)(struct queue *q);
    void (*stats)(struct queue *q, uint32_t *messages, uint32_t *consumers);
    /* recovery: one message back from the log (see queue_restore). */
    void (*restore)(struct queue *q, uint64_t pos, msg *full, bool redelivered, uint64_t exp);
} queue_type;

extern const queue_type queue_type_classic, queue_type_quorum, queue_type_stream;
/* The type an x-queue-type value names, NULL for none (the value is refused);
 * an empty name is classic. */
const queue_type *queue_type_find(amq_bytes name);
/* The type of a declare's arguments (classic when x-queue-type is absent or unknown). */
const queue_type *queue_type_of(amq_bytes args);
#endif
