/* fifo.h — a growable ring FIFO of fixed-size elements, the one the
 * channel's unacked deliveries, pending confirms and commit positions and the
 * queue's ready/requeued entries all use.
 *
 * The i-th element from the front sits at v[(head + i) & (cap - 1)]; cap is
 * 0 or a power of two, and doubles (first 64) when a push finds it full, so a
 * push costs no allocation except when the ring grows. The element size is
 * passed to each call as a constant (sizeof), so the inline accessors compile
 * to the same indexing a hand-written ring had; a user wraps them in small
 * typed functions. Not locked: the owner locks around it. A zeroed fifo is
 * an empty one. */
#ifndef WARREN_FIFO_H
#define WARREN_FIFO_H
#include <stddef.h>

typedef struct fifo {
    void *v;             /* cap slots of the element size */
    size_t cap, head, n; /* capacity (0 or a power of two), index of the front, count */
} fifo;

/* Double the capacity (first 64), keeping the order; the front moves to slot 0. */
void fifo_grow(fifo *f, size_t esz);

/* The i-th element from the front (i < cap; i < n for a live one). */
static inline void *fifo_at(const fifo *f, size_t i, size_t esz) {
    return (char *)f->v + ((f->head + i) & (f->cap - 1)) * esz;
}
/* A slot appended at the back (grown if full), for the caller to fill. */
static inline void *fifo_push(fifo *f, size_t esz) {
    if (f->n == f->cap) fifo_grow(f, esz);
    return fifo_at(f, f->n++, esz);
}
/* Drop the k (<= n) front elements. */
static inline void fifo_drop(fifo *f, size_t k) {
    if (!k) return;
    f->head = (f->head + k) & (f->cap - 1);
    f->n -= k;
}
/* Free the slots (not what they point to); f is empty again. */
void fifo_free(fifo *f);
#endif
