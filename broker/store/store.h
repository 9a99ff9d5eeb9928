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
 *     records without a vhost name are read as vhost "/"); users, vhosts,
 *     permissions, policies and operator policies. Queue ids are global
 *     across vhosts.
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

/* The appends and reads the model and the protocol use (store_message,
 * store_ack, store_queue_declared, ...) are the model's port, model/durable.h:
 * this layer implements them (store.c) and installs them with durable_install
 * as store_open begins. What they record is described above. */

/* Open the log under data_dir/, recover definitions and messages into the
 * vhost table, write a fresh snapshot, reclaim dead segments. 0 or -1 (logged). */
int store_open(const char *data_dir);
/* Sync, write a final snapshot, close. */
void store_close(void);
/* After store_open: did the data dir already hold users and vhosts (format 2)?
 * If not, the broker seeds the default user and vhost (first boot). */
bool store_initialised(void);
/* Called by store_open, once recovery is done, when the data dir held no
 * users or vhosts yet (first boot): the broker seeds its defaults there. */
void store_set_first_boot(void (*seed)(void));
/* Block until everything appended so far is on disk (the control socket
 * answers a change only then). Never on a worker thread. 0, or -1 if a
 * record was lost. */
int store_sync(void);
/* Called (any thread) when durability advances or fails; set by the broker. */
void store_set_listener(void (*durable)(uint64_t pos), void (*failed)(uint64_t from, uint64_t to));
#endif
