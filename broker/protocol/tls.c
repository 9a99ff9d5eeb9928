/* tls.c — the TLS transport (OpenSSL) and the plain TCP one; see transport.h.
 *
 * One server SSL_CTX, built before the workers start and read-only after.
 * Each TLS connection has an SSL on its non-blocking socket; the handshake
 * advances inside the transport's read/write whenever epoll reports the
 * socket ready, so a slow or hostile peer only ever costs one non-blocking
 * call per event, never a wait. conn_tick drops connections whose handshake
 * outlives ssl_handshake_timeout. */
#include "transport.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "conn.h"
#include "util.h"

/* ---- plain TCP ---- */

static ssize_t tcp_read(conn *c, void *buf, size_t n) { return read(c->fd, buf, n); }
static ssize_t tcp_write(conn *c, const void *buf, size_t n) { return write(c->fd, buf, n); }
static bool tcp_false(conn *c) {
    (void)c;
    return false;
}
static const char *tcp_cert_name(conn *c) {
    (void)c;
    return NULL;
}
static void tcp_close(conn *c) { close(c->fd); }

const transport transport_tcp = {
    .name = "tcp",
    .secure = false,
    .read = tcp_read,
    .write = tcp_write,
    .pending = tcp_false,
    .wants_write = tcp_false,
    .handshaking = tcp_false,
    .peer_cert_name = tcp_cert_name,
    .close = tcp_close,
};

/* ---- TLS ---- */

typedef struct tls_conn {
    SSL *ssl;
    bool done;       /* handshake complete */
    bool want_write; /* the last operation is blocked on socket writability */
    bool failed;     /* fatal error: no close_notify */
    char *cert_name; /* from the verified peer certificate, or NULL */
} tls_conn;

static SSL_CTX *ctx;

/* First queued OpenSSL error as text (the queue is cleared). */
static const char *ssl_err(char *buf, size_t cap) {
    unsigned long e = ERR_get_error();
    if (!e) snprintf(buf, cap, "unknown error");
    else ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

/* A file the configuration names must be readable: say which and why not. */
static int check_file(const char *key, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "warren: cannot read %s %s: %s\n", key, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

int tls_init(void) {
    char eb[256];
    if (!config.ssl_certfile[0] || !config.ssl_keyfile[0]) {
        fprintf(stderr, "warren: the TLS listener (port %d) needs ssl_options.certfile and ssl_options.keyfile\n",
                config.tls_port);
        return -1;
    }
    if (check_file("ssl_options.certfile", config.ssl_certfile) ||
        check_file("ssl_options.keyfile", config.ssl_keyfile))
        return -1;
    if (config.ssl_cacertfile[0] && check_file("ssl_options.cacertfile", config.ssl_cacertfile)) return -1;
    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        fprintf(stderr, "warren: cannot create the TLS context: %s\n", ssl_err(eb, sizeof eb));
        return -1;
    }
    int lo = TLS1_2_VERSION, hi = TLS1_3_VERSION;
    if (config.ssl_versions) {
        lo = config.ssl_versions & (1u << 2) ? TLS1_2_VERSION : TLS1_3_VERSION;
        hi = config.ssl_versions & (1u << 3) ? TLS1_3_VERSION : TLS1_2_VERSION;
    }
    SSL_CTX_set_min_proto_version(ctx, lo);
    SSL_CTX_set_max_proto_version(ctx, hi);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_num_tickets(ctx, 0); /* no TLS 1.3 session tickets (nor does RabbitMQ by default) */
    static const unsigned char sid_ctx[] = "warren";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, config.ssl_certfile) != 1) {
        fprintf(stderr, "warren: cannot load ssl_options.certfile %s: %s\n", config.ssl_certfile,
                ssl_err(eb, sizeof eb));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, config.ssl_keyfile, SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "warren: cannot load ssl_options.keyfile %s: %s\n", config.ssl_keyfile, ssl_err(eb, sizeof eb));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "warren: ssl_options.keyfile %s does not match ssl_options.certfile %s\n", config.ssl_keyfile,
                config.ssl_certfile);
        goto fail;
    }
    if (config.ssl_cacertfile[0]) {
        if (SSL_CTX_load_verify_locations(ctx, config.ssl_cacertfile, NULL) != 1) {
            fprintf(stderr, "warren: cannot load ssl_options.cacertfile %s: %s\n", config.ssl_cacertfile,
                    ssl_err(eb, sizeof eb));
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(config.ssl_cacertfile);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
        ERR_clear_error();
    }
    /* verify_none: no certificate is requested (as with Erlang's ssl). */
    int mode = SSL_VERIFY_NONE;
    if (config.ssl_verify_peer) {
        mode = SSL_VERIFY_PEER;
        if (config.ssl_fail_if_no_peer_cert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(ctx, mode, NULL);
    if (config.ssl_depth >= 0) SSL_CTX_set_verify_depth(ctx, config.ssl_depth);
    return 0;
fail:
    SSL_CTX_free(ctx);
    ctx = NULL;
    return -1;
}

void tls_shutdown(void) {
    SSL_CTX_free(ctx);
    ctx = NULL;
}

/* The user name a verified certificate stands for: its subject as an RFC 4514
 * string ("CN=alice,O=Example", most specific first) or, with
 * ssl_cert_login_from = common_name, its CN(s) joined by ",". */
static char *cert_name(const conn *c, X509 *cert) {
    X509_NAME *subj = X509_get_subject_name(cert);
    if (!subj) return NULL;
    if (config.ssl_cert_login_cn) {
        char out[1024];
        size_t len = 0;
        out[0] = 0;
        for (int i = -1; (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;) {
            ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
            unsigned char *u = NULL;
            int n = ASN1_STRING_to_UTF8(&u, d);
            if (n < 0) continue;
            /* A NUL would cut the name short ("guest\0.x" logging in as guest), and
             * a name too long for out would be cut too: such a CN names no user. */
            bool bad = memchr(u, 0, (size_t)n) != NULL || len + 1 + (size_t)n >= sizeof out;
            if (!bad) {
                if (len) out[len++] = ',';
                memcpy(out + len, u, (size_t)n);
                out[len += (size_t)n] = 0;
            }
            OPENSSL_free(u);
            if (bad) {
                log_warn(
                    "connection %s: the client certificate's common name holds a NUL or is too long; it names no user",
                    c->peer);
                return NULL;
            }
        }
        return len ? strdup(out) : NULL;
    }
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return NULL;
    unsigned long flags = (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | ASN1_STRFLGS_UTF8_CONVERT;
    char *s = NULL;
    if (X509_NAME_print_ex(b, subj, 0, flags) >= 0) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        if (n > 0) {
            s = xmalloc((size_t)n + 1);
            memcpy(s, p, (size_t)n);
            s[n] = 0;
        }
    }
    BIO_free(b);
    return s;
}

static void handshake_done(conn *c, tls_conn *t) {
    t->done = true;
    X509 *cert = SSL_get0_peer_certificate(t->ssl);
    if (cert && SSL_get_verify_result(t->ssl) == X509_V_OK && config.ssl_verify_peer) t->cert_name = cert_name(c, cert);
    log_debug("connection %s: %s %s, peer certificate %s", c->peer, SSL_get_version(t->ssl),
              SSL_get_cipher_name(t->ssl), t->cert_name ? t->cert_name : "none");
}

/* Advance the handshake: 1 done, 0 in progress (retry on readiness), -1 failed. */
static int handshake(conn *c, tls_conn *t) {
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        handshake_done(c, t);
        return 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return 0;
    if (e == SSL_ERROR_WANT_WRITE) {
        t->want_write = true;
        return 0;
    }
    t->failed = true;
    char eb[256];
    long v = SSL_get_verify_result(t->ssl);
    if (e == SSL_ERROR_SSL && v != X509_V_OK)
        log_warn("TLS handshake with %s failed: client certificate rejected: %s", c->peer,
                 X509_verify_cert_error_string(v));
    else if (e == SSL_ERROR_SSL) log_warn("TLS handshake with %s failed: %s", c->peer, ssl_err(eb, sizeof eb));
    else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0))
        log_warn("TLS handshake with %s failed: the client closed the connection", c->peer);
    else log_warn("TLS handshake with %s failed: %s", c->peer, strerror(errno ? errno : EPROTO));
    ERR_clear_error();
    return -1;
}

/* Map an SSL_read/SSL_write failure to the read(2)/write(2) convention. */
static ssize_t io_fail(tls_conn *t, int r, bool reading) {
    int e = SSL_get_error(t->ssl, r);
    int saved = errno;
    ERR_clear_error();
    switch (e) {
    case SSL_ERROR_WANT_READ: errno = EAGAIN; return -1;
    case SSL_ERROR_WANT_WRITE:
        t->want_write = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN: /* close_notify (or EOF: SSL_OP_IGNORE_UNEXPECTED_EOF) */
        if (reading) return 0;
        errno = EPIPE;
        return -1;
    default:
        t->failed = true;
        errno = e == SSL_ERROR_SYSCALL && saved ? saved : EPROTO;
        return -1;
    }
}

static ssize_t tls_read(conn *c, void *buf, size_t n) {
    tls_conn *t = c->tr_state;
    t->want_write = false;
    if (!t->done) {
        int h = handshake(c, t);
        if (h <= 0) {
            errno = h == 0 ? EAGAIN : ECONNRESET;
            return -1;
        }
    }
    ERR_clear_error();
    int r = SSL_read(t->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    return r > 0 ? r : io_fail(t, r, true);
}

static ssize_t tls_write(conn *c, const void *buf, size_t n) {
    tls_conn *t = c->tr_state;
    t->want_write = false;
    if (!t->done) { /* nothing is queued before the handshake ends, but be safe */
        int h = handshake(c, t);
        if (h <= 0) {
            errno = h == 0 ? EAGAIN : EPIPE;
            return -1;
        }
    }
    ERR_clear_error();
    int r = SSL_write(t->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    return r > 0 ? r : io_fail(t, r, false);
}

static bool tls_pending(conn *c) {
    tls_conn *t = c->tr_state;
    return t->done && !t->failed && SSL_has_pending(t->ssl);
}

static bool tls_wants_write(conn *c) { return ((tls_conn *)c->tr_state)->want_write; }
static bool tls_handshaking(conn *c) { return !((tls_conn *)c->tr_state)->done; }
static const char *tls_cert_name(conn *c) { return ((tls_conn *)c->tr_state)->cert_name; }

static void tls_close(conn *c) {
    tls_conn *t = c->tr_state;
    if (t) {
        if (t->done && !t->failed) {
            ERR_clear_error();
            SSL_shutdown(t->ssl); /* one non-blocking close_notify; no wait for the peer's */
            ERR_clear_error();
        }
        SSL_free(t->ssl);
        free(t->cert_name);
        free(t);
        c->tr_state = NULL;
    }
    close(c->fd);
}

static const transport transport_tls = {
    .name = "tls",
    .secure = true,
    .read = tls_read,
    .write = tls_write,
    .pending = tls_pending,
    .wants_write = tls_wants_write,
    .handshaking = tls_handshaking,
    .peer_cert_name = tls_cert_name,
    .close = tls_close,
};

void tls_attach(conn *c) {
    tls_conn *t = xcalloc(1, sizeof *t);
    t->ssl = ctx ? SSL_new(ctx) : NULL;
    if (!t->ssl || SSL_set_fd(t->ssl, c->fd) != 1) {
        char eb[256];
        log_err("connection %s: cannot start TLS: %s", c->peer, ssl_err(eb, sizeof eb));
        if (t->ssl) SSL_free(t->ssl);
        free(t);
        c->state = CONN_DEAD;
        return;
    }
    SSL_set_accept_state(t->ssl);
    c->tr = &transport_tls;
    c->tr_state = t;
}
