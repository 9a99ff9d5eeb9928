/* log.c — the public face of the log: open/close, appends into the batch,
 * positions, wlog_sync, liveness and reclaim. All I/O happens in the syncer
 * (syncer.c), in recovery (recover.c) and in wlog_read (read.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define BATCH_MIN (256u << 10)

static int batch_grow(wlog_batch *b, size_t need) {
    if (b->nspans == b->capspans) {
        int cap = b->capspans ? b->capspans * 2 : 4;
        wlog_span *n = realloc(b->spans, (size_t)cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        b->spans = n;
        b->capspans = cap;
    }
    if (b->cap - b->len >= need)
        return 0;
    size_t cap = b->cap ? b->cap : BATCH_MIN;
    while (cap - b->len < need)
        cap *= 2;
    uint8_t *n = realloc(b->buf, cap);
    if (!n)
        return -ENOMEM;
    b->buf = n;
    b->cap = cap;
    return 0;
}

void wlog_batch_clear(wlog_batch *b) {
    b->len = 0;
    b->nspans = 0;
    b->from = b->to = 0;
}

void wlog_batch_destroy(wlog_batch *b) {
    free(b->buf);
    free(b->spans);
    memset(b, 0, sizeof *b);
}

/* Roll to a new segment when the record does not fit (or after a failure
 * poisoned the head). mu held. */
static int append_roll(wlog *l, size_t rsize) {
    bool poisoned = l->force_roll && l->tail_off > WLOG_HEADER_SIZE;
    if (!poisoned && (uint64_t)l->tail_off + rsize <= l->segsize)
        return 0;
    if (!wlog_seg_add(l, l->tail_seg + 1))
        return -ENOMEM;
    l->segs[l->nsegs - 2]->end = l->tail_off; /* sealed: the maintenance thread indexes it */
    l->maint_wanted = true;
    l->tail_seg++;
    l->tail_off = WLOG_HEADER_SIZE;
    l->force_roll = false;
    return 0;
}

/* Reserves rsize bytes at the tail in the active batch. mu held. */
static uint8_t *append_reserve(wlog *l, size_t rsize, wlog_pos *pos) {
    wlog_batch *b = l->active;
    if (append_roll(l, rsize) || batch_grow(b, rsize))
        return NULL;
    if (b->nspans == 0 || b->spans[b->nspans - 1].seg != l->tail_seg)
        b->spans[b->nspans++] = (wlog_span){.s = l->segs[l->nsegs - 1], .seg = l->tail_seg, .off = l->tail_off, .boff = b->len, .len = 0};
    *pos = WLOG_POS(l->tail_seg, l->tail_off);
    if (b->len == 0)
        b->from = *pos;
    uint8_t *p = b->buf + b->len;
    b->spans[b->nspans - 1].len += rsize;
    b->len += rsize;
    l->tail_off += (uint32_t)rsize;
    b->to = WLOG_POS(l->tail_seg, l->tail_off);
    return p;
}

wlog_pos wlog_appendv_live(wlog *l, uint8_t type, const struct iovec *iov, int iovcnt, int live) {
    size_t n = wlog_iov_len(iov, iovcnt);
    if (!l || n == SIZE_MAX || n > (size_t)l->segsize - WLOG_HEADER_SIZE - WLOG_RECORD_OVERHEAD)
        return 0;
    uint8_t head[WLOG_RECORD_OVERHEAD];
    wlog_record_head(head, (uint32_t)n + 1, wlog_record_crc(type, iov, iovcnt), type);
    uint32_t refs = 0;
    size_t slen = l->opts.summarize ? wlog_sum_len(l, type, iovcnt ? iov[0].iov_base : NULL, iovcnt ? iov[0].iov_len : 0, n, &refs) : 0;
    wlog_pos pos = 0;
    bool wake = false, roll;
    pthread_mutex_lock(&l->mu);
    uint32_t seg_before = l->tail_seg;
    uint8_t *p = l->closing ? NULL : append_reserve(l, WLOG_RECORD_OVERHEAD + n, &pos);
    roll = l->tail_seg != seg_before && l->maint_started;
    if (p && l->opts.summarize) {
        wlog_seg *s = l->segs[l->nsegs - 1];
        if (!s->noindex && wlog_sum_add(&s->sum, WLOG_OFF(pos), type, refs, iov, iovcnt, slen))
            s->noindex = true;
    }
    if (p) {
        memcpy(p, head, sizeof head);
        p += sizeof head;
        for (int i = 0; i < iovcnt; i++) {
            if (iov[i].iov_len)
                memcpy(p, iov[i].iov_base, iov[i].iov_len);
            p += iov[i].iov_len;
        }
        l->segs[l->nsegs - 1]->live += live;
        wake = l->syncer_idle;
        l->syncer_idle = false;
    }
    pthread_mutex_unlock(&l->mu);
    if (wake) /* outside the mutex: appends make no system call under it */
        pthread_cond_signal(&l->work_cv);
    if (roll)
        pthread_cond_signal(&l->maint_cv);
    return p ? pos : 0;
}

wlog_pos wlog_appendv(wlog *l, uint8_t type, const struct iovec *iov, int iovcnt) {
    return wlog_appendv_live(l, type, iov, iovcnt, 0);
}

wlog_pos wlog_append(wlog *l, uint8_t type, const void *payload, size_t len) {
    struct iovec iov = {(void *)payload, len};
    return wlog_appendv_live(l, type, &iov, 1, 0);
}

wlog_pos wlog_append_live(wlog *l, uint8_t type, const void *payload, size_t len, int live) {
    struct iovec iov = {(void *)payload, len};
    return wlog_appendv_live(l, type, &iov, 1, live);
}

wlog_pos wlog_durable(wlog *l) {
    pthread_mutex_lock(&l->mu);
    wlog_pos d = l->durable;
    pthread_mutex_unlock(&l->mu);
    return d;
}

wlog_pos wlog_tail(wlog *l) {
    pthread_mutex_lock(&l->mu);
    wlog_pos t = WLOG_POS(l->tail_seg, l->tail_off);
    pthread_mutex_unlock(&l->mu);
    return t;
}

int wlog_sync(wlog *l) {
    pthread_mutex_lock(&l->mu);
    wlog_pos target = WLOG_POS(l->tail_seg, l->tail_off);
    pthread_cond_signal(&l->work_cv);
    while (l->done < target && l->active->len + l->inflight->len > 0)
        pthread_cond_wait(&l->done_cv, &l->mu);
    int rc = 0;
    if (l->fail_seq != l->fail_reported && l->first_unreported_fail < target) {
        rc = WLOG_EIO;
        l->fail_reported = l->fail_seq;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void wlog_live(wlog *l, wlog_pos pos, int delta) {
    pthread_mutex_lock(&l->mu);
    wlog_seg *s = wlog_seg_find(l, WLOG_SEG(pos));
    if (s) {
        s->live += delta;
        if (delta < 0 && l->opts.summarize)
            wlog_dead_locked(l, s, WLOG_OFF(pos), -delta);
        if (s->live <= 0 && s->num < l->tail_seg && l->reclaim_armed) {
            l->reclaim_wanted = true;
            pthread_cond_signal(&l->work_cv);
        }
    }
    pthread_mutex_unlock(&l->mu);
}

int wlog_reclaim(wlog *l) {
    pthread_mutex_lock(&l->mu);
    l->reclaim_armed = true;
    int n = wlog_reclaim_locked(l);
    while (l->unlinking) /* deletions the syncer or a compaction started: done when this returns */
        pthread_cond_wait(&l->done_cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    return n;
}

int wlog_segment_count(wlog *l) {
    int n = 0;
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->nsegs; i++)
        n += l->segs[i]->created && !l->segs[i]->deleting;
    pthread_mutex_unlock(&l->mu);
    return n;
}

static void log_free(wlog *l) {
    for (int i = 0; i < l->nsegs; i++) {
        if (l->segs[i]->fd >= 0)
            l->io->close(l->segs[i]->fd);
        wlog_idx_spill_abort(l, l->segs[i]); /* the head's: it is read whole at the next start */
        wlog_seg_free_state(l->segs[i]);
        free(l->segs[i]);
    }
    free(l->segs);
    wlog_batch_destroy(&l->b[0]);
    wlog_batch_destroy(&l->b[1]);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->done_cv);
    pthread_cond_destroy(&l->maint_cv);
    pthread_mutex_destroy(&l->maint_mu);
    pthread_mutex_destroy(&l->mu);
    free(l->dir);
    free(l);
}

static wlog *log_alloc(const char *dir, const wlog_opts *opts) {
    wlog *l = calloc(1, sizeof *l);
    if (!l || !(l->dir = strdup(dir))) {
        free(l);
        return NULL;
    }
    if (opts)
        l->opts = *opts;
    l->io = l->opts.io ? l->opts.io : &wlog_io_libc;
    uint32_t sz = l->opts.segment_size ? l->opts.segment_size : WLOG_DEFAULT_SEGMENT;
    l->segsize = sz < WLOG_MIN_SEGMENT ? WLOG_MIN_SEGMENT : sz > WLOG_MAX_SEGMENT ? WLOG_MAX_SEGMENT : sz;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work_cv, NULL);
    pthread_cond_init(&l->done_cv, NULL);
    pthread_cond_init(&l->maint_cv, NULL);
    pthread_mutex_init(&l->maint_mu, NULL);
    l->active = &l->b[0];
    l->inflight = &l->b[1];
    return l;
}

int wlog_open(const char *dir, const wlog_opts *opts, wlog_replay_fn replay, void *replay_ctx, wlog **out) {
    if (!dir || !out)
        return WLOG_EIO;
    *out = NULL;
    wlog *l = log_alloc(dir, opts);
    if (!l)
        return WLOG_EIO;
    int e = wlog_io_mkdir(dir);
    if (e) {
        wlog_logf(l->opts.log, l->opts.ctx, 0, "cannot create log directory %s: %s", dir, strerror(-e));
        log_free(l);
        return WLOG_EIO;
    }
    int err = wlog_recover(l, replay, replay_ctx);
    if (!err && pthread_create(&l->syncer, NULL, wlog_syncer_main, l) != 0)
        err = WLOG_EIO;
    if (err) {
        log_free(l);
        return err;
    }
    l->syncer_started = true;
    if (l->opts.summarize && l->opts.maint_interval_ms >= 0 && pthread_create(&l->maint, NULL, wlog_maint_main, l) == 0)
        l->maint_started = true;
    *out = l;
    return 0;
}

void wlog_close(wlog **lp) {
    if (!lp || !*lp)
        return;
    wlog *l = *lp;
    *lp = NULL;
    pthread_mutex_lock(&l->mu);
    l->closing = true;
    pthread_cond_signal(&l->work_cv);
    pthread_cond_signal(&l->maint_cv);
    pthread_mutex_unlock(&l->mu);
    if (l->maint_started)
        pthread_join(l->maint, NULL);
    if (l->syncer_started)
        pthread_join(l->syncer, NULL);
    if (l->opts.summarize)
        wlog_write_indexes(l); /* so the next start reads indexes, not segments */
    log_free(l);
}
