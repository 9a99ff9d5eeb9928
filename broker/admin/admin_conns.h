/* admin_conns.h — the admin side's view of AMQP connections, shared by the
 * control socket (warrenctl list_connections / close_connection) and the
 * management API (GET /api/connections, DELETE /api/connections/NAME).
 *
 * Connections belong to their worker threads: a listing or a close runs on
 * every worker through worker_call (a job each) and the caller waits for the
 * answers (5 s at most). Rows are plain data filled on the workers, so no
 * JSON object is ever shared between threads. Never call from a worker. */
#ifndef WARREN_ADMIN_CONNS_H
#define WARREN_ADMIN_CONNS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct admin_conn_row {
    uint64_t id;
    char name[200]; /* RabbitMQ's connection name: "PEER -> LOCAL" ("127.0.0.1:5400 -> 127.0.0.1:5672") */
    char user[256];
    char vhost[256];
    char host[80]; /* the peer's address, without brackets */
    int port;      /* the peer's port */
    const char *state; /* a string constant: starting, tuning, opening, running, blocked, closing */
    uint32_t nchans;
    bool tls;
} admin_conn_row;

/* Every open connection: *rows (malloc'd, caller frees) and *n. 0, or -1 if a
 * worker did not answer in time. */
int admin_list_connections(admin_conn_row **rows, size_t *n);

/* Close the connection with that id (id != 0) or that name (name != NULL)
 * with 320 CONNECTION_FORCED - reason. Returns how many were closed (0: none
 * found), or -1 if a worker did not answer in time. */
int admin_close_connection(uint64_t id, const char *name, const char *reason);
#endif
