"""Queue features of issue 5 across restarts and kill -9, and the
x-delayed-message exchange (Warren only: the reference RabbitMQ has no
delayed-message plugin; the error texts are the plugin's), with pika.

    /usr/bin/python3 tests/durability/test_queue_features.py build/warren
"""
import os
import sys
import time

import pika

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from broker import Broker  # noqa: E402
from reference import Reference  # noqa: E402


def connect(b):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))


def get_all(ch, q):
    out = []
    while True:
        m, p, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            return out
        out.append((body.decode(), m.redelivered))


def priority_survives_kill9(binary):
    """A durable priority queue comes back in priority order after kill -9; the
    delivered, unacked message comes back first in its priority, redelivered."""
    b = Broker(binary)
    b.start()
    try:
        c = connect(b)
        ch = c.channel()
        ch.confirm_delivery()
        ch.queue_declare("prio", durable=True, arguments={"x-max-priority": 5})
        for body, prio in (("a1", 1), ("b5", 5), ("c3", 3), ("d5", 5), ("e0", None)):
            ch.basic_publish("", "prio", body, pika.BasicProperties(delivery_mode=2, priority=prio))
        m, _, body = ch.basic_get("prio", auto_ack=False)
        assert body == b"b5", body
        # a confirmed publish after it: the delivery record is on disk too
        ch.basic_publish("", "prio", "z0", pika.BasicProperties(delivery_mode=2))
        b.kill9()
        b.start()
        c = connect(b)
        ch = c.channel()
        got = get_all(ch, "prio")
        # After kill -9 every recovered message is marked redelivered: a first-delivery
        # record may still have been in flight, and the flag means "may have been
        # delivered" (README, the durability guarantee). Order is exact.
        want = [("b5", True), ("d5", True), ("c3", True), ("a1", True), ("e0", True), ("z0", True)]
        assert got == want, got
        c.close()
        b.stop()
    finally:
        b.cleanup()
    print("ok priority_survives_kill9")


def expect_close(fn, code, text):
    try:
        fn()
    except (pika.exceptions.ChannelClosedByBroker, pika.exceptions.ConnectionClosedByBroker) as e:
        assert (e.reply_code, e.reply_text) == (code, text), (e.reply_code, e.reply_text)
        return
    raise AssertionError("expected %d %s" % (code, text))


def wait_count(ch, q, n, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        c = ch.queue_declare(q, passive=True).method.message_count
        if c == n:
            return c
        time.sleep(0.05)
    return ch.queue_declare(q, passive=True).method.message_count


def delayed_exchange(binary):
    """x-delayed-message: argument errors as the plugin reports them, delay
    order, immediate routing without a positive integer x-delay, the inner
    type's routing, mandatory returned at once (as the plugin does)."""
    b = Broker(binary)
    b.start()
    try:
        c = connect(b)
        for args, code, text in (
                ({}, 406, "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an existing exchange type"),
                ({"x-delayed-type": 5}, 406,
                 "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an existing exchange type"),
                ({"x-delayed-type": "x-delayed-message"}, 406,
                 "PRECONDITION_FAILED - Invalid argument, 'x-delayed-message' can't be used for 'x-delayed-type'")):
            ch = c.channel()
            expect_close(lambda: ch.exchange_declare("dx-bad", "x-delayed-message", arguments=args), code, text)
        expect_close(lambda: c.channel().exchange_declare("dx-bad", "x-delayed-message",
                                                          arguments={"x-delayed-type": "foo"}),
                     503, "COMMAND_INVALID - unknown exchange type 'foo'")
        c = connect(b)
        ch = c.channel()
        ch.exchange_declare("dx", "x-delayed-message", arguments={"x-delayed-type": "direct"})
        expect_close(lambda: ch.exchange_declare("dx", "direct"), 406,
                     "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'dx' in vhost '/': "
                     "received 'direct' but current is 'x-delayed-message'")
        ch = c.channel()
        ch.exchange_declare("dx", "x-delayed-message", arguments={"x-delayed-type": "direct"})
        ch.queue_declare("dq")
        ch.queue_bind("dq", "dx", "k")
        t0 = time.time()
        ch.basic_publish("dx", "k", "late", pika.BasicProperties(headers={"x-delay": 900}))
        ch.basic_publish("dx", "k", "early", pika.BasicProperties(headers={"x-delay": 400}))
        ch.basic_publish("dx", "k", "now", pika.BasicProperties(headers={"x-delay": 0}))
        ch.basic_publish("dx", "k", "str", pika.BasicProperties(headers={"x-delay": "500"}))
        ch.basic_publish("dx", "k", "plain")
        ch.basic_publish("dx", "other", "unrouted", pika.BasicProperties(headers={"x-delay": 100}))
        assert wait_count(ch, "dq", 3) == 3
        assert [m for m, _ in get_all(ch, "dq")] == ["now", "str", "plain"]
        assert wait_count(ch, "dq", 1) == 1
        assert time.time() - t0 >= 0.35, time.time() - t0
        assert get_all(ch, "dq") == [("early", False)]
        assert wait_count(ch, "dq", 1) == 1
        assert time.time() - t0 >= 0.85, time.time() - t0
        m, p, body = ch.basic_get("dq", auto_ack=True)
        assert body == b"late" and p.headers == {"x-delay": 900}, (body, p.headers)
        # topic routing after the delay, with CC and BCC
        ch.exchange_declare("dxt", "x-delayed-message", arguments={"x-delayed-type": "topic"})
        ch.queue_declare("dqt")
        ch.queue_declare("dqb")
        ch.queue_bind("dqt", "dxt", "a.*")
        ch.queue_bind("dqb", "dxt", "b.#")
        ch.basic_publish("dxt", "a.x", "t", pika.BasicProperties(headers={"x-delay": 200, "BCC": ["b.y"]}))
        assert ch.queue_declare("dqt", passive=True).method.message_count == 0
        assert wait_count(ch, "dqb", 1) == 1 and wait_count(ch, "dqt", 1) == 1
        m, p, body = ch.basic_get("dqb", auto_ack=True)
        assert body == b"t" and p.headers == {"x-delay": 200}, p.headers
        # mandatory: returned at once, delivered later anyway (the plugin's behaviour)
        returned = []
        ch.add_on_return_callback(lambda *a: returned.append(a[1].reply_code))
        ch.basic_publish("dx", "k", "m", pika.BasicProperties(headers={"x-delay": 200}), mandatory=True)
        end = time.time() + 2
        while not returned and time.time() < end:
            c.process_data_events(0.1)
        assert returned == [312], returned
        assert wait_count(ch, "dq", 1) == 1
        c.close()
        b.stop()
    finally:
        b.cleanup()
    print("ok delayed_exchange")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def delayed_survives_kill9(binary):
    """Persistent messages held by a durable delayed exchange survive kill -9
    (confirmed = on disk), fire on time after recovery, late ones at once;
    transient ones are gone; held messages cost no body memory."""
    b = Broker(binary)
    b.start()
    try:
        c = connect(b)
        ch = c.channel()
        ch.confirm_delivery()
        ch.exchange_declare("ddx", "x-delayed-message", durable=True, arguments={"x-delayed-type": "fanout"})
        ch.queue_declare("ddq", durable=True)
        ch.queue_bind("ddq", "ddx")
        body = b"x" * 4096
        big = pika.BasicProperties(delivery_mode=2, headers={"x-delay": 3600 * 1000})
        for _ in range(5000):  # 20 MB of bodies, an hour away
            ch.basic_publish("ddx", "", body, big)
        persist = pika.BasicProperties(delivery_mode=2, headers={"x-delay": 2500})
        ch.basic_publish("ddx", "", "soon", pika.BasicProperties(delivery_mode=2, headers={"x-delay": 300}))
        ch.basic_publish("ddx", "", "later", persist)
        ch.basic_publish("ddx", "", "transient", pika.BasicProperties(headers={"x-delay": 300}))
        t_pub = time.time()
        b.kill9()
        time.sleep(0.6)  # "soon" is due while the broker is down
        b.start()
        c = connect(b)
        ch = c.channel()
        assert wait_count(ch, "ddq", 1, 1.0) == 1, "a message due during the outage fires at once"
        assert get_all(ch, "ddq") == [("soon", False)]
        rss = rss_kb(b.proc.pid)
        assert wait_count(ch, "ddq", 1, 5.0) == 1
        assert time.time() - t_pub >= 2.4, time.time() - t_pub
        assert get_all(ch, "ddq") == [("later", False)]
        time.sleep(0.3)
        assert get_all(ch, "ddq") == [], "the transient one is gone"
        # 5000 x 4 KiB held: only (time, position) in memory
        base = rss_base(binary)
        print("delayed: RSS %d kB with 5000 x 4 KiB held, idle broker %d kB" % (rss, base))
        assert rss < 8 * 1024 + base, "RSS %d kB" % rss
        c.close()
        b.stop()
        b.start()  # fired ones do not come back; held ones stay held
        c = connect(b)
        ch = c.channel()
        time.sleep(0.3)
        assert get_all(ch, "ddq") == []
        c.close()
        b.stop()
    finally:
        b.cleanup()
    print("ok delayed_survives_kill9")


def rss_base(binary):
    """RSS of an idle broker (sanitizer builds are much larger)."""
    b = Broker(binary)
    b.start()
    try:
        c = connect(b)
        c.channel()
        r = rss_kb(b.proc.pid)
        c.close()
        b.stop()
        return r
    finally:
        b.cleanup()


def deduplication(binary):
    """x-message-deduplication on queues and exchanges (Warren only: the
    reference RabbitMQ has no deduplication plugin)."""
    b = Broker(binary)
    b.start()
    try:
        c = connect(b)
        ch = c.channel()
        ch.confirm_delivery()  # a duplicate is still confirmed (acked): no exception
        ch.queue_declare("dd", arguments={"x-message-deduplication": True, "x-cache-size": 2})

        def pub(q, body, key=None, x="", **hdrs):
            h = dict(hdrs)
            if key is not None:
                h["x-deduplication-header"] = key
            ch.basic_publish(x, q, body, pika.BasicProperties(headers=h))

        pub("dd", "a1", "a")
        pub("dd", "a2", "a")
        pub("dd", "b1", "b")
        pub("dd", "n1")
        pub("dd", "n2")
        assert [m for m, _ in get_all(ch, "dd")] == ["a1", "b1", "n1", "n2"]
        pub("dd", "a3", "a")  # consumed and acked: the cache still holds "a"
        assert get_all(ch, "dd") == []
        pub("dd", "c1", "c")  # the cache holds 2: "a", the oldest, goes
        pub("dd", "a4", "a")
        assert [m for m, _ in get_all(ch, "dd")] == ["c1", "a4"]
        pub("dd", "i1", 7)
        pub("dd", "i2", "7")  # 7 and "7" are different values
        assert [m for m, _ in get_all(ch, "dd")] == ["i1", "i2"]
        # x-cache-ttl, the queue's and a message's own; another header name
        ch.queue_declare("ddt", arguments={"x-message-deduplication": True, "x-cache-ttl": 300,
                                           "x-deduplication-header": "msg-id"})
        ch.basic_publish("", "ddt", "k1", pika.BasicProperties(headers={"msg-id": "k"}))
        ch.basic_publish("", "ddt", "k2", pika.BasicProperties(headers={"msg-id": "k"}))
        ch.basic_publish("", "ddt", "x1", pika.BasicProperties(headers={"x-deduplication-header": "k"}))
        ch.basic_publish("", "ddt", "l1", pika.BasicProperties(headers={"msg-id": "l", "x-cache-ttl": 5000}))
        time.sleep(0.45)
        ch.basic_publish("", "ddt", "k3", pika.BasicProperties(headers={"msg-id": "k"}))
        ch.basic_publish("", "ddt", "l2", pika.BasicProperties(headers={"msg-id": "l"}))
        assert [m for m, _ in get_all(ch, "ddt")] == ["k1", "x1", "l1", "k3"]
        # exchange level: a duplicate is routed nowhere (mandatory: returned)
        ch.exchange_declare("ddx", "direct", arguments={"x-message-deduplication": True, "x-cache-size": 100})
        ch.queue_declare("ddxq")
        ch.queue_bind("ddxq", "ddx", "k")
        pub("k", "e1", "e", x="ddx")
        try:  # with confirms, pika reports a mandatory return as UnroutableError
            ch.basic_publish("ddx", "k", "e2", pika.BasicProperties(headers={"x-deduplication-header": "e"}),
                             mandatory=True)
            raise AssertionError("the duplicate was not returned")
        except pika.exceptions.UnroutableError as e:
            assert e.messages[0].method.reply_code == 312
        pub("k", "f1", "f", x="ddx")
        assert [m for m, _ in get_all(ch, "ddxq")] == ["e1", "f1"]
        for args, text in (
                ({"x-message-deduplication": True, "x-cache-size": 0},
                 "PRECONDITION_FAILED - invalid arg 'x-cache-size' for queue 'bad' in vhost '/': must be a positive integer"),
                ({"x-message-deduplication": True, "x-cache-ttl": "x"},
                 "PRECONDITION_FAILED - invalid arg 'x-cache-ttl' for queue 'bad' in vhost '/': must be a positive integer")):
            ch2 = c.channel()
            expect_close(lambda: ch2.queue_declare("bad", arguments=args), 406, text)
        c.close()
        b.stop()
    finally:
        b.cleanup()
    print("ok deduplication")


def dead_lettered(ch, q):
    """(body, x-death queue, reason, count, original-expiration) of every message in q."""
    out = []
    while True:
        m, p, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            return sorted(out)
        d = {k: v.decode() if isinstance(v, bytes) else v for k, v in p.headers["x-death"][0].items()}
        out.append((body.decode(), d["queue"], d["reason"], int(d["count"]), d.get("original-expiration")))


def ttl_scenario(b, mode, ttl, short, down, pad=0):
    """Durable queues with x-message-ttl (ttl ms, and short ms that runs out
    while the broker is down) and per-message expirations, dead-lettered to
    'ttl-dead': across a restart (graceful or kill -9, after down s) a
    message's TTL counts from its original enqueue, as RabbitMQ keeps it, and
    one whose TTL ran out while down is dead-lettered (reason expired) at
    recovery, never delivered. pad: bytes of other messages published after
    them (to seal their log segment). Returns the enqueue and restart times."""
    c = connect(b)
    ch = c.channel()
    ch.confirm_delivery()
    ch.exchange_declare("ttl-dlx", "fanout", durable=True)
    ch.queue_declare("ttl-dead", durable=True)
    ch.queue_bind("ttl-dead", "ttl-dlx")
    dl = {"x-dead-letter-exchange": "ttl-dlx"}
    ch.queue_declare("ttl-long", durable=True, arguments=dict(dl, **{"x-message-ttl": ttl}))
    ch.queue_declare("ttl-short", durable=True, arguments=dict(dl, **{"x-message-ttl": short}))
    ch.queue_declare("ttl-own", durable=True, arguments=dl)
    ch.queue_declare("ttl-plain", durable=True)  # no arguments: positions-only tail
    ch.queue_declare("ttl-fresh", durable=True, arguments=dict(dl, **{"x-message-ttl": ttl}))

    def pub(q, body, exp=None):
        ch.basic_publish("", q, body, pika.BasicProperties(delivery_mode=2, expiration=exp))

    t0 = time.time()
    pub("ttl-long", "long1")
    pub("ttl-long", "long2", str(ttl * 20))  # the queue's TTL is lower: it wins
    pub("ttl-short", "short1")
    pub("ttl-own", "own-short", str(short))  # its own expiration runs out while down
    pub("ttl-own", "own-long", str(ttl))
    pub("ttl-plain", "p1")
    pub("ttl-plain", "p-exp", str(short))
    pub("ttl-plain", "p2")
    if pad:
        ch.queue_declare("ttl-pad", durable=True)
        for _ in range(pad // 16384):
            pub("ttl-pad", "x" * 16384)
    time.sleep(max(0.0, t0 + down - time.time()))
    if mode == "kill9":
        b.kill9()
    else:
        c.close()
        b.stop()
    time.sleep(max(0.0, t0 + short / 1000.0 + 0.3 - time.time()))  # short ones run out while down
    b.start()
    t_up = time.time()
    assert t_up - t0 < ttl / 1000.0 - 0.8, "restarted too late for the test: %.2f s" % (t_up - t0)
    c = connect(b)
    ch = c.channel()
    # at recovery: the ones whose TTL ran out while down are dead-lettered, not delivered
    assert wait_count(ch, "ttl-dead", 2, 3.0) == 2, ch.queue_declare("ttl-dead", passive=True).method.message_count
    assert ch.queue_declare("ttl-short", passive=True).method.message_count == 0
    assert ch.queue_declare("ttl-long", passive=True).method.message_count == 2
    early = dead_lettered(ch, "ttl-dead")
    # A message read back from disk after a restart is dead-lettered without
    # 'original-expiration' in its x-death (RabbitMQ 3.10: rabbit_dead_letter reads
    # the expiration from properties that are not decoded yet); it is removed all the same.
    assert early == [("own-short", "ttl-own", "expired", 1, None),
                     ("short1", "ttl-short", "expired", 1, None)], early
    assert [m for m, _ in get_all(ch, "ttl-plain")] == ["p1", "p2"], "p-exp ran out while down"
    # a message published after the restart counts from its own enqueue
    ch.basic_publish("", "ttl-fresh", "fresh", pika.BasicProperties(delivery_mode=2))
    t_fresh = time.time()
    # the others expire ttl ms after their enqueue, not ttl ms after the restart
    while time.time() < t0 + ttl / 1000.0 + 5:
        left = (ch.queue_declare("ttl-long", passive=True).method.message_count +
                ch.queue_declare("ttl-own", passive=True).method.message_count)
        if not left:
            break
        time.sleep(0.02)
    t_exp = time.time()
    assert not left, "still %d message(s) %.2f s after the enqueue" % (left, t_exp - t0)
    assert t0 + ttl / 1000.0 - 0.1 <= t_exp <= t0 + ttl / 1000.0 + 0.8, \
        "expired %.2f s after the enqueue (%.2f s after the restart), TTL %d ms" % (t_exp - t0, t_exp - t_up, ttl)
    assert wait_count(ch, "ttl-dead", 3, 2.0) == 3
    late = dead_lettered(ch, "ttl-dead")
    assert late == [("long1", "ttl-long", "expired", 1, None),
                    ("long2", "ttl-long", "expired", 1, None),
                    ("own-long", "ttl-own", "expired", 1, None)], late
    assert ch.queue_declare("ttl-fresh", passive=True).method.message_count == 1, "fresh expired too early"
    assert wait_count(ch, "ttl-fresh", 0, ttl / 1000.0 + 2) == 0
    assert time.time() - t_fresh >= ttl / 1000.0 - 0.1
    assert dead_lettered(ch, "ttl-dead") == [("fresh", "ttl-fresh", "expired", 1, None)]
    # published after the restart, its expiration is known: x-death keeps it
    ch.basic_publish("", "ttl-own", "own-new", pika.BasicProperties(delivery_mode=2, expiration="100"))
    assert wait_count(ch, "ttl-dead", 1, 3.0) == 1
    assert dead_lettered(ch, "ttl-dead") == [("own-new", "ttl-own", "expired", 1, "100")]
    c.close()
    return t0, t_up, t_exp


def ttl_survives_restart(binary):
    """Message TTL counts from the enqueue across a graceful restart and kill -9."""
    for mode, small in (("graceful", False), ("kill9", False), ("graceful", True)):
        b = Broker(binary)
        if small:  # 1 MiB segments: the records are replayed from their segment's index (summaries)
            conf = os.path.join(b.data_dir + ".conf")
            with open(conf, "w") as f:
                f.write("log.segment_size = 1MiB\n")
            b.binary_args += ["--config", conf]
        b.start()
        try:
            t0, t_up, t_exp = ttl_scenario(b, mode, 3000, 1000, 0.5, pad=1536 * 1024 if small else 0)
            print("ttl %s%s: restarted at +%.2f s, expired at +%.2f s (TTL 3 s)" %
                  (mode, " (small segments)" if small else "", t_up - t0, t_exp - t0))
            if small:
                import re
                n = re.findall(r"recovery: (\d+) segment\(s\) replayed from their index", b.log())
                assert n and int(n[0]) >= 1, n
            # and again: nothing comes back after a clean restart
            b.stop()
            b.start()
            c = connect(b)
            ch = c.channel()
            for q in ("ttl-long", "ttl-short", "ttl-own", "ttl-dead", "ttl-fresh", "ttl-plain"):
                assert ch.queue_declare(q, passive=True).method.message_count == 0, q
            c.close()
            b.stop()
        finally:
            b.cleanup()
            if small:
                os.unlink(conf)
    print("ok ttl_survives_restart")


def deep_queue_mixed(binary):
    """A plain durable queue past 20,000 messages (its tail held as log
    positions only) stays FIFO when transient messages, and persistent ones
    with their own expiration, come between persistent ones; the expiring
    ones expire there too."""
    b = Broker(binary)
    b.start()
    try:
        c = connect(b)
        ch = c.channel()
        ch.queue_declare("deepmix", durable=True)
        for i in range(20000):
            ch.basic_publish("", "deepmix", "f", pika.BasicProperties(delivery_mode=2))
        want, k = [], 0
        for i in range(6):
            for mode, exp in ((2, None), (1, None), (2, "150"), (1, None), (2, None), (2, None)):
                k += 1
                body = "m%d-%d%s" % (k, mode, "-exp" if exp else "")
                ch.basic_publish("", "deepmix", body, pika.BasicProperties(delivery_mode=mode, expiration=exp))
                if not exp:
                    want.append(body)
        time.sleep(0.3)
        got = []
        while True:
            m, p, body = ch.basic_get("deepmix", auto_ack=True)
            if m is None:
                break
            if body != b"f":
                got.append(body.decode())
        assert got == want, got[:12]
        c.close()
        b.stop()
    finally:
        b.cleanup()
    print("ok deep_queue_mixed")


def quorum_returns_survive_restart(binary):
    """A quorum queue's x-delivery-count and the back-of-queue place of a
    message the client requeued survive a graceful restart and kill -9, as in
    RabbitMQ 3.10 (checked there: after a graceful restart it gives d, a, b
    with counts 1, 1, 1 for this scenario)."""
    for mode in ("graceful", "kill9"):
        b = Broker(binary)
        b.start()
        try:
            c = connect(b)
            ch = c.channel()
            ch.confirm_delivery()
            ch.queue_declare("qret", durable=True, arguments={"x-queue-type": "quorum"})
            for body in "abcd":
                ch.basic_publish("", "qret", body, pika.BasicProperties(delivery_mode=2))
            m, _, body = ch.basic_get("qret")
            assert body == b"a"
            ch.basic_nack(m.delivery_tag, requeue=True)  # to the back, count 1
            m, _, body = ch.basic_get("qret")
            assert body == b"b"
            ch.basic_nack(m.delivery_tag, requeue=True)
            m, _, body = ch.basic_get("qret")
            assert body == b"c"
            ch.basic_ack(m.delivery_tag)
            ch2 = c.channel()
            m, p, body = ch2.basic_get("qret")
            assert body == b"d" and p.headers == {"x-delivery-count": 0}, (body, p.headers)
            ch2.close()  # back to its place, count 1
            ch.queue_declare("qret-sync", durable=True)
            ch.basic_publish("", "qret-sync", "s", pika.BasicProperties(delivery_mode=2))  # confirmed: all before is on disk
            if mode == "kill9":
                b.kill9()
            else:
                c.close()
                b.stop()
            b.start()
            c = connect(b)
            ch = c.channel()
            got = []
            for _ in range(3):
                m, p, body = ch.basic_get("qret")
                got.append((body.decode(), m.redelivered, (p.headers or {}).get("x-delivery-count")))
                if body == b"d":
                    ch.basic_nack(m.delivery_tag, requeue=True)  # counts on from 1
                else:
                    ch.basic_ack(m.delivery_tag)
            assert got == [("d", True, 1), ("a", True, 1), ("b", True, 1)], (mode, got)
            m, p, body = ch.basic_get("qret", auto_ack=True)
            assert body == b"d" and p.headers == {"x-delivery-count": 2}, (body, p.headers)
            c.close()
            b.stop()
        finally:
            b.cleanup()
    print("ok quorum_returns_survive_restart")


def dlx_into_reject_publish_dlx(binary):
    """A message dead-lettered to two durable queues, one of which refuses it
    (x-overflow reject-publish-dlx, so it dead-letters it on): the other copy
    must survive its segment's reclaim and a restart. The refusing queue's
    reference to the log record used to be released twice, so the record
    looked dead while the other queue still held it."""
    b = Broker(binary)
    conf = os.path.join(b.data_dir + ".conf")
    with open(conf, "w") as f:
        f.write("log.segment_size = 1MiB\n")
    b.binary_args += ["--config", conf]
    b.start()
    try:
        c = connect(b)
        ch = c.channel()
        ch.confirm_delivery()
        ch.exchange_declare("dlxf", "fanout", durable=True)
        ch.queue_declare("src", durable=True, arguments={"x-dead-letter-exchange": "dlxf"})
        ch.queue_declare("refuser", durable=True, arguments={
            "x-max-length": 0, "x-overflow": "reject-publish-dlx",
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "onward"})
        ch.queue_declare("onward", durable=True)
        ch.queue_declare("keeper", durable=True)
        ch.queue_declare("fill", durable=True)
        ch.queue_bind("refuser", "dlxf")
        ch.queue_bind("keeper", "dlxf")
        persistent = pika.BasicProperties(delivery_mode=2)
        ch.basic_publish("", "src", b"keep", properties=persistent)
        m, _, _ = ch.basic_get("src")
        ch.basic_reject(m.delivery_tag, requeue=False)
        wait_count(ch, "keeper", 1)
        wait_count(ch, "onward", 1)
        # roll the log past the dead-lettered record's segment and let dead segments go
        for i in range(6):
            ch.basic_publish("", "fill", b"f" * (400 * 1024), properties=persistent)
        ch.queue_purge("fill")
        time.sleep(2.5)
        c.close()
        b.stop()
        b.start()
        c = connect(b)
        ch = c.channel()
        kept = get_all(ch, "keeper")
        onward = get_all(ch, "onward")
        c.close()
        print("dlx into reject-publish-dlx: after a restart keeper has %s, onward %s" % (kept, onward))
        assert [x[0] for x in kept] == ["keep"], "the keeper's copy was lost: %s" % kept
        assert [x[0] for x in onward] == ["keep"], onward
        b.stop()
    finally:
        b.cleanup()
        os.unlink(conf)
    print("ok dlx_into_reject_publish_dlx")


TESTS = [priority_survives_kill9, delayed_exchange, delayed_survives_kill9, deduplication, ttl_survives_restart,
         deep_queue_mixed, quorum_returns_survive_restart, dlx_into_reject_publish_dlx]


def reference(port):
    """The TTL scenario against the reference RabbitMQ (TTL 30 s: its restart takes seconds)."""
    for mode in ("graceful", "kill9"):
        r = Reference(port)
        r.start()
        try:
            t0, t_up, t_exp = ttl_scenario(r, mode, 30000, 2000, 1.0)
            print("reference ttl %s: restarted at +%.2f s, expired at +%.2f s (TTL 30 s)" % (mode, t_up - t0, t_exp - t0))
        finally:
            r.stop()
    print("ok reference")


def main():
    if sys.argv[1] == "--reference":  # check the scenario against RabbitMQ 3.10: --reference PORT
        return reference(int(sys.argv[2]))
    binary = sys.argv[1]
    only = sys.argv[2] if len(sys.argv) > 2 else None
    for t in TESTS:
        if not only or t.__name__ == only:
            t(binary)
    print("all %d passed" % (1 if only else len(TESTS)))


if __name__ == "__main__":
    main()
