/* test_basic_consume.c — basic.consume / basic.cancel interop tests:
 * consumer tags, exclusivity, priorities, round-robin, FIFO order, server
 * cancel notifications. */
#include "test_basic_util.h"

static amqp_table_t cons_priority_args(amqp_table_entry_t *e, int prio) {
    e->key = amqp_cstring_bytes("x-priority");
    e->value.kind = AMQP_FIELD_KIND_I32;
    e->value.value.i32 = prio;
    amqp_table_t t = {.num_entries = 1, .entries = e};
    return t;
}

/* basic.consume expected to fail: returns after the failure is seen (the
 * caller checks it with tbu_expect_rpc_*). */
static void cons_consume_fails(amqp_connection_state_t c, amqp_channel_t ch, const char *q,
                               const char *tag, bool exclusive) {
    amqp_basic_consume_ok_t *ok = amqp_basic_consume(c, ch, amqp_cstring_bytes(q), amqp_cstring_bytes(tag),
                                                     0, 0, exclusive, amqp_empty_table);
    cr_assert_null(ok, "basic.consume on %s unexpectedly succeeded", q);
}

Test(basic_consume, no_ack_delivery_is_not_requeued) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "cons-noack");
    tbu_publish_seq(c, 1, q, "m", 1, 4);
    tbu_consume(c, 1, q, true);
    tbu_expect_deliver(c, 2000, "m1", false);
    tbu_expect_deliver(c, 2000, "m2", false);
    tbu_expect_deliver(c, 2000, "m3", false);
    tbu_expect_silence(c, 200);
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    h_channel_open(c, 2);
    cr_assert_eq(h_message_count(c, 2, q), 0, "no-ack deliveries must not come back");
    h_close(c);
}

Test(basic_consume, existing_messages_delivered_in_order_with_increasing_tags) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "cons-exist");
    tbu_publish_seq(c, 1, q, "m", 1, 6);
    tbu_consume(c, 1, q, false);
    for (uint64_t i = 1; i <= 5; i++) {
        char b[16];
        snprintf(b, sizeof b, "m%lu", (unsigned long)i);
        cr_assert_eq(tbu_expect_deliver(c, 2000, b, false), i);
    }
    h_close(c);
}

Test(basic_consume, server_generated_consumer_tag) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "cons-ctag");
    char t1[256], t2[256];
    snprintf(t1, sizeof t1, "%s", tbu_consume(c, 1, q, true));
    snprintf(t2, sizeof t2, "%s", tbu_consume(c, 1, q, true));
    cr_assert(strncmp(t1, "amq.ctag-", 9) == 0 && strlen(t1) > 9, "tag \"%s\" lacks amq.ctag- prefix", t1);
    cr_assert(strncmp(t2, "amq.ctag-", 9) == 0, "tag \"%s\"", t2);
    cr_assert_str_neq(t1, t2, "generated tags must be unique");
    h_publish(c, 1, "", q, "x", false, NULL);
    tbu_msg_t m;
    cr_assert(tbu_deliver(c, 2000, &m));
    cr_assert(strcmp(m.ctag, t1) == 0 || strcmp(m.ctag, t2) == 0, "delivery ctag %s", m.ctag);
    tbu_msg_free(&m);
    h_close(c);
}

Test(basic_consume, client_consumer_tag_is_echoed) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "cons-mytag");
    const char *t = tbu_consume_args(c, 1, q, "my-tag", true, false, amqp_empty_table);
    cr_assert_str_eq(t, "my-tag");
    h_publish(c, 1, "", q, "x", false, NULL);
    tbu_msg_t m;
    cr_assert(tbu_deliver(c, 2000, &m));
    cr_assert_str_eq(m.ctag, "my-tag");
    cr_assert_str_eq(m.exchange, "");
    cr_assert_str_eq(m.rkey, q);
    cr_assert_eq(m.channel, 1);
    tbu_msg_free(&m);
    h_close(c);
}

Test(basic_consume, same_tag_on_different_channels_is_fine) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "cons-tag2ch");
    h_channel_open(c, 2);
    tbu_consume_args(c, 1, q, "shared", true, false, amqp_empty_table);
    tbu_consume_args(c, 2, q, "shared", true, false, amqp_empty_table);
    h_close(c);
}

Test(basic_consume, duplicate_consumer_tag_on_channel_is_530_connection_error) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "cons-dup");
    tbu_consume_args(c, 1, q, "dup-tag", true, false, amqp_empty_table);
    cons_consume_fails(c, 1, q, "dup-tag", false);
    tbu_expect_rpc_connection_close(c, 530, "NOT_ALLOWED - attempt to reuse consumer tag 'dup-tag'");
    amqp_destroy_connection(c);
}

Test(basic_consume, missing_queue_is_404) {
    amqp_connection_state_t c = h_connect();
    const char *q = h_name("cons-missing");
    cons_consume_fails(c, 1, q, "", false);
    char want[300];
    snprintf(want, sizeof want, "NOT_FOUND - no queue '%s' in vhost '/'", q);
    tbu_expect_rpc_channel_close(c, 1, 404, want);
    h_channel_open(c, 2);
    h_close(c);
}

Test(basic_consume, exclusive_consumer_blocks_second_consumer_403) {
    amqp_connection_state_t c = h_connect();
    amqp_connection_state_t c2 = h_connect();
    const char *q = tbu_queue(c, "cons-excl");
    tbu_consume_args(c, 1, q, "", false, true, amqp_empty_table);
    cons_consume_fails(c2, 1, q, "", false);
    char want[300];
    snprintf(want, sizeof want, "ACCESS_REFUSED - queue '%s' in vhost '/' in exclusive use", q);
    tbu_expect_rpc_channel_close(c2, 1, 403, want);
    /* also from the same connection, another channel */
    h_channel_open(c, 2);
    cons_consume_fails(c, 2, q, "", false);
    tbu_expect_rpc_channel_close(c, 2, 403, want);
    /* the exclusive consumer still works */
    h_publish(c, 1, "", q, "only-me", false, NULL);
    tbu_expect_deliver(c, 2000, "only-me", false);
    h_close(c2);
    h_close(c);
}

Test(basic_consume, exclusive_consume_on_queue_with_consumers_is_403) {
    amqp_connection_state_t c = h_connect();
    amqp_connection_state_t c2 = h_connect();
    const char *q = tbu_queue(c, "cons-excl2");
    tbu_consume(c, 1, q, false);
    cons_consume_fails(c2, 1, q, "", true);
    char want[300];
    snprintf(want, sizeof want, "ACCESS_REFUSED - queue '%s' in vhost '/' in exclusive use", q);
    tbu_expect_rpc_channel_close(c2, 1, 403, want);
    h_close(c2);
    h_close(c);
}

Test(basic_consume, exclusive_consumer_released_after_cancel) {
    amqp_connection_state_t c = h_connect();
    amqp_connection_state_t c2 = h_connect();
    const char *q = tbu_queue(c, "cons-excl3");
    const char *t = tbu_consume_args(c, 1, q, "ex", false, true, amqp_empty_table);
    cr_assert(amqp_basic_cancel(c, 1, amqp_cstring_bytes(t)) != NULL);
    tbu_consume(c2, 1, q, false);
    h_close(c2);
    h_close(c);
}

Test(basic_consume, consume_from_other_connections_exclusive_queue_is_405) {
    amqp_connection_state_t c = h_connect();
    amqp_connection_state_t c2 = h_connect();
    const char *q = h_queue_declare(c, 1, h_name("cons-exq"), false, true, false);
    char name[256];
    snprintf(name, sizeof name, "%s", q);
    cons_consume_fails(c2, 1, name, "", false);
    char want[512];
    snprintf(want, sizeof want, "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '%s' in vhost '/'",
             name);
    tbu_expect_rpc_channel_close(c2, 1, 405, want);
    h_close(c2);
    h_close(c);
}

Test(basic_consume, cancel_stops_deliveries) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "cons-cancel");
    tbu_qos(c, 1, 1, false);
    tbu_publish_seq(c, 1, q, "m", 1, 3);
    const char *t = tbu_consume_args(c, 1, q, "to-cancel", false, false, amqp_empty_table);
    uint64_t tag = tbu_expect_deliver(c, 2000, "m1", false);
    amqp_basic_cancel_ok_t *ok = amqp_basic_cancel(c, 1, amqp_cstring_bytes(t));
    cr_assert(ok != NULL, "basic.cancel failed");
    cr_assert(tbu_eq(ok->consumer_tag, "to-cancel"), "cancel-ok carries the consumer tag");
    h_publish(c, 1, "", q, "m3", false, NULL);
    tbu_expect_silence(c, 300);
    /* the delivery made before cancel can still be acked */
    cr_assert_eq(amqp_basic_ack(c, 1, tag, 0), AMQP_STATUS_OK);
    tbu_expect_silence(c, 200);
    cr_assert_eq(tbu_wait_count(q, 2, 2000), 2, "m2 and m3 stay in the queue");
    h_close(c);
}

Test(basic_consume, cancel_unknown_tag_is_cancel_ok) {
    amqp_connection_state_t c = h_connect();
    amqp_basic_cancel_ok_t *ok = amqp_basic_cancel(c, 1, amqp_cstring_bytes("never-existed"));
    cr_assert(ok != NULL, "RabbitMQ answers cancel-ok for an unknown consumer tag");
    cr_assert(tbu_eq(ok->consumer_tag, "never-existed"));
    h_close(c);
}

Test(basic_consume, consume_nowait_delivers_without_consume_ok) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "cons-nowait");
    amqp_basic_consume_t m = {.queue = amqp_cstring_bytes(q), .consumer_tag = amqp_cstring_bytes("nw"),
                              .no_ack = 1, .nowait = 1, .arguments = amqp_empty_table};
    cr_assert_eq(amqp_send_method(c, 1, AMQP_BASIC_CONSUME_METHOD, &m), AMQP_STATUS_OK);
    h_publish(c, 1, "", q, "nw-msg", false, NULL);
    tbu_msg_t d;
    cr_assert(tbu_deliver(c, 2000, &d), "no delivery (or consume-ok sent despite nowait)");
    cr_assert_str_eq(d.ctag, "nw");
    cr_assert_str_eq(d.body, "nw-msg");
    tbu_msg_free(&d);
    h_close(c);
}

Test(basic_consume, round_robin_across_two_consumers) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "cons-rr");
    h_channel_open(c, 2);
    tbu_consume_args(c, 1, q, "A", true, false, amqp_empty_table);
    tbu_consume_args(c, 2, q, "B", true, false, amqp_empty_table);
    tbu_publish_seq(c, 1, q, "", 0, 10);
    /* frames of two channels may interleave arbitrarily on the socket, so
     * check who got which message: consecutive messages alternate. */
    char owner[10] = {0};
    int na = 0, nb = 0;
    for (int i = 0; i < 10; i++) {
        tbu_msg_t m;
        cr_assert(tbu_deliver(c, 2000, &m), "only %d of 10 delivered", i);
        int v = atoi(m.body);
        cr_assert(v >= 0 && v < 10 && !owner[v]);
        cr_assert(strcmp(m.ctag, "A") == 0 || strcmp(m.ctag, "B") == 0, "ctag %s", m.ctag);
        owner[v] = m.ctag[0];
        if (owner[v] == 'A') na++;
        else nb++;
        tbu_msg_free(&m);
    }
    cr_assert(na == 5 && nb == 5, "A got %d, B got %d", na, nb);
    for (int v = 1; v < 10; v++)
        cr_assert_neq(owner[v], owner[v - 1], "messages %d and %d both went to %c", v - 1, v, owner[v]);
    h_close(c);
}

Test(basic_consume, higher_priority_consumer_served_first) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "cons-prio");
    amqp_table_entry_t e1, e2;
    h_channel_open(c, 2);
    tbu_consume_args(c, 1, q, "low", true, false, cons_priority_args(&e1, 1));
    tbu_consume_args(c, 2, q, "high", true, false, cons_priority_args(&e2, 10));
    tbu_publish_seq(c, 1, q, "m", 0, 6);
    for (int i = 0; i < 6; i++) {
        tbu_msg_t m;
        cr_assert(tbu_deliver(c, 2000, &m));
        cr_assert_str_eq(m.ctag, "high", "message %d went to %s", i, m.ctag);
        tbu_msg_free(&m);
    }
    tbu_expect_silence(c, 200);
    h_close(c);
}

Test(basic_consume, lower_priority_consumer_gets_overflow_when_higher_has_no_credit) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "cons-prio2");
    amqp_table_entry_t e1, e2;
    h_channel_open(c, 2);
    tbu_qos(c, 2, 2, false);
    tbu_consume_args(c, 1, q, "low", false, false, cons_priority_args(&e1, 1));
    tbu_consume_args(c, 2, q, "high", false, false, cons_priority_args(&e2, 10));
    tbu_publish_seq(c, 1, q, "m", 1, 7);
    int high = 0, low = 0;
    uint64_t high_tags[8];
    for (int i = 0; i < 6; i++) {
        tbu_msg_t m;
        cr_assert(tbu_deliver(c, 2000, &m), "only %d of 6 delivered", i);
        if (strcmp(m.ctag, "high") == 0) {
            char want[16];
            snprintf(want, sizeof want, "m%d", high + 1);
            cr_assert_str_eq(m.body, want, "the high-priority consumer gets the first messages");
            high_tags[high++] = m.tag;
        } else {
            low++;
        }
        tbu_msg_free(&m);
    }
    cr_assert(high == 2 && low == 4, "high got %d (prefetch 2), low got %d", high, low);
    /* new messages go to high again once it has credit */
    cr_assert_eq(amqp_basic_ack(c, 2, high_tags[1], 1), AMQP_STATUS_OK);
    h_publish(c, 1, "", q, "m7", false, NULL);
    tbu_msg_t m;
    cr_assert(tbu_deliver(c, 2000, &m));
    cr_assert_str_eq(m.ctag, "high");
    cr_assert_str_eq(m.body, "m7");
    tbu_msg_free(&m);
    h_close(c);
}

Test(basic_consume, server_cancel_notification_when_queue_deleted) {
    amqp_connection_state_t c = tbu_connect_caps();
    amqp_connection_state_t admin = h_connect();
    const char *q = tbu_queue(c, "cons-srvcancel");
    tbu_consume_args(c, 1, q, "watched", true, false, amqp_empty_table);
    cr_assert(amqp_queue_delete(admin, 1, amqp_cstring_bytes(q), 0, 0) != NULL);
    amqp_frame_t f = tbu_method(c, 3000);
    cr_assert_eq(f.payload.method.id, AMQP_BASIC_CANCEL_METHOD, "expected basic.cancel, got 0x%08x",
                 f.payload.method.id);
    cr_assert_eq(f.channel, 1);
    amqp_basic_cancel_t *m = f.payload.method.decoded;
    cr_assert(tbu_eq(m->consumer_tag, "watched"));
    /* the channel remains open and usable */
    const char *q2 = tbu_queue(c, "cons-after-cancel");
    cr_assert_eq(h_message_count(c, 1, q2), 0);
    h_close(admin);
    h_close(c);
}

Test(basic_consume, no_cancel_notification_without_capability) {
    amqp_connection_state_t c = h_connect(); /* amqp_login: no consumer_cancel_notify */
    amqp_connection_state_t admin = h_connect();
    const char *q = tbu_queue(c, "cons-nocancel");
    tbu_consume_args(c, 1, q, "quiet", true, false, amqp_empty_table);
    cr_assert(amqp_queue_delete(admin, 1, amqp_cstring_bytes(q), 0, 0) != NULL);
    tbu_expect_silence(c, 500);
    const char *q2 = tbu_queue(c, "cons-after-nocancel");
    cr_assert_eq(h_message_count(c, 1, q2), 0);
    h_close(admin);
    h_close(c);
}

Test(basic_consume, fifo_order_10000_messages_across_connections, .timeout = 120) {
    amqp_connection_state_t pub = h_connect();
    amqp_connection_state_t con = h_connect();
    const char *q = tbu_queue(pub, "cons-fifo");
    tbu_qos(con, 1, 500, false);
    tbu_consume(con, 1, q, false);
    enum { N = 10000 };
    tbu_publish_seq(pub, 1, q, "", 0, N);
    for (int i = 0; i < N; i++) {
        tbu_msg_t m;
        cr_assert(tbu_deliver(con, 5000, &m), "only %d of %d delivered", i, N);
        cr_assert_eq(atoi(m.body), i, "message %d arrived at position %d", atoi(m.body), i);
        cr_assert_eq(m.tag, (uint64_t)i + 1);
        if (i % 100 == 99) cr_assert_eq(amqp_basic_ack(con, 1, m.tag, 1), AMQP_STATUS_OK);
        tbu_msg_free(&m);
    }
    tbu_expect_silence(con, 200);
    cr_assert_eq(tbu_wait_count(q, 0, 2000), 0);
    h_close(con);
    h_close(pub);
}

Test(basic_consume, two_consumers_each_see_fifo_order, .timeout = 120) {
    amqp_connection_state_t pub = h_connect();
    amqp_connection_state_t ca = h_connect();
    amqp_connection_state_t cb = h_connect();
    const char *q = tbu_queue(pub, "cons-fifo2");
    tbu_consume(ca, 1, q, true);
    tbu_consume(cb, 1, q, true);
    enum { N = 2000 };
    tbu_publish_seq(pub, 1, q, "", 0, N);
    static bool seen[N];
    int total = 0;
    amqp_connection_state_t cons[2] = {ca, cb};
    for (int k = 0; k < 2; k++) {
        int last = -1, n = 0;
        tbu_msg_t m;
        while (tbu_deliver(cons[k], 1000, &m)) {
            int v = atoi(m.body);
            cr_assert(v > last, "consumer %d got %d after %d", k, v, last);
            cr_assert(v >= 0 && v < N && !seen[v]);
            seen[v] = true;
            last = v;
            n++;
            tbu_msg_free(&m);
        }
        cr_assert_gt(n, N / 4, "consumer %d got only %d messages", k, n);
        total += n;
    }
    cr_assert_eq(total, N);
    h_close(cb);
    h_close(ca);
    h_close(pub);
}
