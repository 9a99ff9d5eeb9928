/* vhost_impl.h — a vhost's insides, for the model's own files only (vhost.c,
 * policy.c, delayed.c, qsched.c and the model's unit tests): its rwlock, its
 * exchange and queue name maps, its policies, and the routing calls made
 * with the lock held. Layers above the model see an opaque vhost (vhost.h);
 * tests/layers/check_layers.py fails when a file outside the model includes
 * this header. */
#ifndef WARREN_VHOST_IMPL_H
#define WARREN_VHOST_IMPL_H
#include <pthread.h>
#include <stdatomic.h>

#include "strmap.h"
#include "vhost.h"

struct vhost {
    vhost_hot hot; /* first: vhost.h's inline readers cast a vhost* to it */
    /* on a cache line of its own: every publish's rdlock writes it */
    _Alignas(64) pthread_rwlock_t lock;
    char name[256];
    strmap exchanges;            /* name -> exchange* */
    strmap queues;               /* name -> queue* */
    struct policy_set *policies; /* policy.c; under lock */
    _Atomic bool deleted;        /* removed from the table: its connections are closed */
};

/* Publish routing, called with v->lock held shared (the queues in r stay
 * valid only while it is held): fill r with the queues for (exchange, rk, headers).
 * Returns 0, or 404 (no such exchange) / 403 (internal) with text in e. */
int vhost_route(vhost *v, amq_bytes exchange, amq_bytes rk, amq_bytes headers, route_set *r, werr *e);
/* The same with several routing keys (the message's and its CC/BCC headers'). */
int vhost_route_keys(vhost *v, amq_bytes exchange, const amq_bytes *rks, size_t nrk, amq_bytes headers, route_set *r,
                     werr *e);
#endif
