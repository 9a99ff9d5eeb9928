/* definitions.h — RabbitMQ's definitions JSON (rabbitmqctl export_definitions
 * / import_definitions, load_definitions at boot): users (with their password
 * hashes), vhosts, permissions, policies and operator policies (policy.h),
 * exchanges, queues and bindings. What Warren does not support (other
 * parameters, global parameters, topic permissions, unknown exchange types)
 * is reported by name, not dropped
 * silently. JSON through Debian's libjansson. Any thread (control socket or
 * main); takes the access and vhost locks as the operations it performs do. */
#ifndef WARREN_DEFINITIONS_H
#define WARREN_DEFINITIONS_H
#include <stddef.h>
#include <stdint.h>

#include "amq/buf.h"

/* Import a JSON text. Returns 0 if everything was applied, 1 if something
 * was skipped (each skip logged and listed in report), -1 if the text is not
 * a definitions document (reason in report). report may be NULL. */
int defs_import(const char *json, size_t len, char *report, size_t cap);
int defs_import_file(const char *path, char *report, size_t cap);
/* An AMQP field table as a new JSON object (for listings; {} when empty). */
struct json_t;
struct json_t *defs_table_json(const uint8_t *p, size_t len);
/* A JSON object as an AMQP field table (strings, integers, floats, booleans,
 * lists, objects; null as void): the table's body in w (initialised here;
 * the caller destroys it), returned as a slice, empty for {} or a non-object.
 * *bad: the first key (at any depth) over 255 bytes, else NULL. */
amq_bytes defs_json_table(struct json_t *obj, amq_wr *w, const char **bad);
/* The current definitions as a malloc'd JSON text (caller frees). */
char *defs_export(void);
#endif
