/* test_faults.c — fault injection through the io table: the Nth pwrite or
 * fdatasync fails (ENOSPC / EIO, optionally after writing half the bytes).
 * on_failed must name exactly the lost range, wlog_sync must report it, the
 * log must keep working, and a reopen must replay every record that was not
 * reported lost — intact, in order — and nothing else. */
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
TestSuite(faults, .init = setup, .fini = teardown);

static wlog_pos fail_from[256], fail_to[256];
static int nfail, fail_err_bad;
static void on_failed(void *ctx, wlog_pos from, wlog_pos to, int err) {
    (void)ctx;
    if (err != WLOG_EIO || from >= to)
        fail_err_bad++;
    if (nfail < 256) {
        fail_from[nfail] = from;
        fail_to[nfail] = to;
        nfail++;
    }
}
static bool failed(wlog_pos p) {
    for (int i = 0; i < nfail; i++)
        if (p >= fail_from[i] && p < fail_to[i])
            return true;
    return false;
}

enum { CHUNKS = 12, PER_CHUNK = 40, N = CHUNKS * PER_CHUNK };

typedef struct {
    bool sync_fault;
    int nth;
    int err;
    bool partial;
    int burst; /* consecutive failing pwrites */
} fault;

/* Appends N records in CHUNKS synced chunks with the fault armed. */
static void run_appends(const fault *f, wlog_pos *pos, int *sync_errors) {
    wlog_io io = t_io();
    wlog_opts o = {.segment_size = 4096, .io = &io, .on_failed = on_failed, .log = t_log};
    wlog *l = NULL;
    cr_assert_eq(wlog_open(dir, &o, NULL, NULL, &l), 0);
    t_fail_errno = f->err;
    t_partial = f->partial;
    t_fail_pwrite_count = f->burst;
    if (f->sync_fault)
        t_fail_sync_at = atomic_load(&t_fdatasyncs) + f->nth;
    else
        t_fail_pwrite_at = atomic_load(&t_pwrites) + f->nth;
    for (uint32_t c = 0; c < CHUNKS; c++) {
        for (uint32_t i = c * PER_CHUNK; i < (c + 1) * PER_CHUNK; i++)
            pos[i] = t_append_i(l, i);
        *sync_errors += wlog_sync(l) != 0;
    }
    cr_assert_eq(wlog_sync(l), 0, "nothing pending fails");
    cr_assert_eq(wlog_durable(l), wlog_tail(l), "later appends are durable");
    for (uint32_t i = 0; i < N; i++) {
        uint8_t b[512], type;
        size_t len;
        int rc = wlog_read(l, pos[i], &type, b, sizeof b, &len);
        if (!failed(pos[i]))
            cr_assert_eq(rc, 0, "record %u readable", i);
        else if (f->burst <= 1)
            cr_assert_neq(rc, 0, "record %u was lost", i);
    }
    wlog_close(&l);
}

static void run_fault(const fault *f) {
    static wlog_pos pos[N];
    int sync_errors = 0;
    nfail = 0;
    run_appends(f, pos, &sync_errors);
    cr_assert_eq(fail_err_bad, 0);
    if (f->burst <= 1)
        cr_assert_eq(sync_errors, nfail, "wlog_sync reported each failure");
    else
        cr_assert(sync_errors >= 1 && sync_errors <= nfail);
    for (int k = 0; k < nfail; k++) { /* ranges are whole records */
        bool from_ok = false, to_ok = false;
        for (uint32_t i = 0; i < N; i++) {
            from_ok |= pos[i] == fail_from[k];
            to_ok |= pos[i] + WLOG_RECORD_OVERHEAD + t_len_of(i) == fail_to[k]; /* end of a record */
        }
        cr_assert(from_ok && to_ok, "failure %d range [%llx, %llx) on record bounds", k,
                  (unsigned long long)fail_from[k], (unsigned long long)fail_to[k]);
    }
    t_log_reset();
    t_replay r = {0};
    wlog *l = t_open(dir, 4096, NULL, &r);
    size_t j = 0;
    for (uint32_t i = 0; i < N; i++) {
        if (j < r.n && r.v[j].pos == pos[i]) {
            cr_assert(!failed(pos[i]) || f->burst > 1, "lost record %u replayed", i);
            t_check_i(&r.v[j++], i);
        } else {
            cr_assert(failed(pos[i]), "record %u missing after reopen\n%s", i, t_logbuf);
        }
    }
    cr_assert_eq(j, r.n, "no record other than the appended ones");
    if (f->burst <= 1)
        cr_assert(!strstr(t_logbuf, "torn") && !strstr(t_logbuf, "skipped"), "clean: %s", t_logbuf);
    t_append_i(l, 1);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_close(&l);
    t_replay_free(&r);
}

Test(faults, nth_pwrite_enospc) {
    for (int nth = 1; nth <= 30; nth++) {
        t_rmrf(dir);
        run_fault(&(fault){.nth = nth, .err = ENOSPC});
        cr_assert_eq(nfail, 1, "nth %d: one failure", nth);
    }
}

Test(faults, nth_pwrite_eio_half_written) {
    for (int nth = 1; nth <= 30; nth++) {
        t_rmrf(dir);
        run_fault(&(fault){.nth = nth, .err = EIO, .partial = true});
        cr_assert_eq(nfail, 1, "nth %d", nth);
    }
}

Test(faults, nth_fdatasync_eio) {
    for (int nth = 1; nth <= 20; nth++) {
        t_rmrf(dir);
        run_fault(&(fault){.sync_fault = true, .nth = nth, .err = EIO});
        cr_assert_eq(nfail, 1, "nth %d", nth);
    }
}

Test(faults, repair_fails_too) {
    for (int nth = 1; nth <= 20; nth++) {
        t_rmrf(dir);
        run_fault(&(fault){.nth = nth, .err = EIO, .partial = true, .burst = 4});
        cr_assert_geq(nfail, 1, "nth %d", nth);
    }
}

Test(faults, failed_range_is_exact_for_one_batch) {
    wlog_io io = t_io();
    wlog_opts o = {.segment_size = 1 << 20, .io = &io, .on_failed = on_failed, .log = t_log};
    wlog *l = NULL;
    cr_assert_eq(wlog_open(dir, &o, NULL, NULL, &l), 0);
    wlog_pos a = t_append_i(l, 1);
    cr_assert_eq(wlog_sync(l), 0);
    t_fail_sync_at = atomic_load(&t_fdatasyncs) + 1;
    t_fail_errno = EIO;
    wlog_pos b = t_append_i(l, 2);
    wlog_pos end = wlog_tail(l);
    cr_assert_eq(wlog_sync(l), WLOG_EIO);
    cr_assert_eq(nfail, 1);
    cr_assert_eq(fail_from[0], b);
    cr_assert_eq(fail_to[0], end);
    cr_assert_lt(wlog_durable(l), end);
    wlog_pos c = t_append_i(l, 3);
    cr_assert_eq(c, end, "positions are final: the next record follows the lost one");
    cr_assert_eq(wlog_sync(l), 0);
    cr_assert_gt(wlog_durable(l), c);
    wlog_close(&l);
    t_replay r = {0};
    l = t_open(dir, 1 << 20, NULL, &r);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.v[0].pos, a);
    cr_assert_eq(r.v[1].pos, c);
    t_check_i(&r.v[1], 3);
    wlog_close(&l);
    t_replay_free(&r);
}
