/* test_table.c — field tables and arrays: every type, nesting, malformed input. */
#include <criterion/criterion.h>
#include <math.h>

#include "amq/table.h"
#include "helpers.h"

static amq_field fld(char type) {
    amq_field f;
    memset(&f, 0, sizeof f);
    f.type = type;
    return f;
}

/* An array [I 1, S "two", V, F {k: t true}] into w; returns its body. */
static void put_sample_array(amq_wr *w) {
    amq_field f = amq_field_i32(1);
    amq_put_field(w, &f);
    f = amq_field_str(amq_cstr("two"));
    amq_put_field(w, &f);
    f = fld('V');
    amq_put_field(w, &f);
    amq_put_u8(w, 'F');
    size_t t = amq_table_begin(w);
    f = amq_field_bool(true);
    amq_table_put(w, "k", &f);
    amq_table_end(w, t);
}

/* A table with one entry of every type; returns the writer offset of its
 * length prefix. */
static size_t put_all_types(amq_wr *w) {
    size_t t = amq_table_begin(w);
    amq_field f;
    f = amq_field_bool(true); amq_table_put(w, "t", &f);
    f = fld('b'); f.v.i8 = -5; amq_table_put(w, "b", &f);
    f = fld('B'); f.v.u8 = 250; amq_table_put(w, "B", &f);
    f = fld('s'); f.v.i16 = -30000; amq_table_put(w, "s", &f);
    f = fld('u'); f.v.u16 = 60000; amq_table_put(w, "u", &f);
    f = amq_field_i32(-2000000000); amq_table_put(w, "I", &f);
    f = fld('i'); f.v.u32 = 4000000000u; amq_table_put(w, "i", &f);
    f = amq_field_i64(INT64_MIN + 1); amq_table_put(w, "l", &f);
    f = fld('f'); f.v.f32 = 1.5f; amq_table_put(w, "f", &f);
    f = fld('d'); f.v.f64 = -2.25; amq_table_put(w, "d", &f);
    f = fld('D'); f.v.dec.scale = 2; f.v.dec.value = 12345; amq_table_put(w, "D", &f);
    f = amq_field_str(amq_cstr("hello")); amq_table_put(w, "S", &f);
    f = fld('x'); f.v.str = th_bytes("a\0b", 3); amq_table_put(w, "x", &f);
    amq_table_put_key(w, "A");
    amq_put_u8(w, 'A');
    size_t a = amq_table_begin(w);
    put_sample_array(w);
    amq_table_end(w, a);
    f = amq_field_ts(1700000000u); amq_table_put(w, "T", &f);
    amq_table_put_key(w, "F");
    amq_put_u8(w, 'F');
    size_t n = amq_table_begin(w);
    f = amq_field_str(amq_cstr("v")); amq_table_put(w, "inner", &f);
    amq_table_end(w, n);
    f = fld('V'); amq_table_put(w, "V", &f);
    amq_table_end(w, t);
    return t;
}

static amq_field get(amq_bytes t, const char *key, char type) {
    amq_field f;
    cr_assert_eq(amq_table_get(t, key, &f), 1, "key %s", key);
    cr_assert_eq(f.type, type, "key %s type %c", key, f.type);
    return f;
}

Test(table, every_type_roundtrip) {
    amq_wr w;
    amq_wr_init(&w);
    size_t t = put_all_types(&w);
    cr_assert_eq(w.err, 0);
    amq_bytes body = th_body(&w, t);
    cr_assert_eq(amq_table_validate(body), AMQ_OK);
    cr_assert_eq(amq_table_count(body), 17);
    cr_assert_eq(get(body, "t", 't').v.b, true);
    cr_assert_eq(get(body, "b", 'b').v.i8, -5);
    cr_assert_eq(get(body, "B", 'B').v.u8, 250);
    cr_assert_eq(get(body, "s", 's').v.i16, -30000);
    cr_assert_eq(get(body, "u", 'u').v.u16, 60000);
    cr_assert_eq(get(body, "I", 'I').v.i32, -2000000000);
    cr_assert_eq(get(body, "i", 'i').v.u32, 4000000000u);
    cr_assert_eq(get(body, "l", 'l').v.i64, INT64_MIN + 1);
    cr_assert_eq(get(body, "f", 'f').v.f32, 1.5f);
    cr_assert_eq(get(body, "d", 'd').v.f64, -2.25);
    amq_field d = get(body, "D", 'D');
    cr_assert_eq(d.v.dec.scale, 2);
    cr_assert_eq(d.v.dec.value, 12345);
    cr_assert(amq_bytes_eqs(get(body, "S", 'S').v.str, "hello"));
    cr_assert(amq_bytes_eq(get(body, "x", 'x').v.str, th_bytes("a\0b", 3)));
    cr_assert_eq(get(body, "T", 'T').v.ts, 1700000000u);
    get(body, "V", 'V');
    amq_field f;
    cr_assert_eq(amq_table_get(body, "missing", &f), 0);

    amq_bytes inner = get(body, "F", 'F').v.str;
    cr_assert_eq(amq_table_count(inner), 1);
    cr_assert(amq_bytes_eqs(get(inner, "inner", 'S').v.str, "v"));

    amq_bytes arr = get(body, "A", 'A').v.str;
    cr_assert_eq(amq_array_validate(arr), AMQ_OK);
    amq_rd r = {arr.p, arr.len, 0};
    const char types[] = "ISVF";
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(amq_array_next(&r, &f), 1);
        cr_assert_eq(f.type, types[i]);
    }
    cr_assert_eq(amq_array_next(&r, &f), 0);
    amq_wr_destroy(&w);
}

Test(table, exact_encoding) {
    amq_wr w;
    amq_wr_init(&w);
    size_t t = amq_table_begin(&w);
    amq_field f = fld('s');
    f.v.i16 = -2;
    amq_table_put(&w, "k", &f);
    f = fld('D');
    f.v.dec.scale = 3;
    f.v.dec.value = 0x01020304;
    amq_table_put(&w, "d", &f);
    f = fld('V');
    amq_table_put(&w, "v", &f);
    f = amq_field_bool(true);
    amq_table_put(&w, "b", &f);
    amq_table_end(&w, t);
    const uint8_t want[] = {0, 0, 0, 20, 1, 'k', 's', 0xFF, 0xFE, 1, 'd', 'D', 3, 1, 2, 3, 4,
                            1, 'v', 'V', 1, 'b', 't', 1};
    cr_assert_eq(w.len, sizeof want);
    cr_assert_eq(memcmp(w.data, want, sizeof want), 0);
    amq_wr_destroy(&w);
}

Test(table, iteration_order_and_keys) {
    amq_wr w;
    amq_wr_init(&w);
    size_t t = put_all_types(&w);
    amq_bytes body = th_body(&w, t);
    amq_rd r = {body.p, body.len, 0};
    const char keys[] = "tbBsuIilfdDSxATFV";
    amq_bytes k;
    amq_field f;
    for (int i = 0; i < 17; i++) {
        cr_assert_eq(amq_table_next(&r, &k, &f), 1);
        cr_assert_eq(k.len, 1);
        cr_assert_eq(k.p[0], (uint8_t)keys[i]);
        cr_assert_eq(f.type, keys[i]);
    }
    cr_assert_eq(amq_table_next(&r, &k, &f), 0);
    amq_wr_destroy(&w);
}

Test(table, truncated_at_every_offset) {
    amq_wr w;
    amq_wr_init(&w);
    size_t t = put_all_types(&w);
    amq_bytes body = th_body(&w, t);
    /* offsets where a top-level entry ends */
    size_t ends[32];
    int nends = 0;
    amq_rd r = {body.p, body.len, 0};
    amq_bytes k;
    amq_field f;
    ends[nends++] = 0;
    while (amq_table_next(&r, &k, &f) == 1) ends[nends++] = r.off;
    cr_assert_eq(nends, 18);
    int ok = 0;
    for (size_t n = 0; n < body.len; n++) {
        uint8_t *p = th_dup(body.p, n);
        bool boundary = false;
        for (int i = 0; i < nends; i++) boundary |= ends[i] == n;
        int rc = amq_table_validate(th_bytes(p, n));
        if (boundary) {
            cr_assert_eq(rc, AMQ_OK, "prefix %zu", n);
            ok++;
        } else {
            cr_assert_lt(rc, 0, "prefix %zu", n);
            cr_assert_lt(amq_table_count(th_bytes(p, n)), 0, "prefix %zu", n);
        }
        free(p);
    }
    cr_assert_eq(ok, 17);
    amq_wr_destroy(&w);
}

Test(table, only_rabbitmq_type_tags) {
    const char *valid = "tbBsuIilfdDSxATFVL"; /* L: accepted like RabbitMQ 3.10 */
    for (int tag = 0; tag < 256; tag++) {
        /* key "k", tag, then 16 zero bytes: enough for any fixed-size value
         * and a zero length for S/x/A/F, so only the tag decides. */
        uint8_t buf[19] = {1, 'k', (uint8_t)tag};
        bool known = tag && strchr(valid, tag) != NULL;
        amq_rd r = {buf, sizeof buf, 0};
        amq_bytes k;
        amq_field f;
        int rc = amq_table_next(&r, &k, &f);
        if (known) {
            cr_assert_eq(rc, 1, "tag %c", tag);
        } else {
            cr_assert_eq(rc, AMQ_EBAD, "tag %d", tag);
            cr_assert_eq(amq_table_validate(th_bytes(buf, sizeof buf)), AMQ_EBAD);
        }
    }
}

Test(table, length_overflow) {
    const uint8_t s[] = {1, 'k', 'S', 0xFF, 0xFF, 0xFF, 0xFF, 'a', 'b'};
    const uint8_t a[] = {1, 'k', 'A', 0xFF, 0xFF, 0xFF, 0xF0, 'I', 0, 0, 0, 1};
    const uint8_t f[] = {1, 'k', 'F', 0x80, 0, 0, 0};
    const uint8_t key[] = {0xFF, 'k', 'S', 0, 0, 0, 0};
    const uint8_t *cases[] = {s, a, f, key};
    size_t lens[] = {sizeof s, sizeof a, sizeof f, sizeof key};
    for (int i = 0; i < 4; i++) {
        uint8_t *p = th_dup(cases[i], lens[i]);
        cr_assert_eq(amq_table_validate(th_bytes(p, lens[i])), AMQ_ESHORT, "case %d", i);
        amq_field v;
        cr_assert_lt(amq_table_get(th_bytes(p, lens[i]), "k", &v), 0);
        free(p);
    }
    const uint8_t arr[] = {'S', 0xFF, 0xFF, 0xFF, 0xFF};
    cr_assert_eq(amq_array_validate(th_bytes(arr, sizeof arr)), AMQ_ESHORT);
}

/* depth nested tables (depth 1 = a flat table) and check validation. */
static void nest(amq_wr *w, int depth, bool arrays) {
    size_t at[64];
    at[0] = amq_table_begin(w);
    for (int d = 1; d < depth; d++) {
        if (!arrays || d % 2) amq_table_put_key(w, "n");
        amq_put_u8(w, arrays && d % 2 ? 'A' : 'F');
        at[d] = amq_table_begin(w);
    }
    amq_field f = amq_field_i32(7);
    if (arrays && depth % 2 == 0) amq_put_field(w, &f);
    else amq_table_put(w, "leaf", &f);
    for (int d = depth - 1; d >= 0; d--) amq_table_end(w, at[d]);
}

Test(table, depth_limit) {
    for (int arrays = 0; arrays < 2; arrays++) {
        for (int depth = 1; depth <= AMQ_TABLE_MAX_DEPTH + 2; depth++) {
            amq_wr w;
            amq_wr_init(&w);
            nest(&w, depth, arrays);
            cr_assert_eq(w.err, 0);
            int rc = amq_table_validate(th_body(&w, 0));
            cr_assert_eq(rc, depth <= AMQ_TABLE_MAX_DEPTH ? AMQ_OK : AMQ_EDEPTH,
                         "depth %d arrays %d rc %d", depth, arrays, rc);
            amq_wr_destroy(&w);
        }
    }
}

Test(table, very_deep_nesting_does_not_recurse_unbounded) {
    /* 100000 nested 'F' values: a naive recursive parser would overflow the stack. */
    const int depth = 100000;
    size_t n = (size_t)depth * 7;
    uint8_t *p = malloc(n);
    for (int d = 0; d < depth; d++) {
        uint8_t *e = p + (size_t)d * 7;
        uint32_t len = (uint32_t)(n - (size_t)(d + 1) * 7);
        e[0] = 1; e[1] = 'n'; e[2] = 'F';
        e[3] = (uint8_t)(len >> 24); e[4] = (uint8_t)(len >> 16);
        e[5] = (uint8_t)(len >> 8); e[6] = (uint8_t)len;
    }
    cr_assert_eq(amq_table_validate(th_bytes(p, n)), AMQ_EDEPTH);
    cr_assert_not(amq_table_equal(th_bytes(p, n), th_bytes(p, n)));
    amq_bytes k;
    amq_field f;
    amq_rd r = {p, n, 0};
    cr_assert_eq(amq_table_next(&r, &k, &f), 1); /* shallow iteration still works */
    cr_assert_eq(f.type, 'F');
    free(p);
}

Test(table, get_field_depth_and_offset_restore) {
    const uint8_t bad[] = {'F', 0, 0, 0, 3, 1, 'k', 'Z'};
    amq_rd r = {bad, sizeof bad, 0};
    amq_field f;
    cr_assert_eq(amq_get_field(&r, &f, 1), AMQ_EBAD);
    cr_assert_eq(r.off, 0);
    const uint8_t ok[] = {'F', 0, 0, 0, 0};
    amq_rd r2 = {ok, sizeof ok, 0};
    cr_assert_eq(amq_get_field(&r2, &f, AMQ_TABLE_MAX_DEPTH), AMQ_EDEPTH);
    r2.off = 0;
    cr_assert_eq(amq_get_field(&r2, &f, AMQ_TABLE_MAX_DEPTH - 1), AMQ_OK);
    cr_assert_eq(r2.off, 5);
}

Test(table, equal_any_order) {
    amq_wr a, b;
    amq_wr_init(&a);
    amq_wr_init(&b);
    size_t ta = amq_table_begin(&a), tb = amq_table_begin(&b);
    amq_field x = amq_field_str(amq_cstr("1")), y = amq_field_i64(2);
    amq_table_put(&a, "x", &x);
    amq_table_put(&a, "y", &y);
    amq_table_put(&b, "y", &y);
    amq_table_put(&b, "x", &x);
    amq_table_end(&a, ta);
    amq_table_end(&b, tb);
    cr_assert(amq_table_equal(th_body(&a, ta), th_body(&b, tb)));
    /* same value but different type is not equal */
    amq_wr c;
    amq_wr_init(&c);
    size_t tc = amq_table_begin(&c);
    amq_field y32 = amq_field_i32(2);
    amq_table_put(&c, "x", &x);
    amq_table_put(&c, "y", &y32);
    amq_table_end(&c, tc);
    cr_assert_not(amq_table_equal(th_body(&a, ta), th_body(&c, tc)));
    cr_assert_not(amq_table_equal(th_body(&a, ta), th_bytes(NULL, 0)));
    /* nested tables and arrays compare deeply */
    amq_wr d, e;
    amq_wr_init(&d);
    amq_wr_init(&e);
    size_t td = put_all_types(&d), te = put_all_types(&e);
    cr_assert(amq_table_equal(th_body(&d, td), th_body(&e, te)));
    e.data[e.len - 20] ^= 1; /* flip a bit inside the nested table/value */
    cr_assert_not(amq_table_equal(th_body(&d, td), th_body(&e, te)));
    amq_wr_destroy(&a);
    amq_wr_destroy(&b);
    amq_wr_destroy(&c);
    amq_wr_destroy(&d);
    amq_wr_destroy(&e);
}

Test(table, as_i64) {
    int64_t v;
    amq_field f = fld('b');
    f.v.i8 = -3;
    cr_assert_eq(amq_field_as_i64(&f, &v), 1);
    cr_assert_eq(v, -3);
    f = fld('i');
    f.v.u32 = 4000000000u;
    cr_assert_eq(amq_field_as_i64(&f, &v), 1);
    cr_assert_eq(v, 4000000000);
    f = fld('u');
    f.v.u16 = 65535;
    cr_assert_eq(amq_field_as_i64(&f, &v), 1);
    cr_assert_eq(v, 65535);
    f = amq_field_ts(UINT64_MAX);
    cr_assert_eq(amq_field_as_i64(&f, &v), 0);
    f = amq_field_str(amq_cstr("5"));
    cr_assert_eq(amq_field_as_i64(&f, &v), 0);
    f = fld('d');
    cr_assert_eq(amq_field_as_i64(&f, &v), 0);
}

Test(table, bad_put_field_type) {
    amq_wr w;
    amq_wr_init(&w);
    amq_field f = fld('Z');
    amq_put_field(&w, &f);
    cr_assert_eq(w.err, AMQ_EBAD);
    amq_wr_destroy(&w);
}

Test(table, tag_L_reads_as_signed_64) {
    const uint8_t t[] = {1, 'k', 'L', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE};
    amq_field f;
    cr_assert_eq(amq_table_validate(th_bytes(t, sizeof t)), AMQ_OK);
    cr_assert_eq(amq_table_get(th_bytes(t, sizeof t), "k", &f), 1);
    cr_assert_eq(f.type, 'L');
    cr_assert_eq(f.v.i64, -2);
    int64_t v;
    cr_assert_eq(amq_field_as_i64(&f, &v), 1);
    cr_assert_eq(v, -2);
    amq_wr w;
    amq_wr_init(&w);
    amq_table_put(&w, "k", &f);
    cr_assert_eq(w.len, sizeof t);
    cr_assert_eq(memcmp(w.data, t, sizeof t), 0);
    amq_wr_destroy(&w);
    const uint8_t u[] = {1, 'k', 'U', 0, 1};
    cr_assert_eq(amq_table_validate(th_bytes(u, sizeof u)), AMQ_EBAD);
}

Test(table, equal_with_duplicate_keys) {
    amq_wr a, b;
    amq_wr_init(&a);
    amq_wr_init(&b);
    amq_field one = amq_field_i32(1), two = amq_field_i32(2);
    amq_table_put(&a, "k", &one);
    amq_table_put(&a, "k", &two);
    amq_table_put(&b, "k", &one);
    amq_table_put(&b, "j", &two);
    amq_bytes ta = th_bytes(a.data, a.len), tb = th_bytes(b.data, b.len);
    cr_assert(amq_table_equal(ta, ta));
    cr_assert_not(amq_table_equal(ta, tb));
    cr_assert_not(amq_table_equal(tb, ta));
    amq_field f;
    cr_assert_eq(amq_table_get(ta, "k", &f), 1);
    cr_assert_eq(f.v.i32, 1); /* first one wins */
    amq_wr_destroy(&a);
    amq_wr_destroy(&b);
}
