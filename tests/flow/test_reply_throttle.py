#!/usr/bin/python3
"""Direct reply-to obeys output throttling (issue 9 item 7): a requester that
never reads its socket, and a replier publishing 16,000 x 64 KB replies to it.
The broker must not buffer the replies without bound: the replier is no longer
read from while the requester's output is over its limit, the bytes held show
in warrenctl status's memory_used, other clients are still served, and once
the requester goes away the replier is read from again and finishes.

usage: test_reply_throttle.py WARREN WARRENCTL"""
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "durability"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from amqp_raw import RawClient  # noqa: E402
from broker import Broker  # noqa: E402

WARREN, CTL = sys.argv[1], sys.argv[2]
RT = "amq.rabbitmq.reply-to"
N, SIZE = 16000, 64 * 1024
RSS_BOUND = 200 << 20  # growth allowed over the idle broker; unthrottled it reaches ~1 GB


def Raw(port, rcvbuf=0):
    """A bare AMQP client on a socket (so it can stop reading, or block
    writing), channel 1 open."""
    return RawClient(port, rcvbuf=rcvbuf, channel=1, blocked=False)


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_used(b):
    p = subprocess.run([CTL, "--json", "--data-dir", b.data_dir, "status"], capture_output=True, text=True,
                       timeout=20)
    return json.loads(p.stdout)["memory_used"]


def other_client_served(b):
    t0 = time.time()
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, connection_attempts=1,
                                                          socket_timeout=5))
    ch = c.channel()
    ch.queue_declare("bystander")
    ch.basic_publish("", "bystander", b"hello")
    got = None
    while got is None and time.time() - t0 < 5:
        got = ch.basic_get("bystander", auto_ack=True)[2]
    c.close()
    return got == b"hello", time.time() - t0


failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


b = Broker(WARREN, env={"TSAN_OPTIONS": "halt_on_error=1 exitcode=66"})  # a TSan build stops at a race
b.start()
try:
    time.sleep(0.3)
    base = rss(b.proc.pid)
    # The requester: consumes its reply address, sends one request, then never reads again.
    req = Raw(b.port, rcvbuf=16384)
    req.send(1, pika.spec.Queue.Declare(queue="rpc"))
    req.expect(pika.spec.Queue.DeclareOk, skip=True)
    req.send(1, pika.spec.Basic.Consume(queue=RT, no_ack=True))
    req.expect(pika.spec.Basic.ConsumeOk, skip=True)
    req.sock.sendall(req.publish_frames("rpc", b"request", pika.spec.BasicProperties(reply_to=RT)))
    # The replier learns the reply address from the request.
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
    m = None
    for _ in range(100):
        m, props, body = c.channel().basic_get("rpc", auto_ack=True)
        if m:
            break
        time.sleep(0.05)
    c.close()
    assert m, "the request never arrived"
    addr = props.reply_to
    check(addr.startswith(RT + "."), "request carries a reply address (%s)" % addr)

    rep = Raw(b.port)
    frames = rep.publish_frames(addr, b"r" * SIZE)
    sent = [0]

    def replier():
        try:
            for _ in range(N):
                rep.sock.sendall(frames)
                sent[0] += 1
        except OSError:
            pass

    t = threading.Thread(target=replier, daemon=True)
    t.start()
    peak, last_sent, still_since, t0 = 0, -1, time.time(), time.time()
    while t.is_alive() and time.time() - t0 < 60:
        peak = max(peak, rss(b.proc.pid))
        if peak - base > 2 * RSS_BOUND:
            break  # unthrottled: no need to watch it reach a gigabyte
        if sent[0] != last_sent:
            last_sent, still_since = sent[0], time.time()
        elif time.time() - still_since > 3:
            break  # the replier is held: steady state
        time.sleep(0.1)
    print("replies written by the replier: %d of %d; broker RSS %d MB idle, peak %d MB" %
          (sent[0], N, base >> 20, peak >> 20))
    check(peak - base < RSS_BOUND, "broker RSS grew by %d MB (< %d MB) with a requester that never reads" %
          ((peak - base) >> 20, RSS_BOUND >> 20))
    check(sent[0] < N, "the replier is held back while the requester does not read")
    used = memory_used(b)
    print("memory_used while held: %d bytes" % used)
    check(used >= 256 << 10, "memory_used counts the replies held for the requester (>= 256 KiB, the output low mark)")
    ok, took = other_client_served(b)
    check(ok and took < 5, "another client is served meanwhile (%.2f s)" % took)

    # The requester leaves: the replier is read from again and finishes.
    req.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    req.sock.close()
    t.join(timeout=120)
    check(not t.is_alive() and sent[0] == N, "the replier finished once the requester left (%d sent)" % sent[0])

    # A requester that reads, but late: held replies all arrive, in order, and
    # the replier is let go each time the requester's output drains.
    req2 = Raw(b.port, rcvbuf=16384)
    req2.send(1, pika.spec.Basic.Consume(queue=RT, no_ack=True))
    req2.expect(pika.spec.Basic.ConsumeOk, skip=True)
    req2.sock.sendall(req2.publish_frames("rpc", b"request2", pika.spec.BasicProperties(reply_to=RT)))
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
    m = None
    for _ in range(100):
        m, props, body = c.channel().basic_get("rpc", auto_ack=True)
        if m:
            break
        time.sleep(0.05)
    c.close()
    addr2 = props.reply_to
    M = 3000
    sent2 = [0]

    def replier2():
        for i in range(M):
            rep.sock.sendall(rep.publish_frames(addr2, b"%08d" % i + b"s" * (SIZE - 8)))
            sent2[0] += 1

    t2 = threading.Thread(target=replier2, daemon=True)
    t2.start()
    time.sleep(1.5)  # not reading yet: the replier is held
    held_at = sent2[0]
    got, order_ok, t0 = 0, True, time.time()
    while got < M and time.time() - t0 < 90:
        req2.expect(pika.spec.Basic.Deliver, skip=True)
        f = req2.next_frame()
        while not isinstance(f, pika.frame.Body):  # header and body frames follow the deliver
            f = req2.next_frame()
        order_ok &= f.fragment[:8] == b"%08d" % got
        got += 1
    t2.join(timeout=30)
    print("late reader: replier held at %d of %d while not read; %d replies received in %.1f s" %
          (held_at, M, got, time.time() - t0))
    check(held_at < M, "the replier was held while the second requester did not read")
    check(got == M and order_ok, "the late reader got all %d replies, in order" % M)
    req2.sock.close()

    rep.sock.sendall(pika.frame.Method(1, pika.spec.Channel.Close(200, "bye", 0, 0)).marshal())
    rep.expect(pika.spec.Channel.CloseOk, skip=True)
    time.sleep(0.5)
    used = memory_used(b)
    check(used < 1 << 20, "memory_used back under 1 MiB afterwards (%d bytes)" % used)
    rep.sock.close()
    b.stop()
    check("WARNING: ThreadSanitizer" not in b.log() and "ERROR: AddressSanitizer" not in b.log(),
          "no sanitizer report in the broker log")
finally:
    b.cleanup()
print("FAIL" if failures else "PASS")
sys.exit(1 if failures else 0)
