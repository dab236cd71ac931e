"""Read a serialized ``sensor_msgs/Image`` (CDR bytes) without building a Python message.

rclpy turns a received Image into a Python object field by field; for camera images that costs
~2 ms per 1080x1080 bgr8 frame and keeps the executor thread busy. With ``raw=True``
subscriptions rclpy hands over the serialized bytes instead, and :func:`parse_image_cdr` reads
the few header fields and exposes the pixel data as a zero-copy view of those bytes.

The result is a :class:`RawImage` with the attributes of ``sensor_msgs/Image`` (``header`` is a
real ``std_msgs/Header``), so ``image_conversion.image_msg_to_bgr`` and the rest of the code
take it unchanged.

Layout (OMG CDR, the encoding ROS 2 middlewares use for plain messages): a 4-byte encapsulation
header (``00 00`` big-endian / ``00 01`` little-endian CDR, ``00 06`` / ``00 07`` plain XCDR2),
then the fields in order, each aligned to its size relative to the end of that header:
``stamp.sec`` int32, ``stamp.nanosec`` uint32, ``frame_id`` string (uint32 length including the
terminating NUL, then the bytes), ``height`` uint32, ``width`` uint32, ``encoding`` string,
``is_bigendian`` uint8, ``step`` uint32, ``data`` sequence<uint8> (uint32 length, then bytes).
Image has no 8-byte fields, so CDR and XCDR2 lay it out identically.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ros2_mvpose.ros.image_conversion import ImageConversionError

__all__ = ["RawImage", "parse_image_cdr", "ImageCdrError"]

_ENCAPSULATIONS = {0x0000: ">", 0x0001: "<", 0x0006: ">", 0x0007: "<"}


class ImageCdrError(ImageConversionError):
    """Serialized bytes that are not a well-formed ``sensor_msgs/Image``."""


@dataclass(slots=True)
class RawImage:
    """``sensor_msgs/Image`` fields read from its serialized form.

    ``data`` is a read-only ``memoryview`` into the serialized bytes (no copy); it keeps those
    bytes alive. ``header`` is a ``std_msgs/Header``.
    """

    header: Any
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: memoryview


def _string(buf: memoryview, pos: int, order: str, field: str) -> tuple[str, int]:
    pos += -(pos - 4) % 4
    if pos + 4 > len(buf):
        raise ImageCdrError(f"serialized Image truncated in {field} ({len(buf)} bytes)")
    (n,) = struct.unpack_from(order + "I", buf, pos)
    pos += 4
    if n > len(buf) - pos:
        raise ImageCdrError(f"serialized Image truncated in {field}: length {n}, {len(buf) - pos} bytes left")
    raw = bytes(buf[pos : pos + n])
    text = raw[:-1] if raw.endswith(b"\0") else raw
    try:
        return text.decode("utf-8"), pos + n
    except UnicodeDecodeError as exc:
        raise ImageCdrError(f"serialized Image has a non-UTF-8 {field}") from exc


def parse_image_cdr(data: bytes | bytearray | memoryview) -> RawImage:
    """Read a CDR-serialized ``sensor_msgs/Image``.

    Args:
        data: the serialized message, as rclpy's ``raw=True`` subscriptions deliver it.

    Returns:
        A :class:`RawImage`; its ``data`` views ``data`` without copying.

    Raises:
        ImageCdrError: unknown encapsulation, or the bytes end before a field does. The image
            layout itself (encoding, step, data length) is checked later by
            ``image_conversion`` like for any other message.
    """
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    buf = memoryview(data).cast("B")
    if len(buf) < 12:
        raise ImageCdrError(f"serialized Image too short: {len(buf)} bytes")
    kind = (buf[0] << 8) | buf[1]
    order = _ENCAPSULATIONS.get(kind)
    if order is None:
        raise ImageCdrError(f"unknown CDR encapsulation 0x{kind:04x} (expected plain CDR or XCDR2)")
    sec, nanosec = struct.unpack_from(order + "iI", buf, 4)
    frame_id, pos = _string(buf, 12, order, "header.frame_id")
    pos += -(pos - 4) % 4
    if pos + 8 > len(buf):
        raise ImageCdrError(f"serialized Image truncated in height/width ({len(buf)} bytes)")
    height, width = struct.unpack_from(order + "II", buf, pos)
    encoding, pos = _string(buf, pos + 8, order, "encoding")
    if pos + 1 > len(buf):
        raise ImageCdrError(f"serialized Image truncated in is_bigendian ({len(buf)} bytes)")
    is_bigendian = buf[pos]
    pos += 1
    pos += -(pos - 4) % 4
    if pos + 8 > len(buf):
        raise ImageCdrError(f"serialized Image truncated in step/data ({len(buf)} bytes)")
    step, n = struct.unpack_from(order + "II", buf, pos)
    pos += 8
    # a data length beyond the bytes received is reported by image_conversion as truncated data
    pixels = buf[pos : pos + n].toreadonly()
    header = Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)
    return RawImage(header, int(height), int(width), encoding, int(is_bigendian), int(step), pixels)
