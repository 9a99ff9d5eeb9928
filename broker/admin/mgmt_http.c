/* mgmt_http.c — the management HTTP API's server (mgmt.h): libmicrohttpd on
 * threads of its own (an epoll thread pool of 2; never an AMQP worker), HTTP
 * basic auth against Warren's users and their tags, percent-decoded path
 * segments, route matching (mgmt_read_routes, then mgmt_write_routes: 404 for
 * an unknown path, 405 for a known path with another method), JSON bodies and
 * RabbitMQ's error replies; other paths are the web UI's files (mgmt_www_find).
 *
 * Why libmicrohttpd: it is the GNU project's small embeddable HTTP server,
 * packaged by Debian, with its own thread pool and epoll loop, a plain C API
 * and no configuration files; civetweb would do too but is a larger web
 * server (CGI, Lua, file serving) of which we need none, and h2o is a
 * callback/event-loop library meant to own the process's loop (and its
 * library packaging in Debian is thin). */
#include "mgmt.h"
#include "mgmt_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access.h"
#include "config.h"
#include "util.h"

#define MGMT_MAX_BODY (64u << 20) /* a definitions import carries a whole file */
#define MGMT_THREADS 2

/* Weak defaults, so the server links on its own: the write routes
 * (mgmt_write.c) and the web UI's files (www.c) replace them. */
__attribute__((weak)) const mgmt_route mgmt_write_routes[] = {{NULL, NULL, NULL, 0}};
__attribute__((weak)) const mgmt_file *mgmt_www_find(const char *path) {
    (void)path;
    return NULL;
}

static struct MHD_Daemon *daemon_;

/* ---- per request state ---- */

typedef struct strnode {
    struct strnode *next;
    char s[];
} strnode;

typedef struct req_state {
    struct MHD_Connection *conn;
    char *body;
    size_t len, cap;
    bool too_large;              /* the body is not kept (over MGMT_MAX_BODY, or not logged in) */
    bool auth_checked, may_send; /* credentials looked at once a body comes */
    strnode *strs;               /* decoded strings handed out (segments, query values) */
} req_state;

static char *keep(req_state *st, const char *p, size_t n) {
    strnode *s = xmalloc(sizeof *s + n + 1);
    memcpy(s->s, p, n);
    s->s[n] = 0;
    s->next = st->strs;
    st->strs = s;
    return s->s;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode p[0..n) into out (n+1 bytes); returns the length, or -1 if
 * the result holds a NUL (no name may). */
static long pct_decode(const char *p, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (p[i] == '%' && i + 2 < n && (h = hexval(p[i + 1])) >= 0 && (l = hexval(p[i + 2])) >= 0) {
            out[o] = (char)(h << 4 | l);
            if (!out[o]) return -1;
            o++;
            i += 2;
        } else out[o++] = p[i];
    }
    out[o] = 0;
    return (long)o;
}

static const char *query_of(const mgmt_req *rq, const char *key) {
    req_state *st = rq->impl;
    const char *raw = MHD_lookup_connection_value(st->conn, MHD_GET_ARGUMENT_KIND, key);
    if (!raw) return NULL;
    size_t n = strlen(raw);
    char *out = keep(st, raw, n);
    if (pct_decode(raw, n, out) < 0) return NULL;
    return out;
}

static const char *header_of(const mgmt_req *rq, const char *name) {
    req_state *st = rq->impl;
    return MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, name);
}

/* ---- replies ---- */

void mgmt_error(mgmt_resp *rs, int status, const char *error, const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    rs->status = status;
    json_decref(rs->body);
    rs->body = json_pack("{s:s,s:s}", "error", error, "reason", text);
}

static void common_headers(struct MHD_Response *r) {
    MHD_add_response_header(r, "content-security-policy",
                            "script-src 'self' 'unsafe-eval' 'unsafe-inline'; object-src 'self'");
    MHD_add_response_header(r, "vary", "accept, accept-encoding, origin");
}

static enum MHD_Result send_text(struct MHD_Connection *c, int status, const char *text, size_t len, const char *type,
                                 const char *location, const char *allow, bool auth_challenge) {
    struct MHD_Response *r;
    if (len) {
        char *copy = xmalloc(len);
        memcpy(copy, text, len);
        r = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
    } else r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    common_headers(r);
    if (type) MHD_add_response_header(r, "content-type", type);
    if (type && !strcmp(type, "application/json")) MHD_add_response_header(r, "cache-control", "no-cache");
    if (location && *location) MHD_add_response_header(r, "location", location);
    if (allow) MHD_add_response_header(r, "allow", allow);
    if (auth_challenge) MHD_add_response_header(r, "www-authenticate", "Basic realm=\"RabbitMQ Management\"");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, json_t *body, const char *location,
                                 bool auth_challenge) {
    if (!body) return send_text(c, status, "", 0, NULL, location, NULL, auth_challenge);
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (!text) return MHD_NO;
    size_t n = strlen(text);
    struct MHD_Response *r = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    common_headers(r);
    MHD_add_response_header(r, "content-type", "application/json");
    MHD_add_response_header(r, "cache-control", "no-cache");
    if (location && *location) MHD_add_response_header(r, "location", location);
    if (auth_challenge) MHD_add_response_header(r, "www-authenticate", "Basic realm=\"RabbitMQ Management\"");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *error, const char *reason,
                                  bool auth_challenge) {
    return send_json(c, status, json_pack("{s:s,s:s}", "error", error, "reason", reason), NULL, auth_challenge);
}

/* ---- authentication ---- */

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode base64 into out (cap bytes, NUL-terminated); length or -1. */
static long b64_decode(const char *in, char *out, size_t cap) {
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        int v = b64val((unsigned char)*in);
        if (v < 0) return -1;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap) return -1;
            out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    out[o] = 0;
    return (long)o;
}

typedef struct {
    const char *name;
    char tags[1024];
    bool found;
} tag_find;

static void find_tags(void *ctx, const char *name, int algo, const char *hash, const char *tags) {
    (void)algo, (void)hash;
    tag_find *t = ctx;
    if (t->found || strcmp(name, t->name)) return;
    t->found = true;
    snprintf(t->tags, sizeof t->tags, "%s", tags ? tags : "");
}

unsigned mgmt_tags_of(const char *tags) {
    unsigned bits = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", tags ? tags : "");
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (!strcmp(t, "administrator")) bits |= MGMT_TAG_ADMINISTRATOR;
        else if (!strcmp(t, "monitoring")) bits |= MGMT_TAG_MONITORING;
        else if (!strcmp(t, "policymaker")) bits |= MGMT_TAG_POLICYMAKER;
        else if (!strcmp(t, "management")) bits |= MGMT_TAG_MANAGEMENT;
    }
    if (bits & MGMT_TAG_ADMINISTRATOR) bits |= MGMT_TAG_MONITORING | MGMT_TAG_POLICYMAKER;
    if (bits & (MGMT_TAG_MONITORING | MGMT_TAG_POLICYMAKER)) bits |= MGMT_TAG_MANAGEMENT;
    return bits;
}

/* The user's tags as a string (for whoami and the users list): cap bytes. */
bool mgmt_user_tags(const char *user, char *out, size_t cap) {
    tag_find t = {.name = user};
    access_foreach_user(find_tags, &t);
    snprintf(out, cap, "%s", t.tags);
    return t.found;
}

static bool peer_is_loopback(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* ---- routing ---- */

static bool pattern_matches(const char *pat, const mgmt_req *rq) {
    int i = 0;
    const char *p = pat;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (i >= rq->nseg) return false;
        if (p[0] != ':' && (strlen(rq->seg[i]) != n || memcmp(rq->seg[i], p, n))) return false;
        i++;
        p += n;
        if (*p == '/') p++;
    }
    return i == rq->nseg;
}

static const char *need_reason(unsigned need) {
    if (need & MGMT_TAG_MANAGEMENT) return "Not management user";
    if (need & MGMT_TAG_POLICYMAKER) return "Not policymaker user";
    if (need & MGMT_TAG_MONITORING) return "Not monitor user";
    return "Not administrator user";
}

/* "GET, HEAD, OPTIONS"-style list of the methods allowed on this path. */
static void allowed_methods(const mgmt_req *rq, char *out, size_t cap) {
    const mgmt_route *tables[2] = {mgmt_read_routes, mgmt_write_routes};
    bool get = false, put = false, post = false, del = false;
    for (int t = 0; t < 2; t++)
        for (const mgmt_route *r = tables[t]; r->method; r++)
            if (pattern_matches(r->pattern, rq)) {
                get |= !strcmp(r->method, "GET");
                put |= !strcmp(r->method, "PUT");
                post |= !strcmp(r->method, "POST");
                del |= !strcmp(r->method, "DELETE");
            }
    snprintf(out, cap, "%s%s%s%sOPTIONS", get ? "HEAD, GET, " : "", put ? "PUT, " : "", post ? "POST, " : "",
             del ? "DELETE, " : "");
}

static enum MHD_Result serve_file(struct MHD_Connection *c, const char *url) {
    const mgmt_file *f = mgmt_www_find(url);
    if (!f) return send_error(c, 404, "Object Not Found", "Not Found", false);
    struct MHD_Response *r = MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "content-type", f->type);
    MHD_add_response_header(r, "content-security-policy",
                            "script-src 'self' 'unsafe-eval' 'unsafe-inline'; object-src 'self'");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* The request's credentials: 1 valid (user, tags filled), 0 none given, -1 wrong. */
static int credentials(struct MHD_Connection *c, char *user, size_t cap) {
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth) return 0;
    while (*auth == ' ') auth++;
    if (strncasecmp(auth, "Basic ", 6)) return -1;
    char cred[1024];
    long cl = b64_decode(auth + 6, cred, sizeof cred);
    char *colon = cl > 0 ? memchr(cred, ':', (size_t)cl) : NULL;
    if (!colon) return -1;
    *colon = 0;
    const char *pass = colon + 1;
    bool ok =
        access_authenticate(amq_cstr(cred), (amq_bytes){(const uint8_t *)pass, (size_t)(cl - (colon + 1 - cred))});
    snprintf(user, cap, "%s", cred);
    return ok ? 1 : -1;
}

static enum MHD_Result serve(req_state *st, const char *url, const char *method) {
    struct MHD_Connection *c = st->conn;
    const char *m = !strcmp(method, "HEAD") ? "GET" : method;
    if (strncmp(url, "/api/", 5)) {
        if (strcmp(m, "GET")) return send_text(c, 405, "", 0, NULL, NULL, "HEAD, GET, OPTIONS", false);
        return serve_file(c, url);
    }
    mgmt_req rq = {.method = m, .query = query_of, .header = header_of, .impl = st};
    /* Segments after /api/, each percent-decoded ("%2F" is the vhost "/"). */
    const char *p = url + 5;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!e && !n) break; /* a trailing '/' */
        if (rq.nseg == MGMT_MAX_SEGS) return send_error(c, 404, "Object Not Found", "Not Found", false);
        char *seg = keep(st, p, n);
        if (pct_decode(p, n, seg) < 0) return send_error(c, 404, "Object Not Found", "Not Found", false);
        rq.seg[rq.nseg++] = seg;
        p += n;
        if (*p == '/') p++;
    }
    const mgmt_route *tables[2] = {mgmt_read_routes, mgmt_write_routes}, *route = NULL;
    bool path_known = false;
    for (int t = 0; t < 2 && !route; t++)
        for (const mgmt_route *r = tables[t]; r->method && !route; r++)
            if (pattern_matches(r->pattern, &rq)) {
                path_known = true;
                if (!strcmp(r->method, m)) route = r;
            }
    if (!path_known) return send_error(c, 404, "Object Not Found", "Not Found", false);
    if (!route) {
        if (!strcmp(m, "OPTIONS")) {
            char allow[128];
            allowed_methods(&rq, allow, sizeof allow);
            return send_text(c, 200, "", 0, NULL, NULL, allow, false);
        }
        char allow[128];
        allowed_methods(&rq, allow, sizeof allow);
        return send_text(c, 405, "", 0, NULL, NULL, allow, false);
    }

    /* HTTP basic auth: Warren's users, RabbitMQ's replies. */
    char user[1024];
    int cr = credentials(c, user, sizeof user);
    if (cr == 0) return send_text(c, 401, "", 0, NULL, NULL, NULL, true);
    if (cr < 0) return send_error(c, 401, "not_authorized", "Login failed", true);
    if (config_is_loopback_user(user) && !peer_is_loopback(c))
        return send_error(c, 401, "not_authorised", "User can only log in via localhost", false);
    char tags[1024];
    mgmt_user_tags(user, tags, sizeof tags);
    rq.user = keep(st, user, strlen(user));
    rq.tags = mgmt_tags_of(tags);
    if (!(rq.tags & MGMT_TAG_MANAGEMENT)) return send_error(c, 401, "not_authorised", "Not management user", false);
    if (route->need && !(rq.tags & route->need))
        return send_error(c, 401, "not_authorised", need_reason(route->need), false);

    if (st->too_large) return send_error(c, 413, "bad_request", "request body too large", false);
    json_t *body = NULL;
    if (st->len) {
        json_error_t je;
        body = json_loadb(st->body, st->len, JSON_DECODE_ANY, &je);
        if (!body) return send_error(c, 400, "bad_request", "not_json", false);
    }
    rq.body = body;
    mgmt_resp rs = {.status = 200};
    route->fn(&rq, &rs);
    json_decref(body);
    return send_json(c, rs.status, rs.body, rs.location, false);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)cls, (void)version;
    req_state *st = *con_cls;
    if (!st) {
        st = xcalloc(1, sizeof *st);
        st->conn = c;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        /* A body is kept only for a client that logged in: others get their
         * 401 without the broker holding what they sent. */
        if (!st->auth_checked) {
            char user[1024];
            st->auth_checked = true;
            st->may_send = credentials(c, user, sizeof user) == 1;
        }
        if (st->len + *upload_size > MGMT_MAX_BODY || !st->may_send) st->too_large = true;
        if (!st->too_large) {
            if (st->len + *upload_size > st->cap) {
                st->cap = st->len + *upload_size > st->cap * 2 ? st->len + *upload_size : st->cap * 2;
                st->body = xrealloc(st->body, st->cap);
            }
            memcpy(st->body + st->len, upload, *upload_size);
            st->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return serve(st, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    req_state *st = *con_cls;
    if (!st) return;
    while (st->strs) {
        strnode *n = st->strs;
        st->strs = n->next;
        free(n);
    }
    free(st->body);
    free(st);
    *con_cls = NULL;
}

/* MHD would decode the path before we split it ("%2F" would become a
 * separator): keep it raw; segments and query values are decoded here. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls, (void)c;
    return strlen(s);
}

/* ---- start / stop ---- */

static int bind_socket(char *why, size_t cap) {
    char port[16];
    snprintf(port, sizeof port, "%d", config.mgmt_port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    struct sockaddr_in6 any6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)config.mgmt_port)};
    struct sockaddr_in any4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)config.mgmt_port)};
    const struct sockaddr *sa;
    socklen_t sl;
    int family;
    if (config.mgmt_ip[0]) {
        int rc = getaddrinfo(config.mgmt_ip, port, &hints, &res);
        if (rc) {
            snprintf(why, cap, "'%s' is not an IP address (%s)", config.mgmt_ip, gai_strerror(rc));
            return -1;
        }
        sa = res->ai_addr, sl = res->ai_addrlen, family = res->ai_family;
    } else sa = (const struct sockaddr *)&any6, sl = sizeof any6, family = AF_INET6;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && !config.mgmt_ip[0]) { /* no IPv6 here: IPv4 only */
        sa = (const struct sockaddr *)&any4, sl = sizeof any4, family = AF_INET;
        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    int one = 1, zero = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    if (fd < 0 || bind(fd, sa, sl) || listen(fd, 128)) {
        snprintf(why, cap, "%s", strerror(errno));
        if (fd >= 0) close(fd);
        fd = -1;
    }
    if (res) freeaddrinfo(res);
    return fd;
}

int mgmt_start(void) {
    mgmt_read_init();
    if (!config.mgmt_enabled) return 0;
    char why[300];
    int fd = bind_socket(why, sizeof why);
    const char *where = config.mgmt_ip[0] ? config.mgmt_ip : "all interfaces";
    if (fd < 0) {
        if (config.mgmt_port_set) {
            fprintf(stderr, "warren: management.tcp.port = %d: cannot listen on %s: %s\n", config.mgmt_port, where,
                    why);
            return -1;
        }
        log_warn("management HTTP API: cannot listen on %s port %d (%s); running without it "
                 "(set management.tcp.port to choose a free port)",
                 where, config.mgmt_port, why);
        return 0;
    }
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                               on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE,
                               (unsigned)MGMT_THREADS, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                               MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                               (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_END);
    if (!daemon_) {
        close(fd);
        if (config.mgmt_port_set) {
            fprintf(stderr, "warren: management.tcp.port = %d: cannot start the HTTP server\n", config.mgmt_port);
            return -1;
        }
        log_warn("management HTTP API: cannot start the HTTP server; running without it");
        return 0;
    }
    mgmt_sampler_start();
    log_info("management HTTP API on %s port %d", where, config.mgmt_port);
    return 0;
}

bool mgmt_running(void) { return daemon_ != NULL; }

void mgmt_stop(void) {
    if (!daemon_) return;
    mgmt_sampler_stop();
    MHD_stop_daemon(daemon_); /* joins its threads, closes the listening socket */
    daemon_ = NULL;
}
