#!/usr/bin/python3
"""rabbitmqadmin (Debian's /usr/bin/rabbitmqadmin, from rabbitmq-server) against
Warren's management HTTP API: its list commands and show overview, in
raw_json output, must succeed and show the objects made over AMQP.

  test_rabbitmqadmin.py WARREN          (exit 77 = skipped: no rabbitmqadmin)"""
import json
import os
import shutil
import subprocess
import sys

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "durability"))
from broker import Broker, free_port  # noqa: E402

PASSED, FAILED = [], []


def check(cond, what):
    (PASSED if cond else FAILED).append(what)
    print(("ok: " if cond else "FAIL: ") + what, flush=True)


def main():
    tool = shutil.which("rabbitmqadmin") or "/usr/bin/rabbitmqadmin"
    if not os.path.exists(tool):
        print("skipped: no rabbitmqadmin (Debian's rabbitmq-server package ships it)")
        sys.exit(77)
    mport = free_port()
    b = Broker(sys.argv[1], mgmt_port=mport)
    b.start()
    try:
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))
        ch = c.channel()
        ch.exchange_declare("ra-x", "fanout")
        ch.queue_declare("ra-q", durable=True)
        ch.queue_bind("ra-q", "ra-x")
        ch.basic_publish("", "ra-q", b"hello")
        ch.basic_consume("ra-q", lambda *a: None, consumer_tag="ra-ctag")

        def run(*args):
            p = subprocess.run([sys.executable, tool, "-H", "127.0.0.1", "-P", str(mport), "-u", "guest", "-p", "guest",
                                "-f", "raw_json"] + list(args), capture_output=True, text=True, timeout=30)
            try:
                return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr
            except ValueError:
                return p.returncode, p.stdout, p.stderr

        rc, d, err = run("show", "overview")
        check(rc == 0 and isinstance(d, list) and d[0].get("object_totals", {}).get("queues") is not None,
              "show overview (%s)" % err.strip()[:200])
        expect = {"queues": ("name", "ra-q"), "exchanges": ("name", "ra-x"), "bindings": ("source", "ra-x"),
                  "connections": ("user", "guest"), "channels": ("user", "guest"),
                  "consumers": ("consumer_tag", "ra-ctag"), "users": ("name", "guest"), "vhosts": ("name", "/"),
                  "permissions": ("user", "guest"), "policies": None, "nodes": ("type", "disc")}
        for what, want in expect.items():
            rc, d, err = run("list", what)
            ok = rc == 0 and isinstance(d, list)
            if ok and want:
                ok = any(isinstance(r, dict) and r.get(want[0]) == want[1] for r in d)
            check(ok, "list %s (rc %d%s)" % (what, rc, (": " + err.strip()[:200]) if err.strip() else ""))
        rc, d, err = run("list", "queues", "name", "messages")
        check(rc == 0 and {"name": "ra-q", "messages": 1} in d, "list queues name messages: %r" % (d,))
        c.close()
    finally:
        b.stop()
        b.cleanup()
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
