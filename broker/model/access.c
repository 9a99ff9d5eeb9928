/* access.c — the user table: users with RabbitMQ's salted password hashes
 * and tags, their permissions per vhost (configure/write/read patterns),
 * authentication, and the grants connections cache. */
#include "access.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "durable.h"
#include "util.h"

typedef struct {
    char *name;
    int algo;
    char *hash; /* base64 */
    char *tags;
} user;

typedef struct {
    char *user, *vhost;
    char *pat[3];
    access_grant *g;
} perm;

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static user *users;
static size_t nusers, capusers;
static perm *perms;
static size_t nperms, capperms;
static _Atomic uint64_t generation = 1;

static const char *hash_names[] = {"rabbit_password_hashing_sha256", "rabbit_password_hashing_sha512",
                                   "rabbit_password_hashing_md5"};

const char *access_hash_name(int algo) { return algo >= 0 && algo <= 2 ? hash_names[algo] : "?"; }

int access_hash_parse(const char *name) {
    if (!name || !*name) return HASH_SHA256; /* RabbitMQ's default when absent */
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, hash_names[i])) return i;
    return -1;
}

static const EVP_MD *md_of(int algo) {
    return algo == HASH_SHA512 ? EVP_sha512() : algo == HASH_MD5 ? EVP_md5() : EVP_sha256();
}

/* H(salt || password) into out (at least EVP_MAX_MD_SIZE); returns its length. */
static unsigned digest(int algo, const uint8_t salt[4], amq_bytes pw, uint8_t *out) {
    unsigned n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c) return 0;
    if (EVP_DigestInit_ex(c, md_of(algo), NULL) != 1 || EVP_DigestUpdate(c, salt, 4) != 1 ||
        EVP_DigestUpdate(c, pw.p, pw.len) != 1 || EVP_DigestFinal_ex(c, out, &n) != 1)
        n = 0;
    EVP_MD_CTX_free(c);
    return n;
}

int access_hash_password(int algo, const uint8_t *salt, amq_bytes pw, char *out, size_t cap) {
    uint8_t buf[4 + EVP_MAX_MD_SIZE];
    if (salt) memcpy(buf, salt, 4);
    else if (RAND_bytes(buf, 4) != 1) return -1;
    unsigned n = digest(algo, buf, pw, buf + 4);
    if (!n || cap < 4 * ((4 + n + 2) / 3) + 1) return -1;
    EVP_EncodeBlock((unsigned char *)out, buf, (int)(4 + n));
    return 0;
}

bool access_hash_check(int algo, const char *b64, amq_bytes pw) {
    size_t len = strlen(b64);
    if (len == 0 || len % 4 || len > 200) return false;
    uint8_t raw[160];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
    if (n < 0) return false;
    /* EVP_DecodeBlock counts the '=' padding as zero bytes. */
    if (b64[len - 1] == '=') n--;
    if (b64[len - 2] == '=') n--;
    uint8_t want[EVP_MAX_MD_SIZE];
    unsigned dn = digest(algo, raw, pw, want);
    return dn && (size_t)n == 4 + dn && CRYPTO_memcmp(raw + 4, want, dn) == 0;
}

void access_init(void) {}

static void perm_free(perm *p) {
    free(p->user);
    free(p->vhost);
    for (int i = 0; i < 3; i++) free(p->pat[i]);
    access_grant_unref(&p->g);
}

void access_destroy(void) {
    pthread_rwlock_wrlock(&lock);
    for (size_t i = 0; i < nusers; i++) {
        free(users[i].name);
        free(users[i].hash);
        free(users[i].tags);
    }
    for (size_t i = 0; i < nperms; i++) perm_free(&perms[i]);
    free(users);
    free(perms);
    users = NULL;
    perms = NULL;
    nusers = capusers = nperms = capperms = 0;
    pthread_rwlock_unlock(&lock);
}

static void set_err(char *err, size_t cap, const char *fmt, const char *a, const char *b) {
    if (err && cap) snprintf(err, cap, fmt, a, b);
}

static user *find_user(const char *name) {
    for (size_t i = 0; i < nusers; i++)
        if (!strcmp(users[i].name, name)) return &users[i];
    return NULL;
}

static perm *find_perm(const char *u, const char *v) {
    for (size_t i = 0; i < nperms; i++)
        if (!strcmp(perms[i].user, u) && !strcmp(perms[i].vhost, v)) return &perms[i];
    return NULL;
}

/* Normalise tags: split on commas and spaces, join with ",". */
static char *norm_tags(const char *tags) {
    size_t n = tags ? strlen(tags) : 0;
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n;) {
        while (i < n && (tags[i] == ',' || tags[i] == ' ')) i++;
        size_t s = i;
        while (i < n && tags[i] != ',' && tags[i] != ' ') i++;
        if (i > s) {
            if (o != out) *o++ = ',';
            memcpy(o, tags + s, i - s);
            o += i - s;
        }
    }
    *o = 0;
    return out;
}

static void changed(void) { atomic_fetch_add(&generation, 1); }

uint64_t access_generation(void) { return atomic_load(&generation); }

static int put_locked(const char *name, int algo, const char *hash, const char *tags, bool must_be_new, char *err,
                      size_t cap) {
    user *u = find_user(name);
    if (u && must_be_new) {
        set_err(err, cap, "user '%s' already exists%s", name, "");
        return -1;
    }
    if (!u) {
        if (nusers == capusers) {
            capusers = capusers ? capusers * 2 : 8;
            users = xrealloc(users, capusers * sizeof *users);
        }
        u = &users[nusers++];
        memset(u, 0, sizeof *u);
        u->name = xstrdup(name);
    }
    /* hash and tags may be the user's own strings: copy before freeing */
    char *nh = xstrdup(hash), *nt = norm_tags(tags);
    free(u->hash);
    free(u->tags);
    u->algo = algo;
    u->hash = nh;
    u->tags = nt;
    store_user_put(u->name, u->algo, u->hash, u->tags);
    changed();
    return 0;
}

static bool valid_name(const char *name, char *err, size_t cap) {
    if (name && name_check(amq_cstr(name), "user name", NULL, err, cap)) return false;
    if (!name || !*name) {
        set_err(err, cap, "invalid user name '%s'%s", name ? name : "", "");
        return false;
    }
    return true;
}

int access_user_add(const char *name, const char *password, const char *tags, char *err, size_t cap) {
    if (!valid_name(name, err, cap)) return -1;
    char h[200];
    if (access_hash_password(HASH_SHA256, NULL, amq_cstr(password), h, sizeof h)) {
        set_err(err, cap, "cannot hash the password%s%s", "", "");
        return -1;
    }
    pthread_rwlock_wrlock(&lock);
    int rc = put_locked(name, HASH_SHA256, h, tags, true, err, cap);
    pthread_rwlock_unlock(&lock);
    return rc;
}

int access_user_put_hash(const char *name, int algo, const char *hash, const char *tags, char *err, size_t cap) {
    if (!valid_name(name, err, cap)) return -1;
    if (algo < 0 || algo > 2) {
        set_err(err, cap, "user '%s': unsupported hashing algorithm%s", name, "");
        return -1;
    }
    pthread_rwlock_wrlock(&lock);
    int rc = put_locked(name, algo, hash ? hash : "", tags, false, err, cap);
    pthread_rwlock_unlock(&lock);
    return rc;
}

int access_user_delete(const char *name, char *err, size_t cap) {
    pthread_rwlock_wrlock(&lock);
    user *u = find_user(name);
    if (!u) {
        pthread_rwlock_unlock(&lock);
        set_err(err, cap, "user '%s' does not exist%s", name, "");
        return -1;
    }
    free(u->name);
    free(u->hash);
    free(u->tags);
    *u = users[--nusers];
    for (size_t i = 0; i < nperms;) {
        if (!strcmp(perms[i].user, name)) {
            perm_free(&perms[i]);
            perms[i] = perms[--nperms];
        } else {
            i++;
        }
    }
    store_user_deleted(name);
    changed();
    pthread_rwlock_unlock(&lock);
    return 0;
}

int access_user_change_password(const char *name, const char *password, char *err, size_t cap) {
    char h[200];
    if (access_hash_password(HASH_SHA256, NULL, amq_cstr(password), h, sizeof h)) return -1;
    pthread_rwlock_wrlock(&lock);
    user *u = find_user(name);
    int rc = -1;
    if (!u) set_err(err, cap, "user '%s' does not exist%s", name, "");
    else rc = put_locked(name, HASH_SHA256, h, u->tags, false, err, cap);
    pthread_rwlock_unlock(&lock);
    return rc;
}

int access_user_set_tags(const char *name, const char *tags, char *err, size_t cap) {
    pthread_rwlock_wrlock(&lock);
    user *u = find_user(name);
    int rc = -1;
    if (!u) {
        set_err(err, cap, "user '%s' does not exist%s", name, "");
    } else {
        rc = put_locked(name, u->algo, u->hash, tags, false, err, cap);
    }
    pthread_rwlock_unlock(&lock);
    return rc;
}

bool access_user_exists(const char *name) {
    pthread_rwlock_rdlock(&lock);
    bool r = find_user(name) != NULL;
    pthread_rwlock_unlock(&lock);
    return r;
}

static bool has_tag(const char *tags, const char *tag) {
    size_t n = strlen(tag);
    for (const char *p = tags; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !memcmp(p, tag, n)) return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

bool access_user_has_tag(const char *name, const char *tag) {
    pthread_rwlock_rdlock(&lock);
    user *u = find_user(name);
    bool r = u && has_tag(u->tags, tag);
    pthread_rwlock_unlock(&lock);
    return r;
}

size_t access_user_count(void) {
    pthread_rwlock_rdlock(&lock);
    size_t n = nusers;
    pthread_rwlock_unlock(&lock);
    return n;
}

bool access_authenticate(amq_bytes name, amq_bytes password) {
    char nm[256];
    if (name.len == 0 || name.len > 255) return false;
    memcpy(nm, name.p, name.len);
    nm[name.len] = 0;
    pthread_rwlock_rdlock(&lock);
    user *u = find_user(nm);
    /* A user without a password hash (imported with "") cannot log in by password. */
    bool ok = u && u->hash[0] && access_hash_check(u->algo, u->hash, password);
    pthread_rwlock_unlock(&lock);
    return ok;
}

/* ---- permissions ---- */

static access_grant *grant_compile(char *const pat[3], char *err, size_t cap) {
    access_grant *g = xcalloc(1, sizeof *g);
    atomic_init(&g->refs, 1);
    int i;
    for (i = 0; i < 3; i++) {
        g->none[i] = pat[i][0] == 0;
        int rc = regcomp(&g->re[i], g->none[i] ? "^$" : pat[i], REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[128];
            regerror(rc, &g->re[i], msg, sizeof msg);
            if (err && cap) snprintf(err, cap, "invalid regular expression '%s': %s", pat[i], msg);
            break;
        }
    }
    if (i < 3) {
        for (int k = 0; k < i; k++) regfree(&g->re[k]);
        free(g);
        return NULL;
    }
    return g;
}

void access_grant_unref(access_grant **pg) {
    access_grant *g = *pg;
    *pg = NULL;
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1) return;
    for (int i = 0; i < 3; i++) regfree(&g->re[i]);
    free(g);
}

int access_set_permissions(const char *u, const char *v, const char *c, const char *w, const char *r, char *err,
                           size_t cap) {
    char *pat[3] = {xstrdup(c), xstrdup(w), xstrdup(r)};
    access_grant *g = grant_compile(pat, err, cap);
    if (!g) {
        for (int i = 0; i < 3; i++) free(pat[i]);
        return -1;
    }
    pthread_rwlock_wrlock(&lock);
    if (!find_user(u)) {
        pthread_rwlock_unlock(&lock);
        set_err(err, cap, "user '%s' does not exist%s", u, "");
        for (int i = 0; i < 3; i++) free(pat[i]);
        access_grant_unref(&g);
        return -1;
    }
    perm *p = find_perm(u, v);
    if (!p) {
        if (nperms == capperms) {
            capperms = capperms ? capperms * 2 : 8;
            perms = xrealloc(perms, capperms * sizeof *perms);
        }
        p = &perms[nperms++];
        memset(p, 0, sizeof *p);
        p->user = xstrdup(u);
        p->vhost = xstrdup(v);
    }
    for (int i = 0; i < 3; i++) {
        free(p->pat[i]);
        p->pat[i] = pat[i];
    }
    access_grant_unref(&p->g);
    p->g = g;
    store_perm_set(u, v, c, w, r);
    changed();
    pthread_rwlock_unlock(&lock);
    return 0;
}

int access_clear_permissions(const char *u, const char *v, char *err, size_t cap) {
    pthread_rwlock_wrlock(&lock);
    int rc = 0;
    if (!find_user(u)) {
        set_err(err, cap, "user '%s' does not exist%s", u, "");
        rc = -1;
    } else {
        perm *p = find_perm(u, v);
        if (p) {
            perm_free(p);
            *p = perms[--nperms];
        }
        store_perm_clear(u, v);
        changed();
    }
    pthread_rwlock_unlock(&lock);
    return rc;
}

void access_vhost_deleted(const char *v) {
    pthread_rwlock_wrlock(&lock);
    for (size_t i = 0; i < nperms;) {
        if (!strcmp(perms[i].vhost, v)) {
            perm_free(&perms[i]);
            perms[i] = perms[--nperms];
        } else {
            i++;
        }
    }
    changed();
    pthread_rwlock_unlock(&lock);
}

access_grant *access_grant_get(const char *u, const char *v) {
    pthread_rwlock_rdlock(&lock);
    perm *p = find_perm(u, v);
    access_grant *g = p ? p->g : NULL;
    if (g) atomic_fetch_add(&g->refs, 1);
    pthread_rwlock_unlock(&lock);
    return g;
}

bool access_grant_allows(const access_grant *g, int kind, amq_bytes name) {
    if (!g || kind < 0 || kind > 2) return false;
    if (g->none[kind]) return false;
    char buf[264];
    if (name.len == 0) name = amq_cstr("amq.default");
    if (name.len > 255) return false;
    memcpy(buf, name.p, name.len);
    buf[name.len] = 0;
    return regexec(&g->re[kind], buf, 0, NULL, 0) == 0;
}

void access_foreach_user(access_user_cb cb, void *ctx) {
    pthread_rwlock_rdlock(&lock);
    for (size_t i = 0; i < nusers; i++) cb(ctx, users[i].name, users[i].algo, users[i].hash, users[i].tags);
    pthread_rwlock_unlock(&lock);
}

void access_foreach_perm(access_perm_cb cb, void *ctx) {
    pthread_rwlock_rdlock(&lock);
    for (size_t i = 0; i < nperms; i++)
        cb(ctx, perms[i].user, perms[i].vhost, perms[i].pat[0], perms[i].pat[1], perms[i].pat[2]);
    pthread_rwlock_unlock(&lock);
}
