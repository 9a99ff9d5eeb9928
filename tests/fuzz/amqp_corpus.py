"""Make the codec fuzzer's seed corpus (tests/fuzz/corpus/amqp/) from the
recorded sessions: fuzz_amqp.c reads a first byte choosing the parser
(0 method, 1 field table, 2 basic properties, 3 frames) and then its input.

    /usr/bin/python3 tests/fuzz/amqp_corpus.py tests/fuzz/sessions tests/fuzz/corpus/amqp
"""
import hashlib
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sessions  # noqa: E402


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    seen = {}
    for name in sorted(os.listdir(src)):
        for chunk in sessions.load(os.path.join(src, name)):
            for f in sessions.split_frames(chunk):
                if len(f) < 8 or f.startswith(b"AMQP"):
                    continue
                payload = f[7:-1]
                if f[0] == 1 and len(payload) >= 4:
                    key = payload[:4]
                    seen.setdefault(b"\0" + key, b"\0" + payload)
                    if key == b"\x00\x0a\x00\x0b":  # connection.start-ok: client-properties table
                        (n,) = struct.unpack_from(">I", payload, 4)
                        seen.setdefault(b"\1start-ok", b"\1" + payload[4:8 + n])
                    if key in (b"\x00\x32\x00\x0a", b"\x00\x28\x00\x0a") and len(payload) > 40:  # declare arguments
                        seen.setdefault(b"\1" + key, b"\1" + payload[-min(len(payload), 200):])
                elif f[0] == 2 and len(payload) >= 14:
                    flags = payload[12:14]
                    seen.setdefault(b"\2" + flags, b"\2" + payload[12:])
                seen.setdefault(b"\3" + f[:1] + payload[:4], b"\3" + f)
    for data in seen.values():
        with open(os.path.join(out, hashlib.sha1(data).hexdigest()[:16]), "wb") as fh:
            fh.write(data)
    print("%d files in %s" % (len(seen), out))


if __name__ == "__main__":
    main()
