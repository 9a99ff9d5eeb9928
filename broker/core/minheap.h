/* minheap.h — a binary min-heap of fixed-size elements that begin with a
 * uint64_t key (a fire time). Shared by the queue scheduler's timers and the
 * delayed-message exchange. Not locked: the owner locks around it. */
#ifndef WARREN_MINHEAP_H
#define WARREN_MINHEAP_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint8_t *v;
    size_t n, cap, size; /* size: bytes per element */
} minheap;

static inline void minheap_init(minheap *h, size_t elem_size) {
    memset(h, 0, sizeof *h);
    h->size = elem_size;
}
/* The element at i (0 = the smallest key); valid until the next push/pop. */
static inline void *minheap_at(const minheap *h, size_t i) { return h->v + i * h->size; }
static inline uint64_t minheap_key_at(const minheap *h, size_t i) {
    uint64_t k;
    memcpy(&k, minheap_at(h, i), sizeof k);
    return k;
}
/* Copy elem in (its first 8 bytes are the key). */
void minheap_push(minheap *h, const void *elem);
/* Copy the smallest element out and remove it; h must not be empty. */
void minheap_pop(minheap *h, void *out);
void minheap_destroy(minheap *h);
#endif
