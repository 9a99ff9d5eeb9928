#!/usr/bin/python3
"""Durability tests against a real Warren with pika: definitions and persistent
messages survive restarts; after kill -9 every confirmed message is there, no
message acked more than a second before the kill comes back, and delivered but
unacked messages come back with redelivered=true.

usage: test_durability.py WARREN_BINARY [--rounds N] [--only NAME]"""
import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback

import pika

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker  # noqa: E402
from broker import Broker  # noqa: E402

PERSISTENT = pika.BasicProperties(delivery_mode=2)
PAD = ""  # --pad: bytes appended to kill -9 round messages


def connect(b):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))


def drain(b, queue, timeout=2.0):
    """All messages of a queue (body, redelivered) via basic.get, acked."""
    c = connect(b)
    ch = c.channel()
    out = []
    deadline = time.time() + timeout
    while True:
        m, props, body = ch.basic_get(queue, auto_ack=False)
        if m is None:
            break
        out.append((body.decode(), m.redelivered))
        ch.basic_ack(m.delivery_tag)
        # A slow machine must not turn into "lost messages": running out of time is an error.
        assert time.time() < deadline, "draining %s took over %.0f s (%d messages so far)" % (queue, timeout, len(out))
    c.close()
    return out


def test_definitions_survive_restart(binary):
    b = Broker(binary)
    b.start()
    c = connect(b)
    ch = c.channel()
    ch.exchange_declare("dx", "topic", durable=True)
    ch.exchange_declare("tx", "fanout", durable=False)
    ch.queue_declare("dq", durable=True, arguments={"x-queue-type": "classic"})
    ch.queue_declare("tq", durable=False)
    ch.queue_bind("dq", "dx", "a.#")
    ch.queue_bind("dq", "amq.direct", "k")
    ch.exchange_declare("dx2", "direct", durable=True)
    ch.exchange_bind("dx2", "dx", "a.b")
    ch.queue_declare("gone", durable=True)
    ch.queue_delete("gone")
    c.close()
    b.stop()
    b.start()
    c = connect(b)
    ch = c.channel()
    ch.exchange_declare("dx", "topic", durable=True, passive=True)
    ch.queue_declare("dq", durable=True, passive=True)
    for name, kind in (("tx", "exchange"), ("tq", "queue"), ("gone", "queue")):
        chx = c.channel()
        try:
            if kind == "exchange":
                chx.exchange_declare(name, passive=True)
            else:
                chx.queue_declare(name, passive=True)
            raise AssertionError("transient or deleted %s %s survived a restart" % (kind, name))
        except pika.exceptions.ChannelClosedByBroker as e:
            assert e.reply_code == 404, e
    # bindings came back: route through dx (topic) and amq.direct
    ch.confirm_delivery()
    ch.basic_publish("dx", "a.x.y", b"via-topic", PERSISTENT, mandatory=True)
    ch.basic_publish("amq.direct", "k", b"via-direct", PERSISTENT, mandatory=True)
    c.close()
    got = [x[0] for x in drain(b, "dq")]
    assert got == ["via-topic", "via-direct"], got
    # redeclaring with other properties is still refused (the flags were restored)
    c = connect(b)
    ch = c.channel()
    try:
        ch.queue_declare("dq", durable=False)
        raise AssertionError("redeclare with durable=false accepted after restart")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 406, e
    c.close()
    b.stop()
    return b


def test_messages_survive_restart_in_order(binary):
    b = Broker(binary)
    b.start()
    c = connect(b)
    ch = c.channel()
    ch.queue_declare("pq", durable=True)
    ch.queue_declare("tq", durable=False)
    ch.exchange_declare("fan", "fanout", durable=True)
    ch.queue_bind("pq", "fan")
    ch.queue_bind("tq", "fan")
    ch.confirm_delivery()
    order = []  # pq's contents in queue order
    for i in range(1000):
        ch.basic_publish("", "pq", ("p%d" % i).encode(), PERSISTENT)
        order.append("p%d" % i)
        if i % 10 == 0:
            ch.basic_publish("", "pq", ("t%d" % i).encode())  # transient: gone after restart
            order.append("t%d" % i)
    ch.basic_publish("fan", "", b"fanned", PERSISTENT)
    order.append("fanned")
    for i in range(100):  # consume and ack the first 100
        m, _, body = ch.basic_get("pq")
        assert body.decode() == order[i], (body, order[i])
        ch.basic_ack(m.delivery_tag)
    c2 = connect(b)
    ch2 = c2.channel()
    held = []  # the next 5: delivered, never acked
    for i in range(5):
        m, _, body = ch2.basic_get("pq")
        held.append(body.decode())
    c.close()
    b.stop()  # graceful: the held messages go back to the queue, unacked
    b.start()
    got = drain(b, "pq", timeout=60)
    expect = [x for x in order[100:] if not x.startswith("t")]
    assert [x[0] for x in got] == expect, "after restart: %s ... expected %s ..." % (got[:5], expect[:5])
    for body, redelivered in got:
        assert redelivered == (body in held), "%s came back with redelivered=%s" % (body, redelivered)
    try:
        c2.close()
    except Exception:
        pass
    c = connect(b)
    try:
        c.channel().queue_declare("tq", passive=True)
        raise AssertionError("a transient queue survived a restart")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404, e
    c.close()
    b.stop()
    b.start()  # drained and restarted: nothing comes back
    assert drain(b, "pq") == [], "acked messages came back after a second restart"
    b.stop()
    return b


def test_server_named_durable_queue(binary):
    """A durable queue the broker named (queue.declare with an empty name) keeps
    its confirmed persistent messages across a clean restart and kill -9: recovery
    must not apply the client-side 'amq.' prefix rule to what the broker wrote
    (issue 9, item 2). Its bindings come back too."""
    b = Broker(binary)
    b.start()
    c = connect(b)
    ch = c.channel()
    name = ch.queue_declare("", durable=True).method.queue
    assert name.startswith("amq.gen-"), name
    ch.queue_bind(name, "amq.direct", "sn-key")
    ch.confirm_delivery()
    for i in range(5):
        ch.basic_publish("", name, ("sn%d" % i).encode(), PERSISTENT)
    c.close()
    for how in ("restart", "kill -9"):
        if how == "restart":
            b.stop()
        else:
            b.kill9()
        b.start()
        c = connect(b)
        ch = c.channel()
        try:
            n = ch.queue_declare(name, durable=True, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker as e:
            raise AssertionError("server-named durable queue %s gone after a %s: %s" % (name, how, e))
        assert n == 5, "after a %s: %d messages in %s, expected 5" % (how, n, name)
        ch.confirm_delivery()  # the binding came back: a sixth message routes through amq.direct
        ch.basic_publish("amq.direct", "sn-key", b"bound", PERSISTENT, mandatory=True)
        n = ch.queue_declare(name, durable=True, passive=True).method.message_count
        assert n == 6, "after a %s: the binding to amq.direct is gone (%d messages)" % (how, n)
        c.close()
        got = drain(b, name)
        assert [x[0] for x in got] == ["sn%d" % i for i in range(5)] + ["bound"], (how, got)
        c = connect(b)  # put the five back for the next round
        ch = c.channel()
        ch.confirm_delivery()
        for i in range(5):
            ch.basic_publish("", name, ("sn%d" % i).encode(), PERSISTENT)
        c.close()
    assert "not restored" not in b.log(), "recovery refused something: " + b.log()[-2000:]
    b.stop()
    return b


def kill9_round(binary, b=None, seconds=2.0):
    b = b or Broker(binary)
    b.start()
    c = connect(b)
    ch = c.channel()
    ch.queue_declare("kq", durable=True)
    c.close()
    confirmed = set()
    lock = threading.Lock()
    stop = threading.Event()
    acked = {}        # body -> time acked (client side, after basic_ack was sent)
    delivered = set()

    def publisher(pid):
        try:
            pc = connect(b)
            pch = pc.channel()
            pch.confirm_delivery()
            n = 0
            while not stop.is_set():
                body = "m-%d-%d" % (pid, n)
                pch.basic_publish("", "kq", (body + PAD).encode(), PERSISTENT)  # returns after the confirm
                with lock:
                    confirmed.add(body)
                n += 1
        except Exception:
            pass

    def consumer():
        try:
            cc = connect(b)
            cch = cc.channel()
            cch.basic_qos(prefetch_count=65535)  # leaving a third unacked must not stall it
            for m, props, body in cch.consume("kq", inactivity_timeout=0.1):
                if stop.is_set():
                    break
                if m is None:
                    continue
                body = body.decode()[:len(body) - len(PAD)]
                with lock:
                    delivered.add(body)
                if int(body.split("-")[2]) % 3:  # ack two thirds, leave the rest unacked
                    with lock:  # noted before it is sent: a kill may land in between
                        acked[body] = time.time()
                    cch.basic_ack(m.delivery_tag)
        except Exception:
            pass

    threads = [threading.Thread(target=publisher, args=(i,)) for i in range(3)] + [threading.Thread(target=consumer)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    kill_time = time.time()
    b.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=10)
    b.start()
    got = [(x[0][:len(x[0]) - len(PAD)],) + tuple(x[1:]) for x in drain(b, "kq", timeout=180)]
    bodies = {x[0] for x in got}
    redelivered = {x[0] for x in got if x[1]}
    with lock:
        lost = [m for m in confirmed if m not in bodies and m not in acked]
        old_acked_back = [m for m in bodies if m in acked and acked[m] < kill_time - 1.0]
        unacked_delivered = [m for m in delivered if m not in acked]
    assert len(acked) > 100, "the consumer acked only %d messages: the ack checks below would be vacuous" % len(acked)
    assert not lost, "%d confirmed message(s) lost after kill -9, e.g. %s" % (len(lost), lost[:3])
    assert not old_acked_back, "message(s) acked >1 s before the kill came back: %s" % old_acked_back[:3]
    for m in unacked_delivered:
        if m in bodies:
            assert m in redelivered, "delivered-unacked %s came back without redelivered=true" % m
    # (a message may reach a consumer before its confirm: only confirmed ones must survive)
    missing_unacked = [m for m in unacked_delivered if m not in bodies and m in confirmed]
    assert not missing_unacked, "delivered-unacked message(s) lost: %s" % missing_unacked[:3]
    # per publisher, the order of what came back follows publish order
    order = [x[0] for x in got]
    for pid in range(3):
        seq = [int(m.split("-")[2]) for m in order if m.startswith("m-%d-" % pid)]
        redo = [int(m.split("-")[2]) for m in order if m.startswith("m-%d-" % pid) and m in redelivered]
        fresh = [s for s in seq if ("m-%d-%d" % (pid, s)) not in redelivered]
        assert fresh == sorted(fresh), "publisher %d order broken after recovery" % pid
        assert redo == sorted(redo), "publisher %d redelivered order broken" % pid
    b.stop()
    return b, len(confirmed), len(acked), len(got)


def test_kill9_confirms_acks_redelivery(binary):
    b, nconf, nack, nback = kill9_round(binary)
    print("    kill -9 round: %d confirmed, %d acked, %d back after restart" % (nconf, nack, nback))
    return b


def consume_n(b, queue, n, ack=True):
    """Consume n messages with prefetch 1000 and multi-acks; returns bodies."""
    c = connect(b)
    ch = c.channel()
    ch.basic_qos(prefetch_count=1000)
    out = []
    last = acked = None
    for m, props, body in ch.consume(queue, inactivity_timeout=5):
        if m is None:
            break
        out.append(body.decode())
        last = m.delivery_tag
        if ack and len(out) % 500 == 0:
            ch.basic_ack(last, multiple=True)
            acked = last
        if len(out) == n:
            break
    if ack and last and last != acked:
        ch.basic_ack(last, multiple=True)
    ch.cancel()
    c.close()
    return out


def test_deep_queue_pages_to_the_log(binary):
    """A durable queue deeper than its in-memory limit keeps later messages as
    log positions only; they come back intact and in order, before and after
    a restart."""
    n = 50000
    b = Broker(binary)
    b.start()
    c = connect(b)
    ch = c.channel()
    ch.queue_declare("deep", durable=True)
    for i in range(n):
        ch.basic_publish("", "deep", ("d%06d" % i).encode(), PERSISTENT)
    ch.confirm_delivery()
    ch.basic_publish("", "deep", b"end", PERSISTENT)  # confirmed: everything before is in the log
    c.close()
    first = consume_n(b, "deep", 10000)
    assert first == ["d%06d" % i for i in range(10000)], "order broken in memory part"
    b.stop()
    t = b.start()
    rest = consume_n(b, "deep", n - 10000 + 1)
    want = ["d%06d" % i for i in range(10000, n)] + ["end"]
    assert rest == want, "deep queue after restart: %d messages, first %s" % (len(rest), rest[:2])
    print("    deep queue: %d messages; restart with %d on disk took %.2f s" % (n + 1, len(want), t))
    b.stop()
    return b


def log_dir_usage(b):
    d = os.path.join(b.data_dir, "log")
    segs = [f for f in os.listdir(d) if f.endswith(".seg")]
    used = sum(os.stat(os.path.join(d, f)).st_blocks * 512 for f in os.listdir(d))
    return len(segs), used


def test_straggler_does_not_pin_the_log(binary):
    """One old message nobody consumes must not keep the log behind it: with
    1 MiB segments, ~40 MiB of messages published and acked through another
    queue after it leave a few segments, not forty; the straggler and the
    queue's order survive a restart, and the acked messages never come back."""
    conf = os.path.join(tempfile.mkdtemp(prefix="warren-seg-"), "warren.conf")
    with open(conf, "w") as f:
        f.write("log.segment_size = 1MiB\n")
    b = Broker(binary)
    b.binary_args += ["--config", conf]
    b.start()
    c = connect(b)
    ch = c.channel()
    ch.queue_declare("stuck", durable=True)
    ch.queue_declare("busy", durable=True)
    ch.confirm_delivery()
    ch.basic_publish("", "stuck", b"straggler", PERSISTENT)
    body = b"x" * 4000
    n = 10000
    peak = 0
    for rnd in range(4):  # publish and drain in rounds so the log keeps moving
        for i in range(n // 4):
            ch.basic_publish("", "busy", body, PERSISTENT, mandatory=False)
        got = 0
        for m, props, bd in ch.consume("busy", inactivity_timeout=5):
            if m is None:
                break
            got += 1
            if got % 100 == 0 or got == n // 4:
                ch.basic_ack(m.delivery_tag, multiple=True)
            if got == n // 4:
                break
        ch.cancel()
        assert got == n // 4, "round %d: consumed %d of %d" % (rnd, got, n // 4)
        peak = max(peak, log_dir_usage(b)[0])
    ch.basic_publish("", "busy", b"last", PERSISTENT)  # confirmed: acks before it are in the log too
    c.close()
    deadline = time.time() + 15  # the maintenance pass runs every second
    while time.time() < deadline:
        segs, used = log_dir_usage(b)
        if segs <= 4 and used < 4 << 20:
            break
        time.sleep(0.2)
    segs, used = log_dir_usage(b)
    print("    straggler: %d MiB published through 1 MiB segments (peak %d segment files); after: %d segment "
          "file(s), %.1f MiB on disk" % (n * 4000 >> 20, peak, segs, used / 1048576.0))
    assert segs <= 4, "%d segment files left behind one unconsumed message" % segs
    assert used < 4 << 20, "%.1f MiB still on disk" % (used / 1048576.0)
    for restart in ("graceful", "kill -9"):
        if restart == "graceful":
            b.stop()
        else:
            b.kill9()
        b.start()
        busy = drain(b, "busy", timeout=30)
        assert [x[0] for x in busy] == ["last"], "%s restart: busy holds %d messages" % (restart, len(busy))
        c = connect(b)
        ch = c.channel()
        ch.confirm_delivery()
        ch.basic_publish("", "busy", b"last", PERSISTENT)
        m, props, bd = ch.basic_get("stuck", auto_ack=False)
        assert bd == b"straggler", "%s restart: the straggler is gone (%r)" % (restart, bd)
        ch.basic_nack(m.delivery_tag, requeue=True)
        c.close()
    assert "skipped" not in b.log() and "corrupt" not in b.log(), b.log()
    b.stop()
    return b


def test_disk_faults_nack_and_recover(binary, shim):
    """fdatasync and write failures (LD_PRELOAD shim): publishers get
    basic.nack, consumers keep being served, the log is not corrupted, and
    publishing works again once the disk does."""
    import tempfile
    data = tempfile.mkdtemp(prefix="warren-faults-")
    ctl = data + ".ctl"
    env = {"LD_PRELOAD": shim, "WARREN_FAULT_CTL": ctl, "WARREN_FAULT_DIR": os.path.realpath(data),
           "ASAN_OPTIONS": "verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", "")}
    b = Broker(binary, data_dir=data, env=env)
    b.start()
    c = connect(b)
    ch = c.channel()
    ch.queue_declare("fq", durable=True)
    ch.queue_declare("tq")
    ch.confirm_delivery()
    acked = []
    for i in range(50):
        ch.basic_publish("", "fq", ("ok-%d" % i).encode(), PERSISTENT)
        acked.append("ok-%d" % i)
    for fault in ("fdatasync", "pwrite", "enospc"):
        with open(ctl, "w") as f:
            f.write(fault)
        try:
            ch.basic_publish("", "fq", ("lost-" + fault).encode(), PERSISTENT)
            raise AssertionError("publish confirmed while %s fails" % fault)
        except pika.exceptions.NackError:
            pass
        # consumers keep being served, transient traffic flows
        c2 = connect(b)
        ch2 = c2.channel()
        ch2.basic_publish("", "tq", b"transient")
        m, _, body = ch2.basic_get("tq", auto_ack=True)
        assert body == b"transient", "transient traffic stopped while %s fails" % fault
        c2.close()
        os.unlink(ctl)
        ch.basic_publish("", "fq", ("after-" + fault).encode(), PERSISTENT)  # acked again
        acked.append("after-" + fault)
    c.close()
    b.stop()
    assert "publishes are nacked" in b.log(), "the failure was not logged"
    b.extra_env = {}
    b.start()
    got = [x[0] for x in drain(b, "fq", timeout=5)]
    missing = [m for m in acked if m not in got]
    assert not missing, "confirmed messages lost after disk faults: %s" % missing
    log = b.log().split("Warren stopped")[-1]
    assert "skipped" not in log and "corrupt" not in log, "the log was damaged:\n" + log
    b.stop()
    return b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--rounds", type=int, default=0, help="stress: repeat the kill -9 round N times")
    ap.add_argument("--only")
    ap.add_argument("--segment-size", help="log.segment_size for every broker (e.g. 1MiB: rolls, indexes and compactions happen within a round)")
    ap.add_argument("--pad", type=int, default=0, help="bytes of padding added to each kill -9 round message")
    ap.add_argument("--faultfs", help="path of the faultfs.so LD_PRELOAD shim (enables the fault test)")
    a = ap.parse_args()
    global PAD
    PAD = "x" * a.pad
    if a.segment_size:
        conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        conf.write("log.segment_size = %s\n" % a.segment_size)
        conf.close()
        broker.EXTRA_ARGS.extend(["--config", conf.name])
    tests = [test_definitions_survive_restart, test_messages_survive_restart_in_order,
             test_kill9_confirms_acks_redelivery, test_deep_queue_pages_to_the_log,
             test_straggler_does_not_pin_the_log, test_server_named_durable_queue]
    if a.faultfs:
        tests.append(test_disk_faults_nack_and_recover)
    passed = failed = 0
    if a.rounds:
        b = Broker(a.binary)
        for r in range(a.rounds):
            try:
                _, nconf, nack, nback = kill9_round(a.binary, b)
                print("round %d: ok (%d confirmed, %d acked, %d back)" % (r + 1, nconf, nack, nback))
                passed += 1
            except Exception:
                failed += 1
                traceback.print_exc()
                print("round %d: FAILED (log %s)" % (r + 1, b.log_path))
                if b.proc and b.proc.poll() is None:  # do not let one failure cascade into the next rounds
                    b.kill9()
                shutil.rmtree(b.data_dir, ignore_errors=True)
                os.makedirs(b.data_dir)
        shutil.rmtree(b.data_dir, ignore_errors=True)
    else:
        for t in tests:
            if a.only and a.only not in t.__name__:
                continue
            try:
                b = t(a.binary, a.faultfs) if t is test_disk_faults_nack_and_recover else t(a.binary)
                print("PASS %s" % t.__name__)
                passed += 1
                shutil.rmtree(b.data_dir, ignore_errors=True)
            except Exception:
                failed += 1
                traceback.print_exc()
                print("FAIL %s" % t.__name__)
                broker.kill_all()  # the failed test's broker must not run on
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
