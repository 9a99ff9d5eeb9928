/* format.c — the on-disk framing: little-endian integers, file headers,
 * record heads, skip markers, the public record encode/decode, error
 * strings and the logging helper. No I/O here. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

void wlog_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

uint32_t wlog_get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void wlog_header_encode(uint8_t out[WLOG_HEADER_SIZE], const char *magic, uint32_t num) {
    memset(out, 0, WLOG_HEADER_SIZE);
    memcpy(out, magic, 8);
    wlog_put32(out + 8, WLOG_VERSION);
    wlog_put32(out + 12, num);
}

int wlog_header_check(const uint8_t h[WLOG_HEADER_SIZE], const char *magic, uint32_t num) {
    static const uint8_t zero[WLOG_HEADER_SIZE];
    if (memcmp(h, zero, WLOG_HEADER_SIZE) == 0)
        return 1;
    if (memcmp(h, magic, 8) != 0 || wlog_get32(h + 8) != WLOG_VERSION || wlog_get32(h + 12) != num)
        return -1;
    return 0;
}

size_t wlog_iov_len(const struct iovec *iov, int iovcnt) {
    size_t n = 0;
    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return SIZE_MAX;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SIZE_MAX - n || (iov[i].iov_len && !iov[i].iov_base))
            return SIZE_MAX;
        n += iov[i].iov_len;
    }
    return n;
}

uint32_t wlog_record_crc(uint8_t type, const struct iovec *iov, int iovcnt) {
    uint32_t c = wlog_crc32c(0, &type, 1);
    for (int i = 0; i < iovcnt; i++)
        c = wlog_crc32c(c, iov[i].iov_base, iov[i].iov_len);
    return c;
}

void wlog_record_head(uint8_t out[WLOG_RECORD_OVERHEAD], uint32_t len, uint32_t crc, uint8_t type) {
    wlog_put32(out, len);
    wlog_put32(out + 4, crc);
    out[8] = type;
}

void wlog_marker_encode(uint8_t out[WLOG_MARKER_SIZE], uint32_t hole) {
    wlog_put32(out, WLOG_MARKER_BIT | hole);
    wlog_put32(out + 4, wlog_crc32c(0, out, 4));
}

uint32_t wlog_marker_check(const uint8_t p[WLOG_MARKER_SIZE]) {
    uint32_t v = wlog_get32(p);
    if (!(v & WLOG_MARKER_BIT) || wlog_get32(p + 4) != wlog_crc32c(0, p, 4))
        return 0;
    v &= ~WLOG_MARKER_BIT;
    return v >= WLOG_MARKER_SIZE ? v : 0;
}

size_t wlog_record_encode(void *out, size_t cap, uint8_t type, const void *payload, size_t len) {
    if (len >= WLOG_MAX_SEGMENT || cap < WLOG_RECORD_OVERHEAD + len || (len && !payload))
        return 0;
    struct iovec iov = {(void *)payload, len};
    uint8_t *o = out;
    wlog_record_head(o, (uint32_t)len + 1, wlog_record_crc(type, &iov, 1), type);
    if (len)
        memcpy(o + WLOG_RECORD_OVERHEAD, payload, len);
    return WLOG_RECORD_OVERHEAD + len;
}

int wlog_record_decode(const void *buf, size_t n, uint8_t *type, const void **payload, size_t *len) {
    const uint8_t *p = buf;
    if (n < 4)
        return WLOG_ENOENT;
    uint32_t l = wlog_get32(p);
    if (l == 0)
        return 0;
    if (l >= WLOG_MAX_SEGMENT)
        return WLOG_ECORRUPT;
    if (n < 8 + (size_t)l)
        return WLOG_ENOENT;
    if (wlog_crc32c(0, p + 8, l) != wlog_get32(p + 4))
        return WLOG_ECORRUPT;
    *type = p[8];
    *payload = p + WLOG_RECORD_OVERHEAD;
    *len = l - 1;
    return (int)(8 + l);
}

const char *wlog_strerror(int err) {
    switch (err) {
    case WLOG_OK: return "ok";
    case WLOG_EIO: return "I/O error";
    case WLOG_ECORRUPT: return "corrupt data (bad header or checksum)";
    case WLOG_ETOOBIG: return "record larger than a segment";
    case WLOG_ENOENT: return "no such record";
    case WLOG_ECLOSED: return "log closed";
    default: return "unknown error";
    }
}

void wlog_logf(wlog_log_fn fn, void *ctx, int level, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (fn) {
        fn(ctx, level, msg);
        return;
    }
    static const char *names[] = {"error", "warning", "info"};
    fprintf(stderr, "wlog %s: %s\n", names[level < 0 || level > 2 ? 0 : level], msg);
}
