/* summary.c — index entries and <num>.idx files.
 *
 * Every append (and every record a recovery walk finds) adds one entry to its
 * segment's in-memory summary: offset, summary length, refs, type and the
 * leading payload bytes opts.summarize asked for. Once the segment is sealed
 * the maintenance thread writes the entries to <num>.idx:
 *
 *   header  magic "WRNIDX\0\0" (8) | version u32 | segment number u32 |
 *           end u32 (offset after the segment's last record) | count u32 |
 *           crc32c u32 (of the entries, then the header with this field 0) |
 *           reserved u32  = 32 bytes
 *   entry   off u32 | len u32 | refs u16 | type u8 | summary[len]
 *
 * Recovery trusts an index only when all of it checks out (magic, version,
 * number, size, checksum, every entry inside the file and in offset order);
 * otherwise it walks the segment as before. An index is only ever written for
 * a segment whose every byte is durable, and it is removed before its
 * segment changes (compaction) or goes, so a valid index never describes
 * records that are not in the file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "internal.h"

#define IDX_MAX (256u << 20) /* no sane index is bigger */

size_t wlog_sum_len(const wlog *l, uint8_t type, const void *head, size_t headlen, size_t len, uint32_t *refs) {
    *refs = 0;
    if (!l->opts.summarize)
        return len;
    size_t n = l->opts.summarize(l->opts.ctx, type, head, headlen, len, refs);
    if (*refs > 0xffff)
        *refs = 0xffff;
    return n < len ? n : len;
}

#define SUM_CHUNK ((64u << 10) - 64) /* data bytes: the whole block stays at 64 KiB */

int wlog_sum_add(wlog_sum *s, uint32_t off, uint8_t type, uint32_t refs, const struct iovec *iov, int iovcnt,
                 size_t slen) {
    size_t need = WIDX_ENTRY_HEAD + slen;
    wlog_sumchunk *c = s->tail;
    if (!c || c->cap - c->len < need) {
        size_t cap = need > SUM_CHUNK ? need : SUM_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c)
            return -ENOMEM;
        c->next = NULL;
        c->len = 0;
        c->cap = cap;
        c->n = 0;
        if (s->tail)
            s->tail->next = c;
        else
            s->head = c;
        s->tail = c;
    }
    uint8_t *p = c->data + c->len;
    wlog_put32(p, off);
    wlog_put32(p + 4, (uint32_t)slen);
    p[8] = (uint8_t)refs;
    p[9] = (uint8_t)(refs >> 8);
    p[10] = type;
    p += WIDX_ENTRY_HEAD;
    size_t left = slen;
    for (int i = 0; i < iovcnt && left; i++) {
        size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
        if (k)
            memcpy(p, iov[i].iov_base, k);
        p += k;
        left -= k;
    }
    c->len += need;
    c->n++;
    s->len += need;
    s->count++;
    return 0;
}

void wlog_sum_free(wlog_sum *s) {
    wlog_sumchunk *c = s->head;
    while (c) {
        wlog_sumchunk *n = c->next;
        free(c);
        c = n;
    }
    memset(s, 0, sizeof *s);
}

void wlog_idx_path(char *out, size_t cap, const char *dir, uint32_t num) {
    snprintf(out, cap, "%s/%020u.idx", dir, (unsigned)num);
}

void wlog_idx_unlink(wlog *l, uint32_t num) {
    char path[PATH_MAX];
    wlog_idx_path(path, sizeof path, l->dir, num);
    l->io->unlink(path);
}

static int idx_errno(void) { return errno ? -errno : -EIO; }

/* The header, its crc over the entries' crc (crc_entries) then itself. */
static void idx_header(uint8_t h[WLOG_HEADER_SIZE], uint32_t num, uint32_t end, uint32_t count, uint32_t crc_entries) {
    memset(h, 0, WLOG_HEADER_SIZE);
    memcpy(h, WIDX_MAGIC, 8);
    wlog_put32(h + 8, WIDX_VERSION);
    wlog_put32(h + 12, num);
    wlog_put32(h + 16, end);
    wlog_put32(h + 20, count);
    wlog_put32(h + 24, wlog_crc32c(crc_entries, h, WLOG_HEADER_SIZE)); /* the crc field is 0 while computed */
}

/* rc 0: the temp file becomes <num>.idx; otherwise it goes. */
static int idx_commit(wlog *l, uint32_t num, const char *tmp, int rc) {
    char path[PATH_MAX];
    wlog_idx_path(path, sizeof path, l->dir, num);
    errno = 0;
    if (!rc && l->io->rename(tmp, path) != 0)
        rc = idx_errno();
    if (rc)
        l->io->unlink(tmp);
    return rc;
}

int wlog_idx_write(wlog *l, uint32_t num, uint32_t end, const struct iovec *v, int nv, uint32_t count, bool durable) {
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    wlog_idx_path(path, sizeof path, l->dir, num);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    uint8_t h[WLOG_HEADER_SIZE];
    uint32_t crc = 0;
    for (int i = 0; i < nv; i++)
        crc = wlog_crc32c(crc, v[i].iov_base, v[i].iov_len);
    idx_header(h, num, end, count, crc);
    errno = 0;
    int fd = l->io->open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return idx_errno();
    int rc = wlog_io_write_all(l->io, fd, h, sizeof h, 0);
    uint64_t at = sizeof h;
    for (int i = 0; i < nv && !rc; i++) {
        if (v[i].iov_len)
            rc = wlog_io_write_all(l->io, fd, v[i].iov_base, v[i].iov_len, at);
        at += v[i].iov_len;
    }
    errno = 0;
    if (!rc && durable && l->io->fdatasync(fd) != 0)
        rc = idx_errno();
    l->io->close(fd);
    return idx_commit(l, num, tmp, rc);
}

int wlog_idx_write_sum(wlog *l, uint32_t num, uint32_t end, const wlog_sum *s, bool durable) {
    int nv = 0;
    for (const wlog_sumchunk *c = s->head; c; c = c->next)
        nv++;
    struct iovec *v = malloc((size_t)(nv ? nv : 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    nv = 0;
    for (const wlog_sumchunk *c = s->head; c; c = c->next)
        v[nv++] = (struct iovec){(void *)c->data, c->len};
    int rc = wlog_idx_write(l, num, end, v, nv, s->count, durable);
    free(v);
    return rc;
}

static void idx_tmp_path(char *out, size_t cap, const char *dir, uint32_t num) {
    char p[PATH_MAX];
    wlog_idx_path(p, sizeof p, dir, num);
    snprintf(out, cap, "%s.tmp", p);
}

int wlog_idx_spill(wlog *l, wlog_seg *seg, const wlog_sum *part) {
    if (!seg->spilled) {
        char tmp[PATH_MAX + 8];
        idx_tmp_path(tmp, sizeof tmp, l->dir, seg->num);
        errno = 0;
        int fd = l->io->open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return idx_errno();
        seg->spilled = true;
        seg->spill_fd = fd;
        seg->spill_len = 0;
        seg->spill_count = 0;
        seg->spill_crc = 0;
    }
    for (const wlog_sumchunk *c = part->head; c; c = c->next) {
        int rc = wlog_io_write_all(l->io, seg->spill_fd, c->data, c->len, WLOG_HEADER_SIZE + seg->spill_len);
        if (rc)
            return rc;
        seg->spill_crc = wlog_crc32c(seg->spill_crc, c->data, c->len);
        seg->spill_len += c->len;
        seg->spill_count += c->n;
    }
    return 0;
}

int wlog_idx_spill_finish(wlog *l, wlog_seg *seg, const wlog_sum *rest, uint32_t end) {
    int rc = wlog_idx_spill(l, seg, rest);
    if (rc)
        return rc;
    uint8_t h[WLOG_HEADER_SIZE];
    idx_header(h, seg->num, end, seg->spill_count, seg->spill_crc);
    rc = wlog_io_write_all(l->io, seg->spill_fd, h, sizeof h, 0);
    l->io->close(seg->spill_fd);
    seg->spilled = false;
    char tmp[PATH_MAX + 8];
    idx_tmp_path(tmp, sizeof tmp, l->dir, seg->num);
    return idx_commit(l, seg->num, tmp, rc);
}

void wlog_idx_spill_abort(wlog *l, wlog_seg *seg) {
    if (!seg->spilled)
        return;
    l->io->close(seg->spill_fd);
    seg->spilled = false;
    char tmp[PATH_MAX + 8];
    idx_tmp_path(tmp, sizeof tmp, l->dir, seg->num);
    l->io->unlink(tmp);
}

typedef struct {
    uint32_t prev, end, seen;
    bool ok;
} idx_check;

static int idx_check_one(void *ctx, uint32_t off, uint8_t type, uint32_t refs, const uint8_t *p, uint32_t len) {
    (void)type, (void)refs, (void)p;
    idx_check *c = ctx;
    if (off < WLOG_HEADER_SIZE || off < c->prev || (uint64_t)off + WLOG_RECORD_OVERHEAD + len > c->end) {
        c->ok = false;
        return 1;
    }
    c->prev = off + WLOG_RECORD_OVERHEAD;
    c->seen++;
    return 0;
}

int wlog_idx_each(const uint8_t *e, size_t n, wlog_idx_fn fn, void *ctx) {
    size_t o = 0;
    while (o < n) {
        if (n - o < WIDX_ENTRY_HEAD)
            return -1;
        uint32_t off = wlog_get32(e + o), len = wlog_get32(e + o + 4);
        uint32_t refs = e[o + 8] | (uint32_t)e[o + 9] << 8;
        uint8_t type = e[o + 10];
        if (len > n - o - WIDX_ENTRY_HEAD)
            return -1;
        int rc = fn(ctx, off, type, refs, e + o + WIDX_ENTRY_HEAD, len);
        if (rc)
            return rc;
        o += WIDX_ENTRY_HEAD + len;
    }
    return 0;
}

int wlog_idx_read(wlog *l, uint32_t num, uint8_t **entries, size_t *n, uint32_t *count, uint32_t *end) {
    char path[PATH_MAX];
    wlog_idx_path(path, sizeof path, l->dir, num);
    *entries = NULL;
    errno = 0;
    int fd = l->io->open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    struct stat st;
    uint8_t h[WLOG_HEADER_SIZE];
    int rc = -1;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof h || st.st_size > (off_t)IDX_MAX)
        goto out;
    if (wlog_io_read_full(l->io, fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        goto out;
    if (memcmp(h, WIDX_MAGIC, 8) || wlog_get32(h + 8) != WIDX_VERSION || wlog_get32(h + 12) != num)
        goto out;
    size_t len = (size_t)st.st_size - sizeof h;
    buf = malloc(len ? len : 1);
    if (!buf || wlog_io_read_full(l->io, fd, buf, len, sizeof h) != (ssize_t)len)
        goto out;
    uint32_t want = wlog_get32(h + 24);
    wlog_put32(h + 24, 0);
    if (wlog_crc32c(wlog_crc32c(0, buf, len), h, sizeof h) != want)
        goto out;
    uint32_t e = wlog_get32(h + 16);
    if (e < WLOG_HEADER_SIZE || e > l->segsize)
        goto out;
    idx_check c = {.end = e, .ok = true};
    if (wlog_idx_each(buf, len, idx_check_one, &c) != 0 || !c.ok || c.seen != wlog_get32(h + 20))
        goto out;
    *entries = buf;
    buf = NULL;
    *n = len;
    *count = c.seen;
    *end = e;
    rc = 0;
out:
    free(buf);
    l->io->close(fd);
    return rc;
}

void wlog_seg_free_state(wlog_seg *s) {
    wlog_sum_free(&s->sum);
    free(s->dead);
    free(s->kept);
    s->dead = NULL;
    s->kept = NULL;
    s->ndead = s->capdead = s->nkept = 0;
}
