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
struct werr;
struct conn;

#define REPLY_TO_QUEUE "amq.rabbitmq.reply-to"

bool reply_to_is_queue(amq_bytes name);  /* exactly "amq.rabbitmq.reply-to" */
bool reply_to_is_target(amq_bytes name); /* "amq.rabbitmq.reply-to.<token>" */
/* Register the channel's reply consumer (tag given); returns 0, or -1 if the
 * channel already has one. Owner thread. */
int reply_to_consume(struct channel *ch, amq_bytes tag);
/* Drop the channel's registration (cancel / close). */
void reply_to_drop(struct channel *ch);
/* Deliver m to the consumer named rk; returns 1 if delivered, 0 if none.
 * Worker thread of from, the publishing connection.
 *
 * Flow control: a reply is delivered even when the requester's connection is
 * over its output limit (CONN_OUT_HIGH, the limit queue deliveries stop at),
 * but then the publishing connection is no longer read from (from->reply_wait)
 * until that output drains under CONN_OUT_LOW or the reply consumer goes away,
 * so a requester that does not read holds at most its output limit plus one
 * read batch per replier, all of it counted in mem_used(). */
int reply_to_deliver(amq_bytes rk, msg *m, struct conn *from);
/* Replies posted to a consumer and not yet written, above which repliers wait too. */
#define REPLY_INFLIGHT_MAX 64
struct consumer;
/* A reply to c was just taken from the mailbox (c's owner thread, c alive). */
void reply_to_delivered(struct consumer *c);
/* The connection of ch drained its output: wake the repliers held for ch's
 * reply consumer (owner thread of ch). */
void reply_to_drained(struct channel *ch);
/* Is the consumer c->reply_wait waits for still over its limit? If not,
 * clear it and let c read again (owner thread of c). */
void reply_to_recheck(struct conn *c);
/* c is being freed: drop its reply_wait reference. */
void reply_to_conn_free(struct conn *c);
#endif
