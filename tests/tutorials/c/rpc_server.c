/* Tutorial 6 (RPC): serve fibonacci requests from "rpc_queue" (prefetch 1, manual
 * acks), replying to each request's reply_to with its correlation_id.
 * Unattended use: exits after TUT_EXPECT requests (if set) or TUT_TIMEOUT seconds
 * (default 30); exit status 1 if fewer than TUT_EXPECT arrived. */
#include "tut.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long fib(int n)
{
    if (n == 0)
        return 0;
    if (n == 1)
        return 1;
    return fib(n - 1) + fib(n - 2);
}

/* The request body as a number in [0, 90], or -1. */
static int parse_request(amqp_bytes_t body)
{
    char text[16];
    char *end;
    long n;

    if (body.len == 0 || body.len >= sizeof text)
        return -1;
    memcpy(text, body.bytes, body.len);
    text[body.len] = '\0';
    n = strtol(text, &end, 10);
    return (*end || n < 0 || n > 90) ? -1 : (int)n;
}

static int on_request(amqp_connection_state_t conn, amqp_envelope_t *envelope, void *arg)
{
    amqp_basic_properties_t *request = &envelope->message.properties;
    amqp_basic_properties_t props;
    char response[32];
    int n = parse_request(envelope->message.body);

    (void)arg;
    printf(" [.] fib(%d)\n", n);
    snprintf(response, sizeof response, "%lu", n < 0 ? 0UL : fib(n));

    props._flags = 0;
    if (request->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) {
        props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        props.correlation_id = request->correlation_id;
    }
    if (request->_flags & AMQP_BASIC_REPLY_TO_FLAG)
        tut_check_status(amqp_basic_publish(conn, 1, amqp_empty_bytes, request->reply_to, 0, 0,
                                            &props, amqp_cstring_bytes(response)),
                         "publishing reply");
    tut_check_status(amqp_basic_ack(conn, 1, envelope->delivery_tag, 0), "acking");
    return 1;
}

int main(void)
{
    amqp_connection_state_t conn = tut_connect();
    int expect = tut_env_int("TUT_EXPECT", 0);
    int served;

    amqp_queue_declare(conn, 1, amqp_cstring_bytes("rpc_queue"), 0, 0, 0, 0, amqp_empty_table);
    tut_check(conn, "declaring queue");

    amqp_basic_qos(conn, 1, 0, 1, 0);
    tut_check(conn, "setting prefetch");
    amqp_basic_consume(conn, 1, amqp_cstring_bytes("rpc_queue"), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    tut_check(conn, "consuming");

    printf(" [x] Awaiting RPC requests\n");
    served = tut_consume(conn, expect, tut_env_int("TUT_TIMEOUT", 30), on_request, NULL);

    tut_close(conn);
    return served >= expect ? 0 : 1;
}
