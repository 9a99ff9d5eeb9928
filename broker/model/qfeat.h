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

/* Queue types, as bits (a row names the ones whose declare takes its argument). */
enum { QT_CLASSIC = 1, QT_QUORUM = 2, QT_STREAM = 4 };

/* ---- the registry: one row per queue feature (qfeat.c's table) ----
 * A row names the feature's x- argument and its key in a policy definition,
 * the kind of value both take (one checker per side: qfeat_check for the
 * argument at declare, policy.c for a policy's JSON value), how a policy's
 * value and the queue's own argument combine per queue type, whether
 * operator policies may set it, and which queue types take the argument. */

enum qfeat_kind {
    QK_INT,      /* an integer >= min; at declare also <= max when max > 0 */
    QK_STR,      /* a string */
    QK_ENUM,     /* a string, one of values[] */
    QK_INT_ENUM, /* an integer whose decimal text is one of values[] (policies only) */
    QK_BOOL,     /* a boolean */
    QK_AGE,      /* a string like "7D": digits then Y, M, D, h, m or s (policies only) */
    QK_ANY,      /* any value */
};

/* How a policy's value and the queue's own x-argument combine. */
enum qfeat_res {
    RES_NONE,   /* this queue type ignores the policy key (accepted, no effect) */
    RES_MIN,    /* both set: the lower wins */
    RES_ARG,    /* both set: the argument wins */
    RES_POLICY, /* both set: the policy wins */
};

enum {
    QF_DECLARE = 1,       /* the argument's value is checked at declare (RabbitMQ 3.10 checks it) */
    QF_OPERATOR = 2,      /* operator policies may set it (merged with a policy's value: the lower wins) */
    QF_EXCHANGES = 4,     /* a policy key for exchanges, not queues (alternate-exchange) */
    QF_NEEDS_DLX = 8,     /* declare: only together with x-dead-letter-exchange */
    QF_MAX_EXCEEDED = 16, /* declare: over max reads {max_value_exceeded,N}, else {value_too_large,N} */
};

typedef struct qfeat_row {
    const char *arg;                                    /* "x-message-ttl"; NULL: a policy key with no queue argument */
    const char *policy;                                 /* "message-ttl": its key in a policy definition; NULL: none */
    uint8_t kind;                                       /* enum qfeat_kind */
    uint8_t flags;                                      /* QF_* */
    uint8_t types;                                      /* QT_* bits of the queue types that take the argument */
    uint8_t res_classic, res_quorum;                    /* enum qfeat_res, per queue type */
    int64_t min, max;                                   /* QK_INT bounds (max: at declare only, 0 = none) */
    const char *const *values;                          /* QK_ENUM / QK_INT_ENUM: accepted values, NULL-terminated */
    const char *what;                                   /* a policy's error: "<value> is not a valid <what>" */
    bool (*parse)(struct qfeat *q, const amq_field *f); /* what the queue keeps; true: a feature is on */
} qfeat_row;
/* The table, in RabbitMQ's declare check order; *n rows (<= QFEAT_MAX_ROWS). */
#define QFEAT_MAX_ROWS 64
const qfeat_row *qfeat_rows(size_t *n);
/* The row whose policy key is key, or NULL. */
const qfeat_row *qfeat_policy_row(const char *key);

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
