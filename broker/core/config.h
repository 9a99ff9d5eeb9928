/* config.h — the effective configuration: defaults, then the environment
 * (RABBITMQ_DEFAULT_USER/PASS/VHOST, RABBITMQ_PRODUCT_NAME/VERSION), then --config FILE (rabbitmq.conf
 * syntax), then flags. Filled once by main before any thread starts; read-only
 * afterwards. */
#ifndef WARREN_CONFIG_H
#define WARREN_CONFIG_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define WARREN_VERSION "0.1.0"

typedef struct {
    int port;
    char bind[128]; /* "" = all interfaces, IPv4 and IPv6 */
    char data_dir[512];
    int threads;
    uint32_t frame_max;
    uint16_t channel_max;
    uint16_t heartbeat;
    uint32_t handshake_timeout_ms;
    uint64_t max_message_size;
    uint64_t consumer_timeout_ms; /* consumer_timeout: 0 = off; an unacked delivery older closes its channel */
    uint32_t segment_size;        /* durable log segment file size */
    bool log_verify_on_start;     /* log.verify_on_start: read every segment whole at start, not its index */
    int64_t memory_limit;         /* bytes of message memory before publishers are blocked */
    int64_t disk_free_limit;      /* publishers are blocked while the data dir's filesystem has less free */
    uint32_t connection_max;      /* 0 = infinity; at the limit new connections wait in the backlog */
    char default_user[256];
    char default_pass[256];
    char default_vhost[256];
    char loopback_users[1024]; /* users allowed from loopback only, comma-separated ("guest") */
    char cluster_name[300];
    /* product.name / product.version: what the broker announces (connection.start,
     * start-up log, warrenctl status, definitions export); "Warren", WARREN_VERSION. */
    char product_name[256], product_version[256];
    char load_definitions[512]; /* definitions JSON imported at boot ("" = none) */
    int log_level;
    /* TLS (amqps) listener: listeners.ssl.default, ssl_options.*, ssl_cert_login_from. */
    int tls_port;       /* 0 = no TLS listener */
    char tls_bind[128]; /* "" = all interfaces */
    char ssl_cacertfile[512], ssl_certfile[512], ssl_keyfile[512];
    bool ssl_verify_peer; /* ssl_options.verify = verify_peer (default verify_none) */
    bool ssl_fail_if_no_peer_cert;
    int ssl_depth;          /* ssl_options.depth; -1 = OpenSSL's default */
    unsigned ssl_versions;  /* bit 2 = TLS 1.2, bit 3 = TLS 1.3; 0 = both */
    bool ssl_cert_login_cn; /* ssl_cert_login_from = common_name (default distinguished_name) */
    uint32_t ssl_handshake_timeout_ms;
    /* The management HTTP API (mgmt.h): management.enabled (Warren's own),
     * management.tcp.port / management.tcp.ip (RabbitMQ's). A port left at its
     * default that is in use only warns; one set explicitly must bind. */
    bool mgmt_enabled;
    int mgmt_port;
    bool mgmt_port_set;
    char mgmt_ip[128]; /* "" = all interfaces */
    /* Prometheus (admin/prom.c): prometheus.tcp.port / .ip, prometheus.enabled (Warren's own). */
    bool prom_enabled;
    int prom_port;
    bool prom_port_explicit; /* set in the config file: failing to bind it is fatal */
    char prom_ip[128];       /* "" = all interfaces */
} warren_config;

extern warren_config config;

/* Parse argv into config. Returns 0 to run, 1 when --help or --print-config
 * was printed (exit 0), -1 after printing one clear error line (exit non-zero). */
int config_load(int argc, char **argv);
/* The effective configuration in rabbitmq.conf syntax, secrets masked. */
void config_print(FILE *f);
/* Is name in loopback_users? */
bool config_is_loopback_user(const char *name);
#endif
