/* reply_to.h — RabbitMQ's direct reply-to (amq.rabbitmq.reply-to).
 *
 * A channel that consumes from the pseudo-queue "amq.rabbitmq.reply-to"
 * (no-ack only) gets a unique name "amq.rabbitmq.reply-to.<token>"; requests
 * it publishes with reply_to = "amq.rabbitmq.reply-to" carry that name, and a
 * reply published to the default exchange with it as routing key goes
 * straight to the consumer, with no queue in between. A process-wide table
 * (one mutex, touched only by reply-to traffic) maps names to consumers. */
#ifndef WARREN_REPLY_TO_H
#define WARREN_REPLY_TO_H
#include <stdbool.h>
#include "amq/buf.h"
#include "message.h"

struct channel;
struct ch_err;

#define REPLY_TO_QUEUE "amq.rabbitmq.reply-to"

bool reply_to_is_queue(amq_bytes name);  /* exactly "amq.rabbitmq.reply-to" */
bool reply_to_is_target(amq_bytes name); /* "amq.rabbitmq.reply-to.<token>" */
/* Register the channel's reply consumer (tag given); returns 0, or -1 if the
 * channel already has one. Owner thread. */
int reply_to_consume(struct channel *ch, amq_bytes tag);
/* Drop the channel's registration (cancel / close). */
void reply_to_drop(struct channel *ch);
/* Deliver m to the consumer named rk; returns 1 if delivered, 0 if none. Any thread. */
int reply_to_deliver(amq_bytes rk, msg *m);
#endif
