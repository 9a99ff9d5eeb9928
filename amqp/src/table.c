/* table.c — field tables and arrays, read in place and built in a writer.
 *
 * Depth: a top-level table or array is at depth 1; a table/array value
 * inside a container at depth d is at depth d + 1, and anything deeper than
 * AMQ_TABLE_MAX_DEPTH is AMQ_EDEPTH. Validation recurses; iteration
 * (amq_table_next, amq_array_next, amq_table_get, amq_table_count) is
 * shallow: a nested F/A value is bounds-checked as a slice, and its contents
 * are checked again when the caller iterates it.
 *
 * Besides RabbitMQ's documented set, 'L' is accepted and read as a signed
 * 64-bit integer like 'l' (v.i64): RabbitMQ 3.10 accepts it that way, and
 * rabbitmq-c writes its U64 kind with that tag. 'U' is rejected, as by
 * RabbitMQ. */
#include "amq/table.h"

#include <string.h>

static int table_validate_at(amq_bytes t, int depth);
static int table_array_validate_at(amq_bytes a, int depth);

/* Read a value of a known type (the tag already consumed). F and A values
 * are returned as slices and not looked into. */
static int table_get_value(amq_rd *r, char type, amq_field *v) {
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int rc;
    switch (type) {
    case 't': rc = amq_get_u8(r, &u8); v->v.b = u8 != 0; return rc;
    case 'b': rc = amq_get_u8(r, &u8); v->v.i8 = (int8_t)u8; return rc;
    case 'B': return amq_get_u8(r, &v->v.u8);
    case 's': rc = amq_get_u16(r, &u16); v->v.i16 = (int16_t)u16; return rc;
    case 'u': return amq_get_u16(r, &v->v.u16);
    case 'I': rc = amq_get_u32(r, &u32); v->v.i32 = (int32_t)u32; return rc;
    case 'i': return amq_get_u32(r, &v->v.u32);
    case 'l': case 'L': rc = amq_get_u64(r, &u64); v->v.i64 = (int64_t)u64; return rc;
    case 'f': rc = amq_get_u32(r, &u32); memcpy(&v->v.f32, &u32, 4); return rc;
    case 'd': rc = amq_get_u64(r, &u64); memcpy(&v->v.f64, &u64, 8); return rc;
    case 'D': {
        amq_bytes d;
        rc = amq_get_raw(r, 5, &d);
        if (rc != AMQ_OK) return rc;
        v->v.dec.scale = d.p[0];
        v->v.dec.value = (uint32_t)d.p[1] << 24 | (uint32_t)d.p[2] << 16 | (uint32_t)d.p[3] << 8 | d.p[4];
        return AMQ_OK;
    }
    case 'S': case 'x': case 'F': case 'A': return amq_get_longstr(r, &v->v.str);
    case 'T': return amq_get_u64(r, &v->v.ts);
    case 'V': return AMQ_OK;
    default: return AMQ_EBAD;
    }
}

/* Tag + value, shallow. Leaves r->off unchanged on error. */
static int table_get_shallow(amq_rd *r, amq_field *v) {
    size_t start = r->off;
    uint8_t tag;
    int rc = amq_get_u8(r, &tag);
    if (rc == AMQ_OK) {
        memset(v, 0, sizeof *v);
        v->type = (char)tag;
        rc = table_get_value(r, v->type, v);
    }
    if (rc != AMQ_OK) r->off = start;
    return rc;
}

int amq_get_field(amq_rd *r, amq_field *val, int depth) {
    size_t start = r->off;
    int rc = table_get_shallow(r, val);
    if (rc != AMQ_OK) return rc;
    if (val->type == 'F') rc = table_validate_at(val->v.str, depth + 1);
    if (val->type == 'A') rc = table_array_validate_at(val->v.str, depth + 1);
    if (rc != AMQ_OK) r->off = start;
    return rc;
}

static int table_validate_at(amq_bytes t, int depth) {
    if (depth > AMQ_TABLE_MAX_DEPTH) return AMQ_EDEPTH;
    amq_rd r = {t.p, t.len, 0};
    while (r.off < r.len) {
        amq_bytes key;
        amq_field v;
        int rc = amq_get_shortstr(&r, &key);
        if (rc == AMQ_OK) rc = amq_get_field(&r, &v, depth);
        if (rc != AMQ_OK) return rc;
    }
    return AMQ_OK;
}

static int table_array_validate_at(amq_bytes a, int depth) {
    if (depth > AMQ_TABLE_MAX_DEPTH) return AMQ_EDEPTH;
    amq_rd r = {a.p, a.len, 0};
    while (r.off < r.len) {
        amq_field v;
        int rc = amq_get_field(&r, &v, depth);
        if (rc != AMQ_OK) return rc;
    }
    return AMQ_OK;
}

int amq_table_validate(amq_bytes table) { return table_validate_at(table, 1); }
int amq_array_validate(amq_bytes array) { return table_array_validate_at(array, 1); }

int amq_table_next(amq_rd *r, amq_bytes *key, amq_field *val) {
    if (r->off >= r->len) return 0;
    size_t start = r->off;
    int rc = amq_get_shortstr(r, key);
    if (rc == AMQ_OK) rc = table_get_shallow(r, val);
    if (rc != AMQ_OK) {
        r->off = start;
        return rc;
    }
    return 1;
}

int amq_array_next(amq_rd *r, amq_field *val) {
    if (r->off >= r->len) return 0;
    int rc = table_get_shallow(r, val);
    return rc == AMQ_OK ? 1 : rc;
}

int amq_table_get(amq_bytes table, const char *key, amq_field *val) {
    amq_rd r = {table.p, table.len, 0};
    amq_bytes k;
    amq_field v;
    int rc;
    while ((rc = amq_table_next(&r, &k, &v)) == 1) {
        if (amq_bytes_eqs(k, key)) {
            *val = v;
            return 1;
        }
    }
    return rc;
}

int amq_table_count(amq_bytes table) {
    amq_rd r = {table.p, table.len, 0};
    amq_bytes k;
    amq_field v;
    int n = 0, rc;
    while ((rc = amq_table_next(&r, &k, &v)) == 1) n++;
    return rc < 0 ? rc : n;
}

static bool table_equal_at(amq_bytes a, amq_bytes b, int depth);
static bool table_array_equal_at(amq_bytes a, amq_bytes b, int depth);

/* Same type and same value; floats compare by bit pattern. */
static bool table_field_equal(const amq_field *x, const amq_field *y, int depth) {
    if (x->type != y->type) return false;
    switch (x->type) {
    case 't': return x->v.b == y->v.b;
    case 'b': case 'B': return x->v.u8 == y->v.u8;
    case 's': case 'u': return x->v.u16 == y->v.u16;
    case 'I': case 'i': return x->v.u32 == y->v.u32;
    case 'f': return memcmp(&x->v.f32, &y->v.f32, 4) == 0;
    case 'l': case 'L': return x->v.i64 == y->v.i64;
    case 'd': return memcmp(&x->v.f64, &y->v.f64, 8) == 0;
    case 'T': return x->v.ts == y->v.ts;
    case 'D': return x->v.dec.scale == y->v.dec.scale && x->v.dec.value == y->v.dec.value;
    case 'S': case 'x': return amq_bytes_eq(x->v.str, y->v.str);
    case 'F': return table_equal_at(x->v.str, y->v.str, depth + 1);
    case 'A': return table_array_equal_at(x->v.str, y->v.str, depth + 1);
    case 'V': return true;
    default: return false;
    }
}

/* First entry with key k in t (the one a lookup sees); 1 found. */
static int table_find(amq_bytes t, amq_bytes k, amq_field *v, size_t *at) {
    amq_rd r = {t.p, t.len, 0};
    amq_bytes key;
    int rc;
    size_t start = 0;
    while ((rc = amq_table_next(&r, &key, v)) == 1) {
        if (amq_bytes_eq(key, k)) {
            *at = start;
            return 1;
        }
        start = r.off;
    }
    return rc;
}

/* For every key of a, its first entry in a equals its first entry in b
 * (later duplicates are shadowed, as for amq_table_get). */
static bool table_subset(amq_bytes a, amq_bytes b, int depth) {
    amq_rd r = {a.p, a.len, 0};
    amq_bytes k;
    amq_field v, first, vb;
    size_t start = 0, at;
    int rc;
    while ((rc = amq_table_next(&r, &k, &v)) == 1) {
        bool shadowed = table_find(a, k, &first, &at) == 1 && at != start;
        start = r.off;
        if (shadowed) continue;
        if (table_find(b, k, &vb, &at) != 1 || !table_field_equal(&v, &vb, depth)) return false;
    }
    return rc == 0;
}

static bool table_equal_at(amq_bytes a, amq_bytes b, int depth) {
    if (depth > AMQ_TABLE_MAX_DEPTH) return false;
    int na = amq_table_count(a), nb = amq_table_count(b);
    if (na < 0 || na != nb) return false;
    return table_subset(a, b, depth) && table_subset(b, a, depth);
}

static bool table_array_equal_at(amq_bytes a, amq_bytes b, int depth) {
    if (depth > AMQ_TABLE_MAX_DEPTH) return false;
    amq_rd ra = {a.p, a.len, 0}, rb = {b.p, b.len, 0};
    amq_field va, vb;
    for (;;) {
        int x = amq_array_next(&ra, &va), y = amq_array_next(&rb, &vb);
        if (x < 0 || y < 0 || x != y) return false;
        if (x == 0) return true;
        if (!table_field_equal(&va, &vb, depth)) return false;
    }
}

bool amq_table_equal(amq_bytes a, amq_bytes b) { return table_equal_at(a, b, 1); }

void amq_put_field(amq_wr *w, const amq_field *val) {
    uint32_t u32;
    uint64_t u64;
    amq_put_u8(w, (uint8_t)val->type);
    switch (val->type) {
    case 't': amq_put_u8(w, val->v.b ? 1 : 0); break;
    case 'b': case 'B': amq_put_u8(w, val->v.u8); break;
    case 's': case 'u': amq_put_u16(w, val->v.u16); break;
    case 'I': case 'i': amq_put_u32(w, val->v.u32); break;
    case 'l': case 'L': amq_put_u64(w, (uint64_t)val->v.i64); break;
    case 'f': memcpy(&u32, &val->v.f32, 4); amq_put_u32(w, u32); break;
    case 'd': memcpy(&u64, &val->v.f64, 8); amq_put_u64(w, u64); break;
    case 'D': amq_put_u8(w, val->v.dec.scale); amq_put_u32(w, val->v.dec.value); break;
    case 'S': case 'x': case 'F': case 'A': amq_put_longstr(w, val->v.str); break;
    case 'T': amq_put_u64(w, val->v.ts); break;
    case 'V': break;
    default:
        if (w->err == 0) w->err = AMQ_EBAD;
        break;
    }
}

size_t amq_table_begin(amq_wr *w) {
    size_t at = w->len;
    amq_put_u32(w, 0);
    return at;
}

void amq_table_end(amq_wr *w, size_t begin) {
    if (w->err) return;
    if (begin > w->len || w->len - begin < 4 || w->len - begin - 4 > UINT32_MAX) {
        w->err = AMQ_EBAD;
        return;
    }
    amq_patch_u32(w, begin, (uint32_t)(w->len - begin - 4));
}

void amq_table_put_key(amq_wr *w, const char *key) { amq_put_shortstr(w, amq_cstr(key)); }

void amq_table_put(amq_wr *w, const char *key, const amq_field *val) {
    amq_table_put_key(w, key);
    amq_put_field(w, val);
}

static amq_field table_field(char type) {
    amq_field f;
    memset(&f, 0, sizeof f);
    f.type = type;
    return f;
}

amq_field amq_field_str(amq_bytes s) { amq_field f = table_field('S'); f.v.str = s; return f; }
amq_field amq_field_bool(bool b) { amq_field f = table_field('t'); f.v.b = b; return f; }
amq_field amq_field_i64(int64_t v) { amq_field f = table_field('l'); f.v.i64 = v; return f; }
amq_field amq_field_i32(int32_t v) { amq_field f = table_field('I'); f.v.i32 = v; return f; }
amq_field amq_field_table(amq_bytes enc) { amq_field f = table_field('F'); f.v.str = enc; return f; }
amq_field amq_field_array(amq_bytes enc) { amq_field f = table_field('A'); f.v.str = enc; return f; }
amq_field amq_field_ts(uint64_t t) { amq_field f = table_field('T'); f.v.ts = t; return f; }

int amq_field_as_i64(const amq_field *f, int64_t *out) {
    switch (f->type) {
    case 'b': *out = f->v.i8; return 1;
    case 'B': *out = f->v.u8; return 1;
    case 's': *out = f->v.i16; return 1;
    case 'u': *out = f->v.u16; return 1;
    case 'I': *out = f->v.i32; return 1;
    case 'i': *out = f->v.u32; return 1;
    case 'l': case 'L': *out = f->v.i64; return 1;
    case 'T':
        if (f->v.ts > (uint64_t)INT64_MAX) return 0;
        *out = (int64_t)f->v.ts;
        return 1;
    default: return 0;
    }
}
