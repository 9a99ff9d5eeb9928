/* wlog/wlog.h — Warren's append-only log. It knows bytes, not AMQP: records
 * are (type, payload) with a length and a CRC32C, in preallocated segment
 * files under one directory; the broker gives the types their meaning.
 *
 *   segment file  <dir>/NNNNNNNNNNNNNNNNNNNN.seg  (segment number, 20 digits)
 *   file header   magic "WRNLOG\0\0" (8) | version u32 | segment number u32 | reserved (16) = 32 bytes
 *   record        length u32 (of type+payload) | crc32c u32 (of type+payload) | type u8 | payload
 *   all integers little-endian; a length of 0 marks the unwritten (preallocated) tail.
 *   skip marker   length u32 with bit 31 set (low bits = size of the hole in bytes,
 *                 marker included) | crc32c of those 4 length bytes: written by the
 *                 log over the range of a batch that failed, so that later records
 *                 in the segment stay reachable; recovery jumps over it.
 *
 * A record's position (wlog_pos) is (segment number << 32) | byte offset of
 * its length field; positions only grow, so they also order records.
 *
 * Threads: wlog_append* may be called from any thread at once; they copy the
 * record into the in-memory batch under a short mutex and never do I/O. One
 * syncer thread owned by the log writes each batch with pwrite and makes it
 * durable with one fdatasync (group commit: a sync serves everything appended
 * while the previous one ran; no timer delay when idle), then calls the
 * notify callback with the new durable position. */
#ifndef WLOG_WLOG_H
#define WLOG_WLOG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef uint64_t wlog_pos; /* 0 is never a valid position */
#define WLOG_POS(seg, off) (((uint64_t)(seg) << 32) | (uint32_t)(off))
#define WLOG_SEG(pos) ((uint32_t)((pos) >> 32))
#define WLOG_OFF(pos) ((uint32_t)(pos))
#define WLOG_HEADER_SIZE 32
#define WLOG_RECORD_OVERHEAD 9 /* length + crc + type */

enum {
    WLOG_OK = 0,
    WLOG_EIO = -1,      /* a write, sync or read failed (errno kept in the log) */
    WLOG_ECORRUPT = -2, /* bad header or checksum */
    WLOG_ETOOBIG = -3,  /* record larger than a segment */
    WLOG_ENOENT = -4,   /* no such record */
    WLOG_ECLOSED = -5,
};
const char *wlog_strerror(int err);

/* Every system call the log makes goes through this table, so tests can
 * fail the Nth write or fsync (fault injection). Defaults call libc. */
typedef struct wlog_io {
    int (*open)(const char *path, int flags, mode_t mode);
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
    int (*fdatasync)(int fd);
    int (*fallocate)(int fd, off_t off, off_t len);
    int (*ftruncate)(int fd, off_t len);
    int (*close)(int fd);
    int (*unlink)(const char *path);
    int (*rename)(const char *from, const char *to);
    int (*fsync_dir)(const char *dir);
} wlog_io;
extern const wlog_io wlog_io_libc;

typedef struct wlog wlog;

typedef struct {
    uint32_t segment_size; /* bytes per segment file, default 64 MiB (clamped to 4 KiB .. 1 GiB) */
    const wlog_io *io;     /* NULL = wlog_io_libc */
    /* Called by the syncer thread after each successful sync with the new
     * durable position (every record at a lower position is on disk). */
    void (*on_durable)(void *ctx, wlog_pos durable);
    /* Called by the syncer thread when a batch could not be made durable:
     * records in [from, to) are lost (not on disk). The log truncates back
     * and keeps working; later appends are tried again. */
    void (*on_failed)(void *ctx, wlog_pos from, wlog_pos to, int err);
    void *ctx;
    /* Logging hook for recovery findings (torn tail truncated at file:offset,
     * bad record skipped ...). NULL = stderr. */
    void (*log)(void *ctx, int level, const char *msg); /* level 0 error, 1 warning, 2 info */
    /* Reclaim only from the oldest end: a dead segment is deleted only when
     * every older segment is gone too. Set it when records cancel older ones
     * (an ack of a message stored earlier) and are not themselves counted
     * live: otherwise the segment holding the ack can be deleted while the
     * message's segment stays, and the message comes back on replay. */
    bool reclaim_in_order;
    /* Index files and compaction (both off when summarize is NULL).
     * summarize: for a record, how many leading payload bytes recovery needs
     * (its "summary"; the rest, a message body say, is never read at start-up)
     * and, in *refs, how many references it holds (what wlog_append_live adds
     * to the live count for it; each later wlog_live(pos, -1) or wlog_dead is
     * one of them dying). head is the first headlen contiguous payload bytes,
     * len the whole payload. When a segment is sealed (the head moved on and
     * it is all durable) its summaries go to <num>.idx; recovery replays a
     * sealed segment from its index when it is valid, so the replay callback
     * then sees only the summary as the payload. */
    size_t (*summarize)(void *ctx, uint8_t type, const void *head, size_t headlen, size_t len, uint32_t *refs);
    /* Compaction of a sealed segment: a record with refs > 0 is dropped once
     * that many references died; one with refs == 0 (an ack, say) is asked
     * about here: 1 keep, 0 drop (NULL: keep). Called from the maintenance
     * thread without log locks; it may call wlog_present / wlog_first. */
    int (*keep)(void *ctx, wlog *l, wlog_pos pos, uint8_t type, const void *summary, size_t len);
    /* Maintenance thread period in ms (index files, compaction): 0 = 1000,
     * < 0 = no thread (call wlog_maintain). */
    int maint_interval_ms;
    /* Recovery reads every segment whole (checksums of every record), using
     * no index; indexes are still written. */
    bool ignore_indexes;
    /* Called at the start of every maintenance pass, from the maintenance
     * thread, no log lock held (the broker snapshots its definitions there). */
    void (*on_maintain)(void *ctx, wlog *l);
} wlog_opts;

/* Replay callback: every valid record in position order. payload is only
 * valid during the call. Return 0 to go on, non-zero to stop with that error. */
typedef int (*wlog_replay_fn)(void *ctx, wlog_pos pos, uint8_t type, const void *payload, size_t len);

/* Open or create the log in dir (created if missing). Recovery: every segment
 * is validated; a torn tail (partial record, bad checksum at the end, garbage
 * after the last good record) is truncated with a log line naming file and
 * offset; a bad record in the middle of a segment followed by good ones is
 * skipped with a loud log line; never crashes on a damaged log. replay (may
 * be NULL) sees every surviving record. Appends continue after the last good
 * record. Starts the syncer thread. Returns 0 or an error. */
int wlog_open(const char *dir, const wlog_opts *opts, wlog_replay_fn replay, void *replay_ctx, wlog **out);

/* Append one record; returns its position (> 0), or 0 if the record cannot
 * fit a segment (payload > segment_size - 41: WLOG_ETOOBIG), memory ran out
 * or the log is closed. Any thread; no I/O, no allocation once the batch
 * buffers are warm. The payload is copied. */
wlog_pos wlog_append(wlog *l, uint8_t type, const void *payload, size_t len);
/* Same with the payload gathered from iov. */
wlog_pos wlog_appendv(wlog *l, uint8_t type, const struct iovec *iov, int iovcnt);
/* Same as wlog_append/wlog_appendv, and adds live to the record's segment
 * live count atomically with the append (see wlog_live): use it for records
 * that must survive reclaim, otherwise a segment can become dead between the
 * append returning and a separate wlog_live(+1). */
wlog_pos wlog_append_live(wlog *l, uint8_t type, const void *payload, size_t len, int live);
wlog_pos wlog_appendv_live(wlog *l, uint8_t type, const struct iovec *iov, int iovcnt, int live);
/* Highest position made durable so far (records below it are synced, except
 * those already reported to on_failed). */
wlog_pos wlog_durable(wlog *l);
/* Position the next append will get unless it rolls to a new segment
 * (everything below is appended). */
wlog_pos wlog_tail(wlog *l);
/* Block until everything appended before the call is durable (or failed);
 * returns 0, or WLOG_EIO when some record appended before the call was lost
 * (on_failed) since the previous wlog_sync that returned WLOG_EIO. For
 * shutdown and tests; never on a worker's hot path, never from
 * on_durable/on_failed (deadlock). */
int wlog_sync(wlog *l);

/* Read a record back. Copies at most cap bytes of payload into buf and sets
 * *len to the full payload length and *type. Any thread (pread). Records still
 * in the unwritten batch are served from memory. Returns 0, WLOG_ENOENT (no
 * record there: never appended, failed, or its segment was deleted),
 * WLOG_ECORRUPT (pos is not a record start or the data is damaged),
 * WLOG_EIO or WLOG_ECLOSED. An older segment's fd is opened on its first read
 * and kept until the segment is deleted: at most one fd per segment file. */
int wlog_read(wlog *l, wlog_pos pos, uint8_t *type, void *buf, size_t cap, size_t *len);

/* Liveness for reclaiming space: the broker counts, per record, whether it
 * still matters (delta +1 when it starts to, -1 when it stops). A segment
 * that is not the current head and whose live count reaches zero is deleted
 * (at the next sync pass). Counts start at zero for every segment after
 * wlog_open: the broker re-adds what its replay kept. Any thread. */
void wlog_live(wlog *l, wlog_pos pos, int delta);
/* Delete every non-head segment whose live count is zero now (called once
 * after replay; later the syncer does it). The syncer deletes nothing before
 * the first wlog_reclaim call, so counts can be re-added after wlog_open
 * without a race. Returns how many files were deleted. */
int wlog_reclaim(wlog *l);
/* A reference to the record at pos that died while the log was closed
 * (found by the broker's replay: an acked message): counts for compaction
 * like wlog_live(pos, -1) but leaves the live count alone. Any thread. */
void wlog_dead(wlog *l, wlog_pos pos);
/* Whether the record at pos may still be on disk: false once its segment is
 * deleted or a compaction dropped it. For keep callbacks. */
bool wlog_present(wlog *l, wlog_pos pos);
/* Whether a record with references may still be on disk in pos's segment
 * before pos (during its compaction: one that is being kept). */
bool wlog_kept_before(wlog *l, wlog_pos pos);
/* Position of the oldest segment's first record (0 when there is none). */
wlog_pos wlog_first(wlog *l);
/* One maintenance pass (the thread runs it every maint_interval_ms, and
 * soon after a segment is sealed): writes the index of every sealed segment
 * that has none, then compacts sealed segments at least half of whose
 * references died (and dead ones whose acks may have become unneeded): the
 * records kept stay at their offsets, every gap becomes a skip marker and is
 * not allocated (sparse file), the file and its index are replaced
 * atomically (rename); a segment left with nothing is deleted, in any order.
 * Returns the number of segments compacted or deleted, or a WLOG_E* error. */
int wlog_maintain(wlog *l);

/* Number of segment files currently on disk. */
int wlog_segment_count(wlog *l);

/* Sync what is pending, stop the syncer, close files. NULL-safe; *l = NULL. */
void wlog_close(wlog **l);

/* CRC32C (Castagnoli), hardware-accelerated where the CPU has it. crc is
 * the value of the previous chunk (0 to start): crc(a+b) = crc(crc(a), b). */
uint32_t wlog_crc32c(uint32_t crc, const void *buf, size_t n);
/* The table (slicing-by-8) implementation, for tests. */
uint32_t wlog_crc32c_sw(uint32_t crc, const void *buf, size_t n);
/* True when wlog_crc32c uses the SSE4.2 instruction. */
bool wlog_crc32c_hw(void);

/* Record framing, for tests and tools. encode: writes the record to out
 * (cap bytes); returns its size (WLOG_RECORD_OVERHEAD + len) or 0 if cap is
 * too small. decode: the record at the start of buf (n bytes); returns its
 * total size (> 0) with *type, *payload (points into buf) and *len set, 0 for
 * a zero length (end of data), WLOG_ENOENT if n is shorter than the record,
 * WLOG_ECORRUPT for a bad length or checksum. */
size_t wlog_record_encode(void *out, size_t cap, uint8_t type, const void *payload, size_t len);
int wlog_record_decode(const void *buf, size_t n, uint8_t *type, const void **payload, size_t *len);

/* ---- definitions file: small, rewritten whole ----
 * Exchanges, queues, bindings (later users, vhosts) live in <dir>/definitions,
 * a file of the same record framing. wdefs_append writes and fdatasyncs one
 * record before returning (declarations are rare; their -ok replies wait for
 * it). wdefs_rewrite replaces the file with a compact snapshot: write a temp
 * file, fsync it, rename over, fsync the directory. The file starts with a
 * 32-byte header like a segment's (magic "WRNDEFS\0", number 0); replay
 * positions are WLOG_POS(0, offset). io NULL = wlog_io_libc. All calls return
 * 0 or a WLOG_E* error; a failed append leaves no trace in the file. wdefs_*
 * may be called from any thread (one mutex); log lines go to stderr. A bad
 * header makes wdefs_open fail with WLOG_ECORRUPT (never silently). */
typedef struct wdefs wdefs;
int wdefs_open(const char *dir, const wlog_io *io, wlog_replay_fn replay, void *ctx, wdefs **out);
int wdefs_append(wdefs *d, uint8_t type, const void *payload, size_t len);
/* emit is called with a writer; it calls wdefs_emit for each snapshot record. */
typedef struct wdefs_writer wdefs_writer;
int wdefs_rewrite(wdefs *d, int (*emit)(void *ctx, wdefs_writer *w), void *ctx);
int wdefs_emit(wdefs_writer *w, uint8_t type, const void *payload, size_t len);
void wdefs_close(wdefs **d);
#endif
