/* worker.c — the I/O threads: one epoll loop, an eventfd-signalled mailbox and
 * worker_call per thread (see worker.h). It knows no connection, channel or
 * queue: what arrives (socket events, mail, the end of a pass, the 1 s tick) goes
 * to the hooks the protocol layer registers at boot (protocol/wconns.c). */
#include "worker.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "stats.h"
#include "util.h"

typedef struct mailbox {
    pthread_mutex_t lock;
    mail *v;
    size_t n, cap;
} mailbox;

struct worker {
    int id;
    pthread_t thread;
    int ep, efd;
    mailbox box;
    mail *batch; /* owner-side copy of the mailbox */
    size_t batch_cap;
    atomic_int nconns;
    bool shutting_down;
    uint64_t shutdown_ms;
    uint64_t next_tick;
    void *data; /* the hooks' per-worker state (worker_set_data) */
};

static worker **all;
static int nworkers;
static worker_hooks hooks;
static __thread worker *current;
static atomic_int live_conns;           /* accepted, not yet freed */
static __thread uint64_t pending_wakes; /* workers to signal at the end of this pass */

worker *worker_current(void) { return current; }
int worker_id(const worker *w) { return w->id; }
int workers_count(void) { return nworkers; }
worker *worker_at(int i) { return all[i]; }
void workers_conn_accepted(void) { atomic_fetch_add(&live_conns, 1); }
int workers_live_conns(void) { return atomic_load(&live_conns); }
int worker_conn_count(const worker *w) { return atomic_load(&((worker *)w)->nconns); }
bool worker_shutting_down(const worker *w) { return w->shutting_down; }
void workers_set_hooks(const worker_hooks *h) { hooks = *h; }
void *worker_data(const worker *w) { return w->data; }
void worker_set_data(worker *w, void *data) { w->data = data; }

void worker_conn_added(worker *w) { atomic_fetch_add(&w->nconns, 1); }

void worker_conn_closed(worker *w, bool added) {
    if (added) atomic_fetch_sub(&w->nconns, 1);
    atomic_fetch_sub(&live_conns, 1);
}

worker **workers_create(int n) {
    all = xcalloc((size_t)n, sizeof *all);
    nworkers = n;
    for (int i = 0; i < n; i++) {
        worker *w = xcalloc(1, sizeof *w);
        w->id = i;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        pthread_mutex_init(&w->box.lock, NULL);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
        epoll_ctl(w->ep, EPOLL_CTL_ADD, w->efd, &ev);
        all[i] = w;
    }
    return all;
}

static void signal_worker(worker *w) {
    uint64_t one = 1;
    ssize_t r = write(w->efd, &one, sizeof one);
    (void)r;
}

void worker_post(worker *w, const mail *m) {
    pthread_mutex_lock(&w->box.lock);
    if (w->box.n == w->box.cap) {
        w->box.cap = w->box.cap ? w->box.cap * 2 : 256;
        w->box.v = xrealloc(w->box.v, w->box.cap * sizeof *w->box.v);
    }
    bool was_empty = w->box.n == 0;
    w->box.v[w->box.n++] = *m;
    pthread_mutex_unlock(&w->box.lock);
    if (!was_empty || w == current) return;
    if (current) pending_wakes |= 1ull << w->id; /* written after this pass, outside every lock */
    else signal_worker(w);
}

int worker_watch(worker *w, int fd, uint32_t events, void *ptr) {
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    return epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
}

int worker_rewatch(worker *w, int fd, uint32_t events, void *ptr) {
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    return epoll_ctl(w->ep, EPOLL_CTL_MOD, fd, &ev);
}

void worker_unwatch(worker *w, int fd) { epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL); }

typedef struct worker_call_req {
    worker_fn fn;
    void *arg;
} worker_call_req;

void worker_call(worker *w, worker_fn fn, void *arg) {
    worker_call_req *r = xcalloc(1, sizeof *r);
    r->fn = fn;
    r->arg = arg;
    mail m = {.kind = MAIL_CALL, .seq = (uint64_t)(uintptr_t)r};
    worker_post(w, &m);
}

/* Process the mailbox until it is empty (bounded rounds). */
static bool drain(worker *w) {
    for (int round = 0; round < 8; round++) {
        pthread_mutex_lock(&w->box.lock);
        size_t n = w->box.n;
        if (n) {
            mail *tmp = w->batch;
            size_t cap = w->batch_cap;
            w->batch = w->box.v;
            w->batch_cap = w->box.cap;
            w->box.v = tmp;
            w->box.cap = cap;
            w->box.n = 0;
        }
        pthread_mutex_unlock(&w->box.lock);
        if (!n) return false;
        for (size_t i = 0; i < n; i++) {
            mail *m = &w->batch[i];
            if (m->kind == MAIL_CALL) {
                worker_call_req *r = (worker_call_req *)(uintptr_t)m->seq;
                r->fn(w, r->arg);
                free(r);
                continue;
            }
            if (m->kind == MAIL_SHUTDOWN) {
                w->shutting_down = true;
                w->shutdown_ms = now_ms();
            }
            hooks.mail(w, m);
        }
    }
    return true; /* more left: poll without sleeping */
}

static void send_wakes(void) {
    uint64_t bits = pending_wakes;
    pending_wakes = 0;
    while (bits) {
        int i = __builtin_ctzll(bits);
        bits &= bits - 1;
        signal_worker(all[i]);
    }
}

static void *run(void *arg) {
    worker *w = arg;
    current = w;
    stats_set_thread_slot(w->id);
    struct epoll_event evs[256];
    bool more = false;
    w->next_tick = now_ms() + 1000;
    for (;;) {
        uint64_t now = now_ms();
        uint64_t wake = w->next_tick, due = hooks.next_due(w);
        if (due && due < wake) wake = due;
        int timeout = more ? 0 : (int)(wake > now ? wake - now : 0);
        int n = epoll_wait(w->ep, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == w) {
                uint64_t v;
                ssize_t r = read(w->efd, &v, sizeof v);
                (void)r;
                continue;
            }
            hooks.event(w, evs[i].data.ptr, evs[i].events);
        }
        more = drain(w);
        now = now_ms();
        bool tick = now >= w->next_tick;
        if (tick) w->next_tick = now + 1000;
        hooks.pass(w, now, tick);
        /* The pass may post to ourselves (a drained connection un-throttles and
         * re-runs dispatch): such mail raises no eventfd, so do not sleep on it. */
        if (!more) {
            pthread_mutex_lock(&w->box.lock);
            more = w->box.n > 0;
            pthread_mutex_unlock(&w->box.lock);
        }
        send_wakes();
        if (w->shutting_down) {
            if (hooks.stopped(w, now - w->shutdown_ms)) break;
            if (w->next_tick > now + 100) w->next_tick = now + 100;
        }
    }
    drain(w); /* requeue whatever was still posted to us */
    send_wakes();
    hooks.exit(w);
    return NULL;
}

int worker_start(worker *w) { return pthread_create(&w->thread, NULL, run, w); }

void worker_join(worker *w) { pthread_join(w->thread, NULL); }
