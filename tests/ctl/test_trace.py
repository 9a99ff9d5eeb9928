"""Firehose tracing (issue 11), as RabbitMQ 3.10's rabbit_trace: `trace_on` /
`trace_off` per vhost; every publish copied to amq.rabbitmq.trace with routing
key publish.EXCHANGE, every delivery (basic.deliver, basic.get) with
deliver.QUEUE, and RabbitMQ's headers. Checked with pika against Warren; with
--reference PORT the same scenario also runs against a reference RabbitMQ 3.10
(../shared/tools/reference-rabbitmq PORT, driven with rabbitmqctl) and the two
traces must be equal once the connection's port and the node name are masked.

usage: test_trace.py WARREN WARRENCTL [--reference PORT]
"""
import os
import re
import subprocess
import sys
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "durability"))
from broker import Broker  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    else:
        print("ok:", what)


class Warren:
    name = "warren"

    def __init__(self, binary, ctl):
        self.b = Broker(binary)
        self.ctl_bin = ctl
        self.b.start()
        self.port = self.b.port

    def ctl(self, *args):
        p = subprocess.run([self.ctl_bin, "--data-dir", self.b.data_dir] + list(args), capture_output=True, text=True,
                           timeout=30)
        return p.returncode, p.stdout, p.stderr

    def close(self):
        self.b.cleanup()


class Reference:
    name = "rabbitmq"

    def __init__(self, port):
        self.port = port

    def ctl(self, *args):
        p = subprocess.run(["rabbitmqctl", "-n", "ref%d@localhost" % self.port] + list(args), capture_output=True,
                           text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def close(self):
        pass


def connect(t, vhost="/"):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", t.port, vhost,
                                                             pika.PlainCredentials("guest", "guest")))


def drain(ch, q, settle=0.3):
    """Every message in q as (routing_key, exchange, body, headers)."""
    time.sleep(settle)
    out = []
    while True:
        m, p, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            return out
        out.append((m.routing_key, m.exchange, body, p.headers, p.delivery_mode))


def norm(h, port):
    """Headers with what differs between brokers by nature masked: the
    client's port, the node name; routed_queues sorted (routing order)."""
    h = dict(h)
    conn = h.get("connection", "")
    m = re.fullmatch(r"127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:(\d+)", conn)
    if "connection" in h:
        h["connection"] = "127.0.0.1:PORT -> 127.0.0.1:SERVER" if m and int(m.group(2)) == port else "BAD " + conn
    if "node" in h:
        h["node"] = "NODE" if re.fullmatch(r"[^@]+@[^@]+", h["node"]) else "BAD " + h["node"]
    if "routed_queues" in h:
        h["routed_queues"] = sorted(h["routed_queues"])
    return h


PROPS = pika.BasicProperties(content_type="text/plain", content_encoding="e", headers={"h": 1, "CC": ["tr.cc"]},
                             delivery_mode=2, priority=3, correlation_id="c1", reply_to="r", expiration="60000",
                             message_id="m1", timestamp=1234, type="t", user_id="guest", app_id="a")
PROPS_TABLE = {"app_id": "a", "user_id": "guest", "type": "t", "timestamp": 1234, "message_id": "m1",
               "expiration": "60000", "reply_to": "r", "correlation_id": "c1", "priority": 3, "delivery_mode": 2,
               "headers": {"h": 1, "CC": ["tr.cc"]}, "content_encoding": "e", "content_type": "text/plain"}


def scenario(t):
    """Run the scenario on t; returns the trace records, normalised."""
    records = []
    for v in ("trv",):
        t.ctl("delete_vhost", v)
    rc, out, err = t.ctl("add_vhost", "trv")
    check(rc == 0, "%s add_vhost trv" % t.name)
    t.ctl("set_permissions", "-p", "trv", "guest", ".*", ".*", ".*")
    t.ctl("trace_off")
    c = connect(t)
    ch = c.channel()
    # The exchange: topic, durable, internal, in every vhost.
    ch.exchange_declare("amq.rabbitmq.trace", passive=True)
    rc, out, _ = t.ctl("-q", "list_exchanges", "name", "type", "durable", "internal")
    rows = [ln.split("\t") for ln in out.splitlines()]
    check(["amq.rabbitmq.trace", "topic", "true", "true"] in rows, "%s amq.rabbitmq.trace is topic, durable, internal"
          % t.name)
    rc, out, _ = t.ctl("-q", "list_exchanges", "-p", "trv", "name")
    check("amq.rabbitmq.trace" in out.split(), "%s amq.rabbitmq.trace in a new vhost" % t.name)
    tq = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(tq, "amq.rabbitmq.trace", "#")
    for q in ("tr.q1", "tr.cc"):
        ch.queue_delete(q)
        ch.queue_declare(q)
    ch.queue_bind("tr.q1", "amq.topic", "k.#")
    ch.queue_bind("tr.cc", "amq.topic", "tr.cc")

    # Off: nothing is copied.
    ch.basic_publish("amq.topic", "k.off", b"off")
    ch.basic_get("tr.q1", auto_ack=True)
    check(drain(ch, tq) == [], "%s tracing off: no copies" % t.name)

    rc, out, err = t.ctl("trace_on")
    check(rc == 0 and "Trace enabled for vhost /" in out, "%s trace_on: exit 0, 'Trace enabled for vhost /'" % t.name)
    rc, out, err = t.ctl("-q", "trace_on")
    check(rc == 0 and out.strip() == "Trace enabled for vhost /", "%s -q trace_on prints only the result" % t.name)

    # Publishes: with every property and a CC, to the default exchange, unroutable.
    ch.basic_publish("amq.topic", "k.x", b"hello", PROPS)
    ch.basic_publish("", "tr.q1", b"plain")
    ch.basic_publish("amq.direct", "nowhere", b"unrouted")
    got = drain(ch, tq)
    records += [("publish",) + g for g in got]
    pubs = {g[2]: g for g in got}
    check(len(got) == 3 and set(pubs) == {b"hello", b"plain", b"unrouted"}, "%s three publishes traced" % t.name)
    if len(got) == 3:
        rk, x, _, h, dm = pubs[b"hello"]
        n = norm(h, t.port)
        check(rk == "publish.amq.topic" and x == "amq.rabbitmq.trace", "%s publish key publish.amq.topic" % t.name)
        check(n == {"exchange_name": "amq.topic", "routing_keys": ["k.x", "tr.cc"], "properties": PROPS_TABLE,
                    "node": "NODE", "vhost": "/", "connection": "127.0.0.1:PORT -> 127.0.0.1:SERVER", "channel": 1,
                    "user": "guest", "routed_queues": ["tr.cc", "tr.q1"]}, "%s publish headers: %r" % (t.name, n))
        check(list(h) == ["exchange_name", "routing_keys", "properties", "node", "vhost", "connection", "channel",
                          "user", "routed_queues"], "%s publish header order" % t.name)
        check(dm is None, "%s the copy is transient (no delivery_mode)" % t.name)
        rk, _, _, h, _ = pubs[b"plain"]
        check(rk == "publish." and h["exchange_name"] == "" and h["routing_keys"] == ["tr.q1"]
              and h["properties"] == {} and h["routed_queues"] == ["tr.q1"], "%s default exchange: publish." % t.name)
        rk, _, _, h, _ = pubs[b"unrouted"]
        check(rk == "publish.amq.direct" and h["routed_queues"] == [], "%s unroutable: routed_queues []" % t.name)

    # Deliveries: basic.get (acked, then redelivered after a requeue), no-ack get, a consumer on channel 2.
    m = ch.basic_get("tr.q1", auto_ack=False)[0]  # hello (k.x)
    ch.basic_nack(m.delivery_tag, requeue=True)
    ch.basic_get("tr.q1", auto_ack=True)  # hello again, redelivered
    ch.basic_get("tr.q1", auto_ack=True)  # plain
    ch2 = c.channel()
    seen = []
    ch2.basic_consume("tr.cc", lambda c_, m_, p_, b_: seen.append(b_), auto_ack=True)
    deadline = time.time() + 5
    while not seen and time.time() < deadline:
        c.process_data_events(0.1)
    got = drain(ch, tq)
    records += [("deliver",) + g for g in got]
    check(len(got) == 4 and [g[0] for g in got].count("deliver.tr.q1") == 3 and
          [g[0] for g in got].count("deliver.tr.cc") == 1, "%s four deliveries traced: %r" % (t.name, [g[0] for g in got]))
    if len(got) == 4:
        first = [g for g in got if g[2] == b"hello" and g[0] == "deliver.tr.q1"]
        check(len(first) == 2 and [g[3]["redelivered"] for g in first] == [0, 1], "%s redelivered 0 then 1" % t.name)
        n = norm(first[0][3], t.port)
        check(n == {"exchange_name": "amq.topic", "routing_keys": ["k.x", "tr.cc"], "properties": PROPS_TABLE,
                    "node": "NODE", "redelivered": 0, "vhost": "/", "connection": "127.0.0.1:PORT -> 127.0.0.1:SERVER",
                    "channel": 1, "user": "guest"}, "%s deliver headers: %r" % (t.name, n))
        check(list(first[0][3]) == ["exchange_name", "routing_keys", "properties", "node", "redelivered", "vhost",
                                    "connection", "channel", "user"], "%s deliver header order" % t.name)
        cons = [g for g in got if g[0] == "deliver.tr.cc"][0]
        check(cons[3]["channel"] == 2 and cons[2] == b"hello", "%s consumer delivery on channel 2" % t.name)

    # No loop: the deliveries of trace copies (drained above) were not traced.
    check(drain(ch, tq) == [], "%s consuming the trace queue is not traced" % t.name)
    # Clients may not publish to it (internal).
    try:
        ch.basic_publish("amq.rabbitmq.trace", "publish.x", b"nope")
        ch.queue_declare("tr.q1", passive=True)
        check(False, "%s publish to amq.rabbitmq.trace refused" % t.name)
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 403 and "internal exchange" in e.reply_text,
              "%s publish to amq.rabbitmq.trace: 403 %s" % (t.name, e.reply_text))
    ch = c.channel()

    # Per vhost: a publish in trv (tracing off there) is not copied into / nor into trv.
    c2 = connect(t, "trv")
    vch = c2.channel()
    vq = vch.queue_declare("", exclusive=True).method.queue
    vch.queue_bind(vq, "amq.rabbitmq.trace", "#")
    vch.basic_publish("", vq, b"in trv")
    vch.basic_get(vq, auto_ack=True)
    check(drain(ch, tq) == [] and drain(vch, vq) == [], "%s tracing is per vhost" % t.name)
    c2.close()

    rc, out, err = t.ctl("trace_off")
    check(rc == 0 and "Trace disabled for vhost /" in out, "%s trace_off" % t.name)
    ch.basic_publish("amq.topic", "k.y", b"after")
    ch.basic_get("tr.q1", auto_ack=True)
    check(drain(ch, tq) == [], "%s after trace_off: no copies" % t.name)
    for q in ("tr.q1", "tr.cc"):
        ch.queue_delete(q)
    c.close()
    t.ctl("delete_vhost", "trv")
    return [(r[0], r[1], r[2], r[3], norm(r[4], t.port)) for r in records]


def warren_only(w):
    rc, out, err = w.ctl("trace_on", "-p", "nosuch")
    check(rc == 65 and "does not exist" in err, "trace_on -p on a missing vhost: 65")
    rc, out, err = w.ctl("--json", "trace_on")
    check(rc == 0 and '"ok": true' in out, "trace_on --json")
    # A delayed message (x-delayed-message, Warren's built-in plugin) is traced when
    # published, routed to no queue yet (as with the plugin), and when delivered.
    c = connect(w)
    ch = c.channel()
    tq = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(tq, "amq.rabbitmq.trace", "#")
    ch.exchange_declare("tr.delayed", "x-delayed-message", arguments={"x-delayed-type": "direct"})
    ch.queue_declare("tr.dq", exclusive=True)
    ch.queue_bind("tr.dq", "tr.delayed", "k")
    ch.basic_publish("tr.delayed", "k", b"later", pika.BasicProperties(headers={"x-delay": 200}))
    time.sleep(0.5)
    ch.basic_get("tr.dq", auto_ack=True)
    got = drain(ch, tq)
    check([(g[0], g[3].get("routed_queues")) for g in got] == [("publish.tr.delayed", []), ("deliver.tr.dq", None)],
          "delayed message: traced at publish (routed_queues []) and at delivery: %r" % [g[0] for g in got])
    c.close()
    # Not persisted, as in RabbitMQ: off after a restart.
    w.b.stop()
    w.b.start()
    c = connect(w)
    ch = c.channel()
    tq = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(tq, "amq.rabbitmq.trace", "#")
    ch.basic_publish("", tq, b"x")
    check(len(drain(ch, tq)) == 1, "tracing is off after a restart (only the message itself)")
    c.close()


def main():
    ref = None
    args = sys.argv[1:]
    if "--reference" in args:
        i = args.index("--reference")
        ref = Reference(int(args[i + 1]))
        del args[i:i + 2]
    w = Warren(args[0], args[1])
    try:
        mine = scenario(w)
        warren_only(w)
    finally:
        w.close()
    if ref:
        theirs = scenario(ref)
        key = lambda r: (r[0], r[1], r[3], r[4].get("redelivered", -1), r[4].get("channel"))  # noqa: E731
        same = sorted(mine, key=key) == sorted(theirs, key=key)
        if not same:
            for a, b in zip(sorted(mine, key=key), sorted(theirs, key=key)):
                if a != b:
                    print("warren:  ", a)
                    print("rabbitmq:", b)
        check(same, "Warren's trace equals RabbitMQ's (%d records)" % len(mine))
    if failures:
        print("%d FAILED" % len(failures))
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()
