#!/usr/bin/env python3
"""Tutorial 7 (publisher confirms): publish MESSAGE_COUNT messages three ways and
time them:
  1. individually: BlockingConnection + confirm_delivery(); every basic_publish
     waits for its own confirm;
  2. in batches: publish BATCH_SIZE messages, then wait until the broker has
     confirmed the whole batch (SelectConnection: pika's BlockingChannel always
     waits for each confirm, so it cannot leave a batch outstanding);
  3. asynchronously: SelectConnection, publish everything while an ack/nack
     callback removes confirmed sequence numbers from the outstanding map.
Each strategy checks that every message was acked and that the queue holds all
of them, then deletes its queue. Exits 1 if any check fails.

Environment: AMQP_HOST, AMQP_PORT, TUT_MESSAGE_COUNT (default 50000),
TUT_TIMEOUT (seconds per strategy, default 60)."""
import os
import sys
import time
import uuid

import pika

MESSAGE_COUNT = int(os.environ.get('TUT_MESSAGE_COUNT', '50000'))
BATCH_SIZE = 100
TIMEOUT = float(os.environ.get('TUT_TIMEOUT', '60'))


def connection_parameters():
    return pika.ConnectionParameters(
        host=os.environ.get('AMQP_HOST', 'localhost'),
        port=int(os.environ.get('AMQP_PORT', '5672')))


def check(strategy, acked, nacked, queued):
    """Report whether every message was confirmed and enqueued."""
    if acked == MESSAGE_COUNT and nacked == 0 and queued == MESSAGE_COUNT:
        return True
    print(f" [!] {strategy}: {acked} acked, {nacked} nacked, {queued} queued, "
          f"expected {MESSAGE_COUNT} acked and queued")
    return False


def publish_messages_individually():
    connection = pika.BlockingConnection(connection_parameters())
    channel = connection.channel()
    queue = str(uuid.uuid4())
    channel.queue_declare(queue=queue, auto_delete=True)
    channel.confirm_delivery()

    acked = nacked = 0
    start = time.monotonic()
    for i in range(MESSAGE_COUNT):
        try:
            channel.basic_publish(exchange='', routing_key=queue, body=str(i))
            acked += 1
        except pika.exceptions.NackError:
            nacked += 1
    elapsed = int((time.monotonic() - start) * 1000)
    print(f"Published {MESSAGE_COUNT:,} messages individually in {elapsed:,} ms")

    queued = channel.queue_declare(queue=queue, passive=True).method.message_count
    channel.queue_delete(queue=queue)
    connection.close()
    return check('individually', acked, nacked, queued)


class ConfirmingPublisher(object):
    """Publishes MESSAGE_COUNT messages on a SelectConnection in confirm mode.

    batch_size: publish that many, then wait for all of them to be confirmed;
    None: publish continuously (chunks per ioloop turn) and handle the
    confirms as they arrive."""

    PUBLISH_CHUNK = 100

    def __init__(self, batch_size):
        self.batch_size = batch_size
        self.queue = str(uuid.uuid4())
        self.outstanding = {}      # sequence number -> body, in publish order
        self.next_seq = 1
        self.published = self.acked = self.nacked = 0
        self.queued = -1
        self.start = self.elapsed = None
        self.error = None
        self.channel = None
        self.connection = pika.SelectConnection(
            connection_parameters(),
            on_open_callback=self.on_connection_open,
            on_open_error_callback=self.on_open_error,
            on_close_callback=self.on_connection_closed)

    def run(self):
        self.connection.ioloop.call_later(TIMEOUT, self.on_timeout)
        self.connection.ioloop.start()
        if self.error:
            print(f" [!] {self.error}")
        return self.error is None

    def on_open_error(self, connection, err):
        self.error = f"connection failed: {err}"
        connection.ioloop.stop()

    def on_connection_closed(self, connection, reason):
        if self.queued < 0 and self.error is None:
            self.error = f"connection closed early: {reason}"
        connection.ioloop.stop()

    def on_timeout(self):
        self.error = (f"timed out: {self.published} published, {self.acked} acked, "
                      f"{self.nacked} nacked")
        self.connection.close()

    def on_connection_open(self, connection):
        connection.channel(on_open_callback=self.on_channel_open)

    def on_channel_open(self, channel):
        self.channel = channel
        channel.queue_declare(queue=self.queue, auto_delete=True, callback=self.on_queue_declared)

    def on_queue_declared(self, frame):
        self.channel.confirm_delivery(ack_nack_callback=self.on_confirm,
                                      callback=self.on_confirm_selected)

    def on_confirm_selected(self, frame):
        self.start = time.monotonic()
        self.publish_more()

    def publish_more(self):
        if self.batch_size:
            count = self.batch_size
        else:
            count = self.PUBLISH_CHUNK
        count = min(count, MESSAGE_COUNT - self.published)
        for _ in range(count):
            body = str(self.published)
            self.channel.basic_publish(exchange='', routing_key=self.queue, body=body)
            self.outstanding[self.next_seq] = body
            self.next_seq += 1
            self.published += 1
        if not self.batch_size and self.published < MESSAGE_COUNT:
            self.connection.ioloop.call_later(0, self.publish_more)

    def on_confirm(self, frame):
        method = frame.method
        is_ack = isinstance(method, pika.spec.Basic.Ack)
        if method.multiple:
            while self.outstanding and next(iter(self.outstanding)) <= method.delivery_tag:
                self.outstanding.pop(next(iter(self.outstanding)))
                self.count_confirm(is_ack)
        elif self.outstanding.pop(method.delivery_tag, None) is not None:
            self.count_confirm(is_ack)
        if self.outstanding:
            return
        if self.published < MESSAGE_COUNT:
            if self.batch_size:
                self.publish_more()
        elif self.elapsed is None:
            self.elapsed = int((time.monotonic() - self.start) * 1000)
            self.channel.queue_declare(queue=self.queue, passive=True, callback=self.on_counted)

    def count_confirm(self, is_ack):
        if is_ack:
            self.acked += 1
        else:
            self.nacked += 1

    def on_counted(self, frame):
        self.queued = frame.method.message_count
        self.channel.queue_delete(queue=self.queue, callback=lambda _frame: self.connection.close())


def publish_messages_in_batch():
    publisher = ConfirmingPublisher(BATCH_SIZE)
    if not publisher.run():
        return False
    print(f"Published {MESSAGE_COUNT:,} messages in batch in {publisher.elapsed:,} ms")
    return check('in batch', publisher.acked, publisher.nacked, publisher.queued)


def handle_publish_confirms_asynchronously():
    publisher = ConfirmingPublisher(None)
    if not publisher.run():
        return False
    print(f"Published {MESSAGE_COUNT:,} messages and handled confirms asynchronously "
          f"in {publisher.elapsed:,} ms")
    return check('asynchronously', publisher.acked, publisher.nacked, publisher.queued)


if __name__ == '__main__':
    ok = publish_messages_individually()
    ok = publish_messages_in_batch() and ok
    ok = handle_publish_confirms_asynchronously() and ok
    sys.exit(0 if ok else 1)
