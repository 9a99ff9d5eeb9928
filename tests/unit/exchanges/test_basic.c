/* test_basic.c — type names, exch_dests, binding identity, unbind_dest,
 * foreach, argument checks, and "route allocates nothing once warm". */
#include <stdio.h>
#include <stdlib.h>
#include "helpers.h"

TestSuite(types, .fini = leak_check);
TestSuite(dests, .fini = leak_check);
TestSuite(bindings, .fini = leak_check);
TestSuite(hotpath, .fini = leak_check);

/* ---- allocation counting: the test binary links with --wrap=malloc etc.,
 * which redirects the calls made by warren_exchanges (a static library
 * linked into this binary) through these wrappers. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
static size_t alloc_calls;
void *__wrap_malloc(size_t n) { alloc_calls++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { alloc_calls++; return __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { alloc_calls++; return __real_realloc(p, n); }

Test(types, parse_and_name) {
    const char *names[] = {"direct", "fanout", "topic", "headers"};
    for (int i = 0; i < 4; i++) {
        exch_type t = (exch_type)-1;
        cr_assert_eq(exch_type_parse(B_(names[i]), &t), 0);
        cr_assert_eq((int)t, i);
        cr_assert_str_eq(exch_type_name(t), names[i]);
    }
    exch_type t;
    cr_assert_eq(exch_type_parse(B_("Direct"), &t), -1);
    cr_assert_eq(exch_type_parse(B_(""), &t), -1);
    cr_assert_eq(exch_type_parse(B_("x-consistent-hash"), &t), -1);
    cr_assert_eq(exch_type_parse(B_("topicx"), &t), -1);
    cr_assert_null(exch_new((exch_type)42));
    for (int i = 0; i < 4; i++) {
        exch *e = exch_new((exch_type)i);
        cr_assert_not_null(e);
        cr_assert_eq(exch_get_type(e), (exch_type)i);
        cr_assert_eq(exch_binding_count(e), 0);
        exch_free(&e);
        cr_assert_null(e);
    }
    exch *none = NULL;
    exch_free(&none);
    exch_free(NULL);
}

Test(dests, add_dedup_clear_reuse) {
    exch_dests d;
    exch_dests_init(&d);
    cr_assert_eq(exch_dests_add(&d, NULL), 0);
    for (int round = 0; round < 3; round++) {
        size_t n = round == 0 ? 5 : round == 1 ? 17 : 3000;
        for (size_t i = 0; i < n; i++) cr_assert_eq(exch_dests_add(&d, D(i)), 1, "round %d i %zu", round, i);
        for (size_t i = 0; i < n; i++) cr_assert_eq(exch_dests_add(&d, D(i)), 0);
        cr_assert_eq(d.n, n);
        for (size_t i = 0; i < n; i++) cr_assert_eq(d.v[i], D(i), "insertion order kept");
        void **v = d.v;
        size_t cap = d.cap;
        exch_dests_clear(&d);
        cr_assert_eq(d.n, 0);
        cr_assert_eq(d.v, v, "clear keeps the storage");
        cr_assert_eq(d.cap, cap);
        /* after clear nothing is "already present" */
        for (size_t i = 0; i < n; i += 7) cr_assert_eq(exch_dests_add(&d, D(i)), 1);
        exch_dests_clear(&d);
    }
    /* a small set after a big one must still dedup (set emptied correctly) */
    for (int i = 0; i < 40; i++) exch_dests_add(&d, D(1000 + i % 20));
    cr_assert_eq(d.n, 20);
    exch_dests_destroy(&d);
    cr_assert_null(d.v);
    cr_assert_eq(d.n, 0);
}

static void bind_ok(exch *e, void *dest, const char *key, amq_bytes args) {
    cr_assert_eq(exch_bind(e, dest, B_(key), args), 1, "bind %s", key);
}

Test(bindings, identity_is_dest_key_and_table_equal_args) {
    exch *e = exch_new(EXCH_DIRECT);
    tb a = {0}, a2 = {0}, b = {0};
    tb_I(&a, "p", 1);
    tb_S(&a, "q", "x");
    tb_S(&a2, "q", "x"); /* same table, other order */
    tb_I(&a2, "p", 1);
    tb_I(&b, "p", 2);
    bind_ok(e, D(1), "k", NOARGS);
    cr_assert_eq(exch_bind(e, D(1), B_("k"), NOARGS), 0, "duplicate");
    bind_ok(e, D(1), "k", tb_bytes(&a));
    cr_assert_eq(exch_bind(e, D(1), B_("k"), tb_bytes(&a2)), 0, "same args, other order");
    bind_ok(e, D(1), "k", tb_bytes(&b));
    bind_ok(e, D(2), "k", NOARGS);
    bind_ok(e, D(1), "K", NOARGS);
    cr_assert_eq(exch_binding_count(e), 5);
    cr_assert(exch_has_binding(e, D(1), B_("k"), tb_bytes(&a2)));
    cr_assert_not(exch_has_binding(e, D(3), B_("k"), NOARGS));
    cr_assert_not(exch_has_binding(e, D(1), B_("k "), NOARGS));
    cr_assert_eq(exch_unbind(e, D(1), B_("k"), tb_bytes(&a2)), 1);
    cr_assert_eq(exch_unbind(e, D(1), B_("k"), tb_bytes(&a)), 0, "already gone");
    cr_assert_eq(exch_unbind(e, D(9), B_("k"), NOARGS), 0);
    cr_assert_eq(exch_binding_count(e), 4);
    exch_dests out;
    exch_dests_init(&out);
    cr_assert_eq(route_n(e, "k", NOARGS, &out), 2, "D1 once (two bindings) and D2");
    cr_assert(dests_has(&out, D(1)) && dests_has(&out, D(2)));
    exch_dests_destroy(&out);
    exch_free(&e);
}

Test(bindings, key_and_args_are_copied) {
    exch *e = exch_new(EXCH_DIRECT);
    char key[8] = "abc";
    tb a = {0};
    tb_I(&a, "p", 1);
    bind_ok(e, D(1), key, tb_bytes(&a));
    memset(key, 'z', 3);
    memset(a.b, 0xff, a.n); /* caller reuses its buffers */
    tb a2 = {0};
    tb_I(&a2, "p", 1);
    cr_assert(exch_has_binding(e, D(1), B_("abc"), tb_bytes(&a2)));
    exch_dests out;
    exch_dests_init(&out);
    cr_assert_eq(route_n(e, "abc", NOARGS, &out), 1);
    exch_dests_destroy(&out);
    exch_free(&e);
}

Test(bindings, invalid_arguments) {
    exch *e = exch_new(EXCH_TOPIC);
    uint8_t bad[] = {3, 'a', 'b'}; /* key longer than the table */
    amq_bytes badargs = {bad, sizeof bad};
    uint8_t badtype[] = {1, 'a', 'Q', 0}; /* unknown type tag */
    amq_bytes badtype_args = {badtype, sizeof badtype};
    cr_assert_eq(exch_bind(e, NULL, B_("a"), NOARGS), EXCH_EINVAL);
    cr_assert_eq(exch_bind(e, D(1), B_("a"), badargs), EXCH_EINVAL);
    cr_assert_eq(exch_bind(e, D(1), B_("a"), badtype_args), EXCH_EINVAL);
    cr_assert_eq(exch_binding_count(e), 0);
    exch_free(&e);
}

typedef struct {
    int n;
    int seen[8];
} visit_log;

static void visit(void *ctx, void *dest, amq_bytes key, amq_bytes args) {
    visit_log *l = ctx;
    /* identify the binding by dest index and key length + args length */
    int id = (int)((char *)dest - (char *)D(0)) * 100 + (int)key.len * 10 + (int)args.len;
    for (int i = 0; i < 8; i++) {
        cr_assert_neq(l->seen[i], id, "binding visited twice");
    }
    cr_assert_lt(l->n, 8);
    l->seen[l->n++] = id;
}

Test(bindings, foreach_and_unbind_dest_every_type) {
    tb args = {0};
    tb_S(&args, "x-match", "any");
    tb_I(&args, "k", 1);
    for (int t = 0; t < 4; t++) {
        exch *e = exch_new((exch_type)t);
        bind_ok(e, D(1), "a", NOARGS);
        bind_ok(e, D(1), "bb", NOARGS);
        bind_ok(e, D(1), "bb", tb_bytes(&args));
        bind_ok(e, D(2), "a", NOARGS);
        bind_ok(e, D(3), "ccc", tb_bytes(&args));
        visit_log l = {0, {0}};
        exch_foreach(e, visit, &l);
        cr_assert_eq(l.n, 5, "type %d", t);
        int want[] = {110, 120, 120 + (int)args.n, 210, 330 + (int)args.n};
        for (int i = 0; i < 5; i++) {
            bool found = false;
            for (int j = 0; j < l.n; j++) found |= l.seen[j] == want[i];
            cr_assert(found, "type %d binding %d listed", t, i);
        }
        cr_assert_eq(exch_unbind_dest(e, D(1)), 3);
        cr_assert_eq(exch_unbind_dest(e, D(1)), 0);
        cr_assert_eq(exch_unbind_dest(e, D(7)), 0);
        cr_assert_eq(exch_binding_count(e), 2);
        cr_assert_not(exch_has_binding(e, D(1), B_("a"), NOARGS));
        cr_assert(exch_has_binding(e, D(2), B_("a"), NOARGS));
        memset(&l, 0, sizeof l);
        exch_foreach(e, visit, &l);
        cr_assert_eq(l.n, 2);
        exch_dests out;
        exch_dests_init(&out);
        exch_route(e, B_("a"), tb_bytes(&(tb){.n = 0}), &out);
        cr_assert_not(dests_has(&out, D(1)), "type %d: unbound dest still routed", t);
        exch_dests_destroy(&out);
        exch_free(&e);
    }
}

/* Build each type with many bindings, warm an exch_dests up, then check a
 * second round of routes calls no allocator at all. */
Test(hotpath, route_allocates_nothing_once_warm) {
    tb hdr = {0};
    tb_I(&hdr, "a", 1);
    tb_S(&hdr, "b", "x");
    tb hargs = {0};
    tb_S(&hargs, "x-match", "any");
    tb_I(&hargs, "a", 1);
    const char *keys[] = {"a.b.c", "a", "", "x.y", "k7"};
    for (int t = 0; t < 4; t++) {
        exch *e = exch_new((exch_type)t);
        char key[32];
        for (int i = 0; i < 2000; i++) {
            if (i % 3) snprintf(key, sizeof key, "k%d", i % 50);
            else snprintf(key, sizeof key, "%s", i % 2 ? "a.#" : "#");
            exch_bind(e, D(i), B_(key), t == EXCH_HEADERS ? tb_bytes(&hargs) : NOARGS);
        }
        size_t calls = alloc_calls;
        bind_ok(e, D(5000), "k7", NOARGS);
        cr_assert_gt(alloc_calls, calls, "the allocator wrappers are live");
        exch_dests out;
        exch_dests_init(&out);
        for (int i = 0; i < 5; i++) exch_route(e, B_(keys[i]), tb_bytes(&hdr), &out);
        exch_dests_clear(&out);
        size_t before = alloc_calls;
        for (int r = 0; r < 3; r++) {
            for (int i = 0; i < 5; i++) {
                exch_dests_clear(&out);
                exch_route(e, B_(keys[i]), tb_bytes(&hdr), &out);
                if (t != EXCH_DIRECT || i == 4) cr_assert_gt(out.n, 0, "type %d key %s", t, keys[i]);
            }
        }
        cr_assert_eq(alloc_calls, before, "type %s allocated on a warm route", exch_type_name((exch_type)t));
        exch_dests_destroy(&out);
        exch_free(&e);
    }
}
