/* segment.c — the table of segments (sorted array of pointers, under the
 * log mutex), creating segment files, lazy fds and reclaiming dead segments.
 *
 * File descriptors: the head keeps its fd; an older segment gets one the
 * first time wlog_read (or the syncer) needs it and keeps it until the
 * segment is deleted or the log closed. So at most one fd per segment file
 * on disk, and none for segments nobody reads. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

wlog_seg *wlog_seg_find(wlog *l, uint32_t num) {
    int lo = 0, hi = l->nsegs - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        uint32_t m = l->segs[mid]->num;
        if (m == num)
            return l->segs[mid];
        if (m < num)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

wlog_seg *wlog_seg_add(wlog *l, uint32_t num) {
    if (l->nsegs == l->capsegs) {
        int cap = l->capsegs ? l->capsegs * 2 : 16;
        wlog_seg **n = realloc(l->segs, (size_t)cap * sizeof *n);
        if (!n)
            return NULL;
        l->segs = n;
        l->capsegs = cap;
    }
    wlog_seg *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->num = num;
    s->fd = -1;
    l->segs[l->nsegs++] = s;
    return s;
}

void wlog_seg_remove(wlog *l, wlog_seg *s) {
    for (int i = 0; i < l->nsegs; i++) {
        if (l->segs[i] != s)
            continue;
        memmove(&l->segs[i], &l->segs[i + 1], (size_t)(l->nsegs - i - 1) * sizeof *l->segs);
        l->nsegs--;
        break;
    }
    wlog_seg_free_state(s);
    free(s);
}

static int seg_errno(void) { return errno ? -errno : -EIO; }

int wlog_seg_open_fd(wlog *l, wlog_seg *s) {
    pthread_mutex_lock(&l->mu);
    int have = s->fd;
    pthread_mutex_unlock(&l->mu);
    if (have >= 0)
        return 0;
    char path[PATH_MAX];
    wlog_seg_path(path, sizeof path, l->dir, s->num);
    errno = 0;
    int fd = l->io->open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return seg_errno();
    pthread_mutex_lock(&l->mu);
    if (s->fd < 0) {
        s->fd = fd;
        fd = -1;
    }
    pthread_mutex_unlock(&l->mu);
    if (fd >= 0)
        l->io->close(fd);
    return 0;
}

static int seg_init_file(wlog *l, int fd, uint32_t num) {
    errno = 0;
    if (l->io->ftruncate(fd, 0) != 0)
        return seg_errno();
    int rc = wlog_io_prealloc(l->io, fd, l->segsize);
    if (rc)
        return rc;
    uint8_t h[WLOG_HEADER_SIZE];
    wlog_header_encode(h, WLOG_MAGIC, num);
    rc = wlog_io_write_all(l->io, fd, h, sizeof h, 0);
    if (rc)
        return rc;
    errno = 0;
    return l->io->fsync_dir(l->dir) == 0 ? 0 : seg_errno();
}

int wlog_seg_create(wlog *l, wlog_seg *s) {
    char path[PATH_MAX];
    /* An index of an earlier segment with this number (its unlink lost in a
     * crash) would look valid for the new one: gone before the directory
     * sync that makes the new file durable. */
    wlog_idx_unlink(l, s->num);
    wlog_seg_path(path, sizeof path, l->dir, s->num);
    errno = 0;
    int fd = l->io->open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return seg_errno();
    int rc = seg_init_file(l, fd, s->num);
    if (rc) {
        l->io->close(fd);
        l->io->unlink(path);
        return rc;
    }
    pthread_mutex_lock(&l->mu);
    s->fd = fd;
    s->created = true;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

/* A segment can go when it is older than the head, fully processed by the
 * syncer, dead and unused. In order, one that is being deleted (or could not
 * be) stops the scan: a newer one may hold the acks of its messages. */
static wlog_seg *reclaim_pick(wlog *l) {
    for (int i = 0; i < l->nsegs; i++) {
        wlog_seg *s = l->segs[i];
        if (s->num >= l->tail_seg || s->num >= WLOG_SEG(l->done))
            break;
        if (s->live <= 0 && s->pins == 0 && !s->compacting && !s->deleting && !s->undeletable)
            return s;
        if (l->opts.reclaim_in_order)
            break;
    }
    return NULL;
}

bool wlog_seg_delete(wlog *l, wlog_seg *s, const char *why) {
    uint32_t num = s->num;
    int fd = s->fd;
    bool created = s->created;
    s->deleting = true; /* no reader pins it from now on */
    s->fd = -1;
    l->unlinking++;
    pthread_mutex_unlock(&l->mu);
    if (fd >= 0)
        l->io->close(fd);
    wlog_idx_spill_abort(l, s);
    int err = 0;
    bool synced = true;
    char path[PATH_MAX];
    if (created) {
        wlog_idx_unlink(l, num); /* the index first: a segment without one is walked */
        wlog_seg_path(path, sizeof path, l->dir, num);
        errno = 0;
        if (l->io->unlink(path) != 0 && errno != ENOENT)
            err = errno ? errno : EIO;
        errno = 0;
        if (!err && l->io->fsync_dir(l->dir) != 0)
            synced = false;
        if (err)
            wlog_logf(l->opts.log, l->opts.ctx, 0, "cannot delete %s: %s (kept, with every record that names it)",
                      path, strerror(err));
        else if (!synced)
            wlog_logf(l->opts.log, l->opts.ctx, 0,
                      "deleted %s but cannot sync the directory: %s (what names it is kept)", path, strerror(errno));
        else
            wlog_logf(l->opts.log, l->opts.ctx, 2, "deleted segment %s: %s", path, why);
    }
    pthread_mutex_lock(&l->mu);
    l->unlinking--;
    pthread_cond_broadcast(&l->done_cv);
    if (err) {
        s->deleting = false;
        s->undeletable = true;
        return false;
    }
    if (!synced)
        return false; /* stays a tombstone: wlog_present keeps answering "may be on disk" */
    wlog_seg_remove(l, s);
    l->gen++; /* acks that pointed into it are not needed any more */
    return true;
}

int wlog_reclaim_locked(wlog *l) {
    int deleted = 0;
    wlog_seg *s;
    while ((s = reclaim_pick(l)) != NULL) {
        bool created = s->created;
        if (wlog_seg_delete(l, s, "dead") && created)
            deleted++;
    }
    return deleted;
}
