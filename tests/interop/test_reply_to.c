/* test_reply_to.c — RabbitMQ direct reply-to (amq.rabbitmq.reply-to)
 * interop tests. */
#include "test_basic_util.h"

#define RT "amq.rabbitmq.reply-to"

static void rt_publish_request(amqp_connection_state_t c, amqp_channel_t ch, const char *q, const char *body,
                               const char *reply_to) {
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG,
                                 .reply_to = amqp_cstring_bytes(reply_to),
                                 .correlation_id = amqp_cstring_bytes(body)};
    h_publish(c, ch, "", q, body, false, &p);
}

/* Responder side: basic.get the request from q and return its (rewritten)
 * reply_to in out. */
static void rt_take_request(amqp_connection_state_t c, const char *q, const char *body, char *out, size_t n) {
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(q), 1);
    for (int i = 0; i < 100 && r.reply_type == AMQP_RESPONSE_NORMAL && r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD;
         i++) {
        usleep(20 * 1000);
        r = amqp_basic_get(c, 1, amqp_cstring_bytes(q), 1);
    }
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    cr_assert_eq(r.reply.id, AMQP_BASIC_GET_OK_METHOD, "the request never arrived");
    tbu_msg_t m;
    memset(&m, 0, sizeof m);
    tbu_read_content(c, 1, &m);
    cr_assert_str_eq(m.body, body);
    snprintf(out, n, "%s", m.reply_to);
    tbu_msg_free(&m);
}

Test(reply_to, request_reply_round_trip) {
    amqp_connection_state_t req = h_connect();
    amqp_connection_state_t srv = h_connect();
    const char *q = tbu_queue(srv, "rt-service");
    const char *ctag = tbu_consume(req, 1, RT, true);
    char my_ctag[256];
    snprintf(my_ctag, sizeof my_ctag, "%s", ctag);
    rt_publish_request(req, 1, q, "ping", RT);

    char reply_to[256];
    rt_take_request(srv, q, "ping", reply_to, sizeof reply_to);
    cr_assert(strncmp(reply_to, RT ".", strlen(RT) + 1) == 0 && strlen(reply_to) > strlen(RT) + 1,
              "reply_to was not rewritten: \"%s\"", reply_to);
    h_publish(srv, 1, "", reply_to, "pong", false, NULL);

    tbu_msg_t m;
    cr_assert(tbu_deliver(req, 3000, &m), "reply never arrived");
    cr_assert_str_eq(m.body, "pong");
    cr_assert_str_eq(m.ctag, my_ctag);
    cr_assert_str_eq(m.exchange, "");
    cr_assert_str_eq(m.rkey, reply_to);
    tbu_msg_free(&m);
    h_close(srv);
    h_close(req);
}

Test(reply_to, several_requests_share_one_reply_address) {
    amqp_connection_state_t req = h_connect();
    amqp_connection_state_t srv = h_connect();
    const char *q = tbu_queue(srv, "rt-multi");
    tbu_consume(req, 1, RT, true);
    rt_publish_request(req, 1, q, "r1", RT);
    rt_publish_request(req, 1, q, "r2", RT);
    char a1[256], a2[256];
    rt_take_request(srv, q, "r1", a1, sizeof a1);
    rt_take_request(srv, q, "r2", a2, sizeof a2);
    cr_assert_str_eq(a1, a2, "one channel has one reply address");
    h_publish(srv, 1, "", a2, "answer2", false, NULL);
    h_publish(srv, 1, "", a1, "answer1", false, NULL);
    tbu_expect_deliver(req, 3000, "answer2", false);
    tbu_expect_deliver(req, 3000, "answer1", false);
    h_close(srv);
    h_close(req);
}

Test(reply_to, reply_via_publish_on_same_connection) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "rt-self");
    h_channel_open(c, 2);
    tbu_consume(c, 1, RT, true);
    rt_publish_request(c, 1, q, "self", RT);
    char addr[256];
    rt_take_request(c, q, "self", addr, sizeof addr);
    h_publish(c, 2, "", addr, "to-self", false, NULL);
    tbu_msg_t m;
    cr_assert(tbu_deliver(c, 3000, &m));
    cr_assert_eq(m.channel, 1);
    cr_assert_str_eq(m.body, "to-self");
    tbu_msg_free(&m);
    h_close(c);
}

Test(reply_to, consume_with_ack_mode_is_406) {
    amqp_connection_state_t c = h_connect();
    amqp_basic_consume_ok_t *ok = amqp_basic_consume(c, 1, amqp_cstring_bytes(RT), amqp_empty_bytes, 0,
                                                     0 /* no_ack=false */, 0, amqp_empty_table);
    cr_assert_null(ok);
    tbu_expect_rpc_channel_close(c, 1, 406, "PRECONDITION_FAILED - reply consumer cannot acknowledge");
    h_close(c);
}

Test(reply_to, publish_with_reply_to_without_consumer_is_406) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "rt-nocons");
    rt_publish_request(c, 1, q, "orphan", RT);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - fast reply consumer does not exist");
    h_channel_open(c, 2);
    cr_assert_eq(h_message_count(c, 2, q), 0, "the rejected request must not be enqueued");
    h_close(c);
}

Test(reply_to, reply_consumer_on_other_channel_does_not_count) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "rt-otherch");
    h_channel_open(c, 2);
    tbu_consume(c, 2, RT, true);
    rt_publish_request(c, 1, q, "wrong-channel", RT);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - fast reply consumer does not exist");
    h_close(c);
}

Test(reply_to, reply_to_unknown_address_is_dropped) {
    amqp_connection_state_t c = h_connect();
    h_publish(c, 1, "", RT ".no-such-thing", "lost", false, NULL);
    tbu_expect_silence(c, 300);
    const char *q = tbu_queue(c, "rt-after-drop");
    cr_assert_eq(h_message_count(c, 1, q), 0, "the channel is still usable");
    h_close(c);
}

Test(reply_to, reply_after_requester_gone_is_dropped) {
    amqp_connection_state_t req = h_connect();
    amqp_connection_state_t srv = h_connect();
    const char *q = tbu_queue(srv, "rt-gone");
    tbu_consume(req, 1, RT, true);
    rt_publish_request(req, 1, q, "bye", RT);
    char addr[256];
    rt_take_request(srv, q, "bye", addr, sizeof addr);
    h_close(req);
    h_publish(srv, 1, "", addr, "too-late", false, NULL);
    tbu_expect_silence(srv, 300);
    const char *q2 = tbu_queue(srv, "rt-gone-after");
    cr_assert_eq(h_message_count(srv, 1, q2), 0);
    h_close(srv);
}

Test(reply_to, passive_declare_of_pseudo_queue_succeeds) {
    amqp_connection_state_t c = h_connect();
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(c, 1, amqp_cstring_bytes(RT), 1, 0, 0, 0, amqp_empty_table);
    cr_assert(ok != NULL, "passive declare of " RT " failed");
    cr_assert(tbu_eq(ok->queue, RT));
    cr_assert_eq(ok->message_count, 0);
    /* RabbitMQ always reports one (virtual) consumer for the pseudo-queue */
    cr_assert_eq(ok->consumer_count, 1, "consumer_count %u", ok->consumer_count);
    h_close(c);
}
