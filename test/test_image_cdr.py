"""ros2_mvpose.ros.image_cdr: serialized sensor_msgs/Image read in place, checked against rclpy."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image

from ros2_mvpose.ros.image_cdr import ImageCdrError, RawImage, parse_image_cdr
from ros2_mvpose.ros.image_conversion import ImageConversionError, image_msg_to_bgr
from ros2_mvpose.ros.node_utils import stamp_to_sec


def make_msg(frame_id: str, encoding: str, h: int = 3, w: int = 5, step: int = 17, big: int = 0) -> Image:
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=big, step=step)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec = 1_700_000_123
    msg.header.stamp.nanosec = 987_654_321
    msg.data = bytes((np.arange(h * step) * 7 % 251).astype(np.uint8))
    return msg


@pytest.mark.parametrize("frame_id", ["", "a", "ab", "abc", "abcd", "cam1_optical_frame", "caméra"])
@pytest.mark.parametrize("encoding", ["bgr8", "mono8", "rgba8", "16UC1", ""])
def test_fields_equal_rclpy_message(frame_id, encoding):
    msg = make_msg(frame_id, encoding, big=1)
    raw = parse_image_cdr(serialize_message(msg))
    assert isinstance(raw, RawImage)
    assert raw.header == msg.header  # a real std_msgs/Header, stamp and frame id exact
    assert (raw.height, raw.width, raw.encoding, raw.is_bigendian, raw.step) == (3, 5, encoding, 1, 17)
    assert bytes(raw.data) == bytes(msg.data)
    assert stamp_to_sec(raw.header.stamp) == pytest.approx(1_700_000_123.987654321, abs=1e-6)


def test_pixels_are_a_view_and_convert_like_the_message():
    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    msg = Image(height=48, width=64, encoding="rgb8", step=64 * 3 + 8)
    rows = np.zeros((48, 64 * 3 + 8), np.uint8)
    rows[:, : 64 * 3] = img[:, :, ::-1].reshape(48, -1)
    msg.data = rows.tobytes()
    buf = serialize_message(msg)
    raw = parse_image_cdr(buf)
    assert raw.data.readonly and raw.data.obj is buf  # no copy of the pixels
    np.testing.assert_array_equal(image_msg_to_bgr(raw), img)
    np.testing.assert_array_equal(image_msg_to_bgr(raw), image_msg_to_bgr(msg))


def big_endian_cdr(frame_id: bytes, encoding: bytes, h: int, w: int, step: int, data: bytes) -> bytes:
    """A big-endian CDR Image written by hand (alignment relative to the payload start)."""
    out = bytearray(b"\x00\x00\x00\x00")

    def align(n):
        out.extend(b"\0" * (-(len(out) - 4) % n))

    def string(s):
        align(4)
        out.extend(struct.pack(">I", len(s) + 1) + s + b"\0")

    out.extend(struct.pack(">iI", 12, 34))
    string(frame_id)
    align(4)
    out.extend(struct.pack(">II", h, w))
    string(encoding)
    out.append(0)
    align(4)
    out.extend(struct.pack(">II", step, len(data)))
    out.extend(data)
    return bytes(out)


def test_big_endian_cdr():
    data = bytes(range(2 * 6))
    raw = parse_image_cdr(big_endian_cdr(b"camX", b"mono8", 2, 5, 6, data))
    assert (raw.header.stamp.sec, raw.header.stamp.nanosec, raw.header.frame_id) == (12, 34, "camX")
    assert (raw.height, raw.width, raw.encoding, raw.step) == (2, 5, "mono8", 6)
    assert bytes(raw.data) == data
    assert image_msg_to_bgr(raw).shape == (2, 5, 3)


def test_truncated_or_foreign_bytes_raise_a_clear_error():
    buf = serialize_message(make_msg("cam1", "bgr8"))
    header_end = 4 + 8 + 4 + len("cam1") + 1  # encapsulation, stamp, frame_id
    for cut in (0, 5, 11, 14, header_end - 2, header_end + 3, header_end + 9, header_end + 17):
        with pytest.raises(ImageCdrError, match="serialized Image"):
            parse_image_cdr(buf[:cut])
    with pytest.raises(ImageCdrError, match="encapsulation 0x1234"):
        parse_image_cdr(b"\x12\x34" + buf[2:])
    # pixel data cut short: parsed, then the conversion says the data is truncated
    raw = parse_image_cdr(buf[:-10])
    with pytest.raises(ImageConversionError, match="truncated image data"):
        image_msg_to_bgr(raw)
    assert issubclass(ImageCdrError, ImageConversionError)
