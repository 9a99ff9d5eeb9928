/* test_direct_fanout.c — direct and fanout exchanges. */
#include "helpers.h"

TestSuite(direct, .fini = leak_check);
TestSuite(fanout, .fini = leak_check);

Test(direct, routes_exact_key_only) {
    exch *e = exch_new(EXCH_DIRECT);
    exch_dests out;
    exch_dests_init(&out);
    cr_assert_eq(exch_bind(e, D(1), B_("info"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(2), B_("info"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(3), B_("warn"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(4), B_(""), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(5), B_("#"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(1), B_("info"), NOARGS), 0);
    cr_assert_eq(route_n(e, "info", NOARGS, &out), 2);
    cr_assert(dests_has(&out, D(1)) && dests_has(&out, D(2)));
    cr_assert_eq(route_n(e, "warn", NOARGS, &out), 1);
    cr_assert_eq(out.v[0], D(3));
    cr_assert_eq(route_n(e, "", NOARGS, &out), 1, "empty key is a key like any other");
    cr_assert_eq(out.v[0], D(4));
    cr_assert_eq(route_n(e, "Info", NOARGS, &out), 0, "case sensitive");
    cr_assert_eq(route_n(e, "info.x", NOARGS, &out), 0, "no wildcards");
    cr_assert_eq(route_n(e, "anything", NOARGS, &out), 0, "# is literal");
    cr_assert_eq(route_n(e, "#", NOARGS, &out), 1);
    cr_assert_eq(exch_unbind(e, D(1), B_("info"), NOARGS), 1);
    cr_assert_eq(route_n(e, "info", NOARGS, &out), 1);
    cr_assert_eq(out.v[0], D(2));
    cr_assert_eq(exch_unbind(e, D(2), B_("info"), NOARGS), 1);
    cr_assert_eq(route_n(e, "info", NOARGS, &out), 0);
    cr_assert_eq(exch_binding_count(e), 3);
    /* rebinding after the bucket was freed works */
    cr_assert_eq(exch_bind(e, D(2), B_("info"), NOARGS), 1);
    cr_assert_eq(route_n(e, "info", NOARGS, &out), 1);
    exch_dests_destroy(&out);
    exch_free(&e);
}

Test(direct, binary_keys) {
    exch *e = exch_new(EXCH_DIRECT);
    exch_dests out;
    exch_dests_init(&out);
    const uint8_t k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'}, k3[] = {'a'};
    amq_bytes b1 = {k1, 3}, b2 = {k2, 3}, b3 = {k3, 1};
    cr_assert_eq(exch_bind(e, D(1), b1, NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(2), b2, NOARGS), 1);
    exch_route(e, b1, NOARGS, &out);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.v[0], D(1));
    exch_dests_clear(&out);
    exch_route(e, b3, NOARGS, &out);
    cr_assert_eq(out.n, 0, "prefix before NUL is not the key");
    exch_dests_destroy(&out);
    exch_free(&e);
}

Test(direct, same_dest_many_keys_and_args) {
    exch *e = exch_new(EXCH_DIRECT);
    exch_dests out;
    exch_dests_init(&out);
    tb a = {0};
    tb_S(&a, "x-foo", "1");
    cr_assert_eq(exch_bind(e, D(1), B_("k"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(1), B_("k"), tb_bytes(&a)), 1, "other args: another binding");
    cr_assert_eq(route_n(e, "k", NOARGS, &out), 1, "one destination, listed once");
    cr_assert_eq(exch_unbind(e, D(1), B_("k"), NOARGS), 1);
    cr_assert_eq(route_n(e, "k", NOARGS, &out), 1, "still bound by the other binding");
    cr_assert_eq(exch_unbind(e, D(1), B_("k"), tb_bytes(&a)), 1);
    cr_assert_eq(route_n(e, "k", NOARGS, &out), 0);
    cr_assert_eq(exch_binding_count(e), 0);
    exch_dests_destroy(&out);
    exch_free(&e);
}

Test(direct, route_appends_and_dedups_across_calls) {
    exch *e1 = exch_new(EXCH_DIRECT), *e2 = exch_new(EXCH_FANOUT);
    exch_dests out;
    exch_dests_init(&out);
    exch_bind(e1, D(1), B_("k"), NOARGS);
    exch_bind(e2, D(1), B_(""), NOARGS);
    exch_bind(e2, D(2), B_(""), NOARGS);
    exch_route(e1, B_("k"), NOARGS, &out);
    exch_route(e2, B_("k"), NOARGS, &out);
    cr_assert_eq(out.n, 2, "D1 reached through both exchanges counts once");
    exch_dests_destroy(&out);
    exch_free(&e1);
    exch_free(&e2);
}

Test(fanout, routes_every_dest_once) {
    exch *e = exch_new(EXCH_FANOUT);
    exch_dests out;
    exch_dests_init(&out);
    cr_assert_eq(route_n(e, "x", NOARGS, &out), 0, "no bindings");
    cr_assert_eq(exch_bind(e, D(1), B_(""), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(1), B_("other"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(2), B_("any"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(2), B_("any"), NOARGS), 0);
    cr_assert_eq(route_n(e, "whatever", NOARGS, &out), 2);
    cr_assert_eq(route_n(e, "", NOARGS, &out), 2);
    cr_assert_eq(exch_unbind(e, D(1), B_(""), NOARGS), 1);
    cr_assert_eq(route_n(e, "", NOARGS, &out), 2, "D1 still has a binding");
    cr_assert_eq(exch_unbind(e, D(1), B_("other"), NOARGS), 1);
    cr_assert_eq(route_n(e, "", NOARGS, &out), 1);
    cr_assert_eq(out.v[0], D(2));
    cr_assert_eq(exch_unbind(e, D(2), B_("nope"), NOARGS), 0);
    cr_assert_eq(exch_binding_count(e), 1);
    exch_dests_destroy(&out);
    exch_free(&e);
}

Test(fanout, thousands_of_dests) {
    exch *e = exch_new(EXCH_FANOUT);
    exch_dests out;
    exch_dests_init(&out);
    enum { N = 5000 };
    for (int i = 0; i < N; i++) {
        cr_assert_eq(exch_bind(e, D(i), B_("a"), NOARGS), 1);
        cr_assert_eq(exch_bind(e, D(i), B_("b"), NOARGS), 1);
    }
    cr_assert_eq(exch_binding_count(e), 2 * N);
    cr_assert_eq(route_n(e, "", NOARGS, &out), N);
    for (int i = 0; i < N; i++) cr_assert_eq(exch_dests_add(&out, D(i)), 0, "each dest present");
    for (int i = 0; i < N; i += 2) cr_assert_eq(exch_unbind_dest(e, D(i)), 2);
    cr_assert_eq(route_n(e, "", NOARGS, &out), N / 2);
    for (int i = 1; i < N; i += 2) cr_assert(exch_dests_add(&out, D(i)) == 0);
    exch_dests_destroy(&out);
    exch_free(&e);
}
