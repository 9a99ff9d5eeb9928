/* test_recovery.c — wlog_open on damaged logs: empty dirs, header-only and
 * half-created segments, torn tails at every byte offset (cut and garbage),
 * checksum damage at the end and in the middle, corrupted headers. */
#include "helpers.h"

#define SEG 65536u

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
TestSuite(recovery, .init = setup, .fini = teardown);

/* Writes n records (t_append_i) and closes; returns their positions. */
static void write_records(uint32_t segsize, uint32_t n, wlog_pos *pos) {
    wlog *l = t_open(dir, segsize, NULL, NULL);
    for (uint32_t i = 0; i < n; i++)
        pos[i] = t_append_i(l, i);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_close(&l);
    cr_assert_null(l);
}

static void reopen_expect(uint32_t segsize, uint32_t n) {
    t_replay r = {0};
    wlog *l = t_open(dir, segsize, NULL, &r);
    cr_assert_eq(r.n, n, "replayed %zu, expected %u; log:\n%s", r.n, n, t_logbuf);
    for (uint32_t i = 0; i < n; i++)
        t_check_i(&r.v[i], i);
    wlog_close(&l);
    t_replay_free(&r);
}

Test(recovery, empty_dir_and_missing_dir) {
    t_replay r = {0};
    wlog *l = t_open(dir, SEG, NULL, &r);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(wlog_segment_count(l), 0);
    wlog_close(&l);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    l = t_open(sub, SEG, NULL, &r);
    wlog_pos p = t_append_i(l, 0);
    cr_assert_eq(wlog_sync(l), 0);
    cr_assert_eq(wlog_segment_count(l), 1);
    cr_assert_eq(WLOG_OFF(p), WLOG_HEADER_SIZE);
    wlog_close(&l);
    t_rmrf(sub);
}

Test(recovery, unreadable_dir_is_an_error) {
    char file[4200];
    snprintf(file, sizeof file, "%s/plainfile", dir);
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    close(fd);
    wlog_opts o = {.log = t_log};
    wlog *l = (wlog *)1;
    int rc = wlog_open(file, &o, NULL, NULL, &l);
    cr_assert_lt(rc, 0);
    cr_assert_null(l);
    cr_assert(strstr(t_logbuf, "plainfile"), "error names the dir: %s", t_logbuf);
}

Test(recovery, header_only_segment) {
    char path[4200];
    t_seg_path(path, sizeof path, dir, 1);
    uint8_t h[32] = "WRNLOG";
    h[8] = 1;  /* version */
    h[12] = 1; /* number */
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    cr_assert_eq(write(fd, h, 32), 32);
    close(fd);
    t_replay r = {0};
    wlog *l = t_open(dir, SEG, NULL, &r);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(t_size(path), SEG, "extended back to full size");
    wlog_pos p = t_append_i(l, 0);
    cr_assert_eq(p, WLOG_POS(1, 32));
    wlog_close(&l);
    reopen_expect(SEG, 1);
}

Test(recovery, zero_filled_tail_and_reopen_keeps_appending) {
    wlog_pos pos[20];
    write_records(SEG, 10, pos);
    t_replay r = {0};
    wlog *l = t_open(dir, SEG, NULL, &r);
    cr_assert_eq(r.n, 10);
    cr_assert_str_eq(t_logbuf, "", "clean log is quiet: %s", t_logbuf);
    for (uint32_t i = 10; i < 20; i++) {
        pos[i] = t_append_i(l, i);
        cr_assert_gt(pos[i], pos[i - 1]);
    }
    wlog_close(&l);
    t_replay_free(&r);
    reopen_expect(SEG, 20);
}

/* Cuts (garbage = false) or overwrites the last record from every offset. */
static void torn_every_offset(bool garbage) {
    enum { N = 6 };
    wlog_pos pos[N + 1];
    write_records(SEG, N, pos);
    char path[4200];
    t_seg_path(path, sizeof path, dir, 1);
    off_t size = t_size(path);
    uint8_t *orig = malloc((size_t)size);
    int fd = open(path, O_RDONLY);
    cr_assert_eq(read(fd, orig, (size_t)size), size);
    close(fd);
    uint32_t last = WLOG_OFF(pos[N - 1]), rlen = WLOG_RECORD_OVERHEAD + (uint32_t)t_len_of(N - 1);
    for (uint32_t k = 0; k < rlen; k++) {
        t_log_reset();
        fd = open(path, O_WRONLY | O_TRUNC);
        cr_assert_eq(write(fd, orig, (size_t)size), size);
        close(fd);
        if (garbage) {
            uint8_t junk[WLOG_RECORD_OVERHEAD + 512];
            t_payload(junk, rlen - k, k + 99);
            t_pwrite(path, junk, rlen - k, last + k);
        } else {
            t_truncate(path, last + k);
        }
        t_replay r = {0};
        wlog *l = t_open(dir, SEG, NULL, &r);
        cr_assert_eq(r.n, N - 1, "offset %u: replayed %zu\n%s", k, r.n, t_logbuf);
        for (uint32_t i = 0; i < N - 1; i++)
            t_check_i(&r.v[i], i);
        if (k > 0 || garbage)
            cr_assert(strstr(t_logbuf, "truncated torn tail") && strstr(t_logbuf, path), "offset %u: %s", k, t_logbuf);
        cr_assert_eq(t_size(path), SEG);
        /* appends continue exactly where the torn record was */
        wlog_pos p = t_append_i(l, N - 1);
        cr_assert_eq(p, pos[N - 1], "offset %u", k);
        t_append_i(l, N);
        wlog_close(&l);
        t_replay_free(&r);
        t_log_reset();
        reopen_expect(SEG, N + 1);
        cr_assert_str_eq(t_logbuf, "", "second reopen is clean: %s", t_logbuf);
    }
    free(orig);
}

Test(recovery, torn_tail_cut_at_every_offset) { torn_every_offset(false); }
Test(recovery, torn_tail_garbage_at_every_offset) { torn_every_offset(true); }

Test(recovery, bad_crc_in_last_record_is_a_torn_tail) {
    wlog_pos pos[8];
    write_records(SEG, 8, pos);
    char path[4200];
    t_seg_path(path, sizeof path, dir, 1);
    uint8_t x = 0x5a;
    t_pwrite(path, &x, 1, WLOG_OFF(pos[7]) + 4); /* crc byte */
    reopen_expect(SEG, 7);
    cr_assert(strstr(t_logbuf, "truncated torn tail"), "%s", t_logbuf);
}

Test(recovery, bad_crc_in_middle_record_is_skipped) {
    enum { N = 10 };
    wlog_pos pos[N];
    write_records(SEG, N, pos);
    char path[4200];
    t_seg_path(path, sizeof path, dir, 1);
    uint8_t x = 0xee;
    t_pwrite(path, &x, 1, WLOG_OFF(pos[4]) + 8); /* type byte of record 4 */
    for (int round = 0; round < 2; round++) {
        t_log_reset();
        t_replay r = {0};
        wlog *l = t_open(dir, SEG, NULL, &r);
        cr_assert_eq(r.n, (size_t)(N - 1 + round), "%s", t_logbuf);
        for (uint32_t i = 0, j = 0; i < N; i++) {
            if (i == 4)
                continue;
            cr_assert_eq(r.v[j].pos, pos[i]);
            t_check_i(&r.v[j++], i);
        }
        cr_assert(strstr(t_logbuf, "[0] skipped corrupt record"), "loud: %s", t_logbuf);
        if (round == 0) /* appends go after the last good record, not the bad one */
            cr_assert_gt(t_append_i(l, 99), pos[N - 1]);
        else
            cr_assert_eq(r.v[N - 1].pos > pos[N - 1], 1);
        wlog_close(&l);
        t_replay_free(&r);
    }
}

/* Fills segments 1..k with small segments; returns the record count. */
static uint32_t write_segments(uint32_t want_segs, wlog_pos *pos, uint32_t cap) {
    wlog *l = t_open(dir, 4096, NULL, NULL);
    uint32_t n = 0;
    while (n < cap) {
        pos[n] = t_append_i(l, n);
        if (WLOG_SEG(pos[n]) > want_segs)
            break;
        n++;
    }
    wlog_close(&l);
    return n + 1;
}

Test(recovery, corrupt_header_skips_the_segment) {
    wlog_pos pos[400];
    uint32_t n = write_segments(3, pos, 400);
    cr_assert_eq(WLOG_SEG(pos[n - 1]), 4);
    char path[4200];
    t_seg_path(path, sizeof path, dir, 2);
    t_pwrite(path, "XXXX", 4, 0);
    t_replay r = {0};
    wlog *l = t_open(dir, 4096, NULL, &r);
    uint32_t j = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (WLOG_SEG(pos[i]) == 2)
            continue;
        cr_assert_lt(j, r.n);
        cr_assert_eq(r.v[j].pos, pos[i]);
        t_check_i(&r.v[j++], i);
    }
    cr_assert_eq(j, r.n);
    cr_assert(strstr(t_logbuf, "[0] corrupt segment header"), "%s", t_logbuf);
    cr_assert_eq(t_count_files(dir, ".corrupt"), 1);
    cr_assert_eq(wlog_segment_count(l), 3);
    wlog_close(&l);
    t_replay_free(&r);
}

Test(recovery, corrupt_header_of_last_segment_moves_the_head) {
    wlog_pos pos[400];
    uint32_t n = write_segments(2, pos, 400);
    cr_assert_eq(WLOG_SEG(pos[n - 1]), 3);
    char path[4200];
    t_seg_path(path, sizeof path, dir, 3);
    uint8_t bad = 7;
    t_pwrite(path, &bad, 1, 12); /* segment number field */
    t_replay r = {0};
    wlog *l = t_open(dir, 4096, NULL, &r);
    cr_assert_eq(r.v[r.n - 1].pos < WLOG_POS(3, 0), 1);
    wlog_pos p = t_append_i(l, 0);
    cr_assert_eq(WLOG_SEG(p), 4, "new head after the corrupt one");
    wlog_close(&l);
    t_replay_free(&r);
}

Test(recovery, half_created_last_segment_is_removed) {
    wlog_pos pos[10];
    write_records(SEG, 10, pos);
    char path[4200];
    t_seg_path(path, sizeof path, dir, 2);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    cr_assert_eq(ftruncate(fd, SEG), 0); /* preallocated, header never written */
    close(fd);
    reopen_expect(SEG, 10);
    cr_assert_eq(access(path, F_OK), -1);
    cr_assert(strstr(t_logbuf, "header never written"), "%s", t_logbuf);
    t_seg_path(path, sizeof path, dir, 3);
    fd = open(path, O_CREAT | O_WRONLY, 0644); /* empty file */
    close(fd);
    reopen_expect(SEG, 10);
}

Test(recovery, torn_tail_in_older_segment_is_loud_and_later_ones_survive) {
    wlog_pos pos[400];
    uint32_t n = write_segments(3, pos, 400);
    uint32_t lastin1 = 0;
    for (uint32_t i = 0; i < n; i++)
        if (WLOG_SEG(pos[i]) == 1)
            lastin1 = i;
    char path[4200];
    t_seg_path(path, sizeof path, dir, 1);
    t_truncate(path, WLOG_OFF(pos[lastin1]) + 3);
    t_replay r = {0};
    wlog *l = t_open(dir, 4096, NULL, &r);
    cr_assert_eq(r.n, n - 1, "%s", t_logbuf);
    cr_assert(strstr(t_logbuf, "[0] truncated torn tail"), "%s", t_logbuf);
    cr_assert_eq(r.v[r.n - 1].pos, pos[n - 1]);
    wlog_close(&l);
    t_replay_free(&r);
}

Test(recovery, replay_error_stops_open) {
    wlog_pos pos[10];
    write_records(SEG, 10, pos);
    t_replay r = {.stop_after = 3};
    wlog_opts o = {.segment_size = SEG, .log = t_log};
    wlog *l = NULL;
    cr_assert_eq(wlog_open(dir, &o, t_collect, &r, &l), -42);
    cr_assert_null(l);
    cr_assert_eq(r.n, 3);
    t_replay_free(&r);
    reopen_expect(SEG, 10);
}

Test(recovery, segment_size_change_between_runs) {
    wlog_pos pos[400];
    uint32_t n = write_segments(2, pos, 400);
    reopen_expect(SEG, n);       /* bigger segments now */
    reopen_expect(4096, n);      /* and back */
}
