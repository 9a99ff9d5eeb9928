/* amq_put_basic_deliver must write exactly what the generic encoder writes. */
#include <criterion/criterion.h>
#include <string.h>

#include "amq/fast.h"
#include "amq/frame.h"
#include "amq/methods.h"

static void generic(amq_wr *w, uint16_t ch, amq_bytes tag, uint64_t dtag, bool redelivered, amq_bytes x,
                    amq_bytes rk, amq_bytes props, const void *body, uint64_t len, uint32_t fm) {
    amq_basic_deliver d = {.consumer_tag = tag, .delivery_tag = dtag, .redelivered = redelivered,
                           .exchange = x, .routing_key = rk};
    amq_put_method_frame(w, ch, AMQ_BASIC_DELIVER, &d);
    amq_put_content(w, ch, AMQ_CLASS_BASIC, props, body, len, fm);
}

static void same(uint16_t ch, const char *tag, uint64_t dtag, bool redelivered, const char *x, const char *rk,
                 amq_bytes props, size_t len, uint32_t fm) {
    static uint8_t body[300000];
    for (size_t i = 0; i < sizeof body; i++) body[i] = (uint8_t)(i * 7 + 3);
    amq_wr a, b;
    amq_wr_init(&a);
    amq_wr_init(&b);
    amq_put_u8(&a, 0xAA); /* both start at a non-zero offset */
    amq_put_u8(&b, 0xAA);
    generic(&a, ch, amq_cstr(tag), dtag, redelivered, amq_cstr(x), amq_cstr(rk), props, body, len, fm);
    amq_put_basic_deliver(&b, ch, amq_cstr(tag), dtag, redelivered, amq_cstr(x), amq_cstr(rk), props, body, len, fm);
    cr_assert_eq(a.err, 0);
    cr_assert_eq(b.err, 0);
    cr_assert_eq(a.len, b.len, "length %zu vs %zu (body %zu, frame_max %u)", a.len, b.len, len, fm);
    cr_assert(memcmp(a.data, b.data, a.len) == 0, "bytes differ (body %zu, frame_max %u)", len, fm);
    amq_wr_destroy(&a);
    amq_wr_destroy(&b);
}

Test(fast, deliver_matches_generic_encoder) {
    static const uint8_t props_bytes[] = {0x90, 0x00, 0x0a, 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n', 2};
    amq_bytes props = {props_bytes, sizeof props_bytes};
    amq_bytes none = {(const uint8_t *)"\0\0", 2};
    size_t sizes[] = {0, 1, 16, 4087, 4088, 4089, 131064, 131065, 300000};
    uint32_t fms[] = {4096, 131072};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (size_t k = 0; k < 2; k++) {
            same(1, "amq.ctag-abc", 1, false, "", "q", none, sizes[i], fms[k]);
            same(2047, "t", UINT64_MAX, true, "amq.topic", "a.b.c", props, sizes[i], fms[k]);
        }
}

Test(fast, oversized_field_is_an_error) {
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    amq_wr w;
    amq_wr_init(&w);
    amq_put_basic_deliver(&w, 1, amq_cstr(big), 1, false, amq_cstr(""), amq_cstr("q"), (amq_bytes){0}, "", 0, 4096);
    cr_assert_neq(w.err, 0, "a 299-byte consumer tag cannot be a shortstr");
    cr_assert_eq(w.len, 0, "nothing written on error");
    amq_wr_destroy(&w);
}
