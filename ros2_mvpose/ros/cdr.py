"""A little-endian CDR (XCDR1, what rmw_fastrtps writes) encoder for building serialized messages
straight from numpy arrays, without creating Python message objects.

Used where building the message objects costs more than the work itself (a MarkerArray of a
few people is ~100 ``geometry_msgs/Point`` objects and a dozen nested messages per marker);
``rclpy`` publishers publish the returned ``bytes`` as is. Alignment is relative to the end of
the 4-byte encapsulation header, as Fast CDR does. Pure Python + numpy (no rclpy).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

#: CDR little-endian encapsulation header (representation id 0x0001, options 0)
ENCAPSULATION_LE = b"\x00\x01\x00\x00"

_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_I32U32 = struct.Struct("<iI")


class CdrWriter:
    """Append CDR-encoded values; :meth:`bytes` returns the serialized message."""

    def __init__(self):
        self.buf = bytearray(ENCAPSULATION_LE)

    def align(self, n: int) -> None:
        pad = -(len(self.buf) - 4) % n
        if pad:
            self.buf += b"\x00" * pad

    def i32(self, v: int) -> None:
        self.align(4)
        self.buf += _I32.pack(v)

    def u32(self, v: int) -> None:
        self.align(4)
        self.buf += _U32.pack(v)

    def stamp(self, sec: int, nanosec: int) -> None:
        """``builtin_interfaces/Time`` or ``Duration`` (int32 sec, uint32 nanosec)."""
        self.align(4)
        self.buf += _I32U32.pack(sec, nanosec)

    def boolean(self, v: bool) -> None:
        self.buf.append(1 if v else 0)

    def string(self, s: str) -> None:
        data = s.encode("utf-8")
        self.u32(len(data) + 1)
        self.buf += data + b"\x00"

    def f64s(self, values: Sequence[float]) -> None:
        """Consecutive float64 fields (a Pose, a Vector3...)."""
        self.align(8)
        self.buf += struct.pack(f"<{len(values)}d", *values)

    def f32s(self, values: Sequence[float]) -> None:
        """Consecutive float32 fields (a ColorRGBA...)."""
        self.align(4)
        self.buf += struct.pack(f"<{len(values)}f", *values)

    def sequence(self, rows: np.ndarray, dtype: str) -> None:
        """A sequence of structs of equal scalar fields (``rows`` (N, k), e.g. Points (N, 3)
        float64): the count, then the rows packed, aligned to the field size when not empty."""
        rows = np.asarray(rows, dtype=dtype)
        self.u32(len(rows))
        if len(rows):
            self.align(rows.dtype.itemsize)
            self.buf += np.ascontiguousarray(rows).tobytes()

    def octets(self, data: bytes) -> None:
        """A ``uint8[]`` sequence."""
        self.u32(len(data))
        self.buf += data

    def header(self, sec: int, nanosec: int, frame_id: str) -> None:
        """``std_msgs/Header``."""
        self.stamp(sec, nanosec)
        self.string(frame_id)

    def bytes(self) -> bytes:
        return bytes(self.buf)
