/* u64set.c — an open-addressing set of 64-bit keys (recovery bookkeeping). */
#include "u64set.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static size_t slot(uint64_t k, size_t cap) { return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1); }

void u64set_init(u64set *s) { memset(s, 0, sizeof *s); }

void u64set_destroy(u64set *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void insert(uint64_t *v, size_t cap, uint64_t k) {
    size_t i = slot(k, cap);
    while (v[i] && v[i] != k) i = (i + 1) & (cap - 1);
    v[i] = k;
}

void u64set_add(u64set *s, uint64_t k) {
    if (!k) {
        s->has_zero = true;
        return;
    }
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        uint64_t *nv = xcalloc(ncap, sizeof *nv);
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i]) insert(nv, ncap, s->v[i]);
        free(s->v);
        s->v = nv;
        s->cap = ncap;
    }
    if (!u64set_has(s, k)) {
        insert(s->v, s->cap, k);
        s->n++;
    }
}

bool u64set_has(const u64set *s, uint64_t k) {
    if (!k) return s->has_zero;
    if (!s->cap) return false;
    for (size_t i = slot(k, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->v[i] == k) return true;
        if (!s->v[i]) return false;
    }
}
