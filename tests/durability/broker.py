"""Start, stop and kill a Warren broker for durability tests (shared helper)."""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


EXTRA_ARGS = []  # appended to every broker's command line (e.g. --config with small segments)
ALL = []  # every Broker made: a failed test must not leave its broker running


def kill_all():
    for b in ALL:
        if b.proc and b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait()


atexit.register(kill_all)


class Broker:
    def __init__(self, binary, data_dir=None, port=None, env=None, mgmt_port=None):
        self.binary = binary
        self.extra_env = env or {}
        self.binary_args = list(EXTRA_ARGS)
        # The management HTTP API on a port of its own (a config file with
        # management.tcp.port); without it the broker tries the default 15672
        # and runs without the API if that is taken.
        self.mgmt_port = mgmt_port
        ALL.append(self)
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="warren-durability-")
        self.port = port or free_port()
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "..", os.path.basename(self.data_dir) + ".log")

    def start(self, timeout=15.0):
        if self.mgmt_port and "--config" not in self.binary_args:
            conf = os.path.join(self.data_dir, "..", os.path.basename(self.data_dir) + ".conf")
            with open(conf, "w") as f:
                f.write("management.tcp.port = %d\n" % self.mgmt_port)
            self.binary_args += ["--config", conf]
        log = open(self.log_path, "ab")
        env = dict(os.environ, LSAN_OPTIONS="leak_check_at_exit=1", **self.extra_env)
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--data-dir", self.data_dir, "--threads", "2"]
            + self.binary_args,
            stdout=log, stderr=log, env=env)
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("warren exited with %s during start; log: %s" % (self.proc.returncode, self.log_path))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return time.time() - t0
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("warren did not listen within %ss" % timeout)

    def stop(self):
        """Graceful: SIGTERM, must exit 0 within 5 s."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=5)
        if rc != 0:
            raise RuntimeError("warren exited %d after SIGTERM; log: %s" % (rc, self.log_path))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5)

    def cleanup(self):
        """For a test's finally: kill the broker if it still runs, remove its data dir."""
        if self.proc and self.proc.poll() is None:
            self.kill9()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
