/* sendsel.c — sender-selected distribution: the CC and BCC headers' routing
 * keys, checked as RabbitMQ does, and BCC stripped before storing. */
#include "sendsel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amq/methods.h"
#include "amq/table.h"
#include "message.h"
#include "qfeat.h"
#include "util.h"

void ss_init(ss_keys *k, amq_bytes rk) {
    k->v = k->small;
    k->cap = sizeof k->small / sizeof k->small[0];
    k->v[0] = rk;
    k->n = 1;
}

void ss_free(ss_keys *k) {
    if (k->v != k->small) free(k->v);
    k->v = k->small;
    k->n = 0;
}

static void add(ss_keys *k, amq_bytes key) {
    if (k->n == k->cap) {
        size_t ncap = k->cap * 2;
        amq_bytes *v = xmalloc(ncap * sizeof *v);
        memcpy(v, k->v, k->n * sizeof *v);
        if (k->v != k->small) free(k->v);
        k->v = v;
        k->cap = ncap;
    }
    k->v[k->n++] = key;
}

int ss_collect(amq_bytes headers, ss_keys *k, bool *bcc, char *err, size_t errn) {
    static const char *const names[] = {"CC", "BCC"};
    *bcc = false;
    for (int i = 0; i < 2; i++) {
        amq_field f;
        if (amq_table_get(headers, names[i], &f) != 1) continue;
        if (f.type != 'A') {
            snprintf(err, errn, "PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,\"%s\",%s}",
                     names[i], qfeat_type_name(f.type));
            return 406;
        }
        if (i == 1) *bcc = true;
        amq_rd r = {f.v.str.p, f.v.str.len, 0};
        amq_field e;
        while (amq_array_next(&r, &e) == 1)
            if (e.type == 'S') add(k, e.v.str);
    }
    return 0;
}

void ss_strip_bcc(amq_bytes headers, amq_wr *w) {
    amq_rd r = {headers.p, headers.len, 0};
    amq_bytes key;
    amq_field f;
    while (amq_table_next(&r, &key, &f) == 1) {
        if (amq_bytes_eqs(key, "BCC")) continue;
        amq_put_shortstr(w, key);
        amq_put_field(w, &f);
    }
}

msg *ss_rewrite_props(msg *m, const amq_basic_props *p, bool strip_bcc) {
    amq_basic_props q = *p;
    amq_wr w, hw;
    amq_wr_init(&w);
    amq_wr_init(&hw);
    if (strip_bcc) { /* BCC never reaches a consumer */
        ss_strip_bcc(p->headers, &hw);
        q.headers = (amq_bytes){hw.data, hw.len};
    }
    amq_basic_props_encode(&w, &q);
    msg *r = msg_with_props(m, (amq_bytes){w.data, w.len});
    amq_wr_destroy(&w);
    amq_wr_destroy(&hw);
    return r;
}
