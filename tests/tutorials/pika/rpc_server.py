#!/usr/bin/env python3
"""Tutorial 6 (RPC): serve fibonacci requests from 'rpc_queue', replying to each
request's reply_to queue with the request's correlation_id.

Unattended use: exits after TUT_EXPECT requests (if set) or after TUT_TIMEOUT
seconds (default 30)."""
import os
import sys

import pika


def fib(n):
    if n == 0:
        return 0
    elif n == 1:
        return 1
    else:
        return fib(n - 1) + fib(n - 2)


def main():
    connection = pika.BlockingConnection(pika.ConnectionParameters(
        host=os.environ.get('AMQP_HOST', 'localhost'),
        port=int(os.environ.get('AMQP_PORT', '5672'))))
    channel = connection.channel()

    channel.queue_declare(queue='rpc_queue')

    expect = int(os.environ.get('TUT_EXPECT', '0'))
    served = 0

    def on_request(ch, method, props, body):
        nonlocal served
        n = int(body)

        print(f" [.] fib({n})")
        response = fib(n)

        ch.basic_publish(exchange='',
                         routing_key=props.reply_to,
                         properties=pika.BasicProperties(correlation_id=props.correlation_id),
                         body=str(response))
        ch.basic_ack(delivery_tag=method.delivery_tag)
        served += 1
        if served == expect:
            ch.stop_consuming()

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue='rpc_queue', on_message_callback=on_request)
    connection.call_later(float(os.environ.get('TUT_TIMEOUT', '30')), channel.stop_consuming)

    print(" [x] Awaiting RPC requests")
    channel.start_consuming()
    connection.close()
    return 0 if served >= expect else 1


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print('Interrupted')
        sys.exit(0)
