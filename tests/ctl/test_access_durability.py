"""Users, vhosts and permissions changed with warrenctl survive a restart
(graceful, then kill -9 right after warrenctl returned): a user created logs
in afterwards with its password, tags and permissions; a deleted user, a
changed password, cleared permissions and a deleted vhost stay that way.

usage: test_access_durability.py WARREN WARRENCTL
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
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def ctl(b, *args):
    sock = os.path.join(b.data_dir, "warren.sock")
    for _ in range(100):  # the AMQP port opens a moment before the control socket
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    p = subprocess.run([CTL, "--data-dir", b.data_dir, "--json"] + list(args), capture_output=True, text=True,
                       timeout=20)
    if p.returncode:
        raise RuntimeError("warrenctl %s: %d %s" % (args, p.returncode, p.stderr))
    return json.loads(p.stdout)


def logs_in(b, user, pw, vhost):
    try:
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, vhost,
                                                              pika.PlainCredentials(user, pw), connection_attempts=1))
        c.channel().queue_declare("k-probe", auto_delete=True)  # allowed by every grant used here
        c.close()
        return True
    except pika.exceptions.AMQPError:
        return False


def state(b):
    users = {u["user"]: u["tags"] for u in ctl(b, "list_users")}
    vhosts = sorted(v["name"] for v in ctl(b, "list_vhosts"))
    perms = {v: ctl(b, "list_permissions", "-p", v) for v in vhosts}
    return users, vhosts, perms


def verify(b, when):
    users, vhosts, perms = state(b)
    check(users == {"guest": ["administrator"], "keep": ["monitoring"], "later": []}, "%s: users and tags %r" % (when, users))
    check(vhosts == ["/", "kv"], "%s: vhosts %r" % (when, vhosts))
    check(perms["kv"] == [{"user": "keep", "configure": "^k", "write": ".*", "read": ".*"}], "%s: permissions %r" %
          (when, perms["kv"]))
    check(logs_in(b, "keep", "pw2", "kv"), "%s: a user created with warrenctl logs in with its changed password" % when)
    check(not logs_in(b, "keep", "pw1", "kv"), "%s: its old password stays refused" % when)
    check(not logs_in(b, "gone", "pw", "kv"), "%s: a deleted user does not log in" % when)
    check(not logs_in(b, "keep", "pw2", "/"), "%s: cleared permissions stay cleared" % when)


def main():
    tmp = tempfile.mkdtemp(prefix="warren-accessdur-")
    os.makedirs(os.path.join(tmp, "data"))
    b = Broker(WARREN, data_dir=os.path.join(tmp, "data"))
    b.start()
    try:
        ctl(b, "add_vhost", "kv")
        ctl(b, "add_vhost", "doomed")
        ctl(b, "add_user", "keep", "pw1")
        ctl(b, "set_user_tags", "keep", "monitoring")
        ctl(b, "set_permissions", "-p", "kv", "keep", "^k", ".*", ".*")
        ctl(b, "set_permissions", "-p", "/", "keep", ".*", ".*", ".*")
        ctl(b, "add_user", "gone", "pw")
        ctl(b, "set_permissions", "-p", "kv", "gone", ".*", ".*", ".*")
        check(logs_in(b, "gone", "pw", "kv"), "before the restart: the user to delete logs in")
        ctl(b, "delete_user", "gone")
        ctl(b, "change_password", "keep", "pw2")
        ctl(b, "clear_permissions", "-p", "/", "keep")
        ctl(b, "delete_vhost", "doomed")
        ctl(b, "add_user", "later", "pw3")
        verify(b, "before the restart")
        b.stop()
        b.start()
        verify(b, "after a graceful restart")
        # kill -9 just after warrenctl answered: the answer means the change is on disk.
        ctl(b, "add_user", "crash", "pw4")
        ctl(b, "set_permissions", "-p", "kv", "crash", ".*", ".*", ".*")
        ctl(b, "delete_user", "later")
        b.kill9()
        b.start()
        check(logs_in(b, "crash", "pw4", "kv"), "after kill -9: a user added just before logs in")
        check("later" not in [u["user"] for u in ctl(b, "list_users")], "after kill -9: a user deleted just before stays deleted")
    finally:
        if b.proc and b.proc.poll() is None:
            b.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("all access durability checks passed")


if __name__ == "__main__":
    main()
