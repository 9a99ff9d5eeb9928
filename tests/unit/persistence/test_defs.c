/* test_defs.c — the definitions file: append/replay, rewrite, torn tails,
 * failed appends, bad header. */
#include "helpers.h"

static char *dir;
static char path[4200];
static void setup(void) {
    dir = t_mkdtemp();
    snprintf(path, sizeof path, "%s/definitions", dir);
    t_log_reset();
}
static void teardown(void) {
    t_rmrf(dir);
    free(dir);
    t_leak_check();
}
TestSuite(defs, .init = setup, .fini = teardown);

static wdefs *open_defs(t_replay *r, const wlog_io *io) {
    wdefs *d = NULL;
    int rc = wdefs_open(dir, io, r ? t_collect : NULL, r, &d);
    cr_assert_eq(rc, 0, "wdefs_open: %s", wlog_strerror(rc));
    return d;
}

static void append_i(wdefs *d, uint32_t i) {
    uint8_t buf[512] = {0};
    t_payload(buf, t_len_of(i), i);
    cr_assert_eq(wdefs_append(d, (uint8_t)(i % 251), buf, t_len_of(i)), 0);
}

static void expect(uint32_t n, const uint32_t *ids) {
    t_replay r = {0};
    wdefs *d = open_defs(&r, NULL);
    cr_assert_eq(r.n, n);
    for (uint32_t i = 0; i < n; i++)
        t_check_i(&r.v[i], ids ? ids[i] : i);
    wdefs_close(&d);
    t_replay_free(&r);
}

Test(defs, append_replay_append) {
    wdefs *d = open_defs(NULL, NULL);
    for (uint32_t i = 0; i < 5; i++)
        append_i(d, i);
    wdefs_close(&d);
    cr_assert_null(d);
    wdefs_close(NULL);
    expect(5, NULL);
    t_replay r = {0};
    d = open_defs(&r, NULL);
    append_i(d, 5);
    wdefs_close(&d);
    t_replay_free(&r);
    expect(6, NULL);
}

static int emit_some(void *ctx, wdefs_writer *w) {
    const uint32_t *ids = ctx;
    for (int i = 0; i < 3; i++) {
        uint8_t buf[512];
        t_payload(buf, t_len_of(ids[i]), ids[i]);
        int rc = wdefs_emit(w, (uint8_t)(ids[i] % 251), buf, t_len_of(ids[i]));
        if (rc)
            return rc;
    }
    return 0;
}
static int emit_fail(void *ctx, wdefs_writer *w) {
    (void)ctx;
    wdefs_emit(w, 1, "x", 1);
    return -77;
}

Test(defs, rewrite_replaces_everything) {
    wdefs *d = open_defs(NULL, NULL);
    for (uint32_t i = 0; i < 10; i++)
        append_i(d, i);
    uint32_t ids[4] = {3, 7, 9, 11};
    cr_assert_eq(wdefs_rewrite(d, emit_fail, NULL), -77, "emit error returned, file untouched");
    cr_assert_eq(wdefs_rewrite(d, emit_some, ids), 0);
    append_i(d, 11); /* appends go after the snapshot */
    wdefs_close(&d);
    expect(4, ids);
    cr_assert_eq(t_count_files(dir, ".tmp"), 0);
    int fd = open(path, O_RDWR | O_CREAT, 0644); /* stale temp file from a crash */
    close(fd);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_RDWR | O_CREAT, 0644);
    close(fd);
    expect(4, ids);
    cr_assert_eq(access(tmp, F_OK), -1, "stale temp removed");
}

Test(defs, torn_tail_every_offset) {
    wdefs *d = open_defs(NULL, NULL);
    for (uint32_t i = 0; i < 3; i++)
        append_i(d, i);
    wdefs_close(&d);
    off_t full = t_size(path);
    uint32_t rlen = WLOG_RECORD_OVERHEAD + (uint32_t)t_len_of(2);
    off_t last = full - rlen;
    uint8_t *orig = malloc((size_t)full);
    int fd = open(path, O_RDONLY);
    cr_assert_eq(read(fd, orig, (size_t)full), full);
    close(fd);
    for (uint32_t k = 0; k < rlen; k++) {
        fd = open(path, O_WRONLY | O_TRUNC);
        cr_assert_eq(write(fd, orig, (size_t)(last + k)), last + k);
        if (k % 2) { /* odd offsets: garbage instead of a clean cut */
            uint8_t junk[600];
            t_payload(junk, rlen - k, k);
            cr_assert_eq(write(fd, junk, rlen - k), (ssize_t)(rlen - k));
        }
        close(fd);
        t_replay r = {0};
        d = open_defs(&r, NULL);
        cr_assert_eq(r.n, 2, "offset %u", k);
        cr_assert_eq(t_size(path), last, "offset %u: tail cut", k);
        append_i(d, 2);
        wdefs_close(&d);
        t_replay_free(&r);
        expect(3, NULL);
    }
    free(orig);
}

Test(defs, failed_append_leaves_no_trace) {
    wlog_io io = t_io();
    wdefs *d = open_defs(NULL, &io);
    append_i(d, 0);
    t_fail_sync_at = atomic_load(&t_fdatasyncs) + 1;
    t_fail_errno = EIO;
    uint8_t buf[512];
    t_payload(buf, t_len_of(1), 1);
    cr_assert_eq(wdefs_append(d, 1, buf, t_len_of(1)), WLOG_EIO);
    append_i(d, 1);
    wdefs_close(&d);
    expect(2, NULL);
}

Test(defs, bad_header_is_an_error) {
    wdefs *d = open_defs(NULL, NULL);
    append_i(d, 0);
    wdefs_close(&d);
    t_pwrite(path, "NOTDEFS!", 8, 0);
    cr_assert_eq(wdefs_open(dir, NULL, NULL, NULL, &d), WLOG_ECORRUPT);
    cr_assert_null(d);
}
