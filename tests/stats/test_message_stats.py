"""message_stats in the HTTP API (issue 11): known pika traffic, then RabbitMQ's
message_stats objects on /api/overview, /api/vhosts/V, /api/queues/V/Q,
/api/exchanges/V/X (publish_in/publish_out), /api/channels and the octet
counters of /api/connections, with exact counts; a rate that must be above
zero during steady publishing (the sampler's 5 s interval); the overview's
samples history (msg_rates_age/incr, lengths_age/incr).

usage: test_message_stats.py WARREN
       test_message_stats.py --reference AMQP_PORT MGMT_PORT   (the same checks against RabbitMQ)
"""
import base64
import json
import os
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import pika

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "durability"))
from broker import Broker, free_port  # noqa: E402

failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def api(port, path):
    rq = urllib.request.Request("http://127.0.0.1:%d/api/%s" % (port, path))
    rq.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    with urllib.request.urlopen(rq, timeout=10) as r:
        return json.load(r)


def wait_for(fn, timeout):
    """fn() until it is true (RabbitMQ's management DB lags its events by up to 5 s)."""
    t0 = time.time()
    while True:
        v = fn()
        if v or time.time() - t0 > timeout:
            return v
        time.sleep(0.5)


def ms(obj, key):
    return (obj.get("message_stats") or {}).get(key)


def run(amqp, mgmt, lag):
    tag = "%d" % os.getpid()
    q, x = "ms-q-" + tag, "ms-x-" + tag
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", amqp))
    ch = c.channel()
    ch.confirm_delivery()
    ch.queue_declare(q)
    ch.exchange_declare(x, "fanout")
    ch.queue_bind(q, x)
    for i in range(10):
        ch.basic_publish(x, "", b"m")
    for i in range(3):
        ch.basic_publish("", "ms-nowhere", b"x")
    m, _, _ = ch.basic_get(q)
    ch.basic_ack(m.delivery_tag)
    ch.basic_get(q, auto_ack=True)
    got = []
    ch.basic_consume(q, lambda chan, meth, props, body: got.append(meth))
    t0 = time.time()
    while len(got) < 8 and time.time() - t0 < 5:
        c.process_data_events(0.1)
    for g in got:
        ch.basic_ack(g.delivery_tag)
    c.process_data_events(0.2)
    vq = urllib.parse.quote(q, safe="")
    want_q = {"publish": 10, "get": 1, "get_no_ack": 1, "deliver": 8, "deliver_get": 10, "ack": 9}
    qo = wait_for(lambda: (lambda o: o if all(ms(o, k) == v for k, v in want_q.items()) else None)(
        api(mgmt, "queues/%2F/" + vq)), lag) or api(mgmt, "queues/%2F/" + vq)
    for k, v in want_q.items():
        check(ms(qo, k) == v, "queue message_stats.%s = %d (%s)" % (k, v, ms(qo, k)))
        check("rate" in (qo.get("message_stats") or {}).get(k + "_details", {}), "queue %s_details.rate" % k)
    check("messages_details" in qo and "rate" in qo["messages_details"], "queue messages_details.rate")
    xo = wait_for(lambda: (lambda o: o if ms(o, "publish_in") == 10 else None)(
        api(mgmt, "exchanges/%2F/" + urllib.parse.quote(x, safe=""))), lag)
    check(xo and ms(xo, "publish_in") == 10 and ms(xo, "publish_out") == 10, "exchange publish_in = publish_out = 10")
    chans = wait_for(lambda: [o for o in api(mgmt, "channels") if ms(o, "publish") == 13], lag)
    check(bool(chans), "a channel with message_stats.publish = 13")
    if chans:
        o = chans[0]
        for k, v in {"confirm": 13, "drop_unroutable": 3, "deliver": 8, "get": 1, "get_no_ack": 1, "ack": 9}.items():
            check(ms(o, k) == v, "channel message_stats.%s = %d (%s)" % (k, v, ms(o, k)))
    conns = api(mgmt, "connections")
    check(any(o.get("recv_oct", 0) > 0 and o.get("send_oct", 0) > 0 and "rate" in o.get("recv_oct_details", {})
              for o in conns), "a connection with recv_oct, send_oct and recv_oct_details")
    # a steady publisher across two samples: the overview's publish rate goes above zero
    stop = threading.Event()

    def publish():
        pc = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", amqp))
        pch = pc.channel()
        while not stop.is_set():
            pch.basic_publish("", q, b"r")
            pc.process_data_events(0.01)
        pc.close()
    t = threading.Thread(target=publish)
    t.start()
    try:
        ov = wait_for(lambda: (lambda o: o if o["message_stats"]["publish_details"]["rate"] > 0 else None)(
            api(mgmt, "overview")), 16)
        check(bool(ov), "overview publish_details.rate > 0 while publishing")
        qo = wait_for(lambda: (lambda o: o if ms(o, "publish_details") and o["message_stats"]["publish_details"]["rate"]
                               > 0 else None)(api(mgmt, "queues/%2F/" + vq)), 12)
        check(bool(qo), "queue publish_details.rate > 0 while publishing")
    finally:
        stop.set()
        t.join()
    ov = api(mgmt, "overview?lengths_age=60&lengths_incr=5&msg_rates_age=60&msg_rates_incr=5")
    pd = ov["message_stats"].get("publish_details", {})
    s = pd.get("samples") or []
    check(len(s) >= 2 and all(set(e) == {"sample", "timestamp"} for e in s), "overview publish samples (%d)" % len(s))
    check(all(s[i]["timestamp"] - s[i + 1]["timestamp"] == 5000 for i in range(len(s) - 1)),
          "samples newest first, 5 s apart")
    check(all(s[i]["sample"] >= s[i + 1]["sample"] for i in range(len(s) - 1)), "publish samples never go down")
    check("avg_rate" in pd and "avg" in pd, "publish_details avg and avg_rate")
    check(len(ov["queue_totals"].get("messages_details", {}).get("samples") or []) >= 2, "queue_totals samples")
    check(ov["message_stats"].get("publish", 0) >= 13, "overview publish counts ours")
    vo = api(mgmt, "vhosts/%2F")
    check(ms(vo, "publish") and ms(vo, "publish") >= 13 and "recv_oct" in vo, "vhost message_stats and recv_oct")
    ch.queue_delete(q)
    ch.exchange_delete(x)
    c.close()


def main():
    if sys.argv[1] == "--reference":
        run(int(sys.argv[2]), int(sys.argv[3]), lag=12)
    else:
        tmp = tempfile.mkdtemp(prefix="warren-ms-")
        mgmt = free_port()
        conf = os.path.join(tmp, "w.conf")
        with open(conf, "w") as f:
            f.write("management.tcp.port = %d\nprometheus.tcp.port = %d\n" % (mgmt, free_port()))
        b = Broker(sys.argv[1])
        b.binary_args += ["--config", conf]
        b.start()
        try:
            run(b.port, mgmt, lag=2)
            b.stop()
        finally:
            b.cleanup()
    if failures:
        print("%d FAILED" % len(failures))
        sys.exit(1)
    print("all passed")


main()
