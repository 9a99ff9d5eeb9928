"""Policies and operator policies (issue 10), end to end with pika and the
control CLI, each scenario run against Warren and, with --reference PORT,
against a running reference RabbitMQ 3.10 (started by
../shared/tools/reference-rabbitmq PORT; driven with rabbitmqctl).

usage: test_policies.py WARREN WARRENCTL
       test_policies.py --reference PORT     (the same scenarios against RabbitMQ)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "durability"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from broker import Broker  # noqa: E402
from reference import Reference  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    else:
        print("ok:", what)


class Warren:
    name = "warren"

    def __init__(self, binary, ctl, data_dir=None):
        self.b = Broker(binary, data_dir=data_dir)
        self.ctl_bin = ctl
        self.b.start()
        self.port = self.b.port

    def ctl(self, *args):
        p = subprocess.run([self.ctl_bin, "--data-dir", self.b.data_dir] + list(args), capture_output=True, text=True,
                           timeout=30)
        return p.returncode, p.stdout, p.stderr

    def restart(self, kill9):
        self.b.kill9() if kill9 else self.b.stop()
        self.b.start()

    def close(self):
        self.b.cleanup()


def connect(t):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", t.port, "/", pika.PlainCredentials("guest", "guest"),
                                                             connection_attempts=3, socket_timeout=10))


def ok(t, *args):
    rc, out, err = t.ctl(*args)
    assert rc == 0, (t.name, args, rc, out, err)
    return out


def table(t, *args):
    """Rows of a listing (-q, tab-separated; a header line is dropped)."""
    out = ok(t, "-q", *args)
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if lines and lines[0].split("\t")[0] in ("name", "vhost"):
        lines = lines[1:]
    return [ln.split("\t") for ln in lines]


def queue_policy(t, q):
    for r in table(t, "list_queues", "name", "policy"):
        if r[0] == q:
            return r[1] if len(r) > 1 else ""
    return None


def count(ch, q):
    return ch.queue_declare(q, passive=True).method.message_count


def publish(ch, q, n, start=0, x=""):
    for i in range(start, start + n):
        ch.basic_publish(x, q, str(i).encode(), pika.BasicProperties(delivery_mode=2))


def settle():
    time.sleep(0.3)


def fresh(ch, *queues):
    for q in queues:
        ch.queue_delete(q)


# ---- scenarios ----

def priority(t):
    c = connect(t)
    ch = c.channel()
    fresh(ch, "pr.q")
    ok(t, "set_policy", "--priority", "1", "pr-low", "^pr\\.", '{"max-length":5}')
    ok(t, "set_policy", "--priority", "2", "pr-high", "^pr\\.q$", '{"max-length":2}')
    ch.queue_declare("pr.q", durable=True)
    publish(ch, "pr.q", 5)
    settle()
    check(count(ch, "pr.q") == 2, "%s priority: the higher-priority policy's max-length (2) applies" % t.name)
    check(queue_policy(t, "pr.q") == "pr-high", "%s priority: list_queues policy names it" % t.name)
    ok(t, "clear_policy", "pr-high")
    publish(ch, "pr.q", 5, 10)
    settle()
    check(count(ch, "pr.q") == 5, "%s priority: cleared, the lower one (5) applies" % t.name)
    check(queue_policy(t, "pr.q") == "pr-low", "%s priority: list_queues shows the lower one" % t.name)
    rows = table(t, "list_policies")
    check([r[1] for r in rows] == ["pr-low"] and rows[0][3] == "all" and rows[0][5] == "1",
          "%s list_policies: vhost name pattern apply-to definition priority (%s)" % (t.name, rows))
    ok(t, "clear_policy", "pr-low")
    fresh(ch, "pr.q")
    c.close()


def apply_to(t):
    c = connect(t)
    ch = c.channel()
    fresh(ch, "at.q", "at.ae.q")
    ch.exchange_declare("at.src", "direct", durable=True)
    ch.exchange_declare("at.ae", "fanout", durable=True)
    ch.queue_declare("at.ae.q", durable=True)
    ch.queue_bind("at.ae.q", "at.ae")
    ch.queue_declare("at.q", durable=True)
    publish(ch, "at.q", 3)
    # a queue key with apply-to exchanges: not applied to queues
    ok(t, "set_policy", "--apply-to", "exchanges", "at", "^at\\.", '{"max-length":1,"alternate-exchange":"at.ae"}')
    settle()
    check(count(ch, "at.q") == 3 and queue_policy(t, "at.q") == "", "%s apply-to exchanges: queues untouched" % t.name)
    ch.basic_publish("at.src", "nokey", b"to-ae")
    settle()
    check(count(ch, "at.ae.q") == 1, "%s apply-to exchanges: alternate-exchange by policy routes the unroutable" % t.name)
    ok(t, "set_policy", "--apply-to", "queues", "at", "^at\\.", '{"max-length":1,"alternate-exchange":"at.ae"}')
    settle()
    check(count(ch, "at.q") == 1, "%s apply-to queues: max-length applied to the existing queue at once" % t.name)
    ch.basic_publish("at.src", "nokey", b"not-to-ae")
    settle()
    check(count(ch, "at.ae.q") == 1, "%s apply-to queues: the exchange lost its alternate-exchange" % t.name)
    ok(t, "set_policy", "--apply-to", "all", "at", "^at\\.src$", '{"alternate-exchange":"at.ae"}')
    ch.basic_publish("at.src", "nokey", b"to-ae-again")
    settle()
    check(count(ch, "at.ae.q") == 2, "%s apply-to all: exchanges match" % t.name)
    rc, out, err = t.ctl("set_policy", "--apply-to", "classic_queues", "bad", ".*", '{"max-length":1}')
    check(rc == 69 and "apply-to 'classic_queues' unrecognised; should be 'queues', 'exchanges' or 'all'" in err,
          "%s apply-to classic_queues refused as 3.10 (rc %d)" % (t.name, rc))
    ok(t, "clear_policy", "at")
    # the argument wins over the policy for alternate-exchange
    ch.exchange_declare("at.src2", "direct", durable=True, arguments={"alternate-exchange": "at.none"})
    ok(t, "set_policy", "at2", "^at\\.src2$", '{"alternate-exchange":"at.ae"}')
    ch.basic_publish("at.src2", "nokey", b"x")
    settle()
    check(count(ch, "at.ae.q") == 2, "%s alternate-exchange: the argument wins over the policy" % t.name)
    ok(t, "clear_policy", "at2")
    for x in ("at.src", "at.src2", "at.ae"):
        ch.exchange_delete(x)
    fresh(ch, "at.q", "at.ae.q")
    c.close()


def arg_vs_policy(t):
    c = connect(t)
    ch = c.channel()
    qs = ["ap.len5", "ap.len2", "ap.dlx", "ap.dlq.a", "ap.dlq.b", "ap.ttl", "ap.ovf", "ap.qq", "ap.qq.dlq", "ap.qovf"]
    fresh(ch, *qs)
    pols = {"ap-len": ("^ap\\.len", '{"max-length":3}'),
            "ap-dlx": ("^ap\\.dlx$", '{"dead-letter-exchange":"ap.dlx.b"}'),
            "ap-ttl": ("^ap\\.ttl$", '{"message-ttl":200,"dead-letter-exchange":"ap.dlx.b"}'),
            "ap-ovf": ("^ap\\.ovf$", '{"max-length":3,"overflow":"drop-head"}'),
            "ap-qq": ("^ap\\.qq$", '{"delivery-limit":1}'),
            "ap-qovf": ("^ap\\.qovf$", '{"max-length":3,"overflow":"drop-head"}')}
    for n, (pat, d) in pols.items():
        ok(t, "set_policy", n, pat, d)
    ch.exchange_declare("ap.dlx.a", "fanout")
    ch.exchange_declare("ap.dlx.b", "fanout")
    for q in ("ap.dlq.a", "ap.dlq.b", "ap.qq.dlq"):
        ch.queue_declare(q, durable=True, arguments={"x-message-ttl": 600000, "x-max-length": 1000,
                                                     "x-dead-letter-exchange": ""})
    ch.queue_bind("ap.dlq.a", "ap.dlx.a")
    ch.queue_bind("ap.dlq.b", "ap.dlx.b")
    # max-length: the lower of argument and policy
    ch.queue_declare("ap.len5", durable=True, arguments={"x-max-length": 5, "x-message-ttl": 600000})
    ch.queue_declare("ap.len2", durable=True, arguments={"x-max-length": 2, "x-message-ttl": 600000})
    publish(ch, "ap.len5", 6)
    publish(ch, "ap.len2", 6)
    settle()
    check(count(ch, "ap.len5") == 3, "%s max-length: policy 3 under argument 5 wins" % t.name)
    check(count(ch, "ap.len2") == 2, "%s max-length: argument 2 under policy 3 wins" % t.name)
    # operator policy: the lowest of the three
    ok(t, "set_operator_policy", "op", "^ap\\.len", '{"max-length":1}')
    settle()
    check(count(ch, "ap.len5") == 1 and count(ch, "ap.len2") == 1,
          "%s operator policy max-length 1: the lowest applies, at once" % t.name)
    ok(t, "clear_operator_policy", "op")
    publish(ch, "ap.len5", 6)
    settle()
    check(count(ch, "ap.len5") == 3, "%s operator policy cleared: policy 3 again" % t.name)
    # dead-letter-exchange: the argument wins
    ch.queue_declare("ap.dlx", durable=True, arguments={"x-dead-letter-exchange": "ap.dlx.a", "x-message-ttl": 600000})
    publish(ch, "ap.dlx", 1)
    m, _, _ = ch.basic_get("ap.dlx")
    ch.basic_reject(m.delivery_tag, requeue=False)
    settle()
    check(count(ch, "ap.dlq.a") == 1 and count(ch, "ap.dlq.b") == 0,
          "%s dead-letter-exchange: the argument wins over the policy" % t.name)
    # message-ttl: the lower (policy 200 under argument none -> 200; argument 600000 -> 200)
    ch.queue_declare("ap.ttl", durable=True, arguments={"x-message-ttl": 600000})
    publish(ch, "ap.ttl", 2)
    time.sleep(0.8)
    check(count(ch, "ap.ttl") == 0, "%s message-ttl: policy 200 under argument 600000 wins" % t.name)
    check(count(ch, "ap.dlq.b") == 2, "%s message-ttl expiry dead-lettered to the policy's DLX" % t.name)
    # overflow on a classic queue: the argument wins
    ch.queue_declare("ap.ovf", durable=True, arguments={"x-overflow": "reject-publish", "x-message-ttl": 600000})
    ch.confirm_delivery()
    nacked = 0
    for i in range(4):
        try:
            ch.basic_publish("", "ap.ovf", b"%d" % i, pika.BasicProperties(delivery_mode=2))
        except pika.exceptions.NackError:
            nacked += 1
    check(count(ch, "ap.ovf") == 3 and nacked == 1, "%s overflow (classic): the argument's reject-publish wins (%d nacked)"
          % (t.name, nacked))
    # quorum: delivery-limit the lower; overflow the policy wins
    ch.queue_declare("ap.qq", durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 5,
                                                       "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "ap.qq.dlq",
                                                       "x-message-ttl": 600000})
    ch.basic_publish("", "ap.qq", b"q", pika.BasicProperties(delivery_mode=2))
    for _ in range(3):
        m, _, _ = ch.basic_get("ap.qq")
        if m:
            ch.basic_reject(m.delivery_tag, requeue=True)
        time.sleep(0.1)
    settle()
    check(count(ch, "ap.qq") == 0 and count(ch, "ap.qq.dlq") == 1,
          "%s delivery-limit (quorum): policy 1 under argument 5 wins; dead-lettered by the argument's DLX" % t.name)
    ch.queue_declare("ap.qovf", durable=True, arguments={"x-queue-type": "quorum", "x-overflow": "reject-publish",
                                                         "x-message-ttl": 600000})
    nacked = 0
    for i in range(5):
        try:
            ch.basic_publish("", "ap.qovf", b"%d" % i, pika.BasicProperties(delivery_mode=2))
        except pika.exceptions.NackError:
            nacked += 1
    settle()
    check(count(ch, "ap.qovf") == 3 and nacked == 0,
          "%s overflow (quorum): the policy's drop-head wins over the argument (%d nacked, %d left)"
          % (t.name, nacked, count(ch, "ap.qovf")))
    for n in pols:
        ok(t, "clear_policy", n)
    for x in ("ap.dlx.a", "ap.dlx.b"):
        ch.exchange_delete(x)
    fresh(ch, *qs)
    c.close()


def expires_rule(t):
    """expires: classic queues take the lower, quorum queues the policy's (3.10)."""
    ok(t, "set_policy", "qexp", "^qexp\\.", '{"expires":600000}')
    c = connect(t)
    ch = c.channel()
    fresh(ch, "qexp.q", "qexp.c")
    ch.queue_declare("qexp.q", durable=True, arguments={"x-queue-type": "quorum", "x-expires": 1500})
    ch.queue_declare("qexp.c", durable=True, arguments={"x-expires": 1500})
    c.close()
    time.sleep(4)
    c = connect(t)
    left = []
    for q in ("qexp.q", "qexp.c"):
        ch = c.channel()
        try:
            ch.queue_declare(q, passive=True)
            left.append(q)
        except pika.exceptions.ChannelClosedByBroker:
            pass
    check(left == ["qexp.q"], "%s expires: classic the lower (argument 1500 ms: gone), quorum the policy's (600 s: "
          "still there) (%s left)" % (t.name, left))
    ch = c.channel()
    fresh(ch, "qexp.q", "qexp.c")
    c.close()
    ok(t, "clear_policy", "qexp")


def existing_queue(t):
    c = connect(t)
    ch = c.channel()
    fresh(ch, "ex.q", "ex.dlq")
    ch.queue_declare("ex.dlq", durable=True)
    ch.queue_declare("ex.q", durable=True)
    publish(ch, "ex.q", 10)
    settle()
    ok(t, "set_policy", "ex", "^ex\\.q$", '{"max-length":3,"dead-letter-exchange":"","dead-letter-routing-key":"ex.dlq"}')
    settle()
    check(count(ch, "ex.q") == 3, "%s set on an existing queue: max-length 3 drops the excess at once" % t.name)
    check(count(ch, "ex.dlq") == 7, "%s ... and dead-letters it to the policy's DLX (maxlen)" % t.name)
    m, _, body = ch.basic_get("ex.q")
    check(body == b"7", "%s ... the oldest went (head is now 7, got %r)" % (t.name, body))
    ch.basic_reject(m.delivery_tag, requeue=False)
    settle()
    check(count(ch, "ex.dlq") == 8, "%s a reject dead-letters by policy" % t.name)
    ok(t, "clear_policy", "ex")
    publish(ch, "ex.q", 10, 100)
    m, _, _ = ch.basic_get("ex.q")
    ch.basic_reject(m.delivery_tag, requeue=False)
    settle()
    check(count(ch, "ex.q") == 11, "%s cleared: no limit any more" % t.name)
    check(count(ch, "ex.dlq") == 8, "%s cleared: no dead-lettering any more" % t.name)
    fresh(ch, "ex.q", "ex.dlq")
    c.close()


def survives(t, kill9):
    how = "kill -9" if kill9 else "restart"
    c = connect(t)
    ch = c.channel()
    fresh(ch, "sv.q")
    ch.queue_declare("sv.q", durable=True)
    ok(t, "set_policy", "--priority", "3", "--apply-to", "queues", "sv", "^sv\\.", '{"max-length":4}')
    ok(t, "set_operator_policy", "svop", "^sv\\.", '{"message-ttl":600000}')
    ok(t, "set_policy", "gone", "^nothing$", '{"max-length":1}')
    ok(t, "clear_policy", "gone")
    c.close()
    before = table(t, "list_policies"), table(t, "list_operator_policies")
    t.restart(kill9)
    after = table(t, "list_policies"), table(t, "list_operator_policies")
    check(before == after, "%s policies survive %s (%s)" % (t.name, how, after))
    c = connect(t)
    ch = c.channel()
    publish(ch, "sv.q", 6)
    settle()
    check(count(ch, "sv.q") == 4, "%s after %s the policy applies to the recovered queue" % (t.name, how))
    check(queue_policy(t, "sv.q") == "sv", "%s after %s list_queues names the policy" % (t.name, how))
    ok(t, "clear_policy", "sv")
    ok(t, "clear_operator_policy", "svop")
    fresh(ch, "sv.q")
    c.close()


def round_trip(t, fresh_target):
    """export -> import into a fresh broker -> the same policies and operator policies."""
    ok(t, "set_policy", "--priority", "7", "--apply-to", "queues", "rt1", "^rt\\.", '{"max-length":9,"dead-letter-exchange":"x"}')
    ok(t, "set_policy", "--apply-to", "exchanges", "rt2", "^rtx$", '{"alternate-exchange":"ae"}')
    ok(t, "set_operator_policy", "--priority", "2", "rtop", "^rt\\.", '{"max-length-bytes":1000,"delivery-limit":4}')
    tmp = tempfile.mkdtemp()
    os.chmod(tmp, 0o777)  # rabbitmqctl's node writes the export as its own user
    path = os.path.join(tmp, "defs.json")
    ok(t, "export_definitions", path)
    with open(path) as f:
        d = json.load(f)
    pol = sorted((p["name"], p["pattern"], p["apply-to"], p["priority"], json.dumps(p["definition"], sort_keys=True))
                 for p in d.get("policies", []))
    check(pol == [("rt1", "^rt\\.", "queues", 7, '{"dead-letter-exchange": "x", "max-length": 9}'),
                  ("rt2", "^rtx$", "exchanges", 0, '{"alternate-exchange": "ae"}')],
          "%s export: policies in RabbitMQ's shape (%s)" % (t.name, pol))
    ops = [p for p in d.get("parameters", []) if p.get("component") == "operator_policy"]
    check(len(ops) == 1 and ops[0]["name"] == "rtop" and ops[0]["value"]["priority"] == 2,
          "%s export: operator policies as parameters of component operator_policy" % t.name)
    want = table(t, "list_policies"), table(t, "list_operator_policies")
    for n in ("rt1", "rt2"):
        ok(t, "clear_policy", n)
    ok(t, "clear_operator_policy", "rtop")
    target = fresh_target() if fresh_target else t
    rc, out, err = target.ctl("import_definitions", path)
    got = table(target, "list_policies"), table(target, "list_operator_policies")
    check((rc == 0 or t.name == "rabbitmq") and got[0] == want[0],
          "%s import into a fresh broker: same policies (rc %d, %s)" % (t.name, rc, got[0]))
    check(got[1] == want[1] or (t.name == "rabbitmq" and got[1] == []),
          "%s import: same operator policies (%s; 3.10 cannot import its own export of them)" % (t.name, got[1]))
    os.unlink(path)
    os.rmdir(tmp)
    for n in ("rt1", "rt2"):
        target.ctl("clear_policy", n)
    target.ctl("clear_operator_policy", "rtop")
    if target is not t:
        target.close()


def imported_policy_applies(t):
    """A definitions file's policy (RabbitMQ's shape) takes effect: before
    issue 10 Warren skipped it and the queue grew unbounded."""
    tmp = tempfile.mkdtemp()
    os.chmod(tmp, 0o755)
    path = os.path.join(tmp, "defs.json")
    with open(path, "w") as f:
        json.dump({"policies": [{"vhost": "/", "name": "imp", "pattern": "^imp\\.", "apply-to": "queues",
                                 "definition": {"max-length": 2}, "priority": 0}]}, f)
    os.chmod(path, 0o644)
    rc, out, err = t.ctl("import_definitions", path)
    os.unlink(path)
    os.rmdir(tmp)
    c = connect(t)
    ch = c.channel()
    fresh(ch, "imp.q")
    ch.queue_declare("imp.q", durable=True)
    publish(ch, "imp.q", 5)
    settle()
    n = count(ch, "imp.q")
    check(rc == 0 and n == 2, "%s an imported policy applies: max-length 2 keeps %d of 5 (import rc %d %s)"
          % (t.name, n, rc, err.strip()))
    fresh(ch, "imp.q")
    c.close()
    t.ctl("clear_policy", "imp")


def bad_input(t):
    cases = [("(", '{"max-length":1}', "pattern should be regular expression but is invalid"),
             ("a", '{"max-length":-1}', "-1 is not a valid maximum length"),
             ("a", '{"expires":0}', "0 is not a valid queue expiry"),
             ("a", '{"overflow":"x"}', '<<"x">> is not a valid overflow value'),
             ("a", '{"max-priority":5}', '[{<<"max-priority">>,5}] are not recognised policy settings'),
             ("a", '{"dead-letter-strategy":"x"}', '<<"x">> is not a valid dead letter strategy'),
             ("a", '{"stream-max-segment-size-bytes":-1}', "-1 is not a valid segment size"),
             ("a", '{"max-segment-size":1000}', '[{<<"max-segment-size">>,1000}] are not recognised policy settings'),
             ("a", '{"queue-leader-locator":"zz"}', '<<"zz">> is not a valid queue leader locator value'),
             ("a", '{}', "no policy provided")]
    for pat, d, text in cases:
        rc, out, err = t.ctl("set_policy", "bad", pat, d)
        check(rc == 69 and "Validation failed" in err and text in err, "%s set_policy %s %s: %r (rc %d)" % (t.name, pat, d, text, rc))
    rc, out, err = t.ctl("set_operator_policy", "bad", "a", '{"dead-letter-exchange":"x"}')
    check(rc == 69 and 'are not recognised policy settings' in err, "%s operator policies refuse dead-letter-exchange" % t.name)
    rc, out, err = t.ctl("set_policy", "ok", "a", '{"queue-mode":"lazy","queue-version":2,"ha-mode":"all"}')
    check(rc == 0, "%s queue-mode, queue-version, ha-mode accepted as 3.10 does" % t.name)
    rc, out, err = t.ctl("set_policy", "ok", "a", '{"dead-letter-strategy":"at-least-once",'
                         '"stream-max-segment-size-bytes":0,"queue-leader-locator":"balanced"}')
    check(rc == 0, "%s dead-letter-strategy, stream-max-segment-size-bytes, queue-leader-locator balanced "
          "accepted as 3.10 does (rc %d %s)" % (t.name, rc, err.strip()))
    t.ctl("clear_policy", "ok")
    for d in ('{"dead-letter-strategy":"at-least-once"}', '{"stream-max-segment-size-bytes":1000}'):
        rc, out, err = t.ctl("set_operator_policy", "bad", "a", d)
        check(rc == 69 and 'are not recognised policy settings' in err, "%s operator policies refuse %s" % (t.name, d))
    rc, out, err = t.ctl("clear_policy", "nothere")
    check(rc == 69 and "Parameter does not exist" in err, "%s clear_policy of a missing one: 69 (rc %d)" % (t.name, rc))
    rc, out, err = t.ctl("set_policy", "-p", "novhost", "x", "a", '{"max-length":1}')
    check(rc == 65 and "Virtual host 'novhost' does not exist" in err, "%s set_policy -p missing vhost: 65" % t.name)


def churn(t):
    """Policies flipping under load (Warren only: a robustness check, run under
    ASan/TSan in those builds): publishers with confirms, a consumer rejecting
    every third message, and DLX / max-length / TTL policies set and cleared
    meanwhile. The broker stays up and no message is counted twice."""
    import threading
    c = connect(t)
    ch = c.channel()
    fresh(ch, "cu.q", "cu.dlq")
    ch.queue_declare("cu.dlq", durable=True)
    ch.queue_declare("cu.q", durable=True)
    c.close()
    stop = threading.Event()
    stats = {"pub": 0, "got": 0}

    def producer():
        cp = connect(t)
        cc = cp.channel()
        cc.confirm_delivery()
        while not stop.is_set():
            try:
                cc.basic_publish("", "cu.q", b"x" * 100, pika.BasicProperties(delivery_mode=2))
                stats["pub"] += 1
            except pika.exceptions.NackError:
                pass
        cp.close()

    def consumer():
        cp = connect(t)
        cc = cp.channel()
        n = 0
        while not stop.is_set():
            m, _, _ = cc.basic_get("cu.q")
            if not m:
                cp.sleep(0.005)
                continue
            n += 1
            stats["got"] += 1
            if n % 3:
                cc.basic_ack(m.delivery_tag)
            else:
                cc.basic_reject(m.delivery_tag, requeue=False)
        cp.close()

    th = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for x in th:
        x.start()
    defs = ['{"dead-letter-exchange":"","dead-letter-routing-key":"cu.dlq","max-length":20}',
            '{"message-ttl":5,"dead-letter-exchange":"","dead-letter-routing-key":"cu.dlq"}',
            '{"max-length-bytes":1000,"overflow":"reject-publish"}', '{"expires":600000}']
    for i in range(40):
        if i % 5 == 4:
            ok(t, "clear_policy", "cu")
        else:
            ok(t, "set_policy", "cu", "^cu\\.q$", defs[i % len(defs)])
        if i % 7 == 0:
            ok(t, "set_operator_policy", "cuop", "^cu\\.", '{"max-length":%d}' % (10 + i))
        time.sleep(0.02)
    stop.set()
    for x in th:
        x.join()
    t.ctl("clear_policy", "cu")
    ok(t, "clear_operator_policy", "cuop")
    c = connect(t)
    ch = c.channel()
    left, dl = count(ch, "cu.q"), count(ch, "cu.dlq")
    check(stats["pub"] > 0 and left + stats["got"] <= stats["pub"] and dl <= stats["pub"],
          "%s churn: %d published, %d consumed, %d left, %d dead-lettered, broker up" % (t.name, stats["pub"], stats["got"],
                                                                                     left, dl))
    fresh(ch, "cu.q", "cu.dlq")
    c.close()


def run(t, fresh_target):
    try:
        imported_policy_applies(t)
        bad_input(t)
        priority(t)
        apply_to(t)
        arg_vs_policy(t)
        expires_rule(t)
        existing_queue(t)
        round_trip(t, fresh_target)
        if t.name == "warren":
            churn(t)
        survives(t, False)
        survives(t, True)
    finally:
        t.close()


def main():
    if sys.argv[1] == "--reference":
        run(Reference(int(sys.argv[2]), attach=True), None)
    else:
        binary, ctl = sys.argv[1], sys.argv[2]
        run(Warren(binary, ctl), lambda: Warren(binary, ctl))
    if failures:
        print("%d FAILED" % len(failures))
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()
