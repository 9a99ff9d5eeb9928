/* qsched.c — the queue scheduler thread: queue timers (expiry, x-expires)
 * and dead-lettering with no lock held. Also builds dead-lettered messages as RabbitMQ
 * 3.10 does (rabbit_dead_letter): the x-death array, x-first-death-*,
 * CC/BCC removed, expiration moved to original-expiration, headers sorted by
 * key, cycles of automatic deaths dropped. */
#include "qsched.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amq/methods.h"
#include "amq/table.h"
#include "qfeat.h"
#include "queue.h"
#include "durable.h"
#include "minheap.h"
#include "util.h"
#include "vhost_impl.h"

typedef struct {
    uint64_t when;
    queue *q;         /* queue_on_timer(q), or when NULL: */
    void (*fn)(void); /* a module's timer (qsched_arm_fn) */
} timer_ent;

typedef struct dl_job {
    queue *q;
    msg *m;
    enum dl_reason reason;
} dl_job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond; /* on CLOCK_MONOTONIC, set up by start() */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_t thread;
static bool running, stopping, held;
static minheap heap = {.size = sizeof(timer_ent)}; /* by time */
#define nheap (heap.n)
#define HEAP0 ((timer_ent *)minheap_at(&heap, 0))
static dl_job *jobs;
static size_t jhead, jn, jcap;

static void heap_push(timer_ent t) { minheap_push(&heap, &t); }

static timer_ent heap_pop(void) {
    timer_ent t;
    minheap_pop(&heap, &t);
    return t;
}

static void *run(void *arg);

static void start(void) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &ca);
    pthread_condattr_destroy(&ca);
    running = pthread_create(&thread, NULL, run, NULL) == 0;
    if (!running) log_err("queue scheduler: cannot start its thread");
}

void qsched_arm(queue *q, uint64_t when) {
    pthread_once(&once, start);
    queue_ref(q);
    pthread_mutex_lock(&lock);
    bool wake = nheap == 0 || when < HEAP0->when;
    heap_push((timer_ent){when, q, NULL});
    if (wake) pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

void qsched_arm_fn(void (*fn)(void), uint64_t when) {
    pthread_once(&once, start);
    pthread_mutex_lock(&lock);
    bool wake = nheap == 0 || when < HEAP0->when;
    heap_push((timer_ent){when, NULL, fn});
    if (wake) pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

void qsched_deadletter(queue *q, msg *m, enum dl_reason reason) {
    pthread_once(&once, start);
    queue_ref(q);
    pthread_mutex_lock(&lock);
    if (jn == jcap) {
        size_t ncap = jcap ? jcap * 2 : 64;
        dl_job *v = xmalloc(ncap * sizeof *v);
        for (size_t i = 0; i < jn; i++) v[i] = jobs[(jhead + i) & (jcap - 1)];
        free(jobs);
        jobs = v;
        jcap = ncap;
        jhead = 0;
    }
    jobs[(jhead + jn++) & (jcap - 1)] = (dl_job){q, m, reason};
    if (jn == 1) pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

/* ---- building the dead-lettered message ---- */

static const char *reason_str(enum dl_reason r) {
    switch (r) {
    case DL_REJECTED: return "rejected";
    case DL_EXPIRED: return "expired";
    case DL_MAXLEN: return "maxlen";
    default: return "delivery_limit";
    }
}

typedef struct {
    amq_bytes key;
    amq_field v;
} kv;

static int key_cmp(amq_bytes a, amq_bytes b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

/* Stable insertion sort by key (tables are small); Erlang's keysort order. */
static void kv_sort(kv *v, size_t n) {
    for (size_t i = 1; i < n; i++) {
        kv x = v[i];
        size_t j = i;
        while (j > 0 && key_cmp(v[j - 1].key, x.key) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

static void put_kvs(amq_wr *w, const kv *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        amq_put_shortstr(w, v[i].key);
        amq_put_field(w, &v[i].v);
    }
}

/* Read up to max entries of a table into v; returns the count. */
static size_t read_table(amq_bytes t, kv *v, size_t max) {
    amq_rd r = {t.p, t.len, 0};
    size_t n = 0;
    amq_bytes k;
    amq_field f;
    while (n < max && amq_table_next(&r, &k, &f) == 1) v[n++] = (kv){k, f};
    return n;
}

static bool tget_str(amq_bytes t, const char *key, amq_bytes *out) {
    amq_field f;
    if (amq_table_get(t, key, &f) != 1 || (f.type != 'S' && f.type != 'x')) return false;
    *out = f.v.str;
    return true;
}

#define MAX_KEYS 64
#define MAX_DEATHS 64

typedef struct {
    amq_bytes queue;
    bool rejected;
} death;

typedef struct {
    msg *m;                  /* the new message */
    amq_bytes rks[MAX_KEYS]; /* keys to route with (point into w_rks) */
    size_t nrk;
    death deaths[MAX_DEATHS]; /* the new x-death, in order, for cycle detection */
    size_t ndeaths;
    amq_wr w_rks;
} dl_msg;

/* The x-death routing keys: the message's key and its CC header's. */
static size_t orig_keys(const msg *m, amq_bytes headers, amq_bytes *out, size_t max) {
    size_t n = 0;
    out[n++] = msg_rk(m);
    amq_field f;
    if (headers.len && amq_table_get(headers, "CC", &f) == 1 && f.type == 'A') {
        amq_rd r = {f.v.str.p, f.v.str.len, 0};
        amq_field e;
        while (n < max && amq_array_next(&r, &e) == 1)
            if (e.type == 'S' || e.type == 'x') out[n++] = e.v.str;
    }
    return n;
}

static bool build(queue *q, const qfeat *qf, const msg *m, enum dl_reason reason, dl_msg *out) {
    amq_basic_props p;
    memset(&p, 0, sizeof p);
    if (m->props_len && amq_basic_props_decode(msg_props(m), &p) != AMQ_OK) return false;
    amq_bytes headers = (p.flags & AMQ_BASIC_PROP_HEADERS) ? p.headers : (amq_bytes){0};
    amq_bytes qname = queue_name(q), xname = msg_exchange(m), rstr = amq_cstr(reason_str(reason));
    amq_bytes keys[MAX_KEYS];
    size_t nkeys = orig_keys(m, headers, keys, MAX_KEYS);
    bool had_exp = (p.flags & AMQ_BASIC_PROP_EXPIRATION) && !m->recovered;

    /* routing-keys array */
    amq_wr ark;
    amq_wr_init(&ark);
    for (size_t i = 0; i < nkeys; i++) {
        amq_field s = amq_field_str(keys[i]);
        amq_put_field(&ark, &s);
    }
    /* the new / updated death entry */
    amq_wr ent;
    amq_wr_init(&ent);
    amq_field existing;
    bool have_xd = headers.len && amq_table_get(headers, "x-death", &existing) == 1 && existing.type == 'A';
    amq_bytes match = {0};
    if (have_xd) {
        amq_rd r = {existing.v.str.p, existing.v.str.len, 0};
        amq_field e;
        amq_bytes eq, er;
        while (amq_array_next(&r, &e) == 1)
            if (e.type == 'F' && tget_str(e.v.str, "queue", &eq) && tget_str(e.v.str, "reason", &er) &&
                amq_bytes_eq(eq, qname) && amq_bytes_eq(er, rstr)) {
                match = e.v.str;
                break;
            }
    }
    out->ndeaths = 0;
    out->deaths[out->ndeaths++] = (death){qname, reason == DL_REJECTED};
    if (match.p) { /* same queue and reason again: count + 1, entry moves first, sorted */
        kv v[MAX_KEYS];
        size_t n = read_table(match, v, MAX_KEYS);
        for (size_t i = 0; i < n; i++) {
            int64_t c;
            if (amq_bytes_eqs(v[i].key, "count")) v[i].v = amq_field_i64(amq_field_as_i64(&v[i].v, &c) ? c + 1 : 1);
        }
        kv_sort(v, n);
        put_kvs(&ent, v, n);
    } else {
        kv v[8];
        size_t n = 0;
        v[n++] = (kv){amq_cstr("count"), amq_field_i64(1)};
        v[n++] = (kv){amq_cstr("reason"), amq_field_str(rstr)};
        v[n++] = (kv){amq_cstr("queue"), amq_field_str(qname)};
        v[n++] = (kv){amq_cstr("time"), amq_field_ts((uint64_t)time(NULL))};
        v[n++] = (kv){amq_cstr("exchange"), amq_field_str(xname)};
        v[n++] = (kv){amq_cstr("routing-keys"), amq_field_array((amq_bytes){ark.data, ark.len})};
        if (had_exp) v[n++] = (kv){amq_cstr("original-expiration"), amq_field_str(p.expiration)};
        if (have_xd) kv_sort(v, n); /* RabbitMQ sorts entries it adds to an existing x-death */
        put_kvs(&ent, v, n);
    }
    /* the x-death array: this entry, then the others in order */
    amq_wr xd;
    amq_wr_init(&xd);
    amq_field ef = amq_field_table((amq_bytes){ent.data, ent.len});
    amq_put_field(&xd, &ef);
    if (have_xd) {
        amq_rd r = {existing.v.str.p, existing.v.str.len, 0};
        amq_field e;
        while (amq_array_next(&r, &e) == 1) {
            if (e.type == 'F' && e.v.str.p == match.p && match.p) continue;
            amq_put_field(&xd, &e);
            amq_bytes eq, er;
            if (e.type == 'F' && out->ndeaths < MAX_DEATHS && tget_str(e.v.str, "queue", &eq)) {
                bool rej = tget_str(e.v.str, "reason", &er) && amq_bytes_eqs(er, "rejected");
                out->deaths[out->ndeaths++] = (death){eq, rej};
            }
        }
    }
    /* headers: the old ones minus CC, BCC and x-death, plus x-death and x-first-death-* */
    kv hv[MAX_KEYS + 4];
    size_t hn = 0;
    bool first_x = false, first_q = false, first_r = false;
    {
        amq_rd r = {headers.p, headers.len, 0};
        amq_bytes k;
        amq_field f;
        while (hn < MAX_KEYS && amq_table_next(&r, &k, &f) == 1) {
            if (amq_bytes_eqs(k, "CC") || amq_bytes_eqs(k, "BCC") || amq_bytes_eqs(k, "x-death")) continue;
            first_x |= amq_bytes_eqs(k, "x-first-death-exchange");
            first_q |= amq_bytes_eqs(k, "x-first-death-queue");
            first_r |= amq_bytes_eqs(k, "x-first-death-reason");
            hv[hn++] = (kv){k, f};
        }
    }
    hv[hn++] = (kv){amq_cstr("x-death"), amq_field_array((amq_bytes){xd.data, xd.len})};
    if (!first_x) hv[hn++] = (kv){amq_cstr("x-first-death-exchange"), amq_field_str(xname)};
    if (!first_q) hv[hn++] = (kv){amq_cstr("x-first-death-queue"), amq_field_str(qname)};
    if (!first_r) hv[hn++] = (kv){amq_cstr("x-first-death-reason"), amq_field_str(rstr)};
    kv_sort(hv, hn);
    amq_wr hw;
    amq_wr_init(&hw);
    put_kvs(&hw, hv, hn);
    p.headers = (amq_bytes){hw.data, hw.len};
    p.flags |= AMQ_BASIC_PROP_HEADERS;
    p.flags &= (uint16_t)~AMQ_BASIC_PROP_EXPIRATION;
    p.expiration = (amq_bytes){0};
    amq_wr pw;
    amq_wr_init(&pw);
    amq_basic_props_encode(&pw, &p);
    bool ok = !pw.err && !hw.err && !xd.err && !ent.err && !ark.err;
    amq_bytes dlx = {(const uint8_t *)qf->dlx, qf->dlx_len};
    amq_bytes rk = qf->has_dlrk ? (amq_bytes){(const uint8_t *)qf->dlrk, qf->dlrk_len} : msg_rk(m);
    out->m = ok ? msg_new(dlx, rk, (amq_bytes){pw.data, pw.len}, m->body_len) : NULL;
    if (out->m) {
        if (m->body_len) memcpy(msg_body(out->m), msg_body_c(m), (size_t)m->body_len);
        out->m->body_have = m->body_len;
        out->m->delivery_mode = m->delivery_mode; /* msg_new leaves these to the caller */
        out->m->priority = m->priority;
    }
    /* the keys to route with: the dead-letter key, or the original ones (copied:
     * they point into m, which the caller releases before routing is done) */
    amq_wr_init(&out->w_rks);
    amq_bytes src[MAX_KEYS];
    size_t ns = qf->has_dlrk ? 1 : nkeys;
    if (qf->has_dlrk) src[0] = rk;
    else memcpy(src, keys, nkeys * sizeof *keys);
    size_t offs[MAX_KEYS];
    for (size_t i = 0; i < ns; i++) {
        offs[i] = out->w_rks.len;
        amq_put_raw(&out->w_rks, src[i].p, src[i].len);
    }
    for (size_t i = 0; i < ns; i++) out->rks[i] = (amq_bytes){out->w_rks.data + offs[i], src[i].len};
    out->nrk = out->w_rks.err ? 0 : ns;
    amq_wr_destroy(&pw);
    amq_wr_destroy(&hw);
    amq_wr_destroy(&xd);
    amq_wr_destroy(&ent);
    amq_wr_destroy(&ark);
    return out->m != NULL;
}

/* RabbitMQ's cycle rule: dropping the message for target queue t when t
 * already appears in its deaths and no death up to that one was a reject. */
static bool is_cycle(const dl_msg *d, amq_bytes t) {
    for (size_t i = 0; i < d->ndeaths; i++) {
        if (d->deaths[i].rejected) return false;
        if (amq_bytes_eq(d->deaths[i].queue, t)) return true;
    }
    return false;
}

/* The x-death queue names point into the new message's headers, which
 * stay valid while d.m lives. */
static void deadletter(queue *q, msg *m, enum dl_reason reason, route_set *rs) {
    uint64_t lazy = msg_is_lazy(m) ? msg_lazy_pos(m) : 0;
    msg *real = store_materialize(m);
    if (real) store_ack(q, real);
    else if (lazy) store_dropped_pos(q, lazy);
    if (lazy) msg_release(&m);
    else m = NULL; /* real is m */
    if (!real) return;
    qfeat qf; /* the DLX as of now (a policy may have changed or cleared it): none, the message is gone */
    if (!queue_dl_target(q, &qf)) {
        msg_unref(&real);
        return;
    }
    dl_msg d;
    memset(&d, 0, sizeof d);
    if (!build(q, &qf, real, reason, &d)) {
        msg_unref(&real);
        amq_wr_destroy(&d.w_rks);
        msg_unref(&d.m);
        return;
    }
    /* cycle detection reads queue names that point into real's headers via
     * the new x-death copy: re-read them from d.m so real can go now */
    msg_unref(&real);
    amq_basic_props p;
    memset(&p, 0, sizeof p);
    amq_basic_props_decode(msg_props(d.m), &p);
    amq_field xdf;
    d.ndeaths = 0;
    if (amq_table_get(p.headers, "x-death", &xdf) == 1 && xdf.type == 'A') {
        amq_rd r = {xdf.v.str.p, xdf.v.str.len, 0};
        amq_field e;
        amq_bytes eq, er;
        while (d.ndeaths < MAX_DEATHS && amq_array_next(&r, &e) == 1)
            if (e.type == 'F' && tget_str(e.v.str, "queue", &eq))
                d.deaths[d.ndeaths++] = (death){eq, tget_str(e.v.str, "reason", &er) && amq_bytes_eqs(er, "rejected")};
    }
    vhost *v = q->vh;
    exch_dests all;
    exch_dests_init(&all);
    pthread_rwlock_rdlock(&v->lock);
    for (size_t i = 0; i < d.nrk; i++) {
        werr ve;
        if (vhost_route(v, msg_exchange(d.m), d.rks[i], p.headers, rs, &ve)) break; /* no DLX: dropped */
        for (size_t k = 0; k < rs->dests.n; k++) {
            queue *t = rs->dests.v[k];
            if (reason != DL_REJECTED && is_cycle(&d, queue_name(t))) continue;
            exch_dests_add(&all, t);
        }
    }
    if (all.n) {
        store_message(d.m, (queue *const *)all.v, all.n);
        for (size_t k = 0; k < all.n; k++) {
            queue *t = all.v[k];
            int rc = queue_publish(t, d.m);
            if (rc == 1) store_ack(t, d.m); /* refused (reject-publish); 2: dead-lettered on, acked there */
        }
    }
    pthread_rwlock_unlock(&v->lock);
    exch_dests_destroy(&all);
    amq_wr_destroy(&d.w_rks);
    msg_unref(&d.m);
}

void qsched_deadletter_now(queue *q, msg *m, enum dl_reason reason) {
    route_set rs;
    route_set_init(&rs);
    deadletter(q, m, reason, &rs);
    route_set_destroy(&rs);
}

/* ---- the thread ---- */

static void *run(void *arg) {
    (void)arg;
    route_set rs;
    route_set_init(&rs);
    pthread_mutex_lock(&lock);
    for (;;) {
        if (held && !stopping) {
            pthread_cond_wait(&cond, &lock);
            continue;
        }
        if (jn) {
            dl_job j = jobs[jhead];
            jhead = (jhead + 1) & (jcap - 1);
            jn--;
            pthread_mutex_unlock(&lock);
            deadletter(j.q, j.m, j.reason, &rs);
            queue_unref(&j.q);
            pthread_mutex_lock(&lock);
            continue;
        }
        if (stopping) break;
        uint64_t now = now_ms();
        if (nheap && HEAP0->when <= now) {
            timer_ent t = heap_pop();
            pthread_mutex_unlock(&lock);
            if (t.q) {
                queue_on_timer(t.q);
                queue_unref(&t.q);
            } else {
                t.fn();
            }
            pthread_mutex_lock(&lock);
            continue;
        }
        if (nheap) {
            uint64_t wait = HEAP0->when - now;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&cond, &lock, &ts);
        } else {
            pthread_cond_wait(&cond, &lock);
        }
    }
    while (nheap) {
        timer_ent t = heap_pop();
        if (t.q) queue_unref(&t.q);
    }
    pthread_mutex_unlock(&lock);
    route_set_destroy(&rs);
    vhost_thread_cleanup();
    return NULL;
}

void qsched_hold(bool hold) {
    pthread_once(&once, start);
    pthread_mutex_lock(&lock);
    held = hold;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

void qsched_stop(void) {
    pthread_once(&once, start); /* so cond exists even if nothing ever used us */
    pthread_mutex_lock(&lock);
    stopping = true;
    pthread_cond_signal(&cond);
    bool r = running;
    pthread_mutex_unlock(&lock);
    if (r) pthread_join(thread, NULL);
    minheap_destroy(&heap);
    free(jobs);
    jobs = NULL;
    jn = jcap = jhead = 0;
}
