/* buf.c — bounds-checked big-endian readers and the growable writer. */
#include "amq/buf.h"

#include <stdlib.h>
#include <string.h>

const char *amq_strerror(int err) {
    switch (err) {
    case AMQ_OK: return "ok";
    case AMQ_ESHORT: return "input too short";
    case AMQ_EBAD: return "malformed value";
    case AMQ_EDEPTH: return "field tables nested too deep";
    case AMQ_ETOOBIG: return "frame too large";
    case AMQ_EFRAMEEND: return "bad frame-end octet";
    case AMQ_ETYPE: return "unknown frame type";
    case AMQ_EMETHOD: return "unknown class or method";
    case AMQ_ENOMEM: return "out of memory";
    default: return "unknown error";
    }
}

bool amq_bytes_eq(amq_bytes a, amq_bytes b) {
    if (a.len != b.len) return false;
    return a.len == 0 || memcmp(a.p, b.p, a.len) == 0;
}

bool amq_bytes_eqs(amq_bytes a, const char *s) {
    return amq_bytes_eq(a, amq_cstr(s));
}

/* Bytes left to read; robust against off > len (a corrupted reader). */
static size_t buf_left(const amq_rd *r) {
    return r->off <= r->len ? r->len - r->off : 0;
}

int amq_get_raw(amq_rd *r, size_t n, amq_bytes *v) {
    if (buf_left(r) < n) return AMQ_ESHORT;
    v->p = r->data + r->off;
    v->len = n;
    r->off += n;
    return AMQ_OK;
}

int amq_get_u8(amq_rd *r, uint8_t *v) {
    if (buf_left(r) < 1) return AMQ_ESHORT;
    *v = r->data[r->off++];
    return AMQ_OK;
}

/* Read n (<= 8) big-endian bytes. */
static int buf_get_be(amq_rd *r, size_t n, uint64_t *v) {
    if (buf_left(r) < n) return AMQ_ESHORT;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) x = (x << 8) | r->data[r->off + i];
    r->off += n;
    *v = x;
    return AMQ_OK;
}

int amq_get_u16(amq_rd *r, uint16_t *v) {
    uint64_t x;
    int rc = buf_get_be(r, 2, &x);
    if (rc == AMQ_OK) *v = (uint16_t)x;
    return rc;
}

int amq_get_u32(amq_rd *r, uint32_t *v) {
    uint64_t x;
    int rc = buf_get_be(r, 4, &x);
    if (rc == AMQ_OK) *v = (uint32_t)x;
    return rc;
}

int amq_get_u64(amq_rd *r, uint64_t *v) {
    return buf_get_be(r, 8, v);
}

int amq_get_shortstr(amq_rd *r, amq_bytes *v) {
    size_t start = r->off;
    uint8_t n;
    if (amq_get_u8(r, &n) < 0) return AMQ_ESHORT;
    if (amq_get_raw(r, n, v) < 0) {
        r->off = start;
        return AMQ_ESHORT;
    }
    return AMQ_OK;
}

int amq_get_longstr(amq_rd *r, amq_bytes *v) {
    size_t start = r->off;
    uint32_t n;
    if (amq_get_u32(r, &n) < 0) return AMQ_ESHORT;
    if (amq_get_raw(r, n, v) < 0) {
        r->off = start;
        return AMQ_ESHORT;
    }
    return AMQ_OK;
}

void amq_wr_init(amq_wr *w) {
    memset(w, 0, sizeof *w);
}

void amq_wr_destroy(amq_wr *w) {
    free(w->data);
    memset(w, 0, sizeof *w);
}

static int buf_fail(amq_wr *w, int err) {
    if (w->err == 0) w->err = err;
    return w->err;
}

int amq_wr_reserve(amq_wr *w, size_t extra) {
    if (w->err) return w->err;
    /* Half the address space is more than any frame; refusing earlier keeps
     * the doubling below from overflowing. */
    if (extra > SIZE_MAX / 2 - w->len) return buf_fail(w, AMQ_ETOOBIG);
    size_t need = w->len + extra;
    if (w->limit && need > w->limit) return buf_fail(w, AMQ_ETOOBIG);
    if (need <= w->cap) return AMQ_OK;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < need) cap *= 2;
    uint8_t *p = realloc(w->data, cap);
    if (!p) return buf_fail(w, AMQ_ENOMEM);
    w->data = p;
    w->cap = cap;
    return AMQ_OK;
}

void amq_put_raw(amq_wr *w, const void *p, size_t n) {
    if (amq_wr_reserve(w, n) != AMQ_OK) return;
    if (n) memcpy(w->data + w->len, p, n);
    w->len += n;
}

/* Write the low n bytes of v big-endian. */
static void buf_put_be(amq_wr *w, uint64_t v, size_t n) {
    uint8_t b[8];
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    amq_put_raw(w, b, n);
}

void amq_put_u8(amq_wr *w, uint8_t v) { buf_put_be(w, v, 1); }
void amq_put_u16(amq_wr *w, uint16_t v) { buf_put_be(w, v, 2); }
void amq_put_u32(amq_wr *w, uint32_t v) { buf_put_be(w, v, 4); }
void amq_put_u64(amq_wr *w, uint64_t v) { buf_put_be(w, v, 8); }

void amq_put_shortstr(amq_wr *w, amq_bytes s) {
    if (s.len > 255) {
        buf_fail(w, AMQ_EBAD);
        return;
    }
    if (amq_wr_reserve(w, 1 + s.len) != AMQ_OK) return;
    amq_put_u8(w, (uint8_t)s.len);
    amq_put_raw(w, s.p, s.len);
}

size_t amq_reply_text_fit(char *s) {
    size_t n = strlen(s);
    if (n <= 255) return n;
    memcpy(s + 252, "...", 4);
    return 255;
}

void amq_put_longstr(amq_wr *w, amq_bytes s) {
    if (s.len > UINT32_MAX) {
        buf_fail(w, AMQ_EBAD);
        return;
    }
    if (amq_wr_reserve(w, 4 + s.len) != AMQ_OK) return;
    amq_put_u32(w, (uint32_t)s.len);
    amq_put_raw(w, s.p, s.len);
}

void amq_patch_u32(amq_wr *w, size_t at, uint32_t v) {
    if (w->err) return;
    if (at > w->len || w->len - at < 4) {
        buf_fail(w, AMQ_EBAD);
        return;
    }
    for (int i = 0; i < 4; i++) w->data[at + (size_t)i] = (uint8_t)(v >> (24 - 8 * i));
}

void amq_wr_consume(amq_wr *w, size_t n) {
    if (n >= w->len) {
        w->len = 0;
        return;
    }
    memmove(w->data, w->data + n, w->len - n);
    w->len -= n;
}
