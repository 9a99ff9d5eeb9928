/* queue_quorum.c — the quorum queue type: the classic machinery (one node, no
 * replication yet) plus what RabbitMQ 3.10's quorum queues do differently:
 * every return counts (x-delivery-count, from basic.get-ok on), x-delivery-limit
 * drops or dead-letters a message returned too often, a client's requeue puts
 * the message at the back, and each return is logged so the count and the
 * order survive a restart. Durable only; its own set of arguments (qfeat.c). */
#include "queue_impl.h"

#include "durable.h"

static void declare(queue *q, amq_bytes args) { q->delivery_limit = qfeat_delivery_limit(args); }

/* m comes back once more. Returns the copy to requeue (with its
 * x-delivery-count), or NULL when it was over the delivery limit and left the
 * queue (dead-lettered or dropped). Takes m. No lock held. */
static msg *count_return(queue *q, msg *m) {
    if (msg_is_lazy(m)) {
        uint64_t pos = msg_lazy_pos(m);
        if (!(m = store_materialize(m))) return msg_lazy(pos); /* unreadable: keep it as it was */
    }
    unsigned n = m->returns < UINT16_MAX ? m->returns + 1u : UINT16_MAX;
    pthread_mutex_lock(&q->lock); /* the limit and the DLX may come from a policy */
    if (q->delivery_limit >= 0 && (int64_t)n > q->delivery_limit) {
        msg *orig = m->returns ? qfeat_with_delivery_count(m, -1) : NULL; /* dead-lettered without the count */
        if (orig) {
            msg_unref(&m);
            m = orig;
        }
        queue_drop(q, m, DL_DELIVERY_LIMIT);
        pthread_mutex_unlock(&q->lock);
        return NULL;
    }
    pthread_mutex_unlock(&q->lock);
    msg *c = qfeat_with_delivery_count(m, n);
    if (!c) return m;
    c->returns = (uint16_t)n;
    msg_unref(&m);
    return c;
}

static void requeue(queue *q, msg *m, uint64_t seq, uint64_t exp, bool redelivered) {
    if ((m = count_return(q, m))) queue_put_back(q, m, seq, exp, redelivered, false, true);
}

static void ret(queue *q, msg *m, uint64_t seq, uint64_t exp) {
    if ((m = count_return(q, m))) queue_put_back(q, m, seq, exp, true, true, true);
}

/* basic.get-ok carries x-delivery-count from the first delivery on (0), as
 * RabbitMQ 3.10's (basic.deliver only once returned). */
static msg *got(const queue *q, const msg *m) {
    (void)q;
    return m->returns ? NULL : qfeat_with_delivery_count(m, 0);
}

const queue_type queue_type_quorum = {
    .name = "quorum",
    .rabbit_name = "rabbit_quorum_queue",
    .qt = QT_QUORUM,
    .check_args = true,
    .durable_only = true,
    .recover_returns = true,
    .declare = declare,
    .enqueue = queue_classic_enqueue,
    .dispatch = queue_classic_dispatch,
    .ack = queue_classic_ack,
    .requeue = requeue,
    .ret = ret,
    .get = queue_classic_get,
    .got = got,
    .purge = queue_classic_purge,
    .del = queue_classic_delete,
    .stats = queue_classic_stats,
    .restore = queue_classic_restore,
};
