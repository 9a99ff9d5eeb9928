/* sendsel.h — sender-selected distribution: the CC and BCC headers of a
 * published message add routing keys (RabbitMQ's rules: arrays of longstr,
 * other elements ignored, any other header type refused with 406); BCC is
 * removed from the message before it is stored or delivered. */
#ifndef WARREN_SENDSEL_H
#define WARREN_SENDSEL_H
#include <stdbool.h>
#include <stddef.h>

#include "amq/buf.h"
#include "amq/methods.h"
#include "message.h"

typedef struct ss_keys {
    amq_bytes *v; /* v[0] is the message's routing key */
    size_t n, cap;
    amq_bytes small[8];
} ss_keys;

void ss_init(ss_keys *k, amq_bytes rk);
void ss_free(ss_keys *k);
/* Add the CC and BCC keys of headers (pointers into headers). 0, or 406 with
 * RabbitMQ's text in err. *bcc: a BCC header is present. */
int ss_collect(amq_bytes headers, ss_keys *k, bool *bcc, char *err, size_t errn);
/* headers without its BCC entry, written into w (a field table body). */
void ss_strip_bcc(amq_bytes headers, amq_wr *w);
/* m with the properties p (its BCC header removed from p.headers when
 * strip_bcc): a new message sharing m's body, or NULL when out of memory.
 * Used by every publish path that must change a message's properties. */
msg *ss_rewrite_props(msg *m, const amq_basic_props *p, bool strip_bcc);
#endif
