/* test_routing.c — routing through direct, fanout, topic and headers
 * exchanges: each message must reach exactly the expected queues, once.
 * Matching rules are RabbitMQ 3.10's (checked against the reference broker). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAXQ 8

typedef struct {
    amqp_connection_state_t c;
    char ex[200];
    char q[MAXQ][200];
    int nq;
} fixture_t;

static void setup(fixture_t *f, const char *type, int nq) {
    f->c = h_connect();
    snprintf(f->ex, sizeof f->ex, "%s", h_name(type));
    h_exchange_declare(f->c, 1, f->ex, type, false, false, false, amqp_empty_table);
    f->nq = nq;
    for (int i = 0; i < nq; i++)
        snprintf(f->q[i], sizeof f->q[i], "%s", h_queue_declare(f->c, 1, "", false, true, true));
}

static void bind(fixture_t *f, int qi, const char *key) {
    h_queue_bind(f->c, 1, f->q[qi], f->ex, key, amqp_empty_table);
}

/* expected: one string per queue, bodies joined by ',' in publish order. */
static void expect(fixture_t *f, const char *const *expected) {
    for (int i = 0; i < f->nq; i++) {
        char *all = h_get_all(f->c, 1, f->q[i]);
        cr_expect_str_eq(all, expected[i], "queue %d got \"%s\", expected \"%s\"", i, all,
                         expected[i]);
        free(all);
    }
}

static void teardown_fixture(fixture_t *f) {
    amqp_exchange_delete(f->c, 1, amqp_cstring_bytes(f->ex), 0);
    h_close(f->c);
}

Test(routing, direct_exact_key) {
    fixture_t f;
    setup(&f, "direct", 4);
    bind(&f, 0, "red");
    bind(&f, 1, "red");
    bind(&f, 1, "green");
    bind(&f, 2, "");
    bind(&f, 3, "Red");
    h_publish(f.c, 1, f.ex, "red", "r", false, NULL);
    h_publish(f.c, 1, f.ex, "green", "g", false, NULL);
    h_publish(f.c, 1, f.ex, "", "e", false, NULL);
    h_publish(f.c, 1, f.ex, "blue", "b", false, NULL);
    h_publish(f.c, 1, f.ex, "red.x", "rx", false, NULL);
    static const char *const want[] = {"r", "r,g", "e", ""};
    expect(&f, want);
    teardown_fixture(&f);
}

/* One queue bound with several keys that all match gets one copy. */
Test(routing, direct_duplicate_binding_one_copy) {
    fixture_t f;
    setup(&f, "direct", 1);
    bind(&f, 0, "k");
    bind(&f, 0, "k");
    h_publish(f.c, 1, f.ex, "k", "once", false, NULL);
    static const char *const want[] = {"once"};
    expect(&f, want);
    teardown_fixture(&f);
}

Test(routing, amq_direct) {
    amqp_connection_state_t c = h_connect();
    char q[200];
    snprintf(q, sizeof q, "%s", h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, q, "amq.direct", q, amqp_empty_table);
    h_publish(c, 1, "amq.direct", q, "via-amq-direct", false, NULL);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "via-amq-direct");
    free(all);
    h_close(c);
}

Test(routing, default_exchange_unknown_queue_dropped) {
    amqp_connection_state_t c = h_connect();
    char q[200];
    snprintf(q, sizeof q, "%s", h_queue_declare(c, 1, "", false, true, true));
    h_publish(c, 1, "", "no-such-queue-anywhere", "lost", false, NULL);
    h_publish(c, 1, "", q, "kept", false, NULL);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "kept");
    free(all);
    h_close(c);
}

Test(routing, fanout_ignores_key) {
    fixture_t f;
    setup(&f, "fanout", 3);
    bind(&f, 0, "");
    bind(&f, 1, "whatever");
    bind(&f, 1, "other"); /* still one copy */
    h_publish(f.c, 1, f.ex, "", "1", false, NULL);
    h_publish(f.c, 1, f.ex, "some.key", "2", false, NULL);
    static const char *const want[] = {"1,2", "1,2", ""};
    expect(&f, want);
    teardown_fixture(&f);
}

Test(routing, amq_fanout_reaches_bound_queue) {
    amqp_connection_state_t c = h_connect();
    char q[200];
    snprintf(q, sizeof q, "%s", h_queue_declare(c, 1, "", false, true, true));
    h_queue_bind(c, 1, q, "amq.fanout", "", amqp_empty_table);
    h_publish(c, 1, "amq.fanout", "x", "fan", false, NULL);
    char *all = h_get_all(c, 1, q);
    /* other tests may publish to amq.fanout concurrently: ours must be there once */
    cr_assert(strstr(all, "fan") != NULL, "amq.fanout did not deliver (got \"%s\")", all);
    free(all);
    h_close(c);
}

/* Bind each pattern to its own queue, publish each key, compare per queue. */
static void topic_case(const char *pattern, const char *const *keys, int nkeys, const char *want) {
    fixture_t f;
    setup(&f, "topic", 1);
    bind(&f, 0, pattern);
    char body[16];
    for (int i = 0; i < nkeys; i++) {
        snprintf(body, sizeof body, "%d", i);
        h_publish(f.c, 1, f.ex, keys[i], body, false, NULL);
    }
    char *all = h_get_all(f.c, 1, f.q[0]);
    cr_assert_str_eq(all, want, "pattern \"%s\": matched messages \"%s\", expected \"%s\"", pattern,
                     all, want);
    free(all);
    teardown_fixture(&f);
}

static const char *const topic_keys[] = {
    "",        /* 0 */
    "a",       /* 1 */
    "b",       /* 2 */
    "a.b",     /* 3 */
    "a.b.c",   /* 4 */
    "b.a",     /* 5 */
    "a.c.b",   /* 6 */
    ".b",      /* 7 */
    "a.",      /* 8 */
    "a..b",    /* 9 */
    "ab",      /* 10 */
    "x.a.b",   /* 11 */
};
#define NKEYS ((int)(sizeof topic_keys / sizeof topic_keys[0]))

Test(routing, topic_hash_alone_matches_everything) {
    topic_case("#", topic_keys, NKEYS, "0,1,2,3,4,5,6,7,8,9,10,11");
}
Test(routing, topic_a_hash_matches_a_and_below) { topic_case("a.#", topic_keys, NKEYS, "1,3,4,6,8,9"); }
Test(routing, topic_star_b) { topic_case("*.b", topic_keys, NKEYS, "3,7"); }
Test(routing, topic_a_star) { topic_case("a.*", topic_keys, NKEYS, "3,8"); }
Test(routing, topic_star_alone) { topic_case("*", topic_keys, NKEYS, "1,2,10"); }
Test(routing, topic_empty_pattern_matches_empty_key) { topic_case("", topic_keys, NKEYS, "0"); }
Test(routing, topic_literal) { topic_case("a.b", topic_keys, NKEYS, "3"); }
Test(routing, topic_hash_b) { topic_case("#.b", topic_keys, NKEYS, "2,3,6,7,9,11"); }
Test(routing, topic_a_hash_b) { topic_case("a.#.b", topic_keys, NKEYS, "3,6,9"); }
Test(routing, topic_a_star_b_matches_empty_word) { topic_case("a.*.b", topic_keys, NKEYS, "6,9"); }
Test(routing, topic_empty_middle_word_literal) { topic_case("a..b", topic_keys, NKEYS, "9"); }
Test(routing, topic_hash_hash) { topic_case("#.#", topic_keys, NKEYS, "0,1,2,3,4,5,6,7,8,9,10,11"); }
Test(routing, topic_star_hash) { topic_case("*.#", topic_keys, NKEYS, "1,2,3,4,5,6,7,8,9,10,11"); }
Test(routing, topic_star_star) { topic_case("*.*", topic_keys, NKEYS, "3,5,7,8"); }

/* Several patterns on several queues at once: a message matching two
 * bindings of one queue is delivered to it once. */
Test(routing, topic_overlapping_bindings_one_copy) {
    fixture_t f;
    setup(&f, "topic", 3);
    bind(&f, 0, "stock.#");
    bind(&f, 0, "*.usd.*");
    bind(&f, 1, "stock.usd.nyse");
    bind(&f, 2, "#.eur.#");
    h_publish(f.c, 1, f.ex, "stock.usd.nyse", "1", false, NULL);
    h_publish(f.c, 1, f.ex, "stock.eur.x", "2", false, NULL);
    h_publish(f.c, 1, f.ex, "bond.usd.x", "3", false, NULL);
    h_publish(f.c, 1, f.ex, "eur", "4", false, NULL);
    static const char *const want[] = {"1,2,3", "1", "2,4"};
    expect(&f, want);
    teardown_fixture(&f);
}

Test(routing, amq_topic) {
    amqp_connection_state_t c = h_connect();
    char q[200], pat[240], key[240];
    snprintf(q, sizeof q, "%s", h_queue_declare(c, 1, "", false, true, true));
    snprintf(pat, sizeof pat, "%s.#", q);
    snprintf(key, sizeof key, "%s.x.y", q);
    h_queue_bind(c, 1, q, "amq.topic", pat, amqp_empty_table);
    h_publish(c, 1, "amq.topic", key, "via-amq-topic", false, NULL);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "via-amq-topic");
    free(all);
    h_close(c);
}

/* ---- headers ---- */

typedef struct {
    amqp_table_entry_t e[8];
    amqp_table_t t;
} table_t;

static void t_str(table_t *t, const char *k, const char *v) {
    amqp_table_entry_t *e = &t->e[t->t.num_entries++];
    e->key = amqp_cstring_bytes(k);
    e->value.kind = AMQP_FIELD_KIND_UTF8;
    e->value.value.bytes = amqp_cstring_bytes(v);
    t->t.entries = t->e;
}

static void t_int(table_t *t, const char *k, int32_t v) {
    amqp_table_entry_t *e = &t->e[t->t.num_entries++];
    e->key = amqp_cstring_bytes(k);
    e->value.kind = AMQP_FIELD_KIND_I32;
    e->value.value.i32 = v;
    t->t.entries = t->e;
}

static void publish_headers(fixture_t *f, const table_t *h, const char *body) {
    amqp_basic_properties_t p = {0};
    if (h) {
        p._flags = AMQP_BASIC_HEADERS_FLAG;
        p.headers = h->t;
    }
    h_publish(f->c, 1, f->ex, "ignored-key", body, false, &p);
}

static void bind_args(fixture_t *f, int qi, const table_t *args) {
    h_queue_bind(f->c, 1, f->q[qi], f->ex, "", args->t);
}

/* Messages used by the headers tests: body = index. */
static void publish_header_set(fixture_t *f) {
    table_t m[7] = {0};
    t_int(&m[0], "a", 1);                            /* 0: a=1 */
    t_int(&m[1], "a", 1), t_str(&m[1], "b", "two");  /* 1: a=1 b=two */
    t_int(&m[2], "a", 1), t_str(&m[2], "b", "two"),
        t_str(&m[2], "c", "x");                      /* 2: a=1 b=two c=x */
    t_int(&m[3], "a", 2), t_str(&m[3], "b", "two");  /* 3: a=2 b=two */
    t_str(&m[4], "a", "1");                          /* 4: a="1" (string, not int) */
    t_str(&m[5], "x-tag", "t"), t_int(&m[5], "a", 1); /* 5: x-tag=t a=1 */
    char body[8];
    for (int i = 0; i < 6; i++) {
        snprintf(body, sizeof body, "%d", i);
        publish_headers(f, &m[i], body);
    }
    publish_headers(f, NULL, "6"); /* 6: no headers at all */
}

Test(routing, headers_all_and_any) {
    fixture_t f;
    setup(&f, "headers", 4);
    table_t all = {0}, any = {0}, dflt = {0}, none = {0};
    t_str(&all, "x-match", "all"), t_int(&all, "a", 1), t_str(&all, "b", "two");
    t_str(&any, "x-match", "any"), t_int(&any, "a", 1), t_str(&any, "b", "two");
    t_int(&dflt, "a", 1), t_str(&dflt, "b", "two"); /* no x-match: defaults to all */
    t_str(&none, "x-match", "all");                 /* no conditions: matches everything */
    bind_args(&f, 0, &all);
    bind_args(&f, 1, &any);
    bind_args(&f, 2, &dflt);
    bind_args(&f, 3, &none);
    publish_header_set(&f);
    static const char *const want[] = {"1,2", "0,1,2,3,5", "1,2", "0,1,2,3,4,5,6"};
    expect(&f, want);
    teardown_fixture(&f);
}

/* With plain all/any, binding keys starting with "x-" are ignored; the
 * -with-x variants (RabbitMQ 3.10) include them. */
Test(routing, headers_with_x_variants) {
    fixture_t f;
    setup(&f, "headers", 4);
    table_t all = {0}, allx = {0}, any = {0}, anyx = {0};
    t_str(&all, "x-match", "all"), t_str(&all, "x-tag", "t"), t_int(&all, "a", 1);
    t_str(&allx, "x-match", "all-with-x"), t_str(&allx, "x-tag", "t"), t_int(&allx, "a", 1);
    t_str(&any, "x-match", "any"), t_str(&any, "x-tag", "t");
    t_str(&anyx, "x-match", "any-with-x"), t_str(&anyx, "x-tag", "t");
    bind_args(&f, 0, &all);
    bind_args(&f, 1, &allx);
    bind_args(&f, 2, &any);
    bind_args(&f, 3, &anyx);
    publish_header_set(&f);
    static const char *const want[] = {"0,1,2,5", "5", "", "5"};
    expect(&f, want);
    teardown_fixture(&f);
}

Test(routing, amq_match_and_amq_headers_are_headers_exchanges) {
    amqp_connection_state_t c = h_connect();
    char q[200];
    snprintf(q, sizeof q, "%s", h_queue_declare(c, 1, "", false, true, true));
    table_t args = {0}, hdr = {0};
    t_str(&args, "x-match", "all"), t_str(&args, "route-to", q);
    t_str(&hdr, "route-to", q);
    h_queue_bind(c, 1, q, "amq.match", "", args.t);
    h_queue_bind(c, 1, q, "amq.headers", "", args.t);
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_HEADERS_FLAG, .headers = hdr.t};
    h_publish(c, 1, "amq.match", "", "m", false, &p);
    h_publish(c, 1, "amq.headers", "", "h", false, &p);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "m,h");
    free(all);
    h_close(c);
}
