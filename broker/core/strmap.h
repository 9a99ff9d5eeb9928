/* strmap.h — open-addressing hash map from byte-string keys to pointers.
 * The map copies keys. Not locked: the owner locks around it. */
#ifndef WARREN_STRMAP_H
#define WARREN_STRMAP_H
#include <stddef.h>
#include <stdint.h>
#include "amq/buf.h"

typedef struct {
    struct strmap_slot *slots;
    size_t cap, n, tombs;
} strmap;

void strmap_init(strmap *m);
void strmap_destroy(strmap *m); /* frees keys; values are the caller's */
void *strmap_get(const strmap *m, amq_bytes key);
/* Insert or replace; returns the previous value or NULL. */
void *strmap_put(strmap *m, amq_bytes key, void *val);
/* Remove; returns the removed value or NULL. */
void *strmap_del(strmap *m, amq_bytes key);
/* Iterate: start with *it = 0; returns the next value or NULL at the end. */
void *strmap_next(const strmap *m, size_t *it, amq_bytes *key);
#endif
