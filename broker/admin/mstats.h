/* mstats.h — message statistics as the management plane shows them: the
 * counters the hot path keeps (core/stats.h, queue and exchange counters)
 * gathered off the workers, a sampler thread that turns them into rates, and
 * RabbitMQ's message_stats JSON objects.
 *
 * The sampler (its own thread, never a worker) wakes every 5 s (RabbitMQ's
 * collect_statistics_interval), sums the node's counters into a history of
 * the last 10 minutes (the UI's charts, /api/overview's samples), and keeps,
 * per vhost, queue, exchange, connection and channel, the values of its last
 * two samples in maps of its own (entries of objects gone are dropped at the
 * next sample, so the maps are as big as what exists); `_details.rate` is
 * their difference over the interval. Connections and channels are read on
 * their workers (one worker_call per worker per sample). */
#ifndef WARREN_MSTATS_H
#define WARREN_MSTATS_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

#define MSTATS_INTERVAL_MS 5000
#define MSTATS_HISTORY 120 /* samples: 10 minutes */

/* One queue's numbers, copied under its vhost's shared lock. */
typedef struct mq_row {
    const char *vhost; /* vhosts live until exit */
    char name[256];
    uint32_t ready, unacked, consumers;
    uint64_t st[QST_N];
} mq_row;
/* Every queue of every vhost; *rows malloc'd (caller frees). */
size_t mstats_queues(mq_row **rows);
/* Node totals: counters (out[STAT_N], zeroed first) and gauges. */
void mstats_global(uint64_t *out);
typedef struct mstats_gauges {
    uint64_t queues, ready, unacked, consumers;
} mstats_gauges;
void mstats_queue_totals(mstats_gauges *g);

/* The object kinds message_stats is built for. */
enum mstats_kind { MS_OVERVIEW, MS_VHOST, MS_QUEUE, MS_EXCHANGE, MS_CHANNEL, MS_CONNECTION };

/* Start / stop the sampler thread (main.c). */
int mstats_start(void);
void mstats_stop(void);
/* The number of samples taken so far (changes every interval while the sampler runs). */
uint64_t mstats_generation(void);
/* Take one sample now (tests; the thread calls it every interval). */
void mstats_sample_now(void);

/* RabbitMQ's message_stats object (a new reference) for:
 *  overview / vhost (name): publish, publish_in, publish_out, confirm, deliver, deliver_no_ack, get,
 *    get_no_ack, get_empty, deliver_get, redeliver, ack, return_unroutable, drop_unroutable;
 *  queue (vhost, name): publish, deliver, deliver_no_ack, get, get_no_ack, get_empty, deliver_get,
 *    redeliver, ack;
 *  exchange (vhost, name): publish_in, publish_out;
 *  channel (id = conn id << 16 | channel number; vhost, name unused): publish, confirm, deliver..., ack, return/drop_unroutable;
 * each with its `_details: {rate}` from the sampler's last two samples (0.0 before two).
 * The current counters are passed in (counts, in the kind's enum: STAT_*, QST_*,
 * XST_*, CHST_*) so the object reflects the moment of the request. */
json_t *mstats_message_stats(enum mstats_kind kind, const char *vhost, const char *name, uint64_t id,
                             const uint64_t *counts);
/* A connection's recv_oct/send_oct/recv_cnt/send_cnt and their _details,
 * added to obj. */
void mstats_conn_octets(json_t *obj, uint64_t conn_id, uint64_t recv_oct, uint64_t recv_cnt, uint64_t send_oct,
                        uint64_t send_cnt);
/* The rate of one of a vhost's or the node's counters (vhost NULL). */
double mstats_rate(const char *vhost, enum stat_ctr c);
/* Queue totals for /api/overview: {messages, messages_details, messages_ready, ...} (walks every queue). */
json_t *mstats_queue_totals_json(void);
/* Their messages/messages_ready/messages_unacknowledged _details rates only, from the
 * sampler's history (no walk), added to obj. */
void mstats_queue_totals_details(json_t *obj);
/* A queue's messages/messages_ready/messages_unacknowledged _details rates,
 * added to obj. */
void mstats_queue_depth_details(json_t *obj, const char *vhost, const char *name);
/* /api/overview's history: for age_s seconds at incr_s steps, the samples of
 * the message rates (msg_rates), the queue lengths (lengths) or the churn rates:
 * {"publish_details": {"rate":..,"samples":[{"sample":n,"timestamp":ms},...], "avg":..,"avg_rate":..}} */
enum mstats_hist { MSTATS_H_RATES, MSTATS_H_LENGTHS, MSTATS_H_CHURN };
void mstats_history(json_t *obj, enum mstats_hist which, long age_s, long incr_s);
/* A vhost's messages/messages_ready/messages_unacknowledged _details rates, added to obj. */
void mstats_vhost_depth_details(json_t *obj, const char *vhost);
#endif
