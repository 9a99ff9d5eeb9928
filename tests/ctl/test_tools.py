"""The drop-in tools (issue 11): warrenctl called as rabbitmqctl,
rabbitmq-diagnostics or rabbitmq-queues (links to it, as the image and
`cmake --install` make them) answers the health checks compose files use,
with RabbitMQ 3.10's output shapes and exit codes. With --reference PORT the
same commands also run with Debian's real tools against a reference RabbitMQ
(../shared/tools/reference-rabbitmq PORT) and the exit codes and quiet outputs
are compared (node names and ports masked).

usage: test_tools.py WARREN WARRENCTL [--reference PORT]
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "durability"))
import broker as broker_mod  # noqa: E402
from broker import Broker  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    else:
        print("ok:", what)


def links(ctl):
    d = tempfile.mkdtemp(prefix="warren-tools-")
    for n in ("rabbitmqctl", "rabbitmq-diagnostics", "rabbitmq-queues"):
        os.symlink(os.path.abspath(ctl), os.path.join(d, n))
    return d


def run(tool_dir, data_dir, tool, *args):
    """A tool by its link, finding the broker as the image does: $WARREN_DATA_DIR."""
    env = dict(os.environ, WARREN_DATA_DIR=data_dir)
    env.pop("RABBITMQ_NODENAME", None)
    p = subprocess.run([os.path.join(tool_dir, tool)] + list(args), capture_output=True, text=True, timeout=60,
                       env=env)
    return p.returncode, p.stdout, p.stderr


def ref_run(port, tool, *args):
    p = subprocess.run([tool, "-n", "ref%d@localhost" % port] + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def mask(text):
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    text = re.sub(r"[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+", "NODE", text)
    return re.sub(r"\d+", "N", text)


# The quiet forms compose health checks use; output compared with RabbitMQ's (masked).
QUIET = [("rabbitmq-diagnostics", "-q", "ping"), ("rabbitmq-diagnostics", "-q", "check_running"),
         ("rabbitmq-diagnostics", "-q", "check_local_alarms"),
         ("rabbitmq-queues", "-q", "check_if_node_is_quorum_critical"),
         ("rabbitmq-queues", "-q", "check_if_node_is_mirror_sync_critical")]


def main():
    ref = None
    args = sys.argv[1:]
    if "--reference" in args:
        i = args.index("--reference")
        ref = int(args[i + 1])
        del args[i:i + 2]
    warren, ctl = args
    tools = links(ctl)
    b = Broker(warren)
    b.start()
    dd = b.data_dir
    try:
        for cmd in QUIET:
            rc, out, err = run(tools, dd, *cmd)
            check(rc == 0 and err == "", "%s: exit 0 (%r)" % (" ".join(cmd), out.strip()))
            if ref:
                rrc, rout, rerr = ref_run(ref, cmd[0], *cmd[1:])
                check((rc, mask(out)) == (rrc, mask(rout)),
                      "%s as RabbitMQ's: %r vs %r" % (" ".join(cmd), out.strip(), rout.strip()))
        rc, out, _ = run(tools, dd, "rabbitmq-diagnostics", "ping")
        check(rc == 0 and out.splitlines()[-1] == "Ping succeeded" and "Will ping rabbit@" in out,
              "ping (not quiet): banner then 'Ping succeeded'")
        rc, out, _ = run(tools, dd, "rabbitmq-diagnostics", "-n", "rabbit@elsewhere", "check_running")
        check(rc == 0 and out == "Checking if RabbitMQ is running on node rabbit@elsewhere ...\n"
              "RabbitMQ on node rabbit@elsewhere is fully booted and running\n", "-n NODE is accepted and shown")
        rc, out, _ = run(tools, dd, "rabbitmq-diagnostics", "-q", "listeners")
        check(rc == 0 and out == "Interface: 127.0.0.1, port: %d, protocol: amqp, purpose: AMQP 0-9-1\n" % b.port,
              "listeners: %r" % out)
        rc, out, _ = run(tools, dd, "rabbitmq-diagnostics", "check_port_connectivity")
        check(rc == 0 and out.splitlines()[-1] == "Successfully connected to ports %d on node %s." %
              (b.port, out.split("node ")[1].split(" ")[0]), "check_port_connectivity: %r" % out)
        if ref:
            rrc, rout, _ = ref_run(ref, "rabbitmq-diagnostics", "-q", "check_port_connectivity")
            check(rrc == rc and re.fullmatch(r"Successfully connected to ports [\d, ]+ on node \S+\.\n", rout)
                  and re.fullmatch(r"Successfully connected to ports [\d, ]+ on node \S+\.\n",
                                   run(tools, dd, "rabbitmq-diagnostics", "-q", "check_port_connectivity")[1]),
                  "check_port_connectivity -q: the shape of RabbitMQ's (%r)" % rout)
            rrc, rout, _ = ref_run(ref, "rabbitmq-diagnostics", "-q", "listeners")
            pat = r"(Interface: \S+, port: \d+, protocol: \S+, purpose: [^\n]+\n)+"
            check(rrc == 0 and re.fullmatch(pat, rout) and re.fullmatch(pat, out and
                                                                          run(tools, dd, "rabbitmq-diagnostics",
                                                                              "-q", "listeners")[1]),
                  "listeners -q: the shape of RabbitMQ's")
        rc, out, _ = run(tools, dd, "rabbitmq-diagnostics", "status")
        lines = out.splitlines()
        check(rc == 0 and lines[0].startswith("Status of node rabbit@") and
              all(s in lines for s in ("Runtime", "Alarms", "Memory", "Free Disk Space", "Totals", "Listeners")) and
              "Queue count: 0" in lines and "(none)" in lines, "rabbitmq-diagnostics status: RabbitMQ's sections")
        rc, out2, _ = run(tools, dd, "rabbitmq-diagnostics", "-q", "status")
        check(rc == 0 and out2.splitlines()[0] == "Runtime", "status -q drops the banner")
        if ref:
            rrc, rout, _ = ref_run(ref, "rabbitmq-diagnostics", "-q", "status")
            rsec = [ln for ln in mask(rout).splitlines() if ln in
                    ("Runtime", "Alarms", "Memory", "Free Disk Space", "Totals", "Listeners")]
            wsec = [ln for ln in out2.splitlines() if ln in
                    ("Runtime", "Alarms", "Memory", "Free Disk Space", "Totals", "Listeners")]
            check(rrc == rc and rsec == wsec, "status sections in RabbitMQ's order: %r" % rsec)
        # rabbitmqctl's names of warrenctl's commands
        rc, out, _ = run(tools, dd, "rabbitmqctl", "-q", "list_queues")
        check(rc == 0 and out == "", "rabbitmqctl -q list_queues of none: nothing, as RabbitMQ")
        rc, out, _ = run(tools, dd, "rabbitmqctl", "-q", "list_permissions")
        check(rc == 0 and out == "user\tconfigure\twrite\tread\nguest\t.*\t.*\t.*\n",
              "rabbitmqctl -q list_permissions keeps the header, as RabbitMQ")
        if ref:
            check(ref_run(ref, "rabbitmqctl", "-q", "list_permissions")[1] == out, "the same as RabbitMQ's")
        rc, out, _ = run(tools, dd, "rabbitmqctl", "-s", "list_permissions")
        check(rc == 0 and out == "guest\t.*\t.*\t.*\n", "rabbitmqctl -s: no header")
        rc, out, _ = run(tools, dd, "rabbitmqctl", "list_vhosts")
        check(rc == 0 and out == "Listing vhosts ...\nname\n/\n", "rabbitmqctl list_vhosts")
        rc, out, _ = run(tools, dd, "rabbitmqctl", "trace_on")
        check(rc == 0 and out == 'Starting tracing for vhost "/" ...\nTrace enabled for vhost /\n',
              "rabbitmqctl trace_on")
        # Unknown command: RabbitMQ's text and exit code 64.
        for tool in ("rabbitmqctl", "rabbitmq-diagnostics", "rabbitmq-queues"):
            rc, out, err = run(tools, dd, tool, "no_such_command")
            check(rc == 64 and "Command 'no_such_command' not found." in err and out == "",
                  "%s unknown command: 64" % tool)
            if ref:
                rrc, rout, rerr = ref_run(ref, tool, "no_such_command")
                check(rrc == 64 and "Command 'no_such_command' not found." in rerr, "%s: RabbitMQ's too" % tool)
        rc, out, err = run(tools, dd, "rabbitmq-diagnostics", "ping", "extra")
        check(rc == 64, "too many arguments: 64")
        rc, out, err = subprocess.run([ctl, "no_such_command"], capture_output=True, text=True).returncode, "", ""
        check(rc == 64, "warrenctl unknown command: 64")
        b.stop()
        # Broker down: 69 with an error on stderr, nothing that looks like success.
        for cmd in (("rabbitmq-diagnostics", "-q", "ping"), ("rabbitmq-diagnostics", "-q", "check_running"),
                    ("rabbitmq-diagnostics", "-q", "check_port_connectivity")):
            rc, out, err = run(tools, dd, *cmd)
            check(rc == 69 and out == "" and err.startswith("Error"), "%s with the broker down: 69" % " ".join(cmd))
            if ref and cmd[2] == "ping":
                p = subprocess.run([cmd[0], "-n", "nobody@localhost", "-t", "3", "-q", "ping"], capture_output=True,
                                   text=True, timeout=120)
                check(p.returncode == 69 and p.stdout == "" and p.stderr.startswith("Error"),
                      "RabbitMQ's ping of a stopped node: 69")
        # A broker that accepts on its control socket but never answers: 69 after -t, not a hang.
        import socket
        import threading
        import time
        hung = tempfile.mkdtemp(prefix="warren-tools-hung-")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(os.path.join(hung, "warren.sock"))
        srv.listen(1)
        held = []
        threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()
        t0 = time.time()
        rc, out, err = run(tools, hung, "rabbitmq-diagnostics", "-t", "1", "-q", "ping")
        check(rc == 69 and "no reply from the broker within 1 s" in err and time.time() - t0 < 5,
              "a hung broker fails ping with 69 after -t (%.1f s)" % (time.time() - t0))
        srv.close()
        # An alarm: a disk limit no filesystem meets raises the disk alarm at once.
        conf = os.path.join(dd, "..", os.path.basename(dd) + ".conf")
        with open(conf, "w") as f:
            f.write("disk_free_limit.absolute = 1000000GB\n")
        b.binary_args += ["--config", conf]
        b.start()
        for _ in range(50):
            rc, out, err = run(tools, dd, "rabbitmq-diagnostics", "check_local_alarms")
            if rc:
                break
            time.sleep(0.1)
        check(rc == 69 and out.startswith("Asking node") and err.startswith("Error:\nFree disk space alarm on node rabbit@"),
              "check_local_alarms with the disk alarm: 69, %r" % err)
        rc, out, _ = run(tools, dd, "rabbitmq-diagnostics", "-q", "status")
        check("Free disk space alarm on node" in out, "status lists the alarm")
    finally:
        b.cleanup()
    if failures:
        print("%d FAILED" % len(failures))
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    _ = broker_mod
    main()
