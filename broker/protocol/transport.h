/* transport.h — how a connection moves bytes: plain TCP or TLS behind one
 * small vtable, so conn.c reads, writes and closes without knowing which.
 * Every function runs on the connection's worker thread.
 *
 * read/write behave like read(2)/write(2) on a non-blocking socket: > 0 bytes
 * moved, read 0 = the peer closed, -1 with errno (EAGAIN/EINTR: try again when
 * epoll says so; anything else: the connection is dead). A TLS transport runs
 * its handshake inside read and write (non-blocking), so the AMQP layer only
 * ever sees application bytes. */
#ifndef WARREN_TRANSPORT_H
#define WARREN_TRANSPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct conn;

typedef struct transport {
    const char *name; /* "tcp" or "tls" */
    bool secure;      /* TLS: SASL EXTERNAL may be offered */
    ssize_t (*read)(struct conn *c, void *buf, size_t n);
    ssize_t (*write)(struct conn *c, const void *buf, size_t n);
    /* Bytes already taken off the socket but not yet returned by read (TLS
     * records): epoll will not report them, so the reader must drain them. */
    bool (*pending)(struct conn *c);
    /* The transport needs EPOLLOUT although no application output is queued
     * (a TLS handshake or a read blocked on a write). */
    bool (*wants_write)(struct conn *c);
    /* Still in the transport's own handshake (the TLS handshake timeout applies). */
    bool (*handshaking)(struct conn *c);
    /* Name from the peer's verified certificate per ssl_cert_login_from, or
     * NULL when the peer presented none (plain TCP: always NULL). */
    const char *(*peer_cert_name)(struct conn *c);
    /* Release the transport's state and close the fd. */
    void (*close)(struct conn *c);
} transport;

extern const transport transport_tcp;

/* TLS (protocol/tls.c). tls_init builds the server context from config before
 * any worker starts (one clear error line and -1 on a bad certificate, key or
 * CA file); tls_attach turns a freshly accepted connection into a TLS one
 * (the server side of the handshake starts with the first readable event). */
int tls_init(void);
void tls_shutdown(void);
void tls_attach(struct conn *c);
#endif
