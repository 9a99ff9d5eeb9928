/* store.c — the store's lifecycle (open, recovery start, close), the appends
 * of the model's durable port (durable.h), reading records back, the lost-batch
 * list, and the log's callbacks. Recovery is in store_recover.c, the definitions
 * snapshot in store_snap.c, what they share in store_internal.h. */
#include "store.h"
#include "store_internal.h"

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
#include "config.h"
#include "durable.h"
#include "qfeat.h"
#include "qsched.h"
#include "queue.h"
#include "util.h"
#include "vhost.h"
#include "wlog/wlog.h"

struct store_state store = {.next_qid = 1};

static uint64_t first_pos; /* records below were written before this start */
static bool replaying;
static void (*on_durable_cb)(uint64_t);
/* A clean shutdown leaves this file; without it, recovery cannot know whether a
 * first-delivery record was still in flight at a crash, so every recovered
 * message is marked redelivered ("may have been delivered before"). */
static int fsync_dir(const char *dir);
static char clean_path[640], data_dir_path[600];
static void (*on_failed_cb)(uint64_t, uint64_t);
static void (*first_boot_cb)(void);

void store_set_first_boot(void (*seed)(void)) { first_boot_cb = seed; }

static bool st_active(void) { return store.log != NULL; }

void store_set_listener(void (*durable)(uint64_t), void (*failed)(uint64_t, uint64_t)) {
    on_durable_cb = durable;
    on_failed_cb = failed;
}

int store_sync(void) { return store.log && wlog_sync(store.log) ? -1 : 0; }

static uint64_t st_durable(void) { return store.log ? wlog_durable(store.log) : UINT64_MAX; }

/* ---- appends ---- */

static uint64_t append(uint8_t type, enc *e) {
    uint64_t pos = wlog_append(store.log, type, e->p, e->n);
    if (!pos) log_err("durable log: cannot append a record of %zu bytes", e->n);
    enc_free(e);
    return pos;
}

static void st_exchange_declared(vhost *v, const exchange *x) {
    if (!store.log || replaying || !x->durable) return;
    enc e;
    enc_scoped(&e, v);
    enc_exchange(&e, x);
    store_snap_append_def(REC_X_DECLARE + VSCOPED, &e);
}

static void st_exchange_deleted(vhost *v, amq_bytes name) {
    if (!store.log || replaying) return;
    enc e;
    enc_scoped(&e, v);
    put_str8(&e, name);
    store_snap_append_def(REC_X_DELETE + VSCOPED, &e);
}

static void st_queue_declared(vhost *v, queue *q) {
    if (!q->durable || q->exclusive) return;
    if (replaying) { /* the log may not be open yet while the snapshot replays */
        q->qid = store.replay_qid;
        return;
    }
    if (!store.log) return;
    q->qid = atomic_fetch_add(&store.next_qid, 1);
    enc e;
    enc_scoped(&e, v);
    enc_queue(&e, q);
    store_snap_append_def(REC_Q_DECLARE + VSCOPED, &e);
}

static void st_queue_deleted(vhost *v, queue *q) {
    if (!store.log || replaying || !q->qid) return;
    enc e;
    enc_scoped(&e, v);
    put_le(&e, q->qid, 8);
    put_str8(&e, queue_name(q));
    store_snap_append_def(REC_Q_DELETE + VSCOPED, &e);
}

static void st_binding(vhost *v, amq_bytes src, bool dest_is_queue, amq_bytes dest, amq_bytes key, amq_bytes args,
                       bool add) {
    if (!store.log || replaying) return;
    enc e;
    enc_scoped(&e, v);
    put_str8(&e, src);
    put_le(&e, dest_is_queue, 1);
    put_str8(&e, dest);
    put_str8(&e, key);
    put_blob(&e, args);
    store_snap_append_def((uint8_t)((add ? REC_BIND : REC_UNBIND) + VSCOPED), &e);
}

/* ---- users, vhosts, permissions ---- */

static void append_names(uint8_t type, const char *a, const char *b) {
    if (!store.log || replaying) return;
    enc e;
    enc_init(&e);
    put_str8(&e, amq_cstr(a));
    if (b) put_str8(&e, amq_cstr(b));
    store_snap_append_def(type, &e);
}

static void st_user_put(const char *name, int algo, const char *hash, const char *tags) {
    if (!store.log || replaying) return;
    enc e;
    enc_init(&e);
    enc_user(&e, name, algo, hash, tags);
    store_snap_append_def(REC_USER, &e);
}

static void st_user_deleted(const char *name) { append_names(REC_USER_DEL, name, NULL); }
static void st_vhost_added(const char *name) { append_names(REC_VHOST_ADD, name, NULL); }
static void st_vhost_deleted(const char *name) { append_names(REC_VHOST_DEL, name, NULL); }
static void st_perm_clear(const char *user, const char *vhost) { append_names(REC_PERM_CLEAR, user, vhost); }

static void st_perm_set(const char *u, const char *v, const char *c, const char *w, const char *r) {
    if (!store.log || replaying) return;
    enc e;
    enc_init(&e);
    enc_perm(&e, u, v, c, w, r);
    store_snap_append_def(REC_PERM, &e);
}

static void st_policy_set(const char *vhost, bool op, const char *name, const char *pattern, const char *apply_to,
                          int64_t priority, const char *definition) {
    if (!store.log || replaying) return;
    enc e;
    enc_init(&e);
    enc_policy(&e, vhost, op, name, pattern, apply_to, priority, definition);
    store_snap_append_def(REC_POLICY, &e);
}

static void st_policy_clear(const char *vhost, bool op, const char *name) {
    if (!store.log || replaying) return;
    enc e;
    enc_init(&e);
    put_le(&e, op, 1);
    put_str8(&e, amq_cstr(vhost));
    put_blob(&e, amq_cstr(name));
    store_snap_append_def(REC_POLICY_CLEAR, &e);
}

bool store_initialised(void) { return store.initialised; }

static uint64_t st_message(msg *m, queue *const *qs, size_t n) {
    if (!store.log || m->delivery_mode != 2) return 0;
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
    uint64_t pos = wlog_appendv_live(store.log, timed ? REC_MSG_T : REC_MSG, iov, 2, (int)nd);
    enc_free(&e);
    if (!pos) {
        log_err("durable log: cannot append a message of %llu bytes", (unsigned long long)m->body_len);
        return UINT64_MAX; /* the confirm becomes a nack */
    }
    m->pos = pos;
    return pos;
}

static uint64_t st_delayed(const char *vhost, msg *m, uint64_t fire) {
    if (!store.log) return 0;
    enc e;
    enc_init(&e);
    put_le(&e, fire, 8);
    put_str8(&e, amq_cstr(vhost));
    put_le(&e, 0, 2);
    put_str8(&e, msg_exchange(m));
    put_str8(&e, msg_rk(m));
    put_blob(&e, msg_props(m));
    struct iovec iov[2] = {{e.p, e.n}, {msg_body(m), (size_t)m->body_len}};
    uint64_t pos = wlog_appendv_live(store.log, REC_DELAYED, iov, 2, 1);
    enc_free(&e);
    if (!pos) log_err("durable log: cannot append a delayed message of %llu bytes", (unsigned long long)m->body_len);
    return pos;
}

static void st_delayed_done(uint64_t pos) {
    if (!store.log || !pos) return;
    enc e;
    enc_init(&e);
    put_le(&e, pos, 8);
    append(REC_DELAYED_DONE, &e);
    wlog_live(store.log, pos, -1);
}

static void queue_event(uint8_t type, queue *q, uint64_t pos) {
    enc e;
    enc_init(&e);
    put_le(&e, q->qid, 8);
    put_le(&e, pos, 8);
    append(type, &e);
}

static void st_ack(queue *q, msg *m) {
    if (!store.log || !q->qid || !m->pos) return;
    queue_event(REC_ACK, q, m->pos);
    wlog_live(store.log, m->pos, -1);
}

static void st_ack_pos(queue *q, uint64_t pos) {
    if (!store.log || !q->qid || !pos) return;
    queue_event(REC_ACK, q, pos);
    wlog_live(store.log, pos, -1);
}

static void st_returned(queue *q, msg *m, bool back) {
    if (!store.log || !q->qid || !m->pos) return;
    enc e;
    enc_init(&e);
    put_le(&e, q->qid, 8);
    put_le(&e, m->pos, 8);
    put_le(&e, m->returns, 2);
    put_le(&e, back, 1);
    append(REC_RETURNED, &e);
}

static void st_delivered(queue *q, msg *m) {
    if (!store.log || !q->qid || !m->pos) return;
    queue_event(REC_DELIVERED, q, m->pos);
}

static void st_dropped(queue *q, msg *m) {
    if (!store.log || !q->qid || !m->pos) return;
    wlog_live(store.log, m->pos, -1);
}

static void st_dropped_pos(queue *q, uint64_t pos) {
    if (!store.log || !q->qid || !pos) return;
    wlog_live(store.log, pos, -1);
}

static void st_purged(queue *q) {
    if (!store.log || !q->qid) return;
    enc e;
    enc_init(&e);
    put_le(&e, q->qid, 8);
    append(REC_PURGE, &e);
}

/* ---- reading records back ---- */

static msg *st_load(uint64_t pos);

static msg *st_materialize(msg *m) {
    if (!m || !msg_is_lazy(m)) return m;
    uint64_t pos = msg_lazy_pos(m);
    msg *r = st_load(pos);
    if (!r) log_err("durable log: the message at %llu could not be read back", (unsigned long long)pos);
    return r;
}

static msg *load_rec(uint64_t pos, uint8_t want, char *vhost, size_t vhostn);

/* Read a message record back into memory. */
static msg *st_load(uint64_t pos) { return load_rec(pos, REC_MSG, NULL, 0); } /* or REC_MSG_T */

static msg *st_load_delayed(uint64_t pos, char *vhost, size_t vhostn) {
    return load_rec(pos, REC_DELAYED, vhost, vhostn);
}

static msg *load_rec(uint64_t pos, uint8_t want, char *vhost, size_t vhostn) {
    if (!store.log) return NULL;
    uint8_t type;
    size_t len;
    uint8_t small[4096];
    if (wlog_read(store.log, pos, &type, small, sizeof small, &len) != 0 ||
        (type != want && !(want == REC_MSG && type == REC_MSG_T)))
        return NULL;
    uint8_t *buf = small;
    if (len > sizeof small) {
        buf = xmalloc(len);
        if (wlog_read(store.log, pos, &type, buf, len, &len) != 0) {
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

/* ---- open / close ---- */

/* Batches the log could not make durable: sorted, disjoint ranges [from, to).
 * Batches fail in position order and a run of failed batches with no success
 * between them is one range (nothing else was appended between them), so the
 * list grows by one entry (16 bytes) per run of failures and is never pruned
 * nor approximated: a confirm or commit is judged by it, and a message whose
 * record is in it is never served (queue.c). Written by the syncer thread only. */
static pthread_mutex_t lost_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lost_range { uint64_t from, to; } * lost_v;
static size_t lost_n, lost_cap;
static _Atomic uint64_t lost_lo = UINT64_MAX, lost_hi; /* the span of every range, for a lock-free "no" */
static bool lost_run;                                  /* syncer thread: the last batch failed (no success since) */

static void wl_durable(void *ctx, wlog_pos pos) {
    (void)ctx;
    lost_run = false;
    if (on_durable_cb) on_durable_cb(pos);
}

static bool st_any_lost(void) { return atomic_load_explicit(&lost_hi, memory_order_relaxed) != 0; }

static bool st_lost(uint64_t pos) {
    if (pos >= atomic_load(&lost_hi) || pos < atomic_load(&lost_lo)) return false;
    bool hit = false;
    pthread_mutex_lock(&lost_lock);
    size_t lo = 0, hi = lost_n;
    while (lo < hi) { /* the last range starting at or below pos */
        size_t mid = (lo + hi) / 2;
        if (lost_v[mid].from <= pos) lo = mid + 1;
        else hi = mid;
    }
    hit = lo > 0 && pos < lost_v[lo - 1].to;
    pthread_mutex_unlock(&lost_lock);
    return hit;
}

static void lost_add(uint64_t from, uint64_t to) {
    pthread_mutex_lock(&lost_lock);
    if (lost_run && lost_n && lost_v[lost_n - 1].to <= from) {
        lost_v[lost_n - 1].to = to; /* the same run of failures */
    } else {
        if (lost_n == lost_cap) {
            lost_cap = lost_cap ? lost_cap * 2 : 16;
            lost_v = xrealloc(lost_v, lost_cap * sizeof *lost_v);
        }
        lost_v[lost_n++] = (struct lost_range){from, to};
    }
    if (from < atomic_load(&lost_lo)) atomic_store(&lost_lo, from);
    if (to > atomic_load(&lost_hi)) atomic_store(&lost_hi, to);
    pthread_mutex_unlock(&lost_lock);
    lost_run = true;
}

static void wl_failed(void *ctx, wlog_pos from, wlog_pos to, int err) {
    (void)ctx;
    lost_add(from, to);
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
    case REC_DELAYED: *refs = 1; return 8; /* the firing time */
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
    case REC_RETURNED: return len < 16 || wlog_present(l, rd64(p + 8));
    case REC_DELAYED_DONE: return len < 8 || wlog_present(l, rd64(p));
    case REC_PURGE: return wlog_first(l) < WLOG_POS(WLOG_SEG(pos), 0) || wlog_kept_before(l, pos);
    default: return 1;
    }
}

static void wl_log(void *ctx, int level, const char *m) {
    (void)ctx;
    log_msg(level == 0 ? LOG_ERR : level == 1 ? LOG_WARN : LOG_INFO, "durable log: %s", m);
}

/* The model's port (model/durable.h), filled in with the functions above. */
static const durable_ops store_ops = {
    .exchange_declared = st_exchange_declared,
    .exchange_deleted = st_exchange_deleted,
    .queue_declared = st_queue_declared,
    .queue_deleted = st_queue_deleted,
    .binding = st_binding,
    .user_put = st_user_put,
    .user_deleted = st_user_deleted,
    .vhost_added = st_vhost_added,
    .vhost_deleted = st_vhost_deleted,
    .perm_set = st_perm_set,
    .perm_clear = st_perm_clear,
    .policy_set = st_policy_set,
    .policy_clear = st_policy_clear,
    .message = st_message,
    .ack = st_ack,
    .ack_pos = st_ack_pos,
    .returned = st_returned,
    .delivered = st_delivered,
    .purged = st_purged,
    .dropped = st_dropped,
    .dropped_pos = st_dropped_pos,
    .load = st_load,
    .materialize = st_materialize,
    .lost = st_lost,
    .any_lost = st_any_lost,
    .durable = st_durable,
    .active = st_active,
    .delayed = st_delayed,
    .delayed_done = st_delayed_done,
    .load_delayed = st_load_delayed,
};

int store_open(const char *data_dir) {
    durable_install(&store_ops); /* before recovery: replayed declarations assign queue ids */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/log", data_dir);
    uint64_t t0 = now_ms();
    snprintf(data_dir_path, sizeof data_dir_path, "%s", data_dir);
    snprintf(clean_path, sizeof clean_path, "%s/clean-shutdown", data_dir);
    store.clean_start = access(clean_path, F_OK) == 0;
    if (store.clean_start && (unlink(clean_path) != 0 || fsync_dir(data_dir) != 0)) {
        log_err("cannot remove %s: %s", clean_path, strerror(errno));
        return -1;
    }
    store_recover_begin();
    qsched_hold(true); /* expiries found at recovery run once every queue is back */
    replaying = true;
    int rc = wdefs_open(data_dir, NULL, store_recover_snapshot_rec, NULL, &store.defs);
    if (rc) {
        log_err("cannot open the definitions in %s: %s", data_dir, wlog_strerror(rc));
        store_recover_abort();
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
                   .on_maintain = store_snap_maintain};
    rc = wlog_open(dir, &o, store_recover_log_rec, NULL, &store.log);
    if (rc) {
        log_err("cannot open the durable log in %s: %s", dir, wlog_strerror(rc));
        store_recover_abort();
        replaying = false;
        wdefs_close(&store.defs);
        qsched_hold(false);
        return -1;
    }
    first_pos = wlog_tail(store.log);
    store_recover_restore();
    replaying = false;
    if (!store.initialised && first_boot_cb) first_boot_cb(); /* recorded, then covered by the snapshot */
    store.initialised = true;
    if (store_snap_take() == 0) wlog_reclaim(store.log);
    store_snap_start();
    qsched_hold(false);
    log_info("durable log recovered in %llu ms (%d segment file(s))", (unsigned long long)(now_ms() - t0),
             wlog_segment_count(store.log));
    return 0;
}

void store_close(void) {
    if (!store.log) return;
    store_snap_stop(); /* no run-time snapshot from here on */
    bool synced = wlog_sync(store.log) == 0;
    store_snap_take();
    wlog_close(&store.log);
    wdefs_close(&store.defs);
    store_snap_free_defs();
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
