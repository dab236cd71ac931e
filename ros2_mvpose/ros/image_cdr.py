"""Read a serialized ``sensor_msgs/Image`` or ``CompressedImage`` (CDR bytes) without building a message.

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

``sensor_msgs/CompressedImage`` is read the same way by :func:`parse_compressed_image_cdr`:
the header as above, then ``format`` string, ``data`` sequence<uint8>.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ros2_mvpose.ros.image_conversion import ImageConversionError

__all__ = ["ImageCdrError", "RawCompressedImage", "RawImage", "parse_compressed_image_cdr", "parse_image_cdr"]

_ENCAPSULATIONS = {0x0000: ">", 0x0001: "<", 0x0006: ">", 0x0007: "<"}


class ImageCdrError(ImageConversionError):
    """Serialized bytes that are not a well-formed ``sensor_msgs/Image`` / ``CompressedImage``."""

    def __init__(self, message: str, problem: str = "truncated") -> None:
        super().__init__(message, problem)


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


@dataclass(slots=True)
class RawCompressedImage:
    """``sensor_msgs/CompressedImage`` fields read from its serialized form (``data`` as in RawImage)."""

    header: Any
    format: str
    data: memoryview


def _string(buf: memoryview, pos: int, order: str, field: str, kind: str) -> tuple[str, int]:
    pos += -(pos - 4) % 4
    if pos + 4 > len(buf):
        raise ImageCdrError(f"serialized {kind} truncated in {field} ({len(buf)} bytes)")
    (n,) = struct.unpack_from(order + "I", buf, pos)
    pos += 4
    if n > len(buf) - pos:
        left = len(buf) - pos
        raise ImageCdrError(f"serialized {kind} truncated in {field}: length {n}, {left} bytes left")
    raw = bytes(buf[pos : pos + n])
    text = raw[:-1] if raw.endswith(b"\0") else raw
    try:
        return text.decode("utf-8"), pos + n
    except UnicodeDecodeError as exc:
        raise ImageCdrError(f"serialized {kind} has a non-UTF-8 {field}", "cdr") from exc


def _header(data: bytes | bytearray | memoryview, kind: str) -> tuple[memoryview, str, Any, int]:
    """``(bytes, byte order, std_msgs/Header, position after it)`` of a serialized message."""
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    try:
        buf = memoryview(data).cast("B")
    except TypeError as exc:
        raise ImageCdrError(f"serialized {kind} is not a byte buffer ({type(data).__name__})", "cdr") from exc
    if len(buf) < 12:
        raise ImageCdrError(f"serialized {kind} too short: {len(buf)} bytes")
    enc = (buf[0] << 8) | buf[1]
    order = _ENCAPSULATIONS.get(enc)
    if order is None:
        raise ImageCdrError(f"unknown CDR encapsulation 0x{enc:04x} (expected plain CDR or XCDR2)", "cdr")
    sec, nanosec = struct.unpack_from(order + "iI", buf, 4)
    frame_id, pos = _string(buf, 12, order, "header.frame_id", kind)
    return buf, order, Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id), pos


def _sequence(buf: memoryview, pos: int, order: str, kind: str, strict: bool) -> memoryview:
    """The uint8 sequence at ``pos`` as a read-only view.

    With ``strict`` a sequence cut short raises; otherwise the view is just shorter.
    """
    pos += -(pos - 4) % 4
    if pos + 4 > len(buf):
        raise ImageCdrError(f"serialized {kind} truncated in data ({len(buf)} bytes)")
    (n,) = struct.unpack_from(order + "I", buf, pos)
    if strict and n > len(buf) - pos - 4:
        left = len(buf) - pos - 4
        raise ImageCdrError(f"serialized {kind} truncated in data: length {n}, {left} bytes left")
    return buf[pos + 4 : pos + 4 + n].toreadonly()


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
    buf, order, header, pos = _header(data, "Image")
    pos += -(pos - 4) % 4
    if pos + 8 > len(buf):
        raise ImageCdrError(f"serialized Image truncated in height/width ({len(buf)} bytes)")
    height, width = struct.unpack_from(order + "II", buf, pos)
    encoding, pos = _string(buf, pos + 8, order, "encoding", "Image")
    if pos + 1 > len(buf):
        raise ImageCdrError(f"serialized Image truncated in is_bigendian ({len(buf)} bytes)")
    is_bigendian = buf[pos]
    pos += 1
    pos += -(pos - 4) % 4
    if pos + 4 > len(buf):
        raise ImageCdrError(f"serialized Image truncated in step ({len(buf)} bytes)")
    (step,) = struct.unpack_from(order + "I", buf, pos)
    # a data length beyond the bytes received is reported by image_conversion as truncated data
    pixels = _sequence(buf, pos + 4, order, "Image", strict=False)
    return RawImage(header, int(height), int(width), encoding, int(is_bigendian), int(step), pixels)


def parse_compressed_image_cdr(data: bytes | bytearray | memoryview) -> RawCompressedImage:
    """Read a CDR-serialized ``sensor_msgs/CompressedImage`` (``data`` views the bytes, no copy).

    Raises:
        ImageCdrError: unknown encapsulation, or the bytes end before a field does (data
            included: a cut JPEG would still decode, greyed out).
    """
    buf, order, header, pos = _header(data, "CompressedImage")
    fmt, pos = _string(buf, pos, order, "format", "CompressedImage")
    return RawCompressedImage(header, fmt, _sequence(buf, pos, order, "CompressedImage", strict=True))
