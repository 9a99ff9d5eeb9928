#!/usr/bin/python3
"""Record what a real RabbitMQ does with topic and headers exchanges, as C
tables for the unit tests (rabbit_expect.h). Not run by the build.

  ../shared/tools/reference-rabbitmq 5681   # from the repo root; prints its PID
  /usr/bin/python3 record_rabbit.py 5681 > rabbit_expect.h
  kill PID

For every binding a queue is declared and bound; every message is published
once (with publisher confirms), then each queue is drained with basic.get and
the set of messages it received is written as a bitmask.
"""
import struct
import sys

import pika
import pika.data


class Raw:
    """A field value given as its exact encoding (tag + bytes), so that every
    AMQP type can be sent, not only the ones pika picks."""

    def __init__(self, tag, body, name):
        self.b = tag + body
        self.name = name

    def __repr__(self):
        return self.name


_encode_value = pika.data.encode_value


def _encode_raw(pieces, value):
    if isinstance(value, Raw):
        pieces.append(value.b)
        return len(value.b)
    return _encode_value(pieces, value)


pika.data.encode_value = _encode_raw


def num(tag, fmt, v, name=None):
    return Raw(tag, struct.pack(fmt, v), name or '%s%r' % (tag.decode(), v))


def longstr(tag, v):
    return Raw(tag, struct.pack('>I', len(v)) + v, '%s%r' % (tag.decode(), v))


def nested(tag, body, name):
    return Raw(tag, struct.pack('>I', len(body)) + body, name)


def b(v): return num(b'b', '>b', v)
def B(v): return num(b'B', '>B', v)
def s(v): return num(b's', '>h', v)
def u(v): return num(b'u', '>H', v)
def I(v): return num(b'I', '>i', v)
def i(v): return num(b'i', '>I', v)
def l(v): return num(b'l', '>q', v)
def f(v): return num(b'f', '>f', v)
def d(v): return num(b'd', '>d', v)
def T(v): return num(b'T', '>Q', v)
def D(scale, v): return Raw(b'D', struct.pack('>Bi', scale, v), 'D%d/%d' % (scale, v))
def S(v): return longstr(b'S', v)
def x(v): return longstr(b'x', v)
def t(v): return num(b't', '>B', v)


V = Raw(b'V', b'', 'V')
I1 = b'I\x00\x00\x00\x01'
VALUES = [
    b(1), B(1), s(1), u(1), I(1), i(1), l(1), f(1.0), d(1.0), D(0, 1), D(1, 10), T(1),
    S(b'1'), x(b'1'), t(1), t(0), V,
    nested(b'F', b'', 'F{}'), nested(b'A', b'', 'A[]'),
    nested(b'F', b'\x01k' + I1, 'F{k:I1}'),
    nested(b'F', b'\x01kl' + struct.pack('>q', 1), 'F{k:l1}'),
    nested(b'A', I1, 'A[I1]'),
    nested(b'F', b'\x01k' + I1 + b'\x01jI\x00\x00\x00\x02', 'F{k:1,j:2}'),
    nested(b'F', b'\x01jI\x00\x00\x00\x02\x01k' + I1, 'F{j:2,k:1}'),
    I(0), S(b''), x(b''), S(b'undefined'), d(1.5), f(1.5), d(0.1), f(0.1),
    l(2**40), d(float(2**40)), i(4294967295), I(-1), b(-1), B(255), s(-1), u(65535),
    T(2**33), l(2**33), d(-0.0), d(0.0),
]

# (x-match or None, binding entries) and message headers (None = no headers).
MODE_BINDINGS = [
    ("all", {"a": I(1)}), ("any", {"a": I(1), "b": I(2)}), ("all", {"a": I(1), "b": I(2)}),
    ("all", {}), ("any", {}), (None, {"a": I(1)}), (None, {}), ("all", {"x-foo": S(b"bar")}),
    ("all-with-x", {"x-foo": S(b"bar")}), ("any-with-x", {"x-foo": S(b"bar"), "a": I(1)}),
    ("any", {"x-foo": S(b"bar")}), ("all-with-x", {}), ("any-with-x", {}),
    ("all", {"a": I(1), "x-y": I(2)}), ("all", {"a": I(1), "b": V}), ("any", {"a": V, "b": V}),
    ("all", {"": I(1)}), ("any", {"a": I(2), "c": I(3)}), ("all", {"A": I(1)}),
    ("any-with-x", {"x-y": I(2)}), ("all-with-x", {"x-y": I(2), "a": I(1)}),
]
MODE_MESSAGES = [
    None, {}, {"a": I(1)}, {"a": I(1), "b": I(2)}, {"b": I(2)}, {"x-foo": S(b"bar")},
    {"x-foo": S(b"bar"), "a": I(1)}, {"a": I(1), "b": S(b"x")}, {"": I(1)},
    {"x-match": S(b"any"), "b": I(2)}, {"a": I(2), "b": I(2)}, {"c": I(3)}, {"a": V},
    {"x-y": I(2), "a": I(1)}, {"x-match": S(b"all")}, {"A": I(1)},
    {"b": I(2), "a": I(1), "z": I(9)},
]

TOPIC_PATTERNS = [
    "", "#", "*", "#.#", "*.*", "a", "a.b", "a.*", "a.#", "#.a", "*.a", "a.#.b", "a.*.b",
    "#.b.#", "a..b", "a.*.*", ".", ".a", "a.", "*.", ".*", "#.", ".#", "a.#.#", "#.*", "*.#",
    "#.*.#", "a#", "a*", "*a", "#a.b", "a.b.c", "a.*.#", "#.#.a", "a.#.*", "#.#.#", "*.*.*",
    "..", "#..#", "*.#.*", "#.a.#", "a.#.a", "#.a.*",
]
TOPIC_KEYS = [
    "", ".", "..", "a", "b", "a.b", "a.b.c", "a..b", ".a", "a.", "a.c.b", "a.x.y.b", "b.a",
    "x.a", "a#", "a*", "a.a", "a.b.b", "*", "#", "aa.b", "a.b.a", "a.a.a", "x.a.y", "a.b.c.d",
]


def encode_table(tbl):
    pieces = []
    pika.data.encode_table(pieces, tbl)
    return b''.join(pieces)[4:]  # without the length prefix


def c_bytes(bs):
    return '"' + ''.join('\\x%02x' % c for c in bs) + '"', len(bs)


def drain(ch, queue):
    got = []
    while True:
        meth, _props, body = ch.basic_get(queue, auto_ack=True)
        if meth is None:
            return got
        got.append(int(body))


def record(ch, xtype, bindings, messages):
    """bindings: list of (routing_key, args); messages: list of (routing_key,
    headers). Returns for each binding the list of message indexes it got."""
    ch.exchange_declare("rec", xtype)
    for n, (key, args) in enumerate(bindings):
        ch.queue_declare("rec%d" % n, exclusive=True)
        ch.queue_bind("rec%d" % n, "rec", routing_key=key, arguments=args)
    for m, (key, headers) in enumerate(messages):
        ch.basic_publish("rec", key, str(m).encode(), pika.BasicProperties(headers=headers))
    got = [drain(ch, "rec%d" % n) for n in range(len(bindings))]
    for n in range(len(bindings)):
        ch.queue_delete("rec%d" % n)
    ch.exchange_delete("rec")
    return got


def mask(idxs):
    return '0x%xULL' % sum(1 << k for k in set(idxs))


def emit_values(ch, out):
    got = record(ch, "headers", [("", {"x-match": "all", "a": v}) for v in VALUES],
                 [("", {"a": v}) for v in VALUES])
    out.append('/* Binding {x-match: all, a: VALUE[i]} vs message headers {a: VALUE[j]}:\n'
               ' * bit j of mask is set when RabbitMQ delivered. */')
    out.append('static const struct rx_value { const char *name; const char *field; size_t len;'
               ' unsigned long long mask; } rx_values[] = {')
    for n, v in enumerate(VALUES):
        lit, ln = c_bytes(v.b)
        out.append('    {"%s", %s, %d, %s},' % (v.name.replace('"', "'"), lit, ln, mask(got[n])))
    out.append('};')


def emit_modes(ch, out):
    binds = []
    for mode, entries in MODE_BINDINGS:
        args = dict(entries)
        if mode is not None:
            args["x-match"] = mode
        binds.append(("", args))
    got = record(ch, "headers", binds, [("", h) for h in MODE_MESSAGES])
    out.append('/* Binding args vs message headers (empty = no headers property). */')
    out.append('static const struct rx_table { const char *t; size_t len; } rx_mode_msgs[] = {')
    for h in MODE_MESSAGES:
        lit, ln = c_bytes(encode_table(h or {}))
        out.append('    {%s, %d}, /* %r */' % (lit, ln, h))
    out.append('};')
    out.append('static const struct rx_mode { const char *args; size_t len;'
               ' unsigned long long mask; } rx_modes[] = {')
    for n, (key, args) in enumerate(binds):
        lit, ln = c_bytes(encode_table(args))
        out.append('    {%s, %d, %s}, /* %s %r */' % (lit, ln, mask(got[n]), MODE_BINDINGS[n][0],
                                                      MODE_BINDINGS[n][1]))
    out.append('};')


def c_str(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def emit_topic(ch, out):
    got = record(ch, "topic", [(p, None) for p in TOPIC_PATTERNS], [(k, None) for k in TOPIC_KEYS])
    out.append('static const char *const rx_topic_keys[] = {%s};' % ', '.join(map(c_str, TOPIC_KEYS)))
    out.append('/* Binding key vs routing key: bit k of mask set when RabbitMQ delivered key k. */')
    out.append('static const struct rx_topic { const char *pattern; unsigned long long mask; }'
               ' rx_topics[] = {')
    for n, p in enumerate(TOPIC_PATTERNS):
        out.append('    {%s, %s}, /* %s */' % (c_str(p), mask(got[n]),
                                               ' '.join(repr(TOPIC_KEYS[k]) for k in sorted(got[n]))))
    out.append('};')


def main():
    conn = pika.BlockingConnection(pika.ConnectionParameters(port=int(sys.argv[1])))
    ch = conn.channel()
    ch.confirm_delivery()
    version = conn._impl.server_properties.get('version', b'?')
    if isinstance(version, bytes):
        version = version.decode()
    out = ['/* Generated by record_rabbit.py against RabbitMQ %s (the reference broker).' % version,
           ' * Do not edit by hand: re-record instead. */',
           '#ifndef RABBIT_EXPECT_H', '#define RABBIT_EXPECT_H', '#include <stddef.h>', '']
    emit_topic(ch, out)
    out.append('')
    emit_values(ch, out)
    out.append('')
    emit_modes(ch, out)
    out.append('#endif')
    conn.close()
    print('\n'.join(out))


if __name__ == '__main__':
    main()
