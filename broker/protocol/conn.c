/* conn.c — one AMQP connection: socket reads and writes through its
 * transport, the frame reader, the handshake (start, tune, open), frame
 * dispatch to channels, heartbeats, flow control (output limits, memory and
 * disk alarms: connection.blocked) and close. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "amq/frame.h"
#include "amq/methods.h"
#include "access.h"
#include "amq/table.h"
#include "auth.h"
#include "channel.h"
#include "frame_state.h"
#include "config.h"
#include "reply_to.h"
#include "transport.h"
#include "util.h"
#include "vhost.h"
#include "wconns.h"

#define READ_CHUNK (64u << 10)
#define READ_BUDGET (512u << 10) /* per wakeup, for fairness between connections */

static _Atomic uint64_t next_conn_id = 1;

static void peer_name(conn *c) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    c->peer[0] = 0;
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) != 0) return;
    char host[64] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        c->peer_loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        c->peer_loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
                           (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127);
        snprintf(c->peer, sizeof c->peer, "[%s]:%d", host, port);
    }
}

conn *conn_new(worker *w, int fd, bool tls) {
    conn *c = xcalloc(1, sizeof *c);
    c->fd = fd;
    c->tr = &transport_tcp;
    c->w = w;
    c->id = atomic_fetch_add(&next_conn_id, 1);
    c->state = CONN_AWAIT_HEADER;
    stat_add(&stats_global, STAT_CONN_OPENED, 1);
    c->wcache_len = -1;
    amq_wr_init(&c->out);
    c->frame_max = config.frame_max;
    c->channel_max = config.channel_max;
    c->created_ms = c->last_recv_ms = c->last_send_ms = now_ms();
    c->timer_idx = SIZE_MAX;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    peer_name(c);
    log_info("accepting AMQP connection %s (id %llu)%s", c->peer, (unsigned long long)c->id, tls ? " over TLS" : "");
    if (tls) tls_attach(c);
    return c;
}

bool conn_is_open(const conn *c) { return c->state == CONN_OPEN; }

void conn_output_added(conn *c) {
    wconns_want_flush(c->w, c);
    if (c->out.len > CONN_OUT_HIGH && !atomic_load_explicit(&c->throttled, memory_order_relaxed))
        atomic_store(&c->throttled, true);
}

static void send_method(conn *c, uint16_t ch, uint32_t id, const void *fields) {
    amq_put_method_frame(&c->out, ch, id, fields);
    conn_output_added(c);
}

void conn_error(conn *c, uint16_t code, uint32_t method_id, const char *fmt, ...) {
    if (c->state >= CONN_CLOSING) return;
    char text[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    log_warn("closing AMQP connection %s (id %llu): %s", c->peer, (unsigned long long)c->id, text);
    if (c->state == CONN_AWAIT_HEADER) {
        c->state = CONN_FLUSH_CLOSE;
        return;
    }
    amq_reply_text_fit(text); /* a shortstr: cut as RabbitMQ does, never a broken frame */
    amq_connection_close m = {.reply_code = code,
                              .reply_text = amq_cstr(text),
                              .class_id = (uint16_t)AMQ_CLASS_OF(method_id),
                              .method_id = (uint16_t)AMQ_METHOD_OF(method_id)};
    send_method(c, 0, AMQ_CONNECTION_CLOSE, &m);
    c->state = CONN_CLOSING;
    c->created_ms = now_ms(); /* reuse as the close deadline origin */
}

void conn_mark_dirty(conn *c, channel *ch) {
    if (ch->dirty) return;
    ch->dirty = true;
    ch->dirty_next = c->dirty;
    c->dirty = ch;
}

/* ---- handshake ---- */

static void send_start(conn *c) {
    amq_wr t;
    amq_wr_init(&t);
    size_t b = amq_table_begin(&t);
    amq_field f;
    f = amq_field_str(amq_cstr(config.product_name)); /* product.name, default "Warren" */
    amq_table_put(&t, "product", &f);
    f = amq_field_str(amq_cstr(config.product_version));
    amq_table_put(&t, "version", &f);
    f = amq_field_str(amq_cstr("Linux"));
    amq_table_put(&t, "platform", &f);
    f = amq_field_str(amq_cstr("Licensed under the MPL 2.0"));
    amq_table_put(&t, "copyright", &f);
    f = amq_field_str(amq_cstr("An AMQP 0-9-1 broker in C"));
    amq_table_put(&t, "information", &f);
    f = amq_field_str(amq_cstr(config.cluster_name));
    amq_table_put(&t, "cluster_name", &f);
    amq_table_put_key(&t, "capabilities");
    amq_put_u8(&t, 'F');
    size_t cb = amq_table_begin(&t);
    static const char *caps[] = {
        "publisher_confirms", "exchange_exchange_bindings", "basic.nack",      "consumer_cancel_notify",
        "per_consumer_qos",   "consumer_priorities",        "direct_reply_to", "authentication_failure_close",
        "connection.blocked"};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        f = amq_field_bool(true);
        amq_table_put(&t, caps[i], &f);
    }
    amq_table_end(&t, cb);
    amq_table_end(&t, b);
    amq_connection_start m = {.version_major = 0,
                              .version_minor = 9,
                              .server_properties = {t.data + 4, t.len - 4},
                              /* EXTERNAL on every TLS connection, as RabbitMQ's
                               * rabbitmq_auth_mechanism_ssl offers it (refused later
                               * when no certificate was presented). */
                              .mechanisms = amq_cstr(c->tr->secure ? "PLAIN AMQPLAIN EXTERNAL" : "PLAIN AMQPLAIN"),
                              .locales = amq_cstr("en_US")};
    send_method(c, 0, AMQ_CONNECTION_START, &m);
    amq_wr_destroy(&t);
    c->state = CONN_AWAIT_START_OK;
}

/* client_properties bigger than this are not kept for the management API
 * (clients send a few hundred bytes; 100k connections must stay cheap). */
#define CONN_CLIENT_PROPS_MAX 4096

static void on_start_ok(conn *c, amq_connection_start_ok *m) {
    amq_field f;
    if (m->client_properties.len && m->client_properties.len <= CONN_CLIENT_PROPS_MAX && !c->client_props) {
        c->client_props = xmalloc(m->client_properties.len);
        memcpy(c->client_props, m->client_properties.p, m->client_properties.len);
        c->client_props_len = (uint32_t)m->client_properties.len;
    }
    if (amq_table_get(m->client_properties, "capabilities", &f) == 1 && f.type == 'F') {
        amq_field g;
        if (amq_table_get(f.v.str, "consumer_cancel_notify", &g) == 1 && g.type == 't' && g.v.b)
            c->cap_cancel_notify = true;
        if (amq_table_get(f.v.str, "connection.blocked", &g) == 1 && g.type == 't' && g.v.b) c->cap_blocked = true;
    }
    char user[256];
    int rc;
    if (c->tr->secure && amq_bytes_eqs(m->mechanism, "EXTERNAL"))
        rc = auth_external(c->tr->peer_cert_name(c), c->peer_loopback, user, sizeof user);
    else rc = auth_check(m->mechanism, m->response, c->peer_loopback, user, sizeof user);
    if (rc == AUTH_BAD_MECHANISM) {
        conn_error(c, AMQ_ACCESS_REFUSED, AMQ_CONNECTION_START_OK,
                   "ACCESS_REFUSED - unsupported authentication mechanism '%.*s'", (int)m->mechanism.len,
                   m->mechanism.p);
        return;
    }
    if (rc != AUTH_OK) {
        /* Same answer whatever the reason; the reason goes to the log. The
         * refusal is held back for a second (conn_tick) to slow guessing down
         * without blocking the worker. */
        log_warn("authentication failed for user '%s' from %s (%s)", user, c->peer,
                 rc == AUTH_LOOPBACK_ONLY ? "user can only log in via localhost"
                 : rc == AUTH_NO_CERT     ? "connection peer presented no TLS (x.509) certificate"
                                          : "invalid credentials");
        snprintf(c->auth_fail_text, sizeof c->auth_fail_text,
                 "ACCESS_REFUSED - Login was refused using authentication mechanism %.*s. For details see "
                 "the broker logfile.",
                 (int)(m->mechanism.len < 40 ? m->mechanism.len : 40), m->mechanism.p);
        c->auth_fail_at = now_ms();
        return;
    }
    snprintf(c->user, sizeof c->user, "%s", user);
    amq_connection_tune t = {
        .channel_max = config.channel_max, .frame_max = config.frame_max, .heartbeat = config.heartbeat};
    send_method(c, 0, AMQ_CONNECTION_TUNE, &t);
    c->state = CONN_AWAIT_TUNE_OK;
}

static void on_tune_ok(conn *c, amq_connection_tune_ok *m) {
    /* Out-of-range tuning: RabbitMQ closes the socket without a word (there is
     * no connection yet to send connection.close on). */
    uint32_t fm = m->frame_max ? m->frame_max : config.frame_max;
    uint16_t cm = m->channel_max ? m->channel_max : config.channel_max;
    if (fm > config.frame_max || fm < AMQ_FRAME_MIN_SIZE || cm > config.channel_max) {
        log_warn("closing connection %s: tune-ok out of range (frame_max %u, channel_max %u)", c->peer, fm, cm);
        c->state = CONN_DEAD;
        return;
    }
    c->frame_max = fm;
    c->channel_max = cm;
    c->heartbeat = m->heartbeat;
    c->state = CONN_AWAIT_OPEN;
    if (c->heartbeat) wconns_timer(c->w, c, now_ms() + (uint64_t)c->heartbeat * 500);
}

static void on_open(conn *c, amq_connection_open *m) {
    struct vhost *v = vhost_find(m->virtual_host);
    if (!v) {
        conn_error(c, AMQ_NOT_ALLOWED, AMQ_CONNECTION_OPEN, "NOT_ALLOWED - vhost %.*s not found",
                   (int)m->virtual_host.len, m->virtual_host.p);
        return;
    }
    c->grant_gen = access_generation();
    c->grant = access_grant_get(c->user, vhost_name(v));
    if (!c->grant) {
        conn_error(c, AMQ_NOT_ALLOWED, AMQ_CONNECTION_OPEN, "NOT_ALLOWED - access to vhost '%s' refused for user '%s'",
                   vhost_name(v), c->user);
        return;
    }
    c->vh = v;
    amq_connection_open_ok ok = {.reserved_1 = {0}};
    send_method(c, 0, AMQ_CONNECTION_OPEN_OK, &ok);
    c->state = CONN_OPEN;
    log_info("connection %s (id %llu): user '%s' authenticated and granted access to vhost '%.*s'", c->peer,
             (unsigned long long)c->id, c->user, (int)m->virtual_host.len, m->virtual_host.p);
}

/* Close every channel (requeueing unacked messages) and drop exclusive queues. */
static void conn_release(conn *c) {
    for (uint32_t i = 0; i < c->nchans; i++) channel_free(c->chans[i]);
    c->nchans = 0;
    if (c->vh) vhost_drop_exclusive(c->vh, c->id);
}

/* ---- frames ---- */

int conn_check_perm(conn *c, int kind, const char *rtype, amq_bytes name, char *text, size_t cap) {
    uint64_t gen = access_generation();
    if (gen != c->grant_gen) { /* users or permissions changed: take a fresh grant */
        access_grant_unref(&c->grant);
        c->grant = access_grant_get(c->user, vhost_name(c->vh));
        c->grant_gen = gen;
    }
    if (access_grant_allows(c->grant, kind, name)) return 0;
    snprintf(text, cap, "ACCESS_REFUSED - access to %s '%.*s' in vhost '%s' refused for user '%s'", rtype,
             (int)(name.len ? name.len : 11), name.len ? (const char *)name.p : "amq.default", vhost_name(c->vh),
             c->user);
    return AMQ_ACCESS_REFUSED;
}

static void on_connection_method(conn *c, amq_method *m, uint32_t id) {
    if (c->auth_fail_at) return; /* login refused: the close follows shortly */
    if (c->state == CONN_CLOSING) {
        if (id == AMQ_CONNECTION_CLOSE_OK) c->state = CONN_FLUSH_CLOSE;
        if (id == AMQ_CONNECTION_CLOSE) {
            send_method(c, 0, AMQ_CONNECTION_CLOSE_OK, NULL);
            c->state = CONN_FLUSH_CLOSE;
        }
        return;
    }
    switch (id) {
    case AMQ_CONNECTION_START_OK:
        if (c->state == CONN_AWAIT_START_OK) return on_start_ok(c, &m->u.connection_start_ok);
        break;
    case AMQ_CONNECTION_TUNE_OK:
        if (c->state == CONN_AWAIT_TUNE_OK) return on_tune_ok(c, &m->u.connection_tune_ok);
        break;
    case AMQ_CONNECTION_OPEN:
        if (c->state == CONN_AWAIT_OPEN) return on_open(c, &m->u.connection_open);
        break;
    case AMQ_CONNECTION_CLOSE:
        /* Release channels, consumers and exclusive queues before close-ok, so a
         * client that reconnects at once finds them gone (as RabbitMQ does). */
        conn_release(c);
        send_method(c, 0, AMQ_CONNECTION_CLOSE_OK, NULL);
        c->state = CONN_LINGER;
        c->created_ms = now_ms();
        return;
    case AMQ_CONNECTION_CLOSE_OK: c->state = CONN_FLUSH_CLOSE; return;
    case AMQ_CONNECTION_UPDATE_SECRET:
        if (c->state == CONN_OPEN) {
            amq_connection_update_secret_ok ok = {0};
            send_method(c, 0, AMQ_CONNECTION_UPDATE_SECRET_OK, &ok);
            log_info("connection %s: secret updated for user '%s'", c->peer, c->user);
            return;
        }
        break;
    case AMQ_CONNECTION_BLOCKED:
    case AMQ_CONNECTION_UNBLOCKED: return;
    default: break;
    }
    conn_error(c, AMQ_COMMAND_INVALID, id, "COMMAND_INVALID - unexpected method %s on channel 0",
               amq_method_name(id) ? amq_method_name(id) : "?");
}

/* Index of the first channel with id >= id. */
static uint32_t chan_pos(const conn *c, uint16_t id) {
    uint32_t lo = 0, hi = c->nchans;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (c->chans[mid]->id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

channel *conn_channel(conn *c, uint16_t id) {
    uint32_t i = chan_pos(c, id);
    return i < c->nchans && c->chans[i]->id == id ? c->chans[i] : NULL;
}

static void chan_add(conn *c, channel *ch) {
    uint32_t i = chan_pos(c, ch->id);
    if (c->nchans == c->capchans) {
        c->capchans = c->capchans ? c->capchans * 2 : 4;
        c->chans = xrealloc(c->chans, c->capchans * sizeof *c->chans);
    }
    memmove(&c->chans[i + 1], &c->chans[i], (c->nchans - i) * sizeof *c->chans);
    c->chans[i] = ch;
    c->nchans++;
}

void conn_channel_remove(conn *c, uint16_t id) {
    uint32_t i = chan_pos(c, id);
    if (i >= c->nchans || c->chans[i]->id != id) return;
    memmove(&c->chans[i], &c->chans[i + 1], (c->nchans - i - 1) * sizeof *c->chans);
    c->nchans--;
}

static channel *chan(conn *c, uint16_t id) { return conn_channel(c, id); }

static void on_channel_frame(conn *c, const amq_frame *f) {
    channel *ch = chan(c, f->channel);
    if (f->type == AMQ_FRAME_METHOD) {
        amq_method m;
        int rc = amq_method_decode(f->payload, &m);
        if (rc == AMQ_EMETHOD) {
            conn_error(c, AMQ_COMMAND_INVALID, 0, "COMMAND_INVALID - unknown method");
            return;
        }
        if (rc != AMQ_OK) {
            conn_error(c, AMQ_SYNTAX_ERROR, 0, "SYNTAX_ERROR - malformed method frame");
            return;
        }
        if (!ch) {
            if (m.id == AMQ_CHANNEL_OPEN) {
                /* RabbitMQ limits the number of open channels, not their ids. */
                if (c->nchans >= c->channel_max) {
                    conn_error(c, AMQ_NOT_ALLOWED, m.id,
                               "NOT_ALLOWED - number of channels opened (%u) has reached the negotiated "
                               "channel_max (%u)",
                               c->nchans, c->channel_max);
                    return;
                }
                chan_add(c, channel_new(c, f->channel));
                amq_channel_open_ok ok = {.reserved_1 = {0}};
                send_method(c, f->channel, AMQ_CHANNEL_OPEN_OK, &ok);
            } else if (m.id != AMQ_CHANNEL_CLOSE_OK) {
                conn_error(c, AMQ_CHANNEL_ERROR, m.id, "CHANNEL_ERROR - expected 'channel.open'");
            }
            return;
        }
        channel_on_method(ch, &m, m.id);
        return;
    }
    if (!ch) {
        conn_error(c, AMQ_CHANNEL_ERROR, 0, "CHANNEL_ERROR - expected 'channel.open'");
        return;
    }
    if (f->type == AMQ_FRAME_HEADER) channel_on_header(ch, f->payload);
    else channel_on_body(ch, f->payload);
}

static void on_frame(conn *c, const amq_frame *f) {
    if (c->state == CONN_CLOSING && !(f->type == AMQ_FRAME_METHOD && f->channel == 0)) return;
    if (f->type == AMQ_FRAME_HEARTBEAT) {
        if (f->channel != 0)
            conn_error(c, AMQ_UNEXPECTED_FRAME, 0, "UNEXPECTED_FRAME - heartbeat frame on channel %u", f->channel);
        return;
    }
    if (f->channel == 0) {
        const char *bad = frame_unexpected(CC_NONE, f->type);
        if (bad) {
            conn_error(c, AMQ_UNEXPECTED_FRAME, 0, "%s", bad);
            return;
        }
        amq_method m;
        int rc = amq_method_decode(f->payload, &m);
        if (rc != AMQ_OK) {
            conn_error(c, rc == AMQ_EMETHOD ? AMQ_COMMAND_INVALID : AMQ_SYNTAX_ERROR, 0,
                       rc == AMQ_EMETHOD ? "COMMAND_INVALID - unknown method"
                                         : "SYNTAX_ERROR - malformed method frame");
            return;
        }
        if (AMQ_CLASS_OF(m.id) != AMQ_CLASS_CONNECTION) {
            conn_error(c, AMQ_CHANNEL_ERROR, m.id, "CHANNEL_ERROR - %s on channel 0", amq_method_name(m.id));
            return;
        }
        on_connection_method(c, &m, m.id);
        return;
    }
    if (c->state != CONN_OPEN) {
        conn_error(c, AMQ_CHANNEL_ERROR, 0, "CHANNEL_ERROR - connection not open");
        return;
    }
    on_channel_frame(c, f);
}

uint64_t conn_body_ahead(conn *c, uint16_t ch, uint64_t want) {
    uint64_t got = 0;
    size_t off = c->in_next;
    while (got < want && off < c->in_len) {
        amq_frame f;
        int n = amq_frame_parse(c->in + off, c->in_len - off, c->frame_max, &f);
        if (n <= 0 || f.type != AMQ_FRAME_BODY || f.channel != ch) break;
        got += f.payload.len;
        off += (size_t)n;
    }
    return got < want ? got : want;
}

static void after_batch(conn *c) {
    while (c->dirty) {
        channel *ch = c->dirty;
        c->dirty = ch->dirty_next;
        ch->dirty = false;
        channel_flush_confirms(ch);
    }
}

/* Parse and handle every complete frame in the input buffer. */
static void process_input(conn *c) {
    size_t off = 0;
    if (c->state == CONN_LINGER) { /* after close-ok nothing more is processed */
        c->in_len = 0;
        return;
    }
    if (c->state == CONN_AWAIT_HEADER) {
        if (c->in_len < 8) return;
        if (memcmp(c->in, AMQ_PROTOCOL_HEADER, 8) != 0) {
            amq_put_raw(&c->out, AMQ_PROTOCOL_HEADER, 8);
            conn_output_added(c);
            log_warn("closing connection %s: bad protocol header", c->peer);
            c->state = CONN_FLUSH_CLOSE;
            return;
        }
        off = 8;
        send_start(c);
    }
    while (c->state < CONN_LINGER && off < c->in_len) {
        amq_frame f;
        uint32_t fm = c->state >= CONN_AWAIT_OPEN || c->state == CONN_CLOSING ? c->frame_max : config.frame_max;
        int n = amq_frame_parse(c->in + off, c->in_len - off, fm, &f);
        if (n == 0) break;
        if (n < 0) {
            if (n == AMQ_ETOOBIG)
                conn_error(c, AMQ_FRAME_ERROR, 0, "FRAME_ERROR - frame size exceeds frame_max %u", fm);
            else if (n == AMQ_EFRAMEEND) conn_error(c, AMQ_FRAME_ERROR, 0, "FRAME_ERROR - invalid frame end marker");
            else conn_error(c, AMQ_FRAME_ERROR, 0, "FRAME_ERROR - unknown frame type");
            off = c->in_len; /* nothing more from this socket is processed */
            break;
        }
        off += (size_t)n;
        c->in_next = off;
        on_frame(c, &f);
    }
    if (c->state >= CONN_CLOSING) off = c->in_len;
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    after_batch(c);
}

/* The epoll interest: no EPOLLIN while reading is paused; no EPOLLRDHUP either
 * once the peer's half-close was seen while paused (it is level-triggered: it
 * would wake the worker for nothing until reading resumes and meets the EOF). */
static void rewatch(conn *c) {
    uint32_t ev = (c->reading_paused ? 0 : EPOLLIN) | (c->want_out ? EPOLLOUT : 0) |
                  (c->reading_paused && c->rdhup_seen ? 0 : EPOLLRDHUP);
    worker_rewatch(c->w, c->fd, ev, c);
}

static void pause_reading(conn *c, bool pause) {
    if (c->reading_paused == pause) return;
    c->reading_paused = pause;
    rewatch(c);
}

/* Over the memory limit: a publishing connection is not read from (TCP
 * backpressure) and is told connection.blocked, as RabbitMQ does. */
static void conn_block(conn *c) {
    if (c->mem_blocked) return;
    c->mem_blocked = true;
    pause_reading(c, true);
    wconns_blocked(c->w, 1);
    bool disk = disk_alarm_on();
    if (disk) log_warn("connection %s blocked: free disk space is under disk_free_limit", c->peer);
    else log_warn("connection %s blocked: memory in use %lld bytes is over the limit", c->peer, (long long)mem_used());
    if (c->cap_blocked && c->state == CONN_OPEN) {
        amq_connection_blocked b = {.reason = amq_cstr(disk ? "low on disk" : "low on memory")};
        send_method(c, 0, AMQ_CONNECTION_BLOCKED, &b);
    }
}

void conn_unblock(conn *c) {
    if (!c->mem_blocked) return;
    c->mem_blocked = false;
    c->last_recv_ms = now_ms(); /* the heartbeat monitor resumes from now (it was paused) */
    wconns_blocked(c->w, -1);
    if (c->cap_blocked && c->state == CONN_OPEN) send_method(c, 0, AMQ_CONNECTION_UNBLOCKED, NULL);
    if (c->out.len <= CONN_OUT_HIGH && !c->reply_wait) {
        pause_reading(c, false);
        conn_on_readable(c);
    }
}

void conn_reply_resume(conn *c) {
    if (c->reading_paused && !c->mem_blocked && c->out.len <= CONN_OUT_HIGH && c->state < CONN_FLUSH_CLOSE) {
        pause_reading(c, false);
        conn_on_readable(c);
    }
}

/* Socket events while reading is paused. The peer's end of the stream or a
 * socket error would otherwise go unseen (we do not read) while epoll keeps
 * reporting it. A connection blocked by a resource alarm is closed at once:
 * the alarm may last, and nothing more can come from the peer. One paused for
 * its own unread output still has that output to write: a half-close only
 * stops the wake-ups, and reading meets the EOF when it resumes. */
static void on_paused_hangup(conn *c, uint32_t events) {
    if (c->mem_blocked && c->state == CONN_OPEN) {
        /* What the peer sent before it left waits in the socket buffer
         * (bounded by its size): take it, as RabbitMQ would once unblocked,
         * then meet the end of the stream and close. */
        c->eof_drain = true;
        conn_on_readable(c);
        return;
    }
    if (c->mem_blocked || (events & (EPOLLERR | EPOLLHUP))) {
        if (c->state == CONN_OPEN)
            log_warn("client unexpectedly closed TCP connection %s (id %llu)%s", c->peer, (unsigned long long)c->id,
                     c->mem_blocked ? " while blocked" : "");
        c->state = CONN_DEAD;
        return;
    }
    c->rdhup_seen = true;
    rewatch(c);
}

void conn_on_events(conn *c, uint32_t events) {
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))) return;
    if (c->reading_paused && (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))) {
        on_paused_hangup(c, events);
        return;
    }
    conn_on_readable(c);
}

void conn_on_readable(conn *c) {
    size_t budget = READ_BUDGET;
    if (!c->eof_drain && c->published && c->state == CONN_OPEN && mem_over_limit()) {
        conn_block(c);
        return;
    }
    /* Past the budget, still drain what TLS holds decrypted: epoll cannot see it. */
    while (c->state < CONN_FLUSH_CLOSE && (budget || c->tr->pending(c)) && (!c->reading_paused || c->eof_drain)) {
        size_t need = c->in_len + READ_CHUNK;
        if (c->in_cap < need) {
            size_t cap = c->in_cap ? c->in_cap : READ_CHUNK;
            while (cap < need) cap *= 2;
            c->in = xrealloc(c->in, cap);
            c->in_cap = cap;
        }
        ssize_t n = c->tr->read(c, c->in + c->in_len, c->in_cap - c->in_len);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            if (c->state == CONN_OPEN)
                log_warn("client unexpectedly closed TCP connection %s (id %llu)%s", c->peer, (unsigned long long)c->id,
                         c->mem_blocked ? " while blocked" : "");
            c->state = CONN_DEAD;
            return;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        c->in_len += (size_t)n;
        c->last_recv_ms = now_ms();
        c->recv_oct += (uint64_t)n;
        c->recv_cnt++;
        stat_add2(vhost_stats(c->vh), STAT_RECV_OCT, (uint64_t)n);
        stat_add2(vhost_stats(c->vh), STAT_RECV_CNT, 1);
        budget = budget > (size_t)n ? budget - (size_t)n : 0;
        process_input(c);
        if (c->out.len > CONN_OUT_HIGH || c->reply_wait) pause_reading(c, true);
    }
    /* Keep the input buffer small once a burst is over. */
    if (c->in_len == 0 && c->in_cap > 4 * READ_CHUNK) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    if (budget == 0 || c->state == CONN_FLUSH_CLOSE || (c->tr->wants_write(c) && !c->want_out))
        wconns_want_flush(c->w, c);
}

void conn_flush(conn *c) {
    while (c->out.len && c->state != CONN_DEAD) {
        ssize_t n = c->tr->write(c, c->out.data, c->out.len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            c->state = CONN_DEAD;
            return;
        }
        amq_wr_consume(&c->out, (size_t)n);
        c->last_send_ms = now_ms();
        c->send_oct += (uint64_t)n;
        c->send_cnt++;
        stat_add2(vhost_stats(c->vh), STAT_SEND_OCT, (uint64_t)n);
        stat_add2(vhost_stats(c->vh), STAT_SEND_CNT, 1);
    }
    bool want_out = c->out.len > 0 || c->tr->wants_write(c);
    if (want_out != c->want_out) {
        c->want_out = want_out;
        rewatch(c);
    }
    if (c->out.len < CONN_OUT_LOW) {
        if (c->reading_paused && !c->mem_blocked && !c->reply_wait && c->state < CONN_FLUSH_CLOSE) {
            pause_reading(c, false);
            conn_on_readable(c); /* data may have arrived while paused (edge: level-triggered anyway) */
        }
        if (atomic_load_explicit(&c->throttled, memory_order_relaxed)) {
            atomic_store(&c->throttled, false);
            for (uint32_t i = 0; i < c->nchans; i++) {
                channel *ch = c->chans[i];
                for (size_t k = 0; k < ch->nconsumers; k++) queue_dispatch(ch->consumers[k]->q);
                reply_to_drained(ch); /* repliers held back for our reply consumer */
            }
        }
        if (c->out.cap > (1u << 20) && c->out.len == 0) {
            amq_wr_destroy(&c->out);
            amq_wr_init(&c->out);
        }
    }
    if (c->out.len != c->out_acct) { /* output held for the peer is message memory too */
        mem_account((int64_t)c->out.len - (int64_t)c->out_acct);
        c->out_acct = c->out.len;
    }
    if (c->state == CONN_FLUSH_CLOSE && c->out.len == 0) c->state = CONN_DEAD;
}

void conn_on_writable(conn *c) {
    if (c->tr->wants_write(c)) conn_on_readable(c); /* a TLS handshake or read waits to write */
    if (c->state != CONN_DEAD) conn_flush(c);
}

void conn_tick(conn *c, uint64_t now) {
    if (c->auth_fail_at && c->state == CONN_AWAIT_START_OK && now - c->auth_fail_at >= 1000) {
        c->auth_fail_at = 0;
        conn_error(c, AMQ_ACCESS_REFUSED, AMQ_CONNECTION_START_OK, "%s", c->auth_fail_text);
        return;
    }
    if (c->state == CONN_OPEN && c->vh && vhost_is_deleted(c->vh)) {
        conn_error(c, AMQ_CONNECTION_FORCED, 0, "CONNECTION_FORCED - vhost '%s' is deleted", vhost_name(c->vh));
        return;
    }
    if (c->state == CONN_OPEN && config.consumer_timeout_ms)
        for (uint32_t i = 0; i < c->nchans; i++) consumer_timeout_check(c->chans[i], now);
    bool tls_hs = c->tr->handshaking(c);
    if (c->state < CONN_OPEN &&
        now - c->created_ms > (tls_hs ? config.ssl_handshake_timeout_ms : config.handshake_timeout_ms)) {
        log_warn("closing connection %s: %shandshake timeout", c->peer, tls_hs ? "TLS " : "");
        c->state = CONN_DEAD;
        return;
    }
    if (c->state == CONN_LINGER && now - c->created_ms > 3000 && c->out.len == 0) {
        c->state = CONN_DEAD; /* the peer did not close its side */
        return;
    }
    if (c->state == CONN_CLOSING && now - c->created_ms > 3000) {
        c->state = CONN_DEAD; /* peer never answered our connection.close */
        return;
    }
}

uint64_t conn_timer(conn *c, uint64_t now) {
    if (!c->heartbeat || c->state < CONN_AWAIT_OPEN || c->state > CONN_CLOSING) return 0;
    uint64_t hb = (uint64_t)c->heartbeat * 1000;
    /* Not read from while blocked by an alarm, so its heartbeats are not
     * seen: as RabbitMQ, the monitor pauses (we go on sending ours). */
    if (now - c->last_recv_ms > 2 * hb && !c->mem_blocked) {
        log_warn("missed heartbeats from client %s, timeout: %us", c->peer, c->heartbeat);
        c->state = CONN_DEAD;
        return 0;
    }
    if (now - c->last_send_ms >= hb / 2) {
        amq_put_heartbeat(&c->out);
        conn_output_added(c);
        c->last_send_ms = now; /* flush updates it too */
    }
    /* Both deadlines move with traffic; the timer wakes at the earlier one
     * and looks again (no re-arming per frame). */
    uint64_t send_due = c->last_send_ms + hb / 2, dead_due = c->last_recv_ms + 2 * hb + 1;
    return send_due < dead_due || c->mem_blocked ? send_due : dead_due;
}

void conn_shutdown(conn *c) {
    if (c->state == CONN_OPEN || (c->state > CONN_AWAIT_HEADER && c->state < CONN_CLOSING))
        conn_error(c, AMQ_CONNECTION_FORCED, 0,
                   "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'");
    else if (c->state == CONN_AWAIT_HEADER) c->state = CONN_DEAD;
}

void conn_free(conn *c) {
    stat_add(&stats_global, STAT_CONN_CLOSED, 1);
    conn_release(c);
    if (c->mem_blocked) wconns_blocked(c->w, -1);
    reply_to_conn_free(c);
    mem_account(-(int64_t)c->out_acct);
    access_grant_unref(&c->grant);
    free(c->chans);
    free(c->client_props);
    log_info("closing AMQP connection %s (id %llu)", c->peer, (unsigned long long)c->id);
    worker_unwatch(c->w, c->fd);
    c->tr->close(c); /* closes the fd */
    free(c->in);
    amq_wr_destroy(&c->out);
    free(c);
}
