"""Message statistics and the Prometheus endpoint (issue 11), end to end: known
traffic with pika, then /metrics and /metrics/per-object scraped and parsed
with prometheus_client's text parser (Debian's python3-prometheus-client):
names, types and HELP lines as RabbitMQ 3.10's, and the counters that must
have moved by exactly the traffic's amounts. Plus the listener rules
(prometheus.tcp.port explicit and busy: fatal; the default busy: a warning;
prometheus.enabled = false: none).

usage: test_prometheus.py WARREN
       test_prometheus.py --reference AMQP_PORT PROM_PORT   (the same checks against RabbitMQ)
"""
import os
import socket
import sys
import tempfile
import time
import urllib.request

import pika
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "durability"))
from broker import Broker, free_port  # noqa: E402

failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def scrape(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        ctype = r.headers.get("Content-Type", "")
        return r.read().decode(), ctype


def parse(text):
    """{sample name: [(labels, value)]}, {sample name: type}, {sample name: help}"""
    samples, types, helps = {}, {}, {}
    for fam in text_string_to_metric_families(text):
        types.setdefault(fam.name, fam.type)  # a family with no sample (no queue) still has its type
        for s in fam.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
            types[s.name] = fam.type
            helps[s.name] = fam.documentation
    return samples, types, helps


def value(samples, name, **labels):
    for lab, v in samples.get(name, []):
        if all(lab.get(k) == want for k, want in labels.items()):
            return v
    return None


# name -> (type as the parser reports it, HELP) as RabbitMQ 3.10.8 prints them
EXPECTED = {
    "rabbitmq_connections": ("gauge", "Connections currently open"),
    "rabbitmq_channels": ("gauge", "Channels currently open"),
    "rabbitmq_consumers": ("gauge", "Consumers currently connected"),
    "rabbitmq_queues": ("gauge", "Queues available"),
    "rabbitmq_queue_messages_ready": ("gauge", "Messages ready to be delivered to consumers"),
    "rabbitmq_queue_messages_unacked": ("gauge", "Messages delivered to consumers but not yet acknowledged"),
    "rabbitmq_queue_messages": ("gauge", "Sum of ready and unacknowledged messages - total queue depth"),
    "rabbitmq_global_messages_received_total": ("counter", "Total number of messages received from publishers"),
    "rabbitmq_global_messages_received_confirm_total":
        ("counter", "Total number of messages received from publishers expecting confirmations"),
    "rabbitmq_global_messages_routed_total": ("counter", "Total number of messages routed to queues or streams"),
    "rabbitmq_global_messages_unroutable_dropped_total":
        ("counter", "Total number of messages published as non-mandatory into an exchange and dropped as unroutable"),
    "rabbitmq_global_messages_unroutable_returned_total":
        ("counter", "Total number of messages published as mandatory into an exchange and returned to the publisher "
                    "as unroutable"),
    "rabbitmq_global_messages_confirmed_total": ("counter", "Total number of messages confirmed to publishers"),
    "rabbitmq_global_messages_delivered_total": ("counter", "Total number of messages delivered to consumers"),
    "rabbitmq_global_messages_delivered_consume_manual_ack_total":
        ("counter", "Total number of messages delivered to consumers using basic.consume with manual acknowledgment"),
    "rabbitmq_global_messages_delivered_consume_auto_ack_total":
        ("counter", "Total number of messages delivered to consumers using basic.consume with automatic "
                    "acknowledgment"),
    "rabbitmq_global_messages_delivered_get_manual_ack_total":
        ("counter", "Total number of messages delivered to consumers using basic.get with manual acknowledgment"),
    "rabbitmq_global_messages_delivered_get_auto_ack_total":
        ("counter", "Total number of messages delivered to consumers using basic.get with automatic acknowledgment"),
    "rabbitmq_global_messages_get_empty_total":
        ("counter", "Total number of times basic.get operations fetched no message"),
    "rabbitmq_global_messages_redelivered_total": ("counter", "Total number of messages redelivered to consumers"),
    "rabbitmq_global_messages_acknowledged_total": ("counter", "Total number of messages acknowledged by consumers"),
    "rabbitmq_global_publishers": ("gauge", "Current number of publishers"),
    "rabbitmq_global_consumers": ("gauge", "Current number of consumers"),
    "rabbitmq_connections_opened_total": ("counter", "Total number of connections opened"),
    "rabbitmq_connections_closed_total": ("counter", "Total number of connections closed or terminated"),
    "rabbitmq_channels_opened_total": ("counter", "Total number of channels opened"),
    "rabbitmq_channels_closed_total": ("counter", "Total number of channels closed"),
    "rabbitmq_queues_declared_total": ("counter", "Total number of queues declared"),
    "rabbitmq_queues_created_total": ("counter", "Total number of queues created"),
    "rabbitmq_queues_deleted_total": ("counter", "Total number of queues deleted"),
    "rabbitmq_process_resident_memory_bytes": ("gauge", "Memory used in bytes"),
    "rabbitmq_process_open_fds": ("gauge", "Open file descriptors"),
    "rabbitmq_process_max_fds": ("gauge", "Open file descriptors limit"),
    "rabbitmq_disk_space_available_bytes": ("gauge", "Disk space available in bytes"),
    "rabbitmq_resident_memory_limit_bytes": ("gauge", "Memory high watermark in bytes"),
    "rabbitmq_disk_space_available_limit_bytes": ("gauge", "Free disk space low watermark in bytes"),
    "rabbitmq_alarms_file_descriptor_limit": ("unknown", "is 1 if file descriptor limit alarm is in effect"),
    "rabbitmq_alarms_free_disk_space_watermark": ("unknown", "is 1 if free disk space watermark alarm is in effect"),
    "rabbitmq_alarms_memory_used_watermark": ("unknown", "is 1 if VM memory watermark alarm is in effect"),
    "rabbitmq_identity_info": ("unknown", "RabbitMQ node & cluster identity info"),
    "rabbitmq_build_info": ("unknown", "RabbitMQ & Erlang/OTP version info"),
    "rabbitmq_erlang_uptime_seconds": ("gauge", "Node uptime"),
    "process_start_time_seconds": ("gauge", "Start time of the process since unix epoch in seconds."),
    "rabbitmq_channel_messages_published_total":
        ("counter", "Total number of messages published into an exchange on a channel"),
    "rabbitmq_connection_incoming_bytes_total": ("counter", "Total number of bytes received on a connection"),
}

# counters and how much the traffic below must move them
DELTAS = {
    ("rabbitmq_global_messages_received_total", ()): 15,
    ("rabbitmq_global_messages_received_confirm_total", ()): 15,
    ("rabbitmq_global_messages_routed_total", ()): 10,
    ("rabbitmq_global_messages_unroutable_dropped_total", ()): 3,
    ("rabbitmq_global_messages_unroutable_returned_total", ()): 2,
    ("rabbitmq_global_messages_confirmed_total", ()): 15,
    ("rabbitmq_global_messages_delivered_consume_manual_ack_total", (("queue_type", "rabbit_classic_queue"),)): 9,
    ("rabbitmq_global_messages_delivered_get_manual_ack_total", (("queue_type", "rabbit_classic_queue"),)): 1,
    ("rabbitmq_global_messages_delivered_get_auto_ack_total", (("queue_type", "rabbit_classic_queue"),)): 1,
    ("rabbitmq_global_messages_delivered_total", (("queue_type", "rabbit_classic_queue"),)): 11,
    ("rabbitmq_global_messages_get_empty_total", (("queue_type", "rabbit_classic_queue"),)): 1,
    ("rabbitmq_global_messages_redelivered_total", (("queue_type", "rabbit_classic_queue"),)): 1,
    ("rabbitmq_global_messages_acknowledged_total", (("queue_type", "rabbit_classic_queue"),)): 9,
    ("rabbitmq_queues_declared_total", ()): 1,
    ("rabbitmq_queues_created_total", ()): 1,
    ("rabbitmq_queues_deleted_total", ()): 1,
    ("rabbitmq_connections_opened_total", ()): 1,
    ("rabbitmq_connections_closed_total", ()): 1,
    ("rabbitmq_channels_opened_total", ()): 1,
    ("rabbitmq_channels_closed_total", ()): 1,
}


def wait_gauge(prom_port, q, name, want, timeout):
    """Per-object gauge of queue q (RabbitMQ refreshes them every 5 s)."""
    t0 = time.time()
    while True:
        s, _, _ = parse(scrape(prom_port, "/metrics/per-object")[0])
        got = value(s, name, vhost="/", queue=q)
        if got == want or time.time() - t0 > timeout:
            return got
        time.sleep(0.5)


def settled(prom_port):
    """Wait (3 s at most) until no connection is open, so that a connection still
    being set up or torn down (a start-up probe) does not count in the deltas."""
    t0 = time.time()
    while True:
        text, ctype = scrape(prom_port, "/metrics")
        s, _, _ = parse(text)
        # the start-up probe's connection has been accepted (counted as opened) and is gone
        if (value(s, "rabbitmq_connections") == 0 and (value(s, "rabbitmq_connections_opened_total") or 0) >= 1) \
                or time.time() - t0 > 3:
            return text, ctype
        time.sleep(0.1)


def traffic_and_checks(amqp_port, prom_port, gauge_wait, reference):
    text, ctype = settled(prom_port)
    check(ctype.startswith("text/plain"), "/metrics is text/plain (%s)" % ctype)
    before, types, helps = parse(text)
    for name, (typ, hlp) in EXPECTED.items():
        check(name in types, "%s present" % name)
        if name in types:
            check(types[name] == typ, "%s has type %s (%s)" % (name, typ, types[name]))
            check(helps[name] == hlp, "%s HELP is RabbitMQ's (%r)" % (name, helps[name]))
    ident = before.get("rabbitmq_identity_info", [({}, 0)])[0][0]
    check("rabbitmq_node" in ident and "rabbitmq_cluster" in ident, "identity_info has rabbitmq_node and rabbitmq_cluster")

    q = "stats-q-%d" % os.getpid()
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", amqp_port))
    ch = c.channel()
    ch.confirm_delivery()
    ch.queue_declare(q)
    for i in range(10):
        ch.basic_publish("", q, b"m%d" % i)
    for i in range(3):
        ch.basic_publish("", "no-such-queue", b"x")
    for i in range(2):
        try:
            ch.basic_publish("", "no-such-queue", b"x", mandatory=True)
        except pika.exceptions.UnroutableError:
            pass
    m, _, _ = ch.basic_get(q)
    ch.basic_ack(m.delivery_tag)
    ch.basic_get(q, auto_ack=True)
    # 8 ready, none unacked
    check(wait_gauge(prom_port, q, "rabbitmq_queue_messages_ready", 8, gauge_wait) == 8, "per-object ready = 8")
    check(wait_gauge(prom_port, q, "rabbitmq_queue_messages", 8, gauge_wait) == 8, "per-object messages = 8")
    got = []
    ch.basic_qos(prefetch_count=100)
    ch.basic_consume(q, lambda chan, meth, props, body: got.append(meth))
    t0 = time.time()
    while len(got) < 8 and time.time() - t0 < 5:
        c.process_data_events(0.1)
    check(len(got) == 8, "consumer got 8")
    check(wait_gauge(prom_port, q, "rabbitmq_queue_messages_unacked", 8, gauge_wait) == 8, "per-object unacked = 8")
    check(wait_gauge(prom_port, q, "rabbitmq_queue_consumers", 1, gauge_wait) == 1, "per-object consumers = 1")
    ch.basic_nack(got[0].delivery_tag, requeue=True)  # comes back redelivered
    t0 = time.time()
    while len(got) < 9 and time.time() - t0 < 5:
        c.process_data_events(0.1)
    check(len(got) == 9 and got[8].redelivered, "the nacked one came back redelivered")
    for m in got[1:]:
        ch.basic_ack(m.delivery_tag)
    c.process_data_events(0.2)
    check(ch.basic_get(q)[0] is None, "a basic.get on the emptied queue is get-empty")
    ch.queue_delete(q)
    c.close()
    time.sleep(0.5)
    after, _, _ = parse(scrape(prom_port, "/metrics")[0])
    for (name, labels), want in DELTAS.items():
        lab = dict(labels, protocol="amqp091") if name.startswith("rabbitmq_global") else dict(labels)
        b, a = value(before, name, **lab), value(after, name, **lab)
        if a is None or b is None:
            check(False, "%s%s present before and after" % (name, lab))
            continue
        check(a - b == want, "%s moved by %d (%d)" % (name, want, a - b))
    odd = 'odd"name\\with-escapes-%d' % os.getpid()  # the text format escapes " and \ in labels
    if reference:  # RabbitMQ 3.10.8 writes such a label unescaped: its output then fails the parser
        print("skipped on the reference: a queue name with a quote (RabbitMQ does not escape label values)")
        odd = None
    c = None if odd is None else pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", amqp_port))
    if c:
        c.channel().queue_declare(odd)
        c.channel().basic_publish("", odd, b"x")
        check(wait_gauge(prom_port, odd, "rabbitmq_queue_messages_ready", 1, gauge_wait) == 1,
              "a queue name with a quote and a backslash comes back intact from the parser")
        c.channel().queue_delete(odd)
        c.close()
    per, ptypes, _ = parse(scrape(prom_port, "/metrics/per-object")[0])
    check(all(set(lab) >= {"vhost", "queue"} for lab, _ in per.get("rabbitmq_queue_messages_ready", [])),
          "per-object queue samples carry vhost and queue labels")
    check(ptypes.get("rabbitmq_queue_messages_ready") == "gauge",
          "per-object ready is a gauge (%s)" % ptypes.get("rabbitmq_queue_messages_ready"))
    code = None
    try:
        scrape(prom_port, "/nothing-here")
    except urllib.error.HTTPError as e:
        code = e.code
    check(code == 404, "an unknown path is 404 (%s)" % code)


def listener_rules(binary):
    tmp = tempfile.mkdtemp(prefix="warren-prom-")
    # explicit port already taken: fatal, naming the key
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("0.0.0.0", 0))
    busy.listen(1)
    conf = os.path.join(tmp, "busy.conf")
    with open(conf, "w") as f:
        f.write("prometheus.tcp.port = %d\n" % busy.getsockname()[1])
    b = Broker(binary)
    b.binary_args += ["--config", conf]
    try:
        b.start(timeout=5)
        started = True
    except RuntimeError:
        started = False
    check(not started, "an explicit prometheus.tcp.port in use stops the start")
    check("prometheus.tcp.port" in b.log(), "the error names prometheus.tcp.port")
    b.cleanup()
    # the default port in use: a warning, the broker runs without the listener
    hold = socket.socket()
    hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        hold.bind(("0.0.0.0", 15692))
        hold.listen(1)
    except OSError:
        pass  # someone else has it: in use either way
    b = Broker(binary)
    b.start()
    time.sleep(0.2)
    check("15692" in b.log() and "not available" in b.log(), "the default port in use is a warning")
    b.stop()
    b.cleanup()
    hold.close()
    busy.close()
    # disabled
    port = free_port()
    conf = os.path.join(tmp, "off.conf")
    with open(conf, "w") as f:
        f.write("prometheus.enabled = false\nprometheus.tcp.port = %d\n" % port)
    b = Broker(binary)
    b.binary_args += ["--config", conf]
    b.start()
    refused = False
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        refused = True
    check(refused, "prometheus.enabled = false: no listener")
    b.stop()
    b.cleanup()


def main():
    if sys.argv[1] == "--reference":
        traffic_and_checks(int(sys.argv[2]), int(sys.argv[3]), gauge_wait=12, reference=True)
    else:
        binary = sys.argv[1]
        tmp = tempfile.mkdtemp(prefix="warren-prom-")
        prom = free_port()
        conf = os.path.join(tmp, "w.conf")
        with open(conf, "w") as f:
            f.write("prometheus.tcp.port = %d\n" % prom)
        b = Broker(binary)
        b.binary_args += ["--config", conf]
        b.start()
        try:
            traffic_and_checks(b.port, prom, gauge_wait=7, reference=False)  # per-object: up to 5 s old
            b.stop()
        finally:
            b.cleanup()
        listener_rules(binary)
    if failures:
        print("%d FAILED" % len(failures))
        sys.exit(1)
    print("all passed")


main()
