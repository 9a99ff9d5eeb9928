/* names.c — the 255-byte limit on names and keys: the check every entry
 * point runs, and the shortened form error texts show. */
#include "names.h"

#include <stdio.h>

const char *name_shown(amq_bytes name, char *buf, size_t cap) {
    size_t n = name.len;
    const char *more = "";
    if (n > 64) {
        n = 32;
        while (n && (name.p[n] & 0xC0) == 0x80) n--; /* not in the middle of a character */
        more = "\xE2\x80\xA6";                       /* … */
    }
    snprintf(buf, cap, "%.*s%s", (int)n, n ? (const char *)name.p : "", more);
    return buf;
}

int name_check(amq_bytes name, const char *what, const char *where, char *err, size_t cap) {
    if (name.len <= NAME_MAX_BYTES) return 0;
    char shown[NAME_SHOWN];
    if (err && cap)
        snprintf(err, cap, "%s '%s'%s%s is longer than %d bytes (%zu bytes)", what,
                 name_shown(name, shown, sizeof shown), where && *where ? " " : "", where ? where : "", NAME_MAX_BYTES,
                 name.len);
    return -1;
}

int name_check_in(amq_bytes name, const char *what, const char *vhost, char *err, size_t cap) {
    if (name.len <= NAME_MAX_BYTES) return 0;
    char where[NAME_SHOWN + 16], shown[NAME_SHOWN];
    where[0] = 0;
    if (vhost) snprintf(where, sizeof where, "in vhost '%s'", name_shown(amq_cstr(vhost), shown, sizeof shown));
    return name_check(name, what, where, err, cap);
}
