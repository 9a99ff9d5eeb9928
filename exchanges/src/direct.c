/* direct.c — direct exchange: hash table routing key -> bucket of bindings.
 * Route is one hash lookup plus a walk of the matching bucket only. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

typedef struct {
    exch_hnode h; /* hash of key */
    exch_binding *first;
    size_t klen;
    uint8_t key[];
} direct_bucket;

typedef struct {
    exch_htab buckets;
} direct_impl;

static direct_bucket *direct_find(const direct_impl *d, amq_bytes key) {
    uint64_t h = exch_hash_bytes(key.p, key.len);
    for (exch_hnode *n = exch_htab_chain(&d->buckets, h); n; n = n->next) {
        direct_bucket *k = (direct_bucket *)n;
        if (n->hash == h && k->klen == key.len && (!key.len || memcmp(k->key, key.p, key.len) == 0))
            return k;
    }
    return NULL;
}

static int direct_create(exch *e) {
    direct_impl *d = calloc(1, sizeof *d);
    if (!d || exch_htab_init(&d->buckets) < 0) {
        free(d);
        return -1;
    }
    e->impl = d;
    return 0;
}

static void direct_free_bucket(void *ctx, exch_hnode *n) {
    (void)ctx;
    free(n);
}

static void direct_destroy(exch *e) {
    direct_impl *d = e->impl;
    exch_htab_each(&d->buckets, direct_free_bucket, NULL);
    exch_htab_destroy(&d->buckets);
    free(d);
    e->impl = NULL;
}

static int direct_add(exch *e, exch_binding *b) {
    direct_impl *d = e->impl;
    direct_bucket *k = direct_find(d, b->key);
    if (!k) {
        k = calloc(1, sizeof *k + b->key.len);
        if (!k) return EXCH_ENOMEM;
        k->klen = b->key.len;
        if (b->key.len) memcpy(k->key, b->key.p, b->key.len);
        k->h.hash = exch_hash_bytes(b->key.p, b->key.len);
        exch_htab_insert(&d->buckets, &k->h);
    }
    exch_tlist_push(&k->first, b);
    b->tnode = k;
    return 0;
}

static void direct_remove(exch *e, exch_binding *b) {
    direct_impl *d = e->impl;
    direct_bucket *k = b->tnode;
    exch_tlist_unlink(&k->first, b);
    if (!k->first) {
        exch_htab_remove(&d->buckets, &k->h);
        free(k);
    }
}

static void direct_route(const exch *e, amq_bytes key, amq_bytes headers, exch_dests *out) {
    (void)headers;
    const direct_bucket *k = direct_find(e->impl, key);
    for (const exch_binding *b = k ? k->first : NULL; b; b = b->tnext) exch_dests_add(out, b->dest);
}

const exch_ops exch_direct_ops = {direct_create, direct_destroy, direct_add, direct_remove, direct_route};
