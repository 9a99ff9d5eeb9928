/* vhost.c — the vhost table, and per vhost its exchanges, queues and
 * bindings: declare, delete, bind, the checks and texts RabbitMQ gives, and
 * publish routing (through exchanges/) to the queues a message reaches. */
#include "vhost_impl.h"
#include "dedup.h"
#include "delayed.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amq/methods.h"
#include "amq/table.h"
#include "names.h"
#include "policy.h"
#include "qfeat.h"
#include "queue_type.h"
#include "durable.h"
#include "util.h"

/* Routing-table destinations are tagged pointers: a queue as is, an exchange
 * with the low bit set (both are at least 8-byte aligned). */
#define XDEST(x) ((void *)((uintptr_t)(x) | 1u))
#define IS_XDEST(d) (((uintptr_t)(d)) & 1u)
#define XOF(d) ((exchange *)((uintptr_t)(d) & ~(uintptr_t)1u))

static vhost *default_vhost;

const char *vhost_name(const vhost *v) { return v->name; }
bool vhost_is_deleted(const vhost *v) { return atomic_load_explicit(&v->deleted, memory_order_relaxed); }
static void queue_remove_locked(vhost *v, queue *q, uint32_t *count);
/* How a queue or exchange is declared: by a client (every rule applies), under
 * a name the broker generated (exempt from the 'amq.' prefix rule), or restored
 * from the log (none of the client-side rules apply: the broker wrote it). */
typedef enum { DECL_CLIENT, DECL_SERVER_NAMED, DECL_RESTORE } decl_how;
static int queue_declare(vhost *v, amq_bytes name, decl_how how, bool passive, bool durable, bool exclusive,
                         bool auto_delete, amq_bytes args, uint64_t conn_id, queue **out, werr *e);

void route_set_init(route_set *r) {
    exch_dests_init(&r->dests);
    exch_dests_init(&r->visited);
}

void route_set_destroy(route_set *r) {
    exch_dests_destroy(&r->dests);
    exch_dests_destroy(&r->visited);
}

/* ---- exchanges ---- */

static exchange *exchange_new(amq_bytes name, exch_type t, bool durable, bool auto_delete, bool internal,
                              amq_bytes args) {
    exchange *x = xcalloc(1, sizeof *x);
    if (name.len > NAME_MAX_BYTES) name.len = NAME_MAX_BYTES; /* never reached: the declare paths refuse it */
    x->name_len = (uint8_t)name.len;
    memcpy(x->name, name.p, name.len);
    x->type = t;
    x->rt = exch_new(t);
    x->durable = durable;
    x->auto_delete = auto_delete;
    x->internal = internal;
    x->args = bytes_dup(args);
    amq_field f;
    if (args.len && amq_table_get(args, "alternate-exchange", &f) == 1 && (f.type == 'S' || f.type == 'x'))
        x->alt = xstrndup_bytes(f.v.str);
    x->dedup = dedup_new(args);
    return x;
}

static void exchange_free(exchange *x) {
    if (!x) return;
    exch_free(&x->rt);
    free((void *)x->args.p);
    free(x->alt);
    free(x->policy[0]);
    free(x->policy[1]);
    dedup_free(&x->dedup);
    free(x);
}

static amq_bytes xname(const exchange *x) { return (amq_bytes){(const uint8_t *)x->name, x->name_len}; }

static void predeclare(vhost *v, const char *name, exch_type t, bool internal) {
    amq_bytes n = amq_cstr(name);
    strmap_put(&v->exchanges, n, exchange_new(n, t, true, false, internal, (amq_bytes){0}));
}

static vhost *vhost_new(const char *name) {
    vhost *v = xcalloc(1, sizeof *v);
    pthread_rwlock_init(&v->lock, NULL);
    snprintf(v->name, sizeof v->name, "%s", name);
    strmap_init(&v->exchanges);
    strmap_init(&v->queues);
    stat_set_init(&v->hot.st);
    predeclare(v, "", EXCH_DIRECT, false);
    predeclare(v, "amq.direct", EXCH_DIRECT, false);
    predeclare(v, "amq.fanout", EXCH_FANOUT, false);
    predeclare(v, "amq.topic", EXCH_TOPIC, false);
    predeclare(v, "amq.headers", EXCH_HEADERS, false);
    predeclare(v, "amq.match", EXCH_HEADERS, false);
    predeclare(v, VHOST_TRACE_EXCHANGE, EXCH_TOPIC, true); /* firehose tracing (internal, as RabbitMQ's) */
    return v;
}

/* The vhost table. Deleted vhosts go to a graveyard and are freed only at
 * exit: connections, queues and consumers may still point at them. */
static pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;
static vhost **table, **graveyard;
static size_t ntable, captable, ngrave, capgrave;

static void push(vhost ***a, size_t *n, size_t *cap, vhost *v) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *a = xrealloc(*a, *cap * sizeof **a);
    }
    (*a)[(*n)++] = v;
}

void vhosts_init(void) {}

static void vhost_free(vhost *v) {
    size_t it = 0;
    exchange *x;
    while ((x = strmap_next(&v->exchanges, &it, NULL))) exchange_free(x);
    it = 0;
    queue *q;
    while ((q = strmap_next(&v->queues, &it, NULL))) {
        queue_delete(q);
        queue_unref(&q);
    }
    strmap_destroy(&v->exchanges);
    strmap_destroy(&v->queues);
    policy_free_all(v); /* policy.c */
    pthread_rwlock_destroy(&v->lock);
    stat_set_free(&v->hot.st);
    free(v);
}

void vhosts_destroy(void) {
    pthread_rwlock_wrlock(&table_lock);
    for (size_t i = 0; i < ntable; i++) vhost_free(table[i]);
    for (size_t i = 0; i < ngrave; i++) vhost_free(graveyard[i]);
    free(table);
    free(graveyard);
    table = graveyard = NULL;
    ntable = captable = ngrave = capgrave = 0;
    pthread_rwlock_unlock(&table_lock);
    default_vhost = NULL;
}

static vhost *find_locked(amq_bytes name) {
    for (size_t i = 0; i < ntable; i++)
        if (amq_bytes_eqs(name, table[i]->name)) return table[i];
    return NULL;
}

vhost *vhost_find(amq_bytes name) {
    pthread_rwlock_rdlock(&table_lock);
    vhost *v = find_locked(name);
    pthread_rwlock_unlock(&table_lock);
    return v;
}

int vhost_add(const char *name, bool *created) {
    if (created) *created = false;
    if (!*name || strlen(name) > 255) return -1;
    pthread_rwlock_wrlock(&table_lock);
    if (!find_locked(amq_cstr(name))) {
        vhost *v = vhost_new(name);
        push(&table, &ntable, &captable, v);
        if (!strcmp(name, "/")) default_vhost = v;
        store_vhost_added(name);
        if (created) *created = true;
    }
    pthread_rwlock_unlock(&table_lock);
    return 0;
}

int vhost_delete(const char *name) {
    pthread_rwlock_wrlock(&table_lock);
    vhost *v = NULL;
    for (size_t i = 0; i < ntable; i++)
        if (!strcmp(table[i]->name, name)) {
            v = table[i];
            table[i] = table[--ntable];
            break;
        }
    if (v) {
        if (v == default_vhost) default_vhost = NULL;
        push(&graveyard, &ngrave, &capgrave, v);
        store_vhost_deleted(name);
    }
    pthread_rwlock_unlock(&table_lock);
    if (!v) return -1;
    /* Empty it: queues go (their consumers are cancelled), then exchanges. */
    pthread_rwlock_wrlock(&v->lock);
    atomic_store(&v->deleted, true);
    for (;;) {
        size_t it = 0;
        queue *q = strmap_next(&v->queues, &it, NULL);
        if (!q) break;
        queue_remove_locked(v, q, NULL);
    }
    for (;;) {
        size_t it = 0;
        exchange *x = strmap_next(&v->exchanges, &it, NULL);
        if (!x) break;
        strmap_del(&v->exchanges, xname(x));
        exchange_free(x);
    }
    pthread_rwlock_unlock(&v->lock);
    return 0;
}

size_t vhost_names(char ***out) {
    pthread_rwlock_rdlock(&table_lock);
    char **v = xcalloc(ntable + 1, sizeof *v);
    for (size_t i = 0; i < ntable; i++) v[i] = xstrdup(table[i]->name);
    size_t n = ntable;
    pthread_rwlock_unlock(&table_lock);
    *out = v;
    return n;
}

void vhost_names_free(char **names) {
    for (size_t i = 0; names && names[i]; i++) free(names[i]);
    free(names);
}

void vhost_foreach(void (*cb)(void *ctx, vhost *v), void *ctx) {
    pthread_rwlock_rdlock(&table_lock);
    for (size_t i = 0; i < ntable; i++) cb(ctx, table[i]);
    pthread_rwlock_unlock(&table_lock);
}

static int default_exchange_refused(werr *e);

static bool reserved_name(amq_bytes n) { return n.len >= 4 && memcmp(n.p, "amq.", 4) == 0; }

static const char *tf(bool b) { return b ? "true" : "false"; }

/* A name or key over AMQP's shortstr limit (only definitions and the control
 * socket can send one; they check first: this is the last line of defence). */
static int too_long(werr *e, vhost *v, amq_bytes name, const char *what) {
    char t[sizeof e->text - 32];
    name_check_in(name, what, v->name, t, sizeof t);
    return werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - %s", t);
}

static int exchange_declare(vhost *v, amq_bytes name, amq_bytes type, bool passive, bool durable, bool auto_delete,
                            bool internal, amq_bytes args, decl_how how, werr *e);

int vhost_exchange_declare(vhost *v, amq_bytes name, amq_bytes type, bool passive, bool durable, bool auto_delete,
                           bool internal, amq_bytes args, werr *e) {
    return exchange_declare(v, name, type, passive, durable, auto_delete, internal, args, DECL_CLIENT, e);
}

int vhost_exchange_restore(vhost *v, amq_bytes name, amq_bytes type, bool durable, bool auto_delete, bool internal,
                           amq_bytes args, werr *e) {
    return exchange_declare(v, name, type, false, durable, auto_delete, internal, args, DECL_RESTORE, e);
}

static int exchange_declare(vhost *v, amq_bytes name, amq_bytes type, bool passive, bool durable, bool auto_delete,
                            bool internal, amq_bytes args, decl_how how, werr *e) {
    int rc = 0;
    exch_type t = EXCH_DIRECT;
    bool delayed = delayed_is_type(type);
    bool type_ok = delayed || exch_type_parse(type, &t) == 0;
    if (name.len == 0) return default_exchange_refused(e);
    if (name.len > NAME_MAX_BYTES) return too_long(e, v, name, "exchange name");
    pthread_rwlock_wrlock(&v->lock);
    exchange *x = strmap_get(&v->exchanges, name);
    if (passive) {
        if (!x)
            rc = werr_set(e, AMQ_NOT_FOUND, "NOT_FOUND - no exchange '%.*s' in vhost '%s'", (int)name.len, name.p,
                          v->name);
        goto out;
    }
    if (!type_ok) {
        rc = werr_set(e, AMQ_COMMAND_INVALID, "COMMAND_INVALID - unknown exchange type '%.*s'", (int)type.len, type.p);
        goto out;
    }
    if (x) {
        const char *arg = NULL;
        char got[64], cur[64];
        if (x->delayed != delayed || (!delayed && x->type != t)) {
            arg = "type";
            snprintf(got, sizeof got, "%s", delayed ? "x-delayed-message" : exch_type_name(t));
            snprintf(cur, sizeof cur, "%s", vhost_exchange_type_name(x));
        } else if (x->durable != durable) {
            arg = "durable";
            snprintf(got, sizeof got, "%s", tf(durable));
            snprintf(cur, sizeof cur, "%s", tf(x->durable));
        } else if (x->auto_delete != auto_delete) {
            arg = "auto_delete";
            snprintf(got, sizeof got, "%s", tf(auto_delete));
            snprintf(cur, sizeof cur, "%s", tf(x->auto_delete));
        } else if (x->internal != internal) {
            arg = "internal";
            snprintf(got, sizeof got, "%s", tf(internal));
            snprintf(cur, sizeof cur, "%s", tf(x->internal));
        }
        if (arg)
            rc = werr_set(e, AMQ_PRECONDITION_FAILED,
                          "PRECONDITION_FAILED - inequivalent arg '%s' for exchange '%.*s' in vhost "
                          "'%s': received '%s' but current is '%s'",
                          arg, (int)name.len, name.p, v->name, got, cur);
        goto out;
    }
    if (how != DECL_RESTORE && reserved_name(name)) {
        rc = werr_set(e, AMQ_ACCESS_REFUSED, "ACCESS_REFUSED - exchange name '%.*s' contains reserved prefix 'amq.*'",
                      (int)name.len, name.p);
        goto out;
    }
    char derr[300];
    int dcode = how == DECL_RESTORE ? 0 : dedup_check(args, "exchange", name, v->name, derr, sizeof derr);
    if (dcode) {
        rc = werr_set(e, dcode, "%s", derr);
        goto out;
    }
    if (delayed) {
        char err[200];
        int code = delayed_check_args(args, &t, err, sizeof err);
        if (code && how == DECL_RESTORE) { /* written by a version that accepted it: keep the exchange */
            log_warn("recovery: delayed exchange '%.*s' in vhost '%s': %s; it routes as a direct exchange",
                     (int)name.len, name.p, v->name, err);
            t = EXCH_DIRECT;
        } else if (code) {
            rc = werr_set(e, code, "%s", err);
            goto out;
        }
    }
    x = exchange_new(name, t, durable, auto_delete, internal, args);
    x->delayed = delayed;
    policy_apply_exchange(v, x); /* policy.c: alternate-exchange by policy */
    strmap_put(&v->exchanges, name, x);
    store_exchange_declared(v, x);
out:
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

/* Remove every binding that targets dest from every exchange. Write-locked.
 * Auto-delete exchanges left without bindings are deleted too. */
static void unbind_everywhere(vhost *v, void *dest);

static void exchange_remove_locked(vhost *v, exchange *x) {
    if (x->durable) store_exchange_deleted(v, xname(x));
    strmap_del(&v->exchanges, xname(x));
    unbind_everywhere(v, XDEST(x));
    exchange_free(x);
}

static void maybe_autodelete_x(vhost *v, exchange *x) {
    if (x->auto_delete && exch_binding_count(x->rt) == 0) exchange_remove_locked(v, x);
}

static void unbind_everywhere(vhost *v, void *dest) {
    exchange *emptied[64];
    size_t nempty = 0;
    size_t it = 0;
    exchange *x;
    while ((x = strmap_next(&v->exchanges, &it, NULL)))
        if (exch_unbind_dest(x->rt, dest) && x->auto_delete && exch_binding_count(x->rt) == 0 && nempty < 64)
            emptied[nempty++] = x;
    for (size_t i = 0; i < nempty; i++) maybe_autodelete_x(v, emptied[i]);
}

static int no_exchange(werr *e, vhost *v, amq_bytes name) {
    return werr_set(e, AMQ_NOT_FOUND, "NOT_FOUND - no exchange '%.*s' in vhost '%s'", (int)name.len, name.p, v->name);
}

static int default_exchange_refused(werr *e) {
    return werr_set(e, AMQ_ACCESS_REFUSED, "ACCESS_REFUSED - operation not permitted on the default exchange");
}

bool vhost_exchange_exists(vhost *v, amq_bytes name) {
    pthread_rwlock_rdlock(&v->lock);
    bool r = strmap_get(&v->exchanges, name) != NULL;
    pthread_rwlock_unlock(&v->lock);
    return r;
}

int vhost_exchange_delete(vhost *v, amq_bytes name, bool if_unused, werr *e) {
    int rc = 0;
    if (name.len == 0) return default_exchange_refused(e);
    if (reserved_name(name))
        return werr_set(e, AMQ_ACCESS_REFUSED,
                        "ACCESS_REFUSED - deletion of system exchange '%.*s' in vhost '%s' not allowed", (int)name.len,
                        name.p, v->name);
    pthread_rwlock_wrlock(&v->lock);
    exchange *x = strmap_get(&v->exchanges, name);
    if (!x) goto out; /* RabbitMQ 3.x: deleting a missing exchange succeeds */
    if (if_unused) {
        bool used = exch_binding_count(x->rt) > 0;
        if (used) {
            rc = werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - exchange '%.*s' in vhost '%s' in use",
                          (int)name.len, name.p, v->name);
            goto out;
        }
    }
    exchange_remove_locked(v, x);
out:
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

/* A refused bind: RabbitMQ's 406 wording for a bad x-match (exch/exchange.h). */
static int bind_error(werr *e, int err, amq_bytes args) {
    if (err != EXCH_EBADMATCH)
        return werr_set(e, err == EXCH_ENOMEM ? AMQ_INTERNAL_ERROR : AMQ_PRECONDITION_FAILED,
                        err == EXCH_ENOMEM ? "INTERNAL_ERROR - out of memory"
                                           : "PRECONDITION_FAILED - invalid binding arguments");
    amq_field f;
    if (amq_table_get(args, "x-match", &f) == 1 && f.type == 'S')
        return werr_set(e, AMQ_PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - Invalid x-match field value <<\"%.*s\">>; expected all, any, "
                        "all-with-x, or any-with-x",
                        (int)f.v.str.len, f.v.str.p);
    if (f.type == 'x')
        return werr_set(
            e, AMQ_PRECONDITION_FAILED,
            "PRECONDITION_FAILED - Invalid x-match field type binary (value <<\"%.*s\">>); expected longstr",
            (int)f.v.str.len, f.v.str.p);
    return werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - Invalid x-match field type; expected longstr");
}

int vhost_exchange_bind(vhost *v, amq_bytes dest, amq_bytes src, amq_bytes key, amq_bytes args, bool unbind, werr *e) {
    int rc = 0;
    if (dest.len == 0 || src.len == 0) return default_exchange_refused(e);
    if (dest.len > NAME_MAX_BYTES) return too_long(e, v, dest, "exchange name");
    if (src.len > NAME_MAX_BYTES) return too_long(e, v, src, "exchange name");
    if (key.len > NAME_MAX_BYTES) return too_long(e, v, key, "routing key");
    pthread_rwlock_wrlock(&v->lock);
    exchange *d = strmap_get(&v->exchanges, dest), *s = strmap_get(&v->exchanges, src);
    if (unbind && (!d || !s)) {
        /* RabbitMQ 3.x: unbinding something that does not exist succeeds */
    } else if (!d) {
        rc = no_exchange(e, v, dest);
    } else if (!s) {
        rc = no_exchange(e, v, src);
    } else if (unbind) {
        if (exch_unbind(s->rt, XDEST(d), key, args) == 1) {
            store_binding(v, src, false, dest, key, args, false);
            maybe_autodelete_x(v, s);
        }
    } else {
        int b = exch_bind(s->rt, XDEST(d), key, args);
        if (b < 0) rc = bind_error(e, b, args);
        else if (b == 1 && s->durable && d->durable) store_binding(v, src, false, dest, key, args, true);
    }
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

/* ---- queues ---- */

static int no_queue(werr *e, vhost *v, amq_bytes name) {
    return werr_set(e, AMQ_NOT_FOUND, "NOT_FOUND - no queue '%.*s' in vhost '%s'", (int)name.len, name.p, v->name);
}

static int locked(werr *e, vhost *v, amq_bytes name) {
    return werr_set(e, AMQ_RESOURCE_LOCKED,
                    "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '%.*s' in vhost "
                    "'%s'. It could be originally declared on another connection or the exclusive "
                    "property value does not match that of the original declaration.",
                    (int)name.len, name.p, v->name);
}

void vhost_gen_queue_name(char *out, size_t n) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    static _Atomic uint64_t counter;
    uint64_t x = atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull ^ now_ms() ^ (uint64_t)(uintptr_t)out;
    size_t len = strlen("amq.gen-");
    memcpy(out, "amq.gen-", len);
    for (int i = 0; i < 22 && len + 1 < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[len++] = alphabet[x & 63];
    }
    out[len] = 0;
}

/* A field value as RabbitMQ prints it in an inequivalent-arg error. */
static void field_text(const amq_field *f, char *out, size_t n) {
    int64_t i;
    if (!f) snprintf(out, n, "none");
    else if (amq_field_as_i64(f, &i)) snprintf(out, n, "'%lld'", (long long)i);
    else if (f->type == 'S' || f->type == 'x') snprintf(out, n, "'%.*s'", (int)f->v.str.len, f->v.str.p);
    else if (f->type == 't') snprintf(out, n, "'%s'", f->v.b ? "true" : "false");
    else snprintf(out, n, "a value of type '%c'", f->type);
}

static bool field_eq(const amq_field *a, const amq_field *b) {
    int64_t x, y;
    if (amq_field_as_i64(a, &x) && amq_field_as_i64(b, &y)) return x == y;
    if (a->type != b->type) return false;
    if (a->type == 'S' || a->type == 'x' || a->type == 'F' || a->type == 'A') return amq_bytes_eq(a->v.str, b->v.str);
    if (a->type == 't') return a->v.b == b->v.b;
    if (a->type == 'd') return a->v.f64 == b->v.f64;
    if (a->type == 'f') return a->v.f32 == b->v.f32;
    return a->type == 'V';
}

/* First argument whose presence or value differs between a and b: its key
 * in key, and its values. Returns false when the tables are equivalent. */
static bool first_diff(amq_bytes got, amq_bytes cur, char *key, size_t kn, char *gv, char *cv, size_t vn) {
    for (int pass = 0; pass < 2; pass++) {
        amq_bytes from = pass ? cur : got, other = pass ? got : cur;
        amq_rd r = {from.p, from.len, 0};
        amq_bytes k;
        amq_field f, g;
        while (amq_table_next(&r, &k, &f) == 1) {
            snprintf(key, kn, "%.*s", (int)k.len, k.p);
            int found = amq_table_get(other, key, &g);
            if (found == 1 && field_eq(&f, &g)) continue;
            field_text(pass ? (found == 1 ? &g : NULL) : &f, gv, vn);
            field_text(pass ? &f : (found == 1 ? &g : NULL), cv, vn);
            return true;
        }
    }
    return false;
}

static int check_queue_equiv(vhost *v, queue *q, bool durable, bool auto_delete, amq_bytes args, werr *e) {
    const char *arg = NULL;
    bool got = false, cur = false;
    if (q->durable != durable) {
        arg = "durable", got = durable, cur = q->durable;
    } else if (q->auto_delete != auto_delete) {
        arg = "auto_delete", got = auto_delete, cur = q->auto_delete;
    }
    if (arg)
        return werr_set(e, AMQ_PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - inequivalent arg '%s' for queue '%s' in vhost '%s': "
                        "received '%s' but current is '%s'",
                        arg, q->name, v->name, tf(got), tf(cur));
    char key[256], gv[128], cv[128];
    if (first_diff(args, q->args, key, sizeof key, gv, cv, sizeof gv))
        return werr_set(e, AMQ_PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - inequivalent arg '%s' for queue '%s' in vhost '%s': "
                        "received %s but current is %s",
                        key, q->name, v->name, gv, cv);
    return 0;
}

static bool exclusive_other(const queue *q, uint64_t conn_id) { return q->exclusive && q->owner_conn != conn_id; }

/* Validate the queue arguments this version understands, in RabbitMQ 3.10's
 * order: the queue type, arguments the type refuses, values, then the
 * properties quorum queues refuse. */
static int check_queue_args(vhost *v, amq_bytes name, amq_bytes args, bool durable, bool exclusive, bool auto_delete,
                            werr *e) {
    amq_field f;
    const queue_type *t = &queue_type_classic;
    if (amq_table_get(args, "x-queue-type", &f) == 1) {
        bool str = f.type == 'S' || f.type == 'x';
        if (!str || !(t = queue_type_find(f.v.str)) || !f.v.str.len)
            return werr_set(e, AMQ_PRECONDITION_FAILED,
                            "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue '%.*s' in vhost '%s'",
                            (int)name.len, name.p, v->name);
    }
    int rc;
    if (t->check_args && (rc = qfeat_check_type(args, t, name, v->name, e->text, sizeof e->text))) return rc;
    if ((rc = qfeat_check(args, name, v->name, e->text, sizeof e->text))) return rc;
    if ((rc = dedup_check(args, "queue", name, v->name, e->text, sizeof e->text))) return rc;
    if (t->durable_only && (auto_delete || exclusive || !durable))
        return werr_set(e, AMQ_PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - invalid property '%s' for queue '%.*s' in vhost '%s'",
                        auto_delete ? "auto-delete"
                        : exclusive ? "exclusive-owner"
                                    : "non-durable",
                        (int)name.len, name.p, v->name);
    return 0;
}

int vhost_queue_declare(vhost *v, amq_bytes name, bool passive, bool durable, bool exclusive, bool auto_delete,
                        amq_bytes args, uint64_t conn_id, queue **out, werr *e) {
    char gen[64];
    if (name.len == 0 && !passive) {
        vhost_gen_queue_name(gen, sizeof gen);
        name = amq_cstr(gen);
        return vhost_queue_declare_generated(v, name, durable, exclusive, auto_delete, args, conn_id, out, e);
    }
    return queue_declare(v, name, DECL_CLIENT, passive, durable, exclusive, auto_delete, args, conn_id, out, e);
}

int vhost_queue_declare_generated(vhost *v, amq_bytes name, bool durable, bool exclusive, bool auto_delete,
                                  amq_bytes args, uint64_t conn_id, queue **out, werr *e) {
    return queue_declare(v, name, DECL_SERVER_NAMED, false, durable, exclusive, auto_delete, args, conn_id, out, e);
}

int vhost_queue_restore(vhost *v, amq_bytes name, bool auto_delete, amq_bytes args, queue **out, werr *e) {
    return queue_declare(v, name, DECL_RESTORE, false, true, false, auto_delete, args, 0, out, e);
}

static int queue_declare(vhost *v, amq_bytes name, decl_how how, bool passive, bool durable, bool exclusive,
                         bool auto_delete, amq_bytes args, uint64_t conn_id, queue **out, werr *e) {
    *out = NULL;
    int rc = 0;
    if (name.len > NAME_MAX_BYTES) return too_long(e, v, name, "queue name");
    pthread_rwlock_wrlock(&v->lock);
    queue *q = strmap_get(&v->queues, name);
    if (passive) {
        if (!q) rc = no_queue(e, v, name);
        else if (exclusive_other(q, conn_id)) rc = locked(e, v, name);
        goto out;
    }
    if (q && how == DECL_RESTORE) goto out; /* declared twice in the log: the first one stands */
    if (q) {
        if (exclusive_other(q, conn_id) || q->exclusive != exclusive) rc = locked(e, v, name);
        else rc = check_queue_equiv(v, q, durable, auto_delete, args, e);
        goto out;
    }
    if (how == DECL_CLIENT && reserved_name(name)) {
        rc = werr_set(e, AMQ_ACCESS_REFUSED, "ACCESS_REFUSED - queue name '%.*s' contains reserved prefix 'amq.*'",
                      (int)name.len, name.p);
        goto out;
    }
    /* Restored queues skip the argument checks: a later version's stricter rule must not drop a queue. */
    if (how != DECL_RESTORE && (rc = check_queue_args(v, name, args, durable, exclusive, auto_delete, e))) goto out;
    q = queue_new(v, name, durable, exclusive, auto_delete, args, exclusive ? conn_id : 0);
    policy_apply_queue(v, q); /* policy.c: the matching policies' keys */
    strmap_put(&v->queues, name, q);
    store_queue_declared(v, q);
    if (how != DECL_RESTORE) stat_add2(&v->hot.st, STAT_Q_CREATED, 1);
out:
    if (!rc && q && !passive && how != DECL_RESTORE) stat_add2(&v->hot.st, STAT_Q_DECLARED, 1);
    if (!rc && q) {
        queue_touch(q);
        queue_ref(q);
        *out = q;
    }
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

int vhost_queue_get(vhost *v, amq_bytes name, uint64_t conn_id, queue **out, werr *e) {
    int rc = 0;
    *out = NULL;
    pthread_rwlock_rdlock(&v->lock);
    queue *q = strmap_get(&v->queues, name);
    if (!q) rc = no_queue(e, v, name);
    else if (exclusive_other(q, conn_id)) rc = locked(e, v, name);
    else {
        queue_ref(q);
        *out = q;
    }
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

int vhost_queue_bind(vhost *v, amq_bytes qname, amq_bytes xname_, amq_bytes key, amq_bytes args, bool unbind,
                     uint64_t conn_id, werr *e) {
    int rc = 0;
    if (xname_.len == 0) return default_exchange_refused(e);
    if (qname.len > NAME_MAX_BYTES) return too_long(e, v, qname, "queue name");
    if (xname_.len > NAME_MAX_BYTES) return too_long(e, v, xname_, "exchange name");
    if (key.len > NAME_MAX_BYTES) return too_long(e, v, key, "routing key");
    pthread_rwlock_wrlock(&v->lock);
    queue *q = strmap_get(&v->queues, qname);
    exchange *x = strmap_get(&v->exchanges, xname_);
    if (unbind && (!q || !x))
        ; /* RabbitMQ 3.x: unbinding something that does not exist succeeds */
    else if (!q) rc = no_queue(e, v, qname);
    else if (!x) rc = no_exchange(e, v, xname_);
    else if (exclusive_other(q, conn_id)) rc = locked(e, v, qname);
    else if (unbind) {
        if (exch_unbind(x->rt, q, key, args) == 1) {
            if (q->qid) store_binding(v, xname_, true, qname, key, args, false);
            maybe_autodelete_x(v, x);
        }
    } else {
        int b = exch_bind(x->rt, q, key, args);
        if (b < 0) rc = bind_error(e, b, args);
        else if (b == 1 && x->durable && q->qid) store_binding(v, xname_, true, qname, key, args, true);
    }
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

static void queue_remove_locked(vhost *v, queue *q, uint32_t *count) {
    stat_add2(&v->hot.st, STAT_Q_DELETED, 1);
    store_queue_deleted(v, q);
    strmap_del(&v->queues, queue_name(q));
    unbind_everywhere(v, q);
    uint32_t n = queue_delete(q);
    if (count) *count = n;
    queue_unref(&q);
}

int vhost_queue_delete(vhost *v, amq_bytes name, bool if_unused, bool if_empty, uint64_t conn_id, uint32_t *count,
                       werr *e) {
    int rc = 0;
    *count = 0;
    pthread_rwlock_wrlock(&v->lock);
    queue *q = strmap_get(&v->queues, name);
    if (!q) goto out; /* RabbitMQ 3.x: deleting a missing queue succeeds with 0 */
    if (exclusive_other(q, conn_id)) {
        rc = locked(e, v, name);
        goto out;
    }
    uint32_t msgs, cons;
    queue_counts(q, &msgs, &cons);
    if (if_unused && cons) {
        rc = werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - queue '%.*s' in vhost '%s' in use",
                      (int)name.len, name.p, v->name);
        goto out;
    }
    if (if_empty && msgs) {
        rc = werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - queue '%.*s' in vhost '%s' not empty",
                      (int)name.len, name.p, v->name);
        goto out;
    }
    queue_remove_locked(v, q, count);
out:
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

void vhost_queue_autodelete(vhost *v, queue *q) {
    if (!q->auto_delete) return;
    pthread_rwlock_wrlock(&v->lock);
    uint32_t cons;
    queue_counts(q, NULL, &cons);
    if (cons == 0 && !q->deleted && strmap_get(&v->queues, queue_name(q)) == q) queue_remove_locked(v, q, NULL);
    pthread_rwlock_unlock(&v->lock);
}

void vhost_queue_expire(vhost *v, queue *q) {
    pthread_rwlock_wrlock(&v->lock);
    if (!q->deleted && strmap_get(&v->queues, queue_name(q)) == q && queue_unused_since(q, now_ms()))
        queue_remove_locked(v, q, NULL);
    pthread_rwlock_unlock(&v->lock);
}

void vhost_drop_exclusive(vhost *v, uint64_t conn_id) {
    pthread_rwlock_wrlock(&v->lock);
    for (;;) { /* restart after each removal: the map changes under the iterator */
        size_t it = 0;
        queue *q, *victim = NULL;
        while ((q = strmap_next(&v->queues, &it, NULL)))
            if (q->exclusive && q->owner_conn == conn_id) {
                victim = q;
                break;
            }
        if (!victim) break;
        queue_remove_locked(v, victim, NULL);
    }
    pthread_rwlock_unlock(&v->lock);
}

/* ---- routing ---- */

/* Per-thread scratch sets, one per nesting depth, so routing allocates
 * nothing once warm. Deeper chains (rare) use a temporary set. */
#define SCRATCH_DEPTH 8
static __thread exch_dests scratch[SCRATCH_DEPTH];
static __thread bool scratch_ready[SCRATCH_DEPTH];

void vhost_thread_cleanup(void) {
    for (int i = 0; i < SCRATCH_DEPTH; i++)
        if (scratch_ready[i]) exch_dests_destroy(&scratch[i]), scratch_ready[i] = false;
}

/* Route with every key of rks at each exchange (sender-selected distribution:
 * the CC/BCC keys go along the whole path, as RabbitMQ does). */
static void route_x(vhost *v, exchange *x, const amq_bytes *rks, size_t nrk, amq_bytes headers, route_set *r,
                    int depth) {
    if (depth > 64 || !exch_dests_add(&r->visited, x)) return;
    if (x->name_len == 0) { /* default exchange: the queue named by the key */
        for (size_t k = 0; k < nrk; k++) {
            queue *q = strmap_get(&v->queues, rks[k]);
            if (q) exch_dests_add(&r->dests, q);
        }
        return;
    }
    exch_dests local, *tmp = &local;
    if (depth < SCRATCH_DEPTH) {
        tmp = &scratch[depth];
        if (!scratch_ready[depth]) exch_dests_init(tmp), scratch_ready[depth] = true;
        exch_dests_clear(tmp);
    } else {
        exch_dests_init(tmp);
    }
    for (size_t k = 0; k < nrk; k++) exch_route(x->rt, rks[k], headers, tmp);
    bool any = tmp->n > 0;
    for (size_t i = 0; i < tmp->n; i++) {
        if (IS_XDEST(tmp->v[i])) route_x(v, XOF(tmp->v[i]), rks, nrk, headers, r, depth + 1);
        else exch_dests_add(&r->dests, tmp->v[i]);
    }
    if (tmp == &local) exch_dests_destroy(tmp);
    if (!any && x->alt) {
        exchange *ae = strmap_get(&v->exchanges, amq_cstr(x->alt));
        if (ae) route_x(v, ae, rks, nrk, headers, r, depth + 1);
    }
}

bool vhost_exchange_delayed(vhost *v, amq_bytes xn, bool *durable) {
    pthread_rwlock_rdlock(&v->lock);
    exchange *x = strmap_get(&v->exchanges, xn);
    bool r = x && x->delayed && !x->internal;
    *durable = r && x->durable;
    pthread_rwlock_unlock(&v->lock);
    return r;
}

const char *vhost_exchange_type_name(const exchange *x) {
    return x->delayed ? "x-delayed-message" : exch_type_name(x->type);
}

int vhost_route(vhost *v, amq_bytes xn, amq_bytes rk, amq_bytes headers, route_set *r, werr *e) {
    return vhost_route_keys(v, xn, &rk, 1, headers, r, e);
}

int vhost_route_keys(vhost *v, amq_bytes xn, const amq_bytes *rks, size_t nrk, amq_bytes headers, route_set *r,
                     werr *e) {
    exch_dests_clear(&r->dests);
    exch_dests_clear(&r->visited);
    exchange *x = strmap_get(&v->exchanges, xn);
    if (!x) return no_exchange(e, v, xn);
    if (x->internal)
        return werr_set(e, AMQ_ACCESS_REFUSED,
                        "ACCESS_REFUSED - cannot publish to internal exchange '%.*s' in vhost '%s'", (int)xn.len, xn.p,
                        v->name);
    ctr_add(&x->st[XST_PUBLISH_IN], 1);
    if (x->dedup && dedup_seen(x->dedup, headers)) return 0; /* a duplicate: routed nowhere */
    route_x(v, x, rks, nrk, headers, r, 0);
    if (r->dests.n) ctr_add(&x->st[XST_PUBLISH_OUT], 1);
    return 0;
}

/* ---- walking a vhost (vhost_walk) ---- */

typedef struct {
    const vhost_walker *w;
    void *ctx;
    vhost *v;
    const exchange *src;
} walk_state;

static void walk_binding(void *ctx, void *dest, amq_bytes key, amq_bytes args) {
    walk_state *ws = ctx;
    vbinding b = {.src = ws->src, .key = key, .args = args};
    if (IS_XDEST(dest)) {
        b.dest_x = (const exchange *)((uintptr_t)dest & ~(uintptr_t)1u);
        b.dest_name = (amq_bytes){(const uint8_t *)b.dest_x->name, b.dest_x->name_len};
    } else {
        b.dest_is_queue = true;
        b.dest_q = dest;
        b.dest_name = queue_name(b.dest_q);
    }
    ws->w->binding(ws->ctx, ws->v, &b);
}

static void walk_policy(void *ctx, const policy_info *p) {
    walk_state *ws = ctx;
    ws->w->policy(ws->ctx, ws->v, p);
}

void vhost_walk(vhost *v, const vhost_walker *w, void *ctx) {
    pthread_rwlock_rdlock(&v->lock);
    walk_state ps = {w, ctx, v, NULL};
    if (w->policy) {
        policy_foreach(v, false, walk_policy, &ps);
        policy_foreach(v, true, walk_policy, &ps);
    }
    size_t it = 0;
    exchange *x;
    if (w->exchange)
        while ((x = strmap_next(&v->exchanges, &it, NULL))) w->exchange(ctx, v, x);
    it = 0;
    queue *q;
    amq_bytes qn;
    if (w->queue)
        while ((q = strmap_next(&v->queues, &it, NULL))) w->queue(ctx, v, q);
    else if (w->queue_named)
        while ((q = strmap_next(&v->queues, &it, &qn))) w->queue_named(ctx, v, q, qn);
    it = 0;
    walk_state ws = {w, ctx, v, NULL};
    if (w->binding)
        while ((x = strmap_next(&v->exchanges, &it, NULL))) {
            if (!x->name_len) continue; /* the default exchange's bindings are implicit */
            ws.src = x;
            exch_foreach(x->rt, walk_binding, &ws);
        }
    pthread_rwlock_unlock(&v->lock);
}

/* Inlined into each entry point, so plain vhost_publish (seen NULL, trace
 * false) compiles to exactly the publish it was before tracing existed. */
static inline __attribute__((always_inline)) int publish(vhost *v, msg *m, amq_bytes xn, const amq_bytes *rks,
                                                         size_t nrk, amq_bytes headers, route_set *r, uint64_t *wait,
                                                         size_t *routed, werr *e, vhost_routed_fn seen, void *seen_ctx,
                                                         bool trace) {
    size_t refused = 0;
    *wait = 0;
    *routed = 0;
    pthread_rwlock_rdlock(&v->lock);
    int rc;
    if (trace) { /* the firehose's copy: the internal trace exchange, no dedup */
        exch_dests_clear(&r->dests);
        exch_dests_clear(&r->visited);
        exchange *x = strmap_get(&v->exchanges, amq_cstr(VHOST_TRACE_EXCHANGE));
        if (x) route_x(v, x, rks, nrk, headers, r, 0);
        rc = 0;
    } else {
        rc = vhost_route_keys(v, xn, rks, nrk, headers, r, e);
    }
    if (!rc && seen) seen(seen_ctx, (queue *const *)r->dests.v, r->dests.n);
    if (!rc) {
        /* The record goes to the log before the message is visible in any queue;
         * one the log cannot take is in none (the publisher gets a nack). */
        *wait = store_message(m, (queue *const *)r->dests.v, r->dests.n);
        for (size_t i = 0; i < r->dests.n && *wait != UINT64_MAX; i++) {
            int q = queue_publish(r->dests.v[i], m);
            *routed += q >= 0;
            if (q > 0) { /* x-overflow reject-publish: the publisher gets a nack */
                refused++;
                if (q == 1) store_ack(r->dests.v[i], m); /* 2: dead-lettered, acked there */
            }
        }
    }
    pthread_rwlock_unlock(&v->lock);
    if (refused) *wait = UINT64_MAX;
    return rc;
}

int vhost_publish(vhost *v, msg *m, amq_bytes xn, const amq_bytes *rks, size_t nrk, amq_bytes headers, route_set *r,
                  uint64_t *wait, size_t *routed, werr *e) {
    return publish(v, m, xn, rks, nrk, headers, r, wait, routed, e, NULL, NULL, false);
}

int vhost_publish_seen(vhost *v, msg *m, amq_bytes xn, const amq_bytes *rks, size_t nrk, amq_bytes headers,
                       route_set *r, uint64_t *wait, size_t *routed, werr *e, vhost_routed_fn seen, void *ctx) {
    return publish(v, m, xn, rks, nrk, headers, r, wait, routed, e, seen, ctx, false);
}

void vhost_publish_trace(vhost *v, msg *m, amq_bytes rk, route_set *r) {
    uint64_t wait;
    size_t routed;
    publish(v, m, amq_cstr(VHOST_TRACE_EXCHANGE), &rk, 1, (amq_bytes){0}, r, &wait, &routed, NULL, NULL, NULL, true);
}

void vhost_set_tracing(vhost *v, bool on) { atomic_store_explicit(&v->hot.tracing, on, memory_order_relaxed); }
