/* test_redelivery.c — unacked messages return to their queue, in original
 * order and with redelivered=true, when the channel closes, the connection
 * closes, or the client's socket just dies. */
#include <sys/socket.h>

#include "test_basic_util.h"

/* Drain q with no-ack basic.get on a fresh connection; compare with want, a
 * comma separated list of bodies, each followed by '*' if redelivered. */
static void redel_expect_queue(const char *q, const char *want) {
    amqp_connection_state_t c = h_connect();
    char got[2048] = "";
    for (;;) {
        bool red;
        char *b = h_get(c, 1, q, true, NULL, &red);
        if (!b) break;
        size_t l = strlen(got);
        snprintf(got + l, sizeof got - l, "%s%s%s", l ? "," : "", b, red ? "*" : "");
        free(b);
    }
    cr_assert_str_eq(got, want, "queue holds \"%s\", expected \"%s\"", got, want);
    h_close(c);
}

/* On c/ch: publish m1..m6 to a new queue, consume with prefetch 4, receive
 * m1..m4, ack m2 only, receive m5. Returns the queue name (static storage). */
static const char *redel_setup(amqp_connection_state_t c, amqp_channel_t ch) {
    static char q[256];
    snprintf(q, sizeof q, "%s", tbu_queue(c, "redel"));
    tbu_publish_seq(c, 1, q, "m", 1, 7);
    tbu_qos(c, ch, 4, false);
    tbu_consume(c, ch, q, false);
    uint64_t tags[5];
    for (int i = 1; i <= 4; i++) {
        char b[16];
        snprintf(b, sizeof b, "m%d", i);
        tags[i] = tbu_expect_deliver(c, 2000, b, false);
    }
    tbu_expect_silence(c, 200);
    cr_assert_eq(amqp_basic_ack(c, ch, tags[2], 0), AMQP_STATUS_OK);
    tbu_expect_deliver(c, 2000, "m5", false); /* the freed credit */
    tbu_expect_silence(c, 200);
    return q;
}

static const char *const REDEL_WANT = "m1*,m3*,m4*,m5*,m6";

Test(redelivery, on_channel_close) {
    amqp_connection_state_t c = h_connect();
    h_channel_open(c, 2);
    const char *q = redel_setup(c, 2);
    amqp_rpc_reply_t r = amqp_channel_close(c, 2, AMQP_REPLY_SUCCESS);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    cr_assert_eq(tbu_wait_count(q, 5, 3000), 5);
    redel_expect_queue(q, REDEL_WANT);
    h_close(c);
}

Test(redelivery, on_channel_error) {
    amqp_connection_state_t c = h_connect();
    h_channel_open(c, 2);
    const char *q = redel_setup(c, 2);
    cr_assert_eq(amqp_basic_ack(c, 2, 999, 0), AMQP_STATUS_OK);
    tbu_expect_async_channel_close(c, 2, 406, "PRECONDITION_FAILED - unknown delivery tag 999");
    cr_assert_eq(tbu_wait_count(q, 5, 3000), 5);
    redel_expect_queue(q, REDEL_WANT);
    h_close(c);
}

Test(redelivery, on_connection_close) {
    amqp_connection_state_t c = h_connect();
    const char *q = redel_setup(c, 1);
    char name[256];
    snprintf(name, sizeof name, "%s", q);
    amqp_rpc_reply_t r = amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    amqp_destroy_connection(c);
    cr_assert_eq(tbu_wait_count(name, 5, 3000), 5);
    redel_expect_queue(name, REDEL_WANT);
}

Test(redelivery, on_socket_close_without_amqp_close) {
    amqp_connection_state_t c = h_connect();
    const char *q = redel_setup(c, 1);
    char name[256];
    snprintf(name, sizeof name, "%s", q);
    cr_assert_eq(shutdown(amqp_get_sockfd(c), SHUT_RDWR), 0); /* FIN, no connection.close */
    amqp_destroy_connection(c);
    cr_assert_eq(tbu_wait_count(name, 5, 5000), 5, "unacked messages not requeued after socket close");
    redel_expect_queue(name, REDEL_WANT);
}

Test(redelivery, on_socket_reset) {
    amqp_connection_state_t c = h_connect();
    const char *q = redel_setup(c, 1);
    char name[256];
    snprintf(name, sizeof name, "%s", q);
    struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close() sends RST */
    cr_assert_eq(setsockopt(amqp_get_sockfd(c), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    amqp_destroy_connection(c);
    cr_assert_eq(tbu_wait_count(name, 5, 5000), 5, "unacked messages not requeued after RST");
    redel_expect_queue(name, REDEL_WANT);
}

Test(redelivery, on_consumer_cancel_unacked_stay_with_channel) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "redel-cancel");
    tbu_publish_seq(c, 1, q, "m", 1, 3);
    const char *t = tbu_consume(c, 1, q, false);
    tbu_expect_deliver(c, 2000, "m1", false);
    tbu_expect_deliver(c, 2000, "m2", false);
    cr_assert(amqp_basic_cancel(c, 1, amqp_cstring_bytes(t)) != NULL);
    /* cancelling does not requeue: both still unacked */
    cr_assert_eq(h_message_count(c, 1, q), 0);
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    cr_assert_eq(tbu_wait_count(q, 2, 3000), 2);
    redel_expect_queue(q, "m1*,m2*");
    h_close(c);
}

Test(redelivery, redelivered_to_waiting_consumer_in_order) {
    amqp_connection_state_t waiting = h_connect();
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "redel-live");
    char name[256];
    snprintf(name, sizeof name, "%s", q);
    tbu_publish_seq(c, 1, name, "m", 1, 4);
    tbu_consume(c, 1, name, false);
    tbu_expect_deliver(c, 2000, "m1", false);
    tbu_expect_deliver(c, 2000, "m2", false);
    tbu_expect_deliver(c, 2000, "m3", false);
    tbu_consume(waiting, 1, name, false); /* gets nothing yet: all 3 are out */
    tbu_expect_silence(waiting, 200);
    h_close(c);
    tbu_expect_deliver(waiting, 3000, "m1", true);
    tbu_expect_deliver(waiting, 3000, "m2", true);
    uint64_t t = tbu_expect_deliver(waiting, 3000, "m3", true);
    cr_assert_eq(t, 3);
    cr_assert_eq(amqp_basic_ack(waiting, 1, t, 1), AMQP_STATUS_OK);
    tbu_expect_silence(waiting, 200);
    h_close(waiting);
}

Test(redelivery, get_then_connection_drop) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "redel-get");
    char name[256];
    snprintf(name, sizeof name, "%s", q);
    tbu_publish_seq(c, 1, name, "m", 1, 4);
    free(h_get(c, 1, name, false, NULL, NULL));
    free(h_get(c, 1, name, false, NULL, NULL));
    amqp_destroy_connection(c); /* no close handshake */
    cr_assert_eq(tbu_wait_count(name, 3, 5000), 3);
    redel_expect_queue(name, "m1*,m2*,m3");
}
