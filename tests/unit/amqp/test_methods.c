/* test_methods.c — generated method codec: every method round-trips,
 * exact wire bytes, malformed payloads, metadata, basic properties. */
#include <criterion/criterion.h>

#include "amq/frame.h"
#include "amq/methods.h"
#include "amq/table.h"
#include "fill.h"
#include "helpers.h"

/* Encode m (id + fields) and return the payload in w. */
static void encode(amq_wr *w, uint32_t id, const void *fields) {
    amq_wr_init(w);
    amq_method_encode(w, id, fields);
    cr_assert_eq(w->err, 0, "encode %s", amq_method_name(id));
}

Test(methods, roundtrip_every_method_every_pattern) {
    size_t n;
    const amq_method_info *mi = amq_method_infos(&n);
    cr_assert_eq(n, 64); /* 60 in the XML + blocked, unblocked, update-secret(-ok) */
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(amq_method_info_get(mi[i].id), &mi[i]);
        for (int pat = 0; pat < FILL_NPATTERNS; pat++) {
            amq_method in;
            memset(&in, 0, sizeof in);
            fill_args(mi[i].args, mi[i].nargs, &in.u, pat);
            amq_wr w;
            encode(&w, mi[i].id, mi[i].nargs ? (const void *)&in.u : NULL);
            amq_method out;
            int rc = amq_method_decode(th_bytes(w.data, w.len), &out);
            cr_assert_eq(rc, AMQ_OK, "%s pattern %d: %d", mi[i].name, pat, rc);
            cr_assert_eq(out.id, mi[i].id);
            const char *bad = fill_diff(mi[i].args, mi[i].nargs, &in.u, &out.u);
            cr_assert_null(bad, "%s pattern %d field %s", mi[i].name, pat, bad);
            /* decoded strings point into the payload (zero copy) */
            for (size_t a = 0; a < mi[i].nargs; a++) {
                if (mi[i].args[a].type < AMQ_ARG_SHORTSTR || mi[i].args[a].type > AMQ_ARG_TABLE) continue;
                amq_bytes s;
                memcpy(&s, (uint8_t *)&out.u + mi[i].args[a].offset, sizeof s);
                if (s.len) cr_assert(s.p > w.data && s.p + s.len <= w.data + w.len);
            }
            amq_wr_destroy(&w);
        }
    }
}

Test(methods, whole_frame) {
    amq_basic_deliver d = {amq_cstr("ctag"), 99, true, amq_cstr("ex"), amq_cstr("rk")};
    amq_wr w;
    amq_wr_init(&w);
    amq_put_method_frame(&w, 3, AMQ_BASIC_DELIVER, &d);
    cr_assert_eq(w.err, 0);
    amq_frame f;
    cr_assert_eq(amq_frame_parse(w.data, w.len, 4096, &f), (int)w.len);
    cr_assert_eq(f.type, AMQ_FRAME_METHOD);
    cr_assert_eq(f.channel, 3);
    amq_method m;
    cr_assert_eq(amq_method_decode(f.payload, &m), AMQ_OK);
    cr_assert_eq(m.id, AMQ_BASIC_DELIVER);
    cr_assert(amq_bytes_eqs(m.u.basic_deliver.consumer_tag, "ctag"));
    cr_assert_eq(m.u.basic_deliver.delivery_tag, 99);
    cr_assert(m.u.basic_deliver.redelivered);
    cr_assert(amq_bytes_eqs(m.u.basic_deliver.routing_key, "rk"));
    amq_wr_destroy(&w);
}

Test(methods, exact_bytes) {
    amq_wr w;
    amq_basic_publish p = {0, amq_cstr("ex1"), amq_cstr("rk"), true, false};
    encode(&w, AMQ_BASIC_PUBLISH, &p);
    const uint8_t pub[] = {0, 60, 0, 40, 0, 0, 3, 'e', 'x', '1', 2, 'r', 'k', 1};
    cr_assert_eq(w.len, sizeof pub);
    cr_assert_eq(memcmp(w.data, pub, sizeof pub), 0);
    amq_wr_destroy(&w);

    /* five bits in one octet, LSB first: passive=1 durable=0 exclusive=1 auto_delete=0 no_wait=1 */
    amq_queue_declare q = {0, amq_cstr("q"), true, false, true, false, true, {NULL, 0}};
    encode(&w, AMQ_QUEUE_DECLARE, &q);
    const uint8_t qd[] = {0, 50, 0, 10, 0, 0, 1, 'q', 0x15, 0, 0, 0, 0};
    cr_assert_eq(w.len, sizeof qd);
    cr_assert_eq(memcmp(w.data, qd, sizeof qd), 0);
    amq_wr_destroy(&w);

    amq_connection_tune t = {2047, 131072, 60};
    encode(&w, AMQ_CONNECTION_TUNE, &t);
    const uint8_t tu[] = {0, 10, 0, 30, 0x07, 0xFF, 0, 2, 0, 0, 0, 60};
    cr_assert_eq(w.len, sizeof tu);
    cr_assert_eq(memcmp(w.data, tu, sizeof tu), 0);
    amq_wr_destroy(&w);

    /* nack: a bit group after a longlong */
    amq_basic_nack nk = {0x0102030405060708ull, false, true};
    encode(&w, AMQ_BASIC_NACK, &nk);
    const uint8_t na[] = {0, 60, 0, 120, 1, 2, 3, 4, 5, 6, 7, 8, 2};
    cr_assert_eq(w.len, sizeof na);
    cr_assert_eq(memcmp(w.data, na, sizeof na), 0);
    amq_wr_destroy(&w);

    encode(&w, AMQ_CHANNEL_CLOSE_OK, NULL);
    cr_assert_eq(w.len, 4);
    amq_wr_destroy(&w);
}

Test(methods, truncated_at_every_offset) {
    size_t n;
    const amq_method_info *mi = amq_method_infos(&n);
    for (size_t i = 0; i < n; i++) {
        for (int pat = 0; pat < 3; pat++) {
            amq_method in;
            memset(&in, 0, sizeof in);
            fill_args(mi[i].args, mi[i].nargs, &in.u, pat);
            amq_wr w;
            encode(&w, mi[i].id, &in.u);
            for (size_t len = 0; len < w.len; len++) {
                uint8_t *p = th_dup(w.data, len);
                amq_method out;
                int rc = amq_method_decode(th_bytes(p, len), &out);
                cr_assert(rc == AMQ_ESHORT || rc == AMQ_EBAD, "%s len %zu rc %d", mi[i].name, len, rc);
                free(p);
            }
            amq_wr_destroy(&w);
        }
    }
}

Test(methods, trailing_bytes_rejected) {
    size_t n;
    const amq_method_info *mi = amq_method_infos(&n);
    for (size_t i = 0; i < n; i++) {
        amq_method in;
        memset(&in, 0, sizeof in);
        fill_args(mi[i].args, mi[i].nargs, &in.u, 0);
        amq_wr w;
        encode(&w, mi[i].id, &in.u);
        amq_put_u8(&w, 0);
        amq_method out;
        cr_assert_eq(amq_method_decode(th_bytes(w.data, w.len), &out), AMQ_EBAD, "%s", mi[i].name);
        amq_wr_destroy(&w);
    }
}

Test(methods, unknown_and_short) {
    const uint8_t unk[] = {0, 60, 0, 41};
    amq_method m;
    cr_assert_eq(amq_method_decode(th_bytes(unk, 4), &m), AMQ_EMETHOD);
    cr_assert_eq(m.id, 0x003C0029u);
    const uint8_t access[] = {0, 30, 0, 10, 0, 0, 0}; /* access.request: not supported */
    cr_assert_eq(amq_method_decode(th_bytes(access, sizeof access), &m), AMQ_EMETHOD);
    for (size_t len = 0; len < 4; len++) {
        uint8_t *p = th_dup(unk, len);
        cr_assert_eq(amq_method_decode(th_bytes(p, len), &m), AMQ_ESHORT);
        free(p);
    }
    amq_wr w;
    amq_wr_init(&w);
    amq_method_encode(&w, 0x003C0029u, NULL);
    cr_assert_eq(w.err, AMQ_EMETHOD);
    amq_wr_destroy(&w);
    amq_wr_init(&w);
    amq_method_encode(&w, AMQ_BASIC_PUBLISH, NULL);
    cr_assert_eq(w.err, AMQ_EBAD);
    amq_wr_destroy(&w);
}

Test(methods, long_shortstr_fails_encode) {
    char big[300];
    memset(big, 'q', 299);
    big[299] = 0;
    amq_queue_delete d = {0, amq_cstr(big), false, false, false};
    amq_wr w;
    amq_wr_init(&w);
    amq_method_encode(&w, AMQ_QUEUE_DELETE, &d);
    cr_assert_eq(w.err, AMQ_EBAD);
    amq_wr_destroy(&w);
}

/* queue.declare with a given (possibly invalid) arguments table body. */
static int decode_declare_with_args(const uint8_t *tab, size_t len) {
    amq_queue_declare q = {0, amq_cstr("q"), false, true, false, false, false, th_bytes(tab, len)};
    amq_wr w;
    encode(&w, AMQ_QUEUE_DECLARE, &q);
    amq_method m;
    int rc = amq_method_decode(th_bytes(w.data, w.len), &m);
    amq_wr_destroy(&w);
    return rc;
}

Test(methods, bad_tables_rejected) {
    const uint8_t badtag[] = {1, 'k', 'Z'};
    const uint8_t shortval[] = {1, 'k', 'I', 0, 0};
    const uint8_t overflow[] = {1, 'k', 'S', 0xFF, 0xFF, 0xFF, 0xFF};
    cr_assert_eq(decode_declare_with_args(badtag, sizeof badtag), AMQ_EBAD);
    cr_assert_eq(decode_declare_with_args(shortval, sizeof shortval), AMQ_EBAD);
    cr_assert_eq(decode_declare_with_args(overflow, sizeof overflow), AMQ_EBAD);
    /* too deep */
    uint8_t deep[7 * 20];
    for (int d = 0; d < 20; d++) {
        uint8_t *e = deep + 7 * d;
        uint32_t len = (uint32_t)(sizeof deep - 7 * (size_t)(d + 1));
        e[0] = 1; e[1] = 'n'; e[2] = 'F';
        e[3] = 0; e[4] = 0; e[5] = (uint8_t)(len >> 8); e[6] = (uint8_t)len;
    }
    cr_assert_eq(decode_declare_with_args(deep, sizeof deep), AMQ_EBAD);
    cr_assert_eq(decode_declare_with_args(deep + 7 * 5, sizeof deep - 7 * 5), AMQ_OK); /* 15 levels */
}

Test(methods, names_and_flags) {
    cr_assert_str_eq(amq_method_name(AMQ_BASIC_PUBLISH), "basic.publish");
    cr_assert_str_eq(amq_method_name(AMQ_CONNECTION_UPDATE_SECRET_OK), "connection.update-secret-ok");
    cr_assert_str_eq(amq_method_name(AMQ_EXCHANGE_UNBIND_OK), "exchange.unbind-ok");
    cr_assert_null(amq_method_name(0));
    cr_assert_eq(AMQ_EXCHANGE_UNBIND_OK, 0x00280033u);
    cr_assert_eq(AMQ_CONFIRM_SELECT, 0x0055000Au);
    cr_assert_eq(AMQ_BASIC_GET_EMPTY, 0x003C0048u);
    cr_assert_eq(AMQ_CLASS_OF(AMQ_BASIC_ACK), AMQ_CLASS_BASIC);
    cr_assert_eq(AMQ_METHOD_OF(AMQ_BASIC_ACK), 80);
    cr_assert_eq(AMQ_CLASS_CONNECTION, 10);
    cr_assert_eq(AMQ_CLASS_CONFIRM, 85);
    cr_assert_eq(AMQ_CLASS_TX, 90);
    size_t n;
    const amq_method_info *mi = amq_method_infos(&n);
    int content = 0, requests = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(amq_method_is_known(mi[i].id));
        content += amq_method_has_content(mi[i].id);
        if (amq_method_is_sync_request(mi[i].id)) {
            requests++;
            uint32_t reply = amq_method_reply(mi[i].id);
            cr_assert(amq_method_is_known(reply), "%s", mi[i].name);
            cr_assert_not(amq_method_is_sync_request(reply), "%s", mi[i].name);
            cr_assert_eq(AMQ_CLASS_OF(reply), AMQ_CLASS_OF(mi[i].id));
        }
    }
    cr_assert_eq(content, 4);
    cr_assert(amq_method_has_content(AMQ_BASIC_GET_OK));
    cr_assert_not(amq_method_has_content(AMQ_BASIC_GET));
    /* 27 requests: connection 6, channel 3, exchange 4, queue 5,
     * basic 5 (qos consume cancel get recover), tx 3, confirm 1 */
    cr_assert_eq(requests, 27);
    cr_assert(amq_method_is_sync_request(AMQ_BASIC_GET));
    cr_assert_eq(amq_method_reply(AMQ_BASIC_GET), AMQ_BASIC_GET_OK);
    cr_assert(amq_method_is_sync_request(AMQ_BASIC_RECOVER));
    cr_assert(amq_method_is_sync_request(AMQ_CONNECTION_UPDATE_SECRET));
    cr_assert_not(amq_method_is_sync_request(AMQ_BASIC_GET_EMPTY));
    cr_assert_not(amq_method_is_sync_request(AMQ_BASIC_PUBLISH));
    cr_assert_not(amq_method_is_sync_request(AMQ_QUEUE_DECLARE_OK));
    cr_assert_not(amq_method_is_sync_request(AMQ_BASIC_RECOVER_ASYNC));
    cr_assert_not(amq_method_is_known(0x000A0000u));
    cr_assert_eq(amq_method_reply(AMQ_BASIC_ACK), 0);
}

Test(methods, reply_codes) {
    const uint16_t hard[] = {AMQ_CONNECTION_FORCED, AMQ_INVALID_PATH, AMQ_FRAME_ERROR,
                             AMQ_SYNTAX_ERROR, AMQ_COMMAND_INVALID, AMQ_CHANNEL_ERROR,
                             AMQ_UNEXPECTED_FRAME, AMQ_RESOURCE_ERROR, AMQ_NOT_ALLOWED,
                             AMQ_NOT_IMPLEMENTED, AMQ_INTERNAL_ERROR};
    const uint16_t soft[] = {AMQ_REPLY_SUCCESS, AMQ_CONTENT_TOO_LARGE, AMQ_NO_ROUTE,
                             AMQ_NO_CONSUMERS, AMQ_ACCESS_REFUSED, AMQ_NOT_FOUND,
                             AMQ_RESOURCE_LOCKED, AMQ_PRECONDITION_FAILED, 0, 999};
    for (size_t i = 0; i < sizeof hard / sizeof hard[0]; i++) cr_assert(amq_reply_is_hard(hard[i]));
    for (size_t i = 0; i < sizeof soft / sizeof soft[0]; i++) cr_assert_not(amq_reply_is_hard(soft[i]));
    cr_assert_eq(AMQ_NO_ROUTE, 312);
    cr_assert_eq(AMQ_FRAME_ERROR, 501);
    cr_assert_eq(AMQ_PRECONDITION_FAILED, 406);
    cr_assert_eq(AMQ_INTERNAL_ERROR, 541);
}

/* ---- basic properties ---- */

static void fill_props(amq_basic_props *p, uint16_t flags) {
    memset(p, 0, sizeof *p);
    size_t n;
    const amq_method_arg *args = amq_basic_props_args(&n);
    fill_args(args, n, p, 0);
    p->flags = flags;
}

static void props_roundtrip(uint16_t flags) {
    amq_basic_props in, out;
    fill_props(&in, flags);
    amq_wr w;
    amq_wr_init(&w);
    amq_basic_props_encode(&w, &in);
    cr_assert_eq(w.err, 0);
    cr_assert_eq(amq_basic_props_decode(th_bytes(w.data, w.len), &out), AMQ_OK, "flags %04x", flags);
    cr_assert_eq(out.flags, flags);
    size_t n;
    const amq_method_arg *args = amq_basic_props_args(&n);
    for (size_t i = 0; i < n; i++) {
        if (!(flags & (1u << (15 - i)))) continue;
        const char *bad = fill_diff(&args[i], 1, &in, &out);
        cr_assert_null(bad, "flags %04x field %s", flags, bad);
    }
    /* truncated at every offset */
    for (size_t len = 0; len < w.len; len++) {
        uint8_t *p = th_dup(w.data, len);
        int rc = amq_basic_props_decode(th_bytes(p, len), &out);
        cr_assert(rc == AMQ_ESHORT || rc == AMQ_EBAD, "flags %04x len %zu", flags, len);
        free(p);
    }
    amq_put_u8(&w, 1);
    cr_assert_eq(amq_basic_props_decode(th_bytes(w.data, w.len), &out), AMQ_EBAD);
    amq_wr_destroy(&w);
}

Test(props, all_flags_and_each_flag) {
    cr_assert_eq(AMQ_BASIC_PROP_CONTENT_TYPE, 1u << 15);
    cr_assert_eq(AMQ_BASIC_PROP_CLUSTER_ID, 1u << 2);
    cr_assert_eq(AMQ_BASIC_PROP_DELIVERY_MODE, 1u << 12);
    cr_assert_eq(AMQ_BASIC_PROP_TIMESTAMP, 1u << 6);
    props_roundtrip(0xFFFC);
    props_roundtrip(0);
    for (int b = 2; b < 16; b++) props_roundtrip((uint16_t)(1u << b));
    props_roundtrip(AMQ_BASIC_PROP_HEADERS | AMQ_BASIC_PROP_PRIORITY | AMQ_BASIC_PROP_APP_ID);
}

Test(props, exact_bytes) {
    amq_basic_props p;
    memset(&p, 0, sizeof p);
    p.flags = AMQ_BASIC_PROP_CONTENT_TYPE | AMQ_BASIC_PROP_DELIVERY_MODE | AMQ_BASIC_PROP_CLUSTER_ID;
    p.content_type = amq_cstr("a/b");
    p.delivery_mode = 2;
    p.cluster_id = amq_cstr("c");
    p.priority = 9; /* flag not set: not written */
    amq_wr w;
    amq_wr_init(&w);
    amq_basic_props_encode(&w, &p);
    const uint8_t want[] = {0x90, 0x04, 3, 'a', '/', 'b', 2, 1, 'c'};
    cr_assert_eq(w.len, sizeof want);
    cr_assert_eq(memcmp(w.data, want, sizeof want), 0);
    amq_basic_props q;
    cr_assert_eq(amq_basic_props_decode(th_bytes(w.data, w.len), &q), AMQ_OK);
    cr_assert_eq(q.priority, 0);
    cr_assert(amq_bytes_eqs(q.cluster_id, "c"));
    amq_wr_destroy(&w);
}

Test(props, malformed) {
    const uint8_t cont[] = {0x00, 0x01, 0, 0};
    amq_basic_props p;
    cr_assert_eq(amq_basic_props_decode(th_bytes(cont, sizeof cont), &p), AMQ_EBAD);
    const uint8_t badhdr[] = {0x20, 0x00, 0, 0, 0, 3, 1, 'k', 'Z'};
    cr_assert_eq(amq_basic_props_decode(th_bytes(badhdr, sizeof badhdr), &p), AMQ_EBAD);
    const uint8_t unused_bit[] = {0x00, 0x02};
    cr_assert_eq(amq_basic_props_decode(th_bytes(unused_bit, 2), &p), AMQ_OK);
    cr_assert_eq(amq_basic_props_decode(th_bytes(NULL, 0), &p), AMQ_ESHORT);
}

/* The API the broker is written against, checked at compile time. */
Test(methods, api_names) {
    amq_method m;
    m.u.connection_start_ok.client_properties = amq_cstr("");
    m.u.basic_get_empty.reserved_1 = amq_cstr("");
    m.u.confirm_select.nowait = true;
    m.u.connection_update_secret.new_secret = amq_cstr("s");
    m.u.exchange_declare.auto_delete = true;
    m.u.queue_declare_ok.consumer_count = 1;
    m.u.basic_qos.global = true;
    m.u.tx_select.unused_ = 0;
    m.u.connection_blocked.reason = amq_cstr("low mem");
    amq_connection_tune_ok t = {.channel_max = 1, .frame_max = 2, .heartbeat = 3};
    cr_assert_eq(t.heartbeat, 3);
    cr_assert(m.u.connection_blocked.reason.len == 7);
}
