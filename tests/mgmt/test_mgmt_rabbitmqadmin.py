#!/usr/bin/python3
"""rabbitmqadmin (Debian's rabbitmq-server ships /usr/bin/rabbitmqadmin) against
Warren's management API (issue 11): declare a queue, an exchange and a binding,
publish, get, purge, close a connection, export and import definitions, delete.

    test_mgmt_rabbitmqadmin.py WARREN_BINARY
    test_mgmt_rabbitmqadmin.py --reference AMQP_PORT MGMT_PORT   (RabbitMQ 3.10)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "durability"))
from broker import Broker, free_port  # noqa: E402

ADMIN = "/usr/bin/rabbitmqadmin"
PASSED, FAILED = [], []


def check(name, cond, detail=""):
    (PASSED if cond else FAILED).append(name)
    if not cond:
        print("FAIL %s %s" % (name, detail), flush=True)


def admin(mport, *args):
    p = subprocess.run([ADMIN, "-H", "127.0.0.1", "-P", str(mport), "-u", "guest", "-p", "guest"] + list(args),
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def amqp(port):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))


def count(port, q):
    c = amqp(port)
    try:
        return c.channel().queue_declare(q, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker:
        return None
    finally:
        if c.is_open:
            c.close()


def run(port, mport):
    rc, out = admin(mport, "declare", "queue", "name=ra.q", "durable=true")
    check("declare queue", rc == 0 and "queue declared" in out and count(port, "ra.q") == 0, out)
    rc, out = admin(mport, "declare", "exchange", "name=ra.x", "type=direct")
    check("declare exchange", rc == 0 and "exchange declared" in out, out)
    rc, out = admin(mport, "declare", "binding", "source=ra.x", "destination=ra.q", "routing_key=k")
    check("declare binding", rc == 0 and "binding declared" in out, out)
    rc, out = admin(mport, "publish", "exchange=ra.x", "routing_key=k", "payload=hello")
    check("publish", rc == 0 and "Message published" in out and count(port, "ra.q") == 1, out)
    rc, out = admin(mport, "get", "queue=ra.q", "ackmode=ack_requeue_true")
    check("get (table)", rc == 0 and "hello" in out and count(port, "ra.q") == 1, out)
    rc, out = admin(mport, "-f", "raw_json", "get", "queue=ra.q", "ackmode=ack_requeue_false", "count=1")
    rows = json.loads(out) if rc == 0 else []
    check("get ack", rc == 0 and len(rows) == 1 and rows[0]["payload"] == "hello" and rows[0]["redelivered"] is True
          and count(port, "ra.q") == 0, out)
    admin(mport, "publish", "exchange=ra.x", "routing_key=k", "payload=again")
    rc, out = admin(mport, "purge", "queue", "name=ra.q")
    check("purge", rc == 0 and "queue purged" in out and count(port, "ra.q") == 0, out)
    # close a connection by the name the list shows
    c = amqp(port)
    local = c._impl._transport._sock.getsockname()
    name = "%s:%d -> 127.0.0.1:%d" % (local[0], local[1], port)
    listed = False
    for _ in range(25):  # the reference lists a connection a moment after it opens
        rc, out = admin(mport, "-f", "raw_json", "list", "connections", "name")
        if rc == 0 and name in [r.get("name") for r in json.loads(out or "[]")]:
            listed = True
            break
        time.sleep(0.2)
    check("list connections", listed, out)
    rc, out = admin(mport, "close", "connection", "name=" + name)
    check("close connection", rc == 0 and "connection closed" in out, out)
    got = None
    try:
        t0 = time.time()
        while time.time() - t0 < 5:
            c.process_data_events(0.2)
    except pika.exceptions.ConnectionClosedByBroker as e:
        got = e.reply_code, e.reply_text
    check("connection closed 320", got is not None and got[0] == 320 and got[1].startswith("CONNECTION_FORCED - "),
          repr(got))
    # export, delete, import: the queue, exchange and binding come back
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "defs.json")
        rc, out = admin(mport, "export", path)
        defs = json.load(open(path)) if rc == 0 else {}
        check("export", rc == 0 and any(q["name"] == "ra.q" for q in defs.get("queues", [])), out)
        rc, out = admin(mport, "delete", "queue", "name=ra.q")
        check("delete queue", rc == 0 and "queue deleted" in out and count(port, "ra.q") is None, out)
        rc, out = admin(mport, "import", path)
        check("import", rc == 0 and "Uploaded definitions" in out and count(port, "ra.q") == 0, out)
    admin(mport, "publish", "exchange=ra.x", "routing_key=k", "payload=after import")
    check("imported binding routes", count(port, "ra.q") == 1)
    rc, out = admin(mport, "delete", "binding", "source=ra.x", "destination=ra.q", "destination_type=queue",
                    "properties_key=k")
    check("delete binding", rc == 0 and "binding deleted" in out, out)
    admin(mport, "publish", "exchange=ra.x", "routing_key=k", "payload=unrouted")
    check("binding gone", count(port, "ra.q") == 1)
    rc, out = admin(mport, "delete", "exchange", "name=ra.x")
    check("delete exchange", rc == 0 and "exchange deleted" in out, out)
    admin(mport, "delete", "queue", "name=ra.q")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--reference":
        run(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) == 2:
        if not os.path.exists(ADMIN):
            print("FAIL: %s not installed (Debian's rabbitmq-server; tests/deps.sh installs it)" % ADMIN)
            sys.exit(1)
        mport = free_port()
        cfg = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        cfg.write("management.tcp.port = %d\nmanagement.tcp.ip = 127.0.0.1\n" % mport)
        cfg.close()
        b = Broker(sys.argv[1])
        b.binary_args += ["--config", cfg.name]
        try:
            b.start()
            for _ in range(100):
                if admin(mport, "list", "vhosts")[0] == 0:
                    break
                time.sleep(0.1)
            run(b.port, mport)
            b.stop()
        finally:
            b.cleanup()
            os.unlink(cfg.name)
    else:
        print(__doc__)
        sys.exit(64)
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
