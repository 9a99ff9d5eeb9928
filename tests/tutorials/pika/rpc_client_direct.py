#!/usr/bin/env python3
"""Tutorial 6, direct reply-to variant: call the fibonacci server through
'rpc_queue', receiving replies on the pseudo-queue 'amq.rabbitmq.reply-to'
(consumed with auto_ack before publishing), matched by correlation_id.

Arguments: the numbers to request (default: 30). Each call gives up after
TUT_TIMEOUT seconds (default 30)."""
import os
import sys
import time
import uuid

import pika

REPLY_TO = 'amq.rabbitmq.reply-to'


class FibonacciRpcClient(object):

    def __init__(self):
        self.connection = pika.BlockingConnection(pika.ConnectionParameters(
            host=os.environ.get('AMQP_HOST', 'localhost'),
            port=int(os.environ.get('AMQP_PORT', '5672'))))

        self.channel = self.connection.channel()

        self.channel.basic_consume(
            queue=REPLY_TO,
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
                reply_to=REPLY_TO,
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
