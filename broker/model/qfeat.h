/* qfeat.h — the optional queue features RabbitMQ drives with declare
 * arguments: message TTL, dead-lettering, length limits (issue 5).
 *
 * A queue declared with none of these arguments has q->feat == NULL and
 * pays nothing for them. A qfeat is parsed from the arguments resolved with
 * the policies (policy.h) and is immutable: a policy change replaces it. */
#ifndef WARREN_QFEAT_H
#define WARREN_QFEAT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amq/buf.h"
#include "amq/table.h"

/* RabbitMQ's upper bound on TTLs and expirations (ten years, in ms). */
#define QFEAT_MAX_EXPIRY 315360000000LL

enum { OVF_DROP_HEAD, OVF_REJECT_PUBLISH, OVF_REJECT_PUBLISH_DLX };

typedef struct qfeat {
    int64_t msg_ttl;   /* x-message-ttl, -1 = none */
    int64_t max_len;   /* x-max-length, -1 = none */
    int64_t max_bytes; /* x-max-length-bytes, -1 = none */
    int64_t expires;   /* x-expires, -1 = none */
    uint8_t overflow;  /* OVF_* */
    bool has_dlx, has_dlrk;
    char dlx[256], dlrk[256];
    uint8_t dlx_len, dlrk_len;
} qfeat;

/* Queue types, as bits (a qfeat_arg row names the ones that take it). */
enum { QT_CLASSIC = 1, QT_QUORUM = 2, QT_STREAM = 4 };

/* One queue argument (qfeat.c's table). check: NULL = no value check at
 * declare; else QCHECK_OK (0), or non-zero with RabbitMQ's reason in why. */
typedef struct qfeat_arg {
    const char *key;    /* "x-message-ttl" */
    const char *policy; /* "message-ttl": its key in a policy definition, NULL = none */
    int (*check)(const amq_field *f, amq_bytes args, char *why, size_t n);
    int types;                                          /* QT_* bits of the queue types that take it */
    bool (*parse)(struct qfeat *q, const amq_field *f); /* what the queue keeps; true: a feature is on */
} qfeat_arg;
/* The table, in RabbitMQ's check order; *n rows. */
const qfeat_arg *qfeat_args(size_t *n);

/* Validate the arguments RabbitMQ checks; 0 or 406 with RabbitMQ's text in err. */
int qfeat_check(amq_bytes args, amq_bytes qname, const char *vhost, char *err, size_t errn);
/* The features of a validated argument table, or NULL when it sets none. */
qfeat *qfeat_parse(amq_bytes args);
/* Queue arguments the queue type t does not take: 0, or 406 with RabbitMQ's
 * text ("... of queue type rabbit_quorum_queue"). */
struct queue_type;
int qfeat_check_type(amq_bytes args, const struct queue_type *t, amq_bytes qname, const char *vhost, char *err,
                     size_t errn);
/* x-delivery-limit of a quorum queue, -1 = none. */
int64_t qfeat_delivery_limit(amq_bytes args);
/* A copy of m (same log position) whose headers carry x-delivery-count = n
 * as RabbitMQ's quorum queues add it, or without that header when n < 0.
 * NULL when out of memory or the properties do not decode. */
struct msg;
struct msg *qfeat_with_delivery_count(const struct msg *m, int64_t n);
/* RabbitMQ's name of an AMQP field type ("longstr", "signedint", ...). */
const char *qfeat_type_name(char t);
/* Parse a message's expiration property: 0 and *ms, or -1 with RabbitMQ's
 * reason ("no_integer", "{value_negative,-1}", ...) in why. */
int qfeat_parse_expiration(amq_bytes s, int64_t *ms, char *why, size_t whyn);
#endif
