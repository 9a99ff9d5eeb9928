/* ch_basic.c — the basic class: qos, consume, cancel, get, ack, nack, reject,
 * recover, and publish: basic.publish's fields here, and the complete message
 * (channel.c assembles its content) checked (user_id, expiration), its CC/BCC
 * keys, delayed or direct reply-to handling, then routed by the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amq/frame.h"
#include "amq/table.h"
#include "channel.h"
#include "delayed.h"
#include "qfeat.h"
#include "queue.h"
#include "access.h"
#include "reply_to.h"
#include "sendsel.h"
#include "trace.h"
#include "durable.h"
#include "util.h"

static consumer *find_consumer(channel *ch, amq_bytes tag, size_t *idx) {
    for (size_t i = 0; i < ch->nconsumers; i++) {
        consumer *c = ch->consumers[i];
        if (c->tag_len == tag.len && memcmp(c->tag, tag.p, tag.len) == 0) {
            if (idx) *idx = i;
            return c;
        }
    }
    return NULL;
}

static void gen_tag(char *out, size_t n) {
    static _Atomic uint64_t counter;
    uint64_t x = (atomic_fetch_add(&counter, 1) + 1) * 0x9E3779B97F4A7C15ull ^ now_ms();
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t len = (size_t)snprintf(out, n, "amq.ctag-");
    for (int i = 0; i < 22 && len + 1 < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        out[len++] = a[x & 63];
    }
    out[len] = 0;
}

static int on_qos(channel *ch, amq_basic_qos *m, werr *e) {
    if (m->prefetch_size)
        return werr_set(e, AMQ_NOT_IMPLEMENTED, "NOT_IMPLEMENTED - prefetch_size!=0 (%u)", m->prefetch_size);
    if (m->global) atomic_store(&ch->cc.prefetch, m->prefetch_count);
    else ch->prefetch = m->prefetch_count;
    ch_send(ch, AMQ_BASIC_QOS_OK, NULL);
    for (size_t k = 0; k < ch->nconsumers; k++) queue_dispatch(ch->consumers[k]->q);
    return 0;
}

static int consume_reply_to(channel *ch, amq_basic_consume *m, werr *e) {
    if (!m->no_ack)
        return werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - reply consumer cannot acknowledge");
    char tag[256];
    amq_bytes t = m->consumer_tag;
    if (!t.len) {
        gen_tag(tag, sizeof tag);
        t = amq_cstr(tag);
    }
    if (reply_to_consume(ch, t))
        return werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - reply consumer already set");
    if (!m->no_wait) {
        amq_basic_consume_ok ok = {.consumer_tag = t};
        ch_send(ch, AMQ_BASIC_CONSUME_OK, &ok);
    }
    return 0;
}

static int on_consume(channel *ch, amq_basic_consume *m, werr *e) {
    if (reply_to_is_queue(m->queue)) return consume_reply_to(ch, m, e);
    int prc = ch_queue_shortcut(ch, &m->queue, e);
    if (prc) return prc;
    prc = ch_perm(ch, PERM_READ, "queue", m->queue, e);
    if (prc) return prc;
    char tag[256];
    amq_bytes t = m->consumer_tag;
    if (!t.len) {
        gen_tag(tag, sizeof tag);
        t = amq_cstr(tag);
    } else if (find_consumer(ch, t, NULL) ||
               (ch->reply_consumer &&
                amq_bytes_eq(t, (amq_bytes){(const uint8_t *)ch->reply_consumer->tag, ch->reply_consumer->tag_len}))) {
        return werr_set(e, AMQ_NOT_ALLOWED, "NOT_ALLOWED - attempt to reuse consumer tag '%.*s'", (int)t.len, t.p);
    }
    int32_t prio = 0;
    amq_field f;
    if (m->arguments.len && amq_table_get(m->arguments, "x-priority", &f) == 1) {
        int64_t v;
        if (!amq_field_as_i64(&f, &v) || v < INT32_MIN || v > INT32_MAX)
            return werr_set(e, AMQ_PRECONDITION_FAILED,
                            "PRECONDITION_FAILED - invalid arg 'x-priority' for consumer: expected an integer");
        prio = (int32_t)v;
    }
    werr ve;
    queue *q;
    int rc = vhost_queue_get(ch->conn->vh, m->queue, ch->conn->id, &q, &ve);
    if (rc) return werr_set(e, rc, "%s", ve.text);
    consumer *c = consumer_new();
    c->q = q; /* the reference from vhost_queue_get */
    c->w = ch->conn->w;
    c->ch = ch;
    c->throttled = &ch->conn->throttled;
    c->cc = &ch->cc;
    c->tag_len = (uint8_t)t.len;
    memcpy(c->tag, t.p, t.len);
    c->no_ack = m->no_ack;
    c->exclusive = m->exclusive;
    c->priority = prio;
    atomic_store(&c->prefetch, ch->prefetch);
    /* Deliveries reach us through our own mailbox, drained after this read
     * batch, so consume-ok written below still precedes the first delivery. */
    if (queue_add_consumer(q, c)) {
        consumer_unref(&c);
        return werr_set(e, AMQ_ACCESS_REFUSED, "ACCESS_REFUSED - queue '%.*s' in vhost '%s' in exclusive use",
                        (int)m->queue.len, m->queue.p, vhost_name(ch->conn->vh));
    }
    if (!m->no_wait) {
        amq_basic_consume_ok ok = {.consumer_tag = t};
        ch_send(ch, AMQ_BASIC_CONSUME_OK, &ok);
    }
    if (ch->nconsumers == ch->cap_consumers) {
        ch->cap_consumers = ch->cap_consumers ? ch->cap_consumers * 2 : 4;
        ch->consumers = xrealloc(ch->consumers, ch->cap_consumers * sizeof *ch->consumers);
    }
    ch->consumers[ch->nconsumers++] = c; /* the channel's reference */
    return 0;
}

static int on_cancel(channel *ch, amq_basic_cancel *m) {
    size_t i;
    consumer *c = find_consumer(ch, m->consumer_tag, &i);
    if (c) {
        memmove(&ch->consumers[i], &ch->consumers[i + 1], (ch->nconsumers - i - 1) * sizeof c);
        ch->nconsumers--;
        atomic_store(&c->cancelled, true);
        queue *q = c->q;
        queue_ref(q);
        int left = queue_remove_consumer(q, c);
        consumer_unref(&c);
        if (!m->no_wait) {
            amq_basic_cancel_ok ok = {.consumer_tag = m->consumer_tag};
            ch_send(ch, AMQ_BASIC_CANCEL_OK, &ok);
        }
        if (left == 0) vhost_queue_autodelete(ch->conn->vh, q);
        queue_unref(&q);
        return 0;
    }
    if (ch->reply_consumer && amq_bytes_eq(m->consumer_tag, (amq_bytes){(const uint8_t *)ch->reply_consumer->tag,
                                                                        ch->reply_consumer->tag_len}))
        reply_to_drop(ch);
    if (!m->no_wait) {
        amq_basic_cancel_ok ok = {.consumer_tag = m->consumer_tag};
        ch_send(ch, AMQ_BASIC_CANCEL_OK, &ok);
    }
    return 0;
}

/* Write permission on the exchange, remembered for the last exchange name
 * (until users or permissions change) so a publishing loop pays once. */
static int publish_perm(channel *ch, amq_bytes x, werr *e) {
    conn *c = ch->conn;
    uint64_t gen = access_generation();
    if (c->wcache_gen == gen && c->wcache_len == (int)x.len && !memcmp(c->wcache, x.p, x.len)) return 0;
    int rc = ch_perm(ch, PERM_WRITE, "exchange", x, e);
    if (!rc) {
        memcpy(c->wcache, x.p, x.len);
        c->wcache_len = (int)x.len;
        c->wcache_gen = gen;
    }
    return rc;
}

static int on_publish(channel *ch, amq_basic_publish *m, werr *e) {
    if (m->immediate) return werr_set(e, AMQ_NOT_IMPLEMENTED, "NOT_IMPLEMENTED - immediate=true");
    int prc = publish_perm(ch, m->exchange, e);
    if (prc) return prc;
    ch->pub_mandatory = m->mandatory;
    ch->conn->published = true;
    ch->pub_x_len = (uint8_t)m->exchange.len;
    memcpy(ch->pub_x, m->exchange.p, m->exchange.len);
    ch->pub_rk_len = (uint8_t)m->routing_key.len;
    memcpy(ch->pub_rk, m->routing_key.p, m->routing_key.len);
    ch->cstate = CC_HEADER;
    return 0;
}

static int on_get(channel *ch, amq_basic_get *m, werr *e) {
    werr ve;
    queue *q;
    int prc = ch_queue_shortcut(ch, &m->queue, e);
    if (!prc) prc = ch_perm(ch, PERM_READ, "queue", m->queue, e);
    if (prc) return prc;
    int rc = vhost_queue_get(ch->conn->vh, m->queue, ch->conn->id, &q, &ve);
    if (rc) return werr_set(e, rc, "%s", ve.text);
    qentry qe;
    uint32_t left = 0;
    if (!queue_get(q, &qe, &left)) {
        amq_basic_get_empty ge = {.reserved_1 = {0}};
        ch_send(ch, AMQ_BASIC_GET_EMPTY, &ge);
        stat_add2(vhost_stats(ch->conn->vh), STAT_GET_EMPTY, 1);
        ch->st[CHST_GET_EMPTY]++;
        ctr_add(&q->st[QST_GET_EMPTY], 1);
        queue_unref(&q);
        return 0;
    }
    if (msg_is_lazy(qe.m)) {
        uint64_t pos = msg_lazy_pos(qe.m);
        qe.m = store_materialize(qe.m);
        if (!qe.m) { /* unreadable record: dropped (logged) */
            store_dropped_pos(q, pos);
            amq_basic_get_empty ge = {.reserved_1 = {0}};
            ch_send(ch, AMQ_BASIC_GET_EMPTY, &ge);
            queue_unref(&q);
            return 0;
        }
    }
    conn *c = ch->conn;
    uint64_t tag = ++ch->next_tag;
    amq_basic_get_ok ok = {.delivery_tag = tag,
                           .redelivered = qe.redelivered != 0,
                           .exchange = msg_exchange(qe.m),
                           .routing_key = msg_rk(qe.m),
                           .message_count = left};
    amq_put_method_frame(&c->out, ch->id, AMQ_BASIC_GET_OK, &ok);
    /* The queue's type may hand out a copy (a quorum queue's x-delivery-count). */
    msg *counted = queue_got(q, qe.m);
    amq_put_content(&c->out, ch->id, AMQ_CLASS_BASIC, msg_props(counted ? counted : qe.m), msg_body(qe.m),
                    qe.m->body_len, c->frame_max);
    msg_unref(&counted);
    conn_output_added(c);
    stat_add2(vhost_stats(c->vh), m->no_ack ? STAT_GET_NO_ACK : STAT_GET, 1);
    ch->st[m->no_ack ? CHST_GET_NO_ACK : CHST_GET]++;
    ctr_add(&q->st[m->no_ack ? QST_GET_NO_ACK : QST_GET], 1);
    if (qe.redelivered) {
        stat_add2(vhost_stats(c->vh), STAT_REDELIVER, 1);
        ch->st[CHST_REDELIVER]++;
        ctr_add(&q->st[QST_REDELIVER], 1);
    }
    if (vhost_tracing(c->vh)) trace_deliver(ch, q, qe.m, qe.redelivered != 0);
    if (m->no_ack) {
        store_ack(q, qe.m);
        msg_unref(&qe.m);
        queue_unref(&q);
        return 0;
    }
    if (!qe.redelivered) store_delivered(q, qe.m);
    channel_track_get(ch, tag, q, qe.m, qe.seq, qe.exp);
    return 0;
}

/* ---- publishing: a complete message (channel.c assembled it, or tx.commit
 * replays it) routed through the model ---- */

static void send_return(channel *ch, msg *m, uint16_t code, const char *text) {
    conn *c = ch->conn;
    amq_basic_return r = {
        .reply_code = code, .reply_text = amq_cstr(text), .exchange = msg_exchange(m), .routing_key = msg_rk(m)};
    amq_put_method_frame(&c->out, ch->id, AMQ_BASIC_RETURN, &r);
    amq_put_content(&c->out, ch->id, AMQ_CLASS_BASIC, msg_props(m), msg_body(m), m->body_len, c->frame_max);
    conn_output_added(c);
    stat_add2(vhost_stats(c->vh), STAT_RETURN_UNROUTABLE, 1);
    ch->st[CHST_RETURN_UNROUTABLE]++;
}

/* One message accepted from a publisher: routed into `routed` queues (none:
 * returned if mandatory, else dropped). */
static void count_publish(channel *ch, size_t routed, bool mandatory) {
    stat_set *vs = vhost_stats(ch->conn->vh);
    stat_add2(vs, STAT_PUBLISH, 1);
    if (ch->confirm) stat_add2(vs, STAT_PUBLISH_CONFIRM, 1);
    ch->st[CHST_PUBLISH]++;
    if (!ch->publisher) {
        ch->publisher = true;
        stat_add(&stats_global, STAT_PUBLISHERS_UP, 1);
    }
    if (routed) stat_add2(vs, STAT_ROUTED, routed);
    else if (!mandatory) {
        stat_add2(vs, STAT_DROP_UNROUTABLE, 1);
        ch->st[CHST_DROP_UNROUTABLE]++;
    }
}

static int publish_routed(channel *ch, msg *m, amq_bytes xn, const amq_bytes *rks, size_t nrk, amq_bytes headers,
                          bool mandatory, uint64_t *wait, werr *e);

int ch_publish_msg(channel *ch, msg *m, const amq_basic_props *pp, bool mandatory, uint64_t *wait, werr *e) {
    *wait = 0;
    amq_basic_props p;
    if (pp) {
        p = *pp;
    } else {
        memset(&p, 0, sizeof p);
        if (m->props_len) amq_basic_props_decode(msg_props(m), &p); /* validated on arrival */
    }
    amq_bytes headers = (p.flags & AMQ_BASIC_PROP_HEADERS) ? p.headers : (amq_bytes){0};
    amq_bytes xn = msg_exchange(m), rk = msg_rk(m);
    msg *rewritten = NULL;
    if ((p.flags & AMQ_BASIC_PROP_USER_ID) && !amq_bytes_eqs(p.user_id, ch->conn->user) &&
        !access_user_has_tag(ch->conn->user, "impersonator"))
        return werr_set(e, AMQ_PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - user_id property set to '%.*s' but authenticated user was '%s'",
                        (int)p.user_id.len, p.user_id.p, ch->conn->user);
    if (p.flags & AMQ_BASIC_PROP_EXPIRATION) {
        int64_t ttl;
        char why[128];
        if (qfeat_parse_expiration(p.expiration, &ttl, why, sizeof why))
            return werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - invalid expiration '%.*s': %s",
                            (int)p.expiration.len, p.expiration.p, why);
        m->ttl = ttl; /* not routed yet: still ours to set */
    }
    ss_keys keys; /* the routing key, plus CC and BCC (sender-selected distribution) */
    ss_init(&keys, rk);
    bool bcc = false;
    if (headers.len) {
        char err[200];
        if (ss_collect(headers, &keys, &bcc, err, sizeof err)) {
            ss_free(&keys);
            return werr_set(e, AMQ_PRECONDITION_FAILED, "%s", err);
        }
    }
    uint64_t delay;
    bool durable_x;
    if (headers.len && delayed_delay_of(headers, &delay) && vhost_exchange_delayed(ch->conn->vh, xn, &durable_x)) {
        /* x-delayed-message: held, routed later (CC/BCC then); like the plugin,
         * a mandatory publish is returned at once since nothing routes it now */
        *wait = delayed_hold(ch->conn->vh, m, delay, durable_x && m->delivery_mode == 2);
        count_publish(ch, 1, true);
        if (mandatory) send_return(ch, m, AMQ_NO_ROUTE, "NO_ROUTE");
        if (vhost_tracing(ch->conn->vh)) { /* as with the plugin: traced now, routed to no queue yet */
            trace_routed none;
            trace_routed_init(&none);
            trace_publish(ch, m, xn, keys.v, keys.n, &none);
            trace_routed_free(&none);
        }
        ss_free(&keys);
        return 0;
    }
    bool reply = (p.flags & AMQ_BASIC_PROP_REPLY_TO) && reply_to_is_queue(p.reply_to);
    if (reply || bcc) {
        /* A request expecting a direct reply: name this channel's reply consumer. */
        if (reply && !ch->reply_consumer) {
            ss_free(&keys);
            return werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - fast reply consumer does not exist");
        }
        if (reply) p.reply_to = amq_cstr(ch->reply_name);
        if (!(rewritten = ss_rewrite_props(m, &p, bcc))) {
            ss_free(&keys);
            return werr_set(e, AMQ_INTERNAL_ERROR, "INTERNAL_ERROR - out of memory");
        }
        m = rewritten;
    }
    int rc = publish_routed(ch, m, xn, keys.v, keys.n, headers, mandatory, wait, e);
    ss_free(&keys);
    msg_unref(&rewritten);
    return rc;
}

static int publish_routed(channel *ch, msg *m, amq_bytes xn, const amq_bytes *rks, size_t nrk, amq_bytes headers,
                          bool mandatory, uint64_t *wait, werr *e) {
    amq_bytes rk = rks[0];
    if (xn.len == 0 && reply_to_is_target(rk)) { /* direct reply-to response */
        int delivered = reply_to_deliver(rk, m, ch->conn);
        count_publish(ch, delivered > 0, mandatory);
        if (!delivered && mandatory) send_return(ch, m, AMQ_NO_ROUTE, "NO_ROUTE");
        return 0;
    }
    werr ve;
    size_t routed = 0;
    vhost *v = ch->conn->vh;
    int rc;
    if (vhost_tracing(v)) { /* firehose: the copy names the queues routed to */
        trace_routed tr;
        trace_routed_init(&tr);
        rc = vhost_publish_seen(v, m, xn, rks, nrk, headers, &ch->rs, wait, &routed, &ve, trace_routed_collect, &tr);
        if (!rc) trace_publish(ch, m, xn, rks, nrk, &tr);
        trace_routed_free(&tr);
    } else {
        rc = vhost_publish(v, m, xn, rks, nrk, headers, &ch->rs, wait, &routed, &ve);
    }
    if (rc) return werr_set(e, rc, "%s", ve.text);
    count_publish(ch, routed, mandatory);
    if (!routed && mandatory && *wait != UINT64_MAX) send_return(ch, m, AMQ_NO_ROUTE, "NO_ROUTE");
    return 0;
}

int ch_basic_method(channel *ch, amq_method *m, werr *e) {
    switch (m->id) {
    case AMQ_BASIC_QOS: return on_qos(ch, &m->u.basic_qos, e);
    case AMQ_BASIC_CONSUME: return on_consume(ch, &m->u.basic_consume, e);
    case AMQ_BASIC_CANCEL: return on_cancel(ch, &m->u.basic_cancel);
    case AMQ_BASIC_PUBLISH: return on_publish(ch, &m->u.basic_publish, e);
    case AMQ_BASIC_GET: return on_get(ch, &m->u.basic_get, e);
    case AMQ_BASIC_ACK: return ch_ack(ch, m->u.basic_ack.delivery_tag, m->u.basic_ack.multiple, e);
    case AMQ_BASIC_REJECT: return ch_reject(ch, m->u.basic_reject.delivery_tag, false, m->u.basic_reject.requeue, e);
    case AMQ_BASIC_NACK:
        return ch_reject(ch, m->u.basic_nack.delivery_tag, m->u.basic_nack.multiple, m->u.basic_nack.requeue, e);
    case AMQ_BASIC_RECOVER:
    case AMQ_BASIC_RECOVER_ASYNC: {
        bool requeue = m->id == AMQ_BASIC_RECOVER ? m->u.basic_recover.requeue : m->u.basic_recover_async.requeue;
        if (!requeue) return werr_set(e, AMQ_NOT_IMPLEMENTED, "NOT_IMPLEMENTED - requeue=false");
        ch_requeue_all(ch);
        if (m->id == AMQ_BASIC_RECOVER) ch_send(ch, AMQ_BASIC_RECOVER_OK, NULL);
        return 0;
    }
    default:
        return werr_set(e, AMQ_COMMAND_INVALID, "COMMAND_INVALID - %s is not a client method", amq_method_name(m->id));
    }
}
