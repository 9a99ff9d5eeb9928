/* test_tls_rabbitmqc.c — amqps with rabbitmq-c (librabbitmq's OpenSSL socket).
 *
 * Before the tests, gen-certs.sh makes a throw-away PKI in a temp dir and the
 * broker starts with a TCP port and a TLS port that requires a client
 * certificate (verify_peer + fail_if_no_peer_cert), ssl_cert_login_from =
 * common_name and a 1.5 s ssl_handshake_timeout.
 *
 * Against another broker (the reference RabbitMQ configured the same way):
 * WARREN_AMQP_PORT, WARREN_TLS_PORT and WARREN_TLS_CERTS (the dir gen-certs.sh
 * filled, which that broker uses) select it instead. */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HANDSHAKE_TIMEOUT_MS 1500

static pid_t broker_pid;
static char tmp_dir[256];

static int env_int(const char *name) {
    const char *v = getenv(name);
    cr_assert(v != NULL, "%s not set: the broker did not start", name);
    return atoi(v);
}
static int tcp_port(void) { return env_int("WARREN_AMQP_PORT"); }
static int tls_port(void) { return env_int("WARREN_TLS_PORT"); }
static const char *certs(void) { return getenv("WARREN_TLS_CERTS"); }
static bool is_warren(void) { return broker_pid > 0 || getenv("WARREN_TLS_SELF"); }

static char *cert_path(const char *name) {
    static char bufs[4][512];
    static int n;
    char *b = bufs[n++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", certs(), name);
    return b;
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &len)) exit(2);
    close(s);
    return ntohs(a.sin_port);
}

static bool port_accepts(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0) close(s);
    return ok;
}

static void run_or_die(const char *cmd) {
    if (system(cmd) != 0) {
        fprintf(stderr, "tls test: failed: %s\n", cmd);
        exit(2);
    }
}

static void broker_start(void) {
    if (getenv("WARREN_TLS_PORT")) return; /* an external broker */
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/warren-tls-XXXXXX");
    if (!mkdtemp(tmp_dir)) exit(2);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' '%s/certs'", GEN_CERTS, tmp_dir);
    run_or_die(cmd);
    char certdir[300];
    snprintf(certdir, sizeof certdir, "%s/certs", tmp_dir);
    setenv("WARREN_TLS_CERTS", certdir, 1);
    for (int attempt = 0; attempt < 5; attempt++) {
        int tcp = free_port(), tls = free_port();
        if (tcp == tls) continue;
        char conf[300];
        snprintf(conf, sizeof conf, "%s/warren.conf", tmp_dir);
        FILE *f = fopen(conf, "w");
        if (!f) exit(2);
        fprintf(f,
                "listeners.tcp.default = 127.0.0.1:%d\n"
                "listeners.ssl.default = 127.0.0.1:%d\n"
                "ssl_options.cacertfile = %s/ca.pem\n"
                "ssl_options.certfile = %s/server.pem\n"
                "ssl_options.keyfile = %s/server.key\n"
                "ssl_options.verify = verify_peer\n"
                "ssl_options.fail_if_no_peer_cert = true\n"
                "ssl_cert_login_from = common_name\n"
                "ssl_handshake_timeout = %d\n",
                tcp, tls, certdir, certdir, certdir, HANDSHAKE_TIMEOUT_MS);
        fclose(f);
        char data[300];
        snprintf(data, sizeof data, "%s/data", tmp_dir);
        broker_pid = fork();
        if (broker_pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            const char *log = getenv("WARREN_TEST_LOG");
            if (!(log && *log == '1')) {
                FILE *n = freopen("/dev/null", "w", stderr);
                (void)n;
            }
            setenv("LSAN_OPTIONS", "leak_check_at_exit=1", 1);
            execl(WARREN_BIN, WARREN_BIN, "--config", conf, "--data-dir", data, "--threads", "2", (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 200; i++) {
            if (port_accepts(tcp) && port_accepts(tls)) {
                char p[16];
                snprintf(p, sizeof p, "%d", tcp);
                setenv("WARREN_AMQP_PORT", p, 1);
                snprintf(p, sizeof p, "%d", tls);
                setenv("WARREN_TLS_PORT", p, 1);
                setenv("WARREN_TLS_SELF", "1", 1);
                return;
            }
            if (waitpid(broker_pid, NULL, WNOHANG) == broker_pid) break;
            usleep(50 * 1000);
        }
        kill(broker_pid, SIGKILL);
        waitpid(broker_pid, NULL, 0);
    }
    fprintf(stderr, "tls test: could not start %s\n", WARREN_BIN);
    exit(2);
}

static void broker_stop(void) {
    int rc = 0;
    if (broker_pid > 0) {
        kill(broker_pid, SIGTERM);
        int st = 0;
        bool exited = false;
        for (int i = 0; i < 100 && !exited; i++) {
            if (waitpid(broker_pid, &st, WNOHANG) == broker_pid) exited = true;
            else usleep(50 * 1000);
        }
        if (!exited) {
            fprintf(stderr, "tls test: warren did not exit within 5 s of SIGTERM\n");
            kill(broker_pid, SIGKILL);
            waitpid(broker_pid, NULL, 0);
            rc = 1;
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "tls test: warren exited abnormally (status %d)\n", st);
            rc = 1;
        }
    }
    if (tmp_dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
        if (system(cmd) != 0) fprintf(stderr, "tls test: could not remove %s\n", tmp_dir);
    }
    if (rc) exit(rc);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set) {
    (void)set;
    broker_start();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
    (void)stats;
    broker_stop();
}

/* ---- clients ---- */

enum { TLS_ANY, TLS12, TLS13 };

/* Open a TLS socket to the broker with client certificate `cert` (NULL: none).
 * Returns the amqp_socket_open status; *out gets the connection. */
static int tls_open(const char *cert, int version, amqp_connection_state_t *out) {
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_ssl_socket_new(c);
    cr_assert(s != NULL);
    cr_assert(amqp_ssl_socket_set_cacert(s, cert_path("ca.pem")) == AMQP_STATUS_OK);
    amqp_ssl_socket_set_verify_peer(s, 1);
    amqp_ssl_socket_set_verify_hostname(s, 1);
    if (cert) {
        char pem[64], key[64];
        snprintf(pem, sizeof pem, "%s.pem", cert);
        snprintf(key, sizeof key, "%s.key", cert);
        cr_assert(amqp_ssl_socket_set_key(s, cert_path(pem), cert_path(key)) == AMQP_STATUS_OK);
    }
    if (version == TLS12) {
        cr_assert(amqp_ssl_socket_set_ssl_versions(s, AMQP_TLSv1_2, AMQP_TLSv1_2) == AMQP_STATUS_OK);
    } else if (version == TLS13) { /* rabbitmq-c 0.11 has no TLSv1_3 constant: set it on its context */
        SSL_CTX *ctx = amqp_ssl_socket_get_context(s);
        cr_assert(ctx != NULL);
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    }
    struct timeval tv = {.tv_sec = 5};
    int rc = amqp_socket_open_noblock(s, "localhost", tls_port(), &tv);
    *out = c;
    return rc;
}

/* Connect over TLS and log in; asserts success; opens channel 1. */
static amqp_connection_state_t tls_connect(const char *cert, int version, amqp_sasl_method_enum sasl) {
    amqp_connection_state_t c;
    int rc = tls_open(cert, version, &c);
    cr_assert(rc == AMQP_STATUS_OK, "TLS connect failed: %s", amqp_error_string2(rc));
    /* EXTERNAL's response is ignored by the broker; rabbitmq-c 0.11 fails on an empty one */
    amqp_rpc_reply_t r = sasl == AMQP_SASL_METHOD_EXTERNAL
                             ? amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_EXTERNAL, "ignored")
                             : amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "login over TLS failed (reply type %d, library error %s)",
              r.reply_type, amqp_error_string2(r.library_error));
    amqp_channel_open(c, 1);
    cr_assert(amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL);
    return c;
}

static amqp_connection_state_t tcp_connect(void) {
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    cr_assert(amqp_socket_open(s, "127.0.0.1", tcp_port()) == AMQP_STATUS_OK);
    amqp_rpc_reply_t r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL);
    amqp_channel_open(c, 1);
    cr_assert(amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL);
    return c;
}

static void close_conn(amqp_connection_state_t c) {
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* Publish n messages (with user_id = user when not NULL) to a fresh queue and
 * consume them back with basic.consume; asserts order and content. */
static void round_trip(amqp_connection_state_t c, int n, const char *user) {
    char qname[64];
    snprintf(qname, sizeof qname, "tls-%d-%ld", (int)getpid(), (long)random());
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, 1, amqp_cstring_bytes(qname), 0, 0, 1, 1, amqp_empty_table);
    cr_assert(ok != NULL, "queue.declare failed");
    static char body[70000];
    memset(body, 'x', sizeof body);
    for (int i = 0; i < n; i++) {
        amqp_basic_properties_t p = {0};
        if (user) {
            p._flags = AMQP_BASIC_USER_ID_FLAG;
            p.user_id = amqp_cstring_bytes(user);
        }
        int len = snprintf(body, 16, "m%06d", i);
        body[len] = 'x';
        /* every 10th message is large: several TLS records */
        amqp_bytes_t b = {.len = i % 10 == 9 ? sizeof body : 7, .bytes = body};
        cr_assert(amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(qname), 0, 0, &p, b) == AMQP_STATUS_OK);
    }
    amqp_basic_consume(c, 1, amqp_cstring_bytes(qname), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
    cr_assert(amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL, "basic.consume failed (user_id refused?)");
    for (int i = 0; i < n; i++) {
        amqp_envelope_t env;
        struct timeval tv = {.tv_sec = 5};
        amqp_maybe_release_buffers(c);
        amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
        cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "delivery %d missing", i);
        char want[16];
        snprintf(want, sizeof want, "m%06d", i);
        cr_assert(env.message.body.len >= 7 && !memcmp(env.message.body.bytes, want, 7), "delivery %d out of order", i);
        cr_assert_eq(env.message.body.len, i % 10 == 9 ? sizeof body : 7u);
        amqp_destroy_envelope(&env);
    }
}

/* ---- raw sockets ---- */

static int raw_connect(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0, "connect to %d failed", port);
    return s;
}

static uint64_t ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait until the peer closes s (read returns 0 or an error); returns the ms
 * waited, or -1 if it stayed open for timeout_ms. */
static long wait_closed(int s, int timeout_ms) {
    uint64_t t0 = ms_now();
    char buf[4096];
    for (;;) {
        long left = timeout_ms - (long)(ms_now() - t0);
        if (left <= 0) return -1;
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0) continue;
        ssize_t n = read(s, buf, sizeof buf);
        if (n <= 0) return (long)(ms_now() - t0);
    }
}

/* connection.start's mechanisms as the broker sends them, over TLS (with the
 * client certificate) or plain TCP. */
static void start_mechanisms(bool tls, char *out, size_t cap) {
    int s = raw_connect(tls ? tls_port() : tcp_port());
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    if (tls) {
        ctx = SSL_CTX_new(TLS_client_method());
        cr_assert(SSL_CTX_load_verify_locations(ctx, cert_path("ca.pem"), NULL) == 1);
        cr_assert(SSL_CTX_use_certificate_file(ctx, cert_path("client.pem"), SSL_FILETYPE_PEM) == 1);
        cr_assert(SSL_CTX_use_PrivateKey_file(ctx, cert_path("client.key"), SSL_FILETYPE_PEM) == 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        ssl = SSL_new(ctx);
        SSL_set_fd(ssl, s);
        cr_assert(SSL_connect(ssl) == 1, "raw TLS handshake failed");
    }
    const char hdr[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
    cr_assert((tls ? SSL_write(ssl, hdr, 8) : (int)write(s, hdr, 8)) == 8);
    static uint8_t buf[8192];
    size_t got = 0;
    uint32_t need = 7;
    while (got < need + 1) { /* one whole frame: 7-byte header, payload, 0xCE */
        int n = tls ? SSL_read(ssl, buf + got, (int)(sizeof buf - got)) : (int)read(s, buf + got, sizeof buf - got);
        cr_assert(n > 0, "no connection.start");
        got += (size_t)n;
        if (got >= 7) need = 7 + ((uint32_t)buf[3] << 24 | (uint32_t)buf[4] << 16 | (uint32_t)buf[5] << 8 | buf[6]);
        cr_assert(need < sizeof buf);
    }
    /* payload: class, method, major, minor, server-properties (table), mechanisms (longstr) */
    const uint8_t *p = buf + 7 + 6;
    uint32_t tlen = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    p += 4 + tlen;
    uint32_t mlen = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    cr_assert(mlen < cap);
    memcpy(out, p + 4, mlen);
    out[mlen] = 0;
    if (ssl) SSL_free(ssl);
    if (ctx) SSL_CTX_free(ctx);
    close(s);
}

static bool has_token(const char *list, const char *tok) {
    size_t n = strlen(tok);
    for (const char *p = list; (p = strstr(p, tok)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ')) return true;
    return false;
}

/* ---- tests ---- */

Test(tls, tls12_publish_consume) {
    amqp_connection_state_t c = tls_connect("client", TLS12, AMQP_SASL_METHOD_PLAIN);
    round_trip(c, 50, NULL);
    close_conn(c);
}

Test(tls, tls13_publish_consume) {
    amqp_connection_state_t c = tls_connect("client", TLS13, AMQP_SASL_METHOD_PLAIN);
    round_trip(c, 50, NULL);
    close_conn(c);
}

/* The broker must refuse the TLS handshake: rabbitmq-c may report the open as
 * successful (the server's alert can arrive after the client's side of the
 * handshake is done, always so with TLS 1.3), so the proof is that a login
 * with valid credentials then fails. */
static void expect_refused(const char *cert, int version, const char *what) {
    amqp_connection_state_t c;
    int rc = tls_open(cert, version, &c);
    if (rc == AMQP_STATUS_OK) {
        amqp_rpc_reply_t r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
        cr_assert(r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION,
                  "%s (TLS %s): login was not refused by the transport (reply type %d)", what,
                  version == TLS12 ? "1.2" : "1.3", r.reply_type);
    }
    amqp_destroy_connection(c);
}

Test(tls, no_client_cert_refused_when_required) {
    expect_refused(NULL, TLS12, "no client certificate");
    expect_refused(NULL, TLS13, "no client certificate");
}

Test(tls, expired_client_cert_refused) {
    expect_refused("expired", TLS12, "expired client certificate");
    expect_refused("expired", TLS13, "expired client certificate");
}

Test(tls, wrong_ca_client_cert_refused) {
    expect_refused("otherca-client", TLS12, "client certificate from another CA");
    expect_refused("otherca-client", TLS13, "client certificate from another CA");
}

Test(tls, external_login_as_certificate_cn) {
    amqp_connection_state_t c = tls_connect("client", TLS_ANY, AMQP_SASL_METHOD_EXTERNAL);
    /* user_id must equal the authenticated user: proves we are "guest" */
    round_trip(c, 5, "guest");
    close_conn(c);
}

Test(tls, external_unknown_user_refused) {
    amqp_connection_state_t c;
    int rc = tls_open("stranger", TLS_ANY, &c);
    cr_assert(rc == AMQP_STATUS_OK, "TLS connect failed: %s", amqp_error_string2(rc));
    amqp_rpc_reply_t r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_EXTERNAL, "ignored");
    cr_assert(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, "EXTERNAL as 'nobody' was not refused (type %d)",
              r.reply_type);
    cr_assert_eq(r.reply.id, AMQP_CONNECTION_CLOSE_METHOD);
    amqp_connection_close_t *m = r.reply.decoded;
    cr_assert_eq(m->reply_code, 403);
    const char *want = "ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL";
    cr_assert(m->reply_text.len >= strlen(want) && !memcmp(m->reply_text.bytes, want, strlen(want)), "text: %.*s",
              (int)m->reply_text.len, (char *)m->reply_text.bytes);
    amqp_destroy_connection(c);
}

/* Write DIR/NAME.pem and NAME.key: a client certificate signed by the test CA
 * whose subject is O=WarrenTest, CN=<cn_len bytes of cn> (a UTF8String, so it
 * may hold a NUL, which openssl's command line cannot write). */
static void make_client_cert(const char *name, const char *cn, int cn_len) {
    FILE *f = fopen(cert_path("ca.pem"), "r");
    cr_assert(f != NULL);
    X509 *ca = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    f = fopen(cert_path("ca.key"), "r");
    cr_assert(f != NULL, "no ca.key in %s", certs());
    EVP_PKEY *ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert(ca && ca_key);
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    cr_assert(key && x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid());
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
    X509_NAME *subj = X509_get_subject_name(x);
    cr_assert(X509_NAME_add_entry_by_NID(subj, NID_organizationName, MBSTRING_ASC, (const unsigned char *)"WarrenTest",
                                         -1, -1, 0) == 1);
    cr_assert(X509_NAME_add_entry_by_NID(subj, NID_commonName, V_ASN1_UTF8STRING, (const unsigned char *)cn, cn_len,
                                         -1, 0) == 1);
    X509_set_issuer_name(x, X509_get_subject_name(ca));
    X509_set_pubkey(x, key);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
    const char *exts[][2] = {{"basicConstraints", "CA:FALSE"}, {"keyUsage", "digitalSignature"},
                             {"extendedKeyUsage", "clientAuth"}};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        cr_assert(e && X509_add_ext(x, e, -1) == 1);
        X509_EXTENSION_free(e);
    }
    cr_assert(X509_sign(x, ca_key, EVP_sha256()) > 0);
    char file[64];
    snprintf(file, sizeof file, "%s.pem", name);
    f = fopen(cert_path(file), "w");
    cr_assert(f && PEM_write_X509(f, x) == 1);
    fclose(f);
    snprintf(file, sizeof file, "%s.key", name);
    f = fopen(cert_path(file), "w");
    cr_assert(f && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
}

/* EXTERNAL with a certificate: asserts the login is refused with 403 as for
 * an unknown user, or (ok) that it succeeds. */
static void external_login(const char *cert, bool ok) {
    amqp_connection_state_t c;
    int rc = tls_open(cert, TLS_ANY, &c);
    cr_assert(rc == AMQP_STATUS_OK, "TLS connect failed: %s", amqp_error_string2(rc));
    amqp_rpc_reply_t r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_EXTERNAL, "ignored");
    if (ok) {
        cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "EXTERNAL with %s refused (type %d)", cert, r.reply_type);
        close_conn(c);
        return;
    }
    cr_assert(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, "EXTERNAL with %s was not refused (type %d)", cert,
              r.reply_type);
    cr_assert_eq(r.reply.id, AMQP_CONNECTION_CLOSE_METHOD);
    amqp_connection_close_t *m = r.reply.decoded;
    cr_assert_eq(m->reply_code, 403);
    const char *want = "ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL";
    cr_assert(m->reply_text.len >= strlen(want) && !memcmp(m->reply_text.bytes, want, strlen(want)), "text: %.*s",
              (int)m->reply_text.len, (char *)m->reply_text.bytes);
    amqp_destroy_connection(c);
}

/* A CN of "guest\0.attacker" names no user: it must not log in as guest (the
 * CN was once printed with %.*s, which stops at the NUL). The same
 * certificate with the plain CN "guest" does log in. */
Test(tls, external_cn_with_nul_refused) {
    make_client_cert("nulcn", "guest\0.attacker", 15);
    make_client_cert("plaincn", "guest", 5);
    external_login("nulcn", false);
    external_login("plaincn", true);
}

Test(tls, mechanisms_external_only_over_tls) {
    char m[256];
    start_mechanisms(true, m, sizeof m);
    cr_assert(has_token(m, "EXTERNAL") && has_token(m, "PLAIN"), "TLS mechanisms: '%s'", m);
    start_mechanisms(false, m, sizeof m);
    cr_assert(!has_token(m, "EXTERNAL") && has_token(m, "PLAIN"), "TCP mechanisms: '%s'", m);
}

Test(tls, external_not_offered_on_plain_tcp) {
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    cr_assert(amqp_socket_open(s, "127.0.0.1", tcp_port()) == AMQP_STATUS_OK);
    amqp_rpc_reply_t r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_EXTERNAL, "guest");
    cr_assert(r.reply_type != AMQP_RESPONSE_NORMAL, "EXTERNAL accepted on plain TCP");
    amqp_destroy_connection(c);
}

Test(tls, plain_tcp_still_works) {
    amqp_connection_state_t c = tcp_connect();
    round_trip(c, 20, "guest");
    close_conn(c);
}

/* Two clients stall their handshakes (one silent, one with half a
 * ClientHello); other TLS and TCP clients keep working meanwhile, and the
 * stalled ones are dropped after the handshake timeout. */
Test(tls, stalled_handshake_does_not_block_others, .timeout = 30) {
    int silent = raw_connect(tls_port());
    int partial = raw_connect(tls_port());
    /* a TLS record header announcing a 512-byte handshake message, and 5 of its bytes */
    const uint8_t half[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03};
    cr_assert(write(partial, half, sizeof half) == (ssize_t)sizeof half);
    uint64_t t0 = ms_now();
    for (int i = 0; i < 3; i++) {
        amqp_connection_state_t c = tls_connect("client", i == 1 ? TLS12 : TLS13, AMQP_SASL_METHOD_PLAIN);
        round_trip(c, 10, NULL);
        close_conn(c);
    }
    amqp_connection_state_t t = tcp_connect();
    round_trip(t, 10, NULL);
    close_conn(t);
    uint64_t busy = ms_now() - t0;
    cr_assert(busy < HANDSHAKE_TIMEOUT_MS, "other clients took %llu ms while two handshakes stalled",
              (unsigned long long)busy);
    /* RabbitMQ's ssl_handshake_timeout works the same way; its timer granularity differs. */
    long w1 = wait_closed(silent, HANDSHAKE_TIMEOUT_MS + 4000);
    long w2 = wait_closed(partial, HANDSHAKE_TIMEOUT_MS + 4000);
    cr_assert(w1 >= 0, "silent TLS client not dropped");
    cr_assert(w2 >= 0, "TLS client with a partial ClientHello not dropped");
    long total = (long)(ms_now() - t0) + 0;
    cr_assert(total >= HANDSHAKE_TIMEOUT_MS - 300, "stalled clients dropped too early (%ld ms)", total);
    close(silent);
    close(partial);
}

/* Many stalled handshakes at once cost nothing to a working client. */
Test(tls, many_stalled_handshakes, .timeout = 30) {
    enum { N = 50 };
    int s[N];
    for (int i = 0; i < N; i++) s[i] = raw_connect(tls_port());
    amqp_connection_state_t c = tls_connect("client", TLS_ANY, AMQP_SASL_METHOD_EXTERNAL);
    round_trip(c, 10, "guest");
    close_conn(c);
    for (int i = 0; i < N; i++) {
        cr_assert(wait_closed(s[i], HANDSHAKE_TIMEOUT_MS + 4000) >= 0, "stalled client %d not dropped", i);
        close(s[i]);
    }
    (void)is_warren;
}
