/* names.h — AMQP's shortstr limit (255 bytes) on every name and key the model
 * keeps: exchange, queue, vhost and user names, binding routing keys, argument
 * keys. AMQP clients cannot send longer ones; definitions (boot and warrenctl),
 * the control socket and any later interface can, and the model stores them in
 * 255-byte fields and str8 log records. Every entry point checks with
 * name_check, and the model's own declare/bind functions check again as a last
 * line of defence. Pure functions, any thread. */
#ifndef WARREN_NAMES_H
#define WARREN_NAMES_H
#include <stddef.h>

#include "amq/buf.h"

#define NAME_MAX_BYTES 255

/* 0 if name fits; else -1 and err gets
 * "<what> '<name, shortened>'[ <where>] is longer than 255 bytes (<n> bytes)",
 * e.g. what "exchange name", where "in vhost '/'" (NULL or "" = none). */
int name_check(amq_bytes name, const char *what, const char *where, char *err, size_t cap);
/* The same with where = "in vhost '<vhost>'" (vhost NULL = none). */
int name_check_in(amq_bytes name, const char *what, const char *vhost, char *err, size_t cap);

/* name for a message: whole up to 64 bytes, else its first 32 bytes (cut at a
 * UTF-8 character boundary) and "…". Returns buf; cap >= NAME_SHOWN. */
#define NAME_SHOWN 40
const char *name_shown(amq_bytes name, char *buf, size_t cap);
#endif
