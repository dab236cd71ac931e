"""Tests of sensor_msgs/Image <-> BGR conversion (ros2_mvpose.ros.image_conversion)."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
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
    msg.encoding = "nv21"
    with pytest.raises(ImageConversionError, match="unsupported image encoding 'nv21'") as info:
        image_msg_to_bgr(msg)
    assert info.value.problem == "encoding"
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


# ------------------------------------------------------------------------ Bayer and YUV 4:2:2
# ROS names a Bayer pattern after its top-left 2x2 block, row by row: rggb = R G / G B.
BAYER_OFFSETS = {  # encoding -> {channel (BGR index): (row, col) parities}
    "bayer_rggb8": {2: [(0, 0)], 1: [(0, 1), (1, 0)], 0: [(1, 1)]},
    "bayer_bggr8": {0: [(0, 0)], 1: [(0, 1), (1, 0)], 2: [(1, 1)]},
    "bayer_gbrg8": {1: [(0, 0), (1, 1)], 0: [(0, 1)], 2: [(1, 0)]},
    "bayer_grbg8": {1: [(0, 0), (1, 1)], 2: [(0, 1)], 0: [(1, 0)]},
}


def mosaic(bgr: np.ndarray, encoding: str) -> np.ndarray:
    """What a sensor with this colour filter array records of the scene ``bgr``."""
    out = np.zeros(bgr.shape[:2], np.uint8)
    for channel, cells in BAYER_OFFSETS[encoding].items():
        for r, c in cells:
            out[r::2, c::2] = bgr[r::2, c::2, channel]
    return out


@pytest.mark.parametrize("encoding", sorted(BAYER_OFFSETS))
@pytest.mark.parametrize("colour", [(255, 0, 0), (0, 255, 0), (0, 0, 255), (40, 180, 220)])
def test_bayer_flat_colours_come_back(encoding, colour):
    """A flat-coloured scene demosaics to that colour (away from the border) for each pattern."""
    bgr = np.empty((12, 16, 3), np.uint8)
    bgr[:] = colour
    out = image_msg_to_bgr(raw_msg(mosaic(bgr, encoding)[:, :, None], encoding, pad=3))
    assert out.shape == bgr.shape
    inner = out[2:-2, 2:-2].reshape(-1, 3)
    np.testing.assert_allclose(inner.mean(axis=0), colour, atol=2)
    assert np.abs(inner.astype(int) - colour).max() <= 3, (encoding, colour)


@pytest.mark.parametrize("encoding", sorted(BAYER_OFFSETS))
def test_bayer_smooth_scene(encoding):
    """A smooth random scene: demosaicing recovers it closely, the wrong pattern does not."""
    rng = np.random.default_rng(len(encoding))
    small = rng.integers(0, 256, (5, 6, 3), np.uint8)
    bgr = cv2.resize(small, (48, 40), interpolation=cv2.INTER_CUBIC)
    raw = mosaic(bgr, encoding)[:, :, None]
    err = {
        other: np.abs(
            image_msg_to_bgr(raw_msg(raw, other)).astype(int)[3:-3, 3:-3] - bgr.astype(int)[3:-3, 3:-3]
        ).mean()
        for other in BAYER_OFFSETS
    }
    assert err[encoding] < 4, err
    assert all(err[encoding] * 3 < e for k, e in err.items() if k != encoding), err


def yuv422_bytes(bgr: np.ndarray, order: str) -> np.ndarray:
    """BT.601 (studio swing, as OpenCV) 4:2:2 bytes of ``bgr`` (pixel pairs share U, V).

    Written from the formulas, not with OpenCV, so the decoder is checked independently.
    """
    b, g, r = (bgr[:, :, i].astype(float) for i in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    u2 = (u[:, 0::2] + u[:, 1::2]) / 2
    v2 = (v[:, 0::2] + v[:, 1::2]) / 2
    h, w = y.shape
    out = np.empty((h, w // 2, 4))
    if order == "uyvy":
        out[..., 0], out[..., 1], out[..., 2], out[..., 3] = u2, y[:, 0::2], v2, y[:, 1::2]
    else:
        out[..., 0], out[..., 1], out[..., 2], out[..., 3] = y[:, 0::2], u2, y[:, 1::2], v2
    return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(h, w, 2)


@pytest.mark.parametrize("encoding, order", [
    ("yuv422", "uyvy"), ("uyvy", "uyvy"), ("yuv422_yuy2", "yuyv"), ("yuyv", "yuyv"),
])
def test_yuv422(encoding, order):
    """Pixel pairs of one colour (so 4:2:2 loses nothing) decode to that colour."""
    rng = np.random.default_rng(len(encoding))
    pairs = rng.integers(20, 236, (6, 5, 3), np.uint8)
    bgr = np.repeat(pairs, 2, axis=1)
    out = image_msg_to_bgr(raw_msg(yuv422_bytes(bgr, order), encoding, pad=4))
    assert out.shape == bgr.shape
    assert np.abs(out.astype(int) - bgr.astype(int)).max() <= 4
    swapped = "yuv422_yuy2" if order == "uyvy" else "yuv422"
    wrong = image_msg_to_bgr(raw_msg(yuv422_bytes(bgr, order), swapped, pad=4))
    assert np.abs(wrong.astype(int) - bgr.astype(int)).mean() > 20


def test_odd_sizes_named():
    with pytest.raises(ImageConversionError, match="even width") as info:
        image_msg_to_bgr(raw_msg(np.zeros((4, 5, 2), np.uint8), "yuv422"))
    assert info.value.problem == "size"
    with pytest.raises(ImageConversionError, match="at least 2x2"):
        image_msg_to_bgr(raw_msg(np.zeros((1, 6, 1), np.uint8), "bayer_rggb8"))
    # odd Bayer sizes are fine
    assert image_msg_to_bgr(raw_msg(np.zeros((5, 7, 1), np.uint8), "bayer_gbrg8")).shape == (5, 7, 3)


# ------------------------------------------------------------------------ fuzz
def test_fuzz_random_layouts_only_bad_message():
    """Random encodings, sizes, steps, data lengths and endianness: a BGR image or BadMessage."""
    from ros2_mvpose.ros.bad_message import BadMessage
    from ros2_mvpose.ros.image_conversion import SUPPORTED_ENCODINGS, validate_image_msg

    rng = np.random.default_rng(11)
    encodings = list(SUPPORTED_ENCODINGS) + ["", "32FC1", "BGR8", "bayer_rggb16", "nv12", "\x00"]
    ok = 0
    for _ in range(3000):
        enc = encodings[rng.integers(0, len(encodings))]
        big = [0, 1, 2**31 - 1, 2**32 - 1]
        h = int(rng.choice([0, 1, 2, 3, 7, 16, *big])) if rng.random() < 0.3 else int(rng.integers(1, 9))
        w = int(rng.choice([0, 1, 2, 3, 7, 16, *big])) if rng.random() < 0.3 else int(rng.integers(1, 9))
        step = int(rng.choice([0, w, w * 2, w * 3, w * 4 + 1, *big]))
        n = int(rng.choice([0, 1, max(h * step, 0) % 4096, h * step - 1 if 0 < h * step < 4096 else 5,
                            int(rng.integers(0, 600))]))
        msg = Image(height=h, width=w, encoding=enc, is_bigendian=int(rng.integers(0, 2)), step=step)
        msg.data = rng.integers(0, 256, n, np.uint8).tobytes()
        try:
            validate_image_msg(msg)
        except BadMessage as exc:
            assert exc.problem
            with pytest.raises(BadMessage):
                image_msg_to_bgr(msg)
            continue
        out = image_msg_to_bgr(msg)
        assert out.shape == (h, w, 3) and out.dtype == np.uint8
        ok += 1
    assert ok > 100


def test_fuzz_serialized_images_only_bad_message():
    """Serialized Images cut at every byte and randomly corrupted: parse+convert or BadMessage."""
    from ros2_mvpose.ros.bad_message import BadMessage
    from ros2_mvpose.ros.image_cdr import parse_image_cdr

    rng = np.random.default_rng(12)
    msg = raw_msg(random_bgr(4, 6), "rgb8", pad=2)
    msg.header = Header(frame_id="cam_frame")
    buf = serialize_message(msg)
    cases = [buf[:cut] for cut in range(len(buf) + 1)]
    for _ in range(2000):
        b = bytearray(buf)
        for _ in range(rng.integers(1, 6)):
            b[rng.integers(0, len(b))] = rng.integers(0, 256)
        cases.append(bytes(b if rng.random() < 0.5 else b[: rng.integers(len(b) // 2, len(b) + 1)]))
    converted = 0
    for data in cases:
        try:
            out = image_msg_to_bgr(parse_image_cdr(data))
        except BadMessage as exc:
            assert exc.problem
            continue
        assert out.ndim == 3 and out.dtype == np.uint8
        converted += 1
    assert converted > 200
