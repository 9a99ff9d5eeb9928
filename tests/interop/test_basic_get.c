/* test_basic_get.c — basic.get / get-ok / get-empty interop tests. */
#include "test_basic_util.h"

/* basic.get that must return get-ok: fills m (body etc.), returns message_count. */
static uint32_t get_ok(amqp_connection_state_t c, amqp_channel_t ch, const char *q, bool no_ack,
                       tbu_msg_t *m) {
    amqp_rpc_reply_t r = amqp_basic_get(c, ch, amqp_cstring_bytes(q), no_ack);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL, "basic.get failed");
    cr_assert_eq(r.reply.id, AMQP_BASIC_GET_OK_METHOD, "expected get-ok, got 0x%08x", r.reply.id);
    amqp_basic_get_ok_t *ok = r.reply.decoded;
    memset(m, 0, sizeof *m);
    m->method = AMQP_BASIC_GET_OK_METHOD;
    m->tag = ok->delivery_tag;
    m->redelivered = ok->redelivered;
    tbu_copy(m->exchange, sizeof m->exchange, ok->exchange);
    tbu_copy(m->rkey, sizeof m->rkey, ok->routing_key);
    uint32_t count = ok->message_count;
    tbu_read_content(c, ch, m);
    return count;
}

Test(basic_get, empty_queue_gives_get_empty) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "get-empty");
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(q), 0);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    cr_assert_eq(r.reply.id, AMQP_BASIC_GET_EMPTY_METHOD, "expected get-empty, got 0x%08x", r.reply.id);
    /* the channel is fine afterwards */
    h_publish(c, 1, "", q, "now", false, NULL);
    char *b = h_get(c, 1, q, true, NULL, NULL);
    cr_assert(b && strcmp(b, "now") == 0);
    free(b);
    h_close(c);
}

Test(basic_get, get_ok_fields_and_message_count) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "get-count");
    tbu_publish_seq(c, 1, q, "m", 1, 4);
    for (int i = 1; i <= 3; i++) {
        tbu_msg_t m;
        uint32_t left = get_ok(c, 1, q, false, &m);
        char want[16];
        snprintf(want, sizeof want, "m%d", i);
        cr_assert_str_eq(m.body, want);
        cr_assert_eq(left, (uint32_t)(3 - i), "message_count %u after get %d", left, i);
        cr_assert_eq(m.tag, (uint64_t)i, "delivery tag %lu, expected %d", (unsigned long)m.tag, i);
        cr_assert_eq(m.redelivered, false);
        cr_assert_str_eq(m.exchange, "");
        cr_assert_str_eq(m.rkey, q);
        tbu_msg_free(&m);
    }
    cr_assert_null(h_get(c, 1, q, false, NULL, NULL));
    h_close(c);
}

Test(basic_get, get_via_exchange_reports_exchange_and_key) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "get-x");
    cr_assert(amqp_queue_bind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes("amq.direct"),
                              amqp_cstring_bytes("rk-get"), amqp_empty_table) != NULL);
    h_publish(c, 1, "amq.direct", "rk-get", "via-x", false, NULL);
    tbu_msg_t m;
    cr_assert_eq(get_ok(c, 1, q, true, &m), 0);
    cr_assert_str_eq(m.exchange, "amq.direct");
    cr_assert_str_eq(m.rkey, "rk-get");
    cr_assert_str_eq(m.body, "via-x");
    tbu_msg_free(&m);
    h_close(c);
}

Test(basic_get, no_ack_get_removes_message_for_good) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "get-noack");
    h_publish(c, 1, "", q, "once", false, NULL);
    char *b = h_get(c, 1, q, true, NULL, NULL);
    cr_assert(b && strcmp(b, "once") == 0);
    free(b);
    /* closing the channel must not bring it back */
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    h_channel_open(c, 2);
    cr_assert_null(h_get(c, 2, q, true, NULL, NULL));
    cr_assert_eq(h_message_count(c, 2, q), 0);
    h_close(c);
}

Test(basic_get, unacked_get_requeued_on_channel_close) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "get-requeue");
    h_publish(c, 1, "", q, "again", false, NULL);
    bool red = true;
    char *b = h_get(c, 1, q, false, NULL, &red);
    cr_assert(b && strcmp(b, "again") == 0 && !red);
    free(b);
    cr_assert_null(h_get(c, 1, q, false, NULL, NULL), "an unacked message must not be handed out twice");
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    h_channel_open(c, 2);
    b = h_get(c, 2, q, true, NULL, &red);
    cr_assert(b && strcmp(b, "again") == 0);
    cr_assert(red, "requeued message must have redelivered=true");
    free(b);
    h_close(c);
}

Test(basic_get, delivery_tags_are_per_channel) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "get-tags");
    tbu_publish_seq(c, 1, q, "t", 0, 4);
    h_channel_open(c, 2);
    uint64_t t1, t2, t3, t4;
    free(h_get(c, 1, q, false, &t1, NULL));
    free(h_get(c, 2, q, false, &t2, NULL));
    free(h_get(c, 1, q, false, &t3, NULL));
    free(h_get(c, 2, q, false, &t4, NULL));
    cr_assert(t1 == 1 && t2 == 1 && t3 == 2 && t4 == 2, "tags %lu %lu %lu %lu", (unsigned long)t1,
              (unsigned long)t2, (unsigned long)t3, (unsigned long)t4);
    /* ack on channel 2 with tag 2 is valid there */
    cr_assert_eq(amqp_basic_ack(c, 2, 2, 0), AMQP_STATUS_OK);
    cr_assert_eq(amqp_basic_ack(c, 2, 1, 0), AMQP_STATUS_OK);
    tbu_expect_silence(c, 200);
    h_close(c);
}

Test(basic_get, missing_queue_is_404) {
    amqp_connection_state_t c = h_connect();
    const char *q = h_name("get-missing");
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(q), 0);
    char want[300];
    snprintf(want, sizeof want, "NOT_FOUND - no queue '%s' in vhost '/'", q);
    h_expect_channel_close(r, 404, want);
    amqp_channel_close_ok_t ok = {0};
    amqp_send_method(c, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    h_channel_open(c, 2);
    h_close(c);
}

Test(basic_get, get_and_ack_then_queue_empty) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "get-ack");
    h_publish(c, 1, "", q, "a", false, NULL);
    uint64_t tag;
    free(h_get(c, 1, q, false, &tag, NULL));
    cr_assert_eq(amqp_basic_ack(c, 1, tag, 0), AMQP_STATUS_OK);
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    h_channel_open(c, 2);
    cr_assert_null(h_get(c, 2, q, true, NULL, NULL), "acked message came back");
    h_close(c);
}
