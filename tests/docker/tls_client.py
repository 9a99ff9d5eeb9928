#!/usr/bin/python3
"""amqps client for tests/docker/run.sh (pika over TLS, the server certificate
checked against the test CA for the name localhost).

  tls_client.py defs USER PASS > definitions.json   write a definitions file with
                                     USER (RabbitMQ's SHA-256 hash of PASS), vhost
                                     defvh, full permissions there, durable queue
                                     durable-q
  tls_client.py PORT CA USER PASS VHOST publish QUEUE BODY   persistent, confirmed
  tls_client.py PORT CA USER PASS VHOST expect QUEUE BODY    the queue holds exactly
                                     that one message (it is left in place)
"""
import base64
import hashlib
import json
import os
import ssl
import sys

import pika


def defs(user, password):
    salt = os.urandom(4)
    h = base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()
    print(json.dumps({
        "users": [{"name": user, "password_hash": h, "hashing_algorithm": "rabbit_password_hashing_sha256",
                   "tags": ["administrator"], "limits": {}}],
        "vhosts": [{"name": "defvh", "limits": {}}],
        "permissions": [{"user": user, "vhost": "defvh", "configure": ".*", "write": ".*", "read": ".*"}],
        "queues": [{"name": "durable-q", "vhost": "defvh", "durable": True, "auto_delete": False, "arguments": {}}],
        "exchanges": [], "bindings": []}, indent=2))


def main():
    if sys.argv[1] == "defs":
        return defs(sys.argv[2], sys.argv[3])
    port, ca, user, password, vhost, action, queue, body = sys.argv[1:9]
    ctx = ssl.create_default_context(cafile=ca)
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", int(port), vhost, pika.PlainCredentials(user, password),
        ssl_options=pika.SSLOptions(ctx, server_hostname="localhost"), connection_attempts=1, socket_timeout=5))
    ch = conn.channel()
    version = conn._impl._transport._sock.version()  # the negotiated TLS version
    if action == "publish":
        ch.confirm_delivery()
        ch.basic_publish("", queue, body.encode(), pika.BasicProperties(delivery_mode=2), mandatory=True)
        print("ok: %s published a persistent message to %s over %s" % (user, queue, version))
    else:
        n = ch.queue_declare(queue, passive=True).method.message_count
        m = ch.basic_get(queue, auto_ack=False)
        ch.basic_nack(m[0].delivery_tag, requeue=True) if m[0] else None
        if n != 1 or m[2] != body.encode():
            raise SystemExit("FAIL: %s holds %d message(s), first %r; want 1, %r" % (queue, n, m[2], body))
        print("ok: %s holds its message over %s" % (queue, version))
    conn.close()


if __name__ == "__main__":
    main()
