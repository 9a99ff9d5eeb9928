/* test_frames.c — frame-level protocol errors sent over a raw socket.
 * Expected codes/texts are RabbitMQ 3.10's (checked against the reference
 * broker); texts are asserted only up to their stable prefix where RabbitMQ
 * appends Erlang terms. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static h_buf_t out; /* bytes to send in one write */

static void put_frame(uint8_t type, uint16_t ch, const void *payload, size_t n, uint8_t end) {
    h_buf_u8(&out, type);
    h_buf_u16(&out, ch);
    h_buf_u32(&out, (uint32_t)n);
    h_buf_bytes(&out, payload, n);
    h_buf_u8(&out, end);
}

/* basic.publish(exchange "", routing_key) method frame on ch. */
static void put_publish(uint16_t ch, const char *routing_key) {
    h_buf_t m = {.n = 0};
    h_buf_u16(&m, 60);
    h_buf_u16(&m, 40);
    h_buf_u16(&m, 0);
    h_buf_shortstr(&m, "");
    h_buf_shortstr(&m, routing_key);
    h_buf_u8(&m, 0);
    put_frame(AMQP_FRAME_METHOD, ch, m.b, m.n, AMQP_FRAME_END);
}

/* basic content header announcing body_size bytes, no properties. */
static void put_header(uint16_t ch, uint64_t body_size) {
    h_buf_t m = {.n = 0};
    h_buf_u16(&m, 60);
    h_buf_u16(&m, 0);
    h_buf_u64(&m, body_size);
    h_buf_u16(&m, 0);
    put_frame(AMQP_FRAME_HEADER, ch, m.b, m.n, AMQP_FRAME_END);
}

static void put_body(uint16_t ch, const char *body) {
    put_frame(AMQP_FRAME_BODY, ch, body, strlen(body), AMQP_FRAME_END);
}

/* Complete publish of body to the default exchange with routing key q. */
static void put_message(uint16_t ch, const char *q, const char *body) {
    put_publish(ch, q);
    put_header(ch, strlen(body));
    put_body(ch, body);
}

/* queue.declare(name) on ch, non-passive, no-wait=0. */
static void put_queue_declare(uint16_t ch, const char *name) {
    h_buf_t m = {.n = 0};
    h_buf_u16(&m, 50);
    h_buf_u16(&m, 10);
    h_buf_u16(&m, 0);
    h_buf_shortstr(&m, name);
    h_buf_u8(&m, 0);
    h_buf_u32(&m, 0);
    put_frame(AMQP_FRAME_METHOD, ch, m.b, m.n, AMQP_FRAME_END);
}

static void flush_out(int s) {
    h_raw_send(s, out.b, out.n);
    out.n = 0;
}

/* Logged-in raw socket with channel 1 open. */
static int raw_ready(uint32_t frame_max) {
    int s = h_raw_socket();
    h_raw_login(s, 2047, frame_max, 0);
    h_raw_channel_open(s, 1);
    out.n = 0;
    return s;
}

/* A durable-less queue owned by a separate rabbitmq-c connection. */
static amqp_connection_state_t side_queue(char *name, size_t len) {
    amqp_connection_state_t c = h_connect();
    snprintf(name, len, "%s", h_queue_declare(c, 1, h_name("frames-q"), false, false, true));
    return c;
}

/* Nothing reached q: wait a little (the publisher is another connection),
 * then drain it with basic.get (ordered after deliveries, unlike the
 * message count of a passive declare). */
static void assert_queue_empty(amqp_connection_state_t c, const char *q, const char *why) {
    usleep(300 * 1000);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "", "%s (queue holds \"%s\")", why, all);
    free(all);
}

static void assert_queue_missing(amqp_connection_state_t c, const char *q) {
    h_channel_open(c, 2);
    amqp_queue_declare(c, 2, amqp_cstring_bytes(q), 1, 0, 0, 0, amqp_empty_table);
    h_expect_channel_close(amqp_get_rpc_reply(c), 404, "NOT_FOUND - no queue");
}

Test(frames, bad_frame_end) {
    int s = raw_ready(131072);
    uint8_t payload[5] = {0, 20, 0, 20, 1}; /* channel.flow(active) */
    put_frame(AMQP_FRAME_METHOD, 1, payload, sizeof payload, 0x00);
    flush_out(s);
    h_raw_expect_connection_close(s, 501, "FRAME_ERROR");
    close(s);
}

/* The broker processes nothing after the bad frame, even bytes that arrived
 * in the same TCP segment. */
Test(frames, nothing_processed_after_bad_frame) {
    char q[256];
    amqp_connection_state_t c = side_queue(q, sizeof q);
    const char *fresh = h_name("frames-never");
    int s = raw_ready(131072);
    uint8_t payload[5] = {0, 20, 0, 20, 1};
    put_frame(AMQP_FRAME_METHOD, 1, payload, sizeof payload, 'X');
    put_message(1, q, "must not arrive");
    put_queue_declare(1, fresh);
    flush_out(s);
    h_raw_expect_connection_close(s, 501, "FRAME_ERROR");
    close(s);
    assert_queue_empty(c, q, "a publish after the bad frame was processed");
    assert_queue_missing(c, fresh);
    h_close(c);
}

/* After the broker has sent connection.close it ignores everything but
 * close/close-ok. */
Test(frames, nothing_processed_after_server_close) {
    char q[256];
    amqp_connection_state_t c = side_queue(q, sizeof q);
    const char *fresh = h_name("frames-never");
    int s = raw_ready(131072);
    put_queue_declare(7, "x"); /* channel 7 not open: 504 */
    flush_out(s);
    h_raw_frame_t f;
    amqp_method_number_t id = h_raw_read_method(s, &f, 5000, NULL, NULL);
    h_raw_check_connection_close(&f, 504, "CHANNEL_ERROR");
    h_raw_frame_destroy(&f);
    (void)id;
    put_message(1, q, "must not arrive");
    put_queue_declare(1, fresh);
    flush_out(s);
    usleep(300 * 1000);
    static const uint8_t close_ok[] = {1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 51, 0xCE};
    ssize_t w = send(s, close_ok, sizeof close_ok, MSG_NOSIGNAL);
    (void)w;
    cr_assert(h_raw_closed_within(s, 5000, NULL));
    close(s);
    assert_queue_empty(c, q, "a publish after connection.close was processed");
    assert_queue_missing(c, fresh);
    h_close(c);
}

/* A body frame larger than the negotiated frame_max (8192). The frame header
 * is sent first, alone, so the broker sees the announced size before the
 * payload (RabbitMQ checks the size when it parses a frame header). */
Test(frames, frame_larger_than_frame_max) {
    int s = raw_ready(8192);
    put_publish(1, "nowhere");
    put_header(1, 10000);
    flush_out(s);
    uint8_t hdr[7] = {AMQP_FRAME_BODY, 0, 1, 0, 0, 0x27, 0x10}; /* size 10000 */
    h_raw_send(s, hdr, sizeof hdr);
    usleep(200 * 1000);
    static uint8_t rest[10001];
    memset(rest, 'x', 10000);
    rest[10000] = AMQP_FRAME_END;
    ssize_t w = send(s, rest, sizeof rest, MSG_NOSIGNAL); /* broker may have closed already */
    (void)w;
    h_raw_expect_connection_close(s, 501, "FRAME_ERROR");
    close(s);
}

Test(frames, body_without_header) {
    int s = raw_ready(131072);
    put_body(1, "hello");
    flush_out(s);
    h_raw_expect_connection_close(s, 505, "UNEXPECTED_FRAME");
    close(s);
}

Test(frames, header_without_method) {
    int s = raw_ready(131072);
    put_header(1, 5);
    flush_out(s);
    h_raw_expect_connection_close(s, 505, "UNEXPECTED_FRAME");
    close(s);
}

/* Header announced 10 bytes, only 5 came, then a method frame. */
Test(frames, method_in_the_middle_of_content) {
    char q[256];
    amqp_connection_state_t c = side_queue(q, sizeof q);
    int s = raw_ready(131072);
    put_publish(1, q);
    put_header(1, 10);
    put_body(1, "hello");
    put_message(1, q, "second");
    flush_out(s);
    h_raw_expect_connection_close(s, 505, "UNEXPECTED_FRAME");
    close(s);
    assert_queue_empty(c, q, "a message was enqueued");
    h_close(c);
}

Test(frames, heartbeat_on_nonzero_channel) {
    int s = raw_ready(131072);
    put_frame(AMQP_FRAME_HEARTBEAT, 1, NULL, 0, AMQP_FRAME_END);
    flush_out(s);
    h_raw_expect_connection_close(s, 505, "UNEXPECTED_FRAME");
    close(s);
}

Test(frames, unknown_frame_type) {
    int s = raw_ready(131072);
    put_frame(9, 0, "abc", 3, AMQP_FRAME_END);
    flush_out(s);
    h_raw_expect_connection_close(s, 501, "FRAME_ERROR");
    close(s);
}

Test(frames, method_on_unopened_channel) {
    int s = raw_ready(131072);
    put_queue_declare(3, "x");
    flush_out(s);
    h_raw_expect_connection_close(s, 504, "CHANNEL_ERROR - expected 'channel.open'");
    close(s);
}

Test(frames, channel_method_on_channel_zero) {
    int s = raw_ready(131072);
    put_queue_declare(0, "x");
    flush_out(s);
    h_raw_expect_connection_close(s, 504, "CHANNEL_ERROR");
    close(s);
}

/* Content on a channel that is not open. */
Test(frames, publish_on_unopened_channel) {
    int s = raw_ready(131072);
    put_message(5, "x", "hello");
    flush_out(s);
    h_raw_expect_connection_close(s, 504, "CHANNEL_ERROR - expected 'channel.open'");
    close(s);
}

/* RabbitMQ 3.10 cannot decode an unknown class/method id: its connection
 * process exits and the socket is closed without a connection.close. A
 * broker that instead replies connection.close must use 540 or 503. Either
 * way the connection must end promptly and nothing else may be sent. */
static void unknown_method(uint16_t ch, uint16_t cls, uint16_t mid) {
    int s = raw_ready(131072);
    uint8_t payload[4] = {(uint8_t)(cls >> 8), (uint8_t)cls, (uint8_t)(mid >> 8), (uint8_t)mid};
    put_frame(AMQP_FRAME_METHOD, ch, payload, sizeof payload, AMQP_FRAME_END);
    flush_out(s);
    h_raw_frame_t f;
    int rc = h_raw_read_frame(s, &f, 5000);
    cr_assert(rc != -1, "connection still open 5 s after an unknown method");
    if (rc == 1) {
        cr_assert(f.type == AMQP_FRAME_METHOD && f.channel == 0 && f.size >= 6 && f.payload[1] == 10 &&
                      f.payload[3] == 50,
                  "expected connection.close or a closed socket");
        uint16_t code = (uint16_t)(f.payload[4] << 8 | f.payload[5]);
        cr_assert(code == 540 || code == 503, "connection.close code %u", code);
        h_raw_frame_destroy(&f);
        static const uint8_t close_ok[] = {1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 51, 0xCE};
        ssize_t w = send(s, close_ok, sizeof close_ok, MSG_NOSIGNAL);
        (void)w;
        cr_assert(h_raw_closed_within(s, 5000, NULL));
    }
    close(s);
}

Test(frames, unknown_class) { unknown_method(1, 99, 10); }
Test(frames, unknown_method_in_known_class) { unknown_method(1, 50, 99); }
Test(frames, unknown_connection_method) { unknown_method(0, 10, 99); }

/* Frames split at odd byte boundaries are reassembled. */
Test(frames, byte_by_byte_delivery) {
    char q[256];
    amqp_connection_state_t c = side_queue(q, sizeof q);
    int s = raw_ready(131072);
    put_message(1, q, "dribbled");
    for (size_t i = 0; i < out.n; i++) h_raw_send(s, out.b + i, 1);
    out.n = 0;
    cr_assert(h_wait_message_count(c, 1, q, 1, 3000) == 1, "byte-by-byte publish not enqueued");
    close(s);
    h_close(c);
}

/* A body split across several frames (each within frame_max) is reassembled. */
Test(frames, multi_frame_body) {
    char q[256];
    amqp_connection_state_t c = side_queue(q, sizeof q);
    int s = raw_ready(4096);
    static char big[12001];
    memset(big, 'b', 12000);
    put_publish(1, q);
    put_header(1, 12000);
    for (int i = 0; i < 3; i++) put_frame(AMQP_FRAME_BODY, 1, big + i * 4000, 4000, AMQP_FRAME_END);
    flush_out(s);
    cr_assert(h_wait_message_count(c, 1, q, 1, 3000) == 1, "multi-frame message not enqueued");
    char *got = h_get(c, 1, q, true, NULL, NULL);
    cr_assert(got != NULL && strlen(got) == 12000, "multi-frame body not reassembled");
    free(got);
    close(s);
    h_close(c);
}
