/* fast.c — hand-written encoders for the per-message frames on the hot path.
 * The generic codec walks method descriptors field by field; a delivery is
 * three frames written per message, so it gets straight-line stores into one
 * reservation instead. tests/unit/amqp checks it byte for byte against the
 * generic encoder. */
#include <string.h>

#include "amq/fast.h"
#include "amq/frame.h"
#include "amq/methods.h"

static inline uint8_t *be16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static inline uint8_t *be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static inline uint8_t *be64(uint8_t *p, uint64_t v) {
    p = be32(p, (uint32_t)(v >> 32));
    return be32(p, (uint32_t)v);
}

static inline uint8_t *sstr(uint8_t *p, amq_bytes s) {
    *p++ = (uint8_t)s.len;
    if (s.len) memcpy(p, s.p, s.len);
    return p + s.len;
}

static inline uint8_t *frame_head(uint8_t *p, uint8_t type, uint16_t channel, uint32_t size) {
    *p++ = type;
    p = be16(p, channel);
    return be32(p, size);
}

void amq_put_basic_deliver(amq_wr *w, uint16_t channel, amq_bytes consumer_tag, uint64_t delivery_tag,
                           bool redelivered, amq_bytes exchange, amq_bytes routing_key, amq_bytes props,
                           const void *body, uint64_t body_len, uint32_t frame_max) {
    if (w->err) return;
    if (consumer_tag.len > 255 || exchange.len > 255 || routing_key.len > 255 || props.len > UINT32_MAX - 12 ||
        body_len > (uint64_t)1 << 40) {
        w->err = AMQ_EBAD;
        return;
    }
    uint64_t chunk = frame_max > AMQ_FRAME_OVERHEAD ? frame_max - AMQ_FRAME_OVERHEAD : (1u << 30);
    uint64_t nbody = body_len / chunk + (body_len % chunk != 0);
    size_t mlen = 4 + 1 + consumer_tag.len + 8 + 1 + 1 + exchange.len + 1 + routing_key.len;
    size_t hlen = 12 + props.len;
    size_t total = (mlen + 8) + (hlen + 8) + (size_t)body_len + (size_t)nbody * 8;
    if (amq_wr_reserve(w, total) != AMQ_OK) return;
    uint8_t *p = w->data + w->len;
    p = frame_head(p, AMQ_FRAME_METHOD, channel, (uint32_t)mlen);
    p = be16(p, AMQ_CLASS_BASIC);
    p = be16(p, (uint16_t)AMQ_METHOD_OF(AMQ_BASIC_DELIVER));
    p = sstr(p, consumer_tag);
    p = be64(p, delivery_tag);
    *p++ = redelivered ? 1 : 0;
    p = sstr(p, exchange);
    p = sstr(p, routing_key);
    *p++ = AMQ_FRAME_END;
    p = frame_head(p, AMQ_FRAME_HEADER, channel, (uint32_t)hlen);
    p = be16(p, AMQ_CLASS_BASIC);
    p = be16(p, 0);
    p = be64(p, body_len);
    if (props.len) memcpy(p, props.p, props.len);
    p += props.len;
    *p++ = AMQ_FRAME_END;
    const uint8_t *b = body;
    for (uint64_t off = 0; off < body_len; off += chunk) {
        uint64_t n = body_len - off < chunk ? body_len - off : chunk;
        p = frame_head(p, AMQ_FRAME_BODY, channel, (uint32_t)n);
        memcpy(p, b + off, (size_t)n);
        p += n;
        *p++ = AMQ_FRAME_END;
    }
    w->len += total;
}
