/* policy.c — see policy.h. The facts (keys, checks, error texts, merge and
 * resolution rules) are RabbitMQ 3.10.8's: rabbit_policy, rabbit_policies,
 * rabbit_mirror_queue_misc, rabbit_amqqueue_process's and rabbit_quorum_queue's
 * argument/policy tables, rabbit_exchange (alternate-exchange: the argument
 * wins), checked against the reference broker. Patterns are PCRE (PCRE2,
 * 8-bit, no UTF: bytes, as Erlang's re:run on a binary). */
#include "policy.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amq/table.h"
#include "qfeat.h"
#include "queue.h"
#include "queue_type.h"
#include "durable.h"
#include "util.h"
#include "vhost_impl.h"

/* ---- the keys: the rows of the queue features' registry (qfeat.c) ---- */

enum { PK_QUEUES = 1, PK_EXCHANGES = 2 };

static const qfeat_row *key_row(const char *k) { return qfeat_policy_row(k); }

/* ---- the policies of a vhost ---- */

typedef struct pol {
    char *name, *pattern, *apply_to;
    int64_t priority;
    json_t *def;
    pcre2_code *re;
    bool op;
} pol;

struct policy_set {
    pol *v;
    size_t n, cap;
};
typedef struct policy_set pol_list;

static void pol_free(pol *p) {
    free(p->name);
    free(p->pattern);
    free(p->apply_to);
    json_decref(p->def);
    pcre2_code_free(p->re);
}

void policy_free_all(vhost *v) {
    pol_list *s = v->policies;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) pol_free(&s->v[i]);
    free(s->v);
    free(s);
    v->policies = NULL;
}

static pol *find(pol_list *s, const char *name, bool op) {
    for (size_t i = 0; s && i < s->n; i++)
        if (s->v[i].op == op && !strcmp(s->v[i].name, name)) return &s->v[i];
    return NULL;
}

/* ---- Erlang's ~p of a JSON value (RabbitMQ's error texts print terms) ---- */

static void erl(json_t *j, char *out, size_t n) {
    size_t k = 0;
#define PUT(...)                                                                                                       \
    do {                                                                                                               \
        int w_ = snprintf(out + k, k < n ? n - k : 0, __VA_ARGS__);                                                    \
        if (w_ > 0) k = k + (size_t)w_ < n ? k + (size_t)w_ : (n ? n - 1 : 0);                                         \
    } while (0)
    if (!j) { /* a key the document lacks: Erlang's undefined */
        PUT("undefined");
        return;
    }
    switch (json_typeof(j)) {
    case JSON_INTEGER: PUT("%lld", (long long)json_integer_value(j)); break;
    case JSON_REAL: PUT("%g", json_real_value(j)); break;
    case JSON_STRING: PUT("<<\"%s\">>", json_string_value(j)); break;
    case JSON_TRUE: PUT("true"); break;
    case JSON_FALSE: PUT("false"); break;
    case JSON_NULL: PUT("null"); break;
    case JSON_ARRAY: {
        PUT("[");
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e) {
            char s[256];
            erl(e, s, sizeof s);
            PUT("%s%s", i ? "," : "", s);
        }
        PUT("]");
        break;
    }
    default: PUT("#{...}"); break;
    }
#undef PUT
}

/* ---- validation ---- */

static bool age_ok(json_t *v) {
    if (!json_is_string(v)) return false;
    const char *s = json_string_value(v);
    size_t d = strspn(s, "0123456789");
    return d > 0 && s[d] && strchr("YMDhms", s[d]) && !s[d + 1];
}

/* A policy's value checked by its row's kind (qfeat.h); RabbitMQ's policy
 * validators check an integer's lower bound only. */
static bool value_ok(const qfeat_row *r, json_t *v) {
    switch (r->kind) {
    case QK_INT: return json_is_integer(v) && json_integer_value(v) >= r->min;
    case QK_STR: return json_is_string(v);
    case QK_BOOL: return json_is_boolean(v);
    case QK_AGE: return age_ok(v);
    case QK_ANY: return true;
    case QK_ENUM:
    case QK_INT_ENUM: {
        char b[32];
        const char *s = NULL;
        if (r->kind == QK_ENUM && json_is_string(v)) s = json_string_value(v);
        if (r->kind == QK_INT_ENUM && json_is_integer(v))
            snprintf(b, sizeof b, "%lld", (long long)json_integer_value(v)), s = b;
        for (size_t i = 0; s && r->values[i]; i++)
            if (!strcmp(s, r->values[i])) return true;
        return false;
    }
    }
    return false;
}

static int invalid(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int invalid(char *err, size_t n, const char *fmt, ...) {
    char m[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    snprintf(err, n, "Validation failed\n\n%s", m);
    return 69;
}

/* A definition as RabbitMQ validates it: a non-empty object whose keys the
 * kind (policy / operator policy) accepts, each with a valid value; the
 * values are checked first, unknown keys reported after. */
static int check_definition(json_t *def, bool op, char *err, size_t n) {
    if (!json_is_object(def)) {
        char t[256];
        erl(def, t, sizeof t);
        return invalid(err, n, "definition must be a dictionary: %s", t);
    }
    if (!json_object_size(def)) return invalid(err, n, "no policy provided");
    const char *k;
    json_t *v;
    char t[256];
    json_object_foreach(def, k, v) {
        const qfeat_row *r = key_row(k);
        if (r && (!op || (r->flags & QF_OPERATOR)) && !value_ok(r, v)) {
            erl(v, t, sizeof t);
            return invalid(err, n, "%s is not a valid %s", t, r->what);
        }
    }
    char unk[300];
    size_t u = 0;
    unk[0] = 0;
    /* sorted, as maps:to_list gives them */
    const char **keys = xmalloc(json_object_size(def) * sizeof *keys);
    size_t nk = 0;
    json_object_foreach(def, k, v) keys[nk++] = k;
    for (size_t i = 1; i < nk; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *x = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = x;
        }
    for (size_t i = 0; i < nk; i++) {
        const qfeat_row *r = key_row(keys[i]);
        if (r && (!op || (r->flags & QF_OPERATOR))) continue;
        erl(json_object_get(def, keys[i]), t, sizeof t);
        int w = snprintf(unk + u, sizeof unk - u, "%s{<<\"%s\">>,%s}", u ? "," : "", keys[i], t);
        if (w > 0) u = u + (size_t)w < sizeof unk ? u + (size_t)w : sizeof unk - 1;
    }
    free(keys);
    if (u) return invalid(err, n, "[%s] are not recognised policy settings", unk);
    return 0;
}

static pcre2_code *compile(const char *pattern, char *err, size_t n) {
    int ec;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(ec, msg, sizeof msg);
        invalid(err, n, "pattern should be regular expression but is invalid: {\"%s\",%zu}", (const char *)msg,
                (size_t)off);
    }
    return re;
}

static bool apply_to_ok(const char *a) { return !strcmp(a, "all") || !strcmp(a, "queues") || !strcmp(a, "exchanges"); }

/* ---- matching and resolution ---- */

static bool matches(const pol *p, int kind, amq_bytes name) {
    if (strcmp(p->apply_to, "all") && strcmp(p->apply_to, kind == PK_QUEUES ? "queues" : "exchanges")) return false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re, NULL);
    int rc = pcre2_match(p->re, name.p ? name.p : (const uint8_t *)"", name.len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

/* The policy (op: operator policy) of highest priority applying to name;
 * equal priorities: the first by name. */
static const pol *best(const pol_list *s, bool op, int kind, amq_bytes name) {
    const pol *b = NULL;
    for (size_t i = 0; s && i < s->n; i++) {
        const pol *p = &s->v[i];
        if (p->op != op || !matches(p, kind, name)) continue;
        if (!b || p->priority > b->priority || (p->priority == b->priority && strcmp(p->name, b->name) < 0)) b = p;
    }
    return b;
}

/* The merged value of key: the policy's, the operator policy's, or the lower of both. */
static json_t *merged(const pol *p, const pol *o, const char *key) {
    json_t *a = p ? json_object_get(p->def, key) : NULL, *b = o ? json_object_get(o->def, key) : NULL;
    if (a && b && json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) <= json_integer_value(b) ? a : b;
    return a ? a : b;
}

static void set_name(char **slot, const pol *p) {
    if (*slot && p && !strcmp(*slot, p->name)) return;
    free(*slot);
    *slot = p ? xstrdup(p->name) : NULL;
}

static void put_json_field(amq_wr *w, const char *key, json_t *v) {
    amq_table_put_key(w, key);
    amq_field f = json_is_integer(v) ? amq_field_i64((int64_t)json_integer_value(v))
                                     : amq_field_str(amq_cstr(json_string_value(v)));
    amq_put_field(w, &f);
}

/* The queue's arguments with every key a policy sets resolved by its rule. */
static void effective_args(const queue *q, const pol *p, const pol *o, amq_wr *w) {
    amq_wr_init(w);
    size_t nr;
    const qfeat_row *rows = qfeat_rows(&nr);
    json_t *val[QFEAT_MAX_ROWS];
    bool quorum = q->type == &queue_type_quorum;
    for (size_t i = 0; i < nr; i++) {
        const qfeat_row *r = &rows[i];
        uint8_t res = quorum ? r->res_quorum : r->res_classic;
        val[i] = r->arg && r->policy && res != RES_NONE ? merged(p, o, r->policy) : NULL;
    }
    amq_rd rd = {q->args.p, q->args.len, 0};
    amq_bytes k;
    amq_field f;
    while (amq_table_next(&rd, &k, &f) == 1) {
        size_t i = 0;
        while (i < nr && !(val[i] && amq_bytes_eqs(k, rows[i].arg))) i++;
        if (i < nr) { /* both set: resolve */
            const qfeat_row *r = &rows[i];
            uint8_t res = quorum ? r->res_quorum : r->res_classic;
            int64_t a;
            if (res == RES_ARG || (res == RES_MIN && !(amq_field_as_i64(&f, &a) && json_is_integer(val[i]))))
                val[i] = NULL; /* the argument stays */
            else if (res == RES_MIN && a <= json_integer_value(val[i])) val[i] = NULL;
            if (val[i]) continue; /* replaced below */
        }
        amq_put_shortstr(w, k);
        amq_put_field(w, &f);
    }
    for (size_t i = 0; i < nr; i++)
        if (val[i]) put_json_field(w, rows[i].arg, val[i]);
}

void policy_apply_queue(vhost *v, queue *q) {
    pol_list *s = v->policies;
    if ((!s || !s->n) && !q->policy[0] && !q->policy[1]) return; /* nothing applies, nothing did */
    amq_bytes name = queue_name(q);
    const pol *p = best(s, false, PK_QUEUES, name), *o = best(s, true, PK_QUEUES, name);
    set_name(&q->policy[0], p);
    set_name(&q->policy[1], o);
    amq_wr w;
    effective_args(q, p, o, &w);
    amq_bytes eff = {w.data, w.len};
    queue_set_config(q, qfeat_parse(eff), q->type == &queue_type_quorum ? qfeat_delivery_limit(eff) : -1);
    amq_wr_destroy(&w);
}

void policy_apply_exchange(vhost *v, exchange *x) {
    pol_list *s = v->policies;
    if ((!s || !s->n) && !x->policy[0] && !x->policy[1]) return;
    amq_bytes name = {(const uint8_t *)x->name, x->name_len};
    const pol *p = best(s, false, PK_EXCHANGES, name), *o = best(s, true, PK_EXCHANGES, name);
    set_name(&x->policy[0], p);
    set_name(&x->policy[1], o);
    amq_field f;
    json_t *ae = merged(p, o, "alternate-exchange");
    char *alt = NULL;
    if (x->args.len && amq_table_get(x->args, "alternate-exchange", &f) == 1 && (f.type == 'S' || f.type == 'x'))
        alt = xstrndup_bytes(f.v.str); /* the argument wins */
    else if (json_is_string(ae)) alt = xstrdup(json_string_value(ae));
    free(x->alt);
    x->alt = alt;
}

static void apply_all(vhost *v) {
    size_t it = 0;
    exchange *x;
    while ((x = strmap_next(&v->exchanges, &it, NULL))) policy_apply_exchange(v, x);
    it = 0;
    queue *q;
    while ((q = strmap_next(&v->queues, &it, NULL))) policy_apply_queue(v, q);
}

const char *policy_name_of_queue(const queue *q, bool op) { return q->policy[op]; }
const char *policy_name_of_exchange(const exchange *x, bool op) { return x->policy[op]; }

json_t *policy_effective_queue(vhost *v, const queue *q) {
    const pol *p = q->policy[0] ? find(v->policies, q->policy[0], false) : NULL;
    const pol *o = q->policy[1] ? find(v->policies, q->policy[1], true) : NULL;
    if (!p && !o) return NULL;
    json_t *d = json_object();
    for (int i = 0; i < 2; i++) {
        const pol *a = i ? o : p;
        const char *k;
        json_t *val;
        if (a) json_object_foreach(a->def, k, val) json_object_set(d, k, merged(p, o, k));
    }
    return d;
}

/* ---- set, clear, list ---- */

int policy_set_json(const char *vh, const char *name, const char *pattern, json_t *def, int64_t priority,
                    const char *apply_to, bool op, char *err, size_t errn) {
    if (!apply_to) apply_to = "all";
    vhost *v = vhost_find(amq_cstr(vh));
    if (!v) {
        snprintf(err, errn, "Virtual host '%s' does not exist", vh);
        return 65;
    }
    if (!apply_to_ok(apply_to))
        return invalid(err, errn, "apply-to '%s' unrecognised; should be 'queues', 'exchanges' or 'all'", apply_to);
    pcre2_code *re = compile(pattern, err, errn);
    if (!re) return 69;
    int rc = check_definition(def, op, err, errn);
    if (rc) {
        pcre2_code_free(re);
        return rc;
    }
    pthread_rwlock_wrlock(&v->lock);
    if (!v->policies) v->policies = xcalloc(1, sizeof(pol_list));
    pol_list *s = v->policies;
    pol *p = find(s, name, op);
    if (p) {
        pol_free(p);
    } else {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 8;
            s->v = xrealloc(s->v, s->cap * sizeof *s->v);
        }
        p = &s->v[s->n++];
    }
    *p = (pol){xstrdup(name), xstrdup(pattern), xstrdup(apply_to), priority, json_incref(def), re, op};
    char *text = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS);
    store_policy_set(vh, op, name, pattern, apply_to, priority, text ? text : "{}");
    free(text);
    apply_all(v);
    pthread_rwlock_unlock(&v->lock);
    return 0;
}

int policy_set(const char *vh, const char *name, const char *pattern, const char *definition, int64_t priority,
               const char *apply_to, bool op, char *err, size_t errn) {
    json_error_t je;
    json_t *def = json_loads(definition, JSON_DECODE_ANY, &je);
    if (!def) {
        snprintf(err, errn, "JSON decoding error. Reason: %s", je.text);
        return 69;
    }
    int rc = policy_set_json(vh, name, pattern, def, priority, apply_to, op, err, errn);
    json_decref(def);
    return rc;
}

int policy_clear(const char *vh, const char *name, bool op, char *err, size_t errn) {
    vhost *v = vhost_find(amq_cstr(vh));
    if (!v) {
        snprintf(err, errn, "Virtual host '%s' does not exist", vh);
        return 65;
    }
    pthread_rwlock_wrlock(&v->lock);
    pol_list *s = v->policies;
    pol *p = find(s, name, op);
    if (p) {
        pol_free(p);
        *p = s->v[--s->n];
        store_policy_clear(vh, op, name);
        apply_all(v);
    }
    pthread_rwlock_unlock(&v->lock);
    if (!p) snprintf(err, errn, "Parameter does not exist");
    return p ? 0 : 69;
}

void policy_foreach(vhost *v, bool op, void (*cb)(void *ctx, const policy_info *p), void *ctx) {
    pol_list *s = v->policies;
    if (!s) return;
    const pol **order = xmalloc((s->n + 1) * sizeof *order);
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].op == op) order[n++] = &s->v[i];
    for (size_t i = 1; i < n; i++) /* lowest priority first, then by name */
        for (size_t j = i; j > 0; j--) {
            const pol *a = order[j - 1], *b = order[j];
            if (a->priority < b->priority || (a->priority == b->priority && strcmp(a->name, b->name) <= 0)) break;
            order[j - 1] = b;
            order[j] = a;
        }
    for (size_t i = 0; i < n; i++) {
        const pol *p = order[i];
        policy_info info = {v->name, p->name, p->pattern, p->apply_to, p->priority, p->def, p->op};
        cb(ctx, &info);
    }
    free(order);
}
