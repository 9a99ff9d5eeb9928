/* amq/buf.h — bounds-checked big-endian readers and a growable writer.
 * No sockets, no threads. Prefix amq_ (rabbitmq-c owns amqp_). */
#ifndef AMQ_BUF_H
#define AMQ_BUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes of the amqp layer (0 ok, negative on error). */
enum {
    AMQ_OK = 0,
    AMQ_ESHORT = -1,    /* input ended before the value did */
    AMQ_EBAD = -2,      /* malformed value (bad type tag, bad length, ...) */
    AMQ_EDEPTH = -3,    /* field tables nested too deep */
    AMQ_ETOOBIG = -4,   /* frame larger than frame_max */
    AMQ_EFRAMEEND = -5, /* frame-end octet is not 0xCE */
    AMQ_ETYPE = -6,     /* unknown frame type */
    AMQ_EMETHOD = -7,   /* unknown class/method id */
    AMQ_ENOMEM = -8,
};
/* Static description of an AMQ_* code ("unknown error" otherwise). */
const char *amq_strerror(int err);

/* A borrowed byte slice: points into a frame buffer it does not own. */
typedef struct {
    const uint8_t *p;
    size_t len;
} amq_bytes;

/* A slice over a NUL-terminated string (borrowed, NUL not included). */
static inline amq_bytes amq_cstr(const char *s);
/* Byte-wise equality of two slices / of a slice and a C string. Pure. */
bool amq_bytes_eq(amq_bytes a, amq_bytes b);
bool amq_bytes_eqs(amq_bytes a, const char *s);

/* Reader over [data, data+len); off advances. All getters check first,
 * never read past len, and leave off unchanged on error. */
typedef struct {
    const uint8_t *data;
    size_t len;
    size_t off;
} amq_rd;

int amq_get_u8(amq_rd *r, uint8_t *v);
int amq_get_u16(amq_rd *r, uint16_t *v);
int amq_get_u32(amq_rd *r, uint32_t *v);
int amq_get_u64(amq_rd *r, uint64_t *v);
int amq_get_shortstr(amq_rd *r, amq_bytes *v); /* u8 length + bytes */
int amq_get_longstr(amq_rd *r, amq_bytes *v);  /* u32 length + bytes */
int amq_get_raw(amq_rd *r, size_t n, amq_bytes *v);

/* Growable writer. Grows by doubling with realloc (amortised, not per frame).
 * A writer may be given a hard cap (0 = none); past it puts fail with
 * AMQ_ETOOBIG and set w->err. Puts after an error are no-ops, so a caller
 * may emit a whole frame and check w->err once. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; /* 0 = unlimited */
    int err;
} amq_wr;

/* init: empty, no limit, nothing allocated. destroy: frees the buffer and
 * leaves w re-initialised. A writer is not thread-safe. */
void amq_wr_init(amq_wr *w);
void amq_wr_destroy(amq_wr *w);
/* Ensure cap >= len + extra; returns AMQ_OK or the (sticky) w->err:
 * AMQ_ETOOBIG past limit or half the address space, AMQ_ENOMEM. */
int amq_wr_reserve(amq_wr *w, size_t extra);
void amq_put_u8(amq_wr *w, uint8_t v);
void amq_put_u16(amq_wr *w, uint16_t v);
void amq_put_u32(amq_wr *w, uint32_t v);
void amq_put_u64(amq_wr *w, uint64_t v);
void amq_put_raw(amq_wr *w, const void *p, size_t n);
void amq_put_shortstr(amq_wr *w, amq_bytes s); /* error AMQ_EBAD if len > 255 */
/* Make a NUL-terminated reply text fit a shortstr as RabbitMQ does: over 255
 * bytes, it keeps the first 252 and appends "..." (s must hold 256 bytes then).
 * Returns the new length. */
size_t amq_reply_text_fit(char *s);
void amq_put_longstr(amq_wr *w, amq_bytes s);
/* Patch a big-endian u32 at an earlier offset (for length prefixes). */
void amq_patch_u32(amq_wr *w, size_t at, uint32_t v); /* AMQ_EBAD if out of range */
/* Drop the first n bytes (after they were written to a socket). */
void amq_wr_consume(amq_wr *w, size_t n);

static inline amq_bytes amq_cstr(const char *s) {
    amq_bytes b;
    size_t n = 0;
    while (s[n]) n++;
    b.p = (const uint8_t *)s;
    b.len = n;
    return b;
}
#endif
