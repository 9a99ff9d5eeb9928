/* delayed.h — the x-delayed-message exchange, as the
 * rabbitmq-delayed-message-exchange plugin defines it: an exchange declared
 * with type "x-delayed-message" and argument x-delayed-type (direct, fanout,
 * topic or headers) routes like that type, but holds a message published with
 * a positive integer x-delay header (ms) and routes it only when the delay is
 * over. Held messages wait in one min-heap; the queue scheduler thread
 * (qsched_arm_fn) fires them, with no lock held while routing.
 *
 * Durability: a persistent message (delivery_mode 2) published to a durable
 * delayed exchange is written to the log (store_delayed) before it is
 * confirmed, and only (fire time, log position) stay in memory: 16 bytes per
 * message, the body is read back when it fires. A fired message gets a done
 * record. After a restart or kill -9 the pending ones are rescheduled; those
 * whose time passed fire at once. Transient messages are held in memory and
 * do not survive a restart. Fire times are wall-clock ms.
 *
 * Threads: any thread may hold/restore; the lock is a leaf. */
#ifndef WARREN_DELAYED_H
#define WARREN_DELAYED_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amq/buf.h"
#include "exch/exchange.h"
#include "message.h"

struct vhost;

bool delayed_is_type(amq_bytes type);
/* Validate a new delayed exchange's arguments: 0 and *inner, or the
 * plugin's error (406, or 503 for an unknown type) with its text in err. */
int delayed_check_args(amq_bytes args, exch_type *inner, char *err, size_t errn);
/* The delay a message asks for: true and *ms when its x-delay header is an
 * integer in 1..2^32-1 (otherwise the plugin routes it at once). */
bool delayed_delay_of(amq_bytes headers, uint64_t *ms);
/* Hold m (takes a reference) published to a delayed exchange of v for delay
 * ms. persist: write it to the log. Returns what the publisher's confirm waits
 * for (0 = nothing, UINT64_MAX = could not be stored: nack). */
uint64_t delayed_hold(struct vhost *v, msg *m, uint64_t delay, bool persist);
/* Recovery (store.c): a logged delayed message at pos, due at fire. */
void delayed_restore(uint64_t fire, uint64_t pos);
/* Messages held now. */
size_t delayed_pending(void);
/* Shutdown (after qsched_stop): free what is held in memory. */
void delayed_stop(void);
#endif
