"""Hostile inputs for the nodes and stages: random bytes, random field layouts, NaN/inf, huge and
zero sizes. Every generator takes a ``random.Random`` so a failing case can be replayed."""

from __future__ import annotations

import random
import struct

import numpy as np

ENCODINGS = ["bgr8", "rgb8", "mono8", "mono16", "bayer_rggb8", "yuv422", "", "nv21", "16UC3", "\x00"]
HUGE = [0, 1, 3, 2**31 - 1, 2**32 - 1]


def random_bytes(rng: random.Random, n: int | None = None) -> bytes:
    n = rng.choice([0, 1, 4, 11, 12, 64, 1000, 5000]) if n is None else n
    return bytes(rng.getrandbits(8) for _ in range(n))


def _image(rng: random.Random):
    from sensor_msgs.msg import Image

    msg = Image()
    msg.header.stamp.sec = rng.choice([0, 1, 2**31 - 1, 1000])
    msg.height, msg.width = rng.choice(HUGE + [48]), rng.choice(HUGE + [64])
    msg.step = rng.choice(HUGE + [64 * 3, 7])
    msg.encoding = rng.choice(ENCODINGS)
    msg.is_bigendian = rng.choice([0, 1, 255])
    msg.data = random_bytes(rng, rng.choice([0, 5, 64 * 48 * 3, 9000]))
    return msg


def _compressed(rng: random.Random):
    from sensor_msgs.msg import CompressedImage

    png_huge = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 100000, 100000)
    jpeg_cut = bytes([0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0xFF, 0xFF, 0xFF, 0xFF]) + random_bytes(
        rng, 40
    )
    data = rng.choice([b"", random_bytes(rng), png_huge + random_bytes(rng, 30), jpeg_cut])
    fmt = rng.choice(["jpeg", "png", "", "bgr8; jpeg compressed bgr8", "16UC1; compressedDepth", "tiff"])
    return CompressedImage(format=fmt, data=data)


def serialized_image(rng: random.Random, compressed: bool = False) -> bytes:
    """Serialized bytes on an Image (or CompressedImage) topic: garbage, a malformed message,
    or a well-formed message cut short or with a lying length field."""
    from rclpy.serialization import serialize_message

    kind = rng.randrange(4)
    if kind == 0:
        return random_bytes(rng)
    raw = serialize_message(_compressed(rng) if compressed else _image(rng))
    if kind == 1:
        return raw
    if kind == 2:
        return raw[: rng.randrange(len(raw) + 1)]
    pos = rng.randrange(4, max(5, len(raw) - 4))  # overwrite 4 bytes: a length, a size, a stamp...
    return raw[:pos] + struct.pack("<I", rng.choice(HUGE)) + raw[pos + 4 :]


def random_cloud(rng: random.Random):
    """A PointCloud2 with random fields, layout and bytes (NaN/inf values, huge and zero sizes)."""
    from sensor_msgs.msg import PointCloud2, PointField

    names = rng.sample(["u", "v", "score", "person", "joint", "x", "junk"], rng.randint(0, 6))
    fields = [
        PointField(
            name=n,
            offset=rng.choice([0, 4, 8, 12, 16, 200, 2**31]),
            datatype=rng.choice([1, 2, 5, 7, 8, 99]),
            count=rng.choice([0, 1, 3]),
        )
        for n in names
    ]
    width = rng.choice([0, 1, 17, 2**31 - 1])
    step = rng.choice([0, 4, 20, 2**31])
    floats = np.array([rng.choice([np.nan, np.inf, -np.inf, 1e38, 3.0, -1.0]) for _ in range(64)], np.float32)
    return PointCloud2(
        height=rng.choice([0, 1, 2]),
        width=width,
        fields=fields,
        is_bigendian=rng.choice([False, True]),
        point_step=step,
        row_step=rng.choice([0, (step * width) % 2**32, 7]),
        data=floats.tobytes()[: rng.choice([0, 3, 20, 256])],
        is_dense=rng.choice([False, True]),
    )


def random_camera_info(rng: random.Random):
    """A CameraInfo with NaN/inf/zero/negative intrinsics, odd models and huge or zero sizes."""
    from sensor_msgs.msg import CameraInfo

    return CameraInfo(
        width=rng.choice(HUGE + [800]),
        height=rng.choice(HUGE + [600]),
        distortion_model=rng.choice(["plumb_bob", "equidistant", "rational_polynomial", "??", ""]),
        d=[rng.choice([0.0, np.nan, 1e300, -3.0, np.inf]) for _ in range(rng.choice([0, 4, 5, 9, 100]))],
        k=[rng.choice([0.0, 600.0, np.inf, np.nan, -1.0, 400.0]) for _ in range(9)],
    )
