/* Tutorial 6, direct reply-to variant: call the fibonacci server through
 * "rpc_queue", receiving the replies on the pseudo-queue "amq.rabbitmq.reply-to"
 * (consumed with no_ack before publishing), matched by correlation_id.
 * Arguments: the numbers to request (default 30). Each call gives up after
 * TUT_TIMEOUT seconds (default 30). */
#include "tut.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REPLY_TO "amq.rabbitmq.reply-to"

struct rpc_call {
    char corr_id[40];
    char response[32];
    int answered;
};

static int on_response(amqp_connection_state_t conn, amqp_envelope_t *envelope, void *arg)
{
    struct rpc_call *call = arg;
    amqp_basic_properties_t *props = &envelope->message.properties;
    amqp_bytes_t body = envelope->message.body;

    (void)conn;
    if (!(props->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) ||
        props->correlation_id.len != strlen(call->corr_id) ||
        memcmp(props->correlation_id.bytes, call->corr_id, props->correlation_id.len) != 0)
        return 0;
    if (body.len >= sizeof call->response)
        return 0;
    memcpy(call->response, body.bytes, body.len);
    call->response[body.len] = '\0';
    call->answered = 1;
    return 1;
}

/* Sends fib(n) to "rpc_queue" with reply_to = amq.rabbitmq.reply-to and waits
 * for the matching reply. Returns the result; exits on timeout. */
static long call(amqp_connection_state_t conn, int n)
{
    struct rpc_call rpc = {.answered = 0};
    amqp_basic_properties_t props;
    char body[16];

    snprintf(rpc.corr_id, sizeof rpc.corr_id, "%08lx-%d-%d", (unsigned long)random(), (int)getpid(),
             n);
    snprintf(body, sizeof body, "%d", n);
    props._flags = AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG;
    props.reply_to = amqp_cstring_bytes(REPLY_TO);
    props.correlation_id = amqp_cstring_bytes(rpc.corr_id);
    tut_check_status(amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes("rpc_queue"),
                                        0, 0, &props, amqp_cstring_bytes(body)),
                     "publishing request");

    if (tut_consume(conn, 1, tut_env_int("TUT_TIMEOUT", 30), on_response, &rpc) != 1) {
        fprintf(stderr, "no reply to fib(%d)\n", n);
        exit(1);
    }
    return atol(rpc.response);
}

int main(int argc, char **argv)
{
    amqp_connection_state_t conn = tut_connect();

    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(REPLY_TO), amqp_empty_bytes, 0, 1, 0,
                       amqp_empty_table);
    tut_check(conn, "consuming " REPLY_TO);

    for (int i = 1; i < argc || i == 1; i++) {
        int n = i < argc ? atoi(argv[i]) : 30;

        printf(" [x] Requesting fib(%d)\n", n);
        printf(" [.] Got %ld\n", call(conn, n));
    }

    tut_close(conn);
    return 0;
}
