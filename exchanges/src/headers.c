/* headers.c — headers exchange, matching as RabbitMQ 3.10's
 * rabbit_exchange_type_headers (semantics confirmed against the reference
 * broker; see tests/unit/exchanges/test_headers.c):
 *
 * - x-match: "all" (default when absent), "any", "all-with-x", "any-with-x";
 *   anything else, or a non-longstr x-match, is rejected at bind.
 * - The "x-match" entry itself never takes part in matching; other keys
 *   starting with "x-" take part only in the -with-x modes.
 * - all: every remaining binding entry matches (so no entries = match every
 *   message, even one without headers); any: at least one does (so no
 *   entries = match nothing).
 * - An entry matches when the header with that key is present and, unless
 *   the binding value is void (V: presence only), the values are equal the
 *   way Erlang's == compares RabbitMQ's decoded values: all integer types and
 *   timestamps and floats compare as numbers (I 1 == l 1 == T 1 == d 1.0,
 *   d 0.0 == d -0.0, f 0.1 != d 0.1); S and x compare as bytes; t only with
 *   t; D only with D of the same scale and value; V (as header) only
 *   matches a void binding entry; nested F/A compare exactly (same types,
 *   same order: byte-equal encodings), except that an empty F equals an
 *   empty A (both are [] in Erlang).
 * - Keys compare as bytes; with duplicate header keys the first wins.
 *
 * Bindings are kept in a list with their pattern pre-parsed; a route parses
 * the message headers once into a sorted array (on the stack up to
 * HEADERS_STACK entries) and binary-searches it per binding entry. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "amq/table.h"
#include "internal.h"

#define HEADERS_STACK 32

enum { HEADERS_ALL, HEADERS_ANY, HEADERS_ALL_X, HEADERS_ANY_X };

typedef struct {
    amq_bytes key;
    amq_field val;
    size_t idx; /* original position: keeps the sort stable */
} headers_entry;

typedef struct {
    int mode;
    size_t n;
    headers_entry e[];
} headers_pattern;

typedef struct {
    exch_binding *first;
} headers_impl;

/* ------------------------------------------------------------- patterns */

static bool headers_key_is_x(amq_bytes k) { return k.len >= 2 && k.p[0] == 'x' && k.p[1] == '-'; }

/* Find x-match; returns the mode or EXCH_EBADMATCH. */
static int headers_mode(amq_bytes args) {
    amq_rd r = {args.p, args.len, 0};
    amq_bytes k;
    amq_field v;
    static const char *const names[] = {"all", "any", "all-with-x", "any-with-x"};
    while (amq_table_next(&r, &k, &v) == 1) {
        if (!amq_bytes_eqs(k, "x-match")) continue;
        if (v.type != 'S') return EXCH_EBADMATCH;
        for (int i = 0; i < 4; i++) {
            if (amq_bytes_eqs(v.v.str, names[i])) return i;
        }
        return EXCH_EBADMATCH;
    }
    return HEADERS_ALL;
}

static int headers_entry_cmp(const void *a, const void *b) {
    const headers_entry *x = a, *y = b;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = n ? memcmp(x->key.p, y->key.p, n) : 0;
    if (c) return c;
    if (x->key.len != y->key.len) return x->key.len < y->key.len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void headers_sort(headers_entry *e, size_t n) {
    if (n > HEADERS_STACK) {
        qsort(e, n, sizeof *e, headers_entry_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        headers_entry t = e[i];
        size_t j = i;
        for (; j > 0 && headers_entry_cmp(&e[j - 1], &t) > 0; j--) e[j] = e[j - 1];
        e[j] = t;
    }
}

static bool headers_relevant(int mode, amq_bytes k) {
    if (amq_bytes_eqs(k, "x-match")) return false;
    return mode == HEADERS_ALL_X || mode == HEADERS_ANY_X || !headers_key_is_x(k);
}

/* Read up to max entries of table t (all when keep_all, else those relevant
 * to mode) into e; returns how many there are in total (may be > max).
 * Stops at the first malformed entry. */
static size_t headers_read(amq_bytes t, int mode, bool keep_all, headers_entry *e, size_t max) {
    amq_rd r = {t.p, t.len, 0};
    headers_entry x;
    size_t n = 0;
    while (amq_table_next(&r, &x.key, &x.val) == 1) {
        if (!keep_all && !headers_relevant(mode, x.key)) continue;
        x.idx = n;
        if (n < max) e[n] = x;
        n++;
    }
    return n;
}

/* Parse binding args; returns NULL with *err set on error. lenient: an
 * invalid x-match means all (RabbitMQ's fallback for legacy bindings). */
static headers_pattern *headers_compile(amq_bytes args, bool lenient, int *err) {
    int mode = headers_mode(args);
    if (mode < 0 && lenient) mode = HEADERS_ALL;
    *err = mode < 0 ? mode : EXCH_ENOMEM;
    if (mode < 0) return NULL;
    size_t n = headers_read(args, mode, false, NULL, 0);
    headers_pattern *p = malloc(sizeof *p + n * sizeof p->e[0]);
    if (!p) return NULL;
    p->mode = mode;
    p->n = headers_read(args, mode, false, p->e, n);
    headers_sort(p->e, p->n);
    return p;
}

/* ---------------------------------------------------------------- values */

typedef struct {
    int kind; /* 0 not a number, 1 signed (i), 2 above INT64_MAX (u), 3 float */
    int64_t i;
    uint64_t u;
    double f;
} headers_num;

static headers_num headers_number(const amq_field *v) {
    headers_num x = {0, 0, 0, 0.0};
    int64_t i;
    if (v->type == 'T' && v->v.ts > (uint64_t)INT64_MAX) {
        x.kind = 2;
        x.u = v->v.ts;
    } else if (v->type == 'f' || v->type == 'd') {
        x.kind = 3;
        x.f = v->type == 'f' ? (double)v->v.f32 : v->v.f64;
    } else if (amq_field_as_i64(v, &i) == 1) {
        x.kind = 1;
        x.i = i;
    }
    return x;
}

/* Exact integer == float, as Erlang compares them. */
static bool headers_int_eq_float(const headers_num *a, double f) {
    if (!isfinite(f) || f != floor(f)) return false;
    if (a->kind == 1) return f >= -9223372036854775808.0 && f < 9223372036854775808.0 && (int64_t)f == a->i;
    return f >= 9223372036854775808.0 && f < 18446744073709551616.0 && (uint64_t)f == a->u;
}

static bool headers_num_eq(headers_num a, headers_num b) {
    if (a.kind == 3 && b.kind == 3) return a.f == b.f;
    if (a.kind == 3) return headers_int_eq_float(&b, a.f);
    if (b.kind == 3) return headers_int_eq_float(&a, b.f);
    if (a.kind != b.kind) return false;
    return a.kind == 1 ? a.i == b.i : a.u == b.u;
}

static bool headers_is_str(char t) { return t == 'S' || t == 'x'; }
static bool headers_is_list(char t) { return t == 'F' || t == 'A'; }

static bool headers_value_eq(const amq_field *p, const amq_field *d) {
    headers_num pn = headers_number(p), dn = headers_number(d);
    if (pn.kind || dn.kind) return pn.kind && dn.kind && headers_num_eq(pn, dn);
    if (headers_is_str(p->type)) return headers_is_str(d->type) && amq_bytes_eq(p->v.str, d->v.str);
    if (headers_is_list(p->type)) {
        if (!headers_is_list(d->type)) return false;
        if (p->v.str.len == 0 || d->v.str.len == 0) return p->v.str.len == d->v.str.len;
        return p->type == d->type && amq_bytes_eq(p->v.str, d->v.str);
    }
    if (p->type != d->type) return false;
    switch (p->type) {
    case 't': return p->v.b == d->v.b;
    case 'D': return p->v.dec.scale == d->v.dec.scale && p->v.dec.value == d->v.dec.value;
    default: return false; /* V (void data never equals a value) and unknown */
    }
}

/* --------------------------------------------------------------- matching */

/* First entry with key k in sorted h[0..n), or NULL. */
static const headers_entry *headers_find(const headers_entry *h, size_t n, amq_bytes k) {
    headers_entry probe = {k, {0}, 0};
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (headers_entry_cmp(&h[mid], &probe) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && amq_bytes_eq(h[lo].key, k) ? &h[lo] : NULL;
}

static bool headers_match_sorted(const headers_pattern *p, const headers_entry *h, size_t nh) {
    bool all = p->mode == HEADERS_ALL || p->mode == HEADERS_ALL_X;
    for (size_t i = 0; i < p->n; i++) {
        const headers_entry *d = headers_find(h, nh, p->e[i].key);
        bool ok = d && (p->e[i].val.type == 'V' || headers_value_eq(&p->e[i].val, &d->val));
        if (ok != all) return ok; /* any: first hit; all: first miss */
    }
    return all;
}

/* Message headers as a sorted array: on the stack if small, else heap. */
typedef struct {
    headers_entry stack[HEADERS_STACK];
    headers_entry *e;
    size_t n;
} headers_index;

static int headers_index_init(headers_index *x, amq_bytes headers) {
    x->e = x->stack;
    x->n = headers_read(headers, HEADERS_ALL, true, x->stack, HEADERS_STACK);
    if (x->n > HEADERS_STACK) {
        x->e = malloc(x->n * sizeof *x->e);
        if (!x->e) return -1;
        headers_read(headers, HEADERS_ALL, true, x->e, x->n);
    }
    headers_sort(x->e, x->n);
    return 0;
}

static void headers_index_destroy(headers_index *x) {
    if (x->e != x->stack) free(x->e);
}

/* Not on the hot path: allocates the pattern (and a big header index). */
bool exch_headers_match(amq_bytes binding_args, amq_bytes headers) {
    int err;
    headers_pattern *p = headers_compile(binding_args, true, &err);
    headers_index x;
    bool ok = p && headers_index_init(&x, headers) == 0;
    if (ok) {
        ok = headers_match_sorted(p, x.e, x.n);
        headers_index_destroy(&x);
    }
    free(p);
    return ok;
}

/* ---------------------------------------------------------------- vtable */

static int headers_create(exch *e) {
    e->impl = calloc(1, sizeof(headers_impl));
    return e->impl ? 0 : -1;
}

static void headers_destroy(exch *e) {
    headers_impl *h = e->impl;
    for (exch_binding *b = h->first; b; b = b->tnext) free(b->tdata);
    free(h);
    e->impl = NULL;
}

static int headers_add(exch *e, exch_binding *b) {
    int err;
    headers_pattern *p = headers_compile(b->args, false, &err);
    if (!p) return err;
    b->tdata = p;
    exch_tlist_push(&((headers_impl *)e->impl)->first, b);
    return 0;
}

static void headers_remove(exch *e, exch_binding *b) {
    exch_tlist_unlink(&((headers_impl *)e->impl)->first, b);
    free(b->tdata);
    b->tdata = NULL;
}

static void headers_route(const exch *e, amq_bytes key, amq_bytes headers, exch_dests *out) {
    (void)key;
    const headers_impl *h = e->impl;
    if (!h->first) return;
    headers_index x;
    if (headers_index_init(&x, headers) < 0) return;
    for (const exch_binding *b = h->first; b; b = b->tnext) {
        if (headers_match_sorted(b->tdata, x.e, x.n)) exch_dests_add(out, b->dest);
    }
    headers_index_destroy(&x);
}

const exch_ops exch_headers_ops = {headers_create, headers_destroy, headers_add, headers_remove, headers_route};
