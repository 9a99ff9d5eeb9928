/* mgmt_read.c — the HTTP API's GET routes (mgmt_read_routes): overview,
 * nodes, connections, channels, consumers, exchanges, queues, bindings,
 * vhosts, users, permissions, policies, health checks, whoami; JSON fields as
 * RabbitMQ 3.10's management plugin names them (message_stats and rates come
 * from the stats work; fields Warren has no counterpart for are left out).
 * Model state is read through vhost_walk / vhost_foreach / access_foreach_*;
 * connections and channels through a worker job (conn_info.h). */
#include <dirent.h>
#include <stdatomic.h>
#include <pthread.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "config.h"
#include "conn_info.h"
#include "definitions.h"
#include "mgmt_int.h"
#include "mstats.h"
#include "policy.h"
#include "queue.h"
#include "queue_type.h"
#include "util.h"
#include "vhost.h"
#include "worker.h"

#define MGMT_API_VERSION "3.10.8" /* the management plugin whose API this follows */

static uint64_t started_ms;
void mgmt_read_init(void) { started_ms = now_ms(); }

bool mgmt_vhost_allowed(const mgmt_req *rq, const char *vh) {
    vhost *v = vhost_find(amq_cstr(vh));
    if (!v || vhost_is_deleted(v)) return false;
    if (rq->tags & (MGMT_TAG_ADMINISTRATOR | MGMT_TAG_MONITORING)) return true;
    access_grant *g = access_grant_get(rq->user, vh);
    if (!g) return false;
    access_grant_unref(&g);
    return true;
}

static bool sees_all(const mgmt_req *rq) { return rq->tags & (MGMT_TAG_ADMINISTRATOR | MGMT_TAG_MONITORING); }

static bool any_nonzero(const uint64_t *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (v[i]) return true;
    return false;
}

/* The vhost of a /V route: 404 if there is none, 401 if the user may not see it. */
static vhost *route_vhost(const mgmt_req *rq, mgmt_resp *rs, const char *vh) {
    vhost *v = vhost_find(amq_cstr(vh));
    if (!v || vhost_is_deleted(v)) {
        mgmt_error(rs, 404, "Object Not Found", "Not Found");
        return NULL;
    }
    if (!mgmt_vhost_allowed(rq, vh)) {
        mgmt_error(rs, 401, "not_authorised", "User not authorised to access virtual host");
        return NULL;
    }
    return v;
}

static void not_found(mgmt_resp *rs) { mgmt_error(rs, 404, "Object Not Found", "Not Found"); }

static json_t *str_n(const char *p, size_t n) { return json_stringn(p, n); }
static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *tag_list(const char *tags) {
    json_t *a = json_array();
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", tags ? tags : "");
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_string(t));
    return a;
}

/* Visible vhosts, as a NULL-terminated array of vhost* (caller frees). */
typedef struct {
    const mgmt_req *rq;
    vhost **v;
    size_t n, cap;
} vh_list;

static void collect_vhost(void *ctx, vhost *v) {
    vh_list *l = ctx;
    if (vhost_is_deleted(v)) return;
    if (l->n + 1 >= l->cap) l->v = xrealloc(l->v, (l->cap = l->cap ? l->cap * 2 : 8) * sizeof *l->v);
    l->v[l->n++] = v;
}

static size_t visible_vhosts(const mgmt_req *rq, const char *only, vhost ***out) {
    vh_list l = {.rq = rq};
    vhost_foreach(collect_vhost, &l);
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        const char *name = vhost_name(l.v[i]);
        if (only && strcmp(only, name)) continue;
        if (!mgmt_vhost_allowed(rq, name)) continue;
        l.v[k++] = l.v[i];
    }
    if (!l.v) l.v = xmalloc(sizeof *l.v);
    l.v[k] = NULL;
    *out = l.v;
    return k;
}

/* ---- listeners ---- */

static json_t *listeners_json(void) {
    json_t *a = json_array();
    json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:i,s:{}}", "node", node_name(), "protocol", "amqp", "ip_address",
                                       config.bind[0] ? config.bind : "::", "port", config.port, "socket_opts"));
    if (config.tls_port)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:i,s:{}}", "node", node_name(), "protocol", "amqp/ssl",
                                           "ip_address", config.tls_bind[0] ? config.tls_bind : "::", "port",
                                           config.tls_port, "socket_opts"));
    if (mgmt_running())
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:i,s:{s:i}}", "node", node_name(), "protocol", "http",
                                           "ip_address", config.mgmt_ip[0] ? config.mgmt_ip : "::", "port",
                                           config.mgmt_port, "socket_opts", "port", config.mgmt_port));
    return a;
}

static json_t *contexts_json(bool with_node) {
    char port[16];
    snprintf(port, sizeof port, "%d", config.mgmt_port);
    json_t *c = json_pack("{s:s,s:s,s:s}", "description", "RabbitMQ Management", "path", "/", "port", port);
    if (with_node) json_object_set_new(c, "node", json_string(node_name()));
    return json_pack("[o]", c);
}

static json_t *exchange_types_json(void) {
    static const char *const t[][2] = {
        {"direct", "AMQP direct exchange, as per the AMQP specification"},
        {"fanout", "AMQP fanout exchange, as per the AMQP specification"},
        {"headers", "AMQP headers exchange, as per the AMQP specification"},
        {"topic", "AMQP topic exchange, as per the AMQP specification"},
        {"x-delayed-message", "Delayed Message Exchange"},
    };
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "name", t[i][0], "description", t[i][1], "enabled", 1));
    return a;
}

/* ---- queue rows (small structs; JSON only for the returned page) ---- */

typedef struct qrow {
    const char *vhost; /* vhost_name(): stable while the broker runs */
    const char *name;  /* a copy (the request's arena) */
    const queue *q;    /* identity only: dereferenced only inside a walk of its vhost */
    uint32_t ready, consumers, unacked;
    uint64_t ready_bytes;
    json_t *js; /* the row's object, built inside a walk of its vhost */
} qrow;

typedef struct arena {
    struct arena *next;
    size_t used, cap;
    char data[];
} arena;

typedef struct {
    qrow *v;
    size_t n, cap;
    const char *only; /* a queue name, or NULL */
    bool counts;      /* sample the counts in the walk (the list is sorted by one) */
    bool json;        /* build every row's object in the walk (sorted by a key only JSON has) */
    arena *ar;
} qrows;

static const char *arena_copy(arena **ar, const char *p, size_t n) {
    if (!*ar || (*ar)->used + n + 1 > (*ar)->cap) {
        size_t cap = 1 << 16;
        arena *a = xmalloc(sizeof *a + cap);
        a->next = *ar, a->used = 0, a->cap = cap;
        *ar = a;
    }
    char *d = (*ar)->data + (*ar)->used;
    memcpy(d, p, n);
    d[n] = 0;
    (*ar)->used += n + 1;
    return d;
}

static void queue_sample(queue *q, uint32_t *ready, uint32_t *consumers, uint32_t *unacked, uint64_t *bytes) {
    queue_counts(q, ready, consumers);
    uint32_t ua = 0;
    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < q->nconsumers; i++)
        ua += atomic_load_explicit(&q->consumers[i]->unacked, memory_order_relaxed);
    *bytes = q->ready_bytes;
    pthread_mutex_unlock(&q->lock);
    *unacked = ua;
}

/* A queue's object; inside a walk of v (its policies are read under v's lock). */
static json_t *queue_json(vhost *v, queue *q) {
    uint32_t ready, consumers, unacked;
    uint64_t bytes;
    queue_sample(q, &ready, &consumers, &unacked, &bytes);
    bool quorum = q->type == &queue_type_quorum;
    const char *pol = policy_name_of_queue(q, false), *op = policy_name_of_queue(q, true);
    json_t *eff = pol || op ? policy_effective_queue(v, q) : NULL;
    json_t *o = json_pack(
        "{s:o,s:s,s:b,s:b,s:b,s:o,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:n}", "name",
        str_n(q->name, q->name_len), "vhost", vhost_name(v), "durable", q->durable, "auto_delete", q->auto_delete,
        "exclusive", q->exclusive, "arguments", defs_table_json(q->args.p, q->args.len), "node", node_name(), "type",
        quorum ? "quorum" : "classic", "state", "running", "consumers", (json_int_t)consumers, "messages",
        (json_int_t)ready + unacked, "messages_ready", (json_int_t)ready, "messages_unacknowledged",
        (json_int_t)unacked, "message_bytes_ready", (json_int_t)bytes, "policy", str_or_null(pol), "operator_policy",
        str_or_null(op), "effective_policy_definition", eff ? eff : json_object(), "exclusive_consumer_tag");
    uint64_t st[QST_N];
    for (int i = 0; i < QST_N; i++) st[i] = ctr_get(&q->st[i]);
    if (any_nonzero(st, QST_N)) /* RabbitMQ shows message_stats once a queue has seen traffic */
        json_object_set_new(o, "message_stats", mstats_message_stats(MS_QUEUE, vhost_name(v), q->name, 0, st));
    mstats_queue_depth_details(o, vhost_name(v), q->name);
    if (quorum) {
        json_object_set_new(o, "leader", json_string(node_name()));
        json_object_set_new(o, "members", json_pack("[s]", node_name()));
        json_object_set_new(o, "online", json_pack("[s]", node_name()));
    }
    return o;
}

static void collect_queue(void *ctx, vhost *v, queue *q, amq_bytes name) {
    qrows *l = ctx;
    if (l->only && (strlen(l->only) != name.len || memcmp(l->only, name.p, name.len))) return;
    if (l->n == l->cap) l->v = xrealloc(l->v, (l->cap = l->cap ? l->cap * 2 : 64) * sizeof *l->v);
    qrow *r = &l->v[l->n++];
    memset(r, 0, sizeof *r);
    r->vhost = vhost_name(v);
    r->name = arena_copy(&l->ar, (const char *)name.p, name.len);
    r->q = q;
    if (l->counts) queue_sample(q, &r->ready, &r->consumers, &r->unacked, &r->ready_bytes);
    if (l->json) r->js = queue_json(v, q);
}

static void qrows_free(qrows *l) {
    for (size_t i = 0; i < l->n; i++) json_decref(l->v[i].js);
    free(l->v);
    while (l->ar) {
        arena *a = l->ar;
        l->ar = a->next;
        free(a);
    }
}

static const char *qrow_name(const void *row) { return ((const qrow *)row)->name; }

static bool count_key(const char *key) {
    return !strcmp(key, "messages") || !strcmp(key, "messages_ready") || !strcmp(key, "messages_unacknowledged") ||
           !strcmp(key, "consumers") || !strcmp(key, "message_bytes_ready");
}

static int qrow_sortval(const void *row, const char *key, double *num, const char **str) {
    const qrow *r = row;
    if (!strcmp(key, "name")) return *str = r->name, 2;
    if (!strcmp(key, "vhost")) return *str = r->vhost, 2;
    if (r->js) return 0; /* from the object */
    if (!strcmp(key, "messages")) return *num = (double)r->ready + r->unacked, 1;
    if (!strcmp(key, "messages_ready")) return *num = r->ready, 1;
    if (!strcmp(key, "messages_unacknowledged")) return *num = r->unacked, 1;
    if (!strcmp(key, "consumers")) return *num = r->consumers, 1;
    if (!strcmp(key, "message_bytes_ready")) return *num = (double)r->ready_bytes, 1;
    return -1;
}

static json_t *qrow_json(const void *row) {
    const qrow *r = row;
    if (r->js) return json_incref(r->js);
    /* deleted between the walks */
    return json_pack("{s:s,s:s}", "name", r->name, "vhost", r->vhost);
}

/* The returned page's rows get their objects: one more walk of each vhost
 * they are in, matching queues by identity (a queue deleted meanwhile is not
 * met, so no pointer is followed that is not in the vhost's tables). */
typedef struct {
    qrow **rows; /* sorted by q */
    size_t n;
} page_set;

static int cmp_qrow_q(const void *a, const void *b) {
    const queue *x = (*(qrow *const *)a)->q, *y = (*(qrow *const *)b)->q;
    return x < y ? -1 : x > y;
}

static void fill_page_row(void *ctx, vhost *v, queue *q) {
    page_set *ps = ctx;
    size_t lo = 0, hi = ps->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ps->rows[mid]->q < q) lo = mid + 1;
        else hi = mid;
    }
    for (; lo < ps->n && ps->rows[lo]->q == q; lo++)
        if (!ps->rows[lo]->js) ps->rows[lo]->js = queue_json(v, q);
}

static void qrow_prepare(const void *const *rows, size_t n) {
    page_set ps = {xmalloc((n ? n : 1) * sizeof *ps.rows), 0};
    for (size_t i = 0; i < n; i++)
        if (!((const qrow *)rows[i])->js) ps.rows[ps.n++] = (qrow *)rows[i];
    qsort(ps.rows, ps.n, sizeof *ps.rows, cmp_qrow_q);
    const char *done[64];
    size_t ndone = 0;
    for (size_t i = 0; i < ps.n; i++) {
        const char *vh = ps.rows[i]->vhost;
        bool seen = false;
        for (size_t k = 0; k < ndone && !seen; k++) seen = done[k] == vh;
        if (seen) continue;
        if (ndone < 64) done[ndone++] = vh;
        vhost *v = vhost_find(amq_cstr(vh));
        if (v) vhost_walk(v, &(vhost_walker){.queue = fill_page_row}, &ps);
    }
    free(ps.rows);
}

static const char *const by_vhost_name[] = {"vhost", "name", NULL};
static const mgmt_rowtype qrow_type = {qrow_name, qrow_sortval, qrow_json, by_vhost_name, qrow_prepare};

static _Atomic size_t last_queue_count; /* sizes the next list's rows up front */

static void take_queues(const mgmt_req *rq, const char *only_vh, const char *only_q, qrows *l) {
    vhost **vs;
    visible_vhosts(rq, only_vh, &vs);
    if (!only_q) {
        l->cap = atomic_load(&last_queue_count) + 64;
        l->v = xmalloc(l->cap * sizeof *l->v);
    }
    l->only = only_q;
    const char *sort = rq->query(rq, "sort");
    if (sort && *sort && strcmp(sort, "name") && strcmp(sort, "vhost")) {
        if (count_key(sort)) l->counts = true;
        else l->json = true;
    }
    if (only_q) l->json = true;
    for (size_t i = 0; vs[i]; i++) vhost_walk(vs[i], &(vhost_walker){.queue_named = collect_queue}, l);
    free(vs);
    if (!only_q && !only_vh) atomic_store(&last_queue_count, l->n);
}

static void reply_qrows(const mgmt_req *rq, mgmt_resp *rs, qrows *l) {
    const void **v = xmalloc((l->n ? l->n : 1) * sizeof *v);
    for (size_t i = 0; i < l->n; i++) v[i] = &l->v[i];
    mgmt_reply_rows(rq, rs, v, l->n, &qrow_type);
    free(v);
}

static void get_queues(const mgmt_req *rq, mgmt_resp *rs) {
    if (rq->nseg == 2 && !route_vhost(rq, rs, rq->seg[1])) return;
    qrows l = {0};
    take_queues(rq, rq->nseg == 2 ? rq->seg[1] : NULL, NULL, &l);
    reply_qrows(rq, rs, &l);
    qrows_free(&l);
}

static json_t *consumer_json(const ci_snapshot *s, const ci_cons *c);

static void get_queue(const mgmt_req *rq, mgmt_resp *rs) {
    if (!route_vhost(rq, rs, rq->seg[1])) return;
    qrows l = {0};
    take_queues(rq, rq->seg[1], rq->seg[2], &l);
    if (!l.n) {
        qrows_free(&l);
        not_found(rs);
        return;
    }
    json_t *o = qrow_json(&l.v[0]);
    qrows_free(&l);
    json_t *cd = json_array();
    ci_snapshot s;
    if (!ci_snapshot_take(&s, CI_CONSUMERS)) {
        for (size_t i = 0; i < s.ncons; i++)
            if (!strcmp(s.cons[i].vhost, rq->seg[1]) && !strcmp(s.cons[i].queue, rq->seg[2]))
                json_array_append_new(cd, consumer_json(&s, &s.cons[i]));
        ci_snapshot_free(&s);
    }
    json_object_set_new(o, "consumer_details", cd);
    json_object_set_new(o, "deliveries", json_array());
    json_object_set_new(o, "incoming", json_array());
    rs->body = o;
}

/* ---- exchanges ---- */

typedef struct {
    json_t *rows;
    const char *only; /* exchange name ("" = the default one), or NULL */
} xrows;

static void collect_exchange(void *ctx, vhost *v, const exchange *x) {
    xrows *l = ctx;
    if (l->only && (strlen(l->only) != x->name_len || memcmp(l->only, x->name, x->name_len))) return;
    json_t *o = json_pack("{s:o,s:s,s:s,s:b,s:b,s:b,s:o}", "name", str_n(x->name, x->name_len), "vhost", vhost_name(v),
                          "type", vhost_exchange_type_name(x), "durable", x->durable, "auto_delete", x->auto_delete,
                          "internal", x->internal, "arguments", defs_table_json(x->args.p, x->args.len));
    const char *p = policy_name_of_exchange(x, false), *op = policy_name_of_exchange(x, true);
    if (p) json_object_set_new(o, "policy", json_string(p));
    if (op) json_object_set_new(o, "operator_policy", json_string(op));
    if (!x->name_len) json_object_set_new(o, "user_who_performed_action", json_string("rmq-internal"));
    uint64_t st[XST_N];
    for (int i = 0; i < XST_N; i++) st[i] = ctr_get(&x->st[i]);
    if (any_nonzero(st, XST_N)) {
        char name[256];
        memcpy(name, x->name, x->name_len);
        name[x->name_len] = 0;
        json_object_set_new(o, "message_stats", mstats_message_stats(MS_EXCHANGE, vhost_name(v), name, 0, st));
    }
    json_array_append_new(l->rows, o);
}

static json_t *take_exchanges(const mgmt_req *rq, const char *only_vh, const char *only_x) {
    vhost **vs;
    visible_vhosts(rq, only_vh, &vs);
    xrows l = {json_array(), only_x};
    for (size_t i = 0; vs[i]; i++) vhost_walk(vs[i], &(vhost_walker){.exchange = collect_exchange}, &l);
    free(vs);
    return l.rows;
}

static const char *x_name(const char *seg) { return strcmp(seg, "amq.default") ? seg : ""; }

static const char *json_name(const void *row) { return json_string_value(json_object_get((json_t *)row, "name")); }
static int json_sortval(const void *row, const char *key, double *num, const char **str) {
    json_t *v = mgmt_json_path((json_t *)row, key);
    if (json_is_number(v)) return *num = json_number_value(v), 1;
    if (json_is_boolean(v)) return *num = json_is_true(v), 1;
    if (json_is_string(v)) return *str = json_string_value(v), 2;
    return -1;
}
static json_t *json_self(const void *row) { return json_incref((json_t *)row); }

/* A JSON list sorted by default on keys (RabbitMQ's default order). */
static void reply_json_sorted(const mgmt_req *rq, mgmt_resp *rs, json_t *rows, const char *const *keys) {
    const mgmt_rowtype t = {json_name, json_sortval, json_self, keys, NULL};
    size_t n = json_array_size(rows);
    const void **v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = json_array_get(rows, i);
    mgmt_reply_rows(rq, rs, v, n, &t);
    free(v);
    json_decref(rows);
}

static void get_exchanges(const mgmt_req *rq, mgmt_resp *rs) {
    if (rq->nseg == 2 && !route_vhost(rq, rs, rq->seg[1])) return;
    reply_json_sorted(rq, rs, take_exchanges(rq, rq->nseg == 2 ? rq->seg[1] : NULL, NULL), by_vhost_name);
}

static void get_exchange(const mgmt_req *rq, mgmt_resp *rs) {
    if (!route_vhost(rq, rs, rq->seg[1])) return;
    json_t *l = take_exchanges(rq, rq->seg[1], x_name(rq->seg[2]));
    json_t *o = json_array_get(l, 0);
    if (!o) {
        json_decref(l);
        not_found(rs);
        return;
    }
    json_incref(o);
    json_decref(l);
    json_object_set_new(o, "incoming", json_array());
    json_object_set_new(o, "outgoing", json_array());
    rs->body = o;
}

/* ---- bindings ---- */

/* RabbitMQ's properties_key: "~" for an empty routing key without
 * arguments; else the key as its quote_plus writes it ([A-Za-z0-9._-] kept,
 * space as '+', the rest %XX, '~' too), then, if the binding has arguments,
 * "~" and a digest of them in RabbitMQ's shape (6 characters of base64url).
 * RabbitMQ digests the Erlang term (phash2); Warren's digest is its own
 * (FNV-1a of the arguments' canonical JSON), so with arguments the key
 * differs from RabbitMQ's: it is opaque and only has to come back unchanged
 * in a binding's URL (the write routes, mgmt_write.c, look bindings up by it). */
void mgmt_props_key(const char *rk, size_t rklen, json_t *args, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    bool has_args = args && json_object_size(args);
    size_t o = 0;
    if (!rklen && !has_args && cap > 1) out[o++] = '~';
    for (size_t i = 0; i < rklen && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)rk[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_.", c))
            out[o++] = (char)c;
        else if (c == ' ') out[o++] = '+';
        else out[o++] = '%', out[o++] = hex[c >> 4], out[o++] = hex[c & 15];
    }
    out[o] = 0;
    if (!has_args) return;
    char *text = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
    uint32_t h = 2166136261u;
    for (const char *p = text; p && *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    free(text);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (o + 8 < cap) { /* 32 bits as base64url without padding, as rabbit_misc:base64url */
        uint8_t raw[4] = {(uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h};
        out[o++] = '~';
        out[o++] = b64[raw[0] >> 2];
        out[o++] = b64[(raw[0] & 3) << 4 | raw[1] >> 4];
        out[o++] = b64[(raw[1] & 15) << 2 | raw[2] >> 6];
        out[o++] = b64[raw[2] & 63];
        out[o++] = b64[raw[3] >> 2];
        out[o++] = b64[(raw[3] & 3) << 4];
        out[o] = 0;
    }
}

static json_t *binding_json(const char *vh, const char *src, size_t srclen, const char *dst, size_t dstlen,
                            bool to_queue, const char *rk, size_t rklen, json_t *args) {
    char pk[1200];
    mgmt_props_key(rk, rklen, args, pk, sizeof pk);
    return json_pack("{s:o,s:s,s:o,s:s,s:o,s:o,s:s}", "source", str_n(src, srclen), "vhost", vh, "destination",
                     str_n(dst, dstlen), "destination_type", to_queue ? "queue" : "exchange", "routing_key",
                     str_n(rk, rklen), "arguments", args, "properties_key", pk);
}

typedef struct {
    json_t *rows;
    const char *src, *dst; /* filters, NULL = any */
    bool dst_queue;        /* dst names a queue (else an exchange) */
} brows;

static bool eq_n(const char *s, const void *p, size_t n) { return strlen(s) == n && !memcmp(s, p, n); }

static void collect_default_binding(void *ctx, vhost *v, queue *q) {
    brows *l = ctx;
    if (l->src && *l->src) return;
    if (l->dst && (!l->dst_queue || !eq_n(l->dst, q->name, q->name_len))) return;
    json_array_append_new(
        l->rows, binding_json(vhost_name(v), "", 0, q->name, q->name_len, true, q->name, q->name_len, json_object()));
}

static void collect_binding(void *ctx, vhost *v, const vbinding *b) {
    brows *l = ctx;
    if (l->src && !eq_n(l->src, b->src->name, b->src->name_len)) return;
    if (l->dst && (l->dst_queue != b->dest_is_queue || !eq_n(l->dst, b->dest_name.p, b->dest_name.len))) return;
    json_array_append_new(l->rows,
                          binding_json(vhost_name(v), b->src->name, b->src->name_len, (const char *)b->dest_name.p,
                                       b->dest_name.len, b->dest_is_queue, (const char *)b->key.p, b->key.len,
                                       defs_table_json(b->args.p, b->args.len)));
}

static json_t *take_bindings(const mgmt_req *rq, const char *only_vh, brows *l) {
    vhost **vs;
    visible_vhosts(rq, only_vh, &vs);
    l->rows = json_array();
    for (size_t i = 0; vs[i]; i++)
        vhost_walk(vs[i], &(vhost_walker){.queue = collect_default_binding, .binding = collect_binding}, l);
    free(vs);
    return l->rows;
}

/* Bindings keep the walk's order (default bindings first), as RabbitMQ lists them. */
static void get_bindings(const mgmt_req *rq, mgmt_resp *rs) {
    if (rq->nseg == 2 && !route_vhost(rq, rs, rq->seg[1])) return;
    brows l = {0};
    mgmt_reply_list(rq, rs, take_bindings(rq, rq->nseg == 2 ? rq->seg[1] : NULL, &l));
}

static void get_queue_bindings(const mgmt_req *rq, mgmt_resp *rs) {
    if (!route_vhost(rq, rs, rq->seg[1])) return;
    qrows q = {0};
    take_queues(rq, rq->seg[1], rq->seg[2], &q);
    bool found = q.n;
    qrows_free(&q);
    if (!found) return not_found(rs);
    brows l = {.dst = rq->seg[2], .dst_queue = true};
    mgmt_reply_list(rq, rs, take_bindings(rq, rq->seg[1], &l));
}

static void get_exchange_bindings(const mgmt_req *rq, mgmt_resp *rs) {
    if (!route_vhost(rq, rs, rq->seg[1])) return;
    const char *x = x_name(rq->seg[2]);
    json_t *xs = take_exchanges(rq, rq->seg[1], x);
    bool found = json_array_size(xs);
    json_decref(xs);
    if (!found) return not_found(rs);
    bool source = !strcmp(rq->seg[4], "source");
    /* The default exchange's bindings are implicit: RabbitMQ lists them for
     * the queues and in /api/bindings, not as the exchange's source list. */
    if (source && !*x) return mgmt_reply_list(rq, rs, json_array());
    brows l = {.src = source ? x : NULL, .dst = source ? NULL : x, .dst_queue = false};
    mgmt_reply_list(rq, rs, take_bindings(rq, rq->seg[1], &l));
}

/* ---- connections, channels, consumers ---- */

static bool conn_visible(const mgmt_req *rq, const ci_conn *c) { return sees_all(rq) || !strcmp(c->user, rq->user); }

static json_t *conn_json(const ci_conn *c) {
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:i,s:b,s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:s,s:I,s:I,s:I,"
        "s:I,s:I,s:{}}",
        "name", c->name, "node", node_name(), "type", "network", "user", c->user, "user_who_performed_action", c->user,
        "vhost", c->vhost, "protocol", "AMQP 0-9-1", "host", c->host, "port", c->port, "peer_host", c->peer_host,
        "peer_port", c->peer_port, "ssl", c->tls, "ssl_protocol", "ssl_key_exchange", "ssl_cipher", "ssl_hash",
        "peer_cert_subject", "peer_cert_issuer", "peer_cert_validity", "state", c->state, "channels",
        (json_int_t)c->nchans, "channel_max", (json_int_t)c->channel_max, "frame_max", (json_int_t)c->frame_max,
        "timeout", (json_int_t)c->heartbeat, "connected_at", (json_int_t)c->connected_at, "client_properties");
    if (c->client_props) {
        json_t *cp = defs_table_json(c->client_props, c->client_props_len);
        /* RabbitMQ shows a client's connection_name as user_provided_name too */
        json_t *un = json_object_get(cp, "connection_name");
        if (json_is_string(un)) json_object_set(o, "user_provided_name", un);
        json_object_set_new(o, "client_properties", cp);
    }
    mstats_conn_octets(o, c->id, c->recv_oct, c->recv_cnt, c->send_oct, c->send_cnt);
    return o;
}

static json_t *chan_json(const ci_snapshot *s, const ci_chan *h) {
    const ci_conn *c = &s->conns[h->conn];
    char name[200];
    snprintf(name, sizeof name, "%s (%u)", c->name, h->number);
    json_t *o = json_pack(
        "{s:s,s:s,s:i,s:{s:s,s:s,s:i},s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:b,s:b,s:i}", "name", name, "node",
        node_name(), "number", h->number, "connection_details", "name", c->name, "peer_host", c->peer_host, "peer_port",
        c->peer_port, "user", c->user, "user_who_performed_action", c->user, "vhost", c->vhost, "state",
        h->closing ? "closing" : "running", "prefetch_count", (json_int_t)h->prefetch, "global_prefetch_count",
        (json_int_t)h->global_prefetch, "consumer_count", (json_int_t)h->consumers, "messages_unacknowledged",
        (json_int_t)h->unacked, "messages_unconfirmed", (json_int_t)h->unconfirmed, "messages_uncommitted", 0,
        "acks_uncommitted", 0, "confirm", h->confirm, "transactional", h->tx, "pending_raft_commands", 0);
    if (any_nonzero(h->st, CHST_N))
        json_object_set_new(o, "message_stats",
                            mstats_message_stats(MS_CHANNEL, NULL, NULL, c->id << 16 | h->number, h->st));
    return o;
}

static json_t *consumer_json(const ci_snapshot *s, const ci_cons *k) {
    const ci_chan *h = &s->chans[k->chan];
    const ci_conn *c = &s->conns[h->conn];
    char name[200];
    snprintf(name, sizeof name, "%s (%u)", c->name, h->number);
    json_t *args = json_object();
    if (k->priority) json_object_set_new(args, "x-priority", json_integer(k->priority));
    return json_pack("{s:o,s:b,s:b,s:s,s:{s:s,s:s,s:s,s:i,s:s,s:i,s:s},s:s,s:b,s:I,s:{s:s,s:s}}", "arguments", args,
                     "ack_required", k->ack_required, "active", 1, "activity_status", "up", "channel_details",
                     "connection_name", c->name, "name", name, "node", node_name(), "number", h->number, "peer_host",
                     c->peer_host, "peer_port", c->peer_port, "user", c->user, "consumer_tag", k->tag, "exclusive",
                     k->exclusive, "prefetch_count", (json_int_t)k->prefetch, "queue", "name", k->queue, "vhost",
                     k->vhost);
}

static bool take_snapshot(mgmt_resp *rs, ci_snapshot *s, unsigned what) {
    if (!ci_snapshot_take(s, what)) return true;
    mgmt_error(rs, 500, "internal_error", "timed out waiting for the worker threads");
    return false;
}

/* seg: connections[/NAME[/channels]], vhosts/V/connections */
static void get_connections(const mgmt_req *rq, mgmt_resp *rs) {
    const char *vh = !strcmp(rq->seg[0], "vhosts") ? rq->seg[1] : NULL;
    if (vh && !route_vhost(rq, rs, vh)) return;
    ci_snapshot s;
    if (!take_snapshot(rs, &s, CI_CLIENT_PROPS)) return;
    json_t *rows = json_array();
    for (size_t i = 0; i < s.nconns; i++)
        if (conn_visible(rq, &s.conns[i]) && (!vh || !strcmp(vh, s.conns[i].vhost)))
            json_array_append_new(rows, conn_json(&s.conns[i]));
    ci_snapshot_free(&s);
    static const char *const by_name[] = {"name", NULL};
    reply_json_sorted(rq, rs, rows, by_name);
}

static void get_connection(const mgmt_req *rq, mgmt_resp *rs) {
    ci_snapshot s;
    if (!take_snapshot(rs, &s, CI_CHANNELS | CI_CLIENT_PROPS)) return;
    const ci_conn *c = NULL;
    for (size_t i = 0; i < s.nconns && !c; i++)
        if (!strcmp(s.conns[i].name, rq->seg[1]) && conn_visible(rq, &s.conns[i])) c = &s.conns[i];
    if (!c) not_found(rs);
    else if (rq->nseg == 2) rs->body = conn_json(c);
    else {
        json_t *rows = json_array();
        for (size_t i = 0; i < s.nchans; i++)
            if (&s.conns[s.chans[i].conn] == c) json_array_append_new(rows, chan_json(&s, &s.chans[i]));
        static const char *const by_name[] = {"name", NULL};
        reply_json_sorted(rq, rs, rows, by_name);
    }
    ci_snapshot_free(&s);
}

/* channels[/NAME], vhosts/V/channels */
static void get_channels(const mgmt_req *rq, mgmt_resp *rs) {
    const char *vh = !strcmp(rq->seg[0], "vhosts") ? rq->seg[1] : NULL;
    const char *one = !vh && rq->nseg == 2 ? rq->seg[1] : NULL;
    if (vh && !route_vhost(rq, rs, vh)) return;
    ci_snapshot s;
    if (!take_snapshot(rs, &s, CI_CHANNELS)) return;
    json_t *rows = json_array();
    for (size_t i = 0; i < s.nchans; i++) {
        const ci_conn *c = &s.conns[s.chans[i].conn];
        if (!conn_visible(rq, c) || (vh && strcmp(vh, c->vhost))) continue;
        json_t *o = chan_json(&s, &s.chans[i]);
        if (one && strcmp(json_string_value(json_object_get(o, "name")), one)) {
            json_decref(o);
            continue;
        }
        json_array_append_new(rows, o);
    }
    ci_snapshot_free(&s);
    if (one) {
        json_t *o = json_array_get(rows, 0);
        if (o) rs->body = json_incref(o);
        else not_found(rs);
        json_decref(rows);
        return;
    }
    static const char *const by_name[] = {"name", NULL};
    reply_json_sorted(rq, rs, rows, by_name);
}

static void get_consumers(const mgmt_req *rq, mgmt_resp *rs) {
    const char *vh = rq->nseg == 2 ? rq->seg[1] : NULL;
    if (vh && !route_vhost(rq, rs, vh)) return;
    ci_snapshot s;
    if (!take_snapshot(rs, &s, CI_CONSUMERS)) return;
    json_t *rows = json_array();
    for (size_t i = 0; i < s.ncons; i++) {
        const ci_cons *k = &s.cons[i];
        const ci_conn *c = &s.conns[s.chans[k->chan].conn];
        if (vh && strcmp(vh, k->vhost)) continue;
        if (!sees_all(rq) && !mgmt_vhost_allowed(rq, k->vhost)) continue;
        (void)c;
        json_array_append_new(rows, consumer_json(&s, k));
    }
    ci_snapshot_free(&s);
    mgmt_reply_list(rq, rs, rows);
}

/* ---- vhosts ---- */

static void sum_queue(void *ctx, vhost *v, queue *q) {
    (void)v;
    uint64_t *t = ctx;
    uint32_t ready, cons, ua;
    uint64_t bytes;
    queue_sample(q, &ready, &cons, &ua, &bytes);
    t[0] += ready, t[1] += ua, t[2]++, t[3] += cons;
}

static json_t *vhost_json(vhost *v) {
    uint64_t t[4] = {0};
    vhost_walk(v, &(vhost_walker){.queue = sum_queue}, t);
    const char *n = vhost_name(v);
    const char *desc = strcmp(n, "/") ? "" : "Default virtual host";
    json_t *o = json_pack("{s:s,s:s,s:[],s:s,s:{s:s,s:[]},s:b,s:{s:s},s:I,s:I,s:I}", "name", n, "description", desc,
                          "tags", "default_queue_type", "undefined", "metadata", "description", desc, "tags", "tracing",
                          0, "cluster_state", node_name(), "running", "messages", (json_int_t)(t[0] + t[1]),
                          "messages_ready", (json_int_t)t[0], "messages_unacknowledged", (json_int_t)t[1]);
    uint64_t st[STAT_N] = {0};
    stat_set_sum(vhost_stats(v), st);
    if (any_nonzero(st, STAT_N))
        json_object_set_new(o, "message_stats", mstats_message_stats(MS_VHOST, n, NULL, 0, st));
    mstats_vhost_depth_details(o, n);
    static const char *const oct[] = {"recv_oct", "send_oct"};
    const enum stat_ctr octc[] = {STAT_RECV_OCT, STAT_SEND_OCT};
    char dk[32];
    for (int i = 0; i < 2; i++) {
        json_object_set_new(o, oct[i], json_integer((json_int_t)st[octc[i]]));
        snprintf(dk, sizeof dk, "%s_details", oct[i]);
        json_object_set_new(o, dk, json_pack("{s:f}", "rate", mstats_rate(n, octc[i])));
    }
    return o;
}

static void get_vhosts(const mgmt_req *rq, mgmt_resp *rs) {
    vhost **vs;
    visible_vhosts(rq, NULL, &vs);
    json_t *rows = json_array();
    for (size_t i = 0; vs[i]; i++) json_array_append_new(rows, vhost_json(vs[i]));
    free(vs);
    static const char *const by_name[] = {"name", NULL};
    reply_json_sorted(rq, rs, rows, by_name);
}

static void get_vhost(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = route_vhost(rq, rs, rq->seg[1]);
    if (v) rs->body = vhost_json(v);
}

/* ---- users and permissions (administrators) ---- */

typedef struct {
    json_t *rows;
    const char *only;
    bool without_perms;
} urows;

static void collect_user(void *ctx, const char *name, int algo, const char *hash, const char *tags) {
    urows *l = ctx;
    if (l->only && strcmp(l->only, name)) return;
    const char *alg = access_hash_name(algo); /* "rabbit_password_hashing_sha256" */
    json_array_append_new(l->rows, json_pack("{s:s,s:s,s:s,s:o,s:{}}", "name", name, "password_hash", hash,
                                             "hashing_algorithm", alg, "tags", tag_list(tags), "limits"));
}

typedef struct {
    json_t *rows;
    const char *user, *vhost; /* filters, NULL = any */
    bool vhost_first;
} prows;

static void collect_perm(void *ctx, const char *u, const char *v, const char *c, const char *w, const char *r) {
    prows *l = ctx;
    if ((l->user && strcmp(l->user, u)) || (l->vhost && strcmp(l->vhost, v))) return;
    json_array_append_new(l->rows, l->vhost_first ? json_pack("{s:s,s:s,s:s,s:s,s:s}", "vhost", v, "user", u,
                                                              "configure", c, "write", w, "read", r)
                                                  : json_pack("{s:s,s:s,s:s,s:s,s:s}", "user", u, "vhost", v,
                                                              "configure", c, "write", w, "read", r));
}

static json_t *take_perms(const char *user, const char *vh, bool vhost_first) {
    prows l = {json_array(), user, vh, vhost_first};
    access_foreach_perm(collect_perm, &l);
    return l.rows;
}

static void get_users(const mgmt_req *rq, mgmt_resp *rs) {
    urows l = {json_array(), NULL, false};
    access_foreach_user(collect_user, &l);
    if (rq->nseg == 2) { /* users/without-permissions */
        json_t *keep = json_array();
        size_t i;
        json_t *u;
        json_array_foreach(l.rows, i, u) {
            json_t *p = take_perms(json_string_value(json_object_get(u, "name")), NULL, false);
            if (!json_array_size(p)) json_array_append(keep, u);
            json_decref(p);
        }
        json_decref(l.rows);
        l.rows = keep;
    }
    static const char *const by_name[] = {"name", NULL};
    reply_json_sorted(rq, rs, l.rows, by_name);
}

static void get_user(const mgmt_req *rq, mgmt_resp *rs) {
    if (!strcmp(rq->seg[1], "without-permissions")) return get_users(rq, rs);
    urows l = {json_array(), rq->seg[1], false};
    access_foreach_user(collect_user, &l);
    json_t *o = json_array_get(l.rows, 0);
    if (o) rs->body = json_incref(o);
    else not_found(rs);
    json_decref(l.rows);
}

static void get_user_permissions(const mgmt_req *rq, mgmt_resp *rs) {
    if (!access_user_exists(rq->seg[1])) return not_found(rs);
    mgmt_reply_list(rq, rs, take_perms(rq->seg[1], NULL, false));
}

static void get_vhost_permissions(const mgmt_req *rq, mgmt_resp *rs) {
    if (!route_vhost(rq, rs, rq->seg[1])) return;
    mgmt_reply_list(rq, rs, take_perms(NULL, rq->seg[1], true));
}

static void get_permissions(const mgmt_req *rq, mgmt_resp *rs) {
    if (rq->nseg == 1) return mgmt_reply_list(rq, rs, take_perms(NULL, NULL, false));
    if (!route_vhost(rq, rs, rq->seg[1])) return;
    json_t *l = take_perms(rq->seg[2], rq->seg[1], false);
    json_t *o = json_array_get(l, 0);
    if (o) rs->body = json_incref(o);
    else not_found(rs);
    json_decref(l);
}

/* ---- policies ---- */

typedef struct {
    json_t *rows;
    bool op;
    const char *only;
} polrows;

static void collect_policy(void *ctx, vhost *v, const policy_info *p) {
    (void)v;
    polrows *l = ctx;
    if (p->op != l->op || (l->only && strcmp(l->only, p->name))) return;
    json_array_append_new(l->rows, json_pack("{s:s,s:s,s:s,s:s,s:O,s:I}", "vhost", p->vhost, "name", p->name, "pattern",
                                             p->pattern, "apply-to", p->apply_to, "definition", p->definition,
                                             "priority", (json_int_t)p->priority));
}

/* policies[/V[/N]], operator-policies[/V[/N]] */
static void get_policies(const mgmt_req *rq, mgmt_resp *rs) {
    const char *vh = rq->nseg >= 2 ? rq->seg[1] : NULL;
    if (vh && !route_vhost(rq, rs, vh)) return;
    vhost **vs;
    visible_vhosts(rq, vh, &vs);
    polrows l = {json_array(), !strcmp(rq->seg[0], "operator-policies"), rq->nseg == 3 ? rq->seg[2] : NULL};
    for (size_t i = 0; vs[i]; i++) vhost_walk(vs[i], &(vhost_walker){.policy = collect_policy}, &l);
    free(vs);
    if (rq->nseg == 3) {
        json_t *o = json_array_get(l.rows, 0);
        if (o) rs->body = json_incref(o);
        else not_found(rs);
        json_decref(l.rows);
        return;
    }
    reply_json_sorted(rq, rs, l.rows, by_vhost_name);
}

/* ---- overview and nodes ---- */

static void count_objects(void *ctx, vhost *v, queue *q) {
    (void)v;
    uint64_t *t = ctx;
    uint32_t ready, cons, ua;
    uint64_t bytes;
    queue_sample(q, &ready, &cons, &ua, &bytes);
    t[0] += ready, t[1] += ua, t[2]++, t[3] += cons;
}

static void count_exchange(void *ctx, vhost *v, const exchange *x) {
    (void)v, (void)x;
    ((uint64_t *)ctx)[4]++;
}

/* Per-vhost totals for the overview, sampled once a second by a thread of
 * the management plane (RabbitMQ's are up to 5 s old): walking 100,000
 * queues costs milliseconds, which /api/overview must not. */
typedef struct vtot {
    char name[256];
    uint64_t t[5]; /* ready, unacked, queues, consumers, exchanges */
} vtot;

static pthread_mutex_t tot_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tot_cv = PTHREAD_COND_INITIALIZER;
static vtot *tots; /* under tot_mu */
static size_t ntots;
static bool tots_valid, sampler_stop, sampler_on;
static pthread_t sampler;

typedef struct {
    vtot *v;
    size_t n, cap;
} vtots;

static void sample_vhost(void *ctx, vhost *v) {
    vtots *l = ctx;
    if (vhost_is_deleted(v)) return;
    if (l->n == l->cap) l->v = xrealloc(l->v, (l->cap = l->cap ? l->cap * 2 : 8) * sizeof *l->v);
    memset(&l->v[l->n], 0, sizeof l->v[l->n]);
    snprintf(l->v[l->n].name, sizeof l->v[l->n].name, "%s", vhost_name(v));
    l->n++;
}

static void sample_totals(void) {
    vtots l = {0};
    vhost_foreach(sample_vhost, &l); /* names first: the walks run outside the vhost table's lock */
    for (size_t i = 0; i < l.n; i++) {
        vhost *v = vhost_find(amq_cstr(l.v[i].name));
        if (v) vhost_walk(v, &(vhost_walker){.queue = count_objects, .exchange = count_exchange}, l.v[i].t);
    }
    pthread_mutex_lock(&tot_mu);
    free(tots);
    tots = l.v;
    ntots = l.n;
    tots_valid = true;
    pthread_mutex_unlock(&tot_mu);
}

static void *sampler_run(void *arg) {
    (void)arg;
    pthread_mutex_lock(&tot_mu);
    while (!sampler_stop) {
        pthread_mutex_unlock(&tot_mu);
        uint64_t t0 = now_ms();
        sample_totals();
        /* every second, or 20 times as long as a walk takes: at most 5 % of a core */
        uint64_t pause = (now_ms() - t0) * 20;
        if (pause < 1000) pause = 1000;
        pthread_mutex_lock(&tot_mu);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += (time_t)(pause / 1000);
        dl.tv_nsec += (long)(pause % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
        while (!sampler_stop && pthread_cond_timedwait(&tot_cv, &tot_mu, &dl) == 0) {}
    }
    pthread_mutex_unlock(&tot_mu);
    return NULL;
}

void mgmt_sampler_start(void) {
    sampler_stop = false;
    sampler_on = !pthread_create(&sampler, NULL, sampler_run, NULL);
}

void mgmt_sampler_stop(void) {
    if (!sampler_on) return;
    pthread_mutex_lock(&tot_mu);
    sampler_stop = true;
    pthread_cond_broadcast(&tot_cv);
    pthread_mutex_unlock(&tot_mu);
    pthread_join(sampler, NULL);
    sampler_on = false;
    pthread_mutex_lock(&tot_mu);
    free(tots);
    tots = NULL;
    ntots = 0;
    tots_valid = false;
    pthread_mutex_unlock(&tot_mu);
}

static void get_overview(const mgmt_req *rq, mgmt_resp *rs) {
    uint64_t t[5] = {0};
    pthread_mutex_lock(&tot_mu);
    bool have = tots_valid;
    vtot *copy = NULL;
    size_t n = ntots;
    if (have && n) {
        copy = xmalloc(n * sizeof *copy);
        memcpy(copy, tots, n * sizeof *copy);
    }
    pthread_mutex_unlock(&tot_mu);
    if (have) {
        for (size_t i = 0; i < n; i++)
            if (mgmt_vhost_allowed(rq, copy[i].name))
                for (int k = 0; k < 5; k++) t[k] += copy[i].t[k];
        free(copy);
    } else {
        vhost **vs;
        visible_vhosts(rq, NULL, &vs);
        for (size_t i = 0; vs[i]; i++)
            vhost_walk(vs[i], &(vhost_walker){.queue = count_objects, .exchange = count_exchange}, t);
        free(vs);
    }
    ci_snapshot s;
    size_t nconn = 0, nchan = 0;
    if (!ci_snapshot_take(&s, CI_CHANNELS)) {
        for (size_t i = 0; i < s.nconns; i++) nconn += conn_visible(rq, &s.conns[i]);
        for (size_t i = 0; i < s.nchans; i++) nchan += conn_visible(rq, &s.conns[s.chans[i].conn]);
        ci_snapshot_free(&s);
    }
    json_t *o = json_pack(
        "{s:s,s:s,s:{s:[i,i,i,i],s:[i,i],s:[i]},s:o,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:{},s:{s:I,s:I,s:I},s:{s:I,s:I,s:I,"
        "s:I,s:I},s:i,s:s,s:o,s:o}",
        "management_version", MGMT_API_VERSION, "rates_mode", "basic", "sample_retention_policies", "global", 600, 3600,
        28800, 86400, "basic", 600, 3600, "detailed", 600, "exchange_types", exchange_types_json(), "product_version",
        config.product_version, "product_name", config.product_name, "rabbitmq_version", MGMT_API_VERSION,
        "warren_version", WARREN_VERSION, "cluster_name", config.cluster_name, "disable_stats", 0,
        "enable_queue_totals", 0, "message_stats", "queue_totals", "messages", (json_int_t)(t[0] + t[1]),
        "messages_ready", (json_int_t)t[0], "messages_unacknowledged", (json_int_t)t[1], "object_totals", "channels",
        (json_int_t)nchan, "connections", (json_int_t)nconn, "consumers", (json_int_t)t[3], "exchanges",
        (json_int_t)t[4], "queues", (json_int_t)t[2], "statistics_db_event_queue", 0, "node", node_name(), "listeners",
        listeners_json(), "contexts", contexts_json(true));
    /* message_stats: the node's (or, for a user who sees only some vhosts, theirs) with
     * rates; queue_totals and churn_rates with rates; the history the UI's charts ask
     * for with lengths_age/lengths_incr and msg_rates_age/msg_rates_incr. */
    uint64_t st[STAT_N] = {0};
    if (sees_all(rq)) stat_set_sum(&stats_global, st);
    else {
        vhost **vs;
        visible_vhosts(rq, NULL, &vs);
        for (size_t i = 0; vs[i]; i++) stat_set_sum(vhost_stats(vs[i]), st);
        free(vs);
    }
    json_object_set_new(o, "message_stats", mstats_message_stats(MS_OVERVIEW, NULL, NULL, 0, st));
    json_t *qt = json_object_get(o, "queue_totals");
    mstats_queue_totals_details(qt); /* from the sampler's history: no walk of the queues here */
    static const struct {
        const char *key;
        enum stat_ctr c;
    } churn[] = {{"channel_closed", STAT_CH_CLOSED},      {"channel_created", STAT_CH_OPENED},
                 {"connection_closed", STAT_CONN_CLOSED}, {"connection_created", STAT_CONN_OPENED},
                 {"queue_created", STAT_Q_CREATED},       {"queue_declared", STAT_Q_DECLARED},
                 {"queue_deleted", STAT_Q_DELETED}};
    json_t *cr = json_object();
    char dk[64];
    for (size_t i = 0; i < sizeof churn / sizeof churn[0]; i++) {
        json_object_set_new(cr, churn[i].key, json_integer((json_int_t)st[churn[i].c]));
        snprintf(dk, sizeof dk, "%s_details", churn[i].key);
        json_object_set_new(cr, dk, json_pack("{s:f}", "rate", mstats_rate(NULL, churn[i].c)));
    }
    json_object_set_new(o, "churn_rates", cr);
    const char *age, *incr;
    if ((age = rq->query(rq, "msg_rates_age")) && (incr = rq->query(rq, "msg_rates_incr")))
        mstats_history(json_object_get(o, "message_stats"), MSTATS_H_RATES, atol(age), atol(incr));
    if ((age = rq->query(rq, "lengths_age")) && (incr = rq->query(rq, "lengths_incr")))
        mstats_history(qt, MSTATS_H_LENGTHS, atol(age), atol(incr));
    if ((age = rq->query(rq, "msg_rates_age")) && (incr = rq->query(rq, "msg_rates_incr")))
        mstats_history(cr, MSTATS_H_CHURN, atol(age), atol(incr)); /* RabbitMQ samples churn with the message rates */
    rs->body = o;
}

static long fd_count(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static long long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lld %lld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

static json_t *node_json(void) {
    struct statvfs fs;
    json_int_t disk_free = 0;
    if (!statvfs(config.data_dir, &fs)) disk_free = (json_int_t)fs.f_bavail * (json_int_t)fs.f_frsize;
    struct rlimit rl = {0};
    getrlimit(RLIMIT_NOFILE, &rl);
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    json_t *o = json_pack(
        "{s:s,s:s,s:b,s:s,s:I,s:I,s:b,s:s,s:I,s:I,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:[],s:[],s:s,s:o,s:o,s:[s],"
        "s:s,s:i,s:b}",
        "name", node_name(), "type", "disc", "running", 1, "os_pid", pid, "mem_used", (json_int_t)rss_bytes(),
        "mem_limit", (json_int_t)config.memory_limit, "mem_alarm", mem_over_limit() && !disk_alarm_on(),
        "mem_calculation_strategy", "rss", "disk_free", disk_free, "disk_free_limit",
        (json_int_t)config.disk_free_limit, "disk_free_alarm", disk_alarm_on(), "fd_used", (json_int_t)fd_count(),
        "fd_total", (json_int_t)rl.rlim_cur, "sockets_used", (json_int_t)workers_live_conns(), "sockets_total",
        (json_int_t)rl.rlim_cur, "uptime", (json_int_t)(now_ms() - started_ms), "message_memory_used",
        (json_int_t)mem_used(), "processors", (int)sysconf(_SC_NPROCESSORS_ONLN), "run_queue", 0, "partitions",
        "cluster_links", "rates_mode", "basic", "exchange_types", exchange_types_json(), "contexts",
        contexts_json(false), "enabled_plugins", "rabbitmq_management", "db_dir", config.data_dir, "net_ticktime", 60,
        "being_drained", 0);
    json_object_set_new(o, "auth_mechanisms",
                        json_pack("[{s:s,s:s,s:b},{s:s,s:s,s:b},{s:s,s:s,s:b}]", "name", "PLAIN", "description",
                                  "SASL PLAIN authentication mechanism", "enabled", 1, "name", "AMQPLAIN",
                                  "description", "QPid AMQPLAIN mechanism", "enabled", 1, "name", "EXTERNAL",
                                  "description", "SASL EXTERNAL (TLS client certificate)", "enabled",
                                  config.tls_port != 0));
    return o;
}

static void get_nodes(const mgmt_req *rq, mgmt_resp *rs) {
    if (rq->nseg == 2) {
        if (strcmp(rq->seg[1], node_name())) return not_found(rs);
        rs->body = node_json();
        return;
    }
    mgmt_reply_list(rq, rs, json_pack("[o]", node_json()));
}

/* ---- small ones ---- */

static void get_whoami(const mgmt_req *rq, mgmt_resp *rs) {
    char tags[1024];
    mgmt_user_tags(rq->user, tags, sizeof tags);
    rs->body = json_pack("{s:s,s:o}", "name", rq->user, "tags", tag_list(tags));
}

static void get_extensions(const mgmt_req *rq, mgmt_resp *rs) {
    (void)rq;
    rs->body = json_array();
}

static void health_ok(mgmt_resp *rs) { rs->body = json_pack("{s:s}", "status", "ok"); }

static void get_healthcheck_node(const mgmt_req *rq, mgmt_resp *rs) {
    (void)rq;
    health_ok(rs);
}

static void get_health_alarms(const mgmt_req *rq, mgmt_resp *rs) {
    json_t *alarms = json_array();
    if (disk_alarm_on()) json_array_append_new(alarms, json_pack("{s:s,s:s}", "node", node_name(), "resource", "disk"));
    else if (mem_over_limit())
        json_array_append_new(alarms, json_pack("{s:s,s:s}", "node", node_name(), "resource", "memory"));
    if (!json_array_size(alarms)) {
        json_decref(alarms);
        return health_ok(rs);
    }
    bool local = !strcmp(rq->seg[2], "local-alarms");
    rs->status = 503;
    rs->body = json_pack("{s:s,s:s,s:o}", "status", "failed", "reason",
                         local ? "There are alarms in effect on the node" : "There are alarms in effect in the cluster",
                         "alarms", alarms);
}

static void get_health_port(const mgmt_req *rq, mgmt_resp *rs) {
    char *end;
    long p = strtol(rq->seg[3], &end, 10);
    if (*end || end == rq->seg[3]) return mgmt_error(rs, 400, "bad_request", "Invalid port: %s", rq->seg[3]);
    json_t *ports = json_pack("[i]", config.port);
    if (config.tls_port) json_array_append_new(ports, json_integer(config.tls_port));
    if (mgmt_running()) json_array_append_new(ports, json_integer(config.mgmt_port));
    size_t i;
    json_t *v;
    json_array_foreach(ports, i, v) {
        if (json_integer_value(v) == p) {
            json_decref(ports);
            rs->body = json_pack("{s:s,s:i}", "status", "ok", "port", (int)p);
            return;
        }
    }
    rs->status = 503;
    rs->body = json_pack("{s:s,s:s,s:i,s:o}", "status", "failed", "reason", "No active listener", "missing", (int)p,
                         "ports", ports);
}

static void get_health_protocol(const mgmt_req *rq, mgmt_resp *rs) {
    const char *p = rq->seg[3];
    const char *want = !strcmp(p, "amqp") || !strcmp(p, "amqp091") || !strcmp(p, "amqp0-9-1") || !strcmp(p, "amqp0.9.1")
                           ? "amqp"
                       : !strcmp(p, "amqps") || !strcmp(p, "amqp/ssl")  ? "amqp/ssl"
                       : !strcmp(p, "http") || !strcmp(p, "management") ? "http"
                                                                        : p;
    json_t *protos = json_pack("[s]", "amqp");
    if (config.tls_port) json_array_append_new(protos, json_string("amqp/ssl"));
    if (mgmt_running()) json_array_append_new(protos, json_string("http"));
    size_t i;
    json_t *v;
    json_array_foreach(protos, i, v) {
        if (!strcmp(json_string_value(v), want)) {
            json_decref(protos);
            rs->body = json_pack("{s:s,s:s}", "status", "ok", "protocol", want);
            return;
        }
    }
    rs->status = 503;
    rs->body = json_pack("{s:s,s:s,s:s,s:o}", "status", "failed", "reason", "No active listener", "missing", want,
                         "protocols", protos);
}

static void get_health_vhosts(const mgmt_req *rq, mgmt_resp *rs) {
    (void)rq;
    health_ok(rs); /* every vhost lives in this process: none can be down alone */
}

static void get_health_cert(const mgmt_req *rq, mgmt_resp *rs) {
    char *end;
    long n = strtol(rq->seg[3], &end, 10);
    if (*end || end == rq->seg[3] || n < 0)
        return mgmt_error(rs, 400, "bad_request", "Invalid expiration value: %s", rq->seg[3]);
    static const struct {
        const char *unit;
        long secs;
    } units[] = {{"days", 86400}, {"weeks", 7 * 86400}, {"months", 30 * 86400}, {"years", 365 * 86400}};
    long secs = -1;
    for (size_t i = 0; i < 4; i++)
        if (!strcmp(rq->seg[4], units[i].unit)) secs = units[i].secs;
    if (secs < 0)
        return mgmt_error(rs, 400, "bad_request", "Invalid expiration unit: %s (use days, weeks, months or years)",
                          rq->seg[4]);
    if (!config.tls_port || !config.ssl_certfile[0]) return health_ok(rs);
    FILE *f = fopen(config.ssl_certfile, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    if (!x) return health_ok(rs);
    time_t limit = time(NULL) + (time_t)(n * secs);
    int c = X509_cmp_time(X509_get0_notAfter(x), &limit);
    X509_free(x);
    if (c > 0) return health_ok(rs);
    rs->status = 503;
    rs->body = json_pack("{s:s,s:s,s:[{s:s,s:s,s:i}]}", "status", "failed", "reason", "Certificates expiring",
                         "expired", "file", config.ssl_certfile, "node", node_name(), "port", config.tls_port);
}

static void get_health_critical(const mgmt_req *rq, mgmt_resp *rs) {
    (void)rq;
    rs->body = json_pack("{s:s,s:s}", "status", "ok", "reason", "single node cluster");
}

#define M MGMT_TAG_MANAGEMENT
#define MON MGMT_TAG_MONITORING
#define ADM MGMT_TAG_ADMINISTRATOR
#define POL MGMT_TAG_POLICYMAKER

const mgmt_route mgmt_read_routes[] = {
    {"GET", "whoami", get_whoami, M},
    {"GET", "overview", get_overview, M},
    {"GET", "nodes", get_nodes, M},
    {"GET", "nodes/:node", get_nodes, M},
    {"GET", "extensions", get_extensions, M},
    {"GET", "connections", get_connections, M},
    {"GET", "connections/:name", get_connection, M},
    {"GET", "connections/:name/channels", get_connection, M},
    {"GET", "vhosts/:vhost/connections", get_connections, M},
    {"GET", "channels", get_channels, M},
    {"GET", "channels/:name", get_channels, M},
    {"GET", "vhosts/:vhost/channels", get_channels, M},
    {"GET", "consumers", get_consumers, M},
    {"GET", "consumers/:vhost", get_consumers, M},
    {"GET", "exchanges", get_exchanges, M},
    {"GET", "exchanges/:vhost", get_exchanges, M},
    {"GET", "exchanges/:vhost/:name", get_exchange, M},
    {"GET", "exchanges/:vhost/:name/bindings/source", get_exchange_bindings, M},
    {"GET", "exchanges/:vhost/:name/bindings/destination", get_exchange_bindings, M},
    {"GET", "queues", get_queues, M},
    {"GET", "queues/:vhost", get_queues, M},
    {"GET", "queues/:vhost/:name", get_queue, M},
    {"GET", "queues/:vhost/:name/bindings", get_queue_bindings, M},
    {"GET", "bindings", get_bindings, M},
    {"GET", "bindings/:vhost", get_bindings, M},
    {"GET", "vhosts", get_vhosts, M},
    {"GET", "vhosts/:vhost", get_vhost, M},
    {"GET", "vhosts/:vhost/permissions", get_vhost_permissions, ADM},
    {"GET", "users", get_users, ADM},
    {"GET", "users/:user", get_user, ADM},
    {"GET", "users/:user/permissions", get_user_permissions, ADM},
    {"GET", "permissions", get_permissions, ADM},
    {"GET", "permissions/:vhost/:user", get_permissions, ADM},
    {"GET", "policies", get_policies, M},
    {"GET", "policies/:vhost", get_policies, M},
    {"GET", "policies/:vhost/:name", get_policies, M},
    {"GET", "operator-policies", get_policies, M},
    {"GET", "operator-policies/:vhost", get_policies, M},
    {"GET", "operator-policies/:vhost/:name", get_policies, M},
    {"GET", "healthchecks/node", get_healthcheck_node, M},
    {"GET", "health/checks/alarms", get_health_alarms, M},
    {"GET", "health/checks/local-alarms", get_health_alarms, M},
    {"GET", "health/checks/port-listener/:port", get_health_port, M},
    {"GET", "health/checks/protocol-listener/:proto", get_health_protocol, M},
    {"GET", "health/checks/virtual-hosts", get_health_vhosts, M},
    {"GET", "health/checks/certificate-expiration/:n/:unit", get_health_cert, M},
    {"GET", "health/checks/node-is-quorum-critical", get_health_critical, M},
    {"GET", "health/checks/node-is-mirror-sync-critical", get_health_critical, M},
    {NULL, NULL, NULL, 0},
};
