/* helpers.h — shared by the persistence unit tests: temp dirs, a replay
 * collector, a counting / fault-injecting wlog_io table, log capture and fd
 * counting. Criterion runs each test in its own process, so globals here are
 * per test. */
#ifndef WLOG_TEST_HELPERS_H
#define WLOG_TEST_HELPERS_H
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "wlog/wlog.h"

/* ---- temp directories ---- */
static inline char *t_mkdtemp(void) {
    char tmpl[] = "/tmp/wlog-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    cr_assert(d, "mkdtemp: %s", strerror(errno));
    return strdup(d);
}

static inline void t_rmrf(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[8400];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Files in dir whose name ends with suffix. */
static inline int t_count_files(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        n += l > s && strcmp(e->d_name + l - s, suffix) == 0;
    }
    if (d)
        closedir(d);
    return n;
}

static inline void t_seg_path(char *out, size_t cap, const char *dir, uint32_t num) {
    snprintf(out, cap, "%s/%020u.seg", dir, num);
}

static inline int t_count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

/* ---- file surgery ---- */
static inline void t_pwrite(const char *path, const void *buf, size_t n, off_t off) {
    int fd = open(path, O_WRONLY);
    cr_assert(fd >= 0, "open %s", path);
    cr_assert_eq(pwrite(fd, buf, n, off), (ssize_t)n);
    close(fd);
}
static inline void t_truncate(const char *path, off_t len) { cr_assert_eq(truncate(path, len), 0); }
static inline off_t t_size(const char *path) {
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    return st.st_size;
}

/* ---- deterministic payloads ---- */
static inline void t_payload(uint8_t *buf, size_t len, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
}

/* ---- replay collector ---- */
typedef struct {
    wlog_pos pos;
    uint8_t type;
    size_t len;
    uint32_t crc;
    uint8_t first[8];
} t_rec;

typedef struct {
    t_rec *v;
    size_t n, cap;
    int stop_after; /* >0: return -42 after this many */
} t_replay;

static inline int t_collect(void *ctx, wlog_pos pos, uint8_t type, const void *payload, size_t len) {
    t_replay *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        cr_assert(r->v);
    }
    t_rec *e = &r->v[r->n++];
    memset(e, 0, sizeof *e);
    e->pos = pos;
    e->type = type;
    e->len = len;
    e->crc = wlog_crc32c(0, payload, len);
    memcpy(e->first, payload, len < 8 ? len : 8);
    if (r->n > 1)
        cr_assert_gt(pos, r->v[r->n - 2].pos, "replay out of order");
    if (r->stop_after && (int)r->n >= r->stop_after)
        return -42;
    return 0;
}

static inline void t_replay_free(t_replay *r) {
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* ---- the compaction tests' record scheme: type 1 "message" starts with
 * u16 refs (its summary is the first 6 bytes); every other type is summarised
 * whole and holds no reference ---- */
static inline size_t t_summarize(void *ctx, uint8_t type, const void *head, size_t headlen, size_t len, uint32_t *refs) {
    (void)ctx;
    const uint8_t *p = head;
    *refs = 0;
    if (type == 1 && headlen >= 2) {
        *refs = p[0] | (uint32_t)p[1] << 8;
        return 6;
    }
    return len;
}

/* ---- log capture ---- */
static char t_logbuf[1 << 16];
static size_t t_loglen;
static inline void t_log(void *ctx, int level, const char *msg) {
    (void)ctx;
    int n = snprintf(t_logbuf + t_loglen, sizeof t_logbuf - t_loglen, "[%d] %s\n", level, msg);
    if (n > 0 && t_loglen + (size_t)n < sizeof t_logbuf)
        t_loglen += (size_t)n;
}
static inline void t_log_reset(void) {
    t_loglen = 0;
    t_logbuf[0] = 0;
}

/* ---- counting / fault-injecting io ---- */
static atomic_int t_pwrites, t_fdatasyncs, t_fallocs, t_opens, t_closes;
static int t_fail_pwrite_at;    /* fail the Nth pwrite from now (1-based), 0 none */
static int t_fail_sync_at;      /* fail the Nth fdatasync from now, 0 none */
static int t_fail_pwrite_count; /* how many consecutive pwrites fail */
static int t_fail_errno = ENOSPC;
static bool t_partial;          /* failing pwrite first writes half the bytes */
static bool t_no_fallocate;     /* fallocate returns EOPNOTSUPP */

static inline ssize_t t_io_pwrite(int fd, const void *buf, size_t n, off_t off) {
    int k = atomic_fetch_add(&t_pwrites, 1) + 1;
    if (t_fail_pwrite_at && k >= t_fail_pwrite_at && k < t_fail_pwrite_at + (t_fail_pwrite_count ? t_fail_pwrite_count : 1)) {
        if (t_partial && n > 1)
            (void)!pwrite(fd, buf, n / 2, off);
        errno = t_fail_errno;
        return -1;
    }
    return pwrite(fd, buf, n, off);
}
static inline int t_io_fdatasync(int fd) {
    int k = atomic_fetch_add(&t_fdatasyncs, 1) + 1;
    if (t_fail_sync_at && k == t_fail_sync_at) {
        errno = t_fail_errno;
        return -1;
    }
    return fdatasync(fd);
}
static inline int t_io_fallocate(int fd, off_t off, off_t len) {
    atomic_fetch_add(&t_fallocs, 1);
    if (t_no_fallocate) {
        errno = EOPNOTSUPP;
        return -1;
    }
    return wlog_io_libc.fallocate(fd, off, len);
}
static inline int t_io_open(const char *p, int flags, mode_t mode) {
    atomic_fetch_add(&t_opens, 1);
    return open(p, flags, mode);
}
static inline int t_io_close(int fd) {
    atomic_fetch_add(&t_closes, 1);
    return close(fd);
}

static inline wlog_io t_io(void) {
    wlog_io io = wlog_io_libc;
    io.pwrite = t_io_pwrite;
    io.fdatasync = t_io_fdatasync;
    io.fallocate = t_io_fallocate;
    io.open = t_io_open;
    io.close = t_io_close;
    return io;
}

/* Open with the test log hook and optional io / segment size. */
static inline wlog *t_open(const char *dir, uint32_t segsize, const wlog_io *io, t_replay *r) {
    wlog_opts o = {.segment_size = segsize, .io = io, .log = t_log};
    wlog *l = NULL;
    int rc = wlog_open(dir, &o, r ? t_collect : NULL, r, &l);
    cr_assert_eq(rc, 0, "wlog_open: %s", wlog_strerror(rc));
    cr_assert(l);
    return l;
}

/* Appends record i (type i % 251, len lens(i)) with a deterministic payload. */
static inline size_t t_len_of(uint32_t i) { return (i * 37u) % 300u; }
static inline wlog_pos t_append_i(wlog *l, uint32_t i) {
    uint8_t buf[512];
    size_t len = t_len_of(i);
    t_payload(buf, len, i);
    wlog_pos p = wlog_append(l, (uint8_t)(i % 251), buf, len);
    cr_assert_gt(p, 0);
    return p;
}
static inline void t_check_i(const t_rec *e, uint32_t i) {
    uint8_t buf[512];
    size_t len = t_len_of(i);
    t_payload(buf, len, i);
    cr_assert_eq(e->type, (uint8_t)(i % 251), "record %u type", i);
    cr_assert_eq(e->len, len, "record %u len", i);
    cr_assert_eq(e->crc, wlog_crc32c(0, buf, len), "record %u payload", i);
}
/* Criterion runs each test in a child process that exits without
 * LeakSanitizer's exit-time check, so every suite checks in its .fini. */
#if defined(__SANITIZE_ADDRESS__)
#define WLOG_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WLOG_TEST_ASAN 1
#endif
#endif
#ifdef WLOG_TEST_ASAN
#include <sanitizer/lsan_interface.h>
__attribute__((unused)) static void t_leak_check(void) {
    if (__lsan_do_recoverable_leak_check())
        abort();
}
#else
__attribute__((unused)) static void t_leak_check(void) {}
#endif
#endif
