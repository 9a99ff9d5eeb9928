/* worker.c — see worker.h. */
#include "worker.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "channel.h"
#include "conn.h"
#include "queue.h"
#include "durable.h"
#include "util.h"
#include "vhost.h"

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
    conn *conns;
    atomic_int nconns;
    conn *flush_list;
    struct channel *waiting; /* channels with replies waiting for the log */
    atomic_bool log_mail_posted;
    int nblocked; /* memory-blocked connections */
    bool shutting_down;
    uint64_t shutdown_ms;
    uint64_t next_tick;
    struct conn **timers; /* min-heap by conn->timer_due; conn->timer_idx is its slot */
    size_t ntimers, cap_timers;
};

static worker **all;
static int nworkers;
static __thread worker *current;
static atomic_int live_conns; /* accepted, not yet freed */
static _Atomic uint64_t waiting_workers; /* bit i: worker i has channels waiting for the log */
static __thread uint64_t pending_wakes; /* workers to signal at the end of this pass */

worker *worker_current(void) { return current; }
int worker_id(const worker *w) { return w->id; }
int workers_count(void) { return nworkers; }
worker *worker_at(int i) { return all[i]; }
void workers_conn_accepted(void) { atomic_fetch_add(&live_conns, 1); }
int workers_live_conns(void) { return atomic_load(&live_conns); }
int worker_conn_count(const worker *w) { return atomic_load(&((worker *)w)->nconns); }
bool worker_shutting_down(const worker *w) { return w->shutting_down; }

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
    if (current)
        pending_wakes |= 1ull << w->id; /* written after this pass, outside every lock */
    else
        signal_worker(w);
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

void worker_want_flush(worker *w, conn *c) {
    if (c->in_flush_list) return;
    c->in_flush_list = true;
    c->flush_next = w->flush_list;
    w->flush_list = c;
}

void worker_wait_add(worker *w, channel *ch) {
    ch->waiting = true;
    ch->wait_prev = NULL;
    ch->wait_next = w->waiting;
    if (w->waiting) w->waiting->wait_prev = ch;
    w->waiting = ch;
    atomic_fetch_or(&waiting_workers, 1ull << w->id);
}

void worker_wait_del(worker *w, channel *ch) {
    if (!ch->waiting) return;
    ch->waiting = false;
    if (ch->wait_prev) ch->wait_prev->wait_next = ch->wait_next;
    else w->waiting = ch->wait_next;
    if (ch->wait_next) ch->wait_next->wait_prev = ch->wait_prev;
    ch->wait_prev = ch->wait_next = NULL;
    if (!w->waiting) atomic_fetch_and(&waiting_workers, ~(1ull << w->id));
}

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

conn *worker_conns(worker *w) { return w->conns; }

void worker_blocked(worker *w, int delta) { w->nblocked += delta; }

/* Memory went back under the limit: let the blocked connections read again. */
static void unblock_all(worker *w) {
    for (conn *c = w->conns; c && w->nblocked; c = c->next) conn_unblock(c);
}

void workers_log_progress(void) {
    uint64_t bits = atomic_load(&waiting_workers);
    while (bits) {
        int i = __builtin_ctzll(bits);
        bits &= bits - 1;
        worker *w = all[i];
        if (atomic_exchange(&w->log_mail_posted, true)) continue; /* one pending mail is enough */
        mail m = {.kind = MAIL_LOG};
        worker_post(w, &m);
    }
}

/* Let every waiting channel send what the log now allows. */
static void advance_waiting(worker *w) {
    for (channel *ch = w->waiting, *next; ch; ch = next) {
        next = ch->wait_next; /* advance may unlink ch */
        conn *c = ch->conn;
        channel_advance(ch);
        if (c->out.len) worker_want_flush(w, c);
    }
}

static void add_conn(worker *w, int fd, bool tls) {
    if (w->shutting_down) {
        close(fd);
        atomic_fetch_sub(&live_conns, 1);
        return;
    }
    conn *c = conn_new(w, fd, tls);
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    atomic_fetch_add(&w->nconns, 1);
    worker_watch(w, fd, EPOLLIN | EPOLLRDHUP, c);
}

/* ---- connection timers: an intrusive binary min-heap ---- */

static void timer_place(worker *w, size_t i, conn *c) {
    w->timers[i] = c;
    c->timer_idx = i;
}

static void timer_sift(worker *w, size_t i) {
    conn *c = w->timers[i];
    while (i > 0 && w->timers[(i - 1) / 2]->timer_due > c->timer_due) { /* up */
        timer_place(w, i, w->timers[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) { /* down */
        size_t l = 2 * i + 1, m = i;
        uint64_t best = c->timer_due;
        if (l < w->ntimers && w->timers[l]->timer_due < best) m = l, best = w->timers[l]->timer_due;
        if (l + 1 < w->ntimers && w->timers[l + 1]->timer_due < best) m = l + 1;
        if (m == i) break;
        timer_place(w, i, w->timers[m]);
        i = m;
    }
    timer_place(w, i, c);
}

static void timer_remove(worker *w, conn *c) {
    size_t i = c->timer_idx;
    if (i == SIZE_MAX) return;
    c->timer_idx = SIZE_MAX;
    conn *last = w->timers[--w->ntimers];
    if (last == c) return;
    timer_place(w, i, last);
    timer_sift(w, i);
}

void worker_conn_timer(worker *w, conn *c, uint64_t due) {
    if (!due) {
        timer_remove(w, c);
        return;
    }
    c->timer_due = due;
    if (c->timer_idx == SIZE_MAX) {
        if (w->ntimers == w->cap_timers) {
            w->cap_timers = w->cap_timers ? w->cap_timers * 2 : 64;
            w->timers = xrealloc(w->timers, w->cap_timers * sizeof *w->timers);
        }
        c->timer_idx = w->ntimers++;
        w->timers[c->timer_idx] = c;
    }
    timer_sift(w, c->timer_idx);
}

/* Run the timers that are due; true if a connection died. */
static bool run_timers(worker *w, uint64_t now) {
    bool dead = false;
    while (w->ntimers && w->timers[0]->timer_due <= now) {
        conn *c = w->timers[0];
        worker_conn_timer(w, c, conn_timer(c, now));
        dead |= c->state == CONN_DEAD;
    }
    return dead;
}

static void remove_conn(worker *w, conn *c) {
    timer_remove(w, c);
    if (c->prev) c->prev->next = c->next;
    else w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    atomic_fetch_sub(&w->nconns, 1);
    conn_free(c);
    atomic_fetch_sub(&live_conns, 1);
}

static void on_deliver(mail *m) {
    consumer *c = m->c;
    bool was_full = atomic_fetch_sub(&c->inflight, 1) == CONSUMER_INFLIGHT_MAX;
    if (atomic_load(&c->cancelled) || !c->ch) {
        if (m->q) { /* never written: back to its place (the channel and its credit are gone) */
            queue_requeue(m->q, m->m, m->seq, m->exp, m->redelivered);
        } else {
            msg_unref(&m->m);
        }
        queue_unref(&m->q);
        consumer_unref(&c);
        return;
    }
    queue *q = m->q;
    if (msg_is_lazy(m->m)) { /* on disk only: read it back now, outside every lock */
        uint64_t pos = msg_lazy_pos(m->m);
        m->m = store_materialize(m->m);
        if (!m->m) { /* unreadable record: it cannot be delivered; drop it */
            if (q) store_dropped_pos(q, pos);
            if (!c->no_ack) consumer_release(c, 1);
            queue_unref(&m->q);
            consumer_unref(&c);
            return;
        }
    }
    if (was_full && q) queue_ref(q);
    channel_deliver(c->ch, c, m->q, m->m, m->seq, m->exp, m->redelivered); /* takes c, q, m references */
    if (was_full && q) {
        queue_dispatch(q);
        queue_unref(&q);
    }
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
            switch (m->kind) {
            case MAIL_DELIVER: on_deliver(m); break;
            case MAIL_CANCEL:
                if (!atomic_load(&m->c->cancelled) && m->c->ch) channel_consumer_cancelled(m->c->ch, m->c);
                consumer_unref(&m->c);
                break;
            case MAIL_CONN: add_conn(w, m->fd, m->tls); break;
            case MAIL_SHUTDOWN:
                w->shutting_down = true;
                w->shutdown_ms = now_ms();
                for (conn *c = w->conns; c; c = c->next) {
                    conn_shutdown(c);
                    worker_want_flush(w, c);
                }
                break;
            case MAIL_LOG:
                atomic_store(&w->log_mail_posted, false);
                advance_waiting(w);
                break;
            case MAIL_CALL: {
                worker_call_req *r = (worker_call_req *)(uintptr_t)m->seq;
                r->fn(w, r->arg);
                free(r);
                break;
            }
            case MAIL_KICK:
                if (m->c) {
                    queue_dispatch(m->c->q);
                    consumer_unref(&m->c);
                }
                break;
            }
        }
    }
    return true; /* more left: poll without sleeping */
}

/* Flush every connection with pending output; true if one of them died. */
static bool flush_all(worker *w) {
    bool dead = false;
    while (w->flush_list) {
        conn *list = w->flush_list;
        w->flush_list = NULL;
        for (conn *c = list, *next; c; c = next) {
            next = c->flush_next;
            c->in_flush_list = false;
            conn_flush(c);
            dead |= c->state == CONN_DEAD;
        }
    }
    return dead;
}

static void reap(worker *w) {
    for (conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_DEAD) remove_conn(w, c);
    }
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
    struct epoll_event evs[256];
    bool more = false;
    w->next_tick = now_ms() + 1000;
    for (;;) {
        uint64_t now = now_ms();
        uint64_t wake = w->next_tick;
        if (w->ntimers && w->timers[0]->timer_due < wake) wake = w->timers[0]->timer_due;
        int timeout = more ? 0 : (int)(wake > now ? wake - now : 0);
        int n = epoll_wait(w->ep, evs, 256, timeout);
        bool dead_seen = false;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == w) {
                uint64_t v;
                ssize_t r = read(w->efd, &v, sizeof v);
                (void)r;
                continue;
            }
            conn *c = evs[i].data.ptr;
            if (c->state == CONN_DEAD) continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) conn_on_readable(c);
            if ((evs[i].events & EPOLLOUT) && c->state != CONN_DEAD) conn_on_writable(c);
            if (c->state == CONN_DEAD) dead_seen = true;
        }
        more = drain(w);
        if (w->nblocked && !mem_over_limit()) unblock_all(w);
        dead_seen |= flush_all(w);
        /* Flushing may post to ourselves (a drained connection un-throttles and
         * re-runs dispatch): such mail raises no eventfd, so do not sleep on it. */
        if (!more) {
            pthread_mutex_lock(&w->box.lock);
            more = w->box.n > 0;
            pthread_mutex_unlock(&w->box.lock);
        }
        now = now_ms();
        if (w->ntimers && w->timers[0]->timer_due <= now) {
            dead_seen |= run_timers(w, now);
            flush_all(w);
        }
        if (now >= w->next_tick) {
            w->next_tick = now + 1000;
            advance_waiting(w); /* a fallback: normally MAIL_LOG does this at once */
            for (conn *c = w->conns; c; c = c->next) {
                conn_tick(c, now);
                if (c->state == CONN_DEAD) dead_seen = true;
            }
            flush_all(w);
            dead_seen = true;
        }
        if (dead_seen) reap(w);
        send_wakes();
        if (w->shutting_down) {
            /* Give clients up to 2 s to answer connection.close, then drop them. */
            if (now - w->shutdown_ms > 2000)
                for (conn *c = w->conns; c; c = c->next) c->state = CONN_DEAD;
            reap(w);
            if (!w->conns) break;
            if (w->next_tick > now + 100) w->next_tick = now + 100;
        }
    }
    free(w->timers); /* every connection (and its timer) is gone */
    w->timers = NULL;
    w->ntimers = w->cap_timers = 0;
    drain(w); /* requeue whatever was still posted to us */
    send_wakes();
    vhost_thread_cleanup();
    return NULL;
}

int worker_start(worker *w) { return pthread_create(&w->thread, NULL, run, w); }

void worker_join(worker *w) {
    pthread_join(w->thread, NULL);
}
