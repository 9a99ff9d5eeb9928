/* consumer_timeout.c — RabbitMQ's consumer_timeout: a delivery (to a consumer
 * or by basic.get) that waits for its ack longer than the configured time
 * closes its channel with 406, and the channel's unacked messages go back to
 * their queues as at any channel close. Checked on the connection's 1 s tick
 * against the channel's oldest unacked delivery, so the cost is one look per
 * channel per second. RabbitMQ 3.10 checks once a minute; Warren within a
 * second of the deadline. Config key: consumer_timeout (ms, false/0 = off). */
#include "channel.h"
#include "config.h"

void consumer_timeout_check(channel *ch, uint64_t now) {
    uint64_t t = config.consumer_timeout_ms;
    if (!t || ch->state != CH_OPEN) return;
    const unacked *u = channel_oldest_unacked(ch);
    if (!u || now < u->delivered_ms || now - u->delivered_ms <= t) return;
    werr e;
    werr_set(&e, AMQ_PRECONDITION_FAILED,
             "PRECONDITION_FAILED - delivery acknowledgement on channel %u timed out. Timeout value used: %llu ms. "
             "This timeout value can be configured, see consumers doc guide to learn more",
             ch->id, (unsigned long long)t);
    channel_raise(ch, 0, &e);
}
