/* test_tx.c — tx class interop tests: tx.select/commit/rollback, publishes
 * and acks held until commit, errors. */
#include "test_basic_util.h"

static void tx_select(amqp_connection_state_t c, amqp_channel_t ch) {
    cr_assert(amqp_tx_select(c, ch) != NULL, "tx.select failed");
}
static void tx_commit(amqp_connection_state_t c, amqp_channel_t ch) {
    cr_assert(amqp_tx_commit(c, ch) != NULL, "tx.commit failed");
}
static void tx_rollback(amqp_connection_state_t c, amqp_channel_t ch) {
    cr_assert(amqp_tx_rollback(c, ch) != NULL, "tx.rollback failed");
}

/* Drain q with no-ack gets on channel ch of c; compare "b1,b2*,..." ('*' =
 * redelivered). */
static void tx_expect_queue(amqp_connection_state_t c, amqp_channel_t ch, const char *q, const char *want) {
    char got[1024] = "";
    for (;;) {
        bool red;
        char *b = h_get(c, ch, q, true, NULL, &red);
        if (!b) break;
        size_t l = strlen(got);
        snprintf(got + l, sizeof got - l, "%s%s%s", l ? "," : "", b, red ? "*" : "");
        free(b);
    }
    cr_assert_str_eq(got, want, "queue holds \"%s\", expected \"%s\"", got, want);
}

Test(tx, select_commit_rollback_on_empty_transaction) {
    amqp_connection_state_t c = h_connect();
    tx_select(c, 1);
    tx_commit(c, 1);
    tx_rollback(c, 1);
    tx_commit(c, 1);
    tx_select(c, 1); /* selecting again is allowed */
    tx_commit(c, 1);
    h_close(c);
}

Test(tx, publishes_invisible_until_commit) {
    amqp_connection_state_t c = h_connect();
    amqp_connection_state_t other = h_connect();
    const char *q = tbu_queue(c, "tx-pub");
    tx_select(c, 1);
    tbu_publish_seq(c, 1, q, "m", 1, 4);
    /* a synchronous round-trip on the tx channel makes sure the publishes arrived */
    cr_assert_eq(h_message_count(c, 1, q), 0);
    usleep(200 * 1000);
    cr_assert_eq(h_message_count(other, 1, q), 0, "uncommitted publishes are visible");
    cr_assert_null(h_get(other, 1, q, true, NULL, NULL));
    tx_commit(c, 1);
    cr_assert_eq(tbu_wait_count(q, 3, 2000), 3);
    tx_expect_queue(other, 1, q, "m1,m2,m3");
    h_close(other);
    h_close(c);
}

Test(tx, rollback_discards_publishes) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "tx-rb");
    tx_select(c, 1);
    h_publish(c, 1, "", q, "keep", false, NULL);
    tx_commit(c, 1);
    h_publish(c, 1, "", q, "drop1", false, NULL);
    h_publish(c, 1, "", q, "drop2", false, NULL);
    tx_rollback(c, 1);
    tx_commit(c, 1); /* nothing left to commit */
    h_publish(c, 1, "", q, "keep2", false, NULL);
    tx_commit(c, 1);
    h_channel_open(c, 2);
    cr_assert_eq(tbu_wait_count(q, 2, 2000), 2);
    tx_expect_queue(c, 2, q, "keep,keep2");
    h_close(c);
}

Test(tx, uncommitted_publishes_discarded_on_channel_close) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "tx-close");
    tx_select(c, 1);
    h_publish(c, 1, "", q, "never", false, NULL);
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    h_channel_open(c, 2);
    usleep(200 * 1000);
    cr_assert_eq(h_message_count(c, 2, q), 0);
    h_close(c);
}

Test(tx, ack_is_held_until_commit) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "tx-ack");
    tbu_publish_seq(c, 1, q, "m", 1, 3);
    tx_select(c, 1);
    uint64_t t1, t2;
    free(h_get(c, 1, q, false, &t1, NULL));
    free(h_get(c, 1, q, false, &t2, NULL));
    cr_assert_eq(amqp_basic_ack(c, 1, t1, 0), AMQP_STATUS_OK);
    tx_commit(c, 1); /* m1 acked for good */
    cr_assert_eq(amqp_basic_ack(c, 1, t2, 0), AMQP_STATUS_OK);
    tx_rollback(c, 1); /* m2's ack is undone: m2 still unacked */
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    h_channel_open(c, 2);
    cr_assert_eq(tbu_wait_count(q, 1, 2000), 1);
    tx_expect_queue(c, 2, q, "m2*");
    h_close(c);
}

Test(tx, rolled_back_ack_can_be_acked_again) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "tx-reack");
    h_publish(c, 1, "", q, "m", false, NULL);
    tx_select(c, 1);
    uint64_t t;
    free(h_get(c, 1, q, false, &t, NULL));
    cr_assert_eq(amqp_basic_ack(c, 1, t, 0), AMQP_STATUS_OK);
    tx_rollback(c, 1);
    cr_assert_eq(amqp_basic_ack(c, 1, t, 0), AMQP_STATUS_OK);
    tx_commit(c, 1);
    tbu_expect_silence(c, 200);
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    h_channel_open(c, 2);
    usleep(100 * 1000);
    cr_assert_eq(h_message_count(c, 2, q), 0);
    h_close(c);
}

Test(tx, reject_requeue_held_until_commit) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "tx-rej");
    tbu_publish_seq(c, 1, q, "m", 1, 3);
    tx_select(c, 1);
    uint64_t t;
    free(h_get(c, 1, q, false, &t, NULL));
    cr_assert_eq(amqp_basic_reject(c, 1, t, 1), AMQP_STATUS_OK);
    /* not yet requeued: the next get returns m2 */
    uint64_t t2;
    char *b = h_get(c, 1, q, false, &t2, NULL);
    cr_assert(b && strcmp(b, "m2") == 0, "got %s, expected m2 (reject not committed yet)", b ? b : "(empty)");
    free(b);
    tx_commit(c, 1);
    bool red;
    b = h_get(c, 1, q, false, NULL, &red);
    cr_assert(b && strcmp(b, "m1") == 0 && red, "after commit m1 is back, redelivered");
    free(b);
    h_close(c);
}

Test(tx, mandatory_unroutable_returned_on_commit) {
    amqp_connection_state_t c = h_connect();
    tx_select(c, 1);
    const char *rk = h_name("tx-nowhere");
    h_publish(c, 1, "amq.direct", rk, "bounce", true, NULL);
    tbu_expect_silence(c, 300); /* nothing routed before commit */
    amqp_tx_commit_t m = {0};
    cr_assert_eq(amqp_send_method(c, 1, AMQP_TX_COMMIT_METHOD, &m), AMQP_STATUS_OK);
    amqp_frame_t f = tbu_method(c, 3000);
    cr_assert_eq(f.payload.method.id, AMQP_BASIC_RETURN_METHOD, "expected basic.return before commit-ok, got 0x%08x",
                 f.payload.method.id);
    tbu_msg_t r;
    cr_assert(tbu_from_method(c, &f, &r));
    cr_assert_eq(r.reply_code, 312);
    cr_assert_str_eq(r.reply_text, "NO_ROUTE");
    cr_assert_str_eq(r.rkey, rk);
    cr_assert_str_eq(r.body, "bounce");
    tbu_msg_free(&r);
    f = tbu_method(c, 3000);
    cr_assert_eq(f.payload.method.id, AMQP_TX_COMMIT_OK_METHOD);
    h_close(c);
}

Test(tx, publish_to_missing_exchange_fails_at_publish) {
    amqp_connection_state_t c = h_connect();
    tx_select(c, 1);
    const char *x = h_name("tx-nox");
    h_publish(c, 1, x, "rk", "x", false, NULL);
    char want[300];
    snprintf(want, sizeof want, "NOT_FOUND - no exchange '%s' in vhost '/'", x);
    tbu_expect_async_channel_close(c, 1, 404, want);
    h_close(c);
}

Test(tx, commit_without_select_is_406) {
    amqp_connection_state_t c = h_connect();
    cr_assert_null(amqp_tx_commit(c, 1));
    tbu_expect_rpc_channel_close(c, 1, 406, "PRECONDITION_FAILED - channel is not transactional");
    h_channel_open(c, 2);
    h_close(c);
}

Test(tx, rollback_without_select_is_406) {
    amqp_connection_state_t c = h_connect();
    cr_assert_null(amqp_tx_rollback(c, 1));
    tbu_expect_rpc_channel_close(c, 1, 406, "PRECONDITION_FAILED - channel is not transactional");
    h_close(c);
}

Test(tx, bad_ack_in_tx_fails_at_ack_time) {
    amqp_connection_state_t c = h_connect();
    tx_select(c, 1);
    cr_assert_eq(amqp_basic_ack(c, 1, 42, 0), AMQP_STATUS_OK);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 42");
    h_close(c);
}

Test(tx, committed_publishes_reach_consumer_in_order) {
    amqp_connection_state_t c = h_connect();
    amqp_connection_state_t con = h_connect();
    const char *q = tbu_queue(c, "tx-cons");
    tbu_consume(con, 1, q, true);
    tx_select(c, 1);
    tbu_publish_seq(c, 1, q, "m", 1, 51);
    tbu_expect_silence(con, 300);
    tx_commit(c, 1);
    for (int i = 1; i <= 50; i++) {
        char b[16];
        snprintf(b, sizeof b, "m%d", i);
        tbu_expect_deliver(con, 3000, b, false);
    }
    h_close(con);
    h_close(c);
}

/* A commit one of whose publishes a queue refused (x-overflow reject-publish)
 * fails as RabbitMQ 3.10 fails it: channel.close 406 "partial tx completion";
 * what the queue took stays. (The same close answers a commit whose records
 * the disk refused: tests/durability/test_tx_disk.py.) */
Test(tx, refused_publish_fails_commit) {
    amqp_connection_state_t c = h_connect();
    char name[128];
    snprintf(name, sizeof name, "%s", h_name("tx-rp"));
    amqp_table_entry_t e[2] = {{.key = amqp_cstring_bytes("x-max-length"),
                                .value = {.kind = AMQP_FIELD_KIND_I64, .value.i64 = 1}},
                               {.key = amqp_cstring_bytes("x-overflow"),
                                .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                          .value.bytes = amqp_cstring_bytes("reject-publish")}}};
    cr_assert(amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, 0, 0, 1, (amqp_table_t){2, e}) != NULL);
    tx_select(c, 1);
    h_publish(c, 1, "", name, "a", false, NULL);
    h_publish(c, 1, "", name, "b", false, NULL);
    cr_assert_null(amqp_tx_commit(c, 1), "tx.commit-ok although the queue refused a publish");
    tbu_expect_rpc_channel_close(c, 1, 406, "PRECONDITION_FAILED - partial tx completion");
    h_channel_open(c, 1);
    tx_expect_queue(c, 1, name, "a");
    h_close(c);
}
