/* auth.c — SASL PLAIN and AMQPLAIN against the user table, and
 * loopback_users (those users only from loopback addresses). */
#include "auth.h"

#include <stdio.h>
#include <string.h>

#include "access.h"
#include "amq/table.h"
#include "config.h"

/* PLAIN: [authzid] NUL authcid NUL passwd */
static int parse_plain(amq_bytes r, amq_bytes *user, amq_bytes *pass) {
    const uint8_t *p = r.p, *end = r.p + r.len;
    const uint8_t *z1 = memchr(p, 0, r.len);
    if (!z1) return -1;
    const uint8_t *z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
    if (!z2) return -1;
    *user = (amq_bytes){z1 + 1, (size_t)(z2 - z1 - 1)};
    *pass = (amq_bytes){z2 + 1, (size_t)(end - z2 - 1)};
    return 0;
}

/* AMQPLAIN: a field table body with LOGIN and PASSWORD. */
static int parse_amqplain(amq_bytes r, amq_bytes *user, amq_bytes *pass) {
    amq_field l, p;
    if (amq_table_validate(r) != AMQ_OK) return -1;
    if (amq_table_get(r, "LOGIN", &l) != 1 || amq_table_get(r, "PASSWORD", &p) != 1) return -1;
    if ((l.type != 'S' && l.type != 'x') || (p.type != 'S' && p.type != 'x')) return -1;
    *user = l.v.str;
    *pass = p.v.str;
    return 0;
}

int auth_check(amq_bytes mech, amq_bytes resp, bool from_loopback, char *user, size_t cap) {
    amq_bytes u = {0}, p = {0};
    snprintf(user, cap, "%s", "");
    int rc;
    if (amq_bytes_eqs(mech, "PLAIN")) rc = parse_plain(resp, &u, &p);
    else if (amq_bytes_eqs(mech, "AMQPLAIN")) rc = parse_amqplain(resp, &u, &p);
    else return AUTH_BAD_MECHANISM;
    if (rc) return AUTH_REFUSED;
    snprintf(user, cap, "%.*s", (int)(u.len < 255 ? u.len : 255), u.p);
    if (!access_authenticate(u, p)) return AUTH_REFUSED;
    if (!from_loopback && config_is_loopback_user(user)) return AUTH_LOOPBACK_ONLY;
    return AUTH_OK;
}

bool auth_user_exists(const char *name) { return access_user_exists(name); }

int auth_external(const char *cert_name, bool from_loopback, char *user, size_t cap) {
    snprintf(user, cap, "%s", cert_name ? cert_name : "");
    if (!cert_name) return AUTH_NO_CERT;
    if (!auth_user_exists(cert_name)) return AUTH_REFUSED;
    if (!from_loopback && config_is_loopback_user(cert_name)) return AUTH_LOOPBACK_ONLY;
    return AUTH_OK;
}
