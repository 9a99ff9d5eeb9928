/* Tutorial 7 (publisher confirms): publish TUT_MESSAGE_COUNT messages (default
 * 50000) three ways on a confirm-mode channel and time them:
 *   1. individually: wait for each message's confirm before the next publish;
 *   2. in batches: publish BATCH_SIZE messages, then wait for all their confirms;
 *   3. asynchronously: keep publishing, handling the acks/nacks (single or
 *      "multiple") as they arrive, then wait for the rest.
 * Each strategy checks that every message was acked and that its queue holds all
 * of them, then deletes the queue. Exit status 1 if any check fails. Waiting for
 * confirms gives up after TUT_TIMEOUT seconds (default 60). */
#include "tut.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BATCH_SIZE 100

static int message_count;

/* Confirm bookkeeping for one strategy; sequence numbers start at 1. */
struct confirms {
    unsigned char *confirmed; /* [message_count + 1], 1 once acked or nacked */
    uint64_t published;
    uint64_t lowest;          /* every sequence number below it is confirmed */
    uint64_t outstanding;
    uint64_t acked;
    uint64_t nacked;
    double deadline;
};

static void confirm_one(struct confirms *c, uint64_t seq, int ack)
{
    if (seq == 0 || seq > c->published || c->confirmed[seq])
        return;
    c->confirmed[seq] = 1;
    c->outstanding--;
    if (ack)
        c->acked++;
    else
        c->nacked++;
}

static void on_confirm(struct confirms *c, uint64_t tag, int multiple, int ack)
{
    if (!multiple) {
        confirm_one(c, tag, ack);
        return;
    }
    for (uint64_t seq = c->lowest; seq <= tag && seq <= c->published; seq++)
        confirm_one(c, seq, ack);
    while (c->lowest <= c->published && c->confirmed[c->lowest])
        c->lowest++;
}

/* Waits at most `seconds` for one frame and handles it. Returns 0 if none came. */
static int handle_frame(amqp_connection_state_t conn, struct confirms *c, double seconds)
{
    struct timeval tv = {.tv_sec = (long)seconds,
                         .tv_usec = (long)((seconds - (double)(long)seconds) * 1e6)};
    amqp_frame_t frame;
    int status = amqp_simple_wait_frame_noblock(conn, &frame, &tv);

    if (status == AMQP_STATUS_TIMEOUT)
        return 0;
    tut_check_status(status, "waiting for confirms");
    if (frame.frame_type == AMQP_FRAME_METHOD) {
        amqp_method_t *m = &frame.payload.method;

        if (m->id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *ack = m->decoded;
            on_confirm(c, ack->delivery_tag, ack->multiple, 1);
        } else if (m->id == AMQP_BASIC_NACK_METHOD) {
            amqp_basic_nack_t *nack = m->decoded;
            on_confirm(c, nack->delivery_tag, nack->multiple, 0);
        } else if (m->id == AMQP_CHANNEL_CLOSE_METHOD || m->id == AMQP_CONNECTION_CLOSE_METHOD) {
            fprintf(stderr, "broker closed the channel or connection\n");
            exit(1);
        }
    }
    amqp_maybe_release_buffers(conn);
    return 1;
}

/* Blocks until no confirm is outstanding; exits on timeout. */
static void wait_for_confirms(amqp_connection_state_t conn, struct confirms *c)
{
    while (c->outstanding > 0) {
        double left = c->deadline - tut_now();

        if (left <= 0 || !handle_frame(conn, c, left)) {
            fprintf(stderr, "timed out: %llu published, %llu acked, %llu nacked\n",
                    (unsigned long long)c->published, (unsigned long long)c->acked,
                    (unsigned long long)c->nacked);
            exit(1);
        }
    }
}

/* Connects, declares a server-named queue into *queue and enables confirms. */
static amqp_connection_state_t setup(amqp_bytes_t *queue, struct confirms *c)
{
    amqp_connection_state_t conn = tut_connect();
    amqp_queue_declare_ok_t *result;

    result = amqp_queue_declare(conn, 1, amqp_empty_bytes, 0, 0, 0, 1, amqp_empty_table);
    tut_check(conn, "declaring queue");
    *queue = amqp_bytes_malloc_dup(result->queue);
    amqp_confirm_select(conn, 1);
    tut_check(conn, "enabling confirms");

    c->confirmed = calloc((size_t)message_count + 1, 1);
    if (!c->confirmed)
        exit(1);
    c->published = c->outstanding = c->acked = c->nacked = 0;
    c->lowest = 1;
    c->deadline = tut_now() + tut_env_int("TUT_TIMEOUT", 60);
    return conn;
}

static void publish(amqp_connection_state_t conn, amqp_bytes_t queue, struct confirms *c)
{
    char body[24];

    snprintf(body, sizeof body, "%llu", (unsigned long long)c->published);
    tut_check_status(amqp_basic_publish(conn, 1, amqp_empty_bytes, queue, 0, 0, NULL,
                                        amqp_cstring_bytes(body)),
                     "publishing");
    c->published++;
    c->outstanding++;
}

/* Prints the timing line, checks confirms and queue depth, cleans up. Returns 1 if OK. */
static int finish(amqp_connection_state_t conn, amqp_bytes_t queue, struct confirms *c,
                  const char *how, double start)
{
    char count[32], ms[32];
    amqp_queue_declare_ok_t *result;
    long queued;
    int ok;

    printf("Published %s messages %s in %s ms\n", tut_commas(message_count, count), how,
           tut_commas((long)((tut_now() - start) * 1000), ms));
    result = amqp_queue_declare(conn, 1, queue, 1, 0, 0, 0, amqp_empty_table);
    tut_check(conn, "counting messages");
    queued = (long)result->message_count;
    amqp_queue_delete(conn, 1, queue, 0, 0);
    tut_check(conn, "deleting queue");
    ok = c->acked == (uint64_t)message_count && c->nacked == 0 && queued == message_count;
    if (!ok)
        printf(" [!] %s: %llu acked, %llu nacked, %ld queued, expected %d acked and queued\n", how,
               (unsigned long long)c->acked, (unsigned long long)c->nacked, queued,
               message_count);
    free(c->confirmed);
    amqp_bytes_free(queue);
    tut_close(conn);
    return ok;
}

static int publish_messages_individually(void)
{
    struct confirms c;
    amqp_bytes_t queue;
    amqp_connection_state_t conn = setup(&queue, &c);
    double start = tut_now();

    for (int i = 0; i < message_count; i++) {
        publish(conn, queue, &c);
        wait_for_confirms(conn, &c);
    }
    return finish(conn, queue, &c, "individually", start);
}

static int publish_messages_in_batch(void)
{
    struct confirms c;
    amqp_bytes_t queue;
    amqp_connection_state_t conn = setup(&queue, &c);
    double start = tut_now();

    for (int i = 0; i < message_count; i++) {
        publish(conn, queue, &c);
        if (c.outstanding == BATCH_SIZE)
            wait_for_confirms(conn, &c);
    }
    wait_for_confirms(conn, &c);
    return finish(conn, queue, &c, "in batch", start);
}

static int handle_publish_confirms_asynchronously(void)
{
    struct confirms c;
    amqp_bytes_t queue;
    amqp_connection_state_t conn = setup(&queue, &c);
    double start = tut_now();

    for (int i = 0; i < message_count; i++) {
        publish(conn, queue, &c);
        while (handle_frame(conn, &c, 0))
            ;
    }
    wait_for_confirms(conn, &c);
    return finish(conn, queue, &c, "and handled confirms asynchronously", start);
}

int main(void)
{
    int ok;

    message_count = tut_env_int("TUT_MESSAGE_COUNT", 50000);
    ok = publish_messages_individually();
    ok = publish_messages_in_batch() && ok;
    ok = handle_publish_confirms_asynchronously() && ok;
    return ok ? 0 : 1;
}
