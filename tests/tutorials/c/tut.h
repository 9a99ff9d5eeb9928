/* Shared plumbing for the C (rabbitmq-c) versions of the RabbitMQ tutorials:
 * connecting, error checks and an unattended consume loop. Single-threaded. */
#ifndef TUT_H
#define TUT_H

#include <amqp.h>
#include <stddef.h>

/* Connects to AMQP_HOST:AMQP_PORT from the environment (default localhost:5672)
 * as guest/guest, opens channel 1 and makes stdout line-buffered. Exits the
 * process with a message on failure. Returns the connection; the caller owns it
 * and releases it with tut_close(). */
amqp_connection_state_t tut_connect(void);

/* Closes channel 1 and the connection, then frees it. Exits on failure. */
void tut_close(amqp_connection_state_t conn);

/* Exits with a message naming `context` unless the last synchronous call on
 * `conn` (e.g. amqp_queue_declare) succeeded. */
void tut_check(amqp_connection_state_t conn, const char *context);

/* Exits with a message naming `context` if `status` (a library status) is < 0. */
void tut_check_status(int status, const char *context);

/* Returns the integer value of environment variable `name`, or `fallback` if it
 * is unset or not a number. */
int tut_env_int(const char *name, int fallback);

/* Called by tut_consume for each delivery on `conn`; the envelope is freed after
 * the call. Returns 1 if the message counts towards the expected number, else 0. */
typedef int (*tut_on_message)(amqp_connection_state_t conn, amqp_envelope_t *envelope,
                              void *arg);

/* Delivers messages to `on_message(conn, envelope, arg)` until `expect` of them
 * counted (expect <= 0: no limit) or `timeout_s` seconds passed. Exits the
 * process if the broker closes the channel or connection. Returns the number of
 * messages that counted. */
int tut_consume(amqp_connection_state_t conn, int expect, int timeout_s,
                tut_on_message on_message, void *arg);

/* Writes `value` with thousands separators ("50,000") into buf (size >= 32).
 * Returns buf. */
char *tut_commas(long value, char *buf);

/* Joins argv[first..argc-1] with single spaces into buf (of `size` bytes), or
 * copies `fallback` if there are none. Exits if the result does not fit.
 * Returns buf. */
char *tut_join(int argc, char **argv, int first, const char *fallback, char *buf, size_t size);

/* Seconds on the monotonic clock. */
double tut_now(void);

#endif
