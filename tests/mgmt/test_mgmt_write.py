#!/usr/bin/python3
"""The management API's write routes (issue 11), end to end: urllib for HTTP,
pika for what AMQP clients see. Every route, its status codes and RabbitMQ
3.10's error bodies.

    test_mgmt_write.py WARREN_BINARY                   a broker of its own on free ports
    test_mgmt_write.py --reference AMQP_PORT MGMT_PORT  the same checks against RabbitMQ 3.10
                                                        (../shared/tools/reference-rabbitmq)

Against Warren it also checks that each change is durable (kill -9, restart).
"""
import base64
import hashlib
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "durability"))
from broker import Broker, free_port  # noqa: E402

PASSED, FAILED = [], []


def check(name, cond, detail=""):
    (PASSED if cond else FAILED).append(name)
    if not cond:
        print("FAIL %s %s" % (name, detail), flush=True)


def q(s):
    return urllib.parse.quote(s, safe="")


class Api:
    def __init__(self, port, user="guest", password="guest"):
        self.port, self.user, self.password = port, user, password

    def as_user(self, user, password):
        return Api(self.port, user, password)

    def req(self, method, path, body=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        r = urllib.request.Request("http://127.0.0.1:%d/api/%s" % (self.port, path), data=data, method=method)
        tok = base64.b64encode(("%s:%s" % (self.user, self.password)).encode()).decode()
        r.add_header("Authorization", "Basic " + tok)
        if data is not None:
            r.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            r.add_header(k, v)
        try:
            with urllib.request.urlopen(r, timeout=15) as resp:
                text = resp.read()
                return resp.status, (json.loads(text) if text else None), dict(resp.headers)
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                js = json.loads(text) if text else None
            except ValueError:
                js = text
            return e.code, js, dict(e.headers)


def err(code, error, reason):
    return (code, {"error": error, "reason": reason})


def expect(name, got, want):
    """got: (status, body, headers); want: status or (status, body)."""
    if isinstance(want, tuple):
        check(name, got[0] == want[0] and got[1] == want[1], "got %s %r, want %s %r" % (got[0], got[1], want[0], want[1]))
    else:
        check(name, got[0] == want, "got %s %r, want %s" % (got[0], got[1], want))


def amqp(port, user="guest", password="guest", vhost="/"):
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", port, vhost, pika.PlainCredentials(user, password), heartbeat=0, blocked_connection_timeout=10))


def queue_count(port, name, vhost="/"):
    c = amqp(port, vhost=vhost)
    try:
        return c.channel().queue_declare(name, passive=True).method.message_count
    finally:
        c.close()


def exists(port, kind, name, vhost="/"):
    c = amqp(port, vhost=vhost)
    try:
        ch = c.channel()
        if kind == "queue":
            ch.queue_declare(name, passive=True)
        else:
            ch.exchange_declare(name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if c.is_open:
            c.close()


def test_exchanges(api, port):
    expect("x put created", api.req("PUT", "exchanges/%2F/mw.x1", {"type": "direct", "durable": True}), 201)
    expect("x put again", api.req("PUT", "exchanges/%2F/mw.x1", {"type": "direct", "durable": True}), 204)
    expect("x put inequivalent type", api.req("PUT", "exchanges/%2F/mw.x1", {"type": "fanout", "durable": True}),
           err(400, "bad_request", "inequivalent arg 'type' for exchange 'mw.x1' in vhost '/': "
                                   "received 'fanout' but current is 'direct'"))
    expect("x put inequivalent durable", api.req("PUT", "exchanges/%2F/mw.x1", {"type": "direct", "durable": False}),
           err(400, "bad_request", "inequivalent arg 'durable' for exchange 'mw.x1' in vhost '/': "
                                   "received 'false' but current is 'true'"))
    got = api.req("PUT", "exchanges/%2F/mw.x2", {"type": "bogus"})
    # RabbitMQ says "invalid" for a type name it never saw as an atom, "unknown" after that
    check("x put unknown type", got[:2] in (err(400, "bad_request", "unknown exchange type 'bogus'"),
                                            err(400, "bad_request", "invalid exchange type 'bogus'")), repr(got[:2]))
    expect("x put amq. prefix", api.req("PUT", "exchanges/%2F/amq.mw", {"type": "direct"}),
           err(401, "not_authorised", "Access refused."))
    expect("x put default", api.req("PUT", "exchanges/%2F/amq.default", {"type": "direct", "durable": True}),
           err(401, "not_authorised", "Access refused."))
    expect("x put no vhost", api.req("PUT", "exchanges/mw-novhost/x", {"type": "direct"}),
           err(404, "not_found", "vhost_not_found"))
    expect("x put not json", api.req("PUT", "exchanges/%2F/mw.x3", raw=b"notjson"), err(400, "bad_request", "not_json"))
    expect("x put defaults", api.req("PUT", "exchanges/%2F/mw.x4", {}), 201)
    expect("x put args", api.req("PUT", "exchanges/%2F/mw.ae", {"type": "fanout", "arguments":
                                                                {"alternate-exchange": "mw.x4"}}), 201)
    check("x exists via amqp", exists(port, "exchange", "mw.x1"))
    # if-unused: a binding makes it used
    api.req("PUT", "queues/%2F/mw.xq", {"durable": False})
    expect("x bind for if-unused", api.req("POST", "bindings/%2F/e/mw.x1/q/mw.xq", {"routing_key": "k"}), 201)
    expect("x delete if-unused in use", api.req("DELETE", "exchanges/%2F/mw.x1?if-unused=true"),
           err(400, "bad_request", "exchange 'mw.x1' in vhost '/' in use"))
    expect("x delete", api.req("DELETE", "exchanges/%2F/mw.x1"), 204)
    expect("x delete again", api.req("DELETE", "exchanges/%2F/mw.x1"), err(404, "Object Not Found", "Not Found"))
    expect("x delete amq.direct", api.req("DELETE", "exchanges/%2F/amq.direct"),
           err(401, "not_authorised", "Access refused."))
    expect("x delete if-unused unused", api.req("DELETE", "exchanges/%2F/mw.ae?if-unused=true"), 204)
    check("x gone via amqp", not exists(port, "exchange", "mw.x1"))
    api.req("DELETE", "exchanges/%2F/mw.x4")
    api.req("DELETE", "queues/%2F/mw.xq")


def test_queues(api, port):
    expect("q put created", api.req("PUT", "queues/%2F/mw.q1", {}), 201)
    expect("q put again", api.req("PUT", "queues/%2F/mw.q1", {"durable": False}), 204)
    expect("q put inequivalent", api.req("PUT", "queues/%2F/mw.q1", {"durable": True}),
           err(400, "bad_request", "inequivalent arg 'durable' for queue 'mw.q1' in vhost '/': "
                                   "received 'true' but current is 'false'"))
    expect("q put quorum", api.req("PUT", "queues/%2F/mw.qq", {"durable": True, "arguments": {"x-queue-type": "quorum"}}),
           201)
    expect("q put bad arg", api.req("PUT", "queues/%2F/mw.q3", {"durable": True, "arguments": {"x-max-length": "abc"}}),
           err(400, "bad_request", "invalid arg 'x-max-length' for queue 'mw.q3' in vhost '/': "
                                   "\"expected integer, got longstr\""))
    expect("q put quorum auto-delete",
           api.req("PUT", "queues/%2F/mw.q3", {"auto_delete": True, "arguments": {"x-queue-type": "quorum"}}),
           err(400, "bad_request", "invalid property 'auto-delete' for queue 'mw.q3' in vhost '/'"))
    expect("q put amq. prefix", api.req("PUT", "queues/%2F/amq.mw", {}), err(401, "not_authorised", "Access refused."))
    expect("q put no vhost", api.req("PUT", "queues/mw-novhost/q", {}), err(404, "not_found", "vhost_not_found"))
    expect("q put with args", api.req("PUT", "queues/%2F/mw.q4", {"durable": True, "arguments": {"x-max-length": 2}}),
           201)
    check("q exists via amqp", exists(port, "queue", "mw.q4"))
    c = amqp(port)
    ch = c.channel()
    for i in range(3):
        ch.basic_publish("", "mw.q4", b"m%d" % i)
    c.close()
    check("q x-max-length applied", queue_count(port, "mw.q4") == 2)
    expect("q delete if-empty", api.req("DELETE", "queues/%2F/mw.q4?if-empty=true"),
           err(400, "bad_request", "queue 'mw.q4' in vhost '/' not empty"))
    expect("q purge", api.req("DELETE", "queues/%2F/mw.q4/contents"), 204)
    check("q purged", queue_count(port, "mw.q4") == 0)
    expect("q purge no queue", api.req("DELETE", "queues/%2F/mw.nosuch/contents"), err(404, "Object Not Found", "Not Found"))
    c = amqp(port)
    ch = c.channel()
    ch.basic_consume("mw.q4", lambda *a: None)
    expect("q delete if-unused", api.req("DELETE", "queues/%2F/mw.q4?if-unused=true"),
           err(400, "bad_request", "queue 'mw.q4' in vhost '/' in use"))
    c.close()
    expect("q delete if-empty empty", api.req("DELETE", "queues/%2F/mw.q4?if-empty=true&if-unused=true"), 204)
    expect("q delete nosuch", api.req("DELETE", "queues/%2F/mw.nosuch"), err(404, "Object Not Found", "Not Found"))
    expect("q delete no vhost", api.req("DELETE", "queues/mw-novhost/q"), err(404, "Object Not Found", "Not Found"))
    expect("q delete", api.req("DELETE", "queues/%2F/mw.qq"), 204)
    check("q gone via amqp", not exists(port, "queue", "mw.qq"))
    expect("q actions sync", api.req("POST", "queues/%2F/mw.q1/actions", {"action": "sync"}), 204)
    expect("q actions unknown", api.req("POST", "queues/%2F/mw.q1/actions", {"action": "zz"}),
           err(400, "bad_request", ["unknown", "zz"]))
    expect("q actions key missing", api.req("POST", "queues/%2F/mw.q1/actions", {}),
           err(400, "bad_request", "[{key_missing,action}]"))
    api.req("DELETE", "queues/%2F/mw.q1")


PROPS = {"delivery_mode": 2, "headers": {"a": 1, "b": "x", "c": [1, "y"], "d": {"e": True}},
         "content_type": "text/plain", "priority": 3, "message_id": "m1", "timestamp": 1700000000,
         "expiration": "60000", "correlation_id": "c1", "app_id": "app", "type": "t"}


def pub(api, x, rk, payload, enc="string", props=None):
    return api.req("POST", "exchanges/%%2F/%s/publish" % x,
                   {"routing_key": rk, "payload": payload, "payload_encoding": enc, "properties": props or {}})


def test_publish_get(api, port):
    api.req("PUT", "queues/%2F/mw.pq", {"durable": True})
    expect("publish routed", pub(api, "amq.default", "mw.pq", "hello", props=PROPS), (200, {"routed": True}))
    expect("publish not routed", pub(api, "amq.default", "mw.nosuch", "hello"), (200, {"routed": False}))
    expect("publish base64", pub(api, "amq.default", "mw.pq", base64.b64encode(b"\xff\x00hi").decode(), "base64"),
           (200, {"routed": True}))
    expect("publish key missing", api.req("POST", "exchanges/%2F/amq.default/publish",
                                          {"routing_key": "q", "payload": "x", "payload_encoding": "string"}),
           err(400, "bad_request", "[{key_missing,properties}]"))
    expect("publish bad encoding", pub(api, "amq.default", "mw.pq", "x", "zzz"),
           err(400, "bad_request", ["unsupported_encoding", "zzz"]))
    expect("publish not base64", pub(api, "amq.default", "mw.pq", "!!!", "base64"),
           err(400, "bad_request", ["not_base64", "!!!"]))
    expect("publish payload not string", api.req("POST", "exchanges/%2F/amq.default/publish",
                                                  {"routing_key": "q", "payload": 5, "payload_encoding": "string",
                                                   "properties": {}}),
           err(400, "bad_request", "payload_not_string"))
    expect("publish no exchange", pub(api, "mw.nosuch", "q", "x"),
           err(400, "bad_request", "404 NOT_FOUND - no exchange 'mw.nosuch' in vhost '/'"))
    expect("publish bad expiration", pub(api, "amq.default", "mw.pq", "x", props={"expiration": "bad"}),
           err(400, "bad_request", "406 PRECONDITION_FAILED - invalid expiration 'bad': no_integer"))
    # what an AMQP client gets
    c = amqp(port)
    ch = c.channel()
    m, p, body = ch.basic_get("mw.pq", auto_ack=False)
    check("publish amqp body", body == b"hello", repr(body))
    check("publish amqp props", p.delivery_mode == 2 and p.headers == {"a": 1, "b": b"x" if isinstance(
        p.headers.get("b"), bytes) else "x", "c": p.headers.get("c"), "d": {"e": True}} and p.priority == 3 and
        p.message_id == "m1" and p.timestamp == 1700000000 and p.content_type == "text/plain" and
        p.expiration == "60000", repr(p))
    ch.basic_nack(m.delivery_tag, requeue=True)
    c.close()
    # get: ack_requeue_true leaves them, redelivered next time
    st, rows, _ = api.req("POST", "queues/%2F/mw.pq/get",
                          {"count": 10, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 3})
    check("get status", st == 200 and isinstance(rows, list) and len(rows) == 2, repr(rows))
    if st == 200 and len(rows) == 2:
        r0, r1 = rows
        check("get row fields", set(r0) == {"payload_bytes", "redelivered", "exchange", "routing_key", "message_count",
                                            "properties", "payload", "payload_encoding"}, repr(r0))
        check("get truncate", r0["payload"] == "hel" and r0["payload_bytes"] == 5 and r0["payload_encoding"] == "string",
              repr(r0))
        check("get message_count", r0["message_count"] == 1 and r1["message_count"] == 0, repr(rows))
        check("get exchange rk", r0["exchange"] == "" and r0["routing_key"] == "mw.pq", repr(r0))
        check("get properties", r0["properties"] == PROPS, repr(r0["properties"]))
        check("get auto base64", r1["payload_encoding"] == "base64" and
              base64.b64decode(r1["payload"]) == b"\xff\x00h" and r1["properties"] == [], repr(r1))
    st, rows, _ = api.req("POST", "queues/%2F/mw.pq/get", {"count": 1, "ackmode": "ack_requeue_true", "encoding": "base64"})
    check("get requeued redelivered", st == 200 and len(rows) == 1 and rows[0]["redelivered"] is True and
          rows[0]["payload"] == base64.b64encode(b"hello").decode() and rows[0]["payload_encoding"] == "base64",
          repr(rows))
    check("get ack_requeue_true keeps", queue_count(port, "mw.pq") == 2)
    st, rows, _ = api.req("POST", "queues/%2F/mw.pq/get", {"count": 1, "ackmode": "reject_requeue_true", "encoding": "auto"})
    check("get reject_requeue_true keeps", st == 200 and len(rows) == 1 and queue_count(port, "mw.pq") == 2, repr(rows))
    st, rows, _ = api.req("POST", "queues/%2F/mw.pq/get", {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"})
    check("get ack_requeue_false removes", st == 200 and len(rows) == 1 and queue_count(port, "mw.pq") == 1, repr(rows))
    st, rows, _ = api.req("POST", "queues/%2F/mw.pq/get", {"count": "5", "ackmode": "reject_requeue_false",
                                                          "encoding": "auto"})
    check("get reject_requeue_false removes", st == 200 and len(rows) == 1 and queue_count(port, "mw.pq") == 0,
          repr(rows))
    expect("get empty", api.req("POST", "queues/%2F/mw.pq/get", {"count": 1, "ackmode": "ack_requeue_true",
                                                                 "encoding": "auto"}), (200, []))
    expect("get key missing", api.req("POST", "queues/%2F/mw.pq/get", {"count": 1, "ackmode": "ack_requeue_true"}),
           err(400, "bad_request", "[{key_missing,encoding}]"))
    expect("get bad encoding", api.req("POST", "queues/%2F/mw.pq/get", {"count": 1, "ackmode": "ack_requeue_true",
                                                                        "encoding": "x"}),
           err(400, "bad_request", "Unsupported encoding. Please use auto or base64."))
    expect("get no queue", api.req("POST", "queues/%2F/mw.nosuch/get", {"count": 1, "ackmode": "ack_requeue_true",
                                                                        "encoding": "auto"}),
           err(404, "not_found", "NOT_FOUND - no queue 'mw.nosuch' in vhost '/'"))
    # reject_requeue_false dead-letters
    api.req("PUT", "queues/%2F/mw.dlq", {})
    api.req("PUT", "queues/%2F/mw.src", {"arguments": {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "mw.dlq"}})
    pub(api, "amq.default", "mw.src", "dead")
    api.req("POST", "queues/%2F/mw.src/get", {"count": 1, "ackmode": "reject_requeue_false", "encoding": "auto"})
    check("get reject dead-letters", queue_count(port, "mw.dlq") == 1 and queue_count(port, "mw.src") == 0)
    for n in ("mw.pq", "mw.dlq", "mw.src"):
        api.req("DELETE", "queues/%2F/" + n)


def test_bindings(api, port):
    api.req("PUT", "queues/%2F/mw.bq", {})
    api.req("PUT", "exchanges/%2F/mw.bx", {"type": "fanout"})
    st, body, hdr = api.req("POST", "bindings/%2F/e/amq.direct/q/mw.bq", {"routing_key": "a b~c/d", "arguments": {}})
    loc = {k.lower(): v for k, v in hdr.items()}.get("location")
    check("binding post 201 location", st == 201 and loc == "mw.bq/a%2Bb%257Ec%252Fd", "%s %r" % (st, loc))
    st, hdr_body, hdr = api.req("POST", "bindings/%2F/e/amq.fanout/e/mw.bx", {})
    loc = {k.lower(): v for k, v in hdr.items()}.get("location")
    check("binding e2e location", st == 201 and loc == "mw.bx/~", "%s %r" % (st, loc))
    st, body, hdr = api.req("POST", "bindings/%2F/e/amq.headers/q/mw.bq", {"routing_key": "", "arguments":
                                                                         {"x-match": "any", "k": 1}})
    loc = {k.lower(): v for k, v in hdr.items()}.get("location") or ""
    check("binding args location", st == 201 and loc.startswith("mw.bq/~") and len(loc) == len("mw.bq/~") + 6, loc)
    want = {"source": "amq.direct", "vhost": "/", "destination": "mw.bq", "destination_type": "queue",
            "routing_key": "a b~c/d", "arguments": {}, "properties_key": "a+b%7Ec%2Fd"}
    expect("binding list", api.req("GET", "bindings/%2F/e/amq.direct/q/mw.bq"), (200, [want]))
    expect("binding get props", api.req("GET", "bindings/%2F/e/amq.direct/q/mw.bq/" + q("a+b%7Ec%2Fd")), (200, want))
    expect("binding get e2e", api.req("GET", "bindings/%2F/e/amq.fanout/e/mw.bx/~"),
           (200, {"source": "amq.fanout", "vhost": "/", "destination": "mw.bx", "destination_type": "exchange",
                  "routing_key": "", "arguments": {}, "properties_key": "~"}))
    st, rows, _ = api.req("GET", "bindings/%2F/e/amq.headers/q/mw.bq")
    pk = rows[0]["properties_key"] if st == 200 and rows else "?"
    check("binding args listed", st == 200 and len(rows) == 1 and rows[0]["arguments"] == {"x-match": "any", "k": 1}
          and pk.startswith("~"), repr(rows))
    st, allrows, _ = api.req("GET", "bindings/%2F")
    mine = [r for r in allrows or [] if r.get("source") == "amq.headers" and r.get("destination") == "mw.bq"]
    check("binding same key in /api/bindings", st == 200 and len(mine) == 1 and mine[0]["properties_key"] == pk,
          repr(mine))
    expect("binding default list", api.req("GET", "bindings/%2F/e/amq.default/q/mw.bq"),
           (200, [{"source": "", "vhost": "/", "destination": "mw.bq", "destination_type": "queue",
                   "routing_key": "mw.bq", "arguments": {}, "properties_key": "mw.bq"}]))
    expect("binding get missing", api.req("GET", "bindings/%2F/e/amq.direct/q/mw.bq/zzz"),
           err(404, "Object Not Found", "Not Found"))
    expect("binding no exchange", api.req("POST", "bindings/%2F/e/mw.nosuch/q/mw.bq", {}),
           err(404, "not_found", "no exchange 'mw.nosuch' in vhost '/'"))
    expect("binding no queue", api.req("POST", "bindings/%2F/e/amq.direct/q/mw.nosuch", {}),
           err(404, "not_found", "no queue 'mw.nosuch' in vhost '/'"))
    expect("binding no vhost", api.req("POST", "bindings/mw-novhost/e/amq.direct/q/x", {}),
           err(404, "not_found", "vhost_not_found"))
    expect("binding default exchange", api.req("POST", "bindings/%2F/e/amq.default/q/mw.bq", {"routing_key": "zz"}),
           err(401, "not_authorised", "Access refused."))
    # routing works through the binding
    pub(api, "amq.direct", "a b~c/d", "via binding")
    check("binding routes", queue_count(port, "mw.bq") == 1)
    expect("binding delete", api.req("DELETE", "bindings/%2F/e/amq.direct/q/mw.bq/" + q("a+b%7Ec%2Fd")), 204)
    expect("binding delete again", api.req("DELETE", "bindings/%2F/e/amq.direct/q/mw.bq/" + q("a+b%7Ec%2Fd")),
           err(404, "Object Not Found", "Not Found"))
    expect("binding delete args", api.req("DELETE", "bindings/%2F/e/amq.headers/q/mw.bq/" + q(pk)), 204)
    expect("binding delete e2e", api.req("DELETE", "bindings/%2F/e/amq.fanout/e/mw.bx/~"), 204)
    expect("binding list empty", api.req("GET", "bindings/%2F/e/amq.direct/q/mw.bq"), (200, []))
    api.req("DELETE", "queues/%2F/mw.bq")
    api.req("DELETE", "exchanges/%2F/mw.bx")


def sha256_hash(password, salt=b"\x01\x02\x03\x04"):
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def can_login(port, user, password, vhost="/"):
    try:
        amqp(port, user, password, vhost).close()
        return True
    except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.ProbableAccessDeniedError,
            pika.exceptions.AMQPConnectionError):
        return False


def test_vhosts_users_permissions(api, port):
    expect("vhost put", api.req("PUT", "vhosts/mw-v1", {"description": "d", "tags": "a,b",
                                                         "default_queue_type": "quorum"}), 201)
    expect("vhost put again", api.req("PUT", "vhosts/mw-v1", {}), 204)
    check("vhost creator can use it", can_login(port, "guest", "guest", "mw-v1"))
    expect("user put", api.req("PUT", "users/mw-u1", {"password": "p1", "tags": "management,policymaker"}), 201)
    expect("user put again (list tags)", api.req("PUT", "users/mw-u1", {"password": "p2", "tags": ["management"]}), 204)
    expect("user put hash", api.req("PUT", "users/mw-u2", {"password_hash": sha256_hash("secret"),
                                                            "hashing_algorithm": "rabbit_password_hashing_sha256",
                                                            "tags": ""}), 201)
    expect("user put no password", api.req("PUT", "users/mw-u3", {"tags": ""}), 201)
    expect("user put not base64", api.req("PUT", "users/mw-u5", {"password_hash": "zzz", "tags": ""}),
           err(400, "bad_request", ["not_base64", "zzz"]))
    expect("user put no tags", api.req("PUT", "users/mw-u6", {"password": "x"}),
           err(400, "bad_request", "tags_not_present"))
    expect("perm put", api.req("PUT", "permissions/%2F/mw-u2", {"configure": ".*", "write": ".*", "read": ".*"}), 201)
    expect("perm put again", api.req("PUT", "permissions/%2F/mw-u2", {"configure": "", "write": ".*", "read": ".*"}), 204)
    check("user by hash logs in", can_login(port, "mw-u2", "secret"))
    check("user by hash wrong password", not can_login(port, "mw-u2", "nope"))
    expect("perm put key missing", api.req("PUT", "permissions/%2F/mw-u1", {"configure": ".*", "write": ".*"}),
           err(400, "bad_request", "[{key_missing,read}]"))
    expect("perm put no user", api.req("PUT", "permissions/%2F/mw-nosuch", {"configure": ".*", "write": ".*",
                                                                              "read": ".*"}),
           err(400, "bad_request", "vhost_or_user_not_found"))
    expect("perm put no vhost", api.req("PUT", "permissions/mw-novhost/mw-u1", {"configure": ".*", "write": ".*",
                                                                                  "read": ".*"}),
           err(400, "bad_request", "vhost_or_user_not_found"))
    # a management user: its own vhosts only, AMQP permissions apply
    expect("perm put u1", api.req("PUT", "permissions/mw-v1/mw-u1", {"configure": "^mine", "write": ".*", "read": ".*"}),
           201)
    u1 = api.as_user("mw-u1", "p2")
    check("user password changed", can_login(port, "mw-u1", "p2", "mw-v1") and not can_login(port, "mw-u1", "p1", "mw-v1"))
    expect("mgmt user other vhost", u1.req("PUT", "queues/%2F/mine.q", {}),
           err(401, "not_authorised", "User not authorised to access virtual host"))
    expect("mgmt user configure ok", u1.req("PUT", "queues/mw-v1/mine.q", {}), 201)
    expect("mgmt user configure refused", u1.req("PUT", "queues/mw-v1/other.q", {}),
           err(401, "not_authorised", "Access refused."))
    expect("mgmt user not admin", u1.req("PUT", "vhosts/mw-v2", {}), err(401, "not_authorised", "Not administrator user"))
    expect("mgmt user no perms publish", api.as_user("mw-u2", "secret").req(
        "PUT", "queues/%2F/x", {}), err(401, "not_authorised", "Not management user"))
    expect("perm delete", api.req("DELETE", "permissions/mw-v1/mw-u1"), 204)
    expect("perm delete again", api.req("DELETE", "permissions/mw-v1/mw-u1"), err(404, "Object Not Found", "Not Found"))
    expect("user delete nosuch", api.req("DELETE", "users/mw-nosuch"), err(404, "Object Not Found", "Not Found"))
    expect("users bulk-delete missing", api.req("POST", "users/bulk-delete", {"users": ["mw-u3", "mw-nosuch"]}),
           err(400, "bad_request", ["no_such_user", "mw-nosuch"]))
    check("users bulk-delete deleted the first", api.req("DELETE", "users/mw-u3")[0] == 404)
    expect("users bulk-delete key missing", api.req("POST", "users/bulk-delete", {}),
           err(400, "bad_request", "[{key_missing,users}]"))
    api.req("PUT", "users/mw-u4", {"password": "x", "tags": ""})
    expect("users bulk-delete", api.req("POST", "users/bulk-delete", {"users": ["mw-u4", "mw-u2"]}), 204)
    check("bulk-deleted cannot log in", not can_login(port, "mw-u2", "secret"))
    expect("user delete", api.req("DELETE", "users/mw-u1"), 204)
    expect("vhost delete", api.req("DELETE", "vhosts/mw-v1"), 204)
    expect("vhost delete again", api.req("DELETE", "vhosts/mw-v1"), err(404, "Object Not Found", "Not Found"))


def test_policies(api, port):
    expect("policy put", api.req("PUT", "policies/%2F/mw-p1", {"pattern": "^mw\\.pol", "definition": {"max-length": 1},
                                                               "priority": 1, "apply-to": "queues"}), 201)
    expect("policy put again", api.req("PUT", "policies/%2F/mw-p1", {"pattern": "^mw\\.pol",
                                                                     "definition": {"max-length": 1}}), 204)
    api.req("PUT", "queues/%2F/mw.pol1", {})
    pub(api, "amq.default", "mw.pol1", "a")
    pub(api, "amq.default", "mw.pol1", "b")
    check("policy applies", queue_count(port, "mw.pol1") == 1)
    expect("policy bad value", api.req("PUT", "policies/%2F/mw-p2", {"pattern": "^q", "definition": {"max-length": "x"}}),
           err(400, "bad_request", "Validation failed\n\n&lt;&lt;\"x\"&gt;&gt; is not a valid maximum length\n"))
    expect("policy unknown key", api.req("PUT", "policies/%2F/mw-p2", {"pattern": "^q", "definition": {"bogus": 1}}),
           err(400, "bad_request", "Validation failed\n\n[{&lt;&lt;\"bogus\"&gt;&gt;,1}] are not recognised policy "
                                   "settings\n"))
    expect("policy no pattern", api.req("PUT", "policies/%2F/mw-p2", {"definition": {"max-length": 1}}),
           err(400, "bad_request", "[{key_missing,pattern}]"))
    expect("policy bad apply-to", api.req("PUT", "policies/%2F/mw-p2", {"pattern": "^q", "definition": {"max-length": 1},
                                                                        "apply-to": "zz"}),
           err(400, "bad_request", "Validation failed\n\napply-to 'zz' unrecognised; should be 'queues', 'exchanges' "
                                   "or 'all'\n"))
    expect("policy priority string", api.req("PUT", "policies/%2F/mw-p2", {"pattern": "^q", "definition":
                                                                           {"max-length": 1}, "priority": "5"}),
           err(400, "bad_request", "Validation failed\n\npriority should be a number, actually was "
                                   "&lt;&lt;\"5\"&gt;&gt;\n"))
    expect("policy no vhost", api.req("PUT", "policies/mw-novhost/p", {"pattern": "^q", "definition": {"max-length": 1}}),
           err(404, "not_found", "vhost_not_found"))
    expect("policy delete", api.req("DELETE", "policies/%2F/mw-p1"), 204)
    expect("policy delete again", api.req("DELETE", "policies/%2F/mw-p1"), err(404, "Object Not Found", "Not Found"))
    expect("op policy put", api.req("PUT", "operator-policies/%2F/mw-op1", {"pattern": "^mw", "definition":
                                                                           {"max-length": 10}, "priority": 1,
                                                                           "apply-to": "queues"}), 201)
    expect("op policy refused key", api.req("PUT", "operator-policies/%2F/mw-op1", {"pattern": "^q", "definition":
                                                                                   {"dead-letter-exchange": "x"}}),
           err(400, "bad_request", "Validation failed\n\n[{<<\"dead-letter-exchange\">>,<<\"x\">>}] are not recognised "
                                   "policy settings\n"))
    expect("op policy delete", api.req("DELETE", "operator-policies/%2F/mw-op1"), 204)
    expect("op policy delete again", api.req("DELETE", "operator-policies/%2F/mw-op1"),
           err(404, "Object Not Found", "Not Found"))
    api.req("DELETE", "queues/%2F/mw.pol1")


def test_connections(api, port):
    c = amqp(port)
    sock = c._impl._transport._sock
    local = sock.getsockname()
    name = "%s:%d -> 127.0.0.1:%d" % (local[0], local[1], port)
    expect("conn delete nosuch", api.req("DELETE", "connections/" + q("127.0.0.1:1 -> 127.0.0.1:2")),
           err(404, "Object Not Found", "Not Found"))
    deadline = time.time() + 5
    st = None
    while time.time() < deadline:  # the reference lists a connection a moment after it opens
        st = api.req("DELETE", "connections/" + q(name), headers={"X-Reason": "mw maintenance"})[0]
        if st != 404:
            break
        time.sleep(0.2)
    check("conn delete", st == 204, "status %s for %r" % (st, name))
    got = None
    try:
        t0 = time.time()
        while time.time() - t0 < 5:
            c.process_data_events(0.2)
    except pika.exceptions.ConnectionClosedByBroker as e:
        got = (e.reply_code, e.reply_text)
    check("conn closed 320 with reason", got == (320, "CONNECTION_FORCED - mw maintenance"), repr(got))


def test_definitions(api, port):
    st, d, _ = api.req("GET", "definitions")
    check("defs get", st == 200 and {"users", "vhosts", "permissions", "queues", "exchanges", "bindings",
                                      "policies"} <= set(d or {}), repr(d)[:200])
    doc = {"queues": [{"name": "mw.dq", "vhost": "/", "durable": True, "auto_delete": False, "arguments": {}}],
           "exchanges": [{"name": "mw.dx", "vhost": "/", "type": "topic", "durable": True, "auto_delete": False,
                          "internal": False, "arguments": {}}],
           "bindings": [{"source": "mw.dx", "vhost": "/", "destination": "mw.dq", "destination_type": "queue",
                         "routing_key": "k.#", "arguments": {}}]}
    expect("defs post", api.req("POST", "definitions", doc), 204)
    check("defs imported queue", exists(port, "queue", "mw.dq"))
    check("defs imported exchange", exists(port, "exchange", "mw.dx"))
    expect("defs post vhost", api.req("POST", "definitions/%2F", {"queues": [{"name": "mw.dq2", "durable": True,
                                                                              "auto_delete": False, "arguments": {}}]}),
           204)
    check("defs vhost imported", exists(port, "queue", "mw.dq2"))
    expect("defs post no vhost", api.req("POST", "definitions/mw-novhost", {"queues": []}),
           err(404, "not_found", "vhost_not_found"))
    expect("defs post not an object", api.req("POST", "definitions", [1]), err(400, "bad_request", "failed_to_parse_json"))
    st, d, _ = api.req("GET", "definitions/%2F")
    check("defs get vhost keys", st == 200 and set(d) == {"rabbit_version", "parameters", "policies", "queues",
                                                          "exchanges", "bindings"}, repr(d)[:300])
    if st == 200:
        qs = {x["name"]: x for x in d["queues"]}
        check("defs get vhost items", "mw.dq" in qs and "vhost" not in qs["mw.dq"] and any(
            b["source"] == "mw.dx" and b["routing_key"] == "k.#" for b in d["bindings"]), repr(d)[:300])
    expect("defs get no vhost", api.req("GET", "definitions/mw-novhost"), err(400, "bad_request", "vhost_not_found"))
    for n in ("mw.dq", "mw.dq2"):
        api.req("DELETE", "queues/%2F/" + n)
    api.req("DELETE", "exchanges/%2F/mw.dx")


def test_aliveness(api, port):
    expect("aliveness", api.req("GET", "aliveness-test/%2F"), (200, {"status": "ok"}))
    expect("aliveness twice", api.req("GET", "aliveness-test/%2F"), (200, {"status": "ok"}))
    expect("aliveness no vhost", api.req("GET", "aliveness-test/mw-novhost"), err(404, "Object Not Found", "Not Found"))
    api.req("DELETE", "queues/%2F/aliveness-test")


def test_durable(binary):
    """Warren only: what the API changed survives kill -9 (answered once on disk)."""
    mport = free_port()
    cfg = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    cfg.write("management.tcp.port = %d\nmanagement.tcp.ip = 127.0.0.1\n" % mport)
    cfg.close()
    b = Broker(binary)
    b.binary_args += ["--config", cfg.name]
    try:
        b.start()
        api = Api(mport)
        wait_http(api)
        api.req("PUT", "vhosts/mw-dur", {})
        api.req("PUT", "users/mw-dur", {"password": "pw", "tags": "management"})
        api.req("PUT", "permissions/mw-dur/mw-dur", {"configure": ".*", "write": ".*", "read": ".*"})
        api.req("PUT", "exchanges/mw-dur/dx", {"type": "topic", "durable": True})
        api.req("PUT", "queues/mw-dur/dq", {"durable": True})
        api.req("POST", "bindings/mw-dur/e/dx/q/dq", {"routing_key": "a.*"})
        api.req("PUT", "policies/mw-dur/dp", {"pattern": "^dq$", "definition": {"max-length": 5}})
        st, body, _ = api.req("POST", "exchanges/mw-dur/dx/publish", {"routing_key": "a.b", "payload": "kept",
                                                                      "payload_encoding": "string",
                                                                      "properties": {"delivery_mode": 2}})
        check("durable publish routed", st == 200 and body == {"routed": True}, repr(body))
        b.kill9()
        b.start()
        wait_http(api)
        check("durable user", can_login(b.port, "mw-dur", "pw", "mw-dur"))
        c = amqp(b.port, "mw-dur", "pw", "mw-dur")
        ch = c.channel()
        ch.exchange_declare("dx", "topic", passive=True)
        m, p, body = ch.basic_get("dq", auto_ack=True)
        check("durable message and binding", body == b"kept", repr(body))
        ch.basic_publish("dx", "a.z", b"routed after restart")
        check("durable binding routes", ch.queue_declare("dq", passive=True).method.message_count == 1)
        c.close()
        st, d, _ = api.req("GET", "definitions/mw-dur")
        check("durable policy", st == 200 and any(p["name"] == "dp" for p in d.get("policies", [])), repr(d)[:200])
        b.stop()
    finally:
        b.cleanup()
        os.unlink(cfg.name)


def wait_http(api, timeout=15):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if api.req("GET", "whoami")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("no management listener on %d" % api.port)


def run_all(api, port):
    for t in (test_exchanges, test_queues, test_publish_get, test_bindings, test_vhosts_users_permissions,
              test_policies, test_connections, test_definitions, test_aliveness):
        try:
            t(api, port)
        except Exception as e:  # a crash in one group must not hide the others
            check(t.__name__ + " raised", False, repr(e))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--reference":
        port, mport = int(sys.argv[2]), int(sys.argv[3])
        api = Api(mport)
        wait_http(api)
        run_all(api, port)
    elif len(sys.argv) == 2:
        binary = sys.argv[1]
        mport = free_port()
        cfg = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        cfg.write("management.tcp.port = %d\nmanagement.tcp.ip = 127.0.0.1\n" % mport)
        cfg.close()
        b = Broker(binary)
        b.binary_args += ["--config", cfg.name]
        try:
            b.start()
            api = Api(mport)
            wait_http(api)
            run_all(api, b.port)
            b.stop()
        finally:
            b.cleanup()
            os.unlink(cfg.name)
        test_durable(binary)
    else:
        print(__doc__)
        sys.exit(64)
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
