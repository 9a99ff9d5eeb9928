/* helpers.h — small shared helpers for the amqp unit tests. */
#ifndef AMQ_TEST_HELPERS_H
#define AMQ_TEST_HELPERS_H
#include <stdlib.h>
#include <string.h>

#include "amq/buf.h"

/* A heap copy of exactly n bytes, so ASan catches any read past the end. */
static inline uint8_t *th_dup(const void *p, size_t n) {
    uint8_t *q = malloc(n ? n : 1);
    if (n) memcpy(q, p, n);
    return q;
}

static inline amq_bytes th_bytes(const void *p, size_t n) {
    amq_bytes b = {(const uint8_t *)p, n};
    return b;
}

/* The table body written after amq_table_begin at offset 'at'. */
static inline amq_bytes th_body(const amq_wr *w, size_t at) {
    return th_bytes(w->data + at + 4, w->len - at - 4);
}
#endif
