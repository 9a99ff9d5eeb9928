/* wconns.c — the protocol layer's side of a worker's loop (see wconns.h):
 * each worker's connections (accept, reap), their heartbeat timers, the
 * end-of-pass flush, the channels waiting for the durable log, memory
 * unblocking, shutdown, and the consumer mail: a delivery handed to its
 * channel, a cancel notified, a dispatch kicked. core/worker.c calls in
 * through the worker_hooks registered by wconns_install. */
#include "wconns.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "channel.h"
#include "conn.h"
#include "durable.h"
#include "queue.h"
#include "reply_to.h"
#include "util.h"
#include "vhost.h"

typedef struct wconns {
    conn *conns;
    conn *flush_list;
    struct channel *waiting; /* channels with replies waiting for the log */
    atomic_bool log_mail_posted;
    int nblocked;         /* memory-blocked connections */
    bool dead_seen;       /* a connection died during this pass: reap */
    struct conn **timers; /* min-heap by conn->timer_due; conn->timer_idx is its slot */
    size_t ntimers, cap_timers;
} wconns;

static _Atomic uint64_t waiting_workers; /* bit i: worker i has channels waiting for the log */

static wconns *ws_of(worker *w) { return worker_data(w); }

void wconns_want_flush(worker *w, conn *c) {
    wconns *s = ws_of(w);
    if (c->in_flush_list) return;
    c->in_flush_list = true;
    c->flush_next = s->flush_list;
    s->flush_list = c;
}

void wconns_wait_add(worker *w, channel *ch) {
    wconns *s = ws_of(w);
    ch->waiting = true;
    ch->wait_prev = NULL;
    ch->wait_next = s->waiting;
    if (s->waiting) s->waiting->wait_prev = ch;
    s->waiting = ch;
    atomic_fetch_or(&waiting_workers, 1ull << worker_id(w));
}

void wconns_wait_del(worker *w, channel *ch) {
    wconns *s = ws_of(w);
    if (!ch->waiting) return;
    ch->waiting = false;
    if (ch->wait_prev) ch->wait_prev->wait_next = ch->wait_next;
    else s->waiting = ch->wait_next;
    if (ch->wait_next) ch->wait_next->wait_prev = ch->wait_prev;
    ch->wait_prev = ch->wait_next = NULL;
    if (!s->waiting) atomic_fetch_and(&waiting_workers, ~(1ull << worker_id(w)));
}

conn *wconns_list(worker *w) { return ws_of(w)->conns; }

void wconns_blocked(worker *w, int delta) { ws_of(w)->nblocked += delta; }

/* Memory went back under the limit: let the blocked connections read again. */
static void unblock_all(wconns *s) {
    for (conn *c = s->conns; c && s->nblocked; c = c->next) conn_unblock(c);
}

void wconns_log_progress(void) {
    uint64_t bits = atomic_load(&waiting_workers);
    while (bits) {
        int i = __builtin_ctzll(bits);
        bits &= bits - 1;
        worker *w = worker_at(i);
        if (atomic_exchange(&ws_of(w)->log_mail_posted, true)) continue; /* one pending mail is enough */
        mail m = {.kind = MAIL_LOG};
        worker_post(w, &m);
    }
}

/* Let every waiting channel send what the log now allows. */
static void advance_waiting(worker *w) {
    for (channel *ch = ws_of(w)->waiting, *next; ch; ch = next) {
        next = ch->wait_next; /* advance may unlink ch */
        conn *c = ch->conn;
        channel_advance(ch);
        if (c->out.len) wconns_want_flush(w, c);
    }
}

static void add_conn(worker *w, int fd, bool tls) {
    wconns *s = ws_of(w);
    if (worker_shutting_down(w)) {
        close(fd);
        worker_conn_closed(w, false);
        return;
    }
    conn *c = conn_new(w, fd, tls);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    worker_conn_added(w);
    worker_watch(w, fd, EPOLLIN | EPOLLRDHUP, c);
}

/* ---- connection timers: an intrusive binary min-heap ---- */

static void timer_place(wconns *s, size_t i, conn *c) {
    s->timers[i] = c;
    c->timer_idx = i;
}

static void timer_sift(wconns *s, size_t i) {
    conn *c = s->timers[i];
    while (i > 0 && s->timers[(i - 1) / 2]->timer_due > c->timer_due) { /* up */
        timer_place(s, i, s->timers[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) { /* down */
        size_t l = 2 * i + 1, m = i;
        uint64_t best = c->timer_due;
        if (l < s->ntimers && s->timers[l]->timer_due < best) m = l, best = s->timers[l]->timer_due;
        if (l + 1 < s->ntimers && s->timers[l + 1]->timer_due < best) m = l + 1;
        if (m == i) break;
        timer_place(s, i, s->timers[m]);
        i = m;
    }
    timer_place(s, i, c);
}

static void timer_remove(wconns *s, conn *c) {
    size_t i = c->timer_idx;
    if (i == SIZE_MAX) return;
    c->timer_idx = SIZE_MAX;
    conn *last = s->timers[--s->ntimers];
    if (last == c) return;
    timer_place(s, i, last);
    timer_sift(s, i);
}

void wconns_timer(worker *w, conn *c, uint64_t due) {
    wconns *s = ws_of(w);
    if (!due) {
        timer_remove(s, c);
        return;
    }
    c->timer_due = due;
    if (c->timer_idx == SIZE_MAX) {
        if (s->ntimers == s->cap_timers) {
            s->cap_timers = s->cap_timers ? s->cap_timers * 2 : 64;
            s->timers = xrealloc(s->timers, s->cap_timers * sizeof *s->timers);
        }
        c->timer_idx = s->ntimers++;
        s->timers[c->timer_idx] = c;
    }
    timer_sift(s, c->timer_idx);
}

/* Run the timers that are due; true if a connection died. */
static bool run_timers(worker *w, uint64_t now) {
    wconns *s = ws_of(w);
    bool dead = false;
    while (s->ntimers && s->timers[0]->timer_due <= now) {
        conn *c = s->timers[0];
        wconns_timer(w, c, conn_timer(c, now));
        dead |= c->state == CONN_DEAD;
    }
    return dead;
}

static void remove_conn(worker *w, conn *c) {
    wconns *s = ws_of(w);
    timer_remove(s, c);
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    conn_free(c);
    worker_conn_closed(w, true);
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
    if (!q) reply_to_delivered(c); /* may let a held replier go on */
    if (msg_is_lazy(m->m)) {       /* on disk only: read it back now, outside every lock */
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
    if (m->m->pos && store_lost(m->m->pos)) { /* its record was lost after it left the queue: never served */
        if (q) store_dropped(q, m->m);
        msg_unref(&m->m);
        if (!c->no_ack) consumer_release(c, 1);
        else if (was_full && q) queue_dispatch(q);
        queue_unref(&m->q);
        consumer_unref(&c);
        return;
    }
    if (was_full && q) queue_ref(q);
    channel_deliver(c->ch, c, m->q, m->m, m->seq, m->exp, m->redelivered); /* takes c, q, m references */
    if (was_full && q) {
        queue_dispatch(q);
        queue_unref(&q);
    }
}

static void on_mail(worker *w, mail *m) {
    switch (m->kind) {
    case MAIL_DELIVER: on_deliver(m); break;
    case MAIL_CANCEL:
        if (!atomic_load(&m->c->cancelled) && m->c->ch) channel_consumer_cancelled(m->c->ch, m->c);
        consumer_unref(&m->c);
        break;
    case MAIL_CONN: add_conn(w, m->fd, m->tls); break;
    case MAIL_SHUTDOWN:
        for (conn *c = ws_of(w)->conns; c; c = c->next) {
            conn_shutdown(c);
            wconns_want_flush(w, c);
        }
        break;
    case MAIL_LOG:
        atomic_store(&ws_of(w)->log_mail_posted, false);
        advance_waiting(w);
        break;
    case MAIL_REPLY:
        for (conn *c = ws_of(w)->conns; c; c = c->next)
            if (c->reply_wait) reply_to_recheck(c);
        break;
    case MAIL_KICK:
        if (m->c) {
            queue_dispatch(m->c->q);
            consumer_unref(&m->c);
        }
        break;
    case MAIL_CALL: break; /* run by the loop itself */
    }
}

static void on_event(worker *w, void *ptr, uint32_t events) {
    conn *c = ptr;
    if (c->state == CONN_DEAD) return;
    conn_on_events(c, events);
    if ((events & EPOLLOUT) && c->state != CONN_DEAD) conn_on_writable(c);
    if (c->state == CONN_DEAD) ws_of(w)->dead_seen = true;
}

/* Flush every connection with pending output; true if one of them died. */
static bool flush_all(wconns *s) {
    bool dead = false;
    while (s->flush_list) {
        conn *list = s->flush_list;
        s->flush_list = NULL;
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
    for (conn *c = ws_of(w)->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_DEAD) remove_conn(w, c);
    }
}

static void on_pass(worker *w, uint64_t now, bool tick) {
    wconns *s = ws_of(w);
    bool dead = s->dead_seen;
    s->dead_seen = false;
    if (s->nblocked && !mem_over_limit()) unblock_all(s);
    dead |= flush_all(s);
    if (s->ntimers && s->timers[0]->timer_due <= now) {
        dead |= run_timers(w, now);
        flush_all(s);
    }
    if (tick) {
        advance_waiting(w); /* a fallback: normally MAIL_LOG does this at once */
        for (conn *c = s->conns; c; c = c->next) {
            if (c->reply_wait) reply_to_recheck(c); /* a fallback: normally MAIL_REPLY does it */
            conn_tick(c, now);
        }
        flush_all(s);
        dead = true;
    }
    if (dead) reap(w);
}

static uint64_t next_due(worker *w) {
    wconns *s = ws_of(w);
    return s->ntimers ? s->timers[0]->timer_due : 0;
}

static bool stopped(worker *w, uint64_t since_ms) {
    /* Give clients up to 2 s to answer connection.close, then drop them. */
    if (since_ms > 2000)
        for (conn *c = ws_of(w)->conns; c; c = c->next) c->state = CONN_DEAD;
    reap(w);
    return !ws_of(w)->conns;
}

static void on_loop_exit(worker *w) {
    wconns *s = ws_of(w);
    free(s->timers); /* every connection (and its timer) is gone */
    s->timers = NULL;
    s->ntimers = s->cap_timers = 0;
    vhost_thread_cleanup();
}

void wconns_install(void) {
    static const worker_hooks hooks = {
        .event = on_event,
        .mail = on_mail,
        .pass = on_pass,
        .next_due = next_due,
        .stopped = stopped,
        .exit = on_loop_exit,
    };
    workers_set_hooks(&hooks);
    for (int i = 0; i < workers_count(); i++) worker_set_data(worker_at(i), xcalloc(1, sizeof(wconns)));
}
