/* fuzz_definitions.c — libFuzzer target for the definitions importer: the
 * JSON -> model path of warrenctl import_definitions and load_definitions,
 * in-process, without sockets or a data dir (the store is not opened, so
 * nothing is written). Each input is imported into a fresh model with vhost
 * "/"; what was accepted is then exported, and that export imported into
 * another fresh model must export the same document again (what Warren
 * writes, it reads back unchanged), up to the order of each list (bindings
 * come out in the routing table's order, which depends on its history). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "definitions.h"
#include "qsched.h"
#include "util.h"
#include "vhost.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* An export with every list sorted, as one text (caller frees). */
static char *canonical(const char *text) {
    json_t *root = json_loads(text, 0, NULL);
    if (!root) abort(); /* Warren's own export must parse */
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!json_is_array(v)) continue;
        size_t n = json_array_size(v);
        char **items = calloc(n ? n : 1, sizeof *items);
        for (size_t i = 0; i < n; i++) items[i] = json_dumps(json_array_get(v, i), JSON_COMPACT | JSON_SORT_KEYS);
        qsort(items, n, sizeof *items, cmp_str);
        json_array_clear(v);
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(v, json_string(items[i]));
            free(items[i]);
        }
        free(items);
    }
    char *out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    return out;
}

static void fresh(void) {
    vhosts_destroy();
    access_destroy();
    access_init();
    vhosts_init();
    vhost_add("/", NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    log_level = getenv("FUZZ_LOG") ? LOG_DEBUG : -1; /* the report lines would flood the output */
    qsched_hold(true); /* no timer thread fires on a queue (x-expires, TTLs) of a model about to go away */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char report[4096];
    fresh();
    int rc = defs_import((const char *)data, size, report, sizeof report);
    if (rc >= 0) {
        char *first = defs_export();
        if (!first) abort(); /* an accepted model that cannot be exported */
        fresh();
        if (defs_import(first, strlen(first), report, sizeof report) < 0) {
            fprintf(stderr, "the export was not a definitions document: %s\n%s\n", report, first);
            abort();
        }
        char *second = defs_export();
        char *c1 = canonical(first), *c2 = second ? canonical(second) : NULL;
        if (!c2 || strcmp(c1, c2)) {
            fprintf(stderr,
                    "export -> import -> export changed the document:\n--- first\n%s\n--- second\n%s\n--- report\n%s\n",
                    first, second ? second : "(none)", report);
            abort();
        }
        free(first);
        free(second);
        free(c1);
        free(c2);
    }
    return 0;
}
