/* store_snap.c — the definitions snapshot (wdefs) and the definition
 * records it has yet to cover; see store.h and store_internal.h. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "policy.h"
#include "store_internal.h"
#include "vhost.h"
#include "wlog/wlog.h"

/* Definition records keep their segment alive until a snapshot covers them
 * (counted atomically with the append, so the segment cannot go in between).
 * Their positions wait here; a snapshot releases those below its position. */
static pthread_mutex_t defs_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *def_pending;
static size_t ndef_pending, capdef_pending;

void store_snap_append_def(uint8_t type, enc *e) {
    uint64_t pos = wlog_append_live(store.log, type, e->p, e->n, 1);
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
        if (def_pending[i] < p) wlog_live(store.log, def_pending[i], -1);
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
    return oldest != UINT64_MAX && WLOG_SEG(oldest) < WLOG_SEG(wlog_tail(store.log));
}

/* store_close, once the log is closed. */
void store_snap_free_defs(void) {
    free(def_pending);
    def_pending = NULL;
    ndef_pending = capdef_pending = 0;
}

/* ---- snapshot ---- */

/* Emission state: plain statics, used by one snapshot at a time (snap_lock): main
 * takes one at open and close, the log's maintenance thread at run time. */
static wdefs_writer *snap_w;
static int snap_rc;
static uint64_t snap_pos;

static void emit_enc(uint8_t type, enc *e) {
    if (!snap_rc && wdefs_emit(snap_w, type, e->p, e->n)) snap_rc = -1;
    enc_free(e);
}

static void emit_binding(void *ctx, vhost *v, const vbinding *b) {
    (void)ctx;
    if (!b->src->durable) return;
    if (b->dest_is_queue ? !b->dest_q->qid : !b->dest_x->durable) return;
    enc e;
    enc_scoped(&e, v);
    put_str8(&e, xname_of(b->src));
    put_le(&e, b->dest_is_queue, 1);
    put_str8(&e, b->dest_name);
    put_str8(&e, b->key);
    put_blob(&e, b->args);
    emit_enc(REC_BIND + VSCOPED, &e);
}

static void emit_vhost_name(void *ctx, vhost *v) {
    (void)ctx;
    enc e;
    enc_init(&e);
    put_str8(&e, amq_cstr(vhost_name(v)));
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

static void emit_policy(void *ctx, vhost *v, const policy_info *p) {
    (void)ctx, (void)v;
    enc e;
    enc_init(&e);
    char *def = json_dumps(p->definition, JSON_COMPACT | JSON_SORT_KEYS);
    enc_policy(&e, p->vhost, p->op, p->name, p->pattern, p->apply_to, p->priority, def ? def : "{}");
    free(def);
    emit_enc(REC_POLICY, &e);
}

static void emit_exchange(void *ctx, vhost *v, const exchange *x) {
    (void)ctx;
    if (!x->durable || x->name_len == 0 || (x->name_len >= 4 && !memcmp(x->name, "amq.", 4))) return;
    enc e;
    enc_scoped(&e, v);
    enc_exchange(&e, x);
    emit_enc(REC_X_DECLARE + VSCOPED, &e);
}

static void emit_queue(void *ctx, vhost *v, queue *q) {
    (void)ctx;
    if (!q->qid) return;
    enc e;
    enc_scoped(&e, v);
    enc_queue(&e, q);
    emit_enc(REC_Q_DECLARE + VSCOPED, &e);
}

/* One vhost's policies (first: the queues declared next get them), durable
 * exchanges, queues and bindings. */
static void emit_vhost_defs(void *ctx, vhost *v) {
    static const vhost_walker walk = {emit_exchange, emit_queue, emit_binding, emit_policy, NULL};
    vhost_walk(v, &walk, ctx);
}

static int emit_all(void *ctx, wdefs_writer *w) {
    (void)ctx;
    snap_w = w;
    snap_rc = 0;
    enc e;
    enc_init(&e);
    put_le(&e, snap_pos, 8);
    put_le(&e, store.next_qid, 8);
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
    snap_pos = wlog_tail(store.log);
    uint64_t at = snap_pos;
    int rc = wdefs_rewrite(store.defs, emit_all, NULL);
    if (rc) log_err("durable log: writing the definitions snapshot failed (%s)", wlog_strerror(rc));
    else release_defs(at);
    return rc;
}

int store_snap_take(void) {
    pthread_mutex_lock(&snap_lock);
    int rc = snapshot_locked();
    pthread_mutex_unlock(&snap_lock);
    return rc;
}

void store_snap_maintain(void *ctx, wlog *l) {
    (void)ctx, (void)l;
    pthread_mutex_lock(&snap_lock);
    if (atomic_load(&running) && defs_pin_sealed()) snapshot_locked();
    pthread_mutex_unlock(&snap_lock);
}

void store_snap_start(void) { atomic_store(&running, true); }

void store_snap_stop(void) {
    pthread_mutex_lock(&snap_lock); /* no run-time snapshot from here on */
    atomic_store(&running, false);
    pthread_mutex_unlock(&snap_lock);
}
