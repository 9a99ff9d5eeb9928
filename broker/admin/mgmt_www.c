/* mgmt_www.c — the web UI's static files, built into the binary: the table
 * mgmt_www_files[] is generated from broker/admin/www/ at build time
 * (www_embed.cmake), so the UI needs no files beside the binary and no
 * network (no CDN). */
#include <string.h>

#include "mgmt.h"

extern const mgmt_file mgmt_www_files[];

const mgmt_file *mgmt_www_find(const char *path) {
    if (!path || path[0] != '/') return NULL;
    size_t n = strcspn(path, "?#"); /* a query string or fragment is not part of the file's name */
    if (n == 1) path = "/index.html", n = strlen(path);
    for (const mgmt_file *f = mgmt_www_files; f->path; f++)
        if (strlen(f->path) == n && memcmp(f->path, path, n) == 0) return f;
    return NULL;
}
