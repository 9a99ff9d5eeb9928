/* compact.c — the maintenance thread: index files for sealed segments, and
 * compaction.
 *
 * Deaths: every reference that dies (wlog_live(pos, -1), wlog_dead) leaves
 * its record's offset in the segment's dead list (4 bytes, kept only until
 * the segment is compacted or deleted). A record with refs > 0 (from
 * opts.summarize) is dead once its offset is in the list refs times.
 *
 * A sealed, indexed segment is compacted when at least as many references
 * died since its last compaction as are still live (so at least half are
 * gone), or when it is dead but not the oldest segment (the syncer deletes
 * the oldest ones in order) — again whenever another compaction has since
 * removed records, since that may leave its acks pointing at nothing.
 *
 * Compaction keeps every record at its offset: dead records with refs go,
 * records without refs go when opts.keep says so, and each gap becomes one
 * skip marker over an unallocated range (a sparse file), so positions held
 * by queues stay valid and recovery jumps the gaps. Steps, each safe to crash
 * after: write <num>.seg.compact and sync it; remove <num>.idx and sync the
 * directory (recovery now walks the old file: still right); rename the new
 * file over the old one and sync the directory (a walk of the new file is
 * right too); write the new index durably. Readers keep using the old file
 * through their fd until the swap, which waits for them (pins). A segment
 * left with nothing is deleted whatever its age. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

void wlog_dead_locked(wlog *l, wlog_seg *s, uint32_t off, int n) {
    (void)l;
    if (n <= 0)
        return;
    if (s->ndead + (size_t)n > s->capdead) {
        size_t cap = s->capdead ? s->capdead * 2 : 256;
        while (cap < s->ndead + (size_t)n)
            cap *= 2;
        uint32_t *d = realloc(s->dead, cap * sizeof *d);
        if (!d)
            return; /* the record just stays longer */
        s->dead = d;
        s->capdead = cap;
    }
    for (int i = 0; i < n; i++)
        s->dead[s->ndead++] = off;
}

void wlog_dead(wlog *l, wlog_pos pos) {
    if (!l || !l->opts.summarize)
        return;
    pthread_mutex_lock(&l->mu);
    wlog_seg *s = wlog_seg_find(l, WLOG_SEG(pos));
    if (s)
        wlog_dead_locked(l, s, WLOG_OFF(pos), 1);
    pthread_mutex_unlock(&l->mu);
}

static bool in_sorted(const uint32_t *v, size_t n, uint32_t x) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] == x)
            return true;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool wlog_present(wlog *l, wlog_pos pos) {
    pthread_mutex_lock(&l->mu);
    wlog_seg *s = wlog_seg_find(l, WLOG_SEG(pos));
    bool r;
    if (!s)
        r = false;
    else if (s->num == l->cur_seg)
        r = in_sorted(l->cur_kept, l->cur_nkept, WLOG_OFF(pos));
    else if (s->compacted)
        r = in_sorted(s->kept, s->nkept, WLOG_OFF(pos));
    else
        r = true;
    pthread_mutex_unlock(&l->mu);
    return r;
}

bool wlog_kept_before(wlog *l, wlog_pos pos) {
    pthread_mutex_lock(&l->mu);
    wlog_seg *s = wlog_seg_find(l, WLOG_SEG(pos));
    bool r = true;
    if (s && s->num == l->cur_seg)
        r = l->cur_nkept && l->cur_kept[0] < WLOG_OFF(pos);
    else if (s && s->compacted)
        r = s->nkept && s->kept[0] < WLOG_OFF(pos);
    pthread_mutex_unlock(&l->mu);
    return r;
}

wlog_pos wlog_first(wlog *l) {
    pthread_mutex_lock(&l->mu);
    wlog_pos p = l->nsegs ? WLOG_POS(l->segs[0]->num, 0) : 0;
    pthread_mutex_unlock(&l->mu);
    return p;
}

/* All of it written and synced, no head, no repair pending. mu held. */
static bool seg_sealed(const wlog *l, const wlog_seg *s) {
    return s->num < l->tail_seg && s->num < WLOG_SEG(l->done) && s->created && s->hole_to == 0 && s->end;
}

/* A head segment's entries go to disk once they pass this (ack-heavy
 * traffic makes a summary about as big as the segment). */
#define SPILL_AT (1u << 20)

enum { IDX_NONE, IDX_DROP, IDX_WRITE, IDX_SPILL };

void wlog_write_indexes(wlog *l) {
    for (;;) {
        pthread_mutex_lock(&l->mu);
        wlog_seg *s = NULL;
        int what = IDX_NONE;
        for (int i = 0; i < l->nsegs && !s; i++) {
            wlog_seg *c = l->segs[i];
            if (c->compacting || c->deleting)
                continue;
            if (c->noindex) {
                if (c->sum.head)
                    wlog_sum_free(&c->sum);
                if (c->spilled)
                    s = c, what = IDX_DROP;
            } else if (!c->indexed && seg_sealed(l, c)) {
                s = c, what = IDX_WRITE;
            } else if (c->num == l->tail_seg && c->created && c->sum.len >= SPILL_AT && c->sum.head != c->sum.tail) {
                s = c, what = IDX_SPILL;
            }
        }
        if (!s) {
            pthread_mutex_unlock(&l->mu);
            return;
        }
        wlog_sum sum = s->sum;
        uint32_t num = s->num, end = s->end;
        if (what == IDX_SPILL) { /* every chunk but the one appends go to */
            wlog_sumchunk *c = sum.head;
            sum.len = sum.count = 0;
            while (c != s->sum.tail) {
                sum.len += c->len;
                sum.count += c->n;
                sum.tail = c;
                c = c->next;
            }
            sum.tail->next = NULL;
            s->sum.head = s->sum.tail;
            s->sum.len -= sum.len;
            s->sum.count -= sum.count;
        } else {
            memset(&s->sum, 0, sizeof s->sum);
        }
        s->compacting = true; /* not deleted meanwhile (its index would be orphaned) */
        pthread_mutex_unlock(&l->mu);
        int rc = 0;
        if (what == IDX_DROP)
            wlog_idx_spill_abort(l, s);
        else if (what == IDX_SPILL)
            rc = wlog_idx_spill(l, s, &sum);
        else if (s->spilled)
            rc = wlog_idx_spill_finish(l, s, &sum, end);
        else
            rc = wlog_idx_write_sum(l, num, end, &sum, false);
        wlog_sum_free(&sum);
        if (rc) {
            wlog_idx_spill_abort(l, s);
            wlog_logf(l->opts.log, l->opts.ctx, 1, "cannot write the index of segment %u: %s (recovery will read the segment)",
                      (unsigned)num, strerror(-rc));
        }
        pthread_mutex_lock(&l->mu);
        s->compacting = false;
        if (rc)
            s->noindex = true;
        if (what == IDX_WRITE) {
            s->indexed = rc == 0;
            s->noindex = rc != 0;
        }
        l->reclaim_wanted = true; /* it may have been skipped while busy */
        pthread_mutex_unlock(&l->mu);
        pthread_cond_signal(&l->work_cv);
    }
}

static uint64_t now_ms_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool want_compact(const wlog *l, const wlog_seg *s, bool oldest) {
    if (!seg_sealed(l, s) || !s->indexed || s->noindex || s->compacting || s->deleting || s->undeletable || s->pins)
        return false;
    size_t fresh = s->ndead - s->dead_base; /* deaths since the last compaction */
    if (s->live <= 0) {
        if (oldest && l->opts.reclaim_in_order)
            return false;
        if (fresh > 0)
            return true;
        /* only another segment changed: its acks may name nothing now. Rereading
         * an ack-heavy index is not free: at most once a second with the thread. */
        return s->gen_seen < l->gen && (l->opts.maint_interval_ms < 0 || now_ms_mono() >= s->checked_ms + 1000);
    }
    return fresh > 0 && fresh >= (size_t)s->live;
}

typedef struct {
    wlog *l;
    uint32_t num;
    const uint32_t *dead; /* sorted */
    size_t ndead;         /* deaths seen by this compaction: s->dead[0 .. ndead) */
    uint32_t *kept; /* pass 1: offsets of the records with refs that stay, in order */
    size_t nkept;
    uint32_t *all;  /* pass 2: offsets of every record that stays, in order (nentries) */
    uint8_t *ents;  /* entries of the kept records */
    size_t nents;
    uint32_t nentries, total;
    bool pass2, dropped_refs;
} compaction;

static size_t deaths_of(const compaction *c, uint32_t off) {
    size_t lo = 0, hi = c->ndead;
    while (lo < hi) { /* first >= off */
        size_t mid = lo + (hi - lo) / 2;
        if (c->dead[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t k = 0;
    while (lo + k < c->ndead && c->dead[lo + k] == off)
        k++;
    return k;
}

/* Pass 1 decides records with refs, pass 2 the others (which may ask
 * wlog_present about records of this segment: pass 1's answer). */
static int compact_decide(void *ctx, uint32_t off, uint8_t type, uint32_t refs, const uint8_t *p, uint32_t len) {
    compaction *c = ctx;
    if (!c->pass2)
        c->total++;
    bool keep;
    if (!c->pass2) {
        if (!refs)
            return 0;
        keep = deaths_of(c, off) < refs;
        if (!keep)
            c->dropped_refs = true;
    } else {
        if (refs) {
            keep = in_sorted(c->kept, c->nkept, off);
        } else {
            const wlog_opts *o = &c->l->opts;
            keep = !o->keep || o->keep(o->ctx, c->l, WLOG_POS(c->num, off), type, p, len);
        }
    }
    if (!keep)
        return 0;
    if (!c->pass2) {
        c->kept[c->nkept++] = off;
        return 0;
    }
    c->all[c->nentries] = off;
    size_t sz = WIDX_ENTRY_HEAD + len;
    memcpy(c->ents + c->nents, p - WIDX_ENTRY_HEAD, sz);
    c->nents += sz;
    c->nentries++;
    return 0;
}

static int u32cmp(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cerr(void) { return errno ? -errno : -EIO; }

/* Copies the kept records of the old file into the new one at their offsets;
 * gaps (and the rest up to end) become skip markers. */
static int compact_copy(wlog *l, int from, int to, const uint32_t *kept, size_t nkept, uint32_t end) {
    uint8_t buf[65536];
    uint64_t cur = WLOG_HEADER_SIZE;
    for (size_t i = 0; i <= nkept; i++) {
        uint64_t next = i < nkept ? kept[i] : end;
        if (next > cur) {
            uint8_t m[WLOG_MARKER_SIZE];
            wlog_marker_encode(m, (uint32_t)(next - cur));
            int rc = wlog_io_write_all(l->io, to, m, sizeof m, cur);
            if (rc)
                return rc;
        }
        if (i == nkept)
            break;
        uint8_t h[WLOG_RECORD_OVERHEAD];
        if (wlog_io_read_full(l->io, from, h, sizeof h, kept[i]) != (ssize_t)sizeof h)
            return -EIO;
        uint32_t rl = wlog_get32(h);
        if (rl == 0 || (rl & WLOG_MARKER_BIT) || (uint64_t)kept[i] + 8 + rl > end)
            return -EINVAL; /* the index does not match the file: leave it alone */
        uint64_t left = 8 + (uint64_t)rl, o = kept[i];
        while (left) {
            size_t k = left < sizeof buf ? (size_t)left : sizeof buf;
            if (wlog_io_read_full(l->io, from, buf, k, o) != (ssize_t)k)
                return -EIO;
            int rc = wlog_io_write_all(l->io, to, buf, k, o);
            if (rc)
                return rc;
            o += k;
            left -= k;
        }
        cur = o;
    }
    return 0;
}

/* Deletes s (nothing in it is needed). mu held on entry and exit. */
static bool compact_delete(wlog *l, wlog_seg *s) {
    if (s->pins)
        return false;
    return wlog_seg_delete(l, s, "nothing in it is needed any more");
}

static void compact_finish(wlog *l, wlog_seg *s, compaction *c, int newfd, bool indexed) {
    pthread_mutex_lock(&l->mu);
    while (s->pins) { /* a reader is using the old fd: it is quick */
        pthread_mutex_unlock(&l->mu);
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&l->mu);
    }
    int old = s->fd;
    s->fd = newfd;
    /* every kept record's offset, sorted (pass 2 saw them in file order) */
    uint32_t *kept = c->all;
    size_t nk = c->nentries;
    c->all = NULL;
    free(s->kept);
    s->kept = kept;
    s->nkept = nk;
    s->compacted = true;
    /* deaths of records that stay (multi-reference ones); those that came
     * during the compaction were not seen by it: they stay fresh */
    size_t w = 0, base = 0;
    for (size_t i = 0; i < s->ndead; i++) {
        if (i == c->ndead)
            base = w;
        if (in_sorted(kept, nk, s->dead[i]))
            s->dead[w++] = s->dead[i];
    }
    if (c->ndead >= s->ndead)
        base = w;
    s->ndead = w;
    s->dead_base = base;
    if (c->dropped_refs)
        l->gen++;
    s->gen_seen = l->gen;
    s->checked_ms = now_ms_mono();
    s->compacting = false;
    s->indexed = indexed;
    s->noindex = !indexed;
    pthread_mutex_unlock(&l->mu);
    if (old >= 0)
        l->io->close(old);
}

/* 1 compacted or deleted, 0 nothing to do, < 0 error (logged). */
static int compact_one(wlog *l, wlog_seg *s) {
    uint32_t num = s->num, end = s->end;
    size_t nd = s->ndead;
    uint32_t *dead = malloc((nd ? nd : 1) * sizeof *dead);
    if (!dead)
        return -ENOMEM;
    if (nd)
        memcpy(dead, s->dead, nd * sizeof *dead);
    s->compacting = true;
    pthread_mutex_unlock(&l->mu);
    qsort(dead, nd, sizeof *dead, u32cmp);

    uint8_t *e = NULL;
    size_t n = 0;
    uint32_t count = 0, iend = 0;
    compaction c = {.l = l, .num = num, .dead = dead, .ndead = nd};
    int rc = wlog_idx_read(l, num, &e, &n, &count, &iend);
    if (rc == 0 && iend != end)
        rc = -1;
    if (rc == 0) {
        c.kept = malloc((count ? count : 1) * sizeof *c.kept);
        c.all = malloc((count ? count : 1) * sizeof *c.all);
        c.ents = malloc(n ? n : 1);
        if (!c.kept || !c.all || !c.ents)
            rc = -1;
    }
    if (rc == 0) {
        wlog_idx_each(e, n, compact_decide, &c);
        pthread_mutex_lock(&l->mu);
        l->cur_seg = num;
        l->cur_kept = c.kept;
        l->cur_nkept = c.nkept;
        pthread_mutex_unlock(&l->mu);
        c.pass2 = true;
        wlog_idx_each(e, n, compact_decide, &c);
        pthread_mutex_lock(&l->mu);
        l->cur_seg = 0;
        l->cur_kept = NULL;
        l->cur_nkept = 0;
        pthread_mutex_unlock(&l->mu);
    }
    free(e);
    free(dead);
    if (rc != 0) {
        wlog_logf(l->opts.log, l->opts.ctx, 1, "segment %u: index unreadable, not compacted (recovery will read the segment)",
                  (unsigned)num);
        wlog_idx_unlink(l, num); /* it may not describe the file (another end): never to be trusted */
        pthread_mutex_lock(&l->mu);
        s->compacting = false;
        s->indexed = false;
        s->noindex = true;
        free(c.kept);
        free(c.all);
        free(c.ents);
        return -EIO;
    }
    int result = 0;
    if (c.nentries == c.total) { /* everything stays */
        pthread_mutex_lock(&l->mu);
        s->compacting = false;
        s->gen_seen = l->gen;
        s->checked_ms = now_ms_mono();
        s->dead_base = nd; /* later deaths stay fresh */
        goto done;
    }
    if (c.nentries == 0) {
        pthread_mutex_lock(&l->mu);
        s->compacting = false;
        result = compact_delete(l, s) ? 1 : 0;
        goto done;
    }
    /* rewrite */
    char path[PATH_MAX], tmp[PATH_MAX + 16], idx[PATH_MAX];
    wlog_seg_path(path, sizeof path, l->dir, num);
    wlog_idx_path(idx, sizeof idx, l->dir, num);
    snprintf(tmp, sizeof tmp, "%s.compact", path);
    int from = -1, to = -1, newfd = -1;
    bool idx_gone = false;
    errno = 0;
    if (!rc && (from = l->io->open(path, O_RDONLY | O_CLOEXEC, 0)) < 0)
        rc = cerr();
    errno = 0;
    if (!rc && (to = l->io->open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        rc = cerr();
    struct stat st;
    if (!rc && fstat(from, &st) != 0)
        rc = cerr();
    if (!rc) {
        uint8_t h[WLOG_HEADER_SIZE];
        wlog_header_encode(h, WLOG_MAGIC, num);
        rc = wlog_io_write_all(l->io, to, h, sizeof h, 0);
    }
    if (!rc)
        rc = compact_copy(l, from, to, c.all, c.nentries, end);
    /* as long as the old file, and never shorter than end: the last marker's
     * hole must lie inside the file (a segment filled to its last byte, or cut
     * at end by a recovery, is exactly end long) */
    uint64_t size = (uint64_t)st.st_size > end ? (uint64_t)st.st_size : end;
    errno = 0;
    if (!rc && l->io->ftruncate(to, (off_t)size) != 0)
        rc = cerr();
    errno = 0;
    if (!rc && l->io->fdatasync(to) != 0)
        rc = cerr();
    errno = 0;
    if (!rc && l->io->unlink(idx) != 0 && errno != ENOENT)
        rc = cerr();
    idx_gone = !rc;
    errno = 0;
    if (!rc && l->io->fsync_dir(l->dir) != 0)
        rc = cerr();
    errno = 0;
    if (!rc && l->io->rename(tmp, path) != 0)
        rc = cerr();
    errno = 0;
    if (!rc && l->io->fsync_dir(l->dir) != 0)
        rc = cerr();
    if (from >= 0)
        l->io->close(from);
    if (rc) {
        if (to >= 0)
            l->io->close(to);
        l->io->unlink(tmp);
        wlog_logf(l->opts.log, l->opts.ctx, 1, "cannot compact segment %u: %s (left as it was)", (unsigned)num,
                  strerror(-rc));
        pthread_mutex_lock(&l->mu);
        s->compacting = false;
        if (idx_gone) {
            s->indexed = false;
            s->noindex = true;
        }
        s->gen_seen = l->gen; /* do not retry at once */
        s->checked_ms = now_ms_mono();
        result = rc;
        goto done;
    }
    newfd = to; /* the renamed file, opened O_RDWR */
    struct iovec iv = {c.ents, c.nents};
    int irc = wlog_idx_write(l, num, end, &iv, 1, c.nentries, true);
    if (irc)
        wlog_logf(l->opts.log, l->opts.ctx, 1, "cannot write the index of compacted segment %u: %s", (unsigned)num,
                  strerror(-irc));
    wlog_logf(l->opts.log, l->opts.ctx, 2, "compacted segment %u: kept %u of %u records", (unsigned)num,
              (unsigned)c.nentries, (unsigned)c.total);
    compact_finish(l, s, &c, newfd, irc == 0);
    pthread_mutex_lock(&l->mu);
    result = 1;
done:
    free(c.kept);
    free(c.all);
    free(c.ents);
    return result; /* mu held */
}

int wlog_maintain(wlog *l) {
    if (!l || !l->opts.summarize)
        return 0;
    pthread_mutex_lock(&l->maint_mu);
    if (l->opts.on_maintain)
        l->opts.on_maintain(l->opts.ctx, l);
    wlog_write_indexes(l);
    int done = 0;
    pthread_mutex_lock(&l->mu);
    uint32_t after = 0; /* segments are visited oldest first, each at most once a pass */
    while (l->reclaim_armed && !l->closing) {
        wlog_seg *s = NULL;
        for (int i = 0; i < l->nsegs && !s; i++)
            if (l->segs[i]->num >= after && want_compact(l, l->segs[i], i == 0))
                s = l->segs[i];
        if (!s)
            break;
        after = s->num + 1;
        int r = compact_one(l, s); /* drops and retakes mu */
        if (r > 0)
            done += r;
    }
    pthread_mutex_unlock(&l->mu);
    pthread_mutex_unlock(&l->maint_mu);
    if (done) {
        pthread_mutex_lock(&l->mu);
        l->reclaim_wanted = true;
        pthread_mutex_unlock(&l->mu);
        pthread_cond_signal(&l->work_cv);
    }
    return done;
}

void *wlog_maint_main(void *arg) {
    wlog *l = arg;
    int ms = l->opts.maint_interval_ms ? l->opts.maint_interval_ms : 1000;
    pthread_mutex_lock(&l->mu);
    while (!l->closing) {
        if (!l->maint_wanted) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += ms / 1000;
            ts.tv_nsec += (long)(ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&l->maint_cv, &l->mu, &ts);
        }
        l->maint_wanted = false;
        if (l->closing)
            break;
        pthread_mutex_unlock(&l->mu);
        wlog_maintain(l);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}
