/* perf_hist.c — log-linear latency histogram, see perf.h. */
#include "perf.h"

#include <string.h>

/* Values below 64 get a bucket each; above, 32 buckets per power of two. */
static unsigned hist_index(uint64_t v) {
    if (v < 64) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
    unsigned shift = msb - 5;
    unsigned top = (unsigned)(v >> shift); /* in [32, 64) */
    return 64 + (msb - 6) * 32 + (top - 32);
}

/* Middle of bucket i, in ns. */
static uint64_t hist_value(unsigned i) {
    if (i < 64) return i;
    unsigned msb = (i - 64) / 32 + 6, top = (i - 64) % 32 + 32, shift = msb - 5;
    return ((uint64_t)top << shift) + ((uint64_t)1 << shift) / 2;
}

void perf_hist_record(perf_hist *h, uint64_t ns) {
    unsigned i = hist_index(ns);
    uint64_t c = atomic_load_explicit(&h->b[i], memory_order_relaxed);
    atomic_store_explicit(&h->b[i], c + 1, memory_order_relaxed);
    if (ns > atomic_load_explicit(&h->max, memory_order_relaxed))
        atomic_store_explicit(&h->max, ns, memory_order_relaxed);
}

void perf_hist_add(perf_hsnap *s, const perf_hist *h) {
    for (unsigned i = 0; i < PERF_HIST_N; i++) {
        uint64_t c = atomic_load_explicit(&((perf_hist *)h)->b[i], memory_order_relaxed);
        s->b[i] += c;
        s->n += c;
    }
    uint64_t m = atomic_load_explicit(&((perf_hist *)h)->max, memory_order_relaxed);
    if (m > s->max) s->max = m;
}

void perf_hist_diff(perf_hsnap *d, const perf_hsnap *a, const perf_hsnap *b) {
    d->n = 0;
    for (unsigned i = 0; i < PERF_HIST_N; i++) {
        d->b[i] = a->b[i] >= b->b[i] ? a->b[i] - b->b[i] : 0;
        d->n += d->b[i];
    }
    d->max = a->max;
}

uint64_t perf_hist_quantile(const perf_hsnap *s, double q) {
    if (!s->n) return 0;
    uint64_t want = (uint64_t)(q * (double)s->n);
    if (want < 1) want = 1;
    if (want > s->n) want = s->n;
    uint64_t seen = 0;
    for (unsigned i = 0; i < PERF_HIST_N; i++) {
        seen += s->b[i];
        if (seen >= want) {
            uint64_t v = hist_value(i);
            return v > s->max && s->max ? s->max : v;
        }
    }
    return s->max;
}
