/* dedup.h — message deduplication, as LavinMQ and the
 * rabbitmq-message-deduplication plugin describe it: a queue or an exchange
 * declared with x-message-deduplication = true keeps a cache of the values
 * of one header (x-deduplication-header by default; the argument
 * x-deduplication-header names another one). A message whose value is in the
 * cache is a duplicate: a queue drops it (the publisher's confirm is still
 * an ack), an exchange does not route it (mandatory: returned). Messages
 * without the header are never duplicates.
 *
 * The cache: at most x-cache-size values (oldest inserted evicted first; no
 * bound if absent), each kept x-cache-ttl ms (forever if absent; a message's
 * own x-cache-ttl header overrides it). A value stays in the cache after its
 * message is consumed and acked, until it is evicted or expires.
 *
 * Each cache has its own mutex (a leaf). */
#ifndef WARREN_DEDUP_H
#define WARREN_DEDUP_H
#include <stdbool.h>

#include "amq/buf.h"

typedef struct dedup dedup;

/* A cache for these declare arguments, or NULL when deduplication is off. */
dedup *dedup_new(amq_bytes args);
void dedup_free(dedup **d);
/* Check the message (its headers table) and remember it: true when it is a
 * duplicate. NULL d: never. */
bool dedup_seen(dedup *d, amq_bytes headers);
/* Validate the arguments: 0, or 406 with a text in err. */
int dedup_check(amq_bytes args, const char *what, amq_bytes name, const char *vhost, char *err, size_t errn);
#endif
