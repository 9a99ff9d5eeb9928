/* test_log.c — the running log: segment roll-over, wlog_read from memory and
 * disk, liveness and reclaim, group commit under many threads, fd leaks. */
#include <pthread.h>
#include "helpers.h"

static char *dir;
static void setup(void) {
    dir = t_mkdtemp();
    t_log_reset();
}
static void teardown(void) {
    t_rmrf(dir);
    free(dir);
    t_leak_check();
}
TestSuite(log, .init = setup, .fini = teardown);

Test(log, roll_over_positions_and_replay_order) {
    enum { N = 2000 };
    wlog *l = t_open(dir, 4096, NULL, NULL);
    static wlog_pos pos[N];
    for (uint32_t i = 0; i < N; i++) {
        pos[i] = t_append_i(l, i);
        if (i)
            cr_assert_gt(pos[i], pos[i - 1]);
        cr_assert_geq(WLOG_OFF(pos[i]), WLOG_HEADER_SIZE);
        cr_assert_leq(WLOG_OFF(pos[i]) + WLOG_RECORD_OVERHEAD + t_len_of(i), 4096u, "record fits its segment");
    }
    cr_assert_eq(wlog_sync(l), 0);
    cr_assert_eq(wlog_durable(l), wlog_tail(l));
    int segs = wlog_segment_count(l);
    cr_assert_eq(segs, (int)WLOG_SEG(pos[N - 1]));
    cr_assert_eq(t_count_files(dir, ".seg"), segs);
    cr_assert_eq(wlog_append(l, 1, NULL, 4096 - 41 + 1), 0, "too big for a segment");
    uint8_t *big = calloc(1, 4096);
    wlog_pos bp = wlog_append(l, 1, big, 4096 - 41);
    cr_assert_gt(bp, 0, "exactly a segment's worth fits");
    cr_assert_eq(WLOG_OFF(bp), WLOG_HEADER_SIZE);
    free(big);
    wlog_close(&l);
    t_replay r = {0};
    l = t_open(dir, 4096, NULL, &r);
    cr_assert_eq(r.n, N + 1);
    for (uint32_t i = 0; i < N; i++) {
        cr_assert_eq(r.v[i].pos, pos[i]);
        t_check_i(&r.v[i], i);
    }
    cr_assert_eq(r.v[N].len, 4096 - 41);
    wlog_close(&l);
    t_replay_free(&r);
}

Test(log, read_written_and_unwritten) {
    wlog *l = t_open(dir, 4096, NULL, NULL);
    enum { N = 300 };
    wlog_pos pos[N];
    for (uint32_t i = 0; i < N; i++)
        pos[i] = t_append_i(l, i);
    /* some are surely still in memory; all must read back either way */
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < N; i++) {
            uint8_t buf[512], want[512], type = 0;
            size_t len = 0;
            cr_assert_eq(wlog_read(l, pos[i], &type, buf, sizeof buf, &len), 0, "record %u pass %d", i, pass);
            t_payload(want, t_len_of(i), i);
            cr_assert_eq(len, t_len_of(i));
            cr_assert_eq(type, (uint8_t)(i % 251));
            cr_assert(memcmp(buf, want, len) == 0);
            if (len > 4) { /* short buffer: truncated copy, full length */
                uint8_t small[4];
                cr_assert_eq(wlog_read(l, pos[i], &type, small, 4, &len), 0);
                cr_assert_eq(len, t_len_of(i));
                cr_assert(memcmp(small, want, 4) == 0);
            }
        }
        cr_assert_eq(wlog_sync(l), 0);
    }
    uint8_t b[8];
    size_t len;
    uint8_t type;
    cr_assert_eq(wlog_read(l, wlog_tail(l), &type, b, 8, &len), WLOG_ENOENT);
    cr_assert_eq(wlog_read(l, WLOG_POS(9999, 32), &type, b, 8, &len), WLOG_ENOENT);
    cr_assert_eq(wlog_read(l, pos[5] + 1, &type, b, 8, &len), WLOG_ECORRUPT, "not a record start");
    wlog_close(&l);
}

Test(log, reclaim_dead_segments) {
    wlog *l = t_open(dir, 4096, NULL, NULL);
    enum { N = 1500 };
    static wlog_pos pos[N];
    for (uint32_t i = 0; i < N; i++) {
        pos[i] = t_append_i(l, i);
        wlog_live(l, pos[i], +1);
    }
    cr_assert_eq(wlog_sync(l), 0);
    int segs = wlog_segment_count(l);
    cr_assert_gt(segs, 10);
    cr_assert_eq(wlog_reclaim(l), 0, "everything live");
    /* kill the first half: their segments go, except one shared with the live half */
    for (uint32_t i = 0; i < N / 2; i++)
        wlog_live(l, pos[i], -1);
    t_append_i(l, N); /* a sync pass runs reclaim too */
    cr_assert_eq(wlog_sync(l), 0);
    wlog_reclaim(l);
    int expect = segs - (int)(WLOG_SEG(pos[N / 2]) - WLOG_SEG(pos[0]));
    cr_assert_eq(wlog_segment_count(l), expect, "%d vs %d", wlog_segment_count(l), expect);
    cr_assert_eq(t_count_files(dir, ".seg"), expect);
    uint8_t b[512], type;
    size_t len;
    cr_assert_eq(wlog_read(l, pos[0], &type, b, sizeof b, &len), WLOG_ENOENT, "deleted");
    cr_assert_eq(wlog_read(l, pos[N - 1], &type, b, sizeof b, &len), 0);
    for (uint32_t i = N / 2; i < N; i++)
        wlog_live(l, pos[i], -1);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_reclaim(l);
    cr_assert_leq(wlog_segment_count(l), 2);
    cr_assert_geq(wlog_segment_count(l), 1, "head never deleted");
    cr_assert_eq(t_count_files(dir, ".seg"), wlog_segment_count(l));
    wlog_pos p = t_append_i(l, 7);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_close(&l);
    t_replay r = {0};
    l = t_open(dir, 4096, NULL, &r);
    cr_assert_geq(r.n, 1);
    cr_assert_eq(r.v[r.n - 1].pos, p);
    wlog_close(&l);
    t_replay_free(&r);
}

Test(log, syncer_reclaims_after_first_reclaim_call_only) {
    wlog *l = t_open(dir, 4096, NULL, NULL);
    for (uint32_t i = 0; i < 500; i++)
        t_append_i(l, i);
    cr_assert_eq(wlog_sync(l), 0);
    int segs = wlog_segment_count(l);
    t_append_i(l, 1);
    cr_assert_eq(wlog_sync(l), 0);
    cr_assert_geq(wlog_segment_count(l), segs, "not armed: nothing deleted");
    cr_assert_gt(wlog_reclaim(l), 0);
    /* armed: a segment dying later is deleted by the syncer without a call */
    wlog_pos keep[300];
    uint32_t k = 0;
    while (k < 300) {
        keep[k] = wlog_append_live(l, 3, "abcdefgh", 8, 1);
        if (k && WLOG_SEG(keep[k]) != WLOG_SEG(keep[0]))
            break;
        k++;
    }
    cr_assert_eq(wlog_sync(l), 0);
    int before = wlog_segment_count(l);
    for (uint32_t i = 0; i < k; i++)
        wlog_live(l, keep[i], -1);
    t_append_i(l, 2);
    cr_assert_eq(wlog_sync(l), 0);
    for (int i = 0; i < 200 && wlog_segment_count(l) >= before; i++)
        usleep(5000);
    cr_assert_lt(wlog_segment_count(l), before);
    wlog_close(&l);
}

/* ---- group commit ---- */
static atomic_ullong durable_seen;
static atomic_int durable_calls, monotonic_errors;
static void on_durable(void *ctx, wlog_pos d) {
    (void)ctx;
    if (d <= atomic_load(&durable_seen))
        atomic_fetch_add(&monotonic_errors, 1);
    atomic_store(&durable_seen, d);
    atomic_fetch_add(&durable_calls, 1);
}

typedef struct {
    wlog *l;
    int id;
    wlog_pos max;
} worker_arg;

#define THREADS 8
#define PER_THREAD 5000
static void *appender(void *p) {
    worker_arg *a = p;
    for (int i = 0; i < PER_THREAD; i++) {
        uint32_t v[4] = {(uint32_t)a->id, (uint32_t)i, 0xabcdef, 42};
        wlog_pos pos = wlog_append(a->l, (uint8_t)a->id, v, sizeof v);
        cr_assert_gt(pos, 0);
        if (pos > a->max)
            a->max = pos;
    }
    return NULL;
}

Test(log, group_commit_many_threads) {
    wlog_io io = t_io();
    wlog_opts o = {.segment_size = 1 << 20, .io = &io, .on_durable = on_durable, .log = t_log};
    wlog *l = NULL;
    cr_assert_eq(wlog_open(dir, &o, NULL, NULL, &l), 0);
    int syncs0 = atomic_load(&t_fdatasyncs);
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){.l = l, .id = i};
        pthread_create(&th[i], NULL, appender, &args[i]);
    }
    wlog_pos max = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (args[i].max > max)
            max = args[i].max;
    }
    cr_assert_eq(wlog_sync(l), 0);
    cr_assert_gt(wlog_durable(l), max, "every position durable");
    cr_assert_eq(atomic_load(&durable_seen), wlog_durable(l));
    cr_assert_eq(atomic_load(&monotonic_errors), 0);
    int syncs = atomic_load(&t_fdatasyncs) - syncs0;
    printf("group commit: %d appends, %d fdatasync, %d on_durable\n", THREADS * PER_THREAD, syncs,
           atomic_load(&durable_calls));
    cr_assert_lt(syncs, THREADS * PER_THREAD / 10, "%d syncs", syncs);
    wlog_close(&l);
    t_replay r = {0};
    l = t_open(dir, 1 << 20, NULL, &r);
    cr_assert_eq(r.n, THREADS * PER_THREAD);
    int next[THREADS] = {0};
    for (size_t i = 0; i < r.n; i++) { /* each thread's records in its own order */
        uint32_t v[2];
        memcpy(v, r.v[i].first, 8);
        cr_assert_lt(v[0], THREADS);
        cr_assert_eq(v[1], (uint32_t)next[v[0]]++);
    }
    wlog_close(&l);
    t_replay_free(&r);
}

Test(log, idle_sync_is_prompt_and_sync_on_empty_returns) {
    wlog *l = t_open(dir, 1 << 20, NULL, NULL);
    cr_assert_eq(wlog_sync(l), 0);
    for (int i = 0; i < 50; i++) {
        wlog_pos p = t_append_i(l, (uint32_t)i);
        for (int spin = 0; spin < 2000 && wlog_durable(l) <= p; spin++)
            usleep(500);
        cr_assert_gt(wlog_durable(l), p, "durable without wlog_sync (no timer)");
    }
    wlog_close(&l);
    wlog_close(&l); /* NULL-safe */
    wlog_close(NULL);
}

Test(log, no_fd_leak) {
    int fds0 = t_count_fds();
    for (int round = 0; round < 5; round++) {
        wlog *l = t_open(dir, 4096, NULL, NULL);
        wlog_pos first = 0;
        for (uint32_t i = 0; i < 400; i++) {
            wlog_pos p = t_append_i(l, i);
            if (!first)
                first = p;
        }
        cr_assert_eq(wlog_sync(l), 0);
        uint8_t b[512], type;
        size_t len;
        cr_assert_eq(wlog_read(l, first, &type, b, sizeof b, &len), 0); /* opens an old segment */
        cr_assert_leq(t_count_fds() - fds0, wlog_segment_count(l));
        wlog_reclaim(l);
        cr_assert_leq(wlog_segment_count(l), 2);
        cr_assert_leq(t_count_fds() - fds0, 2);
        wlog_close(&l);
        cr_assert_eq(t_count_fds(), fds0, "round %d", round);
    }
}

Test(log, no_fallocate_falls_back_to_ftruncate) {
    t_no_fallocate = true;
    wlog_io io = t_io();
    wlog_opts o = {.segment_size = 8192, .io = &io, .log = t_log};
    wlog *l = NULL;
    cr_assert_eq(wlog_open(dir, &o, NULL, NULL, &l), 0);
    for (uint32_t i = 0; i < 100; i++)
        t_append_i(l, i);
    cr_assert_eq(wlog_sync(l), 0);
    cr_assert_gt(atomic_load(&t_fallocs), 0);
    char path[4200];
    t_seg_path(path, sizeof path, dir, 1);
    cr_assert_eq(t_size(path), 8192);
    wlog_close(&l);
    t_replay r = {0};
    l = t_open(dir, 8192, &io, &r);
    cr_assert_eq(r.n, 100);
    wlog_close(&l);
    t_replay_free(&r);
}

Test(log, reclaim_in_order_keeps_newer_dead_segments) {
    wlog_opts o = {.segment_size = 4096, .log = t_log, .reclaim_in_order = true};
    wlog *l = NULL;
    cr_assert_eq(wlog_open(dir, &o, NULL, NULL, &l), 0);
    wlog_pos first = wlog_append_live(l, 1, "message", 7, 1); /* stays live in segment 1 */
    uint32_t i = 0;
    while (WLOG_SEG(t_append_i(l, i++)) < 6) /* dead records (acks) in segments 1..6 */
        ;
    cr_assert_eq(wlog_sync(l), 0);
    int segs = wlog_segment_count(l);
    cr_assert_eq(wlog_reclaim(l), 0, "segment 1 is live: nothing newer goes");
    cr_assert_eq(wlog_segment_count(l), segs);
    wlog_live(l, first, -1);
    wlog_reclaim(l); /* the syncer may have done part of it already */
    cr_assert_eq(wlog_segment_count(l), 1);
    wlog_close(&l);
}
