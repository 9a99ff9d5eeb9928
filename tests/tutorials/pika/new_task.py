#!/usr/bin/env python3
"""Tutorial 2 (work queues): publish a persistent task to the durable 'task_queue'.
Each '.' in the message is one second of work for the worker."""
import os
import sys

import pika

connection = pika.BlockingConnection(pika.ConnectionParameters(
    host=os.environ.get('AMQP_HOST', 'localhost'),
    port=int(os.environ.get('AMQP_PORT', '5672'))))
channel = connection.channel()

channel.queue_declare(queue='task_queue', durable=True)

message = ' '.join(sys.argv[1:]) or "Hello World!"
channel.basic_publish(
    exchange='',
    routing_key='task_queue',
    body=message,
    properties=pika.BasicProperties(
        delivery_mode=pika.spec.PERSISTENT_DELIVERY_MODE
    ))
print(f" [x] Sent {message}")
connection.close()
