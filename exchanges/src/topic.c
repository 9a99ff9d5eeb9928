/* topic.c — topic exchange: a trie of binding-key words.
 *
 * Words are split on '.', as RabbitMQ 3.10 does (checked against the
 * reference broker, see tests/unit/exchanges): the empty key "" has ZERO
 * words; any other key has (number of dots + 1) words, some possibly empty
 * ("." is two empty words, "a." is "a" and ""). In a binding key "*" matches
 * exactly one word (possibly empty) and "#" zero or more; any other word,
 * including "a*" or "#a", is literal. Consecutive "#" words are collapsed
 * ("#.#" == "#") since they match the same keys; bindings keep their key.
 *
 * Trie: each node has a '*' child and a '#' child pointer, and its literal
 * children live in one exchange-wide hash table keyed by (parent, word), as
 * in RabbitMQ's trie. Route walks only the branches the key can take. A '#'
 * node can be reached at several key positions; a small per-route memo of
 * the lowest position already expanded for each '#' node keeps adversarial
 * patterns ("#.a.#.a.#...") polynomial instead of exponential. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define TOPIC_STACK_WORDS 128
#define TOPIC_STACK_MEMO 32

typedef struct topic_node {
    exch_hnode h; /* in topic_impl.edges when reached by a literal word */
    struct topic_node *parent;
    struct topic_node *star, *hash;
    size_t nchildren;    /* literal + star + hash children */
    exch_binding *first; /* bindings whose key ends here */
    size_t wlen;
    uint8_t word[];
} topic_node;

typedef struct {
    topic_node *root; /* the empty binding key "" ends here */
    exch_htab edges;
} topic_impl;

/* ---------------------------------------------------------------- words */

/* Split s into words; returns the count (0 for ""), storing at most max. */
static size_t topic_split(amq_bytes s, amq_bytes *w, size_t max) {
    if (s.len == 0) return 0;
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= s.len; i++) {
        if (i == s.len || s.p[i] == '.') {
            if (n < max) {
                w[n].p = s.p + start;
                w[n].len = i - start;
            }
            n++;
            start = i + 1;
        }
    }
    return n;
}

static bool topic_is(amq_bytes w, char c) { return w.len == 1 && w.p[0] == (uint8_t)c; }

/* ----------------------------------------------------------------- trie */

static uint64_t topic_edge_hash(const topic_node *parent, amq_bytes w) {
    return exch_hash_mix(exch_hash_ptr(parent), exch_hash_bytes(w.p, w.len));
}

static topic_node *topic_child(const topic_impl *t, const topic_node *nd, amq_bytes w) {
    uint64_t h = topic_edge_hash(nd, w);
    for (exch_hnode *n = exch_htab_chain(&t->edges, h); n; n = n->next) {
        topic_node *c = (topic_node *)n;
        if (n->hash == h && c->parent == nd && c->wlen == w.len &&
            (!w.len || memcmp(c->word, w.p, w.len) == 0))
            return c;
    }
    return NULL;
}

static topic_node *topic_child_get(topic_impl *t, topic_node *nd, amq_bytes w) {
    bool star = topic_is(w, '*'), hash = topic_is(w, '#');
    topic_node *c = star ? nd->star : hash ? nd->hash : topic_child(t, nd, w);
    if (c) return c;
    c = calloc(1, sizeof *c + w.len);
    if (!c) return NULL;
    c->parent = nd;
    c->wlen = w.len;
    if (w.len) memcpy(c->word, w.p, w.len);
    if (star) nd->star = c;
    else if (hash) nd->hash = c;
    else {
        c->h.hash = topic_edge_hash(nd, w);
        exch_htab_insert(&t->edges, &c->h);
    }
    nd->nchildren++;
    return c;
}

/* Free empty nodes from nd up towards the root. */
static void topic_prune(topic_impl *t, topic_node *nd) {
    while (nd != t->root && !nd->first && nd->nchildren == 0) {
        topic_node *p = nd->parent;
        if (p->star == nd) p->star = NULL;
        else if (p->hash == nd) p->hash = NULL;
        else exch_htab_remove(&t->edges, &nd->h);
        p->nchildren--;
        free(nd);
        nd = p;
    }
}

static int topic_create(exch *e) {
    topic_impl *t = calloc(1, sizeof *t);
    if (t) t->root = calloc(1, sizeof *t->root);
    if (!t || !t->root || exch_htab_init(&t->edges) < 0) {
        if (t) free(t->root);
        free(t);
        return -1;
    }
    e->impl = t;
    return 0;
}

/* Free nd and its wildcard descendants reached through '*'/'#' links. */
static void topic_free_tree(topic_node *nd) {
    if (nd->star) topic_free_tree(nd->star);
    if (nd->hash) topic_free_tree(nd->hash);
    free(nd);
}

static void topic_free_edge(void *ctx, exch_hnode *n) {
    topic_free_tree((topic_node *)n);
    (void)ctx;
}

/* Literal children are freed through the edge table, wildcard children
 * through their parent; a wildcard child's literal children are in the
 * edge table too, so each node is freed exactly once. */
static void topic_destroy(exch *e) {
    topic_impl *t = e->impl;
    exch_htab_each(&t->edges, topic_free_edge, NULL);
    topic_free_tree(t->root);
    exch_htab_destroy(&t->edges);
    free(t);
    e->impl = NULL;
}

/* Walk/create the path of b's key; consecutive '#' words collapse. */
static int topic_add(exch *e, exch_binding *b) {
    topic_impl *t = e->impl;
    topic_node *nd = t->root;
    amq_bytes rest = b->key, w;
    bool prev_hash = false;
    size_t off = 0;
    while (rest.len && off <= rest.len) {
        const uint8_t *dot = memchr(rest.p + off, '.', rest.len - off);
        size_t end = dot ? (size_t)(dot - rest.p) : rest.len;
        w.p = rest.p + off;
        w.len = end - off;
        off = end + 1;
        bool is_hash = topic_is(w, '#');
        if (is_hash && prev_hash) continue;
        prev_hash = is_hash;
        topic_node *c = topic_child_get(t, nd, w);
        if (!c) {
            topic_prune(t, nd);
            return EXCH_ENOMEM;
        }
        nd = c;
    }
    exch_tlist_push(&nd->first, b);
    b->tnode = nd;
    return 0;
}

static void topic_remove(exch *e, exch_binding *b) {
    topic_node *nd = b->tnode;
    exch_tlist_unlink(&nd->first, b);
    topic_prune(e->impl, nd);
}

/* ---------------------------------------------------------------- route */

typedef struct {
    const topic_node *node;
    size_t min; /* lowest key position expanded so far */
} topic_memo;

typedef struct {
    const topic_impl *t;
    const amq_bytes *w;
    size_t n;
    exch_dests *out;
    topic_memo *memo;
    size_t nmemo, capmemo;
    bool memo_heap;
} topic_walk;

static void topic_match(topic_walk *c, const topic_node *nd, size_t i);

/* Returns the end (exclusive) of the positions still to expand for '#' node
 * h entered at position i: the previous lowest position, n + 1 if new. */
static size_t topic_memo_enter(topic_walk *c, const topic_node *h, size_t i) {
    for (size_t k = 0; k < c->nmemo; k++) {
        if (c->memo[k].node == h) {
            size_t old = c->memo[k].min;
            if (i < old) c->memo[k].min = i;
            return i < old ? old : i;
        }
    }
    if (c->nmemo == c->capmemo) {
        size_t cap = c->capmemo * 2;
        topic_memo *m = malloc(cap * sizeof *m);
        if (!m) return c->n + 1; /* no memo: still correct, only slower */
        memcpy(m, c->memo, c->nmemo * sizeof *m);
        if (c->memo_heap) free(c->memo);
        c->memo = m;
        c->capmemo = cap;
        c->memo_heap = true;
    }
    c->memo[c->nmemo].node = h;
    c->memo[c->nmemo++].min = i;
    return c->n + 1;
}

/* '#' node h entered at key position i: it may swallow words i..j-1 for
 * every j, then the rest of the key continues below h at j. */
static void topic_match_hash(topic_walk *c, const topic_node *h, size_t i) {
    size_t end = topic_memo_enter(c, h, i);
    for (size_t j = i; j < end; j++) topic_match(c, h, j);
}

static void topic_match(topic_walk *c, const topic_node *nd, size_t i) {
    if (i == c->n) {
        for (const exch_binding *b = nd->first; b; b = b->tnext) exch_dests_add(c->out, b->dest);
    } else {
        const topic_node *lit = topic_child(c->t, nd, c->w[i]);
        if (lit) topic_match(c, lit, i + 1);
        if (nd->star) topic_match(c, nd->star, i + 1);
    }
    if (nd->hash) topic_match_hash(c, nd->hash, i);
}

static void topic_route(const exch *e, amq_bytes key, amq_bytes headers, exch_dests *out) {
    (void)headers;
    const topic_impl *t = e->impl;
    amq_bytes words[TOPIC_STACK_WORDS];
    topic_memo memo[TOPIC_STACK_MEMO];
    topic_walk c = {t, words, 0, out, memo, 0, TOPIC_STACK_MEMO, false};
    c.n = topic_split(key, words, TOPIC_STACK_WORDS);
    amq_bytes *heap = NULL;
    if (c.n > TOPIC_STACK_WORDS) { /* longer than any AMQP shortstr key */
        heap = malloc(c.n * sizeof *heap);
        if (!heap) return;
        topic_split(key, heap, c.n);
        c.w = heap;
    }
    topic_match(&c, t->root, 0);
    free(heap);
    if (c.memo_heap) free(c.memo);
}

const exch_ops exch_topic_ops = {topic_create, topic_destroy, topic_add, topic_remove, topic_route};

/* ----------------------------------------------------------- pure match */
/* Wildcard matching over words with backtracking to the last '#' (like glob
 * matching with '*' = '#', '?' = '*'): O(words(pattern) * words(key)), no
 * allocation. A cursor is the offset of a word's first byte; len + 1 means
 * "no words left", which is where "" starts. */

typedef struct {
    amq_bytes s;
    size_t off;
} topic_cur;

static topic_cur topic_cur_start(amq_bytes s) {
    topic_cur c = {s, s.len ? 0 : 1};
    return c;
}

static bool topic_cur_end(topic_cur c) { return c.off > c.s.len; }

static amq_bytes topic_cur_word(topic_cur c) {
    const uint8_t *dot = memchr(c.s.p + c.off, '.', c.s.len - c.off);
    amq_bytes w = {c.s.p + c.off, dot ? (size_t)(dot - (c.s.p + c.off)) : c.s.len - c.off};
    return w;
}

static topic_cur topic_cur_next(topic_cur c) {
    c.off += topic_cur_word(c).len + 1;
    return c;
}

bool exch_topic_match(amq_bytes pattern, amq_bytes key) {
    topic_cur p = topic_cur_start(pattern), k = topic_cur_start(key);
    topic_cur star_p = p, star_k = k;
    bool have_star = false;
    while (!topic_cur_end(k)) {
        amq_bytes pw = {NULL, 0};
        if (!topic_cur_end(p)) pw = topic_cur_word(p);
        if (!topic_cur_end(p) && topic_is(pw, '#')) {
            have_star = true;
            p = topic_cur_next(p);
            star_p = p;
            star_k = k;
        } else if (!topic_cur_end(p) && (topic_is(pw, '*') || amq_bytes_eq(pw, topic_cur_word(k)))) {
            p = topic_cur_next(p);
            k = topic_cur_next(k);
        } else if (have_star) {
            star_k = topic_cur_next(star_k);
            k = star_k;
            p = star_p;
        } else {
            return false;
        }
    }
    while (!topic_cur_end(p) && topic_is(topic_cur_word(p), '#')) p = topic_cur_next(p);
    return topic_cur_end(p);
}
