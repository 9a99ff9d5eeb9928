#!/usr/bin/python3
"""Mixed load, for the ThreadSanitizer build (and any other): for DURATION
seconds, at once, against one broker with 3 worker threads:
  - publishers with confirms (persistent, durable queue) and without,
  - consumers with prefetch and acks, nack-requeue, and no-ack,
  - transactions (publish + ack, commit and rollback),
  - queue churn: declare, bind, publish, consume, delete a queue that has a
    consumer on another connection (basic.cancel from the broker),
  - direct reply-to: requesters and a responder,
  - warrenctl: status, list_* (list_connections runs on every worker) and
    close_connection of live connections,
  - abrupt disconnects: sockets reset mid-frame, and consumers with unacked
    deliveries that vanish.
Every client reconnects when its connection is closed under it. Passes if
every activity made progress, the broker is still up at the end, stops with
status 0 on SIGTERM, and its log has no sanitizer report (the broker runs with
TSAN_OPTIONS=halt_on_error=1, so a race ends it at once).

usage: mixed_load.py WARREN WARRENCTL [DURATION]"""
import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "durability"))
import broker as broker_mod  # noqa: E402
from broker import Broker  # noqa: E402

WARREN, CTL = sys.argv[1], sys.argv[2]
DURATION = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
RT = "amq.rabbitmq.reply-to"

stop = threading.Event()
counts = {}
errors = {}
lock = threading.Lock()


def bump(d, k, n=1):
    with lock:
        d[k] = d.get(k, 0) + n


def connect(b):
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", b.port, connection_attempts=1, socket_timeout=10, blocked_connection_timeout=30,
        heartbeat=0))


def looped(name):
    """Run body(b) until stop; reconnect after any error (forced closes are expected)."""
    def deco(body):
        def run(b):
            while not stop.is_set():
                try:
                    body(b)
                except Exception as e:  # noqa: BLE001 - any client error: count, reconnect
                    bump(errors, "%s: %s" % (name, type(e).__name__))
                    time.sleep(0.05)
        run.__name__ = name
        return run
    return deco


def safe_close(c):
    try:
        c.close()
    except Exception:  # noqa: BLE001
        pass


@looped("publisher_confirms")
def publisher_confirms(b):
    c = connect(b)
    try:
        ch = c.channel()
        ch.queue_declare("mix.durable", durable=True)
        ch.confirm_delivery()
        while not stop.is_set():
            for _ in range(20):
                ch.basic_publish("", "mix.durable", os.urandom(random.choice([10, 500, 5000])),
                                 pika.BasicProperties(delivery_mode=2))
                bump(counts, "confirmed")
    finally:
        safe_close(c)


@looped("publisher_transient")
def publisher_transient(b):
    c = connect(b)
    try:
        ch = c.channel()
        ch.exchange_declare("mix.fan", "fanout")
        ch.queue_declare("mix.transient")
        ch.queue_bind("mix.transient", "mix.fan")
        while not stop.is_set():
            for i in range(50):
                ch.basic_publish("mix.fan", "", b"t" * random.choice([1, 100, 70000]))
            bump(counts, "transient", 50)
            c.process_data_events(0)
            # keep the queue from growing without end if consumers are being closed
            if ch.queue_declare("mix.transient", passive=True).method.message_count > 5000:
                time.sleep(0.2)
    finally:
        safe_close(c)


@looped("consumer_ack")
def consumer_ack(b):
    c = connect(b)
    try:
        ch = c.channel()
        ch.queue_declare("mix.durable", durable=True)
        ch.basic_qos(prefetch_count=random.choice([1, 10, 100]))
        for m, p, body in ch.consume("mix.durable", inactivity_timeout=0.2):
            if stop.is_set():
                break
            if m is None:
                continue
            r = random.random()
            if r < 0.05:
                ch.basic_nack(m.delivery_tag, requeue=True)
            elif r < 0.1:
                ch.basic_reject(m.delivery_tag, requeue=False)
            else:
                ch.basic_ack(m.delivery_tag, multiple=random.random() < 0.3)
            bump(counts, "consumed_ack")
    finally:
        safe_close(c)


@looped("consumer_noack")
def consumer_noack(b):
    c = connect(b)
    try:
        ch = c.channel()
        ch.queue_declare("mix.transient")
        for m, p, body in ch.consume("mix.transient", auto_ack=True, inactivity_timeout=0.2):
            if stop.is_set():
                break
            if m is not None:
                bump(counts, "consumed_noack")
    finally:
        safe_close(c)


@looped("tx")
def tx(b):
    c = connect(b)
    try:
        ch = c.channel()
        ch.queue_declare("mix.tx", durable=True)
        ch.tx_select()
        while not stop.is_set():
            for _ in range(5):
                ch.basic_publish("", "mix.tx", b"tx", pika.BasicProperties(delivery_mode=random.choice([1, 2])))
            m, p, body = ch.basic_get("mix.tx")
            if m:
                ch.basic_ack(m.delivery_tag)
            if random.random() < 0.3:
                ch.tx_rollback()
                bump(counts, "tx_rollback")
            else:
                ch.tx_commit()
                bump(counts, "tx_commit")
            # bounded: drain what commits leave behind
            for _ in range(5):
                m, p, body = ch.basic_get("mix.tx", auto_ack=True)
                if not m:
                    break
            ch.tx_commit()
    finally:
        safe_close(c)


@looped("queue_churn")
def queue_churn(b):
    c1, c2 = connect(b), connect(b)
    try:
        ch1, ch2 = c1.channel(), c2.channel()
        ch1.exchange_declare("mix.topic", "topic")
        while not stop.is_set():
            q = "mix.churn.%d" % random.randrange(4)
            ch1.queue_declare(q, durable=random.random() < 0.5, arguments=random.choice(
                [None, {"x-max-length": 10}, {"x-message-ttl": 50}, {"x-max-priority": 3}]))
            ch1.queue_bind(q, "mix.topic", "a.#")
            cancelled = []
            ch2.add_on_cancel_callback(lambda f: cancelled.append(f))
            ch2.basic_consume(q, lambda ch, m, p, body: ch.basic_ack(m.delivery_tag))
            for _ in range(10):
                ch1.basic_publish("mix.topic", "a.b", b"churn", pika.BasicProperties(priority=random.randrange(4)))
            c2.process_data_events(0.01)
            ch1.queue_delete(q)  # with a consumer on the other connection
            c2.process_data_events(0.05)
            bump(counts, "queue_deletes")
            ch2.close()
            ch2 = c2.channel()
    finally:
        safe_close(c1)
        safe_close(c2)


@looped("rpc_server")
def rpc_server(b):
    c = connect(b)
    try:
        ch = c.channel()
        ch.queue_declare("mix.rpc")
        for m, p, body in ch.consume("mix.rpc", auto_ack=True, inactivity_timeout=0.2):
            if stop.is_set():
                break
            if m is None:
                continue
            pad = b"x" * int((p.headers or {}).get("size", 0))
            ch.basic_publish("", p.reply_to, b"re:" + body + pad, pika.BasicProperties(correlation_id=p.correlation_id))
            bump(counts, "rpc_replies")
    finally:
        safe_close(c)


@looped("rpc_client")
def rpc_client(b):
    c = connect(b)
    try:
        ch = c.channel()
        ch.queue_declare("mix.rpc")
        got = []
        ch.basic_consume(RT, lambda ch, m, p, body: got.append(body), auto_ack=True)
        n = 0
        while not stop.is_set():
            n += 1
            ch.basic_publish("", "mix.rpc", b"%d" % n, pika.BasicProperties(reply_to=RT, correlation_id=str(n)))
            deadline = time.time() + 2
            while not got and time.time() < deadline and not stop.is_set():
                c.process_data_events(0.02)
            if got:
                bump(counts, "rpc_answers", len(got))
                got.clear()
            if random.random() < 0.1:  # leave with a reply possibly on its way
                break
    finally:
        safe_close(c)


@looped("rpc_slow_client")
def rpc_slow_client(b):
    """Asks for 16 x 256 KB replies and reads them a second later: its output
    goes over the limit and the responder is held (reply_to.c) meanwhile."""
    c = connect(b)
    try:
        ch = c.channel()
        ch.queue_declare("mix.rpc")
        got = []
        ch.basic_consume(RT, lambda ch, m, p, body: got.append(len(body)), auto_ack=True)
        while not stop.is_set():
            for i in range(16):
                ch.basic_publish("", "mix.rpc", b"big", pika.BasicProperties(reply_to=RT, headers={"size": 256 << 10}))
            time.sleep(1.0)
            deadline = time.time() + 10
            while len(got) < 16 and time.time() < deadline and not stop.is_set():
                c.process_data_events(0.05)
            bump(counts, "rpc_slow_answers", len(got))
            got.clear()
    finally:
        safe_close(c)


def ctl(b, *args):
    p = subprocess.run([CTL, "--json", "--data-dir", b.data_dir] + list(args), capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout


@looped("warrenctl")
def warrenctl(b):
    while not stop.is_set():
        cmd = random.choice(["list_connections", "list_connections", "list_queues", "list_bindings",
                             "list_exchanges", "status", "close"])
        if cmd == "close":
            rc, out = ctl(b, "list_connections")
            rows = json.loads(out) if rc == 0 else []
            if rows and random.random() < 0.3:
                pid = random.choice(rows)["pid"]
                ctl(b, "close_connection", str(pid), "mixed load")
                bump(counts, "ctl_close")
            continue
        rc, out = ctl(b, cmd)
        if rc == 0:
            bump(counts, "ctl_" + cmd)
        else:
            bump(errors, "warrenctl %s rc %d" % (cmd, rc))


def frame(typ, ch, payload):
    return struct.pack(">BHI", typ, ch, len(payload)) + payload + b"\xce"


@looped("abrupt")
def abrupt(b):
    """Raw AMQP: log in, start a publish or consume, then reset the socket."""
    s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
    try:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        s.recv(4096)
        start_ok = pika.frame.Method(0, pika.spec.Connection.StartOk(
            client_properties={}, mechanism="PLAIN", response="\0guest\0guest")).marshal()
        s.sendall(start_ok)
        s.recv(4096)
        s.sendall(pika.frame.Method(0, pika.spec.Connection.TuneOk(channel_max=0, frame_max=131072,
                                                                   heartbeat=0)).marshal()
                  + pika.frame.Method(0, pika.spec.Connection.Open(virtual_host="/")).marshal()
                  + pika.frame.Method(1, pika.spec.Channel.Open()).marshal())
        time.sleep(0.01)
        if random.random() < 0.5:  # a consumer that vanishes with unacked deliveries
            s.sendall(pika.frame.Method(1, pika.spec.Basic.Qos(prefetch_count=50)).marshal()
                      + pika.frame.Method(1, pika.spec.Basic.Consume(queue="mix.durable")).marshal())
            time.sleep(random.random() * 0.05)
        else:  # a publish cut in the middle of its body
            s.sendall(pika.frame.Method(1, pika.spec.Basic.Publish(exchange="", routing_key="mix.durable")).marshal()
                      + pika.frame.Header(1, 100000, pika.spec.BasicProperties(delivery_mode=2)).marshal()
                      + frame(3, 1, b"x" * 30000))
        bump(counts, "abrupt")
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        s.close()
    time.sleep(0.02)


def main():
    b = Broker(WARREN, env={"TSAN_OPTIONS": "halt_on_error=1 exitcode=66 second_deadlock_stack=1"})
    b.binary_args += ["--threads", "3"]  # later flags win: three workers
    b.start(timeout=60)
    ok = False
    try:
        acts = [publisher_confirms, publisher_transient, consumer_ack, consumer_ack, consumer_noack, tx,
                queue_churn, rpc_server, rpc_client, rpc_client, rpc_slow_client, warrenctl, abrupt]
        threads = [threading.Thread(target=a, args=(b,), daemon=True) for a in acts]
        for t in threads:
            t.start()
        t0 = time.time()
        while time.time() - t0 < DURATION and b.proc.poll() is None:
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        alive = b.proc.poll() is None
        print("counts:", json.dumps(counts, sort_keys=True))
        print("client errors (reconnected):", json.dumps(errors, sort_keys=True))
        if not alive:
            print("FAIL: the broker exited during the load, status %s" % b.proc.returncode)
        else:
            b.stop()
        log = b.log()
        reports = log.count("WARNING: ThreadSanitizer") + log.count("ERROR: AddressSanitizer") + \
            log.count("runtime error:")
        need = ["confirmed", "transient", "consumed_ack", "consumed_noack", "tx_commit", "tx_rollback",
                "queue_deletes", "rpc_replies", "rpc_answers", "rpc_slow_answers", "ctl_list_connections", "ctl_close", "abrupt"]
        idle = [k for k in need if not counts.get(k)]
        if reports:
            print("FAIL: %d sanitizer report(s) in the broker log:" % reports)
            print(log[log.find("=================="):][:20000])
        if idle:
            print("FAIL: no progress for", idle)
        ok = alive and not reports and not idle
    finally:
        if not ok:
            print("broker log: %s" % b.log_path)
            print("\n".join(b.log().splitlines()[-60:]))
        b.cleanup()
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    broker_mod.EXTRA_ARGS = []
    main()
