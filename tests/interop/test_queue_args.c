/* test_queue_args.c — queue arguments of issue 5: x-message-ttl and the
 * expiration property, dead-lettering (x-death layout, cycles), x-max-length
 * / x-max-length-bytes with x-overflow, and argument validation. Every
 * expectation (codes, texts, header layouts) was checked against RabbitMQ
 * 3.10 (tests/interop/against-rabbitmq.sh). */
#include <time.h>

#include "test_basic_util.h"


/* Declare a fresh queue with arguments; returns its name (strdup'd). */
static char *declare_args(amqp_connection_state_t c, const char *prefix, args_t *a) {
    char *name = strdup(h_name(prefix));
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, 0, 0, 0, tbl(a));
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "declare %s failed", name);
    return name;
}

/* Declare expecting a 406 channel.close with this exact text. */
static void declare_fails(const char *key, amqp_field_value_t v, const char *why) {
    amqp_connection_state_t c = h_connect();
    amqp_table_entry_t e = {amqp_cstring_bytes(key), v};
    const char *name = h_name("qa-bad");
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, 0, 0, 0, (amqp_table_t){1, &e});
    char want[512];
    snprintf(want, sizeof want, "PRECONDITION_FAILED - invalid arg '%s' for queue '%s' in vhost '/': %s", key, name, why);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    h_expect_channel_close(r, 406, want);
    cr_assert(r.reply.id == AMQP_CHANNEL_CLOSE_METHOD);
    amqp_channel_close_t *cl = r.reply.decoded;
    cr_assert(tbu_eq(cl->reply_text, want), "got '%.*s', want '%s'", (int)cl->reply_text.len,
              (char *)cl->reply_text.bytes, want);
    amqp_destroy_connection(c);
}

static amqp_field_value_t fi(int64_t v) { return (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I64, .value.i64 = v}; }
static amqp_field_value_t fs(const char *v) {
    return (amqp_field_value_t){.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(v)};
}

static void publish_props(amqp_connection_state_t c, const char *x, const char *rk, const char *body,
                          const char *expiration, amqp_table_t *headers) {
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof p);
    if (expiration) {
        p._flags |= AMQP_BASIC_EXPIRATION_FLAG;
        p.expiration = amqp_cstring_bytes(expiration);
    }
    if (headers) {
        p._flags |= AMQP_BASIC_HEADERS_FLAG;
        p.headers = *headers;
    }
    h_publish(c, 1, x, rk, body, false, &p);
}

/* basic.get one message with its properties; false when empty. */
typedef struct {
    amqp_message_t m;
    char exchange[256], rkey[256];
    uint64_t tag;
} got_t;

static bool get_msg(amqp_connection_state_t c, const char *q, bool no_ack, got_t *g) {
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(q), no_ack);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL, "basic.get failed");
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) return false;
    amqp_basic_get_ok_t *ok = r.reply.decoded;
    tbu_copy(g->exchange, sizeof g->exchange, ok->exchange);
    tbu_copy(g->rkey, sizeof g->rkey, ok->routing_key);
    g->tag = ok->delivery_tag;
    cr_assert(amqp_read_message(c, 1, &g->m, 0).reply_type == AMQP_RESPONSE_NORMAL);
    return true;
}

static amqp_field_value_t *hdr(amqp_table_t *t, const char *k) {
    for (int i = 0; i < t->num_entries; i++)
        if (tbu_eq(t->entries[i].key, k)) return &t->entries[i].value;
    return NULL;
}

static bool beq(amqp_bytes_t b, const char *s) {
    return b.len == strlen(s) && (b.len == 0 || memcmp(b.bytes, s, b.len) == 0);
}

static void assert_str(amqp_field_value_t *v, const char *want, const char *what) {
    cr_assert(v != NULL, "%s missing", what);
    cr_assert(v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES, "%s: kind %c", what, v->kind);
    cr_assert(beq(v->value.bytes, want), "%s = '%.*s', want '%s'", what, (int)v->value.bytes.len,
              (char *)v->value.bytes.bytes, want);
}

/* Keys of a table joined by ',' (to check RabbitMQ's order). */
static void keys_of(amqp_table_t *t, char *out, size_t n) {
    out[0] = 0;
    for (int i = 0; i < t->num_entries; i++)
        snprintf(out + strlen(out), n - strlen(out), "%s%.*s", i ? "," : "", (int)t->entries[i].key.len,
                 (char *)t->entries[i].key.bytes);
}

/* ---- x-message-ttl / expiration ---- */

Test(queue_args, message_ttl_expires_without_access) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-message-ttl", 150);
    char *q = declare_args(c, "qa-ttl", &a);
    tbu_publish_seq(c, 1, q, "m", 0, 5);
    cr_assert_eq(h_wait_message_count(c, 1, q, 5, 2000), 5);
    /* passive declares only: expiry happens on the broker's own timer */
    cr_assert_eq(h_wait_message_count(c, 1, q, 0, 1500), 0);
    cr_assert_null(h_get(c, 1, q, true, NULL, NULL));
    free(q);
    h_close(c);
}

Test(queue_args, per_message_expiration_lower_wins) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-message-ttl", 60000);
    char *q = declare_args(c, "qa-ttl2", &a);
    publish_props(c, "", q, "short", "100", NULL);
    publish_props(c, "", q, "long", "60000", NULL);
    usleep(400 * 1000);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "long");
    free(all);
    args_t b = {0};
    a_int(&b, "x-message-ttl", 100);
    char *q2 = declare_args(c, "qa-ttl3", &b);
    publish_props(c, "", q2, "m", "60000", NULL);
    cr_assert_eq(h_wait_message_count(c, 1, q2, 0, 2000), 0);
    free(q);
    free(q2);
    h_close(c);
}

Test(queue_args, expired_message_never_delivered) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "qa-exp");
    publish_props(c, "", q, "gone", "50", NULL);
    publish_props(c, "", q, "kept", NULL, NULL);
    usleep(300 * 1000);
    tbu_consume(c, 1, q, true);
    tbu_expect_deliver(c, 2000, "kept", false);
    tbu_expect_silence(c, 300);
    h_close(c);
}

Test(queue_args, ttl_zero_without_consumer_drops) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-message-ttl", 0);
    char *q = declare_args(c, "qa-ttl0", &a);
    h_publish(c, 1, "", q, "x", false, NULL);
    cr_assert_eq(h_wait_message_count(c, 1, q, 0, 1000), 0);
    free(q);
    h_close(c);
}

Test(queue_args, requeued_message_keeps_its_expiry) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-message-ttl", 300);
    char *q = declare_args(c, "qa-rq", &a);
    h_publish(c, 1, "", q, "x", false, NULL);
    uint64_t tag = 0;
    char *b = h_get(c, 1, q, false, &tag, NULL);
    cr_assert_str_eq(b, "x");
    free(b);
    usleep(500 * 1000);
    cr_assert(amqp_basic_reject(c, 1, tag, 1) == 0);
    cr_assert_eq(h_wait_message_count(c, 1, q, 0, 1000), 0);
    cr_assert_null(h_get(c, 1, q, true, NULL, NULL));
    free(q);
    h_close(c);
}

Test(queue_args, invalid_expiration_406) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "qa-badexp");
    publish_props(c, "", q, "x", "abc", NULL);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - invalid expiration 'abc': no_integer");
    amqp_destroy_connection(c);
    c = h_connect();
    publish_props(c, "", q, "x", "-5", NULL);
    tbu_expect_async_channel_close(c, 1, 406, "PRECONDITION_FAILED - invalid expiration '-5': {value_negative,-5}");
    amqp_destroy_connection(c);
}

/* ---- validation ---- */

Test(queue_args, validation_texts) {
    declare_fails("x-message-ttl", fs("abc"), "\"expected integer, got longstr\"");
    declare_fails("x-message-ttl", fi(-1), "{value_negative,-1}");
    declare_fails("x-message-ttl", fi(315360000001LL), "{value_too_large,315360000001}");
    declare_fails("x-expires", fi(0), "{value_zero,0}");
    declare_fails("x-max-length", fi(-2), "{value_negative,-2}");
    declare_fails("x-max-length-bytes", fs("a"), "\"expected integer, got longstr\"");
    declare_fails("x-max-priority", fi(256), "{max_value_exceeded,256}");
    declare_fails("x-overflow", fs("foo"), "invalid_overflow");
    declare_fails("x-overflow", fi(5), "{unacceptable_type,long}");
    declare_fails("x-dead-letter-routing-key", fs("k"), "routing_key_but_no_dlx_defined");
}

Test(queue_args, dlx_wrong_type) {
    amqp_connection_state_t c = h_connect();
    amqp_table_entry_t e = {amqp_cstring_bytes("x-dead-letter-exchange"), fi(5)};
    const char *name = h_name("qa-dlxt");
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, 0, 0, 0, (amqp_table_t){1, &e});
    char want[300];
    snprintf(want, sizeof want,
             "PRECONDITION_FAILED - invalid type 'long' for arg 'x-dead-letter-exchange' in queue '%s' in vhost '/'", name);
    h_expect_channel_close(amqp_get_rpc_reply(c), 406, want);
    amqp_destroy_connection(c);
}

/* ---- dead-lettering ---- */

/* A DLX (direct) with a bound queue; returns the DLQ name. */
static char *dlx_setup(amqp_connection_state_t c, const char *x, const char *key) {
    h_exchange_declare(c, 1, x, "direct", false, false, false, amqp_empty_table);
    char *dlq = strdup(h_queue_declare(c, 1, h_name("qa-dlq"), false, false, false));
    h_queue_bind(c, 1, dlq, x, key, amqp_empty_table);
    return dlq;
}

Test(queue_args, reject_dead_letters_with_x_death) {
    amqp_connection_state_t c = h_connect();
    char x[64];
    snprintf(x, sizeof x, "%s", h_name("qa-dlx"));
    args_t a = {0};
    a_str(&a, "x-dead-letter-exchange", x);
    char *src = declare_args(c, "qa-src", &a);
    char *dlq = dlx_setup(c, x, src); /* no DL key: the original key (the source queue's name) */
    amqp_table_entry_t he[2] = {{amqp_cstring_bytes("zz"), fi(1)}, {amqp_cstring_bytes("aa"), fs("v")}};
    amqp_table_t h = {2, he};
    publish_props(c, "", src, "body1", NULL, &h);
    uint64_t tag = 0;
    char *b = h_get(c, 1, src, false, &tag, NULL);
    cr_assert_str_eq(b, "body1");
    free(b);
    cr_assert(amqp_basic_reject(c, 1, tag, 0) == 0);
    cr_assert_eq(h_wait_message_count(c, 1, dlq, 1, 2000), 1);
    got_t g;
    cr_assert(get_msg(c, dlq, true, &g));
    cr_assert_str_eq(g.exchange, x);
    cr_assert_str_eq(g.rkey, src);
    cr_assert(tbu_eq(g.m.body, "body1"));
    amqp_basic_properties_t *p = &g.m.properties;
    cr_assert(p->_flags & AMQP_BASIC_HEADERS_FLAG);
    char keys[512];
    keys_of(&p->headers, keys, sizeof keys);
    cr_assert_str_eq(keys, "aa,x-death,x-first-death-exchange,x-first-death-queue,x-first-death-reason,zz");
    assert_str(hdr(&p->headers, "x-first-death-reason"), "rejected", "x-first-death-reason");
    assert_str(hdr(&p->headers, "x-first-death-queue"), src, "x-first-death-queue");
    assert_str(hdr(&p->headers, "x-first-death-exchange"), "", "x-first-death-exchange");
    amqp_field_value_t *xd = hdr(&p->headers, "x-death");
    cr_assert(xd && xd->kind == AMQP_FIELD_KIND_ARRAY && xd->value.array.num_entries == 1);
    amqp_field_value_t *d0 = &xd->value.array.entries[0];
    cr_assert(d0->kind == AMQP_FIELD_KIND_TABLE);
    amqp_table_t *d = &d0->value.table;
    keys_of(d, keys, sizeof keys);
    cr_assert_str_eq(keys, "count,reason,queue,time,exchange,routing-keys");
    cr_assert(hdr(d, "count")->kind == AMQP_FIELD_KIND_I64 && hdr(d, "count")->value.i64 == 1);
    assert_str(hdr(d, "reason"), "rejected", "reason");
    assert_str(hdr(d, "queue"), src, "queue");
    assert_str(hdr(d, "exchange"), "", "exchange");
    cr_assert(hdr(d, "time")->kind == AMQP_FIELD_KIND_TIMESTAMP);
    uint64_t t = hdr(d, "time")->value.u64, now = (uint64_t)time(NULL);
    cr_assert(t + 60 > now && t <= now + 60, "time %lu vs now %lu", (unsigned long)t, (unsigned long)now);
    amqp_field_value_t *rks = hdr(d, "routing-keys");
    cr_assert(rks->kind == AMQP_FIELD_KIND_ARRAY && rks->value.array.num_entries == 1);
    assert_str(&rks->value.array.entries[0], src, "routing-keys[0]");
    amqp_destroy_message(&g.m);
    free(src);
    free(dlq);
    h_close(c);
}

Test(queue_args, expiry_dead_letters_with_original_expiration_and_cc) {
    amqp_connection_state_t c = h_connect();
    char x[64];
    snprintf(x, sizeof x, "%s", h_name("qa-dlx"));
    char *dlq = dlx_setup(c, x, "dk");
    args_t a = {0};
    a_str(&a, "x-dead-letter-exchange", x);
    a_str(&a, "x-dead-letter-routing-key", "dk");
    char *src = declare_args(c, "qa-src", &a);
    amqp_field_value_t cc[1] = {fs("other-key")};
    amqp_table_entry_t he[1] = {{amqp_cstring_bytes("CC"), {.kind = AMQP_FIELD_KIND_ARRAY, .value.array = {1, cc}}}};
    amqp_table_t h = {1, he};
    publish_props(c, "", src, "ttl-body", "50", &h);
    cr_assert_eq(h_wait_message_count(c, 1, dlq, 1, 2000), 1);
    got_t g;
    cr_assert(get_msg(c, dlq, true, &g));
    cr_assert_str_eq(g.rkey, "dk");
    amqp_basic_properties_t *p = &g.m.properties;
    cr_assert(!(p->_flags & AMQP_BASIC_EXPIRATION_FLAG), "expiration must be removed");
    cr_assert_null(hdr(&p->headers, "CC"));
    amqp_table_t *d = &hdr(&p->headers, "x-death")->value.array.entries[0].value.table;
    char keys[512];
    keys_of(d, keys, sizeof keys);
    cr_assert_str_eq(keys, "count,reason,queue,time,exchange,routing-keys,original-expiration");
    assert_str(hdr(d, "reason"), "expired", "reason");
    assert_str(hdr(d, "original-expiration"), "50", "original-expiration");
    amqp_field_value_t *rks = hdr(d, "routing-keys");
    cr_assert_eq(rks->value.array.num_entries, 2);
    assert_str(&rks->value.array.entries[0], src, "routing-keys[0]");
    assert_str(&rks->value.array.entries[1], "other-key", "routing-keys[1]");
    amqp_destroy_message(&g.m);
    free(src);
    free(dlq);
    h_close(c);
}

/* a (TTL, DL to b) and b (DL to a): expiry, reject, expiry... the count of
 * the (a, expired) death goes up and the entry moves first, sorted. */
Test(queue_args, death_count_increments_and_reject_breaks_cycle) {
    amqp_connection_state_t c = h_connect();
    char qa[64], qb[64];
    snprintf(qa, sizeof qa, "%s", h_name("qa-ca"));
    snprintf(qb, sizeof qb, "%s", h_name("qa-cb"));
    args_t a = {0}, b = {0};
    a_str(&a, "x-dead-letter-exchange", "");
    a_str(&a, "x-dead-letter-routing-key", qb);
    a_int(&a, "x-message-ttl", 50);
    a_str(&b, "x-dead-letter-exchange", "");
    a_str(&b, "x-dead-letter-routing-key", qa);
    amqp_queue_declare(c, 1, amqp_cstring_bytes(qa), 0, 0, 0, 0, tbl(&a));
    cr_assert(amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL);
    amqp_queue_declare(c, 1, amqp_cstring_bytes(qb), 0, 0, 0, 0, tbl(&b));
    cr_assert(amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL);
    h_publish(c, 1, "", qa, "cyc", false, NULL);
    for (int round = 1; round <= 2; round++) {
        cr_assert_eq(h_wait_message_count(c, 1, qb, 1, 2000), 1);
        got_t g;
        cr_assert(get_msg(c, qb, false, &g));
        amqp_field_value_t *xd = hdr(&g.m.properties.headers, "x-death");
        cr_assert_eq(xd->value.array.num_entries, round);
        amqp_table_t *d = &xd->value.array.entries[0].value.table;
        assert_str(hdr(d, "queue"), qa, "first entry queue");
        assert_str(hdr(d, "reason"), "expired", "first entry reason");
        cr_assert_eq(hdr(d, "count")->value.i64, round);
        if (round == 2) {
            char keys[512];
            keys_of(d, keys, sizeof keys);
            cr_assert_str_eq(keys, "count,exchange,queue,reason,routing-keys,time");
            amqp_table_t *d1 = &xd->value.array.entries[1].value.table;
            assert_str(hdr(d1, "queue"), qb, "second entry queue");
            assert_str(hdr(d1, "reason"), "rejected", "second entry reason");
            keys_of(d1, keys, sizeof keys);
            cr_assert_str_eq(keys, "count,exchange,queue,reason,routing-keys,time");
        }
        uint64_t tag = g.tag;
        amqp_destroy_message(&g.m);
        cr_assert(amqp_basic_reject(c, 1, tag, 0) == 0);
    }
    h_close(c);
}

Test(queue_args, expired_cycle_is_dropped) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_str(&a, "x-dead-letter-exchange", "");
    a_int(&a, "x-message-ttl", 30);
    char *q = declare_args(c, "qa-self", &a); /* DL key: the original, i.e. itself */
    h_publish(c, 1, "", q, "loop", false, NULL);
    usleep(400 * 1000);
    cr_assert_eq(h_message_count(c, 1, q), 0);
    free(q);
    h_close(c);
}

/* ---- length limits ---- */

Test(queue_args, max_length_drop_head_dead_letters_maxlen) {
    amqp_connection_state_t c = h_connect();
    char x[64];
    snprintf(x, sizeof x, "%s", h_name("qa-dlx"));
    char *dlq = dlx_setup(c, x, "ml");
    args_t a = {0};
    a_int(&a, "x-max-length", 2);
    a_str(&a, "x-dead-letter-exchange", x);
    a_str(&a, "x-dead-letter-routing-key", "ml");
    char *q = declare_args(c, "qa-ml", &a);
    tbu_publish_seq(c, 1, q, "m", 1, 5);
    cr_assert_eq(h_wait_message_count(c, 1, dlq, 2, 2000), 2);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "m3,m4");
    free(all);
    got_t g;
    cr_assert(get_msg(c, dlq, true, &g));
    cr_assert(tbu_eq(g.m.body, "m1"));
    amqp_table_t *d = &hdr(&g.m.properties.headers, "x-death")->value.array.entries[0].value.table;
    assert_str(hdr(d, "reason"), "maxlen", "reason");
    amqp_destroy_message(&g.m);
    free(q);
    free(dlq);
    h_close(c);
}

Test(queue_args, max_length_bytes_drop_head) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-max-length-bytes", 10);
    char *q = declare_args(c, "qa-mlb", &a);
    h_publish(c, 1, "", q, "aaaa", false, NULL);
    h_publish(c, 1, "", q, "bbbb", false, NULL);
    h_publish(c, 1, "", q, "cccc", false, NULL); /* 12 bytes: the head goes */
    cr_assert_eq(h_wait_message_count(c, 1, q, 2, 2000), 2);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "bbbb,cccc");
    free(all);
    free(q);
    h_close(c);
}

/* Publish under confirms; returns the method of the confirm (ack or nack). */
static amqp_method_number_t confirm_of(amqp_connection_state_t c, const char *q, const char *body) {
    h_publish(c, 1, "", q, body, false, NULL);
    amqp_frame_t f = tbu_method(c, 5000);
    return f.payload.method.id;
}

Test(queue_args, reject_publish_nacks) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-max-length", 1);
    a_str(&a, "x-overflow", "reject-publish");
    char *q = declare_args(c, "qa-rp", &a);
    cr_assert(amqp_confirm_select(c, 1) != NULL);
    cr_assert_eq(confirm_of(c, q, "one"), AMQP_BASIC_ACK_METHOD);
    cr_assert_eq(confirm_of(c, q, "two"), AMQP_BASIC_NACK_METHOD);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "one");
    free(all);
    cr_assert_eq(confirm_of(c, q, "three"), AMQP_BASIC_ACK_METHOD);
    free(q);
    h_close(c);
}

Test(queue_args, reject_publish_dlx_nacks_and_dead_letters) {
    amqp_connection_state_t c = h_connect();
    char x[64];
    snprintf(x, sizeof x, "%s", h_name("qa-dlx"));
    char *dlq = dlx_setup(c, x, "rk");
    args_t a = {0};
    a_int(&a, "x-max-length", 1);
    a_str(&a, "x-overflow", "reject-publish-dlx");
    a_str(&a, "x-dead-letter-exchange", x);
    a_str(&a, "x-dead-letter-routing-key", "rk");
    char *q = declare_args(c, "qa-rpd", &a);
    cr_assert(amqp_confirm_select(c, 1) != NULL);
    cr_assert_eq(confirm_of(c, q, "one"), AMQP_BASIC_ACK_METHOD);
    cr_assert_eq(confirm_of(c, q, "two"), AMQP_BASIC_NACK_METHOD);
    cr_assert_eq(h_wait_message_count(c, 1, dlq, 1, 2000), 1);
    got_t g;
    cr_assert(get_msg(c, dlq, true, &g));
    cr_assert(tbu_eq(g.m.body, "two"));
    amqp_table_t *d = &hdr(&g.m.properties.headers, "x-death")->value.array.entries[0].value.table;
    assert_str(hdr(d, "reason"), "maxlen", "reason");
    amqp_destroy_message(&g.m);
    char *all = h_get_all(c, 1, q);
    cr_assert_str_eq(all, "one");
    free(all);
    free(q);
    free(dlq);
    h_close(c);
}

/* ---- x-expires ---- */

static bool queue_exists(const char *q) {
    amqp_connection_state_t c = h_connect();
    amqp_queue_declare(c, 1, amqp_cstring_bytes(q), 1, 0, 0, 0, amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    bool ok = r.reply_type == AMQP_RESPONSE_NORMAL;
    if (!ok) h_expect_channel_close(r, 404, "NOT_FOUND - no queue");
    amqp_destroy_connection(c);
    return ok;
}

Test(queue_args, x_expires_deletes_unused_queue) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-expires", 300);
    char *q = declare_args(c, "qa-xp", &a);
    h_publish(c, 1, "", q, "m", false, NULL);
    h_close(c);
    usleep(1000 * 1000);
    cr_assert(!queue_exists(q), "queue %s should have expired", q);
    free(q);
}

Test(queue_args, x_expires_waits_for_consumers_and_gets) {
    amqp_connection_state_t c = h_connect();
    args_t a = {0};
    a_int(&a, "x-expires", 400);
    char *q = declare_args(c, "qa-xp2", &a);
    for (int i = 0; i < 6; i++) { /* basic.get is use */
        cr_assert_null(h_get(c, 1, q, true, NULL, NULL));
        usleep(150 * 1000);
    }
    const char *tag = tbu_consume(c, 1, q, true);
    usleep(800 * 1000); /* a consumer keeps it */
    amqp_basic_cancel(c, 1, amqp_cstring_bytes(tag));
    cr_assert(amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL);
    usleep(150 * 1000);
    amqp_queue_declare(c, 1, amqp_cstring_bytes(q), 1, 0, 0, 0, amqp_empty_table);
    cr_assert(amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL, "queue expired too early");
    usleep(1000 * 1000);
    h_close(c);
    cr_assert(!queue_exists(q), "queue %s should have expired after its consumer left", q);
    free(q);
}
