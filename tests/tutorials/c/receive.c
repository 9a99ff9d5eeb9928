/* Tutorial 1 (hello world): consume from the queue "hello" and print each message.
 * Unattended use: exits after TUT_EXPECT messages (if set) or TUT_TIMEOUT seconds
 * (default 30); exit status 1 if fewer than TUT_EXPECT arrived. */
#include "tut.h"

#include <stdio.h>

static int callback(amqp_connection_state_t conn, amqp_envelope_t *envelope, void *arg)
{
    (void)conn;
    (void)arg;
    printf(" [x] Received '%.*s'\n", (int)envelope->message.body.len,
           (char *)envelope->message.body.bytes);
    return 1;
}

int main(void)
{
    amqp_connection_state_t conn = tut_connect();
    int expect = tut_env_int("TUT_EXPECT", 0);
    int received;

    amqp_queue_declare(conn, 1, amqp_cstring_bytes("hello"), 0, 0, 0, 0, amqp_empty_table);
    tut_check(conn, "declaring queue");

    amqp_basic_consume(conn, 1, amqp_cstring_bytes("hello"), amqp_empty_bytes, 0, 1, 0,
                       amqp_empty_table);
    tut_check(conn, "consuming");

    printf(" [*] Waiting for messages. To exit press CTRL+C\n");
    received = tut_consume(conn, expect, tut_env_int("TUT_TIMEOUT", 30), callback, NULL);

    tut_close(conn);
    return received >= expect ? 0 : 1;
}
