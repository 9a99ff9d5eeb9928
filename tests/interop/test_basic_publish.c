/* test_basic_publish.c — basic.publish interop tests: routing to the default
 * exchange, mandatory returns, errors (missing exchange, immediate=true),
 * property round-trip, large and empty bodies. */
#include "test_basic_util.h"

static amqp_bytes_t pub_bytes(const void *p, size_t n) {
    amqp_bytes_t b = {.len = n, .bytes = (void *)p};
    return b;
}

Test(basic_publish, default_exchange_routes_by_queue_name) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "pub-default");
    h_publish(c, 1, "", q, "hello", false, NULL);
    tbu_consume(c, 1, q, true);
    tbu_msg_t m;
    cr_assert(tbu_deliver(c, 2000, &m));
    cr_assert_str_eq(m.body, "hello");
    cr_assert_str_eq(m.exchange, "");
    cr_assert_str_eq(m.rkey, q);
    cr_assert_eq(m.redelivered, false);
    cr_assert_eq(m.tag, 1);
    tbu_msg_free(&m);
    h_close(c);
}

Test(basic_publish, mandatory_unroutable_is_returned) {
    amqp_connection_state_t c = h_connect();
    const char *rk = h_name("nowhere");
    h_publish(c, 1, "amq.direct", rk, "lost body", true, NULL);
    amqp_frame_t f = tbu_method(c, 2000);
    tbu_msg_t m;
    cr_assert(tbu_from_method(c, &f, &m));
    cr_assert_eq(m.method, AMQP_BASIC_RETURN_METHOD);
    cr_assert_eq(m.channel, 1);
    cr_assert_eq(m.reply_code, 312);
    cr_assert_str_eq(m.reply_text, "NO_ROUTE");
    cr_assert_str_eq(m.exchange, "amq.direct");
    cr_assert_str_eq(m.rkey, rk);
    cr_assert_str_eq(m.body, "lost body");
    tbu_msg_free(&m);
    /* the channel is still usable */
    const char *q = tbu_queue(c, "pub-after-return");
    cr_assert_eq(h_message_count(c, 1, q), 0);
    h_close(c);
}

Test(basic_publish, mandatory_default_exchange_missing_queue_is_returned) {
    amqp_connection_state_t c = h_connect();
    const char *q = h_name("no-such-queue");
    h_publish(c, 1, "", q, "x", true, NULL);
    amqp_frame_t f = tbu_method(c, 2000);
    tbu_msg_t m;
    cr_assert(tbu_from_method(c, &f, &m));
    cr_assert_eq(m.method, AMQP_BASIC_RETURN_METHOD);
    cr_assert_eq(m.reply_code, 312);
    cr_assert_str_eq(m.reply_text, "NO_ROUTE");
    cr_assert_str_eq(m.exchange, "");
    cr_assert_str_eq(m.rkey, q);
    cr_assert_str_eq(m.body, "x");
    tbu_msg_free(&m);
    h_close(c);
}

Test(basic_publish, mandatory_routable_not_returned) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "pub-mand-ok");
    h_publish(c, 1, "", q, "kept", true, NULL);
    tbu_expect_silence(c, 300);
    cr_assert_eq(tbu_wait_count(q, 1, 3000), 1);
    h_close(c);
}

Test(basic_publish, unroutable_not_mandatory_is_dropped_silently) {
    amqp_connection_state_t c = h_connect();
    h_publish(c, 1, "amq.direct", h_name("nowhere"), "dropped", false, NULL);
    tbu_expect_silence(c, 300);
    const char *q = tbu_queue(c, "pub-drop");
    cr_assert_eq(h_message_count(c, 1, q), 0);
    h_close(c);
}

Test(basic_publish, missing_exchange_closes_channel_404) {
    amqp_connection_state_t c = h_connect();
    const char *x = h_name("no-such-exchange");
    h_publish(c, 1, x, "rk", "x", false, NULL);
    char want[300];
    snprintf(want, sizeof want, "NOT_FOUND - no exchange '%s' in vhost '/'", x);
    tbu_expect_async_channel_close(c, 1, 404, want);
    /* connection survives: another channel works */
    h_channel_open(c, 2);
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(c, 2, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    cr_assert(ok != NULL);
    h_close(c);
}

Test(basic_publish, immediate_true_is_not_implemented_540) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "pub-immediate");
    int rc = amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(q), 0, 1, NULL,
                                amqp_cstring_bytes("now"));
    cr_assert_eq(rc, AMQP_STATUS_OK);
    tbu_expect_async_connection_close(c, 540, "NOT_IMPLEMENTED - immediate=true");
    amqp_destroy_connection(c);
}

/* ---- property round-trip ---- */

static amqp_table_entry_t pub_entry(const char *key, amqp_field_value_t v) {
    amqp_table_entry_t e = {.key = amqp_cstring_bytes(key), .value = v};
    return e;
}

static bool pub_bytes_eq(amqp_bytes_t a, amqp_bytes_t b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.bytes, b.bytes, a.len) == 0);
}

static void pub_assert_value_eq(const amqp_field_value_t *a, const amqp_field_value_t *b, const char *key);

static void pub_assert_table_eq(const amqp_table_t *a, const amqp_table_t *b) {
    cr_assert_eq(a->num_entries, b->num_entries, "table has %d entries, expected %d", b->num_entries,
                 a->num_entries);
    for (int i = 0; i < a->num_entries; i++) {
        char k[128];
        tbu_copy(k, sizeof k, a->entries[i].key);
        cr_assert(pub_bytes_eq(a->entries[i].key, b->entries[i].key), "key %d: expected %s", i, k);
        pub_assert_value_eq(&a->entries[i].value, &b->entries[i].value, k);
    }
}

static void pub_assert_value_eq(const amqp_field_value_t *a, const amqp_field_value_t *b, const char *key) {
    cr_assert_eq(a->kind, b->kind, "header %s: kind '%c', expected '%c'", key, b->kind, a->kind);
    switch (a->kind) {
    case AMQP_FIELD_KIND_BOOLEAN: cr_assert_eq(!!a->value.boolean, !!b->value.boolean, "%s", key); break;
    case AMQP_FIELD_KIND_I8: cr_assert_eq(a->value.i8, b->value.i8, "%s", key); break;
    case AMQP_FIELD_KIND_U8: cr_assert_eq(a->value.u8, b->value.u8, "%s", key); break;
    case AMQP_FIELD_KIND_I16: cr_assert_eq(a->value.i16, b->value.i16, "%s", key); break;
    case AMQP_FIELD_KIND_U16: cr_assert_eq(a->value.u16, b->value.u16, "%s", key); break;
    case AMQP_FIELD_KIND_I32: cr_assert_eq(a->value.i32, b->value.i32, "%s", key); break;
    case AMQP_FIELD_KIND_U32: cr_assert_eq(a->value.u32, b->value.u32, "%s", key); break;
    case AMQP_FIELD_KIND_I64: cr_assert_eq(a->value.i64, b->value.i64, "%s", key); break;
    case AMQP_FIELD_KIND_TIMESTAMP: cr_assert_eq(a->value.u64, b->value.u64, "%s", key); break;
    case AMQP_FIELD_KIND_F32: cr_assert(memcmp(&a->value.f32, &b->value.f32, 4) == 0, "%s", key); break;
    case AMQP_FIELD_KIND_F64: cr_assert(memcmp(&a->value.f64, &b->value.f64, 8) == 0, "%s", key); break;
    case AMQP_FIELD_KIND_DECIMAL:
        cr_assert_eq(a->value.decimal.decimals, b->value.decimal.decimals, "%s", key);
        cr_assert_eq(a->value.decimal.value, b->value.decimal.value, "%s", key);
        break;
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: cr_assert(pub_bytes_eq(a->value.bytes, b->value.bytes), "%s", key); break;
    case AMQP_FIELD_KIND_VOID: break;
    case AMQP_FIELD_KIND_TABLE: pub_assert_table_eq(&a->value.table, &b->value.table); break;
    case AMQP_FIELD_KIND_ARRAY:
        cr_assert_eq(a->value.array.num_entries, b->value.array.num_entries, "%s", key);
        for (int i = 0; i < a->value.array.num_entries; i++)
            pub_assert_value_eq(&a->value.array.entries[i], &b->value.array.entries[i], key);
        break;
    default: cr_assert_fail("unexpected kind %c", a->kind);
    }
}

static void pub_assert_str_prop(amqp_bytes_t got, const char *want, const char *name) {
    cr_assert(tbu_eq(got, want), "property %s: got \"%.*s\", expected \"%s\"", name, (int)got.len,
              (char *)got.bytes, want);
}

Test(basic_publish, all_properties_round_trip) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "pub-props");

    static const unsigned char bin[] = {0, 1, 2, 0xff, 0x80, 0};
    amqp_field_value_t arr_items[3] = {
        {.kind = AMQP_FIELD_KIND_I32, .value.i32 = -7},
        {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("in-array")},
        {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 0},
    };
    amqp_table_entry_t inner[2];
    inner[0] = pub_entry("nested-str", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_UTF8,
                                                            .value.bytes = amqp_cstring_bytes("deep")});
    inner[1] = pub_entry("nested-int", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I64,
                                                            .value.i64 = INT64_MIN});
    amqp_table_entry_t h[17];
    int n = 0;
    h[n++] = pub_entry("bool", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1});
    h[n++] = pub_entry("i8", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I8, .value.i8 = -128});
    h[n++] = pub_entry("u8", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_U8, .value.u8 = 255});
    h[n++] = pub_entry("i16", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I16, .value.i16 = -32768});
    h[n++] = pub_entry("u16", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_U16, .value.u16 = 65535});
    h[n++] = pub_entry("i32", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I32, .value.i32 = INT32_MIN});
    h[n++] = pub_entry("u32", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_U32, .value.u32 = 4000000000u});
    h[n++] = pub_entry("i64", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I64, .value.i64 = INT64_MAX});
    h[n++] = pub_entry("f32", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_F32, .value.f32 = 1.5f});
    h[n++] = pub_entry("f64", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_F64, .value.f64 = -2.25e100});
    h[n++] = pub_entry("decimal", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_DECIMAL,
                                                       .value.decimal = {.decimals = 2, .value = 12345}});
    h[n++] = pub_entry("str", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_UTF8,
                                                   .value.bytes = amqp_cstring_bytes("h\xc3\xa9llo")});
    h[n++] = pub_entry("bytes", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_BYTES,
                                                     .value.bytes = pub_bytes(bin, sizeof bin)});
    h[n++] = pub_entry("ts", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_TIMESTAMP, .value.u64 = 1700000000});
    h[n++] = pub_entry("void", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_VOID});
    h[n++] = pub_entry("table", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_TABLE,
                                                     .value.table = {.num_entries = 2, .entries = inner}});
    h[n++] = pub_entry("array", (amqp_field_value_t){.kind = AMQP_FIELD_KIND_ARRAY,
                                                     .value.array = {.num_entries = 3, .entries = arr_items}});

    amqp_basic_properties_t p;
    memset(&p, 0, sizeof p);
    p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG | AMQP_BASIC_HEADERS_FLAG |
               AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
               AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_EXPIRATION_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
               AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_USER_ID_FLAG |
               AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_CLUSTER_ID_FLAG;
    p.content_type = amqp_cstring_bytes("application/json");
    p.content_encoding = amqp_cstring_bytes("gzip");
    p.headers.num_entries = n;
    p.headers.entries = h;
    p.delivery_mode = 2;
    p.priority = 7;
    p.correlation_id = amqp_cstring_bytes("corr-42");
    p.reply_to = amqp_cstring_bytes("some-reply-queue");
    p.expiration = amqp_cstring_bytes("600000");
    p.message_id = amqp_cstring_bytes("msg-1");
    p.timestamp = 1234567890;
    p.type = amqp_cstring_bytes("order.created");
    p.user_id = amqp_cstring_bytes("guest");
    p.app_id = amqp_cstring_bytes("interop");
    p.cluster_id = amqp_cstring_bytes("cluster-x");
    h_publish(c, 1, "", q, "{\"a\":1}", false, &p);

    tbu_consume(c, 1, q, true);
    amqp_envelope_t env;
    struct timeval tv = {.tv_sec = 3};
    amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL, "no delivery (type %d err %d)", r.reply_type,
                 r.library_error);
    amqp_basic_properties_t *g = &env.message.properties;
    cr_assert_eq(g->_flags, p._flags, "property flags 0x%04x, expected 0x%04x", g->_flags, p._flags);
    pub_assert_str_prop(g->content_type, "application/json", "content_type");
    pub_assert_str_prop(g->content_encoding, "gzip", "content_encoding");
    cr_assert_eq(g->delivery_mode, 2);
    cr_assert_eq(g->priority, 7);
    pub_assert_str_prop(g->correlation_id, "corr-42", "correlation_id");
    pub_assert_str_prop(g->reply_to, "some-reply-queue", "reply_to");
    pub_assert_str_prop(g->expiration, "600000", "expiration");
    pub_assert_str_prop(g->message_id, "msg-1", "message_id");
    cr_assert_eq(g->timestamp, 1234567890);
    pub_assert_str_prop(g->type, "order.created", "type");
    pub_assert_str_prop(g->user_id, "guest", "user_id");
    pub_assert_str_prop(g->app_id, "interop", "app_id");
    pub_assert_str_prop(g->cluster_id, "cluster-x", "cluster_id");
    pub_assert_table_eq(&p.headers, &g->headers);
    cr_assert(tbu_eq(env.message.body, "{\"a\":1}"));
    amqp_destroy_envelope(&env);
    h_close(c);
}

Test(basic_publish, no_properties_round_trip_as_none) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "pub-noprops");
    amqp_basic_properties_t p = {._flags = 0};
    h_publish(c, 1, "", q, "bare", false, &p);
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(q), 1);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    cr_assert_eq(r.reply.id, AMQP_BASIC_GET_OK_METHOD);
    amqp_message_t m;
    r = amqp_read_message(c, 1, &m, 0);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    cr_assert_eq(m.properties._flags, 0, "flags 0x%04x", m.properties._flags);
    cr_assert(tbu_eq(m.body, "bare"));
    amqp_destroy_message(&m);
    h_close(c);
}

Test(basic_publish, user_id_mismatch_is_406) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "pub-userid");
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_USER_ID_FLAG, .user_id = amqp_cstring_bytes("mallory")};
    h_publish(c, 1, "", q, "x", false, &p);
    tbu_expect_async_channel_close(c, 1, 406,
                                   "PRECONDITION_FAILED - user_id property set to 'mallory' but "
                                   "authenticated user was 'guest'");
    h_close(c);
}

static void pub_big_body_round_trip(size_t size) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "pub-big");
    unsigned char *body = malloc(size ? size : 1);
    cr_assert(body != NULL);
    for (size_t i = 0; i < size; i++) body[i] = (unsigned char)(i * 31 + i / 251);
    int rc = amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(q), 0, 0, NULL,
                                pub_bytes(body, size));
    cr_assert_eq(rc, AMQP_STATUS_OK);
    /* passive-declare counts may lag publishes on RabbitMQ: poll */
    cr_assert_eq(tbu_wait_count(q, 1, 3000), 1);
    tbu_consume(c, 1, q, false);
    amqp_envelope_t env;
    struct timeval tv = {.tv_sec = 5};
    amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    cr_assert_eq(env.message.body.len, size, "body of %zu bytes, expected %zu", env.message.body.len, size);
    cr_assert(size == 0 || memcmp(env.message.body.bytes, body, size) == 0, "body content differs");
    cr_assert_eq(amqp_basic_ack(c, 1, env.delivery_tag, 0), AMQP_STATUS_OK);
    amqp_destroy_envelope(&env);
    free(body);
    h_close(c);
}

Test(basic_publish, large_body_1mb_over_many_frames) { pub_big_body_round_trip(1024 * 1024); }
Test(basic_publish, body_exactly_one_frame) { pub_big_body_round_trip(131072 - 8); }
Test(basic_publish, body_one_byte_over_one_frame) { pub_big_body_round_trip(131072 - 8 + 1); }
Test(basic_publish, empty_body) { pub_big_body_round_trip(0); }

Test(basic_publish, empty_body_via_get) {
    amqp_connection_state_t c = h_connect();
    const char *q = tbu_queue(c, "pub-empty");
    h_publish(c, 1, "", q, "", false, NULL);
    h_publish(c, 1, "", q, "after", false, NULL);
    /* (not h_get: its body copy does memcpy from NULL for an empty body) */
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(q), 1);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    cr_assert_eq(r.reply.id, AMQP_BASIC_GET_OK_METHOD);
    tbu_msg_t m;
    memset(&m, 0, sizeof m);
    tbu_read_content(c, 1, &m);
    cr_assert_eq(m.len, 0);
    tbu_msg_free(&m);
    char *b = h_get(c, 1, q, true, NULL, NULL);
    cr_assert(b != NULL);
    cr_assert_str_eq(b, "after");
    free(b);
    h_close(c);
}

Test(basic_publish, fanout_to_several_queues_via_amq_fanout) {
    amqp_connection_state_t c = h_connect();
    const char *x = h_name("pub-fan");
    amqp_exchange_declare(c, 1, amqp_cstring_bytes(x), amqp_cstring_bytes("fanout"), 0, 0, 1, 0,
                          amqp_empty_table);
    cr_assert_eq(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    char q1[256], q2[256];
    snprintf(q1, sizeof q1, "%s", tbu_queue(c, "pub-fan-a"));
    snprintf(q2, sizeof q2, "%s", tbu_queue(c, "pub-fan-b"));
    cr_assert(amqp_queue_bind(c, 1, amqp_cstring_bytes(q1), amqp_cstring_bytes(x), amqp_empty_bytes,
                              amqp_empty_table) != NULL);
    cr_assert(amqp_queue_bind(c, 1, amqp_cstring_bytes(q2), amqp_cstring_bytes(x), amqp_empty_bytes,
                              amqp_empty_table) != NULL);
    h_publish(c, 1, x, "ignored", "both", false, NULL);
    char *a = h_get(c, 1, q1, true, NULL, NULL);
    char *b = h_get(c, 1, q2, true, NULL, NULL);
    cr_assert(a && b);
    cr_assert_str_eq(a, "both");
    cr_assert_str_eq(b, "both");
    free(a);
    free(b);
    h_close(c);
}
