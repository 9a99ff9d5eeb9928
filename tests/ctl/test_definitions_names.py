#!/usr/bin/python3
"""Names and keys over AMQP's shortstr limit (255 bytes) in definitions and on the
control socket (issue 9, item 1): a 4000-byte exchange name once overflowed the
exchange's name buffer (heap overflow, abort in Release), a 300-byte one was kept
cut, queue names were cut to 255 and a 300-byte routing key was lost at restart.

Each over-long item is refused with an error naming it, through warrenctl
import_definitions and through load_definitions at boot, and the broker goes on
serving; names and keys of exactly 255 bytes are kept intact across a clean
restart and kill -9.

usage: test_definitions_names.py WARREN WARRENCTL"""
import json
import os
import subprocess
import sys
import tempfile

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "durability"))
from broker import Broker  # noqa: E402

WARREN, CTL = sys.argv[1], sys.argv[2]
failures = []
TMP = tempfile.mkdtemp(prefix="warren-names-")


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def ctl(b, *args, stdin=None):
    p = subprocess.run([CTL, "--data-dir", b.data_dir] + list(args), capture_output=True, text=True, input=stdin,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def rows(b, *args):
    rc, out, err = ctl(b, "--json", *args)
    assert rc == 0, (args, rc, out, err)
    return json.loads(out)


def serving(b):
    """The broker still runs and answers AMQP."""
    if b.proc.poll() is not None:
        return False
    try:
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, connection_attempts=1,
                                                              socket_timeout=5))
        c.channel().queue_declare("", exclusive=True)
        c.close()
        return True
    except Exception as e:
        print("   not serving:", e)
        return False


def doc(exchanges=(), queues=(), bindings=(), vhosts=("/",), users=True):
    d = {"vhosts": [{"name": v} for v in vhosts],
         "exchanges": [{"name": n, "vhost": "/", "type": "direct", "durable": True, "auto_delete": False,
                        "internal": False, "arguments": a} for n, a in exchanges],
         "queues": [{"name": n, "vhost": "/", "durable": True, "auto_delete": False, "arguments": {}} for n in queues],
         "bindings": [{"source": s, "vhost": "/", "destination": d, "destination_type": "queue", "routing_key": k,
                       "arguments": {}} for s, d, k in bindings]}
    if users:  # load_definitions replaces the default user
        d["users"] = [{"name": "guest", "password": "guest", "tags": ["administrator"]}]
        d["permissions"] = [{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]
    return json.dumps(d)


X4000, X300, Q300, K300 = "x" * 4000, "e" * 300, "q" * 300, "k" * 300
X255, Q255, K255 = "X" * 255, "Q" * 255, "K" * 255
# (what, document, words the error must contain)
BAD = [
    ("4000-byte exchange name", doc(exchanges=[(X4000, {})]),
     ["exchange name '" + "x" * 32, "in vhost '/' is longer than 255 bytes"]),
    ("300-byte exchange name", doc(exchanges=[(X300, {})]),
     ["exchange name '" + "e" * 32, "in vhost '/' is longer than 255 bytes"]),
    ("300-byte queue name", doc(queues=[Q300]), ["queue name '" + "q" * 32, "in vhost '/' is longer than 255 bytes"]),
    ("300-byte routing key", doc(queues=["rkq"], bindings=[("amq.direct", "rkq", K300)]),
     ["routing key '" + "k" * 32, "of binding 'amq.direct' -> queue 'rkq' in vhost '/' is longer than 255 bytes"]),
    ("300-byte argument key", doc(exchanges=[("argx", {"a" * 300: 1})]),
     ["argument '" + "a" * 32, "of exchange 'argx' in vhost '/' is longer than 255 bytes"]),
    ("300-byte vhost name", doc(vhosts=["/", "v" * 300]), ["vhost name '" + "v" * 32, "is longer than 255 bytes"]),
]


def absent(b):
    """None of the over-long (or cut) items exists."""
    xs = [x["name"] for x in rows(b, "list_exchanges")]
    qs = [q["name"] for q in rows(b, "list_queues")]
    bs = [x["routing_key"] for x in rows(b, "list_bindings")]
    vs = [v["name"] for v in rows(b, "list_vhosts")]
    bad = [n for n in xs + qs + bs + vs if n[:1] in "xeqkv" and len(n) >= 40] + [x for x in xs if x == "argx"]
    return not bad, bad


def good_doc():
    return doc(exchanges=[(X255, {"A" * 255: "v"})], queues=[Q255], bindings=[(X255, Q255, K255)])


def intact(b):
    xs = rows(b, "list_exchanges")
    qs = [q["name"] for q in rows(b, "list_queues")]
    bs = [(x["source_name"], x["destination_name"], x["routing_key"], x["arguments"]) for x in rows(b, "list_bindings")]
    ok = X255 in [x["name"] for x in xs] and Q255 in qs and (X255, Q255, K255, {}) in bs
    if ok:  # and over AMQP: the 255-byte names are usable
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
        ch = c.channel()
        ch.exchange_declare(X255, "direct", durable=True, passive=True)
        ch.queue_declare(Q255, durable=True, passive=True)
        ch.confirm_delivery()
        ch.basic_publish(X255, K255, b"m", pika.BasicProperties(delivery_mode=2), mandatory=True)
        m, _, body = ch.basic_get(Q255, auto_ack=True)
        ok = body == b"m"
        c.close()
    if not ok:
        print("   exchanges:", [len(x["name"]) for x in xs], "queues:", [len(q) for q in qs],
              "bindings:", [(len(s), len(d), len(k)) for s, d, k, _ in bs])
    return ok


def test_warrenctl_import():
    b = Broker(WARREN)
    try:
        b.start()
        for what, text, words in BAD:
            rc, out, err = ctl(b, "import_definitions", "-", stdin=text)
            check(serving(b), "warrenctl import of a %s: the broker still serves" % what)
            if b.proc.poll() is not None:  # crashed (before the fix): show why, go on with the other cases
                print("   broker exited %d; log tail: %s" % (b.proc.returncode, b.log()[-600:]))
                b.start()
            check(all(w in err for w in words), "warrenctl import of a %s: refused with %r (rc %d, %r)"
                  % (what, words[0], rc, err.strip()[:300]))
            ok, bad = absent(b)
            check(ok, "warrenctl import of a %s: nothing over-long or cut was kept (%s)"
                  % (what, [n[:20] + "...(%d)" % len(n) for n in bad]))
        rc, out, err = ctl(b, "import_definitions", "-", stdin=good_doc())
        check(rc == 0 and not err.strip().startswith("Warning"), "255-byte names and key imported (%d %r)"
              % (rc, err.strip()[:300]))
        check(intact(b), "255-byte names and key usable after the import")
        b.stop()
        b.start()
        check(intact(b), "255-byte names and key intact after a clean restart")
        ok, bad = absent(b)
        check(ok, "nothing over-long came back after a restart (%s)" % [n[:20] for n in bad])
        b.kill9()
        b.start()
        check(intact(b), "255-byte names and key intact after kill -9")
        # a server-named queue in a document: skipped with a warning, as RabbitMQ 3.10's import does
        # ("Skipping import of a queue whose name begins with 'amq.'"), its export writes them
        gen = "amq.gen-ABCDEFGHIJKLMNOPQRSTUV"
        rc, _, err = ctl(b, "import_definitions", "-", stdin=doc(queues=[gen, "plainq"]))
        qs = [q["name"] for q in rows(b, "list_queues")]
        check(rc == 0 and gen in err and "reserved prefix" in err and gen not in qs and "plainq" in qs,
              "an amq.gen- queue in definitions is skipped and reported, the rest imported (%d %r)" % (rc, err.strip()[:200]))
        # the control socket's own names
        rc, _, err = ctl(b, "add_vhost", "v" * 300)
        check(rc != 0 and "vhost name '" + "v" * 32 in err and "longer than 255 bytes" in err,
              "add_vhost with a 300-byte name refused (%d %r)" % (rc, err.strip()[:200]))
        rc, _, err = ctl(b, "add_user", "u" * 300, "pw")
        check(rc != 0 and "user name '" + "u" * 32 in err and "longer than 255 bytes" in err,
              "add_user with a 300-byte name refused (%d %r)" % (rc, err.strip()[:200]))
        rc, _, err = ctl(b, "list_queues", "-p", "v" * 300)
        check(rc != 0 and "longer than 255 bytes" in err, "-p with a 300-byte vhost refused (%d %r)"
              % (rc, err.strip()[:200]))
        check(serving(b), "the broker still serves after the control-socket checks")
        b.stop()
    finally:
        b.cleanup()


def boot_with(text):
    path = os.path.join(TMP, "defs-%d.json" % len(os.listdir(TMP)))
    with open(path, "w") as f:
        f.write(text)
    conf = path + ".conf"
    with open(conf, "w") as f:
        f.write("load_definitions = %s\n" % path)
    b = Broker(WARREN)
    b.binary_args += ["--config", conf]
    b.start()
    return b


def test_load_definitions_at_boot():
    for what, text, words in BAD:
        b = None
        try:
            b = boot_with(text)
            check(serving(b), "load_definitions with a %s: the broker serves" % what)
            log = b.log()
            check(all(w in log for w in words), "load_definitions with a %s: the log names it (%r)" % (what, words[0]))
            ok, bad = absent(b)
            check(ok, "load_definitions with a %s: nothing over-long or cut was kept (%s)"
                  % (what, [n[:20] + "...(%d)" % len(n) for n in bad]))
            b.stop()
        except Exception as e:
            check(False, "load_definitions with a %s: %s" % (what, e))
        finally:
            if b:
                b.cleanup()
    b = boot_with(good_doc())
    try:
        check(intact(b), "load_definitions: 255-byte names and key imported")
        b.stop()
        b.start()
        check(intact(b), "load_definitions: 255-byte names and key intact after a restart")
        b.stop()
    finally:
        b.cleanup()


test_warrenctl_import()
test_load_definitions_at_boot()
print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
