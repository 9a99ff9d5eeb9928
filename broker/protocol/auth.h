/* auth.h — SASL PLAIN and AMQPLAIN against the user table (access.h);
 * users listed in loopback_users only from loopback addresses. */
#ifndef WARREN_AUTH_H
#define WARREN_AUTH_H
#include <stdbool.h>
#include <stddef.h>
#include "amq/buf.h"

enum { AUTH_OK = 0, AUTH_BAD_MECHANISM = 1, AUTH_REFUSED = 2, AUTH_LOOPBACK_ONLY = 3, AUTH_NO_CERT = 4 };

/* Check a start-ok response. user gets the claimed user name (for logs)
 * whatever the outcome. Any thread. */
int auth_check(amq_bytes mechanism, amq_bytes response, bool from_loopback, char *user, size_t user_cap);
/* SASL EXTERNAL on a TLS connection: cert_name is the user name taken from the
 * peer's verified certificate (NULL: none presented → AUTH_NO_CERT). The
 * response is ignored (as RabbitMQ does); the user must exist. Any thread. */
int auth_external(const char *cert_name, bool from_loopback, char *user, size_t user_cap);
/* Whether the user table knows this user (no password check). Any thread. */
bool auth_user_exists(const char *name);
#endif
