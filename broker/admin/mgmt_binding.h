/* mgmt_binding.h — a binding as the management API shows it (the lists of
 * /api/bindings..., and the write routes that create and delete one by its
 * properties key). */
#ifndef WARREN_MGMT_BINDING_H
#define WARREN_MGMT_BINDING_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "amq/buf.h"

/* RabbitMQ's properties_key: "~" for an empty key without arguments, else
 * the key quote_plus'ed ("~" as %7E), then "~HASH" when there are arguments
 * (Warren's hash of their encoding, in RabbitMQ's 6-character base64url form;
 * RabbitMQ's own hashes the Erlang term, so the two differ for the same
 * arguments). */
void mgmt_binding_props_key(amq_bytes key, amq_bytes args, char *out, size_t n);
/* {"source","vhost","destination","destination_type","routing_key","arguments","properties_key"} */
json_t *mgmt_binding_json(const char *vhost, amq_bytes src, amq_bytes dest, bool dest_is_queue, amq_bytes key,
                          amq_bytes args);
#endif
