/* dedup.c — x-message-deduplication for queues and exchanges: the argument
 * checks and the per-queue/exchange cache of header values, with TTL and size. */
#include "dedup.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amq/table.h"
#include "strmap.h"
#include "util.h"

typedef struct entry {
    uint64_t exp; /* monotonic ms, 0 = never */
    uint32_t len;
    uint8_t key[];
} entry;

struct dedup {
    pthread_mutex_t lock;
    strmap map;   /* key -> entry */
    entry **ring; /* insertion order, for eviction */
    size_t cap, head, n;
    int64_t size; /* -1 = unbounded */
    int64_t ttl;  /* -1 = forever */
    char header[256];
};

static bool int_of(const amq_field *f, int64_t *v) {
    return f->type && strchr("bBsuIilL", f->type) && amq_field_as_i64(f, v);
}

static bool on(amq_bytes args) {
    amq_field f;
    return args.len && amq_table_get(args, "x-message-deduplication", &f) == 1 && f.type == 't' && f.v.b;
}

int dedup_check(amq_bytes args, const char *what, amq_bytes name, const char *vhost, char *err, size_t errn) {
    if (!on(args)) return 0;
    static const char *const keys[] = {"x-cache-size", "x-cache-ttl"};
    amq_field f;
    int64_t v;
    for (int i = 0; i < 2; i++)
        if (amq_table_get(args, keys[i], &f) == 1 && (!int_of(&f, &v) || v <= 0)) {
            snprintf(err, errn,
                     "PRECONDITION_FAILED - invalid arg '%s' for %s '%.*s' in vhost '%s': must be a positive integer",
                     keys[i], what, (int)name.len, name.p, vhost);
            return 406;
        }
    if (amq_table_get(args, "x-deduplication-header", &f) == 1 &&
        (f.type != 'S' || !f.v.str.len || f.v.str.len > 255)) {
        snprintf(err, errn,
                 "PRECONDITION_FAILED - invalid arg 'x-deduplication-header' for %s '%.*s' in vhost '%s': must be a "
                 "header name",
                 what, (int)name.len, name.p, vhost);
        return 406;
    }
    return 0;
}

dedup *dedup_new(amq_bytes args) {
    if (!on(args)) return NULL;
    dedup *d = xcalloc(1, sizeof *d);
    pthread_mutex_init(&d->lock, NULL);
    strmap_init(&d->map);
    amq_field f;
    int64_t v;
    d->size = amq_table_get(args, "x-cache-size", &f) == 1 && int_of(&f, &v) && v > 0 ? v : -1;
    d->ttl = amq_table_get(args, "x-cache-ttl", &f) == 1 && int_of(&f, &v) && v > 0 ? v : -1;
    if (amq_table_get(args, "x-deduplication-header", &f) == 1 && f.type == 'S' && f.v.str.len && f.v.str.len < 256)
        snprintf(d->header, sizeof d->header, "%.*s", (int)f.v.str.len, f.v.str.p);
    else snprintf(d->header, sizeof d->header, "x-deduplication-header");
    return d;
}

static void evict_front(dedup *d) {
    entry *e = d->ring[d->head];
    d->head = (d->head + 1) % d->cap;
    d->n--;
    strmap_del(&d->map, (amq_bytes){e->key, e->len});
    free(e);
}

void dedup_free(dedup **dp) {
    dedup *d = *dp;
    if (!d) return;
    *dp = NULL;
    while (d->n) evict_front(d);
    free(d->ring);
    strmap_destroy(&d->map);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

bool dedup_seen(dedup *d, amq_bytes headers) {
    if (!d || !headers.len) return false;
    amq_field f;
    if (amq_table_get(headers, d->header, &f) != 1) return false;
    /* the key: the value's type and bytes (so 1 and "1" differ) */
    uint8_t kb[1024];
    amq_wr w;
    amq_wr_init(&w);
    amq_put_field(&w, &f);
    if (w.err || w.len > sizeof kb) {
        amq_wr_destroy(&w);
        return false;
    }
    size_t klen = w.len;
    memcpy(kb, w.data, klen);
    amq_wr_destroy(&w);
    amq_bytes key = {kb, klen};
    int64_t ttl = d->ttl, v;
    if (amq_table_get(headers, "x-cache-ttl", &f) == 1 && int_of(&f, &v) && v > 0) ttl = v;
    uint64_t now = now_ms(), exp = ttl > 0 ? now + (uint64_t)ttl : 0;
    pthread_mutex_lock(&d->lock);
    entry *e = strmap_get(&d->map, key);
    bool dup = e && (!e->exp || e->exp > now);
    if (e && !dup) {
        e->exp = exp; /* expired: seen again, kept at its place */
    } else if (!e) {
        while (d->n &&
               ((d->size > 0 && (int64_t)d->n >= d->size) || (d->ring[d->head]->exp && d->ring[d->head]->exp <= now)))
            evict_front(d); /* over the size, or the oldest expired */
        if (d->n == d->cap) {
            size_t ncap = d->cap ? d->cap * 2 : 64;
            entry **r = xmalloc(ncap * sizeof *r);
            for (size_t i = 0; i < d->n; i++) r[i] = d->ring[(d->head + i) % d->cap];
            free(d->ring);
            d->ring = r;
            d->cap = ncap;
            d->head = 0;
        }
        e = xmalloc(sizeof *e + klen);
        e->exp = exp;
        e->len = (uint32_t)klen;
        memcpy(e->key, kb, klen);
        strmap_put(&d->map, key, e);
        d->ring[(d->head + d->n++) % d->cap] = e;
    }
    pthread_mutex_unlock(&d->lock);
    return dup;
}
