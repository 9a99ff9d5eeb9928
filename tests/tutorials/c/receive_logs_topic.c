/* Tutorial 5 (topics): receive the log lines matching the binding keys given as
 * arguments (e.g. "kern.*" "*.critical" "#") from the topic exchange "topic_logs".
 * Unattended use: exits after TUT_EXPECT messages (if set) or TUT_TIMEOUT seconds
 * (default 30); exit status 1 if fewer than TUT_EXPECT arrived. */
#include "tut.h"

#include <stdio.h>

static int callback(amqp_connection_state_t conn, amqp_envelope_t *envelope, void *arg)
{
    (void)conn;
    (void)arg;
    printf(" [x] %.*s:'%.*s'\n", (int)envelope->routing_key.len,
           (char *)envelope->routing_key.bytes, (int)envelope->message.body.len,
           (char *)envelope->message.body.bytes);
    return 1;
}

int main(int argc, char **argv)
{
    amqp_connection_state_t conn;
    int expect = tut_env_int("TUT_EXPECT", 0);
    amqp_queue_declare_ok_t *result;
    amqp_bytes_t queue_name;
    int received;

    if (argc < 2) {
        fprintf(stderr, "Usage: %s [binding_key]...\n", argv[0]);
        return 1;
    }
    conn = tut_connect();
    amqp_exchange_declare(conn, 1, amqp_cstring_bytes("topic_logs"), amqp_cstring_bytes("topic"),
                          0, 0, 0, 0, amqp_empty_table);
    tut_check(conn, "declaring exchange");

    result = amqp_queue_declare(conn, 1, amqp_empty_bytes, 0, 0, 1, 0, amqp_empty_table);
    tut_check(conn, "declaring queue");
    queue_name = amqp_bytes_malloc_dup(result->queue);

    for (int i = 1; i < argc; i++) {
        amqp_queue_bind(conn, 1, queue_name, amqp_cstring_bytes("topic_logs"),
                        amqp_cstring_bytes(argv[i]), amqp_empty_table);
        tut_check(conn, "binding queue");
    }

    amqp_basic_consume(conn, 1, queue_name, amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
    tut_check(conn, "consuming");

    printf(" [*] Waiting for logs. To exit press CTRL+C\n");
    received = tut_consume(conn, expect, tut_env_int("TUT_TIMEOUT", 30), callback, NULL);

    amqp_bytes_free(queue_name);
    tut_close(conn);
    return received >= expect ? 0 : 1;
}
