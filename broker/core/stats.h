/* stats.h — message and connection counters the hot path keeps without locks
 * (RabbitMQ's message_stats and its Prometheus global counters).
 *
 * A stat_set is one block of plain counters per worker thread (slot 1 + the
 * worker's id) plus a shared block (slot 0) for every other thread (the
 * control socket, timers, the HTTP API). A worker writes only its own block,
 * with a relaxed load and store (no locked instruction, no contention: each
 * block is on cache lines of its own); other threads add to slot 0 with a
 * relaxed fetch-add, off the hot path. Readers (the sampler, /metrics) sum
 * the slots with relaxed loads: a sum is not a snapshot of one instant, but
 * every counter only grows. No malloc, lock or syscall per message.
 *
 * stats_global is the node's set; each vhost has one (model/vhost.c). Queues
 * and exchanges keep theirs as relaxed atomics in the object (queue.h,
 * vhost.h), channels and connections as plain fields their worker owns. */
#ifndef WARREN_STATS_H
#define WARREN_STATS_H
#include <stdatomic.h>
#include <stdint.h>

enum stat_ctr {
    STAT_PUBLISH,           /* messages received from publishers (basic.publish) */
    STAT_PUBLISH_CONFIRM,   /* ... of them on channels in confirm mode */
    STAT_ROUTED,            /* copies routed into queues (one per queue reached) */
    STAT_CONFIRM,           /* basic.ack confirms sent to publishers */
    STAT_RETURN_UNROUTABLE, /* mandatory messages returned (no queue) */
    STAT_DROP_UNROUTABLE,   /* messages routed to no queue and dropped */
    STAT_DELIVER,           /* basic.deliver, manual ack */
    STAT_DELIVER_NO_ACK,    /* basic.deliver, no_ack */
    STAT_GET,               /* basic.get-ok, manual ack */
    STAT_GET_NO_ACK,        /* basic.get-ok, no_ack */
    STAT_GET_EMPTY,         /* basic.get-empty */
    STAT_REDELIVER,         /* deliveries and gets with redelivered set */
    STAT_ACK,               /* messages acknowledged by consumers */
    STAT_RECV_OCT,          /* bytes read from client sockets */
    STAT_RECV_CNT,          /* reads */
    STAT_SEND_OCT,          /* bytes written to client sockets */
    STAT_SEND_CNT,          /* writes */
    STAT_CONN_OPENED,       /* connections accepted */
    STAT_CONN_CLOSED,       /* ... and gone */
    STAT_CH_OPENED,         /* channels opened */
    STAT_CH_CLOSED,         /* ... and closed */
    STAT_Q_DECLARED,        /* queue.declare (and the HTTP API's PUT) that succeeded */
    STAT_Q_CREATED,         /* queues created */
    STAT_Q_DELETED,         /* queues deleted */
    STAT_PUBLISHERS_UP,     /* channels that published for the first time */
    STAT_PUBLISHERS_DOWN,   /* ... and were closed (the difference: rabbitmq_global_publishers) */
    STAT_N
};

#define STAT_SLOTS 65 /* slot 0: non-worker threads; 1..64: workers (--threads is at most 64) */

typedef struct stat_block {
    _Atomic uint64_t v[STAT_N];
} __attribute__((aligned(64))) stat_block;

typedef struct stat_set {
    stat_block *slot; /* STAT_SLOTS blocks, NULL until stat_set_init */
} stat_set;

extern stat_set stats_global;
/* This thread's slot: 0 unless stats_set_thread_slot gave it one. */
extern __thread int stats_tslot;

/* A worker thread takes slot id + 1 (core/worker.c, as its loop starts). */
void stats_set_thread_slot(int worker_id);
void stat_set_init(stat_set *s);
void stat_set_free(stat_set *s);
/* Sum every slot into out[STAT_N] (adds to what out holds). Any thread. */
void stat_set_sum(const stat_set *s, uint64_t *out);

static inline void stat_add(stat_set *s, enum stat_ctr c, uint64_t n) {
    if (!s->slot) return;
    int i = stats_tslot;
    _Atomic uint64_t *p = &s->slot[i].v[c];
    if (i) atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n, memory_order_relaxed);
    else atomic_fetch_add_explicit(p, n, memory_order_relaxed);
}
/* The node's set and a vhost's set in one call (most events count in both). */
static inline void stat_add2(stat_set *vh, enum stat_ctr c, uint64_t n) {
    stat_add(&stats_global, c, n);
    if (vh) stat_add(vh, c, n);
}

/* A counter in a shared object (queue, exchange) bumped by any thread: a
 * relaxed fetch-add; under a lock that serialises its writers, ctr_add_locked
 * (a plain load and store). */
static inline void ctr_add(_Atomic uint64_t *p, uint64_t n) { atomic_fetch_add_explicit(p, n, memory_order_relaxed); }
static inline void ctr_add_locked(_Atomic uint64_t *p, uint64_t n) {
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline uint64_t ctr_get(const _Atomic uint64_t *p) {
    return atomic_load_explicit((_Atomic uint64_t *)p, memory_order_relaxed);
}

/* Per-queue counters (queue.h: q->st[]). */
enum qstat {
    QST_PUBLISH,        /* messages enqueued */
    QST_DELIVER,        /* delivered to manual-ack consumers */
    QST_DELIVER_NO_ACK, /* delivered to no-ack consumers */
    QST_GET,
    QST_GET_NO_ACK,
    QST_GET_EMPTY,
    QST_REDELIVER,
    QST_ACK,
    QST_N
};
/* Per-exchange counters (vhost.h: x->st[]). */
enum xstat { XST_PUBLISH_IN, XST_PUBLISH_OUT, XST_N };
/* Per-channel counters (channel.h: ch->st[]; owner worker only). */
enum chstat {
    CHST_PUBLISH,
    CHST_CONFIRM,
    CHST_RETURN_UNROUTABLE,
    CHST_DROP_UNROUTABLE,
    CHST_DELIVER,
    CHST_DELIVER_NO_ACK,
    CHST_GET,
    CHST_GET_NO_ACK,
    CHST_GET_EMPTY,
    CHST_REDELIVER,
    CHST_ACK,
    CHST_N
};
#endif
