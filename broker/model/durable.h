/* durable.h — the model's port to the durable store: what the model (and the
 * protocol above it) tells the disk, and what it reads back.
 *
 * The model sits below store/ (store/ knows queues and vhosts and writes them
 * to persistence/), so the model never calls the store by name: the store layer
 * fills in a durable_ops table once at boot (store_open calls durable_install) and
 * the store_* functions below are one indirect call through it. Until it is
 * installed (unit tests of the model, no store linked) every effect is a no-op
 * and nothing is on disk, as for a broker started without a data dir. The
 * call sites keep the store_* names: they read as "tell the store".
 *
 * What each record means on disk, and the threads that may call: store/store.h.
 * Summary: the appends never do I/O and may be called from any worker;
 * store_load / store_materialize read the log (pread or page cache). */
#ifndef WARREN_DURABLE_H
#define WARREN_DURABLE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amq/buf.h"
#include "message.h"

struct queue;
struct exchange;
struct vhost;

typedef struct durable_ops {
    /* Definitions (the vhost write-locked; appends only). */
    void (*exchange_declared)(struct vhost *v, const struct exchange *x);
    void (*exchange_deleted)(struct vhost *v, amq_bytes name);
    void (*queue_declared)(struct vhost *v, struct queue *q); /* assigns q->qid when durable */
    void (*queue_deleted)(struct vhost *v, struct queue *q);
    void (*binding)(struct vhost *v, amq_bytes src, bool dest_is_queue, amq_bytes dest, amq_bytes key, amq_bytes args,
                    bool add);
    /* Users, vhosts and permissions. */
    void (*user_put)(const char *name, int algo, const char *hash_b64, const char *tags);
    void (*user_deleted)(const char *name);
    void (*vhost_added)(const char *name);
    void (*vhost_deleted)(const char *name);
    void (*perm_set)(const char *user, const char *vhost, const char *conf, const char *write, const char *read);
    void (*perm_clear)(const char *user, const char *vhost);
    /* Policies (policy.c; under the vhost's write lock). */
    void (*policy_set)(const char *vhost, bool op, const char *name, const char *pattern, const char *apply_to,
                       int64_t priority, const char *definition);
    void (*policy_clear)(const char *vhost, bool op, const char *name);
    /* Messages and their per-queue events. */
    uint64_t (*message)(msg *m, struct queue *const *qs, size_t n);
    void (*ack)(struct queue *q, msg *m);
    void (*ack_pos)(struct queue *q, uint64_t pos);
    void (*returned)(struct queue *q, msg *m, bool back);
    void (*delivered)(struct queue *q, msg *m);
    void (*purged)(struct queue *q);
    void (*dropped)(struct queue *q, msg *m);
    void (*dropped_pos)(struct queue *q, uint64_t pos);
    msg *(*load)(uint64_t pos);
    msg *(*materialize)(msg *m);
    bool (*lost)(uint64_t pos);
    bool (*any_lost)(void);
    uint64_t (*durable)(void);
    bool (*active)(void);
    /* Delayed messages (delayed.c). */
    uint64_t (*delayed)(const char *vhost, msg *m, uint64_t fire);
    void (*delayed_done)(uint64_t pos);
    msg *(*load_delayed)(uint64_t pos, char *vhost, size_t vhostn);
} durable_ops;

/* The installed table (never NULL: a no-op table until the store installs its own). */
extern const durable_ops *durable;
/* Install ops (main thread, before any worker or timer thread starts). */
void durable_install(const durable_ops *ops);

/* What each means: store/store.h. */
static inline void store_exchange_declared(struct vhost *v, const struct exchange *x) {
    durable->exchange_declared(v, x);
}
static inline void store_exchange_deleted(struct vhost *v, amq_bytes name) { durable->exchange_deleted(v, name); }
static inline void store_queue_declared(struct vhost *v, struct queue *q) { durable->queue_declared(v, q); }
static inline void store_queue_deleted(struct vhost *v, struct queue *q) { durable->queue_deleted(v, q); }
static inline void store_binding(struct vhost *v, amq_bytes src, bool dest_is_queue, amq_bytes dest, amq_bytes key,
                                 amq_bytes args, bool add) {
    durable->binding(v, src, dest_is_queue, dest, key, args, add);
}
static inline void store_user_put(const char *name, int algo, const char *hash_b64, const char *tags) {
    durable->user_put(name, algo, hash_b64, tags);
}
static inline void store_user_deleted(const char *name) { durable->user_deleted(name); }
static inline void store_vhost_added(const char *name) { durable->vhost_added(name); }
static inline void store_vhost_deleted(const char *name) { durable->vhost_deleted(name); }
static inline void store_perm_set(const char *user, const char *vhost, const char *conf, const char *write,
                                  const char *read) {
    durable->perm_set(user, vhost, conf, write, read);
}
static inline void store_perm_clear(const char *user, const char *vhost) { durable->perm_clear(user, vhost); }
static inline void store_policy_set(const char *vhost, bool op, const char *name, const char *pattern,
                                    const char *apply_to, int64_t priority, const char *definition) {
    durable->policy_set(vhost, op, name, pattern, apply_to, priority, definition);
}
static inline void store_policy_clear(const char *vhost, bool op, const char *name) {
    durable->policy_clear(vhost, op, name);
}
static inline uint64_t store_message(msg *m, struct queue *const *qs, size_t n) { return durable->message(m, qs, n); }
static inline void store_ack(struct queue *q, msg *m) { durable->ack(q, m); }
static inline void store_ack_pos(struct queue *q, uint64_t pos) { durable->ack_pos(q, pos); }
static inline void store_returned(struct queue *q, msg *m, bool back) { durable->returned(q, m, back); }
static inline void store_delivered(struct queue *q, msg *m) { durable->delivered(q, m); }
static inline void store_purged(struct queue *q) { durable->purged(q); }
static inline void store_dropped(struct queue *q, msg *m) { durable->dropped(q, m); }
static inline void store_dropped_pos(struct queue *q, uint64_t pos) { durable->dropped_pos(q, pos); }
static inline msg *store_load(uint64_t pos) { return durable->load(pos); }
static inline msg *store_materialize(msg *m) { return durable->materialize(m); }
/* True if the record at pos was in a batch the log could not make durable
 * (exact, however many batches failed). Such a message is never served: the
 * queues drop it when it reaches their head (queue.c), deliveries in flight
 * when they reach the channel (protocol/wconns.c). Any thread; lock-free when
 * pos is outside every failed range (always, on a healthy disk). */
static inline bool store_lost(uint64_t pos) { return durable->lost(pos); }
/* Has any batch been lost since the start? (a queue then checks what it serves) */
static inline bool store_any_lost(void) { return durable->any_lost(); }
static inline uint64_t store_durable(void) { return durable->durable(); }
static inline bool store_active(void) { return durable->active(); }
static inline uint64_t store_delayed(const char *vhost, msg *m, uint64_t fire) {
    return durable->delayed(vhost, m, fire);
}
static inline void store_delayed_done(uint64_t pos) { durable->delayed_done(pos); }
static inline msg *store_load_delayed(uint64_t pos, char *vhost, size_t vhostn) {
    return durable->load_delayed(pos, vhost, vhostn);
}
#endif
