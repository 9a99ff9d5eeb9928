/* u64set.h — open-addressing set of 64-bit keys (recovery bookkeeping). */
#ifndef WARREN_U64SET_H
#define WARREN_U64SET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *v; /* 0 = empty slot; key 0 is kept in has_zero */
    size_t cap, n;
    bool has_zero;
} u64set;

void u64set_init(u64set *s);
void u64set_destroy(u64set *s);
void u64set_add(u64set *s, uint64_t k);
bool u64set_has(const u64set *s, uint64_t k);
#endif
