/* mgmt_list.c — the lists' query parameters, as RabbitMQ's management plugin
 * reads them: name (+ use_regex), sort (+ sort_reverse), page + page_size
 * (the paged reply object and its 400s), columns. Rows stay C structs until
 * the page is cut, so a list of 100,000 queues builds 100 JSON objects. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mgmt_int.h"
#include "util.h"

json_t *mgmt_json_path(json_t *o, const char *key) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", key);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) o = json_object_get(o, k);
    return o;
}

#define MAX_KEYS 4

typedef struct skey {
    int kind; /* 0 number, 1 missing, 2 string (Erlang's term order: number < atom < binary) */
    double num;
    const char *str;
} skey;

typedef struct item {
    const void *row;
    json_t *js; /* built lazily */
    size_t idx; /* position before sorting: the sort is stable */
    skey *k;    /* its sort keys (nk of them) */
} item;

static json_t *item_json(item *it, const mgmt_rowtype *t) {
    if (!it->js) it->js = t->json(it->row);
    return it->js;
}

/* The sort value of key for it: fast path, else from its JSON. */
static void sort_value(item *it, const mgmt_rowtype *t, const char *key, skey *sk) {
    int k = t->sortval ? t->sortval(it->row, key, &sk->num, &sk->str) : 0;
    if (k == 1) sk->kind = 0;
    else if (k == 2) sk->kind = 2;
    else if (k == -1) sk->kind = 1;
    else {
        json_t *v = mgmt_json_path(item_json(it, t), key);
        if (json_is_number(v)) sk->kind = 0, sk->num = json_number_value(v);
        else if (json_is_boolean(v)) sk->kind = 0, sk->num = json_is_true(v);
        else if (json_is_string(v)) sk->kind = 2, sk->str = json_string_value(v);
        else sk->kind = 1;
    }
}

static int cmp_key(const skey *a, const skey *b) {
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    if (a->kind == 0) return a->num < b->num ? -1 : a->num > b->num;
    if (a->kind == 2) return a->str == b->str ? 0 : strcmp(a->str, b->str);
    return 0;
}

static _Thread_local int sort_nkeys;
static _Thread_local bool sort_rev;

static int cmp_items(const item *a, const item *b) {
    for (int i = 0; i < sort_nkeys; i++) {
        int c = cmp_key(&a->k[i], &b->k[i]);
        if (c) return sort_rev ? -c : c;
    }
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int cmp_ptrs(const void *pa, const void *pb) { return cmp_items(*(item *const *)pa, *(item *const *)pb); }

/* The first k of n items in order, into out (k pointers), with a bounded
 * max-heap: about n comparisons when k is small (a page of a long list). */
static void heap_down(item **h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cmp_items(h[l], h[m]) > 0) m = l;
        if (r < n && cmp_items(h[r], h[m]) > 0) m = r;
        if (m == i) return;
        item *x = h[i];
        h[i] = h[m];
        h[m] = x;
        i = m;
    }
}

static void first_k(item **v, size_t n, size_t k) {
    /* v[0..k) becomes a max-heap of the k smallest; the rest is left unordered */
    for (size_t i = k / 2; i-- > 0;) heap_down(v, k, i);
    for (size_t i = k; i < n; i++)
        if (cmp_items(v[i], v[0]) < 0) {
            item *x = v[0];
            v[0] = v[i];
            v[i] = x;
            heap_down(v, k, 0);
        }
    qsort(v, k, sizeof *v, cmp_ptrs);
}

/* Copy the dotted column key of src into dst. */
static void copy_column(json_t *dst, json_t *src, const char *key) {
    const char *dot = strchr(key, '.');
    if (!dot) {
        json_t *v = json_object_get(src, key);
        if (v) json_object_set(dst, key, v);
        return;
    }
    char head[128];
    snprintf(head, sizeof head, "%.*s", (int)(dot - key), key);
    json_t *sub = json_object_get(src, head);
    if (!json_is_object(sub)) return;
    json_t *d = json_object_get(dst, head);
    if (!json_is_object(d)) {
        d = json_object();
        json_object_set_new(dst, head, d);
    }
    copy_column(d, sub, dot + 1);
}

static json_t *apply_columns(json_t *o, const char *columns) {
    if (!columns || !*columns) return o;
    json_t *r = json_object();
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", columns);
    char *save = NULL;
    for (char *c = strtok_r(buf, ",", &save); c; c = strtok_r(NULL, ",", &save)) copy_column(r, o, c);
    json_decref(o);
    return r;
}

static bool parse_pos_int(const char *s, long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool ci_contains(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return true;
    return !n;
}

void mgmt_reply_rows(const mgmt_req *rq, mgmt_resp *rs, const void *const *rows, size_t n, const mgmt_rowtype *t) {
    const char *page_s = rq->query(rq, "page"), *size_s = rq->query(rq, "page_size");
    long page = 1, psize = 100;
    bool paged = page_s != NULL;
    if (paged) {
        if (!parse_pos_int(page_s, &page) || (size_s && !parse_pos_int(size_s, &psize))) {
            mgmt_error(rs, 400, "bad_request", "Pagination parameters are invalid");
            return;
        }
        if (page < 1 || (size_s && (psize < 1 || psize > 500))) {
            mgmt_error(rs, 400, "invalid_pagination_parameters",
                       "Invalid pagination parameters: page number %ld, page size %s", page,
                       size_s ? size_s : "undefined");
            return;
        }
    }

    /* name / use_regex (case-insensitive; as RabbitMQ, only in a paged request) */
    const char *name = paged ? rq->query(rq, "name") : NULL;
    const char *use_regex = rq->query(rq, "use_regex");
    pcre2_code *re = NULL;
    pcre2_match_data *md = NULL;
    if (name && *name && use_regex && !strcmp(use_regex, "true")) {
        int err;
        PCRE2_SIZE off;
        re = pcre2_compile((PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS | PCRE2_UTF, &err, &off, NULL);
        if (!re) {
            mgmt_error(rs, 400, "bad_request", "invalid regular expression '%s'", name);
            return;
        }
        md = pcre2_match_data_create_from_pattern(re, NULL);
    }
    item *items = xmalloc((n ? n : 1) * sizeof *items);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (name && *name) {
            const char *nm = t->name ? t->name(rows[i]) : "";
            if (!nm) nm = "";
            if (re ? pcre2_match(re, (PCRE2_SPTR)nm, strlen(nm), 0, 0, md, NULL) < 0 : !ci_contains(nm, name)) continue;
        }
        items[m++] = (item){.row = rows[i]};
    }
    if (md) pcre2_match_data_free(md);
    if (re) pcre2_code_free(re);

    /* sort */
    const char *sort = rq->query(rq, "sort");
    const char *rev_s = rq->query(rq, "sort_reverse");
    bool rev = rev_s && !strcmp(rev_s, "true");
    const char *keys[MAX_KEYS];
    int nk = 0;
    if (sort && *sort) keys[nk++] = sort;
    else if (t->dflt_sort)
        for (int i = 0; t->dflt_sort[i] && nk < MAX_KEYS; i++) keys[nk++] = t->dflt_sort[i];
    item **order = xmalloc((m ? m : 1) * sizeof *order);
    for (size_t i = 0; i < m; i++) order[i] = &items[i];
    /* only the rows up to the end of the page asked for need their order */
    size_t need = m;
    if (paged && (size_t)page * (size_t)psize < m) need = (size_t)page * (size_t)psize;
    skey *kv = NULL;
    if (nk && m > 1) {
        kv = xmalloc(m * (size_t)nk * sizeof *kv);
        for (size_t i = 0; i < m; i++) {
            items[i].idx = i;
            items[i].k = kv + i * (size_t)nk;
            for (int k = 0; k < nk; k++) sort_value(&items[i], t, keys[k], &items[i].k[k]);
        }
        sort_nkeys = nk;
        sort_rev = rev;
        if (need < m / 4) first_k(order, m, need);
        else qsort(order, m, sizeof *order, cmp_ptrs);
    } else if (rev) /* RabbitMQ reverses the (default-ordered) list */
        for (size_t i = 0; i < m / 2; i++) {
            item *x = order[i];
            order[i] = order[m - 1 - i];
            order[m - 1 - i] = x;
        }

    /* page */
    size_t from = 0, to = m;
    if (paged) {
        if (page > 1 && (size_t)(page - 1) * (size_t)psize >= m) {
            mgmt_error(rs, 400, "page_out_of_range", "Page out of range, page: %ld page size: %ld, len: %zu", page,
                       psize, m);
            goto out;
        }
        from = (size_t)(page - 1) * (size_t)psize;
        to = from + (size_t)psize < m ? from + (size_t)psize : m;
    }
    if (t->prepare && to > from) {
        const void **page_rows = xmalloc((to - from) * sizeof *page_rows);
        for (size_t i = from; i < to; i++) page_rows[i - from] = order[i]->row;
        t->prepare(page_rows, to - from);
        free(page_rows);
    }
    const char *columns = rq->query(rq, "columns");
    json_t *arr = json_array();
    for (size_t i = from; i < to; i++) {
        json_t *o = item_json(order[i], t);
        order[i]->js = NULL;
        json_array_append_new(arr, apply_columns(o, columns));
    }
    if (paged)
        rs->body = json_pack("{s:I,s:I,s:o,s:I,s:I,s:I,s:I}", "filtered_count", (json_int_t)m, "item_count",
                             (json_int_t)(to - from), "items", arr, "page", (json_int_t)page, "page_count",
                             (json_int_t)((m + (size_t)psize - 1) / (size_t)psize), "page_size", (json_int_t)psize,
                             "total_count", (json_int_t)n);
    else rs->body = arr;
    rs->status = 200;
out:
    for (size_t i = 0; i < m; i++) json_decref(items[i].js);
    free(kv);
    free(order);
    free(items);
}

/* ---- mgmt_reply_list: rows that are already JSON objects ---- */

static const char *json_row_name(const void *row) { return json_string_value(json_object_get((json_t *)row, "name")); }
static int json_row_sortval(const void *row, const char *key, double *num, const char **str) {
    json_t *v = mgmt_json_path((json_t *)row, key);
    if (json_is_number(v)) return *num = json_number_value(v), 1;
    if (json_is_boolean(v)) return *num = json_is_true(v), 1;
    if (json_is_string(v)) return *str = json_string_value(v), 2;
    return -1;
}
static json_t *json_row_json(const void *row) { return json_incref((json_t *)row); }

void mgmt_reply_list(const mgmt_req *rq, mgmt_resp *rs, json_t *rows) {
    static const mgmt_rowtype jt = {json_row_name, json_row_sortval, json_row_json, NULL, NULL};
    size_t n = json_array_size(rows);
    const void **v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = json_array_get(rows, i);
    mgmt_reply_rows(rq, rs, v, n, &jt);
    free(v);
    json_decref(rows);
}
