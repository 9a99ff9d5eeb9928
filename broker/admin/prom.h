/* prom.h — the Prometheus endpoint (RabbitMQ 3.10's rabbitmq_prometheus):
 * prometheus.tcp.port (default 15692), prometheus.tcp.ip, prometheus.enabled.
 * Its own listener and thread (libmicrohttpd), never an AMQP worker:
 * /metrics (aggregated) and /metrics/per-object (per-queue labels vhost,
 * queue), RabbitMQ's metric names, types and HELP lines. */
#ifndef WARREN_PROM_H
#define WARREN_PROM_H
#include <stdbool.h>
#include <stddef.h>

/* Start from config: 0 (also when disabled, or the default port was in use:
 * logged, no listener), -1 when an explicitly configured port can't be bound
 * (logged, naming the key). Stop joins its thread. */
int prom_start(void);
void prom_stop(void);
/* The text of a scrape (malloc'd, *len set): tests and the server. */
char *prom_render(bool per_object, size_t *len);
#endif
