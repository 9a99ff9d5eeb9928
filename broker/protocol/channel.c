/* channel.c — channel lifecycle, method dispatch, content assembly,
 * deliveries, unacked tracking and publisher confirms. See channel.h. */
#include "channel.h"
#include "frame_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amq/fast.h"
#include "amq/frame.h"
#include "config.h"
#include "reply_to.h"
#include "trace.h"
#include "vhost.h"
#include "durable.h"
#include "util.h"
#include "wconns.h"

void ch_send(channel *ch, uint32_t id, const void *fields) {
    amq_put_method_frame(&ch->conn->out, ch->id, id, fields);
    conn_output_added(ch->conn);
}

channel *channel_new(conn *c, uint16_t id) {
    channel *ch = xcalloc(1, sizeof *ch);
    ch->conn = c;
    ch->id = id;
    ch->state = CH_OPEN;
    stat_add2(vhost_stats(c->vh), STAT_CH_OPENED, 1);
    atomic_init(&ch->cc.prefetch, 0);
    atomic_init(&ch->cc.unacked, 0);
    route_set_init(&ch->rs);
    return ch;
}

/* ---- unacked ring (ascending delivery tags) ---- */

static unacked *ua_at(channel *ch, size_t i) { return fifo_at(&ch->ua, i, sizeof(unacked)); }

static void ua_push(channel *ch, unacked u) {
    *(unacked *)fifo_push(&ch->ua, sizeof(unacked)) = u;
    ch->ua_live++;
}

/* Index of a live entry with this tag, or -1. */
static long ua_find(channel *ch, uint64_t tag) {
    size_t lo = 0, hi = ch->ua.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint64_t t = ua_at(ch, mid)->tag;
        if (t == tag) return ua_at(ch, mid)->done ? -1 : (long)mid;
        if (t < tag) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

const unacked *channel_oldest_unacked(channel *ch) {
    for (size_t i = 0; i < ch->ua.n; i++)
        if (!ua_at(ch, i)->done) return ua_at(ch, i);
    return NULL;
}

static void ua_compact(channel *ch) {
    while (ch->ua.n && ua_at(ch, 0)->done) fifo_drop(&ch->ua, 1);
}

/* SETTLE_RETURN: the client asked (reject/nack/recover); SETTLE_REQUEUE: the channel went away. */
enum { SETTLE_ACK, SETTLE_REQUEUE, SETTLE_REJECT, SETTLE_RETURN };

/* Settle one entry: ack it, requeue it or reject it (dead-lettered if its
 * queue says so); returns its consumer (reference handed to the caller, may
 * be NULL) for credit accounting. */
static consumer *settle(channel *ch, unacked *u, int how) {
    consumer *c = u->c;
    if (how == SETTLE_REQUEUE) {
        queue_requeue(u->q, u->m, u->seq, u->exp, true);
    } else if (how == SETTLE_RETURN) {
        queue_return(u->q, u->m, u->seq, u->exp);
    } else if (how == SETTLE_REJECT) { /* acked, or dead-lettered if the queue has a DLX (now: policies change it) */
        queue_discard(u->q, u->m);
    } else {
        stat_add2(vhost_stats(ch->conn->vh), STAT_ACK, 1);
        ch->st[CHST_ACK]++;
        ctr_add(&u->q->st[QST_ACK], 1);
        queue_ack(u->q, u->m);
    }
    u->m = NULL;
    queue_unref(&u->q);
    u->done = true;
    ch->ua_live--;
    return c;
}

/* Settle entries [0..last] (multiple) or just idx; credit goes back per consumer in runs. */
static void settle_range(channel *ch, long first, long last, int how) {
    consumer *run = NULL;
    unsigned n = 0;
    for (long i = first; i <= last; i++) {
        unacked *u = ua_at(ch, (size_t)i);
        if (u->done) continue;
        consumer *c = settle(ch, u, how);
        if (c != run) {
            if (run) consumer_release(run, n), consumer_unref(&run);
            run = c;
            n = 0;
        } else if (c) {
            consumer_unref(&c); /* the run already holds one reference */
        }
        n++;
    }
    if (run) consumer_release(run, n), consumer_unref(&run);
    ua_compact(ch);
    if (atomic_load(&ch->cc.prefetch)) /* channel-wide credit: any of our queues may go on */
        for (size_t k = 0; k < ch->nconsumers; k++) queue_dispatch(ch->consumers[k]->q);
}

static int select_tags(channel *ch, uint64_t tag, bool multiple, long *first, long *last, werr *e) {
    if (multiple && tag == 0) {
        *first = 0;
        *last = (long)ch->ua.n - 1;
        return 0;
    }
    long i = ua_find(ch, tag);
    if (i < 0)
        return werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - unknown delivery tag %llu",
                        (unsigned long long)tag);
    *first = multiple ? 0 : i;
    *last = i;
    return 0;
}

static int tx_hold(channel *ch, tx_op op) {
    if (ch->ntx == ch->cap_tx) {
        ch->cap_tx = ch->cap_tx ? ch->cap_tx * 2 : 16;
        ch->txops = xrealloc(ch->txops, ch->cap_tx * sizeof *ch->txops);
    }
    ch->txops[ch->ntx++] = op;
    return 0;
}

enum { TX_PUBLISH, TX_ACK, TX_REJECT };

int ch_ack(channel *ch, uint64_t tag, bool multiple, werr *e) {
    long first = 0, last = -1;
    if (select_tags(ch, tag, multiple, &first, &last, e)) return e->code;
    if (ch->tx) return tx_hold(ch, (tx_op){.kind = TX_ACK, .tag = tag, .multiple = multiple});
    settle_range(ch, first, last, SETTLE_ACK);
    return 0;
}

int ch_reject(channel *ch, uint64_t tag, bool multiple, bool requeue, werr *e) {
    long first = 0, last = -1;
    if (select_tags(ch, tag, multiple, &first, &last, e)) return e->code;
    if (ch->tx) return tx_hold(ch, (tx_op){.kind = TX_REJECT, .tag = tag, .multiple = multiple, .requeue = requeue});
    settle_range(ch, first, last, requeue ? SETTLE_RETURN : SETTLE_REJECT);
    return 0;
}

void ch_requeue_all(channel *ch) {
    if (ch->ua.n) settle_range(ch, 0, (long)ch->ua.n - 1, SETTLE_RETURN);
}

/* ---- consumers ---- */

static void drop_consumer(channel *ch, consumer *cs) {
    atomic_store(&cs->cancelled, true);
    queue *q = cs->q;
    queue_ref(q);
    int left = queue_remove_consumer(q, cs);
    if (left == 0) vhost_queue_autodelete(ch->conn->vh, q);
    queue_unref(&q);
}

void channel_consumer_cancelled(channel *ch, consumer *cs) {
    for (size_t i = 0; i < ch->nconsumers; i++) {
        if (ch->consumers[i] != cs) continue;
        memmove(&ch->consumers[i], &ch->consumers[i + 1], (ch->nconsumers - i - 1) * sizeof cs);
        ch->nconsumers--;
        atomic_store(&cs->cancelled, true);
        if (ch->conn->cap_cancel_notify && ch->state == CH_OPEN) {
            amq_basic_cancel m = {.consumer_tag = {(const uint8_t *)cs->tag, cs->tag_len}, .no_wait = true};
            ch_send(ch, AMQ_BASIC_CANCEL, &m);
        }
        consumer_unref(&cs);
        return;
    }
}

/* Release every resource; after this no delivery reaches the channel. */
static void channel_cleanup(channel *ch) {
    for (size_t i = 0; i < ch->nconsumers; i++) {
        drop_consumer(ch, ch->consumers[i]);
        consumer_unref(&ch->consumers[i]);
    }
    ch->nconsumers = 0;
    reply_to_drop(ch);
    if (ch->ua.n) settle_range(ch, 0, (long)ch->ua.n - 1, SETTLE_REQUEUE); /* back to their places */
    for (size_t i = 0; i < ch->ntx; i++) msg_unref(&ch->txops[i].m);
    ch->ntx = 0;
    msg_unref(&ch->cur);
    ch->cstate = CC_NONE;
}

void channel_free(channel *ch) {
    channel_cleanup(ch);
    conn *c = ch->conn;
    stat_add2(vhost_stats(c->vh), STAT_CH_CLOSED, 1);
    if (ch->publisher) stat_add(&stats_global, STAT_PUBLISHERS_DOWN, 1);
    if (ch->dirty) { /* unlink from the connection's dirty list */
        channel **pp = &c->dirty;
        while (*pp && *pp != ch) pp = &(*pp)->dirty_next;
        if (*pp) *pp = ch->dirty_next;
    }
    if (ch->waiting) wconns_wait_del(c->w, ch);
    fifo_free(&ch->pend);
    fifo_free(&ch->txpos);
    free(ch->consumers);
    fifo_free(&ch->ua);
    free(ch->txops);
    route_set_destroy(&ch->rs);
    free(ch);
}

/* ---- deliveries ---- */

void channel_deliver(channel *ch, consumer *cs, queue *q, msg *m, uint64_t seq, uint64_t exp, bool redelivered) {
    conn *c = ch->conn;
    uint64_t tag = ++ch->next_tag;
    amq_put_basic_deliver(&c->out, ch->id, (amq_bytes){(const uint8_t *)cs->tag, cs->tag_len}, tag, redelivered,
                          msg_exchange(m), msg_rk(m), msg_props(m), msg_body(m), m->body_len, c->frame_max);
    conn_output_added(c);
    stat_add2(vhost_stats(c->vh), cs->no_ack ? STAT_DELIVER_NO_ACK : STAT_DELIVER, 1);
    ch->st[cs->no_ack ? CHST_DELIVER_NO_ACK : CHST_DELIVER]++;
    if (redelivered) {
        stat_add2(vhost_stats(c->vh), STAT_REDELIVER, 1);
        ch->st[CHST_REDELIVER]++;
    }
    if (vhost_tracing(c->vh)) trace_deliver(ch, q, m, redelivered);
    if (cs->no_ack) {
        if (q) store_ack(q, m);
        msg_unref(&m);
        queue_unref(&q);
        consumer_unref(&cs);
        return;
    }
    if (!redelivered) store_delivered(q, m);
    ua_push(ch, (unacked){.tag = tag, .q = q, .m = m, .c = cs, .seq = seq, .exp = exp, .delivered_ms = now_ms()});
}

static void pend_push(channel *ch, uint64_t seq, uint64_t pos, size_t npos) {
    *(pend *)fifo_push(&ch->pend, sizeof(pend)) = (pend){seq, pos, npos};
    if (!ch->waiting) wconns_wait_add(ch->conn->w, ch);
}

/* One log position of the commit being applied (its pend entry follows). */
static void txpos_push(channel *ch, uint64_t pos) { *(uint64_t *)fifo_push(&ch->txpos, sizeof(uint64_t)) = pos; }

/* The first npos positions of the FIFO (the oldest commit awaiting its reply):
 * how many records the log lost (store_lost) and how many messages it could
 * not take at all or a queue refused (UINT64_MAX). */
static void txpos_check(channel *ch, size_t npos, size_t *lost, size_t *refused) {
    *lost = *refused = 0;
    for (size_t i = 0; i < npos; i++) {
        uint64_t pos = *(uint64_t *)fifo_at(&ch->txpos, i, sizeof(uint64_t));
        if (pos == UINT64_MAX) (*refused)++;
        else if (store_lost(pos)) (*lost)++;
    }
}

static void txpos_pop(channel *ch, size_t npos) { fifo_drop(&ch->txpos, npos); }

/* A confirm for the publish just made; it waits behind earlier ones. */
static void confirm_one(channel *ch, uint64_t wait) {
    if (!ch->confirm) return;
    uint64_t seq = ++ch->pub_seq;
    if (wait == 0 && ch->pend.n == 0) {
        ch->confirm_ready = seq;
        conn_mark_dirty(ch->conn, ch);
        return;
    }
    pend_push(ch, seq, wait, 0);
    conn_mark_dirty(ch->conn, ch);
}

static void send_acks(channel *ch) {
    if (ch->confirm_ready <= ch->confirm_sent) return;
    amq_basic_ack a = {.delivery_tag = ch->confirm_ready, .multiple = ch->confirm_ready - ch->confirm_sent > 1};
    ch_send(ch, AMQ_BASIC_ACK, &a);
    uint64_t n = ch->confirm_ready - ch->confirm_sent;
    stat_add2(vhost_stats(ch->conn->vh), STAT_CONFIRM, n);
    ch->st[CHST_CONFIRM] += n;
    ch->confirm_sent = ch->confirm_ready;
}

static void raise_error(channel *ch, uint32_t id, werr *e);

/* A commit some of whose messages did not become durable: as RabbitMQ fails a
 * commit some of whose publishes were nacked, channel.close 406 "partial tx
 * completion" (the text says what the disk did). The messages whose records
 * were lost are never served (store_lost); the channel is closed, so nothing
 * published after the commit on it can be reported durable. */
static void commit_failed(channel *ch, size_t npos, size_t lost, size_t refused) {
    werr e;
    if (lost)
        werr_set(
            &e, AMQ_PRECONDITION_FAILED,
            "PRECONDITION_FAILED - partial tx completion: the disk refused %zu of the transaction's %zu persistent "
            "messages (a log write or sync failed)",
            lost + refused, npos);
    else werr_set(&e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - partial tx completion");
    raise_error(ch, AMQ_TX_COMMIT, &e);
}

void channel_advance(channel *ch) {
    uint64_t durable = store_durable();
    while (ch->pend.n) {
        pend *p = fifo_at(&ch->pend, 0, sizeof(pend));
        size_t nlost = 0, nrefused = 0;
        bool lost;
        if (p->seq == 0) /* a commit: any of its records */
            txpos_check(ch, p->npos, &nlost, &nrefused), lost = nlost || nrefused;
        else lost = p->pos == UINT64_MAX || (p->pos && store_lost(p->pos));
        if (!lost && p->pos && p->pos >= durable) break;
        pend e = *p;
        fifo_drop(&ch->pend, 1);
        txpos_pop(ch, e.npos);
        if (ch->state != CH_OPEN) continue;
        if (e.seq == 0) { /* tx.commit-ok, or the commit failed */
            if (lost) commit_failed(ch, e.npos, nlost, nrefused);
            else ch_send(ch, AMQ_TX_COMMIT_OK, NULL);
        } else if (lost) {
            send_acks(ch);
            amq_basic_nack n = {.delivery_tag = e.seq, .multiple = false, .requeue = false};
            ch_send(ch, AMQ_BASIC_NACK, &n);
            ch->confirm_ready = ch->confirm_sent = e.seq;
        } else {
            ch->confirm_ready = e.seq;
        }
    }
    if (!ch->pend.n && ch->waiting) wconns_wait_del(ch->conn->w, ch);
    if (ch->state == CH_OPEN) send_acks(ch);
}

void channel_flush_confirms(channel *ch) {
    if (ch->pend.n) {
        channel_advance(ch);
        return;
    }
    if (!ch->confirm || ch->state != CH_OPEN) return;
    send_acks(ch);
}

/* A body up to this size is allocated in full when its header arrives. */
#define CONTENT_PREALLOC 4096u

static void content_complete(channel *ch) {
    msg *m = ch->cur;
    ch->cur = NULL;
    ch->cstate = CC_NONE;
    if (ch->tx) { /* routed at commit, but a missing exchange fails now, as in RabbitMQ */
        vhost *v = ch->conn->vh;
        amq_bytes xn = msg_exchange(m);
        if (!vhost_exchange_exists(v, xn)) {
            werr e;
            werr_set(&e, AMQ_NOT_FOUND, "NOT_FOUND - no exchange '%.*s' in vhost '%s'", (int)xn.len, xn.p,
                     vhost_name(v));
            msg_unref(&m);
            return raise_error(ch, AMQ_BASIC_PUBLISH, &e);
        }
        tx_hold(ch, (tx_op){.kind = TX_PUBLISH, .m = m, .mandatory = ch->pub_mandatory});
        return;
    }
    werr e = {0};
    uint64_t wait;
    int rc = ch_publish_msg(ch, m, &ch->cur_props, ch->pub_mandatory, &wait, &e);
    msg_unref(&m);
    if (rc) return raise_error(ch, AMQ_BASIC_PUBLISH, &e);
    confirm_one(ch, wait);
}

int ch_tx_commit(channel *ch, werr *e) {
    int rc = 0;
    size_t i, npos0 = ch->txpos.n;
    uint64_t last = 0; /* the last record to be durable before commit-ok */
    ch->tx = false;    /* apply for real */
    for (i = 0; i < ch->ntx && !rc; i++) {
        tx_op *op = &ch->txops[i];
        if (op->kind == TX_PUBLISH) {
            uint64_t wait;
            rc = ch_publish_msg(ch, op->m, NULL, op->mandatory, &wait, e);
            if (!rc && wait) txpos_push(ch, wait); /* each is checked: one lost record fails the commit */
            if (!rc && wait != UINT64_MAX && wait > last) last = wait;
        } else if (op->kind == TX_ACK) {
            rc = ch_ack(ch, op->tag, op->multiple, e);
        } else {
            rc = ch_reject(ch, op->tag, op->multiple, op->requeue, e);
        }
        msg_unref(&op->m);
    }
    for (; i < ch->ntx; i++) msg_unref(&ch->txops[i].m);
    ch->ntx = 0;
    ch->tx = true;
    size_t npos = ch->txpos.n - npos0;
    if (rc) {
        ch->txpos.n = npos0; /* no reply waits for them */
        return rc;
    }
    if (npos || ch->pend.n) /* commit-ok once the log holds every published message */
        pend_push(ch, 0, last, npos);
    else ch_send(ch, AMQ_TX_COMMIT_OK, NULL);
    return 0;
}

void channel_on_header(channel *ch, amq_bytes payload) {
    conn *c = ch->conn;
    if (ch->state == CH_CLOSING) return;
    const char *bad = frame_unexpected(ch->cstate, AMQ_FRAME_HEADER);
    if (bad) {
        conn_error(c, AMQ_UNEXPECTED_FRAME, 0, "%s", bad);
        return;
    }
    uint16_t cls;
    uint64_t size;
    amq_bytes props;
    if (amq_content_header_parse(payload, &cls, &size, &props) != AMQ_OK || cls != AMQ_CLASS_BASIC) {
        conn_error(c, AMQ_FRAME_ERROR, AMQ_BASIC_PUBLISH, "FRAME_ERROR - malformed content header");
        return;
    }
    if (size > config.max_message_size) {
        werr e;
        werr_set(&e, AMQ_PRECONDITION_FAILED,
                 "PRECONDITION_FAILED - message size %llu is larger than configured max size %llu",
                 (unsigned long long)size, (unsigned long long)config.max_message_size);
        ch->cstate = CC_NONE;
        return raise_error(ch, AMQ_BASIC_PUBLISH, &e);
    }
    /* The body is allocated as it arrives, never from the announced size alone
     * (a header announcing 128 MiB is a few bytes): a small one at once, a
     * larger one as far as its frames are already in the connection's input
     * (all of it in the usual case, so one allocation), then grown on arrival. */
    uint64_t cap = size;
    if (size > CONTENT_PREALLOC) {
        cap = conn_body_ahead(c, ch->id, size);
        if (cap < CONTENT_PREALLOC) cap = CONTENT_PREALLOC;
    }
    ch->cur = msg_new((amq_bytes){(const uint8_t *)ch->pub_x, ch->pub_x_len},
                      (amq_bytes){(const uint8_t *)ch->pub_rk, ch->pub_rk_len}, props, cap);
    ch->cur_size = size;
    if (!ch->cur) {
        conn_error(c, AMQ_INTERNAL_ERROR, AMQ_BASIC_PUBLISH, "INTERNAL_ERROR - cannot allocate message");
        return;
    }
    /* Decoded once, from the message's own copy, for everything after. */
    amq_basic_props *p = &ch->cur_props;
    if (props.len) {
        if (amq_basic_props_decode(msg_props(ch->cur), p) != AMQ_OK) {
            msg_unref(&ch->cur);
            ch->cstate = CC_NONE;
            conn_error(c, AMQ_SYNTAX_ERROR, AMQ_BASIC_PUBLISH, "SYNTAX_ERROR - malformed content properties");
            return;
        }
        if (p->flags & AMQ_BASIC_PROP_DELIVERY_MODE) ch->cur->delivery_mode = p->delivery_mode;
        if (p->flags & AMQ_BASIC_PROP_PRIORITY) ch->cur->priority = p->priority;
    } else {
        memset(p, 0, sizeof *p);
    }
    ch->cstate = CC_BODY;
    if (size == 0) content_complete(ch);
}

void channel_on_body(channel *ch, amq_bytes payload) {
    conn *c = ch->conn;
    if (ch->state == CH_CLOSING) return;
    const char *bad = frame_unexpected(ch->cstate, AMQ_FRAME_BODY);
    if (bad) {
        conn_error(c, AMQ_UNEXPECTED_FRAME, 0, "%s", bad);
        return;
    }
    msg *m = ch->cur;
    if (payload.len > ch->cur_size - m->body_have) {
        conn_error(c, AMQ_FRAME_ERROR, AMQ_BASIC_PUBLISH, "FRAME_ERROR - content body longer than announced");
        return;
    }
    uint64_t need = m->body_have + payload.len;
    if (need > m->body_len) { /* geometric growth, capped at the announced size */
        uint64_t cap = m->body_len * 2;
        if (cap < need) cap = need;
        if (cap > ch->cur_size) cap = ch->cur_size;
        msg *n = msg_grow(m, cap);
        if (!n) {
            conn_error(c, AMQ_INTERNAL_ERROR, AMQ_BASIC_PUBLISH, "INTERNAL_ERROR - cannot allocate message");
            return;
        }
        if (n != m) { /* moved: the decoded properties point into the old copy */
            ch->cur = m = n;
            if (m->props_len) amq_basic_props_decode(msg_props(m), &ch->cur_props); /* validated on arrival */
        }
    }
    memcpy(msg_body(m) + m->body_have, payload.p, payload.len);
    m->body_have = need;
    if (need == ch->cur_size) content_complete(ch); /* body_len == cur_size now (see msg_grow) */
}

/* ---- method dispatch ---- */

void channel_raise(channel *ch, uint32_t id, werr *e) { raise_error(ch, id, e); }

static void raise_error(channel *ch, uint32_t id, werr *e) {
    conn *c = ch->conn;
    if (amq_reply_is_hard((uint16_t)e->code)) {
        conn_error(c, (uint16_t)e->code, id, "%s", e->text);
        return;
    }
    log_warn("channel error on connection %s, channel %u: %s", c->peer, ch->id, e->text); /* as RabbitMQ logs them */
    amq_reply_text_fit(e->text); /* a shortstr: cut as RabbitMQ does, never a broken frame */
    amq_channel_close m = {.reply_code = (uint16_t)e->code,
                           .reply_text = amq_cstr(e->text),
                           .class_id = (uint16_t)AMQ_CLASS_OF(id),
                           .method_id = (uint16_t)AMQ_METHOD_OF(id)};
    ch_send(ch, AMQ_CHANNEL_CLOSE, &m);
    ch->state = CH_CLOSING;
    channel_cleanup(ch);
}

static void remove_channel(channel *ch) {
    conn_channel_remove(ch->conn, ch->id);
    channel_free(ch);
}

void channel_on_method(channel *ch, amq_method *m, uint32_t id) {
    if (ch->state == CH_CLOSING) {
        if (id == AMQ_CHANNEL_CLOSE_OK) {
            remove_channel(ch);
        } else if (id == AMQ_CHANNEL_CLOSE) {
            ch_send(ch, AMQ_CHANNEL_CLOSE_OK, NULL);
            remove_channel(ch);
        }
        return; /* everything else is discarded until close-ok */
    }
    const char *bad = frame_unexpected(ch->cstate, AMQ_FRAME_METHOD);
    if (bad) {
        conn_error(ch->conn, AMQ_UNEXPECTED_FRAME, id, "%s", bad);
        return;
    }
    werr e = {0};
    int rc;
    switch (AMQ_CLASS_OF(id)) {
    case AMQ_CLASS_EXCHANGE: rc = ch_exchange_method(ch, m, &e); break;
    case AMQ_CLASS_QUEUE: rc = ch_queue_method(ch, m, &e); break;
    case AMQ_CLASS_BASIC: rc = ch_basic_method(ch, m, &e); break;
    case AMQ_CLASS_CHANNEL:
        if (id == AMQ_CHANNEL_CLOSE) {
            channel_cleanup(ch);
            ch_send(ch, AMQ_CHANNEL_CLOSE_OK, NULL);
            remove_channel(ch);
            return;
        }
        rc = ch_misc_method(ch, m, &e);
        break;
    default: rc = ch_misc_method(ch, m, &e); break;
    }
    if (rc) raise_error(ch, id, &e);
}

void channel_track_get(channel *ch, uint64_t tag, queue *q, msg *m, uint64_t seq, uint64_t exp) {
    ua_push(ch, (unacked){.tag = tag, .q = q, .m = m, .c = NULL, .seq = seq, .exp = exp, .delivered_ms = now_ms()});
}
