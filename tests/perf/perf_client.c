/* perf_client.c — producer and consumer threads, preload, idle connections
 * and the --self-test sink. See perf.h. */
#include "perf.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- publish template ---- */

typedef struct {
    uint8_t *buf;    /* k copies of one publish (method + header + body frames) */
    size_t msg_len;  /* bytes of one publish */
    size_t ts_off;   /* offset of the 8-byte send time in one publish, or SIZE_MAX */
    size_t k;        /* copies in buf */
} pub_batch;

/* Encode one publish into a batch of copies filling batch_bytes. */
static int batch_init(pub_batch *b, const perf_opts *o, const char *exchange, const char *rk, uint32_t frame_max) {
    amq_wr t, props;
    amq_wr_init(&t);
    amq_wr_init(&props);
    amq_basic_props p = {0};
    if (o->persistent) {
        p.flags = AMQ_BASIC_PROP_DELIVERY_MODE;
        p.delivery_mode = 2;
    }
    amq_basic_props_encode(&props, &p);
    amq_basic_publish pub = {.exchange = amq_cstr(exchange), .routing_key = amq_cstr(rk)};
    amq_put_method_frame(&t, 1, AMQ_BASIC_PUBLISH, &pub);
    size_t hdr_at = t.len;
    uint8_t *body = calloc(1, (size_t)o->size + 1);
    amq_put_content(&t, 1, AMQ_CLASS_BASIC, (amq_bytes){props.data, props.len}, body, (uint64_t)o->size, frame_max);
    free(body);
    amq_frame f;
    int hn = amq_frame_parse(t.data + hdr_at, t.len - hdr_at, 0, &f);
    int err = t.err || props.err || hn <= 0;
    b->msg_len = t.len;
    b->ts_off = o->size >= 8 ? hdr_at + (size_t)hn + 7 : SIZE_MAX;
    b->k = (size_t)o->batch_bytes / t.len;
    if (b->k < 1) b->k = 1;
    b->buf = err ? NULL : malloc(b->k * t.len);
    for (size_t i = 0; b->buf && i < b->k; i++) memcpy(b->buf + i * t.len, t.data, t.len);
    amq_wr_destroy(&t);
    amq_wr_destroy(&props);
    return b->buf ? 0 : -1;
}

/* Stamp the first n copies with the send time. */
static void batch_stamp(pub_batch *b, size_t n) {
    if (b->ts_off == SIZE_MAX) return;
    uint64_t now = perf_now_ns();
    for (size_t i = 0; i < n; i++) memcpy(b->buf + i * b->msg_len + b->ts_off, &now, 8);
}

/* ---- producer ---- */

/* Outstanding confirms: a bitmap ring over delivery tags (lo, sent]. */
typedef struct {
    uint8_t *bits;
    uint64_t mask, lo; /* every tag <= lo is confirmed */
    uint64_t nacked;
} confirm_ring;

static void ring_mark(confirm_ring *r, uint64_t tag) { r->bits[tag & r->mask] = 1; }

static void ring_settle(confirm_ring *r, uint64_t tag, bool multiple, bool nack, uint64_t sent) {
    if (tag > sent || tag <= r->lo) return;
    if (multiple)
        for (uint64_t t = r->lo + 1; t <= tag; t++) {
            if (nack && !r->bits[t & r->mask]) r->nacked++;
            ring_mark(r, t);
        }
    else {
        if (nack && !r->bits[tag & r->mask]) r->nacked++;
        ring_mark(r, tag);
    }
    while (r->lo < sent && r->bits[(r->lo + 1) & r->mask]) {
        r->bits[(r->lo + 1) & r->mask] = 0;
        r->lo++;
    }
}

typedef struct {
    perf_producer *p;
    perf_conn c;
    pub_batch b;
    confirm_ring ring;
    uint64_t sent;     /* messages fully written */
    size_t woff, wlen, wmsgs; /* the batch being written */
    unsigned steps;
} prod_state;

/* Parse everything the broker sent: confirms, and errors. */
static int prod_incoming(prod_state *s) {
    for (;;) {
        int r = perf_conn_read(&s->c);
        if (r < 0) return -1;
        amq_frame f;
        int got;
        while ((got = perf_conn_frame(&s->c, &f)) == 1) {
            amq_method m;
            if (f.type == AMQ_FRAME_METHOD && amq_method_decode(f.payload, &m) == AMQ_OK &&
                (m.id == AMQ_BASIC_ACK || m.id == AMQ_BASIC_NACK)) {
                bool nack = m.id == AMQ_BASIC_NACK;
                uint64_t tag = nack ? m.u.basic_nack.delivery_tag : m.u.basic_ack.delivery_tag;
                bool mult = nack ? m.u.basic_nack.multiple : m.u.basic_ack.multiple;
                if (s->ring.bits) ring_settle(&s->ring, tag, mult, nack, s->sent);
            } else if (perf_conn_unexpected(&s->c, &f)) {
                return -1;
            }
        }
        if (got < 0) return -1;
        if (r == 0) break;
    }
    if (s->ring.bits) {
        atomic_store_explicit(&s->p->confirmed, s->ring.lo, memory_order_relaxed);
        atomic_store_explicit(&s->p->nacked, s->ring.nacked, memory_order_relaxed);
    }
    return 0;
}

/* How many messages may be put in the next batch now; *wait_ns gets how long
 * to wait when the answer is 0 because of the rate. */
static size_t prod_allowance(prod_state *s, uint64_t *wait_ns) {
    const perf_opts *o = s->p->run->o;
    uint64_t k = s->b.k;
    *wait_ns = 0;
    if (o->count && (uint64_t)o->count - s->sent < k) k = (uint64_t)o->count - s->sent;
    if (o->confirm) {
        uint64_t out = s->sent - s->ring.lo;
        k = out >= (uint64_t)o->confirm ? 0 : (k < (uint64_t)o->confirm - out ? k : (uint64_t)o->confirm - out);
    }
    if (o->rate > 0 && k) {
        uint64_t el = perf_now_ns() - s->p->run->t0;
        uint64_t due = (uint64_t)((double)el * o->rate / 1e9) + 1;
        if (due <= s->sent) {
            uint64_t next = (uint64_t)((double)s->sent * 1e9 / o->rate);
            *wait_ns = next > el ? next - el : 1000;
            return 0;
        }
        if (due - s->sent < k) k = due - s->sent;
    }
    return (size_t)k;
}

/* Write some of the current batch; 1 progress, 0 would block, -1 error. */
static int prod_write(prod_state *s) {
    ssize_t n = send(s->c.fd, s->b.buf + s->woff, s->wlen - s->woff, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return 0;
        snprintf(s->c.err, sizeof s->c.err, "send: %s", strerror(errno));
        return -1;
    }
    s->woff += (size_t)n;
    if (s->woff == s->wlen) {
        s->sent += s->wmsgs;
        s->wlen = s->woff = s->wmsgs = 0;
        atomic_store_explicit(&s->p->published, s->sent, memory_order_relaxed);
    }
    return 1;
}

static void prod_sleep(prod_state *s, uint64_t ns) {
    if (ns > 100000000ull) ns = 100000000ull;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ns};
    struct pollfd p = {.fd = s->c.fd, .events = POLLIN};
    ppoll(&p, 1, &ts, NULL);
}

/* One step of the publish loop. 1 done, 0 continue, -1 error. */
static int prod_step(prod_state *s) {
    const perf_opts *o = s->p->run->o;
    bool stopping = atomic_load_explicit(&s->p->run->stop_producers, memory_order_relaxed);
    if (!s->wlen) {
        if (stopping || (o->count && s->sent >= (uint64_t)o->count)) return 1;
        uint64_t wait_ns;
        size_t k = prod_allowance(s, &wait_ns);
        if (k) {
            batch_stamp(&s->b, k);
            s->wlen = k * s->b.msg_len;
            s->wmsgs = k;
        } else {
            if (o->confirm || o->rate <= 0) perf_conn_wait(&s->c, false, 50);
            else prod_sleep(s, wait_ns);
            return prod_incoming(s);
        }
    }
    int w = prod_write(s);
    if (w < 0) return -1;
    if (w == 0) perf_conn_wait(&s->c, true, 50);
    /* without confirms the broker says little: look every 16 writes */
    if (o->confirm || w == 0 || (++s->steps & 15) == 0) return prod_incoming(s);
    return 0;
}

/* After the last publish: wait (up to 10 s) for the outstanding confirms. */
static int prod_finish(prod_state *s) {
    if (!s->ring.bits) return 0;
    uint64_t deadline = perf_now_ns() + 10000000000ull;
    while (s->ring.lo < s->sent && perf_now_ns() < deadline) {
        perf_conn_wait(&s->c, false, 50);
        if (prod_incoming(s)) return -1;
    }
    return 0;
}

static int prod_setup(prod_state *s) {
    const perf_opts *o = s->p->run->o;
    if (s->p->run->self_test_host) {
        if (perf_conn_connect(&s->c, s->p->run->self_test_host, s->p->run->self_test_port)) return -1;
    } else if (perf_conn_open(&s->c, o)) {
        return -1;
    }
    if (o->confirm) {
        amq_confirm_select cs = {.nowait = false};
        if (perf_conn_rpc(&s->c, AMQ_CONFIRM_SELECT, &cs, AMQ_CONFIRM_SELECT_OK, NULL)) return -1;
        uint64_t size = 1;
        while (size < (uint64_t)o->confirm + 1) size <<= 1;
        s->ring.bits = calloc(size, 1);
        s->ring.mask = size - 1;
    }
    if (batch_init(&s->b, o, s->p->exchange, s->p->routing_key, s->c.frame_max)) {
        snprintf(s->c.err, sizeof s->c.err, "cannot encode the publish template");
        return -1;
    }
    return 0;
}

void *perf_client_producer(void *arg) {
    prod_state s = {.p = arg};
    int rc = prod_setup(&s);
    while (!rc && !(rc = prod_step(&s))) {
    }
    if (rc > 0) rc = prod_finish(&s);
    if (rc < 0) {
        fprintf(stderr, "warren-perf: producer %d: %s\n", s.p->id, s.c.err);
        atomic_store(&s.p->run->failed, 1);
    }
    atomic_store(&s.p->end_ns, perf_now_ns());
    atomic_store(&s.p->done, 1);
    if (s.p->run->self_test_host || rc < 0) perf_conn_destroy(&s.c);
    else perf_conn_close(&s.c);
    free(s.b.buf);
    free(s.ring.bits);
    return NULL;
}

/* ---- consumer ---- */

typedef struct {
    perf_consumer *p;
    perf_conn c;
    uint64_t body_left, last_tag, unacked, ack_every, consumed;
    bool in_body, have_ts;
} cons_state;

static void cons_ack(cons_state *s) {
    amq_basic_ack a = {.delivery_tag = s->last_tag, .multiple = true};
    amq_put_method_frame(&s->c.w, 1, AMQ_BASIC_ACK, &a);
    s->unacked = 0;
}

static void cons_complete(cons_state *s, const uint8_t *ts) {
    if (ts) {
        uint64_t sent;
        memcpy(&sent, ts, 8);
        uint64_t now = perf_now_ns();
        perf_hist_record(&s->p->hist, now > sent ? now - sent : 0);
    }
    s->consumed++;
    if (!s->p->run->o->autoack && ++s->unacked >= s->ack_every) cons_ack(s);
}

/* One frame of a delivery stream. 0 ok, -1 error. */
static int cons_frame(cons_state *s, const amq_frame *f) {
    if (f->type == AMQ_FRAME_BODY && s->in_body) {
        const uint8_t *ts = !s->have_ts && f->payload.len >= 8 ? f->payload.p : NULL;
        s->have_ts = true;
        s->body_left -= f->payload.len < s->body_left ? f->payload.len : s->body_left;
        if (!s->body_left) {
            s->in_body = false;
            cons_complete(s, ts);
        }
        return 0;
    }
    if (f->type == AMQ_FRAME_HEADER) {
        uint16_t cls;
        amq_bytes props;
        if (amq_content_header_parse(f->payload, &cls, &s->body_left, &props)) return -1;
        s->in_body = s->body_left > 0;
        s->have_ts = false;
        if (!s->in_body) cons_complete(s, NULL);
        return 0;
    }
    amq_method m;
    if (f->type == AMQ_FRAME_METHOD && amq_method_decode(f->payload, &m) == AMQ_OK && m.id == AMQ_BASIC_DELIVER) {
        s->last_tag = m.u.basic_deliver.delivery_tag;
        return 0;
    }
    return perf_conn_unexpected(&s->c, f);
}

/* Read and handle what is available; 0 ok, -1 error. */
static int cons_drain(cons_state *s) {
    for (int rounds = 0; rounds < 8; rounds++) {
        int r = perf_conn_read(&s->c);
        if (r < 0) return -1;
        amq_frame f;
        int got;
        while ((got = perf_conn_frame(&s->c, &f)) == 1)
            if (cons_frame(s, &f)) return -1;
        if (got < 0) return -1;
        if (s->c.w.len > 65536 && perf_conn_flush(&s->c, 10000)) return -1;
        if (r == 0) break;
    }
    if (s->consumed != atomic_load_explicit(&s->p->consumed, memory_order_relaxed)) {
        atomic_store_explicit(&s->p->last_ns, perf_now_ns(), memory_order_relaxed);
        atomic_store_explicit(&s->p->consumed, s->consumed, memory_order_relaxed);
    }
    return perf_conn_flush(&s->c, 10000);
}

static int cons_setup(cons_state *s) {
    const perf_opts *o = s->p->run->o;
    if (perf_conn_open(&s->c, o)) return -1;
    if (!o->autoack && o->prefetch) {
        amq_basic_qos q = {.prefetch_count = (uint16_t)o->prefetch};
        if (perf_conn_rpc(&s->c, AMQ_BASIC_QOS, &q, AMQ_BASIC_QOS_OK, NULL)) return -1;
    }
    amq_basic_consume bc = {.queue = amq_cstr(s->p->queue), .no_ack = o->autoack};
    if (perf_conn_rpc(&s->c, AMQ_BASIC_CONSUME, &bc, AMQ_BASIC_CONSUME_OK, NULL)) return -1;
    s->ack_every = o->multi_ack > 0 ? (uint64_t)o->multi_ack : 1;
    if (o->prefetch && s->ack_every > (uint64_t)o->prefetch) s->ack_every = (uint64_t)o->prefetch;
    return 0;
}

void *perf_client_consumer(void *arg) {
    cons_state s = {.p = arg};
    int rc = cons_setup(&s);
    atomic_fetch_add(&s.p->run->consumers_ready, rc ? 1000000 : 1);
    while (!rc && !atomic_load_explicit(&s.p->run->stop_consumers, memory_order_relaxed)) {
        int ev = perf_conn_wait(&s.c, false, 20);
        if (!ev) {
            if (s.unacked) { /* idle: settle what we hold so the broker can send more */
                cons_ack(&s);
                rc = perf_conn_flush(&s.c, 10000);
            }
            continue;
        }
        rc = cons_drain(&s);
    }
    if (!rc && s.unacked) {
        cons_ack(&s);
        perf_conn_flush(&s.c, 1000);
    }
    if (rc) {
        fprintf(stderr, "warren-perf: consumer %d: %s\n", s.p->id, s.c.err);
        atomic_store(&s.p->run->failed, 1);
        perf_conn_destroy(&s.c);
    } else {
        perf_conn_close(&s.c);
    }
    return NULL;
}

/* ---- preload: n confirmed publishes into a queue ---- */

int perf_client_preload(const perf_opts *o, const char *queue, long n) {
    perf_opts po = *o;
    po.count = n;
    po.confirm = 10000;
    po.rate = 0;
    perf_run run = {.o = &po, .t0 = perf_now_ns()};
    perf_producer p = {.id = -1, .run = &run};
    snprintf(p.routing_key, sizeof p.routing_key, "%s", queue);
    perf_client_producer(&p);
    return atomic_load(&run.failed) || atomic_load(&p.confirmed) != (uint64_t)n ? -1 : 0;
}

/* ---- idle connections ---- */

typedef struct {
    const perf_opts *o;
    perf_conn *conns;
    long from, to;
    atomic_long *opened;
    atomic_int *failed;
} idle_job;

static void *idle_thread(void *arg) {
    idle_job *j = arg;
    for (long i = j->from; i < j->to && !atomic_load(j->failed); i++) {
        perf_conn *c = &j->conns[i];
        if (perf_conn_open(c, j->o)) {
            fprintf(stderr, "warren-perf: idle connection %ld: %s\n", i, c->err);
            perf_conn_destroy(c);
            atomic_store(j->failed, 1);
            break;
        }
        /* keep only the socket: 10,000 read buffers are not needed */
        free(c->rbuf);
        c->rbuf = NULL;
        amq_wr_destroy(&c->w);
        atomic_fetch_add(j->opened, 1);
    }
    return NULL;
}

perf_conn *perf_client_idle_open(const perf_opts *o, int threads, long *nopen) {
    perf_conn *conns = calloc((size_t)o->idle_conns, sizeof *conns);
    idle_job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    atomic_long opened = 0;
    atomic_int failed = 0;
    for (long i = 0; i < o->idle_conns; i++) conns[i].fd = -1;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (idle_job){o, conns, o->idle_conns * t / threads, o->idle_conns * (t + 1) / threads, &opened, &failed};
        pthread_create(&th[t], NULL, idle_thread, &jobs[t]);
    }
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    free(jobs);
    free(th);
    *nopen = atomic_load(&opened);
    return conns;
}

/* ---- self-test sink ---- */

typedef struct {
    perf_sink *s;
    int fd;
} sink_conn;

static void *sink_reader(void *arg) {
    sink_conn *sc = arg;
    size_t cap = 1u << 20, len = 0;
    uint8_t *buf = malloc(cap);
    uint64_t pubs = 0;
    for (;;) {
        ssize_t n = recv(sc->fd, buf + len, cap - len, 0);
        if (n <= 0) break;
        len += (size_t)n;
        size_t off = 0;
        amq_frame f;
        int k;
        while ((k = amq_frame_parse(buf + off, len - off, 0, &f)) > 0) {
            off += (size_t)k;
            if (f.type == AMQ_FRAME_METHOD && f.payload.len >= 4 && f.payload.p[1] == 60 && f.payload.p[3] == 40)
                pubs++;
        }
        if (k < 0) break;
        memmove(buf, buf + off, len - off);
        len -= off;
        atomic_fetch_add_explicit(&sc->s->bytes, (uint64_t)n, memory_order_relaxed);
        atomic_fetch_add_explicit(&sc->s->publishes, pubs, memory_order_relaxed);
        pubs = 0;
    }
    free(buf);
    close(sc->fd);
    free(sc);
    return NULL;
}

static void *sink_accept(void *arg) {
    perf_sink *s = arg;
    while (!atomic_load(&s->stop)) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) break;
        sink_conn *sc = malloc(sizeof *sc);
        *sc = (sink_conn){s, fd};
        pthread_t th;
        if (pthread_create(&th, NULL, sink_reader, sc)) {
            close(fd);
            free(sc);
        } else {
            pthread_detach(th);
        }
    }
    return NULL;
}

int perf_client_sink_start(perf_sink *s) {
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) || listen(s->lfd, 128) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al))
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->th, NULL, sink_accept, s) ? -1 : 0;
}

void perf_client_sink_stop(perf_sink *s) {
    atomic_store(&s->stop, 1);
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->th, NULL);
    close(s->lfd);
}
