"""sensor_msgs/CompressedImage decoding, from messages and from serialized CDR, checked against
real encoders (OpenCV) and rclpy's serializer."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage

from ros2_mvpose.ros.bad_message import BadMessage
from ros2_mvpose.ros.compressed_image import (
    MAX_PIXELS,
    compressed_msg_to_bgr,
    sniff_compressed,
    validate_compressed_msg,
)
from ros2_mvpose.ros.image_cdr import ImageCdrError, RawCompressedImage, parse_compressed_image_cdr
from ros2_mvpose.ros.image_conversion import image_to_bgr


def smooth_bgr(h=48, w=64, seed=0) -> np.ndarray:
    """A smooth colour image (JPEG keeps it within a few grey levels) with distinct channels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(float)
    a, b, c = rng.uniform(0.5, 2.0, 3)
    img = np.stack([
        127 + 100 * np.sin(a * x / w * np.pi),
        127 + 100 * np.cos(b * y / h * np.pi),
        40 + 180 * (x + y) / (h + w) * c / 2,
    ], axis=2)
    return np.clip(img, 0, 255).astype(np.uint8)


def compressed(data: bytes, fmt: str, frame_id: str = "cam1") -> CompressedImage:
    msg = CompressedImage(format=fmt)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_000, 123_456_789
    msg.data = data
    return msg


def encode(img: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


# (format string as written by image_transport's compressed plugin / other producers,
#  container, what the producer gave the encoder)
CASES = [
    ("jpeg", ".jpg", "bgr"),
    ("png", ".png", "bgr"),
    ("", ".png", "bgr"),
    ("bgr8; jpeg compressed bgr8", ".jpg", "bgr"),
    ("rgb8; jpeg compressed bgr8", ".jpg", "bgr"),
    ("bgr8; png compressed bgr8", ".png", "bgr"),
    ("rgba8; png compressed bgr8", ".png", "bgr"),
    ("rgb8; jpeg compressed rgb8", ".jpg", "rgb"),
    ("mono8; jpeg compressed mono8", ".jpg", "mono"),
    ("8UC1; jpeg compressed ", ".jpg", "mono"),
    ("mono8; png compressed mono8", ".png", "mono"),
    ("mono16; png compressed mono16", ".png", "mono16"),
    ("bgr16; png compressed bgr16", ".png", "bgr16"),
    ("bgra8; png compressed bgra8", ".png", "bgra"),
]


def producer_input(bgr: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(array handed to the encoder, BGR expected back)."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if kind == "bgr":
        return bgr, bgr
    if kind == "rgb":
        return bgr[:, :, ::-1].copy(), bgr
    if kind == "mono":
        return gray, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if kind == "mono16":
        g16 = gray.astype(np.uint16) * 257 + 3
        return g16, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if kind == "bgr16":
        return bgr.astype(np.uint16) * 256 + 255, bgr
    if kind == "bgra":
        alpha = np.full(bgr.shape[:2] + (1,), 200, np.uint8)
        return np.concatenate([bgr, alpha], axis=2), bgr
    raise AssertionError(kind)


@pytest.mark.parametrize("fmt, ext, kind", CASES)
def test_decodes_like_the_encoder_was_given(fmt, ext, kind):
    bgr = smooth_bgr(seed=len(fmt))
    given, expected = producer_input(bgr, kind)
    msg = compressed(encode(given, ext), fmt)
    for m in (msg, parse_compressed_image_cdr(serialize_message(msg))):
        out = compressed_msg_to_bgr(m)
        assert out.shape == bgr.shape and out.dtype == np.uint8 and out.flags["C_CONTIGUOUS"]
        err = np.abs(out.astype(int) - expected.astype(int))
        if ext == ".png":
            assert err.max() == 0, fmt
        else:
            assert err.mean() < 3 and np.percentile(err, 99) < 20, (fmt, err.mean())
        np.testing.assert_array_equal(image_to_bgr(m), out)  # the dispatcher picks the decoder


def test_channel_order_is_not_guessed():
    """A pure-red BGR image stays red for the plugin's bgr8 target and for an rgb8 target."""
    red = np.zeros((16, 16, 3), np.uint8)
    red[:, :, 2] = 255
    out = compressed_msg_to_bgr(compressed(encode(red, ".png"), "rgb8; png compressed bgr8"))
    assert out[0, 0].tolist() == [0, 0, 255]
    rgb_png = encode(red[:, :, ::-1].copy(), ".png")
    out = compressed_msg_to_bgr(compressed(rgb_png, "rgb8; png compressed rgb8"))
    assert out[0, 0].tolist() == [0, 0, 255]


@pytest.mark.parametrize("frame_id", ["", "a", "abc", "abcd", "cam_optical_frame", "caméra"])
@pytest.mark.parametrize("fmt", ["", "j", "png", "rgb8; jpeg compressed bgr8"])
def test_cdr_fields_equal_rclpy_message(frame_id, fmt):
    data = encode(smooth_bgr(8, 8), ".png")
    msg = compressed(data, fmt, frame_id)
    buf = serialize_message(msg)
    raw = parse_compressed_image_cdr(buf)
    assert isinstance(raw, RawCompressedImage)
    assert raw.header == msg.header and raw.format == fmt
    assert bytes(raw.data) == data and raw.data.readonly and raw.data.obj is buf


def test_cdr_truncated_at_every_byte():
    msg = compressed(encode(smooth_bgr(8, 8), ".png"), "bgr8; png compressed bgr8")
    buf = serialize_message(msg)
    for cut in range(len(buf)):
        with pytest.raises(ImageCdrError, match="serialized CompressedImage") as info:
            parse_compressed_image_cdr(buf[:cut])
        assert info.value.problem in ("truncated", "cdr")
    parse_compressed_image_cdr(buf)
    with pytest.raises(ImageCdrError, match="encapsulation 0x0203"):
        parse_compressed_image_cdr(b"\x02\x03" + buf[2:])


def test_truncated_and_foreign_data_are_named():
    data = encode(smooth_bgr(), ".jpg")
    for cut in (len(data) - 1, len(data) // 2, 40):
        with pytest.raises(BadMessage, match="jpeg|JPEG"):
            compressed_msg_to_bgr(compressed(data[:cut], "jpeg"))
    png = encode(smooth_bgr(), ".png")
    for cut in (len(png) - 1, len(png) // 2, 30, 20, 9):
        with pytest.raises(BadMessage, match="png|PNG"):
            compressed_msg_to_bgr(compressed(png[:cut], "png"))
    with pytest.raises(BadMessage, match="neither JPEG nor PNG") as info:
        compressed_msg_to_bgr(compressed(b"GIF89a" + bytes(100), "gif"))
    assert info.value.problem == "format"
    with pytest.raises(BadMessage, match="no data"):
        compressed_msg_to_bgr(compressed(b"", "jpeg"))
    with pytest.raises(BadMessage, match="depth map"):
        compressed_msg_to_bgr(compressed(png, "16UC1; compressedDepth png"))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header declares ``width x height`` pixels of zeros."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (min(width, 4096) + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_huge_declared_size_is_refused_before_decoding():
    bomb = png_declaring(60_000, 60_000)
    assert len(bomb) < 200
    assert sniff_compressed(bomb, max_pixels=None)[1:] == (60_000, 60_000)
    with pytest.raises(BadMessage, match="more than the") as info:
        compressed_msg_to_bgr(compressed(bomb, "png"))
    assert info.value.problem == "size"
    with pytest.raises(BadMessage, match="more than the"):
        validate_compressed_msg(compressed(bomb, "png"))
    assert 60_000 * 60_000 > MAX_PIXELS
    # a JPEG whose frame header is patched to 65535 x 65535
    jpg = bytearray(encode(smooth_bgr(8, 8), ".jpg"))
    sof = jpg.index(b"\xff\xc0")
    jpg[sof + 5 : sof + 9] = b"\xff\xff\xff\xff"
    with pytest.raises(BadMessage, match="65535x65535"):
        compressed_msg_to_bgr(compressed(bytes(jpg), "jpeg"))
    with pytest.raises(BadMessage, match="empty image"):
        compressed_msg_to_bgr(compressed(png_declaring(0, 5), "png"))


def test_fuzz_only_bad_message_or_an_image():
    """Random bytes, mutated real JPEG/PNG streams and cut CDR: decode or BadMessage, nothing else."""
    rng = np.random.default_rng(7)
    seeds = [encode(smooth_bgr(16, 24, s), ext) for s in range(3) for ext in (".jpg", ".png")]
    seeds.append(encode(cv2.cvtColor(smooth_bgr(16, 24), cv2.COLOR_BGR2GRAY), ".jpg"))
    decoded = 0
    for trial in range(1500):
        base = bytearray(seeds[trial % len(seeds)])
        mode = trial % 5
        if mode == 0:
            data = rng.integers(0, 256, rng.integers(0, 300), np.uint8).tobytes()
            if rng.random() < 0.5:
                data = bytes(base[:8]) + data
        elif mode == 1:
            for _ in range(rng.integers(1, 8)):
                base[rng.integers(0, len(base))] = rng.integers(0, 256)
            data = bytes(base)
        elif mode == 2:
            data = bytes(base[: rng.integers(0, len(base))])
        elif mode == 3:  # mutate only the header bytes (sizes, markers)
            for _ in range(rng.integers(1, 4)):
                base[rng.integers(0, min(40, len(base)))] = rng.integers(0, 256)
            data = bytes(base)
        else:
            cut = serialize_message(compressed(bytes(base), "bgr8; jpeg compressed bgr8"))
            cut = bytearray(cut[: rng.integers(0, len(cut) + 1)])
            if len(cut) > 4 and rng.random() < 0.5:
                cut[rng.integers(4, len(cut))] = rng.integers(0, 256)
            try:
                raw = parse_compressed_image_cdr(bytes(cut))
            except BadMessage:
                continue
            data = bytes(raw.data)
        fmt = ["jpeg", "png", "", "rgb8; jpeg compressed rgb8", "x; png compressed mono16"][trial % 5]
        try:
            out = compressed_msg_to_bgr(compressed(data, fmt))
        except BadMessage as exc:
            assert exc.problem and str(exc)
            continue
        assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8
        decoded += 1
    assert decoded > 50  # the fuzzer also reaches the decoder's success path
