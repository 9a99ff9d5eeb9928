/* minheap.c — the binary min-heap of fixed-size, key-first elements behind
 * the queue scheduler's timers and the delayed-message exchange. */
#include "minheap.h"

#include <stdlib.h>

#include "util.h"

void minheap_push(minheap *h, const void *elem) {
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = xrealloc(h->v, h->cap * h->size);
    }
    uint64_t key;
    memcpy(&key, elem, sizeof key);
    size_t i = h->n++;
    while (i > 0 && minheap_key_at(h, (i - 1) / 2) > key) {
        memcpy(minheap_at(h, i), minheap_at(h, (i - 1) / 2), h->size);
        i = (i - 1) / 2;
    }
    memcpy(minheap_at(h, i), elem, h->size);
}

void minheap_pop(minheap *h, void *out) {
    memcpy(out, minheap_at(h, 0), h->size);
    size_t n = --h->n;
    if (!n) return;
    uint64_t key = minheap_key_at(h, n); /* the last element sinks from the root */
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && minheap_key_at(h, c + 1) < minheap_key_at(h, c)) c++;
        if (minheap_key_at(h, c) >= key) break;
        memcpy(minheap_at(h, i), minheap_at(h, c), h->size);
        i = c;
    }
    memcpy(minheap_at(h, i), minheap_at(h, n), h->size);
}

void minheap_destroy(minheap *h) {
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
