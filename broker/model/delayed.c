/* delayed.c — the x-delayed-message exchange: its arguments, the heap of held
 * messages by fire time (persisted through the durable port when durable),
 * and the timer that routes each one when it fires. */
#include "delayed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amq/methods.h"
#include "amq/table.h"
#include "qfeat.h"
#include "qsched.h"
#include "queue.h"
#include "sendsel.h"
#include "durable.h"
#include "minheap.h"
#include "util.h"
#include "vhost_impl.h"

/* A held message: ref is (log position << 1 | 1) for a logged one, else a held *. */
typedef struct {
    uint64_t fire;
    uintptr_t ref;
} dent;

typedef struct {
    struct vhost *v;
    msg *m;
} held;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static minheap heap = {.size = sizeof(dent)}; /* by fire time */
#define HEAP(i) ((dent *)minheap_at(&heap, (i)))
static uint64_t armed_at; /* wall-clock ms of the armed timer, 0 = none */

static void push(dent d) { minheap_push(&heap, &d); }

static dent pop(void) {
    dent d;
    minheap_pop(&heap, &d);
    return d;
}

static void on_timer(void);

/* Arm the scheduler for fire (wall ms) unless an earlier run is armed. Locked. */
static void arm_locked(uint64_t fire) {
    if (armed_at && armed_at <= fire) return;
    armed_at = fire;
    uint64_t now = wall_ms();
    qsched_arm_fn(on_timer, now_ms() + (fire > now ? fire - now : 0));
}

static void add(dent d) {
    pthread_mutex_lock(&lock);
    push(d);
    arm_locked(d.fire);
    pthread_mutex_unlock(&lock);
}

bool delayed_is_type(amq_bytes type) { return amq_bytes_eqs(type, "x-delayed-message"); }

int delayed_check_args(amq_bytes args, exch_type *inner, char *err, size_t errn) {
    amq_field f;
    if (amq_table_get(args, "x-delayed-type", &f) != 1 || (f.type != 'S' && f.type != 'x')) {
        snprintf(err, errn,
                 "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an existing exchange type");
        return 406;
    }
    if (delayed_is_type(f.v.str)) {
        snprintf(err, errn,
                 "PRECONDITION_FAILED - Invalid argument, 'x-delayed-message' can't be used for 'x-delayed-type'");
        return 406;
    }
    if (exch_type_parse(f.v.str, inner) != 0) {
        snprintf(err, errn, "COMMAND_INVALID - unknown exchange type '%.*s'", (int)f.v.str.len, f.v.str.p);
        return 503;
    }
    return 0;
}

bool delayed_delay_of(amq_bytes headers, uint64_t *ms) {
    amq_field f;
    int64_t v;
    if (!headers.len || amq_table_get(headers, "x-delay", &f) != 1) return false;
    if (!strchr("bBsuIilL", f.type) || !amq_field_as_i64(&f, &v)) return false;
    if (v <= 0 || v > 4294967295LL) return false; /* the plugin's range (Erlang timers) */
    *ms = (uint64_t)v;
    return true;
}

uint64_t delayed_hold(struct vhost *v, msg *m, uint64_t delay, bool persist) {
    uint64_t fire = wall_ms() + delay;
    if (persist && store_active()) {
        uint64_t pos = store_delayed(v->name, m, fire);
        if (!pos) return UINT64_MAX;
        add((dent){fire, (uintptr_t)((pos << 1) | 1u)}); /* the body stays on disk */
        return pos;
    }
    held *h = xmalloc(sizeof *h);
    h->v = v;
    h->m = m;
    msg_ref(m);
    add((dent){fire, (uintptr_t)h});
    return 0;
}

void delayed_restore(uint64_t fire, uint64_t pos) { add((dent){fire, (uintptr_t)((pos << 1) | 1u)}); }

size_t delayed_pending(void) {
    pthread_mutex_lock(&lock);
    size_t r = heap.n;
    pthread_mutex_unlock(&lock);
    return r;
}

/* Route m through its (delayed) exchange now, as a publish would. */
static void route(struct vhost *v, msg *m, route_set *rs) {
    amq_basic_props p;
    memset(&p, 0, sizeof p);
    if (m->props_len && amq_basic_props_decode(msg_props(m), &p) != AMQ_OK) return;
    amq_bytes headers = (p.flags & AMQ_BASIC_PROP_HEADERS) ? p.headers : (amq_bytes){0};
    int64_t ttl;
    char why[128];
    if ((p.flags & AMQ_BASIC_PROP_EXPIRATION) && !qfeat_parse_expiration(p.expiration, &ttl, why, sizeof why))
        m->ttl = ttl;
    ss_keys keys;
    ss_init(&keys, msg_rk(m));
    bool bcc = false;
    msg *stripped = NULL;
    if (headers.len && ss_collect(headers, &keys, &bcc, why, sizeof why) == 0 && bcc) {
        amq_wr hw, pw;
        amq_wr_init(&hw);
        amq_wr_init(&pw);
        ss_strip_bcc(headers, &hw);
        p.headers = (amq_bytes){hw.data, hw.len};
        amq_basic_props_encode(&pw, &p);
        if (!pw.err && !hw.err && (stripped = msg_with_props(m, (amq_bytes){pw.data, pw.len}))) m = stripped;
        amq_wr_destroy(&hw);
        amq_wr_destroy(&pw);
    }
    werr ve;
    pthread_rwlock_rdlock(&v->lock);
    if (!vhost_route_keys(v, msg_exchange(m), keys.v, keys.n, headers, rs, &ve) && rs->dests.n) {
        store_message(m, (queue *const *)rs->dests.v, rs->dests.n);
        for (size_t i = 0; i < rs->dests.n; i++)
            if (queue_publish(rs->dests.v[i], m) == 1) store_ack(rs->dests.v[i], m);
    }
    pthread_rwlock_unlock(&v->lock);
    ss_free(&keys);
    msg_unref(&stripped);
}

static void fire(dent d, route_set *rs) {
    if (d.ref & 1u) {
        uint64_t pos = (uint64_t)(d.ref >> 1);
        if (store_lost(pos)) { /* its record never reached the disk: the publisher was told so */
            store_delayed_done(pos);
            return;
        }
        char vn[256];
        msg *m = store_load_delayed(pos, vn, sizeof vn);
        struct vhost *v = m ? vhost_find(amq_cstr(vn)) : NULL;
        if (!m) log_err("delayed exchange: the message at %llu could not be read back", (unsigned long long)pos);
        if (m && v) {
            m->pos = 0; /* a new message record if it reaches durable queues */
            route(v, m, rs);
        }
        msg_unref(&m);
        store_delayed_done(pos);
        return;
    }
    held *h = (held *)d.ref;
    route(h->v, h->m, rs);
    msg_unref(&h->m);
    free(h);
}

static void on_timer(void) {
    route_set rs;
    route_set_init(&rs);
    pthread_mutex_lock(&lock);
    armed_at = 0;
    for (;;) {
        uint64_t now = wall_ms();
        if (!heap.n || HEAP(0)->fire > now) break;
        dent batch[64];
        size_t k = 0;
        while (k < 64 && heap.n && HEAP(0)->fire <= now) batch[k++] = pop();
        pthread_mutex_unlock(&lock);
        for (size_t i = 0; i < k; i++) fire(batch[i], &rs);
        pthread_mutex_lock(&lock);
    }
    if (heap.n) arm_locked(HEAP(0)->fire);
    pthread_mutex_unlock(&lock);
    route_set_destroy(&rs);
}

void delayed_stop(void) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < heap.n; i++)
        if (!(HEAP(i)->ref & 1u)) {
            held *h = (held *)HEAP(i)->ref;
            msg_unref(&h->m);
            free(h);
        }
    minheap_destroy(&heap);
    armed_at = 0;
    pthread_mutex_unlock(&lock);
}
