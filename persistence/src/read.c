/* read.c — wlog_read: a record still in a batch is copied from memory under
 * the mutex; a written one is pread from its segment (pinned meanwhile, so it
 * cannot be deleted under the reader) and its checksum verified. */
#include <errno.h>
#include <string.h>
#include "internal.h"

/* Copies the record at pos out of b if b holds it. 1 found, 0 not here, <0 error. */
static int read_batch(const wlog_batch *b, wlog_pos pos, uint8_t *type, void *buf, size_t cap, size_t *len) {
    for (int i = 0; i < b->nspans; i++) {
        const wlog_span *sp = &b->spans[i];
        if (sp->seg != WLOG_SEG(pos) || WLOG_OFF(pos) < sp->off || WLOG_OFF(pos) - sp->off >= sp->len)
            continue;
        size_t at = WLOG_OFF(pos) - sp->off;
        const void *payload;
        int n = wlog_record_decode(b->buf + sp->boff + at, sp->len - at, type, &payload, len);
        if (n <= 0)
            return n == 0 ? WLOG_ENOENT : WLOG_ECORRUPT;
        if (cap && *len)
            memcpy(buf, payload, *len < cap ? *len : cap);
        return 1;
    }
    return 0;
}

/* Verifies the crc of the payload bytes that did not fit the caller's buffer. */
static int read_rest_crc(wlog *l, int fd, uint64_t off, size_t n, uint32_t *crc) {
    uint8_t tmp[16384];
    while (n > 0) {
        size_t k = n < sizeof tmp ? n : sizeof tmp;
        if (wlog_io_read_full(l->io, fd, tmp, k, off) != (ssize_t)k)
            return WLOG_EIO;
        *crc = wlog_crc32c(*crc, tmp, k);
        off += k;
        n -= k;
    }
    return 0;
}

static int read_file(wlog *l, int fd, wlog_pos pos, uint8_t *type, void *buf, size_t cap, size_t *len) {
    uint8_t h[WLOG_RECORD_OVERHEAD];
    uint64_t off = WLOG_OFF(pos);
    ssize_t got = wlog_io_read_full(l->io, fd, h, sizeof h, off);
    if (got < 0)
        return WLOG_EIO;
    uint32_t rl = got >= 4 ? wlog_get32(h) : 0;
    if (got < (ssize_t)sizeof h || rl == 0 || (rl & WLOG_MARKER_BIT))
        return WLOG_ENOENT;
    if (rl > WLOG_MAX_SEGMENT)
        return WLOG_ECORRUPT;
    size_t plen = rl - 1, first = plen < cap ? plen : cap;
    if (wlog_io_read_full(l->io, fd, buf, first, off + sizeof h) != (ssize_t)first)
        return WLOG_ECORRUPT;
    uint32_t crc = wlog_crc32c(wlog_crc32c(0, &h[8], 1), buf, first);
    int rc = read_rest_crc(l, fd, off + sizeof h + first, plen - first, &crc);
    if (rc)
        return rc == WLOG_EIO ? WLOG_ECORRUPT : rc;
    if (crc != wlog_get32(h + 4))
        return WLOG_ECORRUPT;
    *type = h[8];
    *len = plen;
    return 0;
}

int wlog_read(wlog *l, wlog_pos pos, uint8_t *type, void *buf, size_t cap, size_t *len) {
    uint8_t t = 0;
    size_t n = 0;
    if (!l || (cap && !buf))
        return WLOG_ENOENT;
    pthread_mutex_lock(&l->mu);
    wlog_seg *s = wlog_seg_find(l, WLOG_SEG(pos));
    int rc = WLOG_ENOENT;
    if (l->closing)
        rc = WLOG_ECLOSED;
    else if (s && !s->deleting && WLOG_OFF(pos) >= WLOG_HEADER_SIZE && pos < WLOG_POS(l->tail_seg, l->tail_off)) {
        rc = read_batch(l->active, pos, &t, buf, cap, &n);
        if (rc == 0)
            rc = read_batch(l->inflight, pos, &t, buf, cap, &n);
        if (rc == 0 && !s->created)
            rc = WLOG_ENOENT;
    }
    if (rc != 0) {
        pthread_mutex_unlock(&l->mu);
        if (rc == 1 && type)
            *type = t;
        if (rc == 1 && len)
            *len = n;
        return rc == 1 ? 0 : rc;
    }
    s->pins++;
    pthread_mutex_unlock(&l->mu);
    int fd = -1;
    rc = wlog_seg_open_fd(l, s) ? WLOG_EIO : 0;
    pthread_mutex_lock(&l->mu);
    fd = s->fd;
    pthread_mutex_unlock(&l->mu);
    if (!rc)
        rc = read_file(l, fd, pos, &t, buf, cap, &n);
    pthread_mutex_lock(&l->mu);
    s->pins--;
    pthread_mutex_unlock(&l->mu);
    if (!rc && type)
        *type = t;
    if (!rc && len)
        *len = n;
    return rc;
}
