"""Durable queue features of issue 5 across restarts and kill -9, with pika.

    /usr/bin/python3 tests/durability/test_queue_features.py build/warren
"""
import os
import shutil
import sys

import pika

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker import Broker  # noqa: E402


def connect(b):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))


def get_all(ch, q):
    out = []
    while True:
        m, p, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            return out
        out.append((body.decode(), m.redelivered))


def priority_survives_kill9(binary):
    """A durable priority queue comes back in priority order; a delivered,
    unacked message comes back first in its priority, redelivered."""
    b = Broker(binary)
    b.start()
    try:
        c = connect(b)
        ch = c.channel()
        ch.confirm_delivery()
        ch.queue_declare("prio", durable=True, arguments={"x-max-priority": 5})
        for body, prio in (("a1", 1), ("b5", 5), ("c3", 3), ("d5", 5), ("e0", None)):
            ch.basic_publish("", "prio", body, pika.BasicProperties(delivery_mode=2, priority=prio))
        m, _, body = ch.basic_get("prio", auto_ack=False)
        assert body == b"b5", body
        b.kill9()
        b.start()
        c = connect(b)
        ch = c.channel()
        got = get_all(ch, "prio")
        want = [("b5", True), ("d5", False), ("c3", False), ("a1", False), ("e0", False)]
        assert got == want, got
        c.close()
        b.stop()
    finally:
        if b.proc and b.proc.poll() is None:
            b.kill9()
        shutil.rmtree(b.data_dir, ignore_errors=True)
    print("ok priority_survives_kill9")


TESTS = [priority_survives_kill9]


def main():
    binary = sys.argv[1]
    for t in TESTS:
        t(binary)
    print("all %d passed" % len(TESTS))


if __name__ == "__main__":
    main()
