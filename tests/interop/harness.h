/* harness.h — shared helpers for the interop tests (librabbitmq + Criterion).
 *
 * Every test binary links harness.c. Before any test runs, a Criterion
 * PRE_ALL hook starts the broker under test once for the whole binary:
 *   - if WARREN_AMQP_PORT is set, tests talk to an already running broker on
 *     127.0.0.1:$WARREN_AMQP_PORT (used to run the suite against the
 *     reference RabbitMQ);
 *   - otherwise it starts $WARREN_BIN (default: the build's warren) on a free
 *     port with a fresh temporary --data-dir, waits until it accepts, and stops
 *     it with SIGTERM after the last test, checking it exits 0; with
 *     WARREN_TEST_CONFIG set (a test binary may set it from a constructor)
 *     it also passes --config $WARREN_TEST_CONFIG.
 * Tests run in forked children (Criterion), so each test opens its own
 * connections; name queues/exchanges with h_name() so tests never collide. */
#ifndef INTEROP_HARNESS_H
#define INTEROP_HARNESS_H
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdbool.h>
#include <stdint.h>

/* Port of the broker under test (valid inside tests). */
int h_port(void);
/* True when the broker under test is Warren (not an external one). */
bool h_is_warren(void);

/* Connect, log in as guest/guest to vhost "/", open channel 1.
 * Asserts (cr_assert) on any failure. */
amqp_connection_state_t h_connect(void);
/* Connect and log in with explicit settings; returns the login reply in *r
 * (the connection is returned even when login failed, for inspection). */
amqp_connection_state_t h_connect_opts(const char *vhost, const char *user, const char *pass,
                                       int channel_max, int frame_max, int heartbeat,
                                       amqp_rpc_reply_t *r);
/* A plain TCP socket connected to the broker (for raw-byte tests). */
int h_raw_socket(void);
/* Close channel 1 (if open) and the connection, then destroy. Tolerates a
 * connection the broker already closed. */
void h_close(amqp_connection_state_t c);

/* Open channel ch (asserts success). */
void h_channel_open(amqp_connection_state_t c, amqp_channel_t ch);

/* A unique name: prefix + pid + counter. Returned pointer is static storage
 * valid until the 8th next call. */
const char *h_name(const char *prefix);

/* Assert that reply r is a server channel.close with this code, and (if
 * text_prefix is not NULL) that its reply text starts with text_prefix. */
void h_expect_channel_close(amqp_rpc_reply_t r, uint16_t code, const char *text_prefix);
/* Same for a server connection.close. */
void h_expect_connection_close(amqp_rpc_reply_t r, uint16_t code, const char *text_prefix);

/* Wait up to timeout_ms for the next frame; returns the rabbitmq-c status
 * (AMQP_STATUS_OK, AMQP_STATUS_TIMEOUT, ...). */
int h_wait_frame(amqp_connection_state_t c, amqp_frame_t *f, int timeout_ms);

/* Publish a body with default properties (or props if not NULL). Asserts
 * the write succeeded. */
void h_publish(amqp_connection_state_t c, amqp_channel_t ch, const char *exchange,
               const char *routing_key, const char *body, bool mandatory,
               const amqp_basic_properties_t *props);
/* Declare a queue (non-durable unless durable); asserts success; returns name. */
const char *h_queue_declare(amqp_connection_state_t c, amqp_channel_t ch, const char *name,
                            bool durable, bool exclusive, bool auto_delete);
/* basic.get one message; returns its body as a malloc'd NUL-terminated string
 * or NULL on get-empty. *tag gets the delivery tag, *redelivered the flag. */
char *h_get(amqp_connection_state_t c, amqp_channel_t ch, const char *queue, bool no_ack,
            uint64_t *tag, bool *redelivered);
/* Consume the next delivery (after basic.consume) within timeout_ms; returns
 * body as malloc'd string or NULL on timeout; fills tag/redelivered. */
char *h_next_delivery(amqp_connection_state_t c, int timeout_ms, uint64_t *tag,
                      bool *redelivered);
/* Current message count of a queue via passive declare (asserts success).
 * NOTE: RabbitMQ answers this query ahead of deliveries still in flight to
 * the queue, so right after a publish it may not count that message yet;
 * use h_wait_message_count() when expecting a count > 0. */
uint32_t h_message_count(amqp_connection_state_t c, amqp_channel_t ch, const char *queue);
/* Poll h_message_count until it equals want or timeout_ms passes; returns the
 * last count seen (so callers cr_assert on it). */
uint32_t h_wait_message_count(amqp_connection_state_t c, amqp_channel_t ch, const char *queue,
                              uint32_t want, int timeout_ms);

/* Declare an exchange (not passive); asserts declare-ok. */
void h_exchange_declare(amqp_connection_state_t c, amqp_channel_t ch, const char *name,
                        const char *type, bool durable, bool auto_delete, bool internal,
                        amqp_table_t args);
/* queue.bind; asserts bind-ok. */
void h_queue_bind(amqp_connection_state_t c, amqp_channel_t ch, const char *queue,
                  const char *exchange, const char *routing_key, amqp_table_t args);
/* Drain a queue with basic.get (no-ack): returns a malloc'd string of the
 * bodies in arrival order joined by ',' ("" if the queue was empty). */
char *h_get_all(amqp_connection_state_t c, amqp_channel_t ch, const char *queue);

/* ---- Raw-socket frame helpers (for frame-level and handshake tests). ----
 * All of these cr_assert on I/O errors except where a return value says
 * otherwise. Methods can be encoded/decoded with rabbitmq-c's exported
 * amqp_encode_method/amqp_decode_method (see h_raw_send_amqp_method). */
typedef struct {
    uint8_t type;
    uint16_t channel;
    uint32_t size;
    uint8_t *payload; /* malloc'd, owned by the frame: h_raw_frame_destroy() */
} h_raw_frame_t;

/* Append-only byte builder for hand-made method arguments (big-endian). */
typedef struct {
    uint8_t b[1 << 18];
    size_t n;
} h_buf_t;
void h_buf_u8(h_buf_t *b, uint8_t v);
void h_buf_u16(h_buf_t *b, uint16_t v);
void h_buf_u32(h_buf_t *b, uint32_t v);
void h_buf_u64(h_buf_t *b, uint64_t v);
void h_buf_bytes(h_buf_t *b, const void *p, size_t n);
void h_buf_shortstr(h_buf_t *b, const char *s);
void h_buf_longstr(h_buf_t *b, const void *p, size_t n);

/* Write all n bytes (asserts). */
void h_raw_send(int s, const void *p, size_t n);
/* Send one frame: type, channel, payload, frame-end 0xCE. */
void h_raw_send_frame(int s, uint8_t type, uint16_t ch, const void *payload, size_t n);
/* Send a method frame whose arguments are given raw (args may be NULL if n==0). */
void h_raw_send_method(int s, uint16_t ch, uint16_t class_id, uint16_t method_id,
                       const void *args, size_t n);
/* Send a method frame encoded by rabbitmq-c from its decoded struct. */
void h_raw_send_amqp_method(int s, uint16_t ch, amqp_method_number_t id, void *decoded);
/* Read one frame within timeout_ms. Returns 1 (frame read into *f), 0 (the
 * peer closed or reset the connection), -1 (timeout). Asserts a well-formed
 * frame (frame-end octet, size below 1 MiB). */
int h_raw_read_frame(int s, h_raw_frame_t *f, int timeout_ms);
void h_raw_frame_destroy(h_raw_frame_t *f);
/* Read frames, skipping heartbeats, until a method frame; asserts one comes
 * within timeout_ms. Returns the method id ((class << 16) | method); decodes
 * it into *decoded from pool when decoded != NULL (pool owned by the caller;
 * the decoded struct stays valid until the pool is emptied). */
amqp_method_number_t h_raw_read_method(int s, h_raw_frame_t *f, int timeout_ms,
                                       amqp_pool_t *pool, void **decoded);
/* Send the protocol header, read connection.start (decoded into *start from
 * pool if not NULL), send start-ok with the given mechanism/response and
 * client capabilities {authentication_failure_close: true}. Returns the next
 * method id (connection.tune on success) with its frame in *f. */
amqp_method_number_t h_raw_start(int s, const char *mechanism, const void *response,
                                 size_t response_len, amqp_pool_t *pool,
                                 amqp_connection_start_t **start, h_raw_frame_t *f);
/* Full PLAIN guest/guest handshake to vhost "/" with these tune-ok values;
 * asserts connection.open-ok. */
void h_raw_login(int s, uint16_t channel_max, uint32_t frame_max, uint16_t heartbeat);
/* Send channel.open on ch and assert channel.open-ok. */
void h_raw_channel_open(int s, uint16_t ch);
/* Assert that frame f is a connection.close with this code and text prefix
 * (NULL: any text). Does not consume or free f. */
void h_raw_check_connection_close(const h_raw_frame_t *f, uint16_t code, const char *text_prefix);
/* Expect, within 5 s, a connection.close with this code and text prefix
 * (NULL: any text), skipping heartbeats and frames on channels other than 0;
 * replies close-ok; then asserts the broker closes the socket within 5 s. */
void h_raw_expect_connection_close(int s, uint16_t code, const char *text_prefix);
/* Discard incoming bytes until the peer closes/resets; true if that happened
 * within timeout_ms. *bytes (if not NULL) gets the number of bytes discarded. */
bool h_raw_closed_within(int s, int timeout_ms, size_t *bytes);
#endif
