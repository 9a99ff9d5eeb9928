/* test_connection.c — connection class (handshake, tuning, heartbeats,
 * channel limits, close) against the broker under test. Expected replies
 * are those of RabbitMQ 3.10 (checked against the reference broker). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static long long mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A wrong protocol header gets the supported header back, then the socket closes. */
static void bad_header(const char *hdr) {
    int s = h_raw_socket();
    h_raw_send(s, hdr, 8);
    char got[8];
    size_t n = 0;
    while (n < sizeof got) {
        ssize_t r = recv(s, got + n, sizeof got - n, 0);
        cr_assert(r > 0, "connection closed after %zu bytes of the protocol header", n);
        n += (size_t)r;
    }
    cr_assert(memcmp(got, "AMQP\x00\x00\x09\x01", 8) == 0, "broker did not answer AMQP 0-9-1 header");
    cr_assert(h_raw_closed_within(s, 5000, &n), "socket not closed after a bad protocol header");
    cr_assert(n == 0, "broker sent %zu more bytes after its protocol header", n);
    close(s);
}

Test(connection, bad_protocol_header_0_9_0) { bad_header("AMQP\x00\x00\x09\x00"); }
Test(connection, bad_protocol_header_http) { bad_header("HTTP/1.1"); }

static bool token_in(amqp_bytes_t list, const char *tok) {
    size_t n = strlen(tok), i = 0;
    const char *p = list.bytes;
    while (i < list.len) {
        size_t j = i;
        while (j < list.len && p[j] != ' ') j++;
        if (j - i == n && memcmp(p + i, tok, n) == 0) return true;
        i = j + 1;
    }
    return false;
}

static amqp_field_value_t *table_get(amqp_table_t *t, const char *key) {
    for (int i = 0; i < t->num_entries; i++) {
        amqp_bytes_t k = t->entries[i].key;
        if (k.len == strlen(key) && memcmp(k.bytes, key, k.len) == 0) return &t->entries[i].value;
    }
    return NULL;
}

static void assert_longstr(amqp_table_t *t, const char *key) {
    amqp_field_value_t *v = table_get(t, key);
    cr_assert(v != NULL, "server-properties lacks %s", key);
    cr_assert(v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES,
              "%s is not a long string (kind %c)", key, v->kind);
    cr_assert(v->value.bytes.len > 0, "%s is empty", key);
}

Test(connection, start_properties_and_mechanisms) {
    int s = h_raw_socket();
    amqp_pool_t pool;
    init_amqp_pool(&pool, 65536);
    amqp_connection_start_t *st;
    h_raw_frame_t f;
    amqp_method_number_t id = h_raw_start(s, "PLAIN", "\0guest\0guest", 12, &pool, &st, &f);
    h_raw_frame_destroy(&f);
    cr_assert(id == AMQP_CONNECTION_TUNE_METHOD);
    cr_assert(st->version_major == 0 && st->version_minor == 9, "version %u-%u", st->version_major,
              st->version_minor);
    assert_longstr(&st->server_properties, "product");
    assert_longstr(&st->server_properties, "version");
    assert_longstr(&st->server_properties, "platform");
    amqp_field_value_t *caps = table_get(&st->server_properties, "capabilities");
    cr_assert(caps != NULL && caps->kind == AMQP_FIELD_KIND_TABLE, "no capabilities table");
    static const char *const want[] = {"publisher_confirms",     "exchange_exchange_bindings",
                                       "basic.nack",             "consumer_cancel_notify",
                                       "per_consumer_qos",       "consumer_priorities",
                                       "direct_reply_to",        "authentication_failure_close"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        amqp_field_value_t *v = table_get(&caps->value.table, want[i]);
        cr_assert(v != NULL, "capability %s missing", want[i]);
        cr_assert(v->kind == AMQP_FIELD_KIND_BOOLEAN && v->value.boolean, "capability %s not true",
                  want[i]);
    }
    cr_assert(token_in(st->mechanisms, "PLAIN"), "mechanisms \"%.*s\" lack PLAIN",
              (int)st->mechanisms.len, (char *)st->mechanisms.bytes);
    cr_assert(token_in(st->mechanisms, "AMQPLAIN"), "mechanisms \"%.*s\" lack AMQPLAIN",
              (int)st->mechanisms.len, (char *)st->mechanisms.bytes);
    cr_assert(token_in(st->locales, "en_US"), "locales lack en_US");
    empty_amqp_pool(&pool);
    close(s);
}

Test(connection, login_plain_with_rabbitmq_c) {
    amqp_connection_state_t c = h_connect();
    const char *q = h_queue_declare(c, 1, "", false, true, true);
    cr_assert(strncmp(q, "amq.gen-", 8) == 0);
    h_close(c);
}

/* AMQPLAIN response: a field-table body (no length prefix) with LOGIN and PASSWORD. */
static void amqplain_response(h_buf_t *b, const char *user, const char *pass) {
    b->n = 0;
    h_buf_shortstr(b, "LOGIN");
    h_buf_u8(b, 'S');
    h_buf_longstr(b, user, strlen(user));
    h_buf_shortstr(b, "PASSWORD");
    h_buf_u8(b, 'S');
    h_buf_longstr(b, pass, strlen(pass));
}

Test(connection, login_amqplain) {
    static h_buf_t resp;
    amqplain_response(&resp, "guest", "guest");
    int s = h_raw_socket();
    h_raw_frame_t f;
    amqp_method_number_t id = h_raw_start(s, "AMQPLAIN", resp.b, resp.n, NULL, NULL, &f);
    h_raw_frame_destroy(&f);
    cr_assert(id == AMQP_CONNECTION_TUNE_METHOD, "AMQPLAIN login: expected tune, got 0x%08x", id);
    amqp_connection_tune_ok_t tune = {2047, 131072, 0};
    h_raw_send_amqp_method(s, 0, AMQP_CONNECTION_TUNE_OK_METHOD, &tune);
    amqp_connection_open_t open = {amqp_cstring_bytes("/"), amqp_empty_bytes, 0};
    h_raw_send_amqp_method(s, 0, AMQP_CONNECTION_OPEN_METHOD, &open);
    id = h_raw_read_method(s, &f, 5000, NULL, NULL);
    h_raw_frame_destroy(&f);
    cr_assert(id == AMQP_CONNECTION_OPEN_OK_METHOD);
    h_raw_channel_open(s, 1);
    close(s);
}

Test(connection, amqplain_bad_password_refused) {
    static h_buf_t resp;
    amqplain_response(&resp, "guest", "wrong");
    int s = h_raw_socket();
    h_raw_frame_t f;
    h_raw_start(s, "AMQPLAIN", resp.b, resp.n, NULL, NULL, &f);
    h_raw_check_connection_close(&f, 403, "ACCESS_REFUSED - Login was refused");
    h_raw_frame_destroy(&f);
    cr_assert(h_raw_closed_within(s, 5000, NULL));
    close(s);
}

Test(connection, bad_password_refused) {
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = h_connect_opts("/", "guest", "wrong", 0, 131072, 0, &r);
    h_expect_connection_close(r, 403, "ACCESS_REFUSED - Login was refused");
    amqp_destroy_connection(c);
}

Test(connection, unknown_user_refused_raw_plain) {
    int s = h_raw_socket();
    h_raw_frame_t f;
    h_raw_start(s, "PLAIN", "\0nobody\0guest", 13, NULL, NULL, &f);
    h_raw_check_connection_close(&f, 403, "ACCESS_REFUSED - Login was refused");
    h_raw_frame_destroy(&f);
    cr_assert(h_raw_closed_within(s, 5000, NULL));
    close(s);
}

Test(connection, tune_offers_rabbitmq_defaults) {
    int s = h_raw_socket();
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    h_raw_frame_t f;
    amqp_method_number_t id = h_raw_start(s, "PLAIN", "\0guest\0guest", 12, NULL, NULL, &f);
    cr_assert(id == AMQP_CONNECTION_TUNE_METHOD);
    amqp_connection_tune_t *t;
    amqp_bytes_t args = {.len = f.size - 4, .bytes = f.payload + 4};
    cr_assert(amqp_decode_method(id, &pool, args, (void **)&t) == 0);
    cr_assert(t->channel_max == 2047, "channel_max %u", t->channel_max);
    cr_assert(t->frame_max == 131072, "frame_max %u", t->frame_max);
    cr_assert(t->heartbeat == 60, "heartbeat %u", t->heartbeat);
    h_raw_frame_destroy(&f);
    empty_amqp_pool(&pool);
    close(s);
}

Test(connection, rabbitmq_c_negotiates_server_limits) {
    amqp_connection_state_t c = h_connect();
    cr_assert(amqp_get_channel_max(c) == 2047, "channel_max %d", amqp_get_channel_max(c));
    cr_assert(amqp_get_frame_max(c) == 131072, "frame_max %d", amqp_get_frame_max(c));
    h_close(c);
}

/* Big message through a connection whose frame_max the client lowered to 4096:
 * the broker must split deliveries into body frames of at most 4088 bytes. */
Test(connection, client_lowers_frame_max) {
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = h_connect_opts("/", "guest", "guest", 0, 4096, 0, &r);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL);
    cr_assert(amqp_get_frame_max(c) == 4096);
    h_channel_open(c, 1);
    const char *q = h_queue_declare(c, 1, "", false, true, true);
    char qn[256];
    snprintf(qn, sizeof qn, "%s", q);
    static char body[20001];
    for (size_t i = 0; i < sizeof body - 1; i++) body[i] = (char)('a' + i % 26);
    h_publish(c, 1, "", qn, body, false, NULL);
    char *got = h_get(c, 1, qn, true, NULL, NULL);
    cr_assert(got != NULL && strcmp(got, body) == 0, "20000-byte body did not round-trip");
    free(got);
    h_close(c);
}

/* RabbitMQ refuses a tune-ok outside [4096, 131072] by closing the socket
 * (after a ~3 s anti-DoS delay) without sending connection.close or open-ok. */
static void refused_tune(uint16_t channel_max, uint32_t frame_max) {
    int s = h_raw_socket();
    h_raw_frame_t f;
    amqp_method_number_t id = h_raw_start(s, "PLAIN", "\0guest\0guest", 12, NULL, NULL, &f);
    h_raw_frame_destroy(&f);
    cr_assert(id == AMQP_CONNECTION_TUNE_METHOD);
    amqp_connection_tune_ok_t tune = {channel_max, frame_max, 0};
    h_raw_send_amqp_method(s, 0, AMQP_CONNECTION_TUNE_OK_METHOD, &tune);
    amqp_connection_open_t open = {amqp_cstring_bytes("/"), amqp_empty_bytes, 0};
    h_raw_send_amqp_method(s, 0, AMQP_CONNECTION_OPEN_METHOD, &open);
    size_t n;
    cr_assert(h_raw_closed_within(s, 10000, &n), "socket not closed after a bad tune-ok");
    cr_assert(n == 0, "broker sent %zu bytes (expected a silent close)", n);
    close(s);
}

Test(connection, frame_max_below_4096_refused, .timeout = 20) { refused_tune(2047, 1000); }
Test(connection, frame_max_above_server_max_refused, .timeout = 20) { refused_tune(2047, 262144); }
Test(connection, channel_max_above_server_max_refused, .timeout = 20) { refused_tune(3000, 131072); }

Test(connection, unknown_vhost) {
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = h_connect_opts("nope", "guest", "guest", 0, 131072, 0, &r);
    h_expect_connection_close(r, 530, "NOT_ALLOWED - vhost nope not found");
    amqp_destroy_connection(c);
}

Test(connection, update_secret_accepted) {
    int s = h_raw_socket();
    h_raw_login(s, 2047, 131072, 0);
    static h_buf_t b;
    b.n = 0;
    h_buf_longstr(&b, "guest", 5);
    h_buf_shortstr(&b, "rotation");
    h_raw_send_method(s, 0, 10, 70, b.b, b.n);
    h_raw_frame_t f;
    amqp_method_number_t id = h_raw_read_method(s, &f, 5000, NULL, NULL);
    cr_assert(id == ((10u << 16) | 71u) && f.channel == 0, "expected update-secret-ok, got 0x%08x", id);
    cr_assert(f.size == 4, "update-secret-ok has no arguments");
    h_raw_frame_destroy(&f);
    h_raw_channel_open(s, 1); /* connection still usable */
    close(s);
}

static const uint8_t heartbeat_frame[] = {8, 0, 0, 0, 0, 0, 0, 0xCE};

Test(connection, server_sends_heartbeats) {
    int s = h_raw_socket();
    h_raw_login(s, 2047, 131072, 1);
    int beats = 0;
    long long end = mono_ms() + 3000;
    while (mono_ms() < end) {
        h_raw_send(s, heartbeat_frame, sizeof heartbeat_frame);
        h_raw_frame_t f;
        int rc = h_raw_read_frame(s, &f, 400);
        cr_assert(rc != 0, "broker closed a connection that was sending heartbeats");
        if (rc == 1) {
            cr_assert(f.type == AMQP_FRAME_HEARTBEAT && f.channel == 0 && f.size == 0,
                      "unexpected frame type %u on %u", f.type, f.channel);
            beats++;
            h_raw_frame_destroy(&f);
        }
    }
    cr_assert(beats >= 2, "only %d heartbeats in 3 s with heartbeat=1", beats);
    h_raw_channel_open(s, 1);
    close(s);
}

/* RabbitMQ sends a heartbeat after heartbeat/2 of send-idleness: 500 ms for
 * heartbeat=1 (a client that counts 1 s of silence as death, as amqp-client.js
 * does, depends on it). The client keeps sending its own every 200 ms. */
Test(connection, server_heartbeats_every_half_interval) {
    int s = h_raw_socket();
    h_raw_login(s, 2047, 131072, 1);
    long long end = mono_ms() + 3500, last = 0, max_gap = 0, next_send = 0;
    int beats = 0;
    while (mono_ms() < end) {
        if (mono_ms() >= next_send) {
            h_raw_send(s, heartbeat_frame, sizeof heartbeat_frame);
            next_send = mono_ms() + 200;
        }
        h_raw_frame_t f;
        int rc = h_raw_read_frame(s, &f, 50);
        cr_assert(rc != 0, "broker closed a connection that was sending heartbeats");
        if (rc != 1) continue;
        cr_assert(f.type == AMQP_FRAME_HEARTBEAT, "unexpected frame type %u", f.type);
        h_raw_frame_destroy(&f);
        long long now = mono_ms();
        if (last && now - last > max_gap) max_gap = now - last;
        last = now;
        beats++;
    }
    cr_assert(beats >= 5, "only %d heartbeats in 3.5 s with heartbeat=1 (expected one per ~500 ms)", beats);
    /* ~500 ms; a loaded machine (ctest -j) delays wake-ups, so allow up to
     * 900 ms (the old 1 s tick sent one every ~1000 ms, 3 in 3.5 s) */
    cr_assert(max_gap <= 900, "%lld ms between two heartbeats with heartbeat=1 (expected ~500 ms)", max_gap);
    close(s);
}

Test(connection, silent_client_disconnected, .timeout = 20) {
    int s = h_raw_socket();
    h_raw_login(s, 2047, 131072, 1);
    long long t0 = mono_ms();
    cr_assert(h_raw_closed_within(s, 8000, NULL), "silent client not disconnected within 8 s");
    long long dt = mono_ms() - t0;
    cr_assert(dt >= 1000, "disconnected too early (%lld ms)", dt);
    cr_assert(dt <= 5000, "disconnected after %lld ms (expected ~2-4 s for heartbeat=1)", dt);
    close(s);
}

/* RabbitMQ 3.10 does not check channel ids against channel_max: it limits the
 * NUMBER of open channels. Channel id 2048 opens fine with channel_max 2047. */
Test(connection, channel_id_above_channel_max_opens) {
    int s = h_raw_socket();
    h_raw_login(s, 2047, 131072, 0);
    h_raw_channel_open(s, 2048);
    close(s);
}

Test(connection, channel_count_limit) {
    int s = h_raw_socket();
    h_raw_login(s, 2, 131072, 0);
    h_raw_channel_open(s, 1);
    h_raw_channel_open(s, 2);
    amqp_channel_open_t open = {amqp_empty_bytes};
    h_raw_send_amqp_method(s, 3, AMQP_CHANNEL_OPEN_METHOD, &open);
    h_raw_expect_connection_close(
        s, 530, "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)");
    close(s);
}

Test(connection, channel_count_limit_rabbitmq_c) {
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = h_connect_opts("/", "guest", "guest", 1, 131072, 0, &r);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL);
    cr_assert(amqp_get_channel_max(c) == 1);
    h_channel_open(c, 1);
    amqp_channel_open(c, 2);
    h_expect_connection_close(amqp_get_rpc_reply(c), 530, "NOT_ALLOWED - number of channels opened");
    amqp_destroy_connection(c);
}

Test(connection, channel_open_twice) {
    int s = h_raw_socket();
    h_raw_login(s, 2047, 131072, 0);
    h_raw_channel_open(s, 1);
    amqp_channel_open_t open = {amqp_empty_bytes};
    h_raw_send_amqp_method(s, 1, AMQP_CHANNEL_OPEN_METHOD, &open);
    h_raw_expect_connection_close(s, 504, "CHANNEL_ERROR - second 'channel.open' seen");
    close(s);
}

Test(connection, client_close_gets_close_ok_rabbitmq_c) {
    amqp_connection_state_t c = h_connect();
    amqp_rpc_reply_t r = amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "connection.close not answered with close-ok");
    amqp_destroy_connection(c);
}

Test(connection, client_close_gets_close_ok_raw) {
    int s = h_raw_socket();
    h_raw_login(s, 2047, 131072, 0);
    h_raw_channel_open(s, 1);
    amqp_connection_close_t cl = {200, amqp_cstring_bytes("bye"), 0, 0};
    h_raw_send_amqp_method(s, 0, AMQP_CONNECTION_CLOSE_METHOD, &cl);
    h_raw_frame_t f;
    amqp_method_number_t id = h_raw_read_method(s, &f, 5000, NULL, NULL);
    cr_assert(id == AMQP_CONNECTION_CLOSE_OK_METHOD && f.channel == 0, "got 0x%08x", id);
    h_raw_frame_destroy(&f);
    close(s); /* after close-ok the client closes the socket (RabbitMQ waits for that) */
}
