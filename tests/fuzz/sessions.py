"""Recorded AMQP client sessions: the bytes a client sent, as the chunks it wrote.

A session file is a sequence of chunks, each a 4-byte big-endian length and
the bytes of one client write (as a recording proxy saw them arrive). The
first chunk is normally the protocol header "AMQP\\0\\0\\x09\\x01". Replaying
sends chunk after chunk and reads what the broker answers in between, so a
client's request/reply rhythm is kept.
"""
import struct

HEADER = b"AMQP\x00\x00\x09\x01"


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    chunks, off = [], 0
    while off + 4 <= len(data):
        (n,) = struct.unpack_from(">I", data, off)
        off += 4
        chunks.append(data[off:off + n])
        off += n
    return chunks


def dump(path, chunks):
    with open(path, "wb") as f:
        for c in chunks:
            f.write(struct.pack(">I", len(c)))
            f.write(c)


def split_frames(data):
    """Split a byte string into AMQP frames (and a leading protocol header, if
    any). A tail that is not a whole frame is returned as one last piece."""
    out, off = [], 0
    if data.startswith(b"AMQP"):
        out.append(data[:8])
        off = 8
    while off < len(data):
        if off + 7 > len(data):
            out.append(data[off:])
            break
        (size,) = struct.unpack_from(">I", data, off + 3)
        end = off + 7 + size + 1
        if end > len(data):
            out.append(data[off:])
            break
        out.append(data[off:end])
        off = end
    return out


def frames_of(chunks):
    """The session as a list of chunks, each a list of frames."""
    return [split_frames(c) for c in chunks]
