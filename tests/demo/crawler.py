"""The crawler pattern on Warren, with pika: several workers share one durable
URL queue, new URLs enter through an exchange that drops duplicates, failed
fetches wait in a retry queue (dead-lettering + TTL) and come back, and no URL
is fetched twice. The "web" is a small fake graph with cycles, pages linked
from many others, one flaky page (fails once) and one dead page (always fails).

    /usr/bin/python3 tests/demo/crawler.py --port 5672       # a running broker
    /usr/bin/python3 tests/demo/crawler.py --warren build/warren  # starts its own

Exits 0 when every reachable page was fetched exactly once, the flaky one on
its second try and the dead one given up after 3 tries.

Topology (all durable, messages persistent):
    crawl.frontier  direct exchange, x-message-deduplication on header "url":
                    a URL is routed once, however many pages link to it
    crawl.urls      queue bound to it: the workers' work queue; a failed fetch is
                    rejected (requeue=false) and dead-lettered to crawl.retry.x
    crawl.retry     queue bound to crawl.retry.x, x-message-ttl 300 ms, dead-letters
                    back to crawl.urls through the default exchange (bypassing
                    the deduplicating frontier); x-death counts the attempts
"""
import argparse
import os
import sys
import threading
import time

import pika

WEB = {  # page -> links
    "/": ["/a", "/b", "/c", "/flaky"],
    "/a": ["/", "/b", "/a/1", "/a/2"],
    "/b": ["/a", "/c", "/b/1", "/dead"],
    "/c": ["/", "/a/1", "/b/1", "/c/1"],
    "/a/1": ["/a", "/a/2", "/flaky"],
    "/a/2": ["/a/1", "/"],
    "/b/1": ["/b", "/c/1", "/dead"],
    "/c/1": ["/c", "/a/2", "/flaky"],
    "/flaky": ["/flaky/1", "/"],
    "/flaky/1": ["/", "/c/1"],
    "/dead": [],
}
FAILS = {"/flaky": 1, "/dead": 99}  # how many fetches of it fail
MAX_TRIES = 3
WORKERS = 3


def declare(ch):
    ch.exchange_declare("crawl.frontier", "direct", durable=True,
                        arguments={"x-message-deduplication": True, "x-cache-size": 100000,
                                   "x-deduplication-header": "url"})
    ch.exchange_declare("crawl.retry.x", "direct", durable=True)
    ch.queue_declare("crawl.urls", durable=True, arguments={"x-dead-letter-exchange": "crawl.retry.x",
                                                             "x-dead-letter-routing-key": "retry"})
    ch.queue_bind("crawl.urls", "crawl.frontier", "url")
    ch.queue_declare("crawl.retry", durable=True,
                     arguments={"x-message-ttl": 300, "x-dead-letter-exchange": "",
                                "x-dead-letter-routing-key": "crawl.urls"})
    ch.queue_bind("crawl.retry", "crawl.retry.x", "retry")


def discover(ch, url):
    ch.basic_publish("crawl.frontier", "url", url,
                     pika.BasicProperties(delivery_mode=2, headers={"url": url}))


class Crawl:
    def __init__(self):
        self.lock = threading.Lock()
        self.fetched = {}   # url -> successful fetches
        self.tries = {}     # url -> attempts
        self.given_up = set()
        self.by_worker = {}

    def fetch(self, url):
        """The fake HTTP GET: True on success."""
        with self.lock:
            n = self.tries[url] = self.tries.get(url, 0) + 1
            if n <= FAILS.get(url, 0):
                return False
            self.fetched[url] = self.fetched.get(url, 0) + 1
            return True


def attempts(props):
    """Earlier failed attempts, from x-death (one entry per queue and reason)."""
    for d in (props.headers or {}).get("x-death", []):
        if d.get("queue") == "crawl.urls" and d.get("reason") == "rejected":
            return d.get("count", 0)
    return 0


def worker(port, crawl, name, stop):
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))
    ch = c.channel()
    ch.confirm_delivery()
    ch.basic_qos(prefetch_count=1)
    for m, props, body in ch.consume("crawl.urls", inactivity_timeout=0.2):
        if stop.is_set():
            break
        if m is None:
            continue
        url = body.decode()
        tried = attempts(props)
        if crawl.fetch(url):
            for link in WEB.get(url, []):
                discover(ch, link)  # the frontier drops the ones seen before
            with crawl.lock:
                crawl.by_worker[name] = crawl.by_worker.get(name, 0) + 1
            ch.basic_ack(m.delivery_tag)
        elif tried + 1 >= MAX_TRIES:
            with crawl.lock:
                crawl.given_up.add(url)
            ch.basic_ack(m.delivery_tag)  # give up
        else:
            ch.basic_reject(m.delivery_tag, requeue=False)  # to crawl.retry, back in 300 ms
    ch.cancel()
    c.close()


def run(port):
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    ch = c.channel()
    declare(ch)
    ch.confirm_delivery()
    crawl = Crawl()
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(port, crawl, "w%d" % i, stop)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    discover(ch, "/")
    discover(ch, "/")  # a second seed of the same URL is dropped too
    want = set(WEB) - {"/dead"}
    end = time.time() + 30
    while time.time() < end:
        with crawl.lock:
            if set(crawl.fetched) == want and crawl.given_up == {"/dead"}:
                break
        time.sleep(0.05)
    time.sleep(0.5)  # anything fetched twice would show up now
    stop.set()
    for t in threads:
        t.join()
    left = ch.queue_declare("crawl.urls", passive=True).method.message_count
    retry = ch.queue_declare("crawl.retry", passive=True).method.message_count
    for q in ("crawl.urls", "crawl.retry"):
        ch.queue_delete(q)
    for x in ("crawl.frontier", "crawl.retry.x"):
        ch.exchange_delete(x)
    c.close()
    print("fetched %d pages by %s; tries %s; given up %s" %
          (len(crawl.fetched), crawl.by_worker, {u: n for u, n in crawl.tries.items() if n > 1}, sorted(crawl.given_up)))
    assert set(crawl.fetched) == want, "not fetched: %s" % (want - set(crawl.fetched))
    assert all(n == 1 for n in crawl.fetched.values()), "fetched twice: %s" % crawl.fetched
    assert crawl.tries["/flaky"] == 2, crawl.tries
    assert crawl.tries["/dead"] == MAX_TRIES, crawl.tries
    assert crawl.given_up == {"/dead"}
    assert (left, retry) == (0, 0), (left, retry)
    print("crawl ok")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=5672)
    ap.add_argument("--warren", help="start this broker binary on a free port (fresh data dir)")
    a = ap.parse_args()
    if not a.warren:
        run(a.port)
        return
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "durability"))
    import shutil
    from broker import Broker
    b = Broker(a.warren)
    b.start()
    try:
        run(b.port)
        b.stop()
    finally:
        if b.proc and b.proc.poll() is None:
            b.kill9()
        shutil.rmtree(b.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
