/* mgmt_write_int.h — what the management API's write routes share
 * (mgmt_write.c: exchanges, queues, bindings, publish, get, aliveness;
 * mgmt_admin_write.c: vhosts, users, permissions, policies, connections,
 * definitions). Their replies follow RabbitMQ 3.10's management plugin:
 * its status codes and its {"error": ..., "reason": ...} bodies. */
#ifndef WARREN_MGMT_WRITE_INT_H
#define WARREN_MGMT_WRITE_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt.h"
#include "vhost.h"

/* 404 {"error":"Object Not Found","reason":"Not Found"} (cowboy's, for a
 * resource that does not exist). */
void mw_not_found(mgmt_resp *rs);
/* The vhost named by segment i, if it exists and the user may use it; else
 * the reply is filled (401, or 404: Object Not Found, or with
 * vhost_not_found_reason RabbitMQ's {"error":"not_found","reason":"vhost_not_found"})
 * and NULL is returned. */
vhost *mw_vhost(const mgmt_req *rq, mgmt_resp *rs, int i, bool vhost_not_found_reason);
/* The body's object, or NULL after a 400 not_json reply. An absent body is {}. */
json_t *mw_body(const mgmt_req *rq, mgmt_resp *rs);
/* Are all the keys (NULL-terminated) in body? Else 400 "[{key_missing,K},...]". */
bool mw_keys(json_t *body, mgmt_resp *rs, const char *const *keys);
/* A boolean field as RabbitMQ's format_args takes it (true/false or "true"/"false"). */
bool mw_flag(json_t *body, const char *key, bool dflt);
/* A change is answered once on disk (as the control socket's): false after a 500 reply. */
bool mw_sync(mgmt_resp *rs);
/* 400 {"error":"bad_request","reason":[a, b]} (RabbitMQ's Erlang tuples). */
void mw_bad_pair(mgmt_resp *rs, const char *a, const char *b);
/* The reply of a failed AMQP operation done as RabbitMQ's direct_request does
 * (declare, delete, bind): 404 not_found / 401 Access refused. / 400, with
 * the explanation without its "NAME - " prefix. */
void mw_amqp_fail(mgmt_resp *rs, int code, const char *text);
/* Strict base64 (RabbitMQ's payload_encoding, password_hash): the bytes
 * (malloc'd, *n of them), or NULL if s is not base64. */
uint8_t *mw_b64_decode(const char *s, size_t len, size_t *n);

/* The routes of mgmt_admin_write.c (the table is in mgmt_write.c). */
void mw_vhost_put(const mgmt_req *rq, mgmt_resp *rs);
void mw_vhost_delete(const mgmt_req *rq, mgmt_resp *rs);
void mw_user_put(const mgmt_req *rq, mgmt_resp *rs);
void mw_user_delete(const mgmt_req *rq, mgmt_resp *rs);
void mw_users_bulk_delete(const mgmt_req *rq, mgmt_resp *rs);
void mw_perm_put(const mgmt_req *rq, mgmt_resp *rs);
void mw_perm_delete(const mgmt_req *rq, mgmt_resp *rs);
void mw_policy_put(const mgmt_req *rq, mgmt_resp *rs);
void mw_policy_delete(const mgmt_req *rq, mgmt_resp *rs);
void mw_op_policy_put(const mgmt_req *rq, mgmt_resp *rs);
void mw_op_policy_delete(const mgmt_req *rq, mgmt_resp *rs);
void mw_conn_delete(const mgmt_req *rq, mgmt_resp *rs);
void mw_defs_get(const mgmt_req *rq, mgmt_resp *rs);
void mw_defs_post(const mgmt_req *rq, mgmt_resp *rs);
#endif
