"""Record real AMQP client sessions as seeds for the whole-broker fuzzer.

    /usr/bin/python3 tests/fuzz/record_sessions.py BUILD_DIR OUT_DIR

Starts BUILD_DIR/warren and a recording TCP proxy in front of it, then runs
through the proxy (1) pika scenarios covering publish/consume/ack/nack/reject,
tx, confirms, qos, exchanges, queues, bindings, queue arguments, direct
reply-to, heartbeats and close, and (2) the rabbitmq-c interop test binaries
of BUILD_DIR (tests/interop). Every client connection becomes one session
file (sessions.py's format) in OUT_DIR: pika-NAME.bin, rabbitmqc-TEST-N.bin.
Run it again to refresh the checked-in seeds (tests/fuzz/sessions/).
"""
import datetime
import decimal
import hashlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sessions  # noqa: E402

import pika  # noqa: E402

MAX_SESSION = 48 * 1024  # bytes; larger sessions are not kept (slow to replay)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Proxy:
    """Forwards 127.0.0.1:port to the broker, recording what each client sends."""

    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.done = []  # finished sessions: lists of chunks
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.pump, args=(c,), daemon=True).start()

    def pump(self, c):
        chunks = []
        try:
            s = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            c.close()
            return
        try:
            while True:
                r, _, _ = select.select([c, s], [], [], 30)
                if not r:
                    break
                if c in r:
                    d = c.recv(65536)
                    if not d:
                        break
                    chunks.append(d)
                    s.sendall(d)
                if s in r:
                    d = s.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
        except OSError:
            pass
        c.close()
        s.close()
        with self.lock:
            self.done.append(chunks)

    def take(self, settle=0.3):
        time.sleep(settle)
        with self.lock:
            d, self.done = self.done, []
        return d


def params(port, **kw):
    return pika.ConnectionParameters("127.0.0.1", port, credentials=pika.PlainCredentials("guest", "guest"), **kw)


PROPS = pika.BasicProperties(
    content_type="text/plain", content_encoding="utf-8", delivery_mode=2, priority=3, correlation_id="c-1",
    reply_to="replies", expiration="60000", message_id="m-1", timestamp=1700000000, type="t", user_id="guest",
    app_id="fuzz", headers={"s": "str", "i": 7, "neg": -70000, "big": 1 << 40, "dec": decimal.Decimal("1.25"), "ts": datetime.datetime(2024, 1, 2), "b": True, "n": None,
                            "l": [1, "two", [3]], "t": {"k": "v", "d": {"x": 1}}, "by": b"\x00\x01"})


def sc_publish_consume_ack(ch):
    q = ch.queue_declare("rec-pc", durable=True).method.queue
    for i in range(5):
        ch.basic_publish("", q, b"body-%d" % i, PROPS)
    got = []

    def on(c, m, p, b):
        got.append(m.delivery_tag)
        c.basic_ack(m.delivery_tag)
        if len(got) == 5:
            c.stop_consuming()
    tag = ch.basic_consume(q, on)
    ch.start_consuming()
    ch.basic_cancel(tag)
    ch.queue_delete(q)


def sc_nack_reject_recover(ch):
    q = ch.queue_declare("rec-nack", auto_delete=False).method.queue
    for i in range(6):
        ch.basic_publish("", q, b"n%d" % i)
    tags = []
    for _ in range(4):
        m, p, b = ch.basic_get(q)
        tags.append(m.delivery_tag)
    ch.basic_nack(tags[1], multiple=True, requeue=True)
    ch.basic_reject(tags[2], requeue=False)
    ch.basic_nack(tags[3], multiple=False, requeue=False)
    ch.basic_recover(requeue=True)
    ch.basic_get(q, auto_ack=True)
    ch.queue_purge(q)
    ch.queue_delete(q, if_unused=False, if_empty=False)


def sc_tx(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.tx_select()
    ch.basic_publish("", q, b"tx1")
    ch.tx_commit()
    ch.basic_publish("", q, b"tx2")
    ch.tx_rollback()
    m, p, b = ch.basic_get(q)
    ch.basic_ack(m.delivery_tag)
    ch.tx_commit()


def sc_confirm(ch):
    ch.confirm_delivery()
    q = ch.queue_declare("rec-confirm", durable=True).method.queue
    for i in range(3):
        ch.basic_publish("", q, b"c%d" % i, pika.BasicProperties(delivery_mode=2))
    try:
        ch.basic_publish("amq.direct", "nowhere", b"x", mandatory=True)
    except pika.exceptions.UnroutableError:
        pass
    ch.queue_delete(q)


def sc_qos(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_qos(prefetch_count=2)
    ch.basic_qos(prefetch_count=5, global_qos=True)
    for i in range(6):
        ch.basic_publish("", q, b"q%d" % i)
    n = [0]

    def on(c, m, p, b):
        n[0] += 1
        if n[0] % 2 == 0:
            c.basic_ack(m.delivery_tag, multiple=True)
        if n[0] == 6:
            c.stop_consuming()
    ch.basic_consume(q, on, consumer_tag="rec-ctag", arguments={"x-priority": 5})
    ch.start_consuming()


def sc_exchanges(ch):
    for t in ("direct", "fanout", "topic", "headers"):
        ch.exchange_declare("rec-" + t, t, durable=t == "topic", auto_delete=t == "fanout")
    ch.exchange_declare("rec-alt", "fanout", arguments={"alternate-exchange": "rec-fanout"})
    ch.exchange_bind("rec-direct", "rec-topic", "a.*.c")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "rec-direct", "k")
    ch.queue_bind(q, "rec-topic", "#.z")
    ch.queue_bind(q, "rec-headers", "", arguments={"x-match": "any", "a": 1, "b": "two"})
    ch.basic_publish("rec-topic", "a.b.c", b"t")
    ch.basic_publish("rec-headers", "", b"h", pika.BasicProperties(headers={"a": 1}))
    ch.basic_publish("rec-alt", "", b"alt")
    ch.queue_unbind(q, "rec-headers", "", arguments={"x-match": "any", "a": 1, "b": "two"})
    ch.exchange_unbind("rec-direct", "rec-topic", "a.*.c")
    ch.exchange_declare("rec-direct", "direct", passive=True)
    for t in ("direct", "fanout", "topic", "headers", "alt"):
        ch.exchange_delete("rec-" + t)


def sc_queue_args(ch):
    ch.exchange_declare("rec-dlx", "fanout")
    args = [{"x-message-ttl": 100, "x-dead-letter-exchange": "rec-dlx", "x-dead-letter-routing-key": "dead"},
            {"x-max-length": 2, "x-overflow": "reject-publish"},
            {"x-max-length-bytes": 100, "x-overflow": "drop-head"},
            {"x-max-priority": 5},
            {"x-queue-type": "quorum", "x-delivery-limit": 2},
            {"x-single-active-consumer": True},
            {"x-expires": 60000},
            {"x-message-deduplication": True, "x-cache-size": 10}]
    for i, a in enumerate(args):
        q = "rec-args-%d" % i
        ch.queue_declare(q, durable=True, arguments=a)
        ch.basic_publish("", q, b"a", pika.BasicProperties(priority=2, headers={"x-deduplication-header": "d"}))
        ch.queue_delete(q)
    ch.exchange_delete("rec-dlx")


def sc_delayed(ch):
    ch.exchange_declare("rec-delayed", "x-delayed-message", arguments={"x-delayed-type": "direct"})
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "rec-delayed", "k")
    ch.basic_publish("rec-delayed", "k", b"later", pika.BasicProperties(headers={"x-delay": 50, "CC": ["k2"]}))
    time.sleep(0.1)
    ch.basic_get(q, auto_ack=True)
    ch.exchange_delete("rec-delayed")


def sc_reply_to(ch):
    ch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"req", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
    m, p, b = ch.basic_get(q, auto_ack=True)
    ch.basic_publish("", p.reply_to, b"resp")
    ch.connection.process_data_events(0.1)


def sc_errors(ch):
    conn = ch.connection
    try:
        ch.queue_declare("rec-nonexistent", passive=True)
    except pika.exceptions.ChannelClosedByBroker:
        pass
    ch2 = conn.channel()
    try:
        ch2.basic_publish("rec-no-such-exchange", "k", b"x")
        ch2.queue_declare("", exclusive=True)
    except pika.exceptions.ChannelClosedByBroker:
        pass
    ch3 = conn.channel()
    ch3.basic_qos(prefetch_count=1)
    ch3.close()


def sc_multi_channel(ch):
    conn = ch.connection
    chans = [conn.channel() for _ in range(4)]
    q = ch.queue_declare("", exclusive=True).method.queue
    for i, c in enumerate(chans):
        c.basic_publish("", q, b"from %d" % i)
    for c in chans:
        c.basic_get(q, auto_ack=True)
        c.close()


def sc_large_body(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, bytes(range(256)) * 40)  # 10 KB: three body frames at frame_max 4096
    ch.basic_publish("", q, b"")  # empty body: no body frame
    ch.basic_get(q, auto_ack=True)
    ch.basic_get(q, auto_ack=True)


def sc_heartbeat(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.connection.sleep(2.5)  # heartbeat 1 s: pika sends heartbeat frames
    ch.basic_publish("", q, b"hb")


SCENARIOS = [
    ("publish_consume_ack", sc_publish_consume_ack, {}),
    ("nack_reject_recover", sc_nack_reject_recover, {}),
    ("tx", sc_tx, {}),
    ("confirm", sc_confirm, {}),
    ("qos", sc_qos, {}),
    ("exchanges", sc_exchanges, {}),
    ("queue_args", sc_queue_args, {}),
    ("delayed", sc_delayed, {}),
    ("reply_to", sc_reply_to, {}),
    ("errors", sc_errors, {}),
    ("multi_channel", sc_multi_channel, {}),
    ("large_body", sc_large_body, {"frame_max": 4096}),
    ("heartbeat", sc_heartbeat, {"heartbeat": 1}),
]


def main():
    build, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    data = tempfile.mkdtemp(prefix="warren-record-")
    port = free_port()
    log = open(os.path.join(data, "..", os.path.basename(data) + ".log"), "wb")
    broker = subprocess.Popen([os.path.join(build, "warren"), "--port", str(port), "--bind", "127.0.0.1",
                               "--data-dir", os.path.join(data, "d"), "--threads", "2"], stderr=log, stdout=log)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        record(build, out, port)
    finally:
        broker.terminate()
        broker.wait()
        shutil.rmtree(data, ignore_errors=True)


def record(build, out, port):
    proxy = Proxy(port)
    seen = set()
    kept = 0

    def keep(name, chunks):
        nonlocal kept
        total = sum(len(c) for c in chunks)
        if total <= 8 or total > MAX_SESSION:
            return
        h = hashlib.sha1(b"".join(chunks)).hexdigest()
        if h in seen:
            return
        seen.add(h)
        sessions.dump(os.path.join(out, name + ".bin"), chunks)
        kept += 1

    for name, fn, kw in SCENARIOS:
        conn = pika.BlockingConnection(params(proxy.port, **kw))
        ch = conn.channel()
        signal.alarm(30)  # a scenario that waits for ever is a bug here
        fn(ch)
        signal.alarm(0)
        if conn.is_open:
            conn.close()
        recs = proxy.take()
        for i, r in enumerate(recs):
            keep("pika-%s%s" % (name, "" if i == 0 else "-%d" % i), r)
        print("pika %-22s %d session(s)" % (name, len(recs)), flush=True)
    interop = os.path.join(build, "tests", "interop")
    per_test = int(os.environ.get("RECORD_PER_TEST", "6"))
    for b in sorted(os.listdir(interop)):
        if not b.startswith("interop_test_"):
            continue
        env = dict(os.environ, WARREN_AMQP_PORT=str(proxy.port))
        try:
            subprocess.run([os.path.join(interop, b), "--jobs", "1"], env=env, timeout=120,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pass
        recs = [r for r in proxy.take(1.0) if 8 < sum(len(c) for c in r) <= MAX_SESSION]
        # keep the sessions that bring the most distinct frame kinds (type, class, method)
        def kinds(r):
            k = set()
            for chunk in sessions.frames_of(r):
                for f in chunk:
                    k.add(f[:1] + (f[7:11] if f[:1] == b"\x01" else b""))
            return k
        covered, chosen = set(), []
        for _ in range(per_test):
            best = max(recs, key=lambda r: len(kinds(r) - covered), default=None)
            if best is None or not kinds(best) - covered:
                break
            covered |= kinds(best)
            chosen.append(best)
            recs.remove(best)
        short = b[len("interop_test_"):]
        for i, r in enumerate(chosen):
            keep("rabbitmqc-%s-%d" % (short, i), r)
        print("rabbitmq-c %-15s %d session(s) kept" % (short, len(chosen)), flush=True)
    print("%d sessions in %s" % (kept, out))


if __name__ == "__main__":
    main()
