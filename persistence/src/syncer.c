/* syncer.c — the syncer thread: group commit of batches, failure handling
 * and reclaim passes.
 *
 * One pass: swap the batches (appenders keep filling the other one), create
 * any segment the batch rolled into, pwrite each span, one fdatasync per
 * touched file, publish durable and call on_durable. Whatever is appended
 * meanwhile is the next batch; when idle the thread sleeps on the condvar,
 * so there is no timer delay.
 *
 * Failure (any create/pwrite/fdatasync error): on_failed(from, to) for the
 * batch, then its range in each segment becomes a "hole" that is zeroed and
 * covered by a skip marker (see internal.h), fdatasync'd. Positions are final,
 * so the next batch lands after the hole and recovery jumps over it; no half
 * record of the failed batch can be replayed. A failed fdatasync is never
 * retried as if the data were there (after a failed fsync Linux may have
 * dropped the pages): the hole is rewritten and synced again. If that repair
 * fails too, the hole stays pending (a later batch in that segment repairs it
 * first or fails too) and the head is poisoned: the next append rolls to a
 * new segment, leaving the bad range at the end of the old one, where
 * recovery treats it as a torn tail. */
#include <errno.h>
#include <string.h>
#include "internal.h"

static int sync_fd(wlog *l, wlog_seg *s, int *fd) {
    pthread_mutex_lock(&l->mu);
    *fd = s->fd;
    pthread_mutex_unlock(&l->mu);
    if (*fd >= 0)
        return 0;
    int rc = wlog_seg_open_fd(l, s);
    pthread_mutex_lock(&l->mu);
    *fd = s->fd;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* Zeros the hole and writes its marker (no sync). */
static int sync_write_hole(wlog *l, wlog_seg *s, int fd) {
    uint8_t m[WLOG_MARKER_SIZE];
    uint32_t size = s->hole_to - s->hole_from;
    int rc = wlog_io_zero(l->io, fd, s->hole_from + WLOG_MARKER_SIZE, size - WLOG_MARKER_SIZE);
    if (rc)
        return rc;
    wlog_marker_encode(m, size);
    return wlog_io_write_all(l->io, fd, m, sizeof m, s->hole_from);
}

static int sync_write_span(wlog *l, const wlog_batch *b, const wlog_span *sp, const char **what) {
    wlog_seg *s = sp->s;
    int fd, rc = 0;
    *what = "create";
    if (!s->created)
        rc = wlog_seg_create(l, s);
    *what = "open";
    if (!rc)
        rc = sync_fd(l, s, &fd);
    *what = "pwrite";
    if (!rc && s->hole_to)
        rc = sync_write_hole(l, s, fd);
    if (!rc)
        rc = wlog_io_write_all(l->io, fd, b->buf + sp->boff, sp->len, sp->off);
    return rc;
}

static int sync_datasync(wlog *l, wlog_seg *s) {
    int fd;
    int rc = sync_fd(l, s, &fd);
    if (rc)
        return rc;
    errno = 0;
    return l->io->fdatasync(fd) == 0 ? 0 : (errno ? -errno : -EIO);
}

/* Writes and syncs the batch. 0 or -errno; *at = the failing segment. */
static int sync_batch(wlog *l, const wlog_batch *b, const char **what, uint32_t *at) {
    int rc = 0;
    for (int i = 0; i < b->nspans && !rc; i++) {
        rc = sync_write_span(l, b, &b->spans[i], what);
        *at = b->spans[i].seg;
    }
    *what = "fdatasync";
    for (int i = 0; i < b->nspans && !rc; i++) {
        rc = sync_datasync(l, b->spans[i].s);
        *at = b->spans[i].seg;
    }
    return rc;
}

/* Marks the failed ranges as holes and tries to make their markers durable.
 * Returns false when some hole could not be repaired. */
static bool sync_make_holes(wlog *l, const wlog_batch *b) {
    bool ok = true;
    for (int i = 0; i < b->nspans; i++) {
        const wlog_span *sp = &b->spans[i];
        wlog_seg *s = sp->s;
        uint32_t to = sp->off + (uint32_t)sp->len;
        if (!s->hole_to) {
            s->hole_from = sp->off;
            s->hole_to = to;
        } else {
            s->hole_from = s->hole_from < sp->off ? s->hole_from : sp->off;
            s->hole_to = s->hole_to > to ? s->hole_to : to;
        }
        if (!s->created)
            continue; /* repaired when the file gets created */
        int fd;
        int rc = sync_fd(l, s, &fd);
        if (!rc)
            rc = sync_write_hole(l, s, fd);
        if (!rc)
            rc = sync_datasync(l, s);
        if (rc) {
            ok = false;
            wlog_logf(l->opts.log, l->opts.ctx, 0, "cannot mark failed range in segment %u: %s", (unsigned)s->num,
                      strerror(-rc));
        } else {
            s->hole_from = s->hole_to = 0;
        }
    }
    return ok;
}

static void sync_failed(wlog *l, const wlog_batch *b, int rc, const char *what, uint32_t at) {
    wlog_logf(l->opts.log, l->opts.ctx, 0, "%s failed in segment %u: %s; records [%llx, %llx) lost", what,
              (unsigned)at, strerror(-rc), (unsigned long long)b->from, (unsigned long long)b->to);
    if (l->opts.on_failed)
        l->opts.on_failed(l->opts.ctx, b->from, b->to, WLOG_EIO);
    bool repaired = sync_make_holes(l, b);
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < b->nspans; i++)
        b->spans[i].s->noindex = true; /* recovery walks it, over the marker */
    if (!repaired)
        l->force_roll = true;
    if (l->fail_seq == l->fail_reported)
        l->first_unreported_fail = b->from;
    l->fail_seq++;
    pthread_mutex_unlock(&l->mu);
}

static void sync_process(wlog *l, const wlog_batch *b) {
    const char *what = "";
    uint32_t at = 0;
    int rc = sync_batch(l, b, &what, &at);
    if (rc) {
        sync_failed(l, b, rc, what, at);
        return;
    }
    for (int i = 0; i < b->nspans; i++)
        b->spans[i].s->hole_from = b->spans[i].s->hole_to = 0;
    pthread_mutex_lock(&l->mu);
    l->durable = b->to;
    pthread_mutex_unlock(&l->mu);
    if (l->opts.on_durable)
        l->opts.on_durable(l->opts.ctx, b->to);
}

/* Big bursts can grow a batch a lot; give the memory back afterwards. */
static void sync_trim(wlog_batch *b) {
    if (b->cap > (64u << 20)) {
        wlog_batch_destroy(b);
    }
    wlog_batch_clear(b);
}

void *wlog_syncer_main(void *arg) {
    wlog *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (l->active->len == 0 && !l->reclaim_wanted && !l->closing) {
            l->syncer_idle = true;
            pthread_cond_wait(&l->work_cv, &l->mu);
            l->syncer_idle = false;
        }
        if (l->active->len > 0) {
            wlog_batch *b = l->active;
            l->active = l->inflight;
            l->inflight = b;
            pthread_mutex_unlock(&l->mu);
            sync_process(l, b);
            pthread_mutex_lock(&l->mu);
            l->done = b->to;
            sync_trim(b);
            pthread_cond_broadcast(&l->done_cv);
        }
        l->reclaim_wanted = false;
        if (l->reclaim_armed)
            wlog_reclaim_locked(l);
        if (l->closing && l->active->len == 0)
            break;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}
