/* reply_to.c — direct reply-to: the per-channel reply consumer and its name,
 * delivering a reply straight to the requester's channel, and holding a
 * replier while the requester's output is over its limit. */
#include "reply_to.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "conn.h"
#include "strmap.h"
#include "util.h"
#include "wconns.h"
#include "worker.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static strmap table; /* full name -> consumer* (reference held) */
static _Atomic uint64_t counter;

bool reply_to_is_queue(amq_bytes n) { return amq_bytes_eqs(n, REPLY_TO_QUEUE); }

bool reply_to_is_target(amq_bytes n) {
    size_t k = strlen(REPLY_TO_QUEUE);
    return n.len > k + 1 && memcmp(n.p, REPLY_TO_QUEUE ".", k + 1) == 0;
}

int reply_to_consume(channel *ch, amq_bytes tag) {
    if (ch->reply_consumer) return -1;
    consumer *c = consumer_new();
    c->w = ch->conn->w;
    c->ch = ch;
    c->no_ack = true;
    c->cc = &ch->cc;
    c->throttled = &ch->conn->throttled;
    c->tag_len = (uint8_t)tag.len;
    memcpy(c->tag, tag.p, tag.len);
    uint64_t n = atomic_fetch_add(&counter, 1) + 1;
    uint64_t r = (now_ms() * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(uintptr_t)ch << 7);
    snprintf(ch->reply_name, sizeof ch->reply_name, REPLY_TO_QUEUE ".g%llx.%016llx", (unsigned long long)n,
             (unsigned long long)r);
    ch->reply_consumer = c;
    atomic_fetch_add(&c->refs, 1);
    pthread_mutex_lock(&lock);
    strmap_put(&table, amq_cstr(ch->reply_name), c);
    pthread_mutex_unlock(&lock);
    return 0;
}

/* Post MAIL_REPLY to the workers in bits (held repliers re-check). */
static void wake(uint64_t bits) {
    while (bits) {
        int i = __builtin_ctzll(bits);
        bits &= bits - 1;
        mail m = {.kind = MAIL_REPLY};
        worker_post(worker_at(i), &m);
    }
}

/* Must a replier to c wait? c is registered and not cancelled (under lock,
 * so c->throttled, in c's connection, is alive). */
static bool busy(consumer *c) { return atomic_load(c->throttled) || atomic_load(&c->inflight) > REPLY_INFLIGHT_MAX; }

/* Hold the connection from until c can take more: register for a wake-up
 * first, then look again, so a drain in between is never missed (the drain
 * side clears the condition first, then takes the waiters). Under lock. */
static bool hold(consumer *c, conn *from) {
    atomic_fetch_or(&c->reply_waiters, 1ull << worker_id(from->w));
    return busy(c);
}

void reply_to_drop(channel *ch) {
    consumer *c = ch->reply_consumer;
    if (!c) return;
    atomic_store(&c->cancelled, true);
    pthread_mutex_lock(&lock);
    consumer *t = strmap_del(&table, amq_cstr(ch->reply_name));
    pthread_mutex_unlock(&lock);
    wake(atomic_exchange(&c->reply_waiters, 0)); /* held repliers go on: their replies now go nowhere */
    consumer_unref(&t);
    consumer_unref(&ch->reply_consumer);
    ch->reply_name[0] = 0;
}

int reply_to_deliver(amq_bytes rk, msg *m, conn *from) {
    int done = 0;
    pthread_mutex_lock(&lock);
    consumer *c = strmap_get(&table, rk);
    if (c && !atomic_load(&c->cancelled)) {
        msg_ref(m);
        atomic_fetch_add(&c->refs, 1);
        atomic_fetch_add(&c->inflight, 1);
        mail ml = {.kind = MAIL_DELIVER, .c = c, .m = m, .q = NULL};
        worker_post(c->w, &ml);
        done = 1;
        if (!from->reply_wait && busy(c) && hold(c, from)) {
            atomic_fetch_add(&c->refs, 1);
            from->reply_wait = c; /* conn_on_readable stops reading after this batch */
        }
    }
    pthread_mutex_unlock(&lock);
    return done;
}

void reply_to_drained(channel *ch) {
    consumer *c = ch->reply_consumer;
    if (c && atomic_load(&c->reply_waiters) && !busy(c)) wake(atomic_exchange(&c->reply_waiters, 0));
}

void reply_to_delivered(consumer *c) {
    if (atomic_load(&c->reply_waiters) && !atomic_load(&c->cancelled) && !busy(c))
        wake(atomic_exchange(&c->reply_waiters, 0));
}

void reply_to_recheck(conn *c) {
    consumer *t = c->reply_wait;
    pthread_mutex_lock(&lock);
    bool wait = !atomic_load(&t->cancelled) && hold(t, c);
    pthread_mutex_unlock(&lock);
    if (wait) return;
    c->reply_wait = NULL;
    consumer_unref(&t);
    conn_reply_resume(c);
    wconns_want_flush(c->w, c); /* what it read may have answered something, or it may have died */
}

void reply_to_conn_free(conn *c) { consumer_unref(&c->reply_wait); }
