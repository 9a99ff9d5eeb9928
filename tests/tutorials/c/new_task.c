/* Tutorial 2 (work queues): publish a persistent task to the durable queue
 * "task_queue". The task is the arguments joined by spaces ("Hello World!" by
 * default); each '.' in it is one second of work for a worker. */
#include "tut.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    char message[4096];
    amqp_basic_properties_t props;
    amqp_connection_state_t conn = tut_connect();

    tut_join(argc, argv, 1, "Hello World!", message, sizeof message);
    amqp_queue_declare(conn, 1, amqp_cstring_bytes("task_queue"), 0, 1, 0, 0, amqp_empty_table);
    tut_check(conn, "declaring queue");

    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    tut_check_status(amqp_basic_publish(conn, 1, amqp_empty_bytes,
                                        amqp_cstring_bytes("task_queue"), 0, 0, &props,
                                        amqp_cstring_bytes(message)),
                     "publishing");
    printf(" [x] Sent %s\n", message);

    tut_close(conn);
    return 0;
}
