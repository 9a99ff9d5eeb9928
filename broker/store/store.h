/* store.h — what the broker keeps on disk, and how it comes back.
 *
 * The durable log (persistence/, wlog.h) holds, as records:
 *   - persistent messages routed to durable queues: one record per message,
 *     however many durable queues it reached (it lists their ids);
 *   - persistent messages that can expire carry their enqueue time (and own
 *     TTL) so their expiry counts from the enqueue after a restart;
 *   - per-queue events: ack (also reject/nack without requeue and no-ack
 *     delivery), first delivery, purge, a quorum queue's return (count, place);
 *   - definition changes: durable exchanges, queues (non-exclusive) and
 *     bindings between durable ends, each naming its vhost (format 2; format-1
 *     records without a vhost name are read as vhost "/"); users, vhosts and
 *     permissions. Queue ids are global across vhosts.
 * A snapshot file (wdefs) holds the definitions as of a log position S;
 * replay applies definition records at positions >= S on top of it. Keeping
 * definition changes in the same log as messages orders them for free: a
 * message's confirm implies its queue's declaration is durable too.
 *
 * Confirms wait for the log: a persistent message's confirm (and tx.commit-ok)
 * is sent only once wlog_durable() has passed its record.
 *
 * Threads: the append functions may be called from any worker (they never do
 * I/O); store_open/store_close from main only. When no data dir is in use
 * (store not opened) every function is a no-op. */
#ifndef WARREN_STORE_H
#define WARREN_STORE_H
#include <stdbool.h>
#include <stdint.h>

#include "amq/buf.h"
#include "message.h"

struct queue;
struct exchange;
struct vhost;

/* Open the log under data_dir/, recover definitions and messages into the
 * vhost table, write a fresh snapshot, reclaim dead segments. 0 or -1 (logged). */
int store_open(const char *data_dir);
/* Sync, write a final snapshot, close. */
void store_close(void);
bool store_active(void);

/* Definitions (call with the vhost write-locked; appends only). */
void store_exchange_declared(struct vhost *v, const struct exchange *x);
void store_exchange_deleted(struct vhost *v, amq_bytes name);
/* Assigns q->qid when q is durable and not exclusive. */
void store_queue_declared(struct vhost *v, struct queue *q);
void store_queue_deleted(struct vhost *v, struct queue *q);
void store_binding(struct vhost *v, amq_bytes src, bool dest_is_queue, amq_bytes dest, amq_bytes key,
                   amq_bytes args, bool add);

/* Users, vhosts and permissions (access.c and vhost.c call these; appends only). */
void store_user_put(const char *name, int algo, const char *hash_b64, const char *tags);
void store_user_deleted(const char *name);
void store_vhost_added(const char *name);
void store_vhost_deleted(const char *name);
void store_perm_set(const char *user, const char *vhost, const char *conf, const char *write, const char *read);
void store_perm_clear(const char *user, const char *vhost);
/* After store_open: did the data dir already hold users and vhosts (format 2)?
 * If not, the broker seeds the default user and vhost (first boot). */
bool store_initialised(void);
/* Called by store_open, once recovery is done, when the data dir held no
 * users or vhosts yet (first boot): the broker seeds its defaults there. */
void store_set_first_boot(void (*seed)(void));

/* Messages. store_message: if m is persistent and any of qs is durable, append
 * its record, set m->pos and count one liveness per durable queue. Returns
 * the position the confirm must wait for (0 = nothing to wait for). */
uint64_t store_message(msg *m, struct queue *const *qs, size_t n);
/* The message left durable queue q for good (ack, drop, purge, no-ack delivery). */
void store_ack(struct queue *q, msg *m);
/* A quorum queue q took m back (m->returns times now; back: at its back, as
 * for a client's requeue), so its x-delivery-count and place survive a restart. */
void store_returned(struct queue *q, msg *m, bool back);
/* First delivery of m from durable queue q (so recovery can set redelivered). */
void store_delivered(struct queue *q, msg *m);
/* A queue's ready messages were dropped by purge (each was counted with store_dropped). */
void store_purged(struct queue *q);
/* Liveness only: one durable reference to m went away without its own record
 * (purge, queue deletion). */
void store_dropped(struct queue *q, msg *m);

/* True if the record at pos was in a batch the log could not make durable. */
bool store_lost(uint64_t pos);
/* store_ack for a message held as a lazy position. */
void store_ack_pos(struct queue *q, uint64_t pos);
/* Liveness only, for a message held as a lazy position. */
void store_dropped_pos(struct queue *q, uint64_t pos);
/* Read a message back from the log (a lazy queue entry at delivery). NULL if
 * the record cannot be read. Any thread; does I/O (pread or page cache). */
msg *store_load(uint64_t pos);
/* Turn a possibly lazy reference into a real one (loads; NULL on failure). */
msg *store_materialize(msg *m);
/* Block until everything appended so far is on disk (the control socket
 * answers a change only then). Never on a worker thread. 0, or -1 if a
 * record was lost. */
int store_sync(void);
/* Delayed messages (delayed.c): a persistent message held by a durable
 * x-delayed-message exchange until fire (wall-clock ms). Returns its position
 * (what the confirm waits for), 0 on failure. */
uint64_t store_delayed(const char *vhost, msg *m, uint64_t fire);
/* It fired (was routed): the record is dead. */
void store_delayed_done(uint64_t pos);
/* Read it back; its vhost name into vhost. NULL if unreadable. */
msg *store_load_delayed(uint64_t pos, char *vhost, size_t vhostn);
/* Highest durable log position; a record at p is durable when p < this. */
uint64_t store_durable(void);
/* Called (any thread) when durability advances or fails; set by the broker. */
void store_set_listener(void (*durable)(uint64_t pos), void (*failed)(uint64_t from, uint64_t to));
#endif
