"""Tests of sensor_msgs/Image <-> BGR conversion (ros2_mvpose.ros.image_conversion)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg", reason="needs the ROS 2 sensor_msgs Python package")

from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from ros2_mvpose.ros.image_conversion import (  # noqa: E402
    ImageConversionError,
    bgr_to_image_msg,
    cv_bridge_status,
    image_msg_to_bgr,
)


def random_bgr(h=7, w=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def raw_msg(pixels: np.ndarray, encoding: str, pad: int = 0, big: bool = False, cls=Image):
    """Image-like message holding ``pixels`` (H, W, C) verbatim with ``pad`` bytes per row."""
    h, w = pixels.shape[:2]
    if pixels.dtype == np.uint16:
        pixels = pixels.astype(">u2" if big else "<u2")
    row = pixels.reshape(h, -1).view(np.uint8).reshape(h, -1)
    data = np.concatenate([row, np.full((h, pad), 0xAB, np.uint8)], axis=1)
    kw = dict(height=h, width=w, encoding=encoding, is_bigendian=int(big), step=data.shape[1])
    if cls is Image:
        msg = Image(**kw)
        msg.data = data.tobytes()
        return msg
    return SimpleNamespace(data=data.reshape(-1).copy(), **kw)


@pytest.mark.parametrize("pad", [0, 3, 16])
@pytest.mark.parametrize("cls", [Image, SimpleNamespace])
def test_all_8bit_encodings(pad, cls):
    bgr = random_bgr(seed=pad)
    gray = bgr[:, :, 1].copy()
    alpha = np.full(bgr.shape[:2] + (1,), 77, np.uint8)
    cases = {
        "bgr8": (bgr, bgr),
        "8UC3": (bgr, bgr),
        "rgb8": (bgr[:, :, ::-1], bgr),
        "bgra8": (np.concatenate([bgr, alpha], axis=2), bgr),
        "8UC4": (np.concatenate([bgr, alpha], axis=2), bgr),
        "rgba8": (np.concatenate([bgr[:, :, ::-1], alpha], axis=2), bgr),
        "mono8": (gray[:, :, None], np.repeat(gray[:, :, None], 3, axis=2)),
        "8UC1": (gray[:, :, None], np.repeat(gray[:, :, None], 3, axis=2)),
    }
    for enc, (pixels, expected) in cases.items():
        out = image_msg_to_bgr(raw_msg(np.ascontiguousarray(pixels), enc, pad=pad, cls=cls))
        assert out.dtype == np.uint8 and out.shape == bgr.shape, enc
        assert out.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(out, expected, err_msg=enc)


@pytest.mark.parametrize("big", [False, True])
def test_mono16_endianness(big):
    vals = np.array([[0x0000, 0x01FF, 0x8000], [0xFF00, 0x1234, 0xFFFF]], np.uint16)
    out = image_msg_to_bgr(raw_msg(vals[:, :, None], "mono16", pad=2, big=big))
    np.testing.assert_array_equal(out[:, :, 0], [[0x00, 0x01, 0x80], [0xFF, 0x12, 0xFF]])
    np.testing.assert_array_equal(out[:, :, 0], out[:, :, 2])


def test_serialized_message_round_trip():
    """Through real CDR (as on the wire and in bags) with a padded rgb8 image."""
    bgr = random_bgr(31, 17, seed=3)
    msg = raw_msg(np.ascontiguousarray(bgr[:, :, ::-1]), "rgb8", pad=5)
    msg.header = Header(frame_id="cam1")
    back = deserialize_message(serialize_message(msg), Image)
    np.testing.assert_array_equal(image_msg_to_bgr(back), bgr)


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "mono8", "bgra8", "rgba8"])
def test_bgr_to_image_msg_round_trip(encoding):
    bgr = random_bgr(9, 4, seed=5)
    header = Header(frame_id="camX")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = bgr_to_image_msg(bgr, header=header, encoding=encoding)
    assert isinstance(msg, Image)
    assert msg.encoding == encoding and (msg.height, msg.width) == (9, 4)
    assert msg.header.frame_id == "camX" and msg.header.stamp.nanosec == 345
    assert len(msg.data) == msg.step * msg.height
    out = image_msg_to_bgr(deserialize_message(serialize_message(msg), Image))
    if encoding == "mono8":
        gray = np.asarray(msg.data, np.uint8).reshape(9, 4)
        np.testing.assert_array_equal(out, np.repeat(gray[:, :, None], 3, axis=2))
    else:
        np.testing.assert_array_equal(out, bgr)


def test_bgr_to_image_msg_errors():
    with pytest.raises(ImageConversionError, match="yuv422"):
        bgr_to_image_msg(random_bgr(), encoding="yuv422")
    with pytest.raises(ImageConversionError, match="uint8"):
        bgr_to_image_msg(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ImageConversionError, match="shape"):
        bgr_to_image_msg(np.zeros((4, 4, 2), np.uint8))


def test_unsupported_encoding_named():
    msg = raw_msg(random_bgr(), "bgr8")
    msg.encoding = "yuv422"
    with pytest.raises(ImageConversionError, match="unsupported image encoding 'yuv422'"):
        image_msg_to_bgr(msg)
    msg.encoding = "32FC1"
    with pytest.raises(ValueError, match="32FC1"):
        image_msg_to_bgr(msg)


def test_step_smaller_than_row():
    msg = raw_msg(random_bgr(4, 5), "bgr8")
    msg.step = 14  # 5 pixels * 3 bytes = 15
    with pytest.raises(ImageConversionError, match="step 14 is smaller than width"):
        image_msg_to_bgr(msg)


def test_truncated_data():
    msg = raw_msg(random_bgr(4, 5), "rgb8", pad=1)  # step 16, 64 bytes
    msg.data = bytes(msg.data)[:63]
    with pytest.raises(ImageConversionError, match="truncated image data: 63 bytes, expected"):
        image_msg_to_bgr(msg)


@pytest.mark.parametrize("h, w", [(0, 5), (5, 0), (0, 0)])
def test_zero_size(h, w):
    msg = Image(height=h, width=w, encoding="bgr8", step=w * 3)
    with pytest.raises(ImageConversionError, match="empty image"):
        image_msg_to_bgr(msg)


def test_cv_bridge_status_is_reported():
    status = cv_bridge_status()
    assert "cv_bridge" in status
