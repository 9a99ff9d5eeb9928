/* amq/frame.h — frame reader and writer. */
#ifndef AMQ_FRAME_H
#define AMQ_FRAME_H
#include "amq/buf.h"

#define AMQ_FRAME_METHOD 1
#define AMQ_FRAME_HEADER 2
#define AMQ_FRAME_BODY 3
#define AMQ_FRAME_HEARTBEAT 8
#define AMQ_FRAME_END 0xCE
#define AMQ_FRAME_MIN_SIZE 4096
#define AMQ_FRAME_OVERHEAD 8 /* 7-byte header + frame-end */

extern const uint8_t AMQ_PROTOCOL_HEADER[8]; /* "AMQP\0\0\x09\x01" */

typedef struct {
    uint8_t type;
    uint16_t channel;
    amq_bytes payload; /* borrowed from the input buffer */
} amq_frame;

/* Parse one frame from buf[0..len). Returns the bytes consumed (> 0) and
 * fills *f (payload borrowed from buf); 0 when more input is needed;
 * AMQ_ETOOBIG when the declared size + 8 exceeds frame_max (checked from the
 * header alone, before the payload arrives; frame_max 0 = no limit, but a
 * frame must always fit an int); AMQ_EFRAMEEND on a bad end octet; AMQ_ETYPE
 * on an unknown type (checked from the first octet). Pure, thread-safe.
 * Channel and heartbeat rules (heartbeats on channel 0, ...) are the
 * caller's. */
int amq_frame_parse(const uint8_t *buf, size_t len, uint32_t frame_max, amq_frame *f);

/* Frame writing: begin writes the 7-byte header with a placeholder size and
 * returns its offset; end patches the size and appends 0xCE. */
size_t amq_frame_begin(amq_wr *w, uint8_t type, uint16_t channel);
void amq_frame_end(amq_wr *w, size_t begin);
void amq_put_heartbeat(amq_wr *w);

/* Content: a header frame (class, body size, encoded properties = flags +
 * values exactly as received or built) followed by body frames, each at most
 * frame_max - 8 bytes of body; no body frame for an empty body. frame_max
 * <= 8 (e.g. 0 = unlimited) means 1 GiB body frames. The header frame itself
 * is not checked against frame_max. Errors go to w->err. */
void amq_put_content(amq_wr *w, uint16_t channel, uint16_t class_id, amq_bytes props,
                     const void *body, uint64_t body_len, uint32_t frame_max);
/* Parse a content header payload (zero copy). props gets the flags+values
 * bytes (not validated: see amq_basic_props_decode). Returns AMQ_OK,
 * AMQ_ESHORT (under 14 bytes) or AMQ_EBAD (non-zero weight, which RabbitMQ
 * answers with 505 UNEXPECTED_FRAME). */
int amq_content_header_parse(amq_bytes payload, uint16_t *class_id, uint64_t *body_size,
                             amq_bytes *props);
#endif
