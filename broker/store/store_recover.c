/* store_recover.c — store_open's recovery: the definitions snapshot and the
 * log are replayed into the vhost table, then the durable queues and the
 * delayed messages get their messages back; see store.h and store_internal.h.
 * Main only, during store_open (no worker runs yet). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "delayed.h"
#include "policy.h"
#include "qfeat.h"
#include "queue.h"
#include "queue_type.h"
#include "durable.h"
#include "store.h"
#include "store_internal.h"
#include "u64set.h"
#include "util.h"
#include "vhost.h"
#include "wlog/wlog.h"

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
    u64set dead;       /* (qid,pos) hashed: acked */
    u64set delivered;  /* (qid,pos) hashed: delivered once */
    u64set fired;      /* positions of delayed messages that fired */
    uint64_t (*dl)[2]; /* delayed messages: {pos, fire} */
    size_t ndl, capdl;
    uint64_t msgs, bad;
    uint64_t *deadrefs; /* references found dead: told to the log for compaction */
    size_t ndeadrefs, capdeadrefs;
    struct ret {               /* quorum returns, in log order: the last one per message counts */
        uint64_t qid, pos, at; /* at: the record's position */
        uint16_t returns;
        bool back;
    } * ret;
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
    const char *tname = xtype_decode(type);
    if (!tname) {
        log_warn("recovery: exchange '%.*s' not restored: unknown type byte %u", (int)name.len, name.p, type);
        return;
    }
    werr e;
    if (vhost_exchange_restore(R.v, name, amq_cstr(tname), flags & 1, flags & 2, flags & 4, args, &e))
        log_warn("recovery: exchange '%.*s' not restored: %s", (int)name.len, name.p, e.text);
}

static void apply_queue(dec *d) {
    uint64_t qid = get_le(d, 8);
    amq_bytes name = get_str8(d);
    uint8_t flags = (uint8_t)get_le(d, 1);
    amq_bytes args = get_blob(d);
    if (!d->ok) return;
    werr e;
    queue *q;
    store.replay_qid = qid;
    if (vhost_queue_restore(R.v, name, flags & 2, args, &q, &e)) {
        log_warn("recovery: queue '%.*s' not restored: %s", (int)name.len, name.p, e.text);
        return;
    }
    if (qid >= store.next_qid) store.next_qid = qid + 1;
    rq_add_queue(qid, q);
    queue_unref(&q);
}

static void apply_binding(dec *d, bool add) {
    amq_bytes src = get_str8(d);
    bool to_queue = get_le(d, 1) != 0;
    amq_bytes dest = get_str8(d), key = get_str8(d), args = get_blob(d);
    if (!d->ok) return;
    werr e;
    int rc = to_queue ? vhost_queue_bind(R.v, dest, src, key, args, !add, 0, &e)
                      : vhost_exchange_bind(R.v, dest, src, key, args, !add, &e);
    if (rc && add)
        log_warn("recovery: binding %.*s -> %.*s not restored: %s", (int)src.len, src.p, (int)dest.len, dest.p, e.text);
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
    store.initialised = true;
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
    case REC_POLICY: {
        bool op = get_le(d, 1);
        char *v = get_cstr(d, false), *name = get_cstr(d, true), *pattern = get_cstr(d, true);
        char *apply_to = get_cstr(d, false);
        int64_t prio = (int64_t)get_le(d, 8);
        char *def = get_cstr(d, true);
        if (d->ok && policy_set(v, name, pattern, def, prio, apply_to, op, err, sizeof err) && vhost_find(amq_cstr(v)))
            log_warn("recovery: policy '%s' not restored: %s", name, err);
        free(v), free(name), free(pattern), free(apply_to), free(def);
        break;
    }
    case REC_POLICY_CLEAR: {
        bool op = get_le(d, 1);
        char *v = get_cstr(d, false), *name = get_cstr(d, true);
        if (d->ok) policy_clear(v, name, op, err, sizeof err);
        free(v), free(name);
        break;
    }
    default: break;
    }
}

static void apply_def(uint8_t type, dec *d) {
    werr e;
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

int store_recover_snapshot_rec(void *ctx, wlog_pos pos, uint8_t type, const void *p, size_t len) {
    (void)ctx, (void)pos;
    dec d = {p, len, 0, true};
    if (type == SNAP_HEADER) {
        R.snap_pos = get_le(&d, 8);
        uint64_t nq = get_le(&d, 8);
        if (nq > store.next_qid) store.next_qid = nq;
        uint64_t version = get_le(&d, 4);
        if (d.ok && version >= 2) store.initialised = true;
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

int store_recover_log_rec(void *ctx, wlog_pos pos, uint8_t type, const void *p, size_t len) {
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
    default: R.bad++; break;
    }
    return 0;
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

void store_recover_restore(void) {
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
        bool quorum = r->q->type->recover_returns && R.nret;
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
                          !store.clean_start || u64set_has(&R.delivered, key), exp);
            wlog_live(store.log, r->pos[k], 1);
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
        wlog_live(store.log, R.dl[i][0], 1);
        delayed++;
    }
    free(R.dl);
    u64set_destroy(&R.fired);
    for (size_t i = 0; i < R.ndeadrefs; i++) wlog_dead(store.log, R.deadrefs[i]);
    free(R.deadrefs);
    if (delayed) log_info("recovery: %llu delayed message(s) rescheduled", (unsigned long long)delayed);
    u64set_destroy(&R.dead);
    u64set_destroy(&R.delivered);
    if (restored || R.msgs)
        log_info("recovery: %llu message(s) restored to durable queues", (unsigned long long)restored);
}

void store_recover_begin(void) {
    memset(&R, 0, sizeof R);
    u64set_init(&R.dead);
    u64set_init(&R.delivered);
    u64set_init(&R.fired);
}

void store_recover_abort(void) {
    for (size_t i = 0; i < R.nqs; i++) {
        free(R.qs[i].pos);
        free(R.qs[i].exp);
    }
    free(R.qs);
    free(R.ret);
    free(R.dl);
    free(R.deadrefs);
    u64set_destroy(&R.fired);
    u64set_destroy(&R.dead);
    u64set_destroy(&R.delivered);
    memset(&R, 0, sizeof R);
}
