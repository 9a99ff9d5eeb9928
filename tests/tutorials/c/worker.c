/* Tutorial 2 (work queues): take tasks from "task_queue" one at a time
 * (prefetch_count=1, manual acks), sleeping one second per '.' in the task.
 * Unattended use: exits after TUT_EXPECT tasks (if set) or TUT_TIMEOUT seconds
 * (default 30); the runner normally stops it with a signal. */
#include "tut.h"

#include <stdio.h>
#include <unistd.h>

static int callback(amqp_connection_state_t conn, amqp_envelope_t *envelope, void *arg)
{
    amqp_bytes_t body = envelope->message.body;

    (void)arg;
    printf(" [x] Received %.*s\n", (int)body.len, (char *)body.bytes);
    for (size_t i = 0; i < body.len; i++) {
        if (((char *)body.bytes)[i] == '.')
            sleep(1);
    }
    printf(" [x] Done\n");
    tut_check_status(amqp_basic_ack(conn, 1, envelope->delivery_tag, 0), "acking");
    return 1;
}

int main(void)
{
    amqp_connection_state_t conn = tut_connect();
    int expect = tut_env_int("TUT_EXPECT", 0);
    int done;

    amqp_queue_declare(conn, 1, amqp_cstring_bytes("task_queue"), 0, 1, 0, 0, amqp_empty_table);
    tut_check(conn, "declaring queue");

    amqp_basic_qos(conn, 1, 0, 1, 0);
    tut_check(conn, "setting prefetch");
    amqp_basic_consume(conn, 1, amqp_cstring_bytes("task_queue"), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    tut_check(conn, "consuming");

    printf(" [*] Waiting for messages. To exit press CTRL+C\n");
    done = tut_consume(conn, expect, tut_env_int("TUT_TIMEOUT", 30), callback, NULL);

    tut_close(conn);
    return done >= expect ? 0 : 1;
}
