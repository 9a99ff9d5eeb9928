/* test_buf.c — readers, writer growth/limits/errors. */
#include <criterion/criterion.h>

#include "amq/buf.h"
#include "helpers.h"

Test(buf, readers_big_endian) {
    const uint8_t d[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    amq_rd r = {d, sizeof d, 0};
    uint8_t a;
    uint16_t b;
    uint32_t c;
    uint64_t e;
    cr_assert_eq(amq_get_u8(&r, &a), AMQ_OK);
    cr_assert_eq(a, 1);
    cr_assert_eq(amq_get_u16(&r, &b), AMQ_OK);
    cr_assert_eq(b, 0x0203);
    cr_assert_eq(amq_get_u32(&r, &c), AMQ_OK);
    cr_assert_eq(c, 0x04050607u);
    cr_assert_eq(amq_get_u64(&r, &e), AMQ_OK);
    cr_assert_eq(e, 0x08090A0B0C0D0E0Full);
    cr_assert_eq(r.off, 15);
    cr_assert_eq(amq_get_u8(&r, &a), AMQ_ESHORT);
}

Test(buf, readers_short_input_leave_offset) {
    const uint8_t d[] = {0, 0, 0, 9, 'a', 'b'};
    for (size_t n = 0; n <= sizeof d; n++) {
        uint8_t *p = th_dup(d, n);
        amq_rd r = {p, n, 0};
        uint16_t b;
        uint32_t c;
        uint64_t e;
        amq_bytes s;
        cr_assert_eq(amq_get_u16(&r, &b), n >= 2 ? AMQ_OK : AMQ_ESHORT);
        r.off = 0;
        cr_assert_eq(amq_get_u32(&r, &c), n >= 4 ? AMQ_OK : AMQ_ESHORT);
        r.off = 0;
        cr_assert_eq(amq_get_u64(&r, &e), AMQ_ESHORT);
        cr_assert_eq(r.off, 0);
        cr_assert_eq(amq_get_longstr(&r, &s), AMQ_ESHORT); /* claims 9 bytes */
        cr_assert_eq(r.off, 0);
        free(p);
    }
}

Test(buf, shortstr_and_longstr) {
    const uint8_t d[] = {3, 'a', 'b', 'c', 0, 0, 0, 2, 'x', 'y', 200, 'q'};
    amq_rd r = {d, sizeof d, 0};
    amq_bytes s;
    cr_assert_eq(amq_get_shortstr(&r, &s), AMQ_OK);
    cr_assert(amq_bytes_eqs(s, "abc"));
    cr_assert_eq(amq_get_longstr(&r, &s), AMQ_OK);
    cr_assert(amq_bytes_eqs(s, "xy"));
    size_t off = r.off;
    cr_assert_eq(amq_get_shortstr(&r, &s), AMQ_ESHORT);
    cr_assert_eq(r.off, off);
}

Test(buf, longstr_length_overflow) {
    const uint8_t d[] = {0xFF, 0xFF, 0xFF, 0xFF, 'a'};
    amq_rd r = {d, sizeof d, 0};
    amq_bytes s;
    cr_assert_eq(amq_get_longstr(&r, &s), AMQ_ESHORT);
    cr_assert_eq(r.off, 0);
    amq_rd bad = {d, sizeof d, 99}; /* corrupted offset never underflows */
    cr_assert_eq(amq_get_raw(&bad, 1, &s), AMQ_ESHORT);
}

Test(buf, writer_roundtrip_and_growth) {
    amq_wr w;
    amq_wr_init(&w);
    for (int i = 0; i < 1000; i++) {
        amq_put_u8(&w, (uint8_t)i);
        amq_put_u16(&w, (uint16_t)(i * 3));
        amq_put_u32(&w, (uint32_t)i * 100000u);
        amq_put_u64(&w, (uint64_t)i << 40);
    }
    cr_assert_eq(w.err, 0);
    cr_assert_eq(w.len, 1000 * 15);
    amq_rd r = {w.data, w.len, 0};
    for (int i = 0; i < 1000; i++) {
        uint8_t a;
        uint16_t b;
        uint32_t c;
        uint64_t e;
        cr_assert_eq(amq_get_u8(&r, &a) | amq_get_u16(&r, &b) | amq_get_u32(&r, &c) |
                         amq_get_u64(&r, &e), 0);
        cr_assert_eq(a, (uint8_t)i);
        cr_assert_eq(b, (uint16_t)(i * 3));
        cr_assert_eq(c, (uint32_t)i * 100000u);
        cr_assert_eq(e, (uint64_t)i << 40);
    }
    amq_wr_destroy(&w);
    cr_assert_null(w.data);
}

Test(buf, shortstr_too_long_sets_error_and_stops) {
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[299] = 0;
    amq_wr w;
    amq_wr_init(&w);
    amq_put_u8(&w, 1);
    amq_put_shortstr(&w, amq_cstr(big));
    cr_assert_eq(w.err, AMQ_EBAD);
    amq_put_u32(&w, 7); /* no-op after an error */
    cr_assert_eq(w.len, 1);
    amq_wr_destroy(&w);
}

Test(buf, limit) {
    amq_wr w;
    amq_wr_init(&w);
    w.limit = 10;
    amq_put_u64(&w, 1);
    cr_assert_eq(w.err, 0);
    amq_put_u32(&w, 1);
    cr_assert_eq(w.err, AMQ_ETOOBIG);
    cr_assert_eq(w.len, 8);
    cr_assert_eq(amq_wr_reserve(&w, 1), AMQ_ETOOBIG);
    amq_wr_destroy(&w);
    amq_wr_init(&w);
    cr_assert_eq(amq_wr_reserve(&w, SIZE_MAX), AMQ_ETOOBIG);
    amq_wr_destroy(&w);
    amq_wr_init(&w);
    cr_assert_eq(amq_wr_reserve(&w, SIZE_MAX / 2 + 1), AMQ_ETOOBIG);
    amq_wr_destroy(&w);
}

Test(buf, patch_and_consume) {
    amq_wr w;
    amq_wr_init(&w);
    amq_put_u32(&w, 0);
    amq_put_raw(&w, "hello", 5);
    amq_patch_u32(&w, 0, 0xA1B2C3D4u);
    cr_assert_eq(w.data[0], 0xA1);
    cr_assert_eq(w.data[3], 0xD4);
    amq_wr_consume(&w, 4);
    cr_assert_eq(w.len, 5);
    cr_assert_eq(memcmp(w.data, "hello", 5), 0);
    amq_patch_u32(&w, 2, 1); /* would run past len */
    cr_assert_eq(w.err, AMQ_EBAD);
    amq_wr_consume(&w, 100);
    cr_assert_eq(w.len, 0);
    amq_wr_destroy(&w);
}

Test(buf, bytes_eq_and_strerror) {
    cr_assert(amq_bytes_eqs(amq_cstr("abc"), "abc"));
    cr_assert_not(amq_bytes_eqs(amq_cstr("abc"), "abd"));
    cr_assert_not(amq_bytes_eqs(amq_cstr("abc"), "ab"));
    cr_assert(amq_bytes_eq(th_bytes(NULL, 0), amq_cstr("")));
    for (int e = AMQ_ENOMEM; e <= 0; e++) {
        cr_assert_not_null(amq_strerror(e));
        if (e) cr_assert_str_neq(amq_strerror(e), "unknown error");
    }
    cr_assert_str_eq(amq_strerror(-100), "unknown error");
}
