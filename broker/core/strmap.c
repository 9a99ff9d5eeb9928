/* strmap.c — the byte-string -> pointer hash map (strmap.h): linear probing
 * with tombstones, FNV-1a hash, keys copied. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct strmap_slot {
    uint8_t *key; /* NULL = empty; TOMB = deleted */
    size_t len;
    uint64_t hash;
    void *val;
};

static uint8_t tomb_marker;
#define TOMB (&tomb_marker)

static uint64_t hash(amq_bytes k) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < k.len; i++) h = (h ^ k.p[i]) * 1099511628211ull;
    return h;
}

void strmap_init(strmap *m) { memset(m, 0, sizeof *m); }

void strmap_destroy(strmap *m) {
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB) free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static struct strmap_slot *find(const strmap *m, amq_bytes key, uint64_t h) {
    if (!m->cap) return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key) return NULL;
        if (s->key != TOMB && s->hash == h && s->len == key.len && memcmp(s->key, key.p, key.len) == 0) return s;
    }
}

void *strmap_get(const strmap *m, amq_bytes key) {
    struct strmap_slot *s = find(m, key, hash(key));
    return s ? s->val : NULL;
}

static void grow(strmap *m) {
    size_t ncap = m->cap ? m->cap * 2 : 16;
    if (m->n * 2 < m->cap) ncap = m->cap; /* mostly tombstones: rehash in place size */
    struct strmap_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = xcalloc(ncap, sizeof *m->slots);
    m->cap = ncap;
    m->tombs = 0;
    for (size_t i = 0; i < ocap; i++) {
        struct strmap_slot *s = &old[i];
        if (!s->key || s->key == TOMB) continue;
        size_t j = s->hash & (ncap - 1);
        while (m->slots[j].key) j = (j + 1) & (ncap - 1);
        m->slots[j] = *s;
    }
    free(old);
}

void *strmap_put(strmap *m, amq_bytes key, void *val) {
    uint64_t h = hash(key);
    struct strmap_slot *s = find(m, key, h);
    if (s) {
        void *prev = s->val;
        s->val = val;
        return prev;
    }
    if ((m->n + m->tombs + 1) * 4 >= m->cap * 3) grow(m);
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != TOMB) i = (i + 1) & (m->cap - 1);
    if (m->slots[i].key == TOMB) m->tombs--;
    s = &m->slots[i];
    s->key = xmalloc(key.len ? key.len : 1);
    if (key.len) memcpy(s->key, key.p, key.len);
    s->len = key.len;
    s->hash = h;
    s->val = val;
    m->n++;
    return NULL;
}

void *strmap_del(strmap *m, amq_bytes key) {
    struct strmap_slot *s = find(m, key, hash(key));
    if (!s) return NULL;
    void *v = s->val;
    free(s->key);
    s->key = TOMB;
    s->val = NULL;
    m->n--;
    m->tombs++;
    return v;
}

void *strmap_next(const strmap *m, size_t *it, amq_bytes *key) {
    while (*it < m->cap) {
        struct strmap_slot *s = &m->slots[(*it)++];
        if (s->key && s->key != TOMB) {
            if (key) {
                key->p = s->key;
                key->len = s->len;
            }
            return s->val;
        }
    }
    return NULL;
}
