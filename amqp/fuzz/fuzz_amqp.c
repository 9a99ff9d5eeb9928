/* fuzz_amqp.c — libFuzzer target for the wire layer's parsers. The first
 * input byte picks the parser; the rest is the untrusted input. Anything a
 * parser accepts must re-encode to something it accepts again. */
#include <stdlib.h>
#include <string.h>

#include "amq/frame.h"
#include "amq/methods.h"
#include "amq/table.h"

static void fuzz_method(amq_bytes in) {
    amq_method m;
    if (amq_method_decode(in, &m) != AMQ_OK) return;
    amq_wr w;
    amq_wr_init(&w);
    amq_method_encode(&w, m.id, &m.u);
    amq_method again;
    amq_bytes out = {w.data, w.len};
    if (w.err || amq_method_decode(out, &again) != AMQ_OK || again.id != m.id) abort();
    amq_wr_destroy(&w);
}

static void fuzz_table(amq_bytes in) {
    int ok = amq_table_validate(in) == AMQ_OK;
    int count = amq_table_count(in);
    if (ok && count < 0) abort();
    if (ok && !amq_table_equal(in, in)) abort(); /* floats compare bitwise */
    amq_field f;
    (void)amq_table_get(in, "x-match", &f);
    (void)amq_array_validate(in);
}

static void fuzz_props(amq_bytes in) {
    amq_basic_props p;
    if (amq_basic_props_decode(in, &p) != AMQ_OK) return;
    amq_wr w;
    amq_wr_init(&w);
    amq_basic_props_encode(&w, &p);
    amq_basic_props q;
    amq_bytes out = {w.data, w.len};
    if (w.err || amq_basic_props_decode(out, &q) != AMQ_OK) abort();
    amq_wr_destroy(&w);
}

static void fuzz_frames(amq_bytes in) {
    size_t off = 0;
    amq_frame f;
    int n;
    while ((n = amq_frame_parse(in.p + off, in.len - off, 4096, &f)) > 0) {
        off += (size_t)n;
        if (off > in.len || f.payload.len + 8 != (size_t)n) abort();
        uint16_t cls;
        uint64_t size;
        amq_bytes props;
        amq_method m;
        if (f.type == AMQ_FRAME_METHOD) (void)amq_method_decode(f.payload, &m);
        if (f.type == AMQ_FRAME_HEADER) (void)amq_content_header_parse(f.payload, &cls, &size, &props);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    amq_bytes in = {data + 1, size - 1};
    switch (data[0] % 4) {
    case 0: fuzz_method(in); break;
    case 1: fuzz_table(in); break;
    case 2: fuzz_props(in); break;
    default: fuzz_frames(in); break;
    }
    return 0;
}
