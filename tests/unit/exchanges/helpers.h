/* helpers.h — shared by the exchanges unit tests: a field-table encoder
 * independent of the amqp layer's writer (so tests can build any type) and
 * small helpers around exch_dests. */
#ifndef EXCH_TEST_HELPERS_H
#define EXCH_TEST_HELPERS_H
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "exch/exchange.h"

/* Encoded table body (no length prefix) in a fixed buffer. */
typedef struct {
    uint8_t b[4096];
    size_t n;
} tb;

static inline void tb_raw(tb *t, const void *p, size_t n) {
    cr_assert(t->n + n <= sizeof t->b, "test table too big");
    if (n) memcpy(t->b + t->n, p, n);
    t->n += n;
}
static inline void tb_be(tb *t, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        tb_raw(t, &c, 1);
    }
}
static inline void tb_key(tb *t, const char *k, char type) {
    size_t n = strlen(k);
    tb_be(t, n, 1);
    tb_raw(t, k, n);
    tb_raw(t, &type, 1);
}
static inline void tb_S(tb *t, const char *k, const char *v) {
    tb_key(t, k, 'S');
    tb_be(t, strlen(v), 4);
    tb_raw(t, v, strlen(v));
}
static inline void tb_x(tb *t, const char *k, const char *v) {
    tb_key(t, k, 'x');
    tb_be(t, strlen(v), 4);
    tb_raw(t, v, strlen(v));
}
static inline void tb_I(tb *t, const char *k, int32_t v) { tb_key(t, k, 'I'); tb_be(t, (uint32_t)v, 4); }
static inline void tb_l(tb *t, const char *k, int64_t v) { tb_key(t, k, 'l'); tb_be(t, (uint64_t)v, 8); }
static inline void tb_u(tb *t, const char *k, uint16_t v) { tb_key(t, k, 'u'); tb_be(t, v, 2); }
static inline void tb_T(tb *t, const char *k, uint64_t v) { tb_key(t, k, 'T'); tb_be(t, v, 8); }
static inline void tb_t(tb *t, const char *k, int v) { tb_key(t, k, 't'); tb_be(t, v != 0, 1); }
static inline void tb_V(tb *t, const char *k) { tb_key(t, k, 'V'); }
static inline void tb_d(tb *t, const char *k, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    tb_key(t, k, 'd');
    tb_be(t, u, 8);
}
static inline void tb_f(tb *t, const char *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    tb_key(t, k, 'f');
    tb_be(t, u, 4);
}
static inline void tb_D(tb *t, const char *k, uint8_t scale, uint32_t v) {
    tb_key(t, k, 'D');
    tb_be(t, scale, 1);
    tb_be(t, v, 4);
}
/* Nested table or array: type 'F' or 'A', body already encoded. */
static inline void tb_nested(tb *t, const char *k, char type, const tb *body) {
    tb_key(t, k, type);
    tb_be(t, body->n, 4);
    tb_raw(t, body->b, body->n);
}
/* A key with an already encoded value (type octet + value). */
static inline void tb_field(tb *t, const char *k, const void *field, size_t n) {
    size_t kl = strlen(k);
    tb_be(t, kl, 1);
    tb_raw(t, k, kl);
    tb_raw(t, field, n);
}
static inline amq_bytes tb_bytes(const tb *t) {
    amq_bytes b = {t->b, t->n};
    return b;
}

static inline amq_bytes B_(const char *s) { return amq_cstr(s); }
__attribute__((unused)) static const amq_bytes NOARGS = {NULL, 0};

/* Distinct fake destinations. */
__attribute__((unused)) static char test_dest_pool[200000];
#define D(i) ((void *)&test_dest_pool[(i)])

static inline bool dests_has(const exch_dests *d, void *p) {
    for (size_t i = 0; i < d->n; i++) {
        if (d->v[i] == p) return true;
    }
    return false;
}

/* Route and return how many destinations came back (out is cleared first). */
static inline size_t route_n(const exch *e, const char *key, amq_bytes headers, exch_dests *out) {
    exch_dests_clear(out);
    exch_route(e, amq_cstr(key), headers, out);
    return out->n;
}

/* Criterion runs each test in a child process that exits without LeakSanitizer's
 * exit-time check, so every suite checks for leaks in its .fini. */
#if defined(__SANITIZE_ADDRESS__)
#define EXCH_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EXCH_TEST_ASAN 1
#endif
#endif
#ifdef EXCH_TEST_ASAN
#include <sanitizer/lsan_interface.h>
#include <stdlib.h>
__attribute__((unused)) static void leak_check(void) {
    if (__lsan_do_recoverable_leak_check()) abort();
}
#else
__attribute__((unused)) static void leak_check(void) {}
#endif
#endif
