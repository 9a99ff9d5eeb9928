/* ch_exchange.c — the exchange and queue classes: thin handlers over vhost.c. */
#include <stdio.h>
#include <string.h>

#include "delayed.h"
#include "access.h"
#include "amq/table.h"
#include "channel.h"
#include "reply_to.h"
#include "util.h"

static int fail_verr(werr *e, int rc, const werr *ve) { return werr_set(e, rc, "%s", ve->text); }

int ch_perm(channel *ch, int kind, const char *rtype, amq_bytes name, werr *e) {
    char text[400];
    int rc = conn_check_perm(ch->conn, kind, rtype, name, text, sizeof text);
    return rc ? werr_set(e, rc, "%s", text) : 0;
}

int ch_queue_shortcut(channel *ch, amq_bytes *name, werr *e) {
    if (name->len) return 0;
    if (!ch->last_queue_len) return werr_set(e, AMQ_NOT_FOUND, "NOT_FOUND - no previously declared queue");
    *name = (amq_bytes){(const uint8_t *)ch->last_queue, ch->last_queue_len};
    return 0;
}

/* queue.bind/unbind with an empty queue and an empty routing key: the key is
 * the (last declared) queue's name. */
static int bind_shortcut(channel *ch, amq_bytes *queue, amq_bytes *key, werr *e) {
    bool both = queue->len == 0 && key->len == 0;
    int rc = ch_queue_shortcut(ch, queue, e);
    if (!rc && both) *key = *queue;
    return rc;
}

static void remember_queue(channel *ch, amq_bytes name) {
    ch->last_queue_len = (uint8_t)(name.len < sizeof ch->last_queue ? name.len : sizeof ch->last_queue);
    memcpy(ch->last_queue, name.p, ch->last_queue_len);
}

/* A string argument (e.g. alternate-exchange), or an empty slice. */
static amq_bytes str_arg(amq_bytes args, const char *key) {
    amq_field f;
    if (args.len && amq_table_get(args, key, &f) == 1 && (f.type == 'S' || f.type == 'x')) return f.v.str;
    return (amq_bytes){0};
}

/* RabbitMQ's order: write on the destination, then (unless either end is
 * the default exchange, refused later) read on the source exchange. */
static int bind_perms(channel *ch, const char *dtype, amq_bytes dest, amq_bytes src, werr *e) {
    int rc = ch_perm(ch, PERM_WRITE, dtype, dest, e);
    if (rc || src.len == 0 || (dest.len == 0 && !strcmp(dtype, "exchange"))) return rc;
    return ch_perm(ch, PERM_READ, "exchange", src, e);
}
int ch_exchange_method(channel *ch, amq_method *m, werr *e) {
    vhost *v = ch->conn->vh;
    werr ve;
    int rc;
    switch (m->id) {
    case AMQ_EXCHANGE_DECLARE: {
        amq_exchange_declare *d = &m->u.exchange_declare;
        exch_type t;
        if (!d->passive && d->exchange.len && (exch_type_parse(d->type, &t) == 0 || delayed_is_type(d->type))) {
            if ((rc = ch_perm(ch, PERM_CONFIGURE, "exchange", d->exchange, e))) return rc;
            amq_bytes ae = str_arg(d->arguments, "alternate-exchange");
            if (ae.len && !vhost_exchange_exists(v, d->exchange) &&
                ((rc = ch_perm(ch, PERM_READ, "exchange", d->exchange, e)) ||
                 (rc = ch_perm(ch, PERM_WRITE, "exchange", ae, e))))
                return rc;
        }
        rc = vhost_exchange_declare(v, d->exchange, d->type, d->passive, d->durable, d->auto_delete, d->internal,
                                    d->arguments, &ve);
        if (rc) return fail_verr(e, rc, &ve);
        if (!d->no_wait) ch_send(ch, AMQ_EXCHANGE_DECLARE_OK, NULL);
        return 0;
    }
    case AMQ_EXCHANGE_DELETE: {
        amq_exchange_delete *d = &m->u.exchange_delete;
        if (d->exchange.len && (rc = ch_perm(ch, PERM_CONFIGURE, "exchange", d->exchange, e))) return rc;
        rc = vhost_exchange_delete(v, d->exchange, d->if_unused, &ve);
        if (rc) return fail_verr(e, rc, &ve);
        if (!d->no_wait) ch_send(ch, AMQ_EXCHANGE_DELETE_OK, NULL);
        return 0;
    }
    case AMQ_EXCHANGE_BIND:
    case AMQ_EXCHANGE_UNBIND: {
        bool unbind = m->id == AMQ_EXCHANGE_UNBIND;
        amq_exchange_bind *b = &m->u.exchange_bind; /* bind and unbind share a layout */
        if ((rc = bind_perms(ch, "exchange", b->destination, b->source, e))) return rc;
        if (unbind) {
            amq_exchange_unbind *u = &m->u.exchange_unbind;
            rc = vhost_exchange_bind(v, u->destination, u->source, u->routing_key, u->arguments, true, &ve);
            if (rc) return fail_verr(e, rc, &ve);
            if (!u->no_wait) ch_send(ch, AMQ_EXCHANGE_UNBIND_OK, NULL);
            return 0;
        }
        rc = vhost_exchange_bind(v, b->destination, b->source, b->routing_key, b->arguments, false, &ve);
        if (rc) return fail_verr(e, rc, &ve);
        if (!b->no_wait) ch_send(ch, AMQ_EXCHANGE_BIND_OK, NULL);
        return 0;
    }
    default:
        return werr_set(e, AMQ_COMMAND_INVALID, "COMMAND_INVALID - %s is not a client method", amq_method_name(m->id));
    }
}

int ch_queue_method(channel *ch, amq_method *m, werr *e) {
    conn *c = ch->conn;
    vhost *v = c->vh;
    werr ve;
    int rc;
    switch (m->id) {
    case AMQ_QUEUE_DECLARE: {
        amq_queue_declare *d = &m->u.queue_declare;
        queue *q;
        if (reply_to_is_queue(d->queue)) { /* the direct reply-to pseudo-queue always exists */
            amq_queue_declare_ok ok = {.queue = d->queue, .message_count = 0, .consumer_count = 1};
            if (!d->no_wait) ch_send(ch, AMQ_QUEUE_DECLARE_OK, &ok);
            return 0;
        }
        char gen[64];
        amq_bytes qn = d->queue;
        if (!d->passive) {
            if (qn.len == 0) { /* name it here so the check sees the name */
                vhost_gen_queue_name(gen, sizeof gen);
                qn = amq_cstr(gen);
            }
            if ((rc = ch_perm(ch, PERM_CONFIGURE, "queue", qn, e))) return rc;
            amq_bytes dlx = str_arg(d->arguments, "x-dead-letter-exchange");
            if (dlx.len &&
                ((rc = ch_perm(ch, PERM_READ, "queue", qn, e)) || (rc = ch_perm(ch, PERM_WRITE, "exchange", dlx, e))))
                return rc;
        }
        if (qn.p == (const uint8_t *)gen)
            rc = vhost_queue_declare_generated(v, qn, d->durable, d->exclusive, d->auto_delete, d->arguments, c->id, &q,
                                               &ve);
        else
            rc = vhost_queue_declare(v, qn, d->passive, d->durable, d->exclusive, d->auto_delete, d->arguments, c->id,
                                     &q, &ve);
        if (rc) return fail_verr(e, rc, &ve);
        remember_queue(ch, queue_name(q));
        if (!d->no_wait) {
            amq_queue_declare_ok ok = {.queue = queue_name(q)};
            queue_counts(q, &ok.message_count, &ok.consumer_count);
            ch_send(ch, AMQ_QUEUE_DECLARE_OK, &ok);
        }
        queue_unref(&q);
        return 0;
    }
    case AMQ_QUEUE_BIND: {
        amq_queue_bind *b = &m->u.queue_bind;
        if ((rc = bind_shortcut(ch, &b->queue, &b->routing_key, e))) return rc;
        if ((rc = bind_perms(ch, "queue", b->queue, b->exchange, e))) return rc;
        rc = vhost_queue_bind(v, b->queue, b->exchange, b->routing_key, b->arguments, false, c->id, &ve);
        if (rc) return fail_verr(e, rc, &ve);
        if (!b->no_wait) ch_send(ch, AMQ_QUEUE_BIND_OK, NULL);
        return 0;
    }
    case AMQ_QUEUE_UNBIND: {
        amq_queue_unbind *b = &m->u.queue_unbind;
        if ((rc = bind_shortcut(ch, &b->queue, &b->routing_key, e))) return rc;
        if ((rc = bind_perms(ch, "queue", b->queue, b->exchange, e))) return rc;
        rc = vhost_queue_bind(v, b->queue, b->exchange, b->routing_key, b->arguments, true, c->id, &ve);
        if (rc) return fail_verr(e, rc, &ve);
        ch_send(ch, AMQ_QUEUE_UNBIND_OK, NULL);
        return 0;
    }
    case AMQ_QUEUE_PURGE: {
        amq_queue_purge *p = &m->u.queue_purge;
        queue *q;
        if ((rc = ch_queue_shortcut(ch, &p->queue, e))) return rc;
        if ((rc = ch_perm(ch, PERM_READ, "queue", p->queue, e))) return rc;
        rc = vhost_queue_get(v, p->queue, c->id, &q, &ve);
        if (rc) return fail_verr(e, rc, &ve);
        amq_queue_purge_ok ok = {.message_count = queue_purge(q)};
        queue_unref(&q);
        if (!p->no_wait) ch_send(ch, AMQ_QUEUE_PURGE_OK, &ok);
        return 0;
    }
    case AMQ_QUEUE_DELETE: {
        amq_queue_delete *d = &m->u.queue_delete;
        amq_queue_delete_ok ok = {0};
        if ((rc = ch_queue_shortcut(ch, &d->queue, e))) return rc;
        if ((rc = ch_perm(ch, PERM_CONFIGURE, "queue", d->queue, e))) return rc;
        rc = vhost_queue_delete(v, d->queue, d->if_unused, d->if_empty, c->id, &ok.message_count, &ve);
        if (rc) return fail_verr(e, rc, &ve);
        if (!d->no_wait) ch_send(ch, AMQ_QUEUE_DELETE_OK, &ok);
        return 0;
    }
    default:
        return werr_set(e, AMQ_COMMAND_INVALID, "COMMAND_INVALID - %s is not a client method", amq_method_name(m->id));
    }
}

int ch_misc_method(channel *ch, amq_method *m, werr *e) {
    switch (m->id) {
    case AMQ_CHANNEL_OPEN: return werr_set(e, AMQ_CHANNEL_ERROR, "CHANNEL_ERROR - second 'channel.open' seen");
    case AMQ_CHANNEL_FLOW:
        if (!m->u.channel_flow.active) return werr_set(e, AMQ_NOT_IMPLEMENTED, "NOT_IMPLEMENTED - active=false");
        {
            amq_channel_flow_ok ok = {.active = true};
            ch_send(ch, AMQ_CHANNEL_FLOW_OK, &ok);
        }
        return 0;
    case AMQ_CHANNEL_FLOW_OK:
    case AMQ_CHANNEL_CLOSE_OK: return 0;
    case AMQ_CONFIRM_SELECT:
        if (ch->tx)
            return werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - cannot switch from tx to confirm mode");
        ch->confirm = true;
        if (!m->u.confirm_select.nowait) ch_send(ch, AMQ_CONFIRM_SELECT_OK, NULL);
        return 0;
    case AMQ_TX_SELECT:
        if (ch->confirm)
            return werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - cannot switch from confirm to tx mode");
        ch->tx = true;
        ch_send(ch, AMQ_TX_SELECT_OK, NULL);
        return 0;
    case AMQ_TX_COMMIT:
    case AMQ_TX_ROLLBACK:
        if (!ch->tx) return werr_set(e, AMQ_PRECONDITION_FAILED, "PRECONDITION_FAILED - channel is not transactional");
        if (m->id == AMQ_TX_COMMIT) {
            int rc = ch_tx_commit(ch, e); /* sends commit-ok, now or once durable */
            if (rc) return rc;
        } else {
            for (size_t i = 0; i < ch->ntx; i++) msg_unref(&ch->txops[i].m);
            ch->ntx = 0;
            ch_send(ch, AMQ_TX_ROLLBACK_OK, NULL);
        }
        return 0;
    default:
        return werr_set(e, AMQ_COMMAND_INVALID, "COMMAND_INVALID - %s is not a client method",
                        amq_method_name(m->id) ? amq_method_name(m->id) : "unknown method");
    }
}
