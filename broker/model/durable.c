/* durable.c — the no-op durable_ops table the model starts with (nothing is on
 * disk: a broker without a data dir, or the model's unit tests), and
 * durable_install, through which the store layer replaces it at boot. */
#include "durable.h"

static void x_declared(struct vhost *v, const struct exchange *x) { (void)v, (void)x; }
static void x_deleted(struct vhost *v, amq_bytes name) { (void)v, (void)name; }
static void q_def(struct vhost *v, struct queue *q) { (void)v, (void)q; }
static void binding(struct vhost *v, amq_bytes src, bool dq, amq_bytes dest, amq_bytes key, amq_bytes args, bool add) {
    (void)v, (void)src, (void)dq, (void)dest, (void)key, (void)args, (void)add;
}
static void user_put(const char *name, int algo, const char *hash, const char *tags) {
    (void)name, (void)algo, (void)hash, (void)tags;
}
static void name1(const char *name) { (void)name; }
static void perm_set(const char *u, const char *v, const char *c, const char *w, const char *r) {
    (void)u, (void)v, (void)c, (void)w, (void)r;
}
static void perm_clear(const char *u, const char *v) { (void)u, (void)v; }
static void policy_set(const char *v, bool op, const char *n, const char *p, const char *a, int64_t pr, const char *d) {
    (void)v, (void)op, (void)n, (void)p, (void)a, (void)pr, (void)d;
}
static void policy_clear(const char *v, bool op, const char *n) { (void)v, (void)op, (void)n; }
static uint64_t message(msg *m, struct queue *const *qs, size_t n) { return (void)m, (void)qs, (void)n, 0; }
static void q_msg(struct queue *q, msg *m) { (void)q, (void)m; }
static void q_pos(struct queue *q, uint64_t pos) { (void)q, (void)pos; }
static void returned(struct queue *q, msg *m, bool back) { (void)q, (void)m, (void)back; }
static void purged(struct queue *q) { (void)q; }
static msg *load(uint64_t pos) { return (void)pos, NULL; }
static msg *materialize(msg *m) { return m; }
static bool lost(uint64_t pos) { return (void)pos, false; }
static bool any_lost(void) { return false; }
static uint64_t durable_pos(void) { return UINT64_MAX; }
static bool active(void) { return false; }
static uint64_t delayed(const char *vhost, msg *m, uint64_t fire) { return (void)vhost, (void)m, (void)fire, 0; }
static void delayed_done(uint64_t pos) { (void)pos; }
static msg *load_delayed(uint64_t pos, char *vhost, size_t n) { return (void)pos, (void)vhost, (void)n, NULL; }

static const durable_ops none = {
    .exchange_declared = x_declared,
    .exchange_deleted = x_deleted,
    .queue_declared = q_def,
    .queue_deleted = q_def,
    .binding = binding,
    .user_put = user_put,
    .user_deleted = name1,
    .vhost_added = name1,
    .vhost_deleted = name1,
    .perm_set = perm_set,
    .perm_clear = perm_clear,
    .policy_set = policy_set,
    .policy_clear = policy_clear,
    .message = message,
    .ack = q_msg,
    .ack_pos = q_pos,
    .returned = returned,
    .delivered = q_msg,
    .purged = purged,
    .dropped = q_msg,
    .dropped_pos = q_pos,
    .load = load,
    .materialize = materialize,
    .lost = lost,
    .any_lost = any_lost,
    .durable = durable_pos,
    .active = active,
    .delayed = delayed,
    .delayed_done = delayed_done,
    .load_delayed = load_delayed,
};

const durable_ops *durable = &none;

void durable_install(const durable_ops *ops) { durable = ops ? ops : &none; }
