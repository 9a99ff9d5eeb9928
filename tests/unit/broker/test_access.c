/* Users, password hashes and permission patterns (broker/model/access.c). The
 * hashes below were made by RabbitMQ 3.10.8 (tests/fixtures). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "access.h"

static amq_bytes B(const char *s) { return amq_cstr(s); }

Test(access, rabbitmq_sha256_hashes_verify) {
    cr_assert(access_hash_check(HASH_SHA256, "qlVYdXcQbq+CWeF+SQC5kSO7cr31yevwC6/4kDR4BHTAhrdI", B("bobpw")));
    cr_assert(access_hash_check(HASH_SHA256, "f2GhAHkq91kfbgE9zJT1MF99z6NjObvsN7c7G8s0w7b5Idpc", B("c@rol pw!")));
    cr_assert(!access_hash_check(HASH_SHA256, "qlVYdXcQbq+CWeF+SQC5kSO7cr31yevwC6/4kDR4BHTAhrdI", B("bobpw ")));
    cr_assert(!access_hash_check(HASH_SHA256, "qlVYdXcQbq+CWeF+SQC5kSO7cr31yevwC6/4kDR4BHTAhrdI", B("")));
    cr_assert(!access_hash_check(HASH_SHA256, "not base64!", B("bobpw")));
    cr_assert(!access_hash_check(HASH_SHA256, "", B("")));
}

Test(access, own_hash_has_rabbitmq_shape) {
    char h[200];
    const uint8_t salt[4] = {0xaa, 0x55, 0x58, 0x75};
    /* bob's salt from the RabbitMQ hash: the same salt gives the same text */
    cr_assert_eq(access_hash_password(HASH_SHA256, salt, B("bobpw"), h, sizeof h), 0);
    cr_assert_str_eq(h, "qlVYdXcQbq+CWeF+SQC5kSO7cr31yevwC6/4kDR4BHTAhrdI");
    cr_assert_eq(access_hash_password(HASH_SHA256, NULL, B("secret"), h, sizeof h), 0);
    cr_assert_eq(strlen(h), 48); /* base64 of 4 + 32 bytes */
    cr_assert(access_hash_check(HASH_SHA256, h, B("secret")));
    cr_assert_eq(access_hash_password(HASH_SHA512, NULL, B("secret"), h, sizeof h), 0);
    cr_assert(access_hash_check(HASH_SHA512, h, B("secret")));
    cr_assert(!access_hash_check(HASH_SHA256, h, B("secret")));
}

Test(access, users_and_tags) {
    char err[200];
    cr_assert_eq(access_user_add("u1", "pw1", "administrator, monitoring", err, sizeof err), 0);
    cr_assert_neq(access_user_add("u1", "pw1", "", err, sizeof err), 0);
    cr_assert(access_authenticate(B("u1"), B("pw1")));
    cr_assert(!access_authenticate(B("u1"), B("pw2")));
    cr_assert(!access_authenticate(B("nobody"), B("pw1")));
    cr_assert(access_user_has_tag("u1", "monitoring"));
    cr_assert(!access_user_has_tag("u1", "impersonator"));
    cr_assert_eq(access_user_set_tags("u1", "impersonator", err, sizeof err), 0);
    cr_assert(access_user_has_tag("u1", "impersonator"));
    cr_assert(!access_user_has_tag("u1", "administrator"));
    cr_assert_eq(access_user_change_password("u1", "new", err, sizeof err), 0);
    cr_assert(access_authenticate(B("u1"), B("new")));
    cr_assert(!access_authenticate(B("u1"), B("pw1")));
    cr_assert_eq(access_user_delete("u1", err, sizeof err), 0);
    cr_assert(!access_authenticate(B("u1"), B("new")));
    cr_assert_neq(access_user_delete("u1", err, sizeof err), 0);
    access_destroy();
}

Test(access, permission_patterns_like_rabbitmq) {
    char err[200];
    cr_assert_eq(access_user_add("p", "pw", "", err, sizeof err), 0);
    cr_assert_neq(access_set_permissions("nobody", "/", ".*", ".*", ".*", err, sizeof err), 0);
    cr_assert_neq(access_set_permissions("p", "/", "(", ".*", ".*", err, sizeof err), 0);
    cr_assert_null(access_grant_get("p", "/"));
    cr_assert_eq(access_set_permissions("p", "/", "", "^amq\\.default$", "foo", err, sizeof err), 0);
    access_grant *g = access_grant_get("p", "/");
    cr_assert_not_null(g);
    cr_assert(!access_grant_allows(g, PERM_CONFIGURE, B(""))); /* '' matches nothing */
    cr_assert(!access_grant_allows(g, PERM_CONFIGURE, B("x")));
    cr_assert(access_grant_allows(g, PERM_WRITE, B(""))); /* the default exchange is amq.default */
    cr_assert(!access_grant_allows(g, PERM_WRITE, B("amq.direct")));
    cr_assert(access_grant_allows(g, PERM_READ, B("a-foo-b"))); /* unanchored, like re:run */
    cr_assert(!access_grant_allows(g, PERM_READ, B("fo")));
    cr_assert_null(access_grant_get("p", "other"));
    uint64_t gen = access_generation();
    cr_assert_eq(access_clear_permissions("p", "/", err, sizeof err), 0);
    cr_assert_gt(access_generation(), gen);
    cr_assert_null(access_grant_get("p", "/"));
    cr_assert(!access_grant_allows(g, PERM_READ, B("foo")) == false); /* the old grant stays valid */
    access_grant_unref(&g);
    access_destroy();
}

/* guest from a non-loopback address: auth_check with a fake peer (the
 * connection passes peer_loopback = false for any other address). */
#include "auth.h"
#include "config.h"

Test(access, loopback_users_only_from_loopback) {
    char *argv[] = {"warren", NULL};
    cr_assert_eq(config_load(1, argv), 0);
    char err[200], user[256];
    cr_assert_eq(access_user_add("guest", "guest", "administrator", err, sizeof err), 0);
    cr_assert_eq(access_user_add("bob", "bobpw", "", err, sizeof err), 0);
    static const char g[] = "\0guest\0guest", b[] = "\0bob\0bobpw", bad[] = "\0guest\0nope";
    amq_bytes plain = amq_cstr("PLAIN");
    cr_assert_eq(auth_check(plain, (amq_bytes){(const uint8_t *)g, sizeof g - 1}, true, user, sizeof user), AUTH_OK);
    cr_assert_eq(auth_check(plain, (amq_bytes){(const uint8_t *)g, sizeof g - 1}, false, user, sizeof user),
                 AUTH_LOOPBACK_ONLY);
    cr_assert_str_eq(user, "guest");
    cr_assert_eq(auth_check(plain, (amq_bytes){(const uint8_t *)bad, sizeof bad - 1}, false, user, sizeof user),
                 AUTH_REFUSED);
    cr_assert_eq(auth_check(plain, (amq_bytes){(const uint8_t *)b, sizeof b - 1}, false, user, sizeof user), AUTH_OK);
    cr_assert_eq(auth_check(amq_cstr("EXTERNAL"), (amq_bytes){0}, false, user, sizeof user), AUTH_BAD_MECHANISM);
    /* loopback_users = none lifts the restriction; loopback_users.bob = true adds bob */
    snprintf(config.loopback_users, sizeof config.loopback_users, "bob");
    cr_assert_eq(auth_check(plain, (amq_bytes){(const uint8_t *)g, sizeof g - 1}, false, user, sizeof user), AUTH_OK);
    cr_assert_eq(auth_check(plain, (amq_bytes){(const uint8_t *)b, sizeof b - 1}, false, user, sizeof user),
                 AUTH_LOOPBACK_ONLY);
    access_destroy();
}
