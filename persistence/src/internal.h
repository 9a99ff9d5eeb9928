/* internal.h — shared by the persistence sources; not installed. The log
 * object, batches, segments, the recovery scanner and the io helpers. */
#ifndef WLOG_INTERNAL_H
#define WLOG_INTERNAL_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "wlog/wlog.h"

#define WLOG_MAGIC "WRNLOG\0\0"
#define WDEFS_MAGIC "WRNDEFS\0"
#define WIDX_MAGIC "WRNIDX\0\0"
#define WIDX_VERSION 1u
/* Index (summary) entry: off u32 | len u32 | refs u16 | type u8 | summary[len] */
#define WIDX_ENTRY_HEAD 11u
#define WLOG_VERSION 1u
#define WLOG_DEFAULT_SEGMENT (64u << 20)
#define WLOG_MIN_SEGMENT 4096u
#define WLOG_MAX_SEGMENT (1u << 30)
/* A length with this bit set is a skip marker: the log wrote it over a batch
 * that failed, so recovery jumps the whole hole (length & ~bit bytes from the
 * marker's offset) instead of parsing it. The crc field holds the crc32c of
 * the 4 length bytes. Records never reach 2^30 bytes, so the bit is free. */
#define WLOG_MARKER_BIT 0x80000000u
#define WLOG_MARKER_SIZE 8u

typedef void (*wlog_log_fn)(void *ctx, int level, const char *msg);

/* A segment's index entries in memory: a list of 64 KiB chunks (fixed-size
 * blocks the allocator reuses, rather than one buffer realloc'd per segment,
 * which fragments the heap a deep queue's position blocks live in). */
typedef struct wlog_sumchunk {
    struct wlog_sumchunk *next;
    size_t len, cap;
    uint32_t n; /* entries in it */
    uint8_t data[];
} wlog_sumchunk;
typedef struct {
    wlog_sumchunk *head, *tail;
    size_t len;     /* bytes in all chunks */
    uint32_t count; /* entries */
} wlog_sum;

/* ---- format.c: little-endian framing ---- */
void wlog_put32(uint8_t *p, uint32_t v);
uint32_t wlog_get32(const uint8_t *p);
/* Header for a segment (magic WLOG_MAGIC) or the definitions file. */
void wlog_header_encode(uint8_t out[WLOG_HEADER_SIZE], const char *magic, uint32_t num);
/* 0 valid, 1 all zero (never written), -1 wrong (magic, version or number). */
int wlog_header_check(const uint8_t h[WLOG_HEADER_SIZE], const char *magic, uint32_t num);
/* crc32c of type + payload gathered from iov. */
uint32_t wlog_record_crc(uint8_t type, const struct iovec *iov, int iovcnt);
/* Total payload bytes of iov, or SIZE_MAX when negative/overflowing. */
size_t wlog_iov_len(const struct iovec *iov, int iovcnt);
/* Writes the 9-byte record head (length, crc, type). */
void wlog_record_head(uint8_t out[WLOG_RECORD_OVERHEAD], uint32_t len, uint32_t crc, uint8_t type);
void wlog_marker_encode(uint8_t out[WLOG_MARKER_SIZE], uint32_t hole);
/* Hole size of a valid marker at p, or 0 if p is not one. */
uint32_t wlog_marker_check(const uint8_t p[WLOG_MARKER_SIZE]);
/* printf-style line to the log hook (stderr when fn is NULL). */
void wlog_logf(wlog_log_fn fn, void *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- io.c: every system call ---- */
/* Full pwrite (loops on short writes). 0 or -errno. */
int wlog_io_write_all(const wlog_io *io, int fd, const void *buf, size_t n, uint64_t off);
/* Reads up to n bytes (short only at EOF). Bytes read, or -errno. */
ssize_t wlog_io_read_full(const wlog_io *io, int fd, void *buf, size_t n, uint64_t off);
/* Writes n zero bytes at off. 0 or -errno. */
int wlog_io_zero(const wlog_io *io, int fd, uint64_t off, uint64_t n);
/* Makes the file size bytes long, allocated: fallocate, or ftruncate when
 * the file system does not support it. 0 or -errno. */
int wlog_io_prealloc(const wlog_io *io, int fd, uint64_t size);
/* Cuts the file at off and preallocates it to size again (zeros after off),
 * then fdatasyncs. 0 or -errno. */
int wlog_io_cut(const wlog_io *io, int fd, uint64_t off, uint64_t size);
/* mkdir -p of one level (EEXIST is fine). 0 or -errno. */
int wlog_io_mkdir(const char *dir);
/* Sorted segment numbers of dir (names of 20 digits + ".seg"). *out is
 * malloc'd (caller frees). 0 or -errno. */
int wlog_io_list(const char *dir, uint32_t **out, size_t *n);
/* "<dir>/<20 digits>.seg" into out (cap bytes). */
void wlog_seg_path(char *out, size_t cap, const char *dir, uint32_t num);
int wlog_errno_to_err(int neg_errno);

/* ---- scan.c: reading and validating records from a file ---- */
typedef struct {
    const wlog_io *io;
    int fd;
    uint8_t *buf;
    size_t cap;
    uint64_t bstart; /* file offset of buf[0] */
    size_t blen;
    int err; /* -errno of a failed read */
} wlog_reader;
void wlog_reader_init(wlog_reader *r, const wlog_io *io, int fd);
void wlog_reader_destroy(wlog_reader *r);
/* Pointer to the bytes at off; *got = how many of the n wanted exist (fewer
 * only at EOF). NULL with r->err set when the read failed. */
const uint8_t *wlog_reader_get(wlog_reader *r, uint64_t off, size_t n, size_t *got);

typedef struct {
    const char *path;   /* for log lines */
    uint32_t num;       /* segment number for positions */
    bool last;          /* last segment: a bad tail is an ordinary torn write */
    uint32_t max_len;   /* largest valid record length field */
    wlog_replay_fn fn;  /* may be NULL */
    void *fn_ctx;
    wlog_log_fn log;
    void *log_ctx;
    /* results */
    uint64_t end;       /* offset after the last good record/marker */
    bool dirty;         /* bytes after end must be cut (torn tail) */
    uint64_t records;
} wlog_walk;
/* Walks records from start. Returns 0, the replay callback's non-zero
 * value, or WLOG_EIO when a read failed. */
int wlog_walk_records(wlog_reader *r, uint64_t start, wlog_walk *w);

/* ---- the log (log.c, syncer.c) ---- */
typedef struct wlog_seg wlog_seg;
/* The part of a batch that goes to one segment (a batch spans several when
 * the tail rolled while it filled). */
typedef struct {
    wlog_seg *s;       /* stable: not reclaimable while at or after done */
    uint32_t seg, off; /* file position of the span */
    size_t boff, len;  /* bytes in the batch buffer */
} wlog_span;

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    wlog_span *spans;
    int nspans, capspans;
    wlog_pos from, to;
} wlog_batch;

struct wlog_seg {
    uint32_t num;
    int fd;         /* -1 when not open */
    bool created;   /* the file exists on disk */
    int pins;       /* users outside the mutex; not deleted while > 0 */
    int64_t live;
    /* Failed range not yet covered by a durable skip marker (0 = none).
     * Touched by the syncer only. */
    uint32_t hole_from, hole_to;
    /* ---- index and compaction (summary.c, compact.c); under mu ---- */
    uint32_t end;          /* offset after its last record, once sealed (0 = head or unknown) */
    wlog_sum sum;          /* index entries not yet written to <num>.idx */
    /* Entries of a big head summary already appended to <num>.idx.tmp by the
     * maintenance thread (spill_fd valid when spilled). */
    bool spilled;
    int spill_fd;
    uint64_t spill_len;
    uint32_t spill_count, spill_crc;
    uint64_t checked_ms;   /* last compaction check caused only by another segment's change */
    bool indexed;          /* <num>.idx is on disk and describes the file */
    bool noindex;          /* never indexed (a batch failed in it, or no memory): recovery walks it */
    uint32_t *dead;        /* one offset per reference that died (wlog_live -1, wlog_dead) */
    size_t ndead, capdead, dead_base; /* dead_base: ndead after the last compaction */
    uint32_t *kept;        /* after a compaction: sorted offsets of the records kept */
    size_t nkept;
    bool compacted, compacting;
    /* Being deleted (or its deletion may not be durable): still in the table,
     * so wlog_present/wlog_first still count it, but wlog_read says ENOENT. */
    bool deleting;
    bool undeletable;      /* unlink failed: never tried again (in order: blocks reclaim) */
    uint64_t gen_seen;     /* l->gen when it was last compacted */
};

struct wlog {
    char *dir;
    const wlog_io *io;
    wlog_opts opts;
    uint32_t segsize;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* syncer waits here */
    pthread_cond_t done_cv; /* wlog_sync waits here */
    pthread_t syncer;
    bool syncer_started;
    /* everything below under mu */
    wlog_seg **segs; /* sorted by num; last = head */
    int nsegs, capsegs;
    uint32_t tail_seg, tail_off;
    bool force_roll;
    wlog_batch b[2];
    wlog_batch *active, *inflight;
    wlog_pos durable, done;
    uint64_t fail_seq, fail_reported; /* failures so far / seen by wlog_sync */
    wlog_pos first_unreported_fail;   /* from of the oldest unreported failure */
    bool closing, reclaim_armed, reclaim_wanted, syncer_idle;
    int unlinking; /* deletions in progress (wlog_seg_delete); done_cv is broadcast when one ends */
    /* maintenance (compact.c): index files and compaction */
    pthread_t maint;
    bool maint_started, maint_wanted;
    pthread_cond_t maint_cv;
    pthread_mutex_t maint_mu; /* one maintenance pass at a time */
    uint64_t gen;             /* bumped when a compaction removed referenced records */
    uint32_t cur_seg;         /* segment being compacted (0 = none) and ... */
    const uint32_t *cur_kept; /* ... the sorted offsets it keeps */
    size_t cur_nkept;
};

/* log.c helpers used by the syncer (mu held unless said otherwise) */
wlog_seg *wlog_seg_find(wlog *l, uint32_t num);
wlog_seg *wlog_seg_add(wlog *l, uint32_t num);
void wlog_seg_remove(wlog *l, wlog_seg *s);
/* Opens the file of s if it has none (mu NOT held; s pinned). 0 or -errno. */
int wlog_seg_open_fd(wlog *l, wlog_seg *s);
/* Creates, preallocates and heads a new segment file (mu NOT held; s pinned). */
int wlog_seg_create(wlog *l, wlog_seg *s);
void wlog_batch_clear(wlog_batch *b);
void wlog_batch_destroy(wlog_batch *b);
/* Deletes every deletable segment (mu held; drops it while unlinking). */
int wlog_reclaim_locked(wlog *l);
/* Deletes the files of s (pins 0, mu held; dropped meanwhile). s stays in the
 * table, marked deleting, until the unlink is durable (directory synced), so
 * nothing that relies on it being gone (a compaction dropping the acks of its
 * messages) can reach the disk first. true: deleted and removed; false: kept
 * (unlink failed: undeletable; directory sync failed: a deleting tombstone). */
bool wlog_seg_delete(wlog *l, wlog_seg *s, const char *why);

/* summary.c: index entries and <num>.idx files */
/* Appends one entry to s's in-memory summary (mu held, or before the
 * syncer runs). 0 or -ENOMEM. */
int wlog_sum_add(wlog_sum *s, uint32_t off, uint8_t type, uint32_t refs, const struct iovec *iov, int iovcnt,
                 size_t slen);
void wlog_sum_free(wlog_sum *s);
/* Summary length and refs of a record by the opts.summarize hook (the whole
 * payload when there is none). head = first contiguous payload bytes. */
size_t wlog_sum_len(const wlog *l, uint8_t type, const void *head, size_t headlen, size_t len, uint32_t *refs);
void wlog_idx_path(char *out, size_t cap, const char *dir, uint32_t num);
/* Removes <num>.idx if there is one (errors ignored: at worst a segment is walked). */
void wlog_idx_unlink(wlog *l, uint32_t num);
/* Writes <num>.idx from entries (count of them, in nv pieces) via a temp file
 * and rename; durable = fdatasync the file before the rename. 0 or -errno. */
int wlog_idx_write(wlog *l, uint32_t num, uint32_t end, const struct iovec *v, int nv, uint32_t count, bool durable);
/* The same from a summary. */
int wlog_idx_write_sum(wlog *l, uint32_t num, uint32_t end, const wlog_sum *s, bool durable);
/* Spilling a head segment's summary as it grows: append entries to
 * <num>.idx.tmp; finish = append the rest, write the header, rename;
 * abort = close and remove the temp file. 0 or -errno. */
int wlog_idx_spill(wlog *l, wlog_seg *seg, const wlog_sum *part);
int wlog_idx_spill_finish(wlog *l, wlog_seg *seg, const wlog_sum *rest, uint32_t end);
void wlog_idx_spill_abort(wlog *l, wlog_seg *seg);
/* Reads and validates <num>.idx: *entries malloc'd (caller frees). 0, 1 when
 * there is no file, -1 when it is invalid (logged by the caller). */
int wlog_idx_read(wlog *l, uint32_t num, uint8_t **entries, size_t *n, uint32_t *count, uint32_t *end);
/* Walks entries: calls fn for each; stops on its non-zero return. */
typedef int (*wlog_idx_fn)(void *ctx, uint32_t off, uint8_t type, uint32_t refs, const uint8_t *p, uint32_t len);
int wlog_idx_each(const uint8_t *entries, size_t n, wlog_idx_fn fn, void *ctx);
void wlog_seg_free_state(wlog_seg *s);

/* compact.c */
void *wlog_maint_main(void *arg);
/* Writes the index of every sealed, fully durable segment that has none. */
void wlog_write_indexes(wlog *l);
/* Notes one dead reference at off (mu held). */
void wlog_dead_locked(wlog *l, wlog_seg *s, uint32_t off, int n);

/* recover.c: scans dir, replays, sets the head (before the syncer runs). */
int wlog_recover(wlog *l, wlog_replay_fn fn, void *ctx);

/* syncer.c */
void *wlog_syncer_main(void *arg);
#endif
