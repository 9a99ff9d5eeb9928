/* queue.c — the classic queue (queue_type_classic) and the machinery every
 * type shares: ready and requeued rings, priority lanes, the positions-only
 * tail of deep durable queues, dispatch to consumers with credit, expiry,
 * length limits, consumers; and the queue_* entry points, which go through
 * q->type (queue_type.h). */
#include "queue.h"
#include "queue_impl.h"

#include <stdlib.h>
#include <string.h>

#include "amq/table.h"
#include "amq/methods.h"
#include "dedup.h"
#include "qfeat.h"
#include "qsched.h"
#include "durable.h"
#include "util.h"
#include "vhost.h"
#include "worker.h"

/* ---- ring of entries (core/fifo.h) ---- */

static void ring_grow(qring *r) { fifo_grow(r, sizeof(qentry)); }

static inline qentry *ring_at(qring *r, size_t i) { return fifo_at(r, i, sizeof(qentry)); }

static void ring_push(qring *r, qentry e) { *(qentry *)fifo_push(r, sizeof(qentry)) = e; }

static qentry ring_pop(qring *r) {
    qentry e = *ring_at(r, 0);
    fifo_drop(r, 1);
    return e;
}

/* Insert keeping ascending seq; requeues mostly come in order, so scan from the tail. */
static void ring_insert_sorted(qring *r, qentry e) {
    if (r->n == r->cap) ring_grow(r);
    size_t i = r->n;
    while (i > 0 && ring_at(r, i - 1)->seq > e.seq) {
        *ring_at(r, i) = *ring_at(r, i - 1);
        i--;
    }
    *ring_at(r, i) = e;
    r->n++;
}

static void ring_free(qring *r) {
    while (r->n) {
        qentry e = ring_pop(r);
        msg_release(&e.m);
    }
    fifo_free(r);
}

/* ---- the on-disk tail (lzq) ---- */

static void lz_push(lzq *z, uint64_t pos, uint64_t seq) {
    if (!z->n) z->seq0 = seq;
    size_t at = z->head + z->n, bi = at / LZQ_BLOCK;
    if (bi == z->nblocks) {
        if (z->nblocks == z->capblocks) {
            z->capblocks = z->capblocks ? z->capblocks * 2 : 16;
            z->blocks = xrealloc(z->blocks, z->capblocks * sizeof *z->blocks);
        }
        z->blocks[z->nblocks++] = xmalloc(LZQ_BLOCK * sizeof(uint64_t));
    }
    z->blocks[bi][at % LZQ_BLOCK] = pos;
    z->n++;
}

static void lz_free(lzq *z) {
    for (size_t i = 0; i < z->nblocks; i++) free(z->blocks[i]);
    free(z->blocks);
    memset(z, 0, sizeof *z);
}

/* Can the entry of sequence seq join the on-disk tail? Its sequence numbers
 * are implied, so only the one right after its last entry can. */
static inline bool lz_takes(const lzq *z, uint64_t seq) { return !z->n || z->seq0 + z->n == seq; }

static uint64_t lz_pop(lzq *z) {
    uint64_t pos = z->blocks[0][z->head];
    z->head++;
    z->n--;
    z->seq0++;
    if (!z->n) {
        lz_free(z);
    } else if (z->head == LZQ_BLOCK) { /* the front block is spent */
        free(z->blocks[0]);
        memmove(z->blocks, z->blocks + 1, (z->nblocks - 1) * sizeof *z->blocks);
        z->nblocks--;
        z->head = 0;
    }
    return pos;
}

/* Drop every entry of r: the messages leave the queue for good. */
static void ring_drop(queue *q, qring *r) {
    while (r->n) {
        qentry e = ring_pop(r);
        if (msg_is_lazy(e.m)) store_dropped_pos(q, msg_lazy_pos(e.m));
        else store_dropped(q, e.m);
        msg_release(&e.m);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

static void lz_drop(queue *q) {
    while (q->lz.n) store_dropped_pos(q, lz_pop(&q->lz));
}

/* Messages ready in q, all priorities. */
static inline size_t qlen(const queue *q) { return q->ready.n + q->requeued.n + q->lanes_n + q->lz.n; }

/* A durable queue with no per-message state beyond its order (no arguments,
 * priorities, quorum counts or dedup): its deep tail can be positions only. */
static inline bool plain_deep(const queue *q) {
    return q->qid && !q->feat && !q->lanes && q->type->positions_tail && !q->dedup;
}

/* The lane of m in q (x-max-priority: a higher priority counts as the maximum). */
static inline uint8_t prio_of(const queue *q, const msg *m) {
    return m->priority > q->max_prio ? q->max_prio : m->priority;
}
static inline qring *ready_ring(queue *q, uint8_t p) { return p ? &q->lanes[p - 1].ready : &q->ready; }
static inline qring *requeued_ring(queue *q, uint8_t p) { return p ? &q->lanes[p - 1].requeued : &q->requeued; }
static inline bool is_lane(const queue *q, const qring *r) { return r != &q->ready && r != &q->requeued; }

/* Every ready message leaves the queue (purge, delete). */
static void drop_all(queue *q) {
    ring_drop(q, &q->ready);
    ring_drop(q, &q->requeued);
    for (unsigned p = 0; p < q->max_prio && q->lanes; p++) {
        ring_drop(q, &q->lanes[p].ready);
        ring_drop(q, &q->lanes[p].requeued);
    }
    q->lanes_n = 0;
    lz_drop(q);
}

/* The next entry in sequence order of one priority, from either ring. */
static inline qring *lane_next(qring *ready, qring *requeued) {
    if (!requeued->n) return ready->n ? ready : NULL;
    if (!ready->n) return requeued;
    return ring_at(requeued, 0)->seq < ring_at(ready, 0)->seq ? requeued : ready;
}

/* The next entry to hand out: highest priority first, then sequence order. */
static qring *next_ring(queue *q) {
    if (q->lanes_n) /* only x-max-priority queues holding a message of priority > 0 */
        for (unsigned p = q->max_prio; p >= 1; p--) {
            qlane *l = &q->lanes[p - 1];
            if (l->ready.n || l->requeued.n) return lane_next(&l->ready, &l->requeued);
        }
    return lane_next(&q->ready, &q->requeued);
}

static void pop_ring(queue *q, qring *r, qentry *e) {
    *e = ring_pop(r);
    if (q->lanes_n && is_lane(q, r)) q->lanes_n--;
    q->ready_bytes -= e->size;
}

static bool pop_next(queue *q, qentry *e) {
    qring *r = next_ring(q);
    if (q->lz.n && (!r || q->lz.seq0 < ring_at(r, 0)->seq)) { /* the on-disk tail is next */
        uint64_t seq = q->lz.seq0;
        *e = (qentry){.m = msg_lazy(lz_pop(&q->lz)), .seq = seq};
        return true;
    }
    if (!r) return false;
    pop_ring(q, r, e);
    return true;
}

/* ---- expiry, dead-lettering, limits (only queues or messages that use them) ---- */

/* The log could not make the entry's record durable (store_lost): the
 * publisher got a nack or a failed tx.commit, so it leaves the queue unserved
 * (no ack record: the record is not on disk), whichever queue holds it, durable
 * or not. Takes e's reference when it returns true. */
static bool drop_if_lost(queue *q, qentry *e) {
    if (!store_any_lost()) return false; /* a healthy disk: the message is not touched */
    uint64_t pos = msg_is_lazy(e->m) ? msg_lazy_pos(e->m) : e->m->pos;
    if (!pos || !store_lost(pos)) return false;
    store_dropped_pos(q, pos);
    msg_release(&e->m);
    return true;
}

/* A message leaves q for good for reason: dead-lettered when q has a DLX,
 * else acked in the log. Takes e's reference. */
static void drop_entry(queue *q, qentry *e, enum dl_reason reason) {
    if (drop_if_lost(q, e)) return; /* never dead-lettered either */
    if (q->feat && q->feat->has_dlx) {
        qsched_deadletter(q, e->m, reason);
        e->m = NULL;
        return;
    }
    if (msg_is_lazy(e->m)) store_ack_pos(q, msg_lazy_pos(e->m));
    else store_ack(q, e->m);
    msg_release(&e->m);
}

void queue_discard(queue *q, msg *m) {
    qentry e = {.m = m};
    if (drop_if_lost(q, &e)) return;
    pthread_mutex_lock(&q->lock); /* a policy may change q->feat meanwhile */
    bool dlx = q->feat && q->feat->has_dlx;
    pthread_mutex_unlock(&q->lock);
    if (dlx) { /* no lock held here: dead-letter it at once */
        qsched_deadletter_now(q, m, DL_REJECTED);
        return;
    }
    if (msg_is_lazy(m)) store_ack_pos(q, msg_lazy_pos(m));
    else store_ack(q, m);
    msg_release(&m);
}

bool queue_dl_target(queue *q, qfeat *out) {
    pthread_mutex_lock(&q->lock);
    bool dlx = q->feat && q->feat->has_dlx;
    if (dlx) *out = *q->feat;
    pthread_mutex_unlock(&q->lock);
    return dlx;
}

static inline bool expired(const qentry *e, uint64_t *now) {
    if (!e->exp) return false;
    if (!*now) *now = now_ms();
    return e->exp < *now;
}

/* Arm the queue's timer for when (monotonic ms) unless an earlier one is armed. */
static void arm(queue *q, uint64_t when) {
    if (q->tm.armed_at && q->tm.armed_at <= when) return;
    q->tm.armed_at = when;
    qsched_arm(q, when);
}

/* Expiry of an entry entering q now: the lower of the queue's TTL and the message's. */
static uint64_t entry_exp(queue *q, int64_t msg_ttl) {
    int64_t t = msg_ttl;
    if (q->feat && q->feat->msg_ttl >= 0 && (t < 0 || q->feat->msg_ttl < t)) t = q->feat->msg_ttl;
    if (t < 0) return 0;
    return now_ms() + (uint64_t)t;
}

/* A new entry with an expiry was pushed: keep a timer for it. */
static void note_exp(queue *q, uint64_t exp) {
    if (exp < q->tm.last_exp || q->lanes) q->tm.unordered = true; /* lanes: only their heads are checked */
    q->tm.last_exp = exp;
    arm(q, exp + 1);
}

/* Drop expired entries from the head of the queue's rings (the on-disk tail
 * of a plain queue, never expiring, may be ahead of them: it stays). */
static void expire_head(queue *q, uint64_t now) {
    qring *r;
    while ((r = next_ring(q)) && ring_at(r, 0)->exp && ring_at(r, 0)->exp < now) {
        qentry e;
        pop_ring(q, r, &e);
        drop_entry(q, &e, DL_EXPIRED);
    }
}

/* Remove expired entries anywhere in r (per-message TTLs out of order);
 * returns the lowest expiry left (0 = none). */
static uint64_t sweep_ring(queue *q, qring *r, uint64_t now) {
    size_t j = 0;
    uint64_t min = 0;
    for (size_t i = 0; i < r->n; i++) {
        qentry e = *ring_at(r, i);
        if (e.exp && e.exp < now) {
            q->ready_bytes -= e.size;
            drop_entry(q, &e, DL_EXPIRED);
            continue;
        }
        if (e.exp && (!min || e.exp < min)) min = e.exp;
        *ring_at(r, j++) = e;
    }
    if (is_lane(q, r)) q->lanes_n -= r->n - j;
    r->n = j;
    return min;
}

static uint64_t head_exp(queue *q) {
    qring *r = next_ring(q);
    return r ? ring_at(r, 0)->exp : 0;
}

static void dispatch_locked(queue *q);

void queue_on_timer(queue *q) {
    pthread_mutex_lock(&q->lock);
    if (q->deleted) {
        pthread_mutex_unlock(&q->lock);
        return;
    }
    q->tm.armed_at = 0;
    uint64_t now = now_ms();
    expire_head(q, now);
    uint64_t next = head_exp(q);
    if (q->tm.unordered) {
        if (now - q->tm.last_sweep >= 100) { /* at most ten sweeps a second */
            q->tm.last_sweep = now;
            uint64_t a = sweep_ring(q, &q->ready, now), b = sweep_ring(q, &q->requeued, now);
            uint64_t m = a && (!b || a < b) ? a : b;
            for (unsigned p = 0; p < q->max_prio && q->lanes; p++) {
                a = sweep_ring(q, &q->lanes[p].ready, now);
                b = sweep_ring(q, &q->lanes[p].requeued, now);
                if (a && (!m || a < m)) m = a;
                if (b && (!m || b < m)) m = b;
            }
            if (!m) q->tm.unordered = false;
            else if (!next || m < next) next = m;
        } else {
            arm(q, q->tm.last_sweep + 100);
        }
    }
    if (next) arm(q, next + 1);
    bool unused = false;
    if (q->feat && q->feat->expires > 0 && !q->nconsumers) {
        uint64_t at = q->tm.last_used + (uint64_t)q->feat->expires;
        if (now >= at) unused = true;
        else arm(q, at);
    }
    dispatch_locked(q);
    pthread_mutex_unlock(&q->lock);
    if (unused) vhost_queue_expire(q->vh, q);
}

/* x-expires: the period starts again now (caller holds the lock). */
static void touch_locked(queue *q) {
    if (!q->feat || q->feat->expires <= 0) return;
    q->tm.last_used = now_ms();
    arm(q, q->tm.last_used + (uint64_t)q->feat->expires);
}

void queue_touch(queue *q) {
    pthread_mutex_lock(&q->lock);
    touch_locked(q);
    pthread_mutex_unlock(&q->lock);
}

bool queue_unused_since(queue *q, uint64_t now) {
    pthread_mutex_lock(&q->lock);
    bool r = q->feat && q->feat->expires > 0 && !q->nconsumers && now >= q->tm.last_used + (uint64_t)q->feat->expires;
    pthread_mutex_unlock(&q->lock);
    return r;
}

/* Over x-max-length / x-max-length-bytes (ready messages only)? extra: a
 * message of that size about to be added. */
static bool over_limit(queue *q, bool adding, uint64_t size) {
    qfeat *f = q->feat;
    uint64_t n = qlen(q) + adding, bytes = q->ready_bytes + (adding ? size : 0);
    return (f->max_len >= 0 && n > (uint64_t)f->max_len) || (f->max_bytes >= 0 && bytes > (uint64_t)f->max_bytes);
}

static void drop_head_over_limit(queue *q) {
    while (qlen(q) && over_limit(q, false, 0)) {
        qentry e;
        pop_next(q, &e);
        drop_entry(q, &e, DL_MAXLEN);
    }
}

/* ---- queue ---- */

queue *queue_new(struct vhost *vh, amq_bytes name, bool durable, bool exclusive, bool auto_delete, amq_bytes args,
                 uint64_t owner_conn) {
    queue *q = xcalloc(1, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    atomic_init(&q->refs, 1);
    q->vh = vh;
    q->name_len = (uint8_t)(name.len > 255 ? 255 : name.len);
    memcpy(q->name, name.p, q->name_len);
    q->durable = durable;
    q->exclusive = exclusive;
    q->auto_delete = auto_delete;
    q->owner_conn = owner_conn;
    q->args = bytes_dup(args);
    q->feat = qfeat_parse(args);
    amq_field f;
    int64_t mp;
    if (amq_table_get(args, "x-max-priority", &f) == 1 && amq_field_as_i64(&f, &mp) && mp > 0) {
        q->max_prio = (uint8_t)(mp > 255 ? 255 : mp);
        q->lanes = xcalloc(q->max_prio, sizeof *q->lanes);
    }
    q->type = queue_type_of(args);
    q->delivery_limit = -1;
    if (q->type->declare) q->type->declare(q, args);
    q->dedup = dedup_new(args);
    q->sac = amq_table_get(args, "x-single-active-consumer", &f) == 1 && f.type == 't' && f.v.b;
    if (q->feat && q->feat->expires > 0) touch_locked(q); /* nobody else sees q yet */
    return q;
}

void queue_ref(queue *q) { atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed); }

void queue_unref(queue **qp) {
    queue *q = *qp;
    if (!q) return;
    *qp = NULL;
    if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) != 1) return;
    ring_free(&q->ready);
    ring_free(&q->requeued);
    lz_free(&q->lz); /* positions only: nothing to release */
    for (unsigned p = 0; p < q->max_prio && q->lanes; p++) {
        ring_free(&q->lanes[p].ready);
        ring_free(&q->lanes[p].requeued);
    }
    free(q->lanes);
    dedup_free(&q->dedup);
    for (size_t i = 0; i < q->nconsumers; i++) consumer_unref(&q->consumers[i]);
    free(q->consumers);
    free((void *)q->args.p);
    free(q->feat);
    free(q->policy[0]);
    free(q->policy[1]);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static bool has_credit(consumer *c) {
    if (atomic_load_explicit(&c->cancelled, memory_order_relaxed)) return false;
    if (atomic_load_explicit(&c->inflight, memory_order_relaxed) >= CONSUMER_INFLIGHT_MAX) return false;
    if (c->throttled && atomic_load_explicit(c->throttled, memory_order_relaxed)) return false;
    if (c->no_ack) return true;
    unsigned pf = atomic_load_explicit(&c->prefetch, memory_order_relaxed);
    if (pf && atomic_load_explicit(&c->unacked, memory_order_relaxed) >= pf) return false;
    unsigned cpf = atomic_load_explicit(&c->cc->prefetch, memory_order_relaxed);
    if (cpf && atomic_load_explicit(&c->cc->unacked, memory_order_relaxed) >= cpf) return false;
    return true;
}

/* Highest priority consumer with credit, round-robin among equals. */
static consumer *pick(queue *q) {
    if (q->sac) return q->sac_active && has_credit(q->sac_active) ? q->sac_active : NULL;
    consumer *best = NULL;
    size_t besti = 0, n = q->nconsumers;
    for (size_t k = 0; k < n; k++) {
        size_t i = (q->rr + k) % n;
        consumer *c = q->consumers[i];
        if ((!best || c->priority > best->priority) && has_credit(c)) {
            best = c;
            besti = i;
        }
    }
    if (best) q->rr = besti + 1;
    return best;
}

static void dispatch_locked(queue *q) {
    uint64_t now = 0;
    while (!q->deleted && q->nconsumers && qlen(q)) {
        consumer *c = pick(q);
        if (!c) return;
        mail m = {.kind = MAIL_DELIVER, .c = c, .q = q};
        qentry e;
        pop_next(q, &e);
        if (drop_if_lost(q, &e)) continue;
        if (expired(&e, &now)) { /* never delivered */
            drop_entry(q, &e, DL_EXPIRED);
            continue;
        }
        m.m = e.m;
        m.seq = e.seq;
        m.exp = e.exp;
        m.redelivered = (uint8_t)e.redelivered;
        ctr_add_locked(&q->st[c->no_ack ? QST_DELIVER_NO_ACK : QST_DELIVER], 1);
        if (e.redelivered) ctr_add_locked(&q->st[QST_REDELIVER], 1);
        if (!c->no_ack) {
            atomic_fetch_add_explicit(&c->unacked, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&c->cc->unacked, 1, memory_order_relaxed);
        }
        atomic_fetch_add_explicit(&c->inflight, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
        queue_ref(q);
        worker_post(c->w, &m);
    }
}

void queue_classic_dispatch(queue *q) {
    pthread_mutex_lock(&q->lock);
    dispatch_locked(q);
    pthread_mutex_unlock(&q->lock);
}

/* x-message-deduplication: is m a duplicate for q? */
static bool duplicate(queue *q, const msg *m) {
    amq_basic_props p;
    if (!m->props_len || amq_basic_props_decode(msg_props(m), &p) != AMQ_OK || !(p.flags & AMQ_BASIC_PROP_HEADERS))
        return false;
    return dedup_seen(q->dedup, p.headers);
}

int queue_classic_enqueue(queue *q, msg *m) {
    if (q->dedup && duplicate(q, m)) { /* dropped as if consumed at once; the publisher gets its ack */
        store_ack(q, m);
        return 0;
    }
    pthread_mutex_lock(&q->lock);
    if (q->deleted) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    qfeat *f = q->feat;
    bool limited = f && (f->max_len >= 0 || f->max_bytes >= 0);
    if (limited && f->overflow != OVF_DROP_HEAD && over_limit(q, true, m->body_len)) {
        if (f->overflow == OVF_REJECT_PUBLISH_DLX && f->has_dlx) {
            msg_ref(m);
            qsched_deadletter(q, m, DL_MAXLEN); /* acks it in the log too */
            pthread_mutex_unlock(&q->lock);
            return 2;
        }
        pthread_mutex_unlock(&q->lock);
        return 1;
    }
    uint64_t exp = (m->ttl >= 0 || f) ? entry_exp(q, m->ttl) : 0;
    bool lazy = q->qid && m->pos && qlen(q) >= QUEUE_RAM_MAX && !(f && f->max_bytes >= 0);
    uint8_t p = 0;
    qring *r = &q->ready;
    if (q->lanes && (p = prio_of(q, m))) {
        r = &q->lanes[p - 1].ready;
        q->lanes_n++;
    }
    if (plain_deep(q) && m->pos && (q->lz.n || lazy) && !exp && lz_takes(&q->lz, q->next_seq)) {
        /* Deep durable queue without arguments: 8 bytes of RAM, the message stays in the log
         * (one with its own expiration keeps a full entry: the tail has no room for it). */
        lz_push(&q->lz, m->pos, q->next_seq++);
    } else if (lazy) {
        /* Deep durable queue: the message is in the log, keep only its position. */
        ring_push(r, (qentry){.m = msg_lazy(m->pos), .seq = q->next_seq++, .exp = exp, .prio = p});
    } else {
        msg_ref(m);
        uint32_t size = m->body_len > UINT32_MAX ? UINT32_MAX : (uint32_t)m->body_len;
        ring_push(r, (qentry){.m = m, .seq = q->next_seq++, .exp = exp, .size = size, .prio = p});
        q->ready_bytes += size;
    }
    if (exp) note_exp(q, exp);
    ctr_add_locked(&q->st[QST_PUBLISH], 1);
    dispatch_locked(q);
    if (limited) drop_head_over_limit(q);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

/* The priority lane of a lazy message (read back once; 0 if unreadable). */
static uint8_t lazy_prio(queue *q, uint64_t pos) {
    msg *full = store_load(pos);
    uint8_t p = full ? prio_of(q, full) : 0;
    msg_unref(&full);
    return p;
}

void queue_classic_restore(queue *q, uint64_t pos, msg *full, bool redelivered, uint64_t exp) {
    msg *m = full ? full : msg_lazy(pos); /* the body stays on disk until delivery */
    uint8_t p = q->lanes ? lazy_prio(q, pos) : 0;
    pthread_mutex_lock(&q->lock);
    uint64_t seq = q->next_seq++;
    /* A record without an enqueue time (older logs): the queue's TTL starts again now. */
    if (exp == QUEUE_EXP_UNKNOWN) exp = q->feat && q->feat->msg_ttl >= 0 ? entry_exp(q, -1) : 0;
    if (p) q->lanes_n++;
    uint32_t size = !full ? 0 : full->body_len > UINT32_MAX ? UINT32_MAX : (uint32_t)full->body_len;
    q->ready_bytes += size;
    if (redelivered) /* keeps its place: sequence numbers are still in order */
        ring_insert_sorted(requeued_ring(q, p),
                           (qentry){.m = m, .seq = seq, .exp = exp, .redelivered = 1, .size = size, .prio = p});
    else if (plain_deep(q) && !full && !exp && lz_takes(&q->lz, seq)) /* 8 bytes per recovered message */
        lz_push(&q->lz, pos, seq);
    else ring_push(ready_ring(q, p), (qentry){.m = m, .seq = seq, .exp = exp, .size = size, .prio = p});
    if (exp) note_exp(q, exp);
    pthread_mutex_unlock(&q->lock);
}

void queue_put_back(queue *q, msg *m, uint64_t seq, uint64_t exp, bool redelivered, bool back, bool logged) {
    uint8_t p = !q->lanes ? 0 : msg_is_lazy(m) ? lazy_prio(q, msg_lazy_pos(m)) : prio_of(q, m);
    pthread_mutex_lock(&q->lock);
    if (q->deleted) {
        pthread_mutex_unlock(&q->lock);
        if (msg_is_lazy(m)) store_dropped_pos(q, msg_lazy_pos(m));
        else store_dropped(q, m);
        msg_release(&m);
        return;
    }
    uint32_t size = msg_is_lazy(m) ? 0 : m->body_len > UINT32_MAX ? UINT32_MAX : (uint32_t)m->body_len;
    q->ready_bytes += size;
    if (back) seq = q->next_seq++;                             /* behind everything ready */
    if (logged && !msg_is_lazy(m)) store_returned(q, m, back); /* its count (and place) survive a restart */
    if (p) q->lanes_n++;
    ring_insert_sorted(requeued_ring(q, p),
                       (qentry){.m = m, .seq = seq, .exp = exp, .redelivered = redelivered, .size = size, .prio = p});
    if (exp) arm(q, exp + 1);
    dispatch_locked(q);
    pthread_mutex_unlock(&q->lock);
}

void queue_drop(queue *q, msg *m, enum dl_reason reason) {
    qentry e = {.m = m};
    drop_entry(q, &e, reason);
}

static void classic_requeue(queue *q, msg *m, uint64_t seq, uint64_t exp, bool redelivered) {
    queue_put_back(q, m, seq, exp, redelivered, false, false);
}

static void classic_return(queue *q, msg *m, uint64_t seq, uint64_t exp) {
    queue_put_back(q, m, seq, exp, true, false, false);
}

int queue_classic_get(queue *q, qentry *e, uint32_t *left) {
    pthread_mutex_lock(&q->lock);
    bool ok = false;
    uint64_t now = 0;
    touch_locked(q);
    while (!q->deleted && (ok = pop_next(q, e)) && (drop_if_lost(q, e) || expired(e, &now))) {
        if (e->m) drop_entry(q, e, DL_EXPIRED);
        ok = false;
    }
    *left = (uint32_t)qlen(q);
    pthread_mutex_unlock(&q->lock);
    return ok;
}

/* ---- policies (policy.c) ---- */

void queue_set_config(queue *q, qfeat *feat, int64_t delivery_limit) {
    pthread_mutex_lock(&q->lock);
    qfeat *old = q->feat;
    bool had_expires = old && old->expires > 0;
    q->feat = feat;
    q->delivery_limit = delivery_limit;
    if (feat && feat->expires > 0) { /* a new or changed x-expires: its period runs from now if it was off */
        if (!had_expires) q->tm.last_used = now_ms();
        arm(q, q->tm.last_used + (uint64_t)feat->expires);
    }
    if (feat && (feat->max_len >= 0 || feat->max_bytes >= 0) && feat->overflow == OVF_DROP_HEAD)
        drop_head_over_limit(q);
    pthread_mutex_unlock(&q->lock);
    free(old);
}

uint32_t queue_classic_purge(queue *q) {
    pthread_mutex_lock(&q->lock);
    uint32_t n = (uint32_t)qlen(q);
    drop_all(q);
    q->ready_bytes = 0;
    if (n) store_purged(q);
    pthread_mutex_unlock(&q->lock);
    return n;
}

void queue_classic_stats(queue *q, uint32_t *messages, uint32_t *consumers) {
    pthread_mutex_lock(&q->lock);
    if (messages) *messages = (uint32_t)qlen(q);
    if (consumers) *consumers = (uint32_t)q->nconsumers;
    pthread_mutex_unlock(&q->lock);
}

int queue_add_consumer(queue *q, consumer *c) {
    pthread_mutex_lock(&q->lock);
    if (q->nconsumers && (c->exclusive || q->consumers[0]->exclusive)) {
        pthread_mutex_unlock(&q->lock);
        return 403;
    }
    if (q->nconsumers == q->cap_consumers) {
        q->cap_consumers = q->cap_consumers ? q->cap_consumers * 2 : 4;
        q->consumers = xrealloc(q->consumers, q->cap_consumers * sizeof *q->consumers);
    }
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    q->consumers[q->nconsumers++] = c;
    q->had_consumer = true;
    if (q->sac && !q->sac_active) q->sac_active = c;
    dispatch_locked(q);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int queue_remove_consumer(queue *q, consumer *c) {
    pthread_mutex_lock(&q->lock);
    int left = -1;
    for (size_t i = 0; i < q->nconsumers; i++) {
        if (q->consumers[i] != c) continue;
        memmove(&q->consumers[i], &q->consumers[i + 1], (q->nconsumers - i - 1) * sizeof c);
        q->nconsumers--;
        if (q->rr > i) q->rr--;
        left = (int)q->nconsumers;
        if (!left) touch_locked(q);
        if (q->sac_active == c) { /* single active consumer: the highest priority, first registered, takes over */
            q->sac_active = NULL;
            for (size_t k = 0; k < q->nconsumers; k++)
                if (!q->sac_active || q->consumers[k]->priority > q->sac_active->priority)
                    q->sac_active = q->consumers[k];
            dispatch_locked(q);
        }
        break;
    }
    pthread_mutex_unlock(&q->lock);
    if (left >= 0) consumer_unref(&c);
    return left;
}

uint32_t queue_classic_delete(queue *q) {
    pthread_mutex_lock(&q->lock);
    q->deleted = true;
    uint32_t n = (uint32_t)qlen(q);
    drop_all(q);
    for (size_t i = 0; i < q->nconsumers; i++) {
        consumer *c = q->consumers[i];
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
        mail m = {.kind = MAIL_CANCEL, .c = c};
        worker_post(c->w, &m);
        consumer_unref(&q->consumers[i]);
    }
    q->nconsumers = 0;
    q->sac_active = NULL;
    pthread_mutex_unlock(&q->lock);
    return n;
}

consumer *consumer_new(void) {
    consumer *c = xcalloc(1, sizeof *c);
    atomic_init(&c->refs, 1);
    return c;
}

void consumer_unref(consumer **cp) {
    consumer *c = *cp;
    if (!c) return;
    *cp = NULL;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
    queue_unref(&c->q);
    free(c);
}

void consumer_release(consumer *c, unsigned n) {
    atomic_fetch_sub_explicit(&c->unacked, n, memory_order_relaxed);
    atomic_fetch_sub_explicit(&c->cc->unacked, n, memory_order_relaxed);
    queue_dispatch(c->q);
}

void queue_classic_ack(queue *q, msg *m) {
    store_ack(q, m);
    msg_unref(&m);
}

/* The classic queue's operations: the classic type's, and the stream type's
 * until streams are written. */
#define CLASSIC_QUEUE_OPS                                                                                              \
    .enqueue = queue_classic_enqueue, .dispatch = queue_classic_dispatch, .ack = queue_classic_ack,                    \
    .requeue = classic_requeue, .ret = classic_return, .get = queue_classic_get, .purge = queue_classic_purge,         \
    .del = queue_classic_delete, .stats = queue_classic_stats, .restore = queue_classic_restore

const queue_type queue_type_classic = {
    .name = "classic",
    .rabbit_name = "rabbit_classic_queue",
    .qt = QT_CLASSIC,
    .check_args = true,
    .positions_tail = true,
    CLASSIC_QUEUE_OPS,
};

/* Accepted as RabbitMQ 3.10 accepts it (durable only, arguments not checked);
 * runs as a classic queue until a stream type is written. */
const queue_type queue_type_stream = {
    .name = "stream",
    .rabbit_name = "rabbit_stream_queue",
    .qt = QT_STREAM,
    .durable_only = true,
    .positions_tail = true,
    CLASSIC_QUEUE_OPS,
};

/* ---- a queue, whatever its type ---- */

int queue_publish(queue *q, msg *m) { return q->type->enqueue(q, m); }
void queue_dispatch(queue *q) { q->type->dispatch(q); }
void queue_ack(queue *q, msg *m) { q->type->ack(q, m); }
void queue_requeue(queue *q, msg *m, uint64_t seq, uint64_t exp, bool redelivered) {
    q->type->requeue(q, m, seq, exp, redelivered);
}
void queue_return(queue *q, msg *m, uint64_t seq, uint64_t exp) { q->type->ret(q, m, seq, exp); }
int queue_get(queue *q, qentry *e, uint32_t *left) { return q->type->get(q, e, left); }
msg *queue_got(const queue *q, const msg *m) { return q->type->got ? q->type->got(q, m) : NULL; }
uint32_t queue_purge(queue *q) { return q->type->purge(q); }
uint32_t queue_delete(queue *q) { return q->type->del(q); }
void queue_counts(queue *q, uint32_t *messages, uint32_t *consumers) { q->type->stats(q, messages, consumers); }
uint32_t queue_unacked(queue *q) {
    uint32_t n = 0;
    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < q->nconsumers; i++)
        n += atomic_load_explicit(&q->consumers[i]->unacked, memory_order_relaxed);
    pthread_mutex_unlock(&q->lock);
    return n;
}
void queue_restore(queue *q, uint64_t pos, msg *full, bool redelivered, uint64_t exp) {
    q->type->restore(q, pos, full, redelivered, exp);
}
