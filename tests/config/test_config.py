"""Configuration: every supported rabbitmq.conf key through --print-config,
unknown keys warned with key and line, bad values refused, precedence
(flags > file > environment), and the limits enforced on a running broker
(connection_max, max_message_size, handshake_timeout, disk_free_limit) with
pika; product.name / product.version as a client, the log and warrenctl see them.

usage: test_config.py WARREN [WARRENCTL]
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "durability"))
from broker import Broker  # noqa: E402

WARREN = sys.argv[1]
WARRENCTL = sys.argv[2] if len(sys.argv) > 2 else None
failures = []
TMP = tempfile.mkdtemp(prefix="warren-config-")
RAM = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def conf(text, name="warren.conf"):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_DEFAULT_", "RABBITMQ_PRODUCT_"))}
    e.update(env or {})
    p = subprocess.run([WARREN] + args, capture_output=True, text=True, env=e, timeout=20)
    return p.returncode, p.stdout, p.stderr


def effective(out):
    d = {}
    for line in out.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        d[k.strip()] = v.strip()
    return d


def every_key():
    path = conf("""
# every key Warren supports, with non-default values
listeners.tcp.default = 127.0.0.1:5999
listeners.ssl.default = 5998
ssl_options.cacertfile = /etc/warren/ca.pem
ssl_options.certfile   = /etc/warren/cert.pem   # trailing comment
ssl_options.keyfile    = /etc/warren/key.pem
ssl_options.verify     = verify_peer
ssl_options.fail_if_no_peer_cert = true
ssl_options.depth = 3
ssl_options.versions.1 = tlsv1.3
ssl_cert_login_from = common_name
ssl_handshake_timeout = 7000
default_user = admin
default_pass = hunter2
default_vhost = prod
product.name = Acme MQ
product.version = 9.9.9-acme
loopback_users.guest = false
loopback_users.local = true
heartbeat = 30
frame_max = 65536
channel_max = 100
max_message_size = 1048576
handshake_timeout = 5000
connection_max = 500
vm_memory_high_watermark.absolute = 2GB
disk_free_limit.absolute = 1GiB
log.level = warning
load_definitions = /etc/warren/definitions.json
""")
    rc, out, err = run(["--config", path, "--print-config"])
    check(rc == 0 and err == "", "--print-config with every key: exit 0, no warning (%d %r)" % (rc, err))
    d = effective(out)
    want = {
        "listeners.tcp.default": "127.0.0.1:5999", "listeners.ssl.default": "5998",
        "ssl_options.cacertfile": "/etc/warren/ca.pem", "ssl_options.certfile": "/etc/warren/cert.pem",
        "ssl_options.keyfile": "/etc/warren/key.pem", "ssl_options.verify": "verify_peer",
        "ssl_options.fail_if_no_peer_cert": "true", "ssl_options.depth": "3", "ssl_options.versions.1": "tlsv1.3",
        "ssl_cert_login_from": "common_name", "ssl_handshake_timeout": "7000", "default_user": "admin",
        "default_pass": "********", "default_vhost": "prod", "product.name": "Acme MQ", "product.version": "9.9.9-acme", "loopback_users.local": "true", "heartbeat": "30",
        "frame_max": "65536", "channel_max": "100", "max_message_size": "1048576", "handshake_timeout": "5000",
        "connection_max": "500", "vm_memory_high_watermark.absolute": "2000000000",
        "disk_free_limit.absolute": "1073741824", "log.level": "warning",
        "load_definitions": "/etc/warren/definitions.json"}
    for k, v in want.items():
        check(d.get(k) == v, "%s = %s (got %r)" % (k, v, d.get(k)))
    check("loopback_users.guest" not in d and "ssl_options.versions.2" not in d, "removed items are gone")
    check("hunter2" not in out, "the password never printed")

    # The output is itself a valid config file giving the same configuration.
    again = conf(out, "again.conf")
    rc, out2, err2 = run(["--config", again, "--print-config"])
    diff = [(a, b) for a, b in zip(out.splitlines(), out2.splitlines()) if a != b]
    check(rc == 0 and out2 == out and err2 == "", "--print-config output round-trips (%r %r)" % (err2, diff))

    # Relative forms and the plain watermark.
    path = conf("vm_memory_high_watermark = 0.5\ndisk_free_limit.relative = 1.5\n")
    rc, out, _ = run(["--config", path, "--print-config"])
    d = effective(out)
    check(rc == 0 and abs(int(d["vm_memory_high_watermark.absolute"]) - RAM * 0.5) < 4096, "vm_memory_high_watermark = 0.5")
    check(abs(int(d["disk_free_limit.absolute"]) - RAM * 1.5) < 4096, "disk_free_limit.relative = 1.5 (x RAM)")
    path = conf("vm_memory_high_watermark.relative = 0.2\nloopback_users = none\ndisk_free_limit.absolute = 50MB\n")
    rc, out, _ = run(["--config", path, "--print-config"])
    d = effective(out)
    check(abs(int(d["vm_memory_high_watermark.absolute"]) - RAM * 0.2) < 4096 and d["loopback_users"] == "none"
          and d["disk_free_limit.absolute"] == "50000000", "relative watermark, loopback_users = none, 50MB")
    rc, out, _ = run(["--print-config"])
    d = effective(out)
    check(d["connection_max"] == "infinity" and d["disk_free_limit.absolute"] == "50000000" and
          d["frame_max"] == "131072" and d["channel_max"] == "2047" and d["handshake_timeout"] == "10000",
          "defaults as RabbitMQ's")


def unknown_and_bad():
    path = conf("heartbeat = 10\n\nno_such_key = 1\nmqtt.listeners.tcp.default = 1883\n")
    rc, out, err = run(["--config", path, "--print-config"])
    check(rc == 0 and "unknown config key 'no_such_key'" in err and "line 3" in err and
          "'mqtt.listeners.tcp.default'" in err and "line 4" in err, "unknown keys warned with key and line (%r)" % err)
    bad = {
        "heartbeat = -1": "heartbeat", "heartbeat = ten": "heartbeat", "frame_max = 100": "frame_max",
        "channel_max = 70000": "channel_max", "max_message_size = 0": "max_message_size",
        "max_message_size = 1GB": "max_message_size", "handshake_timeout = x": "handshake_timeout",
        "connection_max = -5": "connection_max", "connection_max = lots": "connection_max",
        "vm_memory_high_watermark = 1.5": "vm_memory_high_watermark",
        "vm_memory_high_watermark.absolute = 12XB": "vm_memory_high_watermark.absolute",
        "disk_free_limit.absolute = much": "disk_free_limit.absolute",
        "disk_free_limit.relative = -1": "disk_free_limit.relative", "log.level = loud": "log.level",
        "listeners.tcp.default = 70000": "listeners.tcp.default", "ssl_options.verify = maybe": "ssl_options.verify",
        "ssl_options.fail_if_no_peer_cert = yes": "ssl_options.fail_if_no_peer_cert",
        "ssl_options.versions.1 = sslv3": "ssl_options.versions.1", "loopback_users = all": "loopback_users",
        "load_definitions =": "load_definitions", "just a line": "expected 'key = value'",
        "product.name =": "product.name", "product.version =": "product.version",
        "product.name = " + "x" * 256: "product.name",
        # found by tests/fuzz/fuzz_config: an address with blanks inside its brackets, one too long to
        # hold (was cut), and a line longer than the reader's buffer (its tail was read as another line)
        "listeners.ssl.default = [ ::1]:5671": "listeners.ssl.default",
        "listeners.tcp.default = " + "a" * 200 + ":5672": "listeners.tcp.default",
        "default_user = " + "x" * 3000 + " heartbeat = 5": "line too long",
        "loopback_users.a,b = true": "loopback_users.a,b",  # the list is comma-separated: a,b read as two users
    }
    for line, key in bad.items():
        path = conf("# a comment\n" + line + "\n")
        rc, out, err = run(["--config", path, "--print-config"])
        check(rc != 0 and key in err and "line 2" in err and out == "",
              "bad value refused: %r -> exit %d, %s" % (line, rc, err.strip()))
    rc, _, err = run(["--config", os.path.join(TMP, "missing.conf")])
    check(rc != 0 and "cannot read config file" in err, "missing config file refused")
    rc, _, err = run(["--port", "99999"])
    check(rc != 0 and "--port" in err, "bad flag value refused")


def precedence():
    env = {"RABBITMQ_DEFAULT_USER": "envuser", "RABBITMQ_DEFAULT_PASS": "envpass", "RABBITMQ_DEFAULT_VHOST": "envvh"}
    rc, out, _ = run(["--print-config"], env)
    d = effective(out)
    check(d["default_user"] == "envuser" and d["default_vhost"] == "envvh" and d["default_pass"] == "********",
          "environment over defaults")
    path = conf("default_user = fileuser\nlisteners.tcp.default = 6001\n")
    rc, out, _ = run(["--config", path, "--print-config"], env)
    d = effective(out)
    check(d["default_user"] == "fileuser" and d["default_vhost"] == "envvh", "file over environment, key by key")
    rc, out, _ = run(["--config", path, "--port", "6002", "--print-config"], env)
    check(effective(out)["listeners.tcp.default"] == "6002", "flags over the file")
    rc, out, _ = run(["--port", "6002", "--config", path, "--print-config"], env)
    check(effective(out)["listeners.tcp.default"] == "6002", "flags over the file, whatever their order")

    # And on a live broker: the environment's user and password log in on its vhost.
    dd = os.path.join(TMP, "prec")
    os.makedirs(dd)
    os.makedirs(os.path.join(dd, "data"))
    b = Broker(WARREN, data_dir=os.path.join(dd, "data"), env={"RABBITMQ_DEFAULT_USER": "envuser",
                                                               "RABBITMQ_DEFAULT_PASS": "envpass",
                                                               "RABBITMQ_DEFAULT_VHOST": "envvh"})
    b.start()
    try:
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, "envvh",
                                                              pika.PlainCredentials("envuser", "envpass")))
        c.close()
        check(True, "RABBITMQ_DEFAULT_USER/PASS/VHOST log in")
    except Exception as e:  # noqa: BLE001
        check(False, "RABBITMQ_DEFAULT_USER/PASS/VHOST log in: %r" % e)
    finally:
        b.stop()


def warren_version():
    rc, out, _ = run(["--print-config"])
    m = re.match(r"# Warren (\S+) effective configuration", out)
    return m.group(1) if m else None


def product():
    version = warren_version()
    check(version is not None, "--print-config names Warren's version (%r)" % version)
    # Defaults, and the environment under the file, key by key (Warren's precedence).
    d = effective(run(["--print-config"])[1])
    check(d["product.name"] == "Warren" and d["product.version"] == version, "product.name/version default: Warren %s"
          % version)
    env = {"RABBITMQ_PRODUCT_NAME": "EnvMQ", "RABBITMQ_PRODUCT_VERSION": "1.2.3"}
    d = effective(run(["--print-config"], env)[1])
    check(d["product.name"] == "EnvMQ" and d["product.version"] == "1.2.3", "RABBITMQ_PRODUCT_NAME/VERSION over defaults")
    d = effective(run(["--print-config", "--config", conf("product.name = FileMQ\n")], env)[1])
    check(d["product.name"] == "FileMQ" and d["product.version"] == "1.2.3", "product.name in the file over the environment")
    d = effective(run(["--print-config"], {"RABBITMQ_PRODUCT_NAME": ""})[1])
    check(d["product.name"] == "Warren", "an empty RABBITMQ_PRODUCT_NAME counts as unset (as RabbitMQ)")
    rc, out, err = run(["--print-config"], {"RABBITMQ_PRODUCT_VERSION": "x" * 300})
    check(rc == 2 and "RABBITMQ_PRODUCT_VERSION" in err and out == "", "a bad RABBITMQ_PRODUCT_VERSION: exit 2 naming it (%r)"
          % err[:120])

    def server_properties(b):
        c = pika.BlockingConnection(params(b))
        sp = dict(c._impl.server_properties)
        c.close()
        return sp

    def ctl(b, *args):
        p = subprocess.run([WARRENCTL, "--data-dir", b.data_dir, "--json"] + list(args), capture_output=True, text=True,
                           timeout=20)
        return json.loads(p.stdout) if p.returncode == 0 else {"rc": p.returncode, "err": p.stderr}

    # A client sees Warren by default ...
    b = start("", "product-default")
    try:
        sp = server_properties(b)
        check(sp.get("product") == "Warren" and sp.get("version") == version,
              "connection.start: product Warren, version %s by default (%r %r)" % (version, sp.get("product"),
                                                                                  sp.get("version")))
    finally:
        b.stop()
    check("Warren %s listening on" % version in b.log() and "based on Warren" not in b.log(), "default start-up log line")

    # ... and what the config file says otherwise; the rest of server-properties stays.
    b = start("product.name = RabbitMQ\nproduct.version = 3.10.8\n", "product-file")
    try:
        sp = server_properties(b)
        check(sp.get("product") == "RabbitMQ" and sp.get("version") == "3.10.8",
              "connection.start with product.name/version from the file (%r %r)" % (sp.get("product"), sp.get("version")))
        check(sp.get("capabilities", {}).get("publisher_confirms") is True and "cluster_name" in sp,
              "the other server-properties are unchanged")
        if WARRENCTL:
            st = ctl(b, "status")
            check(st.get("product") == "RabbitMQ" and st.get("version") == "3.10.8" and st.get("warren_version") == version,
                  "warrenctl status: product, version and warren_version (%r)" % {k: st.get(k) for k in
                                                                                 ("product", "version", "warren_version")})
            ex = ctl(b, "export_definitions", "-")
            check(ex.get("product_name") == "RabbitMQ" and ex.get("product_version") == "3.10.8" and
                  ex.get("rabbitmq_version") == "3.10.8", "export_definitions: product_name/product_version")
    finally:
        b.stop()
    log = b.log()
    check("RabbitMQ 3.10.8 listening on" in log and ("based on Warren %s" % version) in log,
          "start-up log: the product as configured, then 'based on Warren %s' (as RabbitMQ's banner)" % version)

    # The environment on a live broker, and a bad value in the file stops the start.
    dd = os.path.join(TMP, "product-env")
    os.makedirs(os.path.join(dd, "data"))
    b = Broker(WARREN, data_dir=os.path.join(dd, "data"), env={"RABBITMQ_PRODUCT_NAME": "EnvMQ"})
    b.start()
    try:
        sp = server_properties(b)
        check(sp.get("product") == "EnvMQ" and sp.get("version") == version,
              "RABBITMQ_PRODUCT_NAME reaches connection.start (%r)" % sp.get("product"))
    finally:
        b.stop()
    rc, out, err = run(["--config", conf("product.name = RabbitMQ\nproduct.version =\n"), "--port", "0",
                        "--data-dir", os.path.join(TMP, "product-bad")])
    check(rc == 2 and "product.version" in err and "line 2" in err, "product.version = (empty): exit 2, key and line (%r)"
          % err.strip())


def start(extra_conf, name):
    dd = os.path.join(TMP, name)
    os.makedirs(os.path.join(dd, "data"), exist_ok=True)
    b = Broker(WARREN, data_dir=os.path.join(dd, "data"))
    b.binary_args = ["--config", conf(extra_conf, name + ".conf")]
    b.start()
    return b


def params(b, **kw):
    return pika.ConnectionParameters("127.0.0.1", b.port, connection_attempts=1, **kw)


def limits():
    b = start("connection_max = 2\nmax_message_size = 1000\nhandshake_timeout = 500\n", "limits")
    try:
        c1 = pika.BlockingConnection(params(b))
        c2 = pika.BlockingConnection(params(b))
        t0 = time.time()
        try:
            pika.BlockingConnection(params(b, socket_timeout=1, stack_timeout=1.5)).close()
            check(False, "connection_max = 2: a third connection waits")
        except Exception:  # noqa: BLE001 (pika's stack timeout is no AMQPError)
            check(time.time() - t0 >= 1, "connection_max = 2: a third connection gets no connection.start")
        # A third client waiting in the backlog gets in as soon as one closes.
        got = {}

        def third():
            try:
                c = pika.BlockingConnection(params(b, socket_timeout=5, stack_timeout=6))
                got["ok"] = True
                c.close()
            except Exception as e:  # noqa: BLE001
                got["err"] = repr(e)

        th = threading.Thread(target=third)
        th.start()
        time.sleep(0.5)
        c2.close()
        th.join(10)
        check(got.get("ok"), "connection_max: a waiting client is accepted when one closes (%r)" % got)

        ch = c1.channel()
        ch.queue_declare("big")
        ch.basic_publish("", "big", b"x" * 1000)
        try:
            ch.basic_publish("", "big", b"x" * 1001)
            ch.queue_declare("big", passive=True)
            check(False, "max_message_size = 1000 refuses 1001 bytes")
        except pika.exceptions.ChannelClosedByBroker as e:
            check(e.reply_code == 406 and e.reply_text ==
                  "PRECONDITION_FAILED - message size 1001 is larger than configured max size 1000",
                  "max_message_size: 406 with RabbitMQ's text (%s)" % e.reply_text)
        c1.close()

        s = socket.create_connection(("127.0.0.1", b.port))
        s.settimeout(5)
        t0 = time.time()
        data = s.recv(100)  # we send nothing: the broker drops us after handshake_timeout
        dt = time.time() - t0
        check(data == b"" and dt < 2.5, "handshake_timeout = 500: a silent client is dropped (%.1fs)" % dt)
        s.close()
    finally:
        b.stop()
    log = b.log()
    check("connection_max (2) reached" in log, "connection_max refusal logged")
    check("message size 1001 is larger" in log, "max_message_size refusal logged")
    check("handshake timeout" in log, "handshake timeout logged")


def disk():
    # A limit no disk meets: publishers are blocked from the first publish.
    b = start("disk_free_limit.absolute = 1000000TB\n", "diskhuge")
    try:
        blocked = []
        c = pika.BlockingConnection(params(b))
        c.add_on_connection_blocked_callback(lambda conn, m: blocked.append(m.method.reason))
        ch = c.channel()
        ch.queue_declare("d")
        t0 = time.time()
        while not blocked and time.time() - t0 < 5:  # blocked as it next reads from a publisher
            ch.basic_publish("", "d", b"x")
            c.process_data_events(0.1)
        check(blocked == ["low on disk"], "disk_free_limit over the free space: connection.blocked 'low on disk' (%r)"
              % blocked)
        c2 = pika.BlockingConnection(params(b))  # a connection that does not publish is not blocked
        ch2 = c2.channel()
        ch2.queue_declare("d2")
        ok = ch2.queue_declare("d", passive=True)
        check(ok.method.queue == "d" and ch2.basic_get("d2")[0] is None,
              "non-publishing connections keep working under the disk alarm")
        c2.close()
    finally:
        b.stop()
    check("disk alarm: free disk space" in b.log(), "disk alarm logged")

    # The alarm follows the free space, checked once a second: a small tmpfs.
    mnt = os.path.join(TMP, "tmpfs")
    os.makedirs(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", mnt], capture_output=True).returncode:
        print("SKIP: cannot mount a tmpfs (needs root): the clear-alarm half is not tested")
        return "skip"
    try:
        os.makedirs(os.path.join(mnt, "data"))
        b = Broker(WARREN, data_dir=os.path.join(mnt, "data"))
        b.log_path = os.path.join(TMP, "tmpfs.log")
        b.binary_args = ["--config", conf("disk_free_limit.absolute = 40MiB\n", "tmpfs.conf")]
        b.start()
        try:
            events = []
            c = pika.BlockingConnection(params(b))
            c.add_on_connection_blocked_callback(lambda conn, m: events.append("blocked:" + m.method.reason))
            c.add_on_connection_unblocked_callback(lambda conn, m: events.append("unblocked"))
            ch = c.channel()
            ch.queue_declare("t")
            ch.basic_publish("", "t", b"before")
            filler = os.path.join(mnt, "filler")
            subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=1M", "count=60"], capture_output=True, check=True)
            t0 = time.time()
            while not events and time.time() - t0 < 5:
                ch.basic_publish("", "t", b"during")
                c.process_data_events(0.2)
            check(events[:1] == ["blocked:low on disk"], "filling the disk raises the alarm within ~1 s (%r)" % events)
            os.unlink(filler)
            t0 = time.time()
            while "unblocked" not in events and time.time() - t0 < 5:
                c.process_data_events(0.2)
            check("unblocked" in events, "freeing the disk clears the alarm: connection.unblocked (%.1fs)" % (time.time() - t0))
            ch.basic_publish("", "t", b"after")
            c.close()
        finally:
            b.stop()
    finally:
        subprocess.run(["umount", mnt])


def main():
    every_key()
    unknown_and_bad()
    precedence()
    product()
    limits()
    skipped = disk()
    shutil.rmtree(TMP, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    if skipped:
        sys.exit(77)
    print("all config checks passed")


if __name__ == "__main__":
    main()
