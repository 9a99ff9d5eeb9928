/* scan.c — reading records back for recovery, without keeping payloads: a
 * reader holds one window of the file (4 MiB, grown only for a bigger
 * record) and the walker validates record after record inside it.
 *
 * The rule for a bad record (length past EOF or over the maximum, or a crc
 * mismatch) at offset o:
 *   - if its length field is plausible and a valid record (or skip marker)
 *     starts exactly where that length says the next one starts, only this
 *     record is damaged (bit rot, or a torn page inside a batch that was never
 *     reported durable): it is skipped with an error-level log line and the
 *     walk goes on;
 *   - otherwise everything from o on is a torn tail: the caller cuts the file
 *     at o (zeros after it). In the last segment this is the ordinary result
 *     of a crash during a write (warning); in an older segment it means data
 *     was lost (error).
 * The walker never searches for record starts at arbitrary offsets: a message
 * body may itself contain bytes that look like a record, and resynchronising
 * on it would replay forged data. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define READER_CHUNK (4u << 20)

void wlog_reader_init(wlog_reader *r, const wlog_io *io, int fd) {
    memset(r, 0, sizeof *r);
    r->io = io;
    r->fd = fd;
}

void wlog_reader_destroy(wlog_reader *r) {
    free(r->buf);
    r->buf = NULL;
}

static int reader_fill(wlog_reader *r, uint64_t off, size_t n) {
    size_t want = n > READER_CHUNK ? n : READER_CHUNK;
    if (want > r->cap) {
        uint8_t *nb = realloc(r->buf, want);
        if (!nb)
            return -ENOMEM;
        r->buf = nb;
        r->cap = want;
    }
    ssize_t got = wlog_io_read_full(r->io, r->fd, r->buf, want, off);
    if (got < 0)
        return (int)got;
    r->bstart = off;
    r->blen = (size_t)got;
    return 0;
}

const uint8_t *wlog_reader_get(wlog_reader *r, uint64_t off, size_t n, size_t *got) {
    bool inside = off >= r->bstart && off - r->bstart <= r->blen;
    if (!inside || r->blen - (off - r->bstart) < n) {
        int rc = reader_fill(r, off, n);
        if (rc) {
            r->err = rc;
            *got = 0;
            return NULL;
        }
    }
    size_t have = r->blen - (size_t)(off - r->bstart);
    *got = have < n ? have : n;
    return r->buf + (off - r->bstart);
}

enum { REC_OK, REC_MARKER, REC_END, REC_BAD, REC_IOERR };

typedef struct {
    uint32_t len;   /* length field (type + payload), or hole size for a marker */
    uint64_t size;  /* bytes the record/marker occupies */
    uint8_t type;
    const uint8_t *payload;
} rec_view;

/* Classifies the bytes at o. REC_BAD leaves v->len = the length field (0 when
 * fewer than 4 bytes remain). */
static int rec_at(wlog_reader *r, uint64_t o, uint32_t max_len, rec_view *v) {
    size_t got;
    const uint8_t *p = wlog_reader_get(r, o, 8, &got);
    memset(v, 0, sizeof *v);
    if (!p)
        return REC_IOERR;
    if (got == 0)
        return REC_END;
    if (got < 4)
        return REC_BAD;
    uint32_t len = wlog_get32(p);
    if (len == 0)
        return REC_END;
    v->len = len;
    if (got < 8)
        return REC_BAD;
    if (len & WLOG_MARKER_BIT) {
        uint32_t hole = wlog_marker_check(p);
        if (!hole)
            return REC_BAD;
        v->len = hole;
        v->size = hole;
        return REC_MARKER;
    }
    if (len > max_len)
        return REC_BAD;
    uint32_t crc = wlog_get32(p + 4);
    p = wlog_reader_get(r, o, 8 + (size_t)len, &got);
    if (!p)
        return REC_IOERR;
    if (got < 8 + (size_t)len || wlog_crc32c(0, p + 8, len) != crc)
        return REC_BAD;
    v->size = 8 + (uint64_t)len;
    v->type = p[8];
    v->payload = p + WLOG_RECORD_OVERHEAD;
    return REC_OK;
}

/* A marker's hole must lie inside the file: check its last byte exists. */
static int marker_fits(wlog_reader *r, uint64_t o, const rec_view *v) {
    size_t got;
    if (!wlog_reader_get(r, o + v->size - 1, 1, &got))
        return REC_IOERR;
    return got == 1 ? REC_MARKER : REC_BAD;
}

/* The bad record at o: skippable when its length leads to a valid record. */
static bool walk_can_skip(wlog_reader *r, uint64_t o, const rec_view *bad, wlog_walk *w) {
    if (bad->len == 0 || bad->len > w->max_len)
        return false;
    rec_view next;
    uint64_t n = o + 8 + bad->len;
    int k = rec_at(r, n, w->max_len, &next);
    if (k == REC_MARKER)
        k = marker_fits(r, n, &next);
    return k == REC_OK || k == REC_MARKER;
}

static int walk_one(wlog_reader *r, uint64_t *o, wlog_walk *w, bool *stop) {
    rec_view v;
    int k = rec_at(r, *o, w->max_len, &v);
    if (k == REC_MARKER)
        k = marker_fits(r, *o, &v);
    if (k == REC_OK) {
        int rc = w->fn ? w->fn(w->fn_ctx, WLOG_POS(w->num, *o), v.type, v.payload, v.len - 1) : 0;
        w->records++;
        *o += v.size;
        return rc;
    }
    if (k == REC_MARKER) {
        *o += v.size;
        return 0;
    }
    *stop = true;
    if (k == REC_IOERR)
        return WLOG_EIO;
    if (k == REC_BAD && walk_can_skip(r, *o, &v, w)) {
        wlog_logf(w->log, w->log_ctx, 0, "skipped corrupt record in %s at offset %llu (%u bytes): records after it are kept",
                  w->path, (unsigned long long)*o, (unsigned)(8 + v.len));
        *o += 8 + (uint64_t)v.len;
        *stop = false;
        return 0;
    }
    if (k == REC_BAD) {
        w->dirty = true;
        if (w->last)
            wlog_logf(w->log, w->log_ctx, 1, "truncated torn tail in %s at offset %llu", w->path, (unsigned long long)*o);
        else
            wlog_logf(w->log, w->log_ctx, 0, "truncated torn tail in %s at offset %llu (not the last segment: data after it is lost)",
                      w->path, (unsigned long long)*o);
    }
    return 0;
}

int wlog_walk_records(wlog_reader *r, uint64_t start, wlog_walk *w) {
    uint64_t o = start;
    bool stop = false;
    int rc = 0;
    w->dirty = false;
    w->records = 0;
    while (!stop && rc == 0)
        rc = walk_one(r, &o, w, &stop);
    w->end = o;
    if (rc == WLOG_EIO)
        wlog_logf(w->log, w->log_ctx, 0, "read error in %s at offset %llu: %s", w->path, (unsigned long long)o,
                  strerror(-r->err));
    return rc;
}
