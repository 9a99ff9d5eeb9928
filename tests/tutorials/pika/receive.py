#!/usr/bin/env python3
"""Tutorial 1 (hello world): consume from the queue 'hello' and print each message.

Unattended use: exits after TUT_EXPECT messages (if set) or after TUT_TIMEOUT
seconds (default 30)."""
import os
import sys

import pika


def main():
    connection = pika.BlockingConnection(pika.ConnectionParameters(
        host=os.environ.get('AMQP_HOST', 'localhost'),
        port=int(os.environ.get('AMQP_PORT', '5672'))))
    channel = connection.channel()

    channel.queue_declare(queue='hello')

    expect = int(os.environ.get('TUT_EXPECT', '0'))
    received = 0

    def callback(ch, method, properties, body):
        nonlocal received
        print(f" [x] Received {body}")
        received += 1
        if received == expect:
            ch.stop_consuming()

    channel.basic_consume(queue='hello', on_message_callback=callback, auto_ack=True)
    connection.call_later(float(os.environ.get('TUT_TIMEOUT', '30')), channel.stop_consuming)

    print(' [*] Waiting for messages. To exit press CTRL+C')
    channel.start_consuming()
    connection.close()
    return 0 if received >= expect else 1


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print('Interrupted')
        sys.exit(0)
