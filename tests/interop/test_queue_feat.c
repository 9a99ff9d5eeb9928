/* test_queue_feat.c — the rest of issue 5's queue features: priority queues
 * (x-max-priority), single active consumer, quorum queues (delivery limit,
 * restrictions), CC/BCC. Every expectation (codes, texts, orders, header
 * layouts) was checked against RabbitMQ 3.10 (tests/interop/against-rabbitmq.sh). */
#include "test_basic_util.h"


/* Declare a fresh queue; returns its name (strdup'd). */
static char *declare_full(amqp_connection_state_t c, const char *prefix, bool durable, args_t *a) {
    char *name = strdup(h_name(prefix));
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, durable, 0, 0, tbl(a));
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "declare %s failed", name);
    return name;
}
static inline char *declare_args(amqp_connection_state_t c, const char *prefix, args_t *a) {
    return declare_full(c, prefix, false, a);
}

static void delete_queue(amqp_connection_state_t c, const char *q) {
    amqp_queue_delete(c, 1, amqp_cstring_bytes(q), 0, 0);
    cr_assert(amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL);
}

/* Declare (flags) expecting a 406 channel.close with exactly this text
 * ("%s" in want stands for the queue name). */
static void declare_fails_full(bool durable, bool exclusive, bool auto_delete, args_t *a, const char *want_fmt) {
    amqp_connection_state_t c = h_connect();
    const char *name = h_name("qf-bad");
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, durable, exclusive, auto_delete, tbl(a));
    char want[512];
    snprintf(want, sizeof want, want_fmt, name);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    h_expect_channel_close(r, 406, want);
    amqp_channel_close_t *cl = r.reply.decoded;
    cr_assert(tbu_eq(cl->reply_text, want), "got '%.*s', want '%s'", (int)cl->reply_text.len,
              (char *)cl->reply_text.bytes, want);
    amqp_destroy_connection(c);
}

/* Publish body to queue q with priority prio (< 0: no priority property). */
static void publish_prio(amqp_connection_state_t c, const char *q, const char *body, int prio) {
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof p);
    if (prio >= 0) {
        p._flags |= AMQP_BASIC_PRIORITY_FLAG;
        p.priority = (uint8_t)prio;
    }
    h_publish(c, 1, "", q, body, false, &p);
}

/* ---- x-max-priority ---- */

Test(queue_feat, priority_order_fifo_within_priority) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-max-priority", 10);
    char *q = declare_args(c, "qf-prio", &a);
    publish_prio(c, q, "a0", 0);
    publish_prio(c, q, "b5", 5);
    publish_prio(c, q, "c10", 10);
    publish_prio(c, q, "d3", 3);
    publish_prio(c, q, "e5", 5);
    publish_prio(c, q, "f12", 12); /* above the maximum: counts as 10 */
    publish_prio(c, q, "gnone", -1);
    publish_prio(c, q, "h1", 1);
    cr_assert_eq(h_wait_message_count(c, 1, q, 8, 2000), 8);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "c10,f12,b5,e5,d3,h1,a0,gnone");
    free(all);
    delete_queue(c, q);
    free(q);
    h_close(c);
}

Test(queue_feat, priority_consumer_gets_highest_first) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-max-priority", 3);
    char *q = declare_args(c, "qf-prio-c", &a);
    publish_prio(c, q, "lo1", 1);
    publish_prio(c, q, "lo2", 1);
    publish_prio(c, q, "hi1", 3);
    publish_prio(c, q, "zero", 0);
    publish_prio(c, q, "hi2", 3);
    cr_assert_eq(h_wait_message_count(c, 1, q, 5, 2000), 5);
    tbu_qos(c, 1, 1, false);
    tbu_consume(c, 1, q, false);
    const char *want[] = {"hi1", "hi2", "lo1", "lo2", "zero"};
    for (int i = 0; i < 5; i++) {
        uint64_t tag = tbu_expect_deliver(c, 2000, want[i], false);
        /* a higher priority arriving while we hold one goes before the rest */
        if (i == 2) {
            publish_prio(c, q, "hi3", 3);
            cr_assert_eq(h_wait_message_count(c, 1, q, 3, 2000), 3); /* queued before the ack frees credit */
        }
        cr_assert(amqp_basic_ack(c, 1, tag, 0) == 0);
        if (i == 2) {
            tag = tbu_expect_deliver(c, 2000, "hi3", false);
            cr_assert(amqp_basic_ack(c, 1, tag, 0) == 0);
        }
    }
    tbu_expect_silence(c, 200);
    free(q);
    h_close(c);
}

Test(queue_feat, priority_requeue_keeps_position) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-max-priority", 5);
    char *q = declare_args(c, "qf-prio-rq", &a);
    publish_prio(c, q, "x1", 5);
    publish_prio(c, q, "x2", 5);
    publish_prio(c, q, "y1", 1);
    uint64_t t1 = 0, t2 = 0, t3 = 0;
    char *b = h_get(c, 1, q, false, &t1, NULL);
    cr_assert_str_eq(b, "x1");
    free(b);
    b = h_get(c, 1, q, false, &t2, NULL);
    cr_assert_str_eq(b, "x2");
    free(b);
    b = h_get(c, 1, q, false, &t3, NULL);
    cr_assert_str_eq(b, "y1");
    free(b);
    publish_prio(c, q, "x3", 5);
    publish_prio(c, q, "y2", 1);
    cr_assert(amqp_basic_reject(c, 1, t3, 1) == 0);
    cr_assert(amqp_basic_reject(c, 1, t2, 1) == 0);
    cr_assert(amqp_basic_reject(c, 1, t1, 1) == 0);
    cr_assert_eq(h_wait_message_count(c, 1, q, 5, 2000), 5);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "x1,x2,x3,y1,y2");
    free(all);
    free(q);
    h_close(c);
}

Test(queue_feat, no_max_priority_ignores_priority) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "qf-plain");
    publish_prio(c, q, "a", 0);
    publish_prio(c, q, "b", 9);
    publish_prio(c, q, "c", 3);
    cr_assert_eq(h_wait_message_count(c, 1, q, 3, 2000), 3);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "a,b,c");
    free(all);
    h_close(c);
}

Test(queue_feat, priority_with_max_length_drops_next_out) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-max-priority", 2);
    a_int(&a, "x-max-length", 2);
    char *q = declare_args(c, "qf-prio-ml", &a);
    publish_prio(c, q, "lo", 0);
    publish_prio(c, q, "hi", 2);
    publish_prio(c, q, "mid", 1);
    cr_assert_eq(h_wait_message_count(c, 1, q, 2, 2000), 2);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "mid,lo");
    free(all);
    free(q);
    h_close(c);
}

Test(queue_feat, priority_validation) {
    args_t a = {0};
    a_int(&a, "x-max-priority", 256);
    declare_fails_full(false, false, false, &a,
                       "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost '/': {max_value_exceeded,256}");
    args_t b = {0};
    a_int(&b, "x-max-priority", -1);
    declare_fails_full(false, false, false, &b,
                       "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost '/': {value_negative,-1}");
    args_t d = {0};
    a_str(&d, "x-max-priority", "a");
    declare_fails_full(false, false, false, &d,
                       "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost '/': \"expected integer, got longstr\"");
}

/* ---- x-single-active-consumer ---- */

static uint32_t consumer_count(amqp_connection_state_t c, const char *q) {
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, 1, amqp_cstring_bytes(q), 1, 0, 0, 0, amqp_empty_table);
    cr_assert(ok != NULL, "passive declare of %s failed", q);
    return ok->consumer_count;
}

Test(queue_feat, single_active_consumer_takeover_by_priority) {
    amqp_connection_state_t c = h_connect(), c1 = h_connect(), c2 = h_connect(), c3 = h_connect();
    args_t a = {0};
    a_bool(&a, "x-single-active-consumer", true);
    char *q = declare_args(c, "qf-sac", &a);
    tbu_consume(c1, 1, q, false);
    tbu_consume(c2, 1, q, false);
    amqp_table_entry_t pe = {amqp_cstring_bytes("x-priority"), {.kind = AMQP_FIELD_KIND_I32, .value.i32 = 5}};
    tbu_consume_args(c3, 1, q, "", false, false, (amqp_table_t){1, &pe});
    cr_assert_eq(consumer_count(c, q), 3); /* declare-ok counts every consumer, waiting ones too */
    tbu_publish_seq(c, 1, q, "m", 0, 3);
    tbu_expect_deliver(c1, 2000, "m0", false);
    tbu_expect_deliver(c1, 2000, "m1", false);
    tbu_expect_deliver(c1, 2000, "m2", false);
    tbu_expect_silence(c2, 200);
    tbu_expect_silence(c3, 10);
    /* the active consumer goes away with its messages unacked: the highest
     * priority waiting consumer (registered later) takes over and gets them */
    h_close(c1);
    tbu_expect_deliver(c3, 2000, "m0", true);
    tbu_expect_deliver(c3, 2000, "m1", true);
    tbu_expect_deliver(c3, 2000, "m2", true);
    h_publish(c, 1, "", q, "n", false, NULL);
    tbu_expect_deliver(c3, 2000, "n", false);
    tbu_expect_silence(c2, 200);
    cr_assert_eq(consumer_count(c, q), 2);
    h_close(c3);
    tbu_expect_deliver(c2, 2000, "m0", true);
    tbu_expect_deliver(c2, 2000, "m1", true);
    tbu_expect_deliver(c2, 2000, "m2", true);
    tbu_expect_deliver(c2, 2000, "n", true);
    h_close(c2);
    delete_queue(c, q);
    free(q);
    h_close(c);
}

Test(queue_feat, single_active_consumer_registration_order_and_cancel) {
    amqp_connection_state_t c = h_connect(), c1 = h_connect(), c2 = h_connect(), c3 = h_connect();
    args_t a = {0};
    a_bool(&a, "x-single-active-consumer", true);
    char *q = declare_args(c, "qf-sac2", &a);
    const char *t1 = strdup(tbu_consume(c1, 1, q, true));
    tbu_consume(c2, 1, q, true);
    tbu_consume(c3, 1, q, true);
    h_publish(c, 1, "", q, "a", false, NULL);
    tbu_expect_deliver(c1, 2000, "a", false);
    cr_assert(amqp_basic_cancel(c1, 1, amqp_cstring_bytes(t1)) != NULL);
    free((void *)t1);
    h_publish(c, 1, "", q, "b", false, NULL);
    tbu_expect_deliver(c2, 2000, "b", false);
    tbu_expect_silence(c3, 200);
    tbu_expect_silence(c1, 10);
    /* the new active consumer keeps getting everything */
    h_publish(c, 1, "", q, "g", false, NULL);
    tbu_expect_deliver(c2, 2000, "g", false);
    h_close(c1);
    h_close(c2);
    h_close(c3);
    delete_queue(c, q);
    free(q);
    h_close(c);
}

Test(queue_feat, single_active_consumer_validation) {
    args_t a = {0};
    a_str(&a, "x-single-active-consumer", "yes");
    declare_fails_full(false, false, false, &a,
                       "PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue '%s' in vhost '/': "
                       "{unacceptable_type,longstr}");
    args_t b = {0};
    a_int(&b, "x-single-active-consumer", 1);
    declare_fails_full(false, false, false, &b,
                       "PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue '%s' in vhost '/': "
                       "{unacceptable_type,long}");
}

/* ---- quorum queues ---- */

static amqp_field_value_t *hdr(amqp_table_t *t, const char *k) {
    for (int i = 0; i < t->num_entries; i++)
        if (tbu_eq(t->entries[i].key, k)) return &t->entries[i].value;
    return NULL;
}

/* Next delivery (envelope with properties) within ms; asserts one arrives. */
static void next_env(amqp_connection_state_t c, amqp_envelope_t *env, int ms) {
    amqp_maybe_release_buffers(c);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    amqp_rpc_reply_t r = amqp_consume_message(c, env, &tv, 0);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "no delivery within %d ms", ms);
}

/* The message's x-delivery-count (-1 = absent); asserts RabbitMQ's type (long). */
static int64_t delivery_count(amqp_envelope_t *env) {
    amqp_basic_properties_t *p = &env->message.properties;
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG)) return -1;
    amqp_field_value_t *v = hdr(&p->headers, "x-delivery-count");
    if (!v) return -1;
    cr_assert(v->kind == AMQP_FIELD_KIND_I64, "x-delivery-count kind %c", v->kind);
    return v->value.i64;
}

static void publish_hdr(amqp_connection_state_t c, const char *x, const char *rk, const char *body) {
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof p);
    amqp_table_entry_t he = {amqp_cstring_bytes("k"), {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("v")}};
    p._flags = AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    p.delivery_mode = 2;
    p.headers = (amqp_table_t){1, &he};
    h_publish(c, 1, x, rk, body, false, &p);
}

Test(queue_feat, quorum_restrictions) {
    args_t a = {0};
    a_str(&a, "x-queue-type", "quorum");
    declare_fails_full(false, false, false, &a, "PRECONDITION_FAILED - invalid property 'non-durable' for queue '%s' in vhost '/'");
    declare_fails_full(true, true, false, &a, "PRECONDITION_FAILED - invalid property 'exclusive-owner' for queue '%s' in vhost '/'");
    declare_fails_full(true, false, true, &a, "PRECONDITION_FAILED - invalid property 'auto-delete' for queue '%s' in vhost '/'");
    declare_fails_full(false, true, true, &a, "PRECONDITION_FAILED - invalid property 'auto-delete' for queue '%s' in vhost '/'");
    declare_fails_full(false, true, false, &a, "PRECONDITION_FAILED - invalid property 'exclusive-owner' for queue '%s' in vhost '/'");
    args_t b = {0};
    a_str(&b, "x-queue-type", "quorum");
    a_int(&b, "x-max-priority", 300); /* the type refuses it before its value is checked, and before durability */
    declare_fails_full(false, false, false, &b,
                       "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost '/' of queue type rabbit_quorum_queue");
    args_t d = {0};
    a_str(&d, "x-queue-type", "quorum");
    a_str(&d, "x-queue-mode", "lazy");
    declare_fails_full(true, false, false, &d,
                       "PRECONDITION_FAILED - invalid arg 'x-queue-mode' for queue '%s' in vhost '/' of queue type rabbit_quorum_queue");
    args_t g = {0};
    a_str(&g, "x-queue-type", "quorum");
    a_int(&g, "x-message-ttl", -1); /* values are checked before durability */
    declare_fails_full(false, false, false, &g,
                       "PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue '%s' in vhost '/': {value_negative,-1}");
    args_t h = {0};
    a_int(&h, "x-delivery-limit", 3);
    declare_fails_full(true, false, false, &h,
                       "PRECONDITION_FAILED - invalid arg 'x-delivery-limit' for queue '%s' in vhost '/' of queue type rabbit_classic_queue");
    args_t k = {0};
    a_int(&k, "x-quorum-initial-group-size", 3);
    declare_fails_full(true, false, false, &k,
                       "PRECONDITION_FAILED - invalid arg 'x-quorum-initial-group-size' for queue '%s' in vhost '/' of queue type rabbit_classic_queue");
}

Test(queue_feat, quorum_delivery_count_and_limit) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_str(&a, "x-queue-type", "quorum");
    a_int(&a, "x-delivery-limit", 2);
    char *q = declare_full(c, "qf-qq", true, &a);
    publish_hdr(c, "", q, "x");
    cr_assert_eq(h_wait_message_count(c, 1, q, 1, 2000), 1);
    tbu_consume(c, 1, q, false);
    for (int i = 0; i <= 2; i++) { /* delivered limit + 1 times */
        amqp_envelope_t env;
        next_env(c, &env, 2000);
        cr_assert_eq(env.redelivered, i > 0);
        cr_assert_eq(delivery_count(&env), i == 0 ? -1 : i, "delivery %d: x-delivery-count %lld", i,
                     (long long)delivery_count(&env));
        amqp_field_value_t *k = hdr(&env.message.properties.headers, "k");
        cr_assert(k && k->kind == AMQP_FIELD_KIND_UTF8 && tbu_eq(k->value.bytes, "v"), "headers kept");
        cr_assert(amqp_basic_reject(c, 1, env.delivery_tag, 1) == 0);
        amqp_destroy_envelope(&env);
    }
    tbu_expect_silence(c, 300); /* returned once more than the limit: dropped */
    cr_assert_eq(h_message_count(c, 1, q), 0);
    delete_queue(c, q);
    free(q);
    h_close(c);
}

Test(queue_feat, quorum_delivery_limit_dead_letters) {
    amqp_connection_state_t c = h_connect();
    char x[64];
    snprintf(x, sizeof x, "%s", h_name("qf-dlx"));
    h_exchange_declare(c, 1, x, "fanout", false, false, false, amqp_empty_table);
    char *dlq = strdup(h_queue_declare(c, 1, h_name("qf-dlq"), false, false, false));
    h_queue_bind(c, 1, dlq, x, "", amqp_empty_table);
    args_t a = {0};
    a_str(&a, "x-queue-type", "quorum");
    a_int(&a, "x-delivery-limit", 0);
    a_str(&a, "x-dead-letter-exchange", x);
    char *q = declare_full(c, "qf-qqd", true, &a);
    publish_hdr(c, "", q, "z");
    cr_assert_eq(h_wait_message_count(c, 1, q, 1, 2000), 1);
    tbu_consume(c, 1, q, false);
    amqp_envelope_t env;
    next_env(c, &env, 2000);
    cr_assert(amqp_basic_nack(c, 1, env.delivery_tag, 0, 1) == 0);
    amqp_destroy_envelope(&env);
    cr_assert_eq(h_wait_message_count(c, 1, dlq, 1, 2000), 1);
    cr_assert_eq(h_message_count(c, 1, q), 0);
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(dlq), 1);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL && r.reply.id == AMQP_BASIC_GET_OK_METHOD);
    amqp_message_t m;
    cr_assert(amqp_read_message(c, 1, &m, 0).reply_type == AMQP_RESPONSE_NORMAL);
    amqp_table_t *h = &m.properties.headers;
    cr_assert(hdr(h, "x-delivery-count") == NULL, "the dead-lettered message has no x-delivery-count");
    amqp_field_value_t *fr = hdr(h, "x-first-death-reason");
    cr_assert(fr && tbu_eq(fr->value.bytes, "delivery_limit"));
    amqp_field_value_t *xd = hdr(h, "x-death");
    cr_assert(xd && xd->kind == AMQP_FIELD_KIND_ARRAY && xd->value.array.num_entries == 1);
    amqp_table_t *d = &xd->value.array.entries[0].value.table;
    amqp_field_value_t *reason = hdr(d, "reason");
    cr_assert(reason && tbu_eq(reason->value.bytes, "delivery_limit"));
    amqp_field_value_t *k = hdr(h, "k");
    cr_assert(k && tbu_eq(k->value.bytes, "v"));
    amqp_destroy_message(&m);
    delete_queue(c, q);
    free(q);
    free(dlq);
    h_close(c);
}

Test(queue_feat, quorum_without_limit_counts_on) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_str(&a, "x-queue-type", "quorum");
    char *q = declare_full(c, "qf-qqn", true, &a);
    publish_hdr(c, "", q, "y");
    cr_assert_eq(h_wait_message_count(c, 1, q, 1, 2000), 1);
    tbu_consume(c, 1, q, false);
    for (int i = 0; i < 5; i++) {
        amqp_envelope_t env;
        next_env(c, &env, 2000);
        cr_assert_eq(delivery_count(&env), i == 0 ? -1 : i);
        cr_assert(amqp_basic_reject(c, 1, env.delivery_tag, i < 4) == 0);
        amqp_destroy_envelope(&env);
    }
    cr_assert_eq(h_wait_message_count(c, 1, q, 0, 2000), 0);
    delete_queue(c, q);
    free(q);
    h_close(c);
}

/* basic.get on channel ch: asserts the body, redelivered and x-delivery-count
 * (-1 = absent); returns the delivery tag. */
static uint64_t get_counted(amqp_connection_state_t c, amqp_channel_t ch, const char *q, const char *body,
                            bool redelivered, int64_t count) {
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_basic_get(c, ch, amqp_cstring_bytes(q), 0);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL && r.reply.id == AMQP_BASIC_GET_OK_METHOD, "no message for %s", body);
    amqp_basic_get_ok_t *ok = r.reply.decoded;
    uint64_t tag = ok->delivery_tag;
    bool red = ok->redelivered != 0;
    amqp_message_t m;
    cr_assert(amqp_read_message(c, ch, &m, 0).reply_type == AMQP_RESPONSE_NORMAL);
    cr_assert(tbu_eq(m.body, body), "got '%.*s', want '%s'", (int)m.body.len, (char *)m.body.bytes, body);
    cr_assert_eq(red, redelivered, "%s: redelivered %d", body, red);
    amqp_envelope_t env = {.message = m};
    int64_t n = delivery_count(&env);
    cr_assert_eq(n, count, "%s: x-delivery-count %lld, want %lld", body, (long long)n, (long long)count);
    amqp_destroy_message(&m);
    return tag;
}

/* RabbitMQ 3.10's quorum queues: basic.get-ok carries x-delivery-count from
 * the first delivery (0; basic.deliver only once returned, see above); a
 * message the client requeues (reject, nack, recover) goes to the back of the
 * queue; one whose channel closes goes back to its place. */
Test(queue_feat, quorum_get_count_and_requeue_order) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_str(&a, "x-queue-type", "quorum");
    char *q = declare_full(c, "qf-qqg", true, &a);
    publish_hdr(c, "", q, "a");
    publish_hdr(c, "", q, "b");
    publish_hdr(c, "", q, "c");
    cr_assert_eq(h_wait_message_count(c, 1, q, 3, 2000), 3);
    uint64_t ta = get_counted(c, 1, q, "a", false, 0);
    uint64_t tb = get_counted(c, 1, q, "b", false, 0);
    cr_assert(amqp_basic_reject(c, 1, tb, 1) == 0);
    cr_assert(amqp_basic_reject(c, 1, ta, 1) == 0);
    get_counted(c, 1, q, "c", false, 0);
    tb = get_counted(c, 1, q, "b", true, 1);
    get_counted(c, 1, q, "a", true, 1);
    cr_assert(amqp_basic_nack(c, 1, tb, 1, 1) == 0); /* multiple: c then b; a stays unacked */
    amqp_basic_recover(c, 1, 1);                     /* a goes behind them */
    cr_assert(amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL);
    /* a channel that closes: its messages go back to their places, counted */
    h_channel_open(c, 2);
    get_counted(c, 2, q, "c", true, 1);
    get_counted(c, 2, q, "b", true, 2);
    amqp_channel_close(c, 2, AMQP_REPLY_SUCCESS);
    get_counted(c, 1, q, "c", true, 2);
    get_counted(c, 1, q, "b", true, 3);
    get_counted(c, 1, q, "a", true, 2);
    cr_assert(amqp_basic_ack(c, 1, 0, 1) == 0);
    cr_assert_eq(h_message_count(c, 1, q), 0);
    delete_queue(c, q);
    free(q);
    h_close(c);
}

/* ---- CC / BCC (sender-selected distribution) ---- */

static void publish_cc(amqp_connection_state_t c, const char *x, const char *rk, const char *body, const char *cc,
                       const char *bcc, bool mandatory) {
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof p);
    amqp_table_entry_t he[3];
    amqp_field_value_t cce[2], bcce[1];
    int n = 0;
    if (cc) {
        cce[0] = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(cc)};
        cce[1] = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I32, .value.i32 = 7}; /* not a string: ignored */
        he[n].key = amqp_cstring_bytes("CC");
        he[n].value.kind = AMQP_FIELD_KIND_ARRAY;
        he[n++].value.value.array = (amqp_array_t){2, cce};
    }
    he[n].key = amqp_cstring_bytes("z");
    he[n].value.kind = AMQP_FIELD_KIND_I32;
    he[n++].value.value.i32 = 1;
    if (bcc) {
        bcce[0] = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(bcc)};
        he[n].key = amqp_cstring_bytes("BCC");
        he[n].value.kind = AMQP_FIELD_KIND_ARRAY;
        he[n++].value.value.array = (amqp_array_t){1, bcce};
    }
    p._flags = AMQP_BASIC_HEADERS_FLAG;
    p.headers = (amqp_table_t){n, he};
    h_publish(c, 1, x, rk, body, mandatory, &p);
}

/* basic.get from q: asserts body and routing key; returns "CC,z" style header keys. */
static void expect_get(amqp_connection_state_t c, const char *q, const char *body, const char *rk, const char *keys) {
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(q), 1);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL && r.reply.id == AMQP_BASIC_GET_OK_METHOD, "%s is empty", q);
    amqp_basic_get_ok_t *ok = r.reply.decoded;
    cr_assert(tbu_eq(ok->routing_key, rk), "routing key of %s", q);
    amqp_message_t m;
    cr_assert(amqp_read_message(c, 1, &m, 0).reply_type == AMQP_RESPONSE_NORMAL);
    cr_assert(tbu_eq(m.body, body), "%s: body '%.*s', want '%s'", q, (int)m.body.len, (char *)m.body.bytes, body);
    char got[128] = "";
    amqp_table_t *h = &m.properties.headers;
    for (int i = 0; i < h->num_entries; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.*s", i ? "," : "", (int)h->entries[i].key.len,
                 (char *)h->entries[i].key.bytes);
    cr_assert_str_eq(got, keys, "%s: header keys '%s', want '%s'", q, got, keys);
    amqp_destroy_message(&m);
}

static void expect_empty(amqp_connection_state_t c, const char *q) {
    cr_assert_null(h_get(c, 1, q, true, NULL, NULL), "%s should be empty", q);
}

Test(queue_feat, cc_bcc_default_exchange) {
    amqp_connection_state_t c = h_connect();
    char *a = strdup(tbu_queue(c, "qf-ccA")), *b = strdup(tbu_queue(c, "qf-ccB")), *d = strdup(tbu_queue(c, "qf-ccC"));
    publish_cc(c, "", a, "1", b, d, false);
    cr_assert_eq(h_wait_message_count(c, 1, d, 1, 2000), 1);
    expect_get(c, a, "1", a, "CC,z"); /* BCC stripped everywhere, CC kept */
    expect_get(c, b, "1", a, "CC,z");
    expect_get(c, d, "1", a, "CC,z");
    publish_cc(c, "", a, "2", a, NULL, false); /* a queue named twice gets one copy */
    cr_assert_eq(h_wait_message_count(c, 1, a, 1, 2000), 1);
    expect_get(c, a, "2", a, "CC,z");
    expect_empty(c, a);
    free(a);
    free(b);
    free(d);
    h_close(c);
}

Test(queue_feat, cc_bcc_direct_topic_and_alternate_exchange) {
    amqp_connection_state_t c = h_connect();
    char *a = strdup(tbu_queue(c, "qf-ccA")), *b = strdup(tbu_queue(c, "qf-ccB")), *ae_q = strdup(tbu_queue(c, "qf-ccAE"));
    char t[64], dx[64], ae[64];
    snprintf(t, sizeof t, "%s", h_name("qf-cct"));
    snprintf(dx, sizeof dx, "%s", h_name("qf-ccd"));
    snprintf(ae, sizeof ae, "%s", h_name("qf-ccae"));
    h_exchange_declare(c, 1, t, "topic", false, false, false, amqp_empty_table);
    h_queue_bind(c, 1, a, t, "a.*", amqp_empty_table);
    h_queue_bind(c, 1, b, t, "b.#", amqp_empty_table);
    publish_cc(c, t, "x.y", "3", NULL, "b.q.r", false);
    cr_assert_eq(h_wait_message_count(c, 1, b, 1, 2000), 1);
    expect_get(c, b, "3", "x.y", "z");
    expect_empty(c, a);
    h_exchange_declare(c, 1, ae, "fanout", false, false, false, amqp_empty_table);
    h_queue_bind(c, 1, ae_q, ae, "", amqp_empty_table);
    amqp_table_entry_t xa = {amqp_cstring_bytes("alternate-exchange"),
                             {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(ae)}};
    h_exchange_declare(c, 1, dx, "direct", false, false, false, (amqp_table_t){1, &xa});
    h_queue_bind(c, 1, a, dx, "ka", amqp_empty_table);
    /* the key routes nothing but a CC key does: no alternate exchange, no return */
    publish_cc(c, dx, "nothing", "5", "ka", NULL, true);
    cr_assert_eq(h_wait_message_count(c, 1, a, 1, 2000), 1);
    expect_get(c, a, "5", "nothing", "CC,z");
    expect_empty(c, ae_q);
    /* nothing routes: the alternate exchange takes it, BCC stripped */
    publish_cc(c, dx, "nothing", "6", NULL, "none", false);
    cr_assert_eq(h_wait_message_count(c, 1, ae_q, 1, 2000), 1);
    expect_get(c, ae_q, "6", "nothing", "z");
    expect_empty(c, a);
    free(a);
    free(b);
    free(ae_q);
    h_close(c);
}

Test(queue_feat, cc_not_an_array_406) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "qf-ccbad");
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof p);
    amqp_table_entry_t he = {amqp_cstring_bytes("CC"), {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(q)}};
    p._flags = AMQP_BASIC_HEADERS_FLAG;
    p.headers = (amqp_table_t){1, &he};
    h_publish(c, 1, "", q, "x", false, &p);
    tbu_expect_async_channel_close(c, 1, 406,
                                   "PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,\"CC\",longstr}");
    amqp_destroy_connection(c);
}
