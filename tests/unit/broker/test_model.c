/* The model built in-process, without a socket, a connection or the store
 * (the test links warren_model only): declare, bind, route, enqueue,
 * dispatch, ack, expire and dead-letter through the model's own API. A
 * worker thread runs with test hooks in place of protocol/wconns.c, so a
 * dispatched delivery arrives here as the mail a connection's worker gets. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "amq/methods.h"
#include "amq/table.h"
#include "message.h"
#include "qsched.h"
#include "queue.h"
#include "queue_type.h"
#include "util.h"
#include "vhost_impl.h"
#include "worker.h"

/* ---- a worker whose hooks record the mail it gets ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static mail got[64];
static size_t ngot;
static worker *w;

static void on_mail(worker *wk, mail *m) {
    (void)wk;
    if (m->kind != MAIL_DELIVER) return;
    pthread_mutex_lock(&lock);
    if (ngot < 64) got[ngot++] = *m;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}
static void on_event(worker *wk, void *p, uint32_t ev) { (void)wk, (void)p, (void)ev; }
static void on_pass(worker *wk, uint64_t now, bool tick) { (void)wk, (void)now, (void)tick; }
static uint64_t next_due(worker *wk) { return (void)wk, 0; }
static bool stopped(worker *wk, uint64_t since) { return (void)wk, (void)since, true; }
static void on_exit_hook(worker *wk) { (void)wk; }

static vhost *v;

static void setup(void) {
    static const worker_hooks hooks = {on_event, on_mail, on_pass, next_due, stopped, on_exit_hook};
    workers_set_hooks(&hooks);
    w = workers_create(1)[0];
    cr_assert_eq(worker_start(w), 0);
    vhosts_init();
    cr_assert_eq(vhost_add("/", NULL), 0);
    v = vhost_find(amq_cstr("/"));
    cr_assert(v);
}

static void teardown(void) {
    mail m = {.kind = MAIL_SHUTDOWN};
    worker_post(w, &m);
    worker_join(w);
    qsched_stop();
}

/* Wait for the n-th delivery (up to 2 s); returns it or fails. */
static mail wait_delivery(size_t n) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    pthread_mutex_lock(&lock);
    while (ngot < n && pthread_cond_timedwait(&cond, &lock, &until) == 0) {}
    size_t have = ngot;
    mail m = have >= n ? got[n - 1] : (mail){0};
    pthread_mutex_unlock(&lock);
    cr_assert_geq(have, n, "delivery %zu never came", n);
    return m;
}

static size_t deliveries(void) {
    pthread_mutex_lock(&lock);
    size_t n = ngot;
    pthread_mutex_unlock(&lock);
    return n;
}

/* ---- helpers ---- */

static msg *mk(const char *rk, const char *body) {
    size_t n = strlen(body);
    msg *m = msg_new(amq_cstr(""), amq_cstr(rk), (amq_bytes){0}, n);
    cr_assert(m);
    memcpy(msg_body(m), body, n);
    m->body_have = n;
    return m;
}

static bool body_is(const msg *m, const char *body) {
    return m && m->body_len == strlen(body) && memcmp(msg_body((msg *)m), body, m->body_len) == 0;
}

static queue *declare(const char *name, amq_bytes args) {
    queue *q = NULL;
    werr e;
    int rc = vhost_queue_declare(v, amq_cstr(name), false, false, false, false, args, 1, &q, &e);
    cr_assert_eq(rc, 0, "declare %s: %s", name, e.text);
    return q;
}

/* Route rk through exchange x and enqueue in every queue it reaches, as the
 * channel's publish does; returns how many queues took it. */
static size_t publish(const char *x, const char *rk, const char *body) {
    msg *m = mk(rk, body);
    route_set rs;
    route_set_init(&rs);
    werr e;
    pthread_rwlock_rdlock(&v->lock);
    amq_bytes key = amq_cstr(rk);
    int rc = vhost_route_keys(v, amq_cstr(x), &key, 1, (amq_bytes){0}, &rs, &e);
    size_t n = 0;
    for (size_t i = 0; !rc && i < rs.dests.n; i++) n += queue_publish(rs.dests.v[i], m) == 0;
    pthread_rwlock_unlock(&v->lock);
    route_set_destroy(&rs);
    msg_unref(&m);
    cr_assert_eq(rc, 0, "route: %s", e.text);
    return n;
}

static msg *get(queue *q) {
    qentry e;
    uint32_t left;
    return queue_get(q, &e, &left) ? e.m : NULL;
}

static amq_bytes table(amq_wr *t, const char *k1, amq_field f1, const char *k2, amq_field f2) {
    amq_wr_init(t);
    amq_put_shortstr(t, amq_cstr(k1));
    amq_put_field(t, &f1);
    if (k2) {
        amq_put_shortstr(t, amq_cstr(k2));
        amq_put_field(t, &f2);
    }
    return (amq_bytes){t->data, t->len};
}

static amq_field str(const char *s) { return (amq_field){.type = 'S', .v.str = amq_cstr(s)}; }

TestSuite(model, .init = setup, .fini = teardown);

/* ---- declare, bind, route ---- */

Test(model, declare_bind_route) {
    werr e;
    cr_assert_eq(
        vhost_exchange_declare(v, amq_cstr("logs"), amq_cstr("direct"), false, false, false, false, (amq_bytes){0}, &e),
        0, "%s", e.text);
    queue *a = declare("a", (amq_bytes){0}), *b = declare("b", (amq_bytes){0});
    cr_assert_eq(vhost_queue_bind(v, amq_cstr("a"), amq_cstr("logs"), amq_cstr("info"), (amq_bytes){0}, false, 1, &e),
                 0);
    cr_assert_eq(vhost_queue_bind(v, amq_cstr("b"), amq_cstr("logs"), amq_cstr("error"), (amq_bytes){0}, false, 1, &e),
                 0);
    cr_assert_eq(publish("logs", "info", "i"), 1);
    cr_assert_eq(publish("logs", "error", "e"), 1);
    cr_assert_eq(publish("logs", "debug", "d"), 0, "no binding: unroutable");
    cr_assert_eq(publish("", "b", "direct to b"), 1, "the default exchange routes by queue name");
    msg *m = get(a);
    cr_assert(body_is(m, "i"));
    msg_unref(&m);
    cr_assert_null(get(a));
    m = get(b);
    cr_assert(body_is(m, "e"));
    msg_unref(&m);
    m = get(b);
    cr_assert(body_is(m, "direct to b"));
    msg_unref(&m);
    /* routing to a missing exchange is 404 with RabbitMQ's text */
    route_set rs;
    route_set_init(&rs);
    amq_bytes key = amq_cstr("k");
    pthread_rwlock_rdlock(&v->lock);
    int rc = vhost_route_keys(v, amq_cstr("nope"), &key, 1, (amq_bytes){0}, &rs, &e);
    pthread_rwlock_unlock(&v->lock);
    route_set_destroy(&rs);
    cr_assert_eq(rc, 404);
    cr_assert(strstr(e.text, "NOT_FOUND - no exchange 'nope' in vhost '/'"), "%s", e.text);
    queue_unref(&a);
    queue_unref(&b);
}

Test(model, queue_types_and_their_arguments) {
    amq_wr t;
    queue *q = NULL;
    werr e;
    amq_bytes args = table(&t, "x-queue-type", str("quorum"), NULL, (amq_field){0});
    cr_assert_eq(vhost_queue_declare(v, amq_cstr("qq"), false, true, false, false, args, 1, &q, &e), 0, "%s", e.text);
    cr_assert_eq(q->type, &queue_type_quorum);
    queue_unref(&q);
    cr_assert_eq(vhost_queue_declare(v, amq_cstr("qq2"), false, false, false, false, args, 1, &q, &e), 406,
                 "a quorum queue is durable only");
    amq_wr_destroy(&t);
    args = table(&t, "x-queue-type", str("quorum"), "x-max-priority", amq_field_i64(5));
    cr_assert_eq(vhost_queue_declare(v, amq_cstr("qq3"), false, true, false, false, args, 1, &q, &e), 406);
    cr_assert(
        strstr(e.text, "invalid arg 'x-max-priority' for queue 'qq3' in vhost '/' of queue type rabbit_quorum_queue"),
        "%s", e.text);
    amq_wr_destroy(&t);
    args = table(&t, "x-queue-type", str("lavin"), NULL, (amq_field){0});
    cr_assert_eq(vhost_queue_declare(v, amq_cstr("qq4"), false, true, false, false, args, 1, &q, &e), 406);
    amq_wr_destroy(&t);
}

/* ---- enqueue, dispatch, ack ---- */

Test(model, dispatch_respects_prefetch_and_ack_returns_credit) {
    queue *q = declare("work", (amq_bytes){0});
    chan_credit cc = {0};
    consumer *c = consumer_new();
    c->w = w;
    c->cc = &cc;
    c->q = q;
    queue_ref(q);
    atomic_store(&c->prefetch, 1);
    cr_assert_eq(queue_add_consumer(q, c), 0);
    cr_assert_eq(publish("", "work", "one"), 1);
    cr_assert_eq(publish("", "work", "two"), 1);
    mail d1 = wait_delivery(1);
    cr_assert(body_is(d1.m, "one"));
    cr_assert_eq(d1.q, q);
    struct timespec ms50 = {0, 50 * 1000000};
    nanosleep(&ms50, NULL);
    cr_assert_eq(deliveries(), 1, "prefetch 1: the second waits for the ack");
    uint32_t n;
    queue_counts(q, &n, NULL);
    cr_assert_eq(n, 1);
    /* the ack, as the channel settles it: the message leaves, credit comes back */
    atomic_fetch_sub(&c->inflight, 1);
    queue_ack(d1.q, d1.m);
    queue_unref(&d1.q);
    consumer_unref(&d1.c);
    consumer_release(c, 1);
    mail d2 = wait_delivery(2);
    cr_assert(body_is(d2.m, "two"));
    msg_unref(&d2.m);
    queue_unref(&d2.q);
    consumer_unref(&d2.c);
    queue_remove_consumer(q, c);
    consumer_unref(&c);
    queue_unref(&q);
}

Test(model, requeue_keeps_place_and_marks_redelivered) {
    queue *q = declare("rq", (amq_bytes){0});
    publish("", "rq", "1");
    publish("", "rq", "2");
    qentry e;
    uint32_t left;
    cr_assert(queue_get(q, &e, &left));
    queue_requeue(q, e.m, e.seq, e.exp, true);
    cr_assert(queue_get(q, &e, &left));
    cr_assert(body_is(e.m, "1"));
    cr_assert(e.redelivered);
    msg_unref(&e.m);
    queue_unref(&q);
}

/* ---- message statistics (stats.h): counted where the model sees them ---- */

Test(model, stats_count_declares_routing_enqueues_and_deliveries) {
    stat_set_init(&stats_global);
    uint64_t g0[STAT_N] = {0}, v0[STAT_N] = {0};
    stat_set_sum(&stats_global, g0);
    stat_set_sum(&v->hot.st, v0);
    queue *q = declare("counted", (amq_bytes){0});
    queue *again = declare("counted", (amq_bytes){0});
    queue_unref(&again);
    uint64_t g1[STAT_N] = {0}, v1[STAT_N] = {0};
    stat_set_sum(&stats_global, g1);
    stat_set_sum(&v->hot.st, v1);
    cr_assert_eq(g1[STAT_Q_DECLARED] - g0[STAT_Q_DECLARED], 2);
    cr_assert_eq(g1[STAT_Q_CREATED] - g0[STAT_Q_CREATED], 1);
    cr_assert_eq(v1[STAT_Q_DECLARED] - v0[STAT_Q_DECLARED], 2);
    werr e;
    cr_assert_eq(
        vhost_exchange_declare(v, amq_cstr("sx"), amq_cstr("fanout"), false, false, false, false, (amq_bytes){0}, &e),
        0);
    cr_assert_eq(vhost_queue_bind(v, amq_cstr("counted"), amq_cstr("sx"), amq_cstr(""), (amq_bytes){0}, false, 1, &e),
                 0);
    cr_assert_eq(publish("sx", "", "a"), 1);
    cr_assert_eq(publish("sx", "", "b"), 1);
    cr_assert_eq(publish("", "nowhere", "c"), 0);
    exchange *x = strmap_get(&v->exchanges, amq_cstr("sx"));
    exchange *dx = strmap_get(&v->exchanges, amq_cstr(""));
    cr_assert_eq(ctr_get(&x->st[XST_PUBLISH_IN]), 2);
    cr_assert_eq(ctr_get(&x->st[XST_PUBLISH_OUT]), 2);
    cr_assert_geq(ctr_get(&dx->st[XST_PUBLISH_IN]), 1);
    cr_assert_eq(ctr_get(&q->st[QST_PUBLISH]), 2);
    /* one consumer, no-ack: both go out, counted as deliver_no_ack */
    chan_credit cc = {0};
    consumer *c = consumer_new();
    c->w = w;
    c->cc = &cc;
    c->q = q;
    c->no_ack = true;
    queue_ref(q);
    cr_assert_eq(queue_add_consumer(q, c), 0);
    mail d1 = wait_delivery(1), d2 = wait_delivery(2);
    cr_assert_eq(ctr_get(&q->st[QST_DELIVER_NO_ACK]), 2);
    cr_assert_eq(ctr_get(&q->st[QST_DELIVER]), 0);
    mail ds[2] = {d1, d2};
    for (int i = 0; i < 2; i++) {
        msg_unref(&ds[i].m);
        queue_unref(&ds[i].q);
        consumer_unref(&ds[i].c);
    }
    queue_remove_consumer(q, c);
    consumer_unref(&c);
    uint32_t n;
    cr_assert_eq(vhost_queue_delete(v, amq_cstr("counted"), false, false, 1, &n, &e), 0);
    uint64_t g2[STAT_N] = {0};
    stat_set_sum(&stats_global, g2);
    cr_assert_eq(g2[STAT_Q_DELETED] - g1[STAT_Q_DELETED], 1);
    queue_unref(&q);
}

/* ---- expire and dead-letter ---- */

Test(model, expired_message_is_not_served) {
    amq_wr t;
    queue *q = declare("ttl", table(&t, "x-message-ttl", amq_field_i64(1), NULL, (amq_field){0}));
    amq_wr_destroy(&t);
    publish("", "ttl", "old");
    struct timespec ms20 = {0, 20 * 1000000};
    nanosleep(&ms20, NULL);
    cr_assert_null(get(q), "expired after its TTL");
    uint32_t n;
    queue_counts(q, &n, NULL);
    cr_assert_eq(n, 0);
    queue_unref(&q);
}

Test(model, rejected_message_is_dead_lettered_with_x_death) {
    queue *dlq = declare("dlq", (amq_bytes){0});
    amq_wr t;
    queue *q = declare("src", table(&t, "x-dead-letter-exchange", str(""), "x-dead-letter-routing-key", str("dlq")));
    amq_wr_destroy(&t);
    publish("", "src", "bad");
    qentry e;
    uint32_t left;
    cr_assert(queue_get(q, &e, &left));
    queue_discard(q, e.m); /* basic.reject requeue=false */
    msg *m = get(dlq);
    cr_assert(body_is(m, "bad"), "dead-lettered to dlq");
    amq_basic_props p;
    memset(&p, 0, sizeof p);
    cr_assert_eq(amq_basic_props_decode(msg_props(m), &p), AMQ_OK);
    amq_field f;
    cr_assert_eq(amq_table_get(p.headers, "x-death", &f), 1, "x-death header");
    cr_assert_eq(amq_table_get(p.headers, "x-first-death-reason", &f), 1);
    cr_assert(amq_bytes_eqs(f.v.str, "rejected"));
    msg_unref(&m);
    queue_unref(&q);
    queue_unref(&dlq);
}

Test(model, expired_message_is_dead_lettered) {
    queue *dlq = declare("dlq2", (amq_bytes){0});
    amq_wr t;
    amq_wr_init(&t);
    amq_field ttl = amq_field_i64(1), dlx = str(""), dlrk = str("dlq2");
    amq_put_shortstr(&t, amq_cstr("x-message-ttl"));
    amq_put_field(&t, &ttl);
    amq_put_shortstr(&t, amq_cstr("x-dead-letter-exchange"));
    amq_put_field(&t, &dlx);
    amq_put_shortstr(&t, amq_cstr("x-dead-letter-routing-key"));
    amq_put_field(&t, &dlrk);
    queue *q = declare("ttl2", (amq_bytes){t.data, t.len});
    amq_wr_destroy(&t);
    publish("", "ttl2", "late");
    msg *m = NULL;
    for (int i = 0; i < 200 && !m; i++) { /* the scheduler thread expires and routes it */
        struct timespec ms10 = {0, 10 * 1000000};
        nanosleep(&ms10, NULL);
        m = get(dlq);
    }
    cr_assert(body_is(m, "late"), "expired into dlq2");
    msg_unref(&m);
    queue_unref(&q);
    queue_unref(&dlq);
}
