/* fanout.c — fanout exchange: every destination with at least one binding.
 * The shared index in exchange.c already keeps the distinct destinations
 * (with their binding counts) in a dense array, so fanout needs no state of
 * its own: route walks that array, O(destinations). */
#include "internal.h"

static int fanout_create(exch *e) {
    e->impl = NULL;
    return 0;
}

static void fanout_destroy(exch *e) { (void)e; }

static int fanout_add(exch *e, exch_binding *b) {
    (void)e;
    (void)b;
    return 0;
}

static void fanout_remove(exch *e, exch_binding *b) {
    (void)e;
    (void)b;
}

static void fanout_route(const exch *e, amq_bytes key, amq_bytes headers, exch_dests *out) {
    (void)key;
    (void)headers;
    for (size_t i = 0; i < e->dn; i++) exch_dests_add(out, e->darr[i]->dest);
}

const exch_ops exch_fanout_ops = {fanout_create, fanout_destroy, fanout_add, fanout_remove, fanout_route};
