"""sensor_msgs/CompressedImage (jpeg, png) -> OpenCV BGR arrays.

``format`` is read as image_transport's compressed plugin writes it:
``"<source encoding>; <jpeg|png> compressed <target>"`` (e.g. ``"rgb8; jpeg compressed bgr8"``,
``"mono16; png compressed mono16"``); plain ``"jpeg"`` / ``"png"`` and an empty format are taken
too. The container is recognised from the data itself (JPEG or PNG signature). The plugin
converts colour images to ``bgr8``/``bgr16`` before encoding, so the decoded pixels are BGR; a
``<target>`` of ``rgb8``/``rgba8``/``rgb16`` (written by some other producers) means the encoder
was given RGB, and the channels are swapped back. 16-bit images keep their high byte
(``value >> 8``), like ``mono16`` raw images. ``compressedDepth`` (depth maps) is not an image
the 2D models can use and is refused.

Before decoding, the image size is read from the JPEG SOF / PNG IHDR header and refused above
:data:`MAX_PIXELS`, so a few bytes declaring a gigantic image cannot exhaust memory.
Every malformed message raises :class:`~ros2_mvpose.ros.image_conversion.ImageConversionError`
(a :class:`~ros2_mvpose.ros.bad_message.BadMessage`) and nothing else.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

from ros2_mvpose.ros.image_conversion import ImageConversionError, _as_uint8_buffer, to_8bit

__all__ = ["MAX_PIXELS", "compressed_msg_to_bgr", "sniff_compressed", "validate_compressed_msg"]

#: Largest accepted decoded image, in pixels (8K UHD is 33 MP).
MAX_PIXELS = 100_000_000

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (all SOFn except DHT C4, JPG C8, DAC CC)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_NO_LENGTH = {0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8}


def _jpeg_size(buf: bytes | memoryview) -> tuple[int, int]:
    """(width, height) from the first SOF segment of a JPEG stream."""
    pos, n = 2, len(buf)
    while pos + 4 <= n:
        if buf[pos] != 0xFF:
            raise ImageConversionError(f"corrupt JPEG: no marker at byte {pos}", "decode")
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _NO_LENGTH:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", buf, pos + 2)
        if marker in _SOF:
            if pos + 9 > n:
                break
            height, width = struct.unpack_from(">HH", buf, pos + 5)
            return width, height
        if marker in (0xDA, 0xD9) or length < 2:  # scan or end before any frame header
            raise ImageConversionError("corrupt JPEG: no frame header before the image data", "decode")
        pos += 2 + length
    raise ImageConversionError(f"JPEG data truncated before its frame header ({n} bytes)", "truncated")


def sniff_compressed(data, max_pixels: int | None = MAX_PIXELS) -> tuple[str, int, int]:
    """``(container, width, height)`` of compressed image bytes, read from their header.

    Raises:
        ImageConversionError: neither JPEG nor PNG, a header cut short, an empty image, or more
            than ``max_pixels`` pixels (``None``: no limit).
    """
    buf = _as_uint8_buffer(data)
    head = buf[:8].tobytes()
    if head[:2] == b"\xff\xd8":
        width, height = _jpeg_size(memoryview(buf))
        container = "jpeg"
    elif head == _PNG_SIGNATURE:
        if buf.size < 24 or buf[12:16].tobytes() != b"IHDR":
            raise ImageConversionError(f"PNG data truncated or without IHDR ({buf.size} bytes)", "truncated")
        width, height = struct.unpack_from(">II", buf, 16)
        container = "png"
    elif buf.size == 0:
        raise ImageConversionError("compressed image has no data", "empty")
    else:
        raise ImageConversionError(
            f"compressed image data is neither JPEG nor PNG (starts with {head[:4].hex()})", "format"
        )
    if width == 0 or height == 0:
        raise ImageConversionError(f"{container} header gives an empty image {width}x{height}", "empty")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageConversionError(
            f"{container} header gives {width}x{height} pixels, more than the {max_pixels} accepted", "size"
        )
    return container, width, height


def _target(fmt: str) -> str:
    """The encoding the producer handed to the encoder (``"bgr8"``, ``"rgb8"``...), or ``""``."""
    low = fmt.lower()
    if "compressedDepth".lower() in low:
        raise ImageConversionError(
            f"compressed format {fmt!r} is a depth map (compressedDepth), not a camera image", "format"
        )
    _, sep, after = low.partition(" compressed")
    return after.strip() if sep else ""


def validate_compressed_msg(msg) -> None:
    """Check format and header (container, size) without decoding (cheap).

    Raises:
        ImageConversionError: the header problems :func:`compressed_msg_to_bgr` would raise for.
    """
    _target(str(getattr(msg, "format", "")))
    sniff_compressed(getattr(msg, "data", b""))


def compressed_msg_to_bgr(msg) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (or look-alike) to an ``(H, W, 3)`` uint8 BGR array.

    Raises:
        ImageConversionError: depth format, data neither JPEG nor PNG, header giving an empty
            or too large image, or data that does not decode.
    """
    target = _target(str(getattr(msg, "format", "")))
    buf = _as_uint8_buffer(getattr(msg, "data", b""))
    container, width, height = sniff_compressed(buf)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageConversionError(f"{container} data does not decode: {exc}".strip(), "decode") from exc
    if img is None:
        raise ImageConversionError(f"{container} data does not decode (corrupt or truncated)", "decode")
    if img.shape[:2] != (height, width):
        raise ImageConversionError(
            f"{container} decoded to {img.shape[1]}x{img.shape[0]}, header says {width}x{height}", "decode"
        )
    img = to_8bit(img)
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img.reshape(height, width), cv2.COLOR_GRAY2BGR)
    rgb = target.startswith("rgb")
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_RGBA2BGR if rgb else cv2.COLOR_BGRA2BGR)
    return cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if rgb else np.ascontiguousarray(img)
