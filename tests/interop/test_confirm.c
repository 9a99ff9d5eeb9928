/* test_confirm.c — publisher confirms (confirm.select, basic.ack from the
 * broker) interop tests. */
#include "test_basic_util.h"

static void confirm_select(amqp_connection_state_t c, amqp_channel_t ch) {
    cr_assert(amqp_confirm_select(c, ch) != NULL, "confirm.select failed");
}

/* Read broker basic.acks on ch until `upto` publishes are confirmed. Checks
 * tags increase strictly, multiple acks cover (last, tag], single acks cover
 * exactly last+1 (RabbitMQ confirms in order on one queue). */
static void confirm_wait(amqp_connection_state_t c, amqp_channel_t ch, uint64_t *last, uint64_t upto) {
    while (*last < upto) {
        amqp_frame_t f = tbu_method(c, 5000);
        cr_assert_eq(f.channel, ch);
        cr_assert_eq(f.payload.method.id, AMQP_BASIC_ACK_METHOD, "expected basic.ack, got 0x%08x",
                     f.payload.method.id);
        amqp_basic_ack_t *a = f.payload.method.decoded;
        cr_assert_gt(a->delivery_tag, *last, "confirm tag %lu not above %lu", (unsigned long)a->delivery_tag,
                     (unsigned long)*last);
        cr_assert_leq(a->delivery_tag, upto, "confirm for tag %lu never published", (unsigned long)a->delivery_tag);
        if (!a->multiple)
            cr_assert_eq(a->delivery_tag, *last + 1, "single ack %lu skips unconfirmed %lu",
                         (unsigned long)a->delivery_tag, (unsigned long)(*last + 1));
        *last = a->delivery_tag;
        amqp_maybe_release_buffers(c);
    }
}

Test(confirm, every_publish_is_confirmed_in_order) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "conf-all");
    confirm_select(c, 1);
    uint64_t last = 0;
    tbu_publish_seq(c, 1, q, "m", 0, 200);
    confirm_wait(c, 1, &last, 200);
    tbu_expect_silence(c, 300);
    cr_assert_eq(h_message_count(c, 1, q), 200);
    h_close(c);
}

/* Next method must be a single (multiple=false) basic.ack with this tag. */
static void confirm_expect_ack(amqp_connection_state_t c, uint64_t tag) {
    amqp_frame_t f = tbu_method(c, 3000);
    cr_assert_eq(f.payload.method.id, AMQP_BASIC_ACK_METHOD, "expected basic.ack, got 0x%08x",
                 f.payload.method.id);
    amqp_basic_ack_t *a = f.payload.method.decoded;
    cr_assert_eq(a->delivery_tag, tag, "confirm tag %lu, expected %lu", (unsigned long)a->delivery_tag,
                 (unsigned long)tag);
    cr_assert_eq(a->multiple, 0, "a single outstanding publish is confirmed with multiple=false");
}

Test(confirm, one_at_a_time_gets_tags_1_2_3) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "conf-seq");
    confirm_select(c, 1);
    for (uint64_t i = 1; i <= 5; i++) {
        h_publish(c, 1, "", q, "x", false, NULL);
        confirm_expect_ack(c, i);
    }
    h_close(c);
}

Test(confirm, unroutable_publish_is_still_acked) {
    amqp_connection_state_t c = h_connect();
    confirm_select(c, 1);
    h_publish(c, 1, "amq.direct", h_name("nowhere"), "x", false, NULL);
    confirm_expect_ack(c, 1);
    tbu_expect_silence(c, 200);
    h_close(c);
}

Test(confirm, mandatory_unroutable_return_comes_before_ack) {
    amqp_connection_state_t c = h_connect();
    confirm_select(c, 1);
    const char *rk = h_name("nowhere");
    h_publish(c, 1, "amq.direct", rk, "bounced", true, NULL);
    amqp_frame_t f = tbu_method(c, 3000);
    cr_assert_eq(f.payload.method.id, AMQP_BASIC_RETURN_METHOD, "expected basic.return first, got 0x%08x",
                 f.payload.method.id);
    tbu_msg_t m;
    cr_assert(tbu_from_method(c, &f, &m));
    cr_assert_eq(m.reply_code, 312);
    cr_assert_str_eq(m.reply_text, "NO_ROUTE");
    cr_assert_str_eq(m.rkey, rk);
    cr_assert_str_eq(m.body, "bounced");
    tbu_msg_free(&m);
    confirm_expect_ack(c, 1);
    tbu_expect_silence(c, 200);
    h_close(c);
}

Test(confirm, fanout_to_many_queues_is_one_ack) {
    amqp_connection_state_t c = h_connect();
    const char *x = h_name("conf-fan");
    amqp_exchange_declare(c, 1, amqp_cstring_bytes(x), amqp_cstring_bytes("fanout"), 0, 0, 1, 0,
                          amqp_empty_table);
    cr_assert_eq(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    for (int i = 0; i < 3; i++) {
        const char *q = tbu_queue(c, "conf-fan-q");
        cr_assert(amqp_queue_bind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes(x), amqp_empty_bytes,
                                  amqp_empty_table) != NULL);
    }
    confirm_select(c, 1);
    h_publish(c, 1, x, "", "to-all", false, NULL);
    confirm_expect_ack(c, 1);
    h_publish(c, 1, x, "", "to-all", false, NULL);
    confirm_expect_ack(c, 2);
    tbu_expect_silence(c, 200);
    h_close(c);
}

Test(confirm, persistent_to_durable_queue_is_acked) {
    amqp_connection_state_t c = h_connect();
    char q[256];
    snprintf(q, sizeof q, "%s", h_queue_declare(c, 1, h_name("conf-durable"), true, false, false));
    confirm_select(c, 1);
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 2};
    uint64_t last = 0;
    for (int i = 0; i < 20; i++) h_publish(c, 1, "", q, "persist", false, &p);
    confirm_wait(c, 1, &last, 20);
    cr_assert(amqp_queue_delete(c, 1, amqp_cstring_bytes(q), 0, 0) != NULL);
    h_close(c);
}

Test(confirm, select_twice_is_fine_and_counter_continues) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "conf-twice");
    confirm_select(c, 1);
    h_publish(c, 1, "", q, "a", false, NULL);
    confirm_expect_ack(c, 1);
    confirm_select(c, 1);
    h_publish(c, 1, "", q, "b", false, NULL);
    confirm_expect_ack(c, 2);
    h_close(c);
}

Test(confirm, select_nowait_sends_no_select_ok) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "conf-nowait");
    amqp_confirm_select_t m = {.nowait = 1};
    cr_assert_eq(amqp_send_method(c, 1, AMQP_CONFIRM_SELECT_METHOD, &m), AMQP_STATUS_OK);
    h_publish(c, 1, "", q, "a", false, NULL);
    confirm_expect_ack(c, 1); /* the first frame is the ack, not a select-ok */
    h_close(c);
}

Test(confirm, counters_are_per_channel_and_separate_from_delivery_tags) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "conf-perch");
    h_channel_open(c, 2);
    confirm_select(c, 1);
    confirm_select(c, 2);
    h_publish(c, 1, "", q, "a", false, NULL);
    confirm_expect_ack(c, 1);
    h_publish(c, 2, "", q, "b", false, NULL);
    amqp_frame_t f = tbu_method(c, 3000);
    cr_assert_eq(f.channel, 2);
    cr_assert_eq(f.payload.method.id, AMQP_BASIC_ACK_METHOD);
    cr_assert_eq(((amqp_basic_ack_t *)f.payload.method.decoded)->delivery_tag, 1);
    /* consumer-side delivery tags on channel 1 start at 1 too, independently */
    uint64_t tag;
    free(h_get(c, 1, q, false, &tag, NULL));
    cr_assert_eq(tag, 1);
    h_publish(c, 1, "", q, "c", false, NULL);
    confirm_expect_ack(c, 2);
    cr_assert_eq(amqp_basic_ack(c, 1, 1, 0), AMQP_STATUS_OK);
    tbu_expect_silence(c, 200);
    h_close(c);
}

Test(confirm, missing_exchange_closes_channel_404) {
    amqp_connection_state_t c = h_connect();
    confirm_select(c, 1);
    const char *x = h_name("conf-nox");
    h_publish(c, 1, x, "rk", "x", false, NULL);
    char want[300];
    snprintf(want, sizeof want, "NOT_FOUND - no exchange '%s' in vhost '/'", x);
    tbu_expect_async_channel_close(c, 1, 404, want);
    h_close(c);
}

Test(confirm, confirm_select_on_tx_channel_is_406) {
    amqp_connection_state_t c = h_connect();
    cr_assert(amqp_tx_select(c, 1) != NULL);
    cr_assert_null(amqp_confirm_select(c, 1));
    tbu_expect_rpc_channel_close(c, 1, 406, "PRECONDITION_FAILED - cannot switch from tx to confirm mode");
    h_channel_open(c, 2);
    h_close(c);
}

Test(confirm, tx_select_on_confirm_channel_is_406) {
    amqp_connection_state_t c = h_connect();
    confirm_select(c, 1);
    cr_assert_null(amqp_tx_select(c, 1));
    tbu_expect_rpc_channel_close(c, 1, 406, "PRECONDITION_FAILED - cannot switch from confirm to tx mode");
    h_channel_open(c, 2);
    h_close(c);
}

Test(confirm, many_publishes_on_several_channels) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "conf-multi");
    h_channel_open(c, 2);
    confirm_select(c, 1);
    confirm_select(c, 2);
    for (int i = 0; i < 300; i++) {
        h_publish(c, 1, "", q, "one", false, NULL);
        h_publish(c, 2, "", q, "two", false, NULL);
    }
    uint64_t last[3] = {0, 0, 0};
    while (last[1] < 300 || last[2] < 300) {
        amqp_frame_t f = tbu_method(c, 5000);
        cr_assert(f.channel == 1 || f.channel == 2);
        cr_assert_eq(f.payload.method.id, AMQP_BASIC_ACK_METHOD);
        amqp_basic_ack_t *a = f.payload.method.decoded;
        cr_assert_gt(a->delivery_tag, last[f.channel]);
        cr_assert_leq(a->delivery_tag, 300);
        if (!a->multiple) cr_assert_eq(a->delivery_tag, last[f.channel] + 1);
        last[f.channel] = a->delivery_tag;
    }
    tbu_expect_silence(c, 300);
    cr_assert_eq(tbu_wait_count(q, 600, 3000), 600);
    h_close(c);
}
