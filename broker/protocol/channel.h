/* channel.h — an AMQP channel: content assembly, the per-class method
 * handlers (ch_*.c), deliveries, unacked tracking, confirms and tx.
 * Owner thread only (the connection's worker). */
#ifndef WARREN_CHANNEL_H
#define WARREN_CHANNEL_H
#include <stdbool.h>
#include <stdint.h>

#include "amq/methods.h"
#include "conn.h"
#include "err.h"
#include "fifo.h"
#include "message.h"
#include "queue.h"
#include "vhost.h"

enum ch_state { CH_OPEN, CH_CLOSING };
enum ch_content { CC_NONE, CC_HEADER, CC_BODY };

typedef struct unacked {
    uint64_t tag;
    queue *q;    /* reference held */
    msg *m;      /* reference held */
    consumer *c; /* reference held; NULL for basic.get */
    uint64_t seq;
    uint64_t exp;          /* expiry as delivered (kept on requeue) */
    uint64_t delivered_ms; /* for consumer_timeout */
    bool done;             /* acked/rejected out of order: skip */
} unacked;

/* One operation held until tx.commit. */
typedef struct tx_op {
    uint8_t kind; /* TX_PUBLISH, TX_ACK, TX_REJECT */
    bool mandatory, multiple, requeue;
    uint64_t tag;
    msg *m;
} tx_op;

typedef struct channel {
    conn *conn;
    uint16_t id;
    enum ch_state state;
    /* content being assembled */
    enum ch_content cstate;
    bool pub_mandatory;
    uint8_t pub_x_len, pub_rk_len;
    char pub_x[256], pub_rk[256]; /* from basic.publish until the header arrives */
    msg *cur;                     /* its body_len grows to cur_size as frames arrive (msg_grow) */
    uint64_t cur_size;            /* body size announced by the content header */
    amq_basic_props cur_props;    /* decoded once from cur's own copy of the properties */
    /* deliveries */
    uint64_t next_tag;
    fifo ua; /* of unacked, ascending delivery tags (core/fifo.h) */
    size_t ua_live;
    consumer **consumers;
    size_t nconsumers, cap_consumers;
    chan_credit cc;
    uint16_t prefetch; /* basic.qos global=false: applies to new consumers */
    /* publisher confirms and tx.commit-ok waiting for the durable log */
    bool confirm;
    uint64_t pub_seq, confirm_ready, confirm_sent;
    fifo pend;                             /* of struct pend: replies waiting for a log position */
    struct channel *wait_prev, *wait_next; /* worker's list of channels with pend.n > 0 */
    bool waiting;
    struct channel *dirty_next;
    bool dirty;
    /* transactions */
    bool tx;
    tx_op *txops;
    size_t ntx, cap_tx;
    /* the queue last declared on this channel: what an empty queue name
     * means in consume, get, bind, unbind, purge and delete (RabbitMQ's rule) */
    uint8_t last_queue_len;
    char last_queue[255];
    fifo txpos; /* of uint64_t: log positions of the persistent messages of commits awaiting commit-ok */
    /* direct reply-to */
    consumer *reply_consumer;
    char reply_name[64];
    route_set rs;
    uint64_t st[CHST_N]; /* message_stats (stats.h), owner worker only */
    bool publisher;      /* has published (counted in STAT_PUBLISHERS_UP) */
} channel;

/* A reply that waits for the log: a confirm (seq > 0) or tx.commit-ok (seq 0). */
typedef struct pend {
    uint64_t seq, pos; /* pos: wait until the log is durable past it; UINT64_MAX = could not log */
    size_t npos;       /* a commit: its positions, the next npos of the channel's txpos FIFO */
} pend;

/* Method handler result: 0, or an AMQP reply code with its text in a werr
 * (core/err.h). Soft codes close the channel, hard ones the connection. */

channel *channel_new(conn *c, uint16_t id);
/* Free after cancelling consumers and requeueing unacked messages. */
void channel_free(channel *ch);
/* One method frame (already decoded) for this channel. */
void channel_on_method(channel *ch, amq_method *m, uint32_t id);
/* Content header / body frames. Returns 0 or a connection error was raised. */
void channel_on_header(channel *ch, amq_bytes payload);
void channel_on_body(channel *ch, amq_bytes payload);
/* Deliveries arriving from the mailbox. */
void channel_deliver(channel *ch, consumer *cs, queue *q, msg *m, uint64_t seq, uint64_t exp, bool redelivered);
void channel_consumer_cancelled(channel *ch, consumer *cs);
/* Close the channel with this error (channel.close, or connection.close for
 * a hard code), as a failed method would; method_id 0 for none. */
void channel_raise(channel *ch, uint32_t method_id, werr *e);
/* The oldest delivery still waiting for an ack, or NULL. */
const unacked *channel_oldest_unacked(channel *ch);
/* consumer_timeout (consumer_timeout.c): close the channel with 406 when its
 * oldest unacked delivery is older than the configured timeout. Called from
 * the connection's 1 s tick. */
void consumer_timeout_check(channel *ch, uint64_t now);
/* Emit pending publisher confirms (end of a read batch). */
void channel_flush_confirms(channel *ch);

/* Handlers by class: exchange, queue and the rest (channel, confirm, tx) in
 * ch_exchange.c, basic in ch_basic.c.
 * Each returns 0 or fills e and returns its code. */
int ch_exchange_method(channel *ch, amq_method *m, werr *e);
int ch_queue_method(channel *ch, amq_method *m, werr *e);
int ch_basic_method(channel *ch, amq_method *m, werr *e);
int ch_misc_method(channel *ch, amq_method *m, werr *e); /* channel, confirm, tx */

/* Helpers shared by the handlers. */
void ch_send(channel *ch, uint32_t id, const void *fields);
/* An empty queue name stands for the queue last declared on the channel:
 * replaces *name with it, or 404 "no previously declared queue" in e. */
int ch_queue_shortcut(channel *ch, amq_bytes *name, werr *e);
/* Permission check (access.h PERM_*) on a "queue" or "exchange": 0 or 403 in e. */
int ch_perm(channel *ch, int kind, const char *rtype, amq_bytes name, werr *e);
/* Route and enqueue a complete message (publish or tx commit). */
/* *wait gets the log position the confirm must wait for (0 = none). p: the
 * message's decoded properties, or NULL to decode them here. */
int ch_publish_msg(channel *ch, msg *m, const amq_basic_props *p, bool mandatory, uint64_t *wait, werr *e);
/* Send what the durable log now allows (confirms, nacks, commit-ok). */
void channel_advance(channel *ch);
/* Acks: apply now (or hold in tx). */
int ch_ack(channel *ch, uint64_t tag, bool multiple, werr *e);
int ch_reject(channel *ch, uint64_t tag, bool multiple, bool requeue, werr *e);
/* basic.recover requeue=true: every unacked delivery goes back (queue_return). */
void ch_requeue_all(channel *ch);
int ch_tx_commit(channel *ch, werr *e);
/* Track a basic.get delivery awaiting its ack (takes the q and m references). */
void channel_track_get(channel *ch, uint64_t tag, queue *q, msg *m, uint64_t seq, uint64_t exp);
#endif
