"""Associative-embedding grouping of HigherHRNet heatmaps into people (official ``HeatmapParser``).

:func:`parse_heatmaps` returns exactly what :mod:`.grouping_reference` defines (the official
algorithm stated plainly: NMS + top-k, ``match_by_tag``, ``adjust``, person scores, ``refine``)
and computes it with the compiled kernels of :mod:`.grouping_kernels`; numba is a requirement of
the HigherHRNet backend. Without numba (or with more than 7 tag dimensions or 128 joints) it
runs the reference itself, about 100x slower, and logs a warning once when numba is missing.

How the kernels stay exact and fast: the maps are cut into 8x8 pixel blocks. One pass over the
heatmaps takes each block's maximum and runs the NMS only in blocks whose maximum is above the
threshold. ``refine`` is a branch and bound per (person, missing joint): a block's score
``heatmap - round(|tag - person tag|)`` is bounded by its heatmap maximum minus the rounded
distance from the person's tag to the block's tag box (:class:`BlockBounds`); blocks are
visited best bound first (super-blocks of 4x4 blocks, then their blocks) and evaluated exactly,
in float32 like the official code, only while their bound reaches the best score found (ties:
the first row-major pixel, the official argmax). Any valid boxes give the same result; looser
ones only cost time.
The tag boxes come from the maps (:func:`block_bounds`) or, in the estimator, from the 1/4
resolution network tags the maps are upsampled from (:func:`upsampled_block_bounds`: 16x less
data). Large heatmaps are split by joint over two threads (``MVPOSE_GROUPING_THREADS=1``: one).
Inputs are assumed finite (NaN ordering is not reproduced).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from . import grouping_reference as reference
from .grouping_reference import JOINT_ORDER, joint_order

__all__ = ["BLOCK", "JOINT_ORDER", "BlockBounds", "accelerator", "block_bounds", "find_peaks",
           "parse_heatmaps", "upsampled_block_bounds"]

_log = logging.getLogger(__name__)

#: Side in pixels of the blocks that :class:`BlockBounds` describe.
BLOCK = 8
_MAX_DIM, _MAX_JOINTS = 7, 128  # sizes the kernels reproduce bit for bit (numpy's sums)
_MARGIN = 1e-5  # relative margin of bounds derived from low-resolution maps (float32 rounding)
_TINY = np.float32(1e-30)

_KERNELS: ModuleType | None = None
_KERNELS_TRIED = False


def _kernels() -> ModuleType | None:
    """The compiled kernels (:mod:`.grouping_kernels`), or None when numba does not import
    (warned once: the reference runs instead)."""
    global _KERNELS, _KERNELS_TRIED
    if not _KERNELS_TRIED:
        _KERNELS_TRIED = True
        try:
            from . import grouping_kernels as kernels
        except ImportError as exc:
            kernels = None
            _log.warning("HigherHRNet grouping: numba is not available (%s); running the plain "
                         "reference implementation, slow: 1-2 s per image instead of ~5 ms "
                         "(pip install numba)", exc)
        _KERNELS = kernels
    return _KERNELS


def accelerator() -> str:
    """``"numba"`` when the grouping runs its compiled kernels, ``"reference"`` when numba is
    missing and the slow plain implementation runs."""
    return "numba" if _kernels() is not None else "reference"


def _require_kernels() -> ModuleType:
    kern = _kernels()
    if kern is None:
        raise RuntimeError("block bounds serve the compiled grouping only, which needs numba "
                           "(pip install numba)")
    return kern


_POOL: ThreadPoolExecutor | None = None
_SPLIT_MIN = 1 << 20  # heatmap pixels from which the compiled pass runs on two threads


def _threads() -> int:
    """Threads for the heatmap pass: ``MVPOSE_GROUPING_THREADS`` (default 2, at most the CPU
    count)."""
    try:
        n = int(os.environ.get("MVPOSE_GROUPING_THREADS", "2"))
    except ValueError:
        n = 2
    return max(1, min(n, 2, os.cpu_count() or 1))


def _block_max_peaks(kern: ModuleType, det: np.ndarray, threshold: float, r: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmap block maxima + NMS peaks of ``det`` (:func:`.grouping_kernels.block_max_peaks`);
    large maps are split by joint over two threads (the kernels release the GIL)."""
    global _POOL
    n_joints, h, w = det.shape
    if n_joints < 2 or det.size < _SPLIT_MIN or _threads() < 2:
        return kern.block_max_peaks(det, threshold, r)
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mvpose-grouping")
    half = n_joints // 2
    fut = _POOL.submit(kern.block_max_peaks, det[half:], threshold, r)
    m0, f0, v0 = kern.block_max_peaks(det[:half], threshold, r)
    m1, f1, v1 = fut.result()
    return (np.concatenate([m0, m1]), np.concatenate([f0, f1 + half * h * w]),
            np.concatenate([v0, v1]))


# ----------------------------------------------------------------------------------------------
# Block bounds
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockBounds:
    """Boxes around one image's tags over ``BLOCK`` x ``BLOCK`` pixel blocks (refine's bounds).

    Block ``(by, bx)`` covers pixel rows ``8 by .. 8 by + 7`` and columns ``8 bx .. 8 bx + 7``
    (clipped to the map at the right / bottom edge). Any valid boxes give exactly the same
    grouping; tighter ones make it faster. (The heatmap block maxima come from the grouping's
    own pass over the heatmaps, fused with the peak search.)

    Attributes:
        tag_min, tag_max: ``(J, ceil(H/8), ceil(W/8), D)`` float32, per tag dimension <= and >=
            every tag value in the block.
    """

    tag_min: np.ndarray
    tag_max: np.ndarray


def _check_bounds(bounds: BlockBounds, det: np.ndarray, tag: np.ndarray) -> BlockBounds:
    """``bounds`` as float32 arrays of the right shapes, or ValueError."""
    if not isinstance(bounds, BlockBounds):
        raise ValueError(f"bounds must be a BlockBounds, got {type(bounds).__name__}")
    want = (det.shape[0], -(-det.shape[1] // BLOCK), -(-det.shape[2] // BLOCK), tag.shape[3])
    arrays = []
    for name in ("tag_min", "tag_max"):
        a = np.asarray(getattr(bounds, name))
        if a.shape != want:
            raise ValueError(f"bounds.{name} must have shape {want} (8x8 blocks of maps "
                             f"{det.shape}, D={tag.shape[3]}), got {a.shape}")
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"bounds.{name} must be floating point, got {a.dtype}")
        arrays.append(a.astype(np.float32, copy=False))  # planar views stay views
    if not (arrays[0] <= arrays[1]).all():
        raise ValueError("bounds.tag_min must be <= bounds.tag_max (and not NaN)")
    return BlockBounds(*arrays)


def block_bounds(heatmaps: np.ndarray, tags: np.ndarray) -> BlockBounds:
    """Exact :class:`BlockBounds` of full-resolution maps (one pass over the tags; needs numba).

    Args:
        heatmaps: ``(J, H, W)`` float heatmaps (for the shapes).
        tags: ``(J, H, W)`` or ``(J, H, W, D)`` float tags.
    """
    kern = _require_kernels()
    _, tag = _validate(heatmaps, tags, 5, 1, 0.0)
    lo, hi = kern.tag_block_extrema(tag, np.ones(len(tag), bool))
    return BlockBounds(np.moveaxis(lo, 0, 3), np.moveaxis(hi, 0, 3))


def upsampled_block_bounds(tags_quarter: Sequence[np.ndarray]) -> BlockBounds:
    """Valid :class:`BlockBounds` of the maps the HigherHRNet pipeline projects to the input
    resolution, from its 1/4 resolution stage-0 tags (needs numba).

    Args:
        tags_quarter: ``D`` arrays (views allowed, e.g. mirrored) ``(J, q, r)``: tag dimension
            ``d`` is ``tags_quarter[d]`` upsampled 2x bilinearly twice (``align_corners=False``),
            up to float32 rounding. ``q`` and ``r`` must be positive and even.

    Returns:
        bounds for maps of ``(4q, 4r)`` pixels.

    Every upsampled value is a convex combination of the pixels in the window ``[2b - 1, 2b +
    2]`` (two nested 2x upsamplings, clamped at the edges) of its 8x8 block ``b`` per axis, so
    the window's min / max bound it. The boxes are widened by ``1e-5`` x the largest magnitude
    of the tags, far above the float32 rounding of the upsampling (a few ulps of it).
    """
    tq = [np.asarray(t) for t in tags_quarter]
    want = tq[0].shape if tq else ()
    if (len(want) != 3 or 0 in want or want[1] % 2 or want[2] % 2
            or any(t.shape != want or not np.issubdtype(t.dtype, np.floating) for t in tq)):
        raise ValueError(f"tags_quarter must be D >= 1 float arrays of one shape (J, q, r) with q, "
                         f"r positive and even, got {[(t.shape, str(t.dtype)) for t in tq]}")
    kern = _require_kernels()
    n_j, nby, nbx = want[0], want[1] // 2, want[2] // 2
    planar = np.empty((2, len(tq), n_j, nby, nbx), np.float32)  # (min / max, D, J, nby, nbx)
    lo, hi = planar[0], planar[1]
    for i, t in enumerate(tq):  # mirrored float32 views are read in place
        flip = t.dtype == np.float32 and t.strides[2] < 0 and t[:, :, ::-1].flags.c_contiguous
        src = t[:, :, ::-1] if flip else np.ascontiguousarray(t, np.float32)
        kern.quarter_window_extrema(src, flip, lo[i], hi[i])
        eps = np.float32(_MARGIN * max(abs(float(lo[i].min())), abs(float(hi[i].max()))) + _TINY)
        lo[i] -= eps
        hi[i] += eps
    # (J, nby, nbx, D) views of the planar arrays (refine reads them planar)
    return BlockBounds(np.moveaxis(lo, 0, 3), np.moveaxis(hi, 0, 3))


# ----------------------------------------------------------------------------------------------
# Grouping
# ----------------------------------------------------------------------------------------------
def _validate(heatmaps: np.ndarray, tags: np.ndarray, nms_kernel: int,
              max_num_people: int, detection_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous float32 ``(J, H, W)`` heatmaps and ``(J, H, W, D)`` tags, or ValueError."""
    det = np.asarray(heatmaps)
    tag = np.asarray(tags)
    if det.ndim != 3 or det.shape[0] == 0 or det.shape[1] == 0 or det.shape[2] == 0:
        raise ValueError(f"heatmaps must have shape (J, H, W) with J, H, W > 0, got {det.shape}")
    if tag.ndim == 3:
        tag = tag[..., None]
    if tag.ndim != 4 or tag.shape[:3] != det.shape or tag.shape[3] == 0:
        raise ValueError(f"tags must have shape (J, H, W) or (J, H, W, D) matching heatmaps "
                         f"{det.shape}, got {np.shape(tags)}")
    if not (np.issubdtype(det.dtype, np.floating) and np.issubdtype(tag.dtype, np.floating)):
        raise ValueError(f"heatmaps and tags must be floating point, got {det.dtype}, {tag.dtype}")
    if nms_kernel < 1 or nms_kernel % 2 == 0:
        raise ValueError(f"nms_kernel must be a positive odd integer, got {nms_kernel}")
    if max_num_people < 1:
        raise ValueError(f"max_num_people must be >= 1, got {max_num_people}")
    if not detection_threshold >= 0:
        raise ValueError(f"detection_threshold must be >= 0, got {detection_threshold}")
    return np.ascontiguousarray(det, np.float32), np.ascontiguousarray(tag, np.float32)


def _float32_threshold(threshold: float) -> np.float32:
    """The largest float32 ``t <= threshold``: for float32 ``v``, ``v > t`` exactly when
    ``v > threshold`` in float64 (the official comparison of float64 joint rows)."""
    t = np.float32(threshold)
    return np.nextafter(t, np.float32(-np.inf)) if float(t) > threshold else t


def _top_peaks(flat: np.ndarray, val: np.ndarray, shape: tuple[int, ...], max_peaks: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per joint the ``max_peaks`` strongest of the peaks ``(flat index, value)`` (ties in
    row-major pixel order: the official stable top-k): ``start (J + 1,)`` and ``x, y, value``
    with joint ``k``'s at ``start[k]:start[k + 1]``."""
    n_joints, h, w = shape
    j = flat // (h * w)
    order = np.lexsort((flat, -val, j))
    flat, val, j = flat[order], val[order], j[order]
    first = np.searchsorted(j, np.arange(n_joints + 1))
    keep = np.arange(len(j)) - first[j] < max_peaks
    start = np.zeros(n_joints + 1, np.int64)
    np.cumsum(np.minimum(np.diff(first), max_peaks), out=start[1:])
    y, x = np.divmod(flat[keep] % (h * w), w)
    return start, x, y, val[keep]


def find_peaks(heatmaps: np.ndarray, detection_threshold: float = 0.1, max_peaks: int = 30,
               nms_kernel: int = 5) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per joint, the NMS peaks above ``detection_threshold``, strongest first (the official
    ``top_k`` and threshold).

    Args:
        heatmaps: ``(J, H, W)`` float heatmaps.
        detection_threshold: keep peaks with value ``> detection_threshold``.
        max_peaks: at most this many peaks per joint.
        nms_kernel: odd NMS window side in pixels.

    Returns:
        ``J`` tuples ``(values (n,), x (n,), y (n,))`` (x, y integer pixel indices), values in
        descending order (ties by row-major pixel index).
    """
    det, tag = _validate(heatmaps, np.zeros(np.shape(heatmaps), np.float32), nms_kernel,
                         max_peaks, detection_threshold)
    kern = _kernels()
    if kern is None:
        _, loc, val = reference.top_k(det, tag, max_peaks, nms_kernel)
        keep = val > detection_threshold
        return [(v[k], xy[k, 0], xy[k, 1]) for v, xy, k in zip(val, loc, keep)]
    _, flat, val = _block_max_peaks(kern, det, _float32_threshold(detection_threshold),
                                    nms_kernel // 2)
    start, x, y, v = _top_peaks(flat, val, det.shape, max_peaks)
    return [(v[a:b], x[a:b], y[a:b]) for a, b in zip(start[:-1], start[1:])]


def parse_heatmaps(
    heatmaps: np.ndarray,
    tags: np.ndarray,
    detection_threshold: float = 0.1,
    tag_threshold: float = 1.0,
    max_num_people: int = 30,
    nms_kernel: int = 5,
    use_detection_val: bool = True,
    ignore_too_much: bool = False,
    adjust: bool = True,
    refine: bool = True,
    *,
    bounds: BlockBounds | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Group one image's heatmaps into people (official ``HeatmapParser.parse``, COCO defaults).

    Args:
        heatmaps: ``(J, H, W)`` float joint heatmaps (J = 17 for COCO).
        tags: ``(J, H, W)`` or ``(J, H, W, D)`` float associative-embedding tags (D = 2 under
            flip test: original and flipped tags).
        detection_threshold: peaks must be ``>`` this value.
        tag_threshold: a peak joins a person when its tag distance is ``<`` this value.
        max_num_people: peaks kept per joint, and people a peak can be matched against.
        nms_kernel: odd NMS window side (official 5, padding 2).
        use_detection_val: assignment cost ``round(dist)*100 - score`` instead of ``dist``.
        ignore_too_much: skip a joint once ``max_num_people`` people exist.
        adjust: quarter-pixel refinement towards the higher neighbour (+0.5 pixel centre).
        refine: fill every person's missing joints from the heatmap and tag maps.
        bounds: optional valid :class:`BlockBounds` of these tags (e.g. from
            :func:`upsampled_block_bounds`); saves refine's pass over the tag maps. The result is
            the same with any valid bounds; invalid ones (not bounding the tags) give wrong
            results, so pass only bounds derived from these maps.

    Returns:
        ``people (P, J, 3 + D)`` float32 rows ``(x, y, score, tag_1..tag_D)`` in heatmap pixels
        (missing joints are all zero), and ``person_scores (P,)`` float32: the mean of the J joint
        scores before refine. People are in the official order (order of creation).
    """
    det, tag = _validate(heatmaps, tags, nms_kernel, max_num_people, detection_threshold)
    kern = _kernels()
    if kern is None or tag.shape[3] > _MAX_DIM or len(det) > _MAX_JOINTS:
        return reference.parse(det, tag, detection_threshold, tag_threshold, max_num_people,
                               nms_kernel, use_detection_val, ignore_too_much, adjust, refine)
    if bounds is not None:
        bounds = _check_bounds(bounds, det, tag)
    # one pass over the heatmaps: block maxima and NMS peaks
    heat_max, flat, val = _block_max_peaks(kern, det, _float32_threshold(detection_threshold),
                                           nms_kernel // 2)
    start, xs, ys, vals = _top_peaks(flat, val, det.shape, max_num_people)
    people = kern.match_by_tag(
        vals, xs, ys, start, np.array(joint_order(len(det)), np.int64), tag, float(tag_threshold),
        int(max_num_people), bool(use_detection_val), bool(ignore_too_much)).astype(np.float32)
    if adjust:
        kern.adjust_people(people, det)
    scores = people[:, :, 2].mean(axis=1, dtype=np.float32)  # == the official per-person mean
    if refine and len(people):
        if bounds is None:  # exact tag boxes of the joints some person misses
            found = people[:, :, 2] > 0
            lo, hi = kern.tag_block_extrema(tag, (~found & found.any(axis=1)[:, None]).any(0))
        else:  # planar (D, J, nby, nbx)
            lo = np.ascontiguousarray(np.moveaxis(bounds.tag_min, 3, 0))
            hi = np.ascontiguousarray(np.moveaxis(bounds.tag_max, 3, 0))
        kern.refine_people(people, det, tag, heat_max, lo, hi, start, xs, ys)
    return people, scores
