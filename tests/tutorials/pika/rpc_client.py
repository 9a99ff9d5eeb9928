#!/usr/bin/env python3
"""Tutorial 6 (RPC): call the fibonacci server through 'rpc_queue', receiving
replies on an exclusive server-named callback queue matched by correlation_id.

Arguments: the numbers to request (default: 30). Each call gives up after
TUT_TIMEOUT seconds (default 30)."""
import os
import sys
import time
import uuid

import pika


class FibonacciRpcClient(object):

    def __init__(self):
        self.connection = pika.BlockingConnection(pika.ConnectionParameters(
            host=os.environ.get('AMQP_HOST', 'localhost'),
            port=int(os.environ.get('AMQP_PORT', '5672'))))

        self.channel = self.connection.channel()

        result = self.channel.queue_declare(queue='', exclusive=True)
        self.callback_queue = result.method.queue

        self.channel.basic_consume(
            queue=self.callback_queue,
            on_message_callback=self.on_response,
            auto_ack=True)

        self.response = None
        self.corr_id = None
        self.timeout = float(os.environ.get('TUT_TIMEOUT', '30'))

    def on_response(self, ch, method, props, body):
        if self.corr_id == props.correlation_id:
            self.response = body

    def call(self, n):
        self.response = None
        self.corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange='',
            routing_key='rpc_queue',
            properties=pika.BasicProperties(
                reply_to=self.callback_queue,
                correlation_id=self.corr_id,
            ),
            body=str(n))
        deadline = time.monotonic() + self.timeout
        while self.response is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply to fib({n}) within {self.timeout}s")
            self.connection.process_data_events(time_limit=left)
        return int(self.response)


fibonacci_rpc = FibonacciRpcClient()

for n in [int(arg) for arg in sys.argv[1:]] or [30]:
    print(f" [x] Requesting fib({n})")
    response = fibonacci_rpc.call(n)
    print(f" [.] Got {response}")

fibonacci_rpc.connection.close()
