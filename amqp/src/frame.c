/* frame.c — frame reader and writer. */
#include "amq/frame.h"

#include <limits.h>

const uint8_t AMQ_PROTOCOL_HEADER[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};

static bool frame_type_known(uint8_t t) {
    return t == AMQ_FRAME_METHOD || t == AMQ_FRAME_HEADER || t == AMQ_FRAME_BODY ||
           t == AMQ_FRAME_HEARTBEAT;
}

/* frame_max 0 means "no negotiated limit"; the result must still fit an int. */
int amq_frame_parse(const uint8_t *buf, size_t len, uint32_t frame_max, amq_frame *f) {
    if (len < 1) return 0;
    if (!frame_type_known(buf[0])) return AMQ_ETYPE;
    if (len < 7) return 0;
    uint64_t size = (uint64_t)buf[3] << 24 | (uint64_t)buf[4] << 16 | (uint64_t)buf[5] << 8 | buf[6];
    uint64_t total = size + AMQ_FRAME_OVERHEAD;
    if ((frame_max && total > frame_max) || total > INT_MAX) return AMQ_ETOOBIG;
    if (len < total) return 0;
    if (buf[total - 1] != AMQ_FRAME_END) return AMQ_EFRAMEEND;
    f->type = buf[0];
    f->channel = (uint16_t)(buf[1] << 8 | buf[2]);
    f->payload.p = buf + 7;
    f->payload.len = (size_t)size;
    return (int)total;
}

size_t amq_frame_begin(amq_wr *w, uint8_t type, uint16_t channel) {
    size_t at = w->len;
    amq_put_u8(w, type);
    amq_put_u16(w, channel);
    amq_put_u32(w, 0);
    return at;
}

void amq_frame_end(amq_wr *w, size_t begin) {
    if (w->err) return;
    if (begin > w->len || w->len - begin < 7 || w->len - begin - 7 > UINT32_MAX) {
        w->err = AMQ_EBAD;
        return;
    }
    amq_patch_u32(w, begin + 3, (uint32_t)(w->len - begin - 7));
    amq_put_u8(w, AMQ_FRAME_END);
}

void amq_put_heartbeat(amq_wr *w) {
    amq_frame_end(w, amq_frame_begin(w, AMQ_FRAME_HEARTBEAT, 0));
}

/* Body bytes per body frame; a frame_max too small to carry any body
 * (including 0 = unlimited) gets one frame of up to 1 GiB. */
static uint64_t frame_body_chunk(uint32_t frame_max) {
    return frame_max > AMQ_FRAME_OVERHEAD ? frame_max - AMQ_FRAME_OVERHEAD : (1u << 30);
}

void amq_put_content(amq_wr *w, uint16_t channel, uint16_t class_id, amq_bytes props,
                     const void *body, uint64_t body_len, uint32_t frame_max) {
    uint64_t chunk = frame_body_chunk(frame_max);
    uint64_t nframes = body_len / chunk + (body_len % chunk != 0);
    if (body_len > SIZE_MAX / 2 || props.len > SIZE_MAX / 2) {
        if (w->err == 0) w->err = AMQ_ETOOBIG;
        return;
    }
    if (amq_wr_reserve(w, 22 + props.len + (size_t)body_len + (size_t)nframes * 8) != AMQ_OK) return;
    size_t at = amq_frame_begin(w, AMQ_FRAME_HEADER, channel);
    amq_put_u16(w, class_id);
    amq_put_u16(w, 0); /* weight */
    amq_put_u64(w, body_len);
    amq_put_raw(w, props.p, props.len);
    amq_frame_end(w, at);
    const uint8_t *p = body;
    for (uint64_t off = 0; off < body_len; off += chunk) {
        uint64_t n = body_len - off < chunk ? body_len - off : chunk;
        at = amq_frame_begin(w, AMQ_FRAME_BODY, channel);
        amq_put_raw(w, p + off, (size_t)n);
        amq_frame_end(w, at);
    }
}

/* A non-zero weight is AMQ_EBAD: RabbitMQ does not take such a frame as a
 * content header (it answers 505 UNEXPECTED_FRAME). */
int amq_content_header_parse(amq_bytes payload, uint16_t *class_id, uint64_t *body_size,
                             amq_bytes *props) {
    amq_rd r = {payload.p, payload.len, 0};
    uint16_t weight;
    if (payload.len < 14) return AMQ_ESHORT; /* class, weight, size, flags */
    amq_get_u16(&r, class_id);
    amq_get_u16(&r, &weight);
    amq_get_u64(&r, body_size);
    if (weight != 0) return AMQ_EBAD;
    return amq_get_raw(&r, payload.len - r.off, props);
}
