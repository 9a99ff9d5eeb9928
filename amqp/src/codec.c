/* codec.c — generic method and basic-properties codec driven by the
 * descriptor tables generated into methods.c. */
#include "amq/frame.h"
#include "amq/methods.h"
#include "amq/table.h"

#include <string.h>

/* Read one non-bit argument into base + a->offset. */
static int codec_get_arg(amq_rd *r, const amq_method_arg *a, uint8_t *base) {
    uint8_t *dst = base + a->offset;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    amq_bytes s;
    int rc;
    switch (a->type) {
    case AMQ_ARG_OCTET: rc = amq_get_u8(r, &u8); memcpy(dst, &u8, sizeof u8); return rc;
    case AMQ_ARG_SHORT: rc = amq_get_u16(r, &u16); memcpy(dst, &u16, sizeof u16); return rc;
    case AMQ_ARG_LONG: rc = amq_get_u32(r, &u32); memcpy(dst, &u32, sizeof u32); return rc;
    case AMQ_ARG_LONGLONG:
    case AMQ_ARG_TIMESTAMP: rc = amq_get_u64(r, &u64); memcpy(dst, &u64, sizeof u64); return rc;
    case AMQ_ARG_SHORTSTR: rc = amq_get_shortstr(r, &s); break;
    case AMQ_ARG_LONGSTR: rc = amq_get_longstr(r, &s); break;
    case AMQ_ARG_TABLE:
        rc = amq_get_longstr(r, &s);
        if (rc == AMQ_OK && amq_table_validate(s) != AMQ_OK) rc = AMQ_EBAD;
        break;
    default: return AMQ_EBAD;
    }
    if (rc == AMQ_OK) memcpy(dst, &s, sizeof s);
    return rc;
}

/* Decode n arguments; consecutive bits share an octet, LSB first. */
static int codec_get_args(amq_rd *r, const amq_method_arg *args, size_t n, uint8_t *base) {
    uint8_t bits = 0;
    int nbit = 8; /* 8: the next bit needs a fresh octet */
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (args[i].type == AMQ_ARG_BIT) {
            if (nbit == 8) {
                if ((rc = amq_get_u8(r, &bits)) != AMQ_OK) return rc;
                nbit = 0;
            }
            bool b = (bits >> nbit++) & 1;
            memcpy(base + args[i].offset, &b, sizeof b);
            continue;
        }
        nbit = 8;
        if ((rc = codec_get_arg(r, &args[i], base)) != AMQ_OK) return rc;
    }
    return AMQ_OK;
}

int amq_method_decode(amq_bytes payload, amq_method *m) {
    amq_rd r = {payload.p, payload.len, 0};
    uint16_t cls, meth;
    memset(m, 0, sizeof *m);
    if (amq_get_u16(&r, &cls) != AMQ_OK || amq_get_u16(&r, &meth) != AMQ_OK) return AMQ_ESHORT;
    m->id = AMQ_METHOD_ID(cls, meth);
    const amq_method_info *mi = amq_method_info_get(m->id);
    if (!mi) return AMQ_EMETHOD;
    int rc = codec_get_args(&r, mi->args, mi->nargs, (uint8_t *)&m->u);
    if (rc == AMQ_OK && r.off != r.len) rc = AMQ_EBAD;
    return rc;
}

static void codec_put_arg(amq_wr *w, const amq_method_arg *a, const uint8_t *base) {
    const uint8_t *src = base + a->offset;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    amq_bytes s;
    switch (a->type) {
    case AMQ_ARG_OCTET: memcpy(&u8, src, sizeof u8); amq_put_u8(w, u8); break;
    case AMQ_ARG_SHORT: memcpy(&u16, src, sizeof u16); amq_put_u16(w, u16); break;
    case AMQ_ARG_LONG: memcpy(&u32, src, sizeof u32); amq_put_u32(w, u32); break;
    case AMQ_ARG_LONGLONG:
    case AMQ_ARG_TIMESTAMP: memcpy(&u64, src, sizeof u64); amq_put_u64(w, u64); break;
    case AMQ_ARG_SHORTSTR: memcpy(&s, src, sizeof s); amq_put_shortstr(w, s); break;
    case AMQ_ARG_LONGSTR:
    case AMQ_ARG_TABLE: memcpy(&s, src, sizeof s); amq_put_longstr(w, s); break;
    default:
        if (w->err == 0) w->err = AMQ_EBAD;
        break;
    }
}

static void codec_put_args(amq_wr *w, const amq_method_arg *args, size_t n, const uint8_t *base) {
    uint8_t bits = 0;
    int nbit = 0; /* bits pending in 'bits' */
    for (size_t i = 0; i < n; i++) {
        if (args[i].type == AMQ_ARG_BIT) {
            bool b;
            memcpy(&b, base + args[i].offset, sizeof b);
            bits |= (uint8_t)((b ? 1u : 0u) << nbit);
            if (++nbit == 8) {
                amq_put_u8(w, bits);
                bits = 0;
                nbit = 0;
            }
            continue;
        }
        if (nbit) amq_put_u8(w, bits);
        bits = 0;
        nbit = 0;
        codec_put_arg(w, &args[i], base);
    }
    if (nbit) amq_put_u8(w, bits);
}

void amq_method_encode(amq_wr *w, uint32_t id, const void *fields) {
    const amq_method_info *mi = amq_method_info_get(id);
    if (!mi || (mi->nargs && !fields)) {
        if (w->err == 0) w->err = mi ? AMQ_EBAD : AMQ_EMETHOD;
        return;
    }
    amq_put_u16(w, AMQ_CLASS_OF(id));
    amq_put_u16(w, AMQ_METHOD_OF(id));
    codec_put_args(w, mi->args, mi->nargs, fields);
}

void amq_put_method_frame(amq_wr *w, uint16_t channel, uint32_t id, const void *fields) {
    size_t at = amq_frame_begin(w, AMQ_FRAME_METHOD, channel);
    amq_method_encode(w, id, fields);
    amq_frame_end(w, at);
}

/* Property flags: bit 15 is the first property; bit 0 would announce a
 * further flags word, which class basic never needs, so it is rejected;
 * bit 1 is unused and ignored. */
int amq_basic_props_decode(amq_bytes props, amq_basic_props *p) {
    amq_rd r = {props.p, props.len, 0};
    size_t n;
    const amq_method_arg *args = amq_basic_props_args(&n);
    memset(p, 0, sizeof *p);
    if (amq_get_u16(&r, &p->flags) != AMQ_OK) return AMQ_ESHORT;
    if (p->flags & 1u) return AMQ_EBAD;
    for (size_t i = 0; i < n; i++) {
        if (!(p->flags & (1u << (15 - i)))) continue;
        int rc = codec_get_arg(&r, &args[i], (uint8_t *)p);
        if (rc != AMQ_OK) return rc;
    }
    return r.off == r.len ? AMQ_OK : AMQ_EBAD;
}

void amq_basic_props_encode(amq_wr *w, const amq_basic_props *p) {
    size_t n;
    const amq_method_arg *args = amq_basic_props_args(&n);
    uint16_t mask = (uint16_t)(0xFFFFu << (16 - n));
    uint16_t flags = p->flags & mask;
    amq_put_u16(w, flags);
    for (size_t i = 0; i < n; i++)
        if (flags & (1u << (15 - i))) codec_put_arg(w, &args[i], (const uint8_t *)p);
}
