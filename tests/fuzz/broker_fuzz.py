"""Whole-broker fuzzer: mutated recordings of real client sessions, replayed over TCP.

    /usr/bin/python3 tests/fuzz/broker_fuzz.py --warren build-asan/warren [--seconds 150]
    /usr/bin/python3 tests/fuzz/broker_fuzz.py --warren build-asan/warren --replay FILE...

The seeds (tests/fuzz/sessions/*.bin, made by record_sessions.py) are the
bytes pika and rabbitmq-c clients sent in real sessions. Each fuzzed session
is a seed with 1-5 mutations: bit flips, interesting integers written over
bytes, byte inserts and deletes, frame length fields, channel numbers, frame
types and end markers edited, method ids swapped for other methods', content
body sizes and property flags edited, field-table value types changed, frames dropped, duplicated, swapped, spliced in from other
sessions, or the session cut short. Sessions are replayed chunk by chunk
(reading the broker's answers in between) by several threads at once against
one broker, which should be the ASan+UBSan build. After every batch the
broker must be alive, serve a fresh pika client (connect, declare, publish,
get) and have a clean sanitizer log; at the end it must stop on SIGTERM with
status 0 and no leak report. Any failure saves the batch's sessions under
--out and exits 1; --replay FILE... replays saved sessions one at a time,
checking after each (the regression mode; tests/fuzz/regressions/). --tls
replays over amqps instead (a throw-away PKI from tests/tls/gen-certs.sh).

The time is split between a fixed seed (reproducible: the session numbered I
of seed S is always the same bytes) and a seed from today's date (variety).
Written in Python rather than C: the broker, not the replayer, is the
bottleneck (an ASan build answering over loopback), and mutating frames and
checking with pika is a few lines each here.
"""
import argparse
import datetime
import os
import random
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sessions  # noqa: E402

import pika  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SANITIZER_MARKS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:", b"SUMMARY: UndefinedBehavior",
                   b"AddressSanitizer:DEADLYSIGNAL")
INTERESTING8 = [0, 1, 0x7f, 0x80, 0xfe, 0xff]
INTERESTING16 = [0, 1, 0x7fff, 0x8000, 0xfffe, 0xffff, 2047, 2048, 4096]
INTERESTING32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 4088, 4096, 131064, 131072, 131073,
                 1 << 24, 134217728, 134217729]
INTERESTING64 = [0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, 134217728, 134217729, 1 << 32]
# (class, method) of AMQP 0-9-1 methods a client may send, and some it may not
METHODS = [(10, 11), (10, 21), (10, 31), (10, 40), (10, 50), (10, 51), (10, 60), (10, 61), (20, 10), (20, 20),
           (20, 21), (20, 40), (20, 41), (40, 10), (40, 20), (40, 30), (40, 40), (50, 10), (50, 20), (50, 30),
           (50, 40), (50, 50), (60, 10), (60, 20), (60, 30), (60, 40), (60, 50), (60, 60), (60, 70), (60, 80),
           (60, 90), (60, 100), (60, 110), (60, 120), (85, 10), (90, 10), (90, 20), (90, 30), (10, 10), (10, 30),
           (60, 60), (60, 71), (0, 0), (65535, 65535)]


def log(msg):
    print("broker_fuzz: " + msg, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Broker:
    def __init__(self, binary, workdir, extra_args=()):
        self.binary = binary
        self.data = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "warren.log")
        self.port = free_port()
        self.log_seen = 0
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
                   UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1", LSAN_OPTIONS="leak_check_at_exit=1")
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--data-dir", self.data,
                                      "--threads", "2"] + list(extra_args), stdout=self.logf, stderr=self.logf, env=env)
        t0 = time.time()
        while time.time() - t0 < 30:
            if self.proc.poll() is not None:
                raise RuntimeError("warren exited with %s at start; log %s" % (self.proc.returncode, self.log_path))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("warren did not listen within 30 s")

    def new_log(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.log_seen)
            d = f.read()
        self.log_seen += len(d)
        return d

    def log_tail(self, n=60):
        with open(self.log_path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def stop(self):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def health(broker, what):
    """None if the broker is alive, serves a fresh client and its log is clean; else why not."""
    if broker.proc.poll() is not None:
        return "warren exited (status %s) %s" % (broker.proc.returncode, what)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    try:
        p = pika.ConnectionParameters("127.0.0.1", broker.port, credentials=pika.PlainCredentials("guest", "guest"),
                                      socket_timeout=10, blocked_connection_timeout=10, connection_attempts=1)
        # two clients open at once, so that both worker threads (--threads 2) serve one
        conns = [pika.BlockingConnection(p) for _ in range(2)]
        for conn in conns:
            ch = conn.channel()
            q = ch.queue_declare("", exclusive=True).method.queue
            body = os.urandom(16)
            ch.basic_publish("", q, body)
            got = None
            for _ in range(100):
                m, _, got = ch.basic_get(q, auto_ack=True)
                if m:
                    break
                time.sleep(0.01)
            if got != body:
                return "a fresh client's message did not come back %s" % what
        for conn in conns:
            conn.close()
    except Timeout:
        return "a fresh client was not served within 20 s %s" % what
    except Exception as e:  # noqa: BLE001 — any client error is the finding
        return "a fresh client failed %s: %r" % (what, e)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    bad = [m for m in SANITIZER_MARKS if m in broker.new_log()]
    if bad:
        return "sanitizer report in the broker log %s (%s)" % (what, bad[0].decode())
    return None


# ---- mutations: a session is a list of chunks, each a list of frames (bytes) ----

def _pick(rng, sess, want=None):
    """A random (chunk, frame) index, optionally of a frame satisfying want."""
    cands = [(ci, fi) for ci, c in enumerate(sess) for fi, f in enumerate(c) if want is None or want(f)]
    return rng.choice(cands) if cands else None


def _is_frame(f):
    return len(f) >= 8 and not f.startswith(b"AMQP")


def _set(f, off, fmt, v):
    b = bytearray(f)
    if off + struct.calcsize(fmt) <= len(b):
        struct.pack_into(fmt, b, off, v)
    return bytes(b)


def m_bitflip(rng, sess, seeds):
    ci, fi = _pick(rng, sess)
    b = bytearray(sess[ci][fi])
    for _ in range(rng.randint(1, 4)):
        if b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    sess[ci][fi] = bytes(b)


def m_interesting(rng, sess, seeds):
    ci, fi = _pick(rng, sess)
    f = sess[ci][fi]
    if len(f) < 2:
        return
    off = rng.randrange(len(f))
    fmt, vals = rng.choice([(">B", INTERESTING8), (">H", INTERESTING16), (">I", INTERESTING32), (">Q", INTERESTING64)])
    sess[ci][fi] = _set(f, off, fmt, rng.choice(vals))


def m_insert(rng, sess, seeds):
    ci, fi = _pick(rng, sess)
    f = sess[ci][fi]
    i = rng.randint(0, len(f))
    ins = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    sess[ci][fi] = f[:i] + ins + f[i:]


def m_delete(rng, sess, seeds):
    ci, fi = _pick(rng, sess)
    f = sess[ci][fi]
    if f:
        i = rng.randrange(len(f))
        sess[ci][fi] = f[:i] + f[i + rng.randint(1, 16):]


def m_length(rng, sess, seeds):
    p = _pick(rng, sess, _is_frame)
    if p:
        ci, fi = p
        f = sess[ci][fi]
        size = len(f) - 8
        v = rng.choice([0, 1, size - 1, size + 1, size * 2, rng.randrange(1 << 32)] + INTERESTING32)
        sess[ci][fi] = _set(f, 3, ">I", v & 0xffffffff)


def m_channel(rng, sess, seeds):
    p = _pick(rng, sess, _is_frame)
    if p:
        ci, fi = p
        v = rng.choice([0, 1, 2, 3, 2047, 2048, 65535, rng.randrange(65536)])
        sess[ci][fi] = _set(sess[ci][fi], 1, ">H", v)


def m_type(rng, sess, seeds):
    p = _pick(rng, sess, _is_frame)
    if p:
        ci, fi = p
        sess[ci][fi] = _set(sess[ci][fi], 0, ">B", rng.choice([1, 2, 3, 4, 8, 0, 0xce, rng.randrange(256)]))


def m_frame_end(rng, sess, seeds):
    p = _pick(rng, sess, _is_frame)
    if p:
        ci, fi = p
        f = sess[ci][fi]
        sess[ci][fi] = f[:-1] + bytes([rng.randrange(256)])


def m_method(rng, sess, seeds):
    p = _pick(rng, sess, lambda f: _is_frame(f) and f[0] == 1 and len(f) >= 12)
    if p:
        ci, fi = p
        cls, meth = rng.choice(METHODS)
        sess[ci][fi] = _set(_set(sess[ci][fi], 7, ">H", cls), 9, ">H", meth)


def m_body_size(rng, sess, seeds):
    p = _pick(rng, sess, lambda f: _is_frame(f) and f[0] == 2 and len(f) >= 20)
    if p:
        ci, fi = p
        sess[ci][fi] = _set(sess[ci][fi], 11, ">Q", rng.choice(INTERESTING64 + [rng.randrange(1 << 20)]))


def m_flags(rng, sess, seeds):
    """Content header property flags: properties the payload does not hold, or not all it does."""
    p = _pick(rng, sess, lambda f: _is_frame(f) and f[0] == 2 and len(f) >= 22)
    if p:
        ci, fi = p
        sess[ci][fi] = _set(sess[ci][fi], 19, ">H", rng.randrange(65536))


FIELD_TYPES = b"tbBsuIilfdDSxATFV"


def m_field_type(rng, sess, seeds):
    """A byte that may be a field-table value type (queue arguments, headers) turned into another type."""
    p = _pick(rng, sess, lambda f: _is_frame(f) and f[0] in (1, 2) and any(c in FIELD_TYPES for c in f[11:-1]))
    if p:
        ci, fi = p
        f = sess[ci][fi]
        spots = [i for i in range(11, len(f) - 1) if f[i] in FIELD_TYPES]
        i = rng.choice(spots)
        sess[ci][fi] = f[:i] + bytes([rng.choice(FIELD_TYPES)]) + f[i + 1:]


def m_splice(rng, sess, seeds):
    other = rng.choice(seeds)
    src = _pick(rng, other)
    if src:
        f = other[src[0]][src[1]]
        ci = rng.randrange(len(sess))
        sess[ci].insert(rng.randint(0, len(sess[ci])), f)


def m_dup(rng, sess, seeds):
    ci, fi = _pick(rng, sess)
    f = sess[ci][fi]
    n = rng.choice([1, 1, 2, 10, 100])
    sess[ci][fi + 1:fi + 1] = [f] * n


def m_drop(rng, sess, seeds):
    ci, fi = _pick(rng, sess)
    del sess[ci][fi]


def m_swap(rng, sess, seeds):
    a, b = _pick(rng, sess), _pick(rng, sess)
    sess[a[0]][a[1]], sess[b[0]][b[1]] = sess[b[0]][b[1]], sess[a[0]][a[1]]


def m_truncate(rng, sess, seeds):
    ci = rng.randrange(len(sess))
    del sess[ci + 1:]
    if sess[ci]:
        fi = rng.randrange(len(sess[ci]))
        f = sess[ci][fi]
        sess[ci][fi:] = [f[:rng.randint(0, len(f))]]


MUTATORS = [(m_bitflip, 4), (m_interesting, 4), (m_insert, 2), (m_delete, 2), (m_length, 3), (m_channel, 2),
            (m_type, 1), (m_frame_end, 1), (m_method, 4), (m_body_size, 2), (m_flags, 2), (m_field_type, 3),
            (m_splice, 3), (m_dup, 2), (m_drop, 2), (m_swap, 2), (m_truncate, 1)]
_FUNCS = [m for m, _ in MUTATORS]
_WEIGHTS = [w for _, w in MUTATORS]


def mutate(rng, seed_frames, seeds):
    sess = [list(c) for c in seed_frames]
    if rng.random() < 0.03:
        return sess
    for _ in range(rng.randint(1, 5)):
        if not any(sess):
            break
        rng.choices(_FUNCS, _WEIGHTS)[0](rng, sess, seeds)
    return [c for c in sess if c]


def session_bytes(sess):
    return [b"".join(c) for c in sess]


# ---- replay ----

GEN_NAME = re.compile(rb"amq\.gen-[A-Za-z0-9_-]{22}")


def replay(port, chunks, rng_close, tls=None):
    """Send the chunks, reading what the broker answers after each; stop when it closes.
    Server-named queues ("amq.gen-..." in the recording) are renamed on the fly to
    the names this broker gives, in order, so the rest of the session finds them."""
    recorded = []
    for c in chunks:
        for n in GEN_NAME.findall(c):
            if n not in recorded:
                recorded.append(n)
    given, tail = [], b""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return False
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        try:
            s = tls.wrap_socket(s, server_hostname="localhost")
        except OSError:
            s.close()
            return False
    s.setblocking(False)
    open_ = True
    want = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

    def drain(wait):
        nonlocal open_
        t_end = time.monotonic() + wait
        while open_:
            left = t_end - time.monotonic()
            if not (tls and s.pending()):
                r, _, _ = select.select([s], [], [], max(left, 0))
                if not r:
                    return
            try:
                d = s.recv(262144)
            except want:
                if time.monotonic() > t_end:
                    return
                continue
            except OSError:
                open_ = False
                return
            if not d:
                open_ = False
                return
            if recorded:
                nonlocal tail
                for n in GEN_NAME.findall(tail + d):
                    if n not in given:
                        given.append(n)
                tail = d[-40:]
            t_end = max(t_end, time.monotonic() + 0.001)

    try:
        for c in chunks:
            for old, new in zip(recorded, given):
                c = c.replace(old, new)
            view = memoryview(c)
            t0 = time.monotonic()
            while view and open_ and time.monotonic() - t0 < 5:
                _, w, _ = select.select([], [s], [], 0.5)
                if w:
                    try:
                        n = s.send(view)
                        view = view[n:]
                    except want:
                        pass
                    except OSError:
                        open_ = False
                drain(0)
            if not open_:
                break
            drain(0.004)
        drain(0.02)
    finally:
        if rng_close < 0.3:  # sometimes a reset instead of a FIN
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    return True


def load_seeds(d):
    names = sorted(n for n in os.listdir(d) if n.endswith(".bin"))
    return names, [sessions.frames_of(sessions.load(os.path.join(d, n))) for n in names]


def fuzz_phase(broker, seed, seconds, seeds, names, args, stats):
    """Replay mutated sessions for `seconds`; returns None or the failure."""
    t_end = time.monotonic() + seconds
    index = 0
    batch_no = 0
    while time.monotonic() < t_end:
        batch = []
        for _ in range(args.batch):
            rng = random.Random(seed * 1000003 + index)
            k = rng.randrange(len(seeds))
            batch.append((index, names[k], session_bytes(mutate(rng, seeds[k], seeds)), rng.random()))
            index += 1
        todo = list(batch)
        lock = threading.Lock()

        def worker():
            while True:
                with lock:
                    if not todo:
                        return
                    _, _, chunks, rc = todo.pop()
                replay(args.tls_port or broker.port, chunks, rc, args.tls_ctx)

        threads = [threading.Thread(target=worker) for _ in range(args.jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats["sessions"] += len(batch)
        stats["bytes"] += sum(len(c) for b in batch for c in b[2])
        batch_no += 1
        why = health(broker, "after batch %d of seed %d (sessions %d-%d)" % (batch_no, seed, batch[0][0], batch[-1][0]))
        stats["checks"] += 1
        if why:
            save = os.path.join(args.out, "seed%d-batch%d" % (seed, batch_no))
            os.makedirs(save, exist_ok=True)
            for i, name, chunks, _ in batch:
                sessions.dump(os.path.join(save, "%06d-%s" % (i, name)), chunks)
            return why + "; its %d sessions are in %s" % (len(batch), save)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warren", required=True)
    ap.add_argument("--seconds", type=float, default=150)
    ap.add_argument("--seed", type=int, action="append", help="fuzz with this seed (default: 1 and today's date)")
    ap.add_argument("--sessions", default=os.path.join(HERE, "sessions"))
    ap.add_argument("--jobs", type=int, default=8, help="sessions replayed at once")
    ap.add_argument("--batch", type=int, default=64, help="sessions between two health checks")
    ap.add_argument("--out", default="fuzz-broker-failures", help="where a failing batch is saved")
    ap.add_argument("--config", help="the broker's config file (e.g. small limits: frame_max, channel_max)")
    ap.add_argument("--tls", action="store_true", help="replay over TLS (amqps, with a client certificate)")
    ap.add_argument("--replay", nargs="+", metavar="FILE", help="replay these session files (or dirs) as they are")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="warren-broker-fuzz-")
    args.tls_port, args.tls_ctx = None, None
    if args.tls:  # a throw-away PKI (tests/tls/gen-certs.sh) and a TLS listener asking for client certificates
        certs = os.path.join(work, "certs")
        subprocess.run(["bash", os.path.join(HERE, "..", "tls", "gen-certs.sh"), certs], check=True)
        args.tls_port = free_port()
        args.config = os.path.join(work, "tls.conf")
        with open(args.config, "w") as f:
            f.write("listeners.ssl.default = 127.0.0.1:%d\nssl_options.cacertfile = %s/ca.pem\n"
                    "ssl_options.certfile = %s/server.pem\nssl_options.keyfile = %s/server.key\n"
                    "ssl_options.verify = verify_peer\nssl_cert_login_from = common_name\n"
                    % (args.tls_port, certs, certs, certs))
        args.tls_ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
        args.tls_ctx.load_cert_chain(os.path.join(certs, "client.pem"), os.path.join(certs, "client.key"))
    for attempt in range(3):  # a free port taken meanwhile by someone else: try another
        try:
            broker = Broker(args.warren, work, ["--config", args.config] if args.config else [])
            break
        except RuntimeError as e:
            if attempt == 2:
                raise
            log("%s; trying another port" % e)
    stats = {"sessions": 0, "bytes": 0, "checks": 0}
    failure = None
    t0 = time.monotonic()
    try:
        if args.replay:
            files = []
            for p in args.replay:  # a directory stands for its *.bin files (none if it does not exist)
                if os.path.isdir(p):
                    files += sorted(os.path.join(p, n) for n in os.listdir(p) if n.endswith(".bin"))
                elif p.endswith(".bin") or os.path.exists(p):
                    files.append(p)
            for path in files:
                replay(args.tls_port or broker.port, sessions.load(path), 1.0, args.tls_ctx)
                stats["sessions"] += 1
                failure = health(broker, "after replaying %s" % path)
                stats["checks"] += 1
                if failure:
                    break
        else:
            names, seeds = load_seeds(args.sessions)
            today = int(datetime.date.today().strftime("%Y%m%d"))
            run = args.seed or [1, today]
            log("%d seed sessions, seeds %s, %.0f s, %d at once, health check every %d sessions"
                % (len(seeds), run, args.seconds, args.jobs, args.batch))
            for seed in run:
                t_phase = time.monotonic()
                before = stats["sessions"]
                failure = fuzz_phase(broker, seed, args.seconds / len(run), seeds, names, args, stats)
                log("seed %d: %d sessions in %.1f s" % (seed, stats["sessions"] - before, time.monotonic() - t_phase))
                if failure:
                    break
    finally:
        status = broker.stop()
    if not failure:
        if status != 0:
            failure = "warren did not exit cleanly on SIGTERM (status %s)" % status
        elif any(m in broker.new_log() for m in SANITIZER_MARKS):
            failure = "sanitizer report in the broker log at exit (leak?)"
    dt = time.monotonic() - t0
    log("%d sessions replayed (%.1f MB) in %.1f s, %.0f/s, %d health checks"
        % (stats["sessions"], stats["bytes"] / 1e6, dt, stats["sessions"] / dt if dt else 0, stats["checks"]))
    if failure:
        log("FAILED: " + failure)
        log("broker log %s, last lines:\n%s" % (broker.log_path, broker.log_tail()))
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    log("ok")


if __name__ == "__main__":
    main()
