/* test_basic_util.h — helpers shared by the basic/confirm/tx interop tests
 * (test_basic_*.c, test_confirm.c, test_tx.c, test_reply_to.c,
 * test_redelivery.c). Header-only, all functions static inline, so each test
 * binary gets its own copy; they build on harness.h and assert (cr_assert) on
 * failure. Not a test file itself (CMake globs test_*.c only). */
#ifndef INTEROP_TEST_BASIC_UTIL_H
#define INTEROP_TEST_BASIC_UTIL_H
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

/* One received message (basic.deliver, basic.get-ok or basic.return).
 * body is malloc'd and NUL-terminated; free with tbu_msg_free. */
typedef struct {
    amqp_method_number_t method; /* AMQP_BASIC_DELIVER_METHOD / _RETURN_ / _GET_OK_ */
    amqp_channel_t channel;
    uint64_t tag;
    bool redelivered;
    uint16_t reply_code; /* basic.return only */
    char reply_text[256]; /* basic.return only */
    char ctag[256];
    char exchange[256];
    char rkey[256];
    char *body;
    size_t len;
    char reply_to[256]; /* properties.reply_to if present, else "" */
} tbu_msg_t;

/* Free the body of m (m itself is caller storage). */
static inline void tbu_msg_free(tbu_msg_t *m) {
    free(m->body);
    m->body = NULL;
}

static inline void tbu_copy(char *dst, size_t n, amqp_bytes_t b) {
    snprintf(dst, n, "%.*s", (int)b.len, (const char *)b.bytes);
}

static inline bool tbu_eq(amqp_bytes_t b, const char *s) {
    return b.len == strlen(s) && memcmp(b.bytes, s, b.len) == 0;
}

/* Wait up to ms for the next frame of any kind; returns false on timeout,
 * asserts on socket errors. */
static inline bool tbu_frame(amqp_connection_state_t c, amqp_frame_t *f, int ms) {
    int rc = h_wait_frame(c, f, ms);
    if (rc == AMQP_STATUS_TIMEOUT) return false;
    cr_assert(rc == AMQP_STATUS_OK, "waiting for a frame failed: %s", amqp_error_string2(rc));
    return true;
}

/* Wait up to ms for the next method frame; asserts one arrives and that it is
 * a method (not a stray content frame). */
static inline amqp_frame_t tbu_method(amqp_connection_state_t c, int ms) {
    amqp_frame_t f;
    cr_assert(tbu_frame(c, &f, ms), "no frame arrived within %d ms", ms);
    cr_assert(f.frame_type == AMQP_FRAME_METHOD, "expected a method frame, got frame type %d",
              f.frame_type);
    return f;
}

/* Read the content (header + body) that follows a deliver/return/get-ok on ch. */
static inline void tbu_read_content(amqp_connection_state_t c, amqp_channel_t ch, tbu_msg_t *m) {
    amqp_message_t msg;
    amqp_rpc_reply_t r = amqp_read_message(c, ch, &msg, 0);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "reading message content failed (type %d, err %d)",
              r.reply_type, r.library_error);
    m->len = msg.body.len;
    m->body = malloc(m->len + 1);
    cr_assert(m->body != NULL);
    if (m->len) memcpy(m->body, msg.body.bytes, m->len);
    m->body[m->len] = 0;
    m->reply_to[0] = 0;
    if (msg.properties._flags & AMQP_BASIC_REPLY_TO_FLAG)
        tbu_copy(m->reply_to, sizeof m->reply_to, msg.properties.reply_to);
    amqp_destroy_message(&msg);
}

/* Turn a received method frame that starts a content (deliver or return) into
 * m, reading its content. Returns false if f is not such a method. */
static inline bool tbu_from_method(amqp_connection_state_t c, const amqp_frame_t *f, tbu_msg_t *m) {
    memset(m, 0, sizeof *m);
    m->method = f->payload.method.id;
    m->channel = f->channel;
    if (m->method == AMQP_BASIC_DELIVER_METHOD) {
        amqp_basic_deliver_t *d = f->payload.method.decoded;
        m->tag = d->delivery_tag;
        m->redelivered = d->redelivered;
        tbu_copy(m->ctag, sizeof m->ctag, d->consumer_tag);
        tbu_copy(m->exchange, sizeof m->exchange, d->exchange);
        tbu_copy(m->rkey, sizeof m->rkey, d->routing_key);
    } else if (m->method == AMQP_BASIC_RETURN_METHOD) {
        amqp_basic_return_t *d = f->payload.method.decoded;
        m->reply_code = d->reply_code;
        tbu_copy(m->reply_text, sizeof m->reply_text, d->reply_text);
        tbu_copy(m->exchange, sizeof m->exchange, d->exchange);
        tbu_copy(m->rkey, sizeof m->rkey, d->routing_key);
    } else {
        return false;
    }
    tbu_read_content(c, f->channel, m);
    return true;
}

/* Next basic.deliver within ms: returns false on timeout; asserts that the
 * next method is a basic.deliver (anything else fails the test). */
static inline bool tbu_deliver(amqp_connection_state_t c, int ms, tbu_msg_t *m) {
    amqp_frame_t f;
    amqp_maybe_release_buffers(c);
    if (!tbu_frame(c, &f, ms)) return false;
    cr_assert(f.frame_type == AMQP_FRAME_METHOD, "expected a method frame, got type %d", f.frame_type);
    cr_assert(f.payload.method.id == AMQP_BASIC_DELIVER_METHOD,
              "expected basic.deliver, got method 0x%08x", f.payload.method.id);
    cr_assert(tbu_from_method(c, &f, m));
    return true;
}

/* Next basic.deliver that must arrive within ms; asserts its body. Returns
 * the delivery tag. */
static inline uint64_t tbu_expect_deliver(amqp_connection_state_t c, int ms, const char *body,
                                          bool redelivered) {
    tbu_msg_t m;
    cr_assert(tbu_deliver(c, ms, &m), "no delivery within %d ms (expected \"%s\")", ms, body);
    cr_assert_str_eq(m.body, body, "delivered \"%s\", expected \"%s\"", m.body, body);
    cr_assert(m.redelivered == redelivered, "message \"%s\": redelivered=%d, expected %d", body,
              m.redelivered, redelivered);
    tbu_msg_free(&m);
    return m.tag;
}

/* Assert that no frame at all arrives within ms. */
static inline void tbu_expect_silence(amqp_connection_state_t c, int ms) {
    amqp_frame_t f;
    amqp_maybe_release_buffers(c);
    bool got = tbu_frame(c, &f, ms);
    cr_assert(!got, "unexpected frame (type %d, method 0x%08x) on channel %u", f.frame_type,
              f.frame_type == AMQP_FRAME_METHOD ? f.payload.method.id : 0, f.channel);
}

/* After a method the server answers with an asynchronous channel.close (e.g.
 * basic.ack with a bad tag): wait for the channel.close on ch, skipping any
 * deliveries/acks still in flight, assert code and text prefix, and answer
 * close-ok. */
static inline void tbu_expect_async_channel_close(amqp_connection_state_t c, amqp_channel_t ch,
                                                  uint16_t code, const char *prefix) {
    for (int i = 0; i < 100000; i++) {
        amqp_frame_t f;
        cr_assert(tbu_frame(c, &f, 5000), "no channel.close within 5 s (expected %u %s)", code,
                  prefix ? prefix : "");
        if (f.frame_type != AMQP_FRAME_METHOD) continue; /* content of a delivery in flight */
        if (f.channel == 0 && f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = f.payload.method.decoded;
            cr_assert_fail("expected channel.close %u, got connection.close %u %.*s", code,
                           m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        }
        if (f.channel != ch || f.payload.method.id != AMQP_CHANNEL_CLOSE_METHOD) continue;
        amqp_rpc_reply_t r = {.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION, .reply = f.payload.method};
        h_expect_channel_close(r, code, prefix);
        amqp_channel_close_ok_t ok = {0};
        cr_assert(amqp_send_method(c, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) == AMQP_STATUS_OK);
        return;
    }
    cr_assert_fail("no channel.close");
}

/* Same for an asynchronous connection.close; answers close-ok. The caller
 * must then amqp_destroy_connection (not h_close). */
static inline void tbu_expect_async_connection_close(amqp_connection_state_t c, uint16_t code,
                                                     const char *prefix) {
    for (int i = 0; i < 100000; i++) {
        amqp_frame_t f;
        cr_assert(tbu_frame(c, &f, 5000), "no connection.close within 5 s (expected %u %s)", code,
                  prefix ? prefix : "");
        if (f.frame_type != AMQP_FRAME_METHOD) continue;
        if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = f.payload.method.decoded;
            cr_assert_fail("expected connection.close %u, got channel.close %u %.*s", code,
                           m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        }
        if (f.channel != 0 || f.payload.method.id != AMQP_CONNECTION_CLOSE_METHOD) continue;
        amqp_rpc_reply_t r = {.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION, .reply = f.payload.method};
        h_expect_connection_close(r, code, prefix);
        amqp_connection_close_ok_t ok = {0};
        amqp_send_method(c, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        return;
    }
    cr_assert_fail("no connection.close");
}

/* After a synchronous call returned NULL/failure: assert the last rpc reply is
 * a channel.close with code/prefix and answer close-ok. */
static inline void tbu_expect_rpc_channel_close(amqp_connection_state_t c, amqp_channel_t ch,
                                                uint16_t code, const char *prefix) {
    h_expect_channel_close(amqp_get_rpc_reply(c), code, prefix);
    amqp_channel_close_ok_t ok = {0};
    cr_assert(amqp_send_method(c, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) == AMQP_STATUS_OK);
}

/* Same for a connection.close; the caller must then amqp_destroy_connection. */
static inline void tbu_expect_rpc_connection_close(amqp_connection_state_t c, uint16_t code,
                                                   const char *prefix) {
    h_expect_connection_close(amqp_get_rpc_reply(c), code, prefix);
    amqp_connection_close_ok_t ok = {0};
    amqp_send_method(c, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
}

/* basic.qos; asserts qos-ok. */
static inline void tbu_qos(amqp_connection_state_t c, amqp_channel_t ch, uint16_t count, bool global) {
    cr_assert(amqp_basic_qos(c, ch, 0, count, global) != NULL, "basic.qos %u failed", count);
}

/* basic.consume; asserts consume-ok; returns the consumer tag (static storage,
 * valid until the 4th next call). tag may be "" for a server-generated one. */
static inline const char *tbu_consume_args(amqp_connection_state_t c, amqp_channel_t ch,
                                           const char *queue, const char *tag, bool no_ack,
                                           bool exclusive, amqp_table_t args) {
    static char out[4][256];
    static unsigned n;
    amqp_basic_consume_ok_t *ok = amqp_basic_consume(c, ch, amqp_cstring_bytes(queue),
                                                     amqp_cstring_bytes(tag), 0, no_ack, exclusive, args);
    cr_assert(ok != NULL, "basic.consume on %s failed", queue);
    char *o = out[n++ % 4];
    tbu_copy(o, sizeof out[0], ok->consumer_tag);
    return o;
}

static inline const char *tbu_consume(amqp_connection_state_t c, amqp_channel_t ch, const char *queue,
                                      bool no_ack) {
    return tbu_consume_args(c, ch, queue, "", no_ack, false, amqp_empty_table);
}

/* Publish "<prefix><i>" for i in [from, to) to the default exchange. */
static inline void tbu_publish_seq(amqp_connection_state_t c, amqp_channel_t ch, const char *queue,
                                   const char *prefix, int from, int to) {
    for (int i = from; i < to; i++) {
        char b[64];
        snprintf(b, sizeof b, "%s%d", prefix, i);
        h_publish(c, ch, "", queue, b, false, NULL);
    }
}

/* Poll the queue's message count (on a private connection) until it equals
 * want or timeout_ms passes; returns the last count seen. */
static inline uint32_t tbu_wait_count(const char *queue, uint32_t want, int timeout_ms) {
    amqp_connection_state_t c = h_connect();
    uint32_t n = 0;
    for (int t = 0; t <= timeout_ms; t += 20) {
        n = h_message_count(c, 1, queue);
        if (n == want) break;
        usleep(20 * 1000);
    }
    h_close(c);
    return n;
}

/* Connect advertising client capabilities (consumer_cancel_notify etc.), as
 * real clients do; opens channel 1. */
static inline amqp_connection_state_t tbu_connect_caps(void) {
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    cr_assert(s != NULL);
    cr_assert(amqp_socket_open(s, "127.0.0.1", h_port()) == AMQP_STATUS_OK);
    amqp_table_entry_t caps[3];
    caps[0].key = amqp_cstring_bytes("consumer_cancel_notify");
    caps[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    caps[0].value.value.boolean = 1;
    caps[1].key = amqp_cstring_bytes("publisher_confirms");
    caps[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    caps[1].value.value.boolean = 1;
    caps[2].key = amqp_cstring_bytes("basic.nack");
    caps[2].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    caps[2].value.value.boolean = 1;
    amqp_table_entry_t prop;
    prop.key = amqp_cstring_bytes("capabilities");
    prop.value.kind = AMQP_FIELD_KIND_TABLE;
    prop.value.value.table.num_entries = 3;
    prop.value.value.table.entries = caps;
    amqp_table_t props = {.num_entries = 1, .entries = &prop};
    amqp_rpc_reply_t r = amqp_login_with_properties(c, "/", 0, 131072, 0, &props,
                                                    AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "login with capabilities failed");
    h_channel_open(c, 1);
    return c;
}

/* Declare a fresh, uniquely named, non-durable queue; returns its name
 * (static storage valid until the 4th next call). */
static inline const char *tbu_queue(amqp_connection_state_t c, const char *prefix) {
    static char out[4][256];
    static unsigned n;
    char *o = out[n++ % 4];
    snprintf(o, sizeof out[0], "%s", h_queue_declare(c, 1, h_name(prefix), false, false, false));
    return o;
}
/* Building an argument table for a declare: args_t a = {0}; a_int(&a, ...). */
#define MAXA 8
typedef struct {
    amqp_table_entry_t e[MAXA];
    int n;
} args_t;

static inline void a_int(args_t *a, const char *k, int64_t v) {
    a->e[a->n].key = amqp_cstring_bytes(k);
    a->e[a->n].value.kind = AMQP_FIELD_KIND_I64;
    a->e[a->n++].value.value.i64 = v;
}
static inline void a_str(args_t *a, const char *k, const char *v) {
    a->e[a->n].key = amqp_cstring_bytes(k);
    a->e[a->n].value.kind = AMQP_FIELD_KIND_UTF8;
    a->e[a->n++].value.value.bytes = amqp_cstring_bytes(v);
}
static inline void a_bool(args_t *a, const char *k, bool v) {
    a->e[a->n].key = amqp_cstring_bytes(k);
    a->e[a->n].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    a->e[a->n++].value.value.boolean = v;
}
static inline amqp_table_t tbl(args_t *a) { return (amqp_table_t){a->n, a->e}; }
#endif
