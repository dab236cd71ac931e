"""Associative-embedding grouping of HigherHRNet heatmaps into people (official ``HeatmapParser``).

:func:`parse_heatmaps` reproduces ``HeatmapParser.parse`` of HRNet/HigherHRNet-Human-Pose-Estimation
(``lib/core/group.py``) with the COCO test defaults, for one image:

1. NMS: a pixel is a peak when it equals the maximum of its ``nms_kernel`` x ``nms_kernel``
   window (the official max-pool with padding ``nms_kernel // 2``); per joint the
   ``max_num_people`` strongest peaks are kept, and of those the ones above
   ``detection_threshold``.
2. ``match_by_tag``: joints are visited in the order ``JOINT_ORDER``; each joint's peaks are
   assigned to the people found so far by a minimum-cost assignment on
   ``round(|tag - mean person tag|) * 100 - score`` (L2 norm over the tag dimensions); a peak
   joins the assigned person when the tag distance is below ``tag_threshold``, else it starts a
   new person. People are keyed by the first tag value of the peak that started them, exactly
   like the official dictionary (including its collisions).
3. ``adjust``: every found joint moves a quarter pixel towards its higher neighbour, plus 0.5.
4. person score: the mean of the 17 joint scores (0 for missing joints), before refine.
5. ``refine``: for every person, each missing joint is taken at the maximum of
   ``heatmap - round(|tag - mean person tag|)`` (with the same quarter-pixel offset, +0.5)
   when its heatmap value there is > 0. Unlike the official code (which refines only the first
   image of a batch) this is simply done for the image given.

The assignment uses SciPy's ``linear_sum_assignment`` (the official code uses ``munkres``); both
return a minimum-cost assignment, so results are identical except where several assignments
have exactly equal cost and differ in outcome, where the official result depends on the
``munkres`` version's scan order.

Speed (exact results): everything works on 8x8 pixel blocks and their bounds
(:class:`BlockBounds`: per block an upper bound of the heatmap and a box around the tags). They
come either from the caller (:func:`upsampled_block_bounds` derives valid ones from the low
resolution network outputs the maps are bilinear upsamplings of: 16x less tag data) or from one
pass over the maps (:func:`block_bounds`). NMS and top-k run only on the blocks whose bound is
above the threshold (their tiles side by side in one image, one SIMD max filter). ``refine`` is
a branch and bound for all (person, missing joint) pairs at once: a block's score is bounded by
its heatmap bound minus the rounded distance from the person's tag to the block's tag box; the
pairs are seeded with the scores at their joint's peaks, super-blocks of 4x4 blocks are visited
best bound first, and only blocks whose bound reaches the best score found are evaluated
exactly, in float32 like the official code (each pair keeps one int64 key: best score, then
smallest row-major pixel: the official first argmax). Any valid bounds give the same result; a
looser bound only costs time. Inputs are assumed finite (NaN ordering is not reproduced).

Compiled kernels (optional): when numba imports, the hot loops run as the compiled functions of
:mod:`.grouping_kernels` (heatmap block maxima fused with the NMS peak search, the tag boxes of
:func:`upsampled_block_bounds`, ``match_by_tag`` for 2-7 tag dimensions with the same scipy
solver, ``adjust``, and refine's branch and bound pair by pair), with exactly the numpy path's
results (float32 arithmetic in the same order, the same tie rules); :func:`accelerator` says
which path runs. ``MVPOSE_NO_NUMBA=1`` forces the numpy code. On large maps the compiled
heatmap pass is split by joint over two threads (``MVPOSE_GROUPING_THREADS=1``: one).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

import cv2
import numpy as np
from scipy.ndimage import maximum_filter
from scipy.optimize import linear_sum_assignment

__all__ = ["BLOCK", "JOINT_ORDER", "BlockBounds", "accelerator", "block_bounds", "find_peaks",
           "parse_heatmaps", "upsampled_block_bounds"]

#: Official matching order of the COCO joints (head, shoulders, hips, arms, legs).
JOINT_ORDER: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)

#: Side in pixels of the blocks that :class:`BlockBounds` describe.
BLOCK = 8
_BLOCK = BLOCK
_SUPER = 4  # refine: super-blocks of 4x4 blocks (32x32 pixels)
_DENSE_FRACTION = 0.25  # NMS: above this fraction of the map in candidate blocks, full max filter
_SEED_BLOCKS = 3  # refine: per pair, blocks of the best-bounded super-block evaluated first
_DIRECT_BLOCKS = 256  # refine: remaining candidate (pair, block)s evaluated at once at most ...
_CHUNK_BLOCKS = 4  # ... else this many per pair per round (best bounds first), then prune again
_MARGIN = 1e-5  # relative margin of bounds derived from low-resolution maps (float32 rounding)
_TINY = np.float32(1e-30)


# ----------------------------------------------------------------------------------------------
# Optional compiled kernels (numba)
# ----------------------------------------------------------------------------------------------
_KERNELS: ModuleType | None = None
_KERNELS_TRIED = False


def _kernels() -> ModuleType | None:
    """The compiled kernels (:mod:`.grouping_kernels`) when numba imports and the environment
    variable ``MVPOSE_NO_NUMBA`` is not ``1``, else None (numpy path). Imported on first use."""
    global _KERNELS, _KERNELS_TRIED
    if not _KERNELS_TRIED:
        _KERNELS_TRIED = True
        if os.environ.get("MVPOSE_NO_NUMBA", "").strip() not in ("1", "true", "yes"):
            try:
                from . import grouping_kernels as kernels
            except ImportError:
                kernels = None
            _KERNELS = kernels
    return _KERNELS


_POOL: ThreadPoolExecutor | None = None
_SPLIT_MIN = 1 << 20  # heatmap pixels from which the compiled pass runs on two threads
_CPUS = os.cpu_count() or 1


def _threads() -> int:
    """Threads for the compiled heatmap pass: ``MVPOSE_GROUPING_THREADS`` (default 2, at most
    the CPU count)."""
    try:
        n = int(os.environ.get("MVPOSE_GROUPING_THREADS", "2"))
    except ValueError:
        n = 2
    return max(1, min(n, 2, _CPUS))


def _block_max_peaks(kern: ModuleType, det: np.ndarray, threshold: np.float32, r: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compiled block maxima + peaks of ``det``; large maps are split by joint over two
    threads (the kernels release the GIL): the same arrays as one call."""
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


def accelerator() -> str:
    """``"numba"`` when the grouping runs its compiled kernels, else ``"numpy"``."""
    return "numba" if _kernels() is not None else "numpy"


def _heat_block_max(det: np.ndarray) -> np.ndarray:
    """Exact heatmap maxima ``(J, nby, nbx)`` over 8x8 blocks of contiguous float32 ``det``."""
    k = _kernels()
    return k.block_max(det) if k is not None else _reduce_blocks(det, _BLOCK, True)


# ----------------------------------------------------------------------------------------------
# Block bounds
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockBounds:
    """Bounds of one image's heatmaps and tags over ``BLOCK`` x ``BLOCK`` pixel blocks.

    Block ``(by, bx)`` covers pixel rows ``8 by .. 8 by + 7`` and columns ``8 bx .. 8 bx + 7``
    (clipped to the map at the right / bottom edge). Any valid bounds give exactly the same
    grouping; tighter ones make it faster.

    Attributes:
        heat_max: ``(J, ceil(H/8), ceil(W/8))`` float32, >= every heatmap value in the block, or
            None: :func:`parse_heatmaps` then takes the exact block maxima (one pass over the
            heatmaps, as cheap as reading a half-resolution flip pair).
        tag_min, tag_max: ``(J, ceil(H/8), ceil(W/8), D)`` float32, per tag dimension <= and >=
            every tag value in the block.
    """

    heat_max: np.ndarray | None
    tag_min: np.ndarray
    tag_max: np.ndarray


def _blocks_of(shape: tuple[int, ...]) -> tuple[int, int]:
    return -(-shape[1] // _BLOCK), -(-shape[2] // _BLOCK)


def _check_bounds(bounds: BlockBounds, det: np.ndarray, tag: np.ndarray) -> BlockBounds:
    if not isinstance(bounds, BlockBounds):
        raise ValueError(f"bounds must be a BlockBounds, got {type(bounds).__name__}")
    nby, nbx = _blocks_of(det.shape)
    want = (det.shape[0], nby, nbx)
    arrays = []
    for name, shape in (("heat_max", want), ("tag_min", want + tag.shape[3:]),
                        ("tag_max", want + tag.shape[3:])):
        if name == "heat_max" and bounds.heat_max is None:
            arrays.append(_heat_block_max(det))
            continue
        a = np.asarray(getattr(bounds, name))
        if a.shape != shape:
            raise ValueError(f"bounds.{name} must have shape {shape} (8x8 blocks of maps "
                             f"{det.shape}, D={tag.shape[3]}), got {a.shape}")
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"bounds.{name} must be floating point, got {a.dtype}")
        arrays.append(a.astype(np.float32, copy=False))
    heat_max, tag_min, tag_max = arrays
    if np.isnan(heat_max).any():
        raise ValueError("bounds.heat_max contains NaN")
    if not (tag_min <= tag_max).all():
        raise ValueError("bounds.tag_min must be <= bounds.tag_max (and not NaN)")
    return BlockBounds(heat_max, tag_min, tag_max)


def _pad_to_blocks(a: np.ndarray, step: int) -> np.ndarray:
    """Edge-replicate ``a (C, h, w, ...)`` to multiples of ``step`` (keeps every block's
    min / max: a partial block is padded with its own pixels)."""
    h, w = a.shape[1:3]
    ph, pw = -h % step, -w % step
    if ph == 0 and pw == 0:
        return a
    return np.pad(a, ((0, 0), (0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 3), mode="edge")


def _reduce_blocks(a: np.ndarray, step: int, largest: bool) -> np.ndarray:
    """Max (``largest``) or min of ``a (C, h, w, *rest)`` over ``step`` x ``step`` blocks,
    ``(C, ceil(h/step), ceil(w/step), *rest)``. Rows: one reduction over the block rows
    (contiguous inner loops); columns: a SIMD window filter (cv2) read every ``step``-th."""
    fn = np.maximum if largest else np.minimum
    a = _pad_to_blocks(np.ascontiguousarray(a), step)
    c, h, w = a.shape[:3]
    rest = a.shape[3:]
    d = int(np.prod(rest, dtype=np.int64))
    m = fn.reduce(a.reshape(c, h // step, step, w * d), axis=2)  # (C, nby, w * d)
    if d <= 4 and m.dtype == np.float32:
        op = cv2.dilate if largest else cv2.erode
        img = m.reshape(c * (h // step), w, d) if d > 1 else m.reshape(c * (h // step), w)
        out = op(img, _kernel(1, step), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
        out = out[:, 0::step]
    else:
        out = fn.reduce(m.reshape(c * (h // step), w // step, step, d), axis=2)
    return np.ascontiguousarray(out).reshape((c, h // step, w // step) + rest)


def block_bounds(heatmaps: np.ndarray, tags: np.ndarray) -> BlockBounds:
    """Exact :class:`BlockBounds` of full-resolution maps (one pass over them).

    Args:
        heatmaps: ``(J, H, W)`` float heatmaps.
        tags: ``(J, H, W)`` or ``(J, H, W, D)`` float tags.
    """
    det, tag = _validate(heatmaps, tags, 5, 1, 0.0)
    return BlockBounds(_reduce_blocks(det, _BLOCK, True), _reduce_blocks(tag, _BLOCK, False),
                       _reduce_blocks(tag, _BLOCK, True))


@lru_cache(maxsize=16)
def _kernel(h: int, w: int) -> np.ndarray:
    """All-ones ``h`` x ``w`` structuring element (cv2 morphology = windowed max / min)."""
    return np.ones((h, w), np.uint8)


def _window_reduce(x: np.ndarray, f: int, largest: bool) -> np.ndarray:
    """For ``x (C, h, w)`` with ``h, w`` multiples of ``f``: max (``largest``) or min over the
    windows ``[f b - 1, f b + f]`` (clipped) of both axes -> ``(C, h/f, w/f)``.

    These windows hold every low-resolution pixel that a 2x (``f = 4``) or twice 2x (``f = 2``)
    bilinear upsampling (``align_corners=False``, edge-clamped) reads for one 8x8 output block.
    """
    fn = np.maximum if largest else np.minimum
    c, h, w = x.shape
    m = fn(x[:, 0::f], x[:, 1::f])  # rows f b .. f b + f - 1 (contiguous inner loops)
    for i in range(2, f):
        fn(m, x[:, i::f], out=m)
    fn(m[:, 1:], x[:, f - 1:h - 1:f], out=m[:, 1:])  # row f b - 1
    fn(m[:, :-1], x[:, f::f], out=m[:, :-1])  # row f b + f
    op = cv2.dilate if largest else cv2.erode  # columns: SIMD window filter, then every f-th
    out = op(m.reshape(-1, w), _kernel(1, f + 2), anchor=(1, 0), borderType=cv2.BORDER_REPLICATE)
    return out[:, 0::f].reshape(c, h // f, w // f)


def _abs_max(a: np.ndarray) -> float:
    """``max |a|`` (one SIMD pass for contiguous float32)."""
    if a.dtype == np.float32 and a.flags.c_contiguous:
        return float(cv2.norm(a.reshape(-1, a.shape[-1]), cv2.NORM_INF))
    return float(np.abs(a).max())


def upsampled_block_bounds(heat_half: np.ndarray | None, tags_quarter: Sequence[np.ndarray]
                           ) -> BlockBounds:
    """Valid :class:`BlockBounds` of the maps the HigherHRNet pipeline projects to the input
    resolution, computed from its low-resolution outputs.

    Args:
        heat_half: ``(J, h, w)`` or ``(F, J, h, w)`` float: the heatmaps are the mean over F of
            the 2x bilinear upsamplings (``align_corners=False``) of ``heat_half[f]``, up to
            float32 rounding (F = 2: the flip pair at half resolution); or None (``heat_max``
            None: exact block maxima of the heatmaps, tighter and no slower).
        tags_quarter: ``D`` arrays (views allowed) ``(J, q, r)``: tag dimension ``d`` is
            ``tags_quarter[d]`` upsampled 2x bilinearly twice, up to float32 rounding (the
            stage-0 tags at 1/4 resolution: 16x less data than the tag maps).

    Returns:
        bounds for maps of ``(4q, 4r)`` pixels (``(2h, 2w)``). ``q`` and ``r`` must be positive
        and even.

    Every upsampled value is a convex combination of the low-resolution pixels in the window
    ``[4b - 1, 4b + 4]`` (half resolution) / ``[2b - 1, 2b + 2]`` (quarter: two nested 2x
    upsamplings) of its 8x8 block ``b`` (per axis, clamped at the edges), so the window's max /
    min bound it (the mean of F maps by the window max of their sum / F). The bounds are widened
    by ``1e-5`` x the largest magnitude of the low-resolution maps (x 2 for the heatmaps), far
    above the float32 rounding of the upsampling and averaging (a few ulps of that magnitude).
    """
    tq = [np.asarray(t) for t in tags_quarter]
    if not tq or tq[0].ndim != 3 or 0 in tq[0].shape or tq[0].shape[1] % 2 \
            or tq[0].shape[2] % 2:
        raise ValueError(f"tags_quarter must be D >= 1 float arrays (J, q, r) with q, r positive "
                         f"and even, got {[t.shape for t in tq]}")
    want = tq[0].shape
    if any(t.shape != want or not np.issubdtype(t.dtype, np.floating) for t in tq):
        raise ValueError(f"tags_quarter must be D >= 1 float arrays of one shape (J, q, r), got "
                         f"{[(t.shape, str(t.dtype)) for t in tq]}")
    n_j = want[0]
    heat_max = None
    if heat_half is not None:
        heat = np.asarray(heat_half)
        if heat.ndim == 3:
            heat = heat[None]
        if heat.ndim != 4 or heat.shape[1:] != (n_j, 2 * want[1], 2 * want[2]):
            raise ValueError(f"heat_half must have shape (J, h, w) or (F, J, h, w) with (J, h, w) "
                             f"= {(n_j, 2 * want[1], 2 * want[2])} (twice the tags' resolution), "
                             f"got {np.shape(heat_half)}")
        if not np.issubdtype(heat.dtype, np.floating):
            raise ValueError(f"heat_half must be floating point, got {heat.dtype}")
        n_f, _, h, w = heat.shape
        heat = np.ascontiguousarray(heat, np.float32)
        if n_f == 2:
            total = cv2.add(heat[0].reshape(-1, w), heat[1].reshape(-1, w)).reshape(n_j, h, w)
        else:
            total = heat[0] if n_f == 1 else np.add.reduce(heat, axis=0)
        margin = np.float32(2 * _MARGIN * _abs_max(heat) + _TINY)
        heat_max = np.ascontiguousarray(_window_reduce(total, 4, True))
        heat_max *= np.float32(1.0 / n_f)
        heat_max += margin
    nby, nbx = want[1] // 2, want[2] // 2
    d = len(tq)
    planar = np.empty((2, d, n_j, nby, nbx), np.float32)  # (min / max, D, J, nby, nbx)
    lo, hi = planar[0], planar[1]
    kern = _kernels()
    if kern is not None:  # compiled: reads the (possibly mirrored) views in place
        for i, t in enumerate(tq):
            flip = t.strides[2] < 0 and t[:, :, ::-1].flags.c_contiguous
            src = t[:, :, ::-1] if flip else np.ascontiguousarray(t, np.float32)
            if src.dtype != np.float32:
                src, flip = np.ascontiguousarray(t, np.float32), False
            kern.quarter_window_extrema(src, flip, lo[i], hi[i])
    else:
        stacked = np.empty((d,) + want, np.float32)  # one contiguous (D * J, h/2, w/2) stack
        for i, t in enumerate(tq):
            stacked[i] = t
        stacked = stacked.reshape(d * n_j, want[1], want[2])
        lo.reshape(stacked.shape[0], -1)[...] = \
            _window_reduce(stacked, 2, False).reshape(d * n_j, -1)
        hi.reshape(stacked.shape[0], -1)[...] = \
            _window_reduce(stacked, 2, True).reshape(d * n_j, -1)
    for i in range(d):  # margin per tag dimension (its largest magnitude)
        eps = np.float32(_MARGIN * max(abs(float(lo[i].min())), abs(float(hi[i].max()))) + _TINY)
        lo[i] -= eps
        hi[i] += eps
    # (J, nby, nbx, D) views of the planar arrays (the search reads them planar)
    return BlockBounds(heat_max, np.moveaxis(planar[0], 0, 3), np.moveaxis(planar[1], 0, 3))


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------
def _validate(heatmaps: np.ndarray, tags: np.ndarray, nms_kernel: int,
              max_num_people: int, detection_threshold: float) -> tuple[np.ndarray, np.ndarray]:
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


@lru_cache(maxsize=32)
def _tile_offsets(side: int, w: int) -> np.ndarray:
    """Flat offsets ``(side * side,)`` of a ``side`` x ``side`` tile on a ``w``-wide map."""
    o = np.arange(side)
    return (o[:, None] * w + o).ravel()


def _block_pixels(blocks: np.ndarray, nbx: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-major pixel indices ``(n, 64)`` of flat block ids ``(n,)`` (clipped into the map)
    and the mask of the real ones (``None`` when every block lies fully inside)."""
    by, bx = np.divmod(blocks, nbx)
    if h % _BLOCK == 0 and w % _BLOCK == 0:
        return (by * (_BLOCK * w) + bx * _BLOCK)[:, None] + _tile_offsets(_BLOCK, w), None
    offs = np.arange(_BLOCK)
    yy = by[:, None] * _BLOCK + offs
    xx = bx[:, None] * _BLOCK + offs
    inside = (yy < h)[:, :, None] & (xx < w)[:, None, :]
    flat = np.minimum(yy, h - 1)[:, :, None] * w + np.minimum(xx, w - 1)[:, None, :]
    return flat.reshape(len(blocks), -1), inside.reshape(len(blocks), -1)


# ----------------------------------------------------------------------------------------------
# Peaks (NMS + top-k)
# ----------------------------------------------------------------------------------------------
def _peak_candidates(det: np.ndarray, heat_max: np.ndarray, detection_threshold: float,
                     nms_kernel: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NMS peaks ``(j, y, x, v)`` above the threshold (unordered), numpy path."""
    n_joints, h, w = det.shape
    r = nms_kernel // 2
    nby, nbx = heat_max.shape[1:]
    cj, cb = np.divmod(np.flatnonzero(heat_max > detection_threshold), nby * nbx)
    cby, cbx = np.divmod(cb, nbx)
    if len(cj) == 0:
        j = y = x = np.zeros(0, np.int64)
        v = np.zeros(0, np.float32)
    elif len(cj) * _BLOCK * _BLOCK > _DENSE_FRACTION * det.size:
        # Border handling: 'nearest' repeats edge pixels, which lie inside the clipped window,
        # so the maximum equals the official -inf padded max-pool.
        local_max = maximum_filter(det, size=(1, nms_kernel, nms_kernel), mode="nearest")
        j, y, x = np.nonzero((det > detection_threshold) & (det == local_max))
        v = det[j, y, x]
    else:
        # Only blocks that can hold a pixel above the threshold can hold a peak: evaluate the
        # NMS on those blocks, each with an r-pixel apron (edge-clipped, same maximum as -inf
        # padding).
        # The tiles side by side in one image (rows, tile, columns): one SIMD max filter
        # (cv2.dilate) serves all; the centre's windows stay inside their own tile.
        side = _BLOCK + 2 * r
        n = len(cj)
        y0, x0 = cby * _BLOCK - r, cbx * _BLOCK - r
        offs = np.arange(side)
        idx = (cj * (h * w) + y0 * w + x0)[None, :, None] + (offs * w)[:, None, None] \
            + offs[None, None, :]  # (side, n, side)
        edge = np.flatnonzero((y0 < 0) | (x0 < 0) | (y0 + side > h) | (x0 + side > w))
        if len(edge):  # clip to the map: the clipped window has the -inf padded maximum
            yy = np.clip(y0[edge] + offs[:, None], 0, h - 1) * w + cj[edge] * (h * w)
            xx = np.clip(x0[edge, None] + offs, 0, w - 1)
            idx[:, edge, :] = yy[:, :, None] + xx[None, :, :]
        mosaic = np.take(det.ravel(), idx.reshape(side, n * side))
        local_max = cv2.dilate(mosaic, _kernel(nms_kernel, nms_kernel)).reshape(side, n, side)
        centre = mosaic.reshape(side, n, side)[r:r + _BLOCK, :, r:r + _BLOCK]
        iy, b, ix = np.nonzero((centre > detection_threshold)
                               & (centre == local_max[r:r + _BLOCK, :, r:r + _BLOCK]))
        j, y, x, v = cj[b], cby[b] * _BLOCK + iy, cbx[b] * _BLOCK + ix, centre[iy, b, ix]
        if h % _BLOCK or w % _BLOCK:
            keep = (y < h) & (x < w)  # partial edge blocks: clipped duplicates
            j, y, x, v = j[keep], y[keep], x[keep], v[keep]
    return j, y, x, v


def _peaks(det: np.ndarray, heat_max: np.ndarray, detection_threshold: float, max_peaks: int,
           nms_kernel: int, found: tuple[np.ndarray, np.ndarray] | None = None
           ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`find_peaks` given upper bounds ``(J, nby, nbx)`` of ``det`` over 8x8 blocks (or
    the kernels' peaks ``found``: flat index, value)."""
    n_joints, h, w = det.shape
    kern = _kernels()
    if kern is not None:  # compiled: the NMS test per candidate pixel, early exit
        if found is None:
            # threshold as float32: numpy compares float32 maps with a Python float in float32
            found = kern.peak_candidates(det, np.ascontiguousarray(heat_max, np.float32),
                                         np.float32(detection_threshold), nms_kernel // 2)
        flat, v = found
        j, rest = np.divmod(flat, h * w)
        y, x = np.divmod(rest, w)
    else:
        j, y, x, v = _peak_candidates(det, heat_max, detection_threshold, nms_kernel)
    # Strongest first; ties in row-major pixel order (the official stable top-k).
    order = np.lexsort((y * w + x, -v, j))
    j, y, x, v = j[order], y[order], x[order], v[order]
    starts = np.searchsorted(j, np.arange(n_joints + 1)).tolist()
    out = []
    for k in range(n_joints):
        s, e = starts[k], min(starts[k + 1], starts[k] + max_peaks)
        out.append((v[s:e], x[s:e], y[s:e]))
    return out


def find_peaks(
    heatmaps: np.ndarray, detection_threshold: float = 0.1, max_peaks: int = 30,
    nms_kernel: int = 5,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per joint, the NMS peaks above ``detection_threshold``, strongest first.

    Args:
        heatmaps: ``(J, H, W)`` float heatmaps.
        detection_threshold: keep peaks with value ``> detection_threshold``.
        max_peaks: at most this many peaks per joint (the official top-k).
        nms_kernel: odd NMS window side in pixels.

    Returns:
        ``J`` tuples ``(values (n,), x (n,), y (n,))`` (x, y integer pixel indices), values in
        descending order (ties by row-major pixel index).
    """
    det = np.ascontiguousarray(heatmaps, dtype=np.float32)
    return _peaks(det, _heat_block_max(det), detection_threshold, max_peaks,
                  nms_kernel)


# ----------------------------------------------------------------------------------------------
# match_by_tag
# ----------------------------------------------------------------------------------------------
def _mean_tags(tag_buf: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``np.mean(tags_p, axis=0)`` of every person ``(P, D)`` float32, bit-identical to the
    official per-person call: per tag count, the same ``add.reduce`` and ``true_divide`` by an
    ``intp`` count that ``np.mean`` performs, batched over the persons with that count."""
    out = np.empty((len(counts), tag_buf.shape[2]), np.float32)
    for n in set(counts.tolist()):
        sel = np.flatnonzero(counts == n)
        total = np.add.reduce(tag_buf[sel, :n], axis=1)
        out[sel] = np.true_divide(total, np.intp(n), out=total, casting="unsafe")
    return out


def _match_by_tag(
    peaks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], tag: np.ndarray,
    tag_threshold: float, max_num_people: int, use_detection_val: bool, ignore_too_much: bool,
) -> np.ndarray:
    """Official ``match_by_tag`` on the thresholded peaks; returns ``(P, J, 3 + D)`` float32.

    The official dictionaries become arrays in creation order: ``rows`` (person joint rows,
    float64 like the official defaults), ``tag_buf``/``counts`` (each person's tag list, with
    its running float32 sum ``sums``), and ``index`` (first tag value of the creating peak ->
    person, with the official collisions).
    """
    n_joints = len(peaks)
    _, h, w, dim = tag.shape
    joint_order = JOINT_ORDER if n_joints == len(JOINT_ORDER) else tuple(range(n_joints))
    kern = _kernels()
    if kern is not None and 2 <= dim <= 7:  # compiled (D = 1 keeps numpy's per-count means)
        start = np.zeros(n_joints + 1, np.int64)
        np.cumsum([len(p[0]) for p in peaks], out=start[1:])
        rows = kern.match_by_tag(
            np.concatenate([p[0] for p in peaks]).astype(np.float32, copy=False),
            np.concatenate([p[1] for p in peaks]).astype(np.int64, copy=False),
            np.concatenate([p[2] for p in peaks]).astype(np.int64, copy=False),
            start, np.array(joint_order, np.int64), tag, float(tag_threshold),
            int(max_num_people), bool(use_detection_val), bool(ignore_too_much))
        return rows.astype(np.float32)
    tag_flat = tag.reshape(-1, dim)
    cap = sum(len(p[0]) for p in peaks)
    rows = np.zeros((cap, n_joints, 3 + dim))
    tag_buf = np.zeros((cap, n_joints + 1, dim), np.float32)
    sums = np.zeros((cap, dim), np.float32)
    counts = np.zeros(cap, np.int64)
    index: dict[float, int] = {}
    n_people = 0
    for i, idx in enumerate(joint_order):
        val, xs, ys = peaks[idx]
        n = len(val)
        if n == 0:
            continue
        tags = tag_flat[(idx * h + ys) * w + xs]  # (n, D) float32
        joints = np.empty((n, 3 + dim))
        joints[:, 0] = xs
        joints[:, 1] = ys
        joints[:, 2] = val
        joints[:, 3:] = tags
        keys = tags[:, 0].tolist()
        if i == 0 or n_people == 0:
            joins = None
        else:
            n_grouped = min(n_people, max_num_people)
            if ignore_too_much and n_grouped == max_num_people:
                continue
            if dim >= 2:
                # np.mean over a (n, D >= 2) list sums the rows in order (== the running sum)
                # and divides in float64 by the intp count.
                grouped = (sums[:n_grouped].astype(np.float64)
                           / counts[:n_grouped, None]).astype(np.float32)
            else:
                grouped = _mean_tags(tag_buf[:n_grouped], counts[:n_grouped])
            diff = joints[:, None, 3:] - grouped[None, :, :]
            dist = np.sqrt(np.add.reduce(diff * diff, axis=2))  # == np.linalg.norm(ord=2)
            cost = np.round(dist) * 100 - joints[:, 2:3] if use_detection_val else dist
            # Rectangular assignment == the official square padding with constant 1e10 columns.
            ri, ci = linear_sum_assignment(cost)
            assigned = np.full(n, -1)
            assigned[ri] = ci
            joins = np.zeros(n, dtype=bool)
            joins[ri] = dist[ri, ci] < tag_threshold
        if joins is None:
            new = np.arange(n)
        else:
            new = np.flatnonzero(~joins)
        new_keys = [keys[r] for r in new.tolist()]
        if len(set(new_keys)) == len(new_keys) and not any(k in index for k in new_keys):
            # No key collision: the official row-by-row updates commute, apply them at once.
            if joins is not None and len(new) < n:
                ra = np.flatnonzero(joins)
                ca = assigned[ra]
                rows[ca, idx] = joints[ra]
                tag_buf[ca, counts[ca]] = tags[ra]
                sums[ca] += tags[ra]
                counts[ca] += 1
            pn = slice(n_people, n_people + len(new))
            rows[pn, idx] = joints[new]
            tag_buf[pn, 0] = tags[new]
            sums[pn] = tags[new]
            counts[pn] = 1
            index.update(zip(new_keys, range(n_people, n_people + len(new))))
            n_people += len(new)
            continue
        for r in range(n):  # official order, collisions overwrite / reset the keyed person
            if joins is not None and joins[r]:
                c = assigned[r]
                rows[c, idx] = joints[r]
                tag_buf[c, counts[c]] = tags[r]
                sums[c] += tags[r]
                counts[c] += 1
            else:
                p = index.get(keys[r])
                if p is None:
                    p = index[keys[r]] = n_people
                    n_people += 1
                rows[p, idx] = joints[r]
                tag_buf[p, 0] = tags[r]
                sums[p] = tags[r]
                counts[p] = 1
    return rows[:n_people].astype(np.float32)


# ----------------------------------------------------------------------------------------------
# adjust / refine
# ----------------------------------------------------------------------------------------------
def _quarter_offsets(det: np.ndarray, j: np.ndarray, y: np.ndarray, x: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """+-0.25 towards the higher horizontal / vertical neighbour (ties: -0.25)."""
    _, h, w = det.shape
    right = det[j, y, np.minimum(x + 1, w - 1)]
    left = det[j, y, np.maximum(x - 1, 0)]
    down = det[j, np.minimum(y + 1, h - 1), x]
    up = det[j, np.maximum(y - 1, 0), x]
    return np.where(right > left, 0.25, -0.25), np.where(down > up, 0.25, -0.25)


def _adjust(people: np.ndarray, det: np.ndarray) -> None:
    """Official ``adjust`` in place: quarter-pixel shift of every found joint, plus 0.5."""
    kern = _kernels()
    if kern is not None:
        kern.adjust_people(people, det)
        return
    p, j = np.divmod(np.flatnonzero(people[:, :, 2] > 0), people.shape[1])
    if len(p) == 0:
        return
    x = people[p, j, 0]
    y = people[p, j, 1]
    dx, dy = _quarter_offsets(det, j, y.astype(np.int64), x.astype(np.int64))
    people[p, j, 0] = x + dx + 0.5
    people[p, j, 1] = y + dy + 0.5


def _distance_floor(lo: Sequence[np.ndarray], hi: Sequence[np.ndarray],
                    t: Sequence[np.ndarray]) -> np.ndarray:
    """Lower bound of the official float32 ``round(|tag - t|)`` over tag boxes, per tag
    dimension ``d``: box ``[lo[d], hi[d]]`` and tag ``t[d]`` (float32, broadcast).

    Float32 throughout: each operation has a relative error <= 2**-24, so the computed box
    distance is within a factor 1 +- 5e-7 of the exact one, which is <= the exact distance of any
    tag in the box, itself within 1 +- 5e-7 of the official float32 value; the margin
    ``x (1 - 1e-5) - 1e-3`` keeps the result below it, and ``round`` is monotone.
    """
    sq = None
    for lo_d, hi_d, t_d in zip(lo, hi, t):
        gap = np.maximum(lo_d - t_d, t_d - hi_d)
        np.maximum(gap, 0.0, out=gap)
        gap *= gap
        sq = gap if sq is None else np.add(sq, gap, out=gap)
    d = np.sqrt(sq, out=sq)
    d *= 1 - 1e-5
    d -= 1e-3
    np.maximum(d, 0.0, out=d)
    return np.round(d, out=d)


@lru_cache(maxsize=8)
def _super_blocks(nby: int, nbx: int) -> np.ndarray:
    """Flat block ids ``(n_super, S*S)`` of each super-block (row-major), -1 past the edge."""
    sy, sx = -(-nby // _SUPER), -(-nbx // _SUPER)
    by = (np.arange(sy)[:, None] * _SUPER + np.arange(_SUPER))  # (sy, S)
    bx = (np.arange(sx)[:, None] * _SUPER + np.arange(_SUPER))  # (sx, S)
    ids = by[:, None, :, None] * nbx + bx[None, :, None, :]  # (sy, sx, S, S)
    valid = (by < nby)[:, None, :, None] & (bx < nbx)[None, :, None, :]
    return np.where(valid, ids, -1).reshape(sy * sx, _SUPER * _SUPER)


def _super_reduce(a: np.ndarray, largest: bool) -> np.ndarray:
    """``a (C, nby, nbx)`` float32 reduced over super-blocks -> ``(C, n_super)``: one SIMD
    window filter over the stacked maps (windows never straddle two maps), read every S-th."""
    fill = -np.inf if largest else np.inf
    c, nby, nbx = a.shape
    ph, pw = -nby % _SUPER, -nbx % _SUPER
    if ph or pw:
        a = np.pad(a, ((0, 0), (0, ph), (0, pw)), constant_values=fill)
    op = cv2.dilate if largest else cv2.erode
    out = op(np.ascontiguousarray(a, np.float32).reshape(-1, a.shape[2]), _kernel(_SUPER, _SUPER),
             anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    return out.reshape(a.shape)[:, 0::_SUPER, 0::_SUPER].reshape(c, -1)


def _orderable(x: np.ndarray) -> np.ndarray:
    """float32 -> int64 in [-2**31, 2**31) with the same order (finite values; -0.0 == 0.0)."""
    u = (x + np.float32(0.0)).view(np.int32).astype(np.int64)  # + 0.0: -0.0 -> +0.0
    return np.where(u < 0, -(2 ** 31) - 1 - u, u)  # negative floats: reversed bit order


def _from_orderable(k: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_orderable`."""
    u = np.where(k < 0, -(2 ** 31) - 1 - k, k)
    return u.astype(np.int32).view(np.float32)


class _Searcher:
    """Exact first argmax of ``det[k] - round(|tag[k] - t|)`` for many (joint k, tag t) pairs.

    Branch and bound, all pairs at once: a block is skipped only when an upper bound of its
    score (heatmap bound minus the rounded distance from ``t`` to the block's tag box) is below
    a score already found (equal bounds are evaluated, for the row-major tie rule). Bounds are
    first taken over super-blocks of 4x4 blocks, visited best first. Each pair keeps one int64
    key ``(orderable score << 32) | (2**32 - 1 - pixel)`` (signed): its maximum is the best score at the
    smallest row-major pixel index (the official first argmax).
    """

    def __init__(self, det: np.ndarray, tag: np.ndarray, bounds: BlockBounds,
                 ks: np.ndarray, ts: np.ndarray) -> None:
        n_joints, self.h, self.w = det.shape
        self.dim = dim = tag.shape[3]
        self.nby, self.nbx = bounds.heat_max.shape[1:]
        self.nb = self.nby * self.nbx
        self.ks = ks
        self.ts = np.ascontiguousarray(ts.T)  # (D, Q) planar
        self.heat_max = bounds.heat_max
        self.ub = bounds.heat_max.reshape(-1)  # (J * nb,)
        # planar tag boxes (D, J * nb)
        self.lo = np.ascontiguousarray(np.moveaxis(bounds.tag_min, 3, 0)).reshape(dim, -1)
        self.hi = np.ascontiguousarray(np.moveaxis(bounds.tag_max, 3, 0)).reshape(dim, -1)
        self.det_flat = det.reshape(-1)
        self.tag_flat = tag.reshape(-1, dim)
        if dim == 2:  # gather (x, y) float32 pairs as one 8-byte item
            self.tag_pairs = tag.reshape(-1).view(np.float64)
        self.blocked = self.h % _BLOCK == 0 and self.w % _BLOCK == 0
        if self.blocked:  # (J, nby, nbx, 8, 8[, D]) views: a block is gathered without indices
            self.det_b = det.reshape(n_joints, self.nby, _BLOCK, self.nbx, _BLOCK) \
                .transpose(0, 1, 3, 2, 4)
            self.tag_b = tag.reshape(n_joints, self.nby, _BLOCK, self.nbx, _BLOCK, dim) \
                .transpose(0, 1, 3, 2, 4, 5)
        q = len(ks)
        self.key = np.full(q, np.iinfo(np.int64).min)  # below every real key
        self.best = np.full(q, -np.inf, np.float32)
        self.done = np.zeros(q * self.nb, dtype=bool)

    def floor(self, q: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Lower bound of ``round(|tag - t_q|)`` over block ``b`` (1-D, same length)."""
        g = self.ks[q] * self.nb + b
        return _distance_floor([lo[g] for lo in self.lo], [hi[g] for hi in self.hi],
                               [t[q] for t in self.ts])

    def bound(self, q: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Upper bound of the score over block ``b`` for pair ``q`` (1-D, same length)."""
        return self.ub[self.ks[q] * self.nb + b] - self.floor(q, b)

    def _scores(self, q: np.ndarray, det_v: np.ndarray, tg: np.ndarray) -> np.ndarray:
        """Official float32 scores ``det - round(|tag - t_q|)`` of pixels ``det_v (n, m)``,
        ``tg (n, m, D)`` for pairs ``q (n,)``; overwrites ``det_v``."""
        if self.dim <= 2:  # the official sum over the tag axis: a0 (+ a1), in float32
            sq = tg[:, :, 0] - self.ts[0][q][:, None]
            sq *= sq
            if self.dim == 2:
                d1 = tg[:, :, 1] - self.ts[1][q][:, None]
                d1 *= d1
                sq += d1
        else:
            diff = tg - self.ts.T[q][:, None, :]
            sq = (diff * diff).sum(axis=2)
        det_v -= np.round(sq ** 0.5)
        return det_v

    def _update(self, q: np.ndarray, score: np.ndarray, pos: np.ndarray) -> None:
        """Merge candidate maxima ``score (n,)`` at row-major pixels ``pos (n,)`` of pairs
        ``q (n,)`` (sorted) into the pairs' keys."""
        key = (_orderable(score) << 32) | ((2 ** 32 - 1) - pos)
        starts = np.flatnonzero(np.concatenate(([True], q[1:] != q[:-1])))
        uq = q[starts]
        key = np.maximum(np.maximum.reduceat(key, starts), self.key[uq])
        self.key[uq] = key
        self.best[uq] = _from_orderable(key >> 32)

    def seed_pixels(self, xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> None:
        """Score the pixels ``(xs[k], ys[k])`` of every pair's joint ``k`` (e.g. its peaks: the
        far-tag pairs' maxima are usually at another person's joint): real scores at real
        positions, so they only raise the pairs' lower bounds."""
        counts = np.array([len(x) for x in xs])
        c = counts[self.ks]
        if c.sum() == 0:
            return
        x_all, y_all = np.concatenate(xs), np.concatenate(ys)
        first = np.cumsum(counts) - counts
        q = np.repeat(np.arange(len(self.ks)), c)
        idx = np.arange(len(q)) + np.repeat(first[self.ks] - (np.cumsum(c) - c), c)
        x, y = x_all[idx], y_all[idx]
        pos = y * self.w + x
        flat = self.ks[q] * (self.h * self.w) + pos
        score = self._scores(q, self.det_flat[flat][:, None], self.tag_flat[flat][:, None, :])
        self._update(q, score[:, 0], pos)

    def evaluate(self, q: np.ndarray, b: np.ndarray, floor: np.ndarray | None = None) -> None:
        """Exact scores of blocks ``b`` for pairs ``q`` (1-D, same length, sorted by ``q``);
        ``floor``: their tag floors (:meth:`floor`), to skip the tags of blocks whose exact
        heatmap maximum minus the floor is below the pair's best score."""
        n = len(q)
        if n == 0:
            return
        self.done[q * self.nb + b] = True
        k = self.ks[q]
        if self.blocked:
            by, bx = np.divmod(b, self.nbx)
            det_v = self.det_b[k, by, bx].reshape(n, -1)  # (n, 64) row-major in the block
            if floor is not None:  # the block's exact heatmap maximum tightens its bound
                ok = det_v.max(axis=1) - floor >= self.best[q]
                if not ok.all():
                    q, k, by, bx, det_v = q[ok], k[ok], by[ok], bx[ok], det_v[ok]
                    n = len(q)
                    if n == 0:
                        return
            tg = self.tag_b[k, by, bx].reshape(n, -1, self.dim)  # (n, 64, D)
        else:
            pix, inside = _block_pixels(b, self.nbx, self.h, self.w)
            flat = pix + (k * (self.h * self.w))[:, None]  # (n, 64)
            det_v = np.take(self.det_flat, flat)
            tg = self.tag_flat[flat]
        score = self._scores(q, det_v, tg)
        if not self.blocked and inside is not None:
            score[~inside] = -np.inf
        arg = score.argmax(axis=1)  # first max in the block = smallest pixel index
        best = score[np.arange(n), arg]
        if self.blocked:
            iy, ix = np.divmod(arg, _BLOCK)
            pos = (by * _BLOCK + iy) * self.w + bx * _BLOCK + ix
        else:
            pos = pix[np.arange(n), arg]
        self._update(q, best, pos)

    def run(self) -> np.ndarray:
        """Branch and bound; returns the row-major pixel index ``(Q,)`` of every pair's argmax."""
        nq = len(self.ks)
        sblocks = _super_blocks(self.nby, self.nbx)
        n_super, s_per = sblocks.shape
        # super-block bounds of every joint in one reduction: heat max, -tag min, tag max
        d, n_joints = self.dim, self.heat_max.shape[0]
        stack = np.empty((1 + 2 * d, n_joints, self.nby, self.nbx), np.float32)
        stack[0] = self.heat_max
        np.negative(self.lo.reshape(d, n_joints, self.nby, self.nbx), out=stack[1:1 + d])
        stack[1 + d:] = self.hi.reshape(d, n_joints, self.nby, self.nbx)
        sup = _super_reduce(stack.reshape(-1, self.nby, self.nbx), True)
        sup = sup.reshape(1 + 2 * d, n_joints, n_super)
        k = self.ks
        floor = _distance_floor([-sup[1 + i][k] for i in range(d)],
                                [sup[1 + d + i][k] for i in range(d)],
                                [t[:, None] for t in self.ts])
        sbound = np.subtract(sup[0][k], floor, out=floor)  # (Q, ns)
        order = np.argsort(-sbound, axis=1)  # per pair, the best-bounded super-blocks first
        sbound = np.take_along_axis(sbound, order, axis=1)
        qi = np.arange(nq)
        # Seeds: the best-bounded blocks of each pair's best-bounded super-block.
        blocks = sblocks[order[:, 0]]  # (Q, S*S)
        bb = self.bound(np.repeat(qi, s_per), np.maximum(blocks, 0).ravel()).reshape(nq, s_per)
        bb[blocks < 0] = -np.inf
        n_seed = min(_SEED_BLOCKS, s_per)
        pick = np.argpartition(-bb, n_seed - 1, axis=1)[:, :n_seed]
        ok = np.take_along_axis(bb, pick, axis=1) > -np.inf
        self.evaluate(np.repeat(qi, n_seed)[ok.ravel()],
                      np.take_along_axis(blocks, pick, axis=1)[ok])
        # Then the super-blocks in order, in rounds of growing width: a pair stops at its first
        # super-block bounded below its best score (the later ones are bounded lower still).
        col, width = 0, 1
        while col < n_super:
            cols = sbound[:, col:col + width]
            cq, cc = np.divmod(np.flatnonzero(cols >= self.best[:, None]), cols.shape[1])
            if len(cq) == 0:
                break
            q = np.repeat(cq, s_per)
            b = sblocks[order[cq, col + cc]].ravel()
            ok = b >= 0
            if not ok.all():
                q, b = q[ok], b[ok]
            ok = ~self.done[q * self.nb + b]
            q, b = q[ok], b[ok]
            fl = self.floor(q, b)
            bnd = self.ub[self.ks[q] * self.nb + b] - fl
            ok = bnd >= self.best[q]
            q, b, bnd, fl = q[ok], b[ok], bnd[ok], fl[ok]
            if len(q) > _DIRECT_BLOCKS:  # evaluate each pair's best-bounded blocks first
                srt = np.lexsort((-bnd, q))
                q, b, bnd, fl = q[srt], b[srt], bnd[srt], fl[srt]
                while len(q) > _DIRECT_BLOCKS:
                    starts = np.flatnonzero(np.concatenate(([True], q[1:] != q[:-1])))
                    first = np.repeat(starts, np.diff(np.append(starts, len(q))))
                    take = np.arange(len(q)) - first < _CHUNK_BLOCKS
                    self.evaluate(q[take], b[take], fl[take])
                    keep = ~take
                    keep[keep] = bnd[keep] >= self.best[q[keep]]
                    q, b, bnd, fl = q[keep], b[keep], bnd[keep], fl[keep]
            self.evaluate(q, b, fl)
            col += width
            width *= 2
        return (2 ** 32 - 1) - (self.key & (2 ** 32 - 1))


def _prev_tags(people: np.ndarray, tag: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Official ``np.mean`` of the tags at every person's found (adjusted) joints ``(P, D)``."""
    n_people, n_joints = found.shape
    p, j = np.divmod(np.flatnonzero(found), n_joints)
    xi = people[p, j, 0].astype(np.int32)
    yi = people[p, j, 1].astype(np.int32)
    counts = np.count_nonzero(found, axis=1)
    rank = np.arange(len(p)) - np.repeat(np.cumsum(counts) - counts, counts)
    buf = np.zeros((n_people, n_joints, tag.shape[3]), np.float32)
    buf[p, rank] = tag[j, yi, xi]
    return _mean_tags(buf, counts)


def _refine(people: np.ndarray, det: np.ndarray, tag: np.ndarray, bounds: BlockBounds,
            peaks: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Official ``refine`` in place for every person: fill missing joints from the maps.

    Each (person, missing joint) pair takes the first row-major argmax of
    ``det - round(|tag - prev_tag|)`` over the joint's maps, found exactly by
    :class:`_Searcher`; the joint is filled when its heatmap value there is > 0.
    """
    n_people, n_joints, _ = people.shape
    if n_people == 0:
        return
    kern = _kernels()
    if kern is not None:  # compiled: pairs, branch and bound, fill
        counts = np.array([len(p[1]) for p in peaks], np.int64)
        start = np.zeros(len(peaks) + 1, np.int64)
        np.cumsum(counts, out=start[1:])
        sx = np.concatenate([p[1] for p in peaks]).astype(np.int64, copy=False)
        sy = np.concatenate([p[2] for p in peaks]).astype(np.int64, copy=False)
        if tag.shape[3] >= 2:
            prev = kern.person_tags(people, tag)
        else:  # D = 1: numpy's per-count means (its pairwise sums)
            found = people[:, :, 2] > 0
            prev = np.zeros((n_people, 1), np.float32)
            has = found.any(axis=1)
            if has.any():
                prev[has] = _prev_tags(people[has], tag, found[has])
        kern.refine_people(
            people, det, tag, np.ascontiguousarray(bounds.heat_max, np.float32),
            np.ascontiguousarray(np.moveaxis(bounds.tag_min, 3, 0), np.float32),
            np.ascontiguousarray(np.moveaxis(bounds.tag_max, 3, 0), np.float32),
            prev, start, sx, sy)
        return
    _, h, w = det.shape
    found = people[:, :, 2] > 0
    has = found.any(axis=1)
    if not has.any():
        return
    prev = _prev_tags(people, tag, found)
    missing = ~found & has[:, None]
    jm, ps = np.divmod(np.flatnonzero(missing.T), n_people)  # pairs sorted by joint
    if len(ps) == 0:
        return
    search = _Searcher(det, tag, bounds, jm, prev[ps])
    search.seed_pixels([p[1] for p in peaks], [p[2] for p in peaks])
    pos = search.run()
    ys, xs = np.divmod(pos, w)
    val = det[jm, ys, xs]
    dx, dy = _quarter_offsets(det, jm, ys, xs)
    use = val > 0
    ps, jm = ps[use], jm[use]
    people[ps, jm, 0] = (xs + 0.5 + dx)[use]
    people[ps, jm, 1] = (ys + 0.5 + dy)[use]
    people[ps, jm, 2] = val[use]


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
        bounds: optional valid :class:`BlockBounds` of these maps (e.g. from
            :func:`upsampled_block_bounds`); saves the pass over the full maps. The result is
            the same with any valid bounds; invalid ones (not bounding the maps) give wrong
            results, so pass only bounds derived from these maps.

    Returns:
        ``people (P, J, 3 + D)`` float32 rows ``(x, y, score, tag_1..tag_D)`` in heatmap pixels
        (missing joints are all zero), and ``person_scores (P,)`` float32: the mean of the J joint
        scores before refine. People are in the official order (order of creation).
    """
    det, tag = _validate(heatmaps, tags, nms_kernel, max_num_people, detection_threshold)
    kern = _kernels()
    found = None
    if kern is not None and (bounds is None or (isinstance(bounds, BlockBounds)
                                                and bounds.heat_max is None)):
        # compiled: the pass over the heatmaps finds the peaks too
        heat_max, *found = _block_max_peaks(kern, det, np.float32(detection_threshold),
                                            nms_kernel // 2)
        if bounds is not None:
            bounds = BlockBounds(heat_max, bounds.tag_min, bounds.tag_max)
    if bounds is not None:
        bounds = _check_bounds(bounds, det, tag)
        heat_max = bounds.heat_max
    elif found is None:
        heat_max = _heat_block_max(det)  # the pass over the heatmaps
    peaks = _peaks(det, heat_max, detection_threshold, max_num_people, nms_kernel, found)
    people = _match_by_tag(peaks, tag, tag_threshold, max_num_people, use_detection_val,
                           ignore_too_much)
    if adjust:
        _adjust(people, det)
    # the official person score: a float32 mean of the float32 joint scores (before refine)
    scores = people[:, :, 2].mean(axis=1, dtype=np.float32)
    if refine and len(people):
        if bounds is None:  # one pass over the tags (the searched joints' maps only)
            bounds = BlockBounds(heat_max, *_tag_boxes(people, tag))
        _refine(people, det, tag, bounds, peaks)
    return people, scores


def _tag_boxes(people: np.ndarray, tag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-block tag min / max ``(J, nby, nbx, D)`` of the joints some person misses
    (zeros elsewhere: never read)."""
    found = people[:, :, 2] > 0
    need = np.flatnonzero((~found & found.any(axis=1)[:, None]).any(axis=0))
    kern = _kernels()
    if kern is not None:  # compiled, planar (D, J, nby, nbx): views (J, nby, nbx, D)
        mask = np.zeros(tag.shape[0], bool)
        mask[need] = True
        lo_p, hi_p = kern.tag_block_extrema(tag, mask)
        return np.moveaxis(lo_p, 0, 3), np.moveaxis(hi_p, 0, 3)
    nby, nbx = _blocks_of(tag.shape)
    lo = np.zeros((tag.shape[0], nby, nbx, tag.shape[3]), np.float32)
    hi = np.zeros_like(lo)
    if len(need):
        sub = tag[need]
        lo[need] = _reduce_blocks(sub, _BLOCK, False)
        hi[need] = _reduce_blocks(sub, _BLOCK, True)
    return lo, hi
