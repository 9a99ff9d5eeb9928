/* test_exchange.c — exchange class: declare/delete/bind/unbind, errors,
 * exchange-to-exchange bindings, alternate exchanges, auto-delete.
 * Expected replies are RabbitMQ 3.10's (checked against the reference broker). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static amqp_rpc_reply_t declare(amqp_connection_state_t c, const char *name, const char *type,
                                bool passive, bool durable, bool auto_delete, bool internal) {
    amqp_exchange_declare(c, 1, amqp_cstring_bytes(name), amqp_cstring_bytes(type), passive, durable,
                          auto_delete, internal, amqp_empty_table);
    return amqp_get_rpc_reply(c);
}

static void assert_exists(amqp_connection_state_t c, const char *name) {
    amqp_rpc_reply_t r = declare(c, name, "", true, false, false, false);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "exchange '%s' does not exist", name);
}

/* Passive declare on a fresh channel 2 must fail with 404; reopens nothing. */
static void assert_missing(amqp_connection_state_t c, const char *name) {
    h_channel_open(c, 2);
    amqp_exchange_declare(c, 2, amqp_cstring_bytes(name), amqp_cstring_bytes(""), 1, 0, 0, 0,
                          amqp_empty_table);
    char want[300];
    snprintf(want, sizeof want, "NOT_FOUND - no exchange '%s' in vhost '/'", name);
    h_expect_channel_close(amqp_get_rpc_reply(c), 404, want);
    amqp_channel_close_ok_t ok = {0};
    amqp_send_method(c, 2, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
}

static char *copy_name(const char *s) {
    char *d = strdup(s);
    cr_assert(d != NULL);
    return d;
}

Test(exchange, predeclared_exchanges_exist) {
    amqp_connection_state_t c = h_connect();
    static const char *const names[] = {"amq.direct", "amq.fanout", "amq.topic", "amq.headers",
                                        "amq.match"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) assert_exists(c, names[i]);
    h_close(c);
}

/* RabbitMQ refuses every exchange operation naming the default exchange "",
 * even a passive declare. */
Test(exchange, default_exchange_passive_declare_403) {
    amqp_connection_state_t c = h_connect();
    amqp_rpc_reply_t r = declare(c, "", "", true, false, false, false);
    h_expect_channel_close(r, 403, "ACCESS_REFUSED - operation not permitted on the default exchange");
    h_close(c);
}

Test(exchange, default_exchange_delete_403) {
    amqp_connection_state_t c = h_connect();
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(""), 0);
    h_expect_channel_close(amqp_get_rpc_reply(c), 403,
                           "ACCESS_REFUSED - operation not permitted on the default exchange");
    h_close(c);
}

Test(exchange, bind_to_default_exchange_403) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    amqp_queue_bind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes(""), amqp_cstring_bytes("x"),
                    amqp_empty_table);
    h_expect_channel_close(amqp_get_rpc_reply(c), 403,
                           "ACCESS_REFUSED - operation not permitted on the default exchange");
    free(q);
    h_close(c);
}

Test(exchange, amq_default_is_not_a_name) {
    amqp_connection_state_t c = h_connect();
    assert_missing(c, "amq.default");
    h_close(c);
}

Test(exchange, delete_system_exchange_403) {
    amqp_connection_state_t c = h_connect();
    amqp_exchange_delete(c, 1, amqp_cstring_bytes("amq.direct"), 0);
    h_expect_channel_close(amqp_get_rpc_reply(c), 403,
                           "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed");
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    c = h_connect();
    assert_exists(c, "amq.direct");
    h_close(c);
}

Test(exchange, default_exchange_routes_by_queue_name) {
    amqp_connection_state_t c = h_connect();
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    h_publish(c, 1, "", q, "direct-to-queue", false, NULL);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "direct-to-queue");
    free(all);
    free(q);
    h_close(c);
}

Test(exchange, declare_each_type_and_redeclare) {
    amqp_connection_state_t c = h_connect();
    static const char *const types[] = {"direct", "fanout", "topic", "headers"};
    for (size_t i = 0; i < 4; i++) {
        char *name = copy_name(h_name(types[i]));
        h_exchange_declare(c, 1, name, types[i], false, true, false, amqp_empty_table);
        h_exchange_declare(c, 1, name, types[i], false, true, false, amqp_empty_table);
        assert_exists(c, name);
        cr_assert(amqp_exchange_delete(c, 1, amqp_cstring_bytes(name), 0) != NULL);
        free(name);
    }
    h_close(c);
}

Test(exchange, durable_exchange) {
    amqp_connection_state_t c = h_connect();
    char *name = copy_name(h_name("ex-durable"));
    h_exchange_declare(c, 1, name, "direct", true, false, false, amqp_empty_table);
    assert_exists(c, name);
    cr_assert(amqp_exchange_delete(c, 1, amqp_cstring_bytes(name), 0) != NULL);
    assert_missing(c, name);
    free(name);
    h_close(c);
}

Test(exchange, passive_missing_404) {
    amqp_connection_state_t c = h_connect();
    assert_missing(c, "no-such-exchange-here");
    h_close(c);
}

/* Redeclare name (declared as direct, non-durable, non-auto-delete, non-internal)
 * with one property changed: 406 with RabbitMQ's "inequivalent arg" text. */
static void inequivalent(const char *type, bool durable, bool auto_delete, bool internal,
                         const char *arg, const char *received, const char *current) {
    amqp_connection_state_t c = h_connect();
    char *name = copy_name(h_name("ex-ineq"));
    h_exchange_declare(c, 1, name, "direct", false, false, false, amqp_empty_table);
    amqp_rpc_reply_t r = declare(c, name, type, false, durable, auto_delete, internal);
    char want[400];
    snprintf(want, sizeof want,
             "PRECONDITION_FAILED - inequivalent arg '%s' for exchange '%s' in vhost '/': "
             "received '%s' but current is '%s'",
             arg, name, received, current);
    h_expect_channel_close(r, 406, want);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    c = h_connect();
    assert_exists(c, name); /* unchanged and still there */
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(name), 0);
    free(name);
    h_close(c);
}

Test(exchange, redeclare_different_type_406) {
    inequivalent("fanout", false, false, false, "type", "fanout", "direct");
}
Test(exchange, redeclare_different_durable_406) {
    inequivalent("direct", true, false, false, "durable", "true", "false");
}
Test(exchange, redeclare_different_auto_delete_406) {
    inequivalent("direct", false, true, false, "auto_delete", "true", "false");
}
Test(exchange, redeclare_different_internal_406) {
    inequivalent("direct", false, false, true, "internal", "true", "false");
}

Test(exchange, reserved_amq_prefix_403) {
    amqp_connection_state_t c = h_connect();
    amqp_rpc_reply_t r = declare(c, "amq.foo", "direct", false, false, false, false);
    h_expect_channel_close(r, 403,
                           "ACCESS_REFUSED - exchange name 'amq.foo' contains reserved prefix 'amq.*'");
    h_close(c);
}

/* Redeclaring a predeclared amq.* exchange with its own properties is fine;
 * with other properties it is an ordinary 406. */
Test(exchange, redeclare_amq_direct_equivalent_ok) {
    amqp_connection_state_t c = h_connect();
    amqp_rpc_reply_t r = declare(c, "amq.direct", "direct", false, true, false, false);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "equivalent redeclare of amq.direct refused");
    h_close(c);
}

Test(exchange, redeclare_amq_direct_as_fanout_406) {
    amqp_connection_state_t c = h_connect();
    amqp_rpc_reply_t r = declare(c, "amq.direct", "fanout", false, true, false, false);
    h_expect_channel_close(r, 406,
                           "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'amq.direct' "
                           "in vhost '/': received 'fanout' but current is 'direct'");
    h_close(c);
}

Test(exchange, unknown_type_503) {
    amqp_connection_state_t c = h_connect();
    amqp_rpc_reply_t r = declare(c, h_name("ex-badtype"), "no-such-type", false, false, false, false);
    h_expect_connection_close(r, 503, "COMMAND_INVALID - unknown exchange type 'no-such-type'");
    amqp_destroy_connection(c);
}

Test(exchange, delete_then_missing) {
    amqp_connection_state_t c = h_connect();
    char *name = copy_name(h_name("ex-del"));
    h_exchange_declare(c, 1, name, "fanout", false, false, false, amqp_empty_table);
    cr_assert(amqp_exchange_delete(c, 1, amqp_cstring_bytes(name), 0) != NULL);
    assert_missing(c, name);
    free(name);
    h_close(c);
}

/* RabbitMQ 3.10: deleting an exchange that does not exist is a no-op (delete-ok). */
Test(exchange, delete_missing_is_ok) {
    amqp_connection_state_t c = h_connect();
    amqp_exchange_delete_ok_t *ok = amqp_exchange_delete(c, 1, amqp_cstring_bytes(h_name("ex-never")), 0);
    cr_assert(ok != NULL, "deleting a missing exchange failed (reply type %d)",
              amqp_get_rpc_reply(c).reply_type);
    h_close(c);
}

Test(exchange, delete_if_unused_with_bindings_406) {
    amqp_connection_state_t c = h_connect();
    char *name = copy_name(h_name("ex-inuse"));
    h_exchange_declare(c, 1, name, "direct", false, false, false, amqp_empty_table);
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, q, name, "k", amqp_empty_table);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(name), 1);
    char want[300];
    snprintf(want, sizeof want, "PRECONDITION_FAILED - exchange '%s' in vhost '/' in use", name);
    h_expect_channel_close(amqp_get_rpc_reply(c), 406, want);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    c = h_connect();
    assert_exists(c, name);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(name), 0);
    free(name);
    free(q);
    h_close(c);
}

Test(exchange, delete_if_unused_without_bindings_ok) {
    amqp_connection_state_t c = h_connect();
    char *name = copy_name(h_name("ex-unused"));
    h_exchange_declare(c, 1, name, "direct", false, false, false, amqp_empty_table);
    cr_assert(amqp_exchange_delete(c, 1, amqp_cstring_bytes(name), 1) != NULL);
    assert_missing(c, name);
    free(name);
    h_close(c);
}

/* Deleting an exchange removes its bindings: a queue bound to it gets nothing
 * from a re-created exchange of the same name. */
Test(exchange, delete_removes_bindings) {
    amqp_connection_state_t c = h_connect();
    char *name = copy_name(h_name("ex-rebind"));
    h_exchange_declare(c, 1, name, "fanout", false, false, false, amqp_empty_table);
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, q, name, "", amqp_empty_table);
    cr_assert(amqp_exchange_delete(c, 1, amqp_cstring_bytes(name), 0) != NULL);
    h_exchange_declare(c, 1, name, "fanout", false, false, false, amqp_empty_table);
    h_publish(c, 1, name, "", "after-recreate", false, NULL);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "", "binding survived exchange deletion");
    free(all);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(name), 0);
    free(name);
    free(q);
    h_close(c);
}

Test(exchange, publish_to_internal_403) {
    amqp_connection_state_t c = h_connect();
    char *name = copy_name(h_name("ex-internal"));
    h_exchange_declare(c, 1, name, "fanout", false, false, true, amqp_empty_table);
    h_publish(c, 1, name, "", "nope", false, NULL);
    amqp_frame_t f;
    int rc = h_wait_frame(c, &f, 5000);
    cr_assert(rc == AMQP_STATUS_OK, "no reply to a publish to an internal exchange");
    cr_assert(f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD);
    amqp_rpc_reply_t r = {.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION, .reply = f.payload.method};
    char want[300];
    snprintf(want, sizeof want, "ACCESS_REFUSED - cannot publish to internal exchange '%s' in vhost '/'",
             name);
    h_expect_channel_close(r, 403, want);
    free(name);
    h_close(c);
}

Test(exchange, publish_to_missing_exchange_404) {
    amqp_connection_state_t c = h_connect();
    h_publish(c, 1, "ex-does-not-exist", "", "nope", false, NULL);
    amqp_frame_t f;
    cr_assert(h_wait_frame(c, &f, 5000) == AMQP_STATUS_OK);
    cr_assert(f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD);
    amqp_rpc_reply_t r = {.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION, .reply = f.payload.method};
    h_expect_channel_close(r, 404, "NOT_FOUND - no exchange 'ex-does-not-exist' in vhost '/'");
    h_close(c);
}

/* An internal exchange still routes what is bound into it from another exchange. */
Test(exchange, internal_reachable_via_e2e_binding) {
    amqp_connection_state_t c = h_connect();
    char *src = copy_name(h_name("ex-front"));
    char *in = copy_name(h_name("ex-inner"));
    h_exchange_declare(c, 1, src, "fanout", false, false, false, amqp_empty_table);
    h_exchange_declare(c, 1, in, "fanout", false, false, true, amqp_empty_table);
    cr_assert(amqp_exchange_bind(c, 1, amqp_cstring_bytes(in), amqp_cstring_bytes(src),
                                 amqp_cstring_bytes(""), amqp_empty_table) != NULL);
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, q, in, "", amqp_empty_table);
    h_publish(c, 1, src, "", "via-front", false, NULL);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "via-front");
    free(all);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(src), 0);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(in), 0);
    free(src);
    free(in);
    free(q);
    h_close(c);
}

Test(exchange, e2e_bind_and_unbind) {
    amqp_connection_state_t c = h_connect();
    char *src = copy_name(h_name("ex-src"));
    char *dst = copy_name(h_name("ex-dst"));
    h_exchange_declare(c, 1, src, "topic", false, false, false, amqp_empty_table);
    h_exchange_declare(c, 1, dst, "direct", false, false, false, amqp_empty_table);
    cr_assert(amqp_exchange_bind(c, 1, amqp_cstring_bytes(dst), amqp_cstring_bytes(src),
                                 amqp_cstring_bytes("a.*"), amqp_empty_table) != NULL);
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, q, dst, "a.b", amqp_empty_table);
    h_publish(c, 1, src, "a.b", "1", false, NULL); /* matches a.* then a.b */
    h_publish(c, 1, src, "a.c", "2", false, NULL); /* matches a.*, not a.b */
    h_publish(c, 1, src, "x.b", "3", false, NULL); /* no match */
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "1");
    free(all);
    cr_assert(amqp_exchange_unbind(c, 1, amqp_cstring_bytes(dst), amqp_cstring_bytes(src),
                                   amqp_cstring_bytes("a.*"), amqp_empty_table) != NULL);
    h_publish(c, 1, src, "a.b", "4", false, NULL);
    all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "", "message routed after exchange.unbind");
    free(all);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(src), 0);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(dst), 0);
    free(src);
    free(dst);
    free(q);
    h_close(c);
}

/* a -> b -> a loop, queue bound to both: each queue gets the message once. */
Test(exchange, e2e_loop_delivers_once) {
    amqp_connection_state_t c = h_connect();
    char *a = copy_name(h_name("ex-loop-a"));
    char *b = copy_name(h_name("ex-loop-b"));
    h_exchange_declare(c, 1, a, "fanout", false, false, false, amqp_empty_table);
    h_exchange_declare(c, 1, b, "fanout", false, false, false, amqp_empty_table);
    cr_assert(amqp_exchange_bind(c, 1, amqp_cstring_bytes(b), amqp_cstring_bytes(a),
                                 amqp_cstring_bytes(""), amqp_empty_table) != NULL);
    cr_assert(amqp_exchange_bind(c, 1, amqp_cstring_bytes(a), amqp_cstring_bytes(b),
                                 amqp_cstring_bytes(""), amqp_empty_table) != NULL);
    char *qa = copy_name(h_queue_declare(c, 1, "", false, true, true));
    char *qb = copy_name(h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, qa, a, "", amqp_empty_table);
    h_queue_bind(c, 1, qb, b, "", amqp_empty_table);
    h_publish(c, 1, a, "", "loop", false, NULL);
    char *all = h_get_all(c, 1, qb);
    cr_assert_str_eq(all, "loop", "queue on b got \"%s\"", all);
    free(all);
    all = h_get_all(c, 1, qa);
    cr_assert_str_eq(all, "loop", "queue on a got \"%s\"", all);
    free(all);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(a), 0);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(b), 0);
    free(a);
    free(b);
    free(qa);
    free(qb);
    h_close(c);
}

/* A queue reachable through two paths (direct binding and via another
 * exchange) still gets one copy. */
Test(exchange, diamond_delivers_once) {
    amqp_connection_state_t c = h_connect();
    char *a = copy_name(h_name("ex-dia-a"));
    char *b = copy_name(h_name("ex-dia-b"));
    h_exchange_declare(c, 1, a, "fanout", false, false, false, amqp_empty_table);
    h_exchange_declare(c, 1, b, "fanout", false, false, false, amqp_empty_table);
    cr_assert(amqp_exchange_bind(c, 1, amqp_cstring_bytes(b), amqp_cstring_bytes(a),
                                 amqp_cstring_bytes(""), amqp_empty_table) != NULL);
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, q, a, "", amqp_empty_table);
    h_queue_bind(c, 1, q, b, "", amqp_empty_table);
    h_publish(c, 1, a, "", "once", false, NULL);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "once");
    free(all);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(a), 0);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(b), 0);
    free(a);
    free(b);
    free(q);
    h_close(c);
}

/* RabbitMQ 3.10: unbinding something that is not bound is a no-op. */
Test(exchange, e2e_unbind_missing_is_ok) {
    amqp_connection_state_t c = h_connect();
    cr_assert(amqp_exchange_unbind(c, 1, amqp_cstring_bytes("amq.fanout"), amqp_cstring_bytes("amq.direct"),
                                   amqp_cstring_bytes("never-bound"), amqp_empty_table) != NULL);
    cr_assert(amqp_exchange_unbind(c, 1, amqp_cstring_bytes("amq.fanout"), amqp_cstring_bytes("ex-nowhere"),
                                   amqp_cstring_bytes(""), amqp_empty_table) != NULL);
    h_close(c);
}

Test(exchange, e2e_bind_missing_source_404) {
    amqp_connection_state_t c = h_connect();
    amqp_exchange_bind(c, 1, amqp_cstring_bytes("amq.fanout"), amqp_cstring_bytes("ex-missing-src"),
                       amqp_cstring_bytes(""), amqp_empty_table);
    h_expect_channel_close(amqp_get_rpc_reply(c), 404,
                           "NOT_FOUND - no exchange 'ex-missing-src' in vhost '/'");
    h_close(c);
}

Test(exchange, e2e_bind_missing_destination_404) {
    amqp_connection_state_t c = h_connect();
    amqp_exchange_bind(c, 1, amqp_cstring_bytes("ex-missing-dst"), amqp_cstring_bytes("amq.fanout"),
                       amqp_cstring_bytes(""), amqp_empty_table);
    h_expect_channel_close(amqp_get_rpc_reply(c), 404,
                           "NOT_FOUND - no exchange 'ex-missing-dst' in vhost '/'");
    h_close(c);
}

static amqp_table_t ae_args(const char *ae) {
    static amqp_table_entry_t e;
    e.key = amqp_cstring_bytes("alternate-exchange");
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = amqp_cstring_bytes(ae);
    amqp_table_t t = {1, &e};
    return t;
}

Test(exchange, alternate_exchange_gets_unroutable) {
    amqp_connection_state_t c = h_connect();
    char *x = copy_name(h_name("ex-main"));
    char *ae = copy_name(h_name("ex-ae"));
    h_exchange_declare(c, 1, ae, "fanout", false, false, false, amqp_empty_table);
    h_exchange_declare(c, 1, x, "direct", false, false, false, ae_args(ae));
    char *qm = copy_name(h_queue_declare(c, 1, "", false, true, true));
    char *qa = copy_name(h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, qm, x, "known", amqp_empty_table);
    h_queue_bind(c, 1, qa, ae, "", amqp_empty_table);
    h_publish(c, 1, x, "known", "routed", true, NULL);
    h_publish(c, 1, x, "unknown", "to-ae", true, NULL);
    char *all = h_get_all(c, 1, qm);
    cr_assert_str_eq(all, "routed");
    free(all);
    all = h_get_all(c, 1, qa);
    cr_assert_str_eq(all, "to-ae");
    free(all);
    /* mandatory + routed via the AE: no basic.return */
    amqp_frame_t f;
    cr_assert(h_wait_frame(c, &f, 300) == AMQP_STATUS_TIMEOUT, "unexpected frame (basic.return?)");
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(x), 0);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(ae), 0);
    free(x);
    free(ae);
    free(qm);
    free(qa);
    h_close(c);
}

/* An alternate exchange that does not exist: the message is just dropped. */
Test(exchange, missing_alternate_exchange_drops) {
    amqp_connection_state_t c = h_connect();
    char *x = copy_name(h_name("ex-main2"));
    h_exchange_declare(c, 1, x, "direct", false, false, false, ae_args("ex-ae-missing"));
    h_publish(c, 1, x, "nothing", "dropped", false, NULL);
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, q, x, "k", amqp_empty_table);
    h_publish(c, 1, x, "k", "kept", false, NULL);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "kept");
    free(all);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(x), 0);
    free(x);
    free(q);
    h_close(c);
}

Test(exchange, auto_delete_removed_after_last_unbind) {
    amqp_connection_state_t c = h_connect();
    char *x = copy_name(h_name("ex-autodel"));
    h_exchange_declare(c, 1, x, "direct", false, true, false, amqp_empty_table);
    char *q = copy_name(h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, q, x, "k1", amqp_empty_table);
    h_queue_bind(c, 1, q, x, "k2", amqp_empty_table);
    cr_assert(amqp_queue_unbind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes(x),
                                amqp_cstring_bytes("k1"), amqp_empty_table) != NULL);
    assert_exists(c, x); /* one binding left */
    cr_assert(amqp_queue_unbind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes(x),
                                amqp_cstring_bytes("k2"), amqp_empty_table) != NULL);
    assert_missing(c, x);
    free(x);
    free(q);
    h_close(c);
}

Test(exchange, auto_delete_removed_when_bound_queue_deleted) {
    amqp_connection_state_t c = h_connect();
    char *x = copy_name(h_name("ex-autodel2"));
    h_exchange_declare(c, 1, x, "fanout", false, true, false, amqp_empty_table);
    char *q = copy_name(h_queue_declare(c, 1, h_name("q-autodel2"), false, false, false));
    h_queue_bind(c, 1, q, x, "", amqp_empty_table);
    cr_assert(amqp_queue_delete(c, 1, amqp_cstring_bytes(q), 0, 0) != NULL);
    assert_missing(c, x);
    free(x);
    free(q);
    h_close(c);
}

/* An auto-delete exchange that never had a binding stays. */
Test(exchange, auto_delete_without_bindings_stays) {
    amqp_connection_state_t c = h_connect();
    char *x = copy_name(h_name("ex-autodel3"));
    h_exchange_declare(c, 1, x, "fanout", false, true, false, amqp_empty_table);
    assert_exists(c, x);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(x), 0);
    free(x);
    h_close(c);
}

/* An auto-delete exchange used as the source of an e2e binding goes when
 * that binding is removed. */
Test(exchange, auto_delete_source_of_e2e_binding) {
    amqp_connection_state_t c = h_connect();
    char *x = copy_name(h_name("ex-autodel4"));
    h_exchange_declare(c, 1, x, "fanout", false, true, false, amqp_empty_table);
    cr_assert(amqp_exchange_bind(c, 1, amqp_cstring_bytes("amq.fanout"), amqp_cstring_bytes(x),
                                 amqp_cstring_bytes(""), amqp_empty_table) != NULL);
    cr_assert(amqp_exchange_unbind(c, 1, amqp_cstring_bytes("amq.fanout"), amqp_cstring_bytes(x),
                                   amqp_cstring_bytes(""), amqp_empty_table) != NULL);
    assert_missing(c, x);
    free(x);
    h_close(c);
}
