#!/usr/bin/env python3
"""Broker-side helper for run.sh (pika): prepares and observes queues.

  tutctl.py delete-queue QUEUE...           delete the queues (missing ones are fine)
  tutctl.py wait-consumers QUEUE N SECONDS  wait until QUEUE has exactly N consumers

Host and port come from AMQP_HOST (default localhost) and AMQP_PORT (default 5672).
Exits 0 on success, 1 on failure or timeout (with a message on stderr)."""
import os
import sys
import time

import pika


def connect():
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=os.environ.get('AMQP_HOST', 'localhost'),
        port=int(os.environ.get('AMQP_PORT', '5672'))))


def delete_queues(names):
    connection = connect()
    channel = connection.channel()
    for name in names:
        channel.queue_delete(queue=name)
    connection.close()
    return 0


def consumer_count(connection, queue):
    """Consumer count of queue, or -1 if it does not exist (404 closes the channel)."""
    channel = connection.channel()
    try:
        count = channel.queue_declare(queue=queue, passive=True).method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:
        return -1
    channel.close()
    return count


def wait_consumers(queue, want, seconds):
    connection = connect()
    deadline = time.monotonic() + seconds
    count = consumer_count(connection, queue)
    while count != want and time.monotonic() < deadline:
        time.sleep(0.05)
        count = consumer_count(connection, queue)
    connection.close()
    if count != want:
        sys.stderr.write(f"tutctl: queue {queue!r} has {count} consumers, want {want}\n")
        return 1
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == 'delete-queue':
        return delete_queues(argv[1:])
    if len(argv) == 4 and argv[0] == 'wait-consumers':
        return wait_consumers(argv[1], int(argv[2]), float(argv[3]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
