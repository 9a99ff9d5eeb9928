/* faultfs.c — an LD_PRELOAD shim that makes the durable log's writes or
 * syncs fail on demand, for fault-injection tests of the whole broker.
 *
 * While the file named by $WARREN_FAULT_CTL exists, its first word selects
 * the failure: "fdatasync" -> fdatasync fails with EIO; "pwrite" -> pwrite
 * fails with ENOSPC; "enospc" -> both fail with ENOSPC. Remove the file and
 * calls go through again. Only descriptors of files under $WARREN_FAULT_DIR
 * are affected (the data dir), so sockets and logs are untouched. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int mode(void) {
    const char *ctl = getenv("WARREN_FAULT_CTL");
    if (!ctl) return 0;
    int fd = open(ctl, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[32] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    if (!strncmp(buf, "fdatasync", 9)) return 1;
    if (!strncmp(buf, "pwrite", 6)) return 2;
    if (!strncmp(buf, "enospc", 6)) return 3;
    return 0;
}

static int in_data_dir(int fd) {
    const char *dir = getenv("WARREN_FAULT_DIR");
    if (!dir) return 0;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    return strncmp(path, dir, strlen(dir)) == 0;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int m = mode();
    if ((m == 1 || m == 3) && in_data_dir(fd)) {
        errno = m == 1 ? EIO : ENOSPC;
        return -1;
    }
    return real(fd);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    int m = mode();
    if ((m == 2 || m == 3) && in_data_dir(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) { return pwrite(fd, buf, n, off); }
