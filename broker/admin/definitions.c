/* definitions.c — RabbitMQ's definitions JSON: export of users, vhosts,
 * permissions, exchanges, queues and bindings, and import of the same (at boot
 * from load_definitions, or from warrenctl), with RabbitMQ's errors. */
#include "definitions.h"
#include "delayed.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "amq/table.h"
#include "config.h"
#include "names.h"
#include "policy.h"
#include "queue.h"
#include "util.h"
#include "vhost.h"

/* ---- report ---- */

typedef struct {
    char *buf;
    size_t cap, len;
    int skipped;
} report;

static void skip(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip(report *r, const char *fmt, ...) {
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_warn("definitions: %s", line);
    r->skipped++;
    if (r->buf && r->len + 1 < r->cap) {
        int n = snprintf(r->buf + r->len, r->cap - r->len, "%s\n", line);
        if (n > 0) r->len = r->len + (size_t)n < r->cap ? r->len + (size_t)n : r->cap - 1;
    }
}

/* ---- JSON <-> AMQP field tables ---- */

static void put_json_value(amq_wr *w, json_t *v, const char **bad);

/* A table's keys are shortstrs: *bad gets the first key over 255 bytes (the
 * item is then refused). */
static void put_json_table(amq_wr *w, json_t *obj, const char **bad) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (strlen(k) > NAME_MAX_BYTES) {
            if (!*bad) *bad = k;
            continue;
        }
        amq_table_put_key(w, k);
        put_json_value(w, v, bad);
    }
}

static void put_json_value(amq_wr *w, json_t *v, const char **bad) {
    amq_field f;
    switch (json_typeof(v)) {
    case JSON_STRING:
        f = amq_field_str((amq_bytes){(const uint8_t *)json_string_value(v), json_string_length(v)});
        break;
    case JSON_INTEGER: f = amq_field_i64((int64_t)json_integer_value(v)); break;
    case JSON_REAL:
        f.type = 'd';
        f.v.f64 = json_real_value(v);
        break;
    case JSON_TRUE: f = amq_field_bool(true); break;
    case JSON_FALSE: f = amq_field_bool(false); break;
    case JSON_OBJECT: {
        amq_put_u8(w, 'F');
        size_t b = amq_table_begin(w);
        put_json_table(w, v, bad);
        amq_table_end(w, b);
        return;
    }
    case JSON_ARRAY: {
        amq_put_u8(w, 'A');
        size_t b = amq_table_begin(w);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) put_json_value(w, e, bad);
        amq_table_end(w, b);
        return;
    }
    default: f.type = 'V'; break;
    }
    amq_put_field(w, &f);
}

/* args (an object or absent) as a table body in w; returns the slice. *bad:
 * the first key (at any depth) over 255 bytes, else NULL. */
static amq_bytes args_of(json_t *o, amq_wr *w, const char **bad) {
    amq_wr_init(w);
    *bad = NULL;
    json_t *a = json_object_get(o, "arguments");
    if (!json_is_object(a) || json_object_size(a) == 0) return (amq_bytes){0};
    size_t b = amq_table_begin(w);
    put_json_table(w, a, bad);
    amq_table_end(w, b);
    return (amq_bytes){w->data + 4, w->len - 4};
}

amq_bytes defs_json_table(json_t *obj, amq_wr *w, const char **bad) {
    amq_wr_init(w);
    *bad = NULL;
    if (!json_is_object(obj) || json_object_size(obj) == 0) return (amq_bytes){0};
    size_t b = amq_table_begin(w);
    put_json_table(w, obj, bad);
    amq_table_end(w, b);
    return (amq_bytes){w->data + 4, w->len - 4};
}

static json_t *field_json(const amq_field *f, int depth);

static json_t *table_json(amq_bytes t, int depth) {
    json_t *o = json_object();
    amq_rd r = {t.p, t.len, 0};
    amq_bytes k;
    amq_field f;
    while (amq_table_next(&r, &k, &f) == 1) {
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)k.len, k.p);
        json_object_set_new(o, key, field_json(&f, depth + 1));
    }
    return o;
}

static json_t *field_json(const amq_field *f, int depth) {
    int64_t i;
    if (depth > 16) return json_null();
    switch (f->type) {
    case 'S':
    case 'x': return json_stringn((const char *)f->v.str.p, f->v.str.len);
    case 't': return json_boolean(f->v.b);
    case 'f': return json_real(f->v.f32);
    case 'd': return json_real(f->v.f64);
    case 'F': return table_json(f->v.str, depth);
    case 'A': {
        json_t *a = json_array();
        amq_rd r = {f->v.str.p, f->v.str.len, 0};
        amq_field e;
        while (amq_array_next(&r, &e) == 1) json_array_append_new(a, field_json(&e, depth + 1));
        return a;
    }
    default:
        if (amq_field_as_i64(f, &i)) return json_integer(i);
        return json_null();
    }
}

/* ---- import ---- */

static const char *str(json_t *o, const char *k, const char *dflt) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static bool flag(json_t *o, const char *k) { return json_is_true(json_object_get(o, k)); }

/* A name as the report shows it (long ones shortened: see names.h). */
typedef struct {
    char s[NAME_SHOWN];
} shown;
static shown show(const char *name) {
    shown r;
    name_shown(amq_cstr(name), r.s, sizeof r.s);
    return r;
}

/* Refuse (skip) an item whose name or key is over the shortstr limit. */
static bool too_long(report *r, const char *name, const char *what, const char *vhost) {
    char err[200];
    if (!name_check_in(amq_cstr(name), what, vhost, err, sizeof err)) return false;
    skip(r, "%s", err);
    return true;
}

/* A routing key over the limit: "routing key 'k…' of binding 's' -> queue 'd' in vhost 'v'". */
static bool bad_key(report *r, const char *key, const char *src, const char *dt, const char *dst, const char *vhost) {
    char where[200], err[300];
    snprintf(where, sizeof where, "of binding '%s' -> %s '%s' in vhost '%s'", show(src).s, show(dt).s, show(dst).s,
             show(vhost).s);
    if (!name_check(amq_cstr(key), "routing key", where, err, sizeof err)) return false;
    skip(r, "%s", err);
    return true;
}

/* The same for an argument key: "argument 'k…' of <what> 'n' in vhost 'v'". */
static bool bad_arg(report *r, const char *key, const char *what, const char *name, const char *vhost) {
    if (!key) return false;
    char where[200], err[300];
    snprintf(where, sizeof where, "of %s '%s' in vhost '%s'", what, show(name).s, show(vhost).s);
    name_check(amq_cstr(key), "argument", where, err, sizeof err);
    skip(r, "%s", err);
    return true;
}

/* Tags: a list (3.x) or a comma-separated string (older exports). */
static void tags_of(json_t *u, char *out, size_t cap) {
    json_t *t = json_object_get(u, "tags");
    out[0] = 0;
    if (json_is_string(t)) {
        snprintf(out, cap, "%s", json_string_value(t));
        return;
    }
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(t, i, e) {
        if (!json_is_string(e)) continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? "," : "", json_string_value(e));
        if (w < 0 || (size_t)w >= cap - n) break;
        n += (size_t)w;
    }
}

static void import_users(json_t *root, report *r) {
    size_t i;
    json_t *u;
    char err[300], tags[512];
    json_array_foreach(json_object_get(root, "users"), i, u) {
        const char *name = str(u, "name", NULL);
        if (!name) {
            skip(r, "a user without a name");
            continue;
        }
        if (too_long(r, name, "user name", NULL)) continue;
        tags_of(u, tags, sizeof tags);
        const char *hash = str(u, "password_hash", NULL), *pw = str(u, "password", NULL);
        int rc;
        if (!hash && pw) {
            rc = access_user_delete(name, err, sizeof err); /* replace, with a fresh hash */
            rc = access_user_add(name, pw, tags, err, sizeof err);
        } else {
            int algo = access_hash_parse(str(u, "hashing_algorithm", NULL));
            if (algo < 0) {
                skip(r, "user '%s': hashing algorithm '%s' not supported", name, str(u, "hashing_algorithm", ""));
                continue;
            }
            rc = access_user_put_hash(name, algo, hash ? hash : "", tags, err, sizeof err);
        }
        if (rc) skip(r, "user '%s': %s", name, err);
        json_t *lim = json_object_get(u, "limits");
        if (json_object_size(lim)) skip(r, "user '%s': user limits not supported", name);
    }
}

static void import_vhosts(json_t *root, report *r) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(root, "vhosts"), i, v) {
        const char *name = str(v, "name", NULL);
        if (name && too_long(r, name, "vhost name", NULL)) continue;
        if (!name || vhost_add(name, NULL)) skip(r, "vhost '%s': invalid name", name ? name : "");
        json_t *lim = json_object_get(v, "limits");
        if ((json_is_object(lim) && json_object_size(lim)) || (json_is_array(lim) && json_array_size(lim)))
            skip(r, "vhost '%s': vhost limits not supported", name ? name : "");
    }
}

static void import_permissions(json_t *root, report *r) {
    size_t i;
    json_t *p;
    char err[300];
    json_array_foreach(json_object_get(root, "permissions"), i, p) {
        const char *u = str(p, "user", ""), *v = str(p, "vhost", "/");
        if (!vhost_find(amq_cstr(v))) {
            skip(r, "permissions of user '%s': no vhost '%s'", show(u).s, show(v).s);
            continue;
        }
        if (access_set_permissions(u, v, str(p, "configure", ""), str(p, "write", ""), str(p, "read", ""), err,
                                   sizeof err))
            skip(r, "permissions of user '%s' in vhost '%s': %s", u, v, err);
    }
}

static vhost *vhost_of(json_t *o, const char *what, const char *name, report *r) {
    const char *vn = str(o, "vhost", "/");
    vhost *v = vhost_find(amq_cstr(vn));
    if (!v) skip(r, "%s '%s': no vhost '%s'", what, show(name).s, show(vn).s);
    return v;
}

static void import_exchanges(json_t *root, report *r) {
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(root, "exchanges"), i, x) {
        const char *name = str(x, "name", ""), *type = str(x, "type", "direct");
        vhost *v = vhost_of(x, "exchange", name, r);
        if (!v || too_long(r, name, "exchange name", vhost_name(v))) continue;
        exch_type t;
        if (exch_type_parse(amq_cstr(type), &t) && !delayed_is_type(amq_cstr(type))) {
            skip(r, "exchange '%s' in vhost '%s': type '%s' not supported", name, vhost_name(v), type);
            continue;
        }
        amq_wr w;
        const char *bad;
        amq_bytes args = args_of(x, &w, &bad);
        werr e;
        if (bad_arg(r, bad, "exchange", name, vhost_name(v)))
            ;
        else if (vhost_exchange_declare(v, amq_cstr(name), amq_cstr(type), false, flag(x, "durable"),
                                        flag(x, "auto_delete"), flag(x, "internal"), args, &e))
            skip(r, "exchange '%s' in vhost '%s': %s", name, vhost_name(v), e.text);
        amq_wr_destroy(&w);
    }
}

static void import_queues(json_t *root, report *r) {
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(root, "queues"), i, q) {
        const char *name = str(q, "name", "");
        vhost *v = vhost_of(q, "queue", name, r);
        if (!v || too_long(r, name, "queue name", vhost_name(v))) continue;
        if (!*name) { /* the model would make up a name */
            skip(r, "a queue without a name in vhost '%s'", vhost_name(v));
            continue;
        }
        amq_wr w;
        const char *bad;
        amq_bytes args = args_of(q, &w, &bad);
        werr e;
        queue *qq;
        if (bad_arg(r, bad, "queue", name, vhost_name(v)))
            ;
        else if (vhost_queue_declare(v, amq_cstr(name), false, flag(q, "durable"), false, flag(q, "auto_delete"), args,
                                     0, &qq, &e))
            skip(r, "queue '%s' in vhost '%s': %s", name, vhost_name(v), e.text);
        else queue_unref(&qq);
        amq_wr_destroy(&w);
    }
}

static void import_bindings(json_t *root, report *r) {
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(root, "bindings"), i, b) {
        const char *src = str(b, "source", ""), *dst = str(b, "destination", "");
        const char *dt = str(b, "destination_type", "queue"), *key = str(b, "routing_key", "");
        vhost *v = vhost_of(b, "binding from", src, r);
        if (!v) continue;
        bool to_x = !strcmp(dt, "exchange");
        if (too_long(r, src, "binding source name", vhost_name(v)) ||
            too_long(r, dst, to_x ? "binding destination exchange name" : "binding destination queue name",
                     vhost_name(v)) ||
            bad_key(r, key, src, dt, dst, vhost_name(v)))
            continue;
        amq_wr w;
        const char *bad;
        amq_bytes args = args_of(b, &w, &bad);
        werr e;
        if (bad_arg(r, bad, "binding from", src, vhost_name(v))) {
            amq_wr_destroy(&w);
            continue;
        }
        int rc = to_x ? vhost_exchange_bind(v, amq_cstr(dst), amq_cstr(src), amq_cstr(key), args, false, &e)
                      : vhost_queue_bind(v, amq_cstr(dst), amq_cstr(src), amq_cstr(key), args, false, 0, &e);
        if (rc) skip(r, "binding '%s' -> %s '%s' in vhost '%s': %s", src, dt, dst, vhost_name(v), e.text);
        amq_wr_destroy(&w);
    }
}

/* A definition as an object; RabbitMQ 3.10 exports an operator policy's as
 * a list of [key, value] pairs (which its own import then refuses): taken too. */
static json_t *definition_of(json_t *d) {
    if (!json_is_array(d)) return json_incref(d);
    json_t *o = json_object();
    size_t i;
    json_t *kv;
    json_array_foreach(d, i, kv) {
        if (json_array_size(kv) == 2 && json_is_string(json_array_get(kv, 0)))
            json_object_set(o, json_string_value(json_array_get(kv, 0)), json_array_get(kv, 1));
    }
    return o;
}

/* One policy ({vhost, name, pattern, apply-to, definition, priority}; for an
 * operator policy in "parameters", the same under "value"). */
static void import_policy(json_t *p, json_t *body, bool op, report *r) {
    const char *name = str(p, "name", ""), *vh = str(p, "vhost", "/");
    json_t *prio = json_object_get(body, "priority");
    char err[600];
    json_t *def = definition_of(json_object_get(body, "definition"));
    int rc =
        policy_set_json(vh, name, str(body, "pattern", ""), def, json_is_integer(prio) ? json_integer_value(prio) : 0,
                        str(body, "apply-to", "all"), op, err, sizeof err);
    json_decref(def);
    for (char *c = err; rc && *c; c++)
        if (*c == '\n') *c = ' ';
    if (rc) skip(r, "%s '%s' in vhost '%s': %s", op ? "operator policy" : "policy", name, vh, err);
}

static void import_policies(json_t *root, report *r) {
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(root, "policies"), i, p) import_policy(p, p, false, r);
    json_array_foreach(json_object_get(root, "operator_policies"), i, p) import_policy(p, p, true, r);
    json_array_foreach(json_object_get(root, "parameters"), i,
                       p) if (!strcmp(str(p, "component", ""), "operator_policy"))
        import_policy(p, json_object_get(p, "value"), true, r);
}

static void report_unsupported(json_t *root, report *r) {
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(root, "parameters"), i,
                       p) if (strcmp(str(p, "component", ""), "operator_policy"))
        skip(r, "parameter '%s' of component '%s' in vhost '%s' not supported (ignored)", str(p, "name", ""),
             str(p, "component", ""), str(p, "vhost", "/"));
    json_array_foreach(json_object_get(root, "global_parameters"), i, p) {
        const char *n = str(p, "name", "");
        if (strcmp(n, "cluster_name") && strcmp(n, "internal_cluster_id")) /* node identity: not definitions */
            skip(r, "global parameter '%s' not supported (ignored)", n);
    }
    json_array_foreach(json_object_get(root, "topic_permissions"), i, p)
        skip(r, "topic permissions of user '%s' on exchange '%s' in vhost '%s' not supported (ignored)",
             str(p, "user", ""), str(p, "exchange", ""), str(p, "vhost", "/"));
}

int defs_import(const char *text, size_t len, char *buf, size_t cap) {
    report r = {buf, cap, 0, 0};
    if (buf && cap) buf[0] = 0;
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root || !json_is_object(root)) {
        if (buf)
            snprintf(buf, cap, "not a definitions document: %s (line %d)", root ? "not a JSON object" : je.text,
                     root ? 0 : je.line);
        json_decref(root);
        return -1;
    }
    import_vhosts(root, &r);
    import_users(root, &r);
    import_permissions(root, &r);
    import_policies(root, &r);
    import_exchanges(root, &r);
    import_queues(root, &r);
    import_bindings(root, &r);
    report_unsupported(root, &r);
    json_decref(root);
    return r.skipped ? 1 : 0;
}

int defs_import_file(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (buf) snprintf(buf, cap, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = 0, c = 65536;
    char *t = xmalloc(c);
    size_t k;
    while ((k = fread(t + n, 1, c - n, f)) > 0) {
        n += k;
        if (n == c) t = xrealloc(t, c *= 2);
    }
    fclose(f);
    int rc = defs_import(t, n, buf, cap);
    free(t);
    return rc;
}

/* ---- export ---- */

static void ex_user(void *ctx, const char *name, int algo, const char *hash, const char *tags) {
    json_t *tl = json_array();
    char *t = xstrdup(tags);
    for (char *s = strtok(t, ","); s; s = strtok(NULL, ",")) json_array_append_new(tl, json_string(s));
    free(t);
    json_array_append_new(ctx, json_pack("{s:s,s:s,s:s,s:o,s:{}}", "name", name, "password_hash", hash,
                                         "hashing_algorithm", access_hash_name(algo), "tags", tl, "limits"));
}

static void ex_perm(void *ctx, const char *u, const char *v, const char *c, const char *w, const char *r) {
    json_array_append_new(
        ctx, json_pack("{s:s,s:s,s:s,s:s,s:s}", "user", u, "vhost", v, "configure", c, "write", w, "read", r));
}

typedef struct {
    json_t *vhosts, *exchanges, *queues, *bindings, *policies, *parameters;
} ex_ctx;

static json_t *args_json(amq_bytes a) { return a.len ? table_json(a, 0) : json_object(); }

json_t *defs_table_json(const uint8_t *p, size_t len) { return args_json((amq_bytes){.p = p, .len = len}); }

static void ex_exchange(void *ctx, vhost *v, const exchange *e) {
    ex_ctx *x = ctx;
    if (e->name_len == 0 || (e->name_len >= 4 && !memcmp(e->name, "amq.", 4))) return;
    json_array_append_new(x->exchanges,
                          json_pack("{s:s%,s:s,s:s,s:b,s:b,s:b,s:o}", "name", e->name, (size_t)e->name_len, "vhost",
                                    vhost_name(v), "type", vhost_exchange_type_name(e), "durable", e->durable,
                                    "auto_delete", e->auto_delete, "internal", e->internal, "arguments",
                                    args_json(e->args)));
}

static void ex_queue(void *ctx, vhost *v, queue *q) {
    ex_ctx *x = ctx;
    if (q->exclusive) return;
    amq_bytes n = queue_name(q);
    json_array_append_new(x->queues, json_pack("{s:s%,s:s,s:b,s:b,s:o}", "name", (const char *)n.p, n.len, "vhost",
                                               vhost_name(v), "durable", q->durable, "auto_delete", q->auto_delete,
                                               "arguments", args_json(q->args)));
}

static void ex_binding(void *ctx, vhost *v, const vbinding *b) {
    ex_ctx *x = ctx;
    char src[256], dn[256];
    snprintf(src, sizeof src, "%.*s", (int)b->src->name_len, b->src->name);
    snprintf(dn, sizeof dn, "%.*s", (int)b->dest_name.len, b->dest_name.p);
    json_array_append_new(
        x->bindings, json_pack("{s:s,s:s,s:s,s:s,s:s%,s:o}", "source", src, "vhost", vhost_name(v), "destination", dn,
                               "destination_type", b->dest_is_queue ? "queue" : "exchange", "routing_key",
                               b->key.len ? (const char *)b->key.p : "", b->key.len, "arguments", args_json(b->args)));
}

/* Policies as RabbitMQ exports them; operator policies as its "parameters"
 * of component operator_policy, with the definition an object (3.10 writes
 * a list of pairs there, which its import refuses). */
static void ex_policy(void *ctx, vhost *v, const policy_info *p) {
    (void)v;
    ex_ctx *x = ctx;
    json_t *body = json_pack("{s:s,s:s,s:O,s:I}", "pattern", p->pattern, "apply-to", p->apply_to, "definition",
                             p->definition, "priority", (json_int_t)p->priority);
    if (!p->op) {
        json_object_set_new(body, "vhost", json_string(p->vhost));
        json_object_set_new(body, "name", json_string(p->name));
        json_array_append_new(x->policies, body);
    } else {
        json_array_append_new(x->parameters, json_pack("{s:s,s:s,s:s,s:o}", "vhost", p->vhost, "component",
                                                       "operator_policy", "name", p->name, "value", body));
    }
}

static void ex_vhost(void *ctx, vhost *v) {
    ex_ctx *x = ctx;
    static const vhost_walker walk = {ex_exchange, ex_queue, ex_binding, ex_policy, NULL};
    json_array_append_new(x->vhosts, json_pack("{s:s,s:{}}", "name", vhost_name(v), "limits"));
    vhost_walk(v, &walk, x);
}

char *defs_export(void) {
    json_t *users = json_array(), *perms = json_array();
    ex_ctx x = {json_array(), json_array(), json_array(), json_array(), json_array(), json_array()};
    access_foreach_user(ex_user, users);
    access_foreach_perm(ex_perm, perms);
    vhost_foreach(ex_vhost, &x);
    json_t *root = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:[],s:o,s:[],s:o,s:o,s:o,s:o}", "rabbit_version", "3.10.8",
                             "rabbitmq_version", "3.10.8", "product_name", config.product_name, "product_version",
                             config.product_version, "users", users, "vhosts", x.vhosts, "permissions", perms,
                             "topic_permissions", "parameters", x.parameters, "global_parameters", "policies",
                             x.policies, "queues", x.queues, "exchanges", x.exchanges, "bindings", x.bindings);
    char *out = root ? json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    return out;
}
