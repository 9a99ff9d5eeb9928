/* queue_type.c — the table of queue types (queue_type.h): which x-queue-type
 * value names which implementation. */
#include "queue_type.h"

#include "amq/table.h"

static const queue_type *const types[] = {&queue_type_classic, &queue_type_quorum, &queue_type_stream};

const queue_type *queue_type_find(amq_bytes name) {
    if (!name.len) return &queue_type_classic;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (amq_bytes_eqs(name, types[i]->name)) return types[i];
    return NULL;
}

const queue_type *queue_type_of(amq_bytes args) {
    amq_field f;
    const queue_type *t = NULL;
    if (args.len && amq_table_get(args, "x-queue-type", &f) == 1 && (f.type == 'S' || f.type == 'x'))
        t = queue_type_find(f.v.str);
    return t ? t : &queue_type_classic;
}
