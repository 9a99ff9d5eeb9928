#!/usr/bin/python3
"""The management API under churn: HTTP readers (overview, queues paged and
sorted, connections, channels, consumers, bindings, vhosts) run while AMQP
clients open and close connections, channels and consumers and declare and
delete queues and bindings; then the broker must stop cleanly (exit 0 within
5 s after SIGTERM, with HTTP clients still connected). Every reply must be
200 with JSON. In the sanitizer builds this is the race/leak workload of the
management plane's threads (the HTTP pool, the totals sampler, the worker
jobs). Usage: test_mgmt_churn.py WARREN [SECONDS]"""
import base64
import http.client
import json
import os
import sys
import threading
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "durability"))
from broker import Broker, free_port  # noqa: E402

AUTH = "Basic " + base64.b64encode(b"guest:guest").decode()
PATHS = ["/api/overview", "/api/queues?page=1&page_size=50", "/api/queues?sort=messages&page=1&page_size=20",
         "/api/connections", "/api/channels", "/api/consumers", "/api/bindings/%2F", "/api/vhosts",
         "/api/exchanges/%2F", "/api/nodes", "/api/queues/%2F/churn-fixed"]


def main():
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 6
    mport = free_port()
    b = Broker(sys.argv[1], mgmt_port=mport)
    b.start()
    stop = threading.Event()
    errors, counts = [], {"http": 0, "amqp": 0}
    lock = threading.Lock()

    def reader(i):
        conn = http.client.HTTPConnection("127.0.0.1", mport, timeout=30)
        k = i
        while not stop.is_set():
            p = PATHS[k % len(PATHS)]
            k += 1
            try:
                conn.request("GET", p, headers={"Authorization": AUTH})
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise RuntimeError("%s: %d %s" % (p, r.status, body[:200]))
                json.loads(body)
                with lock:
                    counts["http"] += 1
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append("reader %s: %r" % (p, e))
                return

    def churner(i):
        n = 0
        while not stop.is_set():
            try:
                c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))
                ch = c.channel()
                q = "churn-%d-%d" % (i, n % 20)
                ch.queue_declare(q, auto_delete=False)
                ch.queue_bind(q, "amq.topic", "k.%d" % n)
                ch.basic_publish("amq.topic", "k.%d" % n, b"x")
                ch.basic_consume(q, lambda *a: None)
                ch2 = c.channel()
                ch2.basic_qos(prefetch_count=3)
                if n % 3 == 0:
                    ch.queue_delete("churn-%d-%d" % (i, (n + 7) % 20))
                c.close()
                n += 1
                with lock:
                    counts["amqp"] += 1
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append("churner: %r" % e)
                return

    try:
        c0 = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port, heartbeat=0))
        c0.channel().queue_declare("churn-fixed")
        c0.close()
        ts = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
        ts += [threading.Thread(target=churner, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        time.sleep(secs)
        # stop the broker while readers are still connected
        lingering = http.client.HTTPConnection("127.0.0.1", mport, timeout=5)
        lingering.request("GET", "/api/overview", headers={"Authorization": AUTH})
        lingering.getresponse().read()
        stop.set()
        for t in ts:
            t.join(timeout=60)
        b.stop()
        stopped = True
    except Exception as e:  # noqa: BLE001
        errors.append("stop: %r" % e)
        stopped = False
    finally:
        log = b.log() if os.path.exists(b.log_path) else ""
        b.cleanup()
    sanitizer = [ln for ln in log.splitlines() if "Sanitizer" in ln or "runtime error" in ln]
    ok = not errors and stopped and not sanitizer and counts["http"] > 20 and counts["amqp"] > 5
    for e in errors[:10]:
        print("FAIL: " + e)
    for ln in sanitizer[:10]:
        print("FAIL: " + ln)
    print("%s: %d HTTP replies and %d AMQP connection cycles in %.0f s; clean stop: %s" %
          ("ok" if ok else "FAIL", counts["http"], counts["amqp"], secs, stopped))
    print("%d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
