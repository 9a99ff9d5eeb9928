/* util.c — allocation that aborts on out-of-memory, monotonic and wall-clock
 * time, logging, the memory account and its limit, the disk alarm flag, and
 * werr_set (err.h). */
#include "util.h"

#include <stdarg.h>

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

int log_level = LOG_INFO;

static _Atomic int64_t mem_total;
static int64_t mem_limit = INT64_MAX;
static __thread int64_t mem_local;

void mem_account(int64_t delta) {
    mem_local += delta;
    if (mem_local > (256 << 10) || mem_local < -(256 << 10)) {
        atomic_fetch_add_explicit(&mem_total, mem_local, memory_order_relaxed);
        mem_local = 0;
    }
}

int64_t mem_used(void) { return atomic_load_explicit(&mem_total, memory_order_relaxed); }
static atomic_bool disk_alarm;
bool mem_over_limit(void) { return mem_used() > mem_limit || atomic_load_explicit(&disk_alarm, memory_order_relaxed); }
void disk_alarm_set(bool on) { atomic_store(&disk_alarm, on); }
bool disk_alarm_on(void) { return atomic_load_explicit(&disk_alarm, memory_order_relaxed); }
void mem_set_limit(int64_t bytes) { mem_limit = bytes > 0 ? bytes : INT64_MAX; }
bool mem_alarm_on(void) { return mem_used() > mem_limit; }

static char node[300];
static pthread_once_t node_once = PTHREAD_ONCE_INIT;

static void node_init(void) {
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    char *dot = strchr(host, '.');
    if (dot) *dot = 0; /* short names, as RabbitMQ's default */
    const char *env = getenv("RABBITMQ_NODENAME");
    if (env && *env && strchr(env, '@')) snprintf(node, sizeof node, "%s", env);
    else if (env && *env) snprintf(node, sizeof node, "%s@%s", env, host);
    else snprintf(node, sizeof node, "rabbit@%s", host);
}

const char *node_name(void) {
    pthread_once(&node_once, node_init);
    return node;
}

static void oom(size_t n) {
    fprintf(stderr, "warren: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrndup_bytes(amq_bytes b) {
    char *s = xmalloc(b.len + 1);
    if (b.len) memcpy(s, b.p, b.len);
    s[b.len] = 0;
    return s;
}

amq_bytes bytes_dup(amq_bytes b) {
    amq_bytes r = {NULL, 0};
    if (b.len) {
        uint8_t *p = xmalloc(b.len);
        memcpy(p, b.p, b.len);
        r.p = p;
        r.len = b.len;
    }
    return r;
}

uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void log_msg(int level, const char *fmt, ...) {
    if (level > log_level) return;
    static const char *names[] = {"error", "warning", "info", "debug"};
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02d %02d:%02d:%02d.%03ld [%s] ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len++] = '\n';
    fwrite(line, 1, len, stderr); /* one write per line: lines from threads do not interleave */
}

char *xstrdup(const char *s) {
    size_t n = strlen(s);
    char *p = xmalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

int werr_set(werr *e, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    e->code = code;
    return code;
}
