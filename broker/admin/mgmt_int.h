/* mgmt_int.h — what the management plane's own files share beyond mgmt.h:
 * user tags, and the list engine that filters, sorts and pages rows kept as
 * small C structs, building JSON only for the rows it returns. */
#ifndef WARREN_MGMT_INT_H
#define WARREN_MGMT_INT_H
#include "mgmt.h"

/* MGMT_TAG_* bits of a comma-separated tag list, implications applied. */
unsigned mgmt_tags_of(const char *tags);
/* user's tags (comma-separated) into out; false if there is no such user. */
bool mgmt_user_tags(const char *user, char *out, size_t cap);
/* Is the HTTP listener up? */
bool mgmt_running(void);
/* Start-up time for the nodes' uptime (mgmt_start calls it). */
void mgmt_read_init(void);
/* The thread that samples the overview's totals once a second. */
void mgmt_sampler_start(void);
void mgmt_sampler_stop(void);
/* A binding's properties_key as RabbitMQ forms it ("a.%23"; "~DIGEST" added
 * when args is a non-empty object): what /api/bindings/V/e/X/q/Q/KEY takes. */
void mgmt_props_key(const char *rk, size_t rklen, json_t *args, char *out, size_t cap);

/* A kind of row for mgmt_reply_rows. */
typedef struct mgmt_rowtype {
    const char *(*name)(const void *row); /* what ?name= filters on */
    /* The value of a sort key without building JSON: 1 number (*num), 2
     * string (*str), -1 missing; 0 = not known here (the row's JSON is built
     * and the dotted key looked up in it). */
    int (*sortval)(const void *row, const char *key, double *num, const char **str);
    json_t *(*json)(const void *row); /* the row's full object (new reference) */
    const char *const *dflt_sort;     /* keys the list is sorted by without ?sort=, NULL-terminated, or NULL */
    /* Called with the rows about to be returned, before their JSON is built
     * (optional): a kind whose rows are cheap until shown gets them ready. */
    void (*prepare)(const void *const *rows, size_t n);
} mgmt_rowtype;

/* mgmt_reply_list over n rows of type t: filter (name, use_regex), sort
 * (sort, sort_reverse, else t->dflt_sort), page (page, page_size: then the
 * paged object), and columns; JSON is built for the returned rows only
 * (and for all filtered rows when a sort key is not known to t->sortval). */
void mgmt_reply_rows(const mgmt_req *rq, mgmt_resp *rs, const void *const *rows, size_t n, const mgmt_rowtype *t);
/* A dotted key ("message_stats.publish") in an object, or NULL. */
json_t *mgmt_json_path(json_t *o, const char *key);
#endif
