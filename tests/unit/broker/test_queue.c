/* Unit tests for broker/model/queue.c: FIFO order, requeue at the original
 * position, purge, consumer exclusivity. No threads or sockets needed: with
 * no consumers dispatch posts nothing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "queue.h"

static msg *mk(const char *body) {
    size_t n = strlen(body);
    msg *m = msg_new(amq_cstr(""), amq_cstr("q"), (amq_bytes){0}, n);
    cr_assert(m);
    memcpy(msg_body(m), body, n);
    m->body_have = n;
    return m;
}

static queue *mkq(void) { return queue_new(NULL, amq_cstr("q"), false, false, false, (amq_bytes){0}, 0); }

static void publish(queue *q, const char *body) {
    msg *m = mk(body);
    cr_assert_eq(queue_publish(q, m), 0);
    msg_unref(&m);
    cr_assert_null(m, "msg_unref clears the caller's pointer");
}

static void expect_get(queue *q, const char *body, bool redelivered, qentry *out) {
    qentry e;
    uint32_t left;
    cr_assert_eq(queue_get(q, &e, &left), 1, "expected '%s', queue empty", body);
    cr_assert_eq(e.m->body_len, strlen(body));
    cr_assert(memcmp(msg_body(e.m), body, strlen(body)) == 0, "expected '%s', got '%.*s'", body, (int)e.m->body_len,
              (char *)msg_body(e.m));
    cr_assert_eq(e.redelivered != 0, redelivered);
    if (out) *out = e;
    else msg_unref(&e.m);
}

Test(queue, fifo) {
    queue *q = mkq();
    publish(q, "1");
    publish(q, "2");
    publish(q, "3");
    uint32_t n, c;
    queue_counts(q, &n, &c);
    cr_assert_eq(n, 3);
    cr_assert_eq(c, 0);
    expect_get(q, "1", false, NULL);
    expect_get(q, "2", false, NULL);
    expect_get(q, "3", false, NULL);
    qentry e;
    uint32_t left;
    cr_assert_eq(queue_get(q, &e, &left), 0);
    queue_unref(&q);
}

Test(queue, requeue_returns_to_original_position) {
    queue *q = mkq();
    for (int i = 1; i <= 5; i++) {
        char b[4];
        snprintf(b, sizeof b, "%d", i);
        publish(q, b);
    }
    qentry e1, e2;
    expect_get(q, "1", false, &e1);
    expect_get(q, "2", false, &e2);
    /* put 2 back first, then 1: order must still be 1, 2, 3 */
    queue_requeue(q, e2.m, e2.seq, 0, true);
    queue_requeue(q, e1.m, e1.seq, 0, true);
    expect_get(q, "1", true, NULL);
    expect_get(q, "2", true, NULL);
    expect_get(q, "3", false, NULL);
    /* a requeue behind newer messages still goes ahead of them */
    qentry e4;
    expect_get(q, "4", false, &e4);
    publish(q, "6");
    queue_requeue(q, e4.m, e4.seq, 0, true);
    expect_get(q, "4", true, NULL);
    expect_get(q, "5", false, NULL);
    expect_get(q, "6", false, NULL);
    queue_unref(&q);
}

Test(queue, many_messages_keep_order_through_ring_growth) {
    queue *q = mkq();
    char b[16];
    for (int i = 0; i < 10000; i++) {
        snprintf(b, sizeof b, "%d", i);
        publish(q, b);
    }
    for (int i = 0; i < 10000; i++) {
        snprintf(b, sizeof b, "%d", i);
        expect_get(q, b, false, NULL);
    }
    queue_unref(&q);
}

Test(queue, purge_counts_and_empties) {
    queue *q = mkq();
    publish(q, "a");
    publish(q, "b");
    qentry e;
    expect_get(q, "a", false, &e);
    queue_requeue(q, e.m, e.seq, 0, true);
    cr_assert_eq(queue_purge(q), 2);
    uint32_t n;
    queue_counts(q, &n, NULL);
    cr_assert_eq(n, 0);
    queue_unref(&q);
}

Test(queue, shared_message_refcount) {
    queue *a = mkq(), *b = mkq();
    msg *m = mk("shared");
    cr_assert_eq(queue_publish(a, m), 0);
    cr_assert_eq(queue_publish(b, m), 0);
    cr_assert_eq(atomic_load(&m->refs), 3, "one allocation, three owners");
    msg_unref(&m);
    queue_unref(&a);
    queue_unref(&b); /* ASan reports a leak or double free if refcounting is wrong */
}

Test(queue, exclusive_consumer_conflicts) {
    queue *q = mkq();
    chan_credit cc = {0};
    consumer *c1 = consumer_new(), *c2 = consumer_new();
    c1->cc = c2->cc = &cc;
    queue_ref(q);
    c1->q = q;
    queue_ref(q);
    c2->q = q;
    c1->exclusive = true;
    cr_assert_eq(queue_add_consumer(q, c1), 0);
    cr_assert_eq(queue_add_consumer(q, c2), 403);
    cr_assert_eq(queue_remove_consumer(q, c1), 0);
    cr_assert_eq(queue_add_consumer(q, c2), 0);
    cr_assert_eq(queue_remove_consumer(q, c2), 0);
    cr_assert_eq(queue_remove_consumer(q, c2), -1, "removing twice reports absence");
    consumer_unref(&c1);
    consumer_unref(&c2);
    queue_unref(&q);
}

Test(queue, deleted_queue_refuses_publish) {
    queue *q = mkq();
    publish(q, "x");
    cr_assert_eq(queue_delete(q), 1);
    msg *m = mk("late");
    cr_assert_eq(queue_publish(q, m), -1);
    msg_unref(&m);
    queue_unref(&q);
}

/* A deep durable queue keeps persistent messages past QUEUE_RAM_MAX as log
 * positions only (8 bytes each); order is kept across the in-memory part, the
 * positions, a transient message published behind them, and a requeue. */
Test(queue, deep_durable_queue_keeps_positions_in_order) {
    queue *q = mkq();
    q->qid = 7; /* durable; no log is open, so store calls are no-ops */
    const int n = QUEUE_RAM_MAX + 3 * LZQ_BLOCK + 5;
    for (int i = 0; i < n; i++) {
        msg *m = mk("p");
        m->pos = 1000 + (uint64_t)i; /* as if logged */
        cr_assert_eq(queue_publish(q, m), 0);
        msg_unref(&m);
    }
    cr_assert_eq(q->lz.n, (size_t)(n - QUEUE_RAM_MAX), "the tail past the limit is positions only");
    publish(q, "transient-last");
    uint32_t count;
    queue_counts(q, &count, NULL);
    cr_assert_eq(count, (uint32_t)n + 1);
    qentry held = {0};
    for (int i = 0; i < n; i++) {
        qentry e;
        uint32_t left;
        cr_assert_eq(queue_get(q, &e, &left), 1);
        uint64_t pos = msg_is_lazy(e.m) ? msg_lazy_pos(e.m) : e.m->pos;
        cr_assert_eq(pos, 1000 + (uint64_t)i, "entry %d has position %llu", i, (unsigned long long)pos);
        cr_assert_eq(msg_is_lazy(e.m), i >= QUEUE_RAM_MAX);
        if (i == QUEUE_RAM_MAX + 10) { /* requeue one from the on-disk part: it must come back next */
            held = e;
            queue_requeue(q, held.m, held.seq, 0, true);
            qentry again;
            cr_assert_eq(queue_get(q, &again, &left), 1);
            cr_assert_eq(again.seq, held.seq);
            cr_assert(again.redelivered);
            continue;
        }
        msg_release(&e.m);
    }
    expect_get(q, "transient-last", false, NULL);
    cr_assert_eq(q->lz.n, 0);
    cr_assert_null(q->lz.blocks, "blocks are freed when the tail empties");
    queue_unref(&q);
}
