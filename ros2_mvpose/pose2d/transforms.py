"""HigherHRNet test-time coordinate maths: aligned resize and the map back to image pixels.

Pure numpy/OpenCV, no torch. These reproduce the official COCO test behaviour of
HRNet/HigherHRNet-Human-Pose-Estimation (``get_multi_scale_size``, ``resize_align_multi_scale``,
``transform_preds``), written from the official code's formulas:

* the short image side becomes ``input_size * s``; the long side keeps the aspect ratio and is
  padded (symmetrically around the integer image centre) up to a multiple of 64;
* the warp is isotropic: ``x_r = (x - cx) * k + w_r / 2``, ``y_r = (y - cy) * k + h_r / 2`` with
  ``k = w_r / (200 * scale[0])``;
* heatmap pixels ``(x, y)`` on a ``W_hm``-wide map go back with
  ``X = cx + (x - W_hm/2) * 200 * scale[0] / W_hm`` and ``Y = cy + (y - H_hm/2) * 200 * scale[0] / W_hm``.

Coordinates are OpenCV pixel coordinates (origin at the centre of the top-left pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "PIXEL_STD",
    "AlignedResize",
    "affine_matrix",
    "get_multi_scale_size",
    "heatmap_to_image",
    "warp_image",
]

#: The official ``pixel_std``: scales are expressed in units of 200 pixels.
PIXEL_STD = 200.0


@dataclass(frozen=True)
class AlignedResize:
    """Result of :func:`get_multi_scale_size` for one image and one test scale.

    Attributes:
        size: ``(w_r, h_r)`` network input size in pixels (multiples of 64 for the usual scales).
        center: ``(cx, cy)`` integer image centre in image pixels.
        scale: ``(sx, sy)`` official scale in units of 200 image pixels (only ``sx`` is used).
    """

    size: tuple[int, int]
    center: tuple[float, float]
    scale: tuple[float, float]

    @property
    def factor(self) -> float:
        """``k``: network-input pixels per image pixel (isotropic)."""
        return self.size[0] / (PIXEL_STD * self.scale[0])


def get_multi_scale_size(
    width: int, height: int, input_size: int, scale: float = 1.0, min_scale: float = 1.0
) -> AlignedResize:
    """The official aligned test-time size of a ``width`` x ``height`` image at factor ``scale``.

    Args:
        width, height: image size in pixels (> 0).
        input_size: ``DATASET.INPUT_SIZE`` (512 for W32, 640 for W48).
        scale: this test scale factor ``s``.
        min_scale: ``min(TEST.SCALE_FACTOR)``.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if input_size <= 0 or scale <= 0 or min_scale <= 0:
        raise ValueError(f"input_size, scale and min_scale must be positive, got "
                         f"{input_size}, {scale}, {min_scale}")
    w, h = int(width), int(height)
    center = (float(int(w / 2.0 + 0.5)), float(int(h / 2.0 + 0.5)))
    m = int((min_scale * input_size + 63) // 64 * 64)
    if w < h:
        w_r = int(m * scale / min_scale)
        h_r = int(int((m / w * h + 63) // 64 * 64) * scale / min_scale)
        sc = (w / PIXEL_STD, h_r / w_r * w / PIXEL_STD)
    else:
        h_r = int(m * scale / min_scale)
        w_r = int(int((m / h * w + 63) // 64 * 64) * scale / min_scale)
        sc = (w_r / h_r * h / PIXEL_STD, h / PIXEL_STD)
    return AlignedResize((w_r, h_r), center, sc)


def affine_matrix(resize: AlignedResize) -> np.ndarray:
    """The official 2x3 image -> network-input affine (``get_affine_transform``, rotation 0).

    Built like the official code with ``cv2.getAffineTransform`` on float32 points (so the warp is
    bit-identical to the official one); it equals the closed form ``(x - c) * k + size / 2`` to
    ~1e-5.
    """
    cx, cy = resize.center
    src_w = resize.scale[0] * PIXEL_STD
    dst_w, dst_h = resize.size
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = (cx, cy)
    src[1] = (cx, cy - 0.5 * src_w)
    dst[0] = (dst_w * 0.5, dst_h * 0.5)
    dst[1] = (dst_w * 0.5, dst_h * 0.5 - 0.5 * dst_w)
    for pts in (src, dst):  # third point: the first direction rotated by 90 degrees
        d = pts[0] - pts[1]
        pts[2] = pts[1] + np.array([-d[1], d[0]], np.float32)
    return cv2.getAffineTransform(src, dst)


def warp_image(image: np.ndarray, resize: AlignedResize) -> np.ndarray:
    """Warp an ``(H, W, C)`` image to ``resize.size`` (INTER_LINEAR, constant 0 border)."""
    return cv2.warpAffine(image, affine_matrix(resize), resize.size, flags=cv2.INTER_LINEAR)


def heatmap_to_image(
    xy: np.ndarray, resize: AlignedResize, heatmap_size: tuple[int, int]
) -> np.ndarray:
    """Map heatmap pixel coordinates back to image pixels (official ``transform_preds``).

    Args:
        xy: ``(..., 2)`` x, y in pixels of a heatmap of ``heatmap_size = (W_hm, H_hm)``.
        resize: the aligned resize of the image (the smallest test scale's, as officially).
        heatmap_size: ``(W_hm, H_hm)``; with projection to the input size this is ``resize.size``
            of scale 1.0.

    Returns:
        ``(..., 2)`` float64 x, y in image pixels. Both axes use the factor ``200*sx/W_hm``.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.shape[-1:] != (2,):
        raise ValueError(f"xy must have shape (..., 2), got {xy.shape}")
    w_hm, h_hm = heatmap_size
    f = PIXEL_STD * resize.scale[0] / w_hm
    out = np.empty_like(xy)
    out[..., 0] = resize.center[0] + (xy[..., 0] - w_hm / 2.0) * f
    out[..., 1] = resize.center[1] + (xy[..., 1] - h_hm / 2.0) * f
    return out
