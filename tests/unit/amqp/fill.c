/* fill.c — see fill.h. */
#include "fill.h"

#include <string.h>

#include "amq/table.h"

static uint8_t fill_tab[256];
static size_t fill_tab_len;
static char fill_long[3000];
static char fill_short[255];

amq_bytes fill_table(void) {
    if (!fill_tab_len) {
        amq_wr w;
        amq_wr_init(&w);
        amq_field f = amq_field_str(amq_cstr("value"));
        amq_table_put(&w, "x-key", &f);
        f = amq_field_i32(-42);
        amq_table_put(&w, "int", &f);
        f = amq_field_bool(true);
        amq_table_put(&w, "flag", &f);
        amq_table_put_key(&w, "nested");
        amq_put_u8(&w, 'F');
        size_t t = amq_table_begin(&w);
        f = amq_field_ts(12345);
        amq_table_put(&w, "ts", &f);
        amq_table_end(&w, t);
        memcpy(fill_tab, w.data, w.len);
        fill_tab_len = w.len;
        amq_wr_destroy(&w);
    }
    amq_bytes b = {fill_tab, fill_tab_len};
    return b;
}

static const char *const names[] = {"alpha", "bravo.charlie", "delta-echo", "x", "foxtrot golf",
                                    "hotel", "india", "juliet"};

static amq_bytes fill_str(int i, int pattern, bool is_long) {
    amq_bytes b;
    if (pattern == 1) {
        b.p = (const uint8_t *)"";
        b.len = 0;
    } else if (pattern == 2) {
        if (!fill_long[0]) {
            for (size_t k = 0; k < sizeof fill_long; k++) fill_long[k] = (char)('a' + k % 26);
            fill_long[100] = 0; /* embedded NUL */
            memcpy(fill_short, fill_long + 1, sizeof fill_short);
        }
        b.p = (const uint8_t *)(is_long ? fill_long : fill_short);
        b.len = is_long ? sizeof fill_long : sizeof fill_short;
    } else {
        b = amq_cstr(names[i % 8]);
    }
    return b;
}

static bool fill_bit(int k, int pattern) {
    switch (pattern) {
    case 0: return true;
    case 1: return false;
    case 2: return k % 2 == 0;
    default: return k == pattern - 3;
    }
}

void fill_args(const amq_method_arg *args, size_t n, void *s, int pattern) {
    uint8_t *base = s;
    int nbit = 0;
    int z = pattern == 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t *dst = base + args[i].offset;
        int k = (int)i + pattern;
        uint8_t u8 = z ? 0 : (uint8_t)(0xA0 + k);
        uint16_t u16 = z ? 0 : (uint16_t)(0xBE00 + 3 * k);
        uint32_t u32 = z ? 0 : 0xDEAD0000u + (uint32_t)k;
        uint64_t u64 = z ? 0 : 0x0123456789ABCD00ull + (uint64_t)k;
        amq_bytes b;
        bool bit;
        switch (args[i].type) {
        case AMQ_ARG_OCTET: memcpy(dst, &u8, 1); break;
        case AMQ_ARG_SHORT: memcpy(dst, &u16, 2); break;
        case AMQ_ARG_LONG: memcpy(dst, &u32, 4); break;
        case AMQ_ARG_LONGLONG:
        case AMQ_ARG_TIMESTAMP: memcpy(dst, &u64, 8); break;
        case AMQ_ARG_BIT: bit = fill_bit(nbit++, pattern); memcpy(dst, &bit, sizeof bit); break;
        case AMQ_ARG_SHORTSTR: b = fill_str((int)i, pattern, false); memcpy(dst, &b, sizeof b); break;
        case AMQ_ARG_LONGSTR: b = fill_str((int)i, pattern, true); memcpy(dst, &b, sizeof b); break;
        case AMQ_ARG_TABLE:
            b = z ? amq_cstr("") : fill_table();
            memcpy(dst, &b, sizeof b);
            break;
        }
    }
}

const char *fill_diff(const amq_method_arg *args, size_t n, const void *a, const void *b) {
    for (size_t i = 0; i < n; i++) {
        const uint8_t *x = (const uint8_t *)a + args[i].offset;
        const uint8_t *y = (const uint8_t *)b + args[i].offset;
        size_t sz = 0;
        amq_bytes bx, by;
        switch (args[i].type) {
        case AMQ_ARG_OCTET: sz = 1; break;
        case AMQ_ARG_SHORT: sz = 2; break;
        case AMQ_ARG_LONG: sz = 4; break;
        case AMQ_ARG_LONGLONG:
        case AMQ_ARG_TIMESTAMP: sz = 8; break;
        case AMQ_ARG_BIT: sz = sizeof(bool); break;
        default:
            memcpy(&bx, x, sizeof bx);
            memcpy(&by, y, sizeof by);
            if (!amq_bytes_eq(bx, by)) return args[i].name;
            continue;
        }
        if (memcmp(x, y, sz) != 0) return args[i].name;
    }
    return NULL;
}
