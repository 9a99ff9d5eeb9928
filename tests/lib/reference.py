"""reference.py — the reference RabbitMQ 3.10 a test compares Warren with:
the node `../shared/tools/reference-rabbitmq PORT` starts (node refPORT@localhost,
data in /tmp/reference-rabbitmq-PORT), driven like tests/durability/broker.py's
Broker: start, stop, kill9, restart on the same data, and rabbitmqctl.

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from reference import Reference
"""
import os
import signal
import socket
import subprocess
import time

# the starter script, from the repo's tests/lib: ../shared beside the repo
TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "tools",
                    "reference-rabbitmq")


class Reference:
    """attach=True: a node already running on port (its pid from the pid
    file); else start() makes a fresh one with the starter script."""
    name = "rabbitmq"

    def __init__(self, port, attach=False):
        self.port = port
        self.dir = "/tmp/reference-rabbitmq-%d" % port
        self.pid = None
        if attach:
            with open(self.dir + "/pid") as f:
                self.pid = int(f.read().strip())

    def ctl(self, *args):
        """rabbitmqctl on this node: (exit code, stdout, stderr)."""
        p = subprocess.run(["rabbitmqctl", "-n", "ref%d@localhost" % self.port] + list(args), capture_output=True,
                           text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def start(self):
        """The first time a fresh node (empty data); after a stop, the same
        node on its data again. Returns once its AMQP port accepts."""
        if self.pid is None:
            self.pid = int(subprocess.check_output([TOOL, str(self.port)]).decode().split()[-1])
            return
        env = dict(os.environ, RABBITMQ_NODENAME="ref%d@localhost" % self.port, RABBITMQ_NODE_PORT=str(self.port),
                   RABBITMQ_DIST_PORT=str(self.port % 25000 + 35000), RABBITMQ_MNESIA_BASE=self.dir + "/mnesia",
                   RABBITMQ_LOG_BASE=self.dir + "/log", RABBITMQ_ENABLED_PLUGINS_FILE=self.dir + "/plugins",
                   RABBITMQ_CONFIG_FILE=self.dir + "/rabbitmq", RABBITMQ_PID_FILE=self.dir + "/pid")
        if os.path.exists(self.dir + "/pid"):
            os.unlink(self.dir + "/pid")
        subprocess.Popen(["setsid", "rabbitmq-server"], env=env, stdout=open(self.dir + "/out.log", "ab"),
                         stderr=subprocess.STDOUT)
        for _ in range(1200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                with open(self.dir + "/pid") as f:
                    self.pid = int(f.read().strip())
                return
            except (OSError, ValueError):
                time.sleep(0.05)
        raise RuntimeError("reference RabbitMQ did not restart")

    def _wait_gone(self):
        for _ in range(600):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise RuntimeError("reference RabbitMQ did not exit")

    def stop(self):
        os.kill(self.pid, signal.SIGTERM)
        self._wait_gone()

    def kill9(self):
        os.kill(self.pid, signal.SIGKILL)
        self._wait_gone()

    def restart(self, kill9=False):
        """Stop (SIGTERM, or SIGKILL) and start on the same data; returns a
        second after the port opens (queues recover after the listener)."""
        self.kill9() if kill9 else self.stop()
        self.start()
        time.sleep(1)

    def close(self):
        pass
