/* test_consumer_timeout.c — consumer_timeout (RabbitMQ 3.10's rabbitmq.conf
 * key): a delivery not acked within it closes its channel with 406 and
 * RabbitMQ's text, and the channel's unacked messages return to the queue.
 * Warren runs with consumer_timeout = 1500 (WARREN_TEST_CONFIG below) and
 * checks within a second of the deadline. RabbitMQ 3.10 gives the same close
 * and text but checks only once a minute (measured with consumer_timeout =
 * 3000: the channel closed 60 s after the delivery), so these timings hold
 * for Warren only: against another broker the tests are not run. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TIMEOUT_MS 1500

__attribute__((constructor)) static void config_file(void) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/warren-ctimeout-%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "# written by interop_test_consumer_timeout\nconsumer_timeout = %d\n", TIMEOUT_MS);
    fclose(f);
    setenv("WARREN_TEST_CONFIG", path, 1);
}

static long long mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void need_warren(void) {
    if (!h_is_warren()) cr_skip_test("the 1.5 s consumer_timeout is Warren's test configuration");
}

static const char *fill(amqp_connection_state_t c, const char *prefix, int n) {
    const char *q = h_name(prefix);
    static char name[256];
    snprintf(name, sizeof name, "%s", q);
    h_queue_declare(c, 1, name, false, false, false);
    for (int i = 0; i < n; i++) h_publish(c, 1, "", name, "m", false, NULL);
    cr_assert_eq(h_wait_message_count(c, 1, name, (uint32_t)n, 3000), (uint32_t)n);
    return name;
}

/* Wait for the channel.close on channel ch (deliveries before it are
 * skipped); returns ms waited. */
static long long expect_timeout_close(amqp_connection_state_t c, amqp_channel_t ch, int within_ms) {
    long long t0 = mono_ms();
    for (;;) {
        amqp_frame_t f;
        int left = within_ms - (int)(mono_ms() - t0);
        cr_assert(left > 0, "no channel.close within %d ms", within_ms);
        int rc = h_wait_frame(c, &f, left);
        cr_assert(rc == AMQP_STATUS_OK, "no channel.close within %d ms (%s)", within_ms, amqp_error_string2(rc));
        if (f.frame_type != AMQP_FRAME_METHOD || f.payload.method.id != AMQP_CHANNEL_CLOSE_METHOD) continue;
        cr_assert_eq(f.channel, ch);
        amqp_channel_close_t *cl = f.payload.method.decoded;
        cr_assert_eq(cl->reply_code, 406);
        char want[300];
        snprintf(want, sizeof want,
                 "PRECONDITION_FAILED - delivery acknowledgement on channel %u timed out. Timeout value used: %d ms. "
                 "This timeout value can be configured, see consumers doc guide to learn more",
                 ch, TIMEOUT_MS);
        cr_assert(cl->reply_text.len == strlen(want) && memcmp(cl->reply_text.bytes, want, strlen(want)) == 0,
                  "reply text '%.*s'", (int)cl->reply_text.len, (char *)cl->reply_text.bytes);
        amqp_channel_close_ok_t ok = {0};
        cr_assert(amqp_send_method(c, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) == AMQP_STATUS_OK);
        return mono_ms() - t0;
    }
}

Test(consumer_timeout, unacked_consumer_delivery_closes_the_channel_and_requeues) {
    need_warren();
    amqp_connection_state_t c = h_connect();
    const char *q = fill(c, "ct-consume", 3);
    h_channel_open(c, 2);
    amqp_basic_qos(c, 2, 0, 2, 0);
    cr_assert(amqp_basic_consume(c, 2, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 0, 0, amqp_empty_table));
    long long waited = expect_timeout_close(c, 2, 6000);
    cr_assert(waited >= TIMEOUT_MS - 200, "closed after %lld ms, before the timeout", waited);
    /* both unacked deliveries are back: 3 ready, none lost */
    cr_assert_eq(h_wait_message_count(c, 1, q, 3, 3000), 3);
    h_close(c);
}

Test(consumer_timeout, unacked_basic_get_closes_the_channel) {
    need_warren();
    amqp_connection_state_t c = h_connect();
    const char *q = fill(c, "ct-get", 1);
    h_channel_open(c, 3);
    uint64_t tag;
    bool redelivered;
    char *b = h_get(c, 3, q, false, &tag, &redelivered);
    cr_assert(b != NULL);
    free(b);
    expect_timeout_close(c, 3, 6000);
    cr_assert_eq(h_wait_message_count(c, 1, q, 1, 3000), 1);
    h_close(c);
}

Test(consumer_timeout, acks_in_time_keep_the_channel) {
    need_warren();
    amqp_connection_state_t c = h_connect();
    const char *q = fill(c, "ct-ok", 8);
    h_channel_open(c, 2);
    amqp_basic_qos(c, 2, 0, 1, 0);
    cr_assert(amqp_basic_consume(c, 2, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 0, 0, amqp_empty_table));
    /* 8 deliveries, each held 600 ms then acked: 4.8 s in all, each well inside 1.5 s */
    for (int i = 0; i < 8; i++) {
        uint64_t tag;
        bool redelivered;
        char *b = h_next_delivery(c, 3000, &tag, &redelivered);
        cr_assert(b != NULL, "delivery %d missing (channel closed?)", i);
        free(b);
        usleep(600 * 1000);
        cr_assert_eq(amqp_basic_ack(c, 2, tag, 0), 0);
    }
    cr_assert_eq(h_wait_message_count(c, 1, q, 0, 3000), 0);
    h_close(c);
}

Test(consumer_timeout, no_ack_consumer_never_times_out) {
    need_warren();
    amqp_connection_state_t c = h_connect();
    const char *q = fill(c, "ct-noack", 2);
    h_channel_open(c, 2);
    cr_assert(amqp_basic_consume(c, 2, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 1, 0, amqp_empty_table));
    for (int i = 0; i < 2; i++) {
        uint64_t tag;
        bool redelivered;
        char *b = h_next_delivery(c, 3000, &tag, &redelivered);
        cr_assert(b != NULL);
        free(b);
    }
    amqp_frame_t f;
    int rc = h_wait_frame(c, &f, 3000);
    cr_assert(rc == AMQP_STATUS_TIMEOUT, "a frame arrived on a no-ack channel (close?)");
    h_channel_open(c, 4); /* the connection is fine */
    h_close(c);
}
