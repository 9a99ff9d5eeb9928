/* qsched.h — the queue scheduler: one background thread that runs queue
 * timers (message expiry, x-expires) and dead-letters messages.
 *
 * Dead-lettering republishes a message through the vhost's routing, which
 * takes the vhost lock; the queue code that decides a message dies (expiry,
 * overflow, reject) often runs under a queue lock or the vhost lock, so it
 * hands the message here instead and this thread routes it with no lock held.
 * Its own mutex is a leaf: callable under any queue or vhost lock. The thread
 * starts on first use; qsched_stop drains pending work (main, at shutdown). */
#ifndef WARREN_QSCHED_H
#define WARREN_QSCHED_H
#include <stdbool.h>
#include <stdint.h>

#include "message.h"

struct queue;

enum dl_reason { DL_REJECTED, DL_EXPIRED, DL_MAXLEN, DL_DELIVERY_LIMIT };

/* Call queue_on_timer(q) at monotonic time when (ms) or soon after. Takes
 * its own reference on q. */
void qsched_arm(struct queue *q, uint64_t when);
/* Call fn() on the scheduler thread (no lock held) at monotonic time when
 * (ms) or soon after; each call arms one more run. */
void qsched_arm_fn(void (*fn)(void), uint64_t when);
/* Dead-letter m (possibly lazy; the caller's reference is taken over) that
 * left q for reason: it is acked in q's log, rewritten with x-death and routed
 * to q's dead-letter exchange. */
void qsched_deadletter(struct queue *q, msg *m, enum dl_reason reason);
/* The same, done now on the calling thread, which must hold no lock (a
 * consumer's reject: the dead-lettered copy is routed before the reject's
 * next frame is read, as RabbitMQ's queue process does it in order). */
void qsched_deadletter_now(struct queue *q, msg *m, enum dl_reason reason);
/* Recovery (store_open) holds the thread while it restores queues, so a
 * message found expired at recovery is dead-lettered only once every queue
 * is back (its DLX queue too); timers and dead-letters armed meanwhile wait. */
void qsched_hold(bool hold);
/* Finish pending dead-letters, drop timers, join the thread. */
void qsched_stop(void);
#endif
