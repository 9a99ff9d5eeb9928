/* fifo.c — the growable ring FIFO's cold half: growing and freeing it
 * (fifo.h has the inline push, index and drop). */
#include "fifo.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void fifo_grow(fifo *f, size_t esz) {
    size_t ncap = f->cap ? f->cap * 2 : 64;
    char *v = xmalloc(ncap * esz);
    if (f->n) { /* the front run up to the end of the old slots, then the wrapped rest */
        size_t first = f->cap - f->head < f->n ? f->cap - f->head : f->n;
        memcpy(v, (char *)f->v + f->head * esz, first * esz);
        memcpy(v + first * esz, f->v, (f->n - first) * esz);
    }
    free(f->v);
    f->v = v;
    f->cap = ncap;
    f->head = 0;
}

void fifo_free(fifo *f) {
    free(f->v);
    memset(f, 0, sizeof *f);
}
