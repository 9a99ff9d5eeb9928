/* wconns.h — what a worker's loop does with AMQP connections: the hooks the
 * protocol layer registers with core/worker.c at boot. Per worker: its
 * connections, their millisecond timers (heartbeats, an intrusive min-heap),
 * the connections to flush at the end of the pass, the channels waiting for
 * the durable log, and the mail that is about consumers (deliver, cancel,
 * kick). Everything runs on the worker's thread unless noted. */
#ifndef WARREN_WCONNS_H
#define WARREN_WCONNS_H
#include <stdint.h>

#include "worker.h"

struct conn;
struct channel;

/* Register the hooks and give each of the n workers its state (main thread,
 * after workers_create, before worker_start). */
void wconns_install(void);
/* A connection wants its output flushed at the end of this pass. */
void wconns_want_flush(worker *w, struct conn *c);
/* Channels of this worker waiting for the durable log (owner thread). */
void wconns_wait_add(worker *w, struct channel *ch);
void wconns_wait_del(worker *w, struct channel *ch);
/* A connection of w became memory-blocked (+1) or stopped being (-1). */
void wconns_blocked(worker *w, int delta);
/* Per-connection timer with millisecond resolution (heartbeats): the worker
 * calls conn_timer(c, now) at or after `due` (owner thread only; one timer
 * per connection, re-arming moves it; due 0 disarms). conn_timer returns the
 * next due time, or 0 for none. A connection's timer goes with it. */
void wconns_timer(worker *w, struct conn *c, uint64_t due);
/* The connections of w (owner thread only, e.g. inside a worker_call). */
struct conn *wconns_list(worker *w);
/* The durable log advanced (or failed): wake every worker with waiting channels. Any thread. */
void wconns_log_progress(void);
#endif
