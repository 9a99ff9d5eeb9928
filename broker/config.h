/* config.h — the effective configuration: defaults, then the environment
 * (RABBITMQ_DEFAULT_USER/PASS/VHOST), then --config FILE (rabbitmq.conf
 * syntax), then flags. Filled once by main before any thread starts; read-only
 * afterwards. */
#ifndef WARREN_CONFIG_H
#define WARREN_CONFIG_H
#include <stdbool.h>
#include <stdint.h>

#define WARREN_VERSION "0.1.0"

typedef struct {
    int port;
    char bind[128];       /* "" = all interfaces, IPv4 and IPv6 */
    char data_dir[512];
    int threads;
    uint32_t frame_max;
    uint16_t channel_max;
    uint16_t heartbeat;
    uint32_t handshake_timeout_ms;
    uint64_t max_message_size;
    uint32_t segment_size; /* durable log segment file size */
    char default_user[256];
    char default_pass[256];
    char default_vhost[256];
    char loopback_users[1024]; /* users allowed from loopback only, comma-separated ("guest") */
    char cluster_name[300];
    char load_definitions[512]; /* definitions JSON imported at boot ("" = none) */
    int log_level;
} warren_config;

extern warren_config config;

/* Parse argv into config. Returns 0 to run, 1 when --help was printed
 * (exit 0), -1 after printing one clear error line (exit non-zero). */
int config_load(int argc, char **argv);
/* Is name in loopback_users? */
bool config_is_loopback_user(const char *name);
#endif
