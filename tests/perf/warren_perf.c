/* warren_perf.c — main of warren-perf: topology set-up, the run (producer and
 * consumer threads), per-second report and summary. See perf.h and --help. */
#include "perf.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "amq/table.h"

typedef struct {
    perf_opts o;
    perf_run run;
    perf_producer *prod;
    perf_consumer *cons;
    perf_conn setup;
    perf_sink sink;
    uint64_t t_cons, t_pub_end, drain_ns, preload_ns;
    uint64_t expected;
    bool drained;
    perf_hsnap last; /* histogram at the previous report */
    uint64_t last_pub, last_cons, last_report;
} perf_main;

static void main_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void main_raise_nofile(void) {
    struct rlimit r;
    if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

/* ---- topology ---- */

static void main_queue_args(const perf_opts *o, amq_wr *w) {
    size_t b = amq_table_begin(w);
    for (int i = 0; i < o->nqargs; i++) {
        const char *v = o->qarg_val[i];
        char *end;
        long long n = strtoll(v, &end, 10);
        amq_field f;
        if (*v && !*end) f = amq_field_i64(n);
        else if (!strcmp(v, "true") || !strcmp(v, "false")) f = amq_field_bool(v[0] == 't');
        else f = amq_field_str(amq_cstr(v));
        amq_table_put(w, o->qarg_key[i], &f);
    }
    amq_table_end(w, b);
}

static int main_declare_queue(perf_main *m, const char *name) {
    const perf_opts *o = &m->o;
    amq_wr args;
    amq_wr_init(&args);
    main_queue_args(o, &args);
    amq_queue_declare qd = {.queue = amq_cstr(name), .durable = o->durable,
                            .arguments = {args.data + 4, args.len - 4}};
    int rc = perf_conn_rpc(&m->setup, AMQ_QUEUE_DECLARE, &qd, AMQ_QUEUE_DECLARE_OK, NULL);
    amq_wr_destroy(&args);
    amq_queue_purge qp = {.queue = amq_cstr(name)};
    if (!rc) rc = perf_conn_rpc(&m->setup, AMQ_QUEUE_PURGE, &qp, AMQ_QUEUE_PURGE_OK, NULL);
    if (!rc && o->exchange_type[0]) {
        amq_queue_bind qb = {.queue = amq_cstr(name), .exchange = amq_cstr(o->exchange),
                             .routing_key = amq_cstr(name)};
        rc = perf_conn_rpc(&m->setup, AMQ_QUEUE_BIND, &qb, AMQ_QUEUE_BIND_OK, NULL);
    }
    return rc;
}

static int main_topology(perf_main *m) {
    const perf_opts *o = &m->o;
    if (perf_conn_open(&m->setup, o)) return -1;
    if (o->sink) return 0;
    if (o->exchange_type[0]) {
        amq_exchange_declare ed = {.exchange = amq_cstr(o->exchange), .type = amq_cstr(o->exchange_type),
                                   .durable = o->durable};
        if (perf_conn_rpc(&m->setup, AMQ_EXCHANGE_DECLARE, &ed, AMQ_EXCHANGE_DECLARE_OK, NULL)) return -1;
    }
    for (int i = 0; i < o->queues; i++) {
        char q[256];
        perf_opts_queue_name(o, i, q, sizeof q);
        if (main_declare_queue(m, q)) return -1;
    }
    return 0;
}

static void main_teardown(perf_main *m) {
    const perf_opts *o = &m->o;
    if (m->setup.fd < 0 || o->keep || o->sink) return;
    for (int i = 0; i < o->queues; i++) {
        char q[256];
        perf_opts_queue_name(o, i, q, sizeof q);
        amq_queue_delete qd = {.queue = amq_cstr(q)};
        if (perf_conn_rpc(&m->setup, AMQ_QUEUE_DELETE, &qd, AMQ_QUEUE_DELETE_OK, NULL)) return;
    }
    if (o->exchange_type[0]) {
        amq_exchange_delete ed = {.exchange = amq_cstr(o->exchange)};
        perf_conn_rpc(&m->setup, AMQ_EXCHANGE_DELETE, &ed, AMQ_EXCHANGE_DELETE_OK, NULL);
    }
}

/* ---- threads ---- */

static void main_start_consumers(perf_main *m) {
    const perf_opts *o = &m->o;
    m->cons = calloc((size_t)o->consumers + 1, sizeof *m->cons);
    for (int i = 0; i < o->consumers; i++) {
        perf_consumer *c = &m->cons[i];
        c->id = i;
        c->run = &m->run;
        perf_opts_queue_name(o, i % o->queues, c->queue, sizeof c->queue);
        pthread_create(&c->th, NULL, perf_client_consumer, c);
    }
    while (atomic_load(&m->run.consumers_ready) < o->consumers) main_sleep_ms(1);
}

static void main_start_producers(perf_main *m) {
    const perf_opts *o = &m->o;
    m->prod = calloc((size_t)o->producers + 1, sizeof *m->prod);
    for (int i = 0; i < o->producers; i++) {
        perf_producer *p = &m->prod[i];
        p->id = i;
        p->run = &m->run;
        if (o->sink) {
            snprintf(p->exchange, sizeof p->exchange, "amq.direct");
            snprintf(p->routing_key, sizeof p->routing_key, "warren-perf.sink.unrouted");
        } else {
            if (o->exchange_type[0]) snprintf(p->exchange, sizeof p->exchange, "%s", o->exchange);
            perf_opts_queue_name(o, i % o->queues, p->routing_key, sizeof p->routing_key);
        }
        pthread_create(&p->th, NULL, perf_client_producer, p);
    }
}

/* ---- counters ---- */

static uint64_t main_published(const perf_main *m) {
    uint64_t n = 0;
    for (int i = 0; i < m->o.producers; i++) n += atomic_load(&m->prod[i].published);
    return n;
}

static uint64_t main_consumed(const perf_main *m) {
    uint64_t n = 0;
    for (int i = 0; i < m->o.consumers; i++) n += atomic_load(&m->cons[i].consumed);
    return n;
}

/* Number of queues that have a consumer (consumer i reads queue i mod N). */
static uint64_t main_served(const perf_opts *o) {
    uint64_t served = 0;
    for (int q = 0; q < o->queues; q++) served += o->consumers > q;
    return served;
}

/* Messages routed to queues that have a consumer, preload included. */
static uint64_t main_expected(const perf_main *m) {
    const perf_opts *o = &m->o;
    uint64_t n = 0, served = main_served(o);
    if (o->sink || !o->consumers) return 0;
    n = (uint64_t)o->preload * served;
    if (!strcmp(o->exchange_type, "fanout")) return n + main_published(m) * served;
    for (int i = 0; i < o->producers; i++)
        if (o->consumers > i % o->queues) n += atomic_load(&m->prod[i].published);
    return n;
}

static void main_hist(const perf_main *m, perf_hsnap *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < m->o.consumers; i++) perf_hist_add(s, &m->cons[i].hist);
}

/* ---- report ---- */

static void main_report_line(perf_main *m, uint64_t now) {
    static perf_hsnap cur, d;
    uint64_t pub = main_published(m), cons = main_consumed(m);
    if (m->o.self_test) cons = atomic_load(&m->sink.publishes);
    double dt = (double)(now - m->last_report) / 1e9;
    main_hist(m, &cur);
    perf_hist_diff(&d, &cur, &m->last);
    FILE *out = m->o.json ? stderr : stdout;
    fprintf(out, "%6.1fs  published %9.0f msg/s  %s %9.0f msg/s  latency p50 %8.1f us  p99 %8.1f us\n",
            (double)(now - m->run.t0) / 1e9, (double)(pub - m->last_pub) / dt,
            m->o.self_test ? "sink-read" : "consumed", (double)(cons - m->last_cons) / dt,
            (double)perf_hist_quantile(&d, 0.5) / 1e3, (double)perf_hist_quantile(&d, 0.99) / 1e3);
    fflush(out);
    m->last = cur;
    m->last_pub = pub;
    m->last_cons = cons;
    m->last_report = now;
}

/* Wait for the publish phase (time or count), reporting every second. */
static void main_publish_phase(perf_main *m) {
    const perf_opts *o = &m->o;
    uint64_t end = o->time_s > 0 ? m->run.t0 + (uint64_t)(o->time_s * 1e9) : UINT64_MAX;
    for (;;) {
        main_sleep_ms(5);
        uint64_t now = perf_now_ns();
        if (o->preload && !m->drain_ns && main_consumed(m) >= (uint64_t)o->preload * main_served(o))
            m->drain_ns = now - m->t_cons;
        if (!o->quiet && now - m->last_report >= 1000000000ull) main_report_line(m, now);
        int done = 0;
        for (int i = 0; i < o->producers; i++) done += atomic_load(&m->prod[i].done);
        if (now >= end || done == o->producers || atomic_load(&m->run.failed)) break;
    }
    atomic_store(&m->run.stop_producers, 1);
    m->t_pub_end = perf_now_ns();
    for (int i = 0; i < o->producers; i++) pthread_join(m->prod[i].th, NULL);
    if (o->count && !(o->time_s > 0)) {
        m->t_pub_end = m->run.t0;
        for (int i = 0; i < o->producers; i++)
            if (m->prod[i].end_ns > m->t_pub_end) m->t_pub_end = m->prod[i].end_ns;
    }
}

/* Let consumers receive what was routed to them (up to --drain-timeout). */
static void main_drain_phase(perf_main *m) {
    const perf_opts *o = &m->o;
    uint64_t deadline = perf_now_ns() + (uint64_t)(o->drain_timeout * 1e9);
    m->expected = main_expected(m);
    while (o->consumers && !atomic_load(&m->run.failed)) {
        uint64_t now = perf_now_ns();
        if (main_consumed(m) >= m->expected || now > deadline) break;
        if (!o->quiet && now - m->last_report >= 1000000000ull) main_report_line(m, now);
        main_sleep_ms(5);
    }
    m->drained = main_consumed(m) == m->expected;
    atomic_store(&m->run.stop_consumers, 1);
    for (int i = 0; i < o->consumers; i++) pthread_join(m->cons[i].th, NULL);
}

static void main_summary(perf_main *m) {
    const perf_opts *o = &m->o;
    uint64_t pub = main_published(m), cons = main_consumed(m), conf = 0, nack = 0, last = 0;
    for (int i = 0; i < o->producers; i++) conf += m->prod[i].confirmed, nack += m->prod[i].nacked;
    for (int i = 0; i < o->consumers; i++)
        if (m->cons[i].last_ns > last) last = m->cons[i].last_ns;
    uint64_t cons_from = o->preload ? m->t_cons : m->run.t0;
    double psecs = (double)(m->t_pub_end - m->run.t0) / 1e9;
    double csecs = last > cons_from ? (double)(last - cons_from) / 1e9 : 0;
    static perf_hsnap h;
    main_hist(m, &h);
    double q[4] = {perf_hist_quantile(&h, 0.5) / 1e3, perf_hist_quantile(&h, 0.95) / 1e3,
                   perf_hist_quantile(&h, 0.99) / 1e3, h.max / 1e3};
    double prate = psecs > 0 ? (double)pub / psecs : 0, crate = csecs > 0 ? (double)cons / csecs : 0;
    double dsecs = (double)m->drain_ns / 1e9, drate = dsecs > 0 ? (double)o->preload * (double)main_served(o) / dsecs : 0;
    double prerate = o->preload && m->preload_ns ? (double)o->preload * o->queues / ((double)m->preload_ns / 1e9) : 0;
    uint64_t sinkn = o->self_test ? atomic_load(&m->sink.publishes) : 0;
    if (o->json) {
        printf("{\"producers\":%d,\"consumers\":%d,\"queues\":%d,\"size\":%ld,\"persistent\":%s,\"confirm\":%ld,"
               "\"prefetch\":%ld,\"multi_ack\":%ld,\"autoack\":%s,\"rate_limit\":%.0f,\"exchange_type\":\"%s\","
               "\"mode\":\"%s\",\"secs\":%.3f,\"published\":%llu,\"confirmed\":%llu,\"nacked\":%llu,"
               "\"consumed\":%llu,\"expected\":%llu,\"drained\":%s,\"publish_rate\":%.0f,\"consume_rate\":%.0f,"
               "\"consume_secs\":%.3f,\"lat_p50_us\":%.1f,\"lat_p95_us\":%.1f,\"lat_p99_us\":%.1f,"
               "\"lat_max_us\":%.1f,\"preload\":%ld,\"preload_rate\":%.0f,\"drain_secs\":%.3f,\"drain_rate\":%.0f,"
               "\"sink_received\":%llu,\"failed\":%s}\n",
               o->producers, o->consumers, o->queues, o->size, o->persistent ? "true" : "false", o->confirm,
               o->prefetch, o->multi_ack, o->autoack ? "true" : "false", o->rate, o->exchange_type,
               o->self_test ? "self-test" : o->sink ? "sink" : "load", psecs, (unsigned long long)pub,
               (unsigned long long)conf, (unsigned long long)nack, (unsigned long long)cons,
               (unsigned long long)m->expected, m->drained ? "true" : "false", prate, crate, csecs, q[0], q[1],
               q[2], q[3], o->preload, prerate, dsecs, drate, (unsigned long long)sinkn,
               atomic_load(&m->run.failed) ? "true" : "false");
        return;
    }
    printf("summary: %.2f s publishing\n", psecs);
    printf("  published %llu msgs, %.0f msg/s", (unsigned long long)pub, prate);
    if (o->confirm) printf(" (confirmed %llu, nacked %llu)", (unsigned long long)conf, (unsigned long long)nack);
    printf("\n  consumed  %llu msgs, %.0f msg/s (expected %llu: %s)\n", (unsigned long long)cons, crate,
           (unsigned long long)m->expected, m->drained ? "drained" : "NOT drained");
    if (o->self_test) printf("  sink read %llu publishes\n", (unsigned long long)sinkn);
    if (o->preload)
        printf("  backlog of %ld preloaded at %.0f msg/s, drained in %.3f s: %.0f msg/s\n", o->preload, prerate, dsecs,
               drate);
    printf("  latency us: p50 %.1f  p95 %.1f  p99 %.1f  max %.1f\n", q[0], q[1], q[2], q[3]);
}

/* ---- modes ---- */

static int main_idle(perf_main *m) {
    const perf_opts *o = &m->o;
    uint64_t t = perf_now_ns();
    long n = 0;
    int threads = o->idle_conns < 16 ? (int)o->idle_conns : 16;
    perf_conn *c = perf_client_idle_open(o, threads < 1 ? 1 : threads, &n);
    double open_s = (double)(perf_now_ns() - t) / 1e9;
    fprintf(stderr, "warren-perf: ready: %ld idle connections open in %.2f s\n", n, open_s);
    fflush(stderr);
    if (n == o->idle_conns) main_sleep_ms((int)(o->time_s * 1000));
    for (long i = 0; i < o->idle_conns; i++)
        if (c[i].fd >= 0) close(c[i].fd);
    free(c);
    if (o->json)
        printf("{\"mode\":\"idle\",\"idle_connections\":%ld,\"opened\":%ld,\"open_secs\":%.3f}\n", o->idle_conns, n,
               open_s);
    else
        printf("opened %ld of %ld idle connections in %.2f s\n", n, o->idle_conns, open_s);
    return n == o->idle_conns ? 0 : 1;
}

static int main_load(perf_main *m) {
    const perf_opts *o = &m->o;
    if (o->self_test) {
        if (perf_client_sink_start(&m->sink)) return 1;
        m->run.self_test_host = "127.0.0.1";
        m->run.self_test_port = m->sink.port;
    } else if (main_topology(m)) {
        fprintf(stderr, "warren-perf: set-up: %s\n", m->setup.err);
        return 1;
    }
    uint64_t tp = perf_now_ns();
    for (int i = 0; o->preload && i < o->queues; i++) {
        char q[256];
        perf_opts_queue_name(o, i, q, sizeof q);
        if (perf_client_preload(o, q, o->preload)) {
            fprintf(stderr, "warren-perf: preload of %s failed\n", q);
            return 1;
        }
    }
    m->t_cons = perf_now_ns();
    m->preload_ns = m->t_cons - tp;
    main_start_consumers(m);
    if (atomic_load(&m->run.failed)) return 1;
    m->run.t0 = m->last_report = perf_now_ns();
    main_start_producers(m);
    main_publish_phase(m);
    main_drain_phase(m);
    if (o->self_test) {
        for (int i = 0; i < 100 && atomic_load(&m->sink.publishes) < main_published(m); i++) main_sleep_ms(10);
        perf_client_sink_stop(&m->sink);
    }
    main_teardown(m);
    main_summary(m);
    return atomic_load(&m->run.failed) ? 1 : 0;
}

int main(int argc, char **argv) {
    static perf_main m;
    m.setup.fd = -1;
    int r = perf_opts_parse(&m.o, argc, argv);
    if (r) return r > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    main_raise_nofile();
    m.run.o = &m.o;
    int rc = m.o.idle_conns ? main_idle(&m) : main_load(&m);
    if (m.setup.rbuf) perf_conn_close(&m.setup);
    else perf_conn_destroy(&m.setup);
    free(m.prod);
    free(m.cons);
    return rc;
}
