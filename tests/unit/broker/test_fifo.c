/* Unit tests for broker/core/fifo.c: the growable ring FIFO the channel's
 * unacked, pending-reply and commit-position rings and the queue's entry
 * rings share. Checked against a plain array model under random pushes and
 * drops, with growth while the ring is wrapped, two element sizes. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fifo.h"

typedef struct big {
    uint64_t a, b, c;
    uint32_t d;
    uint8_t e[13];
} big;

static big big_of(uint64_t i) {
    big x;
    memset(&x, 0, sizeof x);
    x.a = i, x.b = ~i, x.c = i * 7, x.d = (uint32_t)i;
    memset(x.e, (int)(i & 0xff), sizeof x.e);
    return x;
}

Test(fifo, empty_is_zeroed) {
    fifo f = {0};
    cr_assert_eq(f.n, 0);
    fifo_drop(&f, 0); /* no-op on an empty, never-allocated ring */
    fifo_free(&f);
    cr_assert_null(f.v);
    cr_assert_eq(f.cap, 0);
}

Test(fifo, grows_in_order_first_64) {
    fifo f = {0};
    for (uint64_t i = 0; i < 64; i++) *(uint64_t *)fifo_push(&f, sizeof(uint64_t)) = i;
    cr_assert_eq(f.cap, 64, "first capacity 64, no growth until full");
    *(uint64_t *)fifo_push(&f, sizeof(uint64_t)) = 64;
    cr_assert_eq(f.cap, 128);
    for (uint64_t i = 0; i <= 64; i++) cr_assert_eq(*(uint64_t *)fifo_at(&f, i, sizeof(uint64_t)), i);
    fifo_free(&f);
}

/* Growth while wrapped: the front run at the end of the old slots and the
 * wrapped rest both land in order at the start of the new ones. */
Test(fifo, grows_while_wrapped) {
    fifo f = {0};
    uint64_t next = 0, front = 0;
    for (int i = 0; i < 64; i++) *(uint64_t *)fifo_push(&f, sizeof(uint64_t)) = next++;
    fifo_drop(&f, 50);
    front += 50;
    for (int i = 0; i < 50; i++) *(uint64_t *)fifo_push(&f, sizeof(uint64_t)) = next++; /* wraps, full again */
    cr_assert_eq(f.cap, 64);
    cr_assert_eq(f.head, 50);
    *(uint64_t *)fifo_push(&f, sizeof(uint64_t)) = next++; /* grows */
    cr_assert_eq(f.cap, 128);
    cr_assert_eq(f.head, 0);
    cr_assert_eq(f.n, next - front);
    for (size_t i = 0; i < f.n; i++) cr_assert_eq(*(uint64_t *)fifo_at(&f, i, sizeof(uint64_t)), front + i);
    fifo_free(&f);
}

/* Random pushes and drops (single and multiple) against an array model, with
 * a 48-byte element; the capacity stays the smallest power of two >= 64
 * that held the peak count (a push allocates only when the ring grows). */
Test(fifo, random_against_model) {
    fifo f = {0};
    size_t mcap = 1 << 20, mhead = 0, mtail = 0, peak = 0, grows = 0, lastcap = 0;
    uint64_t *model = malloc(mcap * sizeof *model);
    uint64_t next = 0;
    srand(12345);
    for (int step = 0; step < 200000; step++) {
        int r = rand() % 100;
        if (r < 55) {
            big *slot = fifo_push(&f, sizeof(big));
            *slot = big_of(next);
            model[mtail++] = next++;
        } else if (r < 90 && f.n) {
            size_t k = r < 85 ? 1 : (size_t)rand() % (f.n + 1);
            fifo_drop(&f, k);
            mhead += k;
        } else if (f.n) { /* look at a random live element */
            size_t i = (size_t)rand() % f.n;
            big want = big_of(model[mhead + i]);
            cr_assert(!memcmp(fifo_at(&f, i, sizeof(big)), &want, sizeof want), "element %zu at step %d", i, step);
        }
        cr_assert_eq(f.n, mtail - mhead);
        if (f.n > peak) peak = f.n;
        if (f.cap != lastcap) grows++, lastcap = f.cap;
        if (step % 5000 == 0) /* sometimes drain to empty */
            fifo_drop(&f, f.n), mhead = mtail;
    }
    for (size_t i = 0; i < f.n; i++) {
        big want = big_of(model[mhead + i]);
        cr_assert(!memcmp(fifo_at(&f, i, sizeof(big)), &want, sizeof want));
    }
    size_t want_cap = 64;
    while (want_cap < peak) want_cap *= 2;
    cr_assert_eq(f.cap, want_cap, "cap %zu for a peak of %zu", f.cap, peak);
    size_t want_grows = 1;
    for (size_t c = 64; c < want_cap; c *= 2) want_grows++;
    cr_assert_eq(grows, want_grows, "one allocation per doubling");
    fifo_free(&f);
    free(model);
}
