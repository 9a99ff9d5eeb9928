/* stats.c — per-worker counter blocks (stats.h). */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

stat_set stats_global;
__thread int stats_tslot;

void stats_set_thread_slot(int worker_id) {
    stats_tslot = worker_id >= 0 && worker_id + 1 < STAT_SLOTS ? worker_id + 1 : 0;
}

void stat_set_init(stat_set *s) {
    if (s->slot) return;
    void *p = NULL;
    if (posix_memalign(&p, 64, STAT_SLOTS * sizeof(stat_block))) p = NULL;
    if (!p) {
        log_err("out of memory");
        abort();
    }
    memset(p, 0, STAT_SLOTS * sizeof(stat_block));
    s->slot = p;
}

void stat_set_free(stat_set *s) {
    free(s->slot);
    s->slot = NULL;
}

void stat_set_sum(const stat_set *s, uint64_t *out) {
    if (!s->slot) return;
    for (int i = 0; i < STAT_SLOTS; i++)
        for (int c = 0; c < STAT_N; c++) out[c] += atomic_load_explicit(&s->slot[i].v[c], memory_order_relaxed);
}
