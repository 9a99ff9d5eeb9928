/* perf.h — shared declarations of warren-perf, an AMQP 0-9-1 load tool in the
 * spirit of RabbitMQ's PerfTest and lavinmqperf. One thread per connection,
 * non-blocking sockets driven with poll(), frames encoded and parsed with our
 * own wire library (amq_*). Prefixes: perf_conn_ (perf_conn.c), perf_hist_
 * (perf_hist.c), perf_client_ (perf_client.c), perf_opts_ (perf_opts.c). */
#ifndef WARREN_PERF_H
#define WARREN_PERF_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amq/buf.h"
#include "amq/frame.h"
#include "amq/methods.h"

/* ---- options (perf_opts.c) ---- */
#define PERF_MAX_QARGS 16

typedef struct {
    char host[256], user[128], pass[128], vhost[128];
    int port;
    int producers, consumers, queues;
    char queue[256];     /* --queue NAME: a single named queue ("" = generated names) */
    char exchange_type[16]; /* "" = default exchange; direct | fanout | topic */
    char exchange[256];  /* name of the declared exchange */
    const char *qarg_key[PERF_MAX_QARGS], *qarg_val[PERF_MAX_QARGS];
    int nqargs;
    long size;
    bool persistent, durable, autoack, json, quiet, sink, self_test, keep;
    long confirm;        /* publisher confirms in flight, 0 = no confirms */
    long prefetch;       /* basic.qos prefetch-count, 0 = unlimited */
    long multi_ack;      /* ack every N deliveries with multiple=true */
    double rate;         /* msgs/s per producer, 0 = as fast as possible */
    double time_s;       /* publish phase length, 0 = until --count */
    long count;          /* messages per producer, 0 = until --time */
    double drain_timeout; /* seconds to wait for consumers after publishing */
    long preload;        /* messages put in each queue before consumers start */
    long idle_conns;     /* --idle-connections N: open N idle connections */
    long batch_bytes;    /* bytes of publishes per write */
} perf_opts;

/* Parse argv into *o (defaults first). Returns 0 ok, 1 when --help was
 * printed, -1 on a bad option (message on stderr). Not thread-safe. */
int perf_opts_parse(perf_opts *o, int argc, char **argv);
/* Name of queue i (0 <= i < o->queues) into buf. Pure. */
void perf_opts_queue_name(const perf_opts *o, int i, char *buf, size_t len);

/* ---- latency histogram (perf_hist.c) ----
 * Log-linear buckets of nanoseconds, 32 per power of two (~3% precision).
 * A perf_hist is written by one thread (relaxed atomics) and may be read by
 * another at any time. */
#define PERF_HIST_N (64 + 58 * 32)
typedef struct {
    _Atomic uint64_t b[PERF_HIST_N];
    _Atomic uint64_t max;
} perf_hist;
/* A plain snapshot (sums and differences of perf_hist). */
typedef struct {
    uint64_t b[PERF_HIST_N];
    uint64_t max, n;
} perf_hsnap;
/* Record one value (ns). Owner thread only. */
void perf_hist_record(perf_hist *h, uint64_t ns);
/* Add h's current counts into s (s->n and s->max updated). Any thread. */
void perf_hist_add(perf_hsnap *s, const perf_hist *h);
/* d = a - b bucket-wise (a newer than b); d->max is a->max. Pure. */
void perf_hist_diff(perf_hsnap *d, const perf_hsnap *a, const perf_hsnap *b);
/* Value (ns) at quantile q in [0,1]; 0 when empty. Pure. */
uint64_t perf_hist_quantile(const perf_hsnap *s, double q);

/* ---- one AMQP connection (perf_conn.c) ---- */
typedef struct {
    int fd;
    uint8_t *rbuf;     /* received bytes [roff, rlen) not yet parsed */
    size_t rcap, rlen, roff;
    amq_wr w;          /* bytes waiting to be written */
    uint32_t frame_max;
    char err[256];     /* last error, human readable */
} perf_conn;

/* Connect to host:port (TCP_NODELAY, non-blocking) and run the AMQP
 * handshake (PLAIN user/pass, heartbeat 0) up to an open channel 1.
 * Returns 0, or -1 with c->err set; the caller then still calls
 * perf_conn_destroy. */
int perf_conn_open(perf_conn *c, const perf_opts *o);
/* Connect only (no AMQP), for --self-test. 0 or -1 with c->err set. */
int perf_conn_connect(perf_conn *c, const char *host, int port);
/* Close the socket and free the buffers; safe on a zeroed conn. */
void perf_conn_destroy(perf_conn *c);
/* connection.close and wait up to 2 s for close-ok; then destroy. */
void perf_conn_close(perf_conn *c);
/* Write all of c->w, waiting with poll (timeout_ms overall). 0 or -1. */
int perf_conn_flush(perf_conn *c, int timeout_ms);
/* Read what is available without blocking. Returns bytes read (> 0),
 * 0 when nothing is available, -1 on EOF/error (c->err set). */
int perf_conn_read(perf_conn *c);
/* Next complete frame from the buffer without reading: 1 got one (payload
 * valid until the next read), 0 need more input, -1 malformed. */
int perf_conn_frame(perf_conn *c, amq_frame *f);
/* Handle a frame that is neither expected nor routine: connection.close and
 * channel.close are answered and turned into -1 with c->err set; anything
 * else returns 0 (ignored). */
int perf_conn_unexpected(perf_conn *c, const amq_frame *f);
/* Send a method on channel 1 and wait (up to 10 s) for `reply`; *out (may be
 * NULL) gets the decoded reply, borrowing the read buffer. 0 or -1. */
int perf_conn_rpc(perf_conn *c, uint32_t id, const void *fields, uint32_t reply, amq_method *out);
/* Wait up to timeout_ms for the socket to become readable (and writable
 * when want_write). Returns poll's revents, 0 on timeout. */
int perf_conn_wait(perf_conn *c, bool want_write, int timeout_ms);

/* ---- producers, consumers, idle connections, sink (perf_client.c) ---- */
typedef struct {
    const perf_opts *o;
    atomic_int stop_producers, stop_consumers, failed;
    atomic_int consumers_ready;
    uint64_t t0;       /* publish start, monotonic ns */
    const char *self_test_host;
    int self_test_port;
} perf_run;

typedef struct {
    int id;
    perf_run *run;
    pthread_t th;
    char exchange[256], routing_key[256];
    _Atomic uint64_t published, confirmed, nacked, end_ns;
    atomic_int done;
} perf_producer;

typedef struct {
    int id;
    perf_run *run;
    pthread_t th;
    char queue[256];
    _Atomic uint64_t consumed, last_ns;
    perf_hist hist;
} perf_consumer;

/* Thread bodies (arg is the perf_producer / perf_consumer). */
void *perf_client_producer(void *arg);
void *perf_client_consumer(void *arg);
/* Publish n messages of o->size into queue (default exchange) with
 * confirms, before the run. 0 or -1. Caller's thread. */
int perf_client_preload(const perf_opts *o, const char *queue, long n);
/* Open o->idle_conns connections with `threads` threads; returns the
 * array of open connections (*nopen set), to be closed by the caller. */
perf_conn *perf_client_idle_open(const perf_opts *o, int threads, long *nopen);
/* --self-test sink: a listener on 127.0.0.1 (port chosen by the kernel)
 * whose connections are read and parsed frame by frame; counts publishes. */
typedef struct {
    int lfd, port;
    pthread_t th;
    atomic_int stop;
    _Atomic uint64_t publishes, bytes;
} perf_sink;
int perf_client_sink_start(perf_sink *s);
void perf_client_sink_stop(perf_sink *s);

/* Monotonic clock in ns. */
uint64_t perf_now_ns(void);
#endif
