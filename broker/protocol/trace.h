/* trace.h — firehose tracing, as RabbitMQ's rabbit_trace: while a vhost's
 * tracing is on (warrenctl trace_on), every message published into it is
 * copied to its amq.rabbitmq.trace exchange with routing key
 * "publish.EXCHANGE", and every delivery (basic.deliver, basic.get-ok) with
 * "deliver.QUEUE"; the copy carries the body and RabbitMQ's headers
 * (exchange_name, routing_keys, properties, node, and vhost, connection,
 * channel, user, plus routed_queues / redelivered). Messages of the trace
 * exchange itself are never traced (no loop). Off, the cost is the caller's
 * one relaxed load of vhost_tracing(). Runs on the channel's worker. */
#ifndef WARREN_TRACE_H
#define WARREN_TRACE_H
#include <stdbool.h>
#include <stddef.h>

#include "amq/buf.h"
#include "channel.h"

/* The routed queues' names, collected while the publish routes (an AMQP
 * array body of longstrs). */
typedef struct {
    amq_wr names;
} trace_routed;
void trace_routed_init(trace_routed *t);
void trace_routed_free(trace_routed *t);
/* A vhost_routed_fn: ctx is a trace_routed. */
void trace_routed_collect(void *ctx, queue *const *qs, size_t n);

/* m was published by ch to exchange xn with the keys rks (routing key, CC, BCC). */
void trace_publish(channel *ch, msg *m, amq_bytes xn, const amq_bytes *rks, size_t nrk, const trace_routed *routed);
/* m was delivered on ch from q. */
void trace_deliver(channel *ch, queue *q, msg *m, bool redelivered);
#endif
