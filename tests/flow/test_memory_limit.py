#!/usr/bin/python3
"""Memory limit: past --memory-limit, a publishing connection gets
connection.blocked and is no longer read from; consumers keep being served;
once memory is back under the limit it gets connection.unblocked and its
publishes flow again. usage: test_memory_limit.py WARREN_BINARY"""
import os
import sys
import threading
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "durability"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from amqp_raw import RawClient  # noqa: E402
from broker import Broker  # noqa: E402


BROKER = [None]


def main():
    b = BROKER[0] = Broker(sys.argv[1])
    # a small limit: 4 MiB of message memory
    b.binary_args = ["--memory-limit", "4M"]
    b.start()
    events = []
    params = pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0)
    done = threading.Event()
    errors = []

    def publisher():
        """A raw AMQP publisher (frames built with pika.spec), so we see exactly
        which frames arrive while Warren stops reading from us."""
        try:
            s = RawClient(b.port, channel=1)
            s.send(1, pika.spec.Queue.Declare(queue="mem"))
            s.expect(pika.spec.Queue.DeclareOk)
            body = b"x" * 65536
            s.sock.setblocking(False)
            out = b"".join(s.publish_frames("mem", body) for _ in range(160))  # 10 MiB
            while out:
                try:
                    n = s.sock.send(out)
                    out = out[n:]
                except BlockingIOError:
                    time.sleep(0.01)
                for f in s.read_frames():
                    name = type(f.method).__name__ if isinstance(f, pika.frame.Method) else ""
                    if name in ("Blocked", "Unblocked"):
                        events.append(name.lower())
            end = time.time() + 10
            while "unblocked" not in events and time.time() < end:  # it may follow our last bytes
                for f in s.read_frames():  # loopback buffers may have taken all we sent
                    name = type(f.method).__name__ if isinstance(f, pika.frame.Method) else ""
                    if name in ("Blocked", "Unblocked"):
                        events.append(name.lower())
                time.sleep(0.02)
            s.sock.setblocking(True)
            s.sock.sendall(s.publish_frames("mem", b"last"))
            s.close()
        except Exception as e:
            errors.append(e)
        done.set()

    t = threading.Thread(target=publisher)
    t.start()
    deadline = time.time() + 15
    while "blocked" not in events and time.time() < deadline and not done.is_set():
        time.sleep(0.05)
    assert not errors, errors
    assert "blocked" in events, "no connection.blocked past the memory limit (events %s)" % events
    assert not done.is_set(), "the publisher was not held back"
    assert "blocked: memory in use" in b.log(), "blocking was not logged"
    # a separate consumer connection keeps being served and drains the queue
    con = pika.BlockingConnection(params)
    cch = con.channel()
    got = 0
    for m, p, bd in cch.consume("mem", auto_ack=True, inactivity_timeout=3):
        if m is None:
            break
        got += 1
    con.close()
    t.join(timeout=20)
    assert not errors, errors
    assert done.is_set(), "the publisher never got going again"
    assert "unblocked" in events, "no connection.unblocked once memory was freed"
    con = pika.BlockingConnection(params)
    left = con.channel().queue_declare("mem", passive=True).method.message_count
    con.close()
    assert got + left == 161, "consumer got %d and %d are left, of 161 messages" % (got, left)
    assert got >= 100, "consumer starved while the publisher was blocked (%d)" % got
    b.stop()  # SIGTERM: must exit 0 (and, under ASan, leak-free)
    print("events: %s; consumer drained %d messages" % (events, got))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        import traceback
        traceback.print_exc()
        b = BROKER[0]
        if b and b.proc and b.proc.poll() is None:
            b.kill9()  # never leave a broker behind
        print("0 passed, 1 failed")
        sys.exit(1)
