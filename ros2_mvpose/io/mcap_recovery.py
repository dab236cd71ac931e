"""Read the intact records of a truncated or damaged MCAP file (e.g. a recorder that was killed).

``rosbags`` refuses an MCAP without its footer. This scanner walks the records from the start
(MCAP spec: 8-byte magic, then records ``opcode u8 | length u64 | body``), decompressing chunks
(none, zstd, lz4), and yields every complete message until the first damaged record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

MAGIC = b"\x89MCAP0\r\n"
OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK = 0x03, 0x04, 0x05, 0x06


class _Cursor:
    def __init__(self, buf: memoryview):
        self.buf, self.pos = buf, 0

    def u16(self) -> int:
        (v,) = struct.unpack_from("<H", self.buf, self.pos)
        self.pos += 2
        return v

    def u32(self) -> int:
        (v,) = struct.unpack_from("<I", self.buf, self.pos)
        self.pos += 4
        return v

    def u64(self) -> int:
        (v,) = struct.unpack_from("<Q", self.buf, self.pos)
        self.pos += 8
        return v

    def string(self) -> str:
        n = self.u32()
        s = bytes(self.buf[self.pos : self.pos + n]).decode("utf-8")
        self.pos += n
        return s


def _decompress(data: bytes, compression: str, size: int) -> bytes:
    if compression == "":
        return data
    if compression == "zstd":
        try:
            from compression import zstd  # Python 3.14
        except ImportError:
            from backports import zstd
        return zstd.decompress(data)
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data)
    raise ValueError(f"unknown MCAP chunk compression {compression!r}")


def scan_mcap(path: str | Path) -> Iterator[tuple[str, str, int, bytes]]:
    """Yield ``(topic, msgtype, log_time_ns, cdr_bytes)`` for every intact message, in file order.

    Stops silently at the first incomplete or undecodable record.
    """
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:8]) != MAGIC:
        return
    schemas: dict[int, str] = {}
    channels: dict[int, tuple[str, int]] = {}

    def records(
        buf: memoryview, start: int, partial_chunks: bool = False
    ) -> Iterator[tuple[int, memoryview]]:
        pos = start
        while pos + 9 <= len(buf):
            op = buf[pos]
            (length,) = struct.unpack_from("<Q", buf, pos + 1)
            body_start = pos + 9
            if body_start + length > len(buf):
                if partial_chunks and op == OP_CHUNK:
                    yield -OP_CHUNK, buf[body_start:]  # the cut falls inside this chunk
                return
            yield op, buf[body_start : body_start + length]
            pos = body_start + length

    def handle(op: int, body: memoryview) -> Iterator[tuple[str, str, int, bytes]]:
        c = _Cursor(body)
        if op == OP_SCHEMA:
            sid = c.u16()
            schemas[sid] = c.string()
        elif op == OP_CHANNEL:
            cid, sid = c.u16(), c.u16()
            channels[cid] = (c.string(), sid)
        elif op == OP_MESSAGE:
            cid = c.u16()
            c.u32()
            log_time = c.u64()
            c.u64()
            if cid in channels:
                topic, sid = channels[cid]
                yield topic, schemas.get(sid, ""), log_time, bytes(body[c.pos :])
        elif op == OP_CHUNK:
            c.u64(), c.u64()
            size = c.u64()
            c.u32()
            compression = c.string()
            n = c.u64()
            inner = _decompress(bytes(body[c.pos : c.pos + n]), compression, size)
            for op2, body2 in records(memoryview(inner), 0):
                yield from handle(op2, body2)
        elif op == -OP_CHUNK:  # truncated chunk: only an uncompressed one can be read in part
            c.u64(), c.u64(), c.u64()
            c.u32()
            if c.string() == "":
                c.u64()
                for op2, body2 in records(body[c.pos :], 0):
                    yield from handle(op2, body2)

    try:
        for op, body in records(data, 8, partial_chunks=True):
            yield from handle(op, body)
    except (struct.error, ValueError, UnicodeDecodeError, RuntimeError, OSError):
        return
