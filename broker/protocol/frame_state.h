/* frame_state.h — which frame a channel may get in its content state, and
 * RabbitMQ's UNEXPECTED_FRAME text for one it may not: one table
 * (frame_state.c) that conn.c and channel.c both ask. */
#ifndef WARREN_FRAME_STATE_H
#define WARREN_FRAME_STATE_H
#include <stddef.h>
#include <stdint.h>

/* NULL when a frame of type (AMQ_FRAME_METHOD, _HEADER, _BODY) fits content
 * state cstate (enum ch_content, channel.h; channel 0 is always CC_NONE), else
 * the reply text of the connection error AMQ_UNEXPECTED_FRAME it raises. */
const char *frame_unexpected_text(int cstate, uint8_t type);
/* The frame type each state expects (the per-frame check is inline: it runs
 * for every frame of every publish). */
extern const uint8_t frame_expects[3];
static inline const char *frame_unexpected(int cstate, uint8_t type) {
    return type == frame_expects[cstate] ? NULL : frame_unexpected_text(cstate, type);
}
#endif
