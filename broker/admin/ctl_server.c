/* ctl_server.c — the control socket warrenctl talks to: its thread, the JSON
 * request/reply framing, the table of commands (list, add/delete users, vhosts,
 * permissions and policies, connections, definitions, status) and what each
 * answers; a change is answered only once it is on disk. */
#include "ctl_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "amq/methods.h"
#include "transport.h"
#include "config.h"
#include "conn_info.h"
#include "definitions.h"
#include "names.h"
#include "policy.h"
#include "qfeat.h"
#include "queue.h"
#include "queue_type.h"
#include "store.h"
#include "util.h"
#include "vhost.h"
#include "wconns.h"
#include "worker.h"

#define CTL_MAX_REQUEST (64u << 20) /* import_definitions carries a whole file */

static int lfd = -1;
static int stop_pipe[2] = {-1, -1};
static pthread_t thread;
static bool running;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static uint64_t started_ms;

/* ---- replies ---- */

static json_t *fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *fail(const char *fmt, ...) {
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return json_pack("{s:b,s:s}", "ok", 0, "error", text);
}

/* A failure with rabbitmqctl's exit code: 67 no such user, 65 no such vhost. */
static json_t *fail_code(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *fail_code(int code, const char *fmt, ...) {
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return json_pack("{s:b,s:s,s:i}", "ok", 0, "error", text, "code", code);
}

#define NO_USER(u) fail_code(67, "User \"%s\" does not exist", u)
#define NO_VHOST(v) fail_code(65, "Virtual host '%s' does not exist", v)

static json_t *done(void) { return json_pack("{s:b}", "ok", 1); }

/* A table reply: columns, then rows appended by the caller. */
static json_t *table(json_t **rows, const char *const *cols) {
    json_t *c = json_array();
    for (; *cols; cols++) json_array_append_new(c, json_string(*cols));
    *rows = json_array();
    return json_pack("{s:b,s:o,s:O}", "ok", 1, "columns", c, "rows", *rows);
}

static const char *arg(json_t *args, size_t i) { return json_string_value(json_array_get(args, i)); }

static vhost *find_vhost(const char *name) { return vhost_find(amq_cstr(name)); }

/* ---- users ---- */

static void user_row(void *ctx, const char *name, int algo, const char *hash, const char *tags) {
    (void)algo, (void)hash;
    json_t *tl = json_array();
    char *t = xstrdup(tags);
    char *save = NULL;
    for (char *s = strtok_r(t, ",", &save); s; s = strtok_r(NULL, ",", &save))
        json_array_append_new(tl, json_string(s));
    free(t);
    json_array_append_new(ctx, json_pack("[s,o]", name, tl));
}

static json_t *list_users(void) {
    static const char *const cols[] = {"user", "tags", NULL};
    json_t *rows, *r = table(&rows, cols);
    access_foreach_user(user_row, rows);
    json_decref(rows);
    return r;
}

static json_t *set_tags(json_t *args) {
    char tags[1024] = "";
    size_t o = 0;
    for (size_t i = 1; i < json_array_size(args); i++) {
        const char *t = arg(args, i);
        if (!t) return fail("tags must be strings");
        int n = snprintf(tags + o, sizeof tags - o, "%s%s", o ? "," : "", t);
        if (n < 0 || (size_t)n >= sizeof tags - o) return fail("too many tags");
        o += (size_t)n;
    }
    char err[300];
    if (access_user_set_tags(arg(args, 0), tags, err, sizeof err)) return fail("%s", err);
    return done();
}

/* ---- vhosts and permissions ---- */

static void vhost_row(void *ctx, vhost *v) {
    if (!vhost_is_deleted(v)) json_array_append_new(ctx, json_pack("[s]", vhost_name(v)));
}

static json_t *list_vhosts(void) {
    static const char *const cols[] = {"name", NULL};
    json_t *rows, *r = table(&rows, cols);
    vhost_foreach(vhost_row, rows);
    json_decref(rows);
    return r;
}

static json_t *delete_vhost(const char *name) {
    if (vhost_delete(name)) return NO_VHOST(name);
    access_vhost_deleted(name);
    return done();
}

typedef struct {
    json_t *rows;
    const char *vhost;
} perm_ctx;

static void perm_row(void *ctx, const char *u, const char *v, const char *c, const char *w, const char *r) {
    perm_ctx *p = ctx;
    if (!strcmp(v, p->vhost)) json_array_append_new(p->rows, json_pack("[s,s,s,s]", u, c, w, r));
}

static json_t *list_permissions(const char *vh) {
    if (!find_vhost(vh)) return NO_VHOST(vh);
    static const char *const cols[] = {"user", "configure", "write", "read", NULL};
    json_t *rows, *r = table(&rows, cols);
    perm_ctx p = {rows, vh};
    access_foreach_perm(perm_row, &p);
    json_decref(rows);
    return r;
}

/* ---- queues, exchanges, bindings ---- */

static json_t *str_of(const char *p, size_t n) { return json_stringn(p, n); }

/* The columns asked for (rabbitmqctl's info items), or the default ones;
 * NULL with *bad set to an unknown one. */
static const char **columns(json_t *args, const char *const *dflt, const char *const *known, const char **bad) {
    size_t n = json_array_size(args);
    const char **c = xcalloc((n ? n : 8) + 1, sizeof *c);
    if (!n) {
        for (size_t i = 0; dflt[i]; i++) c[i] = dflt[i];
        return c;
    }
    for (size_t i = 0; i < n; i++) {
        const char *a = arg(args, i);
        size_t k = 0;
        while (known[k] && strcmp(known[k], a)) k++;
        if (!known[k]) {
            *bad = a;
            free(c);
            return NULL;
        }
        c[i] = known[k];
    }
    return c;
}

static json_t *name_or_empty(const char *s) { return json_string(s ? s : ""); }

static json_t *queue_cell(vhost *v, queue *q, const char *col) {
    if (!strcmp(col, "name")) return str_of((const char *)queue_name(q).p, queue_name(q).len);
    if (!strcmp(col, "messages") || !strcmp(col, "consumers")) {
        uint32_t msgs = 0, cons = 0;
        queue_counts(q, &msgs, &cons);
        return json_integer(col[0] == 'm' ? msgs : cons);
    }
    if (!strcmp(col, "durable")) return json_boolean(q->durable);
    if (!strcmp(col, "auto_delete")) return json_boolean(q->auto_delete);
    if (!strcmp(col, "exclusive")) return json_boolean(q->exclusive);
    if (!strcmp(col, "type")) return json_string(q->type == &queue_type_quorum ? "quorum" : "classic");
    if (!strcmp(col, "arguments")) return defs_table_json(q->args.p, q->args.len);
    if (!strcmp(col, "policy")) return name_or_empty(policy_name_of_queue(q, false));
    if (!strcmp(col, "operator_policy")) return name_or_empty(policy_name_of_queue(q, true));
    json_t *d = policy_effective_queue(v, q); /* effective_policy_definition */
    return d ? d : json_object();
}

/* A list's rows and the columns asked for (vhost_walk's context). */
typedef struct {
    json_t *rows;
    const char **cols;
} rows_ctx;

static void queue_row(void *ctx, vhost *v, queue *q) {
    rows_ctx *rc = ctx;
    json_t *row = json_array();
    for (size_t c = 0; rc->cols[c]; c++) json_array_append_new(row, queue_cell(v, q, rc->cols[c]));
    json_array_append_new(rc->rows, row);
}

static json_t *list_queues(const char *vh, json_t *args) {
    vhost *v = find_vhost(vh);
    if (!v) return NO_VHOST(vh);
    static const char *const dflt[] = {"name", "messages", "consumers", NULL};
    static const char *const known[] = {"name",
                                        "messages",
                                        "consumers",
                                        "durable",
                                        "auto_delete",
                                        "exclusive",
                                        "type",
                                        "arguments",
                                        "policy",
                                        "operator_policy",
                                        "effective_policy_definition",
                                        NULL};
    const char *bad = NULL, **cols = columns(args, dflt, known, &bad);
    if (!cols) return fail_code(64, "Info key %s is not one of the queue info keys", bad);
    json_t *rows, *r = table(&rows, cols);
    rows_ctx rc = {rows, cols};
    vhost_walk(v, &(vhost_walker){.queue = queue_row}, &rc);
    free(cols);
    json_decref(rows);
    return r;
}

static json_t *exchange_cell(const exchange *e, const char *col) {
    if (!strcmp(col, "name")) return str_of(e->name, e->name_len);
    if (!strcmp(col, "type")) return json_string(vhost_exchange_type_name(e));
    if (!strcmp(col, "durable")) return json_boolean(e->durable);
    if (!strcmp(col, "auto_delete")) return json_boolean(e->auto_delete);
    if (!strcmp(col, "internal")) return json_boolean(e->internal);
    if (!strcmp(col, "arguments")) return defs_table_json(e->args.p, e->args.len);
    if (!strcmp(col, "policy")) return name_or_empty(policy_name_of_exchange(e, false));
    if (!strcmp(col, "operator_policy")) return name_or_empty(policy_name_of_exchange(e, true));
    return name_or_empty(e->alt); /* alternate_exchange (Warren's: the effective one) */
}

static void exchange_row(void *ctx, vhost *v, const exchange *e) {
    (void)v;
    rows_ctx *rc = ctx;
    json_t *row = json_array();
    for (size_t c = 0; rc->cols[c]; c++) json_array_append_new(row, exchange_cell(e, rc->cols[c]));
    json_array_append_new(rc->rows, row);
}

static json_t *list_exchanges(const char *vh, json_t *args) {
    vhost *v = find_vhost(vh);
    if (!v) return NO_VHOST(vh);
    static const char *const dflt[] = {"name", "type", NULL};
    static const char *const known[] = {"name",      "type",   "durable",         "auto_delete",        "internal",
                                        "arguments", "policy", "operator_policy", "alternate_exchange", NULL};
    const char *bad = NULL, **cols = columns(args, dflt, known, &bad);
    if (!cols) return fail_code(64, "Info key %s is not one of the exchange info keys", bad);
    json_t *rows, *r = table(&rows, cols);
    rows_ctx rc = {rows, cols};
    vhost_walk(v, &(vhost_walker){.exchange = exchange_row}, &rc);
    free(cols);
    json_decref(rows);
    return r;
}

/* ---- policies (policy.h) ---- */

typedef struct {
    json_t *rows;
    bool op;
} policy_rows;

static void policy_row(void *ctx, vhost *v, const policy_info *p) {
    (void)v;
    policy_rows *pr = ctx;
    if (p->op != pr->op) return;
    char *def = json_dumps(p->definition, JSON_COMPACT | JSON_SORT_KEYS);
    json_array_append_new(pr->rows, json_pack("[s,s,s,s,s,I]", p->vhost, p->name, p->pattern, p->apply_to,
                                              def ? def : "{}", (json_int_t)p->priority));
    free(def);
}

static json_t *list_policies(const char *vh, bool op) {
    vhost *v = find_vhost(vh);
    if (!v) return NO_VHOST(vh);
    static const char *const cols[] = {"vhost", "name", "pattern", "apply-to", "definition", "priority", NULL};
    json_t *rows, *r = table(&rows, cols);
    policy_rows pr = {rows, op};
    vhost_walk(v, &(vhost_walker){.policy = policy_row}, &pr);
    json_decref(rows);
    return r;
}

static json_t *set_policy(json_t *req, json_t *args, const char *vh, bool op) {
    char err[600];
    json_t *pr = json_object_get(req, "priority");
    const char *apply_to = json_string_value(json_object_get(req, "apply_to"));
    int rc = policy_set(vh, arg(args, 0), arg(args, 1), arg(args, 2), json_is_integer(pr) ? json_integer_value(pr) : 0,
                        apply_to, op, err, sizeof err);
    return rc ? fail_code(rc, "%s", err) : done();
}

static json_t *clear_policy(const char *name, const char *vh, bool op) {
    char err[600];
    int rc = policy_clear(vh, name, op, err, sizeof err);
    return rc ? fail_code(rc, "%s", err) : done();
}

/* The default exchange's implicit binding of q, listed first as rabbitmqctl does. */
static void default_binding_row(void *ctx, vhost *v, queue *q) {
    (void)v;
    amq_bytes n = queue_name(q);
    json_array_append_new(ctx, json_pack("[s,s,o,s,o,o]", "", "exchange", str_of((const char *)n.p, n.len), "queue",
                                         str_of((const char *)n.p, n.len), json_object()));
}

static void binding_row(void *ctx, vhost *v, const vbinding *b) {
    (void)v;
    json_array_append_new(
        ctx, json_pack("[o,s,o,s,o,o]", str_of(b->src->name, b->src->name_len), "exchange",
                       str_of((const char *)b->dest_name.p, b->dest_name.len), b->dest_is_queue ? "queue" : "exchange",
                       str_of((const char *)b->key.p, b->key.len), defs_table_json(b->args.p, b->args.len)));
}

static json_t *list_bindings(const char *vh) {
    vhost *v = find_vhost(vh);
    if (!v) return NO_VHOST(vh);
    static const char *const cols[] = {
        "source_name", "source_kind", "destination_name", "destination_kind", "routing_key", "arguments", NULL};
    json_t *rows, *r = table(&rows, cols);
    vhost_walk(v, &(vhost_walker){.queue = default_binding_row, .binding = binding_row}, rows);
    json_decref(rows);
    return r;
}

/* ---- connections (on the workers: conn_info.h) ---- */

static json_t *list_connections(void) {
    ci_snapshot s;
    if (ci_snapshot_take(&s, 0)) return fail("timed out waiting for the worker threads");
    static const char *const cols[] = {"pid",   "user",     "vhost", "peer_host", "peer_port",
                                       "state", "channels", "ssl",   NULL};
    json_t *rows, *r = table(&rows, cols);
    for (size_t i = 0; i < s.nconns; i++) {
        const ci_conn *c = &s.conns[i];
        json_array_append_new(rows, json_pack("[I,s,s,s,i,s,I,b]", (json_int_t)c->id, c->user, c->vhost, c->peer_host,
                                              c->peer_port, c->state, (json_int_t)c->nchans, c->tls));
    }
    json_decref(rows);
    ci_snapshot_free(&s);
    return r;
}

static json_t *close_connection(const char *id, const char *reason) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(id, &end, 10);
    if (errno || end == id || *end || !n) return fail("'%s' is not a connection pid (see list_connections)", id);
    if (!ci_close(n, reason)) return fail("no open connection with pid %s", id);
    return done();
}

/* ---- status, definitions ---- */

static void count_queue(void *ctx, vhost *v, queue *q) {
    (void)v, (void)q;
    ((size_t *)ctx)[1]++;
}

static void count_queues(void *ctx, vhost *v) {
    size_t *n = ctx;
    if (vhost_is_deleted(v)) return;
    n[0]++;
    vhost_walk(v, &(vhost_walker){.queue = count_queue}, n);
}

static json_t *status(void) {
    size_t counts[2] = {0, 0};
    vhost_foreach(count_queues, counts);
    int conns = 0;
    for (int i = 0; i < workers_count(); i++) conns += worker_conn_count(worker_at(i));
    struct statvfs fs;
    json_int_t disk_free = -1;
    if (!statvfs(config.data_dir, &fs)) disk_free = (json_int_t)fs.f_bavail * (json_int_t)fs.f_frsize;
    json_t *listeners = json_array();
    json_array_append_new(listeners, json_pack("{s:s,s:s,s:i}", "protocol", "amqp", "interface",
                                               config.bind[0] ? config.bind : "[::]", "port", config.port));
    if (config.tls_port)
        json_array_append_new(listeners,
                              json_pack("{s:s,s:s,s:i}", "protocol", "amqp/ssl", "interface",
                                        config.tls_bind[0] ? config.tls_bind : "[::]", "port", config.tls_port));
    return json_pack(
        "{s:b,s:{s:s,s:s,s:s,s:i,s:I,s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}}", "ok", 1, "status", "product",
        config.product_name, "version", config.product_version, "warren_version", WARREN_VERSION, "pid", (int)getpid(),
        "uptime_seconds", (json_int_t)((now_ms() - started_ms) / 1000), "data_directory", config.data_dir,
        "worker_threads", config.threads, "connections", (json_int_t)conns, "vhosts", (json_int_t)counts[0], "queues",
        (json_int_t)counts[1], "users", (json_int_t)access_user_count(), "memory_used", (json_int_t)mem_used(),
        "memory_limit", (json_int_t)config.memory_limit, "disk_free", disk_free, "listeners", listeners);
}

static json_t *import_definitions(const char *text) {
    char report[8192];
    int rc = defs_import(text, strlen(text), report, sizeof report);
    if (rc < 0) return fail("%s", report);
    return json_pack("{s:b,s:s}", "ok", 1, "message", rc ? report : "");
}

static json_t *export_definitions(void) {
    char *text = defs_export();
    if (!text) return fail("cannot export the definitions");
    json_t *r = json_pack("{s:b,s:s}", "ok", 1, "definitions", text);
    free(text);
    return r;
}

/* ---- dispatch ---- */

static json_t *run_status(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return (void)args, (void)vh, status();
}
static json_t *run_list_users(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return (void)args, (void)vh, list_users();
}
static json_t *run_add_user(json_t *req, json_t *args, const char *vh) {
    (void)req;
    char err[300];
    (void)vh;
    return access_user_add(arg(args, 0), arg(args, 1), "", err, sizeof err) ? fail("%s", err) : done();
}
static json_t *run_delete_user(json_t *req, json_t *args, const char *vh) {
    (void)req;
    char err[300];
    (void)vh;
    return access_user_delete(arg(args, 0), err, sizeof err) ? fail("%s", err) : done();
}
static json_t *run_change_password(json_t *req, json_t *args, const char *vh) {
    (void)req;
    char err[300];
    (void)vh;
    return access_user_change_password(arg(args, 0), arg(args, 1), err, sizeof err) ? fail("%s", err) : done();
}
static json_t *run_set_user_tags(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return (void)vh, set_tags(args);
}
static json_t *run_list_vhosts(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return (void)args, (void)vh, list_vhosts();
}
static json_t *run_add_vhost(json_t *req, json_t *args, const char *vh) {
    (void)req;
    (void)vh;
    return vhost_add(arg(args, 0), NULL) ? fail("'%s' is not a valid virtual host name", arg(args, 0)) : done();
}
static json_t *run_delete_vhost(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return (void)vh, delete_vhost(arg(args, 0));
}
static json_t *run_set_permissions(json_t *req, json_t *args, const char *vh) {
    (void)req;
    char err[300];
    return access_set_permissions(arg(args, 0), vh, arg(args, 1), arg(args, 2), arg(args, 3), err, sizeof err)
               ? fail("%s", err)
               : done();
}
static json_t *run_clear_permissions(json_t *req, json_t *args, const char *vh) {
    (void)req;
    char err[300];
    return access_clear_permissions(arg(args, 0), vh, err, sizeof err) ? fail("%s", err) : done();
}
static json_t *run_list_permissions(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return (void)args, list_permissions(vh);
}
static json_t *run_list_queues(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return list_queues(vh, args);
}
static json_t *run_list_exchanges(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return list_exchanges(vh, args);
}
static json_t *run_list_bindings(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return (void)args, list_bindings(vh);
}
static json_t *run_set_policy(json_t *req, json_t *args, const char *vh) { return set_policy(req, args, vh, false); }
static json_t *run_set_operator_policy(json_t *req, json_t *args, const char *vh) {
    return set_policy(req, args, vh, true);
}
static json_t *run_clear_policy(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return clear_policy(arg(args, 0), vh, false);
}
static json_t *run_clear_operator_policy(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return clear_policy(arg(args, 0), vh, true);
}
static json_t *run_list_policies(json_t *req, json_t *args, const char *vh) {
    (void)req, (void)args;
    return list_policies(vh, false);
}
static json_t *run_list_operator_policies(json_t *req, json_t *args, const char *vh) {
    (void)req, (void)args;
    return list_policies(vh, true);
}
static json_t *run_list_connections(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return (void)args, (void)vh, list_connections();
}
static json_t *run_close_connection(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return (void)vh, close_connection(arg(args, 0), arg(args, 1));
}
static json_t *run_import_definitions(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return (void)vh, import_definitions(arg(args, 0));
}
static json_t *run_export_definitions(json_t *req, json_t *args, const char *vh) {
    (void)req;
    return (void)args, (void)vh, export_definitions();
}

/* What the dispatcher checks before a command runs. */
enum {
    C_CHANGE = 1,        /* changes state: logged, and answered only once on disk (store_sync) */
    C_ARG0_VHOST = 2,    /* args[0] is a vhost name (checked against the 255-byte limit) */
    C_ARG0_USER = 4,     /* args[0] is a user name (checked against the 255-byte limit) */
    C_USER_EXISTS = 8,   /* args[0] must be an existing user */
    C_VHOST_EXISTS = 16, /* the request's vhost must exist */
};

/* The control socket's commands, one row each (warrenctl's names): its
 * argument count, its checks and the function that runs it. A new command is
 * a row and a function. */
typedef struct {
    const char *name;
    int min_args, max_args; /* max -1: any */
    int flags;              /* C_* */
    json_t *(*run)(json_t *req, json_t *args, const char *vhost);
} ctl_cmd;

static const ctl_cmd commands[] = {
    {"status", 0, 0, 0, run_status},
    {"list_users", 0, 0, 0, run_list_users},
    {"add_user", 2, 2, C_CHANGE | C_ARG0_USER, run_add_user},
    {"delete_user", 1, 1, C_CHANGE | C_ARG0_USER | C_USER_EXISTS, run_delete_user},
    {"change_password", 2, 2, C_CHANGE | C_ARG0_USER | C_USER_EXISTS, run_change_password},
    {"set_user_tags", 1, -1, C_CHANGE | C_ARG0_USER | C_USER_EXISTS, run_set_user_tags},
    {"list_vhosts", 0, 0, 0, run_list_vhosts},
    {"add_vhost", 1, 1, C_CHANGE | C_ARG0_VHOST, run_add_vhost},
    {"delete_vhost", 1, 1, C_CHANGE | C_ARG0_VHOST, run_delete_vhost},
    {"set_permissions", 4, 4, C_CHANGE | C_ARG0_USER | C_USER_EXISTS | C_VHOST_EXISTS, run_set_permissions},
    {"clear_permissions", 1, 1, C_CHANGE | C_ARG0_USER | C_USER_EXISTS | C_VHOST_EXISTS, run_clear_permissions},
    {"list_permissions", 0, 0, 0, run_list_permissions},
    {"list_queues", 0, -1, 0, run_list_queues},
    {"list_exchanges", 0, -1, 0, run_list_exchanges},
    {"list_bindings", 0, 0, 0, run_list_bindings},
    {"set_policy", 3, 3, C_CHANGE, run_set_policy},
    {"clear_policy", 1, 1, C_CHANGE, run_clear_policy},
    {"list_policies", 0, 0, 0, run_list_policies},
    {"set_operator_policy", 3, 3, C_CHANGE, run_set_operator_policy},
    {"clear_operator_policy", 1, 1, C_CHANGE, run_clear_operator_policy},
    {"list_operator_policies", 0, 0, 0, run_list_operator_policies},
    {"list_connections", 0, 0, 0, run_list_connections},
    {"close_connection", 2, 2, C_CHANGE, run_close_connection},
    {"import_definitions", 1, 1, C_CHANGE, run_import_definitions},
    {"export_definitions", 0, 0, 0, run_export_definitions},
};

static const ctl_cmd *find_cmd(const char *name) {
    for (size_t i = 0; name && i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

static json_t *handle(json_t *req) {
    const char *cmd = json_string_value(json_object_get(req, "command"));
    json_t *args = json_object_get(req, "args");
    const char *vh = json_string_value(json_object_get(req, "vhost"));
    if (!vh) vh = "/";
    if (!cmd) return fail("malformed request: no command");
    if (args && !json_is_array(args)) return fail("malformed request: args is not a list");
    size_t na = json_array_size(args);
    for (size_t i = 0; i < na; i++)
        if (!json_is_string(json_array_get(args, i))) return fail("malformed request: arguments must be strings");
    const ctl_cmd *s = find_cmd(cmd);
    if (!s) return fail("unknown command '%s'", cmd);
    if ((int)na < s->min_args || (s->max_args >= 0 && (int)na > s->max_args))
        return fail("%s: wrong number of arguments", cmd);
    char err[300] = "";
    const char *a0 = arg(args, 0);
    if (s->run == run_status) return status();
    /* Names over AMQP's 255-byte limit: refused here, by name (names.h). */
    if (name_check(amq_cstr(vh), "vhost name", NULL, err, sizeof err)) return fail("%s", err);
    if ((s->flags & (C_ARG0_VHOST | C_ARG0_USER)) &&
        name_check(amq_cstr(a0), (s->flags & C_ARG0_VHOST) ? "vhost name" : "user name", NULL, err, sizeof err))
        return fail("%s", err);
    if ((s->flags & C_USER_EXISTS) && !access_user_exists(a0)) return NO_USER(a0);
    if ((s->flags & C_VHOST_EXISTS) && !find_vhost(vh)) return NO_VHOST(vh);
    return s->run(req, args, vh);
}

/* ---- the socket ---- */

static void write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

static void reply(int fd, json_t *r) {
    char *text = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    if (!text) return;
    write_all(fd, text, strlen(text));
    write_all(fd, "\n", 1);
    free(text);
}

static void serve(int fd) {
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) || cred.uid != geteuid()) {
        log_warn("control socket: refused a client with uid %d pid %d (only uid %d may use it)",
                 (int)(cl == sizeof cred ? cred.uid : (uid_t)-1), (int)(cl == sizeof cred ? cred.pid : 0),
                 (int)geteuid());
        reply(fd, fail("access refused: only the broker's user (uid %d) may use the control socket", (int)geteuid()));
        return;
    }
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap >= CTL_MAX_REQUEST) {
                free(buf);
                reply(fd, fail("request too large"));
                return;
            }
            buf = xrealloc(buf, cap *= 2);
        }
        /* Wait for the client, but never hold up a broker shutdown (or a 10 s stall). */
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = stop_pipe[0], .events = POLLIN}};
        int pr = poll(p, 2, 10000);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0 || p[1].revents) {
            free(buf);
            return;
        }
        ssize_t r = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) break;
        char *nl = memchr(buf + len, '\n', (size_t)r);
        len += (size_t)r;
        if (nl) {
            len = (size_t)(nl - buf);
            break;
        }
    }
    json_error_t je;
    json_t *req = json_loadb(buf, len, 0, &je);
    free(buf);
    if (!req || !json_is_object(req)) {
        json_decref(req);
        reply(fd, fail("malformed request: %s", req ? "not an object" : je.text));
        return;
    }
    const char *cmd = json_string_value(json_object_get(req, "command"));
    const ctl_cmd *c = find_cmd(cmd);
    bool change = c && (c->flags & C_CHANGE);
    if (change) log_info("control socket: %s", cmd);
    json_t *r = handle(req);
    /* A change is answered once it is on disk, as rabbitmqctl returns after the commit. */
    if (change && json_is_true(json_object_get(r, "ok")) && store_sync()) {
        json_decref(r);
        r = fail("the change could not be written to the data directory (see the broker log)");
    }
    reply(fd, r);
    json_decref(req);
}

static void *run(void *arg) {
    (void)arg;
    struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = stop_pipe[0], .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[1].revents) break;
        if (!(p[0].revents & POLLIN)) continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        serve(fd);
        close(fd);
    }
    return NULL;
}

int ctl_start(const char *data_dir) {
    started_ms = now_ms();
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(a.sun_path, sizeof a.sun_path, "%s/warren.sock", data_dir);
    if (n < 0 || (size_t)n >= sizeof a.sun_path) {
        log_warn("control socket: the path %s/warren.sock is too long for a Unix socket; warrenctl is unavailable",
                 data_dir);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    /* A socket left by a crashed broker is stale: nothing answers on it. */
    if (!connect(fd, (struct sockaddr *)&a, sizeof a)) {
        log_warn("control socket %s is served by another process; warrenctl is unavailable", a.sun_path);
        close(fd);
        return -1;
    }
    unlink(a.sun_path);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || chmod(a.sun_path, 0600) || listen(fd, 16) ||
        pipe2(stop_pipe, O_CLOEXEC)) {
        log_warn("control socket %s: %s; warrenctl is unavailable", a.sun_path, strerror(errno));
        close(fd);
        unlink(a.sun_path);
        return -1;
    }
    lfd = fd;
    memcpy(sock_path, a.sun_path, sizeof sock_path);
    if (pthread_create(&thread, NULL, run, NULL)) {
        close(lfd);
        lfd = -1;
        return -1;
    }
    running = true;
    log_info("control socket on %s (warrenctl)", sock_path);
    return 0;
}

void ctl_stop(void) {
    if (!running) return;
    ssize_t w = write(stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(thread, NULL);
    running = false;
    close(lfd);
    lfd = -1;
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    unlink(sock_path);
}
