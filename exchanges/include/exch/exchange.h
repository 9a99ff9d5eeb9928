/* exch/exchange.h — routing tables, one implementation file per exchange type
 * behind a small vtable. An exchange routes to opaque destinations (the
 * broker passes queue or exchange pointers); it never sees queues.
 *
 * Threading: an exch is not internally locked. The broker holds a lock
 * around bind/unbind (writers) and route (readers). route() only reads. */
#ifndef EXCH_EXCHANGE_H
#define EXCH_EXCHANGE_H
#include <stdbool.h>
#include <stddef.h>
#include "amq/buf.h"

/* In memory only: the byte the broker's log writes for a type is its own stable
 * encoding (broker/store/store_internal.h, enum xtype_disk). */
typedef enum { EXCH_DIRECT, EXCH_FANOUT, EXCH_TOPIC, EXCH_HEADERS } exch_type;

/* "direct" "fanout" "topic" "headers" -> type; returns 0 ok, -1 unknown. */
int exch_type_parse(amq_bytes name, exch_type *t);
const char *exch_type_name(exch_type t);

/* A de-duplicated set of destinations, filled by route. Caller owns it:
 * init once, reuse across publishes (clear keeps the storage: no malloc per
 * publish once warm), destroy at the end. */
typedef struct {
    void **v;
    size_t n, cap;
} exch_dests;
void exch_dests_init(exch_dests *d);
void exch_dests_clear(exch_dests *d);
void exch_dests_destroy(exch_dests *d);
/* Add unless already present; returns 1 added, 0 present (or dest is NULL),
 * -1 out of memory (not added). Up to 16 entries a linear scan; beyond, an
 * open-addressing set kept in the same allocation as v (so adding is O(1)). */
int exch_dests_add(exch_dests *d, void *dest);

typedef struct exch exch;

exch *exch_new(exch_type t);
void exch_free(exch **e); /* frees the routing table; NULL-safe; sets *e = NULL */
exch_type exch_get_type(const exch *e);

/* A binding is (dest, routing key, arguments); args is an encoded field table
 * body (may be empty). Two bindings are the same when dest and key are equal
 * and the arguments are equal as tables (amq_table_equal).
 * bind returns 1 added, 0 already present, <0 on a malformed headers binding
 * (EXCH_EBADMATCH: x-match not one of all/any/all-with-x/any-with-x).
 * The exchange copies key and args.
 *
 * EXCH_EBADMATCH -> the broker answers 406 PRECONDITION_FAILED with
 * RabbitMQ 3.10's exact text (checked against the reference broker):
 *   x-match is a longstr with another value, e.g. "foo" or "" :
 *     Invalid x-match field value <<"foo">>; expected all, any, all-with-x, or any-with-x
 *     Invalid x-match field value <<>>; expected all, any, all-with-x, or any-with-x
 *   x-match has another type (Erlang type name, then value):
 *     Invalid x-match field type signedint (value 1); expected longstr
 *     Invalid x-match field type binary (value <<"all">>); expected longstr
 *     Invalid x-match field type void (value undefined); expected longstr
 *   (the frame is "PRECONDITION_FAILED - " followed by that text). The
 * values are case-sensitive ("ALL" is invalid); a missing x-match means all.
 * EXCH_EINVAL: dest is NULL or args is not a well-formed table body.
 * EXCH_ENOMEM: out of memory (nothing was added).
 * dest must not be NULL: NULL marks empty slots in exch_dests. */
enum { EXCH_EBADMATCH = -20, EXCH_EINVAL = -21, EXCH_ENOMEM = -22 };
int exch_bind(exch *e, void *dest, amq_bytes key, amq_bytes args);
/* Returns 1 removed, 0 no such binding. */
int exch_unbind(exch *e, void *dest, amq_bytes key, amq_bytes args);
bool exch_has_binding(const exch *e, void *dest, amq_bytes key, amq_bytes args);
/* Remove every binding to dest; returns how many were removed. */
size_t exch_unbind_dest(exch *e, void *dest);
size_t exch_binding_count(const exch *e);

/* Append to out every destination whose binding matches (routing key for
 * direct/topic, headers table for headers, all for fanout). Adds each
 * destination at most once (exch_dests_add). */
void exch_route(const exch *e, amq_bytes routing_key, amq_bytes headers, exch_dests *out);

/* Visit every binding (for listing and for deleting). The callback must not
 * modify the exchange. */
typedef void (*exch_visit_fn)(void *ctx, void *dest, amq_bytes key, amq_bytes args);
void exch_foreach(const exch *e, exch_visit_fn fn, void *ctx);

/* Pure matchers, exposed for unit tests and reuse. */
bool exch_topic_match(amq_bytes pattern, amq_bytes key);
/* binding args (with x-match) against message headers. */
bool exch_headers_match(amq_bytes binding_args, amq_bytes headers);
#endif
