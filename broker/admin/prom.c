/* prom.c — the Prometheus endpoint (prom.h). One libmicrohttpd daemon with
 * its own polling thread; a scrape sums the per-worker counters and walks
 * the queues (each vhost under its shared lock, copying numbers only), then
 * formats outside every lock. */
#include "prom.h"

#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "config.h"
#include "mstats.h"
#include "util.h"
#include "worker.h"

static struct MHD_Daemon *daemon_;
static int listen_fd = -1;
static uint64_t start_wall_ms, start_mono_ms;
static char *cache; /* the last /metrics/per-object text, of sample cache_gen (the server's thread only) */
static size_t cache_len;
static uint64_t cache_gen;

/* ---- a growing text buffer ---- */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = b->cap * 2 + (k > 0 ? (size_t)k : 0) + 256;
        b->p = xrealloc(b->p, b->cap);
    }
}

static void sb_put(sbuf *b, const char *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* A decimal number and a newline. */
static void sb_u64(sbuf *b, uint64_t v) {
    char t[24];
    int i = (int)sizeof t;
    t[--i] = '\n';
    do t[--i] = (char)('0' + v % 10);
    while (v /= 10);
    sb_put(b, t + i, sizeof t - (size_t)i);
}

/* A label value, escaped as the text format wants (\\, \", \n). */
static void sb_label(sbuf *b, const char *s) {
    const char *run = s;
    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
        if (!esc) continue;
        sb_put(b, run, (size_t)(s - run));
        sb_put(b, esc, 2);
        run = s + 1;
    }
    sb_put(b, run, (size_t)(s - run));
}

static void head(sbuf *b, const char *name, const char *type, const char *help) {
    sb_printf(b, "# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
}
static void metric_u(sbuf *b, const char *name, const char *type, const char *help, uint64_t v) {
    head(b, name, type, help);
    sb_printf(b, "%s %llu\n", name, (unsigned long long)v);
}
static void metric_d(sbuf *b, const char *name, const char *type, const char *help, double v) {
    head(b, name, type, help);
    sb_printf(b, "%s %.3f\n", name, v);
}

/* ---- process figures ---- */

static uint64_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    uint64_t n = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n ? n - 1 : 0; /* not the directory's own fd */
}

/* ---- the scrape ---- */

/* The node's counters with RabbitMQ's names: (name, help, counter, labels). */
typedef struct {
    const char *name, *help;
    int ctr;    /* STAT_*, or -1 for a sum given below */
    bool qtype; /* labelled queue_type="rabbit_classic_queue" as well as protocol */
} gmetric;

enum { SUM_DELIVERED = -2 };

static const gmetric globals[] = {
    {"rabbitmq_global_messages_received_total", "Total number of messages received from publishers", STAT_PUBLISH,
     false},
    {"rabbitmq_global_messages_received_confirm_total",
     "Total number of messages received from publishers expecting confirmations", STAT_PUBLISH_CONFIRM, false},
    {"rabbitmq_global_messages_routed_total", "Total number of messages routed to queues or streams", STAT_ROUTED,
     false},
    {"rabbitmq_global_messages_unroutable_dropped_total",
     "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
     STAT_DROP_UNROUTABLE, false},
    {"rabbitmq_global_messages_unroutable_returned_total",
     "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
     STAT_RETURN_UNROUTABLE, false},
    {"rabbitmq_global_messages_confirmed_total", "Total number of messages confirmed to publishers", STAT_CONFIRM,
     false},
    {"rabbitmq_global_messages_delivered_total", "Total number of messages delivered to consumers", SUM_DELIVERED,
     true},
    {"rabbitmq_global_messages_delivered_consume_manual_ack_total",
     "Total number of messages delivered to consumers using basic.consume with manual acknowledgment", STAT_DELIVER,
     true},
    {"rabbitmq_global_messages_delivered_consume_auto_ack_total",
     "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment",
     STAT_DELIVER_NO_ACK, true},
    {"rabbitmq_global_messages_delivered_get_manual_ack_total",
     "Total number of messages delivered to consumers using basic.get with manual acknowledgment", STAT_GET, true},
    {"rabbitmq_global_messages_delivered_get_auto_ack_total",
     "Total number of messages delivered to consumers using basic.get with automatic acknowledgment", STAT_GET_NO_ACK,
     true},
    {"rabbitmq_global_messages_get_empty_total", "Total number of times basic.get operations fetched no message",
     STAT_GET_EMPTY, true},
    {"rabbitmq_global_messages_redelivered_total", "Total number of messages redelivered to consumers", STAT_REDELIVER,
     true},
    {"rabbitmq_global_messages_acknowledged_total", "Total number of messages acknowledged by consumers", STAT_ACK,
     true},
};

/* Channel totals as rabbitmq_channel_* (the aggregated endpoint sums channels). */
static const struct {
    const char *name, *help;
    int ctr;
} channel_totals[] = {
    {"rabbitmq_channel_messages_published_total", "Total number of messages published into an exchange on a channel",
     STAT_PUBLISH},
    {"rabbitmq_channel_messages_confirmed_total",
     "Total number of messages published into an exchange and confirmed on the channel", STAT_CONFIRM},
    {"rabbitmq_channel_messages_unroutable_returned_total",
     "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
     STAT_RETURN_UNROUTABLE},
    {"rabbitmq_channel_messages_unroutable_dropped_total",
     "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
     STAT_DROP_UNROUTABLE},
    {"rabbitmq_channel_get_ack_total", "Total number of messages fetched with basic.get in manual acknowledgement mode",
     STAT_GET},
    {"rabbitmq_channel_get_total", "Total number of messages fetched with basic.get in automatic acknowledgement mode",
     STAT_GET_NO_ACK},
    {"rabbitmq_channel_messages_delivered_ack_total",
     "Total number of messages delivered to consumers in manual acknowledgement mode", STAT_DELIVER},
    {"rabbitmq_channel_messages_delivered_total",
     "Total number of messages delivered to consumers in automatic acknowledgement mode", STAT_DELIVER_NO_ACK},
    {"rabbitmq_channel_messages_redelivered_total", "Total number of messages redelivered to consumers",
     STAT_REDELIVER},
    {"rabbitmq_channel_messages_acked_total", "Total number of messages acknowledged by consumers", STAT_ACK},
    {"rabbitmq_channel_get_empty_total", "Total number of times basic.get operations fetched no message",
     STAT_GET_EMPTY},
};

/* Per-queue gauges and counters: name, help, type, which field. */
enum { QF_READY, QF_UNACKED, QF_MESSAGES, QF_CONSUMERS, QF_PUBLISHED };
static const struct {
    const char *name, *type, *help;
    int field;
} qmetrics[] = {
    {"rabbitmq_queue_messages_ready", "gauge", "Messages ready to be delivered to consumers", QF_READY},
    {"rabbitmq_queue_messages_unacked", "gauge", "Messages delivered to consumers but not yet acknowledged",
     QF_UNACKED},
    {"rabbitmq_queue_messages", "gauge", "Sum of ready and unacknowledged messages - total queue depth", QF_MESSAGES},
    {"rabbitmq_queue_consumers", "gauge", "Consumers on a queue", QF_CONSUMERS},
    {"rabbitmq_queue_messages_published_total", "counter", "Total number of messages published to queues",
     QF_PUBLISHED},
};

static uint64_t qfield(const mq_row *r, int f) {
    switch (f) {
    case QF_READY: return r->ready;
    case QF_UNACKED: return r->unacked;
    case QF_MESSAGES: return (uint64_t)r->ready + r->unacked;
    case QF_CONSUMERS: return r->consumers;
    default: return r->st[QST_PUBLISH];
    }
}

static uint64_t sat_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

char *prom_render(bool per_object, size_t *len) {
    uint64_t g[STAT_N];
    mstats_global(g);
    mq_row *rows;
    size_t nq = mstats_queues(&rows);
    uint64_t consumers = 0;
    for (size_t i = 0; i < nq; i++) consumers += rows[i].consumers;
    sbuf b = {.cap = 16384 + (per_object ? nq * 600 : 0)};
    b.p = xmalloc(b.cap);

    /* node identity and versions (the Grafana dashboards join on identity_info) */
    head(&b, "rabbitmq_identity_info", "untyped", "RabbitMQ node & cluster identity info");
    sb_printf(&b, "rabbitmq_identity_info{rabbitmq_node=\"");
    sb_label(&b, node_name());
    sb_printf(&b, "\",rabbitmq_cluster=\"");
    sb_label(&b, config.cluster_name);
    sb_printf(&b, "\",rabbitmq_cluster_permanent_id=\"");
    sb_label(&b, config.cluster_name);
    sb_printf(&b, "\"} 1\n");
    head(&b, "rabbitmq_build_info", "untyped", "RabbitMQ & Erlang/OTP version info");
    sb_printf(&b, "rabbitmq_build_info{rabbitmq_version=\"");
    sb_label(&b, config.product_version);
    sb_printf(&b, "\",prometheus_plugin_version=\"%s\",prometheus_client_version=\"%s\",erlang_version=\"none\"} 1\n",
              WARREN_VERSION, WARREN_VERSION);
    metric_d(&b, "rabbitmq_erlang_uptime_seconds", "gauge", "Node uptime", (double)(now_ms() - start_mono_ms) / 1000.0);
    metric_u(&b, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
             start_wall_ms / 1000);

    /* resources and alarms */
    int64_t limit = config.memory_limit;
    bool disk_alarm = disk_alarm_on();
    metric_u(&b, "rabbitmq_alarms_file_descriptor_limit", "untyped", "is 1 if file descriptor limit alarm is in effect",
             0);
    metric_u(&b, "rabbitmq_alarms_free_disk_space_watermark", "untyped",
             "is 1 if free disk space watermark alarm is in effect", disk_alarm);
    metric_u(&b, "rabbitmq_alarms_memory_used_watermark", "untyped", "is 1 if VM memory watermark alarm is in effect",
             limit > 0 && mem_used() > limit);
    struct rlimit rl = {0};
    getrlimit(RLIMIT_NOFILE, &rl);
    uint64_t maxfds = rl.rlim_cur == RLIM_INFINITY ? 1048576 : (uint64_t)rl.rlim_cur;
    metric_u(&b, "rabbitmq_process_open_fds", "gauge", "Open file descriptors", open_fds());
    metric_u(&b, "rabbitmq_process_open_tcp_sockets", "gauge", "Open TCP sockets", (uint64_t)workers_live_conns());
    metric_u(&b, "rabbitmq_process_resident_memory_bytes", "gauge", "Memory used in bytes", rss_bytes());
    struct statvfs fs;
    uint64_t disk_free = 0;
    if (!statvfs(config.data_dir, &fs)) disk_free = (uint64_t)fs.f_bavail * (uint64_t)fs.f_frsize;
    metric_u(&b, "rabbitmq_disk_space_available_bytes", "gauge", "Disk space available in bytes", disk_free);
    metric_u(&b, "rabbitmq_process_max_fds", "gauge", "Open file descriptors limit", maxfds);
    metric_u(&b, "rabbitmq_process_max_tcp_sockets", "gauge", "Open TCP sockets limit",
             config.connection_max ? config.connection_max : maxfds);
    metric_u(&b, "rabbitmq_resident_memory_limit_bytes", "gauge", "Memory high watermark in bytes",
             limit > 0 ? (uint64_t)limit : 0);
    metric_u(&b, "rabbitmq_disk_space_available_limit_bytes", "gauge", "Free disk space low watermark in bytes",
             config.disk_free_limit > 0 ? (uint64_t)config.disk_free_limit : 0);

    /* churn */
    metric_u(&b, "rabbitmq_connections_opened_total", "counter", "Total number of connections opened",
             g[STAT_CONN_OPENED]);
    metric_u(&b, "rabbitmq_connections_closed_total", "counter", "Total number of connections closed or terminated",
             g[STAT_CONN_CLOSED]);
    metric_u(&b, "rabbitmq_channels_opened_total", "counter", "Total number of channels opened", g[STAT_CH_OPENED]);
    metric_u(&b, "rabbitmq_channels_closed_total", "counter", "Total number of channels closed", g[STAT_CH_CLOSED]);
    metric_u(&b, "rabbitmq_queues_declared_total", "counter", "Total number of queues declared", g[STAT_Q_DECLARED]);
    metric_u(&b, "rabbitmq_queues_created_total", "counter", "Total number of queues created", g[STAT_Q_CREATED]);
    metric_u(&b, "rabbitmq_queues_deleted_total", "counter", "Total number of queues deleted", g[STAT_Q_DELETED]);

    /* queues: summed (aggregated) or one sample per queue (per-object); a queue's
     * escaped labels are formatted once and copied into each of its samples */
    sbuf lab = {0};
    size_t *lab_off = NULL;
    if (per_object && nq) {
        lab.cap = nq * 48;
        lab.p = xmalloc(lab.cap);
        lab_off = xmalloc((nq + 1) * sizeof *lab_off);
        for (size_t i = 0; i < nq; i++) {
            lab_off[i] = lab.n;
            sb_put(&lab, "{vhost=\"", 8);
            sb_label(&lab, rows[i].vhost);
            sb_put(&lab, "\",queue=\"", 9);
            sb_label(&lab, rows[i].name);
            sb_put(&lab, "\"} ", 3);
        }
        lab_off[nq] = lab.n;
    }
    for (size_t m = 0; m < sizeof qmetrics / sizeof qmetrics[0]; m++) {
        head(&b, qmetrics[m].name, qmetrics[m].type, qmetrics[m].help);
        if (!per_object) {
            uint64_t sum = 0;
            for (size_t i = 0; i < nq; i++) sum += qfield(&rows[i], qmetrics[m].field);
            sb_printf(&b, "%s %llu\n", qmetrics[m].name, (unsigned long long)sum);
            continue;
        }
        size_t nl = strlen(qmetrics[m].name);
        for (size_t i = 0; i < nq; i++) {
            sb_put(&b, qmetrics[m].name, nl);
            sb_put(&b, lab.p + lab_off[i], lab_off[i + 1] - lab_off[i]);
            sb_u64(&b, qfield(&rows[i], qmetrics[m].field));
        }
    }
    free(lab.p);
    free(lab_off);
    /* channels and connections, summed over the node */
    for (size_t m = 0; m < sizeof channel_totals / sizeof channel_totals[0]; m++)
        metric_u(&b, channel_totals[m].name, "counter", channel_totals[m].help, g[channel_totals[m].ctr]);
    metric_u(&b, "rabbitmq_connection_incoming_bytes_total", "counter",
             "Total number of bytes received on a connection", g[STAT_RECV_OCT]);
    metric_u(&b, "rabbitmq_connection_outgoing_bytes_total", "counter", "Total number of bytes sent on a connection",
             g[STAT_SEND_OCT]);
    metric_u(&b, "rabbitmq_connection_incoming_packets_total", "counter",
             "Total number of packets received on a connection", g[STAT_RECV_CNT]);
    metric_u(&b, "rabbitmq_connection_outgoing_packets_total", "counter",
             "Total number of packets sent on a connection", g[STAT_SEND_CNT]);

    /* totals */
    uint64_t conns = sat_sub(g[STAT_CONN_OPENED], g[STAT_CONN_CLOSED]);
    uint64_t chans = sat_sub(g[STAT_CH_OPENED], g[STAT_CH_CLOSED]);
    metric_u(&b, "rabbitmq_connections", "gauge", "Connections currently open", conns);
    metric_u(&b, "rabbitmq_channels", "gauge", "Channels currently open", chans);
    metric_u(&b, "rabbitmq_consumers", "gauge", "Consumers currently connected", consumers);
    metric_u(&b, "rabbitmq_queues", "gauge", "Queues available", nq);

    /* the global counters (RabbitMQ 3.9+), labelled by protocol */
    head(&b, "rabbitmq_global_publishers", "gauge", "Current number of publishers");
    sb_printf(&b, "rabbitmq_global_publishers{protocol=\"amqp091\"} %llu\n",
              (unsigned long long)sat_sub(g[STAT_PUBLISHERS_UP], g[STAT_PUBLISHERS_DOWN]));
    head(&b, "rabbitmq_global_consumers", "gauge", "Current number of consumers");
    sb_printf(&b, "rabbitmq_global_consumers{protocol=\"amqp091\"} %llu\n", (unsigned long long)consumers);
    for (size_t m = 0; m < sizeof globals / sizeof globals[0]; m++) {
        const gmetric *gm = &globals[m];
        uint64_t v = gm->ctr == SUM_DELIVERED
                         ? g[STAT_DELIVER] + g[STAT_DELIVER_NO_ACK] + g[STAT_GET] + g[STAT_GET_NO_ACK]
                         : g[gm->ctr];
        head(&b, gm->name, "counter", gm->help);
        if (gm->qtype)
            sb_printf(&b, "%s{protocol=\"amqp091\",queue_type=\"rabbit_classic_queue\"} %llu\n", gm->name,
                      (unsigned long long)v);
        else sb_printf(&b, "%s{protocol=\"amqp091\"} %llu\n", gm->name, (unsigned long long)v);
    }
    free(rows);
    *len = b.n;
    return b.p;
}

/* ---- the HTTP side ---- */

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)cls, (void)version, (void)upload, (void)con_cls;
    *upload_size = 0;
    struct MHD_Response *r;
    unsigned status;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        static const char msg[] = "Method Not Allowed\n";
        r = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Allow", "GET, HEAD");
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (!strcmp(url, "/metrics")) {
        size_t len;
        char *text = prom_render(false, &len);
        r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
        status = MHD_HTTP_OK;
    } else if (!strcmp(url, "/metrics/per-object")) {
        /* As RabbitMQ's per-object metrics are refreshed every collect_statistics_interval,
         * one rendering serves every scrape until the sampler's next sample (at most 5 s
         * old): a scraper hitting it every second over 10,000 queues costs one walk per 5 s.
         * Only this thread touches the cache. */
        uint64_t g = mstats_generation();
        if (!cache || !g || g != cache_gen) {
            free(cache);
            cache = prom_render(true, &cache_len);
            cache_gen = g;
        }
        r = MHD_create_response_from_buffer(cache_len, cache, MHD_RESPMEM_MUST_COPY);
        MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
        status = MHD_HTTP_OK;
    } else {
        static const char msg[] = "Not Found: try /metrics or /metrics/per-object\n";
        r = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_FOUND;
    }
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* A listening socket on ip (or every interface) and port; -1 with errno. */
static int listen_on(const char *ip, int port) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (!*ip) hints.ai_family = AF_INET6;
    int gai = getaddrinfo(*ip ? ip : NULL, ps, &hints, &res);
    if (gai && !*ip) { /* no IPv6: every IPv4 interface */
        hints.ai_family = AF_INET;
        gai = getaddrinfo(NULL, ps, &hints, &res);
    }
    if (gai) {
        errno = EINVAL;
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (a->ai_family == AF_INET6 && !*ip) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 128)) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) errno = err;
    return fd;
}

int prom_start(void) {
    start_wall_ms = wall_ms();
    start_mono_ms = now_ms();
    if (!config.prom_enabled) return 0;
    listen_fd = listen_on(config.prom_ip, config.prom_port);
    if (listen_fd < 0) {
        int err = errno;
        if (config.prom_port_explicit) {
            log_err("prometheus.tcp.port %d: cannot listen on %s:%d: %s", config.prom_port,
                    config.prom_ip[0] ? config.prom_ip : "*", config.prom_port, strerror(err));
            return -1;
        }
        log_warn("Prometheus: port %d (the default) is not available (%s): no Prometheus listener; set "
                 "prometheus.tcp.port to choose one",
                 config.prom_port, strerror(err));
        return 0;
    }
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY, 0, NULL, NULL, answer, NULL,
                               MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!daemon_) {
        close(listen_fd);
        listen_fd = -1;
        log_err("Prometheus: could not start the HTTP server on port %d", config.prom_port);
        return config.prom_port_explicit ? -1 : 0;
    }
    log_info("Prometheus metrics on %s:%d (/metrics, /metrics/per-object)", config.prom_ip[0] ? config.prom_ip : "*",
             config.prom_port);
    return 0;
}

void prom_stop(void) {
    if (daemon_) MHD_stop_daemon(daemon_); /* closes the listening socket it was given */
    daemon_ = NULL;
    free(cache);
    cache = NULL;
    listen_fd = -1;
}
