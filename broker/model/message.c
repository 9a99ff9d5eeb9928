/* message.c — messages: one allocation of exchange, routing key, properties
 * and body, refcounted; copies with new properties; lazy (position-only)
 * references; the memory account. */
#include "message.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

msg *msg_new(amq_bytes exchange, amq_bytes rk, amq_bytes props, uint64_t body_len) {
    size_t head = sizeof(msg) + exchange.len + rk.len + props.len;
    if (body_len > (uint64_t)1 << 40) return NULL;
    msg *m = malloc(head + (size_t)body_len);
    if (!m) return NULL;
    mem_account((int64_t)(head + body_len));
    atomic_init(&m->refs, 1);
    m->exchange_len = (uint8_t)exchange.len;
    m->rk_len = (uint8_t)rk.len;
    m->props_len = (uint32_t)props.len;
    m->body_len = body_len;
    m->body_have = 0;
    m->pos = 0;
    uint8_t *p = m->data;
    if (exchange.len) memcpy(p, exchange.p, exchange.len);
    p += exchange.len;
    if (rk.len) memcpy(p, rk.p, rk.len);
    p += rk.len;
    if (props.len) memcpy(p, props.p, props.len);
    m->delivery_mode = 0; /* the caller sets these from the properties it decoded */
    m->priority = 0;
    m->returns = 0;
    m->recovered = false;
    m->ttl = -1;
    return m;
}

msg *msg_grow(msg *m, uint64_t body_cap) {
    size_t head = sizeof(msg) + m->exchange_len + m->rk_len + m->props_len;
    if (body_cap > (uint64_t)1 << 40) return NULL;
    msg *n = realloc(m, head + (size_t)body_cap);
    if (!n) return NULL;
    mem_account((int64_t)body_cap - (int64_t)n->body_len);
    n->body_len = body_cap;
    return n;
}

msg *msg_with_props(const msg *m, amq_bytes props) {
    msg *n = msg_new(msg_exchange(m), msg_rk(m), props, m->body_len);
    if (!n) return NULL;
    if (m->body_len) memcpy(msg_body(n), msg_body_c(m), (size_t)m->body_len);
    n->body_have = m->body_len;
    n->delivery_mode = m->delivery_mode;
    n->priority = m->priority;
    n->ttl = m->ttl;
    n->recovered = m->recovered;
    return n;
}

void msg_unref(msg **mp) {
    msg *m = *mp;
    if (!m) return;
    *mp = NULL;
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
    mem_account(-(int64_t)(sizeof(msg) + m->exchange_len + m->rk_len + m->props_len + m->body_len));
    free(m);
}
