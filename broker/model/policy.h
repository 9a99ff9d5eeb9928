/* policy.h — policies and operator policies, as RabbitMQ 3.10 has them
 * (rabbitmqctl set_policy / set_operator_policy).
 *
 * A policy is {vhost, name, pattern, apply-to, priority, definition}. Of the
 * policies of a vhost whose apply-to fits an exchange or queue and whose
 * pattern (a PCRE regular expression, matched anywhere in the name unless
 * anchored, as Erlang's re does) matches its name, the one of highest
 * priority applies; likewise one operator policy. The two definitions merge
 * key by key (both set: the lower value), and then each key is resolved
 * against the object's own x-argument by its rule (the queue features'
 * registry, qfeat.h: one row per key with its value kind, its operator-policy
 * flag and its rule per queue type: min of the two, or the argument wins, or
 * the policy wins).
 *
 * Storage: a vhost's policies hang off vhost->policies and are guarded by the
 * vhost lock (read to list or export, write to change). Applying a change
 * recomputes every exchange and queue of the vhost under its write lock, so
 * publishers pay nothing: a queue's effective configuration stays one
 * qfeat pointer (qfeat.h), replaced under the vhost and queue locks.
 * Every change is appended to the durable log (durable.h) before it returns;
 * the definitions snapshot carries them. */
#ifndef WARREN_POLICY_H
#define WARREN_POLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vhost;
struct queue;
struct exchange;
struct json_t;

/* ---- policies ---- */

typedef struct policy_info { /* one policy, as listed or exported */
    const char *vhost, *name, *pattern, *apply_to;
    int64_t priority;
    struct json_t *definition; /* borrowed */
    bool op;
} policy_info;

/* Set (add or replace) a policy (op: an operator policy) in vhost vh.
 * definition is the JSON text rabbitmqctl takes; apply_to NULL = "all".
 * Validates as RabbitMQ does, records it durably, then applies it to the
 * vhost's exchanges and queues. 0, or rabbitmqctl's exit code (65 no such
 * vhost, 69 validation failed) with its text in err. Any thread but a
 * worker; takes the vhost lock. */
int policy_set(const char *vh, const char *name, const char *pattern, const char *definition, int64_t priority,
               const char *apply_to, bool op, char *err, size_t errn);
/* The same with the definition already parsed (definitions import). */
int policy_set_json(const char *vh, const char *name, const char *pattern, struct json_t *definition, int64_t priority,
                    const char *apply_to, bool op, char *err, size_t errn);
/* Clear one; 0, 65 (no vhost) or 69 ("Parameter does not exist"). */
int policy_clear(const char *vh, const char *name, bool op, char *err, size_t errn);
/* cb for each policy (op: operator policies) of v, lowest priority first
 * (rabbitmqctl's order). Caller holds v->lock (read or write). */
void policy_foreach(struct vhost *v, bool op, void (*cb)(void *ctx, const policy_info *p), void *ctx);
/* Free a vhost's policies (vhost_free). */
void policy_free_all(struct vhost *v);

/* ---- hooks (caller holds v->lock for writing) ---- */

/* (Re)compute q's effective configuration from its arguments and the
 * matching policies; q may be new (not yet in the vhost's table). */
void policy_apply_queue(struct vhost *v, struct queue *q);
/* The same for an exchange (alternate-exchange). */
void policy_apply_exchange(struct vhost *v, struct exchange *x);

/* The names of the policy and operator policy applied to q / x, and the
 * effective (merged) definition as a new JSON object or NULL. Caller holds
 * v->lock. */
const char *policy_name_of_queue(const struct queue *q, bool op);
const char *policy_name_of_exchange(const struct exchange *x, bool op);
struct json_t *policy_effective_queue(struct vhost *v, const struct queue *q);
#endif
