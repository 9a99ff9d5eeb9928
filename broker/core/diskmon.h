/* diskmon.h — disk_free_limit: a thread that checks the free space of the
 * data dir's filesystem once a second and raises the disk alarm (util.h)
 * while it is under the limit; publishing connections are then blocked
 * exactly as for the memory limit (connection.blocked "low on disk"). */
#ifndef WARREN_DISKMON_H
#define WARREN_DISKMON_H
#include <stdint.h>

/* Start watching dir (limit in bytes; 0 = never alarm). 0 or -1. */
int diskmon_start(const char *dir, int64_t limit);
void diskmon_stop(void);
/* Free bytes at the last check, -1 if unknown. */
int64_t diskmon_free(void);
#endif
