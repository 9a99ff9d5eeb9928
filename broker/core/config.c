/* config.c — see config.h. */
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

static void defaults(void) {
    memset(&config, 0, sizeof config);
    config.port = 5672;
    snprintf(config.data_dir, sizeof config.data_dir, "warren-data");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    config.threads = n > 0 ? (int)n : 1;
    config.frame_max = 131072;
    config.channel_max = 2047;
    config.heartbeat = 60;
    config.handshake_timeout_ms = 10000;
    config.max_message_size = 128u << 20;
    config.consumer_timeout_ms = 1800000; /* RabbitMQ 3.10's default: 30 minutes */
    config.segment_size = 32u << 20;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    config.memory_limit = pages > 0 && psize > 0 ? (int64_t)((double)pages * (double)psize * 0.4) : (int64_t)1 << 32;
    snprintf(config.default_user, sizeof config.default_user, "guest");
    snprintf(config.default_pass, sizeof config.default_pass, "guest");
    snprintf(config.default_vhost, sizeof config.default_vhost, "/");
    snprintf(config.loopback_users, sizeof config.loopback_users, "guest");
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(config.cluster_name, sizeof config.cluster_name, "warren@%s", host);
    snprintf(config.product_name, sizeof config.product_name, "Warren");
    snprintf(config.product_version, sizeof config.product_version, "%s", WARREN_VERSION);
    config.log_level = LOG_INFO;
    config.ssl_depth = -1;
    config.ssl_handshake_timeout_ms = 5000; /* RabbitMQ's ssl_handshake_timeout */
    config.disk_free_limit = 50000000;      /* RabbitMQ's default: 50MB */
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
    static const struct { const char *unit; double mult; } units[] = {
        {"", 1}, {"k", 1024.0}, {"kib", 1024.0}, {"kb", 1e3}, {"m", 1048576.0}, {"mib", 1048576.0},
        {"mb", 1e6}, {"g", 1073741824.0}, {"gib", 1073741824.0}, {"gb", 1e9}, {"t", 1099511627776.0},
        {"tib", 1099511627776.0}, {"tb", 1e12}};
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
        fprintf(stderr, "warren: invalid value for %s: '%s' (expected an integer from %ld to %ld)\n",
                what, s, lo, hi);
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
    fprintf(stderr, "warren: invalid value for %s: '%s' (expected bytes, e.g. 536870912, 512MiB or 2GB, or a fraction of RAM like 0.4)\n",
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
        fprintf(stderr, "warren: invalid value for %s: '%.300s%s' (expected a non-empty string of at most %zu bytes, "
                        "no control characters)\n", what, v, n > 300 ? "..." : "", size - 1);
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
    if (pn && *pn && set_product("RABBITMQ_PRODUCT_NAME (environment)", config.product_name, sizeof config.product_name, pn))
        return -1;
    if (pv && *pv &&
        set_product("RABBITMQ_PRODUCT_VERSION (environment)", config.product_version, sizeof config.product_version, pv))
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

/* TLS keys (rabbitmq.conf names). 1 = handled, 0 = not a TLS key, -1 = bad value. */
static int set_tls_key(const char *what, const char *k, const char *v) {
    long n;
    if (!strcmp(k, "listeners.ssl.default")) {
        const char *colon = strrchr(v, ':');
        config.tls_bind[0] = 0;
        if (colon) { /* ADDR:PORT, [v6addr]:PORT */
            const char *a = v, *e = colon;
            if (*a == '[' && e > a && e[-1] == ']') a++, e--;
            snprintf(config.tls_bind, sizeof config.tls_bind, "%.*s", (int)(e - a), a);
            v = colon + 1;
        }
        if (parse_int(what, v, 1, 65535, &n)) return -1;
        config.tls_port = (int)n;
    } else if (!strcmp(k, "ssl_options.cacertfile")) {
        snprintf(config.ssl_cacertfile, sizeof config.ssl_cacertfile, "%s", v);
    } else if (!strcmp(k, "ssl_options.certfile")) {
        snprintf(config.ssl_certfile, sizeof config.ssl_certfile, "%s", v);
    } else if (!strcmp(k, "ssl_options.keyfile")) {
        snprintf(config.ssl_keyfile, sizeof config.ssl_keyfile, "%s", v);
    } else if (!strcmp(k, "ssl_options.verify")) {
        if (strcmp(v, "verify_peer") && strcmp(v, "verify_none")) return bad_value(what, v, "verify_peer or verify_none");
        config.ssl_verify_peer = !strcmp(v, "verify_peer");
    } else if (!strcmp(k, "ssl_options.fail_if_no_peer_cert")) {
        if (strcmp(v, "true") && strcmp(v, "false")) return bad_value(what, v, "true or false");
        config.ssl_fail_if_no_peer_cert = !strcmp(v, "true");
    } else if (!strcmp(k, "ssl_options.depth")) {
        if (parse_int(what, v, 0, 100, &n)) return -1;
        config.ssl_depth = (int)n;
    } else if (!strncmp(k, "ssl_options.versions.", 21)) {
        if (!strcmp(v, "tlsv1.2")) config.ssl_versions |= 1u << 2;
        else if (!strcmp(v, "tlsv1.3")) config.ssl_versions |= 1u << 3;
        else return bad_value(what, v, "tlsv1.2 or tlsv1.3; Warren supports no older TLS");
    } else if (!strcmp(k, "ssl_cert_login_from")) {
        if (strcmp(v, "common_name") && strcmp(v, "distinguished_name"))
            return bad_value(what, v, "distinguished_name or common_name");
        config.ssl_cert_login_cn = !strcmp(v, "common_name");
    } else if (!strcmp(k, "ssl_handshake_timeout")) {
        if (parse_int(what, v, 100, 3600000, &n)) return -1;
        config.ssl_handshake_timeout_ms = (uint32_t)n;
    } else {
        return 0;
    }
    return 1;
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

static int set_key(const char *file, int line, const char *k, const char *v) {
    long n;
    char what[300];
    snprintf(what, sizeof what, "%s (%s line %d)", k, file, line);
    if (!strcmp(k, "listeners.tcp.default")) {
        const char *colon = strrchr(v, ':');
        if (colon) {
            snprintf(config.bind, sizeof config.bind, "%.*s", (int)(colon - v), v);
            v = colon + 1;
        }
        if (parse_int(what, v, 0, 65535, &n)) return -1;
        config.port = (int)n;
    } else if (!strcmp(k, "default_user")) {
        snprintf(config.default_user, sizeof config.default_user, "%s", v);
    } else if (!strcmp(k, "product.name")) {
        if (set_product(what, config.product_name, sizeof config.product_name, v)) return -1;
    } else if (!strcmp(k, "product.version")) {
        if (set_product(what, config.product_version, sizeof config.product_version, v)) return -1;
    } else if (!strcmp(k, "default_pass")) {
        snprintf(config.default_pass, sizeof config.default_pass, "%s", v);
    } else if (!strcmp(k, "default_vhost")) {
        snprintf(config.default_vhost, sizeof config.default_vhost, "%s", v);
    } else if (!strncmp(k, "loopback_users.", 15) && k[15]) {
        if (strcmp(v, "true") && strcmp(v, "false")) {
            fprintf(stderr, "warren: invalid value for %s: '%s' (expected true or false)\n", what, v);
            return -1;
        }
        loopback_set(k + 15, !strcmp(v, "true"));
    } else if (!strcmp(k, "loopback_users")) {
        if (!strcmp(v, "none")) config.loopback_users[0] = 0;
        else {
            fprintf(stderr, "warren: invalid value for %s: '%s' (expected none)\n", what, v);
            return -1;
        }
    } else if (!strcmp(k, "heartbeat")) {
        if (parse_int(what, v, 0, 65535, &n)) return -1;
        config.heartbeat = (uint16_t)n;
    } else if (!strcmp(k, "frame_max")) {
        if (parse_int(what, v, 4096, 1 << 24, &n)) return -1;
        config.frame_max = (uint32_t)n;
    } else if (!strcmp(k, "channel_max")) {
        if (parse_int(what, v, 1, 65535, &n)) return -1;
        config.channel_max = (uint16_t)n;
    } else if (!strcmp(k, "handshake_timeout")) {
        if (parse_int(what, v, 100, 3600000, &n)) return -1;
        config.handshake_timeout_ms = (uint32_t)n;
    } else if (!strcmp(k, "log.segment_size")) { /* Warren's own: the durable log's segment files */
        int64_t b;
        if (parse_bytes(v, &b) || b < (1 << 20) || b > (1 << 30))
            return bad_value(what, v, "bytes between 1MiB and 1GiB, e.g. 32MiB");
        config.segment_size = (uint32_t)b;
    } else if (!strcmp(k, "log.verify_on_start")) { /* Warren's own */
        if (strcmp(v, "true") && strcmp(v, "false")) return bad_value(what, v, "true or false");
        config.log_verify_on_start = !strcmp(v, "true");
    } else if (!strcmp(k, "consumer_timeout")) {
        if (!strcmp(v, "false")) {
            config.consumer_timeout_ms = 0;
        } else {
            if (parse_int(what, v, 0, 0x7fffffffffffffffL, &n)) return -1;
            config.consumer_timeout_ms = (uint64_t)n;
        }
    } else if (!strcmp(k, "max_message_size")) {
        if (parse_int(what, v, 1, 536870912, &n)) return -1;
        config.max_message_size = (uint64_t)n;
    } else if (!strcmp(k, "vm_memory_high_watermark.absolute")) {
        int64_t b;
        if (parse_bytes(v, &b) || b <= 0)
            return bad_value(what, v, "bytes, e.g. 1073741824, 1024MiB or 2GB");
        config.memory_limit = b;
    } else if (!strcmp(k, "vm_memory_high_watermark.relative") || !strcmp(k, "vm_memory_high_watermark")) {
        double f;
        if (parse_fraction(what, v, 0.0001, 1.0, &f)) return -1;
        config.memory_limit = (int64_t)(ram_bytes() * f);
    } else if (!strcmp(k, "disk_free_limit.absolute")) {
        int64_t b;
        if (parse_bytes(v, &b)) return bad_value(what, v, "bytes, e.g. 50000000, 50MB or 2GB");
        config.disk_free_limit = b;
    } else if (!strcmp(k, "disk_free_limit.relative")) {
        double f;
        if (parse_fraction(what, v, 0.0, 100.0, &f)) return -1;
        config.disk_free_limit = (int64_t)(ram_bytes() * f); /* RabbitMQ: a multiple of total RAM */
    } else if (!strcmp(k, "connection_max")) {
        if (!strcmp(v, "infinity")) config.connection_max = 0;
        else {
            if (parse_int(what, v, 1, 10000000, &n)) return -1;
            config.connection_max = (uint32_t)n;
        }
    } else if (!strcmp(k, "load_definitions")) {
        if (!*v) {
            fprintf(stderr, "warren: invalid value for %s: expected a file name\n", what);
            return -1;
        }
        snprintf(config.load_definitions, sizeof config.load_definitions, "%s", v);
    } else if (!strcmp(k, "log.level")) {
        if (!strcmp(v, "debug")) config.log_level = LOG_DEBUG;
        else if (!strcmp(v, "info")) config.log_level = LOG_INFO;
        else if (!strcmp(v, "warning")) config.log_level = LOG_WARN;
        else if (!strcmp(v, "error")) config.log_level = LOG_ERR;
        else {
            fprintf(stderr, "warren: invalid value for %s: '%s' (expected debug, info, warning or error)\n", what, v);
            return -1;
        }
    } else if ((n = set_tls_key(what, k, v)) != 0) {
        if (n < 0) return -1;
    } else {
        fprintf(stderr, "warren: warning: unknown config key '%s' at %s line %d (ignored)\n", k, file, line);
    }
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

int config_load(int argc, char **argv) {
    bool print = false;
    defaults();
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
    static const char *const levels[] = {"error", "warning", "info", "debug"}; /* LOG_ERR .. LOG_DEBUG */
    fprintf(f, "# Warren %s effective configuration (defaults < environment < config file < flags)\n", WARREN_VERSION);
    fprintf(f, "listeners.tcp.default = %s%s%d\n", config.bind, config.bind[0] ? ":" : "", config.port);
    if (config.tls_port)
        fprintf(f, "listeners.ssl.default = %s%s%d\n", config.tls_bind, config.tls_bind[0] ? ":" : "", config.tls_port);
    else
        fprintf(f, "# listeners.ssl.default = (none: no TLS listener)\n");
    fprintf(f, "%sssl_options.cacertfile = %s\n", config.ssl_cacertfile[0] ? "" : "# ", config.ssl_cacertfile);
    fprintf(f, "%sssl_options.certfile = %s\n", config.ssl_certfile[0] ? "" : "# ", config.ssl_certfile);
    fprintf(f, "%sssl_options.keyfile = %s\n", config.ssl_keyfile[0] ? "" : "# ", config.ssl_keyfile);
    fprintf(f, "ssl_options.verify = %s\n", config.ssl_verify_peer ? "verify_peer" : "verify_none");
    fprintf(f, "ssl_options.fail_if_no_peer_cert = %s\n", config.ssl_fail_if_no_peer_cert ? "true" : "false");
    if (config.ssl_depth >= 0) fprintf(f, "ssl_options.depth = %d\n", config.ssl_depth);
    int nv = 1;
    if (!config.ssl_versions || (config.ssl_versions & (1u << 3))) fprintf(f, "ssl_options.versions.%d = tlsv1.3\n", nv++);
    if (!config.ssl_versions || (config.ssl_versions & (1u << 2))) fprintf(f, "ssl_options.versions.%d = tlsv1.2\n", nv++);
    fprintf(f, "ssl_cert_login_from = %s\n", config.ssl_cert_login_cn ? "common_name" : "distinguished_name");
    fprintf(f, "ssl_handshake_timeout = %u\n", config.ssl_handshake_timeout_ms);
    fprintf(f, "default_user = %s\n", config.default_user);
    fprintf(f, "default_pass = ********\n");
    fprintf(f, "default_vhost = %s\n", config.default_vhost);
    fprintf(f, "loopback_users = none\n"); /* then the list, so the output reads back the same */
    for (const char *p = config.loopback_users; *p;) {
        const char *e = strchr(p, ',');
        int len = e ? (int)(e - p) : (int)strlen(p);
        fprintf(f, "loopback_users.%.*s = true\n", len, p);
        if (!e) break;
        p = e + 1;
    }
    fprintf(f, "product.name = %s\n", config.product_name);
    fprintf(f, "product.version = %s\n", config.product_version);
    fprintf(f, "heartbeat = %u\n", config.heartbeat);
    fprintf(f, "frame_max = %u\n", config.frame_max);
    fprintf(f, "channel_max = %u\n", config.channel_max);
    fprintf(f, "max_message_size = %llu\n", (unsigned long long)config.max_message_size);
    if (config.consumer_timeout_ms) fprintf(f, "consumer_timeout = %llu\n", (unsigned long long)config.consumer_timeout_ms);
    else fprintf(f, "consumer_timeout = false\n");
    fprintf(f, "log.segment_size = %u\n", config.segment_size);
    fprintf(f, "log.verify_on_start = %s\n", config.log_verify_on_start ? "true" : "false");
    fprintf(f, "handshake_timeout = %u\n", config.handshake_timeout_ms);
    if (config.connection_max) fprintf(f, "connection_max = %u\n", config.connection_max);
    else fprintf(f, "connection_max = infinity\n");
    fprintf(f, "vm_memory_high_watermark.absolute = %lld\n", (long long)config.memory_limit);
    fprintf(f, "disk_free_limit.absolute = %lld\n", (long long)config.disk_free_limit);
    fprintf(f, "log.level = %s\n", levels[config.log_level >= 0 && config.log_level < 4 ? config.log_level : 1]);
    if (config.load_definitions[0]) fprintf(f, "load_definitions = %s\n", config.load_definitions);
    else fprintf(f, "# load_definitions = (none)\n");
    fprintf(f, "# flags only: --data-dir %s --threads %d\n", config.data_dir, config.threads);
}
