/* mgmt_write.c — the management API's write routes (mgmt.h), as RabbitMQ
 * 3.10's management plugin answers them: the route table, the helpers the
 * write routes share (mgmt_write_int.h), and exchanges, queues, bindings,
 * publish, get, purge and the aliveness test. Users, vhosts, permissions,
 * policies, connections and definitions are in mgmt_admin_write.c.
 *
 * Handlers run on the HTTP server's threads, never on an AMQP worker. They
 * call the same model functions the AMQP methods call (vhost_*, queue_*),
 * with the user's AMQP permissions checked as RabbitMQ checks them, and a
 * change is answered only once the log has it on disk (store_sync), as the
 * control socket does. */
#include "mgmt_write_int.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "amq/methods.h"
#include "amq/table.h"
#include "config.h"
#include "definitions.h"
#include "delayed.h"
#include "durable.h"
#include "mgmt_int.h"
#include "names.h"
#include "qfeat.h"
#include "queue.h"
#include "sendsel.h"
#include "store.h"
#include "util.h"

/* ---- shared helpers (mgmt_write_int.h) ---- */

void mw_not_found(mgmt_resp *rs) { mgmt_error(rs, 404, "Object Not Found", "Not Found"); }

vhost *mw_vhost(const mgmt_req *rq, mgmt_resp *rs, int i, bool vhost_not_found_reason) {
    const char *name = rq->seg[i];
    vhost *v = strlen(name) <= NAME_MAX_BYTES ? vhost_find(amq_cstr(name)) : NULL;
    if (!v || vhost_is_deleted(v)) {
        if (vhost_not_found_reason) mgmt_error(rs, 404, "not_found", "vhost_not_found");
        else mw_not_found(rs);
        return NULL;
    }
    if (!mgmt_vhost_allowed(rq, name)) {
        mgmt_error(rs, 401, "not_authorised", "User not authorised to access virtual host");
        return NULL;
    }
    return v;
}

static json_t *empty_body; /* {} for a request without a body: shared, never modified, never freed */
static pthread_once_t empty_once = PTHREAD_ONCE_INIT;
static void make_empty(void) { empty_body = json_object(); }

json_t *mw_body(const mgmt_req *rq, mgmt_resp *rs) {
    if (!rq->body || json_is_null(rq->body)) {
        pthread_once(&empty_once, make_empty);
        return empty_body;
    }
    if (json_is_object(rq->body)) return rq->body;
    if (json_is_string(rq->body))
        mgmt_error(rs, 400, "bad_request",
                   "invalid payload: the request body JSON-decoded to a string. Is the input doubly-JSON-encoded?");
    else mgmt_error(rs, 400, "bad_request", "not_json");
    return NULL;
}

bool mw_keys(json_t *body, mgmt_resp *rs, const char *const *keys) {
    char text[400] = "";
    size_t o = 0;
    for (; *keys; keys++) {
        json_t *v = json_object_get(body, *keys);
        if (v && !json_is_null(v)) continue;
        int n = snprintf(text + o, sizeof text - o, "%s{key_missing,%s}", o ? "," : "[", *keys);
        if (n > 0 && (size_t)n < sizeof text - o) o += (size_t)n;
    }
    if (!o) return true;
    mgmt_error(rs, 400, "bad_request", "%s]", text);
    return false;
}

bool mw_flag(json_t *body, const char *key, bool dflt) {
    json_t *v = json_object_get(body, key);
    if (json_is_boolean(v)) return json_is_true(v);
    if (json_is_string(v)) return !strcmp(json_string_value(v), "true");
    return dflt;
}

bool mw_sync(mgmt_resp *rs) {
    if (!store_sync()) return true;
    mgmt_error(rs, 500, "internal_server_error",
               "the change could not be written to the data directory (see the broker log)");
    return false;
}

void mw_bad_pair(mgmt_resp *rs, const char *a, const char *b) {
    rs->status = 400;
    rs->body = json_pack("{s:s,s:[s,s]}", "error", "bad_request", "reason", a, b);
}

/* A JSON string of bytes that AMQP allows to be anything (names, keys,
 * property values): as they are when UTF-8, else each byte that breaks it as
 * U+FFFD, so a row is never lost to jansson's refusal. */
static json_t *jstr(const void *p, size_t n) {
    json_t *s = json_stringn(p, n);
    if (s) return s;
    const uint8_t *b = p;
    char *out = xmalloc(n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = 1;
        while (k <= 4 && i + k <= n && !(s = json_stringn((const char *)b + i, k))) k++;
        if (s && k <= 4) {
            memcpy(out + o, b + i, k);
            o += k;
            i += k;
            json_decref(s);
            s = NULL;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    s = json_stringn(out, o);
    free(out);
    return s ? s : json_string("");
}

/* The explanation without "NAME - " (as an amqp_error's explanation). */
static const char *explanation(const char *text) {
    const char *d = strstr(text, " - ");
    if (!d) return text;
    for (const char *p = text; p < d; p++)
        if (!((*p >= 'A' && *p <= 'Z') || *p == '_')) return text;
    return d + 3;
}

void mw_amqp_fail(mgmt_resp *rs, int code, const char *text) {
    if (code == AMQ_NOT_FOUND) mgmt_error(rs, 404, "not_found", "%s", explanation(text));
    else if (code == AMQ_ACCESS_REFUSED || code == AMQ_NOT_ALLOWED)
        mgmt_error(rs, 401, "not_authorised", "Access refused.");
    else mgmt_error(rs, 400, "bad_request", "%s", explanation(text));
}

/* A failure on the channel RabbitMQ opens for get and the aliveness test
 * (its with_channel): 404 and 403 with the whole text, others "CODE TEXT". */
static void channel_fail(mgmt_resp *rs, int code, const char *text) {
    if (code == AMQ_NOT_FOUND) mgmt_error(rs, 404, "not_found", "%s", text);
    else if (code == AMQ_ACCESS_REFUSED) mgmt_error(rs, 401, "not_authorised", "%s", text);
    else mgmt_error(rs, 400, "bad_request", "%d %s", code, text);
}

/* ---- permissions: the user's AMQP grant on the vhost ---- */

typedef struct {
    access_grant *g; /* NULL: no permissions in the vhost */
    const char *user, *vhost;
} acl;

static acl acl_get(const mgmt_req *rq, vhost *v) {
    return (acl){access_grant_get(rq->user, vhost_name(v)), rq->user, vhost_name(v)};
}

static void acl_done(acl *a) { access_grant_unref(&a->g); }

/* 0, or 403 with RabbitMQ's text in e. */
static int perm(const acl *a, int kind, const char *rtype, amq_bytes name, werr *e) {
    if (a->g && access_grant_allows(a->g, kind, name)) return 0;
    return werr_set(e, AMQ_ACCESS_REFUSED, "ACCESS_REFUSED - access to %s '%.*s' in vhost '%s' refused for user '%s'",
                    rtype, (int)(name.len ? name.len : 11), name.len ? (const char *)name.p : "amq.default", a->vhost,
                    a->user);
}

/* An exchange named in a path: amq.default is the default exchange "". */
static amq_bytes xname(const char *seg) { return amq_cstr(strcmp(seg, "amq.default") ? seg : ""); }

/* A string argument of a table, or an empty slice. */
static amq_bytes str_arg(amq_bytes args, const char *key) {
    amq_field f;
    if (args.len && amq_table_get(args, key, &f) == 1 && (f.type == 'S' || f.type == 'x')) return f.v.str;
    return (amq_bytes){0};
}

/* The body's "arguments" as a table in w (a NULL in it: 400 as RabbitMQ). */
static bool has_null(json_t *v) {
    if (json_is_null(v)) return true;
    size_t i;
    const char *k;
    json_t *e;
    if (json_is_array(v)) json_array_foreach(v, i, e) if (has_null(e)) return true;
    if (json_is_object(v)) json_object_foreach(v, k, e) if (has_null(e)) return true;
    return false;
}

static bool table_of(json_t *obj, amq_wr *w, amq_bytes *out, mgmt_resp *rs) {
    const char *bad;
    amq_wr_init(w);
    if (obj && has_null(obj)) {
        mgmt_error(rs, 400, "bad_request", "null_not_allowed");
        return false;
    }
    amq_wr_destroy(w);
    *out = defs_json_table(obj, w, &bad);
    if (bad) {
        mgmt_error(rs, 400, "bad_request", "argument name '%.40s...' is longer than 255 bytes", bad);
        return false;
    }
    return true;
}

static bool name_ok(amq_bytes name, const char *what, mgmt_resp *rs) {
    char err[300];
    if (!name_check(name, what, NULL, err, sizeof err)) return true;
    mgmt_error(rs, 400, "bad_request", "%s", err);
    return false;
}

/* ---- exchanges ---- */

static void x_put(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = mw_vhost(rq, rs, 1, true);
    json_t *b = v ? mw_body(rq, rs) : NULL;
    if (!b) return;
    amq_bytes name = xname(rq->seg[2]);
    if (!name_ok(name, "exchange name", rs)) return;
    json_t *t = json_object_get(b, "type");
    amq_bytes type = amq_cstr(json_is_string(t) ? json_string_value(t) : "direct");
    amq_wr w;
    amq_bytes args;
    if (!table_of(json_object_get(b, "arguments"), &w, &args, rs)) return;
    werr ve;
    acl a = acl_get(rq, v);
    int rc = 0;
    exch_type et;
    bool exists = vhost_exchange_exists(v, name);
    if (name.len && (exch_type_parse(type, &et) == 0 || delayed_is_type(type))) {
        rc = perm(&a, PERM_CONFIGURE, "exchange", name, &ve);
        amq_bytes ae = str_arg(args, "alternate-exchange");
        if (!rc && ae.len && !exists && !(rc = perm(&a, PERM_READ, "exchange", name, &ve)))
            rc = perm(&a, PERM_WRITE, "exchange", ae, &ve);
    }
    if (!rc)
        rc = vhost_exchange_declare(v, name, type, false, mw_flag(b, "durable", false),
                                    mw_flag(b, "auto_delete", false), mw_flag(b, "internal", false), args, &ve);
    acl_done(&a);
    amq_wr_destroy(&w);
    if (rc) return mw_amqp_fail(rs, rc, ve.text);
    if (mw_sync(rs)) rs->status = exists ? 204 : 201;
}

static void x_delete(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = mw_vhost(rq, rs, 1, false);
    if (!v) return;
    amq_bytes name = xname(rq->seg[2]);
    if (name.len > NAME_MAX_BYTES || !vhost_exchange_exists(v, name)) return mw_not_found(rs);
    const char *iu = rq->query(rq, "if-unused");
    werr ve;
    acl a = acl_get(rq, v);
    int rc = name.len ? perm(&a, PERM_CONFIGURE, "exchange", name, &ve) : 0;
    acl_done(&a);
    if (!rc) rc = vhost_exchange_delete(v, name, iu && !strcmp(iu, "true"), &ve);
    if (rc) return mw_amqp_fail(rs, rc, ve.text);
    if (mw_sync(rs)) rs->status = 204;
}

/* ---- base64 (RabbitMQ's payload_encoding) ---- */

static char *b64_encode(const uint8_t *p, size_t n) {
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* Decode s (strict: the alphabet, '=' only as padding, a multiple of 4);
 * NULL if it is not base64. *n: the bytes. */
uint8_t *mw_b64_decode(const char *s, size_t len, size_t *n) {
    if (len % 4) return NULL;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (c == '=' && i >= len - 2) pad++;
        else if (!alpha || pad) return NULL;
    }
    uint8_t *out = xmalloc(len / 4 * 3 + 1);
    int k = len ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)len) : 0;
    if (k < 0) {
        free(out);
        return NULL;
    }
    *n = (size_t)k - pad;
    return out;
}

/* ---- message properties <-> JSON (rabbit_mgmt_format:basic_properties) ---- */

static const struct {
    const char *key;
    uint16_t flag;
    size_t off; /* of its amq_bytes in amq_basic_props, for the string ones */
} str_props[] = {
    {"content_type", AMQ_BASIC_PROP_CONTENT_TYPE, offsetof(amq_basic_props, content_type)},
    {"content_encoding", AMQ_BASIC_PROP_CONTENT_ENCODING, offsetof(amq_basic_props, content_encoding)},
    {"correlation_id", AMQ_BASIC_PROP_CORRELATION_ID, offsetof(amq_basic_props, correlation_id)},
    {"reply_to", AMQ_BASIC_PROP_REPLY_TO, offsetof(amq_basic_props, reply_to)},
    {"expiration", AMQ_BASIC_PROP_EXPIRATION, offsetof(amq_basic_props, expiration)},
    {"message_id", AMQ_BASIC_PROP_MESSAGE_ID, offsetof(amq_basic_props, message_id)},
    {"type", AMQ_BASIC_PROP_TYPE, offsetof(amq_basic_props, type)},
    {"user_id", AMQ_BASIC_PROP_USER_ID, offsetof(amq_basic_props, user_id)},
    {"app_id", AMQ_BASIC_PROP_APP_ID, offsetof(amq_basic_props, app_id)},
    {"cluster_id", AMQ_BASIC_PROP_CLUSTER_ID, offsetof(amq_basic_props, cluster_id)},
};
#define NSTR_PROPS (sizeof str_props / sizeof *str_props)

/* The properties as RabbitMQ shows them: an object of the fields set, or []
 * (Erlang's empty proplist) when none is. */
static json_t *props_json(amq_bytes raw) {
    amq_basic_props p;
    memset(&p, 0, sizeof p);
    if (raw.len) amq_basic_props_decode(raw, &p);
    if (!p.flags) return json_array();
    json_t *o = json_object();
    for (size_t i = 0; i < NSTR_PROPS; i++) {
        if (!(p.flags & str_props[i].flag)) continue;
        const amq_bytes *s = (const amq_bytes *)((const char *)&p + str_props[i].off);
        json_object_set_new(o, str_props[i].key, jstr(s->p, s->len));
    }
    if (p.flags & AMQ_BASIC_PROP_HEADERS)
        json_object_set_new(o, "headers", defs_table_json(p.headers.p, p.headers.len));
    if (p.flags & AMQ_BASIC_PROP_DELIVERY_MODE) json_object_set_new(o, "delivery_mode", json_integer(p.delivery_mode));
    if (p.flags & AMQ_BASIC_PROP_PRIORITY) json_object_set_new(o, "priority", json_integer(p.priority));
    if (p.flags & AMQ_BASIC_PROP_TIMESTAMP) json_object_set_new(o, "timestamp", json_integer((json_int_t)p.timestamp));
    return o;
}

/* An integer field: a JSON integer or a string of one (RabbitMQ's parse_int). */
static bool int_of(json_t *v, int64_t *out) {
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (!json_is_string(v)) return false;
    char *end;
    const char *s = json_string_value(v);
    long long n = strtoll(s, &end, 10);
    if (end == s || *end) return false;
    *out = n;
    return true;
}

/* JSON properties into p (strings point into props); headers encoded in hw.
 * false after a 400 reply. */
static bool props_of(json_t *props, amq_basic_props *p, amq_wr *hw, mgmt_resp *rs) {
    memset(p, 0, sizeof *p);
    amq_wr_init(hw);
    if (!json_is_object(props)) return true; /* [] or {}: none */
    for (size_t i = 0; i < NSTR_PROPS; i++) {
        json_t *v = json_object_get(props, str_props[i].key);
        if (!v) continue;
        if (!json_is_string(v) || json_string_length(v) > 255) {
            mgmt_error(rs, 400, "bad_request", "property %s must be a string of at most 255 bytes", str_props[i].key);
            return false;
        }
        amq_bytes *s = (amq_bytes *)((char *)p + str_props[i].off);
        *s = (amq_bytes){(const uint8_t *)json_string_value(v), json_string_length(v)};
        p->flags |= str_props[i].flag;
    }
    static const struct {
        const char *key;
        uint16_t flag;
        int64_t max;
    } ints[] = {{"delivery_mode", AMQ_BASIC_PROP_DELIVERY_MODE, 255},
                {"priority", AMQ_BASIC_PROP_PRIORITY, 255},
                {"timestamp", AMQ_BASIC_PROP_TIMESTAMP, INT64_MAX}};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(props, ints[i].key);
        int64_t n;
        if (!v) continue;
        if (!int_of(v, &n) || n < 0 || n > ints[i].max) {
            mgmt_error(rs, 400, "bad_request", "property %s must be an integer from 0 to %lld", ints[i].key,
                       (long long)ints[i].max);
            return false;
        }
        p->flags |= ints[i].flag;
        if (i == 0) p->delivery_mode = (uint8_t)n;
        else if (i == 1) p->priority = (uint8_t)n;
        else p->timestamp = (uint64_t)n;
    }
    json_t *h = json_object_get(props, "headers");
    if (h && !json_is_object(h)) {
        mgmt_error(rs, 400, "bad_request", "property headers must be an object");
        return false;
    }
    if (json_object_size(h)) {
        amq_bytes t;
        amq_wr_destroy(hw);
        if (!table_of(h, hw, &t, rs)) return false;
        p->headers = t;
        p->flags |= AMQ_BASIC_PROP_HEADERS;
    }
    return true;
}

/* ---- publish ---- */

/* Route and enqueue m as a publish on a channel with confirms would (the
 * plugin publishes with mandatory and waits for the confirm): 0 with *routed,
 * or an AMQP code with text in e. keys: the routing key and CC/BCC's. */
static int publish_msg(vhost *v, msg *m, const amq_basic_props *p, bool *routed, werr *e) {
    amq_bytes headers = (p->flags & AMQ_BASIC_PROP_HEADERS) ? p->headers : (amq_bytes){0};
    amq_bytes xn = msg_exchange(m);
    ss_keys keys;
    ss_init(&keys, msg_rk(m));
    bool bcc = false;
    char err[200];
    if (headers.len && ss_collect(headers, &keys, &bcc, err, sizeof err)) {
        ss_free(&keys);
        return werr_set(e, AMQ_PRECONDITION_FAILED, "%s", err);
    }
    uint64_t wait = 0, delay;
    bool durable_x;
    *routed = false;
    int rc = 0;
    if (headers.len && delayed_delay_of(headers, &delay) && vhost_exchange_delayed(v, xn, &durable_x)) {
        /* held (x-delayed-message): like the plugin, nothing routes it now */
        wait = delayed_hold(v, m, delay, durable_x && m->delivery_mode == 2);
    } else {
        msg *rewritten = NULL;
        if (bcc && !(rewritten = ss_rewrite_props(m, p, true))) {
            ss_free(&keys);
            return werr_set(e, AMQ_INTERNAL_ERROR, "INTERNAL_ERROR - out of memory");
        }
        route_set rs;
        route_set_init(&rs);
        size_t n = 0;
        rc = vhost_publish(v, rewritten ? rewritten : m, xn, keys.v, keys.n, headers, &rs, &wait, &n, e);
        route_set_destroy(&rs);
        vhost_thread_cleanup(); /* this HTTP thread keeps no routing scratch */
        msg_unref(&rewritten);
        *routed = n > 0;
    }
    ss_free(&keys);
    if (rc) return rc;
    /* The confirm: a persistent message is reported only once on disk. */
    if (wait && wait != UINT64_MAX && (store_sync() || store_lost(wait))) wait = UINT64_MAX;
    if (wait == UINT64_MAX) return werr_set(e, -1, "rejected");
    return 0;
}

static void x_publish(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = mw_vhost(rq, rs, 1, false);
    json_t *b = v ? mw_body(rq, rs) : NULL;
    static const char *const keys[] = {"routing_key", "properties", "payload", "payload_encoding", NULL};
    if (!b || !mw_keys(b, rs, keys)) return;
    json_t *pl = json_object_get(b, "payload"), *enc = json_object_get(b, "payload_encoding"),
           *rkj = json_object_get(b, "routing_key");
    if (!json_is_string(pl)) return mgmt_error(rs, 400, "bad_request", "payload_not_string");
    const char *es = json_is_string(enc) ? json_string_value(enc) : "";
    const uint8_t *body = (const uint8_t *)json_string_value(pl);
    size_t blen = json_string_length(pl);
    uint8_t *decoded = NULL;
    if (!strcmp(es, "base64")) {
        decoded = mw_b64_decode(json_string_value(pl), blen, &blen);
        if (!decoded) return mw_bad_pair(rs, "not_base64", json_string_value(pl));
        body = decoded;
    } else if (strcmp(es, "string")) {
        return mw_bad_pair(rs, "unsupported_encoding", es);
    }
    amq_bytes xn = xname(rq->seg[2]);
    amq_bytes rk = amq_cstr(json_is_string(rkj) ? json_string_value(rkj) : "");
    amq_basic_props p;
    amq_wr hw, pw;
    amq_wr_init(&pw);
    werr ve;
    int rc = 0;
    bool routed = false;
    acl a = acl_get(rq, v);
    if (!props_of(json_object_get(b, "properties"), &p, &hw, rs)) goto out;
    if (!a.g) {
        mgmt_error(rs, 401, "not_authorised", "Access refused.");
        goto out;
    }
    if (xn.len > NAME_MAX_BYTES || rk.len > NAME_MAX_BYTES) {
        rc = werr_set(&ve, AMQ_FRAME_ERROR, "FRAME_ERROR - the exchange name or routing key is longer than 255 bytes");
        goto out;
    }
    if ((rc = perm(&a, PERM_WRITE, "exchange", xn, &ve))) goto out;
    if (blen > config.max_message_size) {
        rc = werr_set(&ve, AMQ_PRECONDITION_FAILED,
                      "PRECONDITION_FAILED - message size %zu is larger than configured max size %llu", blen,
                      (unsigned long long)config.max_message_size);
        goto out;
    }
    if ((p.flags & AMQ_BASIC_PROP_USER_ID) && !amq_bytes_eqs(p.user_id, rq->user) &&
        !access_user_has_tag(rq->user, "impersonator")) {
        rc = werr_set(&ve, AMQ_PRECONDITION_FAILED,
                      "PRECONDITION_FAILED - user_id property set to '%.*s' but authenticated user was '%s'",
                      (int)p.user_id.len, p.user_id.p, rq->user);
        goto out;
    }
    int64_t ttl = -1;
    if (p.flags & AMQ_BASIC_PROP_EXPIRATION) {
        char why[128];
        if (qfeat_parse_expiration(p.expiration, &ttl, why, sizeof why)) {
            rc = werr_set(&ve, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - invalid expiration '%.*s': %s",
                          (int)p.expiration.len, p.expiration.p, why);
            goto out;
        }
    }
    if ((p.flags & AMQ_BASIC_PROP_REPLY_TO) && amq_bytes_eqs(p.reply_to, "amq.rabbitmq.reply-to")) {
        rc = werr_set(&ve, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - fast reply consumer does not exist");
        goto out;
    }
    amq_basic_props_encode(&pw, &p);
    msg *m = msg_new(xn, rk, (amq_bytes){pw.data, pw.len}, blen);
    if (!m) {
        mgmt_error(rs, 500, "internal_server_error", "out of memory");
        goto out;
    }
    if (blen) memcpy(msg_body(m), body, blen);
    m->body_have = blen;
    m->delivery_mode = (p.flags & AMQ_BASIC_PROP_DELIVERY_MODE) ? p.delivery_mode : 0;
    m->priority = (p.flags & AMQ_BASIC_PROP_PRIORITY) ? p.priority : 0;
    m->ttl = ttl;
    rc = publish_msg(v, m, &p, &routed, &ve);
    msg_unref(&m);
    if (rc == -1) {
        mgmt_error(rs, 400, "bad_request", "rejected Unable to publish message. Check queue limits.");
        rc = 0;
        goto out;
    }
    if (!rc) {
        rs->status = 200;
        rs->body = json_pack("{s:b}", "routed", routed);
    }
out:
    if (rc) mgmt_error(rs, 400, "bad_request", "%d %s", rc, ve.text);
    acl_done(&a);
    amq_wr_destroy(&hw);
    amq_wr_destroy(&pw);
    free(decoded);
}

/* ---- queues ---- */

static void q_put(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = mw_vhost(rq, rs, 1, true);
    json_t *b = v ? mw_body(rq, rs) : NULL;
    if (!b) return;
    amq_bytes name = amq_cstr(rq->seg[2]);
    if (!name_ok(name, "queue name", rs)) return;
    amq_wr w;
    amq_bytes args;
    if (!table_of(json_object_get(b, "arguments"), &w, &args, rs)) return;
    werr ve;
    acl a = acl_get(rq, v);
    queue *q = NULL;
    bool exists = vhost_queue_get(v, name, 0, &q, &ve) != AMQ_NOT_FOUND;
    queue_unref(&q);
    int rc = perm(&a, PERM_CONFIGURE, "queue", name, &ve);
    amq_bytes dlx = str_arg(args, "x-dead-letter-exchange");
    if (!rc && dlx.len && !(rc = perm(&a, PERM_READ, "queue", name, &ve)))
        rc = perm(&a, PERM_WRITE, "exchange", dlx, &ve);
    acl_done(&a);
    if (!rc)
        rc = vhost_queue_declare(v, name, false, mw_flag(b, "durable", false), false, mw_flag(b, "auto_delete", false),
                                 args, 0, &q, &ve);
    queue_unref(&q);
    amq_wr_destroy(&w);
    if (rc) return mw_amqp_fail(rs, rc, ve.text);
    if (mw_sync(rs)) rs->status = exists ? 204 : 201;
}

/* The queue of segment 2 exists? (else 404 Object Not Found) */
static bool q_exists(vhost *v, const mgmt_req *rq, mgmt_resp *rs) {
    amq_bytes name = amq_cstr(rq->seg[2]);
    werr ve;
    queue *q = NULL;
    bool ok = name.len <= NAME_MAX_BYTES && vhost_queue_get(v, name, 0, &q, &ve) != AMQ_NOT_FOUND;
    queue_unref(&q);
    if (!ok) mw_not_found(rs);
    return ok;
}

static void q_delete(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = mw_vhost(rq, rs, 1, false);
    if (!v || !q_exists(v, rq, rs)) return;
    amq_bytes name = amq_cstr(rq->seg[2]);
    const char *iu = rq->query(rq, "if-unused"), *ie = rq->query(rq, "if-empty");
    werr ve;
    acl a = acl_get(rq, v);
    int rc = perm(&a, PERM_CONFIGURE, "queue", name, &ve);
    acl_done(&a);
    uint32_t n = 0;
    if (!rc) rc = vhost_queue_delete(v, name, iu && !strcmp(iu, "true"), ie && !strcmp(ie, "true"), 0, &n, &ve);
    if (rc) return mw_amqp_fail(rs, rc, ve.text);
    if (mw_sync(rs)) rs->status = 204;
}

static void q_purge(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = mw_vhost(rq, rs, 1, false);
    if (!v || !q_exists(v, rq, rs)) return;
    amq_bytes name = amq_cstr(rq->seg[2]);
    werr ve;
    acl a = acl_get(rq, v);
    int rc = perm(&a, PERM_READ, "queue", name, &ve);
    acl_done(&a);
    queue *q = NULL;
    if (!rc) rc = vhost_queue_get(v, name, 0, &q, &ve);
    if (rc) return mw_amqp_fail(rs, rc, ve.text);
    queue_purge(q);
    queue_unref(&q);
    if (mw_sync(rs)) rs->status = 204;
}

/* Mirror sync: a single node has no mirrors, so "sync" and "cancel_sync" do
 * nothing (as 3.10 for a queue without mirrors); administrators only. */
static void q_actions(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = mw_vhost(rq, rs, 1, false);
    json_t *b = v ? mw_body(rq, rs) : NULL;
    static const char *const keys[] = {"action", NULL};
    if (!b || !mw_keys(b, rs, keys) || !q_exists(v, rq, rs)) return;
    const char *act = json_string_value(json_object_get(b, "action"));
    if (!act || (strcmp(act, "sync") && strcmp(act, "cancel_sync"))) return mw_bad_pair(rs, "unknown", act ? act : "");
    rs->status = 204;
}

/* ---- get (basic.get on a channel of the plugin's own) ---- */

enum { ACK_REQUEUE_TRUE, ACK_REQUEUE_FALSE, REJECT_REQUEUE_TRUE, REJECT_REQUEUE_FALSE };

typedef struct {
    msg *m;
    uint64_t seq, exp;
} held;

/* Take up to count messages from q as basic.get does; rows get RabbitMQ's
 * reply objects. Messages not acked at once (every mode but
 * ack_requeue_false) are settled after all are taken, as the plugin does:
 * requeued to their places (the channel closes), returned (reject requeue)
 * or rejected (dead-lettered if q says so). */
static void get_messages(queue *q, int64_t count, int mode, bool b64, int64_t trunc, json_t *rows) {
    held *h = count > 0 ? xcalloc((size_t)(count < 1024 ? count : 1024), sizeof *h) : NULL;
    size_t nh = 0, caph = count > 0 ? (size_t)(count < 1024 ? count : 1024) : 0;
    for (int64_t i = 0; i < count; i++) {
        qentry qe;
        uint32_t left = 0;
        if (!queue_get(q, &qe, &left)) break;
        if (msg_is_lazy(qe.m)) {
            uint64_t pos = msg_lazy_pos(qe.m);
            qe.m = store_materialize(qe.m);
            if (!qe.m) { /* unreadable record: dropped (logged) */
                store_dropped_pos(q, pos);
                i--;
                continue;
            }
        }
        msg *counted = queue_got(q, qe.m); /* a quorum queue's x-delivery-count */
        const msg *shown = counted ? counted : qe.m;
        size_t len = (size_t)qe.m->body_len, cut = len;
        if (trunc >= 0 && (uint64_t)trunc < len) cut = (size_t)trunc;
        json_t *payload = b64 ? NULL : json_stringn((const char *)msg_body_c(qe.m), cut);
        const char *pe = "string";
        if (!payload) {
            char *t = b64_encode(msg_body_c(qe.m), cut);
            payload = json_string(t);
            free(t);
            pe = "base64";
        }
        amq_bytes x = msg_exchange(qe.m), rk = msg_rk(qe.m);
        json_array_append_new(rows,
                              json_pack("{s:I,s:b,s:o,s:o,s:I,s:o,s:o,s:s}", "payload_bytes", (json_int_t)len,
                                        "redelivered", qe.redelivered != 0, "exchange", jstr(x.p, x.len), "routing_key",
                                        jstr(rk.p, rk.len), "message_count", (json_int_t)left, "properties",
                                        props_json(msg_props(shown)), "payload", payload, "payload_encoding", pe));
        msg_unref(&counted);
        if (mode == ACK_REQUEUE_FALSE) { /* no_ack */
            store_ack(q, qe.m);
            msg_unref(&qe.m);
            continue;
        }
        if (!qe.redelivered) store_delivered(q, qe.m);
        if (nh == caph) h = xrealloc(h, (caph *= 2) * sizeof *h);
        h[nh++] = (held){qe.m, qe.seq, qe.exp};
    }
    for (size_t i = 0; i < nh; i++) {
        if (mode == ACK_REQUEUE_TRUE) queue_requeue(q, h[i].m, h[i].seq, h[i].exp, true);
        else if (mode == REJECT_REQUEUE_TRUE) queue_return(q, h[i].m, h[i].seq, h[i].exp);
        else queue_discard(q, h[i].m);
    }
    free(h);
}

static void q_get(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = mw_vhost(rq, rs, 1, false);
    json_t *b = v ? mw_body(rq, rs) : NULL;
    static const char *const keys[] = {"ackmode", "count", "encoding", NULL};
    if (!b || !mw_keys(b, rs, keys)) return;
    static const char *const modes[] = {"ack_requeue_true", "ack_requeue_false", "reject_requeue_true",
                                        "reject_requeue_false"};
    const char *ms = json_string_value(json_object_get(b, "ackmode"));
    int mode = -1;
    for (int i = 0; ms && i < 4; i++)
        if (!strcmp(ms, modes[i])) mode = i;
    if (mode < 0)
        return mgmt_error(rs, 400, "bad_request",
                          "Unsupported ackmode. Please use ack_requeue_true, ack_requeue_false, "
                          "reject_requeue_true or reject_requeue_false.");
    int64_t count, trunc = -1;
    if (!int_of(json_object_get(b, "count"), &count)) return mgmt_error(rs, 400, "bad_request", "count: not_integer");
    const char *es = json_string_value(json_object_get(b, "encoding"));
    if (!es || (strcmp(es, "auto") && strcmp(es, "base64")))
        return mgmt_error(rs, 400, "bad_request", "Unsupported encoding. Please use auto or base64.");
    json_t *tj = json_object_get(b, "truncate");
    if (tj && !json_is_null(tj) && (!int_of(tj, &trunc) || trunc < 0))
        return mgmt_error(rs, 400, "bad_request", "truncate: not_integer");
    amq_bytes name = amq_cstr(rq->seg[2]);
    werr ve;
    acl a = acl_get(rq, v);
    int rc = 0;
    queue *q = NULL;
    if (!a.g) {
        acl_done(&a);
        return mgmt_error(rs, 401, "not_authorised", "Access refused.");
    }
    if (name.len > NAME_MAX_BYTES) rc = werr_set(&ve, AMQ_NOT_FOUND, "NOT_FOUND - no queue '%s'", rq->seg[2]);
    if (!rc) rc = perm(&a, PERM_READ, "queue", name, &ve);
    acl_done(&a);
    if (!rc) rc = vhost_queue_get(v, name, 0, &q, &ve);
    if (rc) return channel_fail(rs, rc, ve.text);
    json_t *rows = json_array();
    get_messages(q, count, mode, !strcmp(es, "base64"), trunc, rows);
    queue_unref(&q);
    vhost_thread_cleanup();                         /* dead-lettering (reject_requeue_false) routes on this thread */
    if (mode != ACK_REQUEUE_TRUE && !mw_sync(rs)) { /* acks and rejects are changes too */
        json_decref(rows);
        return;
    }
    rs->status = 200;
    rs->body = rows;
}

/* ---- bindings ---- */

/* RabbitMQ's quote_plus: [A-Za-z0-9._~-] kept, space as '+', the rest %XX. */
static void quote_plus(amq_bytes s, char *out, size_t n, bool tilde_too) {
    size_t o = 0;
    for (size_t i = 0; i < s.len && o + 4 < n; i++) {
        uint8_t c = s.p[i];
        bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || (c == '~' && !tilde_too);
        if (safe) out[o++] = (char)c;
        else if (c == ' ') out[o++] = '+';
        else o += (size_t)snprintf(out + o, n - o, "%%%02X", c);
    }
    out[o] = 0;
}

/* A binding as the lists show it (mgmt_read.c's shape and properties_key). */
static json_t *binding_json(const char *vh, amq_bytes src, amq_bytes dest, bool dest_is_queue, amq_bytes key,
                            amq_bytes args) {
    char props[1200];
    json_t *aj = defs_table_json(args.p, args.len);
    mgmt_props_key((const char *)key.p, key.len, aj, props, sizeof props);
    return json_pack("{s:o,s:s,s:o,s:s,s:o,s:o,s:s}", "source", jstr(src.p, src.len), "vhost", vh, "destination",
                     jstr(dest.p, dest.len), "destination_type", dest_is_queue ? "queue" : "exchange", "routing_key",
                     jstr(key.p, key.len), "arguments", aj, "properties_key", props);
}

static void props_key(amq_bytes key, amq_bytes args, char *out, size_t n) {
    json_t *aj = defs_table_json(args.p, args.len);
    mgmt_props_key((const char *)key.p, key.len, aj, out, n);
    json_decref(aj);
}

/* The bindings from src to dest (a queue or an exchange) of a vhost walk. */
typedef struct {
    amq_bytes src, dest;
    bool to_queue;
    const char *props; /* look for this key (then found gets it) */
    json_t *rows;
    bool found;
    uint8_t key[256], args[65536];
    size_t key_len, args_len;
} bfind;

static void bfind_binding(void *ctx, vhost *v, const vbinding *b) {
    bfind *f = ctx;
    if (b->dest_is_queue != f->to_queue || b->src->name_len != f->src.len ||
        memcmp(b->src->name, f->src.p, f->src.len) || b->dest_name.len != f->dest.len ||
        memcmp(b->dest_name.p, f->dest.p, f->dest.len))
        return;
    if (f->rows)
        json_array_append_new(f->rows, binding_json(vhost_name(v), f->src, f->dest, f->to_queue, b->key, b->args));
    if (f->props && !f->found && b->args.len <= sizeof f->args) {
        char pk[1200];
        props_key(b->key, b->args, pk, sizeof pk);
        if (!strcmp(pk, f->props)) {
            f->found = true;
            memcpy(f->key, b->key.p, f->key_len = b->key.len);
            memcpy(f->args, b->args.p, f->args_len = b->args.len);
        }
    }
}

/* The default exchange's implicit binding to every queue (key = its name). */
static void bfind_default(void *ctx, vhost *v, queue *q) {
    bfind *f = ctx;
    amq_bytes n = queue_name(q);
    if (f->src.len || !f->to_queue || n.len != f->dest.len || memcmp(n.p, f->dest.p, n.len)) return;
    vbinding b = {.dest_is_queue = true, .dest_q = q, .dest_name = n, .key = n};
    exchange dx = {.name_len = 0};
    b.src = &dx;
    bfind_binding(ctx, v, &b);
}

/* Normalise a props key from a path as RabbitMQ unpacks it (unquote each
 * "~"-separated part) and re-quote it, so equal keys compare equal. */
static void props_normalise(const char *in, char *out, size_t n) {
    const char *t = strchr(in, '~');
    char key[1024];
    size_t k = 0;
    const char *end = t ? t : in + strlen(in);
    for (const char *p = in; p < end && k + 1 < sizeof key; p++) {
        if (*p == '+') key[k++] = ' ';
        else if (*p == '%' && p + 2 < end && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hx[3] = {p[1], p[2], 0};
            key[k++] = (char)strtol(hx, NULL, 16);
            p += 2;
        } else key[k++] = *p;
    }
    if (!t && k == 0) { /* "" */
        snprintf(out, n, "%s", in);
        return;
    }
    char q[3100];
    quote_plus((amq_bytes){(const uint8_t *)key, k}, q, sizeof q, true);
    if (!t) {
        snprintf(out, n, "%s", k ? q : "~");
        return;
    }
    snprintf(out, n, "%s~%s", q, t + 1);
    if (!k && !t[1]) snprintf(out, n, "~");
}

static bool b_dest(const mgmt_req *rq) { return !strcmp(rq->seg[4], "q"); }

static void b_list(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = mw_vhost(rq, rs, 1, false);
    if (!v) return;
    bfind f = {.src = xname(rq->seg[3]), .dest = amq_cstr(rq->seg[5]), .to_queue = b_dest(rq), .rows = json_array()};
    vhost_walk(v, &(vhost_walker){.queue = bfind_default, .binding = bfind_binding}, &f);
    mgmt_reply_list(rq, rs, f.rows);
}

static bool b_find(const mgmt_req *rq, mgmt_resp *rs, vhost **vp, bfind *f) {
    vhost *v = mw_vhost(rq, rs, 1, false);
    if (!v) return false;
    char props[3200];
    props_normalise(rq->seg[6], props, sizeof props);
    *f = (bfind){.src = xname(rq->seg[3]), .dest = amq_cstr(rq->seg[5]), .to_queue = b_dest(rq), .props = props};
    vhost_walk(v, &(vhost_walker){.queue = bfind_default, .binding = bfind_binding}, f);
    f->props = NULL;
    if (!f->found) mw_not_found(rs);
    *vp = v;
    return f->found;
}

static void b_get(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v;
    bfind *f = xmalloc(sizeof *f);
    if (b_find(rq, rs, &v, f)) {
        rs->status = 200;
        rs->body = binding_json(vhost_name(v), f->src, f->dest, f->to_queue, (amq_bytes){f->key, f->key_len},
                                (amq_bytes){f->args, f->args_len});
    }
    free(f);
}

/* Bind or unbind as queue.bind / exchange.bind on a channel would (the
 * permissions first: write on the destination, read on the source). */
static int bind(const mgmt_req *rq, vhost *v, amq_bytes src, amq_bytes dest, bool to_queue, amq_bytes key,
                amq_bytes args, bool unbind, werr *ve) {
    acl a = acl_get(rq, v);
    const char *dtype = to_queue ? "queue" : "exchange";
    int rc = perm(&a, PERM_WRITE, dtype, dest, ve);
    if (!rc && src.len && !(dest.len == 0 && !to_queue)) rc = perm(&a, PERM_READ, "exchange", src, ve);
    acl_done(&a);
    if (rc) return rc;
    return to_queue ? vhost_queue_bind(v, dest, src, key, args, unbind, 0, ve)
                    : vhost_exchange_bind(v, dest, src, key, args, unbind, ve);
}

static void b_delete(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v;
    bfind *f = xmalloc(sizeof *f);
    if (b_find(rq, rs, &v, f)) {
        werr ve;
        int rc = bind(rq, v, f->src, f->dest, f->to_queue, (amq_bytes){f->key, f->key_len},
                      (amq_bytes){f->args, f->args_len}, true, &ve);
        if (rc) mw_amqp_fail(rs, rc, ve.text);
        else if (mw_sync(rs)) rs->status = 204;
    }
    free(f);
}

static void b_post(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = mw_vhost(rq, rs, 1, true);
    json_t *b = v ? mw_body(rq, rs) : NULL;
    if (!b) return;
    amq_bytes src = xname(rq->seg[3]), dest = xname(rq->seg[5]);
    bool to_queue = b_dest(rq);
    if (to_queue) dest = amq_cstr(rq->seg[5]);
    json_t *kj = json_object_get(b, "routing_key");
    amq_bytes key = amq_cstr(json_is_string(kj) ? json_string_value(kj) : "");
    if (!name_ok(src, "exchange name", rs) || !name_ok(dest, to_queue ? "queue name" : "exchange name", rs) ||
        !name_ok(key, "routing key", rs))
        return;
    amq_wr w;
    amq_bytes args;
    if (!table_of(json_object_get(b, "arguments"), &w, &args, rs)) return;
    werr ve;
    int rc = bind(rq, v, src, dest, to_queue, key, args, false, &ve);
    if (rc) {
        amq_wr_destroy(&w);
        return mw_amqp_fail(rs, rc, ve.text);
    }
    if (mw_sync(rs)) {
        /* Location: RabbitMQ's, relative to the request path
         * (/api/bindings/V/e/S/q/D -> D/PROPS, each part quote_plus'ed). */
        char props[1200], qd[800], qp[3700];
        props_key(key, args, props, sizeof props);
        quote_plus(dest, qd, sizeof qd, false);
        quote_plus(amq_cstr(props), qp, sizeof qp, false);
        rs->status = 201;
        size_t ld = strlen(qd), lp = strlen(qp);
        if (ld + 1 + lp < sizeof rs->location) { /* else none: a 255-byte key can quote past the field */
            memcpy(rs->location, qd, ld);
            rs->location[ld] = '/';
            memcpy(rs->location + ld + 1, qp, lp + 1);
        }
    }
    amq_wr_destroy(&w);
}

/* ---- aliveness test ---- */

static void aliveness(const mgmt_req *rq, mgmt_resp *rs) {
    vhost *v = mw_vhost(rq, rs, 1, false);
    if (!v) return;
    amq_bytes qn = amq_cstr("aliveness-test");
    acl a = acl_get(rq, v);
    werr ve;
    queue *q = NULL;
    int rc = 0;
    if (!a.g) {
        acl_done(&a);
        return mgmt_error(rs, 401, "not_authorised", "Access refused.");
    }
    if (!(rc = perm(&a, PERM_CONFIGURE, "queue", qn, &ve)) &&
        !(rc = perm(&a, PERM_WRITE, "exchange", amq_cstr(""), &ve)))
        rc = perm(&a, PERM_READ, "queue", qn, &ve);
    acl_done(&a);
    if (!rc) rc = vhost_queue_declare(v, qn, false, false, false, false, (amq_bytes){0}, 0, &q, &ve);
    if (rc) return channel_fail(rs, rc, ve.text);
    msg *m = msg_new(amq_cstr(""), qn, (amq_bytes){0}, 12);
    memcpy(msg_body(m), "test_message", 12);
    m->body_have = 12;
    amq_basic_props p = {0};
    bool routed;
    rc = publish_msg(v, m, &p, &routed, &ve);
    msg_unref(&m);
    qentry qe;
    uint32_t left;
    const char *why = rc ? "the test message could not be published" : NULL;
    if (!rc && queue_get(q, &qe, &left)) {
        if (msg_is_lazy(qe.m)) qe.m = store_materialize(qe.m);
        if (qe.m) store_ack(q, qe.m);
        msg_unref(&qe.m);
    } else if (!rc) {
        why = "aliveness-test queue is empty";
    }
    queue_unref(&q);
    if (why) {
        rs->status = 503;
        rs->body = json_pack("{s:s,s:s}", "status", "failed", "reason", why);
        return;
    }
    rs->status = 200;
    rs->body = json_pack("{s:s}", "status", "ok");
}

/* ---- the route table ---- */

#define MGMT MGMT_TAG_MANAGEMENT
const mgmt_route mgmt_write_routes[] = {
    {"PUT", "exchanges/:vhost/:name", x_put, MGMT},
    {"DELETE", "exchanges/:vhost/:name", x_delete, MGMT},
    {"POST", "exchanges/:vhost/:name/publish", x_publish, MGMT},
    {"PUT", "queues/:vhost/:name", q_put, MGMT},
    {"DELETE", "queues/:vhost/:name", q_delete, MGMT},
    {"DELETE", "queues/:vhost/:name/contents", q_purge, MGMT},
    {"POST", "queues/:vhost/:name/get", q_get, MGMT},
    {"POST", "queues/:vhost/:name/actions", q_actions, MGMT_TAG_ADMINISTRATOR},
    {"POST", "bindings/:vhost/e/:source/q/:dest", b_post, MGMT},
    {"POST", "bindings/:vhost/e/:source/e/:dest", b_post, MGMT},
    {"GET", "bindings/:vhost/e/:source/q/:dest", b_list, MGMT},
    {"GET", "bindings/:vhost/e/:source/e/:dest", b_list, MGMT},
    {"GET", "bindings/:vhost/e/:source/q/:dest/:props", b_get, MGMT},
    {"GET", "bindings/:vhost/e/:source/e/:dest/:props", b_get, MGMT},
    {"DELETE", "bindings/:vhost/e/:source/q/:dest/:props", b_delete, MGMT},
    {"DELETE", "bindings/:vhost/e/:source/e/:dest/:props", b_delete, MGMT},
    {"GET", "aliveness-test/:vhost", aliveness, MGMT},
    {"PUT", "vhosts/:name", mw_vhost_put, MGMT_TAG_ADMINISTRATOR},
    {"DELETE", "vhosts/:name", mw_vhost_delete, MGMT_TAG_ADMINISTRATOR},
    {"PUT", "users/:name", mw_user_put, MGMT_TAG_ADMINISTRATOR},
    {"DELETE", "users/:name", mw_user_delete, MGMT_TAG_ADMINISTRATOR},
    {"POST", "users/bulk-delete", mw_users_bulk_delete, MGMT_TAG_ADMINISTRATOR},
    {"PUT", "permissions/:vhost/:user", mw_perm_put, MGMT_TAG_ADMINISTRATOR},
    {"DELETE", "permissions/:vhost/:user", mw_perm_delete, MGMT_TAG_ADMINISTRATOR},
    {"PUT", "policies/:vhost/:name", mw_policy_put, MGMT_TAG_POLICYMAKER},
    {"DELETE", "policies/:vhost/:name", mw_policy_delete, MGMT_TAG_POLICYMAKER},
    {"PUT", "operator-policies/:vhost/:name", mw_op_policy_put, MGMT_TAG_ADMINISTRATOR},
    {"DELETE", "operator-policies/:vhost/:name", mw_op_policy_delete, MGMT_TAG_ADMINISTRATOR},
    {"DELETE", "connections/:name", mw_conn_delete, MGMT},
    {"GET", "definitions", mw_defs_get, MGMT_TAG_ADMINISTRATOR},
    {"POST", "definitions", mw_defs_post, MGMT_TAG_ADMINISTRATOR},
    {"GET", "definitions/:vhost", mw_defs_get, MGMT_TAG_ADMINISTRATOR},
    {"POST", "definitions/:vhost", mw_defs_post, MGMT_TAG_ADMINISTRATOR},
    {NULL, NULL, NULL, 0},
};
