/* trace.c — firehose tracing (trace.h): building RabbitMQ's trace headers and
 * publishing the copy to amq.rabbitmq.trace. */
#include "trace.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "amq/methods.h"
#include "amq/table.h"
#include "conn.h"
#include "sendsel.h"
#include "util.h"
#include "vhost.h"

void trace_routed_init(trace_routed *t) { amq_wr_init(&t->names); }
void trace_routed_free(trace_routed *t) { amq_wr_destroy(&t->names); }

void trace_routed_collect(void *ctx, queue *const *qs, size_t n) {
    trace_routed *t = ctx;
    for (size_t i = 0; i < n; i++) {
        amq_put_u8(&t->names, 'S');
        amq_put_longstr(&t->names, queue_name(qs[i]));
    }
}

/* "HOST:PORT" as RabbitMQ writes an address (rabbit_misc:ntoab): IPv4-mapped
 * addresses as IPv4, other IPv6 ones in brackets. */
static void addr_text(const struct sockaddr_storage *ss, char *out, size_t cap) {
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%d", host, ntohs(a->sin_port));
        return;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        port = ntohs(a->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, sizeof host);
            snprintf(out, cap, "%s:%d", host, port);
        } else {
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            snprintf(out, cap, "[%s]:%d", host, port);
        }
        return;
    }
    snprintf(out, cap, "?:0");
}

/* RabbitMQ's connection name, "PEER -> LOCAL"; computed once per connection. */
static const char *conn_name(conn *c) {
    if (c->trace_name[0]) return c->trace_name;
    struct sockaddr_storage p, l;
    socklen_t pl = sizeof p, ll = sizeof l;
    char a[80], b[80];
    if (getpeername(c->fd, (struct sockaddr *)&p, &pl) || getsockname(c->fd, (struct sockaddr *)&l, &ll))
        return c->peer;
    addr_text(&p, a, sizeof a);
    addr_text(&l, b, sizeof b);
    snprintf(c->trace_name, sizeof c->trace_name, "%s -> %s", a, b);
    return c->trace_name;
}

static void put_str(amq_wr *w, const char *key, amq_bytes v) {
    amq_field f = amq_field_str(v);
    amq_table_put(w, key, &f);
}

static void put_int(amq_wr *w, const char *key, int64_t v) {
    amq_field f = v >= INT32_MIN && v <= INT32_MAX ? amq_field_i32((int32_t)v) : amq_field_i64(v);
    amq_table_put(w, key, &f);
}

/* The message's properties as rabbit_trace's msg_to_table lists them
 * (record fields in reverse order, absent ones left out). */
static void put_properties(amq_wr *w, const msg *m) {
    amq_basic_props p;
    memset(&p, 0, sizeof p);
    if (m->props_len) amq_basic_props_decode(msg_props(m), &p); /* validated on arrival */
    amq_table_put_key(w, "properties");
    amq_put_u8(w, 'F');
    size_t t = amq_table_begin(w);
    uint16_t f = p.flags;
    if (f & AMQ_BASIC_PROP_CLUSTER_ID) put_str(w, "cluster_id", p.cluster_id);
    if (f & AMQ_BASIC_PROP_APP_ID) put_str(w, "app_id", p.app_id);
    if (f & AMQ_BASIC_PROP_USER_ID) put_str(w, "user_id", p.user_id);
    if (f & AMQ_BASIC_PROP_TYPE) put_str(w, "type", p.type);
    if (f & AMQ_BASIC_PROP_TIMESTAMP)
        put_int(w, "timestamp", p.timestamp > INT64_MAX ? INT64_MAX : (int64_t)p.timestamp);
    if (f & AMQ_BASIC_PROP_MESSAGE_ID) put_str(w, "message_id", p.message_id);
    if (f & AMQ_BASIC_PROP_EXPIRATION) put_str(w, "expiration", p.expiration);
    if (f & AMQ_BASIC_PROP_REPLY_TO) put_str(w, "reply_to", p.reply_to);
    if (f & AMQ_BASIC_PROP_CORRELATION_ID) put_str(w, "correlation_id", p.correlation_id);
    if (f & AMQ_BASIC_PROP_PRIORITY) put_int(w, "priority", p.priority);
    if (f & AMQ_BASIC_PROP_DELIVERY_MODE) put_int(w, "delivery_mode", p.delivery_mode);
    if (f & AMQ_BASIC_PROP_HEADERS) {
        amq_field h = amq_field_table(p.headers);
        amq_table_put(w, "headers", &h);
    }
    if (f & AMQ_BASIC_PROP_CONTENT_ENCODING) put_str(w, "content_encoding", p.content_encoding);
    if (f & AMQ_BASIC_PROP_CONTENT_TYPE) put_str(w, "content_type", p.content_type);
    amq_table_end(w, t);
}

/* msg_to_table's head: exchange_name, routing_keys, properties, node. */
static void put_head(amq_wr *w, const msg *m, const amq_bytes *rks, size_t nrk) {
    put_str(w, "exchange_name", msg_exchange(m));
    amq_wr a;
    amq_wr_init(&a);
    for (size_t i = 0; i < nrk; i++) {
        amq_put_u8(&a, 'S');
        amq_put_longstr(&a, rks[i]);
    }
    amq_field keys = amq_field_array((amq_bytes){a.data, a.len});
    amq_table_put(w, "routing_keys", &keys);
    amq_wr_destroy(&a);
    put_properties(w, m);
    put_str(w, "node", amq_cstr(node_name()));
}

static void put_who(amq_wr *w, channel *ch) {
    conn *c = ch->conn;
    put_str(w, "vhost", amq_cstr(vhost_name(c->vh)));
    put_str(w, "connection", amq_cstr(conn_name(c)));
    put_int(w, "channel", ch->id);
    put_str(w, "user", amq_cstr(c->user));
}

/* Publish the copy: the body of m, properties = just the headers in w. */
static void emit(channel *ch, msg *m, const char *prefix, amq_bytes suffix, amq_wr *w, size_t table_at) {
    amq_table_end(w, table_at);
    if (w->err) return;
    char rk[256];
    int n = snprintf(rk, sizeof rk, "%s.%.*s", prefix, (int)suffix.len, suffix.p);
    size_t rkl = n < 0 ? 0 : (size_t)n >= sizeof rk ? sizeof rk - 1 : (size_t)n; /* at most 255 bytes */
    amq_basic_props tp;
    memset(&tp, 0, sizeof tp);
    tp.flags = AMQ_BASIC_PROP_HEADERS;
    tp.headers = (amq_bytes){w->data + table_at + 4, w->len - table_at - 4};
    amq_wr pw;
    amq_wr_init(&pw);
    amq_basic_props_encode(&pw, &tp);
    msg *t = pw.err ? NULL
                    : msg_new(amq_cstr(VHOST_TRACE_EXCHANGE), (amq_bytes){(const uint8_t *)rk, rkl},
                              (amq_bytes){pw.data, pw.len}, m->body_len);
    amq_wr_destroy(&pw);
    if (!t) return;
    if (m->body_len) memcpy(msg_body(t), msg_body_c(m), (size_t)m->body_len);
    t->body_have = m->body_len;
    vhost_publish_trace(ch->conn->vh, t, (amq_bytes){(const uint8_t *)rk, rkl}, &ch->rs);
    msg_unref(&t);
}

static bool is_trace_msg(const msg *m) { return amq_bytes_eqs(msg_exchange(m), VHOST_TRACE_EXCHANGE); }

void trace_publish(channel *ch, msg *m, amq_bytes xn, const amq_bytes *rks, size_t nrk, const trace_routed *routed) {
    if (is_trace_msg(m)) return;
    amq_wr w;
    amq_wr_init(&w);
    size_t t = amq_table_begin(&w);
    put_head(&w, m, rks, nrk);
    put_who(&w, ch);
    amq_field rq = amq_field_array((amq_bytes){routed->names.data, routed->names.len});
    amq_table_put(&w, "routed_queues", &rq);
    emit(ch, m, "publish", xn, &w, t);
    amq_wr_destroy(&w);
}

void trace_deliver(channel *ch, queue *q, msg *m, bool redelivered) {
    if (!q || is_trace_msg(m)) return;
    /* The message's routing keys: its own, and its CC header's (BCC was removed on publish). */
    amq_basic_props p;
    memset(&p, 0, sizeof p);
    if (m->props_len) amq_basic_props_decode(msg_props(m), &p);
    ss_keys keys;
    ss_init(&keys, msg_rk(m));
    bool bcc = false;
    char err[200];
    if ((p.flags & AMQ_BASIC_PROP_HEADERS) && p.headers.len) ss_collect(p.headers, &keys, &bcc, err, sizeof err);
    amq_wr w;
    amq_wr_init(&w);
    size_t t = amq_table_begin(&w);
    put_head(&w, m, keys.v, keys.n);
    put_int(&w, "redelivered", redelivered ? 1 : 0);
    put_who(&w, ch);
    emit(ch, m, "deliver", queue_name(q), &w, t);
    amq_wr_destroy(&w);
    ss_free(&keys);
}
