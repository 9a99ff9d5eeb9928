/* message.h — an immutable, atomically refcounted message.
 *
 * One allocation holds the exchange name, routing key, encoded properties and
 * body, so a message routed to many queues is stored once and shared
 * (each queue entry holds one reference). The body is filled while its frames
 * arrive (only by the publishing connection's thread, before the message is
 * routed); after routing nobody writes to it. */
#ifndef WARREN_MESSAGE_H
#define WARREN_MESSAGE_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "amq/buf.h"

typedef struct msg {
    atomic_uint refs;
    uint32_t props_len;
    uint64_t body_len;
    uint64_t body_have; /* bytes received so far (assembly only; see msg_grow) */
    uint64_t pos;       /* position of its record in the durable log, 0 = not logged */
    int64_t ttl;        /* its expiration property in ms, -1 = none (or invalid) */
    uint8_t exchange_len, rk_len;
    uint8_t delivery_mode, priority;
    uint16_t returns; /* quorum queues: times returned to the queue (per-queue copy) */
    /* Read back from a log record written before this start (recovered): as in
     * RabbitMQ, whose copy read from disk has undecoded properties, its x-death
     * gets no original-expiration when it is dead-lettered. */
    bool recovered;
    uint8_t data[]; /* exchange, routing key, props, body */
} msg;

/* New message with refs = 1 and an empty body of body_len bytes to fill.
 * Copies exchange, routing key and props; delivery_mode and priority start at
 * 0 and are the caller's to set from the properties (decoded once, by it). Returns NULL if body_len is too
 * large to allocate. Any thread. */
msg *msg_new(amq_bytes exchange, amq_bytes rk, amq_bytes props, uint64_t body_len);
/* Content assembly: a message still being received (refs 1, held only by its
 * channel) has body_len = the bytes allocated for its body so far. msg_grow
 * reallocates it to body_cap bytes of body (may move it: the old pointer is
 * then invalid; NULL on failure, the old one still valid) and accounts the
 * difference. The channel keeps the announced size and grows up to it, so
 * body_len is the announced size again once the body is complete. */
msg *msg_grow(msg *m, uint64_t body_cap);
/* A copy with other properties (direct reply-to rewrites reply_to). */
msg *msg_with_props(const msg *m, amq_bytes props);
static inline void msg_ref(msg *m) { atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed); }
/* Drop a reference and clear the caller's pointer; frees at zero. NULL-safe. */
void msg_unref(msg **m);

/* A queue entry may hold, instead of a message in memory, the log position
 * of a persistent message whose body stays on disk until it is delivered
 * (recovered messages, deep durable queues). Such a "lazy" reference is a
 * tagged value, never dereferenced: load it with store_load(). */
static inline bool msg_is_lazy(const msg *m) { return ((uintptr_t)m & 1u) != 0; }
static inline msg *msg_lazy(uint64_t pos) { return (msg *)(uintptr_t)((pos << 1) | 1u); }
static inline uint64_t msg_lazy_pos(const msg *m) { return (uint64_t)(uintptr_t)m >> 1; }
/* Drop a reference that may be lazy (lazy ones own nothing). */
static inline void msg_release(msg **m) {
    if (*m && msg_is_lazy(*m)) *m = NULL;
    else msg_unref(m);
}

static inline amq_bytes msg_exchange(const msg *m) { return (amq_bytes){m->data, m->exchange_len}; }
static inline amq_bytes msg_rk(const msg *m) { return (amq_bytes){m->data + m->exchange_len, m->rk_len}; }
static inline amq_bytes msg_props(const msg *m) {
    return (amq_bytes){m->data + m->exchange_len + m->rk_len, m->props_len};
}
static inline uint8_t *msg_body(msg *m) { return m->data + m->exchange_len + m->rk_len + m->props_len; }
static inline const uint8_t *msg_body_c(const msg *m) { return m->data + m->exchange_len + m->rk_len + m->props_len; }
#endif
