#!/usr/bin/python3
"""Denial of service around publisher flow control (issue 9, items 4-6).

usage: test_flow_dos.py WARREN WARRENCTL TEST
  announced           content headers announcing 128 MiB with no body, on 80
                      channels: no memory alarm, other publishers are served,
                      RSS and memory_used stay small; multi-frame bodies sent
                      in dribbles still arrive intact
  blocked_disconnect  publishers blocked by a (forced) disk alarm that go away
                      (FIN, and RST) are closed at once, and the idle broker
                      burns no CPU afterwards
  paused_halfclose    a client paused for its unread output that half-closes:
                      no spinning; closed once it reads
  blocked_heartbeat   a publisher blocked by the memory alarm with heartbeat
                      2 s stays connected for 8 s, keeps receiving the broker's
                      heartbeats, and publishes again once the alarm clears
"""
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "durability"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from amqp_raw import RawClient  # noqa: E402
from broker import Broker  # noqa: E402

WARREN, CTL = sys.argv[1], sys.argv[2]
FRAME_MAX = 131072


def ctl_status(b):
    sock = os.path.join(b.data_dir, "warren.sock")
    for _ in range(100):  # the AMQP port opens a moment before the control socket
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    p = subprocess.run([CTL, "--data-dir", b.data_dir, "--json", "status"], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 0, "warrenctl status: %d %s" % (p.returncode, p.stderr)
    s = json.loads(p.stdout)
    return s.get("status", s)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def publish_head(ch, rk, size, mandatory=False):
    """basic.publish and a content header announcing size bytes (no body)."""
    return RawClient.publish_head(ch, rk, size, mandatory, pika.spec.BasicProperties(headers={"n": size}))


body_frames = RawClient.body_frames


def timed_publisher(port, queue, n, result):
    """A fresh client: connect, confirm n publishes, close; its time in result."""
    t0 = time.time()
    try:
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))
        ch = c.channel()
        ch.confirm_delivery()
        for i in range(n):
            ch.basic_publish("", queue, b"fresh %d" % i, mandatory=True)
        c.close()
        result.append(time.time() - t0)
    except Exception as e:  # noqa: BLE001
        result.append(e)


def test_announced(b):
    b.binary_args = ["--memory-limit", "64M"]
    b.start()
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))
    c.channel().queue_declare("dos")
    c.channel().queue_declare("fresh")
    c.close()
    base = ctl_status(b)["memory_used"]
    a = RawClient(b.port)
    for ch in range(1, 81):
        a.open_channel(ch)
    wire = b"".join(publish_head(ch, "dos", 128 << 20) for ch in range(1, 81))
    a.sock.sendall(wire)  # a header announcing 128 MiB on each, and no body
    time.sleep(1.5)  # the memory check happens on the next read of any publisher
    st = ctl_status(b)
    rss = rss_kib(b.proc.pid)
    print("80 x 128 MiB announced (%d bytes on the wire): memory_used %d (before: %d), limit %d, RSS %d KiB"
          % (len(wire), st["memory_used"], base, st["memory_limit"], rss))
    # another publisher is served at once
    res = []
    t = threading.Thread(target=timed_publisher, args=(b.port, "fresh", 3, res), daemon=True)
    t.start()
    t.join(10)
    print("fresh client: connect + 3 confirmed publishes + close: %s" % (res[0] if res else "not done in 10 s"))
    blocked = [line for line in b.log().splitlines() if "blocked" in line]
    print("\n".join(blocked[:3]))
    assert st["memory_used"] < 16 << 20, "announced bodies counted as memory: memory_used %d" % st["memory_used"]
    assert rss < 64 << 10, "RSS %d KiB" % rss
    assert res, "a fresh publisher got no confirms within 10 s"
    assert not isinstance(res[0], Exception), res[0]
    assert res[0] < 1.0, "a fresh publisher took %.3f s" % res[0]
    assert not blocked, "a connection was blocked"

    # Multi-frame bodies dribbled in (so they arrive over many reads) on the same
    # connection, beside the 80 unfinished ones, are assembled intact.
    rnd = random.Random(9)
    sizes = [0, 1, 4095, 4096, 4097, FRAME_MAX - 8, FRAME_MAX - 7, 300000, (1 << 20) + 3, 3 << 20]
    bodies = [rnd.randbytes(n) for n in sizes]
    for i, body in enumerate(bodies):
        ch = 100 + i
        a.open_channel(ch)
        data = publish_head(ch, "dos", len(body)) + body_frames(ch, body)
        pos = 0
        while pos < len(data):
            step = rnd.choice([1, 7, 100, 3000, 70000, 200000])
            a.sock.sendall(data[pos:pos + step])
            pos += step
            if rnd.random() < 0.3:
                time.sleep(0.002)
    # and a body cut short by the sender's death is freed with its channel
    a.open_channel(99)
    a.sock.sendall(publish_head(99, "dos", 5 << 20) + body_frames(99, b"y" * (2 << 20)))
    time.sleep(0.5)
    mid = ctl_status(b)["memory_used"]
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))
    ch = c.channel()
    got = []
    for _ in bodies:
        m, p, body = ch.basic_get("dos", auto_ack=True)
        assert m is not None, "only %d of %d messages arrived" % (len(got), len(bodies))
        got.append(body)
    assert ch.basic_get("dos", auto_ack=True)[0] is None, "an unfinished message was routed"
    for want, have in zip(bodies, got):
        assert want == have, "body of %d bytes arrived as %d bytes, or altered" % (len(want), len(have))
    print("%d multi-frame bodies dribbled in arrived intact; memory_used with 2 of 5 MiB received: %d"
          % (len(bodies), mid))
    a.close()
    time.sleep(0.5)
    end = ctl_status(b)["memory_used"]
    print("memory_used after the announcing connection closed: %d" % end)
    assert end < 2 << 20, "memory not given back: %d" % end
    c.close()
    b.stop()  # SIGTERM: must exit 0 (and, under ASan, leak-free)


BLOCKED_CLIENT = r"""
import os, socket, struct, sys, time, pika
port, rst = int(sys.argv[1]), sys.argv[2] == "rst"
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))
blocked = []
c.add_on_connection_blocked_callback(lambda *a: blocked.append(1))
ch = c.channel()
ch.basic_publish("", "gone", b"first")  # read: the connection now counts as a publisher
c.process_data_events(0.3)
end = time.time() + 10
while not blocked and time.time() < end:
    ch.basic_publish("", "gone", b"more")  # not read: blocked
    c.process_data_events(0.3)
if not blocked:
    print("never blocked", flush=True)
    os._exit(1)
if rst:  # go away with a reset instead of a FIN
    c._impl._transport._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
print("blocked", flush=True)
os._exit(0)
"""


def test_blocked_disconnect(b):
    conf = os.path.join(b.data_dir, "..", os.path.basename(b.data_dir) + ".conf")
    with open(conf, "w") as f:
        f.write("disk_free_limit.absolute = 1000TB\n")  # the disk alarm is on from the start
    b.binary_args = ["--config", conf]
    b.start()
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))
    c.channel().queue_declare("gone")
    c.close()
    assert "disk alarm:" in b.log(), "no disk alarm"
    procs = [subprocess.Popen([sys.executable, "-c", BLOCKED_CLIENT, str(b.port), how], stdout=subprocess.PIPE,
                              text=True) for how in ("fin", "rst")]
    outs = [p.communicate(timeout=30)[0].strip() for p in procs]
    t_exit = time.time()
    assert outs == ["blocked", "blocked"], outs
    # both are closed promptly: connection count 0, the close logged
    conns = None
    while time.time() - t_exit < 3:
        conns = ctl_status(b)["connections"]
        if conns == 0:
            break
        time.sleep(0.05)
    took = time.time() - t_exit
    log = b.log()
    closed = [line for line in log.splitlines() if "unexpectedly closed TCP connection" in line]
    print("2 blocked publishers exited: connections %s after %.2f s; logged:\n%s" % (conns, took, "\n".join(closed)))
    # idle now: no worker may spin
    time.sleep(0.3)
    c0 = cpu_seconds(b.proc.pid)
    time.sleep(3)
    used = cpu_seconds(b.proc.pid) - c0
    print("broker CPU time over 3 s idle after they left: %.2f s (pid %d, /proc/PID/stat utime+stime)"
          % (used, b.proc.pid))
    assert conns == 0, "the broker still holds %s connections of exited clients" % conns
    assert len(closed) == 2, "the closes were not logged:\n" + log
    assert used < 0.3, "the idle broker burnt %.2f s of CPU in 3 s" % used
    b.stop()


def test_blocked_heartbeat(b):
    b.binary_args = ["--memory-limit", "2M"]
    b.start()
    params = pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=2)
    c = pika.BlockingConnection(params)
    events = []
    c.add_on_connection_blocked_callback(lambda *a: events.append("blocked"))
    c.add_on_connection_unblocked_callback(lambda *a: events.append("unblocked"))
    chp = c.channel()
    chc = c.channel()
    chc.confirm_delivery()
    chp.queue_declare("hb")
    body = b"h" * 65536
    for _ in range(48):  # 3 MiB: over the limit
        chp.basic_publish("", "hb", body)
    end = time.time() + 15
    while "blocked" not in events and time.time() < end:
        chp.basic_publish("", "hb", b"small")
        c.process_data_events(0.3)
    assert "blocked" in events, "never blocked"
    # a raw client with heartbeat 2 blocked as well: it counts the broker's heartbeats
    r = RawClient(b.port, heartbeat=2)
    r.open_channel(1)
    r.sock.sendall(publish_head(1, "hb", 5) + body_frames(1, b"first"))
    time.sleep(0.3)
    r.sock.sendall(publish_head(1, "hb", 4) + body_frames(1, b"more"))
    t0 = time.time()
    raw_hb = 0
    raw_blocked = False
    raw_closed = False
    try:
        while time.time() - t0 < 8:  # > 3 x heartbeat, blocked all along
            c.process_data_events(0.25)
            r.sock.sendall(b"\x08\x00\x00\x00\x00\x00\x00\xce")  # its own heartbeat (not read: blocked)
            fs = r.frames(0.25)
            if fs is None:
                raw_closed = True
                break
            for f in fs:
                if isinstance(f, pika.frame.Heartbeat):
                    raw_hb += 1
                elif isinstance(f, pika.frame.Method) and isinstance(f.method, pika.spec.Connection.Blocked):
                    raw_blocked = True
    except pika.exceptions.AMQPError as e:
        raise AssertionError("the blocked pika publisher (heartbeat 2) was dropped after %.1f s: %r\n%s"
                             % (time.time() - t0, e, b.log()))
    blocked_for = time.time() - t0
    print("pika publisher (heartbeat 2 s) blocked for %.1f s: open %s; raw client blocked %s, closed %s, "
          "heartbeats received %d" % (blocked_for, c.is_open, raw_blocked, raw_closed, raw_hb))
    assert c.is_open and events == ["blocked"], events
    assert raw_blocked and not raw_closed, "raw client: blocked %s, closed %s" % (raw_blocked, raw_closed)
    assert raw_hb >= 5, "the broker sent %d heartbeats in 8 s to a blocked client" % raw_hb
    assert "missed heartbeats" not in b.log(), b.log()
    # drain the queue from another connection: the alarm clears, publishing resumes
    d = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))
    dch = d.channel()
    drained = 0
    while True:
        m = dch.basic_get("hb", auto_ack=True)[0]
        if m is None:
            break
        drained += 1
    end = time.time() + 10
    while "unblocked" not in events and time.time() < end:
        c.process_data_events(0.2)
        dch.queue_purge("hb")  # what the publisher's unblocked reads bring in
    assert "unblocked" in events, "no connection.unblocked after draining %d messages" % drained
    chc.basic_publish("", "hb", b"after", mandatory=True)  # returns once confirmed
    print("drained %d messages; events %s; a confirmed publish after the alarm cleared went through"
          % (drained, events))
    r.close()
    c.close()
    d.close()
    b.stop()


def rx_queue(local_port, remote_port):
    """Bytes the broker has not read yet on its socket of this connection."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if int(p[1].split(":")[1], 16) == local_port and int(p[2].split(":")[1], 16) == remote_port:
                return int(p[4].split(":")[1], 16)
    return -1


def test_paused_halfclose(b):
    """A client that does not read its output (basic.return of unroutable
    mandatory publishes) pauses the broker's reading; then it shuts its
    sending side. The broker must not spin on the half-close, and must close
    the connection once the client reads what it was sent."""
    b.start()
    r = RawClient(b.port, rcvbuf=4096)
    r.open_channel(1)
    me = r.sock.getsockname()[1]
    frames = publish_head(1, "nowhere", 65536, mandatory=True) + body_frames(1, b"r" * 65536)
    paused = 0
    for i in range(400):
        r.sock.sendall(frames)
        time.sleep(0.03)
        paused = paused + 1 if rx_queue(b.port, me) > 0 else 0
        if paused >= 5:
            break
    assert paused >= 5, "the broker never stopped reading"
    print("broker stopped reading after %d unroutable mandatory publishes of 64 KiB" % (i + 1))
    r.sock.shutdown(socket.SHUT_WR)
    time.sleep(0.5)
    c0 = cpu_seconds(b.proc.pid)
    time.sleep(2)
    used = cpu_seconds(b.proc.pid) - c0
    print("broker CPU time over 2 s after the half-close: %.2f s (/proc/PID/stat utime+stime)" % used)
    # reading what we were sent lets the broker read on, meet the EOF and close
    r.sock.settimeout(10)
    n = 0
    while True:
        d = r.sock.recv(1 << 20)
        if not d:
            break
        n += len(d)
    end = time.time() + 3
    while ctl_status(b)["connections"] and time.time() < end:
        time.sleep(0.05)
    conns = ctl_status(b)["connections"]
    print("read %d bytes of returns, then EOF; connections left: %d" % (n, conns))
    assert used < 0.3, "the broker burnt %.2f s of CPU in 2 s on a half-closed paused connection" % used
    assert conns == 0, conns
    r.close()
    b.stop()


def test_blocked_leaver_keeps_sent(b):
    """A blocked publisher that sends more and leaves (FIN): what it sent before
    leaving is taken and routed, not dropped with the connection."""
    conf = os.path.join(b.data_dir, "..", os.path.basename(b.data_dir) + ".conf")
    with open(conf, "w") as f:
        f.write("disk_free_limit.absolute = 1000TB\n")  # the disk alarm is on from the start
    b.binary_args = ["--config", conf]
    b.start()
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))
    c.channel().queue_declare("leaver")
    c.close()
    r = RawClient(b.port)
    r.open_channel(1)
    r.sock.sendall(publish_head(1, "leaver", 5) + body_frames(1, b"first"))
    time.sleep(0.3)
    more = b"".join(publish_head(1, "leaver", 4) + body_frames(1, b"m%03d" % i) for i in range(50))
    r.sock.sendall(more)  # read no more: the publisher is blocked at its next read
    end = time.time() + 5
    blocked = False
    while not blocked and time.time() < end:
        fs = r.frames(0.2)
        assert fs is not None, "closed before blocked"
        blocked = any(isinstance(f, pika.frame.Method) and isinstance(f.method, pika.spec.Connection.Blocked)
                      for f in fs)
    assert blocked, "no connection.blocked"
    r.sock.shutdown(socket.SHUT_WR)
    time.sleep(0.5)
    r.close()
    n, conns = None, None
    end = time.time() + 5
    while time.time() < end:
        conns = ctl_status(b)["connections"]
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))
        n = c.channel().queue_declare("leaver", passive=True).method.message_count
        c.close()
        if conns == 0 and n == 51:
            break
        time.sleep(0.1)
    print("blocked publisher sent 50 more and left: %s of 51 messages queued, %s connections left" % (n, conns))
    assert n == 51, "%s of 51 messages queued: what the leaver sent was dropped" % n
    assert conns == 0, "the leaver's connection is still open"
    b.stop()


TESTS = {"paused_halfclose": test_paused_halfclose, "blocked_leaver_keeps_sent": test_blocked_leaver_keeps_sent, "announced": test_announced, "blocked_disconnect": test_blocked_disconnect,
         "blocked_heartbeat": test_blocked_heartbeat}


def main():
    b = Broker(WARREN, data_dir=tempfile.mkdtemp(prefix="warren-flow-"))
    try:
        TESTS[sys.argv[3]](b)
        print("1 passed, 0 failed")
    except Exception:
        import traceback
        traceback.print_exc()
        print("0 passed, 1 failed")
        b.cleanup()
        sys.exit(1)
    b.cleanup()


if __name__ == "__main__":
    main()
