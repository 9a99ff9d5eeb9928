/* warrenctl — administer a running Warren broker over its control socket
 * (broker/admin/ctl_server.h), with rabbitmqctl's command names, output columns and
 * exit codes. Depends on nothing of the broker but the protocol: one JSON
 * request line, one JSON reply line. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* rabbitmqctl's exit codes (sysexits.h). */
enum { EX_OK_ = 0, EX_USAGE_ = 64, EX_DATAERR_ = 65, EX_NOUSER_ = 67, EX_UNAVAILABLE_ = 69, EX_SOFTWARE_ = 70, EX_NOPERM_ = 77 };

static const char usage[] =
    "usage: warrenctl [--json] [-q] [-p VHOST] [--data-dir DIR | --socket PATH] COMMAND [ARGS...]\n"
    "\n"
    "Users:        add_user USER PASSWORD | delete_user USER | change_password USER PASSWORD\n"
    "              set_user_tags USER [TAG...] | list_users\n"
    "Vhosts:       add_vhost VHOST | delete_vhost VHOST | list_vhosts\n"
    "Permissions:  set_permissions [-p VHOST] USER CONF WRITE READ | clear_permissions [-p VHOST] USER\n"
    "              list_permissions [-p VHOST]\n"
    "Objects:      list_queues [COLUMN...] | list_exchanges [COLUMN...] | list_bindings   (each [-p VHOST]; see README)\n"
    "Policies:     set_policy [-p VHOST] [--priority N] [--apply-to queues|exchanges|all] NAME PATTERN DEFINITION\n"
    "              clear_policy [-p VHOST] NAME | list_policies [-p VHOST]\n"
    "              set_operator_policy, clear_operator_policy, list_operator_policies: the same\n"
    "Connections:  list_connections | close_connection PID EXPLANATION\n"
    "Definitions:  import_definitions FILE|- | export_definitions FILE|-\n"
    "Broker:       status | trace_on [-p VHOST] | trace_off [-p VHOST]\n"
    "Health:       ping | check_running | check_local_alarms | check_port_connectivity | listeners\n"
    "\n"
    "  --json          machine-readable output (lists: an array of objects)\n"
    "  -q, --quiet     no informational lines, only the data\n"
    "  -p VHOST        virtual host (default /)\n"
    "  --data-dir DIR  the broker's data dir; the socket is DIR/warren.sock\n"
    "                  (default $WARREN_DATA_DIR, else ./warren-data)\n"
    "  --socket PATH   the control socket itself\n"
    "  -n NODE, -t SECONDS, -l: accepted and ignored (rabbitmqctl's; one local node)\n"
    "\n"
    "Installed as rabbitmqctl, rabbitmq-diagnostics or rabbitmq-queues (a link to\n"
    "warrenctl), it answers with those tools' output shapes.\n"
    "\n"
    "Exit codes: 0 ok, 64 usage, 65 no such vhost / bad input file, 67 no such user,\n"
    "69 broker not running, 70 command failed, 77 not allowed.\n";

static bool json_out, quiet;
/* The name the program was called by (argv[0]): "warrenctl", or one of
 * RabbitMQ's tools it stands in for, whose output shapes it then follows. */
static const char *prog = "warrenctl";
static bool rabbit_tool; /* called as rabbitmqctl / rabbitmq-diagnostics / rabbitmq-queues */
static bool no_headers;  /* -s, --no-table-headers */
/* -t SECONDS (RabbitMQ's default 60): bounds the health checks' wait for the
 * broker's reply and check_port_connectivity's connects; 0 = no bound. */
static long timeout_s = 60;
static bool reply_bounded; /* a health check: a hung broker must fail it, not hang it */
static const char *priority_text = "0"; /* --priority, as typed */

static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void info(const char *fmt, ...) {
    if (json_out || quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static int usage_error(const char *fmt, const char *a) {
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n(see %s --help)\n", prog);
    return EX_USAGE_;
}

typedef struct {
    const char *name;
    int min, max; /* positional arguments; max -1 = any */
    const char *args_help;
} cmd;

static const cmd cmds[] = {
    {"status", 0, 0, ""},
    {"list_users", 0, 0, ""},
    {"add_user", 2, 2, "USER PASSWORD"},
    {"delete_user", 1, 1, "USER"},
    {"change_password", 2, 2, "USER PASSWORD"},
    {"set_user_tags", 1, -1, "USER [TAG...]"},
    {"list_vhosts", 0, 0, ""},
    {"add_vhost", 1, 1, "VHOST"},
    {"delete_vhost", 1, 1, "VHOST"},
    {"set_permissions", 4, 4, "USER CONF WRITE READ"},
    {"clear_permissions", 1, 1, "USER"},
    {"list_permissions", 0, 0, ""},
    {"list_queues", 0, -1, "[COLUMN...]"},
    {"list_exchanges", 0, -1, "[COLUMN...]"},
    {"set_policy", 3, 3, "[--priority N] [--apply-to queues|exchanges|all] NAME PATTERN DEFINITION"},
    {"clear_policy", 1, 1, "NAME"},
    {"list_policies", 0, 0, ""},
    {"set_operator_policy", 3, 3, "[--priority N] [--apply-to queues|exchanges|all] NAME PATTERN DEFINITION"},
    {"clear_operator_policy", 1, 1, "NAME"},
    {"list_operator_policies", 0, 0, ""},
    {"list_bindings", 0, 0, ""},
    {"list_connections", 0, 0, ""},
    {"close_connection", 2, 2, "PID EXPLANATION"},
    {"import_definitions", 1, 1, "FILE|-"},
    {"export_definitions", 1, 1, "FILE|-"},
    {"trace_on", 0, 0, ""},
    {"trace_off", 0, 0, ""},
    /* rabbitmq-diagnostics' health checks: answered from "status" */
    {"ping", 0, 0, ""},
    {"check_running", 0, 0, ""},
    {"check_local_alarms", 0, 0, ""},
    {"check_port_connectivity", 0, 0, ""},
    {"listeners", 0, 0, ""},
    /* rabbitmq-queues' checks for a node about to stop: one node, they do not apply */
    {"check_if_node_is_quorum_critical", 0, 0, ""},
    {"check_if_node_is_mirror_sync_critical", 0, 0, ""},
};


static char *read_all(FILE *f, size_t *len) {
    size_t cap = 65536, n = 0, k;
    char *t = malloc(cap);
    while (t && (k = fread(t + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 == cap) t = realloc(t, cap *= 2);
    }
    if (t) t[n] = 0;
    *len = n;
    return t;
}

/* Send req, return the parsed reply (or NULL with *rc set). */
static json_t *call(const char *path, json_t *req, int *rc) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        fprintf(stderr, "Error: socket path too long: %s\n", path);
        *rc = EX_USAGE_;
        return NULL;
    }
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
        int e = errno;
        if (e == EACCES || e == EPERM) {
            fprintf(stderr, "Error: access to the control socket %s refused: %s (only the broker's user may use it)\n",
                    path, strerror(e));
            *rc = EX_NOPERM_;
        } else {
            fprintf(stderr,
                    "Error: unable to reach the broker: control socket %s: %s\n"
                    "Is Warren running with this data dir? (see --data-dir / --socket)\n",
                    path, strerror(e));
            *rc = EX_UNAVAILABLE_;
        }
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (reply_bounded) {
        struct timeval tv = {.tv_sec = timeout_s};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    char *text = json_dumps(req, JSON_COMPACT);
    size_t len = strlen(text), off = 0;
    bool ok = true;
    while (off < len + 1) {
        const char *p = off < len ? text + off : "\n";
        size_t n = off < len ? len - off : 1;
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            ok = false;
            break;
        }
        off += (size_t)w;
    }
    free(text);
    FILE *f = fdopen(fd, "r");
    size_t rl = 0;
    errno = 0;
    char *r = read_all(f, &rl);
    bool timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
    fclose(f);
    json_error_t je;
    json_t *rep = r && rl ? json_loadb(r, rl, 0, &je) : NULL;
    free(r);
    if (!rep && timed_out) {
        fprintf(stderr, "Error:\nno reply from the broker within %ld s (-t)\n", timeout_s);
        *rc = EX_UNAVAILABLE_;
        return NULL;
    }
    if (!rep) {
        fprintf(stderr, "Error: the broker closed the control connection without a reply%s\n",
                ok ? "" : " (could not send the request)");
        *rc = EX_UNAVAILABLE_;
        return NULL;
    }
    return rep;
}

/* A cell as rabbitmqctl prints it: lists as [a, b], tables as JSON. */
static void print_cell(json_t *v) {
    if (json_is_string(v)) fputs(json_string_value(v), stdout);
    else if (json_is_integer(v)) printf("%lld", (long long)json_integer_value(v));
    else if (json_is_boolean(v)) fputs(json_is_true(v) ? "true" : "false", stdout);
    else if (json_is_array(v)) {
        putchar('[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) fputs(", ", stdout);
            print_cell(json_array_get(v, i));
        }
        putchar(']');
    } else if (json_is_object(v) && json_object_size(v) == 0) {
        fputs("[]", stdout);
    } else {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fputs(t ? t : "", stdout);
        free(t);
    }
}

static void print_table(json_t *rep) {
    json_t *cols = json_object_get(rep, "columns"), *rows = json_object_get(rep, "rows");
    if (json_out) {
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(rows); i++) {
            json_t *o = json_object(), *row = json_array_get(rows, i);
            for (size_t c = 0; c < json_array_size(cols); c++)
                json_object_set(o, json_string_value(json_array_get(cols, c)), json_array_get(row, c));
            json_array_append_new(out, o);
        }
        char *t = json_dumps(out, JSON_INDENT(2));
        puts(t);
        free(t);
        json_decref(out);
        return;
    }
    /* warrenctl -q: data only. The RabbitMQ tools keep the header under -q, print
     * none for an empty list, and drop it with -s or --no-table-headers. */
    if (rabbit_tool ? !no_headers && json_array_size(rows) : !quiet) {
        for (size_t c = 0; c < json_array_size(cols); c++)
            printf("%s%s", c ? "\t" : "", json_string_value(json_array_get(cols, c)));
        putchar('\n');
    }
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        for (size_t c = 0; c < json_array_size(row); c++) {
            if (c) putchar('\t');
            print_cell(json_array_get(row, c));
        }
        putchar('\n');
    }
}

static void say_what(const char *c, json_t *args, const char *vh) {
    const char *a0 = json_string_value(json_array_get(args, 0));
    if (!strcmp(c, "add_user")) info("Adding user \"%s\" ...", a0);
    else if (!strcmp(c, "delete_user")) info("Deleting user \"%s\" ...", a0);
    else if (!strcmp(c, "change_password")) info("Changing password for user \"%s\" ...", a0);
    else if (!strcmp(c, "set_user_tags")) info("Setting tags for user \"%s\" ...", a0);
    else if (!strcmp(c, "list_users")) info("Listing users ...");
    else if (!strcmp(c, "add_vhost")) info("Adding vhost \"%s\" ...", a0);
    else if (!strcmp(c, "delete_vhost")) info("Deleting vhost \"%s\" ...", a0);
    else if (!strcmp(c, "list_vhosts")) info("Listing vhosts ...");
    else if (!strcmp(c, "set_permissions")) info("Setting permissions for user \"%s\" in vhost \"%s\" ...", a0, vh);
    else if (!strcmp(c, "clear_permissions")) info("Clearing permissions for user \"%s\" in vhost \"%s\" ...", a0, vh);
    else if (!strcmp(c, "list_permissions")) info("Listing permissions for vhost \"%s\" ...", vh);
    else if (!strcmp(c, "list_queues")) info("Listing queues for vhost %s ...", vh);
    else if (!strcmp(c, "list_exchanges")) info("Listing exchanges for vhost %s ...", vh);
    else if (!strcmp(c, "list_bindings")) info("Listing bindings for vhost %s...", vh);
    else if (!strcmp(c, "list_connections")) info("Listing connections ...");
    else if (!strcmp(c, "close_connection")) info("Closing connection %s, reason: %s...", a0,
                                                  json_string_value(json_array_get(args, 1)));
    else if (!strcmp(c, "import_definitions")) info("Importing definitions in JSON from a file at \"%s\" ...", a0);
    else if (!strcmp(c, "export_definitions") && strcmp(a0, "-")) info("Exporting definitions in JSON to a file at \"%s\" ...", a0);
    else if (!strcmp(c, "status")) info("Status of Warren ...");
    else if (!strcmp(c, "trace_on")) info("Starting tracing for vhost \"%s\" ...", vh);
    else if (!strcmp(c, "trace_off")) info("Stopping tracing for vhost \"%s\" ...", vh);
    else if (!strcmp(c, "set_policy") || !strcmp(c, "set_operator_policy"))
        info("Setting %s \"%s\" for pattern \"%s\" to \"%s\" with priority \"%s\" for vhost \"%s\" ...",
             c[4] == 'o' ? "operator policy override" : "policy", a0, json_string_value(json_array_get(args, 1)),
             json_string_value(json_array_get(args, 2)), priority_text, vh);
    else if (!strcmp(c, "clear_policy")) info("Clearing policy \"%s\" on vhost \"%s\" ...", a0, vh);
    else if (!strcmp(c, "clear_operator_policy")) info("Clearing operator policy \"%s\" on vhost \"%s\" ...", a0, vh);
    else if (!strcmp(c, "list_policies")) info("Listing policies for vhost \"%s\" ...", vh);
    else if (!strcmp(c, "list_operator_policies")) info("Listing operator policy overrides for vhost \"%s\" ...", vh);
}

static void print_status(json_t *s) {
    if (json_out) {
        char *t = json_dumps(s, JSON_INDENT(2));
        puts(t);
        free(t);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        if (json_is_array(v) && !strcmp(k, "listeners")) {
            printf("%s:\n", k);
            for (size_t i = 0; i < json_array_size(v); i++) {
                json_t *l = json_array_get(v, i);
                printf("  interface: %s, port: %lld, protocol: %s\n", json_string_value(json_object_get(l, "interface")),
                       (long long)json_integer_value(json_object_get(l, "port")),
                       json_string_value(json_object_get(l, "protocol")));
            }
            continue;
        }
        printf("%s: ", k);
        print_cell(v);
        putchar('\n');
    }
}

/* ---- the health checks and listings of rabbitmq-diagnostics, from "status" ---- */

static const char *node = NULL; /* -n NODE, else as the broker names itself (node_name() in util.c) */
static char node_buf[300];

static void local_node_name(void) {
    if (node) return;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    char *dot = strchr(host, '.');
    if (dot) *dot = 0;
    const char *env = getenv("RABBITMQ_NODENAME");
    if (env && *env && strchr(env, '@')) snprintf(node_buf, sizeof node_buf, "%s", env);
    else if (env && *env) snprintf(node_buf, sizeof node_buf, "%s@%s", env, host);
    else snprintf(node_buf, sizeof node_buf, "rabbit@%s", host);
    node = node_buf;
}

static bool is_health(const char *c) {
    static const char *const h[] = {"ping", "check_running", "check_local_alarms", "check_port_connectivity",
                                    "listeners", "check_if_node_is_quorum_critical",
                                    "check_if_node_is_mirror_sync_critical", NULL};
    for (size_t i = 0; h[i]; i++)
        if (!strcmp(c, h[i])) return true;
    return false;
}

/* What the tool says before it asks (rabbitmq-diagnostics' banners). */
static void health_banner(const char *c) {
    if (!strcmp(c, "ping"))
        info("Will ping %s. This only checks if the broker's control socket answers. Timeout: %ld000 ms.", node,
             timeout_s);
    else if (!strcmp(c, "check_running")) info("Checking if RabbitMQ is running on node %s ...", node);
    else if (!strcmp(c, "check_local_alarms")) info("Asking node %s to report any local resource alarms ...", node);
    else if (!strcmp(c, "check_port_connectivity"))
        info("Testing TCP connections to all active listeners on node %s ...", node);
    else if (!strcmp(c, "listeners")) info("Asking node %s to report its protocol listeners ...", node);
    else if (!strcmp(c, "check_if_node_is_quorum_critical"))
        info("Checking if node %s is critical for quorum of any quorum queues ...", node);
    else if (!strcmp(c, "check_if_node_is_mirror_sync_critical"))
        info("Checking if node %s is critical for data safety of any classic mirrored queues ...", node);
    else if (!strcmp(c, "status") && rabbit_tool) info("Status of node %s ...", node);
}

static const char *listener_purpose(const char *proto) {
    if (!strcmp(proto, "amqp")) return "AMQP 0-9-1";
    if (!strcmp(proto, "amqp/ssl")) return "AMQP 0-9-1 over TLS";
    if (!strcmp(proto, "http")) return "HTTP API";
    if (!strcmp(proto, "https")) return "HTTP API over TLS (HTTPS)";
    if (!strcmp(proto, "http/prometheus")) return "Prometheus exporter API over HTTP";
    return proto;
}

static void print_listener(FILE *f, json_t *l) {
    const char *p = json_string_value(json_object_get(l, "protocol"));
    fprintf(f, "Interface: %s, port: %lld, protocol: %s, purpose: %s\n",
            json_string_value(json_object_get(l, "interface")), (long long)json_integer_value(json_object_get(l, "port")),
            p ? p : "?", listener_purpose(p ? p : "?"));
}

/* Can a TCP connection to the listener be made (within timeout_s)? A
 * wildcard interface is tried on the loopback, as RabbitMQ's check does. */
static bool port_reachable(json_t *l) {
    const char *iface = json_string_value(json_object_get(l, "interface"));
    char host[300], port[16];
    snprintf(port, sizeof port, "%lld", (long long)json_integer_value(json_object_get(l, "port")));
    snprintf(host, sizeof host, "%s", iface ? iface : "");
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    if (!*host || !strcmp(host, "::") || !strcmp(host, "0.0.0.0")) snprintf(host, sizeof host, "localhost");
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res)) return false;
    bool ok = false;
    for (struct addrinfo *a = res; a && !ok; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        if (!connect(fd, a->ai_addr, a->ai_addrlen)) ok = true;
        else if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t el = sizeof err;
            if (poll(&p, 1, (int)(timeout_s * 1000)) == 1 && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) && !err)
                ok = true;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

static int health(const char *c, json_t *s) {
    json_t *ls = json_object_get(s, "listeners");
    if (!strcmp(c, "ping")) {
        puts("Ping succeeded");
        return 0;
    }
    if (!strcmp(c, "check_running")) {
        printf("%s on node %s is fully booted and running\n", "RabbitMQ", node);
        return 0;
    }
    if (!strcmp(c, "check_if_node_is_quorum_critical") || !strcmp(c, "check_if_node_is_mirror_sync_critical")) {
        printf("Node %s seems to be the only one in a single node cluster, the check does not apply\n", node);
        return 0;
    }
    if (!strcmp(c, "check_local_alarms")) {
        json_t *al = json_object_get(s, "alarms");
        if (!json_array_size(al)) {
            printf("Node %s reported no local alarms\n", node);
            return 0;
        }
        fprintf(stderr, "Error:\n");
        for (size_t i = 0; i < json_array_size(al); i++) {
            const char *a = json_string_value(json_array_get(al, i));
            fprintf(stderr, "%s alarm on node %s\n", a && !strcmp(a, "disk") ? "Free disk space" : "Memory", node);
        }
        return EX_UNAVAILABLE_;
    }
    if (!strcmp(c, "listeners")) {
        if (json_out) {
            char *t = json_dumps(ls, JSON_INDENT(2));
            puts(t);
            free(t);
            return 0;
        }
        for (size_t i = 0; i < json_array_size(ls); i++) print_listener(stdout, json_array_get(ls, i));
        return 0;
    }
    /* check_port_connectivity */
    json_t *bad = json_array();
    char ports[1024] = "";
    size_t o = 0;
    for (size_t i = 0; i < json_array_size(ls); i++) {
        json_t *l = json_array_get(ls, i);
        if (!port_reachable(l)) json_array_append(bad, l);
        else if (o < sizeof ports) {
            int n = snprintf(ports + o, sizeof ports - o, "%s%lld", o ? ", " : "",
                             (long long)json_integer_value(json_object_get(l, "port")));
            if (n > 0) o += (size_t)n;
        }
    }
    int rc = 0;
    if (json_array_size(bad)) {
        fprintf(stderr, "Error:\nConnection to ports of the following listeners on node %s failed: \n", node);
        for (size_t i = 0; i < json_array_size(bad); i++) print_listener(stderr, json_array_get(bad, i));
        rc = EX_UNAVAILABLE_;
    } else {
        printf("Successfully connected to ports %s on node %s.\n", ports, node);
    }
    json_decref(bad);
    return rc;
}

static double gb(json_t *v) { return (double)json_integer_value(v) / 1e9; }

/* rabbitmq-diagnostics status: RabbitMQ's sections, with what Warren has. */
static void print_rabbit_status(json_t *s) {
    printf("Runtime\n\n");
    printf("OS PID: %lld\nOS: Linux\nUptime (seconds): %lld\nIs under maintenance?: false\n",
           (long long)json_integer_value(json_object_get(s, "pid")),
           (long long)json_integer_value(json_object_get(s, "uptime_seconds")));
    printf("Product name: %s\nProduct version: %s\nWarren version: %s\nNode name: %s\nWorker threads: %lld\n",
           json_string_value(json_object_get(s, "product")), json_string_value(json_object_get(s, "version")),
           json_string_value(json_object_get(s, "warren_version")), json_string_value(json_object_get(s, "node")),
           (long long)json_integer_value(json_object_get(s, "worker_threads")));
    printf("\nData directory\n\nNode data directory: %s\n", json_string_value(json_object_get(s, "data_directory")));
    printf("\nAlarms\n\n");
    json_t *al = json_object_get(s, "alarms");
    if (!json_array_size(al)) printf("(none)\n");
    for (size_t i = 0; i < json_array_size(al); i++) {
        const char *a = json_string_value(json_array_get(al, i));
        printf("%s alarm on node %s\n", a && !strcmp(a, "disk") ? "Free disk space" : "Memory", node);
    }
    printf("\nMemory\n\nTotal memory used: %.4f gb\nCalculation strategy: message memory\n"
           "Memory high watermark setting: %.4f gb\n",
           gb(json_object_get(s, "memory_used")), gb(json_object_get(s, "memory_limit")));
    printf("\nFree Disk Space\n\nLow free disk space watermark: %.4f gb\nFree disk space: %.4f gb\n",
           gb(json_object_get(s, "disk_free_limit")), gb(json_object_get(s, "disk_free")));
    printf("\nTotals\n\nConnection count: %lld\nQueue count: %lld\nVirtual host count: %lld\n",
           (long long)json_integer_value(json_object_get(s, "connections")),
           (long long)json_integer_value(json_object_get(s, "queues")),
           (long long)json_integer_value(json_object_get(s, "vhosts")));
    printf("\nListeners\n\n");
    json_t *ls = json_object_get(s, "listeners");
    for (size_t i = 0; i < json_array_size(ls); i++) print_listener(stdout, json_array_get(ls, i));
}

int main(int argc, char **argv) {
    {
        const char *b = strrchr(argv[0], '/');
        prog = b ? b + 1 : argv[0];
        if (!*prog) prog = "warrenctl";
        rabbit_tool = !strcmp(prog, "rabbitmqctl") || !strcmp(prog, "rabbitmq-diagnostics") ||
                      !strcmp(prog, "rabbitmq-queues");
    }
    const char *vh = "/", *data_dir = getenv("WARREN_DATA_DIR"), *sock = NULL, *apply_to = NULL;
    long long priority = 0;
    bool policy_opts = false;
    if (!data_dir || !*data_dir) data_dir = "warren-data";
    const char *pos[64];
    int npos = 0;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && a[0] == '-' && a[1]) {
            if (!strcmp(a, "--")) opts_done = true;
            else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                fputs(usage, stdout);
                return 0;
            } else if (!strcmp(a, "--json")) json_out = true;
            else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = true;
            else if (!strcmp(a, "-s") || !strcmp(a, "--silent")) quiet = no_headers = true;
            else if (!strcmp(a, "--no-table-headers")) no_headers = true;
            else if (!strcmp(a, "-l") || !strcmp(a, "--longnames")) continue; /* rabbitmqctl's; nothing to do */
            else if (!strcmp(a, "-n") || !strcmp(a, "--node") || !strcmp(a, "-t") || !strcmp(a, "--timeout") ||
                     !strcmp(a, "--formatter")) {
                if (i + 1 >= argc) return usage_error("option %s needs a value", a);
                const char *v = argv[++i];
                if (a[1] == 'n' || !strcmp(a, "--node")) node = v; /* one local node: only shown */
                else if (!strcmp(a, "--formatter")) json_out = !strcmp(v, "json");
                else {
                    char *end;
                    long t = strtol(v, &end, 10);
                    if (!*v || *end || t <= 0) return usage_error("--timeout: '%s' is not a positive integer", v);
                    timeout_s = t > 3600 ? 3600 : t;
                }
            }
            else if (!strcmp(a, "--priority") || !strcmp(a, "--apply-to")) { /* set_policy's options */
                if (i + 1 >= argc) return usage_error("option %s needs a value", a);
                const char *v = argv[++i];
                policy_opts = true;
                if (!strcmp(a, "--apply-to")) {
                    apply_to = v;
                    continue;
                }
                char *end;
                errno = 0;
                priority = strtoll(v, &end, 10);
                if (!*v || *end || errno) return usage_error("--priority: '%s' is not an integer", v);
                priority_text = v;
            }
            else if (!strcmp(a, "-p") || !strcmp(a, "--vhost") || !strcmp(a, "--data-dir") || !strcmp(a, "--socket")) {
                if (i + 1 >= argc) return usage_error("option %s needs a value", a);
                const char *v = argv[++i];
                if (a[1] == 'p' || !strcmp(a, "--vhost")) vh = v;
                else if (!strcmp(a, "--data-dir")) data_dir = v;
                else sock = v;
            } else {
                return usage_error("unknown option '%s'", a);
            }
            continue;
        }
        if (npos == (int)(sizeof pos / sizeof *pos)) return usage_error("too many arguments%s", "");
        pos[npos++] = a;
    }
    if (!npos) return usage_error("no command given%s", "");
    const cmd *c = NULL;
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (!strcmp(cmds[i].name, pos[0])) c = &cmds[i];
    if (!c && rabbit_tool) { /* as RabbitMQ's CLI says it, with its exit code */
        fprintf(stderr,
                "\nCommand '%s' not found. \n\nUsage\n\n%s [--node <node>] [--timeout <timeout>] [--longnames] "
                "[--quiet] <command> [<command options>]\n\nSee '%s --help' for the commands this one knows.\n",
                pos[0], prog, prog);
        return EX_USAGE_;
    }
    if (!c) return usage_error("unknown command '%s'", pos[0]);
    if (policy_opts && strcmp(c->name, "set_policy") && strcmp(c->name, "set_operator_policy"))
        return usage_error("--priority and --apply-to go with set_policy and set_operator_policy, not %s", c->name);
    int nargs = npos - 1;
    if (nargs < c->min || (c->max >= 0 && nargs > c->max)) {
        fprintf(stderr, "warrenctl: wrong number of arguments for %s\nusage: warrenctl %s %s\n", c->name, c->name,
                c->args_help);
        return EX_USAGE_;
    }
    char path[4096];
    if (sock) snprintf(path, sizeof path, "%s", sock);
    else snprintf(path, sizeof path, "%s/warren.sock", data_dir);

    json_t *args = json_array();
    const char *out_file = NULL;
    if (!strcmp(c->name, "import_definitions")) {
        FILE *f = strcmp(pos[1], "-") ? fopen(pos[1], "r") : stdin;
        if (!f) {
            fprintf(stderr, "Error: cannot read %s: %s\n", pos[1], strerror(errno));
            json_decref(args);
            return EX_DATAERR_;
        }
        size_t len;
        char *t = read_all(f, &len);
        if (f != stdin) fclose(f);
        json_array_append_new(args, json_stringn(t ? t : "", t ? len : 0));
        free(t);
    } else if (!strcmp(c->name, "export_definitions")) {
        out_file = pos[1];
    } else {
        for (int i = 1; i < npos; i++) json_array_append_new(args, json_string(pos[i]));
    }
    bool checks = is_health(c->name), rstatus = rabbit_tool && !strcmp(c->name, "status");
    reply_bounded = checks;
    local_node_name();
    json_t *req = json_pack("{s:s,s:O,s:s,s:I}", "command", checks ? "status" : c->name, "args", args, "vhost", vh,
                            "priority", (json_int_t)priority);
    if (apply_to) json_object_set_new(req, "apply_to", json_string(apply_to));
    json_t *shown = json_array(); /* the words typed, for the message (not a file's text) */
    for (int i = 1; i < npos; i++) json_array_append_new(shown, json_string(pos[i]));
    if (checks || rstatus) health_banner(c->name);
    else say_what(c->name, shown, vh);
    json_decref(shown);
    json_decref(args);
    int rc = 0;
    json_t *rep = call(path, req, &rc);
    json_decref(req);
    if (!rep) return rc;
    if (!json_is_true(json_object_get(rep, "ok"))) {
        const char *e = json_string_value(json_object_get(rep, "error"));
        bool refused = e && !strncmp(e, "access refused", 14);
        if (json_out) {
            json_t *o = json_pack("{s:b,s:s}", "ok", 0, "error", e ? e : "unknown error");
            char *t = json_dumps(o, JSON_COMPACT);
            puts(t);
            free(t);
            json_decref(o);
        }
        fprintf(stderr, "Error:\n%s\n", e ? e : "unknown error");
        json_t *code = json_object_get(rep, "code"); /* rabbitmqctl's: 65 no such vhost, 67 no such user */
        int rc = refused ? EX_NOPERM_ : json_is_integer(code) ? (int)json_integer_value(code) : EX_SOFTWARE_;
        json_decref(rep);
        return rc;
    }
    if (checks) {
        int hrc = health(c->name, json_object_get(rep, "status"));
        json_decref(rep);
        return hrc;
    }
    if (rstatus && !json_out) {
        print_rabbit_status(json_object_get(rep, "status"));
    } else if (!strcmp(c->name, "trace_on") || !strcmp(c->name, "trace_off")) {
        if (json_out) puts("{\"ok\": true}");
        else printf("Trace %s for vhost %s\n", c->name[7] == 'n' ? "enabled" : "disabled", vh);
    } else if (json_object_get(rep, "columns")) {
        print_table(rep);
    } else if (json_object_get(rep, "status")) {
        print_status(json_object_get(rep, "status"));
    } else if (out_file) {
        const char *d = json_string_value(json_object_get(rep, "definitions"));
        FILE *f = strcmp(out_file, "-") ? fopen(out_file, "w") : stdout;
        if (!f) {
            fprintf(stderr, "Error: cannot write %s: %s\n", out_file, strerror(errno));
            json_decref(rep);
            return EX_SOFTWARE_;
        }
        fputs(d, f);
        fputc('\n', f);
        if (f != stdout && fclose(f)) {
            fprintf(stderr, "Error: cannot write %s: %s\n", out_file, strerror(errno));
            json_decref(rep);
            return EX_SOFTWARE_;
        }
        if (json_out && f != stdout) puts("{\"ok\": true}");
        else if (f != stdout) info("Successfully exported definitions to \"%s\"", out_file);
    } else {
        const char *m = json_string_value(json_object_get(rep, "message"));
        if (m && *m) fprintf(stderr, "Warning: %s\n", m);
        if (json_out) puts("{\"ok\": true}");
    }
    json_decref(rep);
    return 0;
}
