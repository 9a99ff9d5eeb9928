/* Tutorial 1 (hello world): publish one message to the queue "hello". */
#include "tut.h"

#include <stdio.h>

int main(void)
{
    amqp_connection_state_t conn = tut_connect();

    amqp_queue_declare(conn, 1, amqp_cstring_bytes("hello"), 0, 0, 0, 0, amqp_empty_table);
    tut_check(conn, "declaring queue");

    tut_check_status(amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes("hello"),
                                        0, 0, NULL, amqp_cstring_bytes("Hello World!")),
                     "publishing");
    printf(" [x] Sent 'Hello World!'\n");

    tut_close(conn);
    return 0;
}
