"""amqp_raw.py — a bare AMQP 0-9-1 client on a socket, its frames built and
parsed with pika.spec / pika.frame, for tests that must do what a client
library will not: stop reading (or writing) at will, send a content header
and no body, dribble a body, see exactly which frames arrive
(connection.blocked, heartbeats, deliveries while held).

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from amqp_raw import RawClient
"""
import socket
import time

import pika

FRAME_MAX = 131072
PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"


class RawClient:
    """Connects as guest to vhost / on 127.0.0.1:port and opens channel
    `channel` (None: none). heartbeat: what TuneOk asks for; rcvbuf: SO_RCVBUF
    before connecting (a small one makes the broker's output back up soon);
    blocked: announce the connection.blocked capability."""

    def __init__(self, port, heartbeat=0, rcvbuf=0, channel=None, blocked=True, frame_max=FRAME_MAX):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.frame_max = frame_max
        self.sock.sendall(PROTOCOL_HEADER)
        self.expect(pika.spec.Connection.Start)
        caps = {"capabilities": {"connection.blocked": True}} if blocked else {}
        self.send(0, pika.spec.Connection.StartOk(client_properties=caps, mechanism="PLAIN",
                                                  response="\0guest\0guest"))
        self.expect(pika.spec.Connection.Tune)
        self.send(0, pika.spec.Connection.TuneOk(channel_max=0, frame_max=frame_max, heartbeat=heartbeat))
        self.send(0, pika.spec.Connection.Open(virtual_host="/"))
        self.expect(pika.spec.Connection.OpenOk)
        if channel is not None:
            self.open_channel(channel)

    def send(self, ch, method):
        self.sock.sendall(pika.frame.Method(ch, method).marshal())

    def open_channel(self, ch):
        self.send(ch, pika.spec.Channel.Open())
        self.expect(pika.spec.Channel.OpenOk)

    # ---- frames on the wire ----

    @staticmethod
    def publish_head(ch, rk, size, mandatory=False, props=None, exchange=""):
        """basic.publish and a content header announcing size bytes (no body)."""
        return (pika.frame.Method(ch, pika.spec.Basic.Publish(exchange=exchange, routing_key=rk,
                                                              mandatory=mandatory)).marshal()
                + pika.frame.Header(ch, size, props or pika.spec.BasicProperties()).marshal())

    @staticmethod
    def body_frames(ch, body, frame_max=FRAME_MAX):
        """body cut into frames of at most frame_max bytes on the wire."""
        return b"".join(pika.frame.Body(ch, body[i:i + frame_max - 8]).marshal()
                        for i in range(0, len(body), frame_max - 8))

    def publish_frames(self, rk, body, props=None, ch=1):
        """One whole publish of body to the default exchange on channel ch."""
        return self.publish_head(ch, rk, len(body), props=props) + self.body_frames(ch, body, self.frame_max)

    # ---- reading ----

    def _decode(self):
        """The next whole frame in the buffer, or None."""
        n, f = pika.frame.decode_frame(self.buf)
        if not f:
            return None
        self.buf = self.buf[n:]
        return f

    def next_frame(self):
        """The next frame (blocking); EOFError when the broker closes."""
        while True:
            f = self._decode()
            if f:
                return f
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d

    def expect(self, cls, skip=False):
        """The next method frame, which must be a cls (skip: pass over any
        other frame until one is)."""
        while True:
            try:
                f = self.next_frame()
            except EOFError:
                raise EOFError("closed while waiting for %s" % cls.__name__) from None
            if isinstance(f, pika.frame.Method) and isinstance(f.method, cls):
                return f
            assert skip, "expected %s, got %r" % (cls.__name__, f)

    def frames(self, timeout=0.0):
        """Every frame that arrives within timeout (None: the peer closed).
        Leaves the socket with that timeout."""
        self.sock.settimeout(timeout if timeout > 0 else 0.001)
        end = time.time() + timeout
        got = []
        while True:
            try:
                d = self.sock.recv(65536)
            except (socket.timeout, BlockingIOError):
                d = b""
                if time.time() >= end:
                    break
                continue
            except ConnectionResetError:
                return None
            if not d:
                return None
            self.buf += d
            f = self._decode()
            while f:
                got.append(f)
                f = self._decode()
            if time.time() >= end:
                break
        return got

    def read_frames(self):
        """On a non-blocking socket: the frames of what has arrived so far."""
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    break
                self.buf += d
        except (BlockingIOError, InterruptedError):
            pass
        got = []
        f = self._decode()
        while f:
            got.append(f)
            f = self._decode()
        return got

    def close(self):
        self.sock.close()
