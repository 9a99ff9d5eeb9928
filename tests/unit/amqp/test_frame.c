/* test_frame.c — frame parsing and writing, content splitting. */
#include <criterion/criterion.h>

#include "amq/frame.h"
#include "helpers.h"

static void put_frame(amq_wr *w, uint8_t type, uint16_t ch, const char *payload) {
    size_t at = amq_frame_begin(w, type, ch);
    amq_put_raw(w, payload, strlen(payload));
    amq_frame_end(w, at);
}

Test(frame, layout_and_parse) {
    amq_wr w;
    amq_wr_init(&w);
    put_frame(&w, AMQ_FRAME_METHOD, 0x1234, "abc");
    const uint8_t want[] = {1, 0x12, 0x34, 0, 0, 0, 3, 'a', 'b', 'c', 0xCE};
    cr_assert_eq(w.len, sizeof want);
    cr_assert_eq(memcmp(w.data, want, sizeof want), 0);
    amq_frame f;
    cr_assert_eq(amq_frame_parse(w.data, w.len, 4096, &f), (int)sizeof want);
    cr_assert_eq(f.type, AMQ_FRAME_METHOD);
    cr_assert_eq(f.channel, 0x1234);
    cr_assert(amq_bytes_eqs(f.payload, "abc"));
    amq_wr_destroy(&w);
}

Test(frame, partial_input_at_every_split) {
    amq_wr w;
    amq_wr_init(&w);
    put_frame(&w, AMQ_FRAME_BODY, 7, "0123456789abcdefghij");
    put_frame(&w, AMQ_FRAME_HEADER, 8, "second"); /* a following frame must not matter */
    size_t first = 8 + 20;
    for (size_t n = 0; n < first; n++) {
        uint8_t *p = th_dup(w.data, n);
        amq_frame f;
        cr_assert_eq(amq_frame_parse(p, n, 4096, &f), 0, "split %zu", n);
        free(p);
    }
    for (size_t n = first; n <= w.len; n++) {
        uint8_t *p = th_dup(w.data, n);
        amq_frame f;
        cr_assert_eq(amq_frame_parse(p, n, 4096, &f), (int)first, "split %zu", n);
        cr_assert(amq_bytes_eqs(f.payload, "0123456789abcdefghij"));
        free(p);
    }
    amq_frame f;
    cr_assert_eq(amq_frame_parse(w.data + first, w.len - first, 4096, &f), 14);
    cr_assert_eq(f.channel, 8);
    amq_wr_destroy(&w);
}

Test(frame, oversized_rejected_from_header_alone) {
    /* Only the 7-byte header is present. */
    uint8_t h[7] = {AMQ_FRAME_BODY, 0, 1, 0, 0, 0x0F, 0xF8}; /* size 4088: total 4096 */
    amq_frame f;
    cr_assert_eq(amq_frame_parse(h, 7, 4096, &f), 0);
    h[6] = 0xF9; /* 4089 + 8 > 4096 */
    cr_assert_eq(amq_frame_parse(h, 7, 4096, &f), AMQ_ETOOBIG);
    h[3] = h[4] = h[5] = h[6] = 0xFF;
    cr_assert_eq(amq_frame_parse(h, 7, 4096, &f), AMQ_ETOOBIG);
    cr_assert_eq(amq_frame_parse(h, 7, UINT32_MAX, &f), AMQ_ETOOBIG);
    cr_assert_eq(amq_frame_parse(h, 7, 0, &f), AMQ_ETOOBIG); /* beyond int range */
    uint8_t *p = th_dup(h, 7);
    cr_assert_eq(amq_frame_parse(p, 7, 131072, &f), AMQ_ETOOBIG);
    free(p);
}

Test(frame, bad_frame_end) {
    amq_wr w;
    amq_wr_init(&w);
    put_frame(&w, AMQ_FRAME_METHOD, 1, "xyz");
    w.data[w.len - 1] = 0xCD;
    amq_frame f;
    cr_assert_eq(amq_frame_parse(w.data, w.len, 4096, &f), AMQ_EFRAMEEND);
    amq_wr_destroy(&w);
}

Test(frame, unknown_type) {
    const uint8_t types[] = {0, 4, 5, 7, 9, 'A', 0xCE, 0xFF};
    for (size_t i = 0; i < sizeof types; i++) {
        uint8_t buf[8] = {types[i], 0, 0, 0, 0, 0, 0, 0xCE};
        amq_frame f;
        cr_assert_eq(amq_frame_parse(buf, sizeof buf, 4096, &f), AMQ_ETYPE);
        cr_assert_eq(amq_frame_parse(buf, 1, 4096, &f), AMQ_ETYPE);
    }
    /* the protocol header is not a frame */
    amq_frame f;
    cr_assert_eq(amq_frame_parse(AMQ_PROTOCOL_HEADER, 8, 4096, &f), AMQ_ETYPE);
    cr_assert_eq(memcmp(AMQ_PROTOCOL_HEADER, "AMQP\0\0\x09\x01", 8), 0);
}

Test(frame, heartbeat) {
    amq_wr w;
    amq_wr_init(&w);
    amq_put_heartbeat(&w);
    const uint8_t want[] = {8, 0, 0, 0, 0, 0, 0, 0xCE};
    cr_assert_eq(w.len, 8);
    cr_assert_eq(memcmp(w.data, want, 8), 0);
    amq_frame f;
    cr_assert_eq(amq_frame_parse(w.data, w.len, 4096, &f), 8);
    cr_assert_eq(f.type, AMQ_FRAME_HEARTBEAT);
    cr_assert_eq(f.channel, 0);
    cr_assert_eq(f.payload.len, 0);
    amq_wr_destroy(&w);
}

/* Parse everything in w as content frames; check the split and the body. */
static void check_content(amq_wr *w, const uint8_t *body, uint64_t len, uint32_t frame_max,
                          size_t want_body_frames) {
    size_t off = 0;
    amq_frame f;
    int n = amq_frame_parse(w->data, w->len, 0, &f); /* header may exceed a tiny frame_max */
    cr_assert_gt(n, 0);
    cr_assert_eq(f.type, AMQ_FRAME_HEADER);
    cr_assert_eq(f.channel, 5);
    uint16_t cls;
    uint64_t size;
    amq_bytes props;
    cr_assert_eq(amq_content_header_parse(f.payload, &cls, &size, &props), AMQ_OK);
    cr_assert_eq(cls, 60);
    cr_assert_eq(size, len);
    cr_assert(amq_bytes_eq(props, th_bytes("\x80\x00\x03" "a/b", 6)));
    off += (size_t)n;
    size_t frames = 0, got = 0;
    while (off < w->len) {
        n = amq_frame_parse(w->data + off, w->len - off, frame_max, &f);
        cr_assert_gt(n, 0);
        cr_assert_eq(f.type, AMQ_FRAME_BODY);
        cr_assert_leq(f.payload.len, frame_max - 8);
        cr_assert_gt(f.payload.len, 0);
        cr_assert_eq(memcmp(f.payload.p, body + got, f.payload.len), 0);
        got += f.payload.len;
        off += (size_t)n;
        frames++;
    }
    cr_assert_eq(got, len);
    cr_assert_eq(frames, want_body_frames);
}

Test(frame, content_split) {
    static uint8_t body[10000];
    for (size_t i = 0; i < sizeof body; i++) body[i] = (uint8_t)(i * 7);
    amq_bytes props = th_bytes("\x80\x00\x03" "a/b", 6);
    struct { uint64_t len; uint32_t fmax; size_t frames; } cases[] = {
        {10000, 4096, 3}, {0, 4096, 0}, {4088, 4096, 1}, {4089, 4096, 2},
        {8176, 4096, 2}, {10000, 131072, 1}, {1, 4096, 1}, {100, 9, 100},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        amq_wr w;
        amq_wr_init(&w);
        amq_put_content(&w, 5, 60, props, body, cases[i].len, cases[i].fmax);
        cr_assert_eq(w.err, 0);
        check_content(&w, body, cases[i].len, cases[i].fmax, cases[i].frames);
        amq_wr_destroy(&w);
    }
}

Test(frame, content_header_parse_short) {
    const uint8_t p[14] = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0};
    uint16_t cls;
    uint64_t size;
    amq_bytes props;
    for (size_t n = 0; n < 14; n++) {
        uint8_t *q = th_dup(p, n);
        cr_assert_eq(amq_content_header_parse(th_bytes(q, n), &cls, &size, &props), AMQ_ESHORT);
        free(q);
    }
    cr_assert_eq(amq_content_header_parse(th_bytes(p, 14), &cls, &size, &props), AMQ_OK);
    cr_assert_eq(size, 9);
    cr_assert_eq(props.len, 2);
    uint8_t heavy[14];
    memcpy(heavy, p, 14);
    heavy[3] = 5; /* non-zero weight */
    cr_assert_eq(amq_content_header_parse(th_bytes(heavy, 14), &cls, &size, &props), AMQ_EBAD);
}

Test(frame, writer_limit_propagates) {
    amq_wr w;
    amq_wr_init(&w);
    w.limit = 20;
    put_frame(&w, AMQ_FRAME_METHOD, 1, "0123456789abcdefghijklmnop");
    cr_assert_eq(w.err, AMQ_ETOOBIG);
    amq_wr_destroy(&w);
}
