#!/usr/bin/python3
"""AMQP smoke client for tests/docker/run.sh (pika; run with /usr/bin/python3).

  client.py PORT USER PASS ok       declare a queue, publish, consume: exit 0 if the
                                    message comes back intact
  client.py PORT USER PASS refused  exit 0 only if the login is refused
                                    (ACCESS_REFUSED); any other outcome exits 1
"""
import sys
import time
import uuid

import pika
import pika.exceptions as pe


def params(port, user, password):
    return pika.ConnectionParameters(
        host="127.0.0.1", port=port, virtual_host="/",
        credentials=pika.PlainCredentials(user, password),
        connection_attempts=1, socket_timeout=5, blocked_connection_timeout=5)


def roundtrip(port, user, password):
    conn = pika.BlockingConnection(params(port, user, password))
    ch = conn.channel()
    q = "docker-smoke-" + uuid.uuid4().hex[:8]
    ok = ch.queue_declare(queue=q, durable=True)
    if ok.method.queue != q:
        raise SystemExit(f"FAIL: declared {q!r}, broker answered {ok.method.queue!r}")
    body = ("hello from the host " + uuid.uuid4().hex).encode()
    ch.confirm_delivery()
    ch.basic_publish(exchange="", routing_key=q, body=body,
                     properties=pika.BasicProperties(delivery_mode=2, content_type="text/plain"))
    got = None
    deadline = time.monotonic() + 5
    for method, props, msg in ch.consume(q, inactivity_timeout=1):
        if method is not None:
            ch.basic_ack(method.delivery_tag)
            got = (msg, props.content_type)
            break
        if time.monotonic() > deadline:
            break
    ch.cancel()
    ch.queue_delete(queue=q)
    conn.close()
    if got != (body, "text/plain"):
        raise SystemExit(f"FAIL: published {body!r}, consumed {got!r}")
    print(f"ok: {user} declared {q}, published and consumed {len(body)} bytes")


def refused(port, user, password):
    try:
        conn = pika.BlockingConnection(params(port, user, password))
    except pe.ProbableAuthenticationError as e:
        # RabbitMQ (and Warren) answer Connection.Close 403 ACCESS_REFUSED
        if "ACCESS_REFUSED" not in str(e):
            raise SystemExit(f"FAIL: {user}/{password}: dropped without ACCESS_REFUSED: {e!r}")
        print(f"ok: {user}/{password} refused: {e}")
        return
    except pe.AMQPConnectionError as e:
        raise SystemExit(f"FAIL: {user}/{password}: connection failed but not an auth refusal: {e!r}")
    conn.close()
    raise SystemExit(f"FAIL: {user}/{password} was accepted, expected a refusal")


def main():
    if len(sys.argv) != 5 or sys.argv[4] not in ("ok", "refused"):
        raise SystemExit(__doc__)
    port, user, password, want = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    (roundtrip if want == "ok" else refused)(port, user, password)


if __name__ == "__main__":
    main()
