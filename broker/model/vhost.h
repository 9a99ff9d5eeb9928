/* vhost.h — a virtual host: its exchanges, queues and bindings.
 *
 * One rwlock per vhost guards the exchange and queue tables and every
 * routing table: publishers take it shared to route (many threads at once),
 * declares/binds/deletes take it exclusive. Queue contents have their own
 * per-queue locks (queue.h). Lock order: vhost lock, then queue lock, then a
 * worker's mailbox lock. The lock and the tables are the model's own
 * (vhost_impl.h); layers above use the functions below, which take it. */
#ifndef WARREN_VHOST_H
#define WARREN_VHOST_H
#include <stdbool.h>
#include <stdint.h>

#include "amq/buf.h"
#include "err.h"
#include "exch/exchange.h"
#include "queue.h"

typedef struct exchange {
    char name[256];
    uint8_t name_len;
    exch_type type;
    exch *rt; /* routing table; destinations are tagged (see vhost.c) */
    bool durable, auto_delete, internal;
    bool delayed;        /* x-delayed-message (delayed.h); type is its x-delayed-type */
    struct dedup *dedup; /* x-message-deduplication (dedup.h), NULL = off */
    amq_bytes args;      /* owned copy */
    char *alt;           /* alternate-exchange name (argument, else policy) or NULL; vhost lock */
    char *policy[2];     /* names of the policy and operator policy applied (policy.c) */
    uint32_t bound_as_source;
    _Atomic uint64_t st[XST_N]; /* publish_in/out (stats.h), relaxed atomics */
} exchange;

/* A vhost is opaque above the model: its lock, name maps and policies are
 * declared in vhost_impl.h, which only model files include. */
typedef struct vhost vhost;

/* Read-only accessors: code above the model reads a vhost only through these. */
const char *vhost_name(const vhost *v);
/* Removed from the table: its connections are to be closed. */
bool vhost_is_deleted(const vhost *v);

/* Firehose tracing's exchange, in every vhost (topic, durable, internal). */
#define VHOST_TRACE_EXCHANGE "amq.rabbitmq.trace"

/* The two fields the hot path reads above the model without a call (per
 * publish and per delivery): the first member of struct vhost (vhost_impl.h),
 * so a vhost pointer is a pointer to them. */
typedef struct vhost_hot {
    _Atomic bool tracing; /* firehose tracing on (trace_on); not persisted, as in RabbitMQ */
    stat_set st;          /* message_stats of the vhost, per worker (stats.h) */
} vhost_hot;
/* Is firehose tracing on? One relaxed load: the whole cost of tracing when off. */
static inline bool vhost_tracing(const vhost *v) {
    return atomic_load_explicit(&((vhost_hot *)(uintptr_t)v)->tracing, memory_order_relaxed);
}
void vhost_set_tracing(vhost *v, bool on);
/* The vhost's message counters (stats.h); NULL-safe (a connection before connection.open). */
static inline stat_set *vhost_stats(vhost *v) { return v ? &((vhost_hot *)v)->st : NULL; }

/* Routing result: queues (with a reference each) the message goes to. */
typedef struct {
    exch_dests dests;   /* queue* */
    exch_dests visited; /* exchange* seen (loop guard) */
} route_set;

void route_set_init(route_set *r);
void route_set_destroy(route_set *r);

/* The process-wide vhost table. A vhost pointer stays valid until
 * vhosts_destroy (deleted vhosts are emptied and kept aside). */
vhost *vhost_find(amq_bytes name);
/* Create name if missing (*created tells). 0, or -1 for a bad name. Durable. */
int vhost_add(const char *name, bool *created);
/* Remove name with everything in it. 0, or -1 if there is no such vhost. */
int vhost_delete(const char *name);
/* A NULL-terminated copy of the names; returns the count. */
size_t vhost_names(char ***out);
void vhost_names_free(char **names);
/* cb for every vhost, under the table's shared lock. */
void vhost_foreach(void (*cb)(void *ctx, vhost *v), void *ctx);
/* A server-generated queue name ("amq.gen-..."). */
void vhost_gen_queue_name(char *out, size_t n);
void vhosts_init(void);
void vhosts_destroy(void);
/* Free this thread's routing scratch space (a worker calls it as it exits). */
void vhost_thread_cleanup(void);

/* Calls below reply 0, or an AMQP reply code with its text (RabbitMQ's
 * wording) in e (core/err.h). */

/* Exchanges. */
int vhost_exchange_declare(vhost *v, amq_bytes name, amq_bytes type, bool passive, bool durable, bool auto_delete,
                           bool internal, amq_bytes args, werr *e);
/* Recovery: an exchange exactly as the log recorded it. The client-side rules
 * (reserved 'amq.' prefix, argument checks) are not applied again: the broker
 * wrote the record, and a later version's stricter rule must not drop it. */
int vhost_exchange_restore(vhost *v, amq_bytes name, amq_bytes type, bool durable, bool auto_delete, bool internal,
                           amq_bytes args, werr *e);
bool vhost_exchange_exists(vhost *v, amq_bytes name);
int vhost_exchange_delete(vhost *v, amq_bytes name, bool if_unused, werr *e);
int vhost_exchange_bind(vhost *v, amq_bytes dest, amq_bytes src, amq_bytes key, amq_bytes args, bool unbind, werr *e);

/* Queues. declare: *out gets the queue (with a reference) and counts. */
int vhost_queue_declare(vhost *v, amq_bytes name, bool passive, bool durable, bool exclusive, bool auto_delete,
                        amq_bytes args, uint64_t conn_id, queue **out, werr *e);
/* Declare a queue under a name from vhost_gen_queue_name (exempt from the amq. prefix rule). */
int vhost_queue_declare_generated(vhost *v, amq_bytes name, bool durable, bool exclusive, bool auto_delete,
                                  amq_bytes args, uint64_t conn_id, queue **out, werr *e);
/* Recovery: a durable queue exactly as the log recorded it (server-named
 * 'amq.gen-' ones included), without the client-side rules; see vhost_exchange_restore. */
int vhost_queue_restore(vhost *v, amq_bytes name, bool auto_delete, amq_bytes args, queue **out, werr *e);
/* Look a queue up for use by conn_id (exclusive check -> 405); reference held. */
int vhost_queue_get(vhost *v, amq_bytes name, uint64_t conn_id, queue **out, werr *e);
int vhost_queue_bind(vhost *v, amq_bytes queue, amq_bytes exchange, amq_bytes key, amq_bytes args, bool unbind,
                     uint64_t conn_id, werr *e);
/* Delete; *count gets the number of messages dropped. */
int vhost_queue_delete(vhost *v, amq_bytes name, bool if_unused, bool if_empty, uint64_t conn_id, uint32_t *count,
                       werr *e);
/* Delete q if it is auto-delete and has no consumers left (after a cancel). */
void vhost_queue_autodelete(vhost *v, queue *q);
/* x-expires: delete q if it is still unused (queue scheduler thread). */
void vhost_queue_expire(vhost *v, queue *q);
/* Delete every exclusive queue owned by conn_id (connection closed). */
void vhost_drop_exclusive(vhost *v, uint64_t conn_id);

/* One binding as vhost_walk shows it: from the named exchange src to a queue
 * (dest_q) or an exchange (dest_x); dest_name either way. */
typedef struct vbinding {
    const exchange *src;
    bool dest_is_queue;
    queue *dest_q;
    const exchange *dest_x;
    amq_bytes dest_name, key, args;
} vbinding;

/* Walk v under its shared lock, one consistent view: its policies (policies,
 * then operator policies, lowest priority first: policy.h), then every
 * exchange (the default one too), every queue, and every binding of a named
 * exchange. A NULL callback skips that walk. Callbacks must not take v's lock. */
struct policy_info;
typedef struct vhost_walker {
    void (*exchange)(void *ctx, vhost *v, const exchange *x);
    void (*queue)(void *ctx, vhost *v, queue *q);
    void (*binding)(void *ctx, vhost *v, const vbinding *b);
    void (*policy)(void *ctx, vhost *v, const struct policy_info *p); /* walked first */
    /* Instead of queue: with the queue's name as the table holds it, so a
     * walk that needs only names reads no queue's memory (a list of 100,000). */
    void (*queue_named)(void *ctx, vhost *v, queue *q, amq_bytes name);
} vhost_walker;
void vhost_walk(vhost *v, const vhost_walker *w, void *ctx);

/* Publish m: route it through exchange xn with the keys rks (the routing key
 * and CC/BCC's), write its record through the durable port before it is
 * visible in any queue (one the log cannot take goes to none), and enqueue it
 * in every queue it reached; a queue whose x-overflow refuses it
 * (reject-publish) drops its reference. r is the caller's scratch route set.
 * Returns 0, or 404/403 with text in e (nothing published). *wait: the log
 * position the confirm waits for (0 = none, UINT64_MAX = nack: the log or a
 * queue refused it); *routed: the queues that took it. Any thread; takes v's
 * lock shared. */
int vhost_publish(vhost *v, msg *m, amq_bytes xn, const amq_bytes *rks, size_t nrk, amq_bytes headers, route_set *r,
                  uint64_t *wait, size_t *routed, werr *e);
/* vhost_publish that also shows seen (under v's lock, before enqueueing) the
 * queues the message was routed to (firehose tracing's routed_queues). */
typedef void (*vhost_routed_fn)(void *ctx, queue *const *qs, size_t n);
int vhost_publish_seen(vhost *v, msg *m, amq_bytes xn, const amq_bytes *rks, size_t nrk, amq_bytes headers,
                       route_set *r, uint64_t *wait, size_t *routed, werr *e, vhost_routed_fn seen, void *ctx);
/* Publish a firehose copy m to the vhost's amq.rabbitmq.trace exchange with
 * routing key rk (internal: only the broker publishes there). */
void vhost_publish_trace(vhost *v, msg *m, amq_bytes rk, route_set *r);
/* Is xn a delayed exchange (and not internal)? *durable tells if it is durable. */
bool vhost_exchange_delayed(vhost *v, amq_bytes xn, bool *durable);
/* The exchange's type as clients name it. */
const char *vhost_exchange_type_name(const exchange *x);
#endif
