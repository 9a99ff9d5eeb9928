/* mgmt.h — the management plane's HTTP API (RabbitMQ 3.10's management
 * plugin: same paths, JSON and status codes): what a route handler sees, the
 * reply it fills, and the route table rows. The server (mgmt_http.c) runs on
 * threads of its own (libmicrohttpd), never on an AMQP worker: it parses the
 * request, authenticates it (HTTP basic, Warren's users and tags), matches a
 * row of a route table and calls its handler. Handlers read the model through
 * its iterators (vhost_walk, vhost_foreach) and reach connections and channels
 * through worker jobs, as the control socket does. */
#ifndef WARREN_MGMT_H
#define WARREN_MGMT_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* User tags, RabbitMQ's meaning. administrator implies every other;
 * monitoring and policymaker imply management. */
enum {
    MGMT_TAG_MANAGEMENT = 1,
    MGMT_TAG_POLICYMAKER = 2,
    MGMT_TAG_MONITORING = 4,
    MGMT_TAG_ADMINISTRATOR = 8,
};

#define MGMT_MAX_SEGS 8

typedef struct mgmt_req {
    const char *method;             /* "GET", "PUT", "POST", "DELETE" */
    const char *seg[MGMT_MAX_SEGS]; /* percent-decoded segments after "/api/": {"queues", "/", "q1"} */
    int nseg;
    json_t *body;     /* the parsed JSON body (PUT/POST), NULL if none; owned by the server */
    const char *user; /* the authenticated user */
    unsigned tags;    /* its MGMT_TAG_* bits, implications applied */
    /* A query parameter (decoded), or NULL. */
    const char *(*query)(const struct mgmt_req *rq, const char *key);
    /* A request header (name in lower case), or NULL; may itself be NULL. */
    const char *(*header)(const struct mgmt_req *rq, const char *name);
    void *impl; /* the server's */
} mgmt_req;

typedef struct mgmt_resp {
    int status;          /* 200, 201, 204, 400, 401, 404, 405, ... */
    json_t *body;        /* the reply (the server takes the reference), NULL = no body */
    char location[1024]; /* a Location header (201 Created), "" = none */
} mgmt_resp;

typedef void (*mgmt_handler)(const mgmt_req *rq, mgmt_resp *rs);

/* One route: method and pattern ("queues/:vhost/:name/get": literal segments
 * match exactly, ":x" any one segment), the handler, and the tags a user needs
 * (any one of them, after implications). A table ends with a row whose method
 * is NULL. */
typedef struct mgmt_route {
    const char *method;
    const char *pattern;
    mgmt_handler fn;
    unsigned need;
} mgmt_route;

/* The tables the server consults, in this order. mgmt_read_routes: the GETs
 * (lists, objects, overview, nodes, health checks, whoami); mgmt_write_routes:
 * PUT/POST/DELETE, publish/get/purge, definitions, aliveness-test. */
extern const mgmt_route mgmt_read_routes[];
extern const mgmt_route mgmt_write_routes[];

/* A RabbitMQ-style error reply: {"error": error, "reason": text}. */
void mgmt_error(mgmt_resp *rs, int status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* May this request's user see/act in vhost? (administrators: any existing
 * vhost; others: the vhosts they have permissions in.) */
bool mgmt_vhost_allowed(const mgmt_req *rq, const char *vhost);
/* Reply with a list: applies the query's columns, sort, sort_reverse, name,
 * use_regex, page and page_size (then the reply is RabbitMQ's paged object)
 * to rows (an array of objects; stolen). */
void mgmt_reply_list(const mgmt_req *rq, mgmt_resp *rs, json_t *rows);

/* Static files of the web UI, built into the binary (www.c, generated). */
typedef struct mgmt_file {
    const char *path; /* "/index.html", "/js/app.js", ... */
    const unsigned char *data;
    size_t len;
    const char *type; /* Content-Type */
} mgmt_file;
/* The file for a request path ("/" is "/index.html"), or NULL. */
const mgmt_file *mgmt_www_find(const char *path);

/* Start the HTTP listener(s) from config (management.tcp.*); 0 or -1 after
 * logging why. Stop joins its threads. */
int mgmt_start(void);
void mgmt_stop(void);
#endif
