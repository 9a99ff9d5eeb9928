/* frame_state.c — the content-state table of frame_state.h: for each state a
 * channel's content assembly can be in, the frame it expects and RabbitMQ
 * 3.10's text for any other. */
#include "frame_state.h"

#include "amq/frame.h"
#include "channel.h"

static const struct {
    uint8_t expects;   /* the frame type this state takes */
    const char *other; /* the error for every other type */
} states[] = {
    [CC_NONE] = {AMQ_FRAME_METHOD, "UNEXPECTED_FRAME - expected method frame, got non method frame instead"},
    [CC_HEADER] = {AMQ_FRAME_HEADER,
                   "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead"},
    [CC_BODY] = {AMQ_FRAME_BODY, "UNEXPECTED_FRAME - expected content body, got non content body frame instead"},
};

const char *frame_unexpected(int cstate, uint8_t type) {
    if (type == states[cstate].expects) return NULL;
    /* A header while a body is due reads as a frame out of place, as RabbitMQ words it. */
    if (cstate == CC_BODY && type == AMQ_FRAME_HEADER) return states[CC_NONE].other;
    return states[cstate].other;
}
