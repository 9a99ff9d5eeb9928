/* test_shortcuts.c — two client-visible details of RabbitMQ 3.10 that real
 * client suites rely on:
 *   - the empty queue name means "the queue last declared on this channel"
 *     in basic.consume, basic.get, queue.bind, queue.unbind, queue.purge and
 *     queue.delete (404 "no previously declared queue" when there is none),
 *     and in queue.bind/unbind an empty queue with an empty routing key binds
 *     with the queue's name as the key;
 *   - a reply text longer than 255 bytes is cut to 252 bytes plus "..." and
 *     the close still carries its reply code (it used to be a framing error).
 * Expected replies are RabbitMQ 3.10's (run against-rabbitmq.sh to check). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void close_ok(amqp_connection_state_t c, amqp_channel_t ch) {
    amqp_channel_close_ok_t ok = {0};
    cr_assert(amqp_send_method(c, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) == AMQP_STATUS_OK);
}

/* The reply of the last synchronous call on channel ch was a channel.close
 * 404 "no previously declared queue"; reopen ch for the next step. */
static void expect_no_previous(amqp_connection_state_t c, amqp_channel_t ch) {
    h_expect_channel_close(amqp_get_rpc_reply(c), 404, "NOT_FOUND - no previously declared queue");
    close_ok(c, ch);
    h_channel_open(c, ch);
}

Test(shortcuts, empty_queue_name_without_a_declared_queue_is_404) {
    amqp_connection_state_t c = h_connect();
    amqp_bytes_t none = amqp_cstring_bytes("");
    h_channel_open(c, 2);

    amqp_basic_get(c, 2, none, 1);
    expect_no_previous(c, 2);
    amqp_basic_consume(c, 2, none, amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
    expect_no_previous(c, 2);
    amqp_queue_bind(c, 2, none, amqp_cstring_bytes("amq.direct"), none, amqp_empty_table);
    expect_no_previous(c, 2);
    amqp_queue_bind(c, 2, none, amqp_cstring_bytes("amq.direct"), amqp_cstring_bytes("k"), amqp_empty_table);
    expect_no_previous(c, 2);
    amqp_queue_unbind(c, 2, none, amqp_cstring_bytes("amq.direct"), amqp_cstring_bytes("k"), amqp_empty_table);
    expect_no_previous(c, 2);
    amqp_queue_purge(c, 2, none);
    expect_no_previous(c, 2);
    amqp_queue_delete(c, 2, none, 0, 0);
    expect_no_previous(c, 2);
    h_close(c);
}

Test(shortcuts, empty_queue_name_is_the_last_declared_queue) {
    amqp_connection_state_t c = h_connect();
    amqp_bytes_t none = amqp_cstring_bytes("");
    const char *other = h_name("sc-other");
    h_queue_declare(c, 1, other, false, false, true);
    const char *q = h_name("sc-last");
    char qname[256];
    snprintf(qname, sizeof qname, "%s", q);
    h_queue_declare(c, 1, qname, false, false, false);

    /* bind with '' and '': the queue's own name becomes the routing key */
    cr_assert(amqp_queue_bind(c, 1, none, amqp_cstring_bytes("amq.direct"), none, amqp_empty_table) != NULL);
    /* bind with '' and an explicit key */
    cr_assert(amqp_queue_bind(c, 1, none, amqp_cstring_bytes("amq.direct"), amqp_cstring_bytes("sc-key"),
                              amqp_empty_table) != NULL);
    h_publish(c, 1, "amq.direct", qname, "by-name", false, NULL);
    h_publish(c, 1, "amq.direct", "sc-key", "by-key", false, NULL);
    cr_assert_eq(h_wait_message_count(c, 1, qname, 2, 3000), 2);

    /* basic.get with '' */
    uint64_t tag;
    bool redelivered;
    amqp_basic_get(c, 1, none, 1);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL && r.reply.id == AMQP_BASIC_GET_OK_METHOD,
              "basic.get '' did not get a message");
    amqp_message_t msg;
    cr_assert(amqp_read_message(c, 1, &msg, 0).reply_type == AMQP_RESPONSE_NORMAL);
    cr_assert(msg.body.len == 7 && memcmp(msg.body.bytes, "by-name", 7) == 0);
    amqp_destroy_message(&msg);
    (void)tag;
    (void)redelivered;

    /* unbind '' with '' removes the queue-name binding: the next one is not routed */
    cr_assert(amqp_queue_unbind(c, 1, none, amqp_cstring_bytes("amq.direct"), none, amqp_empty_table) != NULL);
    h_publish(c, 1, "amq.direct", qname, "unrouted", false, NULL);
    h_publish(c, 1, "amq.direct", "sc-key", "by-key-2", false, NULL);
    cr_assert_eq(h_wait_message_count(c, 1, qname, 2, 3000), 2);

    /* queue.purge '' */
    amqp_queue_purge_ok_t *p = amqp_queue_purge(c, 1, none);
    cr_assert(p != NULL && p->message_count == 2, "purge '' did not purge the last declared queue");

    /* basic.consume '' */
    h_publish(c, 1, "amq.direct", "sc-key", "consumed", false, NULL);
    cr_assert(amqp_basic_consume(c, 1, none, amqp_empty_bytes, 0, 1, 0, amqp_empty_table) != NULL);
    char *b = h_next_delivery(c, 3000, &tag, &redelivered);
    cr_assert(b && strcmp(b, "consumed") == 0, "consume '' got %s", b ? b : "nothing");
    free(b);

    /* queue.delete '' deletes the last declared queue, not one named '' */
    h_channel_open(c, 3);
    h_queue_declare(c, 3, qname, false, false, false); /* passive-less redeclare on channel 3 */
    amqp_queue_delete_ok_t *d = amqp_queue_delete(c, 3, none, 0, 0);
    cr_assert(d != NULL, "delete '' failed");
    h_channel_open(c, 4);
    amqp_queue_declare(c, 4, amqp_cstring_bytes(qname), 1, 0, 0, 0, amqp_empty_table);
    h_expect_channel_close(amqp_get_rpc_reply(c), 404, "NOT_FOUND - no queue");
    close_ok(c, 4);
    amqp_queue_delete(c, 3, amqp_cstring_bytes(other), 0, 0);
    h_close(c);
}

Test(shortcuts, server_named_queue_is_the_last_declared) {
    amqp_connection_state_t c = h_connect();
    const char *gen = h_queue_declare(c, 1, "", false, true, false);
    char name[256];
    snprintf(name, sizeof name, "%s", gen);
    h_publish(c, 1, "", name, "x", false, NULL);
    cr_assert_eq(h_wait_message_count(c, 1, name, 1, 3000), 1);
    amqp_queue_purge_ok_t *p = amqp_queue_purge(c, 1, amqp_cstring_bytes(""));
    cr_assert(p != NULL && p->message_count == 1);
    h_close(c);
}

/* A 404 whose text names a 250-byte queue: RabbitMQ sends the first 252
 * bytes and "..." (255 in all), and the code survives. */
Test(shortcuts, long_reply_text_is_cut_to_255_bytes) {
    amqp_connection_state_t c = h_connect();
    char name[251];
    memset(name, 'q', 250);
    name[250] = 0;
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 1, 0, 0, 0, amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    cr_assert(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, "no server exception (reply type %d)", r.reply_type);
    cr_assert_eq(r.reply.id, AMQP_CHANNEL_CLOSE_METHOD);
    amqp_channel_close_t *cl = r.reply.decoded;
    cr_assert_eq(cl->reply_code, 404);
    char want[300];
    snprintf(want, sizeof want, "NOT_FOUND - no queue '%s' in vhost '/'", name);
    cr_assert_eq(cl->reply_text.len, 255);
    cr_assert(memcmp(cl->reply_text.bytes, want, 252) == 0);
    cr_assert(memcmp((char *)cl->reply_text.bytes + 252, "...", 3) == 0);
    close_ok(c, 1);
    /* the connection is still usable */
    h_channel_open(c, 2);
    h_queue_declare(c, 2, h_name("sc-after"), false, true, false);
    h_close(c);
}

/* A connection-level close with a long text (a vhost name of 255 bytes that
 * does not exist): 530 with the text cut the same way. */
Test(shortcuts, long_connection_close_text_is_cut_to_255_bytes) {
    char vhost[256];
    memset(vhost, 'v', 255);
    vhost[255] = 0;
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = h_connect_opts(vhost, "guest", "guest", 0, 131072, 0, &r);
    cr_assert(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, "no server exception (reply type %d)", r.reply_type);
    cr_assert_eq(r.reply.id, AMQP_CONNECTION_CLOSE_METHOD);
    amqp_connection_close_t *cl = r.reply.decoded;
    cr_assert_eq(cl->reply_code, 530);
    cr_assert(cl->reply_text.len <= 255);
    if (cl->reply_text.len == 255) cr_assert(memcmp((char *)cl->reply_text.bytes + 252, "...", 3) == 0);
    amqp_destroy_connection(c);
}
