/* queue.h — queues and consumers.
 *
 * Concurrency choice: a per-queue mutex with short critical sections, not a
 * home thread per queue. Publishers on any worker enqueue directly under the
 * queue's lock; dispatch runs under the same lock (by whichever thread made
 * progress possible: a publish, an ack, a new consumer) and picks a consumer
 * with credit, round-robin among the highest consumer priority, then posts
 * the delivery to the consumer's worker mailbox. The lock is never held
 * across a syscall (mailbox wake-ups are deferred, see worker.h). Per-queue
 * FIFO holds across threads because assignment order is decided under the
 * lock and each worker's mailbox is FIFO.
 *
 * A message requeued (reject/nack/recover, or a consumer that went away)
 * returns to its original position: every entry keeps its enqueue sequence
 * number and the queue always hands out the lowest one first. */
#ifndef WARREN_QUEUE_H
#define WARREN_QUEUE_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "amq/buf.h"
#include "fifo.h"
#include "message.h"
#include "stats.h"

struct vhost;
struct worker;
struct channel;

typedef struct qentry {
    msg *m;
    uint64_t seq;
    uint64_t exp; /* monotonic ms after which it expires (message TTL), 0 = never */
    uint16_t redelivered;
    uint8_t prio; /* priority lane (x-max-priority queues), 0 otherwise */
    uint8_t spare;
    uint32_t size; /* body bytes (capped), so accounting never touches a cold message */
} qentry;

typedef fifo qring; /* of qentry (core/fifo.h) */

/* The on-disk tail of a deep durable queue: log positions of persistent
 * messages whose bodies stay in the log, in fixed blocks (exactly 8 bytes of
 * RAM per message, plus one block of slack). Entries are consecutive in
 * sequence: the front has sequence seq0, the next seq0 + 1, ... */
#define LZQ_BLOCK 8192
typedef struct lzq {
    uint64_t **blocks;
    size_t nblocks, capblocks;
    size_t head; /* index of the front within blocks[0] */
    size_t n;
    uint64_t seq0;
} lzq;

/* One priority of an x-max-priority queue: its own ready/requeued pair. */
typedef struct qlane {
    qring ready, requeued;
} qlane;

/* Channel-wide credit for basic.qos global=true. Lives in its channel; a
 * consumer's pointer to it stays valid while the consumer is registered. */
typedef struct chan_credit {
    atomic_uint prefetch; /* 0 = unlimited */
    atomic_uint unacked;
} chan_credit;

#define CONSUMER_INFLIGHT_MAX 512
/* A durable queue keeps at most this many persistent messages in memory;
 * beyond it new ones are held as log positions (8 bytes of payload each). */
#define QUEUE_RAM_MAX 20000 /* deliveries posted but not yet written */

typedef struct consumer {
    atomic_int refs;
    struct queue *q;        /* held reference */
    struct worker *w;       /* the owning connection's worker */
    struct channel *ch;     /* owner thread only, and only while !cancelled */
    atomic_bool *throttled; /* owner connection's output is over its high mark */
    chan_credit *cc;
    char tag[256];
    uint8_t tag_len;
    bool no_ack, exclusive;
    int32_t priority;
    atomic_uint prefetch; /* 0 = unlimited */
    atomic_uint unacked;
    atomic_uint inflight;
    atomic_bool cancelled;
    _Atomic uint64_t reply_waiters; /* direct reply-to: bit i, worker i has a replier held for us */
} consumer;

typedef struct queue {
    pthread_mutex_t lock;
    atomic_int refs;
    struct vhost *vh;
    char name[256];
    uint8_t name_len;
    bool durable, exclusive, auto_delete;
    bool deleted;        /* under lock */
    bool had_consumer;   /* auto-delete applies once a consumer came and went */
    uint64_t owner_conn; /* exclusive owner connection id, 0 = none */
    uint64_t qid;        /* durable queue id in the log, 0 = transient */
    amq_bytes args;      /* owned copy of declare arguments */
    qring ready;         /* in sequence order */
    qring requeued;      /* sorted by seq; merged with ready at the head */
    lzq lz;              /* deep durable queues without arguments: positions only */
    uint64_t next_seq;
    consumer **consumers;
    size_t nconsumers, cap_consumers, rr;
    uint64_t ready_bytes;
    /* x-max-priority > 0: lanes[p-1] holds priority p (1..max_prio); priority 0
     * stays in ready/requeued, so plain queues never look at lanes. */
    qlane *lanes;
    size_t lanes_n; /* messages in lanes */
    uint8_t max_prio;
    const struct queue_type *type; /* x-queue-type (queue_type.h): every queue_* op goes through it */
    int64_t delivery_limit;        /* quorum x-delivery-limit (or policy), -1 = none; under lock */
    struct dedup *dedup;           /* x-message-deduplication (dedup.h), NULL = off */
    bool sac;                      /* x-single-active-consumer */
    consumer *sac_active;          /* the one consumer served (one of consumers[]), under lock */
    struct qfeat *feat;            /* TTL, dead-lettering, limits (qfeat.h); NULL = none. Its arguments resolved
                             * with the policies (policy.h): replaced, never modified, under the vhost's
                             * write lock and the queue lock, so either lock makes reading it safe */
    char *policy[2];               /* names of the policy and operator policy applied (policy.c), vhost lock */
    struct {                       /* timers (qsched.h), under lock */
        uint64_t armed_at;         /* earliest timer armed (monotonic ms), 0 = none */
        uint64_t last_exp;         /* expiry of the last entry pushed */
        uint64_t last_sweep;
        bool unordered;     /* some entry expires before one ahead of it */
        uint64_t last_used; /* x-expires: last consumer, basic.get or declare */
    } tm;
    _Atomic uint64_t st[QST_N]; /* message_stats (stats.h): written under lock, read relaxed */
} queue;

/* A new queue with refs = 1 (the vhost's). Copies name and args. */
queue *queue_new(struct vhost *vh, amq_bytes name, bool durable, bool exclusive, bool auto_delete, amq_bytes args,
                 uint64_t owner_conn);
void queue_ref(queue *q);
/* Drop a reference; frees at zero (messages released). NULL-safe. */
void queue_unref(queue **q);
static inline amq_bytes queue_name(const queue *q) { return (amq_bytes){(const uint8_t *)q->name, q->name_len}; }

/* Enqueue (takes its own reference on m) and dispatch. Returns 0, -1 if the
 * queue was deleted meanwhile, or 1 if its x-overflow rule refused the
 * message (reject-publish: the caller acks it in the log and nacks the
 * publisher). Any thread. */
int queue_publish(queue *q, msg *m);
/* Timer callback (qsched.c): expire messages, x-expires. */
void queue_on_timer(queue *q);
/* The queue was used (declare, basic.get): restarts its x-expires period. */
void queue_touch(queue *q);
/* x-expires: no consumer and unused for the whole period as of now. */
bool queue_unused_since(queue *q, uint64_t now);
/* Put a message back at its original position (takes ownership of the
 * caller's reference on m) and dispatch. exp: its expiry as delivered. */
void queue_requeue(queue *q, msg *m, uint64_t seq, uint64_t exp, bool redelivered);
/* The same for a client's explicit requeue (basic.reject/nack requeue=true,
 * basic.recover): a quorum queue puts the message at its back, as RabbitMQ
 * 3.10's do (a consumer or channel that goes away returns its messages to
 * their places, queue_requeue); other queues keep its place. */
void queue_return(queue *q, msg *m, uint64_t seq, uint64_t exp);
/* A message left q without requeue (reject/nack): dead-letter it if q has a
 * dead-letter exchange, else ack it in the log. Takes the reference. */
void queue_discard(queue *q, msg *m);
/* A copy of q's dead-lettering configuration (under its lock, since a
 * policy may replace it): false when q has no dead-letter exchange now. */
struct qfeat;
bool queue_dl_target(queue *q, struct qfeat *out);
/* Recovery: append the message whose record is at pos; its body stays on disk
 * (or full, when not NULL: the message itself, whose reference is taken).
 * exp: when it expires (monotonic ms, already past for one whose TTL ran out
 * while the broker was down: it is expired, or dead-lettered, at once), 0 =
 * never, or QUEUE_EXP_UNKNOWN for a record without an enqueue time (the
 * queue's x-message-ttl then counts from now). */
#define QUEUE_EXP_UNKNOWN UINT64_MAX
void queue_restore(queue *q, uint64_t pos, msg *full, bool redelivered, uint64_t exp);
/* A delivered message was acked, or rejected without requeue by a queue
 * without dead-lettering: it leaves for good. Takes the reference. */
void queue_ack(queue *q, msg *m);
/* The copy of m basic.get hands out (a quorum queue adds x-delivery-count),
 * or NULL to hand out m itself. */
msg *queue_got(const queue *q, const msg *m);
/* Take the next ready message for basic.get; returns 1 with *e filled (the
 * caller owns e->m's reference; it may be lazy, see message.h) and *left = messages still ready, 0 if empty. */
int queue_get(queue *q, qentry *e, uint32_t *left);
/* Policies (policy.c): q's effective configuration changed. Takes feat;
 * caller holds the vhost's write lock. Over a lowered x-max-length (drop-head)
 * the oldest messages go at once, as RabbitMQ does; x-expires restarts. */
void queue_set_config(queue *q, struct qfeat *feat, int64_t delivery_limit);
/* Drop all ready messages; returns how many. */
uint32_t queue_purge(queue *q);
void queue_counts(queue *q, uint32_t *messages, uint32_t *consumers);
/* Messages delivered to its consumers and not yet acknowledged (any thread). */
uint32_t queue_unacked(queue *q);
/* Run dispatch under the lock. Any thread. */
void queue_dispatch(queue *q);

/* Consumers. add returns 0, or 403 when an exclusive consumer is in the way
 * (either side). Takes a reference on c. */
int queue_add_consumer(queue *q, consumer *c);
/* Remove c (if present); returns the remaining number of consumers, or -1
 * if c was not registered. Drops the queue's reference on c. */
int queue_remove_consumer(queue *q, consumer *c);
/* Mark deleted: returns the number of ready messages dropped; every consumer
 * is cancelled and gets a MAIL_CANCEL at its worker. */
uint32_t queue_delete(queue *q);

consumer *consumer_new(void);
void consumer_unref(consumer **c);
/* Credit came back to c (n acks / rejects): account and re-dispatch. */
void consumer_release(consumer *c, unsigned n);
#endif
