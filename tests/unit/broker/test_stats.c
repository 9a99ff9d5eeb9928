/* core/stats.c: per-worker counter blocks summed when read. Threads that own
 * a slot (as workers do) write with plain relaxed stores and must never lose
 * an increment; threads without one share slot 0 (atomic adds). */
#include <criterion/criterion.h>
#include <pthread.h>

#include "stats.h"

#define PER_THREAD 200000

static stat_set set;

static void *as_worker(void *arg) {
    stats_set_thread_slot((int)(intptr_t)arg);
    for (int i = 0; i < PER_THREAD; i++) {
        stat_add(&set, STAT_PUBLISH, 1);
        stat_add(&set, STAT_RECV_OCT, 3);
    }
    return NULL;
}

static void *as_other(void *arg) {
    (void)arg; /* no slot: slot 0, shared with every other such thread */
    for (int i = 0; i < PER_THREAD; i++) stat_add(&set, STAT_ACK, 1);
    return NULL;
}

Test(stats, worker_blocks_and_shared_slot_sum_exactly) {
    stat_set_init(&set);
    pthread_t t[8];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, as_worker, (void *)(intptr_t)i);
    for (int i = 4; i < 8; i++) pthread_create(&t[i], NULL, as_other, NULL);
    uint64_t mid[STAT_N] = {0};
    stat_set_sum(&set, mid); /* while they run: never more than the total */
    cr_assert_leq(mid[STAT_PUBLISH], 4ull * PER_THREAD);
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    uint64_t sum[STAT_N] = {0};
    stat_set_sum(&set, sum);
    cr_assert_eq(sum[STAT_PUBLISH], 4ull * PER_THREAD);
    cr_assert_eq(sum[STAT_RECV_OCT], 12ull * PER_THREAD);
    cr_assert_eq(sum[STAT_ACK], 4ull * PER_THREAD);
    cr_assert_eq(sum[STAT_DELIVER], 0);
    stat_set_free(&set);
}

Test(stats, a_slot_beyond_the_workers_falls_back_to_the_shared_one) {
    stats_set_thread_slot(STAT_SLOTS + 3);
    cr_assert_eq(stats_tslot, 0);
    stats_set_thread_slot(0);
    cr_assert_eq(stats_tslot, 1);
    stats_set_thread_slot(-1);
    cr_assert_eq(stats_tslot, 0);
}

Test(stats, an_uninitialised_set_counts_nothing_and_does_not_crash) {
    stat_set none = {0};
    stat_add(&none, STAT_PUBLISH, 1);
    uint64_t sum[STAT_N] = {0};
    stat_set_sum(&none, sum);
    cr_assert_eq(sum[STAT_PUBLISH], 0);
}

Test(stats, blocks_sit_on_cache_lines_of_their_own) {
    cr_assert_eq(sizeof(stat_block) % 64, 0);
    cr_assert_eq(_Alignof(stat_block), 64);
}
