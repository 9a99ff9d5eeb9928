#!/usr/bin/python3
"""mgmt_perf.py — the management HTTP API's two must-show figures, on a broker
that is already running (Warren or the reference RabbitMQ):

  GET /api/overview                          (target on Warren: < 5 ms)
  GET /api/queues?page=1&page_size=100       with N queues (target: < 50 ms at 100,000)

It declares N queues (pipelined queue.declare with nowait over one raw AMQP
connection, so declaring 100,000 takes seconds, not a round trip each), then
times R requests of each over one keep-alive HTTP connection and prints the
median, p95 and max in ms (and a JSON line with --json).

  /usr/bin/python3 tests/perf/mgmt_perf.py --amqp 5672 --mgmt 15672 --queues 100000
  # Warren:   warren --port P --data-dir D --config C   (C: management.tcp.port = M)
  # RabbitMQ: REF_MGMT_PORT=M ../shared/tools/reference-rabbitmq P
Options: --user/--password (guest), --prefix (queue names, default mgmtperf-),
--requests R (20), --skip-declare (the queues are there already), --json."""
import argparse
import base64
import http.client
import json
import socket
import struct
import sys
import time


def shortstr(s):
    b = s.encode()
    return struct.pack("B", len(b)) + b


def longstr(b):
    return struct.pack(">I", len(b)) + b


def frame(kind, ch, payload):
    return struct.pack(">BHI", kind, ch, len(payload)) + payload + b"\xce"


def method(ch, cls, mth, args):
    return frame(1, ch, struct.pack(">HH", cls, mth) + args)


def read_frame(sock, buf):
    while True:
        if len(buf) >= 7:
            kind, ch, size = struct.unpack(">BHI", bytes(buf[:7]))
            if len(buf) >= 8 + size:
                payload = bytes(buf[7:7 + size])
                del buf[:8 + size]
                return kind, ch, payload
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("broker closed the connection")
        buf += data


def expect(sock, buf, cls, mth):
    while True:
        kind, ch, p = read_frame(sock, buf)
        if kind != 1:
            continue
        c, m = struct.unpack(">HH", p[:4])
        if (c, m) == (cls, mth):
            return p[4:]
        if (c, m) in ((10, 50), (20, 40)):
            code = struct.unpack(">H", p[4:6])[0]
            raise RuntimeError("broker closed: %d %s" % (code, p[7:7 + p[6]].decode(errors="replace")))


def declare_queues(port, user, password, prefix, n):
    s = socket.create_connection(("127.0.0.1", port))
    buf = bytearray()
    s.sendall(b"AMQP\x00\x00\x09\x01")
    expect(s, buf, 10, 10)  # start
    resp = b"\x00" + user.encode() + b"\x00" + password.encode()
    s.sendall(method(0, 10, 11, longstr(b"") + shortstr("PLAIN") + longstr(resp) + shortstr("en_US")))
    tune = expect(s, buf, 10, 30)
    chmax, fmax, _hb = struct.unpack(">HIH", tune[:8])
    s.sendall(method(0, 10, 31, struct.pack(">HIH", chmax, fmax, 0)))
    s.sendall(method(0, 10, 40, shortstr("/") + shortstr("") + b"\x00"))
    expect(s, buf, 10, 41)
    s.sendall(method(1, 20, 10, shortstr("")))
    expect(s, buf, 20, 11)
    batch = []
    for i in range(n):
        # queue.declare: reserved, name, bits (passive durable exclusive auto-delete no-wait), arguments
        batch.append(method(1, 50, 10, struct.pack(">H", 0) + shortstr("%s%06d" % (prefix, i)) + b"\x10" +
                            longstr(b"")))
        if len(batch) == 1000:
            s.sendall(b"".join(batch))
            batch = []
    if batch:
        s.sendall(b"".join(batch))
    # a last declare with a reply: every nowait one before it is done
    s.sendall(method(1, 50, 10, struct.pack(">H", 0) + shortstr(prefix + "last") + b"\x00" + longstr(b"")))
    expect(s, buf, 50, 11)
    s.close()


def timed(conn, path, auth, reps):
    times, size = [], 0
    for _ in range(reps):
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": auth})
        r = conn.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            raise RuntimeError("%s: HTTP %d %s" % (path, r.status, body[:200]))
        size = len(body)
    times.sort()
    return {"median_ms": round(times[len(times) // 2], 2), "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
            "max_ms": round(times[-1], 2), "bytes": size}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--amqp", type=int, required=True)
    ap.add_argument("--mgmt", type=int, required=True)
    ap.add_argument("--queues", type=int, default=100000)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--user", default="guest")
    ap.add_argument("--password", default="guest")
    ap.add_argument("--prefix", default="mgmtperf-")
    ap.add_argument("--skip-declare", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not a.skip_declare:
        t0 = time.time()
        declare_queues(a.amqp, a.user, a.password, a.prefix, a.queues)
        print("declared %d queues in %.1f s" % (a.queues, time.time() - t0), file=sys.stderr)
    auth = "Basic " + base64.b64encode(("%s:%s" % (a.user, a.password)).encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", a.mgmt, timeout=300)
    # RabbitMQ's stats lag a few seconds behind: wait until the queues are listed
    deadline = time.time() + 120
    while True:
        conn.request("GET", "/api/queues?page=1&page_size=1&columns=name", headers={"Authorization": auth})
        r = conn.getresponse()
        total = json.loads(r.read()).get("total_count", 0)
        if total >= a.queues or time.time() > deadline:
            break
        time.sleep(1)
    res = {"queues_listed": total, "requests": a.requests,
           "overview": timed(conn, "/api/overview", auth, a.requests),
           "queues_page": timed(conn, "/api/queues?page=1&page_size=100", auth, a.requests)}
    if a.json:
        print(json.dumps(res))
    else:
        print("queues listed: %d" % total)
        for k in ("overview", "queues_page"):
            print("%-12s median %7.2f ms  p95 %7.2f ms  max %7.2f ms  (%d bytes)" %
                  (k, res[k]["median_ms"], res[k]["p95_ms"], res[k]["max_ms"], res[k]["bytes"]))


if __name__ == "__main__":
    main()
