#!/usr/bin/env python3
"""Tutorial 2 (work queues): take tasks from 'task_queue' one at a time
(prefetch_count=1), sleep one second per '.', then ack.

Unattended use: exits after TUT_EXPECT tasks (if set) or after TUT_TIMEOUT
seconds (default 30); the runner normally stops it with a signal."""
import os
import sys
import time

import pika


def main():
    connection = pika.BlockingConnection(pika.ConnectionParameters(
        host=os.environ.get('AMQP_HOST', 'localhost'),
        port=int(os.environ.get('AMQP_PORT', '5672'))))
    channel = connection.channel()

    channel.queue_declare(queue='task_queue', durable=True)

    expect = int(os.environ.get('TUT_EXPECT', '0'))
    done = 0

    def callback(ch, method, properties, body):
        nonlocal done
        print(f" [x] Received {body.decode()}")
        time.sleep(body.count(b'.'))
        print(" [x] Done")
        ch.basic_ack(delivery_tag=method.delivery_tag)
        done += 1
        if done == expect:
            ch.stop_consuming()

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue='task_queue', on_message_callback=callback)
    connection.call_later(float(os.environ.get('TUT_TIMEOUT', '30')), channel.stop_consuming)

    print(' [*] Waiting for messages. To exit press CTRL+C')
    channel.start_consuming()
    connection.close()
    return 0 if done >= expect else 1


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print('Interrupted')
        sys.exit(0)
