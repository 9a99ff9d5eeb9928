/* store_internal.h — what the store's files share; private to them (the
 * public API is store.h, which documents the log and its records).
 *   store.c          open/close, the appends, reading records back, the log's callbacks
 *   store_recover.c  replaying the snapshot and the log at store_open, restoring the queues
 *   store_snap.c     the definitions snapshot and the definition records it has yet to cover */
#ifndef WARREN_STORE_INTERNAL_H
#define WARREN_STORE_INTERNAL_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amq/buf.h"
#include "qfeat.h"
#include "queue.h"
#include "util.h"
#include "vhost.h"
#include "wlog/wlog.h"

/* Log record types. Payloads are little-endian. */
enum {
    REC_MSG = 1,          /* u16 n | n*u64 qid | u8 xlen x | u8 rklen rk | u32 plen props | body */
    REC_ACK = 2,          /* u64 qid | u64 pos */
    REC_DELIVERED = 3,    /* u64 qid | u64 pos */
    REC_PURGE = 4,        /* u64 qid */
    REC_DELAYED = 5,      /* u64 fire (wall-clock ms) | str8 vhost | then as REC_MSG with n = 0 */
    REC_DELAYED_DONE = 6, /* u64 pos of the REC_DELAYED that fired */
    /* A message that can expire (its own expiration, or a durable queue it went to has
     * x-message-ttl): as REC_MSG with, right after the queue ids (inside the summary),
     * u64 enqueued (wall-clock ms) | u64 own TTL in ms + 1 (0 = none), so that its
     * expiry counts from its enqueue across restarts, as RabbitMQ's. */
    REC_MSG_T = 7,
    REC_RETURNED = 8,   /* u64 qid | u64 pos | u16 returns | u8 back: a quorum queue took it back */
    REC_X_DECLARE = 10, /* str8 name | u8 type | u8 flags | u32 len args */
    REC_X_DELETE = 11,  /* str8 name */
    REC_Q_DECLARE = 12, /* u64 qid | str8 name | u8 flags | u32 len args */
    REC_Q_DELETE = 13,  /* u64 qid | str8 name */
    REC_BIND = 14,      /* str8 src | u8 dest_is_queue | str8 dest | str8 key | u32 len args */
    REC_UNBIND = 15,
    SNAP_HEADER = 20, /* u64 log position S | u64 next qid | u32 format version (2; absent = 1) */
    /* Format 2: the records above, scoped to a vhost — type + VSCOPED with a
     * leading str8 vhost name. Format-1 records (10..15) mean vhost "/". */
    VSCOPED = 20,        /* 30..35 */
    REC_USER = 40,       /* str8 name | u8 algo | str8 hash (base64) | u32 len tags */
    REC_USER_DEL = 41,   /* str8 name */
    REC_VHOST_ADD = 42,  /* str8 name */
    REC_VHOST_DEL = 43,  /* str8 name */
    REC_PERM = 44,       /* str8 user | str8 vhost | u32 len configure | u32 len write | u32 len read */
    REC_PERM_CLEAR = 45, /* str8 user | str8 vhost */
    /* policies (policy.h): u8 operator | str8 vhost | u32 len name | u32 len pattern | str8 apply-to |
     * u64 priority (two's complement) | u32 len definition (JSON) */
    REC_POLICY = 46,
    REC_POLICY_CLEAR = 47, /* u8 operator | str8 vhost | u32 len name */
};
#define STORE_FORMAT 2

/* State more than one of the store's files touches. */
struct store_state {
    /* Set by store_open (main) before the workers start, cleared by
     * store_close (main) once they and the timer threads have stopped; read
     * by any thread. */
    wlog *log;
    /* The definitions snapshot: opened and closed by main; rewritten under
     * store_snap.c's lock (main, or the log's maintenance thread). */
    wdefs *defs;
    /* The next queue id: workers take ids (store_queue_declared), recovery
     * (main, before the workers start) raises it, snapshots read it. */
    _Atomic uint64_t next_qid;
    /* A format-2 snapshot or access records were found: set by recovery,
     * then by store_open (main). */
    bool initialised;
    /* The id of the queue recovery is declaring again (main, during store_open). */
    uint64_t replay_qid;
    /* A clean shutdown leaves a file (store.c); without it, recovery cannot
     * know whether a first-delivery record was still in flight at a crash, so
     * every recovered message is marked redelivered ("may have been delivered
     * before"). Set by store_open before recovery reads it (main). */
    bool clean_start;
};
extern struct store_state store;

/* ---- little-endian encoding into a stack buffer or an amq_wr ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool heap;
    uint8_t stack[512];
} enc;

static inline void enc_init(enc *e) {
    e->p = e->stack;
    e->n = 0;
    e->cap = sizeof e->stack;
    e->heap = false;
}

static inline void enc_need(enc *e, size_t k) {
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

static inline void enc_free(enc *e) {
    if (e->heap) free(e->p);
}

static inline void put_le(enc *e, uint64_t v, int bytes) {
    enc_need(e, (size_t)bytes);
    for (int i = 0; i < bytes; i++) e->p[e->n++] = (uint8_t)(v >> (8 * i));
}

static inline void put_raw(enc *e, const void *p, size_t n) {
    enc_need(e, n);
    if (n) memcpy(e->p + e->n, p, n);
    e->n += n;
}

static inline void put_str8(enc *e, amq_bytes s) {
    put_le(e, s.len, 1);
    put_raw(e, s.p, s.len);
}

static inline void put_blob(enc *e, amq_bytes s) {
    put_le(e, s.len, 4);
    put_raw(e, s.p, s.len);
}

/* Decoding with bounds checks: any short read sets ok = false. */
typedef struct {
    const uint8_t *p;
    size_t n, off;
    bool ok;
} dec;

static inline uint64_t get_le(dec *d, int bytes) {
    if (!d->ok || d->n - d->off < (size_t)bytes) {
        d->ok = false;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)d->p[d->off++] << (8 * i);
    return v;
}

static inline amq_bytes get_raw(dec *d, size_t n) {
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

static inline amq_bytes get_str8(dec *d) { return get_raw(d, (size_t)get_le(d, 1)); }
static inline amq_bytes get_blob(dec *d) { return get_raw(d, (size_t)get_le(d, 4)); }

/* ---- definition record bodies (appends and snapshot emission) ---- */

/* A vhost-scoped definition record. */
static inline void enc_scoped(enc *e, const vhost *v) {
    enc_init(e);
    put_str8(e, amq_cstr(vhost_name(v)));
}

/* The exchange type byte of REC_X_DECLARE (log and snapshot): a stable
 * on-disk encoding, written and read only through xtype_encode/xtype_decode,
 * never the in-memory exch_type, so reordering exchanges/'s enum cannot change
 * what an existing data dir means. Never renumber a value; a new exchange type
 * takes a new one. An x-delayed-message exchange is XT_DELAYED; its arguments
 * (x-delayed-type) name the routing type. */
enum xtype_disk { XT_DIRECT = 0, XT_FANOUT = 1, XT_TOPIC = 2, XT_HEADERS = 3, XT_DELAYED = 0x10 };

static inline uint8_t xtype_encode(const exchange *x) {
    if (x->delayed) return XT_DELAYED;
    switch (x->type) {
    case EXCH_DIRECT: return XT_DIRECT;
    case EXCH_FANOUT: return XT_FANOUT;
    case EXCH_TOPIC: return XT_TOPIC;
    case EXCH_HEADERS: return XT_HEADERS;
    }
    return XT_DIRECT; /* not reached: every exch_type has a row above */
}

/* The declared type name of an on-disk byte; NULL for a byte no version wrote. */
static inline const char *xtype_decode(uint8_t b) {
    switch (b) {
    case XT_DIRECT: return "direct";
    case XT_FANOUT: return "fanout";
    case XT_TOPIC: return "topic";
    case XT_HEADERS: return "headers";
    case XT_DELAYED: return "x-delayed-message";
    }
    return NULL;
}

static inline amq_bytes xname_of(const exchange *x) { return (amq_bytes){(const uint8_t *)x->name, x->name_len}; }

static inline void enc_exchange(enc *e, const exchange *x) {
    put_str8(e, xname_of(x));
    put_le(e, xtype_encode(x), 1);
    put_le(e, (uint64_t)(x->durable | x->auto_delete << 1 | x->internal << 2), 1);
    put_blob(e, x->args);
}

static inline void enc_queue(enc *e, const queue *q) {
    put_le(e, q->qid, 8);
    put_str8(e, queue_name(q));
    put_le(e, (uint64_t)(q->durable | q->auto_delete << 1), 1);
    put_blob(e, q->args);
}

static inline void enc_user(enc *e, const char *name, int algo, const char *hash, const char *tags) {
    put_str8(e, amq_cstr(name));
    put_le(e, (uint64_t)algo, 1);
    put_str8(e, amq_cstr(hash));
    put_blob(e, amq_cstr(tags));
}

static inline void enc_perm(enc *e, const char *u, const char *v, const char *c, const char *w, const char *r) {
    put_str8(e, amq_cstr(u));
    put_str8(e, amq_cstr(v));
    put_blob(e, amq_cstr(c));
    put_blob(e, amq_cstr(w));
    put_blob(e, amq_cstr(r));
}

static inline void enc_policy(enc *e, const char *vhost, bool op, const char *name, const char *pattern,
                              const char *apply_to, int64_t priority, const char *definition) {
    put_le(e, op, 1);
    put_str8(e, amq_cstr(vhost));
    put_blob(e, amq_cstr(name)); /* a policy's name has no AMQP limit */
    put_blob(e, amq_cstr(pattern));
    put_str8(e, amq_cstr(apply_to));
    put_le(e, (uint64_t)priority, 8);
    put_blob(e, amq_cstr(definition));
}

static inline bool queue_ttl(const queue *q) { return q->feat && q->feat->msg_ttl >= 0; }

/* ---- store_snap.c ---- */

/* Append a definition record (any worker; consumes e). It keeps its segment
 * alive until a snapshot covers it. */
void store_snap_append_def(uint8_t type, enc *e);
/* Write a definitions snapshot (main: store_open, store_close). 0 or an error (logged). */
int store_snap_take(void);
/* wlog's on_maintain callback (its maintenance thread): a snapshot once
 * definition records sit in sealed segments, if store_snap_start has run. */
void store_snap_maintain(void *ctx, wlog *l);
/* Allow run-time snapshots (main, end of store_open). */
void store_snap_start(void);
/* No run-time snapshot from here on (main, start of store_close). */
void store_snap_stop(void);
/* Forget the pending definition positions (main, store_close, log closed). */
void store_snap_free_defs(void);

/* ---- store_recover.c (main, during store_open) ---- */

/* Reset the recovery state. */
void store_recover_begin(void);
/* store_open failed: free what the replay built. */
void store_recover_abort(void);
/* wdefs_open's callback: one snapshot record. */
int store_recover_snapshot_rec(void *ctx, wlog_pos pos, uint8_t type, const void *p, size_t len);
/* wlog_open's callback: one log record. */
int store_recover_log_rec(void *ctx, wlog_pos pos, uint8_t type, const void *p, size_t len);
/* Once the log is replayed: fill the queues and the delayed messages, tell
 * the log which references are dead, free the recovery state. */
void store_recover_restore(void);
#endif
