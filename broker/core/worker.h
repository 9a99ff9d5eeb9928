/* worker.h — I/O threads. Each worker owns an epoll loop, the connections
 * assigned to it (a connection and its channels never leave their worker),
 * a 1 s tick for timeouts, per-connection timers (heartbeats), and a mailbox
 * other threads post to.
 *
 * The mailbox is the only cross-thread path: queues post deliveries for a
 * consumer to the consumer's worker. Posting appends under a short mutex;
 * the owner swaps the whole batch out at once. A worker is woken through its
 * eventfd only when its mailbox goes from empty to non-empty, and a post made
 * from a worker thread defers that eventfd write to the end of the poster's
 * loop pass, so no lock is ever held across the syscall and wake-ups are
 * batched per pass. */
#ifndef WARREN_WORKER_H
#define WARREN_WORKER_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "message.h"

struct consumer;
struct queue;
struct conn;

enum mail_kind {
    MAIL_DELIVER,  /* m from q for consumer c (refs held on c, m, q) */
    MAIL_CANCEL,   /* queue of consumer c was deleted: notify the client */
    MAIL_CONN,     /* a new accepted socket fd (tls: from the TLS listener) */
    MAIL_SHUTDOWN, /* close every connection with 320 and exit */
    MAIL_KICK,     /* re-run dispatch for consumer c's queue (credit returned) */
    MAIL_LOG,      /* the durable log advanced: advance waiting channels */
    MAIL_CALL,     /* run a function on the worker (control socket); seq = the call */
};

typedef struct mail {
    uint8_t kind;
    uint8_t redelivered;
    uint8_t tls;
    struct consumer *c;
    msg *m;
    struct queue *q;
    uint64_t seq;
    uint64_t exp; /* MAIL_DELIVER: the entry's expiry (kept if it is requeued) */
    int fd;
} mail;

typedef struct worker worker;

/* Create n workers (not started). */
worker **workers_create(int n);
int workers_count(void);
worker *worker_at(int i);
/* Start the thread of w. */
int worker_start(worker *w);
void worker_join(worker *w);
/* Post a mail to w; any thread. See the header comment for wake-ups. */
void worker_post(worker *w, const mail *m);
/* The worker running on this thread, or NULL on a non-worker thread. */
worker *worker_current(void);
int worker_id(const worker *w);
/* Connections accepted and not yet freed, on every worker (any thread):
 * the acceptor counts one in before posting it (connection_max). */
void workers_conn_accepted(void);
int workers_live_conns(void);
/* Number of live connections on w (approximate, any thread). */
int worker_conn_count(const worker *w);

/* Register fd with the epoll of the current worker; ptr comes back on events. */
int worker_watch(worker *w, int fd, uint32_t events, void *ptr);
int worker_rewatch(worker *w, int fd, uint32_t events, void *ptr);
void worker_unwatch(worker *w, int fd);
/* A connection wants its output flushed at the end of this pass. */
void worker_want_flush(worker *w, struct conn *c);
bool worker_shutting_down(const worker *w);
/* Channels of this worker waiting for the durable log (owner thread). */
struct channel;
void worker_wait_add(worker *w, struct channel *ch);
void worker_wait_del(worker *w, struct channel *ch);
/* A connection of w became memory-blocked (+1) or stopped being (-1). */
void worker_blocked(worker *w, int delta);
/* Per-connection timer with millisecond resolution (heartbeats): the worker
 * calls conn_timer(c, now) at or after `due` (owner thread only; one timer
 * per connection, re-arming moves it; due 0 disarms). conn_timer returns the
 * next due time, or 0 for none. A connection's timer goes with it. */
void worker_conn_timer(worker *w, struct conn *c, uint64_t due);
/* Run fn(w, arg) on w's thread (control path, not hot: allocates). Any thread.
 * A call posted after w exited never runs: stop callers before shutdown. */
typedef void (*worker_fn)(worker *w, void *arg);
void worker_call(worker *w, worker_fn fn, void *arg);
/* The connections of w (owner thread only, e.g. inside a worker_call). */
struct conn *worker_conns(worker *w);
/* The durable log advanced (or failed): wake every worker with waiting channels. Any thread. */
void workers_log_progress(void);
#endif
