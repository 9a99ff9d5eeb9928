/* crc32c.c — CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
 * On x86-64 with SSE4.2 the crc32 instruction does the work (the functions are
 * compiled with a target attribute, so the build needs no -msse4.2); anywhere
 * else a slicing-by-8 table. The choice is made once (pthread_once). */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "internal.h"

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[8][256];
static bool crc32c_hw;
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc32c_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc32c_table[t][i] = (crc32c_table[t - 1][i] >> 8) ^ crc32c_table[0][crc32c_table[t - 1][i] & 0xff];
}

static void crc32c_init(void) {
    crc32c_init_table();
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc32c_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/* Slicing-by-8 on the inverted crc. */
static uint32_t crc32c_sw(uint32_t c, const uint8_t *p, size_t n) {
    while (n && ((uintptr_t)p & 7)) {
        c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= c;
        c = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
            crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
            crc32c_table[3][hi & 0xff] ^ crc32c_table[2][(hi >> 8) & 0xff] ^
            crc32c_table[1][(hi >> 16) & 0xff] ^ crc32c_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw_run(uint32_t c, const uint8_t *p, size_t n) {
    uint64_t c64 = c;
    while (n && ((uintptr_t)p & 7)) {
        c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
        n--;
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c64;
    if (n >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c32 = __builtin_ia32_crc32si(c32, v);
        p += 4;
        n -= 4;
    }
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t wlog_crc32c(uint32_t crc, const void *buf, size_t n) {
    pthread_once(&crc32c_once, crc32c_init);
    uint32_t c = ~crc;
    if (n == 0)
        return crc;
#if defined(__x86_64__)
    if (crc32c_hw)
        return ~crc32c_hw_run(c, buf, n);
#endif
    return ~crc32c_sw(c, buf, n);
}

/* For tests: the table path regardless of the CPU. */
uint32_t wlog_crc32c_sw(uint32_t crc, const void *buf, size_t n) {
    pthread_once(&crc32c_once, crc32c_init);
    return ~crc32c_sw(~crc, buf, n);
}

bool wlog_crc32c_hw(void) {
    pthread_once(&crc32c_once, crc32c_init);
    return crc32c_hw;
}
