/* qfeat.c — the queue features' registry: one table (rows[]) naming each
 * feature's x- argument, its policy key, the kind of value it takes, how a
 * policy and the argument combine per queue type, whether operator policies
 * may set it, and the queue types that take it. Validation at declare
 * (qfeat_check, qfeat_check_type) runs over that table with one checker
 * driven by the row's kind; policy.c validates and resolves policy keys
 * over the same rows. Also parses the features a queue keeps (qfeat_parse:
 * TTL, length limits, overflow, dead-lettering, expiry), a message's
 * expiration property, and the x-delivery-count header quorum queues add. */
#include "qfeat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amq/methods.h"
#include "amq/table.h"
#include "message.h"
#include "queue_type.h"
#include "util.h"

/* RabbitMQ's names of field types, as its error texts print them. */
static const char *type_name(char t) {
    switch (t) {
    case 'b': return "byte";
    case 'B': return "unsignedbyte";
    case 's': return "short";
    case 'u': return "unsignedshort";
    case 'I': return "signedint";
    case 'i': return "unsignedint";
    case 'l':
    case 'L': return "long";
    case 'f': return "float";
    case 'd': return "double";
    case 'D': return "decimal";
    case 'S': return "longstr";
    case 'x': return "binary";
    case 't': return "bool";
    case 'T': return "timestamp";
    case 'F': return "table";
    case 'A': return "array";
    default: return "void";
    }
}

const char *qfeat_type_name(char t) { return type_name(t); }

static bool is_int(const amq_field *f) { return strchr("bBsuIilL", f->type) != NULL && f->type != 0; }

static bool is_str(const amq_field *f) { return f->type == 'S' || f->type == 'x'; }

/* ---- the value check at declare, driven by the row's kind: QCHECK_OK, or
 * QCHECK_ARG with RabbitMQ's reason in why ("invalid arg ..."), or
 * QCHECK_TYPE ("invalid type ..."). It sees the whole table for checks
 * across arguments (x-dead-letter-routing-key needs x-dead-letter-exchange). ---- */
enum { QCHECK_OK, QCHECK_ARG, QCHECK_TYPE };

static int check_value(const qfeat_row *r, const amq_field *f, amq_bytes args, char *why, size_t n) {
    amq_field dlx;
    int64_t v;
    switch (r->kind) {
    case QK_INT:
        if (!is_int(f) || !amq_field_as_i64(f, &v)) {
            snprintf(why, n, "\"expected integer, got %s\"", type_name(f->type));
            return QCHECK_ARG;
        }
        if (v < 0) snprintf(why, n, "{value_negative,%lld}", (long long)v);
        else if (v < r->min) snprintf(why, n, "{value_zero,%lld}", (long long)v);
        else if (r->max && v > r->max)
            snprintf(why, n, "{%s,%lld}", r->flags & QF_MAX_EXCEEDED ? "max_value_exceeded" : "value_too_large",
                     (long long)v);
        else return QCHECK_OK;
        return QCHECK_ARG;
    case QK_STR:
        if (!is_str(f)) return QCHECK_TYPE;
        if (!(r->flags & QF_NEEDS_DLX) || amq_table_get(args, "x-dead-letter-exchange", &dlx) == 1) return QCHECK_OK;
        snprintf(why, n, "routing_key_but_no_dlx_defined");
        return QCHECK_ARG;
    case QK_ENUM:
        if (!is_str(f)) break;
        for (size_t i = 0; r->values[i]; i++)
            if (amq_bytes_eqs(f->v.str, r->values[i])) return QCHECK_OK;
        snprintf(why, n, "invalid_%s", r->policy); /* invalid_overflow */
        return QCHECK_ARG;
    case QK_BOOL:
        if (f->type == 't') return QCHECK_OK;
        break;
    default: return QCHECK_OK;
    }
    snprintf(why, n, "{unacceptable_type,%s}", type_name(f->type));
    return QCHECK_ARG;
}

/* ---- what a queue keeps of a (validated) argument, per row: each sets its
 * field of struct qfeat and returns true when that turns a feature on (a
 * queue whose arguments turn none on keeps q->feat NULL). ---- */

static int64_t int_of(const amq_field *f) {
    int64_t v;
    return is_int(f) && amq_field_as_i64(f, &v) && v >= 0 ? v : -1;
}
static bool parse_expires(qfeat *q, const amq_field *f) { return (q->expires = int_of(f)) > 0; }
static bool parse_ttl(qfeat *q, const amq_field *f) { return (q->msg_ttl = int_of(f)) >= 0; }
static bool parse_max_len(qfeat *q, const amq_field *f) { return (q->max_len = int_of(f)) >= 0; }
static bool parse_max_bytes(qfeat *q, const amq_field *f) { return (q->max_bytes = int_of(f)) >= 0; }
static bool parse_overflow(qfeat *q, const amq_field *f) {
    if (!is_str(f)) return false;
    if (amq_bytes_eqs(f->v.str, "reject-publish")) q->overflow = OVF_REJECT_PUBLISH;
    else if (amq_bytes_eqs(f->v.str, "reject-publish-dlx")) q->overflow = OVF_REJECT_PUBLISH_DLX;
    return false; /* a policy on overflow alone, with no limit, changes nothing */
}
static bool parse_dlx(qfeat *q, const amq_field *f) {
    if (!is_str(f) || f->v.str.len > 255) return false;
    q->has_dlx = true;
    q->dlx_len = (uint8_t)f->v.str.len;
    memcpy(q->dlx, f->v.str.p, f->v.str.len);
    return true;
}
static bool parse_dlrk(qfeat *q, const amq_field *f) { /* after x-dead-letter-exchange's row */
    if (!q->has_dlx || !is_str(f) || f->v.str.len > 255) return false;
    q->has_dlrk = true;
    q->dlrk_len = (uint8_t)f->v.str.len;
    memcpy(q->dlrk, f->v.str.p, f->v.str.len);
    return false;
}

static const char *const overflow_v[] = {"drop-head", "reject-publish", "reject-publish-dlx", NULL};
static const char *const queue_mode_v[] = {"default", "lazy", NULL};
static const char *const queue_version_v[] = {"1", "2", NULL};
static const char *const leader_v[] = {"client-local", "random", "least-leaders", "balanced", NULL};
static const char *const dl_strategy_v[] = {"at-most-once", "at-least-once", NULL};
static const char *const master_v[] = {"min-masters", "client-local", "random", NULL};
static const char *const ha_mode_v[] = {"all", "exactly", "nodes", NULL};
static const char *const ha_sync_v[] = {"manual", "automatic", NULL};
static const char *const ha_promote_v[] = {"always", "when-synced", NULL};

#define QT_CQ (QT_CLASSIC | QT_QUORUM)
#define DECL QF_DECLARE
#define OP QF_OPERATOR
#define EXPIRY QFEAT_MAX_EXPIRY

/* The queue features, one row each (the facts are RabbitMQ 3.10.8's:
 * rabbit_amqqueue's declare_args and its per-type checks, rabbit_policies and
 * the queue types' policy tables, checked against the reference broker):
 *   arg      its x- argument (NULL: a policy key with no queue argument)
 *   policy   its key in a policy definition (NULL: not settable by policy)
 *   kind     the value both take (QK_*: one checker each for an argument at
 *            declare, here, and a policy's JSON value, in policy.c)
 *   flags    QF_DECLARE: the argument's value is checked at declare (not
 *            all are, as in 3.10); QF_OPERATOR: operator policies may set it;
 *            QF_EXCHANGES: a policy key for exchanges; QF_NEEDS_DLX,
 *            QF_MAX_EXCEEDED: see qfeat.h
 *   types    the queue types whose declare takes the argument (a
 *            stream-typed declare is not type-checked yet, so no row names
 *            QT_STREAM: the stream queue type adds its bit to the rows it takes)
 *   classic, quorum  argument vs policy per queue type (RES_MIN: the lower
 *            wins; RES_ARG / RES_POLICY: that one wins; RES_NONE: a policy
 *            sets it with no effect in Warren)
 *   min, max, values, what  the kind's bounds or accepted values, and
 *            RabbitMQ's word for it in a policy error
 *   parse    what the queue keeps of it in struct qfeat (NULL: nothing, or
 *            another part of the queue reads it at declare: x-max-priority,
 *            x-single-active-consumer, x-delivery-limit, in queue.c and
 *            queue_quorum.c)
 * Argument rows are in RabbitMQ's order: value checks run top to bottom, and
 * so does the type check, so the first offending argument is the one named;
 * x-dead-letter-routing-key's parse needs x-dead-letter-exchange's before it.
 * A new queue argument is a row here (plus a parse function and a struct
 * qfeat field when the queue keeps a value) and its behaviour where the
 * queue uses it. */
static const qfeat_row rows[] = {
    /* arg, policy, kind, flags, types, classic, quorum, min, max, values, what, parse */
    {"x-expires", "expires", QK_INT, DECL | OP, QT_CQ, RES_MIN, RES_POLICY, 1, EXPIRY, NULL, "queue expiry",
     parse_expires},
    {"x-message-ttl", "message-ttl", QK_INT, DECL | OP, QT_CQ, RES_MIN, RES_MIN, 0, EXPIRY, NULL, "message TTL",
     parse_ttl},
    {"x-dead-letter-exchange", "dead-letter-exchange", QK_STR, DECL, QT_CQ, RES_ARG, RES_ARG, 0, 0, NULL,
     "dead letter exchange name", parse_dlx},
    {"x-dead-letter-routing-key", "dead-letter-routing-key", QK_STR, DECL | QF_NEEDS_DLX, QT_CQ, RES_ARG, RES_ARG, 0, 0,
     NULL, "dead letter routing key", parse_dlrk},
    {"x-max-length", "max-length", QK_INT, DECL | OP, QT_CQ, RES_MIN, RES_MIN, 0, 0, NULL, "maximum length",
     parse_max_len},
    {"x-max-length-bytes", "max-length-bytes", QK_INT, DECL | OP, QT_CQ, RES_MIN, RES_MIN, 0, 0, NULL,
     "maximum length in bytes", parse_max_bytes},
    {"x-max-priority", NULL, QK_INT, DECL | QF_MAX_EXCEEDED, QT_CLASSIC, RES_NONE, RES_NONE, 0, 255, NULL, NULL, NULL},
    {"x-queue-mode", "queue-mode", QK_ENUM, 0, QT_CLASSIC, RES_NONE, RES_NONE, 0, 0, queue_mode_v, "queue-mode value",
     NULL},
    {"x-queue-master-locator", "queue-master-locator", QK_ENUM, 0, QT_CLASSIC, RES_NONE, RES_NONE, 0, 0, master_v,
     "queue-master-locator value", NULL},
    {"x-dead-letter-strategy", "dead-letter-strategy", QK_ENUM, 0, QT_QUORUM, RES_NONE, RES_NONE, 0, 0, dl_strategy_v,
     "dead letter strategy", NULL},
    /* 3.10's text for both in-memory limits is "maximum memory in bytes" */
    {"x-max-in-memory-length", "max-in-memory-length", QK_INT, OP, QT_QUORUM, RES_NONE, RES_NONE, 0, 0, NULL,
     "maximum memory in bytes", NULL},
    {"x-max-in-memory-bytes", "max-in-memory-bytes", QK_INT, OP, QT_QUORUM, RES_NONE, RES_NONE, 0, 0, NULL,
     "maximum memory in bytes", NULL},
    {"x-quorum-initial-group-size", NULL, QK_ANY, 0, QT_QUORUM, RES_NONE, RES_NONE, 0, 0, NULL, NULL, NULL},
    {"x-delivery-limit", "delivery-limit", QK_INT, OP, QT_QUORUM, RES_NONE, RES_MIN, 0, 0, NULL, "delivery limit",
     NULL},
    {"x-max-age", "max-age", QK_AGE, 0, 0, RES_NONE, RES_NONE, 0, 0, NULL, "max age", NULL},
    {"x-stream-max-segment-size-bytes", "stream-max-segment-size-bytes", QK_INT, 0, 0, RES_NONE, RES_NONE, 0, 0, NULL,
     "segment size", NULL},
    {"x-initial-cluster-size", "initial-cluster-size", QK_INT, 0, 0, RES_NONE, RES_NONE, 0, 0, NULL, "cluster size",
     NULL},
    {"x-queue-leader-locator", "queue-leader-locator", QK_ENUM, 0, QT_QUORUM, RES_NONE, RES_NONE, 0, 0, leader_v,
     "queue leader locator value", NULL},
    {"x-overflow", "overflow", QK_ENUM, DECL, QT_CQ, RES_ARG, RES_POLICY, 0, 0, overflow_v, "overflow value",
     parse_overflow},
    {"x-single-active-consumer", NULL, QK_BOOL, DECL, QT_CQ, RES_NONE, RES_NONE, 0, 0, NULL, NULL, NULL},
    /* policy keys with no queue argument */
    {NULL, "alternate-exchange", QK_STR, QF_EXCHANGES, 0, RES_NONE, RES_NONE, 0, 0, NULL, "alternate exchange name",
     NULL},
    {NULL, "queue-version", QK_INT_ENUM, 0, 0, RES_NONE, RES_NONE, 0, 0, queue_version_v, "queue-version value", NULL},
    {NULL, "ha-mode", QK_ENUM, 0, 0, RES_NONE, RES_NONE, 0, 0, ha_mode_v, "ha-mode value", NULL},
    {NULL, "ha-params", QK_ANY, 0, 0, RES_NONE, RES_NONE, 0, 0, NULL, "ha-params value", NULL},
    {NULL, "ha-sync-mode", QK_ENUM, 0, 0, RES_NONE, RES_NONE, 0, 0, ha_sync_v, "ha-sync-mode value", NULL},
    {NULL, "ha-sync-batch-size", QK_INT, 0, 0, RES_NONE, RES_NONE, 1, 0, NULL, "ha-sync-batch-size value", NULL},
    {NULL, "ha-promote-on-shutdown", QK_ENUM, 0, 0, RES_NONE, RES_NONE, 0, 0, ha_promote_v,
     "ha-promote-on-shutdown value", NULL},
    {NULL, "ha-promote-on-failure", QK_ENUM, 0, 0, RES_NONE, RES_NONE, 0, 0, ha_promote_v,
     "ha-promote-on-failure value", NULL},
};
#undef DECL
#undef OP
#undef EXPIRY
#define NROWS (sizeof rows / sizeof rows[0])
_Static_assert(NROWS <= QFEAT_MAX_ROWS, "QFEAT_MAX_ROWS: raise it");

const qfeat_row *qfeat_rows(size_t *n) {
    *n = NROWS;
    return rows;
}

const qfeat_row *qfeat_policy_row(const char *key) {
    for (size_t i = 0; i < NROWS; i++)
        if (rows[i].policy && !strcmp(rows[i].policy, key)) return &rows[i];
    return NULL;
}

int qfeat_check(amq_bytes args, amq_bytes qname, const char *vhost, char *err, size_t errn) {
    if (!args.len) return 0;
    char why[160];
    amq_field f;
    for (size_t i = 0; i < NROWS; i++) {
        const qfeat_row *a = &rows[i];
        if (!(a->flags & QF_DECLARE) || amq_table_get(args, a->arg, &f) != 1) continue;
        why[0] = 0;
        int r = check_value(a, &f, args, why, sizeof why);
        if (r == QCHECK_TYPE) {
            snprintf(err, errn, "PRECONDITION_FAILED - invalid type '%s' for arg '%s' in queue '%.*s' in vhost '%s'",
                     type_name(f.type), a->arg, (int)qname.len, qname.p, vhost);
            return 406;
        }
        if (r == QCHECK_ARG) {
            snprintf(err, errn, "PRECONDITION_FAILED - invalid arg '%s' for queue '%.*s' in vhost '%s': %s", a->arg,
                     (int)qname.len, qname.p, vhost, why);
            return 406;
        }
    }
    return 0;
}

qfeat *qfeat_parse(amq_bytes args) {
    if (!args.len) return NULL;
    qfeat q;
    memset(&q, 0, sizeof q);
    q.msg_ttl = q.max_len = q.max_bytes = q.expires = -1;
    bool any = false;
    amq_field f;
    for (size_t i = 0; i < NROWS; i++)
        if (rows[i].parse && amq_table_get(args, rows[i].arg, &f) == 1) any |= rows[i].parse(&q, &f);
    if (!any) return NULL;
    qfeat *r = xmalloc(sizeof *r);
    *r = q;
    return r;
}

int qfeat_parse_expiration(amq_bytes s, int64_t *ms, char *why, size_t whyn) {
    size_t i = 0;
    bool neg = false;
    if (i < s.len && (s.p[i] == '-' || s.p[i] == '+')) neg = s.p[i++] == '-';
    if (i >= s.len || s.p[i] < '0' || s.p[i] > '9') {
        snprintf(why, whyn, "no_integer");
        return -1;
    }
    int64_t v = 0;
    bool big = false;
    for (; i < s.len && s.p[i] >= '0' && s.p[i] <= '9'; i++) {
        if (v > (INT64_MAX - 9) / 10) big = true;
        else v = v * 10 + (s.p[i] - '0');
    }
    if (i < s.len) {
        snprintf(why, whyn, "{leftover_string,\"%.*s\"}", (int)(s.len - i), s.p + i);
        return -1;
    }
    if (neg) {
        snprintf(why, whyn, "{value_negative,-%.*s}", (int)(s.len - 1), s.p + 1);
        return -1;
    }
    if (big || v > QFEAT_MAX_EXPIRY) {
        snprintf(why, whyn, "{value_too_large,%.*s}", (int)s.len, s.p);
        return -1;
    }
    *ms = v;
    return 0;
}

int qfeat_check_type(amq_bytes args, const queue_type *t, amq_bytes qname, const char *vhost, char *err, size_t errn) {
    if (!args.len) return 0;
    amq_field f;
    for (size_t i = 0; i < NROWS; i++) {
        const qfeat_row *a = &rows[i];
        if (!a->arg || (a->types & t->qt) || amq_table_get(args, a->arg, &f) != 1) continue;
        snprintf(err, errn, "PRECONDITION_FAILED - invalid arg '%s' for queue '%.*s' in vhost '%s' of queue type %s",
                 a->arg, (int)qname.len, qname.p, vhost, t->rabbit_name);
        return 406;
    }
    return 0;
}

int64_t qfeat_delivery_limit(amq_bytes args) {
    amq_field f;
    int64_t v;
    /* RabbitMQ 3.10 does not validate it: a non-integer or negative value means no limit */
    if (amq_table_get(args, "x-delivery-limit", &f) == 1 && is_int(&f) && amq_field_as_i64(&f, &v) && v >= 0) return v;
    return -1;
}

msg *qfeat_with_delivery_count(const msg *m, int64_t n) {
    amq_basic_props p;
    memset(&p, 0, sizeof p);
    if (m->props_len && amq_basic_props_decode(msg_props(m), &p) != AMQ_OK) return NULL;
    amq_wr hw, pw;
    amq_wr_init(&hw);
    amq_wr_init(&pw);
    if (p.flags & AMQ_BASIC_PROP_HEADERS) { /* every header but the old count, in order */
        amq_rd r = {p.headers.p, p.headers.len, 0};
        amq_bytes k;
        amq_field f;
        while (amq_table_next(&r, &k, &f) == 1) {
            if (amq_bytes_eqs(k, "x-delivery-count")) continue;
            amq_put_shortstr(&hw, k);
            amq_put_field(&hw, &f);
        }
    }
    if (n >= 0) {
        amq_field f = amq_field_i64(n);
        amq_put_shortstr(&hw, amq_cstr("x-delivery-count"));
        amq_put_field(&hw, &f);
    }
    p.headers = (amq_bytes){hw.data, hw.len};
    if (hw.len) p.flags |= AMQ_BASIC_PROP_HEADERS;
    else p.flags &= (uint16_t)~AMQ_BASIC_PROP_HEADERS;
    amq_basic_props_encode(&pw, &p);
    msg *r = NULL;
    if (!hw.err && !pw.err && (r = msg_with_props(m, (amq_bytes){pw.data, pw.len}))) {
        r->pos = m->pos;
        r->returns = m->returns;
    }
    amq_wr_destroy(&hw);
    amq_wr_destroy(&pw);
    return r;
}
