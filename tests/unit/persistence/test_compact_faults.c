/* test_compact_faults.c — trying to break indexes and compaction: an I/O
 * error at every call of a maintenance pass, a crash (a copy of the
 * directory) before every call of it, the syncer's reclaim racing a
 * compaction, deaths arriving during a compaction, readers hammering live
 * records while compactions swap files under them, and randomized rounds of
 * appends / acks / maintenance / reopen checked against a model.
 *
 * The invariant checked everywhere (what the broker needs): after a reopen,
 * every message with a live reference is replayed (and reads back whole),
 * the acks of its dead references are replayed with it, and a message whose
 * references all died is either gone or replayed together with every ack
 * that killed it — never alone (that would bring acked messages back).
 *
 * Records: type 1 "message": u16 refs | u32 id | body (summary = 6 bytes,
 * refs = the u16); type 2 "ack": u64 pos | u8 ref (kept while the message
 * at pos may be on disk); type 3 "note": no refs, always kept. */
#include <pthread.h>
#include <time.h>
#include "helpers.h"

#define BODY 120u

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
TestSuite(cfaults, .init = setup, .fini = teardown);

/* ---- log hooks ---- */

static void (*keep_hook)(wlog *l);
static int keep(void *ctx, wlog *l, wlog_pos pos, uint8_t type, const void *s, size_t len) {
    (void)ctx, (void)pos;
    if (keep_hook) {
        void (*h)(wlog *) = keep_hook;
        keep_hook = NULL;
        h(l);
    }
    if (type != 2 || len < 8)
        return 1;
    wlog_pos target;
    memcpy(&target, s, 8);
    return wlog_present(l, target);
}

/* ---- fault-injecting io: fail (or "crash" before) the Nth call ---- */
enum { F_OPEN, F_PWRITE, F_PREAD, F_FDATASYNC, F_FTRUNCATE, F_RENAME, F_UNLINK, F_FSYNC_DIR, F_N, F_ANY = F_N };
static const char *f_names[] = {"open", "pwrite", "pread", "fdatasync", "ftruncate", "rename", "unlink", "fsync_dir", "any"};
static atomic_int f_calls[F_N + 1];
static atomic_int f_kind = -1, f_at, f_hits;
static pthread_t f_thread;   /* only calls made by this thread count */
static bool f_crash;         /* copy the directory to f_img instead of failing */
static char *f_img;
static void copy_dir(const char *from, const char *to);

static bool f_hit(int kind) {
    if (atomic_load(&f_kind) < 0 || !pthread_equal(pthread_self(), f_thread))
        return false;
    int k = atomic_fetch_add(&f_calls[kind], 1) + 1;
    int any = atomic_fetch_add(&f_calls[F_ANY], 1) + 1;
    int want = atomic_load(&f_kind);
    if ((want == kind && k == atomic_load(&f_at)) || (want == F_ANY && any == atomic_load(&f_at))) {
        atomic_fetch_add(&f_hits, 1);
        if (f_crash) {
            copy_dir(dir, f_img);
            return false;
        }
        errno = EIO;
        return true;
    }
    return false;
}
static void f_arm(int kind, int at, bool crash) {
    for (int i = 0; i <= F_N; i++)
        atomic_store(&f_calls[i], 0);
    atomic_store(&f_hits, 0);
    atomic_store(&f_at, at);
    f_crash = crash;
    f_thread = pthread_self();
    atomic_store(&f_kind, kind);
}
static void f_disarm(void) { atomic_store(&f_kind, -1); }

/* The syncer's unlink of this path blocks until released (or 5 s pass). */
static char blk_path[4200];
static atomic_int blk_entered, blk_go;
static pthread_mutex_t blk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t blk_cv = PTHREAD_COND_INITIALIZER;

static int f_open(const char *p, int flags, mode_t mode) {
    if (f_hit(F_OPEN))
        return -1;
    return open(p, flags, mode);
}
static ssize_t f_pwrite(int fd, const void *b, size_t n, off_t off) {
    if (f_hit(F_PWRITE))
        return -1;
    return pwrite(fd, b, n, off);
}
static ssize_t f_pread(int fd, void *b, size_t n, off_t off) {
    if (f_hit(F_PREAD))
        return -1;
    return pread(fd, b, n, off);
}
static int f_fdatasync(int fd) {
    if (f_hit(F_FDATASYNC))
        return -1;
    return fdatasync(fd);
}
static int f_ftruncate(int fd, off_t len) {
    if (f_hit(F_FTRUNCATE))
        return -1;
    return ftruncate(fd, len);
}
static int f_rename(const char *a, const char *b) {
    if (f_hit(F_RENAME))
        return -1;
    return rename(a, b);
}
static int f_unlink(const char *p) {
    if (blk_path[0] && !strcmp(p, blk_path)) {
        pthread_mutex_lock(&blk_mu);
        atomic_store(&blk_entered, 1);
        pthread_cond_broadcast(&blk_cv);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 5;
        while (!atomic_load(&blk_go))
            if (pthread_cond_timedwait(&blk_cv, &blk_mu, &ts) != 0)
                break;
        pthread_mutex_unlock(&blk_mu);
    }
    if (f_hit(F_UNLINK))
        return -1;
    return unlink(p);
}
static int f_fsync_dir(const char *d) {
    if (f_hit(F_FSYNC_DIR))
        return -1;
    return wlog_io_libc.fsync_dir(d);
}
static const wlog_io fio = {.open = f_open,
                            .pwrite = f_pwrite,
                            .pread = f_pread,
                            .fdatasync = f_fdatasync,
                            .fallocate = NULL, /* set in open_log */
                            .ftruncate = f_ftruncate,
                            .close = NULL,
                            .unlink = f_unlink,
                            .rename = f_rename,
                            .fsync_dir = f_fsync_dir};

static void copy_dir(const char *from, const char *to) {
    mkdir(to, 0755);
    DIR *d = opendir(from);
    cr_assert(d);
    struct dirent *e;
    static uint8_t buf[1 << 16];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char a[8400], b[8400];
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        int in = open(a, O_RDONLY);
        if (in < 0)
            continue;
        int out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        cr_assert(out >= 0);
        ssize_t n;
        off_t off = 0;
        while ((n = pread(in, buf, sizeof buf, off)) > 0) {
            cr_assert_eq(pwrite(out, buf, (size_t)n, off), n);
            off += n;
        }
        close(in);
        close(out);
    }
    closedir(d);
}

static void remove_idx_files(const char *d) {
    DIR *dd = opendir(d);
    struct dirent *e;
    while (dd && (e = readdir(dd)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".idx")) {
            char p[8400];
            snprintf(p, sizeof p, "%s/%s", d, e->d_name);
            unlink(p);
        }
    }
    if (dd)
        closedir(dd);
}

/* ---- replay collector keeping the first bytes of each record ---- */
typedef struct {
    wlog_pos pos;
    uint8_t type;
    size_t len;
    uint8_t head[16];
} rrec;
typedef struct {
    rrec *v;
    size_t n, cap;
} rset;
static int collect(void *ctx, wlog_pos pos, uint8_t type, const void *p, size_t len) {
    rset *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        cr_assert(r->v);
    }
    rrec *e = &r->v[r->n++];
    memset(e, 0, sizeof *e);
    e->pos = pos;
    e->type = type;
    e->len = len;
    memcpy(e->head, p, len < 16 ? len : 16);
    if (r->n > 1)
        cr_assert_gt(pos, r->v[r->n - 2].pos, "replay out of order");
    return 0;
}
static void rset_free(rset *r) {
    free(r->v);
    memset(r, 0, sizeof *r);
}

static wlog *open_log(const char *d, uint32_t seg, rset *r, int maint_ms) {
    static wlog_io io;
    io = fio;
    io.fallocate = wlog_io_libc.fallocate;
    io.close = wlog_io_libc.close;
    wlog_opts o = {.segment_size = seg, .io = &io, .log = t_log, .reclaim_in_order = true, .summarize = t_summarize,
                   .keep = keep, .maint_interval_ms = maint_ms};
    wlog *l = NULL;
    int rc = wlog_open(d, &o, r ? collect : NULL, r, &l);
    cr_assert_eq(rc, 0, "wlog_open: %s", wlog_strerror(rc));
    return l;
}

/* ---- the model ---- */
typedef struct {
    wlog_pos pos;
    uint32_t id;
    uint8_t refs;
    uint8_t alive; /* bit q: reference q is live */
} mmsg;
typedef struct {
    mmsg *v;
    size_t n, cap;
} model;

static void body_of(uint32_t id, uint8_t *b) { t_payload(b, BODY, id); }

static wlog_pos put_msg(wlog *l, model *m, uint32_t id, uint8_t refs) {
    uint8_t b[6 + BODY];
    b[0] = refs;
    b[1] = 0;
    memcpy(b + 2, &id, 4);
    body_of(id, b + 6);
    wlog_pos p = wlog_append_live(l, 1, b, sizeof b, refs);
    cr_assert_neq(p, 0);
    if (m) {
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 256;
            m->v = realloc(m->v, m->cap * sizeof *m->v);
            cr_assert(m->v);
        }
        m->v[m->n++] = (mmsg){.pos = p, .id = id, .refs = refs, .alive = (uint8_t)((1u << refs) - 1)};
    }
    return p;
}

static void ack(wlog *l, mmsg *e, int q) {
    cr_assert(e->alive & (1u << q));
    uint8_t b[9];
    memcpy(b, &e->pos, 8);
    b[8] = (uint8_t)q;
    cr_assert_neq(wlog_append(l, 2, b, sizeof b), 0);
    wlog_live(l, e->pos, -1);
    e->alive &= (uint8_t)~(1u << q);
}

static const rrec *rfind(const rset *r, wlog_pos pos) {
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->v[mid].pos == pos)
            return &r->v[mid];
        if (r->v[mid].pos < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Acks replayed: sorted (pos << 8 | ref). */
typedef struct {
    uint64_t *k;
    size_t n;
} ackset;
static int u64cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}
static ackset acks_of(const rset *r) {
    ackset a = {malloc((r->n ? r->n : 1) * sizeof(uint64_t)), 0};
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].type == 2 && r->v[i].len == 9) {
            wlog_pos p;
            memcpy(&p, r->v[i].head, 8);
            a.k[a.n++] = (p << 8) | r->v[i].head[8];
        }
    qsort(a.k, a.n, sizeof *a.k, u64cmp);
    return a;
}
static bool acked(const ackset *a, wlog_pos p, int q) {
    uint64_t k = (p << 8) | (uint64_t)q;
    return bsearch(&k, a->k, a->n, sizeof k, u64cmp) != NULL;
}

/* What a broker does after replay: restores live references, reports the
 * dead ones, arms reclaim. */
static void restore(wlog *l, const rset *r) {
    ackset a = acks_of(r);
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].type != 1)
            continue;
        int refs = r->v[i].head[0];
        for (int q = 0; q < refs; q++) {
            if (acked(&a, r->v[i].pos, q))
                wlog_dead(l, r->v[i].pos);
            else
                wlog_live(l, r->v[i].pos, 1);
        }
    }
    free(a.k);
    wlog_reclaim(l);
}

static bool readable(wlog *l, const mmsg *e) {
    uint8_t buf[6 + BODY + 8], want[BODY];
    size_t len = 0;
    uint8_t type = 0;
    if (wlog_read(l, e->pos, &type, buf, sizeof buf, &len) != 0 || type != 1 || len != 6 + BODY)
        return false;
    body_of(e->id, want);
    uint32_t id;
    memcpy(&id, buf + 2, 4);
    return id == e->id && memcmp(buf + 6, want, BODY) == 0;
}

/* The invariant, for the replay r of the log l. */
static void check(const char *what, wlog *l, const model *m, const rset *r) {
    ackset a = acks_of(r);
    for (size_t i = 0; i < m->n; i++) {
        const mmsg *e = &m->v[i];
        const rrec *x = rfind(r, e->pos);
        if (e->alive) {
            cr_assert(x, "%s: message %u (pos %llx, alive %x) was lost", what, e->id, (unsigned long long)e->pos, e->alive);
            cr_assert_eq(x->type, 1);
            uint32_t id;
            memcpy(&id, x->head + 2, 4);
            cr_assert_eq(id, e->id, "%s: message at %llx has id %u, want %u", what, (unsigned long long)e->pos, id, e->id);
            for (int q = 0; q < e->refs; q++)
                cr_assert_eq(acked(&a, e->pos, q), !(e->alive & (1u << q)),
                             "%s: message %u ref %d: ack replayed %d, alive %d", what, e->id, q, acked(&a, e->pos, q),
                             !!(e->alive & (1u << q)));
            if (l)
                cr_assert(readable(l, e), "%s: live message %u does not read back", what, e->id);
        } else if (x) {
            for (int q = 0; q < e->refs; q++)
                cr_assert(acked(&a, e->pos, q), "%s: acked message %u came back without its ack %d", what, e->id, q);
        }
    }
    /* nothing unknown is replayed as a message */
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].type != 1)
            continue;
        size_t lo = 0, hi = m->n;
        bool found = false;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (m->v[mid].pos == r->v[i].pos) {
                found = true;
                break;
            }
            if (m->v[mid].pos < r->v[i].pos)
                lo = mid + 1;
            else
                hi = mid;
        }
        cr_assert(found, "%s: unknown message at %llx replayed", what, (unsigned long long)r->v[i].pos);
    }
    free(a.k);
}

static void maintain_until_stable(wlog *l) {
    for (int i = 0; i < 30 && wlog_maintain(l) > 0; i++)
        ;
}

/* Reopens d, restores, checks; returns the open log (replay in *r). */
static wlog *reopen_check(const char *what, const char *d, uint32_t seg, const model *m, rset *r) {
    rset_free(r);
    wlog *l = open_log(d, seg, r, -1);
    check(what, l, m, r);
    restore(l, r);
    return l;
}

/* A log whose maintenance has everything to do: segment 1 stays live (so
 * in-order reclaim deletes nothing), mostly dead segments to rewrite, dead
 * ones to delete out of order, acks that become unneeded, multi-reference
 * messages with one reference left. */
#define SEG 8192u
static void build(wlog *l, model *m) {
    uint32_t id = 0;
    for (int i = 0; i < 150; i++, id++)
        put_msg(l, m, id, (uint8_t)(id % 3 == 0 ? 2 : 1));
    for (size_t i = 0; i < m->n; i++) {
        mmsg *e = &m->v[i];
        if (e->id % 7 != 0)
            for (int q = 0; q < e->refs; q++)
                ack(l, e, q);
        else if (e->refs == 2)
            ack(l, e, 1);
    }
    size_t dead0 = m->n; /* more than a segment of messages that all die: a whole dead segment */
    for (int i = 0; i < 130; i++, id++)
        put_msg(l, m, id, 1);
    for (size_t i = dead0; i < m->n; i++)
        ack(l, &m->v[i], 0);
    size_t from = m->n;
    for (int i = 0; i < 150; i++, id++)
        put_msg(l, m, id, 1);
    for (size_t i = from; i < m->n; i++)
        if (m->v[i].id % 5 != 0)
            ack(l, &m->v[i], 0);
    for (int i = 0; i < 60; i++, id++)
        put_msg(l, m, id, 1);
    cr_assert_eq(wlog_sync(l), 0);
    cr_assert(m->v[0].alive, "segment 1 keeps a live message");
}

static void model_free(model *m) {
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* ---- 1. an I/O error at each call of a maintenance pass ---- */
static void fault_round(int kind, int at, bool *reached) {
    char *d = t_mkdtemp();
    model m = {0};
    rset r = {0};
    int fds = t_count_fds();
    wlog *l = open_log(d, SEG, NULL, -1);
    build(l, &m);
    wlog_maintain(l); /* indexes only: reclaim is not armed yet */
    wlog_reclaim(l);
    f_arm(kind, at, false);
    for (int i = 0; i < 3; i++)
        wlog_maintain(l);
    f_disarm();
    *reached = atomic_load(&f_hits) > 0;
    char what[96];
    snprintf(what, sizeof what, "%s #%d failed", f_names[kind], at);
    for (size_t i = 0; i < m.n; i++)
        if (m.v[i].alive)
            cr_assert(readable(l, &m.v[i]), "%s: live message %u unreadable after the failure", what, m.v[i].id);
    maintain_until_stable(l);
    for (size_t i = 0; i < m.n; i++)
        if (m.v[i].alive)
            cr_assert(readable(l, &m.v[i]), "%s: live message %u unreadable after more passes", what, m.v[i].id);
    wlog_close(&l);
    cr_assert_eq(t_count_fds(), fds, "%s: file descriptors leaked", what);
    l = reopen_check(what, d, SEG, &m, &r);
    maintain_until_stable(l);
    wlog_close(&l);
    l = reopen_check(what, d, SEG, &m, &r);
    wlog_close(&l);
    remove_idx_files(d);
    l = reopen_check(what, d, SEG, &m, &r);
    wlog_close(&l);
    rset_free(&r);
    model_free(&m);
    t_rmrf(d);
    free(d);
}

static void fault_kind(int kind) {
    int tried = 0;
    for (int at = 1; at < 2000; at += at < 24 ? 1 : 9) {
        bool reached;
        fault_round(kind, at, &reached);
        tried++;
        if (!reached)
            break;
    }
    cr_assert_gt(tried, 1, "%s: the maintenance pass made no such call", f_names[kind]);
}

Test(cfaults, every_open_of_a_maintenance_pass_fails_in_turn, .timeout = 300) { fault_kind(F_OPEN); }
Test(cfaults, every_pwrite_of_a_maintenance_pass_fails_in_turn, .timeout = 300) { fault_kind(F_PWRITE); }
Test(cfaults, every_pread_of_a_maintenance_pass_fails_in_turn, .timeout = 300) { fault_kind(F_PREAD); }
Test(cfaults, every_fdatasync_of_a_maintenance_pass_fails_in_turn, .timeout = 300) { fault_kind(F_FDATASYNC); }
Test(cfaults, every_ftruncate_of_a_maintenance_pass_fails_in_turn, .timeout = 300) { fault_kind(F_FTRUNCATE); }
Test(cfaults, every_rename_of_a_maintenance_pass_fails_in_turn, .timeout = 300) { fault_kind(F_RENAME); }
Test(cfaults, every_unlink_of_a_maintenance_pass_fails_in_turn, .timeout = 300) { fault_kind(F_UNLINK); }
Test(cfaults, every_fsync_dir_of_a_maintenance_pass_fails_in_turn, .timeout = 300) { fault_kind(F_FSYNC_DIR); }

/* ---- 2. a crash before each call of the maintenance passes ---- */
Test(cfaults, crash_before_any_call_of_maintenance_recovers_the_model, .timeout = 600) {
    int at;
    for (at = 1; at < 5000; at += at < 60 ? 1 : 5) {
        t_rmrf(dir);
        free(dir);
        dir = t_mkdtemp(); /* f_hit copies `dir`; teardown removes the last one */
        char img[4200];
        snprintf(img, sizeof img, "%s-img", dir);
        f_img = img;
        model m = {0};
        rset r = {0};
        wlog *l = open_log(dir, SEG, NULL, -1);
        build(l, &m);
        wlog_maintain(l);
        wlog_reclaim(l);
        f_arm(F_ANY, at, true);
        maintain_until_stable(l);
        f_disarm();
        bool reached = atomic_load(&f_hits) > 0;
        wlog_close(&l);
        if (reached) {
            char what[64];
            snprintf(what, sizeof what, "crash before call %d", at);
            l = reopen_check(what, img, SEG, &m, &r);
            maintain_until_stable(l);
            wlog_close(&l);
            l = reopen_check(what, img, SEG, &m, &r);
            wlog_close(&l);
            t_rmrf(img);
        }
        rset_free(&r);
        model_free(&m);
        if (!reached)
            break;
    }
    cr_assert_gt(at, 20, "only %d calls", at);
}

/* ---- 3. the syncer deletes the oldest segment while a compaction decides ---- */
typedef struct {
    wlog *l;
    atomic_int done;
} mt_arg;
static void *maint_thread(void *p) {
    mt_arg *a = p;
    maintain_until_stable(a->l);
    atomic_store(&a->done, 1);
    return NULL;
}

Test(cfaults, an_ack_is_not_dropped_before_the_deletion_of_its_message_is_durable, .timeout = 60) {
    model m = {0};
    rset r = {0};
    wlog *l = open_log(dir, SEG, NULL, -1);
    uint32_t id = 0;
    while (m.n == 0 || WLOG_SEG(m.v[m.n - 1].pos) < 2) /* segment 1: messages, all acked below */
        put_msg(l, &m, id++, 1);
    size_t in1 = m.n - 1;
    size_t b0 = m.n;
    for (int i = 0; i < 20; i++) /* segment 2: messages that die, one that stays */
        put_msg(l, &m, id++, 1);
    for (size_t i = 0; i < in1; i++) { /* acks of segment 1's messages (no deaths yet) */
        uint8_t b[9];
        memcpy(b, &m.v[i].pos, 8);
        b[8] = 0;
        cr_assert_neq(wlog_append(l, 2, b, sizeof b), 0);
    }
    while (WLOG_SEG(wlog_append(l, 3, "note-note-note", 14)) < 4) /* no refs: segment 2 stays mostly dead */
        ;
    cr_assert_eq(WLOG_SEG(m.v[in1 - 1].pos), 1);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_maintain(l); /* indexes */
    wlog_reclaim(l);
    for (size_t i = b0; i < b0 + 19; i++) { /* segment 2 is mostly dead: it will be compacted */
        ack(l, &m.v[i], 0);
    }
    cr_assert_eq(wlog_sync(l), 0);
    snprintf(blk_path, sizeof blk_path, "%s/%020u.seg", dir, 1u);
    for (size_t i = 0; i < in1; i++) { /* the acks are already on disk; now the deaths */
        wlog_live(l, m.v[i].pos, -1);
        m.v[i].alive = 0;
    }
    /* the syncer deletes segment 1 (in order) and blocks in its unlink */
    for (int i = 0; i < 500 && !atomic_load(&blk_entered); i++)
        usleep(10000);
    cr_assert(atomic_load(&blk_entered), "the syncer did not reclaim segment 1");
    mt_arg a = {.l = l};
    pthread_t t;
    pthread_create(&t, NULL, maint_thread, &a);
    for (int i = 0; i < 100 && !atomic_load(&a.done); i++)
        usleep(10000);
    /* crash now: segment 1 is still on disk */
    char img[4200];
    snprintf(img, sizeof img, "%s-img", dir);
    copy_dir(dir, img);
    pthread_mutex_lock(&blk_mu);
    atomic_store(&blk_go, 1);
    pthread_cond_broadcast(&blk_cv);
    pthread_mutex_unlock(&blk_mu);
    pthread_join(t, NULL);
    blk_path[0] = 0;
    wlog_close(&l);
    l = reopen_check("crash while segment 1 was being deleted", img, SEG, &m, &r);
    wlog_close(&l);
    l = reopen_check("after the deletion", dir, SEG, &m, &r);
    wlog_close(&l);
    t_rmrf(img);
    rset_free(&r);
    model_free(&m);
}

/* ---- 4. deaths that arrive while the segment is being compacted ---- */
static model *late_m;
static size_t late_from, late_to;
static wlog *late_l;
static void kill_late(wlog *l) {
    (void)l;
    for (size_t i = late_from; i < late_to; i++)
        wlog_live(late_l, late_m->v[i].pos, -1), late_m->v[i].alive = 0;
}

Test(cfaults, deaths_during_a_compaction_still_count_for_the_next_one) {
    model m = {0};
    wlog *l = open_log(dir, SEG, NULL, -1);
    uint32_t id = 0;
    put_msg(l, &m, id++, 1); /* segment 1 stays live: in-order reclaim stays out of the way */
    while (WLOG_SEG(m.v[m.n - 1].pos) < 2)
        put_msg(l, &m, id++, 1);
    size_t g0 = m.n - 1; /* first message of segment 2 */
    uint8_t b[9];
    memcpy(b, &m.v[g0].pos, 8);
    b[8] = 0;
    wlog_pos a0 = wlog_append(l, 2, b, sizeof b); /* an ack in segment 2: the keep hook runs for it */
    cr_assert_eq(WLOG_SEG(a0), 2);
    while (WLOG_SEG(m.v[m.n - 1].pos) < 3)
        put_msg(l, &m, id++, 1);
    size_t g1 = m.n - 1; /* first of segment 3 */
    while (WLOG_SEG(m.v[m.n - 1].pos) < 4)
        put_msg(l, &m, id++, 1);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_maintain(l);
    wlog_reclaim(l);
    size_t half = g0 + (g1 - g0) / 2;
    for (size_t i = g0; i < half; i++)
        wlog_live(l, m.v[i].pos, -1), m.v[i].alive = 0;
    late_m = &m;
    late_l = l;
    late_from = half;
    late_to = g1;
    keep_hook = kill_late; /* the rest of segment 2 dies during its compaction */
    cr_assert_geq(wlog_maintain(l), 1);
    cr_assert_null(keep_hook, "the keep hook ran");
    char p[4200];
    snprintf(p, sizeof p, "%s/%020u.seg", dir, 2u);
    cr_assert(access(p, F_OK) == 0);
    maintain_until_stable(l);
    cr_assert(access(p, F_OK) != 0, "segment 2 is all dead, its only ack names a dead message: it must go (%s)", t_logbuf);
    wlog_close(&l);
    rset r = {0};
    /* acks of killed messages were not written: check only the live ones */
    l = open_log(dir, SEG, &r, -1);
    for (size_t i = 0; i < m.n; i++)
        if (m.v[i].alive)
            cr_assert(rfind(&r, m.v[i].pos) && readable(l, &m.v[i]));
    wlog_close(&l);
    rset_free(&r);
    model_free(&m);
}

/* ---- 5. a segment filled to the last byte, compacted: its tail marker ---- */
Test(cfaults, a_compacted_full_segment_is_still_indexed_and_not_cut) {
    /* 16 records of 510 bytes fill a segment of 8192 exactly */
    wlog *l = open_log(dir, SEG, NULL, -1);
    uint8_t b[501];
    wlog_pos pos[40];
    for (int i = 0; i < 40; i++) {
        memset(b, 0, sizeof b);
        b[0] = 1;
        memcpy(b + 2, &i, 4);
        t_payload(b + 6, sizeof b - 6, (uint32_t)i);
        pos[i] = wlog_append_live(l, 1, b, sizeof b, 1);
    }
    cr_assert_eq(WLOG_SEG(pos[15]), 1);
    cr_assert_eq(WLOG_SEG(pos[16]), 2, "segment 1 holds 16 records exactly");
    cr_assert_eq(wlog_sync(l), 0);
    wlog_maintain(l);
    wlog_reclaim(l);
    for (int i = 6; i < 16; i++) /* the tail of segment 1 dies */
        wlog_live(l, pos[i], -1);
    cr_assert_eq(wlog_maintain(l), 1, "%s", t_logbuf);
    wlog_close(&l);
    t_log_reset();
    rset r = {0};
    l = open_log(dir, SEG, &r, -1);
    cr_assert_null(strstr(t_logbuf, "torn tail"), "%s", t_logbuf);
    cr_assert_null(strstr(t_logbuf, "does not match"), "%s", t_logbuf);
    cr_assert(strstr(t_logbuf, "2 segment(s) replayed from their index, 1 read whole"), "%s", t_logbuf);
    for (int i = 0; i < 40; i++)
        cr_assert_eq(rfind(&r, pos[i]) != NULL, i < 6 || i >= 16, "record %d", i);
    wlog_close(&l);
    remove_idx_files(dir);
    t_log_reset();
    rset_free(&r);
    l = open_log(dir, SEG, &r, -1);
    cr_assert_null(strstr(t_logbuf, "torn tail"), "walking it: %s", t_logbuf);
    for (int i = 0; i < 40; i++)
        cr_assert_eq(rfind(&r, pos[i]) != NULL, i < 6 || i >= 16, "record %d", i);
    wlog_close(&l);
    rset_free(&r);
}

/* ---- 6. readers hammer live records while compactions swap files ---- */
#define NKEEP 100000
static wlog_pos keepers_pos[NKEEP];
static uint32_t keepers_id[NKEEP];
static atomic_int nkeepers, stop_readers, read_errors;
static atomic_long reads_done;

static void *reader(void *p) {
    wlog *l = p;
    uint32_t x = 12345u + (uint32_t)(uintptr_t)&x;
    while (!atomic_load(&stop_readers)) {
        int n = atomic_load(&nkeepers);
        if (!n)
            continue;
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        int k = (int)(x % (uint32_t)n);
        mmsg e = {.pos = keepers_pos[k], .id = keepers_id[k]};
        if (!readable(l, &e))
            atomic_fetch_add(&read_errors, 1);
        atomic_fetch_add(&reads_done, 1);
    }
    return NULL;
}

Test(cfaults, readers_never_see_an_error_while_compactions_and_appends_run, .timeout = 120) {
    model m = {0};
    wlog *l = open_log(dir, SEG, NULL, 1); /* the maintenance thread runs every millisecond */
    wlog_reclaim(l);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, reader, l);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint32_t id = 0;
    size_t acked_upto = 0;
    do {
        for (int i = 0; i < 50; i++, id++) {
            put_msg(l, &m, id, (uint8_t)(1 + id % 2));
            if (id % 10 == 0 && atomic_load(&nkeepers) < NKEEP) {
                int k = atomic_load(&nkeepers);
                keepers_pos[k] = m.v[m.n - 1].pos;
                keepers_id[k] = id;
                atomic_store(&nkeepers, k + 1);
            }
        }
        if (id % 200 == 0)
            wlog_sync(l);
        /* everything but the keepers dies, a little behind the appends */
        for (; acked_upto + 100 < m.n; acked_upto++) {
            mmsg *e = &m.v[acked_upto];
            if (e->id % 10 == 0)
                continue;
            for (int q = 0; q < e->refs; q++)
                ack(l, e, q);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < 1500);
    cr_assert_eq(wlog_sync(l), 0);
    usleep(50000);
    atomic_store(&stop_readers, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&read_errors), 0, "%d of %ld reads failed", atomic_load(&read_errors), atomic_load(&reads_done));
    cr_assert_gt(atomic_load(&reads_done), 1000);
    cr_assert(strstr(t_logbuf, "compacted segment") || strstr(t_logbuf, "nothing in it is needed"),
              "some compaction ran: %.500s", t_logbuf);
    wlog_close(&l);
    rset r = {0};
    l = reopen_check("after the hammering", dir, SEG, &m, &r);
    wlog_close(&l);
    rset_free(&r);
    model_free(&m);
}

/* ---- 7. randomized rounds against the model ---- */
static uint32_t rnd_state;
static uint32_t rnd(void) {
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

/* The replay from indexes and the replay walking every segment agree. */
static void same_replay(const char *what, const char *d, const rset *r) {
    char w[4200];
    snprintf(w, sizeof w, "%s-walk", d);
    copy_dir(d, w);
    remove_idx_files(w);
    rset r2 = {0};
    wlog *l = open_log(w, SEG, &r2, -1);
    wlog_close(&l);
    cr_assert_eq(r2.n, r->n, "%s: %zu records from the indexes, %zu walking", what, r->n, r2.n);
    for (size_t i = 0; i < r->n; i++) {
        cr_assert_eq(r2.v[i].pos, r->v[i].pos, "%s: record %zu", what, i);
        cr_assert_eq(r2.v[i].type, r->v[i].type);
        size_t k = r->v[i].type == 1 ? 6 : r->v[i].len < 16 ? r->v[i].len : 16;
        cr_assert_eq(memcmp(r2.v[i].head, r->v[i].head, k), 0, "%s: summary of record %zu", what, i);
    }
    rset_free(&r2);
    t_rmrf(w);
}

static void random_run(uint32_t seed) {
    rnd_state = seed;
    model m = {0};
    rset r = {0};
    char *d = t_mkdtemp();
    wlog *l = open_log(d, SEG, NULL, -1);
    wlog_reclaim(l);
    uint32_t id = 0;
    for (int round = 0; round < 14; round++) {
        int ops = 40 + (int)(rnd() % 160);
        for (int o = 0; o < ops; o++) {
            uint32_t c = rnd() % 100;
            if (c < 45) {
                put_msg(l, &m, id++, (uint8_t)(1 + rnd() % 3));
            } else if (c < 85 && m.n) {
                /* ack a live reference, mostly of recent messages */
                size_t i = rnd() % 4 ? m.n - 1 - rnd() % (m.n < 200 ? m.n : 200) : rnd() % m.n;
                mmsg *e = &m.v[i];
                if (e->alive) {
                    int q;
                    do
                        q = (int)(rnd() % e->refs);
                    while (!(e->alive & (1u << q)));
                    ack(l, e, q);
                }
            } else if (c < 88) {
                cr_assert_neq(wlog_append(l, 3, "note", 4), 0);
            } else if (c < 95) {
                wlog_sync(l);
                wlog_maintain(l);
            } else {
                wlog_sync(l);
            }
        }
        cr_assert_eq(wlog_sync(l), 0);
        maintain_until_stable(l);
        char what[64];
        snprintf(what, sizeof what, "seed %u round %d", seed, round);
        for (size_t i = 0; i < m.n; i++)
            if (m.v[i].alive)
                cr_assert(readable(l, &m.v[i]), "%s: live message %u unreadable before reopen", what, m.v[i].id);
        uint32_t how = rnd() % 10;
        if (how < 5) { /* clean close */
            wlog_close(&l);
        } else if (how < 8) { /* crash: the directory as it is now, no close */
            char img[4200];
            snprintf(img, sizeof img, "%s-c", d);
            copy_dir(d, img);
            wlog_close(&l);
            t_rmrf(d);
            cr_assert_eq(rename(img, d), 0);
        } else { /* indexes lost */
            wlog_close(&l);
            remove_idx_files(d);
        }
        l = reopen_check(what, d, SEG, &m, &r);
        wlog_close(&l);
        same_replay(what, d, &r);
        l = reopen_check(what, d, SEG, &m, &r);
    }
    cr_assert_gt(m.n, 500);
    wlog_close(&l);
    rset_free(&r);
    model_free(&m);
    t_rmrf(d);
    free(d);
}

Test(cfaults, random_rounds_against_the_model, .timeout = 600) {
    static const uint32_t seeds[] = {11, 23, 37, 41, 59, 101};
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++)
        random_run(seeds[i]);
}

/* ---- 8. an index left over from an earlier segment of the same number ---- */
Test(cfaults, a_stale_index_of_a_reused_segment_number_is_never_trusted) {
    /* a first log, whose segment 3 gets an index */
    model a = {0};
    wlog *l = open_log(dir, SEG, NULL, -1);
    uint32_t id = 100000;
    while (a.n == 0 || WLOG_SEG(a.v[a.n - 1].pos) < 5)
        put_msg(l, &a, id++, 1);
    cr_assert_eq(wlog_sync(l), 0);
    wlog_maintain(l);
    wlog_close(&l);
    char p[4200];
    snprintf(p, sizeof p, "%s/%020u.idx", dir, 3u);
    int fd = open(p, O_RDONLY);
    cr_assert(fd >= 0);
    static uint8_t idx[1 << 16];
    ssize_t n = read(fd, idx, sizeof idx);
    close(fd);
    cr_assert_gt(n, 32);
    model_free(&a);
    /* a new log in the same place; the old index of segment 3 survived (its
     * unlink was lost in a crash, say) when segment 3 is created again */
    t_rmrf(dir);
    cr_assert_eq(mkdir(dir, 0755), 0);
    model m = {0};
    l = open_log(dir, SEG, NULL, -1);
    id = 0;
    while (m.n == 0 || WLOG_SEG(m.v[m.n - 1].pos) < 2)
        put_msg(l, &m, id++, 2); /* different records: 2 refs, other ids */
    cr_assert_eq(wlog_sync(l), 0);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_eq(write(fd, idx, (size_t)n), n);
    close(fd);
    while (WLOG_SEG(m.v[m.n - 1].pos) < 4)
        put_msg(l, &m, id++, 2);
    cr_assert_eq(wlog_sync(l), 0);
    char img[4200]; /* crash before any maintenance pass */
    snprintf(img, sizeof img, "%s-img", dir);
    copy_dir(dir, img);
    wlog_close(&l);
    rset r = {0};
    l = reopen_check("stale index", img, SEG, &m, &r);
    wlog_close(&l);
    t_rmrf(img);
    rset_free(&r);
    model_free(&m);
}

/* ---- 9. wlog_close while the maintenance thread is busy ---- */
Test(cfaults, close_during_maintenance_loses_and_resurrects_nothing, .timeout = 120) {
    model m = {0};
    rset r = {0};
    uint32_t id = 0;
    rnd_state = 777;
    wlog *l = open_log(dir, SEG, NULL, 1);
    wlog_reclaim(l);
    for (int round = 0; round < 25; round++) {
        for (int i = 0; i < 150; i++)
            put_msg(l, &m, id++, (uint8_t)(1 + rnd() % 2));
        for (size_t i = 0; i < m.n; i++) /* most of everything dies */
            if (m.v[i].alive && rnd() % 10)
                for (int q = 0; q < m.v[i].refs; q++)
                    if (m.v[i].alive & (1u << q))
                        ack(l, &m.v[i], q);
        cr_assert_eq(wlog_sync(l), 0);
        usleep(rnd() % 4000); /* the maintenance thread is somewhere in a pass */
        wlog_close(&l);
        char what[64];
        snprintf(what, sizeof what, "close during maintenance, round %d", round);
        rset_free(&r);
        l = open_log(dir, SEG, &r, 1);
        check(what, l, &m, &r);
        restore(l, &r);
    }
    wlog_close(&l);
    rset_free(&r);
    model_free(&m);
}
