/* store.c — see store.h. */
#include "store.h"
#include "delayed.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "amq/methods.h"
#include "access.h"
#include "amq/table.h"
#include "config.h"
#include "qfeat.h"
#include "qsched.h"
#include "queue.h"
#include "u64set.h"
#include "util.h"
#include "vhost.h"
#include "wlog/wlog.h"

/* Log record types. Payloads are little-endian. */
enum {
    REC_MSG = 1,       /* u16 n | n*u64 qid | u8 xlen x | u8 rklen rk | u32 plen props | body */
    REC_ACK = 2,       /* u64 qid | u64 pos */
    REC_DELIVERED = 3, /* u64 qid | u64 pos */
    REC_PURGE = 4,     /* u64 qid */
    REC_DELAYED = 5,   /* u64 fire (wall-clock ms) | str8 vhost | then as REC_MSG with n = 0 */
    REC_DELAYED_DONE = 6, /* u64 pos of the REC_DELAYED that fired */
    /* A message that can expire (its own expiration, or a durable queue it went to has
     * x-message-ttl): as REC_MSG with, right after the queue ids (inside the summary),
     * u64 enqueued (wall-clock ms) | u64 own TTL in ms + 1 (0 = none), so that its
     * expiry counts from its enqueue across restarts, as RabbitMQ's. */
    REC_MSG_T = 7,
    REC_RETURNED = 8, /* u64 qid | u64 pos | u16 returns | u8 back: a quorum queue took it back */
    REC_X_DECLARE = 10, /* str8 name | u8 type | u8 flags | u32 len args */
    REC_X_DELETE = 11,  /* str8 name */
    REC_Q_DECLARE = 12, /* u64 qid | str8 name | u8 flags | u32 len args */
    REC_Q_DELETE = 13,  /* u64 qid | str8 name */
    REC_BIND = 14,      /* str8 src | u8 dest_is_queue | str8 dest | str8 key | u32 len args */
    REC_UNBIND = 15,
    SNAP_HEADER = 20,   /* u64 log position S | u64 next qid | u32 format version (2; absent = 1) */
    /* Format 2: the records above, scoped to a vhost — type + VSCOPED with a
     * leading str8 vhost name. Format-1 records (10..15) mean vhost "/". */
    VSCOPED = 20,       /* 30..35 */
    REC_USER = 40,      /* str8 name | u8 algo | str8 hash (base64) | u32 len tags */
    REC_USER_DEL = 41,  /* str8 name */
    REC_VHOST_ADD = 42, /* str8 name */
    REC_VHOST_DEL = 43, /* str8 name */
    REC_PERM = 44,      /* str8 user | str8 vhost | u32 len configure | u32 len write | u32 len read */
    REC_PERM_CLEAR = 45, /* str8 user | str8 vhost */
};
#define STORE_FORMAT 2

static wlog *log_;
static uint64_t first_pos; /* records below were written before this start */
static wdefs *defs;
static _Atomic uint64_t next_qid = 1;
static bool replaying;
static bool initialised; /* a format-2 snapshot or access records were found */
static uint64_t replay_qid;
static void (*on_durable_cb)(uint64_t);
/* A clean shutdown leaves this file; without it, recovery cannot know whether a
 * first-delivery record was still in flight at a crash, so every recovered
 * message is marked redelivered ("may have been delivered before"). */
static int fsync_dir(const char *dir);
static bool clean_start;
static char clean_path[640], data_dir_path[600];
static void (*on_failed_cb)(uint64_t, uint64_t);
static void (*first_boot_cb)(void);

void store_set_first_boot(void (*seed)(void)) { first_boot_cb = seed; }

bool store_active(void) { return log_ != NULL; }

void store_set_listener(void (*durable)(uint64_t), void (*failed)(uint64_t, uint64_t)) {
    on_durable_cb = durable;
    on_failed_cb = failed;
}

int store_sync(void) { return log_ && wlog_sync(log_) ? -1 : 0; }

uint64_t store_durable(void) { return log_ ? wlog_durable(log_) : UINT64_MAX; }

/* ---- little-endian encoding into a stack buffer or an amq_wr ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool heap;
    uint8_t stack[512];
} enc;

static void enc_init(enc *e) {
    e->p = e->stack;
    e->n = 0;
    e->cap = sizeof e->stack;
    e->heap = false;
}

static void enc_need(enc *e, size_t k) {
    if (e->n + k <= e->cap) return;
    size_t cap = e->cap * 2;
    while (cap < e->n + k) cap *= 2;
    uint8_t *p = xmalloc(cap);
    memcpy(p, e->p, e->n);
    if (e->heap) free(e->p);
    e->p = p;
    e->cap = cap;
    e->heap = true;
}

static void enc_free(enc *e) {
    if (e->heap) free(e->p);
}

static void put_le(enc *e, uint64_t v, int bytes) {
    enc_need(e, (size_t)bytes);
    for (int i = 0; i < bytes; i++) e->p[e->n++] = (uint8_t)(v >> (8 * i));
}

static void put_raw(enc *e, const void *p, size_t n) {
    enc_need(e, n);
    if (n) memcpy(e->p + e->n, p, n);
    e->n += n;
}

static void put_str8(enc *e, amq_bytes s) {
    put_le(e, s.len, 1);
    put_raw(e, s.p, s.len);
}

static void put_blob(enc *e, amq_bytes s) {
    put_le(e, s.len, 4);
    put_raw(e, s.p, s.len);
}

/* Decoding with bounds checks: any short read sets ok = false. */
typedef struct {
    const uint8_t *p;
    size_t n, off;
    bool ok;
} dec;

static uint64_t get_le(dec *d, int bytes) {
    if (!d->ok || d->n - d->off < (size_t)bytes) {
        d->ok = false;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)d->p[d->off++] << (8 * i);
    return v;
}

static amq_bytes get_raw(dec *d, size_t n) {
    amq_bytes b = {NULL, 0};
    if (!d->ok || d->n - d->off < n) {
        d->ok = false;
        return b;
    }
    b.p = d->p + d->off;
    b.len = n;
    d->off += n;
    return b;
}

static amq_bytes get_str8(dec *d) { return get_raw(d, (size_t)get_le(d, 1)); }
static amq_bytes get_blob(dec *d) { return get_raw(d, (size_t)get_le(d, 4)); }

/* ---- appends ---- */

static uint64_t append(uint8_t type, enc *e) {
    uint64_t pos = wlog_append(log_, type, e->p, e->n);
    if (!pos) log_err("durable log: cannot append a record of %zu bytes", e->n);
    enc_free(e);
    return pos;
}

/* Definition records keep their segment alive until a snapshot covers them
 * (counted atomically with the append, so the segment cannot go in between).
 * Their positions wait here; a snapshot releases those below its position. */
static pthread_mutex_t defs_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *def_pending;
static size_t ndef_pending, capdef_pending;

static void append_def(uint8_t type, enc *e) {
    uint64_t pos = wlog_append_live(log_, type, e->p, e->n, 1);
    if (!pos) log_err("durable log: cannot append a definition record of %zu bytes", e->n);
    enc_free(e);
    if (!pos) return;
    pthread_mutex_lock(&defs_lock);
    if (ndef_pending == capdef_pending) {
        capdef_pending = capdef_pending ? capdef_pending * 2 : 64;
        def_pending = xrealloc(def_pending, capdef_pending * sizeof *def_pending);
    }
    def_pending[ndef_pending++] = pos;
    pthread_mutex_unlock(&defs_lock);
}

/* A snapshot at position p covers every definition record below p. */
static void release_defs(uint64_t p) {
    pthread_mutex_lock(&defs_lock);
    size_t w = 0;
    for (size_t i = 0; i < ndef_pending; i++) {
        if (def_pending[i] < p) wlog_live(log_, def_pending[i], -1);
        else def_pending[w++] = def_pending[i];
    }
    ndef_pending = w;
    pthread_mutex_unlock(&defs_lock);
}

/* Whether a definition record sits in a sealed segment (so a snapshot lets
 * that segment go). */
static bool defs_pin_sealed(void) {
    pthread_mutex_lock(&defs_lock);
    uint64_t oldest = UINT64_MAX;
    for (size_t i = 0; i < ndef_pending; i++)
        if (def_pending[i] < oldest) oldest = def_pending[i];
    pthread_mutex_unlock(&defs_lock);
    return oldest != UINT64_MAX && WLOG_SEG(oldest) < WLOG_SEG(wlog_tail(log_));
}

/* A vhost-scoped definition record. */
static void enc_scoped(enc *e, const vhost *v) {
    enc_init(e);
    put_str8(e, amq_cstr(v->name));
}

#define X_DELAYED 0x10 /* exchange type byte of an x-delayed-message exchange (args name the routing type) */

static amq_bytes xname_of(const exchange *x) { return (amq_bytes){(const uint8_t *)x->name, x->name_len}; }

static void enc_exchange(enc *e, const exchange *x) {
    put_str8(e, xname_of(x));
    put_le(e, x->delayed ? X_DELAYED : x->type, 1);
    put_le(e, (uint64_t)(x->durable | x->auto_delete << 1 | x->internal << 2), 1);
    put_blob(e, x->args);
}

void store_exchange_declared(vhost *v, const exchange *x) {
    if (!log_ || replaying || !x->durable) return;
    enc e;
    enc_scoped(&e, v);
    enc_exchange(&e, x);
    append_def(REC_X_DECLARE + VSCOPED, &e);
}

void store_exchange_deleted(vhost *v, amq_bytes name) {
    if (!log_ || replaying) return;
    enc e;
    enc_scoped(&e, v);
    put_str8(&e, name);
    append_def(REC_X_DELETE + VSCOPED, &e);
}

static void enc_queue(enc *e, const queue *q) {
    put_le(e, q->qid, 8);
    put_str8(e, queue_name(q));
    put_le(e, (uint64_t)(q->durable | q->auto_delete << 1), 1);
    put_blob(e, q->args);
}

void store_queue_declared(vhost *v, queue *q) {
    if (!q->durable || q->exclusive) return;
    if (replaying) { /* the log may not be open yet while the snapshot replays */
        q->qid = replay_qid;
        return;
    }
    if (!log_) return;
    q->qid = atomic_fetch_add(&next_qid, 1);
    enc e;
    enc_scoped(&e, v);
    enc_queue(&e, q);
    append_def(REC_Q_DECLARE + VSCOPED, &e);
}

void store_queue_deleted(vhost *v, queue *q) {
    if (!log_ || replaying || !q->qid) return;
    enc e;
    enc_scoped(&e, v);
    put_le(&e, q->qid, 8);
    put_str8(&e, queue_name(q));
    append_def(REC_Q_DELETE + VSCOPED, &e);
}

void store_binding(vhost *v, amq_bytes src, bool dest_is_queue, amq_bytes dest, amq_bytes key, amq_bytes args,
                   bool add) {
    if (!log_ || replaying) return;
    enc e;
    enc_scoped(&e, v);
    put_str8(&e, src);
    put_le(&e, dest_is_queue, 1);
    put_str8(&e, dest);
    put_str8(&e, key);
    put_blob(&e, args);
    append_def((uint8_t)((add ? REC_BIND : REC_UNBIND) + VSCOPED), &e);
}

/* ---- users, vhosts, permissions ---- */

static void enc_user(enc *e, const char *name, int algo, const char *hash, const char *tags) {
    put_str8(e, amq_cstr(name));
    put_le(e, (uint64_t)algo, 1);
    put_str8(e, amq_cstr(hash));
    put_blob(e, amq_cstr(tags));
}

static void enc_perm(enc *e, const char *u, const char *v, const char *c, const char *w, const char *r) {
    put_str8(e, amq_cstr(u));
    put_str8(e, amq_cstr(v));
    put_blob(e, amq_cstr(c));
    put_blob(e, amq_cstr(w));
    put_blob(e, amq_cstr(r));
}

static void append_names(uint8_t type, const char *a, const char *b) {
    if (!log_ || replaying) return;
    enc e;
    enc_init(&e);
    put_str8(&e, amq_cstr(a));
    if (b) put_str8(&e, amq_cstr(b));
    append_def(type, &e);
}

void store_user_put(const char *name, int algo, const char *hash, const char *tags) {
    if (!log_ || replaying) return;
    enc e;
    enc_init(&e);
    enc_user(&e, name, algo, hash, tags);
    append_def(REC_USER, &e);
}

void store_user_deleted(const char *name) { append_names(REC_USER_DEL, name, NULL); }
void store_vhost_added(const char *name) { append_names(REC_VHOST_ADD, name, NULL); }
void store_vhost_deleted(const char *name) { append_names(REC_VHOST_DEL, name, NULL); }
void store_perm_clear(const char *user, const char *vhost) { append_names(REC_PERM_CLEAR, user, vhost); }

void store_perm_set(const char *u, const char *v, const char *c, const char *w, const char *r) {
    if (!log_ || replaying) return;
    enc e;
    enc_init(&e);
    enc_perm(&e, u, v, c, w, r);
    append_def(REC_PERM, &e);
}

bool store_initialised(void) { return initialised; }

static uint64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool queue_ttl(const queue *q) { return q->feat && q->feat->msg_ttl >= 0; }

uint64_t store_message(msg *m, queue *const *qs, size_t n) {
    if (!log_ || m->delivery_mode != 2) return 0;
    size_t nd = 0;
    bool timed = m->ttl >= 0; /* plain messages to plain queues keep the old record: no time */
    for (size_t i = 0; i < n; i++)
        if (qs[i]->qid) {
            nd++;
            timed |= queue_ttl(qs[i]);
        }
    if (!nd) return 0;
    amq_bytes x = msg_exchange(m), rk = msg_rk(m), props = msg_props(m);
    enc e;
    enc_init(&e);
    put_le(&e, nd, 2);
    for (size_t i = 0; i < n; i++)
        if (qs[i]->qid) put_le(&e, qs[i]->qid, 8);
    if (timed) {
        put_le(&e, wall_ms(), 8);
        put_le(&e, m->ttl >= 0 ? (uint64_t)m->ttl + 1 : 0, 8);
    }
    put_str8(&e, x);
    put_str8(&e, rk);
    put_blob(&e, props);
    struct iovec iov[2] = {{e.p, e.n}, {msg_body(m), (size_t)m->body_len}};
    uint64_t pos = wlog_appendv_live(log_, timed ? REC_MSG_T : REC_MSG, iov, 2, (int)nd);
    enc_free(&e);
    if (!pos) {
        log_err("durable log: cannot append a message of %llu bytes", (unsigned long long)m->body_len);
        return UINT64_MAX; /* the confirm becomes a nack */
    }
    m->pos = pos;
    return pos;
}

uint64_t store_delayed(const char *vhost, msg *m, uint64_t fire) {
    if (!log_) return 0;
    enc e;
    enc_init(&e);
    put_le(&e, fire, 8);
    put_str8(&e, amq_cstr(vhost));
    put_le(&e, 0, 2);
    put_str8(&e, msg_exchange(m));
    put_str8(&e, msg_rk(m));
    put_blob(&e, msg_props(m));
    struct iovec iov[2] = {{e.p, e.n}, {msg_body(m), (size_t)m->body_len}};
    uint64_t pos = wlog_appendv_live(log_, REC_DELAYED, iov, 2, 1);
    enc_free(&e);
    if (!pos) log_err("durable log: cannot append a delayed message of %llu bytes", (unsigned long long)m->body_len);
    return pos;
}

void store_delayed_done(uint64_t pos) {
    if (!log_ || !pos) return;
    enc e;
    enc_init(&e);
    put_le(&e, pos, 8);
    append(REC_DELAYED_DONE, &e);
    wlog_live(log_, pos, -1);
}

static void queue_event(uint8_t type, queue *q, uint64_t pos) {
    enc e;
    enc_init(&e);
    put_le(&e, q->qid, 8);
    put_le(&e, pos, 8);
    append(type, &e);
}

void store_ack(queue *q, msg *m) {
    if (!log_ || !q->qid || !m->pos) return;
    queue_event(REC_ACK, q, m->pos);
    wlog_live(log_, m->pos, -1);
}

void store_ack_pos(queue *q, uint64_t pos) {
    if (!log_ || !q->qid || !pos) return;
    queue_event(REC_ACK, q, pos);
    wlog_live(log_, pos, -1);
}

void store_returned(queue *q, msg *m, bool back) {
    if (!log_ || !q->qid || !m->pos) return;
    enc e;
    enc_init(&e);
    put_le(&e, q->qid, 8);
    put_le(&e, m->pos, 8);
    put_le(&e, m->returns, 2);
    put_le(&e, back, 1);
    append(REC_RETURNED, &e);
}

void store_delivered(queue *q, msg *m) {
    if (!log_ || !q->qid || !m->pos) return;
    queue_event(REC_DELIVERED, q, m->pos);
}

void store_dropped(queue *q, msg *m) {
    if (!log_ || !q->qid || !m->pos) return;
    wlog_live(log_, m->pos, -1);
}

void store_dropped_pos(queue *q, uint64_t pos) {
    if (!log_ || !q->qid || !pos) return;
    wlog_live(log_, pos, -1);
}

void store_purged(queue *q) {
    if (!log_ || !q->qid) return;
    enc e;
    enc_init(&e);
    put_le(&e, q->qid, 8);
    append(REC_PURGE, &e);
}

/* ---- recovery ---- */

typedef struct rq {
    uint64_t qid;
    queue *q;
    uint64_t *pos;
    uint64_t *exp; /* parallel to pos, wall-clock expiry (0 = never, 1 = no time recorded);
                      allocated only once a message of this queue can expire */
    size_t n, cap;
} rq;

static struct {
    vhost *v;
    uint64_t snap_pos;
    rq *qs;
    size_t nqs, capqs;
    u64set dead;      /* (qid,pos) hashed: acked */
    u64set delivered; /* (qid,pos) hashed: delivered once */
    u64set fired;     /* positions of delayed messages that fired */
    uint64_t (*dl)[2]; /* delayed messages: {pos, fire} */
    size_t ndl, capdl;
    uint64_t msgs, bad;
    uint64_t *deadrefs; /* references found dead: told to the log for compaction */
    size_t ndeadrefs, capdeadrefs;
    struct ret { /* quorum returns, in log order: the last one per message counts */
        uint64_t qid, pos, at; /* at: the record's position */
        uint16_t returns;
        bool back;
    } *ret;
    size_t nret, capret;
} R;

static void dead_push(uint64_t pos) {
    if (R.ndeadrefs == R.capdeadrefs) {
        R.capdeadrefs = R.capdeadrefs ? R.capdeadrefs * 2 : 256;
        R.deadrefs = xrealloc(R.deadrefs, R.capdeadrefs * sizeof *R.deadrefs);
    }
    R.deadrefs[R.ndeadrefs++] = pos;
}

static uint64_t key_of(uint64_t qid, uint64_t pos) { return pos * 0x9E3779B97F4A7C15ull ^ qid; }

static rq *rq_find(uint64_t qid) {
    for (size_t i = 0; i < R.nqs; i++)
        if (R.qs[i].qid == qid) return &R.qs[i];
    return NULL;
}

/* Every message the queue held so far leaves it (purge, delete). */
static void rq_drop_all(rq *r) {
    for (size_t k = 0; k < r->n; k++) dead_push(r->pos[k]);
    r->n = 0;
}

static void rq_add_queue(uint64_t qid, queue *q) {
    rq *r = rq_find(qid);
    if (!r) {
        if (R.nqs == R.capqs) {
            R.capqs = R.capqs ? R.capqs * 2 : 16;
            R.qs = xrealloc(R.qs, R.capqs * sizeof *R.qs);
        }
        r = &R.qs[R.nqs++];
        memset(r, 0, sizeof *r);
        r->qid = qid;
    }
    r->q = q;
}

static void apply_exchange(dec *d) {
    amq_bytes name = get_str8(d);
    uint8_t type = (uint8_t)get_le(d, 1), flags = (uint8_t)get_le(d, 1);
    amq_bytes args = get_blob(d);
    if (!d->ok) return;
    verr e;
    if (vhost_exchange_declare(R.v, name, amq_cstr(type == X_DELAYED ? "x-delayed-message" : exch_type_name((exch_type)type)), false, flags & 1,
                               flags & 2, flags & 4, args, &e))
        log_warn("recovery: exchange '%.*s' not restored: %s", (int)name.len, name.p, e.text);
}

static void apply_queue(dec *d) {
    uint64_t qid = get_le(d, 8);
    amq_bytes name = get_str8(d);
    uint8_t flags = (uint8_t)get_le(d, 1);
    amq_bytes args = get_blob(d);
    if (!d->ok) return;
    verr e;
    queue *q;
    replay_qid = qid;
    if (vhost_queue_declare(R.v, name, false, true, false, flags & 2, args, 0, &q, &e)) {
        log_warn("recovery: queue '%.*s' not restored: %s", (int)name.len, name.p, e.text);
        return;
    }
    if (qid >= next_qid) next_qid = qid + 1;
    rq_add_queue(qid, q);
    queue_unref(&q);
}

static void apply_binding(dec *d, bool add) {
    amq_bytes src = get_str8(d);
    bool to_queue = get_le(d, 1) != 0;
    amq_bytes dest = get_str8(d), key = get_str8(d), args = get_blob(d);
    if (!d->ok) return;
    verr e;
    int rc = to_queue ? vhost_queue_bind(R.v, dest, src, key, args, !add, 0, &e)
                      : vhost_exchange_bind(R.v, dest, src, key, args, !add, &e);
    if (rc && add) log_warn("recovery: binding %.*s -> %.*s not restored: %s", (int)src.len, src.p, (int)dest.len, dest.p, e.text);
}

/* A NUL-terminated copy of a str8/blob field (at most 64 KiB). */
static char *get_cstr(dec *d, bool blob) {
    amq_bytes b = blob ? get_blob(d) : get_str8(d);
    return d->ok ? xstrndup_bytes(b) : NULL;
}

/* Forget the recovery state of the queues of a vhost that goes away. */
static void forget_vhost_queues(vhost *v) {
    for (size_t i = 0; i < R.nqs; i++)
        if (R.qs[i].q && R.qs[i].q->vh == v) {
            R.qs[i].q = NULL;
            rq_drop_all(&R.qs[i]);
        }
}

static void apply_access(uint8_t type, dec *d) {
    char err[300];
    initialised = true;
    switch (type) {
    case REC_USER: {
        char *name = get_cstr(d, false);
        int algo = (int)get_le(d, 1);
        char *hash = get_cstr(d, false), *tags = get_cstr(d, true);
        if (d->ok && access_user_put_hash(name, algo, hash, tags, err, sizeof err))
            log_warn("recovery: user not restored: %s", err);
        free(name), free(hash), free(tags);
        break;
    }
    case REC_USER_DEL: {
        char *name = get_cstr(d, false);
        if (d->ok) access_user_delete(name, err, sizeof err);
        free(name);
        break;
    }
    case REC_VHOST_ADD: {
        char *name = get_cstr(d, false);
        if (d->ok) vhost_add(name, NULL);
        free(name);
        break;
    }
    case REC_VHOST_DEL: {
        char *name = get_cstr(d, false);
        vhost *v = d->ok ? vhost_find(amq_cstr(name)) : NULL;
        if (v) {
            forget_vhost_queues(v);
            vhost_delete(name);
            access_vhost_deleted(name);
        }
        free(name);
        break;
    }
    case REC_PERM: {
        char *u = get_cstr(d, false), *v = get_cstr(d, false);
        char *c = get_cstr(d, true), *w = get_cstr(d, true), *r = get_cstr(d, true);
        if (d->ok && access_set_permissions(u, v, c, w, r, err, sizeof err))
            log_warn("recovery: permissions not restored: %s", err);
        free(u), free(v), free(c), free(w), free(r);
        break;
    }
    case REC_PERM_CLEAR: {
        char *u = get_cstr(d, false), *v = get_cstr(d, false);
        if (d->ok) access_clear_permissions(u, v, err, sizeof err);
        free(u), free(v);
        break;
    }
    default: break;
    }
}

static void apply_def(uint8_t type, dec *d) {
    verr e;
    uint32_t cnt;
    if (type >= REC_USER) return apply_access(type, d);
    if (type >= REC_X_DECLARE + VSCOPED) {
        amq_bytes vn = get_str8(d);
        if (!d->ok) return;
        R.v = vhost_find(vn);
        if (!R.v) return; /* its vhost was deleted later */
        type = (uint8_t)(type - VSCOPED);
    } else { /* format 1: everything lived in "/" */
        R.v = vhost_find(amq_cstr("/"));
        if (!R.v) {
            vhost_add("/", NULL);
            R.v = vhost_find(amq_cstr("/"));
        }
    }
    switch (type) {
    case REC_X_DECLARE: apply_exchange(d); break;
    case REC_X_DELETE: {
        amq_bytes name = get_str8(d);
        if (d->ok) vhost_exchange_delete(R.v, name, false, &e);
        break;
    }
    case REC_Q_DECLARE: apply_queue(d); break;
    case REC_Q_DELETE: {
        uint64_t qid = get_le(d, 8);
        amq_bytes name = get_str8(d);
        if (!d->ok) break;
        rq *r = rq_find(qid);
        if (r && r->q) {
            vhost_queue_delete(R.v, name, false, false, 0, &cnt, &e);
            r->q = NULL;
            rq_drop_all(r);
        }
        break;
    }
    case REC_BIND: apply_binding(d, true); break;
    case REC_UNBIND: apply_binding(d, false); break;
    default: break;
    }
}

static int replay_snapshot(void *ctx, wlog_pos pos, uint8_t type, const void *p, size_t len) {
    (void)ctx, (void)pos;
    dec d = {p, len, 0, true};
    if (type == SNAP_HEADER) {
        R.snap_pos = get_le(&d, 8);
        uint64_t nq = get_le(&d, 8);
        if (nq > next_qid) next_qid = nq;
        uint64_t version = get_le(&d, 4);
        if (d.ok && version >= 2) initialised = true;
        return 0;
    }
    apply_def(type, &d);
    return 0;
}

#define EXP_NO_TIME 1 /* a record without an enqueue time (REC_MSG) */

static void rq_push(rq *r, uint64_t pos, uint64_t exp) {
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->pos = xrealloc(r->pos, r->cap * sizeof *r->pos);
        if (r->exp) r->exp = xrealloc(r->exp, r->cap * sizeof *r->exp);
    }
    if (exp != EXP_NO_TIME && !r->exp) { /* the first message of this queue that can expire */
        r->exp = xmalloc(r->cap * sizeof *r->exp);
        for (size_t k = 0; k < r->n; k++) r->exp[k] = EXP_NO_TIME;
    }
    if (r->exp) r->exp[r->n] = exp;
    r->pos[r->n++] = pos;
}

/* Wall-clock expiry in queue r of a message enqueued at enq with its own TTL
 * (-1 = none): the lower TTL wins, as at runtime. 0 = never. */
static uint64_t rq_expiry(const rq *r, uint64_t enq, int64_t own) {
    int64_t t = own;
    if (queue_ttl(r->q) && (t < 0 || r->q->feat->msg_ttl < t)) t = r->q->feat->msg_ttl;
    if (t < 0) return 0;
    uint64_t e = enq + (uint64_t)t;
    return e > EXP_NO_TIME ? e : EXP_NO_TIME + 1;
}

static int replay_log(void *ctx, wlog_pos pos, uint8_t type, const void *p, size_t len) {
    (void)ctx;
    dec d = {p, len, 0, true};
    if (type >= REC_X_DECLARE) {
        if (pos >= R.snap_pos) apply_def(type, &d);
        dead_push(pos); /* the snapshot taken once recovery is done covers it */
        return 0;
    }
    switch (type) {
    case REC_MSG:
    case REC_MSG_T: {
        uint64_t n = get_le(&d, 2), enq = 0;
        int64_t own = -1;
        if (type == REC_MSG_T) { /* the times follow the queue ids */
            dec t = d;
            get_raw(&t, (size_t)n * 8);
            enq = get_le(&t, 8);
            uint64_t o = get_le(&t, 8);
            own = o ? (int64_t)(o - 1) : -1;
            if (!t.ok) type = REC_MSG; /* cannot happen (CRC-checked): restore it without a time */
        }
        for (uint64_t i = 0; i < n && d.ok; i++) {
            rq *r = rq_find(get_le(&d, 8));
            if (r && r->q) rq_push(r, pos, type == REC_MSG_T ? rq_expiry(r, enq, own) : EXP_NO_TIME);
            else dead_push(pos);
        }
        R.msgs++;
        break;
    }
    case REC_ACK:
    case REC_DELIVERED: {
        uint64_t qid = get_le(&d, 8), mpos = get_le(&d, 8);
        if (d.ok) u64set_add(type == REC_ACK ? &R.dead : &R.delivered, key_of(qid, mpos));
        break;
    }
    case REC_DELAYED: {
        uint64_t fire = get_le(&d, 8);
        if (!d.ok) break;
        if (R.ndl == R.capdl) {
            R.capdl = R.capdl ? R.capdl * 2 : 64;
            R.dl = xrealloc(R.dl, R.capdl * sizeof *R.dl);
        }
        R.dl[R.ndl][0] = pos;
        R.dl[R.ndl++][1] = fire;
        break;
    }
    case REC_DELAYED_DONE: {
        uint64_t dpos = get_le(&d, 8);
        if (d.ok) u64set_add(&R.fired, dpos);
        break;
    }
    case REC_RETURNED: {
        uint64_t qid = get_le(&d, 8), mpos = get_le(&d, 8), n = get_le(&d, 2), back = get_le(&d, 1);
        if (!d.ok) break;
        if (R.nret == R.capret) {
            R.capret = R.capret ? R.capret * 2 : 64;
            R.ret = xrealloc(R.ret, R.capret * sizeof *R.ret);
        }
        R.ret[R.nret++] = (struct ret){qid, mpos, pos, (uint16_t)n, back != 0};
        break;
    }
    case REC_PURGE: {
        rq *r = rq_find(get_le(&d, 8));
        if (r) rq_drop_all(r); /* everything before the purge is gone */
        break;
    }
    default:
        R.bad++;
        break;
    }
    return 0;
}

msg *store_materialize(msg *m) {
    if (!m || !msg_is_lazy(m)) return m;
    uint64_t pos = msg_lazy_pos(m);
    msg *r = store_load(pos);
    if (!r) log_err("durable log: the message at %llu could not be read back", (unsigned long long)pos);
    return r;
}

static msg *load_rec(uint64_t pos, uint8_t want, char *vhost, size_t vhostn);

/* Read a message record back into memory. */
msg *store_load(uint64_t pos) { return load_rec(pos, REC_MSG, NULL, 0); } /* or REC_MSG_T */

msg *store_load_delayed(uint64_t pos, char *vhost, size_t vhostn) { return load_rec(pos, REC_DELAYED, vhost, vhostn); }

static msg *load_rec(uint64_t pos, uint8_t want, char *vhost, size_t vhostn) {
    if (!log_) return NULL;
    uint8_t type;
    size_t len;
    uint8_t small[4096];
    if (wlog_read(log_, pos, &type, small, sizeof small, &len) != 0 ||
        (type != want && !(want == REC_MSG && type == REC_MSG_T)))
        return NULL;
    uint8_t *buf = small;
    if (len > sizeof small) {
        buf = xmalloc(len);
        if (wlog_read(log_, pos, &type, buf, len, &len) != 0) {
            free(buf);
            return NULL;
        }
    }
    dec d = {buf, len, 0, true};
    if (want == REC_DELAYED) {
        get_le(&d, 8);
        amq_bytes vn = get_str8(&d);
        if (d.ok && vhostn) snprintf(vhost, vhostn, "%.*s", (int)vn.len, vn.p);
    }
    uint64_t n = get_le(&d, 2), own = 0;
    get_raw(&d, (size_t)n * 8);
    if (type == REC_MSG_T) {
        get_le(&d, 8);
        own = get_le(&d, 8);
    }
    amq_bytes x = get_str8(&d), rk = get_str8(&d), props = get_blob(&d);
    msg *m = NULL;
    if (d.ok) {
        amq_bytes body = {d.p + d.off, d.n - d.off};
        m = msg_new(x, rk, props, body.len);
        if (m) {
            if (body.len) memcpy(msg_body(m), body.p, body.len);
            m->body_have = body.len;
            m->pos = pos;
            m->delivery_mode = 2; /* only persistent messages are logged */
            if (own) m->ttl = (int64_t)(own - 1);
            m->recovered = want == REC_MSG && pos < first_pos;
            amq_basic_props bp;
            if (props.len && amq_basic_props_decode(props, &bp) == AMQ_OK && (bp.flags & AMQ_BASIC_PROP_PRIORITY))
                m->priority = bp.priority;
        }
    }
    if (buf != small) free(buf);
    return m;
}

/* Quorum returns: by message (qid, pos), then log order. */
static int ret_cmp(const void *a, const void *b) {
    const struct ret *x = a, *y = b;
    if (x->qid != y->qid) return x->qid < y->qid ? -1 : 1;
    if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* Keep one entry per message: its last count, and in at the position of its
 * last return to the back (0 = none: it keeps its place). */
static void ret_reduce(void) {
    if (!R.nret) return;
    qsort(R.ret, R.nret, sizeof *R.ret, ret_cmp);
    size_t k = 0;
    for (size_t i = 0; i < R.nret; i++) {
        struct ret r = R.ret[i];
        r.at = r.back ? r.at : 0;
        if (k && R.ret[k - 1].qid == r.qid && R.ret[k - 1].pos == r.pos) {
            if (!r.at) r.at = R.ret[k - 1].at;
            R.ret[k - 1] = r;
        } else {
            R.ret[k++] = r;
        }
    }
    R.nret = k;
}

static const struct ret *ret_find(uint64_t qid, uint64_t pos) {
    struct ret key = {.qid = qid, .pos = pos};
    size_t lo = 0, hi = R.nret;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = ret_cmp(&R.ret[mid], &key);
        if (!c || (R.ret[mid].qid == qid && R.ret[mid].pos == pos)) return &R.ret[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* A quorum queue's order: a message returned to the back sits where its last
 * such return was logged. Sorts r's entries (and expiries) by that. */
static uint64_t *order_key;
static int idx_cmp(const void *a, const void *b) {
    uint64_t x = order_key[*(const size_t *)a], y = order_key[*(const size_t *)b];
    return x < y ? -1 : x > y;
}

static void quorum_order(rq *r) {
    bool moved = false;
    uint64_t *key = xmalloc((r->n ? r->n : 1) * sizeof *key);
    for (size_t k = 0; k < r->n; k++) {
        const struct ret *t = ret_find(r->qid, r->pos[k]);
        key[k] = t && t->at ? t->at : r->pos[k];
        moved |= key[k] != r->pos[k];
    }
    if (moved) {
        size_t *ix = xmalloc(r->n * sizeof *ix);
        for (size_t k = 0; k < r->n; k++) ix[k] = k;
        order_key = key;
        qsort(ix, r->n, sizeof *ix, idx_cmp);
        uint64_t *pos = xmalloc(r->n * sizeof *pos), *exp = r->exp ? xmalloc(r->n * sizeof *exp) : NULL;
        for (size_t k = 0; k < r->n; k++) {
            pos[k] = r->pos[ix[k]];
            if (exp) exp[k] = r->exp[ix[k]];
        }
        free(r->pos);
        free(r->exp);
        r->pos = pos;
        r->exp = exp;
        free(ix);
    }
    free(key);
}

/* A message a quorum queue took back before the restart comes back as it was
 * delivered last: read now, with its x-delivery-count. NULL: none (or unreadable: lazy). */
static msg *quorum_counted(rq *r, uint64_t pos) {
    const struct ret *t = ret_find(r->qid, pos);
    if (!t || !t->returns) return NULL;
    msg *m = store_load(pos), *c = m ? qfeat_with_delivery_count(m, t->returns) : NULL;
    if (c) c->returns = t->returns;
    msg_unref(&m);
    return c;
}

static void restore_messages(void) {
    uint64_t restored = 0, wall = wall_ms(), mono = now_ms();
    ret_reduce();
    for (size_t i = 0; i < R.nqs; i++) {
        rq *r = &R.qs[i];
        if (!r->q) {
            rq_drop_all(r);
            free(r->pos);
            free(r->exp);
            continue;
        }
        bool quorum = r->q->quorum && R.nret;
        if (quorum) quorum_order(r);
        for (size_t k = 0; k < r->n; k++) {
            uint64_t key = key_of(r->qid, r->pos[k]);
            if (u64set_has(&R.dead, key)) {
                dead_push(r->pos[k]);
                continue;
            }
            /* The expiry counts from the enqueue: one that passed while the broker was
             * down is already due (expired, or dead-lettered, once recovery is done). */
            uint64_t xw = r->exp ? r->exp[k] : EXP_NO_TIME;
            uint64_t exp = xw == EXP_NO_TIME ? QUEUE_EXP_UNKNOWN : !xw ? 0 : xw > wall ? mono + (xw - wall) : mono - 1;
            queue_restore(r->q, r->pos[k], quorum ? quorum_counted(r, r->pos[k]) : NULL,
                          !clean_start || u64set_has(&R.delivered, key), exp);
            wlog_live(log_, r->pos[k], 1);
            restored++;
        }
        free(r->pos);
        free(r->exp);
    }
    free(R.qs);
    free(R.ret);
    uint64_t delayed = 0;
    for (size_t i = 0; i < R.ndl; i++) {
        if (u64set_has(&R.fired, R.dl[i][0])) {
            dead_push(R.dl[i][0]);
            continue;
        }
        delayed_restore(R.dl[i][1], R.dl[i][0]); /* only (fire, pos) stay in memory */
        wlog_live(log_, R.dl[i][0], 1);
        delayed++;
    }
    free(R.dl);
    u64set_destroy(&R.fired);
    for (size_t i = 0; i < R.ndeadrefs; i++) wlog_dead(log_, R.deadrefs[i]);
    free(R.deadrefs);
    if (delayed) log_info("recovery: %llu delayed message(s) rescheduled", (unsigned long long)delayed);
    u64set_destroy(&R.dead);
    u64set_destroy(&R.delivered);
    if (restored || R.msgs) log_info("recovery: %llu message(s) restored to durable queues", (unsigned long long)restored);
}

/* ---- snapshot ---- */

/* Emission runs on main only (open, close): plain statics carry the state. */
static wdefs_writer *snap_w;
static vhost *snap_v;
static amq_bytes snap_src;
static int snap_rc;
static uint64_t snap_pos;

static void emit_enc(uint8_t type, enc *e) {
    if (!snap_rc && wdefs_emit(snap_w, type, e->p, e->n)) snap_rc = -1;
    enc_free(e);
}

static void emit_binding(void *ctx, void *dest, amq_bytes key, amq_bytes args) {
    (void)ctx;
    bool is_x = ((uintptr_t)dest) & 1u;
    amq_bytes dn;
    if (is_x) {
        exchange *d = (exchange *)((uintptr_t)dest & ~(uintptr_t)1u);
        if (!d->durable) return;
        dn = xname_of(d);
    } else {
        queue *q = dest;
        if (!q->qid) return;
        dn = queue_name(q);
    }
    enc e;
    enc_scoped(&e, snap_v);
    put_str8(&e, snap_src);
    put_le(&e, !is_x, 1);
    put_str8(&e, dn);
    put_str8(&e, key);
    put_blob(&e, args);
    emit_enc(REC_BIND + VSCOPED, &e);
}

static void emit_vhost_name(void *ctx, vhost *v) {
    (void)ctx;
    enc e;
    enc_init(&e);
    put_str8(&e, amq_cstr(v->name));
    emit_enc(REC_VHOST_ADD, &e);
}

static void emit_user(void *ctx, const char *name, int algo, const char *hash, const char *tags) {
    (void)ctx;
    enc e;
    enc_init(&e);
    enc_user(&e, name, algo, hash, tags);
    emit_enc(REC_USER, &e);
}

static void emit_perm(void *ctx, const char *u, const char *v, const char *c, const char *w, const char *r) {
    (void)ctx;
    enc e;
    enc_init(&e);
    enc_perm(&e, u, v, c, w, r);
    emit_enc(REC_PERM, &e);
}

/* One vhost's durable exchanges, queues and bindings. */
static void emit_vhost_defs(void *ctx, vhost *v) {
    (void)ctx;
    enc e;
    pthread_rwlock_rdlock(&v->lock);
    size_t it = 0;
    exchange *x;
    while ((x = strmap_next(&v->exchanges, &it, NULL))) {
        if (!x->durable || x->name_len == 0 || (x->name_len >= 4 && !memcmp(x->name, "amq.", 4))) continue;
        enc_scoped(&e, v);
        enc_exchange(&e, x);
        emit_enc(REC_X_DECLARE + VSCOPED, &e);
    }
    it = 0;
    queue *q;
    while ((q = strmap_next(&v->queues, &it, NULL))) {
        if (!q->qid) continue;
        enc_scoped(&e, v);
        enc_queue(&e, q);
        emit_enc(REC_Q_DECLARE + VSCOPED, &e);
    }
    it = 0;
    snap_v = v;
    while ((x = strmap_next(&v->exchanges, &it, NULL))) {
        if (!x->durable || x->name_len == 0) continue;
        snap_src = xname_of(x);
        exch_foreach(x->rt, emit_binding, v);
    }
    pthread_rwlock_unlock(&v->lock);
}

static int emit_all(void *ctx, wdefs_writer *w) {
    (void)ctx;
    snap_w = w;
    snap_rc = 0;
    enc e;
    enc_init(&e);
    put_le(&e, snap_pos, 8);
    put_le(&e, next_qid, 8);
    put_le(&e, STORE_FORMAT, 4);
    emit_enc(SNAP_HEADER, &e);
    vhost_foreach(emit_vhost_name, NULL);
    access_foreach_user(emit_user, NULL);
    access_foreach_perm(emit_perm, NULL);
    vhost_foreach(emit_vhost_defs, NULL);
    return snap_rc;
}

/* The snapshot position is taken before anything is emitted: a change
 * recorded below it was made (under its table's write lock) before the record
 * was appended, so emission (under the read locks) sees it; one recorded at or
 * after it is replayed on top, and replaying a declaration, binding or
 * deletion again changes nothing. Main (open, close) and the log's
 * maintenance thread (at run time, once definition records sit in sealed
 * segments) both snapshot: one at a time. */
static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_bool running; /* store_open done, store_close not begun: run-time snapshots allowed */

static int snapshot_locked(void) {
    snap_pos = wlog_tail(log_);
    uint64_t at = snap_pos;
    int rc = wdefs_rewrite(defs, emit_all, NULL);
    if (rc) log_err("durable log: writing the definitions snapshot failed (%s)", wlog_strerror(rc));
    else release_defs(at);
    return rc;
}

static int snapshot(void) {
    pthread_mutex_lock(&snap_lock);
    int rc = snapshot_locked();
    pthread_mutex_unlock(&snap_lock);
    return rc;
}

static void wl_maintain(void *ctx, wlog *l) {
    (void)ctx, (void)l;
    pthread_mutex_lock(&snap_lock);
    if (atomic_load(&running) && defs_pin_sealed()) snapshot_locked();
    pthread_mutex_unlock(&snap_lock);
}

/* ---- open / close ---- */

static void wl_durable(void *ctx, wlog_pos pos) {
    (void)ctx;
    if (on_durable_cb) on_durable_cb(pos);
}

/* Batches the log could not make durable (rare): the last few ranges. */
#define LOST_MAX 64
static pthread_mutex_t lost_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t lost_from[LOST_MAX], lost_to[LOST_MAX];
static unsigned lost_n;
static atomic_bool any_lost;

bool store_lost(uint64_t pos) {
    if (!atomic_load_explicit(&any_lost, memory_order_acquire)) return false;
    bool hit = false;
    pthread_mutex_lock(&lost_lock);
    for (unsigned i = 0; i < lost_n && i < LOST_MAX && !hit; i++) hit = pos >= lost_from[i] && pos < lost_to[i];
    pthread_mutex_unlock(&lost_lock);
    return hit;
}

static void wl_failed(void *ctx, wlog_pos from, wlog_pos to, int err) {
    (void)ctx;
    pthread_mutex_lock(&lost_lock);
    lost_from[lost_n % LOST_MAX] = from;
    lost_to[lost_n % LOST_MAX] = to;
    lost_n++;
    pthread_mutex_unlock(&lost_lock);
    atomic_store_explicit(&any_lost, true, memory_order_release);
    log_err("durable log: a batch could not be made durable (%s); its publishes are nacked", wlog_strerror(err));
    if (on_failed_cb) on_failed_cb(from, to);
}

/* What recovery needs of each record (the index keeps only that) and how
 * many references it holds: a message one per durable queue it went to, a
 * delayed message one, a definition one (until a snapshot covers it). */
static size_t wl_summarize(void *ctx, uint8_t type, const void *head, size_t headlen, size_t len, uint32_t *refs) {
    (void)ctx;
    const uint8_t *p = head;
    *refs = 0;
    switch (type) {
    case REC_MSG:
    case REC_MSG_T: {
        if (headlen < 2) return len;
        uint32_t n = p[0] | (uint32_t)p[1] << 8;
        *refs = n;
        /* the queue ids (and times); exchange, key, properties and body stay in the segment */
        return 2 + (size_t)n * 8 + (type == REC_MSG_T ? 16 : 0);
    }
    case REC_DELAYED:
        *refs = 1;
        return 8; /* the firing time */
    default:
        if (type >= REC_X_DECLARE) *refs = 1;
        return len;
    }
}

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Compaction asks about records that hold no reference: an ack or a
 * delivered mark matters while the message it names may still be on disk; a
 * purge while anything older may be. */
static int wl_keep(void *ctx, wlog *l, wlog_pos pos, uint8_t type, const void *summary, size_t len) {
    (void)ctx;
    const uint8_t *p = summary;
    switch (type) {
    case REC_ACK:
    case REC_DELIVERED:
    case REC_RETURNED:
        return len < 16 || wlog_present(l, rd64(p + 8));
    case REC_DELAYED_DONE:
        return len < 8 || wlog_present(l, rd64(p));
    case REC_PURGE:
        return wlog_first(l) < WLOG_POS(WLOG_SEG(pos), 0) || wlog_kept_before(l, pos);
    default:
        return 1;
    }
}

static void wl_log(void *ctx, int level, const char *m) {
    (void)ctx;
    log_msg(level == 0 ? LOG_ERR : level == 1 ? LOG_WARN : LOG_INFO, "durable log: %s", m);
}

int store_open(const char *data_dir) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/log", data_dir);
    uint64_t t0 = now_ms();
    snprintf(data_dir_path, sizeof data_dir_path, "%s", data_dir);
    snprintf(clean_path, sizeof clean_path, "%s/clean-shutdown", data_dir);
    clean_start = access(clean_path, F_OK) == 0;
    if (clean_start && (unlink(clean_path) != 0 || fsync_dir(data_dir) != 0)) {
        log_err("cannot remove %s: %s", clean_path, strerror(errno));
        return -1;
    }
    memset(&R, 0, sizeof R);
    u64set_init(&R.dead);
    u64set_init(&R.delivered);
    u64set_init(&R.fired);
    qsched_hold(true); /* expiries found at recovery run once every queue is back */
    replaying = true;
    int rc = wdefs_open(data_dir, NULL, replay_snapshot, NULL, &defs);
    if (rc) {
        log_err("cannot open the definitions in %s: %s", data_dir, wlog_strerror(rc));
        replaying = false;
        qsched_hold(false);
        return -1;
    }
    /* Ack records are not counted live, so segments go oldest first: a segment
     * holding acks never goes while an older one holding their messages stays. */
    wlog_opts o = {.segment_size = config.segment_size,
                   .reclaim_in_order = true,
                   .on_durable = wl_durable,
                   .on_failed = wl_failed,
                   .log = wl_log,
                   .summarize = wl_summarize,
                   .keep = wl_keep,
                   .ignore_indexes = config.log_verify_on_start,
                   .on_maintain = wl_maintain};
    rc = wlog_open(dir, &o, replay_log, NULL, &log_);
    if (rc) {
        log_err("cannot open the durable log in %s: %s", dir, wlog_strerror(rc));
        replaying = false;
        wdefs_close(&defs);
        qsched_hold(false);
        return -1;
    }
    first_pos = wlog_tail(log_);
    restore_messages();
    replaying = false;
    if (!initialised && first_boot_cb) first_boot_cb(); /* recorded, then covered by the snapshot */
    initialised = true;
    if (snapshot() == 0) wlog_reclaim(log_);
    atomic_store(&running, true);
    qsched_hold(false);
    log_info("durable log recovered in %llu ms (%d segment file(s))", (unsigned long long)(now_ms() - t0),
             wlog_segment_count(log_));
    return 0;
}

void store_close(void) {
    if (!log_) return;
    pthread_mutex_lock(&snap_lock); /* no run-time snapshot from here on */
    atomic_store(&running, false);
    pthread_mutex_unlock(&snap_lock);
    bool synced = wlog_sync(log_) == 0;
    snapshot();
    wlog_close(&log_);
    wdefs_close(&defs);
    free(def_pending);
    def_pending = NULL;
    ndef_pending = capdef_pending = 0;
    if (!synced) return; /* something was lost: the next start must be conservative */
    int fd = open(clean_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0 || fsync(fd) != 0 || close(fd) != 0 || fsync_dir(data_dir_path) != 0)
        log_warn("cannot record the clean shutdown in %s: %s", clean_path, strerror(errno));
}

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}
