/* conn.h — one AMQP connection: socket I/O, the handshake, frame dispatch to
 * channels, heartbeats and close. A connection lives on one worker thread for
 * its whole life; everything here runs on that thread unless noted. */
#ifndef WARREN_CONN_H
#define WARREN_CONN_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "amq/buf.h"
#include "worker.h"

struct channel;
struct vhost;
struct transport;
struct access_grant;
struct consumer;

enum conn_state {
    CONN_AWAIT_HEADER,
    CONN_AWAIT_START_OK,
    CONN_AWAIT_TUNE_OK,
    CONN_AWAIT_OPEN,
    CONN_OPEN,
    CONN_CLOSING,     /* we sent connection.close; waiting for close-ok */
    CONN_LINGER,      /* close-ok sent: discard input until the peer closes (or 3 s) */
    CONN_FLUSH_CLOSE, /* write what is queued, then close the socket */
    CONN_DEAD,
};

#define CONN_OUT_HIGH (1u << 20)  /* stop reading / stop delivering above */
#define CONN_OUT_LOW (256u << 10) /* resume below */

typedef struct conn {
    int fd;
    const struct transport *tr; /* plain TCP or TLS (transport.h) */
    void *tr_state;
    worker *w;
    uint64_t id;
    enum conn_state state;
    char peer[80];
    char trace_name[176]; /* "PEER -> LOCAL", filled when first traced (trace.c) */
    bool peer_loopback;
    uint8_t *in;
    size_t in_len, in_cap;
    size_t in_next; /* offset in `in` just past the frame being handled */
    amq_wr out;
    atomic_bool throttled; /* out over CONN_OUT_HIGH: queues skip our consumers */
    bool reading_paused, want_out;
    bool rdhup_seen; /* the peer shut its side while we were not reading */
    bool eof_drain;  /* the peer left while blocked: read what it sent, then close */
    uint32_t frame_max;
    uint16_t channel_max;
    uint16_t heartbeat;
    uint64_t created_ms, last_recv_ms, last_send_ms;
    uint64_t timer_due; /* the worker's timer for this connection (heartbeats) */
    size_t timer_idx;   /* its slot in the worker's timer heap, SIZE_MAX: none */
    struct vhost *vh;
    char user[256];
    struct access_grant *grant; /* user's permissions on vh (NULL: none) */
    uint64_t grant_gen;         /* access_generation() it was taken at */
    char wcache[256];           /* last exchange publish was allowed on */
    int wcache_len;             /* -1: none */
    uint64_t wcache_gen;
    uint64_t auth_fail_at; /* failed login: the refusal is sent 1 s later */
    char auth_fail_text[160];
    uint8_t *client_props; /* start-ok's client_properties table as sent (management API), NULL = none */
    uint32_t client_props_len;
    bool cap_cancel_notify;
    bool cap_blocked; /* client understands connection.blocked */
    bool published;   /* has published: blocked when memory runs over the limit */
    bool mem_blocked; /* not read from until memory is back under the limit */
    /* Not read from while this direct reply-to consumer's connection is over
     * its output limit (reply_to.h); reference held. */
    struct consumer *reply_wait;
    size_t out_acct;        /* bytes of out counted in mem_used() */
    struct channel **chans; /* open channels, sorted by id (few per connection) */
    uint32_t nchans, capchans;
    struct channel *dirty;    /* channels with confirms to send */
    struct conn *prev, *next; /* worker's list */
    struct conn *flush_next;
    bool in_flush_list;
    uint64_t recv_oct, recv_cnt, send_oct, send_cnt; /* socket bytes and calls (stats.h), owner only */
} conn;

/* Take over an accepted socket on worker w (the current thread's); tls: it
 * came from the TLS listener. */
conn *conn_new(worker *w, int fd, bool tls);
/* Socket events: conn_on_events takes epoll's mask (EPOLLOUT aside). */
void conn_on_events(conn *c, uint32_t events);
void conn_on_readable(conn *c);
void conn_on_writable(conn *c);
/* Write out what is buffered; called by the worker at the end of a pass. */
void conn_flush(conn *c);
/* 1 s tick: handshake, close and login-delay timeouts. */
void conn_tick(conn *c, uint64_t now);
/* The connection's timer (wconns_timer) fired: send a heartbeat after
 * heartbeat/2 of send-idleness, as RabbitMQ does, and close the connection
 * after 2 x heartbeat without input. Returns the next due time or 0. */
uint64_t conn_timer(conn *c, uint64_t now);
/* Broker shutdown: connection.close 320 CONNECTION_FORCED. */
void conn_shutdown(conn *c);
/* Release everything; the fd is closed. */
void conn_free(conn *c);
/* Raise a connection exception: send connection.close and ignore the rest. */
void conn_error(conn *c, uint16_t code, uint32_t method_id, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A channel has confirms to emit at the end of this read batch. */
void conn_mark_dirty(conn *c, struct channel *ch);
/* Output grew: schedule a flush and update throttling. */
void conn_output_added(conn *c);
bool conn_is_open(const conn *c);
/* Memory is back under the limit: send connection.unblocked, read again. */
void conn_unblock(conn *c);
/* reply_wait was just cleared: read again unless something else holds us. */
void conn_reply_resume(conn *c);
/* May this connection's user do kind (PERM_*) on resource type rtype
 * ("queue"/"exchange") named name? 0, or 403 with RabbitMQ's text in text. */
int conn_check_perm(conn *c, int kind, const char *rtype, amq_bytes name, char *text, size_t cap);
/* While a content header on channel ch is handled: how many body bytes for
 * ch (at most want) follow it in the input already received. */
uint64_t conn_body_ahead(conn *c, uint16_t ch, uint64_t want);
/* Open channels by id (binary search); remove forgets one (caller frees it). */
struct channel *conn_channel(conn *c, uint16_t id);
void conn_channel_remove(conn *c, uint16_t id);
#endif
