/* recover.c — wlog_open: scan the segments in number order, validate each
 * header, replay the records, cut torn tails, set the tail and start the
 * syncer.
 *
 * Header rules: a last segment whose header was never written (file shorter
 * than a header, or an all-zero header) is what a crash while creating it
 * leaves: it is removed (info). Any other bad header means the segment cannot
 * be trusted: it is skipped with an error line and renamed to
 * "<name>.corrupt" so it is kept for inspection but never scanned again. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "internal.h"

typedef struct {
    wlog *l;
    wlog_replay_fn fn;
    void *ctx;
    uint32_t max_seen;
    uint32_t last_kept; /* 0 = none */
    uint64_t last_end;
    wlog_sum sum;       /* summary built while walking a segment */
    bool noindex;
    uint64_t indexed, walked;
} recovery;

static void rec_log(wlog *l, int level, const char *fmt, const char *path, const char *extra) {
    wlog_logf(l->opts.log, l->opts.ctx, level, fmt, path, extra);
}

static void rec_drop_bad_header(wlog *l, uint32_t num, const char *path, bool last, bool zero) {
    if (last && zero) {
        rec_log(l, 2, "removed %s: header never written (crash while creating it)%s", path, "");
        l->io->unlink(path);
        return;
    }
    wlog_idx_unlink(l, num); /* its index, if any, describes nothing now */
    char to[PATH_MAX + 16];
    snprintf(to, sizeof to, "%s.corrupt", path);
    if (l->io->rename(path, to) == 0)
        rec_log(l, 0, "corrupt segment header in %s: segment skipped, kept as %s", path, to);
    else
        rec_log(l, 0, "corrupt segment header in %s: segment skipped (rename failed: %s)", path, strerror(errno));
}

/* Cuts a torn tail, or extends a short last segment back to full size. */
static int rec_fix_tail(recovery *rc, wlog_reader *r, const wlog_walk *w, int fd) {
    wlog *l = rc->l;
    uint64_t size = w->end > l->segsize ? w->end : l->segsize;
    if (!w->last)
        size = w->end;
    if (w->dirty)
        return wlog_io_cut(l->io, fd, w->end, size);
    if (!w->last)
        return 0;
    size_t got;
    if (!wlog_reader_get(r, size - 1, 1, &got))
        return r->err;
    if (got == 1)
        return 0;
    int e = wlog_io_prealloc(l->io, fd, size);
    return e ? e : (l->io->fdatasync(fd) == 0 ? 0 : -EIO);
}

static int rec_keep(recovery *rc, uint32_t num, int fd, bool last, uint64_t end) {
    wlog_seg *s = wlog_seg_add(rc->l, num);
    if (!s)
        return WLOG_EIO; /* the caller closes fd */
    s->created = true;
    s->end = (uint32_t)end;
    s->sum = rc->sum; /* the maintenance thread writes it out once sealed */
    s->noindex = rc->noindex;
    memset(&rc->sum, 0, sizeof rc->sum);
    if (last)
        s->fd = fd;
    else
        rc->l->io->close(fd);
    rc->last_kept = num;
    rc->last_end = end;
    return 0;
}

/* Replay wrapper that also builds the segment's summary. */
static int rec_sum_fn(void *ctx, wlog_pos pos, uint8_t type, const void *p, size_t len) {
    recovery *rc = ctx;
    if (!rc->noindex) {
        uint32_t refs;
        size_t sl = wlog_sum_len(rc->l, type, p, len, len, &refs);
        struct iovec iov = {(void *)p, len};
        if (wlog_sum_add(&rc->sum, WLOG_OFF(pos), type, refs, &iov, 1, sl))
            rc->noindex = true;
    }
    return rc->fn ? rc->fn(rc->ctx, pos, type, p, len) : 0;
}

typedef struct {
    recovery *rc;
    uint32_t num;
    int err;
} idx_replay;

static int rec_idx_fn(void *ctx, uint32_t off, uint8_t type, uint32_t refs, const uint8_t *p, uint32_t len) {
    (void)refs;
    idx_replay *x = ctx;
    x->err = x->rc->fn ? x->rc->fn(x->rc->ctx, WLOG_POS(x->num, off), type, p, len) : 0;
    return x->err;
}

/* A sealed segment with a valid index: replayed from it, the segment file is
 * not read past its header. 1 = no usable index (walk it; fd still open),
 * else 0 or an error, fd closed. */
static int rec_from_index(recovery *rc, uint32_t num, int fd, const char *path) {
    wlog *l = rc->l;
    uint8_t *e;
    size_t n;
    uint32_t count, end;
    int k = wlog_idx_read(l, num, &e, &n, &count, &end);
    if (k == 1)
        return 1;
    struct stat st;
    if (k == 0 && (fstat(fd, &st) != 0 || (uint64_t)st.st_size < end))
        k = -1;
    if (k) {
        free(e);
        char ip[PATH_MAX];
        wlog_idx_path(ip, sizeof ip, l->dir, num);
        rec_log(l, 1, "index %s does not match its segment or is damaged: reading %s instead", ip, path);
        wlog_idx_unlink(l, num);
        return 1;
    }
    idx_replay x = {.rc = rc, .num = num};
    wlog_idx_each(e, n, rec_idx_fn, &x);
    free(e);
    if (x.err) {
        l->io->close(fd);
        return x.err;
    }
    int err = rec_keep(rc, num, fd, false, end); /* closes fd, except on error */
    if (err)
        l->io->close(fd);
    else {
        rc->l->segs[rc->l->nsegs - 1]->indexed = true;
        rc->indexed++;
    }
    return err;
}

static int rec_walk(recovery *rc, wlog_reader *r, uint32_t num, bool last, const char *path) {
    wlog *l = rc->l;
    memset(&rc->sum, 0, sizeof rc->sum);
    rc->noindex = !l->opts.summarize;
    rc->walked++;
    wlog_walk w = {.path = path, .num = num, .last = last, .max_len = WLOG_MAX_SEGMENT - WLOG_HEADER_SIZE,
                   .fn = rec_sum_fn, .fn_ctx = rc, .log = l->opts.log, .log_ctx = l->opts.ctx};
    int err = wlog_walk_records(r, WLOG_HEADER_SIZE, &w);
    if (err) {
        wlog_sum_free(&rc->sum);
        return err;
    }
    int e = rec_fix_tail(rc, r, &w, r->fd);
    if (e) {
        wlog_logf(l->opts.log, l->opts.ctx, 0, "cannot repair the tail of %s: %s", path, strerror(-e));
        return WLOG_EIO;
    }
    /* A sealed segment read whole gets its index now, so the summaries of a
     * whole log (an upgrade, or log.verify_on_start) are never all in memory. */
    bool indexed = false;
    if (!last && !rc->noindex) {
        indexed = wlog_idx_write_sum(l, num, (uint32_t)w.end, &rc->sum, false) == 0;
        wlog_sum_free(&rc->sum);
    }
    int err2 = rec_keep(rc, num, r->fd, last, w.end);
    if (!err2 && indexed)
        l->segs[l->nsegs - 1]->indexed = true;
    return err2;
}

static int rec_segment(recovery *rc, uint32_t num, bool last) {
    wlog *l = rc->l;
    char path[PATH_MAX];
    wlog_seg_path(path, sizeof path, l->dir, num);
    errno = 0;
    int fd = l->io->open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        rec_log(l, 0, "cannot open %s: %s", path, strerror(errno));
        return WLOG_EIO;
    }
    /* An indexed sealed segment is read no further than its header. */
    if (!last && l->opts.summarize && !l->opts.ignore_indexes) {
        uint8_t hb[WLOG_HEADER_SIZE];
        if (wlog_io_read_full(l->io, fd, hb, sizeof hb, 0) == (ssize_t)sizeof hb &&
            wlog_header_check(hb, WLOG_MAGIC, num) == 0) {
            int k = rec_from_index(rc, num, fd, path);
            if (k != 1)
                return k; /* fd closed either way */
        }
    }
    wlog_reader r;
    wlog_reader_init(&r, l->io, fd);
    size_t got;
    const uint8_t *h = wlog_reader_get(&r, 0, WLOG_HEADER_SIZE, &got);
    int err = 0;
    if (!h) {
        rec_log(l, 0, "cannot read %s: %s", path, strerror(-r.err));
        err = WLOG_EIO;
    } else {
        int hc = got < WLOG_HEADER_SIZE ? 1 : wlog_header_check(h, WLOG_MAGIC, num);
        if (hc == 0) {
            err = rec_walk(rc, &r, num, last, path);
            fd = -1; /* closed or kept by rec_walk's rec_keep (or below on error) */
            if (err)
                fd = r.fd;
        } else {
            l->io->close(fd);
            fd = -1;
            rec_drop_bad_header(l, num, path, last, hc == 1);
        }
    }
    wlog_reader_destroy(&r);
    if (err && fd >= 0)
        l->io->close(fd);
    return err;
}

/* The head: the last kept segment when it is the newest file, else a fresh
 * number after everything seen (created by the syncer on first write). */
static int rec_set_head(recovery *rc) {
    wlog *l = rc->l;
    if (rc->last_kept && rc->last_kept == rc->max_seen) {
        wlog_idx_unlink(l, rc->last_kept); /* appends go on in it: an index of it would be stale */
        l->segs[l->nsegs - 1]->end = 0;
        l->tail_seg = rc->last_kept;
        l->tail_off = (uint32_t)rc->last_end;
    } else {
        if (!wlog_seg_add(l, rc->max_seen + 1))
            return WLOG_EIO;
        l->tail_seg = rc->max_seen + 1;
        l->tail_off = WLOG_HEADER_SIZE;
    }
    l->durable = l->done = WLOG_POS(l->tail_seg, l->tail_off);
    return 0;
}

int wlog_recover(wlog *l, wlog_replay_fn fn, void *ctx) {
    uint32_t *nums = NULL;
    size_t n = 0;
    int e = wlog_io_list(l->dir, &nums, &n);
    if (e) {
        wlog_logf(l->opts.log, l->opts.ctx, 0, "cannot read log directory %s: %s", l->dir, strerror(-e));
        return WLOG_EIO;
    }
    recovery rc = {.l = l, .fn = fn, .ctx = ctx};
    int err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        rc.max_seen = nums[i];
        err = rec_segment(&rc, nums[i], i + 1 == n);
    }
    free(nums);
    wlog_sum_free(&rc.sum);
    if (!err && l->opts.summarize && n)
        wlog_logf(l->opts.log, l->opts.ctx, 2, "recovery: %llu segment(s) replayed from their index, %llu read whole",
                  (unsigned long long)rc.indexed, (unsigned long long)rc.walked);
    return err ? err : rec_set_head(&rc);
}
