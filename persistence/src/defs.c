/* defs.c — the definitions file <dir>/definitions: a 32-byte header (magic
 * "WRNDEFS\0", version, number 0) followed by records in the log's framing,
 * no preallocation (the file ends where the data ends). Appends are written
 * and fdatasync'd before returning; a rewrite goes through
 * <dir>/definitions.tmp, fsync, rename, fsync of the directory. Replay uses
 * the log's walker, so torn tails are cut and a damaged middle record is
 * skipped the same way. Log lines go to stderr. Positions given to the replay
 * callback are WLOG_POS(0, offset). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

struct wdefs {
    const wlog_io *io;
    char path[PATH_MAX];
    char tmp[PATH_MAX];
    char *dir;
    int fd;
    uint64_t end;
    pthread_mutex_t mu;
};

struct wdefs_writer {
    uint8_t *buf;
    size_t len, cap;
    int err;
};

static int defs_errno(void) { return errno ? -errno : -EIO; }

static int defs_init_file(wdefs *d) {
    uint8_t h[WLOG_HEADER_SIZE];
    wlog_header_encode(h, WDEFS_MAGIC, 0);
    errno = 0;
    if (d->io->ftruncate(d->fd, 0) != 0)
        return defs_errno();
    int rc = wlog_io_write_all(d->io, d->fd, h, sizeof h, 0);
    if (!rc && d->io->fdatasync(d->fd) != 0)
        rc = defs_errno();
    if (!rc && d->io->fsync_dir(d->dir) != 0)
        rc = defs_errno();
    d->end = WLOG_HEADER_SIZE;
    return rc;
}

/* Cuts whatever follows the last good record (torn tail or zeros). */
static int defs_cut(wdefs *d, wlog_reader *r, const wlog_walk *w) {
    size_t got;
    if (!w->dirty && wlog_reader_get(r, w->end, 1, &got) && got == 0)
        return 0;
    errno = 0;
    if (d->io->ftruncate(d->fd, (off_t)w->end) != 0 || d->io->fdatasync(d->fd) != 0)
        return defs_errno();
    return 0;
}

static int defs_load(wdefs *d, wlog_replay_fn replay, void *ctx) {
    wlog_reader r;
    wlog_reader_init(&r, d->io, d->fd);
    size_t got;
    int rc = 0;
    const uint8_t *h = wlog_reader_get(&r, 0, WLOG_HEADER_SIZE, &got);
    int hc = !h ? -2 : got < WLOG_HEADER_SIZE ? 1 : wlog_header_check(h, WDEFS_MAGIC, 0);
    if (hc == -2) {
        wlog_logf(NULL, NULL, 0, "cannot read %s: %s", d->path, strerror(-r.err));
        rc = WLOG_EIO;
    } else if (hc == -1) {
        wlog_logf(NULL, NULL, 0, "%s is not a definitions file (bad header): refusing to use it", d->path);
        rc = WLOG_ECORRUPT;
    } else if (hc == 1) {
        rc = defs_init_file(d) ? WLOG_EIO : 0;
    } else {
        wlog_walk w = {.path = d->path, .num = 0, .last = true, .max_len = WLOG_MAX_SEGMENT, .fn = replay, .fn_ctx = ctx};
        rc = wlog_walk_records(&r, WLOG_HEADER_SIZE, &w);
        if (!rc && defs_cut(d, &r, &w) != 0)
            rc = WLOG_EIO;
        d->end = w.end;
    }
    wlog_reader_destroy(&r);
    return rc;
}

int wdefs_open(const char *dir, const wlog_io *io, wlog_replay_fn replay, void *ctx, wdefs **out) {
    if (!dir || !out)
        return WLOG_EIO;
    *out = NULL;
    wdefs *d = calloc(1, sizeof *d);
    if (!d || !(d->dir = strdup(dir))) {
        free(d);
        return WLOG_EIO;
    }
    d->io = io ? io : &wlog_io_libc;
    d->fd = -1;
    snprintf(d->path, sizeof d->path, "%s/definitions", dir);
    snprintf(d->tmp, sizeof d->tmp, "%s/definitions.tmp", dir);
    pthread_mutex_init(&d->mu, NULL);
    int rc = wlog_io_mkdir(dir) ? WLOG_EIO : 0;
    if (!rc) {
        d->io->unlink(d->tmp); /* left by a rewrite that crashed */
        errno = 0;
        d->fd = d->io->open(d->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        rc = d->fd < 0 ? WLOG_EIO : defs_load(d, replay, ctx);
    }
    if (rc) {
        if (d->fd < 0)
            wlog_logf(NULL, NULL, 0, "cannot open %s: %s", d->path, strerror(errno));
        wdefs_close(&d);
        return rc;
    }
    *out = d;
    return 0;
}

int wdefs_append(wdefs *d, uint8_t type, const void *payload, size_t len) {
    if (!d)
        return WLOG_ECLOSED;
    if (len >= WLOG_MAX_SEGMENT - WLOG_HEADER_SIZE - WLOG_RECORD_OVERHEAD)
        return WLOG_ETOOBIG;
    uint8_t *rec = malloc(WLOG_RECORD_OVERHEAD + len);
    if (!rec)
        return WLOG_EIO;
    size_t n = wlog_record_encode(rec, WLOG_RECORD_OVERHEAD + len, type, payload, len);
    if (n == 0) {
        free(rec);
        return WLOG_EIO;
    }
    pthread_mutex_lock(&d->mu);
    int rc = wlog_io_write_all(d->io, d->fd, rec, n, d->end);
    errno = 0;
    if (!rc && d->io->fdatasync(d->fd) != 0)
        rc = defs_errno();
    if (rc) {
        /* Not durable: cut it off so it never replays (no retry of the sync). */
        wlog_logf(NULL, NULL, 0, "definitions append failed: %s", strerror(-rc));
        if (d->io->ftruncate(d->fd, (off_t)d->end) == 0)
            d->io->fdatasync(d->fd);
    } else {
        d->end += n;
    }
    pthread_mutex_unlock(&d->mu);
    free(rec);
    return rc ? WLOG_EIO : 0;
}

int wdefs_emit(wdefs_writer *w, uint8_t type, const void *payload, size_t len) {
    if (w->err)
        return w->err;
    if (len >= WLOG_MAX_SEGMENT - WLOG_HEADER_SIZE - WLOG_RECORD_OVERHEAD || w->len + len >= WLOG_MAX_SEGMENT)
        return w->err = WLOG_ETOOBIG;
    size_t need = WLOG_RECORD_OVERHEAD + len;
    if (w->cap - w->len < need) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap - w->len < need)
            cap *= 2;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb)
            return w->err = WLOG_EIO;
        w->buf = nb;
        w->cap = cap;
    }
    w->len += wlog_record_encode(w->buf + w->len, w->cap - w->len, type, payload, len);
    return 0;
}

/* Writes the snapshot to the temp file and renames it over. 0 or -errno. */
static int defs_replace(wdefs *d, const wdefs_writer *w, int *newfd) {
    errno = 0;
    int fd = d->io->open(d->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return defs_errno();
    int rc = wlog_io_write_all(d->io, fd, w->buf, w->len, 0);
    errno = 0;
    if (!rc && d->io->fdatasync(fd) != 0)
        rc = defs_errno();
    if (!rc && d->io->rename(d->tmp, d->path) != 0)
        rc = defs_errno();
    if (rc) {
        d->io->close(fd);
        d->io->unlink(d->tmp);
        return rc;
    }
    *newfd = fd;
    return d->io->fsync_dir(d->dir) == 0 ? 0 : defs_errno();
}

int wdefs_rewrite(wdefs *d, int (*emit)(void *ctx, wdefs_writer *w), void *ctx) {
    if (!d || !emit)
        return WLOG_ECLOSED;
    wdefs_writer w = {0};
    uint8_t h[WLOG_HEADER_SIZE];
    wlog_header_encode(h, WDEFS_MAGIC, 0);
    int rc = wdefs_emit(&w, 0, NULL, 0); /* reserve room, replaced below */
    if (!rc) {
        memcpy(w.buf, h, sizeof h);
        w.len = sizeof h;
        rc = emit(ctx, &w);
    }
    if (!rc && w.err)
        rc = w.err;
    if (rc) {
        free(w.buf);
        return rc;
    }
    pthread_mutex_lock(&d->mu);
    int newfd = -1;
    int e = defs_replace(d, &w, &newfd);
    if (newfd >= 0) { /* renamed: the new file is the definitions file now */
        d->io->close(d->fd);
        d->fd = newfd;
        d->end = w.len;
    }
    pthread_mutex_unlock(&d->mu);
    if (e)
        wlog_logf(NULL, NULL, 0, "definitions rewrite failed: %s", strerror(-e));
    free(w.buf);
    return e ? WLOG_EIO : 0;
}

void wdefs_close(wdefs **dp) {
    if (!dp || !*dp)
        return;
    wdefs *d = *dp;
    *dp = NULL;
    if (d->fd >= 0)
        d->io->close(d->fd);
    pthread_mutex_destroy(&d->mu);
    free(d->dir);
    free(d);
}
