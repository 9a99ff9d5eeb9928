/* test_basic_ack.c — basic.ack / basic.nack / basic.reject / basic.recover
 * interop tests. */
#include "test_basic_util.h"

/* Get n messages without ack; asserts bodies "<prefix><from+i>" and returns
 * nothing (tags are 1..n on a fresh channel, checked). */
static void ack_get_n(amqp_connection_state_t c, amqp_channel_t ch, const char *q, const char *prefix,
                      int from, int n, uint64_t first_tag) {
    for (int i = 0; i < n; i++) {
        uint64_t tag;
        bool red;
        char *b = h_get(c, ch, q, false, &tag, &red);
        char want[64];
        snprintf(want, sizeof want, "%s%d", prefix, from + i);
        cr_assert(b != NULL, "queue empty, expected %s", want);
        cr_assert_str_eq(b, want);
        cr_assert_eq(tag, first_tag + (uint64_t)i);
        free(b);
    }
}

/* Drain the queue on a fresh channel with no_ack and compare with the
 * expected comma separated list of bodies and redelivered flags (body
 * followed by '*' when redelivered=true). */
static void ack_expect_queue(amqp_connection_state_t c, amqp_channel_t ch, const char *q, const char *want) {
    char got[1024] = "";
    for (;;) {
        bool red;
        char *b = h_get(c, ch, q, true, NULL, &red);
        if (!b) break;
        size_t l = strlen(got);
        snprintf(got + l, sizeof got - l, "%s%s%s", l ? "," : "", b, red ? "*" : "");
        free(b);
    }
    cr_assert_str_eq(got, want, "queue contents \"%s\", expected \"%s\"", got, want);
}

/* Close channel 1 (requeues its unacked messages) and open channel 2. */
static void ack_reset_channel(amqp_connection_state_t c) {
    amqp_rpc_reply_t r = amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL, "channel.close failed");
    h_channel_open(c, 2);
}

Test(basic_ack, single_ack_removes_only_that_message) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "ack-single");
    tbu_publish_seq(c, 1, q, "m", 1, 4);
    ack_get_n(c, 1, q, "m", 1, 3, 1);
    cr_assert_eq(amqp_basic_ack(c, 1, 2, 0), AMQP_STATUS_OK);
    ack_reset_channel(c);
    ack_expect_queue(c, 2, q, "m1*,m3*");
    h_close(c);
}

Test(basic_ack, multiple_ack_removes_up_to_tag) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "ack-multi");
    tbu_publish_seq(c, 1, q, "m", 1, 6);
    ack_get_n(c, 1, q, "m", 1, 5, 1);
    cr_assert_eq(amqp_basic_ack(c, 1, 3, 1), AMQP_STATUS_OK);
    ack_reset_channel(c);
    ack_expect_queue(c, 2, q, "m4*,m5*");
    h_close(c);
}

Test(basic_ack, multiple_ack_with_tag_zero_acks_everything_outstanding) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "ack-zero");
    tbu_publish_seq(c, 1, q, "m", 1, 5);
    ack_get_n(c, 1, q, "m", 1, 4, 1);
    cr_assert_eq(amqp_basic_ack(c, 1, 0, 1), AMQP_STATUS_OK);
    tbu_expect_silence(c, 200);
    ack_reset_channel(c);
    ack_expect_queue(c, 2, q, "");
    h_close(c);
}

Test(basic_ack, multiple_ack_after_partial_single_acks) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "ack-mixed");
    tbu_publish_seq(c, 1, q, "m", 1, 6);
    ack_get_n(c, 1, q, "m", 1, 5, 1);
    cr_assert_eq(amqp_basic_ack(c, 1, 2, 0), AMQP_STATUS_OK);
    cr_assert_eq(amqp_basic_ack(c, 1, 4, 1), AMQP_STATUS_OK); /* acks 1,3,4 */
    tbu_expect_silence(c, 200);
    ack_reset_channel(c);
    ack_expect_queue(c, 2, q, "m5*");
    h_close(c);
}

Test(basic_ack, unknown_delivery_tag_is_406) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "ack-unknown");
    h_publish(c, 1, "", q, "m", false, NULL);
    free(h_get(c, 1, q, false, NULL, NULL));
    cr_assert_eq(amqp_basic_ack(c, 1, 99, 0), AMQP_STATUS_OK);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 99");
    /* the unacked message went back to the queue when the channel closed */
    h_channel_open(c, 2);
    ack_expect_queue(c, 2, q, "m*");
    h_close(c);
}

Test(basic_ack, unknown_tag_on_fresh_channel_is_406) {
    amqp_connection_state_t c = h_connect();
    cr_assert_eq(amqp_basic_ack(c, 1, 1, 0), AMQP_STATUS_OK);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 1");
    h_close(c);
}

Test(basic_ack, double_ack_is_406) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "ack-double");
    h_publish(c, 1, "", q, "m", false, NULL);
    uint64_t tag;
    free(h_get(c, 1, q, false, &tag, NULL));
    cr_assert_eq(amqp_basic_ack(c, 1, tag, 0), AMQP_STATUS_OK);
    cr_assert_eq(amqp_basic_ack(c, 1, tag, 0), AMQP_STATUS_OK);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 1");
    h_close(c);
}

Test(basic_ack, multiple_ack_with_unknown_tag_is_406) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "ack-multi-unknown");
    tbu_publish_seq(c, 1, q, "m", 1, 3);
    ack_get_n(c, 1, q, "m", 1, 2, 1);
    cr_assert_eq(amqp_basic_ack(c, 1, 7, 1), AMQP_STATUS_OK);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 7");
    h_close(c);
}

Test(basic_ack, ack_of_no_ack_delivery_is_406) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "ack-noack");
    h_publish(c, 1, "", q, "m", false, NULL);
    uint64_t tag;
    free(h_get(c, 1, q, true, &tag, NULL));
    cr_assert_eq(tag, 1);
    cr_assert_eq(amqp_basic_ack(c, 1, tag, 0), AMQP_STATUS_OK);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 1");
    h_close(c);
}

Test(basic_ack, reject_requeue_restores_original_position) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "rej-pos");
    tbu_publish_seq(c, 1, q, "m", 1, 4);
    ack_get_n(c, 1, q, "m", 1, 2, 1);
    cr_assert_eq(amqp_basic_reject(c, 1, 1, 1), AMQP_STATUS_OK);
    uint64_t tag;
    bool red;
    char *b = h_get(c, 1, q, false, &tag, &red);
    cr_assert(b && strcmp(b, "m1") == 0, "after reject+requeue of m1 got %s, expected m1 before m3",
              b ? b : "(empty)");
    cr_assert(red, "requeued message must be redelivered=true");
    cr_assert_eq(tag, 3, "delivery tags keep increasing: got %lu", (unsigned long)tag);
    free(b);
    b = h_get(c, 1, q, false, NULL, &red);
    cr_assert(b && strcmp(b, "m3") == 0 && !red);
    free(b);
    h_close(c);
}

Test(basic_ack, reject_without_requeue_discards) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "rej-drop");
    tbu_publish_seq(c, 1, q, "m", 1, 3);
    ack_get_n(c, 1, q, "m", 1, 1, 1);
    cr_assert_eq(amqp_basic_reject(c, 1, 1, 0), AMQP_STATUS_OK);
    ack_reset_channel(c);
    ack_expect_queue(c, 2, q, "m2");
    h_close(c);
}

Test(basic_ack, reject_unknown_tag_is_406) {
    amqp_connection_state_t c = h_connect();
    cr_assert_eq(amqp_basic_reject(c, 1, 5, 1), AMQP_STATUS_OK);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 5");
    h_close(c);
}

Test(basic_ack, nack_single_without_requeue_discards) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "nack-drop");
    tbu_publish_seq(c, 1, q, "m", 1, 4);
    ack_get_n(c, 1, q, "m", 1, 3, 1);
    cr_assert_eq(amqp_basic_nack(c, 1, 2, 0, 0), AMQP_STATUS_OK);
    ack_reset_channel(c);
    ack_expect_queue(c, 2, q, "m1*,m3*");
    h_close(c);
}

Test(basic_ack, nack_multiple_requeue_restores_order) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "nack-multi");
    tbu_publish_seq(c, 1, q, "m", 1, 6);
    ack_get_n(c, 1, q, "m", 1, 4, 1);
    cr_assert_eq(amqp_basic_nack(c, 1, 3, 1, 1), AMQP_STATUS_OK); /* m1..m3 back, m4 still held */
    tbu_expect_silence(c, 200);
    h_channel_open(c, 2);
    ack_expect_queue(c, 2, q, "m1*,m2*,m3*,m5");
    h_close(c);
}

Test(basic_ack, nack_multiple_tag_zero_requeues_all) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "nack-zero");
    tbu_publish_seq(c, 1, q, "m", 1, 4);
    ack_get_n(c, 1, q, "m", 1, 3, 1);
    cr_assert_eq(amqp_basic_nack(c, 1, 0, 1, 1), AMQP_STATUS_OK);
    tbu_expect_silence(c, 200);
    h_channel_open(c, 2);
    ack_expect_queue(c, 2, q, "m1*,m2*,m3*");
    /* nothing left outstanding on channel 1: acking tag 1 is now an error */
    cr_assert_eq(amqp_basic_ack(c, 1, 1, 0), AMQP_STATUS_OK);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 1");
    h_close(c);
}

Test(basic_ack, nack_unknown_tag_is_406) {
    amqp_connection_state_t c = h_connect();
    cr_assert_eq(amqp_basic_nack(c, 1, 3, 0, 1), AMQP_STATUS_OK);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 3");
    h_close(c);
}

Test(basic_ack, nack_requeue_to_consumer_is_redelivered) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "nack-cons");
    h_publish(c, 1, "", q, "bounce", false, NULL);
    tbu_consume(c, 1, q, false);
    uint64_t t = tbu_expect_deliver(c, 2000, "bounce", false);
    cr_assert_eq(amqp_basic_nack(c, 1, t, 0, 1), AMQP_STATUS_OK);
    uint64_t t2 = tbu_expect_deliver(c, 2000, "bounce", true);
    cr_assert_gt(t2, t, "redelivery gets a new delivery tag");
    cr_assert_eq(amqp_basic_ack(c, 1, t2, 0), AMQP_STATUS_OK);
    tbu_expect_silence(c, 200);
    h_close(c);
}

/* ---- basic.recover ---- */

Test(basic_ack, recover_requeue_redelivers_unacked_to_consumer) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "recover");
    tbu_publish_seq(c, 1, q, "m", 1, 4);
    tbu_consume(c, 1, q, false);
    uint64_t t1 = tbu_expect_deliver(c, 2000, "m1", false);
    tbu_expect_deliver(c, 2000, "m2", false);
    tbu_expect_deliver(c, 2000, "m3", false);
    cr_assert_eq(amqp_basic_ack(c, 1, t1, 0), AMQP_STATUS_OK);
    cr_assert(amqp_basic_recover(c, 1, 1) != NULL, "basic.recover failed");
    tbu_expect_deliver(c, 2000, "m2", true);
    uint64_t t = tbu_expect_deliver(c, 2000, "m3", true);
    cr_assert_eq(amqp_basic_ack(c, 1, t, 1), AMQP_STATUS_OK);
    tbu_expect_silence(c, 300);
    h_close(c);
}

Test(basic_ack, recover_requeue_makes_gotten_messages_available_again) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "recover-get");
    tbu_publish_seq(c, 1, q, "m", 1, 3);
    ack_get_n(c, 1, q, "m", 1, 2, 1);
    cr_assert(amqp_basic_recover(c, 1, 1) != NULL);
    ack_expect_queue(c, 1, q, "m1*,m2*");
    /* old tags are gone after recover */
    cr_assert_eq(amqp_basic_ack(c, 1, 1, 0), AMQP_STATUS_OK);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 1");
    h_close(c);
}

Test(basic_ack, recover_without_requeue_is_not_implemented) {
    amqp_connection_state_t c = h_connect();
    cr_assert_null(amqp_basic_recover(c, 1, 0));
    tbu_expect_rpc_connection_close(c, 540, "NOT_IMPLEMENTED - requeue=false");
    amqp_destroy_connection(c);
}

Test(basic_ack, recover_async_requeues) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "recover-async");
    tbu_publish_seq(c, 1, q, "m", 1, 3);
    tbu_consume(c, 1, q, false);
    tbu_expect_deliver(c, 2000, "m1", false);
    tbu_expect_deliver(c, 2000, "m2", false);
    amqp_basic_recover_async_t m = {.requeue = 1};
    cr_assert_eq(amqp_send_method(c, 1, AMQP_BASIC_RECOVER_ASYNC_METHOD, &m), AMQP_STATUS_OK);
    tbu_expect_deliver(c, 2000, "m1", true);
    tbu_expect_deliver(c, 2000, "m2", true);
    tbu_expect_silence(c, 200); /* no recover-ok for the async variant */
    h_close(c);
}
