/* harness.c — see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <netinet/in.h>
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

#ifndef WARREN_BIN_DEFAULT
#define WARREN_BIN_DEFAULT "warren"
#endif

static pid_t broker_pid;
static char data_dir[256];
static void remove_data_dir(void);

int h_port(void) {
    const char *p = getenv("WARREN_AMQP_PORT");
    cr_assert(p != NULL, "WARREN_AMQP_PORT not set: the broker did not start");
    return atoi(p);
}

bool h_is_warren(void) {
    const char *e = getenv("WARREN_TEST_EXTERNAL");
    return !(e && *e == '1');
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &len)) {
        perror("harness: free_port");
        exit(2);
    }
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

static void broker_start(void) {
    if (getenv("WARREN_AMQP_PORT")) { /* external broker (e.g. reference RabbitMQ) */
        setenv("WARREN_TEST_EXTERNAL", "1", 1);
        return;
    }
    const char *bin = getenv("WARREN_BIN");
    if (!bin) bin = WARREN_BIN_DEFAULT;
    snprintf(data_dir, sizeof data_dir, "/tmp/warren-interop-XXXXXX");
    if (!mkdtemp(data_dir)) { perror("harness: mkdtemp"); exit(2); }
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = free_port();
        char portstr[16];
        snprintf(portstr, sizeof portstr, "%d", port);
        broker_pid = fork();
        if (broker_pid == 0) {
            /* if the test runner dies without POST_ALL, take the broker down too */
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            const char *log = getenv("WARREN_TEST_LOG");
            if (!(log && *log == '1')) {
                FILE *f = freopen("/dev/null", "w", stderr);
                (void)f;
            }
            /* The test runner itself runs with leak checks off (libcriterion leaks a
             * little); the broker under test must be leak-free: check it at exit. */
            setenv("LSAN_OPTIONS", "leak_check_at_exit=1", 1);
            /* A test binary may ask for a config file (e.g. load_definitions). */
            const char *cfg = getenv("WARREN_TEST_CONFIG");
            if (cfg && *cfg)
                execl(bin, bin, "--port", portstr, "--bind", "127.0.0.1", "--data-dir", data_dir, "--threads", "2",
                      "--config", cfg, (char *)NULL);
            else
                execl(bin, bin, "--port", portstr, "--bind", "127.0.0.1", "--data-dir", data_dir,
                      "--threads", "2", (char *)NULL);
            perror("harness: exec warren");
            _exit(127);
        }
        for (int i = 0; i < 200; i++) { /* up to 10 s */
            if (port_accepts(port)) {
                setenv("WARREN_AMQP_PORT", portstr, 1);
                setenv("WARREN_TEST_EXTERNAL", "0", 1);
                return;
            }
            int st;
            if (waitpid(broker_pid, &st, WNOHANG) == broker_pid) break; /* died: port race? retry */
            usleep(50 * 1000);
        }
        kill(broker_pid, SIGKILL);
        waitpid(broker_pid, NULL, 0);
    }
    fprintf(stderr, "harness: could not start %s\n", bin);
    remove_data_dir();
    exit(2);
}

static void remove_data_dir(void) {
    if (!data_dir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_dir);
    if (system(cmd) != 0) fprintf(stderr, "harness: could not remove %s\n", data_dir);
    data_dir[0] = 0;
}

static void broker_stop(void) {
    if (broker_pid <= 0) return;
    kill(broker_pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 100; i++) { /* 5 s, as the brief requires */
        if (waitpid(broker_pid, &st, WNOHANG) == broker_pid) {
            remove_data_dir();
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "harness: warren exited abnormally (status %d)\n", st);
                exit(1);
            }
            return;
        }
        usleep(50 * 1000);
    }
    fprintf(stderr, "harness: warren did not exit within 5 s of SIGTERM\n");
    kill(broker_pid, SIGKILL);
    waitpid(broker_pid, NULL, 0);
    remove_data_dir();
    exit(1);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set) {
    (void)set;
    broker_start();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
    (void)stats;
    broker_stop();
}

amqp_connection_state_t h_connect_opts(const char *vhost, const char *user, const char *pass,
                                       int channel_max, int frame_max, int heartbeat,
                                       amqp_rpc_reply_t *r) {
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    cr_assert(s != NULL);
    int rc = amqp_socket_open(s, "127.0.0.1", h_port());
    cr_assert(rc == AMQP_STATUS_OK, "connect to port %d failed: %s", h_port(), amqp_error_string2(rc));
    *r = amqp_login(c, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, pass);
    return c;
}

amqp_connection_state_t h_connect(void) {
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = h_connect_opts("/", "guest", "guest", 0, 131072, 0, &r);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "login failed (reply type %d)", r.reply_type);
    h_channel_open(c, 1);
    return c;
}

int h_raw_socket(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h_port()),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0, "raw connect failed");
    struct timeval tv = {.tv_sec = 5};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
}

void h_channel_open(amqp_connection_state_t c, amqp_channel_t ch) {
    amqp_channel_open(c, ch);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "channel.open %u failed", ch);
}

void h_close(amqp_connection_state_t c) {
    if (!c) return;
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

const char *h_name(const char *prefix) {
    static char bufs[8][200];
    static unsigned n;
    char *b = bufs[n % 8];
    snprintf(b, sizeof bufs[0], "%s-%d-%u-%ld", prefix, (int)getpid(), n++, (long)time(NULL) % 100000);
    return b;
}

static void expect_close(amqp_rpc_reply_t r, uint32_t method, uint16_t code, const char *prefix) {
    cr_assert(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION,
              "expected a server exception %u, got reply type %d (library error %d)", code,
              r.reply_type, r.library_error);
    cr_assert(r.reply.id == method, "expected %s.close, got method 0x%08x",
              method == AMQP_CHANNEL_CLOSE_METHOD ? "channel" : "connection", r.reply.id);
    uint16_t got;
    amqp_bytes_t text;
    if (method == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = r.reply.decoded;
        got = m->reply_code;
        text = m->reply_text;
    } else {
        amqp_connection_close_t *m = r.reply.decoded;
        got = m->reply_code;
        text = m->reply_text;
    }
    cr_assert(got == code, "expected reply code %u, got %u (%.*s)", code, got, (int)text.len,
              (char *)text.bytes);
    if (prefix) {
        size_t n = strlen(prefix);
        cr_assert(text.len >= n && memcmp(text.bytes, prefix, n) == 0,
                  "reply text \"%.*s\" does not start with \"%s\"", (int)text.len,
                  (char *)text.bytes, prefix);
    }
}

void h_expect_channel_close(amqp_rpc_reply_t r, uint16_t code, const char *text_prefix) {
    expect_close(r, AMQP_CHANNEL_CLOSE_METHOD, code, text_prefix);
}

void h_expect_connection_close(amqp_rpc_reply_t r, uint16_t code, const char *text_prefix) {
    expect_close(r, AMQP_CONNECTION_CLOSE_METHOD, code, text_prefix);
}

int h_wait_frame(amqp_connection_state_t c, amqp_frame_t *f, int timeout_ms) {
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    return amqp_simple_wait_frame_noblock(c, f, &tv);
}

void h_publish(amqp_connection_state_t c, amqp_channel_t ch, const char *exchange,
               const char *routing_key, const char *body, bool mandatory,
               const amqp_basic_properties_t *props) {
    int rc = amqp_basic_publish(c, ch, amqp_cstring_bytes(exchange), amqp_cstring_bytes(routing_key),
                                mandatory, 0, props, amqp_cstring_bytes(body));
    cr_assert(rc == AMQP_STATUS_OK, "publish failed: %s", amqp_error_string2(rc));
}

const char *h_queue_declare(amqp_connection_state_t c, amqp_channel_t ch, const char *name,
                            bool durable, bool exclusive, bool auto_delete) {
    static char out[256];
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, ch, amqp_cstring_bytes(name), 0, durable,
                                                     exclusive, auto_delete, amqp_empty_table);
    cr_assert(ok != NULL, "queue.declare %s failed", name);
    snprintf(out, sizeof out, "%.*s", (int)ok->queue.len, (char *)ok->queue.bytes);
    return out;
}

static char *body_string(amqp_message_t *m) {
    char *s = malloc(m->body.len + 1);
    cr_assert(s != NULL);
    if (m->body.len) memcpy(s, m->body.bytes, m->body.len); /* empty bodies have NULL bytes */
    s[m->body.len] = 0;
    return s;
}

char *h_get(amqp_connection_state_t c, amqp_channel_t ch, const char *queue, bool no_ack,
            uint64_t *tag, bool *redelivered) {
    amqp_rpc_reply_t r = amqp_basic_get(c, ch, amqp_cstring_bytes(queue), no_ack);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "basic.get on %s failed", queue);
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) return NULL;
    cr_assert(r.reply.id == AMQP_BASIC_GET_OK_METHOD);
    amqp_basic_get_ok_t *ok = r.reply.decoded;
    if (tag) *tag = ok->delivery_tag;
    if (redelivered) *redelivered = ok->redelivered;
    amqp_message_t m;
    r = amqp_read_message(c, ch, &m, 0);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "reading the get-ok content failed");
    char *s = body_string(&m);
    amqp_destroy_message(&m);
    return s;
}

char *h_next_delivery(amqp_connection_state_t c, int timeout_ms, uint64_t *tag, bool *redelivered) {
    amqp_envelope_t env;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        return NULL;
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "consume_message failed (type %d, err %d)",
              r.reply_type, r.library_error);
    if (tag) *tag = env.delivery_tag;
    if (redelivered) *redelivered = env.redelivered;
    char *s = body_string(&env.message);
    amqp_destroy_envelope(&env);
    return s;
}

uint32_t h_message_count(amqp_connection_state_t c, amqp_channel_t ch, const char *queue) {
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(c, ch, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    cr_assert(ok != NULL, "passive queue.declare %s failed", queue);
    return ok->message_count;
}

uint32_t h_wait_message_count(amqp_connection_state_t c, amqp_channel_t ch, const char *queue,
                              uint32_t want, int timeout_ms) {
    uint32_t n = h_message_count(c, ch, queue);
    for (int waited = 0; n != want && waited < timeout_ms; waited += 20) {
        usleep(20 * 1000);
        n = h_message_count(c, ch, queue);
    }
    return n;
}

void h_exchange_declare(amqp_connection_state_t c, amqp_channel_t ch, const char *name,
                        const char *type, bool durable, bool auto_delete, bool internal,
                        amqp_table_t args) {
    amqp_exchange_declare(c, ch, amqp_cstring_bytes(name), amqp_cstring_bytes(type), 0, durable,
                          auto_delete, internal, args);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "exchange.declare %s (%s) failed", name, type);
}

void h_queue_bind(amqp_connection_state_t c, amqp_channel_t ch, const char *queue,
                  const char *exchange, const char *routing_key, amqp_table_t args) {
    amqp_queue_bind(c, ch, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                    amqp_cstring_bytes(routing_key), args);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "queue.bind %s -> %s (%s) failed", queue,
              exchange, routing_key);
}

char *h_get_all(amqp_connection_state_t c, amqp_channel_t ch, const char *queue) {
    size_t cap = 256, len = 0;
    char *all = malloc(cap);
    cr_assert(all != NULL);
    all[0] = 0;
    char *m;
    while ((m = h_get(c, ch, queue, true, NULL, NULL)) != NULL) {
        size_t n = strlen(m);
        while (len + n + 2 > cap) {
            cap *= 2;
            all = realloc(all, cap);
            cr_assert(all != NULL);
        }
        if (len) all[len++] = ',';
        memcpy(all + len, m, n + 1);
        len += n;
        free(m);
    }
    return all;
}

/* ---- raw frame helpers ---- */

void h_buf_bytes(h_buf_t *b, const void *p, size_t n) {
    cr_assert(n <= sizeof b->b - b->n, "h_buf overflow");
    if (n) memcpy(b->b + b->n, p, n);
    b->n += n;
}

void h_buf_u8(h_buf_t *b, uint8_t v) { h_buf_bytes(b, &v, 1); }

void h_buf_u16(h_buf_t *b, uint16_t v) {
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    h_buf_bytes(b, x, 2);
}

void h_buf_u32(h_buf_t *b, uint32_t v) {
    h_buf_u16(b, (uint16_t)(v >> 16));
    h_buf_u16(b, (uint16_t)v);
}

void h_buf_u64(h_buf_t *b, uint64_t v) {
    h_buf_u32(b, (uint32_t)(v >> 32));
    h_buf_u32(b, (uint32_t)v);
}

void h_buf_shortstr(h_buf_t *b, const char *s) {
    size_t n = strlen(s);
    cr_assert(n < 256);
    h_buf_u8(b, (uint8_t)n);
    h_buf_bytes(b, s, n);
}

void h_buf_longstr(h_buf_t *b, const void *p, size_t n) {
    h_buf_u32(b, (uint32_t)n);
    h_buf_bytes(b, p, n);
}

void h_raw_send(int s, const void *p, size_t n) {
    const uint8_t *c = p;
    while (n > 0) {
        ssize_t w = send(s, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        cr_assert(w > 0, "raw send failed: %s", strerror(errno));
        c += w;
        n -= (size_t)w;
    }
}

void h_raw_send_frame(int s, uint8_t type, uint16_t ch, const void *payload, size_t n) {
    static h_buf_t b;
    b.n = 0;
    h_buf_u8(&b, type);
    h_buf_u16(&b, ch);
    h_buf_u32(&b, (uint32_t)n);
    h_buf_bytes(&b, payload, n);
    h_buf_u8(&b, AMQP_FRAME_END);
    h_raw_send(s, b.b, b.n);
}

void h_raw_send_method(int s, uint16_t ch, uint16_t class_id, uint16_t method_id,
                       const void *args, size_t n) {
    static h_buf_t b;
    b.n = 0;
    h_buf_u16(&b, class_id);
    h_buf_u16(&b, method_id);
    h_buf_bytes(&b, args, n);
    h_raw_send_frame(s, AMQP_FRAME_METHOD, ch, b.b, b.n);
}

void h_raw_send_amqp_method(int s, uint16_t ch, amqp_method_number_t id, void *decoded) {
    static uint8_t buf[65536];
    amqp_bytes_t out = {.len = sizeof buf - 4, .bytes = buf + 4};
    int n = amqp_encode_method(id, decoded, out);
    cr_assert(n >= 0, "amqp_encode_method 0x%08x failed: %d", id, n);
    buf[0] = (uint8_t)(id >> 24);
    buf[1] = (uint8_t)(id >> 16);
    buf[2] = (uint8_t)(id >> 8);
    buf[3] = (uint8_t)id;
    h_raw_send_frame(s, AMQP_FRAME_METHOD, ch, buf, (size_t)n + 4);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read exactly n bytes before deadline: 1 ok, 0 closed/reset, -1 timeout. */
static int read_exact(int s, void *p, size_t n, long long deadline) {
    uint8_t *c = p;
    while (n > 0) {
        long long left = deadline - now_ms();
        if (left <= 0) return -1;
        struct pollfd pfd = {.fd = s, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR) continue;
        cr_assert(pr >= 0, "poll: %s", strerror(errno));
        if (pr == 0) return -1;
        ssize_t r = recv(s, c, n, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) return 0; /* EOF or ECONNRESET */
        c += r;
        n -= (size_t)r;
    }
    return 1;
}

int h_raw_read_frame(int s, h_raw_frame_t *f, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    uint8_t hdr[7], end;
    memset(f, 0, sizeof *f);
    int rc = read_exact(s, hdr, sizeof hdr, deadline);
    if (rc != 1) return rc;
    f->type = hdr[0];
    f->channel = (uint16_t)(hdr[1] << 8 | hdr[2]);
    f->size = (uint32_t)hdr[3] << 24 | (uint32_t)hdr[4] << 16 | (uint32_t)hdr[5] << 8 | hdr[6];
    cr_assert(f->size < (1u << 20), "frame from broker too large: %u", f->size);
    f->payload = malloc(f->size + 1);
    cr_assert(f->payload != NULL);
    if (deadline < now_ms() + 5000) deadline = now_ms() + 5000; /* a frame begun is read whole */
    rc = read_exact(s, f->payload, f->size, deadline);
    if (rc == 1) rc = read_exact(s, &end, 1, deadline);
    cr_assert(rc == 1, "truncated frame from broker (type %u, size %u)", f->type, f->size);
    cr_assert(end == AMQP_FRAME_END, "bad frame-end octet 0x%02x from broker", end);
    return 1;
}

void h_raw_frame_destroy(h_raw_frame_t *f) {
    free(f->payload);
    f->payload = NULL;
}

amqp_method_number_t h_raw_read_method(int s, h_raw_frame_t *f, int timeout_ms,
                                       amqp_pool_t *pool, void **decoded) {
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        int rc = h_raw_read_frame(s, f, left > 0 ? (int)left : 0);
        cr_assert(rc == 1, "no method frame from broker (%s)", rc == 0 ? "connection closed" : "timeout");
        if (f->type == AMQP_FRAME_HEARTBEAT) {
            h_raw_frame_destroy(f);
            continue;
        }
        cr_assert(f->type == AMQP_FRAME_METHOD && f->size >= 4, "expected a method frame, got type %u",
                  f->type);
        amqp_method_number_t id = (uint32_t)f->payload[0] << 24 | (uint32_t)f->payload[1] << 16 |
                                  (uint32_t)f->payload[2] << 8 | f->payload[3];
        if (decoded) {
            /* decoded strings point into the buffer: copy it into the pool */
            amqp_bytes_t args = {.len = f->size - 4, .bytes = amqp_pool_alloc(pool, f->size)};
            cr_assert(args.bytes != NULL);
            memcpy(args.bytes, f->payload + 4, args.len);
            int drc = amqp_decode_method(id, pool, args, decoded);
            cr_assert(drc == 0, "cannot decode method 0x%08x: %d", id, drc);
        }
        return id;
    }
}

static void client_properties(h_buf_t *b) {
    h_buf_t t = {.n = 0};
    h_buf_shortstr(&t, "authentication_failure_close");
    h_buf_u8(&t, 't');
    h_buf_u8(&t, 1);
    h_buf_t props = {.n = 0};
    h_buf_shortstr(&props, "capabilities");
    h_buf_u8(&props, 'F');
    h_buf_longstr(&props, t.b, t.n);
    h_buf_shortstr(&props, "product");
    h_buf_u8(&props, 'S');
    h_buf_longstr(&props, "warren-interop-raw", 18);
    h_buf_longstr(b, props.b, props.n);
}

amqp_method_number_t h_raw_start(int s, const char *mechanism, const void *response,
                                 size_t response_len, amqp_pool_t *pool,
                                 amqp_connection_start_t **start, h_raw_frame_t *f) {
    h_raw_send(s, "AMQP\x00\x00\x09\x01", 8);
    amqp_method_number_t id = h_raw_read_method(s, f, 5000, pool, (void **)start);
    cr_assert(id == AMQP_CONNECTION_START_METHOD, "expected connection.start, got 0x%08x", id);
    h_raw_frame_destroy(f);
    static h_buf_t b;
    b.n = 0;
    client_properties(&b);
    h_buf_shortstr(&b, mechanism);
    h_buf_longstr(&b, response, response_len);
    h_buf_shortstr(&b, "en_US");
    h_raw_send_method(s, 0, 10, 11, b.b, b.n);
    return h_raw_read_method(s, f, 5000, NULL, NULL);
}

void h_raw_login(int s, uint16_t channel_max, uint32_t frame_max, uint16_t heartbeat) {
    h_raw_frame_t f;
    amqp_method_number_t id = h_raw_start(s, "PLAIN", "\0guest\0guest", 12, NULL, NULL, &f);
    cr_assert(id == AMQP_CONNECTION_TUNE_METHOD, "expected connection.tune, got 0x%08x", id);
    h_raw_frame_destroy(&f);
    amqp_connection_tune_ok_t tune = {channel_max, frame_max, heartbeat};
    h_raw_send_amqp_method(s, 0, AMQP_CONNECTION_TUNE_OK_METHOD, &tune);
    amqp_connection_open_t open = {amqp_cstring_bytes("/"), amqp_empty_bytes, 0};
    h_raw_send_amqp_method(s, 0, AMQP_CONNECTION_OPEN_METHOD, &open);
    id = h_raw_read_method(s, &f, 5000, NULL, NULL);
    h_raw_frame_destroy(&f);
    cr_assert(id == AMQP_CONNECTION_OPEN_OK_METHOD, "expected connection.open-ok, got 0x%08x", id);
}

void h_raw_channel_open(int s, uint16_t ch) {
    amqp_channel_open_t open = {amqp_empty_bytes};
    h_raw_send_amqp_method(s, ch, AMQP_CHANNEL_OPEN_METHOD, &open);
    h_raw_frame_t f;
    amqp_method_number_t id = h_raw_read_method(s, &f, 5000, NULL, NULL);
    cr_assert(id == AMQP_CHANNEL_OPEN_OK_METHOD && f.channel == ch,
              "expected channel.open-ok on %u, got 0x%08x on %u", ch, id, f.channel);
    h_raw_frame_destroy(&f);
}

void h_raw_check_connection_close(const h_raw_frame_t *f, uint16_t code, const char *text_prefix) {
    cr_assert(f->type == AMQP_FRAME_METHOD && f->size >= 4 && f->channel == 0,
              "expected a method frame on channel 0");
    amqp_method_number_t id = (uint32_t)f->payload[0] << 24 | (uint32_t)f->payload[1] << 16 |
                              (uint32_t)f->payload[2] << 8 | f->payload[3];
    cr_assert(id == AMQP_CONNECTION_CLOSE_METHOD, "expected connection.close, got 0x%08x", id);
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    amqp_connection_close_t *m;
    amqp_bytes_t args = {.len = f->size - 4, .bytes = f->payload + 4};
    cr_assert(amqp_decode_method(id, &pool, args, (void **)&m) == 0);
    cr_assert(m->reply_code == code, "expected connection.close %u, got %u (%.*s)", code,
              m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
    if (text_prefix) {
        size_t n = strlen(text_prefix);
        cr_assert(m->reply_text.len >= n && memcmp(m->reply_text.bytes, text_prefix, n) == 0,
                  "reply text \"%.*s\" does not start with \"%s\"", (int)m->reply_text.len,
                  (char *)m->reply_text.bytes, text_prefix);
    }
    empty_amqp_pool(&pool);
}

void h_raw_expect_connection_close(int s, uint16_t code, const char *text_prefix) {
    long long deadline = now_ms() + 5000;
    h_raw_frame_t f;
    for (;;) {
        long long left = deadline - now_ms();
        h_raw_read_method(s, &f, left > 0 ? (int)left : 0, NULL, NULL);
        if (f.channel == 0) break;
        h_raw_frame_destroy(&f);
    }
    h_raw_check_connection_close(&f, code, text_prefix);
    h_raw_frame_destroy(&f);
    /* close-ok; the broker may already have closed its side, so ignore errors */
    static const uint8_t close_ok[] = {1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 51, 0xCE};
    ssize_t w = send(s, close_ok, sizeof close_ok, MSG_NOSIGNAL);
    (void)w;
    cr_assert(h_raw_closed_within(s, 5000, NULL), "broker kept the socket open after close-ok");
}

bool h_raw_closed_within(int s, int timeout_ms, size_t *bytes) {
    long long deadline = now_ms() + timeout_ms;
    size_t total = 0;
    uint8_t buf[4096];
    bool closed = false;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) break;
        struct pollfd pfd = {.fd = s, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) break;
        ssize_t r = recv(s, buf, sizeof buf, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) {
            closed = true;
            break;
        }
        total += (size_t)r;
    }
    if (bytes) *bytes = total;
    return closed;
}
