/* frame_state.c — the content-state table of frame_state.h: for each state a
 * channel's content assembly can be in, the frame it expects and RabbitMQ
 * 3.10's text for any other. */
#include "frame_state.h"

#include "amq/frame.h"
#include "channel.h"

/* For each state: the frame type it takes, and the error for every other type. */
const uint8_t frame_expects[3] = {
    [CC_NONE] = AMQ_FRAME_METHOD, [CC_HEADER] = AMQ_FRAME_HEADER, [CC_BODY] = AMQ_FRAME_BODY};
static const char *const other[] = {
    [CC_NONE] = "UNEXPECTED_FRAME - expected method frame, got non method frame instead",
    [CC_HEADER] = "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead",
    [CC_BODY] = "UNEXPECTED_FRAME - expected content body, got non content body frame instead",
};
_Static_assert(CC_NONE < 3 && CC_HEADER < 3 && CC_BODY < 3, "three content states");

const char *frame_unexpected_text(int cstate, uint8_t type) {
    if (type == frame_expects[cstate]) return NULL;
    /* A header while a body is due reads as a frame out of place, as RabbitMQ words it. */
    if (cstate == CC_BODY && type == AMQ_FRAME_HEADER) return other[CC_NONE];
    return other[cstate];
}
