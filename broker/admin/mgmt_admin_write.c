/* mgmt_admin_write.c — the management API's write routes for vhosts, users,
 * permissions, policies and operator policies, connections (close) and
 * definitions (export, import), as RabbitMQ 3.10's management plugin answers
 * them. The same functions as the control socket's commands (access_*,
 * vhost_*, policy_*, admin_close_connection, defs_*), so a change is durable
 * the same way; each is answered only once on disk (mw_sync). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "conn_info.h"
#include "definitions.h"
#include "mgmt_write_int.h"
#include "names.h"
#include "policy.h"
#include "util.h"

static bool name_ok(const char *name, const char *what, mgmt_resp *rs) {
    char err[300];
    if (!name_check(amq_cstr(name), what, NULL, err, sizeof err)) return true;
    mgmt_error(rs, 400, "bad_request", "%s", err);
    return false;
}

static bool vhost_exists(const char *name) {
    vhost *v = strlen(name) <= NAME_MAX_BYTES ? vhost_find(amq_cstr(name)) : NULL;
    return v && !vhost_is_deleted(v);
}

/* ---- vhosts ---- */

void mw_vhost_put(const mgmt_req *rq, mgmt_resp *rs) {
    const char *name = rq->seg[1];
    /* description, tags, default_queue_type, tracing: accepted, not kept */
    if (!mw_body(rq, rs) || !name_ok(name, "vhost name", rs)) return;
    bool created = false;
    if (vhost_add(name, &created))
        return mgmt_error(rs, 400, "bad_request", "'%s' is not a valid virtual host name", name);
    char err[300];
    /* As the plugin: the user who creates a vhost gets full permissions in it. */
    if (created && access_set_permissions(rq->user, name, ".*", ".*", ".*", err, sizeof err))
        log_warn("management: vhost '%s': %s", name, err);
    if (mw_sync(rs)) rs->status = created ? 201 : 204;
}

void mw_vhost_delete(const mgmt_req *rq, mgmt_resp *rs) {
    const char *name = rq->seg[1];
    if (!vhost_exists(name) || vhost_delete(name)) return mw_not_found(rs);
    access_vhost_deleted(name);
    if (mw_sync(rs)) rs->status = 204;
}

/* ---- users ---- */

/* Tags: a list, or a comma-separated string. */
static bool tags_of(json_t *t, char *out, size_t cap) {
    out[0] = 0;
    if (json_is_string(t)) {
        size_t o = 0;
        const char *s = json_string_value(t);
        while (*s) { /* drop the blanks around each */
            while (*s == ' ') s++;
            const char *e = s;
            while (*e && *e != ',') e++;
            const char *z = e;
            while (z > s && z[-1] == ' ') z--;
            if (z > s) {
                int n = snprintf(out + o, cap - o, "%s%.*s", o ? "," : "", (int)(z - s), s);
                if (n < 0 || (size_t)n >= cap - o) return false;
                o += (size_t)n;
            }
            s = *e ? e + 1 : e;
        }
        return true;
    }
    if (!json_is_array(t)) return false;
    size_t i, o = 0;
    json_t *e;
    json_array_foreach(t, i, e) {
        if (!json_is_string(e)) return false;
        int n = snprintf(out + o, cap - o, "%s%s", o ? "," : "", json_string_value(e));
        if (n < 0 || (size_t)n >= cap - o) return false;
        o += (size_t)n;
    }
    return true;
}

void mw_user_put(const mgmt_req *rq, mgmt_resp *rs) {
    const char *name = rq->seg[1];
    json_t *b = mw_body(rq, rs);
    if (!b || !name_ok(name, "user name", rs)) return;
    json_t *tj = json_object_get(b, "tags");
    if (!tj) return mgmt_error(rs, 400, "bad_request", "tags_not_present");
    char tags[1024], err[300], hash[200];
    if (!tags_of(tj, tags, sizeof tags)) return mgmt_error(rs, 400, "bad_request", "tags must be a string or a list");
    json_t *pw = json_object_get(b, "password"), *ph = json_object_get(b, "password_hash");
    int algo = HASH_SHA256;
    const char *h = "";
    if (json_is_string(pw)) {
        if (access_hash_password(HASH_SHA256, NULL, amq_cstr(json_string_value(pw)), hash, sizeof hash))
            return mgmt_error(rs, 500, "internal_server_error", "cannot hash the password");
        h = hash;
    } else if (json_is_string(ph)) {
        h = json_string_value(ph);
        size_t n;
        uint8_t *raw = mw_b64_decode(h, strlen(h), &n);
        if (!raw) return mw_bad_pair(rs, "not_base64", h);
        free(raw);
        json_t *aj = json_object_get(b, "hashing_algorithm");
        algo = access_hash_parse(json_is_string(aj) ? json_string_value(aj) : NULL);
        if (algo < 0) return mw_bad_pair(rs, "unknown_hashing_algorithm", json_string_value(aj));
    } /* neither: a user who cannot log in with a password */
    bool existed = access_user_exists(name);
    if (access_user_put_hash(name, algo, h, tags, err, sizeof err))
        return mgmt_error(rs, 400, "bad_request", "%s", err);
    if (mw_sync(rs)) rs->status = existed ? 204 : 201;
}

void mw_user_delete(const mgmt_req *rq, mgmt_resp *rs) {
    char err[300];
    if (!access_user_exists(rq->seg[1]) || access_user_delete(rq->seg[1], err, sizeof err)) return mw_not_found(rs);
    if (mw_sync(rs)) rs->status = 204;
}

void mw_users_bulk_delete(const mgmt_req *rq, mgmt_resp *rs) {
    json_t *b = mw_body(rq, rs);
    static const char *const keys[] = {"users", NULL};
    if (!b || !mw_keys(b, rs, keys)) return;
    json_t *users = json_object_get(b, "users"), *u;
    if (!json_is_array(users)) return mgmt_error(rs, 400, "bad_request", "users must be a list");
    size_t i;
    char err[300];
    json_array_foreach(users, i, u) {
        const char *name = json_string_value(u);
        if (!name || access_user_delete(name, err, sizeof err)) { /* those before it stay deleted, as in RabbitMQ */
            if (mw_sync(rs)) mw_bad_pair(rs, "no_such_user", name ? name : "");
            return;
        }
    }
    if (mw_sync(rs)) rs->status = 204;
}

/* ---- permissions ---- */

void mw_perm_put(const mgmt_req *rq, mgmt_resp *rs) {
    const char *vh = rq->seg[1], *user = rq->seg[2];
    if (!vhost_exists(vh) || !access_user_exists(user))
        return mgmt_error(rs, 400, "bad_request", "vhost_or_user_not_found");
    json_t *b = mw_body(rq, rs);
    static const char *const keys[] = {"configure", "write", "read", NULL};
    if (!b || !mw_keys(b, rs, keys)) return;
    const char *c = json_string_value(json_object_get(b, "configure")),
               *w = json_string_value(json_object_get(b, "write")), *r = json_string_value(json_object_get(b, "read"));
    if (!c || !w || !r) return mgmt_error(rs, 400, "bad_request", "configure, write and read must be strings");
    access_grant *g = access_grant_get(user, vh);
    bool existed = g != NULL;
    access_grant_unref(&g);
    char err[300];
    if (access_set_permissions(user, vh, c, w, r, err, sizeof err))
        return mgmt_error(rs, 400, "bad_request", "%s", err);
    if (mw_sync(rs)) rs->status = existed ? 204 : 201;
}

void mw_perm_delete(const mgmt_req *rq, mgmt_resp *rs) {
    const char *vh = rq->seg[1], *user = rq->seg[2];
    access_grant *g = vhost_exists(vh) && access_user_exists(user) ? access_grant_get(user, vh) : NULL;
    if (!g) return mw_not_found(rs);
    access_grant_unref(&g);
    char err[300];
    if (access_clear_permissions(user, vh, err, sizeof err)) return mw_not_found(rs);
    if (mw_sync(rs)) rs->status = 204;
}

/* ---- policies ---- */

typedef struct {
    const char *name;
    bool op, found;
} pfind;

static void pfind_cb(void *ctx, vhost *v, const policy_info *p) {
    (void)v;
    pfind *f = ctx;
    if (p->op == f->op && !strcmp(p->name, f->name)) f->found = true;
}

static bool policy_exists(vhost *v, const char *name, bool op) {
    pfind f = {name, op, false};
    vhost_walk(v, &(vhost_walker){.policy = pfind_cb}, &f);
    return f.found;
}

/* The plugin escapes a policy's validation error as HTML (not an operator policy's). */
static void policy_fail(mgmt_resp *rs, const char *text, bool op) {
    if (op) return mgmt_error(rs, 400, "bad_request", "%s", text);
    char out[2400];
    size_t o = 0;
    for (const char *p = text; *p && o + 6 < sizeof out; p++) {
        const char *rep = *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : *p == '&' ? "&amp;" : NULL;
        if (rep) o += (size_t)snprintf(out + o, sizeof out - o, "%s", rep);
        else out[o++] = *p;
    }
    out[o] = 0;
    mgmt_error(rs, 400, "bad_request", "%s", out);
}

static void policy_put(const mgmt_req *rq, mgmt_resp *rs, bool op) {
    vhost *v = mw_vhost(rq, rs, 1, true);
    json_t *b = v ? mw_body(rq, rs) : NULL;
    static const char *const keys[] = {"pattern", "definition", NULL};
    if (!b || !mw_keys(b, rs, keys)) return;
    const char *name = rq->seg[2];
    json_t *pj = json_object_get(b, "priority"), *aj = json_object_get(b, "apply-to");
    json_t *pat = json_object_get(b, "pattern");
    int64_t prio = 0;
    char err[1200];
    if (pj && !json_is_null(pj)) {
        if (!json_is_integer(pj)) {
            char *shown = json_dumps(pj, JSON_ENCODE_ANY);
            if (json_is_string(pj)) snprintf(err, sizeof err, "<<\"%s\">>", json_string_value(pj));
            else snprintf(err, sizeof err, "%s", shown ? shown : "?");
            free(shown);
            char text[1300];
            snprintf(text, sizeof text, "Validation failed\n\npriority should be a number, actually was %s\n", err);
            return policy_fail(rs, text, op);
        }
        prio = json_integer_value(pj);
    }
    if (!json_is_string(pat)) return policy_fail(rs, "Validation failed\n\npattern must be a string\n", op);
    if (aj && !json_is_string(aj)) return policy_fail(rs, "Validation failed\n\napply-to must be a string\n", op);
    bool existed = policy_exists(v, name, op);
    int rc = policy_set_json(vhost_name(v), name, json_string_value(pat), json_object_get(b, "definition"), prio,
                             aj ? json_string_value(aj) : NULL, op, err, sizeof err);
    if (rc == 65) return mgmt_error(rs, 404, "not_found", "vhost_not_found");
    if (rc) {
        size_t n = strlen(err); /* the plugin's text ends with a newline */
        if (n + 1 < sizeof err && (!n || err[n - 1] != '\n')) strcat(err, "\n");
        return policy_fail(rs, err, op);
    }
    if (mw_sync(rs)) rs->status = existed ? 204 : 201;
}

static void policy_delete(const mgmt_req *rq, mgmt_resp *rs, bool op) {
    vhost *v = mw_vhost(rq, rs, 1, false);
    if (!v) return;
    char err[600];
    if (!policy_exists(v, rq->seg[2], op) || policy_clear(vhost_name(v), rq->seg[2], op, err, sizeof err))
        return mw_not_found(rs);
    if (mw_sync(rs)) rs->status = 204;
}

void mw_policy_put(const mgmt_req *rq, mgmt_resp *rs) { policy_put(rq, rs, false); }
void mw_policy_delete(const mgmt_req *rq, mgmt_resp *rs) { policy_delete(rq, rs, false); }
void mw_op_policy_put(const mgmt_req *rq, mgmt_resp *rs) { policy_put(rq, rs, true); }
void mw_op_policy_delete(const mgmt_req *rq, mgmt_resp *rs) { policy_delete(rq, rs, true); }

/* ---- connections ---- */

void mw_conn_delete(const mgmt_req *rq, mgmt_resp *rs) {
    const char *name = rq->seg[1];
    ci_snapshot snap;
    if (ci_snapshot_take(&snap, 0))
        return mgmt_error(rs, 500, "internal_server_error", "timed out waiting for the worker threads");
    const ci_conn *c = NULL;
    for (size_t i = 0; i < snap.nconns && !c; i++)
        if (!strcmp(snap.conns[i].name, name)) c = &snap.conns[i];
    bool mine = c && !strcmp(c->user, rq->user);
    uint64_t id = c ? c->id : 0;
    ci_snapshot_free(&snap);
    if (!c) return mw_not_found(rs);
    /* As the plugin: a user closes its own connections, an administrator any. */
    if (!mine && !(rq->tags & MGMT_TAG_ADMINISTRATOR))
        return mgmt_error(rs, 401, "not_authorised", "User not authorised to access object");
    const char *reason = rq->header ? rq->header(rq, "x-reason") : NULL;
    ci_close(id, reason && *reason ? reason : "Closed via management plugin");
    rs->status = 204;
}

/* ---- definitions ---- */

/* The items of one vhost, without their vhost field (the plugin's per-vhost export). */
static json_t *vhost_items(json_t *all, const char *vh) {
    json_t *out = json_array(), *e;
    size_t i;
    json_array_foreach(all, i, e) {
        const char *v = json_string_value(json_object_get(e, "vhost"));
        if (!v || strcmp(v, vh)) continue;
        json_t *c = json_copy(e);
        json_object_del(c, "vhost");
        json_array_append_new(out, c);
    }
    return out;
}

static const char *const vhost_keys[] = {"parameters", "policies", "queues", "exchanges", "bindings", NULL};

void mw_defs_get(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = NULL;
    if (rq->nseg > 1 && !(v = mw_vhost(rq, rs, 1, false))) {
        if (rs->status == 404) mgmt_error(rs, 400, "bad_request", "vhost_not_found"); /* the plugin's */
        return;
    }
    char *text = defs_export();
    json_t *all = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!all) return mgmt_error(rs, 500, "internal_server_error", "cannot export the definitions");
    if (v) {
        json_t *one = json_pack("{s:O}", "rabbit_version", json_object_get(all, "rabbit_version"));
        for (size_t k = 0; vhost_keys[k]; k++)
            json_object_set_new(one, vhost_keys[k], vhost_items(json_object_get(all, vhost_keys[k]), vhost_name(v)));
        json_decref(all);
        all = one;
    }
    rs->status = 200;
    rs->body = all;
}

void mw_defs_post(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = NULL;
    if (rq->nseg > 1 && !(v = mw_vhost(rq, rs, 1, true))) return;
    if (!json_is_object(rq->body)) return mgmt_error(rs, 400, "bad_request", "failed_to_parse_json");
    json_t *doc = rq->body;
    if (v) { /* the plugin's per-vhost import: these items, all into v */
        doc = json_object();
        for (size_t k = 0; vhost_keys[k]; k++) {
            json_t *items = json_object_get(rq->body, vhost_keys[k]), *e, *c = json_array();
            size_t i;
            json_array_foreach(items, i, e) {
                json_t *x = json_is_object(e) ? json_copy(e) : json_incref(e);
                if (json_is_object(x)) json_object_set_new(x, "vhost", json_string(vhost_name(v)));
                json_array_append_new(c, x);
            }
            json_object_set_new(doc, vhost_keys[k], c);
        }
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    if (v) json_decref(doc);
    if (!text) return mgmt_error(rs, 400, "bad_request", "failed_to_parse_json");
    char report[8192];
    int rc = defs_import(text, strlen(text), report, sizeof report);
    free(text);
    if (rc < 0) return mgmt_error(rs, 400, "bad_request", "%s", report);
    if (rc) log_warn("management: definitions imported by '%s', with items skipped:\n%s", rq->user, report);
    if (mw_sync(rs)) rs->status = 204;
}
