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

Speed (exact results, no full-map pass except one): the heatmaps are reduced once to 8x8 block
maxima (a torch reduction, using torch's threads). NMS and top-k run only on the blocks whose
maximum is above the threshold (each with its NMS apron; a full max filter when those cover
much of the map). ``match_by_tag`` keeps the official dictionaries as arrays. ``refine`` is a
branch and bound over blocks per joint, for all persons missing it at once: a block's score is
bounded by its heatmap maximum and, when many blocks remain, by the rounded distance from the
person's tag to the block's tag box (the joint's tags reduced once, only then); only blocks
whose bound reaches the best score found are evaluated exactly, in float32 like the official.
Inputs are assumed finite (NaN ordering is not reproduced).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.ndimage import maximum_filter
from scipy.optimize import linear_sum_assignment

__all__ = ["JOINT_ORDER", "find_peaks", "parse_heatmaps"]

#: Official matching order of the COCO joints (head, shoulders, hips, arms, legs).
JOINT_ORDER: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)

_BLOCK = 8  # side of the blocks used for bounds (peak candidates, refine pruning)
_DENSE_FRACTION = 0.25  # NMS: above this fraction of the map in candidate blocks, full max filter
_SEED_BLOCKS = 4  # refine: blocks with the highest heatmap maximum always evaluated first
_DIRECT_BLOCKS = 128  # refine: remaining blocks evaluated at once (else tag bounds / chunks)
_CHUNK_BLOCKS = 32  # refine: blocks per person and round when more remain


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


# ----------------------------------------------------------------------------------------------
# 8x8 block bounds
# ----------------------------------------------------------------------------------------------
def _block_reduce(a: np.ndarray, largest: bool) -> np.ndarray:
    """Max (``largest``) or min of ``a (J, H, W, *rest)`` over 8x8 pixel blocks.

    Returns ``(J, ceil(H/8), ceil(W/8), *rest)``; partial blocks at the right / bottom edge
    reduce over their real pixels only. One torch reduction (multi-threaded) per axis.
    """
    n, h, w = a.shape[:3]
    rest = a.shape[3:]
    nby, nbx = -(-h // _BLOCK), -(-w // _BLOCK)
    if h % _BLOCK or w % _BLOCK:  # edge replication keeps each partial block's min / max
        pad = ((0, 0), (0, nby * _BLOCK - h), (0, nbx * _BLOCK - w)) + ((0, 0),) * len(rest)
        a = np.pad(a, pad, mode="edge")
    inner = int(np.prod(rest, dtype=np.int64))
    with warnings.catch_warnings():  # read-only input: torch only reads it here
        warnings.simplefilter("ignore", UserWarning)
        t = torch.from_numpy(np.ascontiguousarray(a))
    fn = torch.amax if largest else torch.amin
    r = fn(t.view(n, nby, _BLOCK, nbx * _BLOCK * inner), dim=2)
    r = fn(r.view(n, nby, nbx, _BLOCK, inner), dim=3)
    return r.reshape((n, nby, nbx) + rest).numpy()


def _block_pixels(blocks: np.ndarray, nbx: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-major pixel indices ``(n * 64,)`` of flat block ids ``(n,)`` (clipped into the map)
    and the mask of the real ones (``None`` when every block lies fully inside)."""
    by, bx = np.divmod(blocks, nbx)
    offs = np.arange(_BLOCK)
    if h % _BLOCK == 0 and w % _BLOCK == 0:
        base = by * (_BLOCK * w) + bx * _BLOCK
        return (base[:, None] + (offs[:, None] * w + offs).ravel()).ravel(), None
    yy = by[:, None] * _BLOCK + offs
    xx = bx[:, None] * _BLOCK + offs
    inside = (yy < h)[:, :, None] & (xx < w)[:, None, :]
    flat = np.minimum(yy, h - 1)[:, :, None] * w + np.minimum(xx, w - 1)[:, None, :]
    return flat.ravel(), inside.ravel()


# ----------------------------------------------------------------------------------------------
# Peaks (NMS + top-k)
# ----------------------------------------------------------------------------------------------
def _peaks(det: np.ndarray, block_max: np.ndarray, detection_threshold: float, max_peaks: int,
           nms_kernel: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`find_peaks` given the 8x8 block maxima ``(J, nby, nbx)`` of ``det``."""
    n_joints, h, w = det.shape
    r = nms_kernel // 2
    cj, cby, cbx = np.nonzero(block_max > detection_threshold)
    if len(cj) * _BLOCK * _BLOCK > _DENSE_FRACTION * det.size:
        # Border handling: 'nearest' repeats edge pixels, which lie inside the clipped window,
        # so the maximum equals the official -inf padded max-pool.
        local_max = maximum_filter(det, size=(1, nms_kernel, nms_kernel), mode="nearest")
        j, y, x = np.nonzero((det > detection_threshold) & (det == local_max))
        v = det[j, y, x]
    else:
        # Only blocks holding a pixel above the threshold can hold a peak: evaluate the NMS on
        # those blocks, each with an r-pixel apron (edge-clipped, same maximum as -inf padding).
        offs = np.arange(-r, _BLOCK + r)
        yy = np.clip(cby[:, None] * _BLOCK + offs, 0, h - 1) * w + (cj * (h * w))[:, None]
        xx = np.clip(cbx[:, None] * _BLOCK + offs, 0, w - 1)
        tile = np.take(det.ravel(), yy[:, :, None] + xx[:, None, :])
        rowmax = tile[:, :, 0:_BLOCK]
        for dx in range(1, 2 * r + 1):
            rowmax = np.maximum(rowmax, tile[:, :, dx:dx + _BLOCK])
        winmax = rowmax[:, 0:_BLOCK]
        for dy in range(1, 2 * r + 1):
            winmax = np.maximum(winmax, rowmax[:, dy:dy + _BLOCK])
        centre = tile[:, r:r + _BLOCK, r:r + _BLOCK]
        b, iy, ix = np.nonzero((centre > detection_threshold) & (centre == winmax))
        j, y, x, v = cj[b], cby[b] * _BLOCK + iy, cbx[b] * _BLOCK + ix, centre[b, iy, ix]
        keep = (y < h) & (x < w)  # partial edge blocks: clipped duplicates
        j, y, x, v = j[keep], y[keep], x[keep], v[keep]
    # Strongest first; ties in row-major pixel order (the official stable top-k).
    order = np.lexsort((y * w + x, -v, j))
    j, y, x, v = j[order], y[order], x[order], v[order]
    starts = np.searchsorted(j, np.arange(n_joints + 1))
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
    return _peaks(det, _block_reduce(det, True), detection_threshold, max_peaks, nms_kernel)


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
    dim = tag.shape[3]
    joint_order = JOINT_ORDER if n_joints == len(JOINT_ORDER) else tuple(range(n_joints))
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
        tags = tag[idx, ys, xs]  # (n, D) float32
        joints = np.concatenate(
            (xs[:, None].astype(np.float64), ys[:, None].astype(np.float64),
             val[:, None].astype(np.float64), tags.astype(np.float64)), axis=1)
        keys = tags[:, 0].tolist()
        joins = np.zeros(n, dtype=bool)
        assigned = np.full(n, -1)
        if not (i == 0 or n_people == 0):
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
            dist = np.linalg.norm(joints[:, None, 3:] - grouped[None, :, :], ord=2, axis=2)
            cost = np.round(dist) * 100 - joints[:, 2:3] if use_detection_val else dist
            # Rectangular assignment == the official square padding with constant 1e10 columns.
            ri, ci = linear_sum_assignment(cost)
            assigned[ri] = ci
            joins[ri] = dist[ri, ci] < tag_threshold
        new = np.flatnonzero(~joins)
        new_keys = [keys[r] for r in new.tolist()]
        if len(set(new_keys)) == len(new_keys) and not any(k in index for k in new_keys):
            # No key collision: the official row-by-row updates commute, apply them at once.
            ra = np.flatnonzero(joins)
            ca = assigned[ra]
            rows[ca, idx] = joints[ra]
            tag_buf[ca, counts[ca]] = tags[ra]
            sums[ca] += tags[ra]
            counts[ca] += 1
            pn = np.arange(n_people, n_people + len(new))
            rows[pn, idx] = joints[new]
            tag_buf[pn, 0] = tags[new]
            sums[pn] = tags[new]
            counts[pn] = 1
            index.update(zip(new_keys, pn.tolist()))
            n_people += len(new)
            continue
        for r in range(n):  # official order, collisions overwrite / reset the keyed person
            if joins[r]:
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
    p, j = np.nonzero(people[:, :, 2] > 0)
    if len(p) == 0:
        return
    x = people[p, j, 0]
    y = people[p, j, 1]
    dx, dy = _quarter_offsets(det, j, y.astype(np.int64), x.astype(np.int64))
    people[p, j, 0] = x + dx + 0.5
    people[p, j, 1] = y + dy + 0.5


def _evaluate_blocks(det_j: np.ndarray, tag_j: np.ndarray, blocks: np.ndarray, nbx: int,
                     prev_tags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact refine score ``det_j - round(|tag_j - prev_tag|)`` on the pixels of ``blocks``.

    Float32 arithmetic as the official code (the squared differences are summed over the tag
    dimensions in order, like its ``sum(axis=2)``). Returns per person ``(m,)`` the best score
    and the smallest row-major pixel index reaching it.
    """
    h, w = det_j.shape
    dim = tag_j.shape[-1]
    flat, inside = _block_pixels(blocks, nbx, h, w)
    tg = np.take(tag_j.reshape(-1, dim), flat, axis=0).T  # (D, n) float32
    sq = None
    for d in range(dim):
        diff = tg[d][None, :] - prev_tags[:, d:d + 1]  # (m, n) float32
        sq = diff * diff if sq is None else sq + diff * diff
    score = np.take(det_j.ravel(), flat)[None, :] - np.round(sq ** 0.5)
    if inside is not None:
        score[:, ~inside] = -np.inf
    best = score.max(axis=1)
    pos = np.where(score == best[:, None], flat, np.iinfo(np.int64).max).min(axis=1)
    return best, pos


def _tag_distance_floor(lo: np.ndarray, hi: np.ndarray, prev_tags: np.ndarray) -> np.ndarray:
    """Lower bound ``(m, nb)`` float32 of ``round(|tag - prev_tag|)`` over each block, given the
    block's tag box ``lo, hi (nb, D)``; the margin covers float32 rounding of the exact score."""
    sq = np.zeros((len(prev_tags), len(lo)))
    for d in range(lo.shape[1]):
        pt = prev_tags[:, d:d + 1].astype(np.float64)
        gap = np.maximum(np.maximum(lo[None, :, d] - pt, pt - hi[None, :, d]), 0.0)
        sq += gap * gap
    lower = np.sqrt(sq)
    return np.round(np.maximum(lower * (1 - 1e-5) - 1e-3, 0.0)).astype(np.float32)


def _refine_joint(det_j: np.ndarray, tag_j: np.ndarray, ub: np.ndarray,
                  peaks_j: tuple[np.ndarray, np.ndarray, np.ndarray], nbx: int,
                  prev_tags: np.ndarray) -> np.ndarray:
    """Row-major pixel index ``(m,)`` of the first argmax of ``det_j - round(|tag_j - t|)`` for
    each person tag ``t`` in ``prev_tags (m, D)``; ``ub (nb,)``: the 8x8 block maxima of det_j.

    Branch and bound over blocks, exact: a block is skipped only when an upper bound of its
    score (its heatmap maximum, minus the rounded distance from ``t`` to the block's tag box
    once many blocks remain) is below the best score already found (equal bounds are kept
    for the row-major tie rule).
    """
    m = len(prev_tags)
    # Seed: the blocks of this joint's peaks and of the highest heatmap maxima.
    _, px, py = peaks_j
    top = np.argpartition(-ub, min(_SEED_BLOCKS, len(ub)) - 1)[:_SEED_BLOCKS]
    seed = np.union1d((py // _BLOCK) * nbx + px // _BLOCK, top)
    best, pos = _evaluate_blocks(det_j, tag_j, seed, nbx, prev_tags)
    done = np.zeros(len(ub), dtype=bool)
    done[seed] = True
    # A pixel's score never exceeds its heatmap value (round(distance) >= 0).
    bound = np.broadcast_to(ub, (m, len(ub)))
    bounded = False
    while True:
        cand = (bound >= best[:, None]) & ~done
        blocks = np.flatnonzero(cand.any(axis=0))
        if len(blocks) > _DIRECT_BLOCKS and not bounded:
            lo = _block_reduce(tag_j[None], False)[0].reshape(len(ub), -1)
            hi = _block_reduce(tag_j[None], True)[0].reshape(len(ub), -1)
            bound = ub[None, :] - _tag_distance_floor(lo, hi, prev_tags)
            bounded = True
            continue
        if len(blocks) > _DIRECT_BLOCKS:  # evaluate each person's most promising blocks first
            pick = []
            for p in range(m):
                c = np.flatnonzero(cand[p])
                if len(c) > _CHUNK_BLOCKS:
                    c = c[np.argpartition(-bound[p, c], _CHUNK_BLOCKS - 1)[:_CHUNK_BLOCKS]]
                pick.append(c)
            blocks = np.unique(np.concatenate(pick))
        if len(blocks) == 0:
            return pos
        b, q = _evaluate_blocks(det_j, tag_j, blocks, nbx, prev_tags)
        pos = np.where(b > best, q, np.where(b == best, np.minimum(pos, q), pos))
        best = np.maximum(best, b)
        done[blocks] = True


def _refine(people: np.ndarray, det: np.ndarray, tag: np.ndarray, block_max: np.ndarray,
            peaks: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Official ``refine`` in place for every person: fill missing joints from the maps.

    Per joint, the exact argmax of ``det - round(|tag - prev_tag|)`` is searched for all
    persons missing it at once: a lower bound ``L`` from the blocks most likely to hold it,
    then only blocks whose upper bound (heatmap block maximum, minus the rounded distance
    from the person's tag to the block's tag box when many blocks remain) reaches ``L``.
    """
    n_people, n_joints, _ = people.shape
    if n_people == 0:
        return
    _, h, w = det.shape
    nbx = block_max.shape[2]
    found = people[:, :, 2] > 0
    prev = np.zeros((n_people, tag.shape[3]), np.float32)
    has = found.any(axis=1)
    for p in np.flatnonzero(has):
        f = np.flatnonzero(found[p])
        xi = people[p, f, 0].astype(np.int32)
        yi = people[p, f, 1].astype(np.int32)
        prev[p] = np.mean(tag[f, yi, xi], axis=0)
    missing = ~found & has[:, None]
    out_p, out_j, out_pos = [], [], []
    for k in np.flatnonzero(missing.any(axis=0)):
        ps = np.flatnonzero(missing[:, k])
        pos = _refine_joint(det[k], tag[k], block_max[k].ravel(), peaks[k], nbx, prev[ps])
        out_p.append(ps)
        out_j.append(np.full(len(ps), k))
        out_pos.append(pos)
    if not out_p:
        return
    ps, jm, pos = np.concatenate(out_p), np.concatenate(out_j), np.concatenate(out_pos)
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
    block_max = _block_reduce(det, True)  # (J, nby, nbx): the only full pass over the maps
    peaks = _peaks(det, block_max, detection_threshold, max_num_people, nms_kernel)
    people = _match_by_tag(peaks, tag, tag_threshold, max_num_people, use_detection_val,
                           ignore_too_much)
    if adjust:
        _adjust(people, det)
    # the official person score: a float32 mean of the float32 joint scores (before refine)
    scores = people[:, :, 2].mean(axis=1, dtype=np.float32)
    if refine:
        _refine(people, det, tag, block_max, peaks)
    return people, scores
