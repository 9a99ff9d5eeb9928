/* Tutorial 4 (routing): publish a log line to the direct exchange "direct_logs"
 * with its severity as routing key.  Usage: emit_log_direct [severity] [message...] */
#include "tut.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    const char *severity = argc > 1 ? argv[1] : "info";
    char message[4096];
    amqp_connection_state_t conn = tut_connect();

    tut_join(argc, argv, 2, "Hello World!", message, sizeof message);
    amqp_exchange_declare(conn, 1, amqp_cstring_bytes("direct_logs"), amqp_cstring_bytes("direct"),
                          0, 0, 0, 0, amqp_empty_table);
    tut_check(conn, "declaring exchange");

    tut_check_status(amqp_basic_publish(conn, 1, amqp_cstring_bytes("direct_logs"),
                                        amqp_cstring_bytes(severity), 0, 0, NULL,
                                        amqp_cstring_bytes(message)),
                     "publishing");
    printf(" [x] Sent %s:%s\n", severity, message);

    tut_close(conn);
    return 0;
}
