/* internal.h — private to exchanges/src: the shared binding index, the
 * per-type vtable and a small intrusive hash table.
 *
 * Layout: exchange.c owns every binding (one malloc holding the struct, its
 * key and its args) and indexes them twice: by identity (dest, key) for
 * bind/unbind/has, and by destination for unbind_dest, fanout and foreach.
 * Each type file (direct.c, fanout.c, topic.c, headers.c) only keeps the
 * routing structure, linking bindings through b->tprev/tnext/tnode/tdata. */
#ifndef EXCH_INTERNAL_H
#define EXCH_INTERNAL_H
#include <stdint.h>
#include "exch/exchange.h"

/* ---- intrusive chained hash table (htab.c) ---- */
typedef struct exch_hnode {
    struct exch_hnode *next;
    uint64_t hash;
} exch_hnode;

typedef struct {
    exch_hnode **b; /* 2^k buckets */
    size_t mask;    /* buckets - 1 */
    size_t n;       /* entries */
} exch_htab;

/* Allocates the initial buckets; 0 ok, -1 out of memory. */
int exch_htab_init(exch_htab *t);
/* Frees the bucket array only (entries belong to the caller). */
void exch_htab_destroy(exch_htab *t);
/* Head of the chain that may hold hash h; walk ->next, compare ->hash. */
exch_hnode *exch_htab_chain(const exch_htab *t, uint64_t h);
/* Insert n (n->hash set by the caller). Never fails: if growing the bucket
 * array fails, the table just gets longer chains. */
void exch_htab_insert(exch_htab *t, exch_hnode *n);
/* Remove n, which must be in t. */
void exch_htab_remove(exch_htab *t, exch_hnode *n);
/* Visit every node; fn may free the node it is given (next is read first). */
void exch_htab_each(exch_htab *t, void (*fn)(void *ctx, exch_hnode *n), void *ctx);

/* Seeded hashes (the seed is per process, fixed at first use). */
uint64_t exch_hash_bytes(const void *p, size_t n);
uint64_t exch_hash_ptr(const void *p);
uint64_t exch_hash_mix(uint64_t a, uint64_t b);

/* ---- bindings (exchange.c) ---- */
struct exch_dest_rec;
typedef struct exch_binding {
    exch_hnode id; /* identity index, hash of (dest, key) */
    void *dest;
    amq_bytes key;  /* owned: points into this allocation */
    amq_bytes args; /* owned: points into this allocation */
    struct exch_dest_rec *drec;
    struct exch_binding *dprev, *dnext; /* bindings to the same dest */
    struct exch_binding *tprev, *tnext; /* the type's list */
    void *tnode;                        /* the type's owner of that list */
    void *tdata;                        /* the type's per-binding data */
} exch_binding;

/* Link b at the head of *head through tprev/tnext / unlink it. */
void exch_tlist_push(exch_binding **head, exch_binding *b);
void exch_tlist_unlink(exch_binding **head, exch_binding *b);

typedef struct exch_dest_rec {
    exch_hnode h; /* hash of dest */
    void *dest;
    exch_binding *first;
    size_t count;
    size_t idx; /* position in exch.darr */
} exch_dest_rec;

/* Per-type routing structure. add returns 0 or <0 (EXCH_EBADMATCH,
 * EXCH_ENOMEM) and leaves nothing behind on error. remove undoes add.
 * destroy frees the whole structure, not the bindings. */
typedef struct {
    int (*create)(exch *e);
    void (*destroy)(exch *e);
    int (*add)(exch *e, exch_binding *b);
    void (*remove)(exch *e, exch_binding *b);
    void (*route)(const exch *e, amq_bytes key, amq_bytes headers, exch_dests *out);
} exch_ops;

extern const exch_ops exch_direct_ops, exch_fanout_ops, exch_topic_ops, exch_headers_ops;

struct exch {
    const exch_ops *ops;
    exch_type type;
    void *impl;
    exch_htab ids;         /* exch_binding by (dest, key) */
    exch_htab drecs;       /* exch_dest_rec by dest */
    exch_dest_rec **darr;  /* dense list of dest records */
    size_t dn, dcap;
    size_t count;          /* bindings */
};
#endif
