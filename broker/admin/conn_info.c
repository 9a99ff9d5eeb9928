/* conn_info.c — see conn_info.h. */
#include "conn_info.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "amq/methods.h"
#include "channel.h"
#include "conn.h"
#include "transport.h"
#include "util.h"
#include "vhost.h"
#include "wconns.h"
#include "worker.h"

typedef struct wjob {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;    /* workers still to answer + the caller */
    int pending; /* workers still to answer */
    unsigned what;
    ci_snapshot s; /* under mu */
    size_t capconns, capchans, capcons;
    uint64_t target; /* close: the id */
    char reason[256];
    bool found;
} wjob;

static void wjob_unref(wjob *j) {
    pthread_mutex_lock(&j->mu);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    ci_snapshot_free(&j->s);
    free(j);
}

static const char *conn_state_name(const conn *c) {
    switch (c->state) {
    case CONN_AWAIT_HEADER:
    case CONN_AWAIT_START_OK: return "starting";
    case CONN_AWAIT_TUNE_OK: return "tuning";
    case CONN_AWAIT_OPEN: return "opening";
    case CONN_OPEN: return c->mem_blocked ? "blocked" : "running";
    default: return "closing";
    }
}

/* "[::ffff:127.0.0.1]:5000" -> "127.0.0.1", 5000 (as RabbitMQ shows them). */
static void split_peer(const char *peer, char *host, size_t cap, int *port) {
    const char *colon = strrchr(peer, ':');
    size_t hl = colon ? (size_t)(colon - peer) : strlen(peer);
    const char *h = peer;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
    if (hl > 7 && !strncmp(h, "::ffff:", 7) && memchr(h + 7, '.', hl - 7)) h += 7, hl -= 7;
    snprintf(host, cap, "%.*s", (int)hl, h);
    *port = colon ? atoi(colon + 1) : 0;
}

static void local_addr(int fd, char *host, size_t cap, int *port) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    snprintf(host, cap, "?");
    *port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len)) return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)cap);
        *port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, (socklen_t)cap);
        else inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)cap);
        *port = ntohs(a->sin6_port);
    }
}

#define GROW(arr, n, cap)                                                                                              \
    do {                                                                                                               \
        if ((n) == (cap)) (arr) = xrealloc((arr), ((cap) = (cap) ? (cap)*2 : 16) * sizeof *(arr));                     \
    } while (0)

static void on_worker_list(worker *w, void *arg) {
    wjob *j = arg;
    ci_snapshot mine = {0};
    size_t cc = 0, ch = 0, co = 0;
    uint64_t mono = now_ms(), wall = wall_ms();
    for (conn *c = wconns_list(w); c; c = c->next) {
        if (c->state == CONN_DEAD) continue;
        GROW(mine.conns, mine.nconns, cc);
        ci_conn *r = &mine.conns[mine.nconns++];
        memset(r, 0, sizeof *r);
        r->id = c->id;
        snprintf(r->user, sizeof r->user, "%s", c->user);
        snprintf(r->vhost, sizeof r->vhost, "%s", c->vh ? vhost_name(c->vh) : "");
        split_peer(c->peer, r->peer_host, sizeof r->peer_host, &r->peer_port);
        local_addr(c->fd, r->host, sizeof r->host, &r->port);
        snprintf(r->name, sizeof r->name, "%s:%d -> %s:%d", r->peer_host, r->peer_port, r->host, r->port);
        r->state = conn_state_name(c);
        r->nchans = c->nchans;
        r->channel_max = c->channel_max;
        r->frame_max = c->frame_max;
        r->heartbeat = c->heartbeat;
        r->tls = !strcmp(c->tr->name, "tls");
        r->connected_at = wall - (mono - c->created_ms);
        r->recv_oct = c->recv_oct, r->recv_cnt = c->recv_cnt, r->send_oct = c->send_oct, r->send_cnt = c->send_cnt;
        if (c->client_props && (j->what & CI_CLIENT_PROPS)) {
            r->client_props = xmalloc(c->client_props_len);
            memcpy(r->client_props, c->client_props, c->client_props_len);
            r->client_props_len = c->client_props_len;
        }
        if (!(j->what & (CI_CHANNELS | CI_CONSUMERS))) continue;
        for (uint32_t i = 0; i < c->nchans; i++) {
            channel *chn = c->chans[i];
            GROW(mine.chans, mine.nchans, ch);
            ci_chan *h = &mine.chans[mine.nchans++];
            *h = (ci_chan){.conn = mine.nconns - 1,
                           .number = chn->id,
                           .prefetch = chn->prefetch,
                           .global_prefetch = atomic_load(&chn->cc.prefetch),
                           .consumers = (uint32_t)chn->nconsumers,
                           .unacked = (uint32_t)chn->ua_live,
                           .unconfirmed = chn->confirm ? (uint32_t)(chn->pub_seq - chn->confirm_sent) : 0,
                           .confirm = chn->confirm,
                           .tx = chn->tx,
                           .closing = chn->state != CH_OPEN};
            memcpy(h->st, chn->st, sizeof h->st);
            if (!(j->what & CI_CONSUMERS)) continue;
            for (size_t k = 0; k < chn->nconsumers; k++) {
                consumer *cs = chn->consumers[k];
                GROW(mine.cons, mine.ncons, co);
                ci_cons *o = &mine.cons[mine.ncons++];
                memset(o, 0, sizeof *o);
                o->chan = mine.nchans - 1;
                snprintf(o->tag, sizeof o->tag, "%.*s", (int)cs->tag_len, cs->tag);
                if (cs->q) {
                    snprintf(o->queue, sizeof o->queue, "%.*s", (int)cs->q->name_len, cs->q->name);
                    snprintf(o->vhost, sizeof o->vhost, "%s", cs->q->vh ? vhost_name(cs->q->vh) : "");
                }
                o->ack_required = !cs->no_ack;
                o->exclusive = cs->exclusive;
                o->prefetch = atomic_load(&cs->prefetch);
                o->priority = cs->priority;
            }
        }
    }
    pthread_mutex_lock(&j->mu);
    ci_snapshot *s = &j->s;
    size_t base_conn = s->nconns, base_chan = s->nchans;
    if (mine.nconns) {
        s->conns = xrealloc(s->conns, (s->nconns + mine.nconns) * sizeof *s->conns);
        memcpy(s->conns + s->nconns, mine.conns, mine.nconns * sizeof *mine.conns);
        s->nconns += mine.nconns;
    }
    if (mine.nchans) {
        for (size_t i = 0; i < mine.nchans; i++) mine.chans[i].conn += base_conn;
        s->chans = xrealloc(s->chans, (s->nchans + mine.nchans) * sizeof *s->chans);
        memcpy(s->chans + s->nchans, mine.chans, mine.nchans * sizeof *mine.chans);
        s->nchans += mine.nchans;
    }
    if (mine.ncons) {
        for (size_t i = 0; i < mine.ncons; i++) mine.cons[i].chan += base_chan;
        s->cons = xrealloc(s->cons, (s->ncons + mine.ncons) * sizeof *s->cons);
        memcpy(s->cons + s->ncons, mine.cons, mine.ncons * sizeof *mine.cons);
        s->ncons += mine.ncons;
    }
    j->pending--;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    free(mine.conns); /* the rows (and the client_props they own) now belong to j->s */
    free(mine.chans);
    free(mine.cons);
    wjob_unref(j);
}

static void on_worker_close(worker *w, void *arg) {
    wjob *j = arg;
    bool found = false;
    for (conn *c = wconns_list(w); c; c = c->next) {
        if (c->id != j->target || c->state >= CONN_CLOSING) continue;
        found = true;
        log_info("closing connection %s (id %llu) on request: %s", c->peer, (unsigned long long)c->id, j->reason);
        conn_error(c, AMQ_CONNECTION_FORCED, 0, "CONNECTION_FORCED - %s", j->reason);
        wconns_want_flush(w, c);
    }
    pthread_mutex_lock(&j->mu);
    j->found |= found;
    j->pending--;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    wjob_unref(j);
}

/* Run fn on every worker and wait (5 s at most) for all of them. */
static wjob *on_all_workers(worker_fn fn, unsigned what, uint64_t target, const char *reason, bool *ok) {
    int n = workers_count();
    wjob *j = xcalloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = n + 1;
    j->pending = n;
    j->what = what;
    j->target = target;
    snprintf(j->reason, sizeof j->reason, "%s", reason ? reason : "");
    for (int i = 0; i < n; i++) worker_call(worker_at(i), fn, j);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&j->mu);
    while (j->pending > 0)
        if (pthread_cond_timedwait(&j->cv, &j->mu, &dl) == ETIMEDOUT) break;
    *ok = j->pending == 0;
    pthread_mutex_unlock(&j->mu);
    return j;
}

int ci_snapshot_take(ci_snapshot *s, unsigned what) {
    bool ok;
    memset(s, 0, sizeof *s);
    wjob *j = on_all_workers(on_worker_list, what, 0, NULL, &ok);
    if (ok) { /* every worker has answered: the job's snapshot is ours */
        pthread_mutex_lock(&j->mu);
        *s = j->s;
        memset(&j->s, 0, sizeof j->s);
        pthread_mutex_unlock(&j->mu);
    }
    wjob_unref(j);
    return ok ? 0 : -1;
}

void ci_snapshot_free(ci_snapshot *s) {
    for (size_t i = 0; i < s->nconns; i++) free(s->conns[i].client_props);
    free(s->conns);
    free(s->chans);
    free(s->cons);
    memset(s, 0, sizeof *s);
}

bool ci_close(uint64_t id, const char *reason) {
    bool ok;
    wjob *j = on_all_workers(on_worker_close, 0, id, reason, &ok);
    pthread_mutex_lock(&j->mu);
    bool found = j->found;
    pthread_mutex_unlock(&j->mu);
    wjob_unref(j);
    return found;
}
