/* ctl_server.h — the local control socket warrenctl talks to.
 *
 * A Unix stream socket (<data-dir>/warren.sock, mode 0600) served by its own
 * thread, so a slow or stuck control client never touches AMQP traffic. Only
 * a peer with the broker's effective uid (SO_PEERCRED) is served; others get
 * a refusal and are logged. Protocol: one JSON request line per connection
 * ({"command": "...", "args": [...], "vhost": "/"}), one JSON reply line
 * ({"ok": true, ...} or {"ok": false, "error": "..."}), then close.
 *
 * Commands that change state call the same functions the AMQP and
 * definitions paths use (access_*, vhost_*, defs_*), so they are durable.
 * Listings of connections run on each worker through worker_call. */
#ifndef WARREN_CTL_SERVER_H
#define WARREN_CTL_SERVER_H

/* Bind the socket and start the thread (after the workers started). 0, or
 * -1 with the reason logged (the broker runs on without a control socket). */
int ctl_start(const char *data_dir);
/* Stop the thread and remove the socket; call before workers shut down. */
void ctl_stop(void);
#endif
