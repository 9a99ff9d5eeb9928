/* fill.h — fill any method struct (via the generated descriptors) with
 * pattern-dependent non-default values, and compare two structs. */
#ifndef AMQ_TEST_FILL_H
#define AMQ_TEST_FILL_H
#include "amq/methods.h"

/* Patterns: 0 = typical values, all bits set; 1 = zero/empty values, no
 * bits; 2 = maximal lengths (255-byte shortstr, long longstr), alternating
 * bits; 3 + k = only the k-th bit set. */
#define FILL_NPATTERNS 11
/* A table body used for table arguments (valid, several types). */
amq_bytes fill_table(void);
void fill_args(const amq_method_arg *args, size_t n, void *s, int pattern);
/* Compare two structs field by field; returns the name of the first field
 * that differs or NULL. */
const char *fill_diff(const amq_method_arg *args, size_t n, const void *a, const void *b);
#endif
