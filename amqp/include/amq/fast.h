/* amq/fast.h — straight-line encoders for the frames written once per message. */
#ifndef AMQ_FAST_H
#define AMQ_FAST_H
#include "amq/buf.h"

/* basic.deliver, its content header (props = flags + values as received) and
 * body frames of at most frame_max - 8 bytes: the same bytes as
 * amq_put_method_frame + amq_put_content, in one reservation. Sets w->err on
 * an oversized field or allocation failure. Any thread (w is the caller's). */
void amq_put_basic_deliver(amq_wr *w, uint16_t channel, amq_bytes consumer_tag, uint64_t delivery_tag,
                           bool redelivered, amq_bytes exchange, amq_bytes routing_key, amq_bytes props,
                           const void *body, uint64_t body_len, uint32_t frame_max);
#endif
