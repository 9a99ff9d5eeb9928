/* test_topic.c — topic exchange trie and exch_topic_match.
 *
 * The edge-case table (rabbit_expect.h) was recorded against the reference
 * RabbitMQ 3.10.8 with record_rabbit.py: for each binding key a queue was
 * bound, each routing key published once, and the queues drained. Findings
 * encoded here: routing key "" has ZERO words (so "*" and "#.*" do not match
 * it, "#" and "" do); "." is two empty words; empty words are real words
 * ("a.*" matches "a.", "a.*.b" matches "a..b"); "a.#" matches "a"; "#.a"
 * matches "a"; "#.#" == "#"; "a*", "#a", "*a" are literal words. */
#include <stdio.h>
#include <stdlib.h>
#include "helpers.h"
#include "rabbit_expect.h"

TestSuite(topic, .fini = leak_check);

#define NKEYS (sizeof rx_topic_keys / sizeof rx_topic_keys[0])
#define NPATS (sizeof rx_topics / sizeof rx_topics[0])

Test(topic, rabbitmq_table_pure_matcher) {
    for (size_t p = 0; p < NPATS; p++) {
        for (size_t k = 0; k < NKEYS; k++) {
            bool want = (rx_topics[p].mask >> k) & 1;
            cr_expect_eq(exch_topic_match(B_(rx_topics[p].pattern), B_(rx_topic_keys[k])), want,
                         "pattern '%s' key '%s': RabbitMQ says %d", rx_topics[p].pattern, rx_topic_keys[k], want);
        }
    }
}

Test(topic, rabbitmq_table_one_binding_per_exchange) {
    exch_dests out;
    exch_dests_init(&out);
    for (size_t p = 0; p < NPATS; p++) {
        exch *e = exch_new(EXCH_TOPIC);
        cr_assert_eq(exch_bind(e, D(1), B_(rx_topics[p].pattern), NOARGS), 1);
        for (size_t k = 0; k < NKEYS; k++) {
            bool want = (rx_topics[p].mask >> k) & 1;
            cr_expect_eq(route_n(e, rx_topic_keys[k], NOARGS, &out), want, "pattern '%s' key '%s': RabbitMQ says %d",
                         rx_topics[p].pattern, rx_topic_keys[k], want);
        }
        exch_free(&e);
    }
    exch_dests_destroy(&out);
}

Test(topic, rabbitmq_table_all_bindings_in_one_trie) {
    exch *e = exch_new(EXCH_TOPIC);
    exch_dests out;
    exch_dests_init(&out);
    for (size_t p = 0; p < NPATS; p++) cr_assert_eq(exch_bind(e, D(p), B_(rx_topics[p].pattern), NOARGS), 1);
    for (size_t k = 0; k < NKEYS; k++) {
        route_n(e, rx_topic_keys[k], NOARGS, &out);
        size_t want_n = 0;
        for (size_t p = 0; p < NPATS; p++) {
            bool want = (rx_topics[p].mask >> k) & 1;
            want_n += want;
            cr_expect_eq(dests_has(&out, D(p)), want, "key '%s' pattern '%s'", rx_topic_keys[k], rx_topics[p].pattern);
        }
        cr_expect_eq(out.n, want_n, "key '%s': no duplicates, nothing extra", rx_topic_keys[k]);
    }
    /* remove half the bindings: the pruned trie must still route the rest */
    for (size_t p = 0; p < NPATS; p += 2) cr_assert_eq(exch_unbind(e, D(p), B_(rx_topics[p].pattern), NOARGS), 1);
    for (size_t k = 0; k < NKEYS; k++) {
        route_n(e, rx_topic_keys[k], NOARGS, &out);
        for (size_t p = 0; p < NPATS; p++) {
            bool want = p % 2 && ((rx_topics[p].mask >> k) & 1);
            cr_expect_eq(dests_has(&out, D(p)), want, "after unbind: key '%s' pattern '%s'", rx_topic_keys[k],
                         rx_topics[p].pattern);
        }
    }
    exch_dests_destroy(&out);
    exch_free(&e);
}

/* ---- an obviously-correct reference matcher over word arrays ---- */
typedef struct {
    const char *w[16];
    size_t len[16];
    size_t n;
} words;

static words split(const char *s) {
    words r = {{0}, {0}, 0};
    if (!*s) return r; /* "" is zero words */
    const char *start = s;
    for (;; s++) {
        if (*s == '.' || *s == 0) {
            r.w[r.n] = start;
            r.len[r.n++] = (size_t)(s - start);
            start = s + 1;
            if (!*s) break;
        }
    }
    return r;
}

static bool is(const words *p, size_t i, const char *lit) {
    return p->len[i] == strlen(lit) && memcmp(p->w[i], lit, p->len[i]) == 0;
}

static bool ref_match(const words *p, size_t i, const words *k, size_t j) {
    if (i == p->n) return j == k->n;
    if (is(p, i, "#")) {
        for (size_t s = j; s <= k->n; s++) {
            if (ref_match(p, i + 1, k, s)) return true;
        }
        return false;
    }
    if (j == k->n) return false;
    if (!is(p, i, "*") && (p->len[i] != k->len[j] || memcmp(p->w[i], k->w[j], p->len[i]) != 0)) return false;
    return ref_match(p, i + 1, k, j + 1);
}

static void random_words(char *buf, const char *const *alphabet, int nalpha, unsigned *seed) {
    int n = rand_r(seed) % 6;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i) strcat(buf, ".");
        strcat(buf, alphabet[rand_r(seed) % nalpha]);
    }
}

Test(topic, fuzz_trie_vs_pure_vs_reference) {
    static const char *const pat_alpha[] = {"a", "b", "", "*", "#", "ab"};
    static const char *const key_alpha[] = {"a", "b", "", "ab", "*", "#"};
    unsigned seed = 12345;
    exch_dests out;
    exch_dests_init(&out);
    for (int round = 0; round < 40; round++) {
        exch *e = exch_new(EXCH_TOPIC);
        char pats[60][64];
        for (int p = 0; p < 60; p++) {
            random_words(pats[p], pat_alpha, 6, &seed);
            exch_bind(e, D(p), B_(pats[p]), NOARGS);
        }
        for (int k = 0; k < 60; k++) {
            char key[64];
            random_words(key, key_alpha, 6, &seed);
            route_n(e, key, NOARGS, &out);
            words kw = split(key);
            for (int p = 0; p < 60; p++) {
                words pw = split(pats[p]);
                bool want = ref_match(&pw, 0, &kw, 0);
                cr_assert_eq(exch_topic_match(B_(pats[p]), B_(key)), want, "pure: '%s' vs '%s'", pats[p], key);
                cr_assert_eq(dests_has(&out, D(p)), want, "trie: '%s' vs '%s'", pats[p], key);
            }
        }
        exch_free(&e);
    }
    exch_dests_destroy(&out);
}

Test(topic, collapsed_hashes_keep_their_own_identity) {
    exch *e = exch_new(EXCH_TOPIC);
    exch_dests out;
    exch_dests_init(&out);
    cr_assert_eq(exch_bind(e, D(1), B_("#"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(2), B_("#.#"), NOARGS), 1, "a different binding key");
    cr_assert_eq(exch_bind(e, D(1), B_("#.#"), NOARGS), 1);
    cr_assert_eq(exch_binding_count(e), 3);
    cr_assert_eq(route_n(e, "x.y", NOARGS, &out), 2);
    cr_assert_eq(exch_unbind(e, D(1), B_("#"), NOARGS), 1);
    cr_assert(exch_has_binding(e, D(1), B_("#.#"), NOARGS));
    cr_assert_not(exch_has_binding(e, D(1), B_("#"), NOARGS));
    cr_assert_eq(route_n(e, "", NOARGS, &out), 2);
    cr_assert_eq(exch_unbind(e, D(2), B_("#.#"), NOARGS), 1);
    cr_assert_eq(exch_unbind(e, D(1), B_("#.#"), NOARGS), 1);
    cr_assert_eq(route_n(e, "x.y", NOARGS, &out), 0);
    cr_assert_eq(exch_binding_count(e), 0);
    exch_dests_destroy(&out);
    exch_free(&e);
}

/* "#.a.#.a.#..." against a long key of a's: exponential for a naive
 * backtracking walk; the per-route memo keeps it fast. */
Test(topic, adversarial_hash_patterns_stay_polynomial, .timeout = 20) {
    exch *e = exch_new(EXCH_TOPIC);
    exch_dests out;
    exch_dests_init(&out);
    char pat[256] = "", key[256] = "";
    for (int i = 0; i < 30; i++) strcat(pat, "#.a.");
    strcat(pat, "b"); /* never matches a key of only a's */
    for (int i = 0; i < 120; i++) strcat(key, i ? ".a" : "a");
    cr_assert_eq(exch_bind(e, D(1), B_(pat), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(2), B_("a.#"), NOARGS), 1);
    cr_assert_eq(route_n(e, key, NOARGS, &out), 1);
    cr_assert_eq(out.v[0], D(2));
    cr_assert_not(exch_topic_match(B_(pat), B_(key)));
    key[strlen(key) - 1] = 'b'; /* ... now it ends in b: matches */
    cr_assert_eq(route_n(e, key, NOARGS, &out), 2);
    cr_assert(exch_topic_match(B_(pat), B_(key)));
    exch_dests_destroy(&out);
    exch_free(&e);
}

Test(topic, keys_with_more_words_than_the_stack_buffer) {
    exch *e = exch_new(EXCH_TOPIC);
    exch_dests out;
    exch_dests_init(&out);
    static char key[2100];
    key[0] = 0;
    for (int i = 0; i < 1000; i++) strcat(key, i ? ".w" : "w");
    cr_assert_eq(exch_bind(e, D(1), B_("w.#.w"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(2), B_("w.*"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(3), B_(key), NOARGS), 1);
    cr_assert_eq(route_n(e, key, NOARGS, &out), 2);
    cr_assert(dests_has(&out, D(1)) && dests_has(&out, D(3)));
    cr_assert(exch_topic_match(B_("w.#.w"), B_(key)));
    cr_assert(exch_topic_match(B_(key), B_(key)));
    exch_dests_destroy(&out);
    exch_free(&e);
}

Test(topic, same_pattern_many_dests_and_unbind_dest) {
    exch *e = exch_new(EXCH_TOPIC);
    exch_dests out;
    exch_dests_init(&out);
    for (int i = 0; i < 100; i++) {
        exch_bind(e, D(i), B_("stock.*.nyse"), NOARGS);
        exch_bind(e, D(i), B_("stock.#"), NOARGS);
    }
    cr_assert_eq(route_n(e, "stock.ibm.nyse", NOARGS, &out), 100);
    cr_assert_eq(route_n(e, "stock", NOARGS, &out), 100);
    cr_assert_eq(route_n(e, "stocks", NOARGS, &out), 0);
    for (int i = 0; i < 100; i += 4) cr_assert_eq(exch_unbind_dest(e, D(i)), 2);
    cr_assert_eq(route_n(e, "stock.ibm.nyse", NOARGS, &out), 75);
    cr_assert_eq(exch_binding_count(e), 150);
    exch_dests_destroy(&out);
    exch_free(&e);
}
