/* fuzz_config.c — libFuzzer target for the config file parser (broker/core/config.c).
 *
 * The input is a rabbitmq.conf-style file, handed to config_load as
 * `warren --config FILE` (FILE is a memfd). Beyond "no crash, no UB, no
 * leak", one property is checked: a file that loads prints
 * (config_print) as a file that loads again and prints the same, as the
 * README promises for --print-config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

static int in_fd = -1, out_fd = -1;
static char in_path[64], out_path[64];

static void put(int fd, const void *p, size_t n) {
    if (ftruncate(fd, 0) || pwrite(fd, p, n, 0) != (ssize_t)n) abort();
}

/* config_load of the file at path; then what config_print says (malloc'd). */
static int load(const char *path, char **printed, size_t *len) {
    char *argv[] = {"warren", "--config", (char *)path, NULL};
    int rc = config_load(3, argv);
    *printed = NULL;
    *len = 0;
    if (rc == 0) {
        FILE *m = open_memstream(printed, len);
        if (!m) abort();
        config_print(m);
        fclose(m);
    }
    return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* the environment is a config source: keep it out */
    unsetenv("RABBITMQ_DEFAULT_USER");
    unsetenv("RABBITMQ_DEFAULT_PASS");
    unsetenv("RABBITMQ_DEFAULT_VHOST");
    unsetenv("RABBITMQ_PRODUCT_NAME");
    unsetenv("RABBITMQ_PRODUCT_VERSION");
    in_fd = memfd_create("fuzz-config-in", 0);
    out_fd = memfd_create("fuzz-config-out", 0);
    if (in_fd < 0 || out_fd < 0) abort();
    snprintf(in_path, sizeof in_path, "/proc/self/fd/%d", in_fd);
    snprintf(out_path, sizeof out_path, "/proc/self/fd/%d", out_fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    put(in_fd, data, size);
    char *first, *second;
    size_t n1, n2;
    if (load(in_path, &first, &n1) != 0) return 0;
    put(out_fd, first, n1);
    if (load(out_path, &second, &n2) != 0) {
        fprintf(stderr, "fuzz_config: the printed configuration does not load:\n%.*s\n", (int)n1, first);
        abort();
    }
    if (n1 != n2 || memcmp(first, second, n1)) {
        fprintf(stderr, "fuzz_config: printed configuration differs after a reload:\n%.*s\n---\n%.*s\n", (int)n1,
                first, (int)n2, second);
        abort();
    }
    free(first);
    free(second);
    return 0;
}
