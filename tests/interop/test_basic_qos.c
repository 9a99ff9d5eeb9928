/* test_basic_qos.c — basic.qos (prefetch) interop tests, RabbitMQ 3.x
 * semantics: global=false limits each consumer created afterwards,
 * global=true limits the whole channel (shared by its consumers). */
#include "test_basic_util.h"

#define QOS_MAX 64

/* Receive deliveries until none arrives for quiet_ms; records tags and
 * consumer tags; returns how many arrived. */
static int qos_drain(amqp_connection_state_t c, int quiet_ms, uint64_t *tags, char (*ctags)[256]) {
    int n = 0;
    tbu_msg_t m;
    while (tbu_deliver(c, quiet_ms, &m)) {
        cr_assert_lt(n, QOS_MAX, "too many deliveries");
        if (tags) tags[n] = m.tag;
        if (ctags) snprintf(ctags[n], 256, "%s", m.ctag);
        n++;
        tbu_msg_free(&m);
    }
    return n;
}

static int qos_count_for(char (*ctags)[256], int n, const char *ctag) {
    int k = 0;
    for (int i = 0; i < n; i++) k += strcmp(ctags[i], ctag) == 0;
    return k;
}

Test(basic_qos, per_consumer_prefetch_limits_unacked) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "qos-2");
    tbu_qos(c, 1, 2, false);
    tbu_publish_seq(c, 1, q, "m", 1, 8);
    tbu_consume(c, 1, q, false);
    uint64_t tags[QOS_MAX];
    cr_assert_eq(qos_drain(c, 400, tags, NULL), 2, "prefetch 2 must give exactly 2 unacked deliveries");
    cr_assert_eq(amqp_basic_ack(c, 1, tags[0], 0), AMQP_STATUS_OK);
    cr_assert_eq(qos_drain(c, 400, tags + 2, NULL), 1, "one ack frees exactly one slot");
    cr_assert_eq(amqp_basic_ack(c, 1, tags[2], 1), AMQP_STATUS_OK); /* acks 2 and 3 */
    cr_assert_eq(qos_drain(c, 400, tags + 3, NULL), 2, "a multiple ack of 2 frees 2 slots");
    cr_assert_eq(tbu_wait_count(q, 2, 2000), 2, "the rest stays in the queue");
    h_close(c);
}

Test(basic_qos, deliveries_keep_fifo_order_under_prefetch) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "qos-order");
    tbu_qos(c, 1, 1, false);
    tbu_publish_seq(c, 1, q, "m", 1, 6);
    tbu_consume(c, 1, q, false);
    for (int i = 1; i <= 5; i++) {
        char b[16];
        snprintf(b, sizeof b, "m%d", i);
        uint64_t t = tbu_expect_deliver(c, 2000, b, false);
        tbu_expect_silence(c, 150);
        cr_assert_eq(amqp_basic_ack(c, 1, t, 0), AMQP_STATUS_OK);
    }
    tbu_expect_silence(c, 200);
    h_close(c);
}

Test(basic_qos, reject_and_nack_free_credit_too) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "qos-rej");
    tbu_qos(c, 1, 1, false);
    tbu_publish_seq(c, 1, q, "m", 1, 4);
    tbu_consume(c, 1, q, false);
    uint64_t t = tbu_expect_deliver(c, 2000, "m1", false);
    tbu_expect_silence(c, 200);
    cr_assert_eq(amqp_basic_reject(c, 1, t, 0), AMQP_STATUS_OK);
    t = tbu_expect_deliver(c, 2000, "m2", false);
    tbu_expect_silence(c, 200);
    cr_assert_eq(amqp_basic_nack(c, 1, t, 0, 0), AMQP_STATUS_OK);
    tbu_expect_deliver(c, 2000, "m3", false);
    tbu_expect_silence(c, 200);
    h_close(c);
}

Test(basic_qos, per_consumer_limit_applies_to_each_consumer_separately) {
    amqp_connection_state_t c = h_connect();
    char qa[256], qb[256];
    snprintf(qa, sizeof qa, "%s", tbu_queue(c, "qos-pc-a"));
    snprintf(qb, sizeof qb, "%s", tbu_queue(c, "qos-pc-b"));
    tbu_publish_seq(c, 1, qa, "a", 1, 6);
    tbu_publish_seq(c, 1, qb, "b", 1, 6);
    tbu_qos(c, 1, 2, false);
    char ca[256], cb[256];
    snprintf(ca, sizeof ca, "%s", tbu_consume(c, 1, qa, false));
    snprintf(cb, sizeof cb, "%s", tbu_consume(c, 1, qb, false));
    char ctags[QOS_MAX][256];
    int n = qos_drain(c, 500, NULL, ctags);
    cr_assert_eq(n, 4, "2 consumers with prefetch 2 each: %d deliveries", n);
    cr_assert_eq(qos_count_for(ctags, n, ca), 2);
    cr_assert_eq(qos_count_for(ctags, n, cb), 2);
    h_close(c);
}

Test(basic_qos, global_prefetch_is_shared_by_consumers_on_channel) {
    amqp_connection_state_t c = h_connect();
    char qa[256], qb[256];
    snprintf(qa, sizeof qa, "%s", tbu_queue(c, "qos-gl-a"));
    snprintf(qb, sizeof qb, "%s", tbu_queue(c, "qos-gl-b"));
    tbu_publish_seq(c, 1, qa, "a", 1, 6);
    tbu_publish_seq(c, 1, qb, "b", 1, 6);
    tbu_qos(c, 1, 3, true);
    tbu_consume(c, 1, qa, false);
    tbu_consume(c, 1, qb, false);
    uint64_t tags[QOS_MAX];
    int n = qos_drain(c, 500, tags, NULL);
    cr_assert_eq(n, 3, "global prefetch 3 shared by 2 consumers: got %d deliveries", n);
    cr_assert_eq(amqp_basic_ack(c, 1, tags[n - 1], 1), AMQP_STATUS_OK);
    n = qos_drain(c, 500, tags, NULL);
    cr_assert_eq(n, 3, "after acking all 3: another 3, got %d", n);
    h_close(c);
}

Test(basic_qos, global_and_per_consumer_limits_combine) {
    amqp_connection_state_t c = h_connect();
    char qa[256], qb[256];
    snprintf(qa, sizeof qa, "%s", tbu_queue(c, "qos-both-a"));
    snprintf(qb, sizeof qb, "%s", tbu_queue(c, "qos-both-b"));
    tbu_publish_seq(c, 1, qa, "a", 1, 6);
    tbu_publish_seq(c, 1, qb, "b", 1, 6);
    tbu_qos(c, 1, 2, false);
    tbu_qos(c, 1, 3, true);
    char ca[256], cb[256];
    snprintf(ca, sizeof ca, "%s", tbu_consume(c, 1, qa, false));
    snprintf(cb, sizeof cb, "%s", tbu_consume(c, 1, qb, false));
    char ctags[QOS_MAX][256];
    int n = qos_drain(c, 500, NULL, ctags);
    cr_assert_eq(n, 3, "channel limit 3 caps the total: got %d", n);
    cr_assert_leq(qos_count_for(ctags, n, ca), 2, "per-consumer limit 2 still applies");
    cr_assert_leq(qos_count_for(ctags, n, cb), 2, "per-consumer limit 2 still applies");
    h_close(c);
}

Test(basic_qos, prefetch_zero_is_unlimited) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "qos-0");
    tbu_qos(c, 1, 0, false);
    tbu_publish_seq(c, 1, q, "m", 0, 20);
    tbu_consume(c, 1, q, false);
    cr_assert_eq(qos_drain(c, 500, NULL, NULL), 20);
    h_close(c);
}

Test(basic_qos, no_ack_consumer_ignores_prefetch) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "qos-noack");
    tbu_qos(c, 1, 1, false);
    tbu_publish_seq(c, 1, q, "m", 0, 10);
    tbu_consume(c, 1, q, true);
    cr_assert_eq(qos_drain(c, 500, NULL, NULL), 10);
    h_close(c);
}

Test(basic_qos, basic_get_ignores_prefetch) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "qos-get");
    tbu_qos(c, 1, 1, true);
    tbu_publish_seq(c, 1, q, "m", 1, 4);
    for (int i = 1; i <= 3; i++) {
        char *b = h_get(c, 1, q, false, NULL, NULL);
        cr_assert(b != NULL, "basic.get %d returned get-empty under prefetch 1", i);
        free(b);
    }
    h_close(c);
}

Test(basic_qos, per_consumer_qos_change_after_consume_affects_only_new_consumers) {
    amqp_connection_state_t c = h_connect();
    char qa[256], qb[256];
    snprintf(qa, sizeof qa, "%s", tbu_queue(c, "qos-chg-a"));
    snprintf(qb, sizeof qb, "%s", tbu_queue(c, "qos-chg-b"));
    tbu_publish_seq(c, 1, qa, "a", 1, 9);
    tbu_publish_seq(c, 1, qb, "b", 1, 9);
    tbu_qos(c, 1, 2, false);
    char ca[256], cb[256];
    snprintf(ca, sizeof ca, "%s", tbu_consume(c, 1, qa, false));
    char ctags[QOS_MAX][256];
    cr_assert_eq(qos_drain(c, 400, NULL, ctags), 2);
    tbu_qos(c, 1, 5, false);
    snprintf(cb, sizeof cb, "%s", tbu_consume(c, 1, qb, false));
    int n = qos_drain(c, 500, NULL, ctags);
    cr_assert_eq(qos_count_for(ctags, n, cb), 5, "the new consumer uses the new prefetch 5");
    cr_assert_eq(qos_count_for(ctags, n, ca), 0, "the old consumer keeps its prefetch 2");
    h_close(c);
}

Test(basic_qos, global_qos_change_after_consume_applies_immediately) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "qos-gchg");
    tbu_publish_seq(c, 1, q, "m", 1, 9);
    tbu_qos(c, 1, 2, true);
    tbu_consume(c, 1, q, false);
    cr_assert_eq(qos_drain(c, 400, NULL, NULL), 2);
    tbu_qos(c, 1, 5, true);
    cr_assert_eq(qos_drain(c, 500, NULL, NULL), 3, "raising the channel limit to 5 releases 3 more");
    h_close(c);
}

Test(basic_qos, prefetch_size_nonzero_is_not_implemented) {
    amqp_connection_state_t c = h_connect();
    cr_assert_null(amqp_basic_qos(c, 1, 1000, 10, false));
    tbu_expect_rpc_connection_close(c, 540, "NOT_IMPLEMENTED - prefetch_size!=0 (1000)");
    amqp_destroy_connection(c);
}
