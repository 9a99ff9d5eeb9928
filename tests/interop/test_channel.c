/* test_channel.c — channel class: open/close both ways, reuse of ids after
 * errors, channel.flow. Expected replies are RabbitMQ 3.10's. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static void send_channel_close_ok(amqp_connection_state_t c, amqp_channel_t ch) {
    amqp_channel_close_ok_t ok = {0};
    cr_assert(amqp_send_method(c, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) == AMQP_STATUS_OK);
}

/* Passive declare of a missing queue on ch: the broker closes ch with 404. */
static void provoke_404(amqp_connection_state_t c, amqp_channel_t ch) {
    amqp_queue_declare(c, ch, amqp_cstring_bytes(h_name("chan-missing")), 1, 0, 0, 0,
                       amqp_empty_table);
    h_expect_channel_close(amqp_get_rpc_reply(c), 404, "NOT_FOUND - no queue");
    send_channel_close_ok(c, ch);
}

Test(channel, open_and_client_close) {
    amqp_connection_state_t c = h_connect();
    amqp_channel_open_ok_t *ok = amqp_channel_open(c, 2);
    cr_assert(ok != NULL, "channel.open 2 failed");
    amqp_rpc_reply_t r = amqp_channel_close(c, 2, AMQP_REPLY_SUCCESS);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "channel.close not answered with close-ok");
    h_close(c);
}

Test(channel, reopen_after_client_close) {
    amqp_connection_state_t c = h_connect();
    for (int i = 0; i < 3; i++) {
        h_channel_open(c, 5);
        h_queue_declare(c, 5, "", false, true, true);
        amqp_rpc_reply_t r = amqp_channel_close(c, 5, AMQP_REPLY_SUCCESS);
        cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL);
    }
    h_close(c);
}

Test(channel, many_channels) {
    amqp_connection_state_t c = h_connect();
    for (amqp_channel_t ch = 2; ch <= 50; ch++) h_channel_open(c, ch);
    for (amqp_channel_t ch = 2; ch <= 50; ch++) h_queue_declare(c, ch, "", false, true, true);
    for (amqp_channel_t ch = 2; ch <= 50; ch++)
        cr_assert(amqp_channel_close(c, ch, AMQP_REPLY_SUCCESS).reply_type == AMQP_RESPONSE_NORMAL);
    h_close(c);
}

Test(channel, server_close_then_reopen_same_id) {
    amqp_connection_state_t c = h_connect();
    provoke_404(c, 1);
    h_channel_open(c, 1);
    const char *q = h_queue_declare(c, 1, "", false, true, true);
    cr_assert(strncmp(q, "amq.gen-", 8) == 0);
    h_close(c);
}

Test(channel, error_on_one_channel_leaves_others_open) {
    amqp_connection_state_t c = h_connect();
    h_channel_open(c, 2);
    char q[256];
    snprintf(q, sizeof q, "%s", h_queue_declare(c, 1, "", false, true, true));
    provoke_404(c, 2);
    h_publish(c, 1, "", q, "still-alive", false, NULL);
    char *got = h_get(c, 1, q, true, NULL, NULL);
    cr_assert(got && strcmp(got, "still-alive") == 0, "channel 1 broken by an error on channel 2");
    free(got);
    h_close(c);
}

/* Between the broker's channel.close and the client's close-ok, the broker
 * discards everything the client sends on that channel. */
Test(channel, frames_after_server_channel_close_ignored) {
    amqp_connection_state_t side = h_connect();
    char q[256];
    snprintf(q, sizeof q, "%s", h_queue_declare(side, 1, h_name("chan-q"), false, false, true));
    int s = h_raw_socket();
    h_raw_login(s, 2047, 131072, 0);
    h_raw_channel_open(s, 1);
    amqp_queue_declare_t qd = {0, amqp_cstring_bytes("chan-missing-xyz"), 1, 0, 0, 0, 0, amqp_empty_table};
    h_raw_send_amqp_method(s, 1, AMQP_QUEUE_DECLARE_METHOD, &qd);
    h_raw_frame_t f;
    amqp_method_number_t id = h_raw_read_method(s, &f, 5000, NULL, NULL);
    cr_assert(id == AMQP_CHANNEL_CLOSE_METHOD && f.channel == 1, "expected channel.close, got 0x%08x", id);
    h_raw_frame_destroy(&f);
    amqp_basic_publish_t pub = {0, amqp_empty_bytes, amqp_cstring_bytes(q), 0, 0};
    h_raw_send_amqp_method(s, 1, AMQP_BASIC_PUBLISH_METHOD, &pub);
    uint8_t hdr[14] = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0};
    h_raw_send_frame(s, AMQP_FRAME_HEADER, 1, hdr, sizeof hdr);
    h_raw_send_frame(s, AMQP_FRAME_BODY, 1, "no", 2);
    amqp_channel_close_ok_t cok = {0};
    h_raw_send_amqp_method(s, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &cok);
    h_raw_channel_open(s, 1); /* the id is reusable after close-ok */
    usleep(200 * 1000);
    char *all = h_get_all(side, 1, q);
    cr_assert_str_eq(all, "", "publish sent while the channel was closing was routed");
    free(all);
    close(s);
    h_close(side);
}

/* The broker's channel.close carries the class/method that caused it. */
Test(channel, server_close_names_failing_method) {
    amqp_connection_state_t c = h_connect();
    amqp_queue_declare(c, 1, amqp_cstring_bytes(h_name("chan-missing")), 1, 0, 0, 0,
                       amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    h_expect_channel_close(r, 404, "NOT_FOUND - no queue");
    amqp_channel_close_t *m = r.reply.decoded;
    cr_assert(m->class_id == 50 && m->method_id == 10, "close names %u.%u, expected 50.10",
              m->class_id, m->method_id);
    h_close(c);
}

Test(channel, flow_active_true) {
    amqp_connection_state_t c = h_connect();
    amqp_channel_flow_ok_t *ok = amqp_channel_flow(c, 1, 1);
    cr_assert(ok != NULL, "channel.flow(true) failed");
    cr_assert(ok->active == 1, "flow-ok active=%d", ok->active);
    h_queue_declare(c, 1, "", false, true, true); /* channel still usable */
    h_close(c);
}

/* RabbitMQ 3.10 does not implement client-requested flow stop: it is a
 * connection error 540. */
Test(channel, flow_active_false_not_implemented) {
    amqp_connection_state_t c = h_connect();
    amqp_channel_flow(c, 1, 0);
    h_expect_connection_close(amqp_get_rpc_reply(c), 540, "NOT_IMPLEMENTED - active=false");
    amqp_destroy_connection(c);
}

Test(channel, close_on_unopened_channel) {
    int s = h_raw_socket();
    h_raw_login(s, 2047, 131072, 0);
    amqp_channel_close_t cl = {200, amqp_cstring_bytes("bye"), 0, 0};
    h_raw_send_amqp_method(s, 4, AMQP_CHANNEL_CLOSE_METHOD, &cl);
    h_raw_expect_connection_close(s, 504, "CHANNEL_ERROR - expected 'channel.open'");
    close(s);
}

/* Client-initiated channel.close: the broker answers close-ok, after which
 * the id is free again (raw, to see the exact frames). */
Test(channel, raw_close_ok_and_reopen) {
    int s = h_raw_socket();
    h_raw_login(s, 2047, 131072, 0);
    h_raw_channel_open(s, 9);
    amqp_channel_close_t cl = {200, amqp_cstring_bytes("bye"), 0, 0};
    h_raw_send_amqp_method(s, 9, AMQP_CHANNEL_CLOSE_METHOD, &cl);
    h_raw_frame_t f;
    amqp_method_number_t id = h_raw_read_method(s, &f, 5000, NULL, NULL);
    cr_assert(id == AMQP_CHANNEL_CLOSE_OK_METHOD && f.channel == 9, "got 0x%08x on %u", id, f.channel);
    h_raw_frame_destroy(&f);
    h_raw_channel_open(s, 9);
    close(s);
}

/* Closing a channel cancels its consumers and requeues unacked messages. */
Test(channel, close_requeues_unacked) {
    amqp_connection_state_t c = h_connect();
    char q[256];
    snprintf(q, sizeof q, "%s", h_queue_declare(c, 1, h_name("chan-requeue"), false, false, true));
    h_channel_open(c, 2);
    h_publish(c, 2, "", q, "m1", false, NULL);
    uint64_t tag;
    bool redelivered = true;
    char *got = h_get(c, 2, q, false, &tag, &redelivered);
    cr_assert(got && strcmp(got, "m1") == 0 && !redelivered);
    free(got);
    cr_assert(amqp_channel_close(c, 2, AMQP_REPLY_SUCCESS).reply_type == AMQP_RESPONSE_NORMAL);
    got = h_get(c, 1, q, true, NULL, &redelivered);
    cr_assert(got && strcmp(got, "m1") == 0, "unacked message not requeued on channel close");
    cr_assert(redelivered, "requeued message not flagged redelivered");
    free(got);
    h_close(c);
}
