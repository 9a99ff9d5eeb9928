/* Unit tests for broker/core/strmap.c. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "strmap.h"

Test(strmap, put_get_del_many) {
    strmap m;
    strmap_init(&m);
    char k[32];
    for (long i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "key-%ld", i);
        cr_assert_null(strmap_put(&m, amq_cstr(k), (void *)(i + 1)));
    }
    for (long i = 0; i < 5000; i += 2) {
        snprintf(k, sizeof k, "key-%ld", i);
        cr_assert_eq(strmap_del(&m, amq_cstr(k)), (void *)(i + 1));
    }
    for (long i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "key-%ld", i);
        void *v = strmap_get(&m, amq_cstr(k));
        if (i % 2) cr_assert_eq(v, (void *)(i + 1));
        else cr_assert_null(v);
    }
    size_t it = 0, n = 0;
    while (strmap_next(&m, &it, NULL)) n++;
    cr_assert_eq(n, 2500);
    cr_assert_null(strmap_get(&m, amq_cstr("")));
    strmap_put(&m, amq_cstr(""), (void *)7);
    cr_assert_eq(strmap_get(&m, amq_cstr("")), (void *)7, "the empty key is a key");
    strmap_destroy(&m);
}
