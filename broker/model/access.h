/* access.h — users (RabbitMQ's salted password hashes and tags) and their
 * permissions per vhost (configure / write / read regular expressions).
 *
 * One process-wide table guarded by a rwlock: logins and permission lookups
 * take it shared, changes (warrenctl, definitions, recovery) exclusive. A
 * connection does not look permissions up per frame: it holds a grant (an
 * immutable, refcounted copy of its user's compiled patterns for its vhost)
 * and refreshes it when access_generation() moves.
 *
 * Changes are durable: each one appends a definition record to the log
 * (store.c); recovery replays them with store recording switched off.
 * Any thread. */
#ifndef WARREN_ACCESS_H
#define WARREN_ACCESS_H
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amq/buf.h"

enum { PERM_CONFIGURE = 0, PERM_WRITE = 1, PERM_READ = 2 };

/* Password hashing algorithms (RabbitMQ's names). */
enum { HASH_SHA256 = 0, HASH_SHA512 = 1, HASH_MD5 = 2 };
const char *access_hash_name(int algo);
int access_hash_parse(const char *name); /* -1 if unknown */

/* RabbitMQ's scheme: base64(salt[4] || H(salt || password)). out gets the
 * NUL-terminated base64 text; salt NULL = 4 random bytes. 0 or -1. */
int access_hash_password(int algo, const uint8_t *salt, amq_bytes password, char *out, size_t cap);
/* Check password against a base64 hash in that scheme. */
bool access_hash_check(int algo, const char *b64, amq_bytes password);

typedef struct access_grant {
    _Atomic int refs;
    regex_t re[3];
    bool none[3]; /* the pattern is '' : nothing matches */
} access_grant;

void access_init(void);
void access_destroy(void);

/* Users. Tags: comma-separated ("administrator,monitoring"). Return 0, or -1
 * with a message in err (RabbitMQ's wording where it has one). */
int access_user_add(const char *name, const char *password, const char *tags, char *err, size_t cap);
/* Create or replace with an existing hash (definitions import, recovery). */
int access_user_put_hash(const char *name, int algo, const char *hash_b64, const char *tags, char *err, size_t cap);
int access_user_delete(const char *name, char *err, size_t cap);
int access_user_change_password(const char *name, const char *password, char *err, size_t cap);
int access_user_set_tags(const char *name, const char *tags, char *err, size_t cap);
bool access_user_exists(const char *name);
bool access_user_has_tag(const char *name, const char *tag);
/* Password check (constant-time compare of the hash). */
bool access_authenticate(amq_bytes user, amq_bytes password);
size_t access_user_count(void);

/* Permissions. Patterns are POSIX extended regexes, unanchored like
 * RabbitMQ's re:run; '' matches nothing. */
int access_set_permissions(const char *user, const char *vhost, const char *conf, const char *write, const char *read,
                           char *err, size_t cap);
int access_clear_permissions(const char *user, const char *vhost, char *err, size_t cap);
/* Forget every permission on vhost (the vhost was deleted). */
void access_vhost_deleted(const char *vhost);

/* The grant of user on vhost (a reference), or NULL if the user has no
 * permissions there. */
access_grant *access_grant_get(const char *user, const char *vhost);
void access_grant_unref(access_grant **g);
/* Does g allow kind on a resource named name? The default exchange ''
 * is checked as 'amq.default', as RabbitMQ does. */
bool access_grant_allows(const access_grant *g, int kind, amq_bytes name);
/* Bumped by every user/permission change. */
uint64_t access_generation(void);

/* Iteration (under the shared lock; callbacks must not call back in). */
typedef void (*access_user_cb)(void *ctx, const char *name, int algo, const char *hash_b64, const char *tags);
typedef void (*access_perm_cb)(void *ctx, const char *user, const char *vhost, const char *conf, const char *write,
                               const char *read);
void access_foreach_user(access_user_cb cb, void *ctx);
void access_foreach_perm(access_perm_cb cb, void *ctx);
#endif
