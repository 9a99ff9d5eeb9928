/* test_compact.c — segment indexes (<num>.idx) and compaction.
 *
 * Records here: type 1 "message": u16 refs | u32 id | body (the summary is
 * the first 6 bytes); type 2 "ack": u64 position of a message (kept by
 * compaction while that message may still be on disk); type 3 "note": no
 * refs, always kept. */
#include "helpers.h"

#define SEG 8192u
#define BODY 200u

static char *dir;
static void setup(void) {
    dir = t_mkdtemp();
    t_log_reset();
}
static void teardown(void) {
    t_rmrf(dir);
    free(dir);
}
TestSuite(compact, .init = setup, .fini = teardown);


static int keep_calls;
static int keep(void *ctx, wlog *l, wlog_pos pos, uint8_t type, const void *s, size_t len) {
    (void)ctx, (void)pos;
    keep_calls++;
    if (type != 2 || len != 8)
        return 1;
    wlog_pos target;
    memcpy(&target, s, 8);
    return wlog_present(l, target);
}

static wlog *open_log_sz(t_replay *r, uint32_t seg) {
    wlog_opts o = {.segment_size = seg, .log = t_log, .reclaim_in_order = true, .summarize = t_summarize, .keep = keep,
                   .maint_interval_ms = -1};
    wlog *l = NULL;
    cr_assert_eq(wlog_open(dir, &o, r ? t_collect : NULL, r, &l), 0);
    return l;
}
static wlog *open_log(t_replay *r) { return open_log_sz(r, SEG); }

static wlog_pos put_msg(wlog *l, uint32_t id, uint16_t refs) {
    uint8_t b[6 + BODY];
    b[0] = (uint8_t)refs;
    b[1] = (uint8_t)(refs >> 8);
    memcpy(b + 2, &id, 4);
    t_payload(b + 6, BODY, id);
    wlog_pos p = wlog_append_live(l, 1, b, sizeof b, refs);
    cr_assert_neq(p, 0);
    return p;
}

static wlog_pos put_ack(wlog *l, wlog_pos target) {
    wlog_pos p = wlog_append(l, 2, &target, 8);
    cr_assert_neq(p, 0);
    return p;
}

static char *path_of(uint32_t num, const char *ext) {
    static char p[4200];
    snprintf(p, sizeof p, "%s/%020u.%s", dir, num, ext);
    return p;
}

static bool exists(const char *p) { return access(p, F_OK) == 0; }

static long blocks(const char *p) {
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    return (long)st.st_blocks;
}

static const t_rec *find(const t_replay *r, wlog_pos pos) {
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].pos == pos)
            return &r->v[i];
    return NULL;
}

/* Messages until the head is in segment `until`; returns how many. */
static uint32_t fill(wlog *l, wlog_pos *pos, uint32_t cap, uint32_t until) {
    uint32_t n = 0;
    while (n < cap) {
        pos[n] = put_msg(l, n, 1);
        n++;
        if (WLOG_SEG(pos[n - 1]) >= until)
            break;
    }
    return n;
}

Test(compact, index_written_when_sealed_and_replayed_instead_of_the_segment) {
    wlog *l = open_log(NULL);
    wlog_pos pos[400];
    uint32_t n = fill(l, pos, 400, 4);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_maintain(l);
    for (uint32_t s = 1; s <= 3; s++)
        cr_assert(exists(path_of(s, "idx")), "sealed segment %u has an index", s);
    cr_assert(!exists(path_of(4, "idx")), "the head has none");
    wlog_close(&l);

    t_replay r = {0};
    l = open_log(&r);
    cr_assert_eq(r.n, n, "every record replayed once");
    for (uint32_t i = 0; i < n; i++) {
        const t_rec *e = find(&r, pos[i]);
        cr_assert(e, "record %u replayed", i);
        size_t want = WLOG_SEG(pos[i]) < 4 ? 6 : 6 + BODY; /* summary from the index, whole from the head */
        cr_assert_eq(e->len, want, "record %u: %zu bytes replayed, want %zu", i, e->len, want);
        uint32_t id;
        memcpy(&id, e->first + 2, 4);
        cr_assert_eq(id, i);
    }
    cr_assert(strstr(t_logbuf, "3 segment(s) replayed from their index, 1 read whole"), "%s", t_logbuf);
    /* the body is still read back whole, checksum verified */
    uint8_t buf[6 + BODY], want[BODY];
    size_t len;
    uint8_t type;
    cr_assert_eq(wlog_read(l, pos[5], &type, buf, sizeof buf, &len), 0);
    t_payload(want, BODY, 5);
    cr_assert_eq(memcmp(buf + 6, want, BODY), 0);
    wlog_close(&l);
    t_replay_free(&r);
}

Test(compact, damaged_index_at_any_byte_falls_back_to_reading_the_segment) {
    wlog *l = open_log(NULL);
    wlog_pos pos[400];
    uint32_t n = fill(l, pos, 400, 3);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_close(&l); /* close writes the indexes of sealed segments */
    char idx[4200];
    snprintf(idx, sizeof idx, "%s", path_of(1, "idx"));
    off_t size = t_size(idx);
    cr_assert_gt(size, 32);
    uint8_t *orig = malloc((size_t)size);
    int fd = open(idx, O_RDONLY);
    cr_assert_eq(read(fd, orig, (size_t)size), size);
    close(fd);
    for (off_t at = 0; at < size; at += (at < 64 ? 1 : 97)) {
        fd = open(idx, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        cr_assert_eq(write(fd, orig, (size_t)size), size);
        close(fd);
        uint8_t b = orig[at] ^ 0x5a;
        t_pwrite(idx, &b, 1, at);
        t_log_reset();
        t_replay r = {0};
        l = open_log(&r);
        cr_assert_eq(r.n, n, "flip at %lld: all %u records replayed (got %zu)", (long long)at, n, r.n);
        for (uint32_t i = 0; i < n; i++)
            cr_assert(find(&r, pos[i]));
        cr_assert(strstr(t_logbuf, "does not match its segment or is damaged"), "flip at %lld: %s", (long long)at, t_logbuf);
        cr_assert_eq(find(&r, pos[0])->len, 6 + BODY, "segment 1 was read whole");
        wlog_close(&l); /* rewrites a good index */
        t_replay_free(&r);
    }
    /* a truncated index too */
    t_truncate(idx, size - 3);
    t_replay r = {0};
    l = open_log(&r);
    cr_assert_eq(r.n, n);
    wlog_close(&l);
    t_replay_free(&r);
    free(orig);
}

static bool readable(wlog *l, wlog_pos p, uint32_t id) {
    uint8_t buf[6 + BODY], want[BODY];
    size_t len;
    uint8_t type;
    if (wlog_read(l, p, &type, buf, sizeof buf, &len) != 0 || len != sizeof buf)
        return false;
    t_payload(want, BODY, id);
    return memcmp(buf + 6, want, BODY) == 0;
}

static void maintain_until_stable(wlog *l) {
    for (int i = 0; i < 20 && wlog_maintain(l) > 0; i++)
        ;
}

#define BIG (1u << 20)

Test(compact, mostly_dead_segment_shrinks_in_place_and_survives_reopen) {
    wlog *l = open_log_sz(NULL, BIG);
    static wlog_pos pos[30000];
    uint32_t n = fill(l, pos, 30000, 3);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_reclaim(l); /* arms reclaim and compaction (as the broker does after replay) */
    wlog_maintain(l);
    long before = blocks(path_of(1, "seg"));
    uint32_t in1 = 0;
    while (WLOG_SEG(pos[in1]) == 1)
        in1++;
    cr_assert_gt(in1, 1000);
    /* all of segment 1 dies but every 100th record */
    for (uint32_t i = 0; i < in1; i++)
        if (i % 100)
            wlog_live(l, pos[i], -1);
    cr_assert_eq(wlog_maintain(l), 1, "%s", t_logbuf);
    cr_assert(strstr(t_logbuf, "compacted segment 1"), "%s", t_logbuf);
    long after = blocks(path_of(1, "seg"));
    cr_assert_lt(after * 3, before, "blocks %ld -> %ld", before, after);
    for (uint32_t i = 0; i < in1; i++)
        if (i % 100 == 0)
            cr_assert(readable(l, pos[i], i), "live record %u reads back after compaction", i);
    cr_assert(readable(l, pos[in1], in1), "segment 2 untouched");
    cr_assert_eq(wlog_maintain(l), 0, "nothing more to do");
    wlog_close(&l);

    for (int pass = 0; pass < 2; pass++) { /* from the new index, then walking the sparse file */
        t_replay r = {0};
        t_log_reset();
        l = open_log_sz(&r, BIG);
        cr_assert(strstr(t_logbuf, pass ? "0 segment(s) replayed from their index" : "2 segment(s) replayed from their index"), "pass %d: %s", pass, t_logbuf);
        for (uint32_t i = 0; i < n; i++) {
            bool live = WLOG_SEG(pos[i]) > 1 || i % 100 == 0;
            cr_assert_eq(find(&r, pos[i]) != NULL, live, "pass %d record %u: replayed %d, live %d", pass,
                         i, find(&r, pos[i]) != NULL, live);
        }
        for (uint32_t i = 0; i < in1; i += 100)
            cr_assert(readable(l, pos[i], i));
        wlog_close(&l);
        t_replay_free(&r);
        unlink(path_of(1, "idx"));
        unlink(path_of(2, "idx"));
    }
}

Test(compact, dead_segments_go_out_of_order_with_the_acks_that_named_them) {
    wlog *l = open_log_sz(NULL, 65536);
    wlog_pos keep_me = put_msg(l, 9999, 1); /* stays live in segment 1 the whole time */
    static wlog_pos pos[3000];
    uint32_t n = fill(l, pos, 3000, 3);
    for (uint32_t i = 0; i < n; i++) { /* every other message is acked: ack records, deaths */
        put_ack(l, pos[i]);
        wlog_live(l, pos[i], -1);
    }
    while (WLOG_SEG(put_msg(l, 5000, 0)) < 7) /* refs 0 "notes" to seal everything above */
        ;
    cr_assert_eq(wlog_sync(l), 0);
    int segs = wlog_segment_count(l);
    cr_assert_geq(segs, 6);
    wlog_reclaim(l);
    cr_assert_eq(wlog_segment_count(l), segs, "in order, nothing can go: segment 1 is live");
    maintain_until_stable(l);
    wlog_reclaim(l);
    /* left: segment 1 (keep_me only), the notes' segments (refs 0, kept), the head */
    cr_assert(readable(l, keep_me, 9999));
    for (uint32_t i = 0; i < n; i++)
        cr_assert(!wlog_present(l, pos[i]), "acked message %u is gone", i);
    wlog_close(&l);
    t_replay r = {0};
    l = open_log_sz(&r, 65536);
    size_t acks = 0, msgs = 0;
    for (size_t i = 0; i < r.n; i++) {
        acks += r.v[i].type == 2;
        msgs += r.v[i].type == 1 && r.v[i].first[0] == 1;
    }
    cr_assert_eq(msgs, 1, "only the live message is left (%zu)", msgs);
    cr_assert_eq(acks, 0, "no ack is left: every message they named is gone (%zu)", acks);
    cr_assert(find(&r, keep_me));
    wlog_close(&l);
    t_replay_free(&r);
}

Test(compact, an_ack_stays_while_its_message_does_and_goes_after) {
    wlog *l = open_log_sz(NULL, 65536);
    wlog_pos x = put_msg(l, 7, 2); /* two references (two queues) */
    static wlog_pos pos[3000];
    uint32_t n = fill(l, pos, 3000, 2);
    wlog_pos ack = put_ack(l, x); /* queue A acked x */
    wlog_live(l, x, -1);
    uint32_t m = n + fill(l, pos + n, 3000 - n, 4);
    for (uint32_t i = 0; i < m; i++)
        wlog_live(l, pos[i], -1); /* every other message died without an ack record (dropped) */
    cr_assert_eq(wlog_sync(l), 0);
    wlog_reclaim(l);
    maintain_until_stable(l);
    cr_assert(wlog_present(l, x), "x still has queue B");
    cr_assert(wlog_present(l, ack), "so the ack for queue A must stay");
    cr_assert(readable(l, x, 7));
    wlog_close(&l);
    t_replay r = {0};
    l = open_log_sz(&r, 65536);
    cr_assert(find(&r, x));
    cr_assert(find(&r, ack), "the ack is replayed with x");
    /* after the restart the broker reports the reference that died before it */
    wlog_dead(l, x);
    wlog_live(l, x, 1);  /* queue B's reference, restored */
    wlog_live(l, x, -1); /* ... and acked now */
    wlog_reclaim(l);
    maintain_until_stable(l);
    wlog_reclaim(l);
    cr_assert(!wlog_present(l, x));
    cr_assert(!wlog_present(l, ack));
    cr_assert_leq(wlog_segment_count(l), 2, "segments left: %d", wlog_segment_count(l));
    wlog_close(&l);
    t_replay_free(&r);
    t_replay r2 = {0};
    l = open_log_sz(&r2, 65536);
    cr_assert(!find(&r2, x));
    cr_assert(!find(&r2, ack));
    wlog_close(&l);
    t_replay_free(&r2);
}

Test(compact, keep_callback_sees_only_records_without_refs) {
    wlog *l = open_log_sz(NULL, 65536);
    static wlog_pos pos[3000];
    uint32_t n = 0;
    for (; n < 100; n++)
        pos[n] = put_msg(l, n, 1);
    for (uint32_t i = 0; i < 10; i++)
        wlog_append(l, 3, "note", 4);
    n += fill(l, pos + n, 3000 - n, 3);
    for (uint32_t i = 1; i < n; i++) /* pos[0] stays: the oldest segment would go whole if dead */
        if (WLOG_SEG(pos[i]) == 1)
            wlog_live(l, pos[i], -1);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_reclaim(l);
    keep_calls = 0;
    wlog_maintain(l);
    cr_assert_eq(keep_calls, 10, "asked about the 10 notes only (%d)", keep_calls);
    cr_assert_eq(wlog_segment_count(l), 3, "segment 1 kept for its notes");
    wlog_close(&l);
}

Test(compact, leftovers_of_an_interrupted_compaction_are_removed) {
    wlog *l = open_log(NULL);
    wlog_pos pos[400];
    uint32_t n = fill(l, pos, 400, 3);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_close(&l);
    FILE *f = fopen(path_of(1, "seg.compact"), "w");
    fputs("half", f);
    fclose(f);
    f = fopen(path_of(2, "idx.tmp"), "w");
    fputs("half", f);
    fclose(f);
    t_replay r = {0};
    l = open_log(&r);
    cr_assert_eq(r.n, n);
    cr_assert(!exists(path_of(1, "seg.compact")));
    cr_assert(!exists(path_of(2, "idx.tmp")));
    wlog_close(&l);
    t_replay_free(&r);
}

Test(compact, ignore_indexes_reads_every_segment_whole) {
    wlog *l = open_log(NULL);
    wlog_pos pos[400];
    uint32_t n = fill(l, pos, 400, 4);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_close(&l);
    cr_assert(exists(path_of(1, "idx")));
    wlog_opts o = {.segment_size = SEG, .log = t_log, .reclaim_in_order = true, .summarize = t_summarize, .keep = keep,
                   .maint_interval_ms = -1, .ignore_indexes = true};
    t_replay r = {0};
    t_log_reset();
    cr_assert_eq(wlog_open(dir, &o, t_collect, &r, &l), 0);
    cr_assert_eq(r.n, n);
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(find(&r, pos[i])->len, 6 + BODY, "record %u replayed whole", i);
    cr_assert(strstr(t_logbuf, "0 segment(s) replayed from their index, 4 read whole"), "%s", t_logbuf);
    wlog_close(&l);
    t_replay_free(&r);
}

Test(compact, a_big_head_summary_is_spilled_to_disk_and_finished_at_seal) {
    wlog *l = open_log_sz(NULL, 4u << 20);
    uint32_t n = 0;
    static wlog_pos pos[400000];
    while (n < 80000) /* ack-like records: the index entry is as big as the record */
        pos[n] = put_ack(l, (wlog_pos)n + 1), n++;
    cr_assert_eq(wlog_sync(l), 0);
    wlog_maintain(l);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path_of(1, "idx"));
    cr_assert(exists(tmp), "the head's entries went to %s", tmp);
    cr_assert_gt(t_size(tmp), 1 << 20);
    while (WLOG_SEG(pos[n - 1]) < 2)
        pos[n] = put_ack(l, (wlog_pos)n + 1), n++;
    cr_assert_eq(wlog_sync(l), 0);
    wlog_maintain(l);
    cr_assert(!exists(tmp));
    cr_assert(exists(path_of(1, "idx")), "sealed: the spilled index is finished");
    /* the new head spills too; closing removes its unfinished file */
    uint32_t m = n;
    while (n < m + 80000)
        pos[n] = put_ack(l, (wlog_pos)n + 1), n++;
    cr_assert_eq(wlog_sync(l), 0);
    wlog_maintain(l);
    snprintf(tmp, sizeof tmp, "%s.tmp", path_of(2, "idx"));
    cr_assert(exists(tmp));
    wlog_close(&l);
    cr_assert(!exists(tmp), "no half index left by close");
    t_replay r = {0};
    t_log_reset();
    l = open_log_sz(&r, 4u << 20);
    cr_assert(strstr(t_logbuf, "1 segment(s) replayed from their index, 1 read whole"), "%s", t_logbuf);
    cr_assert_eq(r.n, n, "every record replayed (%zu of %u)", r.n, n);
    for (uint32_t i = 0; i < n; i += 997) {
        const t_rec *e = find(&r, pos[i]);
        cr_assert(e);
        wlog_pos t;
        memcpy(&t, e->first, 8);
        cr_assert_eq(t, (wlog_pos)i + 1);
    }
    wlog_close(&l);
    t_replay_free(&r);
}
