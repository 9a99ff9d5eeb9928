/* test_format.c — CRC32C vectors, hardware vs table, record encode/decode. */
#include "helpers.h"

TestSuite(crc32c, .fini = t_leak_check);
TestSuite(record, .fini = t_leak_check);

Test(crc32c, vectors) {
    cr_assert_eq(wlog_crc32c(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(wlog_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(wlog_crc32c(0, "", 0), 0u);
    uint8_t zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    /* RFC 3720 (iSCSI) B.4 vectors */
    cr_assert_eq(wlog_crc32c(0, zeros, 32), 0x8A9136AAu);
    cr_assert_eq(wlog_crc32c(0, ones, 32), 0x62A8AB43u);
    uint8_t inc[32];
    for (int i = 0; i < 32; i++)
        inc[i] = (uint8_t)i;
    cr_assert_eq(wlog_crc32c(0, inc, 32), 0x46DD794Eu);
    cr_assert_eq(wlog_crc32c_sw(0, inc, 32), 0x46DD794Eu);
}

Test(crc32c, hw_matches_table_and_chains) {
    uint8_t buf[4096 + 16];
    t_payload(buf, sizeof buf, 7);
    for (size_t off = 0; off < 16; off++) {
        for (size_t n = 0; n < 300; n += 7) {
            uint32_t a = wlog_crc32c(0, buf + off, n), b = wlog_crc32c_sw(0, buf + off, n);
            cr_assert_eq(a, b, "off %zu n %zu", off, n);
            size_t cut = n / 3;
            cr_assert_eq(wlog_crc32c(wlog_crc32c(0, buf + off, cut), buf + off + cut, n - cut), a);
        }
    }
    cr_assert_eq(wlog_crc32c(0, buf, 4096), wlog_crc32c_sw(0, buf, 4096));
    printf("crc32c hardware: %s\n", wlog_crc32c_hw() ? "yes" : "no");
}

Test(record, round_trip) {
    uint8_t payload[1000], out[1100];
    for (size_t len = 0; len < sizeof payload; len += 13) {
        t_payload(payload, len, (uint32_t)len);
        size_t n = wlog_record_encode(out, sizeof out, (uint8_t)len, payload, len);
        cr_assert_eq(n, WLOG_RECORD_OVERHEAD + len);
        /* little-endian length of type + payload first */
        cr_assert_eq(out[0] | out[1] << 8 | out[2] << 16 | (uint32_t)out[3] << 24, len + 1);
        uint8_t type;
        const void *p;
        size_t plen;
        cr_assert_eq(wlog_record_decode(out, n, &type, &p, &plen), (int)n);
        cr_assert_eq(type, (uint8_t)len);
        cr_assert_eq(plen, len);
        cr_assert(len == 0 || memcmp(p, payload, len) == 0);
        /* every shorter prefix is incomplete, never a success */
        for (size_t k = 0; k < n; k++)
            cr_assert_eq(wlog_record_decode(out, k, &type, &p, &plen), WLOG_ENOENT, "prefix %zu", k);
    }
}

Test(record, corruption_and_limits) {
    uint8_t out[64], type;
    const void *p;
    size_t plen;
    size_t n = wlog_record_encode(out, sizeof out, 5, "hello", 5);
    cr_assert_eq(n, 14);
    cr_assert_eq(wlog_record_encode(out, 13, 5, "hello", 5), 0, "cap too small");
    for (size_t i = 4; i < n; i++) { /* any flipped bit after the length is caught */
        out[i] ^= 0x10;
        cr_assert_eq(wlog_record_decode(out, n, &type, &p, &plen), WLOG_ECORRUPT, "byte %zu", i);
        out[i] ^= 0x10;
    }
    uint8_t zero[8] = {0};
    cr_assert_eq(wlog_record_decode(zero, 8, &type, &p, &plen), 0, "zero length = end of data");
    uint8_t huge[8] = {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0};
    cr_assert_eq(wlog_record_decode(huge, 8, &type, &p, &plen), WLOG_ECORRUPT);
    cr_assert_str_eq(wlog_strerror(WLOG_ETOOBIG), "record larger than a segment");
}
