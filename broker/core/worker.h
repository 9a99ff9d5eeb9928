/* worker.h — I/O threads. Each worker owns an epoll loop, a 1 s tick and a
 * mailbox other threads post to. Like Redis's ae.c it knows no connection,
 * channel or queue: it calls the hooks the protocol layer registers once at
 * boot (worker_hooks; protocol/wconns.c keeps each worker's connections, their
 * timers and flush list). A connection and its channels never leave their
 * worker.
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

struct consumer;
struct queue;
struct msg;

enum mail_kind {
    MAIL_DELIVER,  /* m from q for consumer c (refs held on c, m, q) */
    MAIL_CANCEL,   /* queue of consumer c was deleted: notify the client */
    MAIL_CONN,     /* a new accepted socket fd (tls: from the TLS listener) */
    MAIL_SHUTDOWN, /* close every connection with 320 and exit */
    MAIL_KICK,     /* re-run dispatch for consumer c's queue (credit returned) */
    MAIL_LOG,      /* the durable log advanced: advance waiting channels */
    MAIL_CALL,     /* run a function on the worker (control socket); seq = the call */
    MAIL_REPLY,    /* a direct reply-to consumer drained or left: re-check held repliers */
};

typedef struct mail {
    uint8_t kind;
    uint8_t redelivered;
    uint8_t tls;
    struct consumer *c;
    struct msg *m;
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
bool worker_shutting_down(const worker *w);
/* A connection was added to w (nconns); one accepted connection is gone
 * (added: it had been added to w). Owner thread. */
void worker_conn_added(worker *w);
void worker_conn_closed(worker *w, bool added);

/* What the loop runs, registered once (main thread) before any worker starts.
 * Every hook runs on the worker's own thread. */
typedef struct worker_hooks {
    /* epoll reported events on an fd watched with ptr. */
    void (*event)(worker *w, void *ptr, uint32_t events);
    /* A mail of any kind but MAIL_CALL (run by the loop itself); for
     * MAIL_SHUTDOWN the loop has already set worker_shutting_down. */
    void (*mail)(worker *w, mail *m);
    /* End of a loop pass, after the mailbox is drained: flush, timers, reap.
     * tick: the 1 s tick is due. */
    void (*pass)(worker *w, uint64_t now, bool tick);
    /* The earliest timer the hooks want to wake up for (ms), 0 = none. */
    uint64_t (*next_due)(worker *w);
    /* Shutting down for since_ms: true once nothing is left, the loop ends. */
    bool (*stopped)(worker *w, uint64_t since_ms);
    /* The loop ended (after a last drain): release per-thread state. */
    void (*exit)(worker *w);
} worker_hooks;
void workers_set_hooks(const worker_hooks *h);
/* The hooks' own per-worker state (set once before the workers start). */
void *worker_data(const worker *w);
void worker_set_data(worker *w, void *data);
/* Run fn(w, arg) on w's thread (control path, not hot: allocates). Any thread.
 * A call posted after w exited never runs: stop callers before shutdown. */
typedef void (*worker_fn)(worker *w, void *arg);
void worker_call(worker *w, worker_fn fn, void *arg);
#endif
