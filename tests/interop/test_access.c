/* Users, vhosts and permissions, with the users, vhosts and permissions of a
 * definitions file exported from RabbitMQ 3.10.8 (tests/fixtures):
 *   alice/alicepw  administrator  v1: configure '^alice-.*', write '^(alice-.*|amq\.default)$', read '.*'
 *   bob/bobpw                     / : configure '',          write 'amq\.topic',             read 'bob.*'
 *   carol/'c@rol pw!' impersonator / : .* .* .*
 * Warren loads the file at boot (load_definitions, through WARREN_TEST_CONFIG);
 * the reference broker is the one those definitions were exported from, so
 * the same tests run against it (WARREN_AMQP_PORT). The texts below were
 * checked there. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "test_basic_util.h"

__attribute__((constructor)) static void config_file(void) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/warren-access-%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "# written by interop_test_access\nload_definitions = %s/rabbitmq-3.10-definitions.json\n",
            WARREN_FIXTURES);
    fclose(f);
    setenv("WARREN_TEST_CONFIG", path, 1);
}

static amqp_connection_state_t as(const char *vhost, const char *user, const char *pass) {
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = h_connect_opts(vhost, user, pass, 0, 131072, 0, &r);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL, "login of %s to %s failed", user, vhost);
    h_channel_open(c, 1);
    return c;
}

static void expect_403(amqp_connection_state_t c, const char *text) {
    h_expect_channel_close(amqp_get_rpc_reply(c), 403, text);
    h_close(c);
}

static bool declare(amqp_connection_state_t c, const char *q, bool passive, amqp_table_t args) {
    return amqp_queue_declare(c, 1, amqp_cstring_bytes(q), passive, false, false, false, args) != NULL;
}

/* ---- logins with RabbitMQ's password hashes ---- */

Test(access, rabbitmq_exported_users_log_in_with_their_passwords) {
    h_close(as("v1", "alice", "alicepw"));
    h_close(as("/", "bob", "bobpw"));
    h_close(as("/", "carol", "c@rol pw!"));
}

Test(access, wrong_password_refused) {
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = h_connect_opts("/", "bob", "alicepw", 0, 131072, 0, &r);
    cr_assert_neq(r.reply_type, AMQP_RESPONSE_NORMAL);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION)
        h_expect_connection_close(r, 403, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN");
    amqp_destroy_connection(c);
}

Test(access, vhost_without_permissions_530) {
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = h_connect_opts("v1", "bob", "bobpw", 0, 131072, 0, &r);
    h_expect_connection_close(r, 530, "NOT_ALLOWED - access to vhost 'v1' refused for user 'bob'");
    amqp_destroy_connection(c);
}

Test(access, missing_vhost_530) {
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = h_connect_opts("no-such-vhost", "alice", "alicepw", 0, 131072, 0, &r);
    h_expect_connection_close(r, 530, "NOT_ALLOWED - vhost no-such-vhost not found");
    amqp_destroy_connection(c);
}

/* ---- configure ---- */

Test(access, queue_declare_configure_refused) {
    amqp_connection_state_t c = as("/", "bob", "bobpw");
    cr_assert(!declare(c, "bob-q", false, amqp_empty_table));
    expect_403(c, "ACCESS_REFUSED - access to queue 'bob-q' in vhost '/' refused for user 'bob'");
}

Test(access, server_named_queue_checked_under_its_name) {
    amqp_connection_state_t c = as("/", "bob", "bobpw");
    cr_assert(amqp_queue_declare(c, 1, amqp_empty_bytes, false, false, true, true, amqp_empty_table) == NULL);
    expect_403(c, "ACCESS_REFUSED - access to queue 'amq.gen-");
}

Test(access, passive_declare_needs_no_permission) {
    amqp_connection_state_t c = as("/", "bob", "bobpw");
    cr_assert(!declare(c, "bob-missing", true, amqp_empty_table));
    h_expect_channel_close(amqp_get_rpc_reply(c), 404, "NOT_FOUND - no queue 'bob-missing' in vhost '/'");
    h_close(c);
}

Test(access, exchange_declare_and_delete_configure) {
    amqp_connection_state_t c = as("/", "bob", "bobpw");
    cr_assert(!amqp_exchange_declare(c, 1, amqp_cstring_bytes("bob-x"), amqp_cstring_bytes("direct"), false, false,
                                     false, false, amqp_empty_table));
    expect_403(c, "ACCESS_REFUSED - access to exchange 'bob-x' in vhost '/' refused for user 'bob'");
    c = as("/", "bob", "bobpw");
    cr_assert(!amqp_exchange_delete(c, 1, amqp_cstring_bytes("zzz"), false));
    expect_403(c, "ACCESS_REFUSED - access to exchange 'zzz' in vhost '/' refused for user 'bob'");
}

Test(access, queue_delete_configure_refused) {
    amqp_connection_state_t c = as("/", "bob", "bobpw");
    cr_assert(!amqp_queue_delete(c, 1, amqp_cstring_bytes("zzz"), false, false));
    expect_403(c, "ACCESS_REFUSED - access to queue 'zzz' in vhost '/' refused for user 'bob'");
}

Test(access, alice_configures_her_names_only) {
    amqp_connection_state_t c = as("v1", "alice", "alicepw");
    const char *q = h_name("alice-");
    cr_assert(declare(c, q, false, amqp_empty_table));
    cr_assert(amqp_queue_delete(c, 1, amqp_cstring_bytes(q), false, false));
    const char *x = h_name("alice-x-");
    cr_assert(amqp_exchange_declare(c, 1, amqp_cstring_bytes(x), amqp_cstring_bytes("fanout"), false, false, false,
                                    false, amqp_empty_table));
    cr_assert(amqp_exchange_delete(c, 1, amqp_cstring_bytes(x), false));
    cr_assert(!declare(c, "other", false, amqp_empty_table));
    expect_403(c, "ACCESS_REFUSED - access to queue 'other' in vhost 'v1' refused for user 'alice'");
}

Test(access, alternate_exchange_needs_write_on_it) {
    amqp_connection_state_t c = as("v1", "alice", "alicepw");
    amqp_table_entry_t e = {.key = amqp_cstring_bytes("alternate-exchange"),
                            .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("amq.fanout")}};
    amqp_table_t args = {1, &e};
    cr_assert(!amqp_exchange_declare(c, 1, amqp_cstring_bytes(h_name("alice-ae-")), amqp_cstring_bytes("direct"), false,
                                     false, false, false, args));
    expect_403(c, "ACCESS_REFUSED - access to exchange 'amq.fanout' in vhost 'v1' refused for user 'alice'");
}

Test(access, dead_letter_exchange_needs_write_on_it) {
    amqp_connection_state_t c = as("v1", "alice", "alicepw");
    amqp_table_entry_t e = {.key = amqp_cstring_bytes("x-dead-letter-exchange"),
                            .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("amq.fanout")}};
    amqp_table_t args = {1, &e};
    cr_assert(!declare(c, h_name("alice-dlx-"), false, args));
    expect_403(c, "ACCESS_REFUSED - access to exchange 'amq.fanout' in vhost 'v1' refused for user 'alice'");
}

/* ---- write ---- */

Test(access, publish_needs_write_on_the_exchange) {
    amqp_connection_state_t c = as("/", "bob", "bobpw");
    amqp_confirm_select(c, 1);
    h_publish(c, 1, "amq.topic", "k", "ok", false, NULL); /* allowed */
    h_publish(c, 1, "amq.direct", "k", "no", false, NULL);
    tbu_expect_async_channel_close(c, 1, 403,
                                   "ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '/' refused for user 'bob'");
    h_close(c);
}

Test(access, default_exchange_is_checked_as_amq_default) {
    amqp_connection_state_t c = as("/", "bob", "bobpw");
    h_publish(c, 1, "", "some-queue", "no", false, NULL);
    tbu_expect_async_channel_close(c, 1, 403,
                                   "ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused for user 'bob'");
    h_close(c);
    c = as("v1", "alice", "alicepw"); /* write '^(alice-.*|amq\.default)$' */
    const char *q = h_name("alice-pub-");
    cr_assert(declare(c, q, false, amqp_empty_table));
    h_publish(c, 1, "", q, "hello", false, NULL);
    cr_assert_eq(h_wait_message_count(c, 1, q, 1, 3000), 1);
    char *b = h_get(c, 1, q, true, NULL, NULL);
    cr_assert_str_eq(b, "hello");
    free(b);
    amqp_queue_delete(c, 1, amqp_cstring_bytes(q), false, false);
    h_close(c);
}

Test(access, queue_bind_needs_write_on_queue_then_read_on_exchange) {
    amqp_connection_state_t c = as("/", "bob", "bobpw");
    cr_assert(!amqp_queue_bind(c, 1, amqp_cstring_bytes("zzz"), amqp_cstring_bytes("amq.direct"),
                               amqp_cstring_bytes("k"), amqp_empty_table));
    expect_403(c, "ACCESS_REFUSED - access to queue 'zzz' in vhost '/' refused for user 'bob'");
    c = as("/", "bob", "bobpw");
    cr_assert(!amqp_queue_unbind(c, 1, amqp_cstring_bytes("zzz"), amqp_cstring_bytes("amq.direct"),
                                 amqp_cstring_bytes("k"), amqp_empty_table));
    expect_403(c, "ACCESS_REFUSED - access to queue 'zzz' in vhost '/' refused for user 'bob'");
    c = as("v1", "alice", "alicepw"); /* allowed: write on alice-*, read on everything */
    const char *q = h_name("alice-b-");
    cr_assert(declare(c, q, false, amqp_empty_table));
    cr_assert(amqp_queue_bind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes("amq.direct"), amqp_cstring_bytes("k"),
                              amqp_empty_table));
    cr_assert(amqp_queue_unbind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes("amq.direct"),
                                amqp_cstring_bytes("k"), amqp_empty_table));
    amqp_queue_delete(c, 1, amqp_cstring_bytes(q), false, false);
    h_close(c);
}

Test(access, exchange_bind_needs_read_on_source) {
    amqp_connection_state_t c = as("/", "bob", "bobpw");
    cr_assert(!amqp_exchange_bind(c, 1, amqp_cstring_bytes("amq.topic"), amqp_cstring_bytes("amq.direct"),
                                  amqp_cstring_bytes("k"), amqp_empty_table));
    expect_403(c, "ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '/' refused for user 'bob'");
    c = as("/", "bob", "bobpw");
    cr_assert(!amqp_exchange_bind(c, 1, amqp_cstring_bytes("amq.direct"), amqp_cstring_bytes("amq.topic"),
                                  amqp_cstring_bytes("k"), amqp_empty_table));
    expect_403(c, "ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '/' refused for user 'bob'");
}

/* ---- read ---- */

Test(access, get_consume_purge_need_read) {
    amqp_connection_state_t c = as("/", "bob", "bobpw");
    amqp_basic_get(c, 1, amqp_cstring_bytes("zzz"), true);
    expect_403(c, "ACCESS_REFUSED - access to queue 'zzz' in vhost '/' refused for user 'bob'");
    c = as("/", "bob", "bobpw");
    cr_assert(!amqp_basic_consume(c, 1, amqp_cstring_bytes("zzz"), amqp_empty_bytes, false, true, false,
                                  amqp_empty_table));
    expect_403(c, "ACCESS_REFUSED - access to queue 'zzz' in vhost '/' refused for user 'bob'");
    c = as("/", "bob", "bobpw");
    cr_assert(!amqp_queue_purge(c, 1, amqp_cstring_bytes("zzz")));
    expect_403(c, "ACCESS_REFUSED - access to queue 'zzz' in vhost '/' refused for user 'bob'");
}

Test(access, read_allowed_on_matching_queue) {
    amqp_connection_state_t g = h_connect(); /* guest makes a queue bob may read */
    const char *q = h_name("bob-r-");
    cr_assert(declare(g, q, false, amqp_empty_table));
    h_publish(g, 1, "", q, "for bob", false, NULL);
    cr_assert_eq(h_wait_message_count(g, 1, q, 1, 3000), 1);
    amqp_connection_state_t c = as("/", "bob", "bobpw");
    char *b = h_get(c, 1, q, true, NULL, NULL);
    cr_assert_str_eq(b, "for bob");
    free(b);
    cr_assert(amqp_queue_purge(c, 1, amqp_cstring_bytes(q)));
    cr_assert(amqp_basic_consume(c, 1, amqp_cstring_bytes(q), amqp_empty_bytes, false, true, false, amqp_empty_table));
    h_close(c);
    amqp_queue_delete(g, 1, amqp_cstring_bytes(q), false, false);
    h_close(g);
}

/* ---- vhosts ---- */

Test(access, vhosts_are_isolated) {
    const char *q = h_name("alice-iso-");
    amqp_connection_state_t a = as("v1", "alice", "alicepw");
    cr_assert(declare(a, q, false, amqp_empty_table));
    h_publish(a, 1, "", q, "in v1", false, NULL);
    cr_assert_eq(h_wait_message_count(a, 1, q, 1, 3000), 1);
    amqp_connection_state_t g = h_connect();
    cr_assert(!declare(g, q, true, amqp_empty_table)); /* not in "/" */
    char want[200];
    snprintf(want, sizeof want, "NOT_FOUND - no queue '%s' in vhost '/'", q);
    h_expect_channel_close(amqp_get_rpc_reply(g), 404, want);
    h_channel_open(g, 2);
    cr_assert(amqp_queue_declare(g, 2, amqp_cstring_bytes(q), false, false, false, true, amqp_empty_table));
    h_publish(g, 2, "", q, "in /", false, NULL);
    cr_assert_eq(h_wait_message_count(g, 2, q, 1, 3000), 1);
    char *b = h_get(a, 1, q, true, NULL, NULL);
    cr_assert_str_eq(b, "in v1");
    free(b);
    b = h_get(g, 2, q, true, NULL, NULL);
    cr_assert_str_eq(b, "in /");
    free(b);
    amqp_queue_delete(a, 1, amqp_cstring_bytes(q), false, false);
    amqp_queue_delete(g, 2, amqp_cstring_bytes(q), false, false);
    amqp_channel_close(g, 2, AMQP_REPLY_SUCCESS);
    h_close(g);
    h_close(a);
}

Test(access, imported_durable_definitions_exist_in_their_vhost) {
    amqp_connection_state_t a = as("v1", "alice", "alicepw");
    cr_assert(declare(a, "alice-durable", true, amqp_empty_table));
    cr_assert(amqp_exchange_declare(a, 1, amqp_cstring_bytes("alice-topic"), amqp_cstring_bytes("topic"), true, false,
                                    false, false, amqp_empty_table));
    h_close(a);
}

/* ---- user_id ---- */

Test(access, impersonator_may_set_another_user_id) {
    amqp_connection_state_t c = as("/", "carol", "c@rol pw!");
    const char *q = h_name("carol-");
    cr_assert(declare(c, q, false, amqp_empty_table));
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_USER_ID_FLAG, .user_id = amqp_cstring_bytes("alice")};
    h_publish(c, 1, "", q, "as alice", false, &p);
    cr_assert_eq(h_wait_message_count(c, 1, q, 1, 3000), 1);
    amqp_queue_delete(c, 1, amqp_cstring_bytes(q), false, false);
    h_close(c);
    c = as("/", "bob", "bobpw");
    h_publish(c, 1, "amq.topic", "k", "as alice", false, &p);
    tbu_expect_async_channel_close(c, 1, 406,
                                   "PRECONDITION_FAILED - user_id property set to 'alice' but authenticated user was 'bob'");
    h_close(c);
}
