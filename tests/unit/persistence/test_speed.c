/* test_speed.c — recovery of 1M records of 1 KB: the time is printed (the
 * target is well under a second with the files in the page cache); only
 * correctness is asserted. Uses /dev/shm when present. */
#include <time.h>
#include "helpers.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    uint64_t n, bytes;
    wlog_pos last;
    int bad;
} counter;

static int count(void *ctx, wlog_pos pos, uint8_t type, const void *payload, size_t len) {
    counter *c = ctx;
    uint32_t id;
    memcpy(&id, payload, 4);
    c->bad += type != 7 || len != 1024 || id != c->n || pos <= c->last;
    c->last = pos;
    c->n++;
    c->bytes += len;
    return 0;
}

TestSuite(speed, .fini = t_leak_check);

Test(speed, recover_1m_records_of_1k, .timeout = 600) {
    char tmpl[] = "/dev/shm/wlog-speed-XXXXXX";
    char tmpl2[] = "/tmp/wlog-speed-XXXXXX";
    char *dir = access("/dev/shm", W_OK) == 0 ? mkdtemp(tmpl) : mkdtemp(tmpl2);
    cr_assert(dir);
    enum { N = 1000000 };
    wlog_opts o = {.segment_size = 0}; /* default 64 MiB */
    wlog *l = NULL;
    cr_assert_eq(wlog_open(dir, &o, NULL, NULL, &l), 0);
    uint8_t buf[1024];
    memset(buf, 0x5a, sizeof buf);
    double t0 = now();
    for (uint32_t i = 0; i < N; i++) {
        memcpy(buf, &i, 4);
        cr_assert_gt(wlog_append(l, 7, buf, sizeof buf), 0);
    }
    cr_assert_eq(wlog_sync(l), 0);
    double t1 = now();
    int segs = wlog_segment_count(l);
    wlog_close(&l);
    counter c = {0};
    double t2 = now();
    cr_assert_eq(wlog_open(dir, &o, count, &c, &l), 0);
    double t3 = now();
    cr_assert_eq(c.n, N);
    cr_assert_eq(c.bad, 0);
    cr_assert_eq(c.bytes, (uint64_t)N * 1024);
    printf("wlog speed (%s): appended+synced %d x 1 KB in %.3f s; recovery of %d segments in %.3f s (%.0f MB/s)\n",
           dir, N, t1 - t0, segs, t3 - t2, (double)N * 1033 / 1e6 / (t3 - t2));
    wlog_close(&l);
    t_rmrf(dir);
}
