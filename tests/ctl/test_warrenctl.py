"""warrenctl end to end: every command against a running broker, with pika
clients where the effect is visible on the wire, exit codes, --json, -p, and
the control socket refusing another uid.

usage: test_warrenctl.py WARREN WARRENCTL
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "durability"))
from broker import Broker  # noqa: E402

WARREN, CTL = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    else:
        print("ok:", what)


def ctl(b, *args, json_out=False, quiet=False, stdin=None, as_user=None):
    cmd = [CTL, "--data-dir", b.data_dir]
    if json_out:
        cmd.append("--json")
    if quiet:
        cmd.append("-q")
    cmd += list(args)
    if as_user:
        cmd = ["setpriv", "--reuid=%d" % as_user, "--regid=%d" % as_user, "--clear-groups"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=20)
    return p.returncode, p.stdout, p.stderr


def rows(b, *args):
    rc, out, err = ctl(b, *args, json_out=True)
    assert rc == 0, (args, rc, out, err)
    return json.loads(out)


def connect(b, user="guest", pw="guest", vhost="/"):
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", b.port, vhost, pika.PlainCredentials(user, pw), connection_attempts=1, socket_timeout=5))


def login_fails(b, user, pw, vhost="/"):
    try:
        connect(b, user, pw, vhost).close()
        return False
    except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.ProbableAccessDeniedError,
            pika.exceptions.ConnectionClosedByBroker, pika.exceptions.AMQPConnectionError):
        return True


def main():
    tmp = tempfile.mkdtemp(prefix="warrenctl-")
    os.makedirs(os.path.join(tmp, "data"))
    b = Broker(WARREN, data_dir=os.path.join(tmp, "data"))
    b.start()
    try:
        run(b, tmp)
    finally:
        b.stop()
    log = b.log()
    check("control socket: refused a client with uid 65534" in log, "the refusal of another uid is logged")
    check(not os.path.exists(os.path.join(b.data_dir, "warren.sock")), "the socket is removed at shutdown")
    rc, _, err = ctl(b, "status")
    check(rc == 69 and "unable to reach the broker" in err, "broker not running: exit 69 (%d)" % rc)
    shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("all warrenctl checks passed")


def run(b, tmp):
    sock = os.path.join(b.data_dir, "warren.sock")
    for _ in range(100):  # the AMQP port opens a moment before the control socket
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    st = os.stat(sock)
    check(oct(st.st_mode & 0o777) == "0o600", "socket mode 0600 (%s)" % oct(st.st_mode & 0o777))

    # usage errors: 64, before any connection
    rc, _, err = ctl(b, "no_such_command")
    check(rc == 64 and "unknown command" in err, "unknown command: exit 64")
    rc, _, err = ctl(b, "add_user", "onlyname")
    check(rc == 64 and "wrong number of arguments" in err, "missing argument: exit 64")
    rc, _, _ = ctl(b, "--bogus-flag", "status")
    check(rc == 64, "unknown option: exit 64")

    # status
    st = rows(b, "status")
    check(st["product"] == "Warren" and st["pid"] == b.proc.pid and st["users"] == 1, "status --json")
    rc, out, _ = ctl(b, "status")
    check(rc == 0 and "Status of Warren" in out and "data_directory: " in out, "status in text")

    # users
    rc, out, _ = ctl(b, "add_user", "alice", "s3cret")
    check(rc == 0 and 'Adding user "alice" ...' in out, "add_user")
    rc, _, err = ctl(b, "add_user", "alice", "x")
    check(rc == 70 and "already exists" in err, "add_user twice: exit 70 with the reason")
    rc, out, _ = ctl(b, "set_user_tags", "alice", "monitoring", "management")
    check(rc == 0, "set_user_tags")
    users = {u["user"]: u["tags"] for u in rows(b, "list_users")}
    check(users == {"guest": ["administrator"], "alice": ["monitoring", "management"]}, "list_users --json %r" % users)
    rc, out, _ = ctl(b, "list_users")
    check("user\ttags" in out and "alice\t[monitoring, management]" in out, "list_users columns")
    rc, out, _ = ctl(b, "list_users", quiet=True)
    check(not out.startswith("Listing") and "user\ttags" not in out and "guest\t[administrator]" in out, "-q: data only")
    check(login_fails(b, "alice", "s3cret"), "alice has no permissions on / yet: refused")

    # vhosts and permissions
    rc, out, _ = ctl(b, "add_vhost", "v1")
    check(rc == 0 and 'Adding vhost "v1"' in out, "add_vhost")
    check(sorted(v["name"] for v in rows(b, "list_vhosts")) == ["/", "v1"], "list_vhosts")
    rc, out, _ = ctl(b, "set_permissions", "-p", "v1", "alice", "^a-", "^(a-|amq\\.default)", "^a-")
    check(rc == 0, "set_permissions -p v1")
    rc, _, err = ctl(b, "set_permissions", "-p", "nope", "alice", ".*", ".*", ".*")
    check(rc == 65 and "Virtual host 'nope' does not exist" in err, "set_permissions on a missing vhost: exit 65 as rabbitmqctl")
    rc, _, err = ctl(b, "set_permissions", "nobody-here", ".*", ".*", ".*")
    check(rc == 67 and 'User "nobody-here" does not exist' in err, "set_permissions for a missing user: exit 67 as rabbitmqctl")
    perms = rows(b, "list_permissions", "-p", "v1")
    check(perms == [{"user": "alice", "configure": "^a-", "write": "^(a-|amq\\.default)", "read": "^a-"}], "list_permissions %r" % perms)
    c = connect(b, "alice", "s3cret", "v1")
    ch = c.channel()
    ch.queue_declare("a-q1", durable=True)
    ch.exchange_declare("a-x", "topic")
    ch.queue_bind("a-q1", "a-x", "k.#")
    for i in range(3):
        ch.basic_publish("", "a-q1", b"m%d" % i)
    try:
        ch.queue_declare("b-q")
        check(False, "permissions from warrenctl are enforced")
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 403, "permissions from warrenctl are enforced (403)")
    ch = c.channel()
    ch.basic_consume("a-q1", lambda *a: None)  # one consumer, prefetch unlimited: messages go out
    time.sleep(0.3)
    qs = {q["name"]: q for q in rows(b, "list_queues", "-p", "v1")}
    check("a-q1" in qs and qs["a-q1"]["consumers"] == 1, "list_queues: name, consumers %r" % qs)
    ch2 = c.channel()
    ch2.queue_declare("a-q2")
    ch2.basic_publish("", "a-q2", b"x")
    ch2.basic_publish("", "a-q2", b"y")
    for _ in range(60):  # publishes are asynchronous: wait until both are in
        qs = {q["name"]: q for q in rows(b, "list_queues", "-p", "v1")}
        if qs["a-q2"]["messages"] == 2:
            break
        time.sleep(0.05)
    check(qs["a-q2"]["messages"] == 2 and qs["a-q2"]["consumers"] == 0, "list_queues: messages")
    rc, out, _ = ctl(b, "list_queues", "-p", "v1")
    check("name\tmessages\tconsumers" in out and "a-q2\t2\t0" in out, "list_queues columns")
    ex = {e["name"]: e["type"] for e in rows(b, "list_exchanges", "-p", "v1")}
    check(ex.get("a-x") == "topic" and ex.get("amq.fanout") == "fanout" and ex.get("") == "direct", "list_exchanges")
    bs = rows(b, "list_bindings", "-p", "v1")
    check({"source_name": "a-x", "source_kind": "exchange", "destination_name": "a-q1", "destination_kind": "queue",
           "routing_key": "k.#", "arguments": {}} in bs, "list_bindings: the explicit binding")
    check(any(x["source_name"] == "" and x["destination_name"] == "a-q2" and x["routing_key"] == "a-q2" for x in bs),
          "list_bindings: the default exchange's implicit binding")
    rc, _, err = ctl(b, "list_queues", "-p", "nope")
    check(rc == 65 and "does not exist" in err, "list_queues on a missing vhost: exit 65")

    # connections
    conns = rows(b, "list_connections")
    mine = [x for x in conns if x["user"] == "alice"]
    check(len(mine) == 1 and mine[0]["vhost"] == "v1" and mine[0]["state"] == "running" and
          mine[0]["peer_host"] == "127.0.0.1" and mine[0]["channels"] == 2, "list_connections %r" % conns)
    rc, out, _ = ctl(b, "list_connections")
    check("pid\tuser\tvhost\tpeer_host\tpeer_port\tstate" in out, "list_connections columns")
    rc, _, _ = ctl(b, "close_connection", str(mine[0]["pid"]), "maintenance window")
    check(rc == 0, "close_connection")
    try:
        for _ in range(30):
            c.process_data_events(0.1)
        check(False, "the closed connection sees connection.close")
    except pika.exceptions.ConnectionClosedByBroker as e:
        check(e.reply_code == 320 and e.reply_text == "CONNECTION_FORCED - maintenance window",
              "close_connection: 320 CONNECTION_FORCED - <explanation> (%s %s)" % (e.reply_code, e.reply_text))
    rc, _, err = ctl(b, "close_connection", "999999", "x")
    check(rc == 70 and "no open connection" in err, "close_connection of an unknown pid: exit 70")

    # passwords and user deletion
    rc, _, _ = ctl(b, "change_password", "alice", "n3w")
    check(rc == 0, "change_password")
    check(login_fails(b, "alice", "s3cret", "v1"), "old password refused after change_password")
    connect(b, "alice", "n3w", "v1").close()
    check(True, "new password works")
    rc, _, _ = ctl(b, "clear_permissions", "-p", "v1", "alice")
    check(rc == 0 and rows(b, "list_permissions", "-p", "v1") == [], "clear_permissions")
    check(login_fails(b, "alice", "n3w", "v1"), "no vhost access after clear_permissions")

    # definitions
    defs_path = os.path.join(tmp, "defs.json")
    rc, out, _ = ctl(b, "export_definitions", defs_path)
    with open(defs_path) as f:
        d = json.load(f)
    check(rc == 0 and {"alice", "guest"} <= {u["name"] for u in d["users"]} and
          any(q["name"] == "a-q1" for q in d["queues"]), "export_definitions to a file")
    rc, out, _ = ctl(b, "export_definitions", "-")
    check(rc == 0 and json.loads(out)["product_name"] == "Warren", "export_definitions -")
    new = {"users": [{"name": "carol", "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256",
                      "tags": ["management"]}],
           "vhosts": [{"name": "v2"}],
           "permissions": [{"user": "carol", "vhost": "v2", "configure": ".*", "write": ".*", "read": ".*"}],
           "queues": [{"name": "imported", "vhost": "v2", "durable": True, "auto_delete": False, "arguments": {}}],
           "policies": [{"vhost": "v2", "name": "p", "pattern": ".*", "definition": {}}]}
    # carol gets a real password through the same hash scheme: re-export alice's hash under carol
    alice = [u for u in d["users"] if u["name"] == "alice"][0]
    new["users"][0]["password_hash"] = alice["password_hash"]
    rc, out, err = ctl(b, "import_definitions", "-", stdin=json.dumps(new))
    check(rc == 0 and "policy 'p'" in err, "import_definitions from stdin, unsupported items reported (%r)" % err)
    connect(b, "carol", "n3w", "v2").close()
    check("imported" in [q["name"] for q in rows(b, "list_queues", "-p", "v2")], "imported queue listed")
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write("{not json")
    rc, _, err = ctl(b, "import_definitions", bad)
    check(rc == 70, "import_definitions of a broken file: exit 70 (%d %s)" % (rc, err.strip()))
    rc, _, _ = ctl(b, "import_definitions", os.path.join(tmp, "missing.json"))
    check(rc != 0, "import_definitions of a missing file fails")

    # deletions
    rc, _, _ = ctl(b, "delete_vhost", "v2")
    check(rc == 0 and "v2" not in [v["name"] for v in rows(b, "list_vhosts")], "delete_vhost")
    rc, _, err = ctl(b, "delete_vhost", "v2")
    check(rc == 65 and "Virtual host 'v2' does not exist" in err, "delete_vhost twice: exit 65 as rabbitmqctl")
    rc, _, _ = ctl(b, "delete_user", "carol")
    check(rc == 0 and "carol" not in [u["user"] for u in rows(b, "list_users")], "delete_user")
    rc, _, err = ctl(b, "delete_user", "carol")
    check(rc == 67 and 'User "carol" does not exist' in err, "delete_user twice: exit 67 as rabbitmqctl")
    for cmd in (["change_password", "carol", "x"], ["set_user_tags", "carol", "a"], ["clear_permissions", "carol"]):
        rc, _, err = ctl(b, *cmd)
        check(rc == 67, "%s of a missing user: exit 67" % cmd[0])
    rc, out, _ = ctl(b, "delete_user", "carol", json_out=True)
    check(rc == 67 and json.loads(out)["ok"] is False, "--json error output")

    # another uid: first the file mode keeps it out, then the SO_PEERCRED check does
    if os.geteuid() == 0 and shutil.which("setpriv"):
        rc, _, err = ctl(b, "list_users", as_user=65534)
        check(rc in (69, 77), "uid nobody cannot reach a 0600 socket in a 0750 dir (exit %d)" % rc)
        os.chmod(tmp, 0o755)
        os.chmod(b.data_dir, 0o755)
        os.chmod(sock, 0o666)
        rc, out, err = ctl(b, "list_users", as_user=65534)
        check(rc == 77 and "access refused" in err, "uid nobody refused by SO_PEERCRED: exit 77 (%d %s)" % (rc, err))
        os.chmod(sock, 0o600)
        os.chmod(b.data_dir, 0o750)
    else:
        failures.append("cannot test another uid (needs root and setpriv)")

    # AMQP keeps flowing while a control client hangs mid-request
    import socket as s
    hang = s.socket(s.AF_UNIX)
    hang.connect(sock)
    hang.send(b'{"command": "status"')  # no newline: the control thread waits on it
    t0 = time.time()
    c = connect(b)
    ch = c.channel()
    ch.queue_declare("flow")
    ch.basic_publish("", "flow", b"x")
    c.close()
    check(time.time() - t0 < 2, "AMQP unaffected by a stuck control client")
    hang.close()
    rc, _, _ = ctl(b, "status")
    check(rc == 0, "control socket serves again after the stuck client left")
    # A stuck control client does not hold up a shutdown either (stop() wants exit 0 within 5 s).
    stuck = s.socket(s.AF_UNIX)
    stuck.connect(sock)
    stuck.send(b'{"command"')
    b.stuck = stuck


if __name__ == "__main__":
    main()
