/* main.c — start-up, listeners, the accept loop and orderly shutdown.
 * The main thread only accepts and hands sockets to workers round-robin;
 * SIGTERM/SIGINT (through a signalfd) close the listeners and tell every
 * worker to close its connections with 320 CONNECTION_FORCED. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "config.h"
#include "ctl_server.h"
#include "definitions.h"
#include "delayed.h"
#include "diskmon.h"
#include "mgmt.h"
#include "mstats.h"
#include "prom.h"
#include "qsched.h"
#include "store.h"
#include "transport.h"
#include "util.h"
#include "vhost.h"
#include "wconns.h"
#include "worker.h"

#define MAX_LISTENERS 8

static int listeners[MAX_LISTENERS];
static bool listener_tls[MAX_LISTENERS]; /* accepted sockets speak TLS */
static int nlisteners;

static int listen_on(const struct sockaddr *sa, socklen_t len, int family) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, sa, len)) { /* listen() comes later, in start_listening() */
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Bound early, so a port in use is reported before recovery runs; listening
 * only once the store is recovered and the control socket is up, so a client
 * (or a health check) that can connect finds the broker whole. */
static int start_listening(void) {
    for (int i = 0; i < nlisteners; i++)
        if (listen(listeners[i], 4096)) {
            fprintf(stderr, "warren: cannot listen on %s port: %s\n", listener_tls[i] ? "the TLS" : "the AMQP",
                    strerror(errno));
            return -1;
        }
    return 0;
}

/* Listen on bind:port_num ("" = every interface); tls marks the listeners. */
static int open_listeners(const char *bind_addr, int port_num, bool tls) {
    char port[16];
    snprintf(port, sizeof port, "%d", port_num);
    int first = nlisteners;
    const char *what = tls ? "TLS port" : "port";
    if (!bind_addr[0]) {
        /* One dual-stack socket serves IPv4 and IPv6 on every interface. */
        struct sockaddr_in6 a6 = {
            .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port_num), .sin6_addr = in6addr_any};
        int fd = listen_on((struct sockaddr *)&a6, sizeof a6, AF_INET6);
        if (fd < 0 && errno == EADDRINUSE) goto in_use;
        if (fd < 0) { /* no IPv6 on this host: IPv4 only */
            struct sockaddr_in a4 = {
                .sin_family = AF_INET, .sin_port = htons((uint16_t)port_num), .sin_addr.s_addr = htonl(INADDR_ANY)};
            fd = listen_on((struct sockaddr *)&a4, sizeof a4, AF_INET);
            if (fd < 0) goto fail;
        }
        listener_tls[nlisteners] = tls;
        listeners[nlisteners++] = fd;
        return 0;
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(bind_addr, port, &hints, &res);
    if (rc) {
        fprintf(stderr, "warren: cannot bind to '%s': %s\n", bind_addr, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai && nlisteners < MAX_LISTENERS; ai = ai->ai_next) {
        int fd = listen_on(ai->ai_addr, ai->ai_addrlen, ai->ai_family);
        if (fd < 0) {
            int e = errno;
            freeaddrinfo(res);
            errno = e;
            if (e == EADDRINUSE) goto in_use;
            goto fail;
        }
        listener_tls[nlisteners] = tls;
        listeners[nlisteners++] = fd;
    }
    freeaddrinfo(res);
    return 0;
in_use:
    fprintf(stderr, "warren: %s %d is already in use (%s)\n", what, port_num,
            bind_addr[0] ? bind_addr : "all interfaces");
    goto close_new;
fail:
    fprintf(stderr, "warren: cannot listen on %s %s %d: %s\n", bind_addr[0] ? bind_addr : "all interfaces", what,
            port_num, strerror(errno));
close_new:
    while (nlisteners > first) close(listeners[--nlisteners]);
    return -1;
}

static int check_data_dir(void) {
    if (mkdir(config.data_dir, 0750) && errno != EEXIST) {
        fprintf(stderr, "warren: cannot create data dir %s: %s\n", config.data_dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(config.data_dir, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "warren: data dir %s is not a directory\n", config.data_dir);
        return -1;
    }
    char probe[600];
    snprintf(probe, sizeof probe, "%s/.warren-probe", config.data_dir);
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        fprintf(stderr, "warren: data dir %s is not writable: %s\n", config.data_dir, strerror(errno));
        return -1;
    }
    close(fd);
    unlink(probe);
    return 0;
}

/* First boot: the default vhost, and the default user with every permission
 * on it and the administrator tag, as RabbitMQ creates them. */
static void seed_defaults(void) {
    char err[300];
    if (config.load_definitions[0]) return; /* RabbitMQ: definitions at boot replace the defaults */
    vhost_add(config.default_vhost, NULL);
    if (access_user_add(config.default_user, config.default_pass, "administrator", err, sizeof err) ||
        access_set_permissions(config.default_user, config.default_vhost, ".*", ".*", ".*", err, sizeof err))
        log_err("cannot create the default user: %s", err);
    else
        log_info("first boot: created vhost '%s' and user '%s' (administrator, full permissions there)",
                 config.default_vhost, config.default_user);
}

static void durable_advanced(uint64_t pos) {
    (void)pos;
    wconns_log_progress();
}

static void durable_failed(uint64_t from, uint64_t to) {
    (void)from, (void)to;
    wconns_log_progress();
}

int main(int argc, char **argv) {
    int rc = config_load(argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if (check_data_dir()) return 1;
    mem_set_limit(config.memory_limit);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    pthread_sigmask(SIG_BLOCK, &mask, NULL); /* workers inherit the mask */
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);

    if (config.tls_port && tls_init()) return 1;
    if (open_listeners(config.bind, config.port, false)) return 1;
    if (config.tls_port && open_listeners(config.tls_bind, config.tls_port, true)) return 1;
    stat_set_init(&stats_global); /* the node's message counters (stats.h) */
    vhosts_init();
    store_set_listener(durable_advanced, durable_failed);
    store_set_first_boot(seed_defaults);
    if (store_open(config.data_dir)) return 1;
    if (config.load_definitions[0]) {
        char report[4096];
        int drc = defs_import_file(config.load_definitions, report, sizeof report);
        if (drc < 0) {
            log_err("load_definitions: %s", report);
            return 1;
        }
        log_info("imported definitions from %s%s", config.load_definitions,
                 drc ? " (some items skipped: see the warnings above)" : "");
    }
    diskmon_start(config.data_dir, config.disk_free_limit);
    worker **ws = workers_create(config.threads);
    wconns_install(); /* the loop's hooks: what a worker does with connections and consumer mail */
    for (int i = 0; i < config.threads; i++) worker_start(ws[i]);
    ctl_start(config.data_dir);
    mstats_start(); /* the sampler: rates and the overview's history (mstats.h) */
    if (prom_start()) return 1;
    if (mgmt_start()) return 1; /* an explicitly set management.tcp.port that cannot bind */
    if (start_listening()) return 1;
    log_info("%s %s listening on %s port %d with %d worker thread%s, data in %s", config.product_name,
             config.product_version, config.bind[0] ? config.bind : "all interfaces (IPv4 and IPv6)", config.port,
             config.threads, config.threads == 1 ? "" : "s", config.data_dir);
    if (strcmp(config.product_name, "Warren") || strcmp(config.product_version, WARREN_VERSION))
        log_info("based on Warren %s (product.name / product.version)", WARREN_VERSION); /* as RabbitMQ's "Based on" */
    if (config.tls_port)
        log_info("TLS (amqps) listener on %s port %d, client certificates %s",
                 config.tls_bind[0] ? config.tls_bind : "all interfaces", config.tls_port,
                 !config.ssl_verify_peer           ? "not requested (verify_none)"
                 : config.ssl_fail_if_no_peer_cert ? "required (verify_peer, fail_if_no_peer_cert)"
                                                   : "verified when presented (verify_peer)");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)MAX_LISTENERS << 32 | (uint32_t)sfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
    for (int i = 0; i < nlisteners; i++) {
        ev.data.u64 = (uint64_t)i << 32 | (uint32_t)listeners[i];
        epoll_ctl(ep, EPOLL_CTL_ADD, listeners[i], &ev);
    }
    int next = 0;
    bool stop = false, at_max = false;
    while (!stop) {
        struct epoll_event evs[16];
        int n = epoll_wait(ep, evs, 16, at_max ? 100 : -1);
        /* connection_max, as RabbitMQ's listener does it: at the limit nothing
         * is accepted; new clients wait in the backlog until one closes. */
        if (at_max && (int)config.connection_max > workers_live_conns()) {
            at_max = false;
            for (int i = 0; i < nlisteners; i++) {
                ev.data.u64 = (uint64_t)i << 32 | (uint32_t)listeners[i];
                epoll_ctl(ep, EPOLL_CTL_ADD, listeners[i], &ev);
            }
            log_info("connections under connection_max (%u) again: accepting", config.connection_max);
        }
        for (int i = 0; i < n; i++) {
            int li = (int)(evs[i].data.u64 >> 32);
            if (li == MAX_LISTENERS) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof si) == sizeof si)
                    log_info("received %s: shutting down", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                stop = true;
                continue;
            }
            for (;;) {
                if (at_max) break;
                if (config.connection_max && workers_live_conns() >= (int)config.connection_max) {
                    at_max = true;
                    for (int k = 0; k < nlisteners; k++) epoll_ctl(ep, EPOLL_CTL_DEL, listeners[k], NULL);
                    log_warn("connection_max (%u) reached: new connections wait until one closes",
                             config.connection_max);
                    break;
                }
                int fd = accept4(listeners[li], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                    if (errno == EMFILE || errno == ENFILE) log_warn("accept: %s", strerror(errno));
                    break;
                }
                workers_conn_accepted();
                mail m = {.kind = MAIL_CONN, .fd = fd, .tls = listener_tls[li]};
                worker_post(ws[next], &m);
                next = (next + 1) % config.threads;
            }
        }
    }
    for (int i = 0; i < nlisteners; i++) close(listeners[i]);
    mgmt_stop();   /* joins the HTTP threads; they may be waiting on the workers */
    prom_stop();   /* its scrapes walk the vhosts */
    mstats_stop(); /* it samples connections on the workers */
    ctl_stop();    /* before the workers go: it may be waiting on them */
    for (int i = 0; i < config.threads; i++) {
        mail m = {.kind = MAIL_SHUTDOWN};
        worker_post(ws[i], &m);
    }
    for (int i = 0; i < config.threads; i++) worker_join(ws[i]);
    diskmon_stop();
    qsched_stop();  /* pending dead-letters and timers, before the log closes */
    delayed_stop(); /* messages held by delayed exchanges (the logged ones come back at start) */
    store_close();  /* final sync and definitions snapshot, before the vhosts go */
    vhosts_destroy();
    tls_shutdown();
    access_destroy();
    close(ep);
    close(sfd);
    log_info("Warren stopped");
    return 0;
}
