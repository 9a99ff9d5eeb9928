/* conn_info.h — connections, channels and consumers as plain data, taken
 * from the worker threads that own them (a worker job on each; the caller
 * waits, the workers never do), and closing a connection by id. Shared by
 * the control socket (warrenctl) and the management HTTP API. No jansson
 * object crosses a thread: workers fill these structs, the caller builds JSON. */
#ifndef WARREN_CONN_INFO_H
#define WARREN_CONN_INFO_H
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "stats.h"

typedef struct ci_conn {
    uint64_t id;
    char user[256];
    char vhost[256];
    char peer_host[64]; /* "127.0.0.1", "::1" (an IPv4-mapped address as IPv4) */
    int peer_port;
    char host[64]; /* the local address the client reached */
    int port;
    char name[160];    /* RabbitMQ's "PEERHOST:PEERPORT -> HOST:PORT" */
    const char *state; /* a string constant: starting, tuning, opening, running, blocked, closing */
    uint32_t nchans, channel_max, frame_max;
    uint16_t heartbeat;
    bool tls;
    uint64_t connected_at;                           /* wall-clock ms */
    uint64_t recv_oct, recv_cnt, send_oct, send_cnt; /* socket bytes and calls (stats.h) */
    uint8_t *client_props; /* a copy of its client_properties table (owned by the snapshot), NULL = none */
    size_t client_props_len;
} ci_conn;

typedef struct ci_chan {
    size_t conn; /* index in ci_snapshot.conns */
    uint16_t number;
    uint32_t prefetch, global_prefetch, consumers, unacked, unconfirmed;
    bool confirm, tx, closing;
    uint64_t st[CHST_N]; /* message_stats counters (stats.h) */
} ci_chan;

typedef struct ci_cons {
    size_t chan; /* index in ci_snapshot.chans */
    char tag[256];
    char queue[256];
    char vhost[256];
    bool ack_required, exclusive;
    uint32_t prefetch;
    int32_t priority;
} ci_cons;

typedef struct ci_snapshot {
    ci_conn *conns;
    size_t nconns;
    ci_chan *chans;
    size_t nchans;
    ci_cons *cons;
    size_t ncons;
} ci_snapshot;

enum { CI_CHANNELS = 1, CI_CONSUMERS = 2, CI_CLIENT_PROPS = 4 };
/* Every worker's connections (and their channels / consumers if asked for),
 * in a consistent view per worker. 0, or -1 if a worker did not answer in
 * 5 s (s is then empty). */
int ci_snapshot_take(ci_snapshot *s, unsigned what);
void ci_snapshot_free(ci_snapshot *s);
/* Close connection id with 320 CONNECTION_FORCED and reason. true if found
 * (and not already closing). */
bool ci_close(uint64_t id, const char *reason);
#endif
