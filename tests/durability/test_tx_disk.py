#!/usr/bin/python3
"""Transactions and confirms on a failing disk (issue 9, item 3), with pika.

A tx.commit whose persistent messages the disk refused must fail with
channel.close 406 "PRECONDITION_FAILED - partial tx completion ..." (as
RabbitMQ fails a commit some of whose publishes were nacked), never
tx.commit-ok; every commit-ok'd message must be there after kill -9 and after
a graceful restart; a message whose record was lost (failed commit, nacked
confirm) must never reach a consumer: what a consumer is served after the
failure is exactly what comes back after a restart.

  test_tx_disk.py WARREN --faultfs FAULTFS.so   deterministic: the LD_PRELOAD shim fails fdatasync
  test_tx_disk.py WARREN --tmpfs                a real full disk: a 64 MiB tmpfs data dir (root only;
                                                exits 77 = skipped, with the reason, when it cannot mount)
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback

import pika

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker  # noqa: E402
from broker import Broker  # noqa: E402

SKIP = 77
PERSISTENT = pika.BasicProperties(delivery_mode=2)
COMMIT_ERROR = "PRECONDITION_FAILED - partial tx completion"


def connect(b):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0,
                                                             blocked_connection_timeout=30))


def serve_all(b, queue):
    """Every message a consumer is served from queue now (basic.get, no ack:
    they stay in the queue and go back when the connection closes)."""
    c = connect(b)
    ch = c.channel()
    got = []
    deadline = time.time() + 60
    while True:
        m, _, body = ch.basic_get(queue, auto_ack=False)
        if m is None:
            break
        got.append(body.decode()[:40].split(" ")[0])
        assert time.time() < deadline, "serving %s took over 60 s" % queue
    c.close()
    return got


def commit_tx(ch, bodies, exchange, rk):
    """Publish bodies in one transaction; True on commit-ok, the close reason on failure."""
    for body in bodies:
        ch.basic_publish(exchange, rk, body.encode(), PERSISTENT)
    try:
        ch.tx_commit()
        return True
    except pika.exceptions.ChannelClosedByBroker as e:
        return e


def check_commit_error(e):
    assert isinstance(e, pika.exceptions.ChannelClosedByBroker), "commit did not fail with a channel error: %r" % (e,)
    assert e.reply_code == 406 and e.reply_text.startswith(COMMIT_ERROR), \
        "failed commit closed the channel with %d %r, expected 406 %r..." % (e.reply_code, e.reply_text, COMMIT_ERROR)


def check_restart(b, queue, committed, served, how):
    """After a restart the queue holds every committed message, and exactly what
    was served before it (nothing the disk refused comes back)."""
    back = serve_all(b, queue)
    missing = [m for m in committed if m not in back]
    assert not missing, "after %s: %d commit-ok'd messages lost, e.g. %s" % (how, len(missing), missing[:5])
    assert sorted(back) == sorted(served), \
        "after %s: served before %d messages, back %d (extra %s, missing %s)" % (
            how, len(served), len(back), sorted(set(back) - set(served))[:5], sorted(set(served) - set(back))[:5])
    assert len(set(back)) == len(back), "after %s: duplicates in the queue" % how


def test_faultfs_tx(binary, shim):
    """Deterministic: fdatasync fails (EIO) for one commit, then the disk heals."""
    data = tempfile.mkdtemp(prefix="warren-txfault-")
    ctl = data + ".ctl"
    env = {"LD_PRELOAD": shim, "WARREN_FAULT_CTL": ctl, "WARREN_FAULT_DIR": os.path.realpath(data),
           "ASAN_OPTIONS": "verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", "")}
    b = Broker(binary, data_dir=data, env=env)
    try:
        b.start()
        c = connect(b)
        ch = c.channel()
        # a message routed to a durable and a non-durable queue shares one fate
        ch.exchange_declare("fx", "fanout", durable=True)
        ch.queue_declare("dq", durable=True)
        ch.queue_declare("nq", durable=False)
        ch.queue_bind("dq", "fx")
        ch.queue_bind("nq", "fx")
        ch.queue_declare("cq", durable=True)
        ch.tx_select()
        committed = []
        for t in range(3):
            bodies = ["ok-%d-%d" % (t, i) for i in range(5)]
            assert commit_tx(ch, bodies, "fx", "") is True, "commit %d failed on a good disk" % t
            committed += bodies
        for fault in ("fdatasync", "enospc"):
            with open(ctl, "w") as f:
                f.write(fault)
            r = commit_tx(ch, ["lost-%s-%d" % (fault, i) for i in range(5)], "fx", "")
            check_commit_error(r)
            # nothing after the failure is reported durable: a new channel's commit fails too
            ch = c.channel()
            ch.tx_select()
            r = commit_tx(ch, ["lost2-%s-%d" % (fault, i) for i in range(3)], "fx", "")
            check_commit_error(r)
            # confirms: nacked, and the nacked message is not served either
            cc = c.channel()
            cc.confirm_delivery()
            try:
                cc.basic_publish("fx", "", ("nacked-%s" % fault).encode(), PERSISTENT)
                raise AssertionError("publish confirmed while %s fails" % fault)
            except pika.exceptions.NackError:
                pass
            # a consumer attached meanwhile may get a message before its sync fails (deliveries do
            # not wait for the disk); once it gives the message back unacked, it is gone
            cq = c.channel()
            inflight = []
            cq.basic_consume("cq", lambda _c, _m, _p, body: inflight.append(body))
            try:
                cc.basic_publish("", "cq", ("inflight-%s" % fault).encode(), PERSISTENT)
                raise AssertionError("publish confirmed while %s fails" % fault)
            except pika.exceptions.NackError:
                pass
            c.process_data_events(time_limit=0.3)
            print("  %s: the attached consumer got %d message(s) before the failure was known" % (fault, len(inflight)))
            cq.close()  # unacked: back to the queue, where it must not be served
            cc.close()
            os.unlink(ctl)
            ch = c.channel()
            ch.tx_select()
            bodies = ["after-%s-%d" % (fault, i) for i in range(5)]
            assert commit_tx(ch, bodies, "fx", "") is True, "commit failed after the disk healed (%s)" % fault
            committed += bodies
        c.close()
        for q in ("dq", "nq"):
            served = serve_all(b, q)
            bad = [m for m in served if not m.startswith(("ok-", "after-"))]
            assert not bad, "queue %s served messages the disk refused: %s" % (q, bad)
            missing = [m for m in committed if m not in served]
            assert not missing, "queue %s lacks commit-ok'd messages: %s" % (q, missing)
        served = serve_all(b, "cq")
        assert not served, "messages whose publish was nacked were served again: %s" % served
        served = serve_all(b, "dq")
        assert "could not be made durable" in b.log(), "the failure was not logged"
        assert COMMIT_ERROR in b.log(), "the failed commit was not logged"
        b.kill9()
        b.extra_env = {}
        b.start()
        check_restart(b, "dq", committed, served, "kill -9")
        assert not serve_all(b, "cq"), "a nacked message came back after kill -9"
        b.stop()
        b.start()
        check_restart(b, "dq", committed, served, "a graceful restart")
        b.stop()
    finally:
        b.cleanup()
        if os.path.exists(ctl):
            os.unlink(ctl)
    return b


def test_tmpfs_full(binary):
    """A real full disk: a 64 MiB tmpfs data dir, 1 MiB segments, commits of
    10 x 40 KB persistent messages until the disk refuses."""
    if os.geteuid() != 0:
        return "not root: cannot mount a tmpfs"
    mnt = tempfile.mkdtemp(prefix="warren-txfull-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        return "mount -t tmpfs failed: %s" % (r.stderr.strip() or r.returncode)
    data = os.path.join(mnt, "data")
    os.makedirs(data)
    conf = os.path.join(tempfile.gettempdir(), "warren-txfull-%d.conf" % os.getpid())
    with open(conf, "w") as f:
        f.write("disk_free_limit.absolute = 1\nlog.segment_size = 1MiB\n")
    b = Broker(binary, data_dir=data)
    b.log_path = mnt + ".log"  # outside the full filesystem
    b.binary_args += ["--config", conf]
    filler = os.path.join(mnt, "filler")
    try:
        with open(filler, "wb") as f:  # freed before the restart
            f.write(b"\xff" * (4 << 20))
        b.start()
        c = connect(b)
        ch = c.channel()
        ch.queue_declare("big", durable=True)
        ch.tx_select()
        pad = " " + "x" * 40000
        committed, failed = [], []
        nack_bodies = []
        t0 = time.time()
        t = 0
        # 2 x 64 MiB of commit-ok'd messages cannot all be on a 64 MiB disk: past that, stop
        # publishing and let the restart checks below find what was lost
        while len(failed) < 30 and len(committed) * len(pad) < (128 << 20):
            assert time.time() - t0 < 120, "publishing took over 120 s (%d commits)" % t
            bodies = ["c%d-%d" % (t, i) for i in range(10)]
            r = commit_tx(ch, [x + pad for x in bodies], "", "big")
            t += 1
            if r is True:
                assert not failed, "commit-ok after a failed commit while the disk is still full"
                committed += bodies
                continue
            check_commit_error(r)
            failed += bodies
            if len(failed) == 10:  # first failure: confirms are nacked too
                cc = c.channel()
                cc.confirm_delivery()
                for i in range(3):
                    try:
                        cc.basic_publish("", "big", ("nack-%d" % i + pad).encode(), PERSISTENT)
                        raise AssertionError("publish confirmed on a full disk")
                    except pika.exceptions.NackError:
                        nack_bodies.append("nack-%d" % i)
                cc.close()
            ch = c.channel()
            ch.tx_select()
        c.close()
        print("  %d commits ok (%d messages), %d failed" % (len(committed) // 10, len(committed), len(failed) // 10))
        served = serve_all(b, "big")
        missing = [m for m in committed if m not in served]
        assert not missing, "commit-ok'd messages not served: %s" % missing[:5]
        bad = [m for m in served if m.startswith("nack-")]
        assert not bad, "nacked messages served: %s" % bad
        refused = [m for m in served if m in failed]
        # a failed commit's messages are served only when their own records reached the disk
        # (a commit straddling the batch that failed); the restart below checks that
        assert not failed or len(refused) < len(failed), "every message of the failed commits was served"
        print("  served %d: every commit-ok'd one, %d of the %d messages of failed commits, no nacked one" % (
            len(served), len(refused), len(failed)))
        b.kill9()
        os.unlink(filler)  # space for the restart (its snapshot, a new head segment)
        b.start()
        check_restart(b, "big", committed, served, "kill -9")
        b.stop()
        b.start()
        check_restart(b, "big", committed, served, "a graceful restart")
        b.stop()
        assert failed, "no commit failed although %d MiB were committed to a 64 MiB disk" % (
            len(committed) * len(pad) >> 20)
        assert "could not be made durable" in b.log(), "the disk never refused a write"
        os.unlink(b.log_path)
    finally:
        if b.proc and b.proc.poll() is None:
            b.kill9()
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)
        os.unlink(conf)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--faultfs", help="path of the faultfs.so LD_PRELOAD shim: the deterministic test")
    ap.add_argument("--tmpfs", action="store_true", help="the real full-disk test (root: mounts a tmpfs)")
    a = ap.parse_args()
    passed = failed = skipped = 0
    tests = []
    if a.faultfs:
        tests.append(("test_faultfs_tx", lambda: test_faultfs_tx(a.binary, a.faultfs)))
    if a.tmpfs:
        tests.append(("test_tmpfs_full", lambda: test_tmpfs_full(a.binary)))
    for name, fn in tests:
        try:
            r = fn()
            if isinstance(r, str):
                print("SKIP %s: %s" % (name, r))
                skipped += 1
            else:
                print("PASS %s" % name)
                passed += 1
        except Exception:
            failed += 1
            traceback.print_exc()
            print("FAIL %s" % name)
            broker.kill_all()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed:
        sys.exit(1)
    sys.exit(SKIP if skipped and not passed else 0)


if __name__ == "__main__":
    main()
