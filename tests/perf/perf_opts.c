/* perf_opts.c — command line of warren-perf. See perf.h. */
#include "perf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: warren-perf [options]\n"
    "An AMQP 0-9-1 load generator (PerfTest / lavinmqperf style). Producers publish\n"
    "timestamped messages, consumers measure end-to-end latency. Prints one line per\n"
    "second and a summary (one JSON object with --json; the per-second lines then go\n"
    "to stderr).\n"
    "\n"
    "Broker:\n"
    "  --uri URI             amqp://user:pass@host:port/vhost (default amqp://guest:guest@127.0.0.1:5672/)\n"
    "  --host H, --port P    override host / port\n"
    "Topology:\n"
    "  --queues N            N queues warren-perf-0..N-1 (default 1)\n"
    "  --queue NAME          a single queue with this name\n"
    "  --durable             declare durable queues (and exchange)\n"
    "  --queue-arg K=V       queue argument; integers are sent as signed 64-bit, true/false\n"
    "                        as booleans, anything else as a string (repeatable)\n"
    "  --exchange-type T     direct|fanout|topic: declare exchange --exchange (default\n"
    "                        warren-perf.x), bind every queue with its name as key; without\n"
    "                        it producers use the default exchange\n"
    "  --exchange NAME       name of that exchange\n"
    "  --keep                do not delete the queues and exchange at the end\n"
    "Producers:\n"
    "  --producers N         publishing connections (default 1); producer i publishes to\n"
    "                        queue i mod N (routing key = queue name)\n"
    "  --size BYTES          message body size (default 16; the first 8 bytes carry the send time)\n"
    "  --persistent          delivery-mode 2\n"
    "  --confirm N           publisher confirms, at most N unconfirmed per producer\n"
    "  --rate R              publish at most R msgs/s per producer (default: as fast as possible)\n"
    "  --time SECONDS        publish for this long (default 10 unless --count)\n"
    "  --count N             publish N messages per producer, then stop\n"
    "  --batch-bytes N       bytes of pipelined publishes per write (default 131072)\n"
    "  --preload N           before consumers start, put N confirmed messages in each queue\n"
    "                        (reports the drain rate of that backlog)\n"
    "Consumers:\n"
    "  --consumers N         consuming connections (default 1); consumer i reads queue i mod N\n"
    "  --autoack             no-ack consume (default: manual acks)\n"
    "  --prefetch N          basic.qos prefetch-count (default 0 = unlimited)\n"
    "  --multi-ack N         ack every N deliveries with multiple=true (default 1)\n"
    "  --drain-timeout S     after publishing stops, wait up to S seconds for consumers to\n"
    "                        receive everything routed to them (default 10)\n"
    "Modes:\n"
    "  --sink                publish only, to amq.direct with a routing key bound to nothing\n"
    "                        (the broker drops each message): measures the publish path\n"
    "  --self-test           publish into an in-process TCP reader that parses frames and\n"
    "                        discards them (no broker): measures warren-perf's own ceiling\n"
    "  --idle-connections N  open N connections (channel 1 open, heartbeat off), print a\n"
    "                        JSON 'ready' line, hold them for --time seconds, close them\n"
    "Output:\n"
    "  --json                summary as one JSON object on stdout\n"
    "  --quiet               no per-second lines\n"
    "  --help                this text\n";

static void opts_defaults(perf_opts *o) {
    memset(o, 0, sizeof *o);
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    snprintf(o->user, sizeof o->user, "guest");
    snprintf(o->pass, sizeof o->pass, "guest");
    snprintf(o->vhost, sizeof o->vhost, "/");
    snprintf(o->exchange, sizeof o->exchange, "warren-perf.x");
    o->port = 5672;
    o->producers = o->consumers = o->queues = 1;
    o->size = 16;
    o->multi_ack = 1;
    o->drain_timeout = 10;
    o->batch_bytes = 131072;
}

/* Copy percent-decoded s[0..n) into out. */
static void opts_pct_decode(char *out, size_t cap, const char *s, size_t n) {
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++) {
        unsigned v;
        if (s[i] == '%' && i + 2 < n && sscanf(s + i + 1, "%2x", &v) == 1) {
            out[j++] = (char)v;
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = 0;
}

static int opts_uri(perf_opts *o, const char *uri) {
    const char *p = uri;
    if (!strncmp(p, "amqp://", 7)) p += 7;
    else {
        fprintf(stderr, "warren-perf: --uri must start with amqp://\n");
        return -1;
    }
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        opts_pct_decode(o->user, sizeof o->user, p, (size_t)((colon ? colon : at) - p));
        if (colon) opts_pct_decode(o->pass, sizeof o->pass, colon + 1, (size_t)(at - colon - 1));
        p = at + 1;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (colon) o->port = atoi(colon + 1);
    if ((colon ? colon : end) > p) opts_pct_decode(o->host, sizeof o->host, p, (size_t)((colon ? colon : end) - p));
    if (slash && slash[1]) opts_pct_decode(o->vhost, sizeof o->vhost, slash + 1, strlen(slash + 1));
    return 0;
}

static int opts_num(const char *name, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi) {
        fprintf(stderr, "warren-perf: bad value '%s' for %s\n", v, name);
        return -1;
    }
    *out = d;
    return 0;
}

/* Flags without a value. Returns 1 when a matched, 0 otherwise. */
static int opts_flag(perf_opts *o, const char *a) {
    struct { const char *name; bool *field; } flags[] = {
        {"--persistent", &o->persistent}, {"--durable", &o->durable}, {"--autoack", &o->autoack},
        {"--json", &o->json}, {"--quiet", &o->quiet}, {"--sink", &o->sink},
        {"--self-test", &o->self_test}, {"--keep", &o->keep},
    };
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        if (!strcmp(a, flags[i].name)) {
            *flags[i].field = true;
            return 1;
        }
    return 0;
}

/* Numeric options: name, bounds, where to store (long or double or int). */
static int opts_numeric(perf_opts *o, const char *a, const char *v) {
    struct { const char *name; double lo, hi; long *l; double *d; int *i; } nums[] = {
        {"--port", 1, 65535, NULL, NULL, &o->port},
        {"--producers", 0, 10000, NULL, NULL, &o->producers},
        {"--consumers", 0, 10000, NULL, NULL, &o->consumers},
        {"--queues", 1, 100000, NULL, NULL, &o->queues},
        {"--size", 0, 512 * 1024 * 1024, &o->size, NULL, NULL},
        {"--confirm", 0, 1e8, &o->confirm, NULL, NULL},
        {"--prefetch", 0, 65535, &o->prefetch, NULL, NULL},
        {"--multi-ack", 0, 1e9, &o->multi_ack, NULL, NULL},
        {"--rate", 0, 1e12, NULL, &o->rate, NULL},
        {"--time", 0, 1e7, NULL, &o->time_s, NULL},
        {"--count", 0, 1e15, &o->count, NULL, NULL},
        {"--drain-timeout", 0, 1e6, NULL, &o->drain_timeout, NULL},
        {"--preload", 0, 1e12, &o->preload, NULL, NULL},
        {"--idle-connections", 0, 1e6, &o->idle_conns, NULL, NULL},
        {"--batch-bytes", 1, 64 * 1024 * 1024, &o->batch_bytes, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        if (strcmp(a, nums[i].name)) continue;
        double d;
        if (opts_num(a, v, nums[i].lo, nums[i].hi, &d)) return -1;
        if (nums[i].l) *nums[i].l = (long)d;
        if (nums[i].d) *nums[i].d = d;
        if (nums[i].i) *nums[i].i = (int)d;
        return 1;
    }
    return 0;
}

/* Options with a string value. 1 matched, 0 not, -1 bad. */
static int opts_string(perf_opts *o, const char *a, const char *v) {
    if (!strcmp(a, "--uri")) return opts_uri(o, v) ? -1 : 1;
    if (!strcmp(a, "--host")) return snprintf(o->host, sizeof o->host, "%s", v), 1;
    if (!strcmp(a, "--queue")) return snprintf(o->queue, sizeof o->queue, "%s", v), 1;
    if (!strcmp(a, "--exchange")) return snprintf(o->exchange, sizeof o->exchange, "%s", v), 1;
    if (!strcmp(a, "--exchange-type")) {
        if (strcmp(v, "direct") && strcmp(v, "fanout") && strcmp(v, "topic")) {
            fprintf(stderr, "warren-perf: --exchange-type must be direct, fanout or topic\n");
            return -1;
        }
        return snprintf(o->exchange_type, sizeof o->exchange_type, "%s", v), 1;
    }
    if (!strcmp(a, "--queue-arg")) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || o->nqargs == PERF_MAX_QARGS) {
            fprintf(stderr, "warren-perf: --queue-arg wants KEY=VALUE (at most %d)\n", PERF_MAX_QARGS);
            return -1;
        }
        o->qarg_key[o->nqargs] = strndup(v, (size_t)(eq - v));
        o->qarg_val[o->nqargs++] = eq + 1;
        return 1;
    }
    return 0;
}

static int opts_check(perf_opts *o) {
    if (o->queue[0]) o->queues = 1;
    if (o->sink || o->self_test) o->consumers = 0;
    if (o->self_test && o->confirm) {
        fprintf(stderr, "warren-perf: --self-test has no broker to confirm publishes\n");
        return -1;
    }
    if (!o->time_s && !o->count) o->time_s = 10;
    return 0;
}

int perf_opts_parse(perf_opts *o, int argc, char **argv) {
    opts_defaults(o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (opts_flag(o, a)) continue;
        if (i + 1 >= argc) {
            fprintf(stderr, "warren-perf: unknown option or missing value: %s (see --help)\n", a);
            return -1;
        }
        int r = opts_numeric(o, a, argv[i + 1]);
        if (!r) r = opts_string(o, a, argv[i + 1]);
        if (r < 0) return -1;
        if (!r) {
            fprintf(stderr, "warren-perf: unknown option %s (see --help)\n", a);
            return -1;
        }
        i++;
    }
    return opts_check(o);
}

void perf_opts_queue_name(const perf_opts *o, int i, char *buf, size_t len) {
    if (o->queue[0]) snprintf(buf, len, "%s", o->queue);
    else snprintf(buf, len, "warren-perf-%d", i);
}
