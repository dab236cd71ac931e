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

Everything is vectorized over the map: peak finding works on the pixels above the threshold (or
a full max filter when there are many), refine uses per-block upper bounds on
``heatmap - round(distance)`` so that only a few 8x8 blocks are evaluated exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter
from scipy.optimize import linear_sum_assignment

__all__ = ["JOINT_ORDER", "find_peaks", "parse_heatmaps"]

#: Official matching order of the COCO joints (head, shoulders, hips, arms, legs).
JOINT_ORDER: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)

_BLOCK = 8  # refine: side of the blocks used for the upper bounds (a power of 2)
_DENSE_FRACTION = 0.02  # NMS: above this fraction of pixels over threshold, use a full max filter


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
    det = np.asarray(heatmaps, dtype=np.float32)
    n_joints, h, w = det.shape
    r = nms_kernel // 2
    above = det > detection_threshold
    n_above = int(np.count_nonzero(above))
    if n_above > _DENSE_FRACTION * det.size:
        # Border handling: 'nearest' repeats edge pixels, which lie inside the clipped window,
        # so the maximum equals the official -inf padded max-pool.
        local_max = maximum_filter(det, size=(1, nms_kernel, nms_kernel), mode="nearest")
        j, y, x = np.nonzero(above & (det == local_max))
        v = det[j, y, x]
    else:
        j, y, x = np.nonzero(above)
        v = det[j, y, x]
        if r > 0 and len(v):
            keep = np.ones(len(v), dtype=bool)
            for dy in range(-r, r + 1):
                yy = np.clip(y + dy, 0, h - 1)
                for dx in range(-r, r + 1):
                    if dy or dx:
                        keep &= det[j, yy, np.clip(x + dx, 0, w - 1)] <= v
            j, y, x, v = j[keep], y[keep], x[keep], v[keep]
    # nonzero() is row-major, so a stable sort by (joint, -value) keeps ties in pixel order.
    order = np.lexsort((-v, j))
    j, y, x, v = j[order], y[order], x[order], v[order]
    starts = np.searchsorted(j, np.arange(n_joints + 1))
    out = []
    for k in range(n_joints):
        s, e = starts[k], min(starts[k + 1], starts[k] + max_peaks)
        out.append((v[s:e], x[s:e], y[s:e]))
    return out


def _match_by_tag(
    peaks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], tag: np.ndarray,
    tag_threshold: float, max_num_people: int, use_detection_val: bool, ignore_too_much: bool,
) -> np.ndarray:
    """Official ``match_by_tag`` on the thresholded peaks; returns ``(P, J, 3 + D)`` float32."""
    n_joints = len(peaks)
    dim = tag.shape[3]
    joint_order = JOINT_ORDER if n_joints == len(JOINT_ORDER) else tuple(range(n_joints))
    default = np.zeros((n_joints, 3 + dim))
    joint_dict: dict = {}
    tag_dict: dict = {}
    for i, idx in enumerate(joint_order):
        val, xs, ys = peaks[idx]
        n = len(val)
        if n == 0:
            continue
        tags = tag[idx, ys, xs]  # (n, D) float32
        joints = np.concatenate(
            (xs[:, None].astype(np.float64), ys[:, None].astype(np.float64),
             val[:, None].astype(np.float64), tags.astype(np.float64)), axis=1)
        if i == 0 or len(joint_dict) == 0:
            for r in range(n):
                key = tags[r, 0]
                joint_dict.setdefault(key, np.copy(default))[idx] = joints[r]
                tag_dict[key] = [tags[r]]
            continue
        keys = list(joint_dict.keys())[:max_num_people]
        if ignore_too_much and len(keys) == max_num_people:
            continue
        grouped = np.array([np.mean(tag_dict[k], axis=0) for k in keys])  # (G, D) float32
        dist = np.linalg.norm(joints[:, None, 3:] - grouped[None, :, :], ord=2, axis=2)
        cost = np.round(dist) * 100 - joints[:, 2:3] if use_detection_val else dist
        # Rectangular assignment == the official square padding with constant 1e10 columns.
        rows, cols = linear_sum_assignment(cost)
        assigned = np.full(n, -1)
        assigned[rows] = cols
        for r in range(n):
            c = assigned[r]
            if c >= 0 and dist[r, c] < tag_threshold:
                key = keys[c]
                joint_dict[key][idx] = joints[r]
                tag_dict[key].append(tags[r])
            else:
                key = tags[r, 0]
                joint_dict.setdefault(key, np.copy(default))[idx] = joints[r]
                tag_dict[key] = [tags[r]]
    if not joint_dict:
        return np.zeros((0, n_joints, 3 + dim), np.float32)
    return np.array(list(joint_dict.values())).astype(np.float32)


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
    p, j = np.nonzero(people[:, :, 2] > 0)
    if len(p) == 0:
        return
    x = people[p, j, 0]
    y = people[p, j, 1]
    dx, dy = _quarter_offsets(det, j, y.astype(np.int64), x.astype(np.int64))
    people[p, j, 0] = x + dx + 0.5
    people[p, j, 1] = y + dy + 0.5


class _BlockBounds:
    """Per-joint 8x8 block maxima of the heatmap and per-dimension tag ranges (lazy)."""

    def __init__(self, det: np.ndarray, tag: np.ndarray) -> None:
        self.det, self.tag = det, tag
        _, h, w = det.shape
        self.nby, self.nbx = -(-h // _BLOCK), -(-w // _BLOCK)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _blocks(self, a: np.ndarray, fn) -> np.ndarray:
        """Reduce ``a (H, W, ...)`` over 8x8 blocks with the binary ufunc ``fn`` (max / min)."""
        h, w = a.shape[:2]
        ph, pw = self.nby * _BLOCK - h, self.nbx * _BLOCK - w
        if ph or pw:  # edge replication keeps each partial block's min / max
            a = np.pad(a, ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2), mode="edge")
        step = 1
        while step < _BLOCK:  # pairwise halving: fast elementwise ufuncs on strided views
            a = fn(a[:, 0::2], a[:, 1::2])
            a = fn(a[0::2], a[1::2])
            step *= 2
        return a

    def get(self, joint: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(det_max (nby, nbx), tag_min (nby, nbx, D), tag_max (nby, nbx, D))``."""
        if joint not in self._cache:
            t = self.tag[joint]
            self._cache[joint] = (self._blocks(self.det[joint], np.maximum),
                                  self._blocks(t, np.minimum), self._blocks(t, np.maximum))
        return self._cache[joint]


def _refine_joint(det_j: np.ndarray, tag_j: np.ndarray, prev_tag: np.ndarray,
                  bounds: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[int, int]:
    """First (row-major) argmax ``(y, x)`` of ``det_j - round(|tag_j - prev_tag|)``.

    Exact: blocks are evaluated only where an upper bound of the score reaches the best score
    found so far. Float32 arithmetic as in the official code.
    """
    h, w = det_j.shape
    det_max, tag_min, tag_max = bounds
    pt = prev_tag.astype(np.float64)
    gap = np.maximum(np.maximum(tag_min - pt, pt - tag_max), 0.0)
    lower = np.sqrt((gap * gap).sum(axis=-1))
    # Margin so that float32 rounding of the exact distance can never drop below the bound.
    # float32 like the exact score: correctly rounded subtraction is monotone, so the bound holds
    # after rounding too.
    ub = det_max - np.round(np.maximum(lower - 1e-3, 0.0)).astype(np.float32)
    ub_flat = ub.ravel()

    offs = np.arange(_BLOCK)

    def evaluate(block_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        by, bx = np.divmod(block_ids, ub.shape[1])
        yy = (by[:, None] * _BLOCK + offs)[:, :, None]  # (n, B, 1)
        xx = (bx[:, None] * _BLOCK + offs)[:, None, :]  # (n, 1, B)
        inside = (yy < h) & (xx < w)
        yc, xc = np.minimum(yy, h - 1), np.minimum(xx, w - 1)
        d = tag_j[yc, xc] - prev_tag  # float32 (n, B, B, D)
        tt = (d ** 2).sum(axis=-1) ** 0.5
        score = det_j[yc, xc] - np.round(tt)
        score = np.where(inside, score, -np.inf)
        flat = np.broadcast_to(yc * w + xc, score.shape)
        return score.ravel(), flat.ravel()

    first = int(np.argmax(ub_flat))
    s0, _ = evaluate(np.array([first]))
    best = s0.max()
    cand = np.flatnonzero(ub_flat >= best)
    if len(cand) == 0:  # cannot happen with finite maps; stay exact anyway
        cand = np.arange(len(ub_flat))
    score, flat = evaluate(cand)
    best = score.max()
    pos = int(flat[score == best].min())
    return divmod(pos, w)


def _refine(people: np.ndarray, det: np.ndarray, tag: np.ndarray) -> None:
    """Official ``refine`` in place for every person: fill missing joints from the maps."""
    if len(people) == 0:
        return
    bounds = _BlockBounds(det, tag)
    n_joints = det.shape[0]
    for person in people:
        found = np.flatnonzero(person[:, 2] > 0)
        if len(found) == 0:
            continue
        xi = person[found, 0].astype(np.int32)
        yi = person[found, 1].astype(np.int32)
        prev_tag = np.mean(tag[found, yi, xi], axis=0)  # float32 (D,)
        missing = [k for k in range(n_joints) if person[k, 2] == 0]
        if not missing:
            continue
        ys, xs = np.zeros(len(missing), np.int64), np.zeros(len(missing), np.int64)
        for m, k in enumerate(missing):
            ys[m], xs[m] = _refine_joint(det[k], tag[k], prev_tag, bounds.get(k))
        jm = np.asarray(missing)
        val = det[jm, ys, xs]
        dx, dy = _quarter_offsets(det, jm, ys, xs)
        use = val > 0
        person[jm[use], 0] = (xs + 0.5 + dx)[use]
        person[jm[use], 1] = (ys + 0.5 + dy)[use]
        person[jm[use], 2] = val[use]


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

    Returns:
        ``people (P, J, 3 + D)`` float32 rows ``(x, y, score, tag_1..tag_D)`` in heatmap pixels
        (missing joints are all zero), and ``person_scores (P,)`` float32: the mean of the J joint
        scores before refine. People are in the official order (order of creation).
    """
    det, tag = _validate(heatmaps, tags, nms_kernel, max_num_people, detection_threshold)
    peaks = find_peaks(det, detection_threshold, max_num_people, nms_kernel)
    people = _match_by_tag(peaks, tag, tag_threshold, max_num_people, use_detection_val,
                           ignore_too_much)
    if adjust:
        _adjust(people, det)
    scores = people[:, :, 2].astype(np.float64).mean(axis=1).astype(np.float32)
    if refine:
        _refine(people, det, tag)
    return people, scores
