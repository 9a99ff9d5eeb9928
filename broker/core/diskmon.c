/* diskmon.c — the disk_free_limit thread: once a second, the data dir's
 * free space against the limit, raising or clearing the disk alarm. */
#include "diskmon.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "util.h"

static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool stopping, running;
static char dir[512];
static int64_t limit;
static _Atomic int64_t last_free = -1;

int64_t diskmon_free(void) { return atomic_load(&last_free); }

static void check(void) {
    struct statvfs fs;
    if (statvfs(dir, &fs)) return; /* keep the last state */
    int64_t free_b = (int64_t)fs.f_bavail * (int64_t)fs.f_frsize;
    atomic_store(&last_free, free_b);
    bool low = free_b < limit;
    if (low == disk_alarm_on()) return;
    if (low)
        log_warn("disk alarm: free disk space %lld bytes in %s is under disk_free_limit %lld: publishers are blocked",
                 (long long)free_b, dir, (long long)limit);
    else
        log_info("disk alarm cleared: free disk space %lld bytes is over disk_free_limit %lld", (long long)free_b,
                 (long long)limit);
    disk_alarm_set(low);
}

static void *run(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!stopping) {
        pthread_mutex_unlock(&mu);
        check();
        pthread_mutex_lock(&mu);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 1;
        while (!stopping && pthread_cond_timedwait(&cv, &mu, &dl) == 0) {}
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int diskmon_start(const char *d, int64_t lim) {
    snprintf(dir, sizeof dir, "%s", d);
    limit = lim;
    check(); /* the alarm is right from the first connection */
    if (pthread_create(&thread, NULL, run, NULL)) return -1;
    running = true;
    return 0;
}

void diskmon_stop(void) {
    if (!running) return;
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    running = false;
}
