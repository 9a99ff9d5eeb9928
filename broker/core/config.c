/* config.c — the broker's settings: their defaults, the environment
 * (RABBITMQ_DEFAULT_*), the rabbitmq.conf-style file (one table, keys[], of
 * the keys Warren reads, each with its setter and printer), the command-line
 * flags, and --print-config. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util.h"

warren_config config;

static const char usage[] =
    "usage: warren [--port N] [--tls-port N] [--bind ADDR] [--data-dir DIR] [--threads N] [--config FILE] [--help]\n"
    "\n"
    "  --port N        AMQP port (default 5672)\n"
    "  --tls-port N    AMQP over TLS port (listeners.ssl.default; needs ssl_options in --config)\n"
    "  --bind ADDR     listen address (default: all interfaces, IPv4 and IPv6)\n"
    "  --data-dir DIR  where durable data lives (default ./warren-data; created if missing)\n"
    "  --threads N     I/O worker threads (default: number of cores)\n"
    "  --config FILE   a rabbitmq.conf-style file (key = value)\n"
    "  --memory-limit N  message memory (bytes, or with K/M/G suffix, or a fraction\n"
    "                  of RAM such as 0.4) above which publishers are blocked\n"
    "                  (default 0.4 of RAM, as RabbitMQ's vm_memory_high_watermark)\n"
    "  --print-config  print the effective configuration (rabbitmq.conf syntax, secrets masked) and exit\n"
    "  --help          this text\n"
    "\n"
    "Environment: RABBITMQ_DEFAULT_USER, RABBITMQ_DEFAULT_PASS, RABBITMQ_DEFAULT_VHOST,\n"
    "             RABBITMQ_PRODUCT_NAME, RABBITMQ_PRODUCT_VERSION.\n"
    "Precedence: flags over the config file over the environment.\n";

/* The settings that are not one key's plain value (flag-only ones, derived
 * ones, "unset" states); every key's default is in its row of keys[]. */
static void defaults(void) {
    memset(&config, 0, sizeof config);
    snprintf(config.data_dir, sizeof config.data_dir, "warren-data");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    config.threads = n > 0 ? (int)n : 1;
    snprintf(config.loopback_users, sizeof config.loopback_users, "guest"); /* loopback_users.guest = true */
    /* as RabbitMQ's: the cluster is named after its (first) node, rabbit@HOST */
    snprintf(config.cluster_name, sizeof config.cluster_name, "%s", node_name());
    config.ssl_depth = -1; /* unset: OpenSSL's default */
    /* Not key defaults: their setters mark a port as set explicitly (a busy
     * default port only warns, an explicit one is fatal: mgmt_http.c, prom.c). */
    config.prom_port = 15692; /* RabbitMQ's prometheus.tcp.port */
    config.mgmt_port = 15672; /* RabbitMQ's management.tcp.port */
}

static double ram_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? (double)pages * (double)psize : 4294967296.0;
}

/* RabbitMQ's information units: k/K/kiB = 1024, kB/KB = 1000, M/MiB, MB, G/GiB, GB
 * (case-insensitive, as rabbit_resource_monitor_misc parses them). 0, or -1. */
static int parse_bytes(const char *v, int64_t *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || d < 0 || !isdigit((unsigned char)v[0])) return -1;
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1},     {"k", 1024.0},          {"kib", 1024.0},
                 {"kb", 1e3}, {"m", 1048576.0},       {"mib", 1048576.0},
                 {"mb", 1e6}, {"g", 1073741824.0},    {"gib", 1073741824.0},
                 {"gb", 1e9}, {"t", 1099511627776.0}, {"tib", 1099511627776.0},
                 {"tb", 1e12}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (!strcasecmp(end, units[i].unit)) {
            double b = d * units[i].mult;
            if (b > 9.2e18) return -1;
            *out = (int64_t)b;
            return 0;
        }
    return -1;
}

/* A fraction of RAM: "0.4". */
static int parse_fraction(const char *what, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi) {
        fprintf(stderr, "warren: invalid value for %s: '%s' (expected a number from %g to %g)\n", what, v, lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

static int parse_int(const char *what, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "warren: invalid value for %s: '%s' (expected an integer from %ld to %ld)\n", what, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* "1073741824", "512MiB", "2GB", or a fraction of RAM such as "0.4". */
static int parse_memory(const char *what, const char *v, int64_t *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!errno && end != v && *end == 0 && d > 0 && d < 1.0) {
        *out = (int64_t)(ram_bytes() * d);
        return 0;
    }
    int64_t b;
    if (!parse_bytes(v, &b) && b > 0) {
        *out = b;
        return 0;
    }
    fprintf(stderr,
            "warren: invalid value for %s: '%s' (expected bytes, e.g. 536870912, 512MiB or 2GB, or a fraction of RAM "
            "like 0.4)\n",
            what, v);
    return -1;
}

/* product.name / product.version: RabbitMQ takes any non-empty string (an empty one
 * does not parse); Warren also bounds the length and refuses control characters,
 * since the value goes into log lines and connection.start. 0, or -1 after the error. */
static int set_product(const char *what, char *dst, size_t size, const char *v) {
    size_t n = strlen(v);
    bool ok = n > 0 && n < size;
    for (size_t i = 0; ok && i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ok = false;
    if (!ok) {
        fprintf(stderr,
                "warren: invalid value for %s: '%.300s%s' (expected a non-empty string of at most %zu bytes, "
                "no control characters)\n",
                what, v, n > 300 ? "..." : "", size - 1);
        return -1;
    }
    memcpy(dst, v, n + 1);
    return 0;
}

static int env(void) {
    const char *u = getenv("RABBITMQ_DEFAULT_USER"), *p = getenv("RABBITMQ_DEFAULT_PASS");
    const char *v = getenv("RABBITMQ_DEFAULT_VHOST");
    if (u && *u) snprintf(config.default_user, sizeof config.default_user, "%s", u);
    if (p) snprintf(config.default_pass, sizeof config.default_pass, "%s", p);
    if (v && *v) snprintf(config.default_vhost, sizeof config.default_vhost, "%s", v);
    /* As RabbitMQ's rabbit_env: an empty variable counts as unset. */
    const char *pn = getenv("RABBITMQ_PRODUCT_NAME"), *pv = getenv("RABBITMQ_PRODUCT_VERSION");
    if (pn && *pn &&
        set_product("RABBITMQ_PRODUCT_NAME (environment)", config.product_name, sizeof config.product_name, pn))
        return -1;
    if (pv && *pv &&
        set_product("RABBITMQ_PRODUCT_VERSION (environment)", config.product_version, sizeof config.product_version,
                    pv))
        return -1;
    return 0;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static int bad_value(const char *what, const char *v, const char *expected) {
    fprintf(stderr, "warren: invalid value for %s: '%s' (expected %s)\n", what, v, expected);
    return -1;
}

/* A listener, "PORT" or "ADDR:PORT" ("[v6addr]:PORT" too): the address into
 * bind (cap bytes; "" = all interfaces), the port into *port. An address with
 * blanks or control characters, or one too long to hold, is refused rather
 * than cut. 0, or -1 after the error. */
static int parse_listener(const char *what, const char *v, long lo, char *bind, size_t cap, int *port) {
    const char *colon = strrchr(v, ':');
    const char *a = v, *e = colon ? colon : v;
    if (colon && *a == '[' && e > a && e[-1] == ']') a++, e--;
    bool ok = (size_t)(e - a) < cap;
    for (const char *p = a; ok && p < e; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '[' || *p == ']') ok = false;
    if (!ok) return bad_value(what, v, "PORT or ADDR:PORT, ADDR without blanks and at most 127 bytes");
    long n;
    if (parse_int(what, colon ? colon + 1 : v, lo, 65535, &n)) return -1;
    snprintf(bind, cap, "%.*s", (int)(e - a), a);
    *port = (int)n;
    return 0;
}

bool config_is_loopback_user(const char *name) {
    size_t n = strlen(name);
    for (const char *p = config.loopback_users; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !memcmp(p, name, n)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* Add or remove one name in the comma-separated loopback_users list. */
static void loopback_set(const char *name, bool on) {
    char out[sizeof config.loopback_users] = "";
    size_t n = strlen(name), o = 0;
    for (const char *p = config.loopback_users; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!(len == n && !memcmp(p, name, n)) && o + len + 2 < sizeof out) {
            if (o) out[o++] = ',';
            memcpy(out + o, p, len);
            o += len;
            out[o] = 0;
        }
        if (!e) break;
        p = e + 1;
    }
    if (on && o + n + 2 < sizeof out) {
        if (o) out[o++] = ',';
        memcpy(out + o, name, n + 1);
    }
    memcpy(config.loopback_users, out, sizeof out);
}

/* ---- the keys: one setter (and printer) per rabbitmq.conf key ----
 * A setter gets what (the key and where it was read, for errors), the key and
 * the value; it returns 0, or -1 after printing a clear error. A printer
 * writes the key's effective value back in rabbitmq.conf syntax. */

static int set_tcp_listener(const char *what, const char *k, const char *v) {
    (void)k;
    return parse_listener(what, v, 0, config.bind, sizeof config.bind, &config.port);
}
static void print_tcp_listener(FILE *f) {
    fprintf(f, "listeners.tcp.default = %s%s%d\n", config.bind, config.bind[0] ? ":" : "", config.port);
}

static int set_ssl_listener(const char *what, const char *k, const char *v) {
    (void)k;
    return parse_listener(what, v, 1, config.tls_bind, sizeof config.tls_bind, &config.tls_port);
}
static void print_ssl_listener(FILE *f) {
    if (config.tls_port)
        fprintf(f, "listeners.ssl.default = %s%s%d\n", config.tls_bind, config.tls_bind[0] ? ":" : "", config.tls_port);
    else fprintf(f, "# listeners.ssl.default = (none: no TLS listener)\n");
}

/* A file name or other free string kept as given. */
#define STRING_KEY(fn, field)                                                                                          \
    static int set_##fn(const char *what, const char *k, const char *v) {                                              \
        (void)what, (void)k;                                                                                           \
        snprintf(config.field, sizeof config.field, "%s", v);                                                          \
        return 0;                                                                                                      \
    }
STRING_KEY(cacertfile, ssl_cacertfile)
STRING_KEY(certfile, ssl_certfile)
STRING_KEY(keyfile, ssl_keyfile)
STRING_KEY(default_user, default_user)
STRING_KEY(default_pass, default_pass)
STRING_KEY(default_vhost, default_vhost)
static void print_cacertfile(FILE *f) {
    fprintf(f, "%sssl_options.cacertfile = %s\n", config.ssl_cacertfile[0] ? "" : "# ", config.ssl_cacertfile);
}
static void print_certfile(FILE *f) {
    fprintf(f, "%sssl_options.certfile = %s\n", config.ssl_certfile[0] ? "" : "# ", config.ssl_certfile);
}
static void print_keyfile(FILE *f) {
    fprintf(f, "%sssl_options.keyfile = %s\n", config.ssl_keyfile[0] ? "" : "# ", config.ssl_keyfile);
}
static void print_default_user(FILE *f) { fprintf(f, "default_user = %s\n", config.default_user); }
static void print_default_pass(FILE *f) { fprintf(f, "default_pass = ********\n"); }
static void print_default_vhost(FILE *f) { fprintf(f, "default_vhost = %s\n", config.default_vhost); }

/* true/false (or two other words) into a bool. */
static int set_choice(const char *what, const char *v, const char *yes, const char *no, bool *out) {
    if (strcmp(v, yes) && strcmp(v, no)) {
        char expected[120];
        snprintf(expected, sizeof expected, "%s or %s", yes, no);
        return bad_value(what, v, expected);
    }
    *out = !strcmp(v, yes);
    return 0;
}

static int set_verify(const char *what, const char *k, const char *v) {
    (void)k;
    return set_choice(what, v, "verify_peer", "verify_none", &config.ssl_verify_peer);
}
static void print_verify(FILE *f) {
    fprintf(f, "ssl_options.verify = %s\n", config.ssl_verify_peer ? "verify_peer" : "verify_none");
}
static int set_fail_if_no_peer_cert(const char *what, const char *k, const char *v) {
    (void)k;
    return set_choice(what, v, "true", "false", &config.ssl_fail_if_no_peer_cert);
}
static void print_fail_if_no_peer_cert(FILE *f) {
    fprintf(f, "ssl_options.fail_if_no_peer_cert = %s\n", config.ssl_fail_if_no_peer_cert ? "true" : "false");
}
static int set_depth(const char *what, const char *k, const char *v) {
    (void)k;
    long n;
    if (parse_int(what, v, 0, 100, &n)) return -1;
    config.ssl_depth = (int)n;
    return 0;
}
static void print_depth(FILE *f) {
    if (config.ssl_depth >= 0) fprintf(f, "ssl_options.depth = %d\n", config.ssl_depth);
}
static int set_versions(const char *what, const char *k, const char *v) {
    (void)k;
    if (!strcmp(v, "tlsv1.2")) config.ssl_versions |= 1u << 2;
    else if (!strcmp(v, "tlsv1.3")) config.ssl_versions |= 1u << 3;
    else return bad_value(what, v, "tlsv1.2 or tlsv1.3; Warren supports no older TLS");
    return 0;
}
static void print_versions(FILE *f) {
    int nv = 1;
    if (!config.ssl_versions || (config.ssl_versions & (1u << 3)))
        fprintf(f, "ssl_options.versions.%d = tlsv1.3\n", nv++);
    if (!config.ssl_versions || (config.ssl_versions & (1u << 2)))
        fprintf(f, "ssl_options.versions.%d = tlsv1.2\n", nv++);
}
static int set_cert_login_from(const char *what, const char *k, const char *v) {
    (void)k;
    if (strcmp(v, "common_name") && strcmp(v, "distinguished_name"))
        return bad_value(what, v, "distinguished_name or common_name");
    config.ssl_cert_login_cn = !strcmp(v, "common_name");
    return 0;
}
static void print_cert_login_from(FILE *f) {
    fprintf(f, "ssl_cert_login_from = %s\n", config.ssl_cert_login_cn ? "common_name" : "distinguished_name");
}
static int set_ssl_handshake_timeout(const char *what, const char *k, const char *v) {
    (void)k;
    long n;
    if (parse_int(what, v, 100, 3600000, &n)) return -1;
    config.ssl_handshake_timeout_ms = (uint32_t)n;
    return 0;
}
static void print_ssl_handshake_timeout(FILE *f) {
    fprintf(f, "ssl_handshake_timeout = %u\n", config.ssl_handshake_timeout_ms);
}

static int set_loopback_user(const char *what, const char *k, const char *v) {
    if (strchr(k + strlen("loopback_users."), ',')) { /* loopback_users is kept comma-separated */
        fprintf(stderr, "warren: invalid key %s: a user name with ',' cannot be a loopback user\n", what);
        return -1;
    }
    if (strcmp(v, "true") && strcmp(v, "false")) {
        fprintf(stderr, "warren: invalid value for %s: '%s' (expected true or false)\n", what, v);
        return -1;
    }
    loopback_set(k + strlen("loopback_users."), !strcmp(v, "true"));
    return 0;
}
static int set_loopback_users(const char *what, const char *k, const char *v) {
    (void)k;
    if (strcmp(v, "none")) {
        fprintf(stderr, "warren: invalid value for %s: '%s' (expected none)\n", what, v);
        return -1;
    }
    config.loopback_users[0] = 0;
    return 0;
}
static void print_loopback_users(FILE *f) {
    fprintf(f, "loopback_users = none\n"); /* then the list, so the output reads back the same */
    for (const char *p = config.loopback_users; *p;) {
        const char *e = strchr(p, ',');
        int len = e ? (int)(e - p) : (int)strlen(p);
        fprintf(f, "loopback_users.%.*s = true\n", len, p);
        if (!e) break;
        p = e + 1;
    }
}

static int set_product_name(const char *what, const char *k, const char *v) {
    (void)k;
    return set_product(what, config.product_name, sizeof config.product_name, v);
}
static void print_product_name(FILE *f) { fprintf(f, "product.name = %s\n", config.product_name); }
static int set_product_version(const char *what, const char *k, const char *v) {
    (void)k;
    return set_product(what, config.product_version, sizeof config.product_version, v);
}
static void print_product_version(FILE *f) { fprintf(f, "product.version = %s\n", config.product_version); }

/* An integer in [lo, hi] into a numeric field. */
#define INT_KEY(fn, key, field, type, lo, hi, fmt)                                                                     \
    static int set_##fn(const char *what, const char *k, const char *v) {                                              \
        (void)k;                                                                                                       \
        long n;                                                                                                        \
        if (parse_int(what, v, lo, hi, &n)) return -1;                                                                 \
        config.field = (type)n;                                                                                        \
        return 0;                                                                                                      \
    }                                                                                                                  \
    static void print_##fn(FILE *f) { fprintf(f, key " = " fmt "\n", config.field); }
INT_KEY(heartbeat, "heartbeat", heartbeat, uint16_t, 0, 65535, "%u")
INT_KEY(frame_max, "frame_max", frame_max, uint32_t, 4096, 1 << 24, "%u")
INT_KEY(channel_max, "channel_max", channel_max, uint16_t, 1, 65535, "%u")
INT_KEY(handshake_timeout, "handshake_timeout", handshake_timeout_ms, uint32_t, 100, 3600000, "%u")

static int set_max_message_size(const char *what, const char *k, const char *v) {
    (void)k;
    long n;
    if (parse_int(what, v, 1, 536870912, &n)) return -1;
    config.max_message_size = (uint64_t)n;
    return 0;
}
static void print_max_message_size(FILE *f) {
    fprintf(f, "max_message_size = %llu\n", (unsigned long long)config.max_message_size);
}
static int set_consumer_timeout(const char *what, const char *k, const char *v) {
    (void)k;
    long n;
    if (!strcmp(v, "false")) {
        config.consumer_timeout_ms = 0;
        return 0;
    }
    if (parse_int(what, v, 0, 0x7fffffffffffffffL, &n)) return -1;
    config.consumer_timeout_ms = (uint64_t)n;
    return 0;
}
static void print_consumer_timeout(FILE *f) {
    if (config.consumer_timeout_ms)
        fprintf(f, "consumer_timeout = %llu\n", (unsigned long long)config.consumer_timeout_ms);
    else fprintf(f, "consumer_timeout = false\n");
}
static int set_segment_size(const char *what, const char *k, const char *v) { /* Warren's own: the log's segments */
    (void)k;
    int64_t b;
    if (parse_bytes(v, &b) || b < (1 << 20) || b > (1 << 30))
        return bad_value(what, v, "bytes between 1MiB and 1GiB, e.g. 32MiB");
    config.segment_size = (uint32_t)b;
    return 0;
}
static void print_segment_size(FILE *f) { fprintf(f, "log.segment_size = %u\n", config.segment_size); }
static int set_verify_on_start(const char *what, const char *k, const char *v) { /* Warren's own */
    (void)k;
    return set_choice(what, v, "true", "false", &config.log_verify_on_start);
}
static void print_verify_on_start(FILE *f) {
    fprintf(f, "log.verify_on_start = %s\n", config.log_verify_on_start ? "true" : "false");
}
static int set_connection_max(const char *what, const char *k, const char *v) {
    (void)k;
    long n;
    if (!strcmp(v, "infinity")) {
        config.connection_max = 0;
        return 0;
    }
    if (parse_int(what, v, 1, 10000000, &n)) return -1;
    config.connection_max = (uint32_t)n;
    return 0;
}
static void print_connection_max(FILE *f) {
    if (config.connection_max) fprintf(f, "connection_max = %u\n", config.connection_max);
    else fprintf(f, "connection_max = infinity\n");
}
static int set_memory_absolute(const char *what, const char *k, const char *v) {
    (void)k;
    int64_t b;
    if (parse_bytes(v, &b) || b <= 0) return bad_value(what, v, "bytes, e.g. 1073741824, 1024MiB or 2GB");
    config.memory_limit = b;
    return 0;
}
static void print_memory(FILE *f) {
    fprintf(f, "vm_memory_high_watermark.absolute = %lld\n", (long long)config.memory_limit);
}
static int set_memory_relative(const char *what, const char *k, const char *v) {
    (void)k;
    double fr;
    if (parse_fraction(what, v, 0.0001, 1.0, &fr)) return -1;
    config.memory_limit = (int64_t)(ram_bytes() * fr);
    return 0;
}
static int set_disk_absolute(const char *what, const char *k, const char *v) {
    (void)k;
    int64_t b;
    if (parse_bytes(v, &b)) return bad_value(what, v, "bytes, e.g. 50000000, 50MB or 2GB");
    config.disk_free_limit = b;
    return 0;
}
static void print_disk(FILE *f) { fprintf(f, "disk_free_limit.absolute = %lld\n", (long long)config.disk_free_limit); }
static int set_disk_relative(const char *what, const char *k, const char *v) {
    (void)k;
    double fr;
    if (parse_fraction(what, v, 0.0, 100.0, &fr)) return -1;
    config.disk_free_limit = (int64_t)(ram_bytes() * fr); /* RabbitMQ: a multiple of total RAM */
    return 0;
}
static const char *const log_levels[] = {"error", "warning", "info", "debug"}; /* LOG_ERR .. LOG_DEBUG */
static int set_log_level(const char *what, const char *k, const char *v) {
    (void)k;
    for (int i = 0; i < 4; i++)
        if (!strcmp(v, log_levels[i])) {
            config.log_level = i;
            return 0;
        }
    fprintf(stderr, "warren: invalid value for %s: '%s' (expected debug, info, warning or error)\n", what, v);
    return -1;
}
static void print_log_level(FILE *f) {
    fprintf(f, "log.level = %s\n", log_levels[config.log_level >= 0 && config.log_level < 4 ? config.log_level : 1]);
}
static int set_load_definitions(const char *what, const char *k, const char *v) {
    (void)k;
    if (!*v) {
        fprintf(stderr, "warren: invalid value for %s: expected a file name\n", what);
        return -1;
    }
    snprintf(config.load_definitions, sizeof config.load_definitions, "%s", v);
    return 0;
}
static void print_load_definitions(FILE *f) {
    if (config.load_definitions[0]) fprintf(f, "load_definitions = %s\n", config.load_definitions);
    else fprintf(f, "# load_definitions = (none)\n");
}

static int set_prom_enabled(const char *what, const char *k, const char *v) { /* Warren's own */
    (void)k;
    return set_choice(what, v, "true", "false", &config.prom_enabled);
}
static void print_prom_enabled(FILE *f) {
    fprintf(f, "prometheus.enabled = %s\n", config.prom_enabled ? "true" : "false");
}
static int set_prom_port(const char *what, const char *k, const char *v) {
    (void)k;
    long n;
    if (parse_int(what, v, 1, 65535, &n)) return -1;
    config.prom_port = (int)n;
    config.prom_port_explicit = true;
    return 0;
}
static void print_prom_port(FILE *f) { fprintf(f, "prometheus.tcp.port = %d\n", config.prom_port); }
static int set_prom_ip(const char *what, const char *k, const char *v) {
    (void)k;
    if (!*v || strlen(v) >= sizeof config.prom_ip) {
        fprintf(stderr, "warren: invalid value for %s: '%s' (expected an IP address)\n", what, v);
        return -1;
    }
    snprintf(config.prom_ip, sizeof config.prom_ip, "%s", v);
    return 0;
}
static void print_prom_ip(FILE *f) {
    if (config.prom_ip[0]) fprintf(f, "prometheus.tcp.ip = %s\n", config.prom_ip);
    else fprintf(f, "# prometheus.tcp.ip = (all interfaces)\n");
}
static int set_mgmt_enabled(const char *what, const char *k, const char *v) { /* Warren's own */
    (void)k;
    return set_choice(what, v, "true", "false", &config.mgmt_enabled);
}
static void print_mgmt_enabled(FILE *f) {
    fprintf(f, "management.enabled = %s\n", config.mgmt_enabled ? "true" : "false");
}
static int set_mgmt_port(const char *what, const char *k, const char *v) {
    (void)k;
    long n;
    if (parse_int(what, v, 1, 65535, &n)) return -1;
    config.mgmt_port = (int)n;
    config.mgmt_port_set = true;
    return 0;
}
static void print_mgmt_port(FILE *f) { fprintf(f, "management.tcp.port = %d\n", config.mgmt_port); }
static int set_mgmt_ip(const char *what, const char *k, const char *v) {
    (void)k;
    if (!*v || strlen(v) >= sizeof config.mgmt_ip || strpbrk(v, " \t[]"))
        return bad_value(what, v, "an IP address such as 127.0.0.1 or ::");
    snprintf(config.mgmt_ip, sizeof config.mgmt_ip, "%s", v);
    return 0;
}
static void print_mgmt_ip(FILE *f) {
    if (config.mgmt_ip[0]) fprintf(f, "management.tcp.ip = %s\n", config.mgmt_ip);
    else fprintf(f, "# management.tcp.ip = (all interfaces)\n");
}

/* The rabbitmq.conf keys Warren reads, one row each: the key (ending in '.',
 * a prefix: the rest is a name or an index), its setter, the printer of
 * --print-config (NULL: another row prints it), and its default (NULL: none,
 * or the setting's zero), written as in rabbitmq.conf and applied through the
 * row's own setter before the environment, the file and the flags, in this
 * order. --print-config prints in this order too. A new key is a row here
 * with its setter, printer and default. */
typedef struct {
    const char *key;
    int (*set)(const char *what, const char *k, const char *v);
    void (*print)(FILE *f);
    const char *def;
} config_key;

static const config_key keys[] = {
    {"listeners.tcp.default", set_tcp_listener, print_tcp_listener, "5672"},
    {"listeners.ssl.default", set_ssl_listener, print_ssl_listener, NULL},
    {"ssl_options.cacertfile", set_cacertfile, print_cacertfile, NULL},
    {"ssl_options.certfile", set_certfile, print_certfile, NULL},
    {"ssl_options.keyfile", set_keyfile, print_keyfile, NULL},
    {"ssl_options.verify", set_verify, print_verify, "verify_none"},
    {"ssl_options.fail_if_no_peer_cert", set_fail_if_no_peer_cert, print_fail_if_no_peer_cert, "false"},
    {"ssl_options.depth", set_depth, print_depth, NULL},
    {"ssl_options.versions.", set_versions, print_versions, NULL}, /* none listed: TLS 1.3 and 1.2 */
    {"ssl_cert_login_from", set_cert_login_from, print_cert_login_from, "distinguished_name"},
    {"ssl_handshake_timeout", set_ssl_handshake_timeout, print_ssl_handshake_timeout, "5000"}, /* as RabbitMQ */
    {"default_user", set_default_user, print_default_user, "guest"},
    {"default_pass", set_default_pass, print_default_pass, "guest"},
    {"default_vhost", set_default_vhost, print_default_vhost, "/"},
    {"loopback_users", set_loopback_users, print_loopback_users, NULL},
    {"loopback_users.", set_loopback_user, NULL, NULL},
    {"product.name", set_product_name, print_product_name, "Warren"},
    {"product.version", set_product_version, print_product_version, WARREN_VERSION},
    {"heartbeat", set_heartbeat, print_heartbeat, "60"},
    {"frame_max", set_frame_max, print_frame_max, "131072"},
    {"channel_max", set_channel_max, print_channel_max, "2047"},
    {"max_message_size", set_max_message_size, print_max_message_size, "134217728"},
    {"consumer_timeout", set_consumer_timeout, print_consumer_timeout, "1800000"}, /* RabbitMQ 3.10's: 30 minutes */
    {"log.segment_size", set_segment_size, print_segment_size, "32MiB"},
    {"log.verify_on_start", set_verify_on_start, print_verify_on_start, "false"},
    {"handshake_timeout", set_handshake_timeout, print_handshake_timeout, "10000"},
    {"connection_max", set_connection_max, print_connection_max, "infinity"},
    {"vm_memory_high_watermark.absolute", set_memory_absolute, print_memory, NULL},
    {"vm_memory_high_watermark.relative", set_memory_relative, NULL, "0.4"}, /* as RabbitMQ */
    {"vm_memory_high_watermark", set_memory_relative, NULL, NULL},
    {"disk_free_limit.absolute", set_disk_absolute, print_disk, "50000000"}, /* RabbitMQ's: 50MB */
    {"disk_free_limit.relative", set_disk_relative, NULL, NULL},
    {"log.level", set_log_level, print_log_level, "info"},
    {"load_definitions", set_load_definitions, print_load_definitions, NULL},
    {"prometheus.enabled", set_prom_enabled, print_prom_enabled, "true"}, /* Warren's own */
    {"prometheus.tcp.port", set_prom_port, print_prom_port, NULL},        /* 15692, in defaults() */
    {"prometheus.tcp.ip", set_prom_ip, print_prom_ip, NULL},
    {"management.enabled", set_mgmt_enabled, print_mgmt_enabled, "true"}, /* as the rabbitmq:3-management image */
    {"management.tcp.port", set_mgmt_port, print_mgmt_port, NULL},        /* 15672, in defaults() */
    {"management.tcp.ip", set_mgmt_ip, print_mgmt_ip, NULL},
};

static const config_key *find_key(const char *k) {
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t n = strlen(keys[i].key);
        bool prefix = keys[i].key[n - 1] == '.';
        if (prefix ? !strncmp(k, keys[i].key, n) && k[n] : !strcmp(k, keys[i].key)) return &keys[i];
    }
    return NULL;
}

static int set_key(const char *file, int line, const char *k, const char *v) {
    char what[300];
    snprintf(what, sizeof what, "%s (%s line %d)", k, file, line);
    const config_key *row = find_key(k);
    if (row) return row->set(what, k, v);
    fprintf(stderr, "warren: warning: unknown config key '%s' at %s line %d (ignored)\n", k, file, line);
    return 0;
}

static int load_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "warren: cannot read config file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char buf[2048];
    int line = 0, rc = 0;
    while (!rc && fgets(buf, sizeof buf, f)) {
        line++;
        size_t len = strlen(buf);
        if (len == sizeof buf - 1 && buf[len - 1] != '\n' && !feof(f)) { /* its tail would read as a line */
            fprintf(stderr, "warren: %s line %d: line too long (at most %zu bytes)\n", path, line, sizeof buf - 2);
            rc = -1;
            break;
        }
        char *hash = strchr(buf, '#');
        if (hash) *hash = 0;
        char *s = trim(buf);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "warren: %s line %d: expected 'key = value'\n", path, line);
            rc = -1;
            break;
        }
        *eq = 0;
        rc = set_key(path, line, trim(s), trim(eq + 1));
    }
    fclose(f);
    return rc;
}

/* Every row's default through its setter (a default that does not parse is
 * a bug, reported as such). */
static int key_defaults(void) {
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char what[300];
        snprintf(what, sizeof what, "%s (built-in default)", keys[i].key);
        if (keys[i].def && keys[i].set(what, keys[i].key, keys[i].def)) return -1;
    }
    return 0;
}

int config_load(int argc, char **argv) {
    bool print = false;
    defaults();
    if (key_defaults()) return -1;
    if (env()) return -1;
    const char *cfg = NULL;
    for (int i = 1; i < argc; i++) /* the file first, so flags override it */
        if (!strcmp(argv[i], "--config") && i + 1 < argc) cfg = argv[i + 1];
    if (cfg && load_file(cfg)) return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (!strcmp(a, "--print-config")) {
            print = true;
            continue;
        }
        bool takes = !strcmp(a, "--port") || !strcmp(a, "--tls-port") || !strcmp(a, "--bind") ||
                     !strcmp(a, "--data-dir") || !strcmp(a, "--threads") || !strcmp(a, "--config") ||
                     !strcmp(a, "--memory-limit");
        if (!takes) {
            fprintf(stderr, "warren: unknown option '%s' (see --help)\n", a);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "warren: option %s needs a value (see --help)\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--port")) {
            if (parse_int("--port", v, 0, 65535, &n)) return -1;
            config.port = (int)n;
        } else if (!strcmp(a, "--tls-port")) {
            if (parse_int("--tls-port", v, 1, 65535, &n)) return -1;
            config.tls_port = (int)n;
        } else if (!strcmp(a, "--bind")) {
            snprintf(config.bind, sizeof config.bind, "%s", v);
        } else if (!strcmp(a, "--data-dir")) {
            snprintf(config.data_dir, sizeof config.data_dir, "%s", v);
        } else if (!strcmp(a, "--memory-limit")) {
            if (parse_memory("--memory-limit", v, &config.memory_limit)) return -1;
        } else if (!strcmp(a, "--threads")) {
            if (parse_int("--threads", v, 1, 64, &n)) return -1;
            config.threads = (int)n;
        }
    }
    if (config.threads > 64) config.threads = 64;
    log_level = config.log_level;
    if (print) {
        config_print(stdout);
        return 1;
    }
    return 0;
}

void config_print(FILE *f) {
    fprintf(f, "# Warren %s effective configuration (defaults < environment < config file < flags)\n", WARREN_VERSION);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].print) keys[i].print(f);
    fprintf(f, "# flags only: --data-dir %s --threads %d\n", config.data_dir, config.threads);
}
