/* exchange.c — type names, exch_dests, the shared binding index and the
 * dispatch to the per-type routing structures (see internal.h). */
#include <stdlib.h>
#include <string.h>
#include "amq/table.h"
#include "internal.h"

/* ---------------------------------------------------------------- types */

static const char *const exchange_names[] = {"direct", "fanout", "topic", "headers"};

int exch_type_parse(amq_bytes name, exch_type *t) {
    for (int i = 0; i < 4; i++) {
        if (amq_bytes_eqs(name, exchange_names[i])) {
            *t = (exch_type)i;
            return 0;
        }
    }
    return -1;
}

const char *exch_type_name(exch_type t) {
    return (unsigned)t < 4 ? exchange_names[t] : "unknown";
}

static const exch_ops *exchange_ops_of(exch_type t) {
    switch (t) {
    case EXCH_DIRECT: return &exch_direct_ops;
    case EXCH_FANOUT: return &exch_fanout_ops;
    case EXCH_TOPIC: return &exch_topic_ops;
    case EXCH_HEADERS: return &exch_headers_ops;
    }
    return NULL;
}

/* ---------------------------------------------------------------- dests */
/* v holds cap pointers; when cap > DESTS_LINEAR the same allocation also
 * holds a set of 2*cap slots right after them (NULL = empty, linear probing).
 * Invariant: the set holds exactly v[0..n) when n > DESTS_LINEAR, else it is
 * all NULL. Inserted in v order, so clear can empty it in O(n) by deleting in
 * reverse order (each probe path then only crosses still-present entries). */
#define DESTS_LINEAR 16

static size_t dests_set_cap(size_t cap) { return cap > DESTS_LINEAR ? 2 * cap : 0; }
static void **dests_set(const exch_dests *d) { return d->v + d->cap; }

static size_t dests_slot(const exch_dests *d, const void *p) {
    size_t mask = dests_set_cap(d->cap) - 1;
    void **set = dests_set(d);
    size_t i = (size_t)exch_hash_ptr(p) & mask;
    while (set[i] && set[i] != p) i = (i + 1) & mask;
    return i;
}

static void dests_set_put(exch_dests *d, void *p) { dests_set(d)[dests_slot(d, p)] = p; }

void exch_dests_init(exch_dests *d) {
    d->v = NULL;
    d->n = 0;
    d->cap = 0;
}

void exch_dests_clear(exch_dests *d) {
    if (d->n > DESTS_LINEAR) {
        for (size_t i = d->n; i-- > 0;) dests_set(d)[dests_slot(d, d->v[i])] = NULL;
    }
    d->n = 0;
}

void exch_dests_destroy(exch_dests *d) {
    free(d->v);
    exch_dests_init(d);
}

static int dests_grow(exch_dests *d) {
    size_t cap = d->cap ? d->cap * 2 : 8;
    void **v = calloc(cap + dests_set_cap(cap), sizeof *v);
    if (!v) return -1;
    if (d->n) memcpy(v, d->v, d->n * sizeof *v);
    free(d->v);
    d->v = v;
    d->cap = cap;
    if (d->n > DESTS_LINEAR) {
        for (size_t i = 0; i < d->n; i++) dests_set_put(d, d->v[i]);
    }
    return 0;
}

static bool dests_has(const exch_dests *d, const void *p) {
    if (d->n > DESTS_LINEAR) return dests_set(d)[dests_slot(d, p)] == p;
    for (size_t i = 0; i < d->n; i++) {
        if (d->v[i] == p) return true;
    }
    return false;
}

int exch_dests_add(exch_dests *d, void *dest) {
    if (!dest || dests_has(d, dest)) return 0;
    if (d->n == d->cap && dests_grow(d) < 0) return -1;
    d->v[d->n++] = dest;
    if (d->n == DESTS_LINEAR + 1) {
        for (size_t i = 0; i < d->n; i++) dests_set_put(d, d->v[i]);
    } else if (d->n > DESTS_LINEAR) {
        dests_set_put(d, dest);
    }
    return 1;
}

/* ------------------------------------------------------------- bindings */

void exch_tlist_push(exch_binding **head, exch_binding *b) {
    b->tprev = NULL;
    b->tnext = *head;
    if (*head) (*head)->tprev = b;
    *head = b;
}

void exch_tlist_unlink(exch_binding **head, exch_binding *b) {
    if (b->tprev) b->tprev->tnext = b->tnext;
    else *head = b->tnext;
    if (b->tnext) b->tnext->tprev = b->tprev;
    b->tprev = b->tnext = NULL;
}

static uint64_t exchange_id_hash(const void *dest, amq_bytes key) {
    return exch_hash_mix(exch_hash_ptr(dest), exch_hash_bytes(key.p, key.len));
}

static bool exchange_args_equal(amq_bytes a, amq_bytes b) {
    if (a.len == 0 || b.len == 0) return a.len == b.len;
    if (a.len == b.len && memcmp(a.p, b.p, a.len) == 0) return true;
    return amq_table_equal(a, b);
}

static exch_binding *exchange_find(const exch *e, void *dest, amq_bytes key, amq_bytes args) {
    uint64_t h = exchange_id_hash(dest, key);
    for (exch_hnode *n = exch_htab_chain(&e->ids, h); n; n = n->next) {
        exch_binding *b = (exch_binding *)n;
        if (n->hash == h && b->dest == dest && amq_bytes_eq(b->key, key) &&
            exchange_args_equal(b->args, args))
            return b;
    }
    return NULL;
}

static exch_dest_rec *exchange_drec_find(const exch *e, const void *dest) {
    uint64_t h = exch_hash_ptr(dest);
    for (exch_hnode *n = exch_htab_chain(&e->drecs, h); n; n = n->next) {
        exch_dest_rec *r = (exch_dest_rec *)n;
        if (n->hash == h && r->dest == dest) return r;
    }
    return NULL;
}

static exch_dest_rec *exchange_drec_get(exch *e, void *dest) {
    exch_dest_rec *r = exchange_drec_find(e, dest);
    if (r) return r;
    if (e->dn == e->dcap) {
        size_t cap = e->dcap ? e->dcap * 2 : 8;
        exch_dest_rec **a = realloc(e->darr, cap * sizeof *a);
        if (!a) return NULL;
        e->darr = a;
        e->dcap = cap;
    }
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->dest = dest;
    r->h.hash = exch_hash_ptr(dest);
    r->idx = e->dn;
    e->darr[e->dn++] = r;
    exch_htab_insert(&e->drecs, &r->h);
    return r;
}

static void exchange_drec_drop(exch *e, exch_dest_rec *r) {
    exch_htab_remove(&e->drecs, &r->h);
    e->darr[r->idx] = e->darr[--e->dn];
    e->darr[r->idx]->idx = r->idx;
    free(r);
}

static exch_binding *exchange_binding_new(void *dest, amq_bytes key, amq_bytes args) {
    exch_binding *b = calloc(1, sizeof *b + key.len + args.len + 1);
    if (!b) return NULL;
    uint8_t *p = (uint8_t *)(b + 1);
    if (key.len) memcpy(p, key.p, key.len);
    if (args.len) memcpy(p + key.len, args.p, args.len);
    b->dest = dest;
    b->key.p = p;
    b->key.len = key.len;
    b->args.p = p + key.len;
    b->args.len = args.len;
    b->id.hash = exchange_id_hash(dest, key);
    return b;
}

static void exchange_link(exch *e, exch_binding *b, exch_dest_rec *r) {
    exch_htab_insert(&e->ids, &b->id);
    b->drec = r;
    b->dprev = NULL;
    b->dnext = r->first;
    if (r->first) r->first->dprev = b;
    r->first = b;
    r->count++;
    e->count++;
}

/* Undo everything bind did and free b. */
static void exchange_unlink(exch *e, exch_binding *b) {
    exch_dest_rec *r = b->drec;
    e->ops->remove(e, b);
    exch_htab_remove(&e->ids, &b->id);
    if (b->dprev) b->dprev->dnext = b->dnext;
    else r->first = b->dnext;
    if (b->dnext) b->dnext->dprev = b->dprev;
    e->count--;
    if (--r->count == 0) exchange_drec_drop(e, r);
    free(b);
}

/* ------------------------------------------------------------- exchange */

exch *exch_new(exch_type t) {
    const exch_ops *ops = exchange_ops_of(t);
    if (!ops) return NULL;
    exch *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->ops = ops;
    e->type = t;
    if (exch_htab_init(&e->ids) < 0 || exch_htab_init(&e->drecs) < 0 || ops->create(e) < 0) {
        exch_htab_destroy(&e->ids);
        exch_htab_destroy(&e->drecs);
        free(e);
        return NULL;
    }
    return e;
}

static void exchange_free_binding(void *ctx, exch_hnode *n) {
    (void)ctx;
    free(n);
}

static void exchange_free_drec(void *ctx, exch_hnode *n) {
    (void)ctx;
    free(n);
}

void exch_free(exch **pe) {
    if (!pe || !*pe) return;
    exch *e = *pe;
    e->ops->destroy(e);
    exch_htab_each(&e->ids, exchange_free_binding, NULL);
    exch_htab_each(&e->drecs, exchange_free_drec, NULL);
    exch_htab_destroy(&e->ids);
    exch_htab_destroy(&e->drecs);
    free(e->darr);
    free(e);
    *pe = NULL;
}

exch_type exch_get_type(const exch *e) { return e->type; }

int exch_bind(exch *e, void *dest, amq_bytes key, amq_bytes args) {
    if (!dest || (args.len && amq_table_validate(args) != AMQ_OK)) return EXCH_EINVAL;
    if (exchange_find(e, dest, key, args)) return 0;
    exch_binding *b = exchange_binding_new(dest, key, args);
    if (!b) return EXCH_ENOMEM;
    exch_dest_rec *r = exchange_drec_get(e, dest);
    int rc = r ? e->ops->add(e, b) : EXCH_ENOMEM;
    if (rc < 0) {
        if (r && r->count == 0) exchange_drec_drop(e, r);
        free(b);
        return rc;
    }
    exchange_link(e, b, r);
    return 1;
}

int exch_unbind(exch *e, void *dest, amq_bytes key, amq_bytes args) {
    exch_binding *b = exchange_find(e, dest, key, args);
    if (!b) return 0;
    exchange_unlink(e, b);
    return 1;
}

bool exch_has_binding(const exch *e, void *dest, amq_bytes key, amq_bytes args) {
    return exchange_find(e, dest, key, args) != NULL;
}

size_t exch_unbind_dest(exch *e, void *dest) {
    exch_dest_rec *r = exchange_drec_find(e, dest);
    if (!r) return 0;
    size_t n = r->count;
    for (size_t i = 0; i < n; i++) exchange_unlink(e, r->first); /* frees r last */
    return n;
}

size_t exch_binding_count(const exch *e) { return e->count; }

void exch_route(const exch *e, amq_bytes routing_key, amq_bytes headers, exch_dests *out) {
    e->ops->route(e, routing_key, headers, out);
}

void exch_foreach(const exch *e, exch_visit_fn fn, void *ctx) {
    for (size_t i = 0; i < e->dn; i++) {
        for (const exch_binding *b = e->darr[i]->first; b; b = b->dnext)
            fn(ctx, b->dest, b->key, b->args);
    }
}
