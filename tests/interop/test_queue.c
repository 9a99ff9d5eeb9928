/* test_queue.c — queue class: declare (all flags, server-named, arguments,
 * types), bind/unbind, purge, delete, exclusivity and auto-delete.
 * Expected replies are RabbitMQ 3.10's (checked against the reference broker). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char *copy_name(const char *s) {
    char *d = strdup(s);
    cr_assert(d != NULL);
    return d;
}

static amqp_rpc_reply_t declare(amqp_connection_state_t c, amqp_channel_t ch, const char *name,
                                bool passive, bool durable, bool exclusive, bool auto_delete,
                                amqp_table_t args) {
    amqp_queue_declare(c, ch, amqp_cstring_bytes(name), passive, durable, exclusive, auto_delete,
                       args);
    return amqp_get_rpc_reply(c);
}

static void close_ok(amqp_connection_state_t c, amqp_channel_t ch) {
    amqp_channel_close_ok_t ok = {0};
    cr_assert(amqp_send_method(c, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) == AMQP_STATUS_OK);
}

/* Passive declare on a fresh channel 9 fails with the exact 404 text. */
static void assert_missing(amqp_connection_state_t c, const char *name) {
    h_channel_open(c, 9);
    amqp_rpc_reply_t r = declare(c, 9, name, true, false, false, false, amqp_empty_table);
    char want[400];
    snprintf(want, sizeof want, "NOT_FOUND - no queue '%s' in vhost '/'", name);
    h_expect_channel_close(r, 404, want);
    close_ok(c, 9);
}

static void assert_exists(amqp_connection_state_t c, const char *name) {
    amqp_rpc_reply_t r = declare(c, 1, name, true, false, false, false, amqp_empty_table);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "queue %s does not exist", name);
}

static void delete_queue(amqp_connection_state_t c, const char *name) {
    cr_assert(amqp_queue_delete(c, 1, amqp_cstring_bytes(name), 0, 0) != NULL, "delete %s", name);
}

static amqp_table_t one_arg(const char *key, amqp_field_value_t v) {
    static amqp_table_entry_t e[4];
    static int n;
    amqp_table_entry_t *p = &e[n++ % 4];
    p->key = amqp_cstring_bytes(key);
    p->value = v;
    amqp_table_t t = {1, p};
    return t;
}

static amqp_table_t str_arg(const char *key, const char *val) {
    amqp_field_value_t v = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(val)};
    return one_arg(key, v);
}

static amqp_table_t int_arg(const char *key, int32_t val) {
    amqp_field_value_t v = {.kind = AMQP_FIELD_KIND_I32, .value.i32 = val};
    return one_arg(key, v);
}

Test(queue, passive_missing_404) {
    amqp_connection_state_t c = h_connect();
    amqp_rpc_reply_t r = declare(c, 1, "x", true, false, false, false, amqp_empty_table);
    h_expect_channel_close(r, 404, "NOT_FOUND - no queue 'x' in vhost '/'");
    h_close(c);
}

Test(queue, declare_ok_fields) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-fields"));
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(c, 1, amqp_cstring_bytes(q), 0, 0, 0, 1, amqp_empty_table);
    cr_assert(ok != NULL);
    cr_assert(ok->queue.len == strlen(q) && memcmp(ok->queue.bytes, q, ok->queue.len) == 0,
              "declare-ok names another queue");
    cr_assert(ok->message_count == 0 && ok->consumer_count == 0);
    for (int i = 0; i < 3; i++) h_publish(c, 1, "", q, "m", false, NULL);
    cr_assert(h_wait_message_count(c, 1, q, 3, 3000) == 3, "message_count after 3 publishes");
    h_channel_open(c, 2);
    h_channel_open(c, 3);
    cr_assert(amqp_basic_qos(c, 2, 0, 1, 0) != NULL);
    cr_assert(amqp_basic_qos(c, 3, 0, 1, 0) != NULL);
    cr_assert(amqp_basic_consume(c, 2, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 0, 0,
                                 amqp_empty_table) != NULL);
    cr_assert(amqp_basic_consume(c, 3, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 0, 0,
                                 amqp_empty_table) != NULL);
    for (int i = 0; i < 100; i++) { /* deliveries to the consumers are asynchronous */
        ok = amqp_queue_declare(c, 1, amqp_cstring_bytes(q), 1, 0, 0, 0, amqp_empty_table);
        cr_assert(ok != NULL);
        if (ok->message_count == 1 && ok->consumer_count == 2) break;
        usleep(20 * 1000);
    }
    /* two messages are out unacked (prefetch 1 each), one is ready */
    cr_assert(ok->consumer_count == 2, "consumer_count %u", ok->consumer_count);
    cr_assert(ok->message_count == 1, "message_count %u (counts ready messages only)",
              ok->message_count);
    free(q);
    h_close(c);
}

Test(queue, redeclare_same_is_ok) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-same"));
    for (int i = 0; i < 3; i++) {
        amqp_rpc_reply_t r = declare(c, 1, q, false, true, false, false, int_arg("x-message-ttl", 60000));
        cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "redeclare %d failed", i);
    }
    delete_queue(c, q);
    free(q);
    h_close(c);
}

Test(queue, durable_queue) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-durable"));
    h_queue_declare(c, 1, q, true, false, false);
    assert_exists(c, q);
    delete_queue(c, q);
    assert_missing(c, q);
    free(q);
    h_close(c);
}

Test(queue, server_named) {
    amqp_connection_state_t c = h_connect();
    char *a = copy_name(h_queue_declare(c, 1, "", false, true, true));
    char *b = copy_name(h_queue_declare(c, 1, "", false, true, true));
    cr_assert(strncmp(a, "amq.gen-", 8) == 0, "server-named queue '%s'", a);
    cr_assert(strncmp(b, "amq.gen-", 8) == 0, "server-named queue '%s'", b);
    cr_assert(strcmp(a, b) != 0, "two server-named queues got the same name");
    assert_exists(c, a);
    free(a);
    free(b);
    h_close(c);
}

Test(queue, reserved_amq_prefix_403) {
    amqp_connection_state_t c = h_connect();
    amqp_rpc_reply_t r = declare(c, 1, "amq.x", false, false, false, false, amqp_empty_table);
    h_expect_channel_close(r, 403, "ACCESS_REFUSED - queue name 'amq.x' contains reserved prefix 'amq.*'");
    h_close(c);
}

/* Declared as non-durable, non-exclusive, non-auto-delete; redeclare with
 * one flag changed -> 406 "inequivalent arg". */
static void inequivalent_flag(bool durable, bool auto_delete, const char *arg) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-ineq"));
    h_queue_declare(c, 1, q, false, false, false);
    amqp_rpc_reply_t r = declare(c, 1, q, false, durable, false, auto_delete, amqp_empty_table);
    char want[400];
    snprintf(want, sizeof want,
             "PRECONDITION_FAILED - inequivalent arg '%s' for queue '%s' in vhost '/': "
             "received 'true' but current is 'false'",
             arg, q);
    h_expect_channel_close(r, 406, want);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    c = h_connect();
    delete_queue(c, q);
    free(q);
    h_close(c);
}

Test(queue, redeclare_different_durable_406) { inequivalent_flag(true, false, "durable"); }
Test(queue, redeclare_different_auto_delete_406) { inequivalent_flag(false, true, "auto_delete"); }

/* Redeclaring a shared queue as exclusive (same connection): RabbitMQ treats
 * it as a lock conflict, 405, not as an inequivalent argument. */
Test(queue, redeclare_different_exclusive_405) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-ineq-excl"));
    h_queue_declare(c, 1, q, false, false, false);
    amqp_rpc_reply_t r = declare(c, 1, q, false, false, true, false, amqp_empty_table);
    char want[400];
    snprintf(want, sizeof want,
             "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '%s' in vhost '/'", q);
    h_expect_channel_close(r, 405, want);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    c = h_connect();
    delete_queue(c, q);
    free(q);
    h_close(c);
}

Test(queue, redeclare_different_argument_406) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-ineq-arg"));
    amqp_rpc_reply_t r = declare(c, 1, q, false, false, false, true, int_arg("x-message-ttl", 1000));
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL);
    r = declare(c, 1, q, false, false, false, true, int_arg("x-message-ttl", 2000));
    char want[400];
    snprintf(want, sizeof want,
             "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '%s' in vhost '/'", q);
    h_expect_channel_close(r, 406, want);
    free(q);
    h_close(c);
}

Test(queue, classic_type_accepted) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-classic"));
    amqp_rpc_reply_t r = declare(c, 1, q, false, false, false, true, str_arg("x-queue-type", "classic"));
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "x-queue-type=classic refused");
    h_publish(c, 1, "", q, "classic-msg", false, NULL);
    char *got = h_get(c, 1, q, true, NULL, NULL);
    cr_assert(got && strcmp(got, "classic-msg") == 0);
    free(got);
    free(q);
    h_close(c);
}

Test(queue, quorum_durable_accepted) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-quorum"));
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, 1, amqp_cstring_bytes(q), 0, 1, 0, 0,
                                                     str_arg("x-queue-type", "quorum"));
    cr_assert(ok != NULL, "durable quorum queue refused");
    cr_assert(ok->queue.len == strlen(q) && ok->message_count == 0 && ok->consumer_count == 0);
    delete_queue(c, q);
    free(q);
    h_close(c);
}

Test(queue, quorum_non_durable_406) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-quorum-nd"));
    amqp_rpc_reply_t r = declare(c, 1, q, false, false, false, false, str_arg("x-queue-type", "quorum"));
    char want[300];
    snprintf(want, sizeof want, "PRECONDITION_FAILED - invalid property 'non-durable' for queue '%s'", q);
    h_expect_channel_close(r, 406, want);
    free(q);
    h_close(c);
}

Test(queue, unknown_type_406) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-bogus"));
    amqp_rpc_reply_t r = declare(c, 1, q, false, false, false, false, str_arg("x-queue-type", "bogus"));
    char want[300];
    snprintf(want, sizeof want, "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue '%s'", q);
    h_expect_channel_close(r, 406, want);
    free(q);
    h_close(c);
}

Test(queue, bind_missing_exchange_404) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    amqp_queue_bind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes("no-such-ex"),
                    amqp_cstring_bytes("k"), amqp_empty_table);
    h_expect_channel_close(amqp_get_rpc_reply(c), 404, "NOT_FOUND - no exchange 'no-such-ex' in vhost '/'");
    free(q);
    h_close(c);
}

Test(queue, bind_missing_queue_404) {
    amqp_connection_state_t c = h_connect();
    amqp_queue_bind(c, 1, amqp_cstring_bytes("no-such-q"), amqp_cstring_bytes("amq.direct"),
                    amqp_cstring_bytes("k"), amqp_empty_table);
    h_expect_channel_close(amqp_get_rpc_reply(c), 404, "NOT_FOUND - no queue 'no-such-q' in vhost '/'");
    h_close(c);
}

Test(queue, bind_unbind_routes) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, q, "amq.direct", q, amqp_empty_table);
    h_queue_bind(c, 1, q, "amq.direct", q, amqp_empty_table); /* idempotent */
    h_publish(c, 1, "amq.direct", q, "bound", false, NULL);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "bound", "bound queue got \"%s\"", all);
    free(all);
    cr_assert(amqp_queue_unbind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes("amq.direct"),
                                amqp_cstring_bytes(q), amqp_empty_table) != NULL);
    h_publish(c, 1, "amq.direct", q, "unbound", false, NULL);
    all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "", "message routed after unbind");
    free(all);
    free(q);
    h_close(c);
}

/* RabbitMQ 3.10: unbind of a missing binding, exchange or queue is a no-op. */
Test(queue, unbind_missing_is_ok) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    cr_assert(amqp_queue_unbind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes("amq.direct"),
                                amqp_cstring_bytes("never"), amqp_empty_table) != NULL);
    cr_assert(amqp_queue_unbind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes("no-such-ex"),
                                amqp_cstring_bytes("k"), amqp_empty_table) != NULL);
    cr_assert(amqp_queue_unbind(c, 1, amqp_cstring_bytes("no-such-q"), amqp_cstring_bytes("amq.direct"),
                                amqp_cstring_bytes("k"), amqp_empty_table) != NULL);
    free(q);
    h_close(c);
}

Test(queue, purge_returns_count) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    for (int i = 0; i < 5; i++) h_publish(c, 1, "", q, "p", false, NULL);
    amqp_queue_purge_ok_t *ok = amqp_queue_purge(c, 1, amqp_cstring_bytes(q));
    cr_assert(ok != NULL);
    cr_assert(ok->message_count == 5, "purge-ok message_count %u", ok->message_count);
    cr_assert(h_message_count(c, 1, q) == 0);
    ok = amqp_queue_purge(c, 1, amqp_cstring_bytes(q));
    cr_assert(ok != NULL && ok->message_count == 0);
    free(q);
    h_close(c);
}

/* Purge drops only ready messages: unacked ones come back on channel close. */
Test(queue, purge_keeps_unacked) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-purge-unacked"));
    h_queue_declare(c, 1, q, false, false, true);
    h_channel_open(c, 2);
    h_publish(c, 2, "", q, "a", false, NULL);
    h_publish(c, 2, "", q, "b", false, NULL);
    char *got = h_get(c, 2, q, false, NULL, NULL);
    cr_assert(got && strcmp(got, "a") == 0);
    free(got);
    amqp_queue_purge_ok_t *ok = amqp_queue_purge(c, 2, amqp_cstring_bytes(q));
    cr_assert(ok != NULL && ok->message_count == 1, "purge count %u", ok ? ok->message_count : 0);
    cr_assert(amqp_channel_close(c, 2, AMQP_REPLY_SUCCESS).reply_type == AMQP_RESPONSE_NORMAL);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "a");
    free(all);
    delete_queue(c, q);
    free(q);
    h_close(c);
}

Test(queue, purge_missing_404) {
    amqp_connection_state_t c = h_connect();
    amqp_queue_purge(c, 1, amqp_cstring_bytes("no-such-q"));
    h_expect_channel_close(amqp_get_rpc_reply(c), 404, "NOT_FOUND - no queue 'no-such-q' in vhost '/'");
    h_close(c);
}

Test(queue, delete_returns_count) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-delcount"));
    h_queue_declare(c, 1, q, false, false, false);
    for (int i = 0; i < 4; i++) h_publish(c, 1, "", q, "d", false, NULL);
    amqp_queue_delete_ok_t *ok = amqp_queue_delete(c, 1, amqp_cstring_bytes(q), 0, 0);
    cr_assert(ok != NULL && ok->message_count == 4, "delete-ok message_count %u",
              ok ? ok->message_count : 0);
    assert_missing(c, q);
    free(q);
    h_close(c);
}

/* RabbitMQ 3.10: deleting a missing queue is delete-ok with count 0. */
Test(queue, delete_missing_is_ok) {
    amqp_connection_state_t c = h_connect();
    amqp_queue_delete_ok_t *ok = amqp_queue_delete(c, 1, amqp_cstring_bytes(h_name("q-never")), 0, 0);
    cr_assert(ok != NULL && ok->message_count == 0);
    h_close(c);
}

Test(queue, delete_if_unused_with_consumer_406) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-inuse"));
    h_queue_declare(c, 1, q, false, false, false);
    h_channel_open(c, 2);
    cr_assert(amqp_basic_consume(c, 2, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 1, 0,
                                 amqp_empty_table) != NULL);
    amqp_queue_delete(c, 1, amqp_cstring_bytes(q), 1, 0);
    char want[300];
    snprintf(want, sizeof want, "PRECONDITION_FAILED - queue '%s' in vhost '/' in use", q);
    h_expect_channel_close(amqp_get_rpc_reply(c), 406, want);
    close_ok(c, 1);
    assert_missing(c, "q-never-there"); /* connection alive */
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    c = h_connect();
    assert_exists(c, q);
    delete_queue(c, q);
    free(q);
    h_close(c);
}

Test(queue, delete_if_unused_without_consumer_ok) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-unused"));
    h_queue_declare(c, 1, q, false, false, false);
    h_publish(c, 1, "", q, "x", false, NULL);
    amqp_queue_delete_ok_t *ok = amqp_queue_delete(c, 1, amqp_cstring_bytes(q), 1, 0);
    cr_assert(ok != NULL && ok->message_count == 1);
    free(q);
    h_close(c);
}

Test(queue, delete_if_empty_with_messages_406) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-notempty"));
    h_queue_declare(c, 1, q, false, false, false);
    h_publish(c, 1, "", q, "x", false, NULL);
    amqp_queue_delete(c, 1, amqp_cstring_bytes(q), 0, 1);
    char want[300];
    snprintf(want, sizeof want, "PRECONDITION_FAILED - queue '%s' in vhost '/' not empty", q);
    h_expect_channel_close(amqp_get_rpc_reply(c), 406, want);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    c = h_connect();
    cr_assert(h_wait_message_count(c, 1, q, 1, 2000) == 1);
    delete_queue(c, q);
    free(q);
    h_close(c);
}

Test(queue, delete_if_empty_when_empty_ok) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-empty"));
    h_queue_declare(c, 1, q, false, false, false);
    amqp_queue_delete_ok_t *ok = amqp_queue_delete(c, 1, amqp_cstring_bytes(q), 1, 1);
    cr_assert(ok != NULL && ok->message_count == 0);
    assert_missing(c, q);
    free(q);
    h_close(c);
}

/* Another connection touching an exclusive queue gets 405. */
static void locked(int op) {
    amqp_connection_state_t owner = h_connect();
    char *q = copy_name(h_name("q-excl"));
    h_queue_declare(owner, 1, q, false, true, false);
    amqp_connection_state_t other = h_connect();
    switch (op) {
    case 0: amqp_queue_declare(other, 1, amqp_cstring_bytes(q), 1, 0, 0, 0, amqp_empty_table); break;
    case 1: amqp_queue_declare(other, 1, amqp_cstring_bytes(q), 0, 0, 1, 0, amqp_empty_table); break;
    case 2:
        amqp_basic_consume(other, 1, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
        break;
    case 3: amqp_queue_delete(other, 1, amqp_cstring_bytes(q), 0, 0); break;
    case 4: amqp_queue_purge(other, 1, amqp_cstring_bytes(q)); break;
    default: amqp_basic_get(other, 1, amqp_cstring_bytes(q), 1); break;
    }
    char want[400];
    snprintf(want, sizeof want,
             "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '%s' in vhost '/'", q);
    h_expect_channel_close(amqp_get_rpc_reply(other), 405, want);
    h_close(other);
    assert_exists(owner, q);
    free(q);
    h_close(owner);
}

Test(queue, exclusive_passive_declare_from_other_connection_405) { locked(0); }
Test(queue, exclusive_declare_from_other_connection_405) { locked(1); }
Test(queue, exclusive_consume_from_other_connection_405) { locked(2); }
Test(queue, exclusive_delete_from_other_connection_405) { locked(3); }
Test(queue, exclusive_purge_from_other_connection_405) { locked(4); }
Test(queue, exclusive_get_from_other_connection_405) { locked(5); }

Test(queue, exclusive_usable_from_other_channel_of_owner) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-excl-own"));
    h_queue_declare(c, 1, q, false, true, false);
    h_channel_open(c, 2);
    h_publish(c, 2, "", q, "mine", false, NULL);
    char *got = h_get(c, 2, q, true, NULL, NULL);
    cr_assert(got && strcmp(got, "mine") == 0);
    free(got);
    free(q);
    h_close(c);
}

/* A 405 while the owner's close is still being handled (a loaded machine):
 * reopen channel 1 and look again. */
static bool still_locked(amqp_connection_state_t c, amqp_rpc_reply_t r) {
    if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || r.reply.id != AMQP_CHANNEL_CLOSE_METHOD) return false;
    amqp_channel_close_t *cl = r.reply.decoded;
    if (cl->reply_code != 405) return false;
    close_ok(c, 1);
    h_channel_open(c, 1);
    usleep(100 * 1000);
    return true;
}

Test(queue, exclusive_deleted_when_connection_closes) {
    amqp_connection_state_t owner = h_connect();
    char *q = copy_name(h_name("q-excl-gone"));
    h_queue_declare(owner, 1, q, true, true, false); /* even durable */
    h_close(owner);
    amqp_connection_state_t c = h_connect();
    bool gone = false;
    for (int i = 0; i < 20 && !gone; i++) { /* deletion may lag the close slightly */
        amqp_rpc_reply_t r = declare(c, 1, q, true, false, false, false, amqp_empty_table);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            usleep(100 * 1000);
            continue;
        }
        if (still_locked(c, r)) continue; /* the owner's close not yet handled */
        h_expect_channel_close(r, 404, "NOT_FOUND - no queue");
        gone = true;
    }
    cr_assert(gone, "exclusive queue survived its connection");
    free(q);
    h_close(c);
}

Test(queue, exclusive_deleted_when_connection_drops) {
    amqp_connection_state_t owner = h_connect();
    char *q = copy_name(h_name("q-excl-drop"));
    h_queue_declare(owner, 1, q, false, true, false);
    amqp_destroy_connection(owner); /* no connection.close: just the socket */
    amqp_connection_state_t c = h_connect();
    bool gone = false;
    for (int i = 0; i < 30 && !gone; i++) {
        amqp_rpc_reply_t r = declare(c, 1, q, true, false, false, false, amqp_empty_table);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            usleep(100 * 1000);
            continue;
        }
        if (still_locked(c, r)) continue; /* the owner's close not yet handled */
        h_expect_channel_close(r, 404, "NOT_FOUND - no queue");
        gone = true;
    }
    cr_assert(gone, "exclusive queue survived its dropped connection");
    free(q);
    h_close(c);
}

Test(queue, auto_delete_after_last_consumer_cancels) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-autodel"));
    h_queue_declare(c, 1, q, false, false, true);
    h_channel_open(c, 2);
    amqp_basic_consume_ok_t *a = amqp_basic_consume(c, 2, amqp_cstring_bytes(q),
                                                    amqp_cstring_bytes("ca"), 0, 1, 0, amqp_empty_table);
    cr_assert(a != NULL);
    amqp_basic_consume_ok_t *b = amqp_basic_consume(c, 2, amqp_cstring_bytes(q),
                                                    amqp_cstring_bytes("cb"), 0, 1, 0, amqp_empty_table);
    cr_assert(b != NULL);
    cr_assert(amqp_basic_cancel(c, 2, amqp_cstring_bytes("ca")) != NULL);
    assert_exists(c, q); /* one consumer left */
    cr_assert(amqp_basic_cancel(c, 2, amqp_cstring_bytes("cb")) != NULL);
    assert_missing(c, q);
    free(q);
    h_close(c);
}

Test(queue, auto_delete_when_consumer_channel_closes) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-autodel-ch"));
    h_queue_declare(c, 1, q, false, false, true);
    h_channel_open(c, 2);
    cr_assert(amqp_basic_consume(c, 2, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 1, 0,
                                 amqp_empty_table) != NULL);
    cr_assert(amqp_channel_close(c, 2, AMQP_REPLY_SUCCESS).reply_type == AMQP_RESPONSE_NORMAL);
    assert_missing(c, q);
    free(q);
    h_close(c);
}

/* An auto-delete queue that never had a consumer is not deleted. */
Test(queue, auto_delete_without_consumers_stays) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_name("q-autodel-idle"));
    h_queue_declare(c, 1, q, false, false, true);
    h_publish(c, 1, "", q, "x", false, NULL);
    cr_assert(h_wait_message_count(c, 1, q, 1, 2000) == 1);
    h_close(c);
    c = h_connect();
    assert_exists(c, q);
    delete_queue(c, q);
    free(q);
    h_close(c);
}
