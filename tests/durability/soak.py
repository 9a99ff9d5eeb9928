#!/usr/bin/python3
"""Churn soak test of the durable log, measured from outside the broker (issue 3:
"no file descriptor or mmap leak over hours of churn"; "after a full drain the
data dir holds at most a couple of segments").

    /usr/bin/python3 tests/durability/soak.py build/warren [--duration 20] [--report soak.csv]

Starts Warren on a temporary data dir and, for --duration seconds, runs churn
with pika from separate processes (the GIL would serialise threads, and each
process holds its own connections, so a killed one is a real socket close):

  publishers  persistent messages with confirms to durable work queues
              (small bodies and --bulk-kib ones, so segments roll over);
              they hold back when a queue is deeper than --max-depth, so the
              backlog (and the broker's message memory) stays bounded
  consumers   basic.get and basic.consume (random prefetch), ack one by one
              or multiple, some nack with requeue, some killed mid-delivery
              (a forked child takes deliveries and exits without acking or
              closing: the broker sees the socket close and requeues)
  churners    connections and channels opened and closed, durable queues
              declared, filled and deleted, exclusive and auto-delete queues
              coming and going, some connections dropped without close
  straggler   a durable queue whose 3 oldest messages stay for the whole run
              (one delivered and held unacked, two ready): the case that pins
              the oldest segment; its data-dir size over time is reported,
              not asserted

Every --interval seconds it samples /proc/PID (open fds by kind, mappings, RSS,
threads) and the data dir (segment files under log/, allocated bytes =
st_blocks*512 since segments are preallocated). At "quiet points" (every
--quiet-every seconds) all workers park with their connections closed and the
broker is sampled once it has settled: those samples are the fd/maps
baseline. At the end every queue is drained, the segment count must come down
to --max-final-segments, and SIGTERM must give exit status 0.

Checks (each can fail; exit status 1 if any does):
  client_errors    no unexpected client-side error (closed connection, nack ...)
  accounting       per work queue: confirmed publishes == acks; every queue
                   empty after the drain; no temporary queue left behind
  quiet_fds        at every quiet point the fds that are not segment files are
                   at most the first quiet point's + --fd-slack
  seg_fds          fds on segment files that still exist <= segment files (+1
                   for the race between reading fd/ and log/), none on a
                   deleted file at quiet points
  quiet_maps       mappings: max of the last third of quiet points <= max of
                   the first third + --maps-slack (+ --asan-maps-slack under ASan)
  threads          thread count never above the first quiet point's
  rss              busy samples after warm-up: max of the last third <= max of
                   the first third + the backlog bound + --rss-slack-mib (more
                   under ASan, whose quarantine holds freed memory)
  final_segments   segment files after the drain <= --max-final-segments
  sigterm          exit status 0 after SIGTERM within --stop-timeout
  restart_empty    restarted on the same data dir, every queue is empty (an
                   acked message never comes back after a graceful shutdown);
                   the segment count after that restart is reported: when it
                   is low but final_segments failed, what pinned the segments
                   was state that only a restart releases
  sigterm_restart  exit status 0 after SIGTERM of the restarted broker
"""
import argparse
import csv
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import pika

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker import Broker  # noqa: E402

WORK_QUEUES = ["soak.work.0", "soak.work.1", "soak.work.2"]
STRAGGLER = "soak.straggler"
STRAGGLER_MSGS = 3

COUNTERS = ["published", "pub_bytes", "acked", "nacked_requeue", "gets", "consumes", "killed",
            "killed_deliveries", "connections", "channels", "tmp_queues", "excl_queues", "ad_queues",
            "dropped_conns", "errors"] + ["pub_q%d" % i for i in range(len(WORK_QUEUES))] + \
           ["ack_q%d" % i for i in range(len(WORK_QUEUES))]
CI = {name: i for i, name in enumerate(COUNTERS)}

FORK = mp.get_context("fork")


class Shared:
    """State shared between the coordinator and the worker processes."""

    def __init__(self, nworkers):
        self.stop = FORK.Event()
        self.pause = FORK.Event()
        self.capped = FORK.Event()  # data dir over --max-data-mib: no more bulk bodies
        self.release = FORK.Event()  # the straggler may let go
        self.ready = FORK.Event()
        self.parked = FORK.Array("i", nworkers, lock=False)
        self.counters = FORK.Array("q", len(COUNTERS))
        self.errq = FORK.Queue()

    def add(self, name, n=1):
        with self.counters.get_lock():
            self.counters[CI[name]] += n

    def snapshot(self):
        with self.counters.get_lock():
            return {name: self.counters[i] for i, name in enumerate(COUNTERS)}


def params(port):
    return pika.ConnectionParameters("127.0.0.1", port, heartbeat=0, socket_timeout=30, stack_timeout=60,
                                     blocked_connection_timeout=300, connection_attempts=1)


def connect(cfg, sh):
    c = pika.BlockingConnection(params(cfg.port))
    sh.add("connections")
    return c


def persistent(**kw):
    return pika.BasicProperties(delivery_mode=2, **kw)


# ---------------------------------------------------------------- workers

def publisher_session(cfg, sh, rnd):
    c = connect(cfg, sh)
    try:
        ch = c.channel()
        sh.add("channels")
        ch.confirm_delivery()
        n = rnd.randint(50, 300)
        for i in range(n):
            if sh.stop.is_set() or sh.pause.is_set():
                break
            qi = rnd.randrange(len(WORK_QUEUES))
            q = WORK_QUEUES[qi]
            if i % 25 == 0:  # hold back while the backlog is deep
                waited = 0.0
                while ch.queue_declare(q, passive=True).method.message_count > cfg.max_depth:
                    if sh.stop.is_set() or sh.pause.is_set() or waited > 5:
                        break
                    time.sleep(0.05)
                    waited += 0.05
            if rnd.random() < cfg.bulk_ratio and not sh.capped.is_set():
                size = cfg.bulk_kib * 1024
            else:
                size = rnd.randint(16, 4096)
            body = os.urandom(16) * (size // 16) + b"x" * (size % 16)
            ch.basic_publish("", q, body, persistent(message_id="%d" % i))
            sh.add("published")
            sh.add("pub_q%d" % qi)
            sh.add("pub_bytes", size)
        if rnd.random() < 0.3:  # an extra channel opened and closed
            ch2 = c.channel()
            sh.add("channels")
            ch2.close()
        if rnd.random() < 0.5:
            ch.close()
    finally:
        c.close()


def consume_kill_child(cfg, sh, q, seed):
    """Takes deliveries and exits without acking or closing anything."""
    rnd = random.Random(seed)
    try:
        c = connect(cfg, sh)
        ch = c.channel()
        got = [0]
        if rnd.random() < 0.3:
            for _ in range(rnd.randint(1, 5)):
                m, _, _ = ch.basic_get(q, auto_ack=False)
                if m is None:
                    break
                got[0] += 1
        else:
            ch.basic_qos(prefetch_count=rnd.randint(5, 50))

            def on_msg(_ch, _m, _p, _b):
                got[0] += 1
            ch.basic_consume(q, on_msg, auto_ack=False)
            end = time.time() + rnd.uniform(0.2, 0.8)
            while time.time() < end:
                c.process_data_events(time_limit=0.05)
        sh.add("killed")
        sh.add("killed_deliveries", got[0])
    except Exception:
        sh.add("errors")
        sh.errq.put("kill-child: " + traceback.format_exc(limit=3))
    os._exit(0)  # the kernel closes the socket: no acks, no connection.close


def consumer_session(cfg, sh, rnd):
    qi = rnd.randrange(len(WORK_QUEUES))
    q = WORK_QUEUES[qi]
    mode = rnd.random()
    if mode < 0.12:
        p = FORK.Process(target=consume_kill_child, args=(cfg, sh, q, rnd.random()))
        p.start()
        p.join(120)
        if p.is_alive():
            p.kill()
            raise RuntimeError("a killed-consumer child hung")
        return
    c = connect(cfg, sh)
    try:
        ch = c.channel()
        sh.add("channels")
        pending = []  # delivery tags taken, not yet settled

        def settle(tag, last):
            if rnd.random() < cfg.nack_ratio:
                ch.basic_nack(tag, multiple=False, requeue=True)
                sh.add("nacked_requeue")
                return
            pending.append(tag)
            if last or len(pending) >= rnd.randint(1, 20):
                if len(pending) > 1 and rnd.random() < 0.5:
                    ch.basic_ack(pending[-1], multiple=True)
                else:
                    for t in pending:
                        ch.basic_ack(t)
                sh.add("acked", len(pending))
                sh.add("ack_q%d" % qi, len(pending))
                pending.clear()

        n = rnd.randint(20, 400)
        empty = 0
        if mode < 0.5:
            for i in range(n):
                if sh.stop.is_set() or sh.pause.is_set():
                    break
                m, _, _ = ch.basic_get(q, auto_ack=False)
                sh.add("gets")
                if m is None:  # empty: another session will pick another queue
                    empty += 1
                    if empty >= 3:
                        break
                    time.sleep(0.02)
                    continue
                settle(m.delivery_tag, False)
            settle_rest(ch, pending, sh, qi)
        else:
            ch.basic_qos(prefetch_count=rnd.randint(1, 100))
            sh.add("consumes")
            idle = 0
            for i, (m, _, _) in enumerate(ch.consume(q, inactivity_timeout=0.3)):
                if m is None:
                    idle += 1
                    if idle >= 2:
                        break
                    continue
                settle(m.delivery_tag, False)
                if i >= n or sh.stop.is_set() or sh.pause.is_set():
                    break
            settle_rest(ch, pending, sh, qi)
            ch.cancel()  # requeues what pika still buffered
        if rnd.random() < 0.5:
            ch.close()
    finally:
        c.close()


def settle_rest(ch, pending, sh, qi):
    if pending:
        ch.basic_ack(pending[-1], multiple=True)
        sh.add("acked", len(pending))
        sh.add("ack_q%d" % qi, len(pending))
        pending.clear()


def churn_drop_child(cfg, sh, seed):
    """A connection with an exclusive and an auto-delete queue (with a
    consumer), dropped without connection.close."""
    rnd = random.Random(seed)
    try:
        c = connect(cfg, sh)
        ch = c.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"e" * rnd.randint(1, 3000), persistent())
        ad = "soak.ad.%d.drop" % os.getpid()
        ch.queue_declare(ad, auto_delete=True)
        ch.basic_consume(ad, lambda *a: None, auto_ack=False)
        ch.basic_publish("", ad, b"a", persistent())
        c.process_data_events(time_limit=0.05)
        sh.add("dropped_conns")
    except Exception:
        sh.add("errors")
        sh.errq.put("drop-child: " + traceback.format_exc(limit=3))
    os._exit(0)


def churn_session(cfg, sh, rnd, seq):
    if rnd.random() < 0.1:
        p = FORK.Process(target=churn_drop_child, args=(cfg, sh, rnd.random()))
        p.start()
        p.join(120)
        if p.is_alive():
            p.kill()
            raise RuntimeError("a dropped-connection child hung")
        return
    c = connect(cfg, sh)
    try:
        chans = []
        for k in range(rnd.randint(1, 4)):
            ch = c.channel()
            sh.add("channels")
            chans.append(ch)
            what = rnd.random()
            if what < 0.35:  # durable queue declared, filled, maybe a message taken, deleted
                name = "soak.tmp.%d.%d.%d" % (os.getpid(), seq, k)
                ch.queue_declare(name, durable=True)
                ch.confirm_delivery()
                for _ in range(rnd.randint(0, 5)):
                    ch.basic_publish("", name, os.urandom(rnd.randint(1, 2048)), persistent())
                if rnd.random() < 0.5:
                    ch.basic_get(name, auto_ack=False)  # deleted while delivered
                ch.queue_delete(name)
                sh.add("tmp_queues")
            elif what < 0.6:  # exclusive, server-named, left to go with the connection
                q = ch.queue_declare("", exclusive=True).method.queue
                ch.queue_bind(q, "amq.direct", routing_key=q)
                ch.basic_publish("amq.direct", q, b"x" * rnd.randint(1, 1000), persistent())
                ch.basic_get(q, auto_ack=rnd.random() < 0.5)
                sh.add("excl_queues")
            elif what < 0.85:  # auto-delete: goes when its last consumer is cancelled
                name = "soak.ad.%d.%d.%d" % (os.getpid(), seq, k)
                ch.queue_declare(name, auto_delete=True)
                tag = ch.basic_consume(name, lambda *a: None, auto_ack=True)
                ch.basic_publish("", name, b"y" * rnd.randint(1, 1000), persistent())
                c.process_data_events(time_limit=0.01)
                ch.basic_cancel(tag)
                sh.add("ad_queues")
        for ch in chans:
            if rnd.random() < 0.6:
                ch.close()
    finally:
        c.close()


def worker_main(kind, idx, cfg, sh):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rnd = random.Random(cfg.seed * 1000 + idx)
    seq = 0
    fn = {"publisher": publisher_session, "consumer": consumer_session, "churner": churn_session}[kind]
    while not sh.stop.is_set():
        if sh.pause.is_set():
            sh.parked[idx] = 1
            while sh.pause.is_set() and not sh.stop.is_set():
                time.sleep(0.05)
            sh.parked[idx] = 0
            continue
        seq += 1
        try:
            if kind == "churner":
                churn_session(cfg, sh, rnd, seq)
                time.sleep(rnd.uniform(0, 0.03))
            else:
                fn(cfg, sh, rnd)
        except Exception:
            sh.add("errors")
            sh.errq.put("%s %d: %s" % (kind, idx, traceback.format_exc(limit=4)))
            time.sleep(0.5)
    sh.parked[idx] = 1


def straggler_main(cfg, sh):
    """Publishes the oldest messages of the run and keeps them until released:
    one delivered and unacked (prefetch 1), the others ready behind it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        c = pika.BlockingConnection(params(cfg.port))
        ch = c.channel()
        ch.queue_declare(STRAGGLER, durable=True)
        ch.confirm_delivery()
        for i in range(STRAGGLER_MSGS):
            ch.basic_publish("", STRAGGLER, ("straggler-%d" % i).encode() * 8, persistent())
        held = []
        ch.basic_qos(prefetch_count=1)
        ch.basic_consume(STRAGGLER, lambda _c, m, _p, _b: held.append(m.delivery_tag), auto_ack=False)
        end = time.time() + 30
        while not held and time.time() < end:
            c.process_data_events(time_limit=0.1)
        if not held:
            raise RuntimeError("the straggler consumer got no delivery in 30 s")
        sh.ready.set()
        while not sh.release.is_set():
            time.sleep(0.1)
        c.close()  # the held message goes back to the queue for the drain
    except Exception:
        sh.add("errors")
        sh.errq.put("straggler: " + traceback.format_exc(limit=4))
        sh.ready.set()


# ---------------------------------------------------------------- sampling

def sample_proc(pid):
    fds = sock = seg = deleted = 0
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    for n in names:
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, n))
        except OSError:
            continue
        fds += 1
        if t.startswith("socket:"):
            sock += 1
        if t.endswith(" (deleted)"):
            deleted += 1
            t = t[: -len(" (deleted)")]
        if t.endswith(".seg"):
            seg += 1
    with open("/proc/%d/maps" % pid) as f:
        maps = sum(1 for _ in f)
    rss = thr = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                thr = int(line.split()[1])
    return {"fds": fds, "sock_fds": sock, "seg_fds": seg, "deleted_fds": deleted, "maps": maps,
            "rss_kib": rss, "threads": thr}


def dir_blocks(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


def sample_dir(data_dir):
    log = os.path.join(data_dir, "log")
    segs = 0
    try:
        segs = sum(1 for f in os.listdir(log) if f.endswith(".seg"))
    except OSError:
        pass
    return {"seg_files": segs, "log_bytes": dir_blocks(log), "data_bytes": dir_blocks(data_dir)}


FIELDS = ["t", "phase", "fds", "sock_fds", "seg_fds", "deleted_fds", "maps", "rss_kib", "threads",
          "seg_files", "log_bytes", "data_bytes", "published", "acked", "connections", "killed", "errors"]


class Soak:
    def __init__(self, args):
        self.a = args
        if args.data_dir:  # the caller's: used as it is, kept
            data = os.path.abspath(args.data_dir)
            os.makedirs(data, exist_ok=True)
            self.root = None
        else:
            self.root = tempfile.mkdtemp(prefix="warren-soak-")
            data = os.path.join(self.root, "data")
            os.mkdir(data)
        self.broker = Broker(args.binary, data_dir=data, port=args.port)
        self.broker.binary_args = list(args.broker_arg or [])
        args.port = self.broker.port  # the workers connect there
        self.samples = []
        self.checks = []
        self.t0 = None
        self.quiet_base = None
        self.sanitized = False

    # -- helpers
    def pid(self):
        return self.broker.proc.pid

    def sample(self, phase):
        p = sample_proc(self.pid())
        if p is None:
            raise RuntimeError("the broker is gone (exit status %s)" % self.broker.proc.poll())
        s = {"t": round(time.time() - self.t0, 1), "phase": phase}
        s.update(p)
        s.update(sample_dir(self.broker.data_dir))
        cnt = self.sh.snapshot()
        for k in ("published", "acked", "connections", "killed", "errors"):
            s[k] = cnt[k]
        self.samples.append(s)
        self.print_row(s)
        if s["log_bytes"] > self.a.max_data_mib * 1048576 and not self.sh.capped.is_set():
            print("soak: the log holds %d MiB > --max-data-mib %d: no more bulk bodies"
                  % (s["log_bytes"] >> 20, self.a.max_data_mib), flush=True)
            self.sh.capped.set()
        return s

    def print_header(self):
        print("%7s %-8s %5s %5s %5s %4s %5s %8s %4s %5s %9s %9s %8s %8s %6s %5s %4s" % (
            "t(s)", "phase", "fds", "sock", "segfd", "del", "maps", "rss(MiB)", "thr", "segs", "log(MiB)",
            "data(MiB)", "pub", "acked", "conns", "kill", "err"), flush=True)

    def print_row(self, s):
        print("%7.1f %-8s %5d %5d %5d %4d %5d %8.1f %4d %5d %9.1f %9.1f %8d %8d %6d %5d %4d" % (
            s["t"], s["phase"], s["fds"], s["sock_fds"], s["seg_fds"], s["deleted_fds"], s["maps"],
            s["rss_kib"] / 1024, s["threads"], s["seg_files"], s["log_bytes"] / 1048576,
            s["data_bytes"] / 1048576, s["published"], s["acked"], s["connections"], s["killed"],
            s["errors"]), flush=True)

    def check(self, name, ok, detail):
        self.checks.append((name, bool(ok), detail))

    def ctl(self, *cmd):
        if not self.a.warrenctl:
            return None
        r = subprocess.run([self.a.warrenctl, "--json", "-q", "--data-dir", self.broker.data_dir] + list(cmd),
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("warrenctl %s: %s" % (" ".join(cmd), r.stderr.decode(errors="replace")))
        import json
        return json.loads(r.stdout)

    def nonseg(self, s):
        return s["fds"] - s["seg_fds"]

    def settle(self, expect_conns):
        """Waits until the broker has closed what the clients closed: as many
        connections as expected (warrenctl) and a stable fd count."""
        end = time.time() + self.a.settle_timeout
        if self.a.warrenctl:
            while time.time() < end:
                if len(self.ctl("list_connections")) <= expect_conns:
                    break
                time.sleep(0.25)
        last, stable = None, 0
        while time.time() < end:
            p = sample_proc(self.pid())
            key = (p["fds"] - p["seg_fds"], p["deleted_fds"])
            base_ok = self.quiet_base is None or key[0] <= self.nonseg(self.quiet_base)
            stable = stable + 1 if key == last else 0
            last = key
            if stable >= 3 and base_ok and key[1] == 0:
                return
            time.sleep(0.3)

    def quiet_point(self, phase="quiet"):
        self.sh.pause.set()
        end = time.time() + 120
        while time.time() < end and not all(self.sh.parked):
            time.sleep(0.05)
        if not all(self.sh.parked):
            self.check("workers_park", False, "workers did not park within 120 s")
        self.settle(expect_conns=1)  # the straggler's connection
        s = self.sample(phase)
        if self.quiet_base is None:
            self.quiet_base = s
        self.sh.pause.clear()
        return s

    # -- the run
    def run(self):
        a = self.a
        kinds = ["publisher"] * a.publishers + ["consumer"] * a.consumers + ["churner"] * a.churners
        self.sh = Shared(len(kinds))
        self.broker.start(timeout=60)
        self.t0 = time.time()
        self.sanitized = is_sanitized(a.binary)
        print("soak: warren pid %d port %d data %s%s; %d s of churn (%d publishers, %d consumers, "
              "%d churners)" % (self.pid(), self.broker.port, self.broker.data_dir,
                                " (ASan build)" if self.sanitized else "", a.duration, a.publishers,
                                a.consumers, a.churners), flush=True)
        self.print_header()
        self.sample("start")
        c = pika.BlockingConnection(params(self.broker.port))
        ch = c.channel()
        for q in WORK_QUEUES:
            ch.queue_declare(q, durable=True)
        c.close()
        strag = FORK.Process(target=straggler_main, args=(a, self.sh))
        strag.start()
        if not self.sh.ready.wait(60):
            raise RuntimeError("the straggler did not get ready")
        workers = [FORK.Process(target=worker_main, args=(k, i, a, self.sh)) for i, k in enumerate(kinds)]
        for w in workers:
            w.start()
        warm = min(a.warmup, a.duration / 4)
        quiet_every = a.quiet_every or max(4.0, min(60.0, (a.duration - warm) / 3))
        interval = a.interval or max(1.0, min(10.0, a.duration / 20))
        next_quiet = warm
        end = a.duration
        while True:
            now = time.time() - self.t0
            if now >= end:
                break
            if now >= next_quiet:
                self.quiet_point()
                next_quiet = (time.time() - self.t0) + quiet_every
                continue
            time.sleep(max(0.0, min(interval, next_quiet - now, end - now)))
            if time.time() - self.t0 < end:
                self.sample("busy")
        self.sh.stop.set()
        for w in workers:
            w.join(120)
            if w.is_alive():
                w.kill()
                self.check("workers_stop", False, "a worker did not stop within 120 s")
        self.churn_end = self.quiet_point("end")
        self.drain(strag)
        self.stop()
        if self.rc == 0:
            self.restart()

    def drain(self, strag):
        a = self.a
        self.sh.release.set()
        strag.join(60)
        c = pika.BlockingConnection(params(self.broker.port))
        ch = c.channel()
        queues = list(WORK_QUEUES) + [STRAGGLER]
        if a.warrenctl:
            listed = [q["name"] for q in self.ctl("list_queues")]
            extra = [q for q in listed if q not in queues]
            self.check("no_leftover_queues", not extra,
                       "queues after the churn: %d work/straggler, %d others %s"
                       % (len(listed) - len(extra), len(extra), extra[:5]))
            queues += [q for q in extra if not q.startswith("amq.gen")]
        drained = {}
        for q in queues:
            n = 0
            while True:
                m, _, _ = ch.basic_get(q, auto_ack=False)
                if m is None:
                    break
                ch.basic_ack(m.delivery_tag)
                n += 1
                if q in WORK_QUEUES:
                    self.sh.add("acked")
                    self.sh.add("ack_q%d" % WORK_QUEUES.index(q))
            drained[q] = n
        left = {q: ch.queue_declare(q, passive=True).method.message_count for q in queues}
        c.close()
        cnt = self.sh.snapshot()
        bad = ["%s: %d confirmed, %d acked" % (q, cnt["pub_q%d" % i], cnt["ack_q%d" % i])
               for i, q in enumerate(WORK_QUEUES) if cnt["pub_q%d" % i] != cnt["ack_q%d" % i]]
        nonempty = {q: n for q, n in left.items() if n}
        self.check("accounting", not bad and not nonempty and drained[STRAGGLER] == STRAGGLER_MSGS,
                   "%d confirmed = %d acked over the work queues, straggler gave back %d of %d%s%s"
                   % (sum(cnt["pub_q%d" % i] for i in range(len(WORK_QUEUES))),
                      sum(cnt["ack_q%d" % i] for i in range(len(WORK_QUEUES))), drained[STRAGGLER],
                      STRAGGLER_MSGS, "; mismatch: " + "; ".join(bad) if bad else "",
                      "; not empty: %s" % nonempty if nonempty else ""))
        # Reclaim runs in the log's syncer after a sync pass: give it time.
        end = time.time() + a.settle_timeout
        while time.time() < end and sample_dir(self.broker.data_dir)["seg_files"] > a.max_final_segments:
            time.sleep(0.25)
        self.settle(expect_conns=0)
        self.drained = self.sample("drained")

    def stop(self, name="sigterm"):
        p = self.broker.proc
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=self.a.stop_timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = "none (killed after %d s)" % self.a.stop_timeout
        self.rc = rc
        self.check(name, rc == 0, "exit status %s after SIGTERM" % rc)

    def restart(self):
        """Diagnosis figure: segment files once a restart has rewritten the
        definitions snapshot (which releases the definition records). Also a
        check: after a graceful shutdown no acked message comes back."""
        self.broker.start(timeout=60)
        c = pika.BlockingConnection(params(self.broker.port))
        ch = c.channel()
        back = {q: ch.queue_declare(q, passive=True).method.message_count for q in WORK_QUEUES + [STRAGGLER]}
        c.close()
        self.restarted = sample_dir(self.broker.data_dir)
        self.check("restart_empty", not any(back.values()),
                   "after a restart every queue is still empty: %s" % back)
        self.stop("sigterm_restart")

    # -- verdict
    def evaluate(self):
        a = self.a
        errs = []
        while True:
            try:
                errs.append(self.sh.errq.get(timeout=0.2))
            except Exception:
                break
        cnt = self.sh.snapshot()
        self.check("client_errors", cnt["errors"] == 0,
                   "%d client errors%s" % (cnt["errors"], (":\n" + "\n".join(errs[:5])) if errs else ""))
        quiet = [s for s in self.samples if s["phase"] in ("quiet", "end")]
        base = self.quiet_base
        worst = max(quiet, key=self.nonseg)
        self.check("quiet_fds", self.nonseg(worst) <= self.nonseg(base) + a.fd_slack,
                   "non-segment fds at %d quiet points: first %d, max %d (t=%.0f s), last %d (slack %d)"
                   % (len(quiet), self.nonseg(base), self.nonseg(worst), worst["t"], self.nonseg(quiet[-1]),
                      a.fd_slack))
        # A segment being deleted keeps its fd until its unlink is durable, so a
        # busy sample may see fds on files already gone: those are not counted
        # here; a leak of one would still show at the quiet points below.
        over = [s for s in self.samples if s["seg_fds"] - s["deleted_fds"] > s["seg_files"] + 1]
        deleted = [s for s in quiet + [self.drained] if s["deleted_fds"]]
        self.check("seg_fds", not over and not deleted,
                   "segment fds <= segment files + 1 in all %d samples%s%s"
                   % (len(self.samples), "; over at t=%s" % [s["t"] for s in over[:5]] if over else "",
                      "; fds on deleted files at t=%s" % [s["t"] for s in deleted[:5]] if deleted else ""))
        k = max(1, len(quiet) // 3)
        first, last = quiet[:k], quiet[-k:]
        m1, m2 = max(s["maps"] for s in first), max(s["maps"] for s in last)
        mslack = a.maps_slack + (a.asan_maps_slack if self.sanitized else 0)
        self.check("quiet_maps", m2 <= m1 + mslack,
                   "mappings at quiet points: first third max %d, last third max %d (slack %d)"
                   % (m1, m2, mslack))
        tmax = max(s["threads"] for s in self.samples if s["t"] >= base["t"])
        self.check("threads", tmax <= base["threads"],
                   "threads %d at the first quiet point, max %d after" % (base["threads"], tmax))
        busy = [s for s in self.samples if s["phase"] in ("busy", "quiet", "end") and s["t"] >= base["t"]]
        k = max(1, len(busy) // 3)
        r1, r2 = max(s["rss_kib"] for s in busy[:k]), max(s["rss_kib"] for s in busy[-k:])
        backlog = len(WORK_QUEUES) * (a.max_depth + 50) * max(a.bulk_kib, 4)  # KiB, worst case all bulk
        slack = a.rss_slack_mib * 1024 + backlog + (a.asan_rss_slack_mib * 1024 if self.sanitized else 0)
        self.check("rss", r2 <= r1 + slack,
                   "RSS first third max %.1f MiB, last third max %.1f MiB (allowed +%.1f MiB: backlog %.1f + "
                   "slack %d%s)" % (r1 / 1024, r2 / 1024, slack / 1024, backlog / 1024, a.rss_slack_mib,
                                    " + ASan %d" % a.asan_rss_slack_mib if self.sanitized else ""))
        d = self.drained
        self.check("final_segments", d["seg_files"] <= a.max_final_segments,
                   "%d segment files (%.1f MiB allocated) in data-dir/log after the drain (at most %d)"
                   % (d["seg_files"], d["log_bytes"] / 1048576, a.max_final_segments,))
        churn = [s for s in self.samples if s["phase"] in ("busy", "quiet", "end")]
        maxseg = max(s["seg_files"] for s in churn)
        maxlog = max(s["log_bytes"] for s in churn)
        print()
        print("straggler (reported, not asserted): log %.1f MiB / %d segments at the first quiet point "
              "(t=%.0f s), %.1f MiB / %d at the end of churn (t=%.0f s), max %.1f MiB / %d segments; "
              "%.1f MiB of bodies published" % (base["log_bytes"] / 1048576, base["seg_files"], base["t"],
                                                self.churn_end["log_bytes"] / 1048576,
                                                self.churn_end["seg_files"], self.churn_end["t"],
                                                maxlog / 1048576, maxseg, cnt["pub_bytes"] / 1048576))
        seg_size = None
        for f in sorted(os.listdir(os.path.join(self.broker.data_dir, "log")) if os.path.isdir(
                os.path.join(self.broker.data_dir, "log")) else []):
            if f.endswith(".seg"):
                seg_size = os.path.getsize(os.path.join(self.broker.data_dir, "log", f))
        if getattr(self, "restarted", None):
            print("after a restart (reported): %d segment files, %.1f MiB allocated in data-dir/log"
                  % (self.restarted["seg_files"], self.restarted["log_bytes"] / 1048576))
        if maxseg <= a.max_final_segments:
            print("soak: warning: the log never had more than %d segment files (%.1f MiB of bodies published, "
                  "segments of %.1f MiB): final_segments proves little; use a longer --duration or larger "
                  "--bulk-kib" % (maxseg, cnt["pub_bytes"] / 1048576, (seg_size or 0) / 1048576))
        print("churn: %d connections (%d dropped without close, %d consumers killed mid-delivery holding %d "
              "deliveries), %d channels, %d durable queues declared+deleted, %d exclusive, %d auto-delete; "
              "%d published, %d acked, %d nacked with requeue, %d basic.get, %d basic.consume sessions"
              % (cnt["connections"], cnt["dropped_conns"], cnt["killed"], cnt["killed_deliveries"],
                 cnt["channels"], cnt["tmp_queues"], cnt["excl_queues"], cnt["ad_queues"], cnt["published"],
                 cnt["acked"], cnt["nacked_requeue"], cnt["gets"], cnt["consumes"]))
        for name, ok, detail in self.checks:
            print("%-4s %-18s %s" % ("ok" if ok else "FAIL", name, detail))
        failed = [n for n, ok, _ in self.checks if not ok]
        q = [s for s in self.samples if s["phase"] in ("quiet", "end")]
        print("SUMMARY %s duration=%ds quiet_fds=%s maps=%s..%s rss_mib=%.1f..%.1f threads=%d "
              "segs_max=%d log_mib_max=%.1f segs_after_drain=%d log_mib_after_drain=%.1f segs_after_restart=%s published=%d "
              "connections=%d exit=%s failed=%s"
              % ("PASS" if not failed else "FAIL", a.duration, "/".join(str(self.nonseg(s)) for s in q),
                 min(s["maps"] for s in q), max(s["maps"] for s in q),
                 min(s["rss_kib"] for s in busy) / 1024, max(s["rss_kib"] for s in busy) / 1024,
                 base["threads"], maxseg, maxlog / 1048576, d["seg_files"], d["log_bytes"] / 1048576,
                 self.restarted["seg_files"] if getattr(self, "restarted", None) else "-", cnt["published"], cnt["connections"], self.rc, ",".join(failed) or "none"), flush=True)
        if a.report:
            with open(a.report, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=FIELDS)
                w.writeheader()
                for s in self.samples:
                    w.writerow({k: s.get(k) for k in FIELDS})
        return not failed

    def cleanup(self, passed):
        p = self.broker.proc
        if p and p.poll() is None:
            p.kill()
            p.wait()
        if self.root is None:
            print("soak: data dir %s, broker log %s" % (self.broker.data_dir, self.broker.log_path))
            return
        if passed and not self.a.keep:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        log = os.path.join(self.broker.data_dir, "log")
        if not self.a.keep and os.path.isdir(log):  # hundreds of MiB: keep their names only
            segs = sorted(f for f in os.listdir(log) if f.endswith(".seg"))
            for f in segs:
                os.unlink(os.path.join(log, f))
            print("soak: deleted the %d segment files (%s .. %s; --keep keeps them)"
                  % (len(segs), segs[0] if segs else "-", segs[-1] if segs else "-"))
        print("soak: data dir and broker log kept in %s" % self.root)


def is_sanitized(binary):
    try:
        with open(binary, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", help="path to the warren binary")
    ap.add_argument("--duration", type=float, default=20, help="seconds of churn (default 20)")
    ap.add_argument("--report", help="write the samples as CSV to this file")
    ap.add_argument("--warrenctl", help="warrenctl binary (default: next to warren, if there)")
    ap.add_argument("--port", type=int, help="AMQP port (default: a free one)")
    ap.add_argument("--interval", type=float, default=0, help="seconds between samples (default duration/20, 1..10)")
    ap.add_argument("--quiet-every", type=float, default=0,
                    help="seconds between quiet points (default (duration-warmup)/3, 4..60)")
    ap.add_argument("--warmup", type=float, default=5, help="seconds before the first quiet point (baseline)")
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--consumers", type=int, default=2)
    ap.add_argument("--churners", type=int, default=2)
    ap.add_argument("--bulk-kib", type=int, default=64, help="size of the bulk bodies that roll segments over")
    ap.add_argument("--bulk-ratio", type=float, default=0.35, help="fraction of publishes with a bulk body")
    ap.add_argument("--nack-ratio", type=float, default=0.05, help="fraction of deliveries nacked with requeue")
    ap.add_argument("--max-depth", type=int, default=300, help="publishers hold back above this queue depth")
    ap.add_argument("--max-data-mib", type=int, default=8192,
                    help="when the log holds more than this, publish no more bulk bodies (protects the disk)")
    ap.add_argument("--max-final-segments", type=int, default=3)
    ap.add_argument("--fd-slack", type=int, default=2)
    ap.add_argument("--maps-slack", type=int, default=16)
    ap.add_argument("--asan-maps-slack", type=int, default=48,
                    help="extra mappings allowed for an ASan build (its allocator maps regions per size class)")
    ap.add_argument("--rss-slack-mib", type=int, default=48)
    ap.add_argument("--asan-rss-slack-mib", type=int, default=300,
                    help="extra RSS allowed for an ASan build (quarantine of 256 MiB by default)")
    ap.add_argument("--settle-timeout", type=float, default=30)
    ap.add_argument("--stop-timeout", type=float, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the data dir and broker log")
    ap.add_argument("--data-dir", help="use this data dir (created if missing, may hold an earlier run's "
                    "definitions; kept) instead of a temporary one")
    ap.add_argument("--broker-arg", action="append", help="extra argument for warren (repeatable)")
    a = ap.parse_args()
    if a.warrenctl is None:
        guess = os.path.join(os.path.dirname(os.path.abspath(a.binary)), "warrenctl")
        a.warrenctl = guess if os.access(guess, os.X_OK) else None
    s = Soak(a)
    passed = False
    try:
        s.run()
        passed = s.evaluate()
    except Exception:
        traceback.print_exc()
        print("SUMMARY FAIL (the soak did not complete); broker log: %s" % s.broker.log_path, flush=True)
    finally:
        s.sh.stop.set() if hasattr(s, "sh") else None
        s.sh.release.set() if hasattr(s, "sh") else None
        s.cleanup(passed)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
