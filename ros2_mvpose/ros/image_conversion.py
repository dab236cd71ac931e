"""sensor_msgs/Image <-> OpenCV BGR arrays, with validation that names the problem.

``image_msg_to_bgr`` accepts rclpy messages and any object with the same attributes (e.g. the
dataclasses of the ``rosbags`` library). The package's own conversion is always available;
cv_bridge is used for rclpy messages only when it imports *and* passes a probe conversion at
first use (the PyPI ``cv_bridge`` build is broken with numpy 2, so a failing import or a wrong
probe result silently falls back). Set ``ROS2_MVPOSE_NO_CV_BRIDGE=1`` to never use it.

Supported encodings: ``bgr8``, ``rgb8``, ``mono8``, ``bgra8``, ``rgba8`` (and their OpenCV
aliases ``8UC3`` = bgr8, ``8UC1`` = mono8, ``8UC4`` = bgra8); ``mono16``/``16UC1`` (scaled to
8 bits by keeping the high byte, i.e. ``value >> 8``; ``is_bigendian`` honoured); the 8-bit Bayer
mosaics ``bayer_rggb8``, ``bayer_bggr8``, ``bayer_gbrg8``, ``bayer_grbg8`` (demosaiced by
OpenCV's bilinear ``cvtColor``); YUV 4:2:2 ``yuv422`` (= ``uyvy``, byte order U Y0 V Y1, as
ROS defines it), ``yuv422_yuy2`` (= ``yuyv``, Y0 U Y1 V). Row padding (``step`` larger than
``width * bytes per pixel``) is honoured.

``sensor_msgs/CompressedImage`` (jpeg, png) is decoded by
:mod:`ros2_mvpose.ros.compressed_image`; :func:`image_to_bgr` takes either kind.

Every malformed message raises :class:`ImageConversionError`, a
:class:`~ros2_mvpose.ros.bad_message.BadMessage`, and nothing else.
"""

from __future__ import annotations

import os
import threading

import cv2
import numpy as np

from ros2_mvpose.ros.bad_message import BadMessage, byte_array, uint_field


class ImageConversionError(BadMessage):
    """An image message cannot be converted (encoding, size, layout or decoding problem)."""


# OpenCV names a Bayer pattern after the 2x2 block starting at the second row and column
# (BayerBG = ROS rggb); these are the codes cv_bridge uses for the ROS encodings.
# encoding -> (channels, bytes per channel, cvtColor code to BGR or None)
_LAYOUT: dict[str, tuple[int, int, int | None]] = {
    "bgr8": (3, 1, None),
    "rgb8": (3, 1, cv2.COLOR_RGB2BGR),
    "mono8": (1, 1, cv2.COLOR_GRAY2BGR),
    "bgra8": (4, 1, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, 1, cv2.COLOR_RGBA2BGR),
    "8uc3": (3, 1, None),
    "8uc1": (1, 1, cv2.COLOR_GRAY2BGR),
    "8uc4": (4, 1, cv2.COLOR_BGRA2BGR),
    "mono16": (1, 2, cv2.COLOR_GRAY2BGR),
    "16uc1": (1, 2, cv2.COLOR_GRAY2BGR),
    "bayer_rggb8": (1, 1, cv2.COLOR_BayerBG2BGR),
    "bayer_bggr8": (1, 1, cv2.COLOR_BayerRG2BGR),
    "bayer_gbrg8": (1, 1, cv2.COLOR_BayerGR2BGR),
    "bayer_grbg8": (1, 1, cv2.COLOR_BayerGB2BGR),
    "yuv422": (2, 1, cv2.COLOR_YUV2BGR_UYVY),
    "uyvy": (2, 1, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": (2, 1, cv2.COLOR_YUV2BGR_YUYV),
    "yuyv": (2, 1, cv2.COLOR_YUV2BGR_YUYV),
}
SUPPORTED_ENCODINGS = (
    "rgb8", "bgr8", "mono8", "rgba8", "bgra8", "8UC1", "8UC3", "8UC4", "mono16", "16UC1",
    "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8", "yuv422", "uyvy", "yuv422_yuy2", "yuyv",
)
_FROM_BGR = {
    "bgr8": None,
    "rgb8": cv2.COLOR_BGR2RGB,
    "mono8": cv2.COLOR_BGR2GRAY,
    "bgra8": cv2.COLOR_BGR2BGRA,
    "rgba8": cv2.COLOR_BGR2RGBA,
}


def _as_uint8_buffer(data) -> np.ndarray:
    """The message's data field as a 1-D uint8 array (no copy for buffer-protocol objects)."""
    return byte_array(data, "image", ImageConversionError)


def _validated_pixels(msg) -> tuple[str, np.ndarray]:
    """Check the message layout and return ``(encoding key, (H, W, C) array)`` without conversion."""
    encoding = str(getattr(msg, "encoding", ""))
    key = encoding.lower()
    if key not in _LAYOUT:
        raise ImageConversionError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}",
            "encoding",
        )
    h, w, step = (uint_field(msg, f, "image", ImageConversionError) for f in ("height", "width", "step"))
    if h <= 0 or w <= 0:
        raise ImageConversionError(f"empty image: width {w}, height {h}", "empty")
    channels, depth, _ = _LAYOUT[key]
    if channels == 2 and w % 2:
        raise ImageConversionError(f"{encoding} needs an even width (4:2:2 pairs pixels), got {w}", "size")
    if key.startswith("bayer") and (w < 2 or h < 2):
        raise ImageConversionError(f"{encoding} needs at least 2x2 pixels, got {w}x{h}", "size")
    row = w * channels * depth
    if step < row:
        raise ImageConversionError(
            f"step {step} is smaller than width*bytes_per_pixel = {w}*{channels * depth} = {row} "
            f"({encoding})",
            "step",
        )
    buf = _as_uint8_buffer(getattr(msg, "data", b""))
    if buf.size < step * h:
        raise ImageConversionError(
            f"truncated image data: {buf.size} bytes, expected step*height = {step}*{h} = {step * h}",
            "truncated",
        )
    rows = buf[: step * h].reshape(h, step)[:, :row]
    if depth == 2:
        big = bool(getattr(msg, "is_bigendian", False))
        pixels = np.ascontiguousarray(rows).view(">u2" if big else "<u2").reshape(h, w, channels)
    else:
        pixels = rows.reshape(h, w, channels)
    return key, pixels


def validate_image_msg(msg) -> None:
    """Check encoding, size, ``step`` and data length without converting (cheap, O(1) in pixels).

    Raises:
        ImageConversionError: the same problems :func:`image_msg_to_bgr` would raise for.
    """
    _validated_pixels(msg)


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """16-bit pixels -> 8 bits by keeping the high byte (``value >> 8``); uint8 unchanged."""
    if pixels.dtype == np.uint8:
        return pixels
    return (pixels.astype(np.uint16) >> 8).astype(np.uint8)


def image_msg_to_bgr(msg) -> np.ndarray:
    """Convert a ``sensor_msgs/Image`` (or look-alike) to an ``(H, W, 3)`` uint8 BGR array.

    The result is C-contiguous; for ``bgr8`` without row padding it may share memory with the
    message (and then be read-only): copy it before writing into it.

    Raises:
        ImageConversionError: unsupported encoding, zero size, ``step`` smaller than a row, or
            data shorter than ``step * height``.
    """
    key, pixels = _validated_pixels(msg)
    bridge = _cv_bridge() if _is_rclpy_image(msg) else None
    if bridge is not None:
        try:
            out = bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8")
            if out.shape == (pixels.shape[0], pixels.shape[1], 3) and out.dtype == np.uint8:
                return np.ascontiguousarray(out)
        except Exception:  # noqa: BLE001 - any cv_bridge failure: use our own conversion
            pass
    pixels = to_8bit(pixels)
    code = _LAYOUT[key][2]
    if code is None:
        return np.ascontiguousarray(pixels)
    src = pixels[:, :, 0] if pixels.shape[2] == 1 else pixels
    try:
        return cv2.cvtColor(np.ascontiguousarray(src), code)
    except cv2.error as exc:  # sizes are checked above; kept so no OpenCV error escapes
        raise ImageConversionError(f"OpenCV cannot convert this {key} image: {exc}", "decode") from exc


def image_to_bgr(msg) -> np.ndarray:
    """``sensor_msgs/Image`` or ``sensor_msgs/CompressedImage`` (or look-alikes) -> BGR array.

    A message with a ``format`` field and no ``encoding`` field is taken as compressed.
    """
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        from ros2_mvpose.ros.compressed_image import compressed_msg_to_bgr

        return compressed_msg_to_bgr(msg)
    return image_msg_to_bgr(msg)


def bgr_to_image_msg(img: np.ndarray, header=None, encoding: str = "bgr8"):
    """Build a ``sensor_msgs/Image`` from an ``(H, W, 3)`` uint8 BGR array.

    Args:
        img: BGR image (a 2-D array is accepted as grey).
        header: ``std_msgs/Header`` to copy (optional).
        encoding: output encoding, one of bgr8, rgb8, mono8, bgra8, rgba8.
    """
    from sensor_msgs.msg import Image

    if encoding not in _FROM_BGR:
        raise ImageConversionError(f"cannot encode to {encoding!r}; supported: {', '.join(_FROM_BGR)}")
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise ImageConversionError(f"image must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageConversionError(f"image must have shape (H, W, 3) with H, W > 0, got {arr.shape}")
    code = _FROM_BGR[encoding]
    out = arr if code is None else cv2.cvtColor(arr, code)
    out = np.ascontiguousarray(out)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(out.shape[0]), int(out.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(out.strides[0])
    msg.data = out.tobytes()
    return msg


# ---------------------------------------------------------------------------------- cv_bridge
_bridge_lock = threading.Lock()
_bridge_state: dict = {}


def _is_rclpy_image(msg) -> bool:
    return type(msg).__module__.startswith("sensor_msgs.msg")


def cv_bridge_status() -> str:
    """A line saying whether cv_bridge is used, and why not if it is not."""
    _cv_bridge()
    return _bridge_state["status"]


def _cv_bridge():
    """A working ``CvBridge`` or ``None`` (probed once per process)."""
    with _bridge_lock:
        if "bridge" in _bridge_state:
            return _bridge_state["bridge"]
        bridge, status = None, ""
        if os.environ.get("ROS2_MVPOSE_NO_CV_BRIDGE", "") not in ("", "0"):
            status = "cv_bridge disabled by ROS2_MVPOSE_NO_CV_BRIDGE; using the package's own conversion"
        else:
            try:
                from cv_bridge import CvBridge

                candidate = CvBridge()
                bridge, status = _probe(candidate), "cv_bridge in use"
                if bridge is None:
                    status = "cv_bridge imports but converts wrongly; using the package's own conversion"
            except Exception as exc:  # noqa: BLE001 - ImportError, numpy ABI errors, ...
                status = (
                    f"cv_bridge unusable ({type(exc).__name__}: {exc}); using the package's own conversion"
                )
        _bridge_state["bridge"], _bridge_state["status"] = bridge, status
        return bridge


def _probe(bridge):
    """Return ``bridge`` if it converts a small padded rgb8 image exactly like our own code."""
    from sensor_msgs.msg import Image

    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    msg = Image(height=2, width=3, encoding="rgb8", is_bigendian=0, step=12)
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = rgb.reshape(2, 9)
    msg.data = padded.tobytes()
    out = bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8")
    return bridge if np.array_equal(np.asarray(out), rgb[:, :, ::-1]) else None
