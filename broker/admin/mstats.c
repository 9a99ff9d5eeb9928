/* mstats.c — gathering the counters off the workers, the sampler thread and
 * the message_stats JSON (mstats.h). */
#include "mstats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "conn_info.h"
#include "conn.h"
#include "strmap.h"
#include "util.h"
#include "vhost.h"
#include "wconns.h"
#include "worker.h"

/* ---- gathering ---- */

typedef struct {
    mq_row *v;
    size_t n, cap;
} qrows;

static _Atomic size_t queues_hint = 1024; /* the last walk's count: the array is sized before the walk */

static void on_queue(void *ctx, vhost *v, queue *q) {
    qrows *r = ctx;
    if (r->n == r->cap) r->v = xrealloc(r->v, (r->cap *= 2) * sizeof *r->v); /* only if queues grew meanwhile */
    mq_row *row = &r->v[r->n++];
    row->vhost = vhost_name(v);
    memcpy(row->name, q->name, q->name_len);
    row->name[q->name_len] = 0;
    queue_counts(q, &row->ready, &row->consumers);
    row->unacked = queue_unacked(q);
    for (int i = 0; i < QST_N; i++) row->st[i] = ctr_get(&q->st[i]);
}

static void walk_vhost(void *ctx, vhost *v) {
    static const vhost_walker w = {.queue = on_queue};
    vhost_walk(v, &w, ctx);
}

size_t mstats_queues(mq_row **rows) {
    qrows r = {.cap = atomic_load(&queues_hint) + 1024};
    r.v = xmalloc(r.cap * sizeof *r.v);
    vhost_foreach(walk_vhost, &r);
    atomic_store(&queues_hint, r.n);
    *rows = r.v;
    return r.n;
}

void mstats_global(uint64_t *out) {
    memset(out, 0, STAT_N * sizeof *out);
    stat_set_sum(&stats_global, out);
}

void mstats_queue_totals(mstats_gauges *g) {
    memset(g, 0, sizeof *g);
    mq_row *rows;
    size_t n = mstats_queues(&rows);
    g->queues = n;
    for (size_t i = 0; i < n; i++) {
        g->ready += rows[i].ready;
        g->unacked += rows[i].unacked;
        g->consumers += rows[i].consumers;
    }
    free(rows);
}

/* Connections and channels are read on their workers by conn_info.c's job
 * (ci_snapshot_take), the one the API's lists use. */

/* ---- the sampler's maps: per object, its last two samples ---- */

typedef struct prev_ent {
    uint64_t gen, t0, t1;
    unsigned nv;
    uint64_t v[]; /* v0[nv] then v1[nv] */
} prev_ent;

typedef struct {
    strmap m;
    unsigned nv;
} prev_map;

static void pm_put(prev_map *pm, amq_bytes key, uint64_t gen, uint64_t t, const uint64_t *vals) {
    prev_ent *e = strmap_get(&pm->m, key);
    if (!e) {
        e = xmalloc(sizeof *e + 2 * pm->nv * sizeof(uint64_t));
        e->nv = pm->nv;
        e->t0 = e->t1 = t;
        memcpy(e->v, vals, pm->nv * sizeof *vals);
        memcpy(e->v + pm->nv, vals, pm->nv * sizeof *vals);
        strmap_put(&pm->m, key, e);
    } else {
        memcpy(e->v, e->v + e->nv, e->nv * sizeof *vals);
        memcpy(e->v + e->nv, vals, e->nv * sizeof *vals);
        e->t0 = e->t1;
        e->t1 = t;
    }
    e->gen = gen;
}

/* Drop entries of objects the sample of generation gen did not see. */
static void pm_sweep(prev_map *pm, uint64_t gen) {
    size_t it = 0, nstale = 0, cap = 0;
    amq_bytes k, *stale = NULL;
    prev_ent *e;
    while ((e = strmap_next(&pm->m, &it, &k))) {
        if (e->gen == gen) continue;
        if (nstale == cap) stale = xrealloc(stale, (cap = cap ? cap * 2 : 64) * sizeof *stale);
        stale[nstale++] = bytes_dup(k);
    }
    for (size_t i = 0; i < nstale; i++) {
        free(strmap_del(&pm->m, stale[i]));
        free((void *)stale[i].p);
    }
    free(stale);
}

static double pm_rate(const prev_map *pm, amq_bytes key, unsigned i) {
    const prev_ent *e = strmap_get(&pm->m, key);
    if (!e || e->t1 <= e->t0 || i >= e->nv) return 0.0;
    uint64_t a = e->v[i], b = e->v[e->nv + i];
    return b > a ? (double)(b - a) * 1000.0 / (double)(e->t1 - e->t0) : 0.0;
}

/* ---- the sampler ---- */

enum { QV_READY = QST_N, QV_UNACKED, QV_MESSAGES, QV_N };  /* a queue's values: counters then depths */
enum { GV_READY = STAT_N, GV_UNACKED, GV_MESSAGES, GV_N }; /* the node's and a vhost's values */

typedef struct {
    uint64_t ts; /* wall ms */
    uint64_t v[GV_N];
} hsample;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* everything below; never held across a syscall */
static hsample hist[MSTATS_HISTORY];
static size_t hn, hhead; /* hist[(hhead + i) % N], i < hn, oldest first */
static prev_map pm_vhost, pm_queue, pm_exch, pm_conn, pm_chan;
static uint64_t gen;
static _Atomic uint64_t gen_public; /* gen, for mstats_generation() */
static bool maps_ready;

static pthread_t thread;
static bool running;
static pthread_mutex_t run_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t run_cv = PTHREAD_COND_INITIALIZER;
static bool stopping;

static void maps_init(void) {
    if (maps_ready) return;
    prev_map *pms[] = {&pm_vhost, &pm_queue, &pm_exch, &pm_conn, &pm_chan};
    unsigned nvs[] = {GV_N, QV_N, XST_N, 4, CHST_N};
    for (int i = 0; i < 5; i++) {
        strmap_init(&pms[i]->m);
        pms[i]->nv = nvs[i];
    }
    maps_ready = true;
}

/* "vhost\0name": a key naming an object of a vhost. */
static amq_bytes vkey(char *buf, size_t cap, const char *vhost, const char *name) {
    size_t a = strlen(vhost), b = strlen(name);
    if (a + b + 1 > cap) b = cap - a - 1;
    memcpy(buf, vhost, a);
    buf[a] = 0;
    memcpy(buf + a + 1, name, b);
    return (amq_bytes){(const uint8_t *)buf, a + 1 + b};
}

typedef struct {
    char vhost[256];
    char name[256];
    uint64_t v[XST_N];
} x_row;
typedef struct {
    x_row *v;
    size_t n, cap;
} xrows;

static void on_exchange(void *ctx, vhost *vh, const exchange *x) {
    xrows *r = ctx;
    if (r->n == r->cap) r->v = xrealloc(r->v, (r->cap = r->cap ? r->cap * 2 : 64) * sizeof *r->v);
    x_row *row = &r->v[r->n++];
    snprintf(row->vhost, sizeof row->vhost, "%s", vhost_name(vh));
    memcpy(row->name, x->name, x->name_len);
    row->name[x->name_len] = 0;
    for (int i = 0; i < XST_N; i++) row->v[i] = ctr_get(&x->st[i]);
}
static void walk_exchanges(void *ctx, vhost *v) {
    static const vhost_walker w = {.exchange = on_exchange};
    vhost_walk(v, &w, ctx);
}

typedef struct {
    char name[256];
    uint64_t v[GV_N];
} v_row;
typedef struct {
    v_row *v;
    size_t n, cap;
} vrows;
static void on_vhost(void *ctx, vhost *vh) {
    vrows *r = ctx;
    if (r->n == r->cap) r->v = xrealloc(r->v, (r->cap = r->cap ? r->cap * 2 : 16) * sizeof *r->v);
    v_row *row = &r->v[r->n++];
    snprintf(row->name, sizeof row->name, "%s", vhost_name(vh));
    memset(row->v, 0, sizeof row->v);
    stat_set_sum(vhost_stats(vh), row->v); /* the depths are added from the queues' rows */
}

void mstats_sample_now(void) {
    /* gather first, without the sampler's lock */
    uint64_t g[STAT_N];
    mstats_global(g);
    mq_row *qs;
    size_t nq = mstats_queues(&qs);
    xrows xr = {0};
    vhost_foreach(walk_exchanges, &xr);
    vrows vr = {0};
    vhost_foreach(on_vhost, &vr);
    ci_snapshot cs;
    bool have_cs = workers_count() > 0 && !ci_snapshot_take(&cs, CI_CHANNELS);
    uint64_t t = now_ms(), ts = wall_ms();

    pthread_mutex_lock(&mu);
    maps_init();
    gen++;
    atomic_store(&gen_public, gen);
    hsample *h = &hist[(hhead + hn) % MSTATS_HISTORY];
    if (hn == MSTATS_HISTORY) hhead = (hhead + 1) % MSTATS_HISTORY;
    else hn++;
    h->ts = ts;
    memcpy(h->v, g, sizeof g);
    h->v[GV_READY] = h->v[GV_UNACKED] = 0;
    char key[600];
    for (size_t i = 0; i < nq; i++) {
        uint64_t v[QV_N];
        memcpy(v, qs[i].st, sizeof qs[i].st);
        v[QV_READY] = qs[i].ready, v[QV_UNACKED] = qs[i].unacked, v[QV_MESSAGES] = v[QV_READY] + v[QV_UNACKED];
        h->v[GV_READY] += qs[i].ready;
        h->v[GV_UNACKED] += qs[i].unacked;
        pm_put(&pm_queue, vkey(key, sizeof key, qs[i].vhost, qs[i].name), gen, t, v);
    }
    h->v[GV_MESSAGES] = h->v[GV_READY] + h->v[GV_UNACKED];
    for (size_t i = 0, j = 0; i < nq; i++) { /* a vhost's depths: its queues' (rows come vhost by vhost) */
        if (j < vr.n && strcmp(vr.v[j].name, qs[i].vhost))
            for (j = 0; j < vr.n && strcmp(vr.v[j].name, qs[i].vhost); j++) {}
        if (j == vr.n) {
            j = 0;
            continue;
        }
        vr.v[j].v[GV_READY] += qs[i].ready;
        vr.v[j].v[GV_UNACKED] += qs[i].unacked;
        vr.v[j].v[GV_MESSAGES] += (uint64_t)qs[i].ready + qs[i].unacked;
    }
    for (size_t i = 0; i < xr.n; i++)
        pm_put(&pm_exch, vkey(key, sizeof key, xr.v[i].vhost, xr.v[i].name), gen, t, xr.v[i].v);
    for (size_t i = 0; i < vr.n; i++) pm_put(&pm_vhost, amq_cstr(vr.v[i].name), gen, t, vr.v[i].v);
    for (size_t i = 0; have_cs && i < cs.nconns; i++) {
        const ci_conn *c = &cs.conns[i];
        uint64_t v[4] = {c->recv_oct, c->recv_cnt, c->send_oct, c->send_cnt};
        pm_put(&pm_conn, (amq_bytes){(const uint8_t *)&c->id, 8}, gen, t, v);
    }
    for (size_t i = 0; have_cs && i < cs.nchans; i++) {
        const ci_chan *h = &cs.chans[i];
        uint8_t k[12];
        uint32_t ch = h->number;
        memcpy(k, &cs.conns[h->conn].id, 8);
        memcpy(k + 8, &ch, 4);
        pm_put(&pm_chan, (amq_bytes){k, 12}, gen, t, h->st);
    }
    pm_sweep(&pm_queue, gen);
    pm_sweep(&pm_exch, gen);
    pm_sweep(&pm_vhost, gen);
    pm_sweep(&pm_conn, gen);
    pm_sweep(&pm_chan, gen);
    pthread_mutex_unlock(&mu);
    if (have_cs) ci_snapshot_free(&cs);
    free(qs);
    free(xr.v);
    free(vr.v);
}

static void *sampler(void *arg) {
    (void)arg;
    pthread_mutex_lock(&run_mu);
    while (!stopping) {
        pthread_mutex_unlock(&run_mu);
        mstats_sample_now();
        pthread_mutex_lock(&run_mu);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += MSTATS_INTERVAL_MS / 1000;
        while (!stopping && pthread_cond_timedwait(&run_cv, &run_mu, &dl) == 0) {}
    }
    pthread_mutex_unlock(&run_mu);
    return NULL;
}

int mstats_start(void) {
    stopping = false;
    if (pthread_create(&thread, NULL, sampler, NULL)) {
        log_err("statistics sampler: could not start its thread");
        return -1;
    }
    running = true;
    return 0;
}

void mstats_stop(void) {
    if (!running) return;
    pthread_mutex_lock(&run_mu);
    stopping = true;
    pthread_cond_signal(&run_cv);
    pthread_mutex_unlock(&run_mu);
    pthread_join(thread, NULL);
    running = false;
    pthread_mutex_lock(&mu);
    if (maps_ready) {
        prev_map *pms[] = {&pm_vhost, &pm_queue, &pm_exch, &pm_conn, &pm_chan};
        for (int i = 0; i < 5; i++) {
            size_t it = 0;
            void *e;
            while ((e = strmap_next(&pms[i]->m, &it, NULL))) free(e);
            strmap_destroy(&pms[i]->m);
        }
        maps_ready = false;
    }
    hn = hhead = 0;
    pthread_mutex_unlock(&mu);
}

/* ---- JSON ---- */

typedef struct {
    const char *key;
    int idx; /* in the kind's counters; -1: deliver_get (a sum) */
} field;

#define END                                                                                                            \
    { NULL, 0 }
static const field f_node[] = {{"ack", STAT_ACK},
                               {"confirm", STAT_CONFIRM},
                               {"deliver", STAT_DELIVER},
                               {"deliver_get", -1},
                               {"deliver_no_ack", STAT_DELIVER_NO_ACK},
                               {"disk_reads", -2},
                               {"disk_writes", -2},
                               {"drop_unroutable", STAT_DROP_UNROUTABLE},
                               {"get", STAT_GET},
                               {"get_empty", STAT_GET_EMPTY},
                               {"get_no_ack", STAT_GET_NO_ACK},
                               {"publish", STAT_PUBLISH},
                               {"redeliver", STAT_REDELIVER},
                               {"return_unroutable", STAT_RETURN_UNROUTABLE},
                               END};
static const field f_queue[] = {{"ack", QST_ACK},
                                {"deliver", QST_DELIVER},
                                {"deliver_get", -1},
                                {"deliver_no_ack", QST_DELIVER_NO_ACK},
                                {"get", QST_GET},
                                {"get_empty", QST_GET_EMPTY},
                                {"get_no_ack", QST_GET_NO_ACK},
                                {"publish", QST_PUBLISH},
                                {"redeliver", QST_REDELIVER},
                                END};
static const field f_exch[] = {{"publish_in", XST_PUBLISH_IN}, {"publish_out", XST_PUBLISH_OUT}, END};
static const field f_chan[] = {{"ack", CHST_ACK},
                               {"confirm", CHST_CONFIRM},
                               {"deliver", CHST_DELIVER},
                               {"deliver_get", -1},
                               {"deliver_no_ack", CHST_DELIVER_NO_ACK},
                               {"drop_unroutable", CHST_DROP_UNROUTABLE},
                               {"get", CHST_GET},
                               {"get_empty", CHST_GET_EMPTY},
                               {"get_no_ack", CHST_GET_NO_ACK},
                               {"publish", CHST_PUBLISH},
                               {"redeliver", CHST_REDELIVER},
                               {"return_unroutable", CHST_RETURN_UNROUTABLE},
                               END};

/* deliver_get: deliver + deliver_no_ack + get + get_no_ack of the kind. */
static void dg_idx(enum mstats_kind k, int out[4]) {
    if (k == MS_QUEUE) out[0] = QST_DELIVER, out[1] = QST_DELIVER_NO_ACK, out[2] = QST_GET, out[3] = QST_GET_NO_ACK;
    else if (k == MS_CHANNEL)
        out[0] = CHST_DELIVER, out[1] = CHST_DELIVER_NO_ACK, out[2] = CHST_GET, out[3] = CHST_GET_NO_ACK;
    else out[0] = STAT_DELIVER, out[1] = STAT_DELIVER_NO_ACK, out[2] = STAT_GET, out[3] = STAT_GET_NO_ACK;
}

static json_t *details(double rate) { return json_pack("{s:f}", "rate", rate); }

/* The global rate of value i (GV_*): from the last two history samples. */
static double hist_rate(unsigned i) {
    if (hn < 2) return 0.0;
    const hsample *a = &hist[(hhead + hn - 2) % MSTATS_HISTORY], *b = &hist[(hhead + hn - 1) % MSTATS_HISTORY];
    if (b->ts <= a->ts || b->v[i] < a->v[i]) return 0.0;
    return (double)(b->v[i] - a->v[i]) * 1000.0 / (double)(b->ts - a->ts);
}

/* The rate of index i for the object (sampler's lock held). */
static double obj_rate(enum mstats_kind kind, const char *vhost, const char *name, uint64_t id, unsigned i) {
    char key[600];
    uint8_t k[12];
    switch (kind) {
    case MS_OVERVIEW: return hist_rate(i);
    case MS_VHOST: return pm_rate(&pm_vhost, amq_cstr(vhost), i);
    case MS_QUEUE: return pm_rate(&pm_queue, vkey(key, sizeof key, vhost, name), i);
    case MS_EXCHANGE: return pm_rate(&pm_exch, vkey(key, sizeof key, vhost, name), i);
    case MS_CHANNEL: {
        uint32_t ch = (uint32_t)(id & 0xffff);
        id >>= 16;
        memcpy(k, &id, 8);
        memcpy(k + 8, &ch, 4);
        return pm_rate(&pm_chan, (amq_bytes){k, 12}, i);
    }
    case MS_CONNECTION: memcpy(k, &id, 8); return pm_rate(&pm_conn, (amq_bytes){k, 8}, i);
    }
    return 0.0;
}

json_t *mstats_message_stats(enum mstats_kind kind, const char *vhost, const char *name, uint64_t id,
                             const uint64_t *counts) {
    const field *fs = kind == MS_QUEUE ? f_queue : kind == MS_EXCHANGE ? f_exch : kind == MS_CHANNEL ? f_chan : f_node;
    int dg[4];
    dg_idx(kind, dg);
    json_t *o = json_object();
    char dk[64];
    pthread_mutex_lock(&mu);
    bool ready = maps_ready;
    for (const field *f = fs; f->key; f++) {
        uint64_t v;
        double r = 0.0;
        if (f->idx == -2 && kind != MS_OVERVIEW) continue; /* as RabbitMQ: the overview's only */
        if (f->idx == -2) {
            v = 0; /* disk_reads/disk_writes: not counted (the log is read and written by its own threads) */
        } else if (f->idx < 0) {
            v = counts[dg[0]] + counts[dg[1]] + counts[dg[2]] + counts[dg[3]];
            for (int i = 0; i < 4 && ready; i++) r += obj_rate(kind, vhost, name, id, (unsigned)dg[i]);
        } else {
            v = counts[f->idx];
            if (ready) r = obj_rate(kind, vhost, name, id, (unsigned)f->idx);
        }
        json_object_set_new(o, f->key, json_integer((json_int_t)v));
        snprintf(dk, sizeof dk, "%s_details", f->key);
        json_object_set_new(o, dk, details(r));
    }
    pthread_mutex_unlock(&mu);
    return o;
}

void mstats_conn_octets(json_t *obj, uint64_t conn_id, uint64_t recv_oct, uint64_t recv_cnt, uint64_t send_oct,
                        uint64_t send_cnt) {
    static const char *const keys[] = {"recv_oct", "recv_cnt", "send_oct", "send_cnt"};
    uint64_t v[4] = {recv_oct, recv_cnt, send_oct, send_cnt};
    char dk[64];
    pthread_mutex_lock(&mu);
    for (unsigned i = 0; i < 4; i++) {
        json_object_set_new(obj, keys[i], json_integer((json_int_t)v[i]));
        if (i == 1 || i == 3) continue; /* RabbitMQ gives rates for the octets only */
        snprintf(dk, sizeof dk, "%s_details", keys[i]);
        json_object_set_new(obj, dk, details(maps_ready ? obj_rate(MS_CONNECTION, NULL, NULL, conn_id, i) : 0.0));
    }
    pthread_mutex_unlock(&mu);
}

double mstats_rate(const char *vhost, enum stat_ctr c) {
    pthread_mutex_lock(&mu);
    double r = !maps_ready ? 0.0 : vhost ? pm_rate(&pm_vhost, amq_cstr(vhost), c) : hist_rate(c);
    pthread_mutex_unlock(&mu);
    return r;
}

static void depth_fields(json_t *o, const uint64_t v[3], const double r[3]) {
    static const char *const keys[] = {"messages", "messages_ready", "messages_unacknowledged"};
    char dk[64];
    for (int i = 0; i < 3; i++) {
        json_object_set_new(o, keys[i], json_integer((json_int_t)v[i]));
        snprintf(dk, sizeof dk, "%s_details", keys[i]);
        json_object_set_new(o, dk, details(r[i]));
    }
}

json_t *mstats_queue_totals_json(void) {
    mstats_gauges g;
    mstats_queue_totals(&g);
    uint64_t v[3] = {g.ready + g.unacked, g.ready, g.unacked};
    double r[3];
    pthread_mutex_lock(&mu);
    r[0] = hist_rate(GV_MESSAGES), r[1] = hist_rate(GV_READY), r[2] = hist_rate(GV_UNACKED);
    pthread_mutex_unlock(&mu);
    json_t *o = json_object();
    depth_fields(o, v, r);
    return o;
}

void mstats_queue_depth_details(json_t *obj, const char *vhost, const char *name) {
    static const char *const keys[] = {"messages_details", "messages_ready_details", "messages_unacknowledged_details"};
    static const unsigned idx[] = {QV_MESSAGES, QV_READY, QV_UNACKED};
    char key[600];
    pthread_mutex_lock(&mu);
    for (int i = 0; i < 3; i++) {
        double r = maps_ready ? pm_rate(&pm_queue, vkey(key, sizeof key, vhost, name), idx[i]) : 0.0;
        json_object_set_new(obj, keys[i], details(r));
    }
    pthread_mutex_unlock(&mu);
}

/* The sample at or before wall time t (the newest one not after it), or NULL. */
static const hsample *sample_at(uint64_t t) {
    for (size_t i = hn; i-- > 0;) {
        const hsample *h = &hist[(hhead + i) % MSTATS_HISTORY];
        if (h->ts <= t) return h;
    }
    return NULL;
}

void mstats_history(json_t *obj, enum mstats_hist which, long age_s, long incr_s) {
    static const field f_len[] = {
        {"messages", GV_MESSAGES}, {"messages_ready", GV_READY}, {"messages_unacknowledged", GV_UNACKED}, END};
    static const field f_churn[] = {{"channel_closed", STAT_CH_CLOSED},      {"channel_created", STAT_CH_OPENED},
                                    {"connection_closed", STAT_CONN_CLOSED}, {"connection_created", STAT_CONN_OPENED},
                                    {"queue_created", STAT_Q_CREATED},       {"queue_declared", STAT_Q_DECLARED},
                                    {"queue_deleted", STAT_Q_DELETED},       END};
    if (age_s <= 0 || incr_s <= 0) return;
    if (age_s > 600) age_s = 600;
    if (incr_s > age_s) incr_s = age_s;
    const field *fs = which == MSTATS_H_LENGTHS ? f_len : which == MSTATS_H_CHURN ? f_churn : f_node;
    uint64_t incr = (uint64_t)incr_s * 1000, now = wall_ms();
    uint64_t newest = now / incr * incr;
    size_t n = (size_t)(age_s / incr_s) + 1;
    char dk[64];
    pthread_mutex_lock(&mu);
    for (const field *f = fs; f->key; f++) {
        snprintf(dk, sizeof dk, "%s_details", f->key);
        json_t *d = json_object_get(obj, dk);
        if (!d) {
            d = json_object();
            json_object_set_new(obj, dk, d);
        }
        json_t *arr = json_array();
        double sum = 0;
        uint64_t first = 0, last = 0;
        size_t got = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t ts = newest - i * incr;
            const hsample *h = sample_at(ts);
            if (!h) break;
            uint64_t v = f->idx == -2 ? 0
                         : f->idx < 0
                             ? h->v[STAT_DELIVER] + h->v[STAT_DELIVER_NO_ACK] + h->v[STAT_GET] + h->v[STAT_GET_NO_ACK]
                             : h->v[f->idx];
            json_array_append_new(arr, json_pack("{s:I,s:I}", "sample", (json_int_t)v, "timestamp", (json_int_t)ts));
            sum += (double)v;
            if (!got) last = v;
            first = v;
            got++;
        }
        json_object_set_new(d, "samples", arr);
        json_object_set_new(d, "avg", json_real(got ? sum / (double)got : 0.0));
        json_object_set_new(
            d, "avg_rate",
            json_real(got > 1 && last >= first ? (double)(last - first) * 1000.0 / (double)((got - 1) * incr) : 0.0));
        if (!json_object_get(d, "rate")) {
            double r = f->idx == -2 ? 0.0
                       : f->idx < 0 ? hist_rate(STAT_DELIVER) + hist_rate(STAT_DELIVER_NO_ACK) + hist_rate(STAT_GET) +
                                          hist_rate(STAT_GET_NO_ACK)
                                    : hist_rate((unsigned)f->idx);
            json_object_set_new(d, "rate", json_real(r));
        }
    }
    pthread_mutex_unlock(&mu);
}

void mstats_vhost_depth_details(json_t *obj, const char *vhost) {
    static const char *const keys[] = {"messages_details", "messages_ready_details", "messages_unacknowledged_details"};
    static const unsigned idx[] = {GV_MESSAGES, GV_READY, GV_UNACKED};
    pthread_mutex_lock(&mu);
    for (int i = 0; i < 3; i++)
        json_object_set_new(obj, keys[i], details(maps_ready ? pm_rate(&pm_vhost, amq_cstr(vhost), idx[i]) : 0.0));
    pthread_mutex_unlock(&mu);
}

uint64_t mstats_generation(void) { return atomic_load(&gen_public); }

void mstats_queue_totals_details(json_t *obj) {
    static const char *const keys[] = {"messages_details", "messages_ready_details", "messages_unacknowledged_details"};
    static const unsigned idx[] = {GV_MESSAGES, GV_READY, GV_UNACKED};
    pthread_mutex_lock(&mu);
    for (int i = 0; i < 3; i++) json_object_set_new(obj, keys[i], details(hist_rate(idx[i])));
    pthread_mutex_unlock(&mu);
}
