/* Shared plumbing for the C tutorials; see tut.h. */
#include "tut.h"

#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void tut_die_reply(amqp_rpc_reply_t reply, const char *context)
{
    switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return;
    case AMQP_RESPONSE_NONE:
        fprintf(stderr, "%s: missing RPC reply\n", context);
        break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        fprintf(stderr, "%s: %s\n", context, amqp_error_string2(reply.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = reply.reply.decoded;
            fprintf(stderr, "%s: connection closed by broker: %u %.*s\n", context,
                    m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        } else if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = reply.reply.decoded;
            fprintf(stderr, "%s: channel closed by broker: %u %.*s\n", context,
                    m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        } else {
            fprintf(stderr, "%s: unexpected server method 0x%08X\n", context, reply.reply.id);
        }
        break;
    }
    exit(1);
}

void tut_check(amqp_connection_state_t conn, const char *context)
{
    tut_die_reply(amqp_get_rpc_reply(conn), context);
}

void tut_check_status(int status, const char *context)
{
    if (status < 0) {
        fprintf(stderr, "%s: %s\n", context, amqp_error_string2(status));
        exit(1);
    }
}

int tut_env_int(const char *name, int fallback)
{
    const char *text = getenv(name);
    char *end;
    long value;

    if (!text || !*text)
        return fallback;
    value = strtol(text, &end, 10);
    return (*end || value < 0 || value > 1000000000) ? fallback : (int)value;
}

amqp_connection_state_t tut_connect(void)
{
    const char *host = getenv("AMQP_HOST");
    int port = tut_env_int("AMQP_PORT", 5672);
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!socket) {
        fprintf(stderr, "creating TCP socket failed\n");
        exit(1);
    }
    tut_check_status(amqp_socket_open(socket, host && *host ? host : "localhost", port),
                     "opening TCP socket");
    tut_die_reply(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
                  "logging in");
    amqp_channel_open(conn, 1);
    tut_check(conn, "opening channel");
    return conn;
}

void tut_close(amqp_connection_state_t conn)
{
    tut_die_reply(amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS), "closing channel");
    tut_die_reply(amqp_connection_close(conn, AMQP_REPLY_SUCCESS), "closing connection");
    tut_check_status(amqp_destroy_connection(conn), "ending connection");
}

double tut_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A non-delivery frame arrived while consuming: fail on a close, skip the rest. */
static void tut_consume_other_frame(amqp_connection_state_t conn)
{
    amqp_frame_t frame;

    tut_check_status(amqp_simple_wait_frame(conn, &frame), "reading frame");
    if (frame.frame_type != AMQP_FRAME_METHOD)
        return;
    if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
        frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_rpc_reply_t reply = {.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION,
                                  .reply = frame.payload.method};
        tut_die_reply(reply, "consuming");
    }
}

int tut_consume(amqp_connection_state_t conn, int expect, int timeout_s,
                tut_on_message on_message, void *arg)
{
    double deadline = tut_now() + timeout_s;
    int counted = 0;

    while (expect <= 0 || counted < expect) {
        double left = deadline - tut_now();
        struct timeval tv;
        amqp_envelope_t envelope;
        amqp_rpc_reply_t reply;

        if (left <= 0)
            break;
        tv.tv_sec = (long)left;
        tv.tv_usec = (long)((left - (double)tv.tv_sec) * 1e6);
        amqp_maybe_release_buffers(conn);
        reply = amqp_consume_message(conn, &envelope, &tv, 0);
        if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
            counted += on_message(conn, &envelope, arg) ? 1 : 0;
            amqp_destroy_envelope(&envelope);
        } else if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                   reply.library_error == AMQP_STATUS_TIMEOUT) {
            break;
        } else if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                   reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            tut_consume_other_frame(conn);
        } else {
            tut_die_reply(reply, "consuming");
        }
    }
    return counted;
}

char *tut_commas(long value, char *buf)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%ld", value < 0 ? -value : value);
    int out = 0;

    if (value < 0)
        buf[out++] = '-';
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

char *tut_join(int argc, char **argv, int first, const char *fallback, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int i = first; i < argc; i++) {
        size_t len = strlen(argv[i]);

        if (used + len + 2 > size) {
            fprintf(stderr, "message too long\n");
            exit(1);
        }
        if (i > first)
            buf[used++] = ' ';
        memcpy(buf + used, argv[i], len + 1);
        used += len;
    }
    if (used == 0) {
        if (strlen(fallback) + 1 > size)
            exit(1);
        strcpy(buf, fallback);
    }
    return buf;
}
