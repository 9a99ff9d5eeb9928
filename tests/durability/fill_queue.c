/* fill_queue: publish N persistent messages of SIZE bytes to a durable queue
 * and leave them there (for recovery and memory benchmarks; amqpload deletes
 * its queue at the end). Uses publisher confirms with a window, so when it
 * returns every message is on disk.
 *   fill_queue PORT QUEUE COUNT SIZE */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(amqp_rpc_reply_t r, const char *what) {
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "fill_queue: %s failed\n", what);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: fill_queue PORT QUEUE COUNT SIZE\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long count = atol(argv[3]);
    size_t size = (size_t)atol(argv[4]);
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    if (amqp_socket_open(s, "127.0.0.1", port)) return 1;
    check(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(c, 1);
    check(amqp_get_rpc_reply(c), "channel.open");
    amqp_queue_declare(c, 1, amqp_cstring_bytes(argv[2]), 0, 1, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(c), "queue.declare");
    amqp_confirm_select(c, 1);
    check(amqp_get_rpc_reply(c), "confirm.select");
    char *body = malloc(size + 1);
    memset(body, 'x', size);
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 2};
    long acked = 0;
    for (long i = 0; i < count; i++) {
        char num[24];
        int n = snprintf(num, sizeof num, "%015ld", i);
        memcpy(body, num, (size_t)n < size ? (size_t)n : size); /* a sequence number at the front */
        amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(argv[2]), 0, 0, &p,
                           (amqp_bytes_t){size, body});
        while (i + 1 - acked > 2000 || (i + 1 == count && acked < count)) {
            amqp_frame_t f;
            if (amqp_simple_wait_frame(c, &f) != AMQP_STATUS_OK) return 1;
            if (f.frame_type != AMQP_FRAME_METHOD) continue;
            if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
                amqp_basic_ack_t *a = f.payload.method.decoded;
                acked = a->multiple ? (long)a->delivery_tag : acked + 1;
            } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
                fprintf(stderr, "fill_queue: nacked\n");
                return 1;
            }
        }
    }
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    free(body);
    printf("%ld messages confirmed\n", acked);
    return 0;
}
