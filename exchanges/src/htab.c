/* htab.c — intrusive chained hash table and seeded hashes for exchanges/. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define HTAB_INITIAL 16

static const char htab_seed_anchor;

static uint64_t htab_fmix(uint64_t x) {
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    return x;
}

/* Per-process seed from ASLR'd addresses: enough to stop precomputed
 * collision sets; not a cryptographic defence. Recomputed on each call (one
 * mix) so there is no shared mutable state between threads. */
static uint64_t htab_seed(void) {
    uint64_t s = (uint64_t)(uintptr_t)&htab_seed_anchor ^ ((uint64_t)(uintptr_t)&htab_fmix << 17);
    return htab_fmix(s ^ 0x9e3779b97f4a7c15ULL) | 1;
}

uint64_t exch_hash_mix(uint64_t a, uint64_t b) {
    return htab_fmix(a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2)));
}

uint64_t exch_hash_bytes(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = htab_seed() ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, s, 8);
        h = htab_fmix(h ^ k) * 0xff51afd7ed558ccdULL;
        s += 8;
        n -= 8;
    }
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) k |= (uint64_t)s[i] << (8 * i);
    return htab_fmix(h ^ k ^ 0xc4ceb9fe1a85ec53ULL);
}

uint64_t exch_hash_ptr(const void *p) {
    return htab_fmix((uint64_t)(uintptr_t)p ^ htab_seed());
}

int exch_htab_init(exch_htab *t) {
    t->b = calloc(HTAB_INITIAL, sizeof *t->b);
    t->mask = HTAB_INITIAL - 1;
    t->n = 0;
    return t->b ? 0 : -1;
}

void exch_htab_destroy(exch_htab *t) {
    free(t->b);
    t->b = NULL;
    t->mask = 0;
    t->n = 0;
}

exch_hnode *exch_htab_chain(const exch_htab *t, uint64_t h) {
    return t->b[h & t->mask];
}

static void htab_grow(exch_htab *t) {
    size_t nb = (t->mask + 1) * 2;
    exch_hnode **b = calloc(nb, sizeof *b);
    if (!b) return;
    for (size_t i = 0; i <= t->mask; i++) {
        exch_hnode *n = t->b[i];
        while (n) {
            exch_hnode *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(t->b);
    t->b = b;
    t->mask = nb - 1;
}

void exch_htab_insert(exch_htab *t, exch_hnode *n) {
    if (t->n >= t->mask + 1) htab_grow(t);
    exch_hnode **slot = &t->b[n->hash & t->mask];
    n->next = *slot;
    *slot = n;
    t->n++;
}

void exch_htab_remove(exch_htab *t, exch_hnode *n) {
    for (exch_hnode **p = &t->b[n->hash & t->mask]; *p; p = &(*p)->next) {
        if (*p == n) {
            *p = n->next;
            n->next = NULL;
            t->n--;
            return;
        }
    }
}

void exch_htab_each(exch_htab *t, void (*fn)(void *ctx, exch_hnode *n), void *ctx) {
    for (size_t i = 0; t->b && i <= t->mask; i++) {
        exch_hnode *n = t->b[i];
        while (n) {
            exch_hnode *next = n->next;
            fn(ctx, n);
            n = next;
        }
    }
}
