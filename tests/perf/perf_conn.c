/* perf_conn.c — one client connection: connect, handshake, buffered frame
 * I/O over a non-blocking socket. See perf.h. */
#include "perf.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "amq/table.h"

#define CONN_RBUF (1u << 20) /* must hold a whole frame (frame_max <= 1 MiB) */
#define CONN_FRAME_MAX 131072u
#define CONN_RPC_MS 10000

uint64_t perf_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int conn_fail(perf_conn *c, const char *what) {
    snprintf(c->err, sizeof c->err, "%s", what);
    return -1;
}

static int conn_fail_errno(perf_conn *c, const char *what) {
    snprintf(c->err, sizeof c->err, "%s: %s", what, strerror(errno));
    return -1;
}

int perf_conn_connect(perf_conn *c, const char *host, int port) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    amq_wr_init(&c->w);
    c->rbuf = malloc(CONN_RBUF);
    if (!c->rbuf) return conn_fail(c, "out of memory");
    c->rcap = CONN_RBUF;
    c->frame_max = CONN_FRAME_MAX;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(host, ps, &hints, &ai);
    if (rc) {
        snprintf(c->err, sizeof c->err, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *a = ai; a && c->fd < 0; a = a->ai_next) {
        c->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (c->fd >= 0 && connect(c->fd, a->ai_addr, a->ai_addrlen)) {
            close(c->fd);
            c->fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (c->fd < 0) return conn_fail_errno(c, "connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

void perf_conn_destroy(perf_conn *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    free(c->rbuf);
    c->rbuf = NULL;
    amq_wr_destroy(&c->w);
}

int perf_conn_wait(perf_conn *c, bool want_write, int timeout_ms) {
    struct pollfd p = {.fd = c->fd, .events = (short)(POLLIN | (want_write ? POLLOUT : 0))};
    int n = poll(&p, 1, timeout_ms);
    return n > 0 ? p.revents : 0;
}

int perf_conn_flush(perf_conn *c, int timeout_ms) {
    if (c->w.err) return conn_fail(c, amq_strerror(c->w.err));
    uint64_t deadline = perf_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (c->w.len) {
        ssize_t n = send(c->fd, c->w.data, c->w.len, MSG_NOSIGNAL);
        if (n > 0) {
            amq_wr_consume(&c->w, (size_t)n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) return conn_fail_errno(c, "send");
        if (perf_now_ns() > deadline) return conn_fail(c, "send timed out");
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        poll(&p, 1, 100);
    }
    return 0;
}

int perf_conn_read(perf_conn *c) {
    if (c->roff == c->rlen) c->roff = c->rlen = 0;
    if (c->rcap - c->rlen < c->rcap / 4 && c->roff) { /* compact */
        memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
        c->rlen -= c->roff;
        c->roff = 0;
    }
    if (c->rlen == c->rcap) return conn_fail(c, "frame larger than the read buffer");
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
    if (n > 0) {
        c->rlen += (size_t)n;
        return (int)n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    return n == 0 ? conn_fail(c, "connection closed by the broker") : conn_fail_errno(c, "recv");
}

int perf_conn_frame(perf_conn *c, amq_frame *f) {
    int n = amq_frame_parse(c->rbuf + c->roff, c->rlen - c->roff, c->frame_max, f);
    if (n > 0) {
        c->roff += (size_t)n;
        return 1;
    }
    if (n == 0) return 0;
    snprintf(c->err, sizeof c->err, "bad frame from the broker: %s", amq_strerror(n));
    return -1;
}

/* Next frame, reading (and waiting) as needed until deadline. */
static int conn_next_frame(perf_conn *c, amq_frame *f, uint64_t deadline) {
    for (;;) {
        int r = perf_conn_frame(c, f);
        if (r) return r;
        r = perf_conn_read(c);
        if (r < 0) return -1;
        if (r > 0) continue;
        if (perf_now_ns() > deadline) return conn_fail(c, "timed out waiting for the broker");
        perf_conn_wait(c, false, 100);
    }
}

static int conn_close_error(perf_conn *c, const char *kind, uint16_t code, amq_bytes text) {
    snprintf(c->err, sizeof c->err, "%s closed by the broker: %u %.*s", kind, code, (int)text.len,
             (const char *)text.p);
    return -1;
}

int perf_conn_unexpected(perf_conn *c, const amq_frame *f) {
    if (f->type != AMQ_FRAME_METHOD) return 0;
    amq_method m;
    if (amq_method_decode(f->payload, &m)) return 0;
    if (m.id == AMQ_CONNECTION_CLOSE) {
        int rc = conn_close_error(c, "connection", m.u.connection_close.reply_code,
                                  m.u.connection_close.reply_text);
        amq_put_method_frame(&c->w, 0, AMQ_CONNECTION_CLOSE_OK, NULL);
        char keep[sizeof c->err];
        memcpy(keep, c->err, sizeof keep);
        perf_conn_flush(c, 1000);
        memcpy(c->err, keep, sizeof keep);
        return rc;
    }
    if (m.id == AMQ_CHANNEL_CLOSE) {
        int rc = conn_close_error(c, "channel", m.u.channel_close.reply_code, m.u.channel_close.reply_text);
        amq_put_method_frame(&c->w, f->channel, AMQ_CHANNEL_CLOSE_OK, NULL);
        char keep[sizeof c->err];
        memcpy(keep, c->err, sizeof keep);
        perf_conn_flush(c, 1000);
        memcpy(c->err, keep, sizeof keep);
        return rc;
    }
    if (m.id == AMQ_BASIC_CANCEL) return conn_fail(c, "consumer cancelled by the broker");
    return 0;
}

/* Wait for method `reply` on `channel`; other frames go to perf_conn_unexpected. */
static int conn_await(perf_conn *c, uint16_t channel, uint32_t reply, amq_method *out) {
    uint64_t deadline = perf_now_ns() + CONN_RPC_MS * 1000000ull;
    amq_method tmp;
    if (!out) out = &tmp;
    for (;;) {
        amq_frame f;
        if (conn_next_frame(c, &f, deadline) < 0) return -1;
        if (f.type == AMQ_FRAME_METHOD && f.channel == channel && amq_method_decode(f.payload, out) == AMQ_OK &&
            out->id == reply)
            return 0;
        if (perf_conn_unexpected(c, &f)) return -1;
    }
}

static int conn_send(perf_conn *c, uint16_t channel, uint32_t id, const void *fields) {
    amq_put_method_frame(&c->w, channel, id, fields);
    return perf_conn_flush(c, CONN_RPC_MS);
}

int perf_conn_rpc(perf_conn *c, uint32_t id, const void *fields, uint32_t reply, amq_method *out) {
    if (conn_send(c, 1, id, fields)) return -1;
    return conn_await(c, 1, reply, out);
}

/* client-properties: product, version, capabilities. Encoded body into *t. */
static void conn_client_props(amq_wr *t) {
    amq_wr caps;
    amq_wr_init(&caps);
    size_t cb = amq_table_begin(&caps);
    static const char *const names[] = {"publisher_confirms", "basic.nack", "consumer_cancel_notify",
                                        "connection.blocked", "exchange_exchange_bindings"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        amq_field t1 = amq_field_bool(true);
        amq_table_put(&caps, names[i], &t1);
    }
    amq_table_end(&caps, cb);
    size_t b = amq_table_begin(t);
    amq_field f = amq_field_str(amq_cstr("warren-perf"));
    amq_table_put(t, "product", &f);
    f = amq_field_str(amq_cstr("0.1"));
    amq_table_put(t, "version", &f);
    f = amq_field_table((amq_bytes){caps.data + 4, caps.len - 4});
    amq_table_put(t, "capabilities", &f);
    amq_table_end(t, b);
    amq_wr_destroy(&caps);
}

static int conn_start_ok(perf_conn *c, const perf_opts *o) {
    amq_wr props, resp;
    amq_wr_init(&props);
    amq_wr_init(&resp);
    conn_client_props(&props);
    amq_put_u8(&resp, 0);
    amq_put_raw(&resp, o->user, strlen(o->user));
    amq_put_u8(&resp, 0);
    amq_put_raw(&resp, o->pass, strlen(o->pass));
    amq_connection_start_ok so = {
        .client_properties = {props.data + 4, props.len - 4},
        .mechanism = amq_cstr("PLAIN"),
        .response = {resp.data, resp.len},
        .locale = amq_cstr("en_US"),
    };
    int rc = conn_send(c, 0, AMQ_CONNECTION_START_OK, &so);
    amq_wr_destroy(&props);
    amq_wr_destroy(&resp);
    return rc;
}

static int conn_handshake(perf_conn *c, const perf_opts *o) {
    amq_put_raw(&c->w, AMQ_PROTOCOL_HEADER, 8);
    if (perf_conn_flush(c, CONN_RPC_MS)) return -1;
    amq_method m;
    if (conn_await(c, 0, AMQ_CONNECTION_START, &m) || conn_start_ok(c, o)) return -1;
    if (conn_await(c, 0, AMQ_CONNECTION_TUNE, &m)) return -1;
    amq_connection_tune_ok t = {
        .channel_max = m.u.connection_tune.channel_max ? m.u.connection_tune.channel_max : 2047,
        .frame_max = m.u.connection_tune.frame_max && m.u.connection_tune.frame_max < CONN_FRAME_MAX
                         ? m.u.connection_tune.frame_max
                         : CONN_FRAME_MAX,
        .heartbeat = 0,
    };
    c->frame_max = t.frame_max;
    amq_put_method_frame(&c->w, 0, AMQ_CONNECTION_TUNE_OK, &t);
    amq_connection_open op = {.virtual_host = amq_cstr(o->vhost)};
    if (conn_send(c, 0, AMQ_CONNECTION_OPEN, &op) || conn_await(c, 0, AMQ_CONNECTION_OPEN_OK, NULL)) return -1;
    amq_channel_open ch = {.reserved_1 = amq_cstr("")};
    return perf_conn_rpc(c, AMQ_CHANNEL_OPEN, &ch, AMQ_CHANNEL_OPEN_OK, NULL);
}

int perf_conn_open(perf_conn *c, const perf_opts *o) {
    if (perf_conn_connect(c, o->host, o->port)) return -1;
    return conn_handshake(c, o);
}

void perf_conn_close(perf_conn *c) {
    if (c->fd >= 0 && c->rbuf) {
        amq_connection_close cl = {.reply_code = AMQ_REPLY_SUCCESS, .reply_text = amq_cstr("bye")};
        uint64_t deadline = perf_now_ns() + 2000000000ull;
        amq_frame f;
        /* the deadline holds even while deliveries keep arriving */
        if (!conn_send(c, 0, AMQ_CONNECTION_CLOSE, &cl))
            while (perf_now_ns() < deadline && conn_next_frame(c, &f, deadline) == 1) {
                amq_method m;
                if (f.type == AMQ_FRAME_METHOD && !amq_method_decode(f.payload, &m) && m.id == AMQ_CONNECTION_CLOSE_OK)
                    break;
            }
    }
    perf_conn_destroy(c);
}
