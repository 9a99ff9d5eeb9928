/* Tutorial 3 (publish/subscribe): broadcast a log line (the arguments, or
 * "info: Hello World!") on the fanout exchange "logs". */
#include "tut.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    char message[4096];
    amqp_connection_state_t conn = tut_connect();

    tut_join(argc, argv, 1, "info: Hello World!", message, sizeof message);
    amqp_exchange_declare(conn, 1, amqp_cstring_bytes("logs"), amqp_cstring_bytes("fanout"), 0, 0,
                          0, 0, amqp_empty_table);
    tut_check(conn, "declaring exchange");

    tut_check_status(amqp_basic_publish(conn, 1, amqp_cstring_bytes("logs"), amqp_empty_bytes, 0,
                                        0, NULL, amqp_cstring_bytes(message)),
                     "publishing");
    printf(" [x] Sent %s\n", message);

    tut_close(conn);
    return 0;
}
