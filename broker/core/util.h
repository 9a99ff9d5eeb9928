/* util.h — small helpers shared by the broker: allocation that aborts on
 * out-of-memory, monotonic time, logging. */
#ifndef WARREN_UTIL_H
#define WARREN_UTIL_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "amq/buf.h"

/* Allocate or abort: out of memory is not a recoverable condition here. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Copy of a byte slice as a NUL-terminated heap string. Caller frees. */
char *xstrndup_bytes(amq_bytes b);
/* strdup or abort. */
char *xstrdup(const char *s);
/* Owned copy of a slice (p malloc'd, may be NULL when len == 0). Free with free((void*)b.p). */
amq_bytes bytes_dup(amq_bytes b);

/* Memory held by messages, against the configured limit (bytes). Counted per
 * thread and folded into one atomic every 256 KiB, so it costs no shared
 * cache line per message. Any thread. */
void mem_account(int64_t delta);
int64_t mem_used(void);
/* Publishers must be blocked: memory over its limit, or the disk alarm on. */
bool mem_over_limit(void);
/* The disk free space alarm (diskmon.c sets it; any thread reads it). */
void disk_alarm_set(bool on);
bool disk_alarm_on(void);
void mem_set_limit(int64_t bytes);
/* The memory alarm alone (message memory over the watermark). */
bool mem_alarm_on(void);

/* The node's name as RabbitMQ tools and headers show it: $RABBITMQ_NODENAME
 * (an '@HOST' added if it has none, as RabbitMQ does), else rabbit@ and the
 * short host name. Computed once; any thread. */
const char *node_name(void);

/* Milliseconds on the monotonic clock. Any thread. */
uint64_t now_ms(void);
/* Wall-clock milliseconds (CLOCK_REALTIME): for times written to disk. */
uint64_t wall_ms(void);

/* Logging to stderr, one line each, prefixed with time and level. Any thread. */
enum { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
extern int log_level;
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                                                 \
    do {                                                                                                               \
        if (log_level >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__);                                                   \
    } while (0)
#endif
