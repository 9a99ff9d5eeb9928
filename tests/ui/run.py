#!/usr/bin/python3
"""Run the browser test of the web UI (ui.test.js) against a broker.

  run.py WARREN_BINARY [--shots DIR] [--node-dir DIR]
      starts Warren on free ports (AMQP, management.tcp.port in a config file),
      then drives the UI it serves on its management port.
  run.py --reference MGMT_PORT AMQP_PORT [--shots DIR] [--node-dir DIR]
      serves broker/admin/www/ with devserver.js in front of a running reference
      RabbitMQ's management API (../shared/tools/reference-rabbitmq), to check the UI
      and the test against RabbitMQ itself.

playwright-core comes from npm (package-lock.json) and is installed with `npm ci`
into --node-dir (default: a folder beside the screenshots), never into the source
tree; chromium is Debian's (/usr/bin/chromium, tests/deps.sh installs it).
Screenshots go to --shots (default ./ui-screenshots)."""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "durability"))
import broker  # noqa: E402


def wait_port(port, timeout=20.0, proc=None):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def check_files(port):
    """The UI's files come out of the binary with their Content-Type; others are 404."""
    import urllib.error
    import urllib.request
    want = {"/": "text/html", "/index.html": "text/html", "/app.js": "text/javascript", "/app.css": "text/css",
            "/favicon.svg": "image/svg+xml", "/app.js?v=1": "text/javascript", "/no-such-file.js": 404, "/../app.js": 404}
    bad = []
    for p, t in want.items():
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, p), timeout=5) as r:
                got, body = r.headers.get("Content-Type", ""), r.read()
                if t == 404 or not got.startswith(t) or not body:
                    bad.append("%s: %s, %d bytes" % (p, got, len(body)))
                elif p in ("/", "/index.html") and b"app.js" not in body:
                    bad.append(p + ": not the UI's index.html")
        except urllib.error.HTTPError as e:
            if e.code != t:
                bad.append("%s: HTTP %d" % (p, e.code))
    return bad


def npm_ci(node_dir):
    """Install playwright-core (pinned by package-lock.json) into node_dir once."""
    lock = os.path.join(HERE, "package-lock.json")
    stamp = os.path.join(node_dir, "node_modules", ".lock-copy")
    if os.path.exists(stamp) and open(stamp).read() == open(lock).read():
        return
    os.makedirs(node_dir, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copy(os.path.join(HERE, f), node_dir)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=node_dir, check=True)
    shutil.copy(lock, stamp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?")
    ap.add_argument("--reference", nargs=2, type=int, metavar=("MGMT_PORT", "AMQP_PORT"))
    ap.add_argument("--shots", default="ui-screenshots")
    ap.add_argument("--node-dir")
    a = ap.parse_args()
    if not a.binary and not a.reference:
        ap.error("give the warren binary or --reference MGMT_PORT AMQP_PORT")
    shots = os.path.abspath(a.shots)
    node_dir = os.path.abspath(a.node_dir or os.path.join(os.path.dirname(shots), "ui-node"))
    if not os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")):
        print("FAIL: no chromium (Debian's chromium package; tests/deps.sh installs it)")
        return 1
    npm_ci(node_dir)
    env = dict(os.environ, NODE_PATH=os.path.join(node_dir, "node_modules"), SCREENSHOTS=shots)
    procs = []
    b = None
    try:
        if a.reference:
            mgmt, amqp = a.reference
            dev = subprocess.Popen(["node", os.path.join(HERE, "devserver.js"), "--port", "0",
                                    "--api", "http://127.0.0.1:%d" % mgmt], stdout=subprocess.PIPE, text=True)
            procs.append(dev)
            line = dev.stdout.readline()
            env.update(UI_URL="http://127.0.0.1:%s/" % line.split()[-1], AMQP_PORT=str(amqp))
        else:
            mport = broker.free_port()
            conf = tempfile.NamedTemporaryFile("w", prefix="warren-ui-", suffix=".conf", delete=False)
            conf.write("management.tcp.port = %d\nmanagement.tcp.ip = 127.0.0.1\n" % mport)
            conf.close()
            b = broker.Broker(a.binary)
            b.binary_args += ["--config", conf.name]
            b.start()
            if not wait_port(mport, proc=b.proc):
                print("FAIL: warren serves nothing on management.tcp.port %d; its log:\n%s" % (mport, b.log()[-3000:]))
                return 1
            env.update(UI_URL="http://127.0.0.1:%d/" % mport, AMQP_PORT=str(b.port))
            bad = check_files(mport)
            if bad:
                print("FAIL: the UI's files as served: " + "; ".join(bad))
                return 1
        rc = subprocess.run(["node", os.path.join(HERE, "ui.test.js")], env=env, timeout=400).returncode
        if b is not None:
            b.stop()  # must still shut down cleanly after everything the UI did
        return rc
    finally:
        for p in procs:
            p.kill()
            p.wait()
        if b is not None:
            b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
