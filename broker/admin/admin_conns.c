/* admin_conns.c — list and close AMQP connections on their workers, for the
 * control socket and the management API (admin_conns.h). */
#include "admin_conns.h"

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

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;             /* workers still to answer + the caller */
    int pending;          /* workers still to answer */
    admin_conn_row *rows; /* under mu */
    size_t nrows, caprows;
    uint64_t target; /* close: the id (0: by name) */
    char name[200];  /* close: the name */
    char reason[256];
    int found;
} wjob;

static void wjob_unref(wjob *j) {
    pthread_mutex_lock(&j->mu);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->rows);
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

/* RabbitMQ's connection name, "PEER -> LOCAL" (IPv6 addresses in brackets). */
static void conn_name(const conn *c, char *out, size_t n) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char local[80] = "";
    if (!getsockname(c->fd, (struct sockaddr *)&ss, &len)) {
        char host[INET6_ADDRSTRLEN];
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            snprintf(local, sizeof local, "%s:%d", host, ntohs(a->sin_port));
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            snprintf(local, sizeof local, "[%s]:%d", host, ntohs(a->sin6_port));
        }
    }
    snprintf(out, n, "%s -> %s", c->peer, local);
}

static void on_worker_list(worker *w, void *arg) {
    wjob *j = arg;
    size_t n = 0, cap = 0;
    admin_conn_row *mine = NULL;
    for (conn *c = wconns_list(w); c; c = c->next) {
        if (c->state == CONN_DEAD) continue;
        if (n == cap) mine = xrealloc(mine, (cap = cap ? cap * 2 : 16) * sizeof *mine);
        admin_conn_row *r = &mine[n++];
        const char *colon = strrchr(c->peer, ':');
        size_t hl = colon ? (size_t)(colon - c->peer) : strlen(c->peer);
        const char *h = c->peer;
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
        r->id = c->id;
        conn_name(c, r->name, sizeof r->name);
        snprintf(r->user, sizeof r->user, "%s", c->user);
        snprintf(r->vhost, sizeof r->vhost, "%s", c->vh ? vhost_name(c->vh) : "");
        snprintf(r->host, sizeof r->host, "%.*s", (int)hl, h);
        r->port = colon ? atoi(colon + 1) : 0;
        r->state = conn_state_name(c);
        r->nchans = c->nchans;
        r->tls = !strcmp(c->tr->name, "tls");
    }
    pthread_mutex_lock(&j->mu);
    if (n) {
        if (j->nrows + n > j->caprows) {
            j->caprows = j->nrows + n;
            j->rows = xrealloc(j->rows, j->caprows * sizeof *j->rows);
        }
        memcpy(j->rows + j->nrows, mine, n * sizeof *mine);
        j->nrows += n;
    }
    j->pending--;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    free(mine);
    wjob_unref(j);
}

static void on_worker_close(worker *w, void *arg) {
    wjob *j = arg;
    int found = 0;
    for (conn *c = wconns_list(w); c; c = c->next) {
        if (c->state >= CONN_CLOSING) continue;
        if (j->target) {
            if (c->id != j->target) continue;
        } else {
            char name[sizeof j->name];
            conn_name(c, name, sizeof name);
            if (strcmp(name, j->name)) continue;
        }
        found++;
        log_info("closing connection %s (id %llu) on request: %s", c->peer, (unsigned long long)c->id, j->reason);
        conn_error(c, AMQ_CONNECTION_FORCED, 0, "CONNECTION_FORCED - %s", j->reason);
        wconns_want_flush(w, c);
    }
    pthread_mutex_lock(&j->mu);
    j->found += found;
    j->pending--;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    wjob_unref(j);
}

/* Run fn on every worker and wait (5 s at most) for all of them. */
static wjob *on_all_workers(worker_fn fn, uint64_t target, const char *name, const char *reason, bool *ok) {
    int n = workers_count();
    wjob *j = xcalloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = n + 1;
    j->pending = n;
    j->target = target;
    snprintf(j->name, sizeof j->name, "%s", name ? name : "");
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

int admin_list_connections(admin_conn_row **rows, size_t *n) {
    bool ok;
    wjob *j = on_all_workers(on_worker_list, 0, NULL, NULL, &ok);
    *rows = NULL;
    *n = 0;
    if (ok) {
        pthread_mutex_lock(&j->mu);
        *rows = j->rows;
        *n = j->nrows;
        j->rows = NULL;
        pthread_mutex_unlock(&j->mu);
    }
    wjob_unref(j);
    return ok ? 0 : -1;
}

int admin_close_connection(uint64_t id, const char *name, const char *reason) {
    bool ok;
    wjob *j = on_all_workers(on_worker_close, id, name, reason, &ok);
    pthread_mutex_lock(&j->mu);
    int found = j->found;
    pthread_mutex_unlock(&j->mu);
    wjob_unref(j);
    return found ? found : ok ? 0 : -1;
}
