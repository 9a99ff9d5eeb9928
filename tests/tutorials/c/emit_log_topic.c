/* Tutorial 5 (topics): publish a log line to the topic exchange "topic_logs"
 * under a "<facility>.<severity>" routing key.
 * Usage: emit_log_topic [routing_key message...] (default anonymous.info) */
#include "tut.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    const char *routing_key = argc > 2 ? argv[1] : "anonymous.info";
    char message[4096];
    amqp_connection_state_t conn = tut_connect();

    tut_join(argc, argv, argc > 2 ? 2 : argc, "Hello World!", message, sizeof message);
    amqp_exchange_declare(conn, 1, amqp_cstring_bytes("topic_logs"), amqp_cstring_bytes("topic"),
                          0, 0, 0, 0, amqp_empty_table);
    tut_check(conn, "declaring exchange");

    tut_check_status(amqp_basic_publish(conn, 1, amqp_cstring_bytes("topic_logs"),
                                        amqp_cstring_bytes(routing_key), 0, 0, NULL,
                                        amqp_cstring_bytes(message)),
                     "publishing");
    printf(" [x] Sent %s:%s\n", routing_key, message);

    tut_close(conn);
    return 0;
}
