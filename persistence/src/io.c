/* io.c — the only file that talks to the kernel. The wlog_io table holds
 * every call on log data (tests replace it to inject faults); the helpers
 * here loop over short reads/writes and turn errno into -errno. Directory
 * creation and listing are the only calls outside the table (they never
 * touch log data). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"

static int io_open(const char *path, int flags, mode_t mode) { return open(path, flags, mode); }
static ssize_t io_pwrite(int fd, const void *buf, size_t n, off_t off) { return pwrite(fd, buf, n, off); }
static ssize_t io_pread(int fd, void *buf, size_t n, off_t off) { return pread(fd, buf, n, off); }
static int io_fdatasync(int fd) { return fdatasync(fd); }
/* Mode 0: allocates and extends; EOPNOTSUPP on file systems without it. */
static int io_fallocate(int fd, off_t off, off_t len) { return fallocate(fd, 0, off, len); }
static int io_ftruncate(int fd, off_t len) { return ftruncate(fd, len); }
static int io_close(int fd) { return close(fd); }
static int io_unlink(const char *path) { return unlink(path); }
static int io_rename(const char *from, const char *to) { return rename(from, to); }

static int io_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

const wlog_io wlog_io_libc = {
    .open = io_open,
    .pwrite = io_pwrite,
    .pread = io_pread,
    .fdatasync = io_fdatasync,
    .fallocate = io_fallocate,
    .ftruncate = io_ftruncate,
    .close = io_close,
    .unlink = io_unlink,
    .rename = io_rename,
    .fsync_dir = io_fsync_dir,
};

static int io_errno(void) { return errno ? -errno : -EIO; }

int wlog_io_write_all(const wlog_io *io, int fd, const void *buf, size_t n, uint64_t off) {
    const uint8_t *p = buf;
    while (n > 0) {
        errno = 0;
        ssize_t w = io->pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return io_errno();
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

ssize_t wlog_io_read_full(const wlog_io *io, int fd, void *buf, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
        errno = 0;
        ssize_t r = io->pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return io_errno();
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int wlog_io_zero(const wlog_io *io, int fd, uint64_t off, uint64_t n) {
    static const uint8_t zeros[65536];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        int rc = wlog_io_write_all(io, fd, zeros, k, off);
        if (rc)
            return rc;
        off += k;
        n -= k;
    }
    return 0;
}

int wlog_io_prealloc(const wlog_io *io, int fd, uint64_t size) {
    errno = 0;
    if (io->fallocate(fd, 0, (off_t)size) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
        return io_errno();
    errno = 0;
    return io->ftruncate(fd, (off_t)size) == 0 ? 0 : io_errno();
}

int wlog_io_cut(const wlog_io *io, int fd, uint64_t off, uint64_t size) {
    errno = 0;
    if (io->ftruncate(fd, (off_t)off) != 0)
        return io_errno();
    int rc = wlog_io_prealloc(io, fd, size);
    if (rc)
        return rc;
    errno = 0;
    return io->fdatasync(fd) == 0 ? 0 : io_errno();
}

int wlog_io_mkdir(const char *dir) {
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return 0;
    return io_errno();
}

static int io_parse_name(const char *name, uint32_t *num) {
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(name[i] - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    if (strcmp(name + 20, ".seg") != 0)
        return -1;
    *num = (uint32_t)v;
    return 0;
}

static int io_cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int wlog_io_list(const char *dir, uint32_t **out, size_t *n) {
    DIR *d = opendir(dir);
    if (!d)
        return io_errno();
    uint32_t *v = NULL;
    size_t len = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint32_t num;
        size_t nl = strlen(e->d_name);
        if ((nl == 32 && !strcmp(e->d_name + 20, ".seg.compact")) || (nl == 28 && !strcmp(e->d_name + 20, ".idx.tmp"))) {
            char p[PATH_MAX]; /* left by a compaction or an index write cut short */
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
            continue;
        }
        if (nl != 24 || io_parse_name(e->d_name, &num) != 0)
            continue;
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
        }
        v[len++] = num;
    }
    closedir(d);
    if (len)
        qsort(v, len, sizeof *v, io_cmp_u32);
    *out = v;
    *n = len;
    return 0;
}

void wlog_seg_path(char *out, size_t cap, const char *dir, uint32_t num) {
    snprintf(out, cap, "%s/%020" PRIu32 ".seg", dir, num);
}

int wlog_errno_to_err(int neg_errno) { return neg_errno == 0 ? WLOG_OK : WLOG_EIO; }
