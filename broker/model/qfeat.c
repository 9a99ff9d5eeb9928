/* qfeat.c — the queue arguments: one table (args_table) naming each x-
 * argument, its policy key, its value check and the queue types that take it;
 * validation at declare (qfeat_check, qfeat_check_type) runs over that table.
 * Also parses the features a queue keeps (qfeat_parse: TTL, length limits,
 * overflow, dead-lettering, expiry), a message's expiration property, and the
 * x-delivery-count header quorum queues add. */
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

enum { INT_NONNEG, INT_POSITIVE, INT_EXPIRY, INT_PRIORITY };

/* Check an integer argument; writes RabbitMQ's reason into why. */
static bool check_int(const amq_field *f, int kind, char *why, size_t n) {
    int64_t v;
    if (!is_int(f) || !amq_field_as_i64(f, &v)) {
        snprintf(why, n, "\"expected integer, got %s\"", type_name(f->type));
        return false;
    }
    if (v < 0) {
        snprintf(why, n, "{value_negative,%lld}", (long long)v);
        return false;
    }
    if (kind == INT_POSITIVE && v == 0) {
        snprintf(why, n, "{value_zero,0}");
        return false;
    }
    if ((kind == INT_EXPIRY || kind == INT_POSITIVE) && v > QFEAT_MAX_EXPIRY) {
        snprintf(why, n, "{value_too_large,%lld}", (long long)v);
        return false;
    }
    if (kind == INT_PRIORITY && v > 255) {
        snprintf(why, n, "{max_value_exceeded,%lld}", (long long)v);
        return false;
    }
    return true;
}

/* ---- value checks, one per row kind: QCHECK_OK, or QCHECK_ARG with
 * RabbitMQ's reason in why ("invalid arg ..."), or QCHECK_TYPE ("invalid
 * type ..."). They see the whole table for checks across arguments. ---- */
enum { QCHECK_OK, QCHECK_ARG, QCHECK_TYPE };

static int check_positive(const amq_field *f, amq_bytes args, char *why, size_t n) {
    (void)args;
    return check_int(f, INT_POSITIVE, why, n) ? QCHECK_OK : QCHECK_ARG;
}
static int check_expiry(const amq_field *f, amq_bytes args, char *why, size_t n) {
    (void)args;
    return check_int(f, INT_EXPIRY, why, n) ? QCHECK_OK : QCHECK_ARG;
}
static int check_nonneg(const amq_field *f, amq_bytes args, char *why, size_t n) {
    (void)args;
    return check_int(f, INT_NONNEG, why, n) ? QCHECK_OK : QCHECK_ARG;
}
static int check_priority(const amq_field *f, amq_bytes args, char *why, size_t n) {
    (void)args;
    return check_int(f, INT_PRIORITY, why, n) ? QCHECK_OK : QCHECK_ARG;
}
static int check_str(const amq_field *f, amq_bytes args, char *why, size_t n) {
    (void)args, (void)why, (void)n;
    return is_str(f) ? QCHECK_OK : QCHECK_TYPE;
}
static int check_dlrk(const amq_field *f, amq_bytes args, char *why, size_t n) {
    amq_field dlx;
    if (!is_str(f)) return QCHECK_TYPE;
    if (amq_table_get(args, "x-dead-letter-exchange", &dlx) == 1) return QCHECK_OK;
    snprintf(why, n, "routing_key_but_no_dlx_defined");
    return QCHECK_ARG;
}
static int check_overflow(const amq_field *f, amq_bytes args, char *why, size_t n) {
    (void)args;
    if (!is_str(f)) {
        snprintf(why, n, "{unacceptable_type,%s}", type_name(f->type));
        return QCHECK_ARG;
    }
    if (amq_bytes_eqs(f->v.str, "drop-head") || amq_bytes_eqs(f->v.str, "reject-publish") ||
        amq_bytes_eqs(f->v.str, "reject-publish-dlx"))
        return QCHECK_OK;
    snprintf(why, n, "invalid_overflow");
    return QCHECK_ARG;
}
static int check_bool(const amq_field *f, amq_bytes args, char *why, size_t n) {
    (void)args;
    if (f->type == 't') return QCHECK_OK;
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

#define QT_CQ (QT_CLASSIC | QT_QUORUM)

/* The queue arguments, one row each: its x- name, its policy key (RabbitMQ's
 * name for it in a policy definition; NULL = not settable by policy), the
 * check of its value (NULL = none made at declare, as in RabbitMQ 3.10), and
 * the queue types that take it (RabbitMQ 3.10's declare_args per type; a
 * stream-typed declare is not type-checked yet, so no row names QT_STREAM:
 * the stream queue type adds its bit to the rows it takes).
 * Rows are in RabbitMQ's order: value checks run top to bottom, and so does
 * the type check, so the first offending argument is the one it names.
 * parse: what the queue keeps of it in struct qfeat (NULL: another part of
 * the queue reads it at declare: x-max-priority, x-single-active-consumer,
 * x-delivery-limit, in queue.c and queue_quorum.c).
 * A new argument is a row here, its check and parse, and its behaviour where
 * the queue uses it. */
static const qfeat_arg args_table[] = {
    {"x-expires", "expires", check_positive, QT_CQ, parse_expires},
    {"x-message-ttl", "message-ttl", check_expiry, QT_CQ, parse_ttl},
    {"x-dead-letter-exchange", "dead-letter-exchange", check_str, QT_CQ, parse_dlx},
    {"x-dead-letter-routing-key", "dead-letter-routing-key", check_dlrk, QT_CQ, parse_dlrk},
    {"x-max-length", "max-length", check_nonneg, QT_CQ, parse_max_len},
    {"x-max-length-bytes", "max-length-bytes", check_nonneg, QT_CQ, parse_max_bytes},
    {"x-max-priority", NULL, check_priority, QT_CLASSIC, NULL},
    {"x-queue-mode", "queue-mode", NULL, QT_CLASSIC, NULL},
    {"x-queue-master-locator", "queue-master-locator", NULL, QT_CLASSIC, NULL},
    {"x-dead-letter-strategy", "dead-letter-strategy", NULL, QT_QUORUM, NULL},
    {"x-max-in-memory-length", "max-in-memory-length", NULL, QT_QUORUM, NULL},
    {"x-max-in-memory-bytes", "max-in-memory-bytes", NULL, QT_QUORUM, NULL},
    {"x-quorum-initial-group-size", NULL, NULL, QT_QUORUM, NULL},
    {"x-delivery-limit", "delivery-limit", NULL, QT_QUORUM, NULL},
    {"x-max-age", "max-age", NULL, 0, NULL},
    {"x-stream-max-segment-size-bytes", "stream-max-segment-size-bytes", NULL, 0, NULL},
    {"x-initial-cluster-size", NULL, NULL, 0, NULL},
    {"x-queue-leader-locator", "queue-leader-locator", NULL, QT_QUORUM, NULL},
    {"x-overflow", "overflow", check_overflow, QT_CQ, parse_overflow},
    {"x-single-active-consumer", NULL, check_bool, QT_CQ, NULL},
};

const qfeat_arg *qfeat_args(size_t *n) {
    *n = sizeof args_table / sizeof args_table[0];
    return args_table;
}

int qfeat_check(amq_bytes args, amq_bytes qname, const char *vhost, char *err, size_t errn) {
    if (!args.len) return 0;
    char why[160];
    amq_field f;
    for (size_t i = 0; i < sizeof args_table / sizeof args_table[0]; i++) {
        const qfeat_arg *a = &args_table[i];
        if (!a->check || amq_table_get(args, a->key, &f) != 1) continue;
        why[0] = 0;
        int r = a->check(&f, args, why, sizeof why);
        if (r == QCHECK_TYPE) {
            snprintf(err, errn, "PRECONDITION_FAILED - invalid type '%s' for arg '%s' in queue '%.*s' in vhost '%s'",
                     type_name(f.type), a->key, (int)qname.len, qname.p, vhost);
            return 406;
        }
        if (r == QCHECK_ARG) {
            snprintf(err, errn, "PRECONDITION_FAILED - invalid arg '%s' for queue '%.*s' in vhost '%s': %s", a->key,
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
    for (size_t i = 0; i < sizeof args_table / sizeof args_table[0]; i++)
        if (args_table[i].parse && amq_table_get(args, args_table[i].key, &f) == 1) any |= args_table[i].parse(&q, &f);
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
    for (size_t i = 0; i < sizeof args_table / sizeof args_table[0]; i++) {
        const qfeat_arg *a = &args_table[i];
        if ((a->types & t->qt) || amq_table_get(args, a->key, &f) != 1) continue;
        snprintf(err, errn, "PRECONDITION_FAILED - invalid arg '%s' for queue '%.*s' in vhost '%s' of queue type %s",
                 a->key, (int)qname.len, qname.p, vhost, t->rabbit_name);
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
