/* test_scale.c — 100k direct and 100k topic bindings: routing must stay
 * correct (timings are printed for information, never asserted). */
#include <stdio.h>
#include <time.h>
#include "helpers.h"

TestSuite(scale, .fini = leak_check);

enum { N = 100000 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

Test(scale, direct_100k, .timeout = 120) {
    exch *e = exch_new(EXCH_DIRECT);
    exch_dests out;
    exch_dests_init(&out);
    char key[32];
    double t0 = now();
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "queue.%d", i);
        cr_assert_eq(exch_bind(e, D(i), B_(key), NOARGS), 1);
    }
    /* 10 more dests on one hot key */
    for (int i = 0; i < 10; i++) cr_assert_eq(exch_bind(e, D(N + i), B_("hot"), NOARGS), 1);
    double t1 = now();
    cr_assert_eq(exch_binding_count(e), N + 10);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "queue.%d", i);
        cr_assert_eq(route_n(e, key, NOARGS, &out), 1, "%s", key);
        cr_assert_eq(out.v[0], D(i));
    }
    double t2 = now();
    cr_assert_eq(route_n(e, "hot", NOARGS, &out), 10);
    cr_assert_eq(route_n(e, "queue.100000", NOARGS, &out), 0);
    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof key, "queue.%d", i);
        cr_assert_eq(exch_unbind(e, D(i), B_(key), NOARGS), 1);
    }
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "queue.%d", i);
        cr_assert_eq(route_n(e, key, NOARGS, &out), (size_t)(i % 2));
    }
    printf("direct: bind %d in %.3fs, route %d in %.3fs\n", N, t1 - t0, N, t2 - t1);
    exch_dests_destroy(&out);
    exch_free(&e);
}

Test(scale, topic_100k, .timeout = 120) {
    exch *e = exch_new(EXCH_TOPIC);
    exch_dests out;
    exch_dests_init(&out);
    char key[64];
    double t0 = now();
    /* binding i: "r<i%1000>.<i/1000>.*" -> D(i), plus a few wildcards */
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "r%d.%d.*", i % 1000, i / 1000);
        cr_assert_eq(exch_bind(e, D(i), B_(key), NOARGS), 1);
    }
    cr_assert_eq(exch_bind(e, D(N), B_("#"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(N + 1), B_("r7.#"), NOARGS), 1);
    cr_assert_eq(exch_bind(e, D(N + 2), B_("*.42.x"), NOARGS), 1);
    double t1 = now();
    for (int i = 0; i < N; i++) {
        int r = i % 1000, s = i / 1000;
        snprintf(key, sizeof key, "r%d.%d.x", r, s);
        size_t want = 2 + (r == 7) + (s == 42);
        cr_assert_eq(route_n(e, key, NOARGS, &out), want, "%s", key);
        cr_assert(dests_has(&out, D(i)) && dests_has(&out, D(N)));
    }
    double t2 = now();
    cr_assert_eq(route_n(e, "r7.1", NOARGS, &out), 2, "# and r7.#: r7.1.* needs 3 words");
    cr_assert_eq(route_n(e, "r7.1.x.y", NOARGS, &out), 2);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "r%d.%d.*", i % 1000, i / 1000);
        cr_assert_eq(exch_unbind(e, D(i), B_(key), NOARGS), 1);
    }
    cr_assert_eq(exch_binding_count(e), 3);
    cr_assert_eq(route_n(e, "r7.42.x", NOARGS, &out), 3);
    printf("topic: bind %d in %.3fs, route %d in %.3fs\n", N, t1 - t0, N, t2 - t1);
    exch_dests_destroy(&out);
    exch_free(&e);
}
