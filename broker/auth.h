/* auth.h — SASL PLAIN and AMQPLAIN against the user table (access.h);
 * users listed in loopback_users only from loopback addresses. */
#ifndef WARREN_AUTH_H
#define WARREN_AUTH_H
#include <stdbool.h>
#include <stddef.h>
#include "amq/buf.h"

enum { AUTH_OK = 0, AUTH_BAD_MECHANISM = 1, AUTH_REFUSED = 2, AUTH_LOOPBACK_ONLY = 3 };

/* Check a start-ok response. user gets the claimed user name (for logs)
 * whatever the outcome. Any thread. */
int auth_check(amq_bytes mechanism, amq_bytes response, bool from_loopback, char *user, size_t user_cap);
#endif
