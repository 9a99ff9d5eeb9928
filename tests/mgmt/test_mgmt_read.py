#!/usr/bin/python3
"""The management HTTP API's server and read side, end to end (urllib + pika):
auth and tags, 404/405, percent-decoding, every GET endpoint's status and
fields, the list query parameters (columns, sort, name/use_regex, paging and
its 400s), and what management / monitoring users may see.

  test_mgmt_read.py WARREN WARRENCTL              a Warren on free ports
  test_mgmt_read.py --reference AMQP_PORT MGMT_PORT   the same checks against a running
      reference RabbitMQ (REF_MGMT_PORT=MGMT_PORT ../shared/tools/reference-rabbitmq AMQP_PORT);
      users and vhosts are made with rabbitmqctl -n refAMQP_PORT@localhost.
Prints one line per check and 'N passed, N failed'."""
import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "durability"))
from broker import Broker, free_port  # noqa: E402

PASSED, FAILED = [], []
PFX = "mt%d-" % (os.getpid() % 100000)  # object names of this run (the reference keeps its state)


def check(cond, what):
    (PASSED if cond else FAILED).append(what)
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    return cond


class Api:
    def __init__(self, port, host="127.0.0.1"):
        self.port, self.host = port, host

    def req(self, path, user="guest", pw="guest", method="GET", body=None, headers=None, auth=True):
        h = dict(headers or {})
        if auth:
            h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
        data = body.encode() if isinstance(body, str) else body
        if data is not None:
            h.setdefault("content-type", "application/json")
        r = urllib.request.Request("http://%s:%d%s" % (self.host, self.port, path), data=data, method=method,
                                   headers=h)
        try:
            with urllib.request.urlopen(r, timeout=30) as f:
                raw = f.read()
                return f.status, dict((k.lower(), v) for k, v in f.headers.items()), raw
        except urllib.error.HTTPError as e:
            return e.code, dict((k.lower(), v) for k, v in e.headers.items()), e.read()

    def get(self, path, user="guest", pw="guest"):
        st, _, raw = self.req("/api/" + path, user, pw)
        try:
            return st, json.loads(raw) if raw else None
        except ValueError:
            return st, raw


def q(s):
    return urllib.parse.quote(s, safe="")


def wait_for(fn, timeout=20.0):
    t0 = time.time()
    while True:
        v = fn()
        if v or time.time() - t0 > timeout:
            return v
        time.sleep(0.3)


def main():
    args = sys.argv[1:]
    broker = None
    if args and args[0] == "--reference":
        amqp, mport = int(args[1]), int(args[2])
        node = "ref%d@localhost" % amqp

        def admin(*a):
            cmd = list(a)
            vh = None
            if "-p" in cmd:
                i = cmd.index("-p")
                vh = cmd[i + 1]
                del cmd[i:i + 2]
            full = ["rabbitmqctl", "-q", "-n", node] + cmd[:1] + (["-p", vh] if vh else []) + cmd[1:]
            subprocess.run(full, check=True, stdout=subprocess.DEVNULL,
                           env=dict(os.environ, RABBITMQ_NODENAME=node))
        reference = True
    else:
        warren, ctl = args[0], args[1]
        mport = free_port()
        broker = Broker(warren, mgmt_port=mport)
        broker.start()
        amqp = broker.port

        def admin(*a):
            subprocess.run([ctl, "--data-dir", broker.data_dir] + list(a), check=True, stdout=subprocess.DEVNULL)
        reference = False
    api = Api(mport)
    try:
        run(api, amqp, admin, reference)
        if not reference:
            port_rules(warren, mport)
    finally:
        if broker:
            broker.stop()
            broker.cleanup()
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    sys.exit(1 if FAILED else 0)


def run(api, amqp, admin, reference):
    vh = PFX + "vh"
    mgr, mon, notag, pm = PFX + "mgr", PFX + "mon", PFX + "notag", PFX + "pm"
    admin("add_vhost", vh)
    for u in (mgr, mon, notag, pm):
        admin("add_user", u, "pw")
    admin("set_user_tags", mgr, "management")
    admin("set_user_tags", mon, "monitoring")
    admin("set_user_tags", pm, "policymaker")
    admin("set_permissions", "-p", vh, mgr, ".*", ".*", ".*")
    admin("set_permissions", "-p", vh, pm, ".*", ".*", ".*")

    x1, q1, q2, q3, qs = PFX + "x1", PFX + "q1", PFX + "q2", PFX + "q3", PFX + "a b/c"
    c1 = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", amqp, heartbeat=0,
                                                           client_properties={"connection_name": PFX + "c1"}))
    ch = c1.channel()
    ch.exchange_declare(x1, "topic", durable=True)
    ch.queue_declare(q1, durable=True, arguments={"x-max-length": 10})
    ch.queue_bind(q1, x1, "a.#")
    for i in range(2):
        ch.basic_publish("", q1, b"m%d" % i)
    ch.queue_declare(q2)
    ch.queue_declare(qs)
    ch.basic_qos(prefetch_count=5)
    ch.basic_consume(q2, lambda *a: None, consumer_tag="ctag1")
    c2 = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", amqp, vh, pika.PlainCredentials(mgr, "pw"), heartbeat=0))
    ch2 = c2.channel()
    ch2.queue_declare(q3)
    ch2.basic_consume(q3, lambda *a: None, consumer_tag="ctag3")

    try:  # our connection's port, to tell it from others on a shared reference broker
        my_port = c1._impl._transport._sock.getsockname()[1]
    except Exception:
        my_port = None

    # RabbitMQ's stats lag up to 5 s behind: wait until they show
    def stats_ready():
        st, cs = api.get("connections")
        st2, qq = api.get("queues/%2F/" + q(q1))
        mine = [c for c in (cs or []) if c.get("user") in ("guest", mgr)]
        ours = [c for c in (cs or []) if c.get("peer_port") == my_port and c.get("channels") == 1]
        return (st == 200 and len(mine) >= 2 and st2 == 200 and qq.get("messages") == 2 and
                (ours or my_port is None))
    check(wait_for(stats_ready, 30), "connections and queue counts show up")

    # ---- auth ----
    st, h, raw = api.req("/api/overview", auth=False)
    check(st == 401 and 'Basic realm="RabbitMQ Management"' in h.get("www-authenticate", "") and raw == b"",
          "no credentials: 401 with the Basic challenge, empty body")
    st, h, raw = api.req("/api/overview", "guest", "bad")
    check(st == 401 and json.loads(raw) == {"error": "not_authorized", "reason": "Login failed"} and
          "www-authenticate" in h, "bad password: 401 not_authorized Login failed")
    st, h, raw = api.req("/api/overview", "nobody-" + PFX, "x")
    check(st == 401 and json.loads(raw)["reason"] == "Login failed", "unknown user: 401 Login failed")
    st, _, raw = api.req("/api/overview", notag, "pw")
    check(st == 401 and json.loads(raw) == {"error": "not_authorised", "reason": "Not management user"},
          "user without a management tag: 401 Not management user")
    st, _, raw = api.req("/api/users", mgr, "pw")
    check(st == 401 and json.loads(raw) == {"error": "not_authorised", "reason": "Not administrator user"},
          "management user on /api/users: 401 Not administrator user")
    st, _, raw = api.req("/api/users", mon, "pw")
    check(st == 401 and json.loads(raw)["reason"] == "Not administrator user", "monitoring user on /api/users: 401")
    addr = non_loopback_address()
    if addr:
        st, _, raw = Api(api.port, addr).req("/api/whoami")
        check(st == 401 and json.loads(raw) == {"error": "not_authorised",
                                                "reason": "User can only log in via localhost"},
              "guest from a non-loopback address (%s): 401 User can only log in via localhost" % addr)
        st, _, _ = Api(api.port, addr).req("/api/whoami", mgr, "pw")
        check(st == 200, "another user from a non-loopback address: 200")
    st, d = api.get("whoami")
    check(st == 200 and d == {"name": "guest", "tags": ["administrator"]}, "whoami %r" % (d,))
    st, d = api.get("whoami", mgr, "pw")
    check(st == 200 and d["name"] == mgr and d["tags"] == ["management"], "whoami of a management user")

    # ---- 404 / 405 ----
    st, h, raw = api.req("/api/no-such-thing")
    check(st == 404 and json.loads(raw) == {"error": "Object Not Found", "reason": "Not Found"}, "unknown path: 404")
    st, h, raw = api.req("/api/no-such-thing", auth=False)
    check(st == 404, "unknown path without credentials: 404 (routing before auth)")
    st, h, raw = api.req("/api/overview", method="POST", body="{}")
    check(st == 405 and "GET" in h.get("allow", ""), "POST on /api/overview: 405 with Allow (%s)" % h.get("allow"))
    st, h, raw = api.req("/api/overview", method="DELETE")
    check(st == 405, "DELETE on /api/overview: 405")
    st, h, raw = api.req("/api/vhosts/" + q(vh + "x"), method="PUT", body="{bad json")
    if st != 405:  # the write routes are there (mgmt_write.c)
        check(st == 400 and json.loads(raw) == {"error": "bad_request", "reason": "not_json"}, "bad JSON body: 400")

    # ---- overview, nodes ----
    st, o = api.get("overview")
    check(st == 200 and all(k in o for k in ("management_version", "rabbitmq_version", "product_name",
                                              "product_version", "cluster_name", "node", "exchange_types",
                                              "listeners", "contexts", "object_totals", "queue_totals",
                                              "message_stats", "rates_mode")), "overview has RabbitMQ's fields")

    def totals_counted():  # sampled (Warren: every second; RabbitMQ: every 5 s)
        ot = api.get("overview")[1].get("object_totals", {})
        return ot if (all(isinstance(ot.get(k), int) for k in ("connections", "channels", "consumers", "exchanges",
                                                               "queues")) and ot["connections"] >= 2 and
                      ot["channels"] >= 2 and ot["consumers"] >= 2 and ot["queues"] >= 4) else None
    check(wait_for(totals_counted, 15), "object_totals count connections, channels, consumers, queues")

    def totals_ok():
        t = api.get("overview")[1].get("queue_totals", {})
        return t.get("messages", 0) >= 2 and t.get("messages_ready", 0) >= 2 and "messages_unacknowledged" in t
    check(wait_for(totals_ok, 15), "queue_totals count the ready messages")
    ls = o.get("listeners", [])
    check(any(x["protocol"] == "amqp" and x["port"] == amqp for x in ls) and
          any(x["protocol"] == "http" and x["port"] == api.port for x in ls), "listeners: amqp and http with ports")
    check(sorted(t["name"] for t in o["exchange_types"])[:4] == ["direct", "fanout", "headers", "topic"],
          "exchange_types")
    st, ns = api.get("nodes")
    n0 = ns[0] if st == 200 and ns else {}
    check(st == 200 and len(ns) == 1 and n0.get("name") == o["node"] and n0.get("running") is True and
          all(isinstance(n0.get(k), int) for k in ("mem_used", "mem_limit", "disk_free", "disk_free_limit",
                                                    "fd_used", "fd_total", "uptime", "sockets_used", "processors"))
          and n0.get("mem_alarm") is False and n0.get("disk_free_alarm") is False and n0.get("type") == "disc",
          "nodes: one running node with its resources")
    st, n1 = api.get("nodes/" + q(o["node"]))
    check(st == 200 and n1["name"] == o["node"], "nodes/NAME")
    st, _ = api.get("nodes/nosuch@nowhere")
    if reference:
        print("note: RabbitMQ 3.10 answers nodes/unknown with %d (Warren: 404)" % st)
    else:
        check(st == 404, "nodes/unknown: 404")

    # ---- connections, channels, consumers ----
    st, cs = api.get("connections")
    mine = [c for c in cs if c["user"] == "guest" and c["vhost"] == "/" and c["peer_port"] in (my_port, c["peer_port"]
                                                                                               if my_port is None
                                                                                               else my_port)]
    c = mine[0] if mine else {}
    name = c.get("name", "")
    check(st == 200 and name == "%s:%d -> %s:%d" % (c.get("peer_host"), c.get("peer_port"), c.get("host"),
                                                   c.get("port")) and c.get("port") == amqp,
          "connection name is PEERHOST:PEERPORT -> HOST:PORT (%s)" % name)
    check(c.get("protocol") == "AMQP 0-9-1" and c.get("state") == "running" and c.get("channels") == 1 and
          c.get("ssl") is False and c.get("type") == "network" and isinstance(c.get("connected_at"), int) and
          c.get("channel_max") and c.get("frame_max") and "timeout" in c, "connection fields %r" % c)
    cp = c.get("client_properties") or {}
    check(cp.get("product") == "Pika Python Client Library" and cp.get("connection_name") == PFX + "c1" and
          cp.get("capabilities", {}).get("basic.nack") is True and c.get("user_provided_name") == PFX + "c1",
          "connection client_properties and user_provided_name %r" % (cp,))
    st, c1d = api.get("connections/" + q(name))
    check(st == 200 and c1d["name"] == name and c1d.get("client_properties") == cp, "connections/NAME")
    check(api.get("connections/" + q("1.2.3.4:5 -> 6.7.8.9:10"))[0] == 404, "connections/unknown: 404")
    st, chs = api.get("connections/" + q(name) + "/channels")
    check(st == 200 and len(chs) == 1 and chs[0]["name"] == name + " (1)" and chs[0]["number"] == 1,
          "connections/NAME/channels")
    st, vcs = api.get("vhosts/%2F/connections")
    check(st == 200 and name in [x["name"] for x in vcs] and all(x["vhost"] == "/" for x in vcs),
          "vhosts/%2F/connections")
    st, chs = api.get("channels")
    mch = [x for x in chs if x["connection_details"]["name"] == name]
    h0 = mch[0] if mch else {}
    check(st == 200 and h0.get("prefetch_count") == 5 and h0.get("consumer_count") == 1 and
          h0.get("connection_details", {}).get("peer_port") == c.get("peer_port") and h0.get("user") == "guest" and
          h0.get("vhost") == "/" and h0.get("confirm") is False and h0.get("transactional") is False and
          "messages_unacknowledged" in h0 and "global_prefetch_count" in h0, "channels fields")
    st, one = api.get("channels/" + q(name + " (1)"))
    check(st == 200 and one["number"] == 1, "channels/NAME")
    st, vch = api.get("vhosts/" + q(vh) + "/channels")
    check(st == 200 and len(vch) == 1 and vch[0]["user"] == mgr, "vhosts/V/channels")
    st, cons = api.get("consumers")
    k = [x for x in cons if x["consumer_tag"] == "ctag1"]
    k0 = k[0] if k else {}
    check(st == 200 and k0.get("queue") == {"name": q2, "vhost": "/"} and k0.get("ack_required") is True and
          k0.get("channel_details", {}).get("connection_name") == name and
          k0.get("channel_details", {}).get("name") == name + " (1)" and k0.get("exclusive") is False and
          "prefetch_count" in k0 and "arguments" in k0, "consumers fields %r" % k0)
    st, cv = api.get("consumers/" + q(vh))
    check(st == 200 and [x["consumer_tag"] for x in cv] == ["ctag3"], "consumers/V")

    # ---- exchanges ----
    st, xs = api.get("exchanges/%2F")
    names = [x["name"] for x in xs]
    check(st == 200 and "" in names and x1 in names and "amq.topic" in names and names == sorted(names),
          "exchanges/%2F lists the default, amq.* and ours, sorted")
    st, x = api.get("exchanges/%2F/" + q(x1))
    check(st == 200 and x["type"] == "topic" and x["durable"] is True and x["auto_delete"] is False and
          x["internal"] is False and x["arguments"] == {} and x["vhost"] == "/" and "incoming" in x and
          "outgoing" in x, "exchanges/V/X fields")
    st, x = api.get("exchanges/%2F/amq.default")
    check(st == 200 and x["name"] == "" and x["type"] == "direct", "exchanges/%2F/amq.default")
    st, bs = api.get("exchanges/%2F/amq.default/bindings/source")
    check(st == 200 and bs == [], "exchanges/%%2F/amq.default/bindings/source: the implicit bindings are not listed %r"
          % (bs[:3] if isinstance(bs, list) else bs,))
    check(api.get("exchanges/%2F/" + q(PFX + "nosuch"))[0] == 404, "exchanges/V/unknown: 404")
    check(api.get("exchanges/" + q(PFX + "novhost"))[0] == 404, "exchanges/unknown-vhost: 404")
    st, bs = api.get("exchanges/%2F/" + q(x1) + "/bindings/source")
    check(st == 200 and bs == [{"source": x1, "vhost": "/", "destination": q1, "destination_type": "queue",
                                "routing_key": "a.#", "arguments": {}, "properties_key": "a.%23"}],
          "exchanges/V/X/bindings/source %r" % (bs,))
    st, bd = api.get("exchanges/%2F/" + q(x1) + "/bindings/destination")
    check(st == 200 and bd == [], "exchanges/V/X/bindings/destination")
    st, xa = api.get("exchanges")
    check(st == 200 and any(x["vhost"] == vh for x in xa), "exchanges (all vhosts)")

    # ---- queues ----
    st, qq = api.get("queues/%2F/" + q(q1))
    check(st == 200 and qq["messages"] == 2 and qq["messages_ready"] == 2 and qq["messages_unacknowledged"] == 0
          and qq["consumers"] == 0 and qq["durable"] is True and qq["arguments"] == {"x-max-length": 10} and
          qq["type"] == "classic" and qq["state"] == "running" and qq["vhost"] == "/" and qq["node"] == o["node"]
          and "consumer_details" in qq and qq["policy"] is None, "queues/V/Q fields")
    st, qq = api.get("queues/%2F/" + q(q2))
    check(st == 200 and qq["consumers"] == 1 and len(qq["consumer_details"]) == 1 and
          qq["consumer_details"][0]["consumer_tag"] == "ctag1", "queues/V/Q consumer_details")
    st, qq = api.get("queues/%2F/" + q(qs))
    check(st == 200 and qq["name"] == qs, "a queue named with a space and a slash, percent-encoded")
    check(api.get("queues/%2F/" + q(PFX + "nosuch"))[0] == 404, "queues/V/unknown: 404")
    check(api.get("queues/" + q(PFX + "novhost"))[0] == 404, "queues/unknown-vhost: 404")
    st, ql = api.get("queues/%2F")
    qn = [x["name"] for x in ql]
    check(st == 200 and q1 in qn and q2 in qn and qn == sorted(qn), "queues/%2F sorted by name")
    st, qa = api.get("queues")
    check(st == 200 and [(x["vhost"], x["name"]) for x in qa] == sorted((x["vhost"], x["name"]) for x in qa),
          "queues sorted by vhost then name")
    st, qb = api.get("queues/%2F/" + q(q1) + "/bindings")
    check(st == 200 and [(b["source"], b["routing_key"]) for b in qb] == [("", q1), (x1, "a.#")],
          "queues/V/Q/bindings: the default one, then ours")
    st, bl = api.get("bindings/%2F")
    check(st == 200 and any(b["source"] == x1 and b["destination"] == q1 for b in bl) and
          all(set(b) == {"source", "vhost", "destination", "destination_type", "routing_key", "arguments",
                         "properties_key"} for b in bl), "bindings/%2F fields")
    st, ba = api.get("bindings")
    check(st == 200 and len(ba) >= len(bl), "bindings (all vhosts)")

    # ---- list query parameters ----
    pref = q(PFX)
    st, d = api.get("queues/%2F?columns=name,messages")
    check(st == 200 and d and all(set(x) == {"name", "messages"} for x in d), "columns=name,messages")
    st, d = api.get("queues/%2F?sort=name&sort_reverse=true&columns=name")
    check(st == 200 and [x["name"] for x in d] == sorted([x["name"] for x in d], reverse=True), "sort_reverse")
    st, d = api.get("queues/%2F?sort=messages&columns=name,messages&page=1&name=" + pref)
    d = d.get("items", []) if isinstance(d, dict) else []
    check(st == 200 and [x["messages"] for x in d] == sorted(x["messages"] for x in d) and
          d[-1]["name"] == q1, "sort=messages")
    st, d = api.get("queues/%2F?columns=name&name=" + q(PFX + "q1"))
    check(st == 200 and len(d) > 1, "name is ignored without page (as RabbitMQ)")
    st, d = api.get("queues/%2F?columns=name&page=1&name=" + q(PFX.upper() + "Q1"))
    check(st == 200 and [x["name"] for x in d["items"]] == [q1], "name filter is a case-insensitive substring")
    st, d = api.get("queues/%2F?columns=name&page=1&use_regex=true&name=" + q("^" + PFX.upper() + "q[12]$"))
    check(st == 200 and sorted(x["name"] for x in d["items"]) == [q1, q2], "name with use_regex=true (caseless)")
    st, d = api.get("queues/%2F?page=1&page_size=2&columns=name&name=" + pref)
    check(st == 200 and set(d) == {"filtered_count", "item_count", "items", "page", "page_count", "page_size",
                                   "total_count"} and d["filtered_count"] == 3 and d["item_count"] == 2 and
          d["page"] == 1 and d["page_count"] == 2 and d["page_size"] == 2 and d["total_count"] >= 3 and
          len(d["items"]) == 2, "paged reply %r" % (d,))
    st, d = api.get("queues/%2F?page=2&page_size=2&columns=name&name=" + pref)
    check(st == 200 and d["item_count"] == 1, "page 2")
    for qs_, code, err in (("page=0", 400, "invalid_pagination_parameters"), ("page=abc", 400, "bad_request"),
                           ("page=1&page_size=501", 400, "invalid_pagination_parameters"),
                           ("page=1&page_size=0", 400, "invalid_pagination_parameters"),
                           ("page=999", 400, "page_out_of_range")):
        st, d = api.get("queues/%2F?" + qs_)
        check(st == code and isinstance(d, dict) and d.get("error") == err, "%s: %d %s (%r)" % (qs_, code, err, d))
    st, d = api.get("queues/%2F?page=0")
    check(d.get("reason") == "Invalid pagination parameters: page number 0, page size undefined",
          "page=0 reason as RabbitMQ's")

    # ---- vhosts, users, permissions ----
    st, vs = api.get("vhosts")
    check(st == 200 and {"/", vh} <= {v["name"] for v in vs}, "vhosts")
    st, v = api.get("vhosts/%2F")
    check(st == 200 and v["name"] == "/" and v["tracing"] is False and "cluster_state" in v and
          v["messages"] >= 2 and "description" in v and "tags" in v and "metadata" in v, "vhosts/%2F fields")
    check(api.get("vhosts/" + q(PFX + "novhost"))[0] == 404, "vhosts/unknown: 404")
    st, vp = api.get("vhosts/%2F/permissions")
    check(st == 200 and {"vhost": "/", "user": "guest", "configure": ".*", "write": ".*", "read": ".*"} in vp,
          "vhosts/%2F/permissions")
    st, us = api.get("users")
    g = [u for u in us if u["name"] == "guest"]
    check(st == 200 and g and g[0]["tags"] == ["administrator"] and
          g[0]["hashing_algorithm"] == "rabbit_password_hashing_sha256" and g[0]["password_hash"] and
          g[0]["limits"] == {}, "users fields")
    st, u = api.get("users/" + q(mgr))
    check(st == 200 and u["name"] == mgr and u["tags"] == ["management"], "users/U")
    check(api.get("users/" + q(PFX + "nobody"))[0] == 404, "users/unknown: 404")
    st, up = api.get("users/" + q(mgr) + "/permissions")
    check(st == 200 and up == [{"user": mgr, "vhost": vh, "configure": ".*", "write": ".*", "read": ".*"}],
          "users/U/permissions")
    st, wp = api.get("users/without-permissions")
    check(st == 200 and {notag, mon} <= {x["name"] for x in wp} and mgr not in {x["name"] for x in wp},
          "users/without-permissions")
    st, ps = api.get("permissions")
    check(st == 200 and any(p["user"] == mgr and p["vhost"] == vh for p in ps), "permissions")
    st, p = api.get("permissions/" + q(vh) + "/" + q(mgr))
    check(st == 200 and p == {"user": mgr, "vhost": vh, "configure": ".*", "write": ".*", "read": ".*"},
          "permissions/V/U")
    check(api.get("permissions/%2F/" + q(notag))[0] == 404, "permissions/V/U without any: 404")

    # ---- policies ----
    admin("set_policy", "-p", vh, PFX + "p1", "^nothing$", '{"max-length": 5}')
    st, pl = api.get("policies/" + q(vh))
    check(st == 200 and pl == [{"vhost": vh, "name": PFX + "p1", "pattern": "^nothing$", "apply-to": "all",
                                "definition": {"max-length": 5}, "priority": 0}], "policies/V %r" % (pl,))
    st, p1 = api.get("policies/" + q(vh) + "/" + q(PFX + "p1"))
    check(st == 200 and p1["name"] == PFX + "p1", "policies/V/N")
    check(api.get("policies/" + q(vh) + "/nosuch")[0] == 404, "policies/V/unknown: 404")
    st, pa = api.get("policies")
    check(st == 200 and any(x["name"] == PFX + "p1" for x in pa), "policies")
    st, mp = api.get("policies", mgr, "pw")
    check(st == 200 and all(x["vhost"] == vh for x in mp), "a management user sees its vhosts' policies")
    st, d = api.get("policies/%2F", mgr, "pw")
    check(st == 401 and d["reason"] == "User not authorised to access virtual host",
          "a management user on another vhost's policies: 401")
    st, pp = api.get("policies", pm, "pw")
    check(st == 200 and all(x["vhost"] == vh for x in pp), "a policymaker sees its vhosts' policies")
    st, op = api.get("operator-policies")
    check(st == 200 and isinstance(op, list), "operator-policies")
    check(api.get("operator-policies/" + q(vh))[0] == 200, "operator-policies/V")
    st, ex = api.get("extensions")
    check(st == 200 and isinstance(ex, list), "extensions")

    # ---- health checks ----
    for path, code, body in (("healthchecks/node", 200, {"status": "ok"}),
                             ("health/checks/alarms", 200, {"status": "ok"}),
                             ("health/checks/local-alarms", 200, {"status": "ok"}),
                             ("health/checks/virtual-hosts", 200, {"status": "ok"}),
                             ("health/checks/port-listener/%d" % amqp, 200, {"status": "ok", "port": amqp}),
                             ("health/checks/protocol-listener/amqp", 200, {"status": "ok", "protocol": "amqp"}),
                             ("health/checks/certificate-expiration/1/months", 200, {"status": "ok"}),
                             ("health/checks/node-is-quorum-critical", 200,
                              {"status": "ok", "reason": "single node cluster"}),
                             ("health/checks/node-is-mirror-sync-critical", 200,
                              {"status": "ok", "reason": "single node cluster"})):
        st, d = api.get(path)
        check(st == code and d == body, "%s: %d %r" % (path, st, d))
    st, d = api.get("health/checks/port-listener/1")
    check(st == 503 and d["status"] == "failed" and d["reason"] == "No active listener" and d["missing"] == 1 and
          amqp in d["ports"], "port-listener on a closed port: 503")
    st, d = api.get("health/checks/protocol-listener/amqps")
    check(st == 503 and d["status"] == "failed" and d["missing"] == "amqp/ssl" and "amqp" in d["protocols"],
          "protocol-listener/amqps without TLS: 503")

    # ---- what a management / monitoring user sees ----
    st, vs = api.get("vhosts", mgr, "pw")
    check(st == 200 and [v["name"] for v in vs] == [vh], "management user: only its vhosts")
    st, ql = api.get("queues", mgr, "pw")
    check(st == 200 and {x["vhost"] for x in ql} == {vh}, "management user: only its vhosts' queues")
    st, d = api.get("queues/%2F", mgr, "pw")
    check(st == 401 and d == {"error": "not_authorised", "reason": "User not authorised to access virtual host"},
          "management user on another vhost's queues: 401")
    st, cl = api.get("connections", mgr, "pw")
    check(st == 200 and cl and all(x["user"] == mgr for x in cl), "management user: only its own connections")
    st, chl = api.get("channels", mgr, "pw")
    check(st == 200 and chl and all(x["user"] == mgr for x in chl), "management user: only its own channels")
    st, cl = api.get("connections", mon, "pw")
    check(st == 200 and {"guest", mgr} <= {x["user"] for x in cl}, "monitoring user: every connection")
    st, vs = api.get("vhosts", mon, "pw")
    check(st == 200 and {"/", vh} <= {v["name"] for v in vs}, "monitoring user: every vhost")

    c1.close()
    c2.close()
    if reference:  # leave the reference as it was
        admin("delete_vhost", vh)
        for u in (mgr, mon, notag, pm):
            admin("delete_user", u)
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", amqp))
        chc = c.channel()
        for qn in (q1, q2, qs):
            chc.queue_delete(qn)
        chc.exchange_delete(x1)
        c.close()


def port_rules(warren, taken):
    """management.tcp.port set to a port in use: a fatal start-up error naming the
    key; the default port (15672) in use: a warning, the broker runs without the API;
    management.enabled = false: no listener."""
    b = Broker(warren, mgmt_port=taken)
    try:
        b.start()
        started = True
    except RuntimeError:
        started = False
    log = b.log()
    b.cleanup()
    check(not started and "management.tcp.port = %d" % taken in log and "in use" in log,
          "an explicit management.tcp.port in use: start-up fails naming the key")
    hold = socket.socket()
    try:
        hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        hold.bind(("", 15672))
        hold.listen(1)
    except OSError:
        hold.close()
        hold = None  # someone else holds 15672: the same condition for this check
    b = Broker(warren)
    try:
        b.start()
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
        c.close()
        b.stop()
        log = b.log()
        check("management HTTP API: cannot listen on all interfaces port 15672" in log and "running without it" in log,
              "the default port 15672 in use: a warning, and AMQP is served")
    finally:
        b.cleanup()
        if hold:
            hold.close()
    port = free_port()
    b = Broker(warren)
    conf = os.path.normpath(os.path.join(b.data_dir, "..", os.path.basename(b.data_dir) + ".off.conf"))
    with open(conf, "w") as f:
        f.write("management.enabled = false\nmanagement.tcp.port = %d\n" % port)
    b.binary_args += ["--config", conf]
    try:
        b.start()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            listening = True
        except OSError:
            listening = False
        b.stop()
        check(not listening, "management.enabled = false: no HTTP listener")
    finally:
        b.cleanup()
        os.unlink(conf)


def non_loopback_address():
    """An address of this machine that is not loopback, or None."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("192.0.2.1", 9))  # no packet is sent
        a = s.getsockname()[0]
        s.close()
        return None if a.startswith("127.") else a
    except OSError:
        return None


if __name__ == "__main__":
    main()
