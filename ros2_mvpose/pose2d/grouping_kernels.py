"""Compiled (numba) kernels of :func:`.grouping.parse_heatmaps`: the official grouping, fast.

Every kernel gives exactly the result of :mod:`.grouping_reference` (the official algorithm):
float32 / float64 arithmetic in the official order (``np.rint`` is the round-half-to-even of
``np.round``; means as numpy takes them, :func:`_mean_rows`), ties resolved by the smallest
row-major pixel index (the official first argmax, stable top-k). Detection thresholds arrive as
the largest float32 <= the threshold, which compares like the official float64 rows.
Inputs are finite float32 arrays as :func:`.grouping._validate` makes them, with at most 7 tag
dimensions and 128 joints (numpy's pairwise sums are written for shorter sums only).

Compiled code is cached (``cache=True``) in ``__pycache__`` next to this file, or in numba's
user-wide cache directory when that is not writable (numba's own fallback); ``NUMBA_CACHE_DIR``
overrides both. The first call of a fresh install compiles (about 30 s, once).
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["adjust_people", "block_max_peaks", "match_by_tag", "quarter_window_extrema",
           "refine_people", "tag_block_extrema"]

_JIT = {"cache": True, "nogil": True}
_B = 8  # block side (grouping.BLOCK)


# min / max only (exact in any order; inputs are finite): fastmath lets LLVM use SIMD max
_JIT_MINMAX = {"cache": True, "nogil": True, "fastmath": True}


@numba.njit(**_JIT_MINMAX)
def _max_rows8(d, y0, acc):
    """``acc[x] = max(d[y0:y0 + 8, x])`` (SIMD over x: one output store per column)."""
    r0, r1, r2, r3 = d[y0], d[y0 + 1], d[y0 + 2], d[y0 + 3]
    r4, r5, r6, r7 = d[y0 + 4], d[y0 + 5], d[y0 + 6], d[y0 + 7]
    for x in range(acc.shape[0]):
        acc[x] = max(max(max(r0[x], r1[x]), max(r2[x], r3[x])),
                     max(max(r4[x], r5[x]), max(r6[x], r7[x])))


@numba.njit(**_JIT_MINMAX)
def _block_rows_max(d, y0, acc):
    """``acc[x] = max(d[y0:y0 + 8, x])``, the block row cut at the bottom edge of ``d``."""
    h = d.shape[0]
    if y0 + _B <= h:
        _max_rows8(d, y0, acc)
    else:
        acc[:] = d[y0]
        for y in range(y0 + 1, h):
            for x in range(acc.shape[0]):
                acc[x] = max(acc[x], d[y, x])


@numba.njit(**_JIT_MINMAX)
def quarter_window_extrema(x, flip, lo, hi):
    """Min / max of ``x (C, q, r)`` (``q``, ``r`` even; columns read mirrored when ``flip``)
    over the windows ``[2b - 1, 2b + 2]`` (clipped) of both axes, written to ``lo``, ``hi``
    ``(C, q/2, r/2)``: every pixel that two nested 2x bilinear upsamplings read for one 8x8
    output block."""
    c, q, r = x.shape
    nby = q // 2
    nbx = r // 2
    cmin = np.empty(r, np.float32)
    cmax = np.empty(r, np.float32)
    pmin = np.empty(r, np.float32)
    pmax = np.empty(r, np.float32)
    for ch in range(c):
        for by in range(nby):
            # column-wise extrema of the window's 4 rows (clipped rows repeat: same extrema)
            r0 = x[ch, max(2 * by - 1, 0)]
            r1 = x[ch, 2 * by]
            r2 = x[ch, 2 * by + 1]
            r3 = x[ch, min(2 * by + 2, q - 1)]
            for i in range(r):
                a, b, e, d = r0[i], r1[i], r2[i], r3[i]
                cmin[i] = min(min(a, b), min(e, d))
                cmax[i] = max(max(a, b), max(e, d))
            # extrema of adjacent column pairs (i, i + 1)
            for i in range(r - 1):
                pmin[i] = min(cmin[i], cmin[i + 1])
                pmax[i] = max(cmax[i], cmax[i + 1])
            # block bx: columns [2 bx - 1, 2 bx + 2] = pairs 2 bx - 1 and 2 bx + 1 (clipped);
            # of the mirrored map that is the unmirrored window of block nbx - 1 - bx
            for bx in range(nbx):
                i0 = max(2 * bx - 1, 0)
                i1 = min(2 * bx + 1, r - 2)
                out = nbx - 1 - bx if flip else bx
                lo[ch, by, out] = min(pmin[i0], pmin[i1])
                hi[ch, by, out] = max(pmax[i0], pmax[i1])


@numba.njit(**_JIT)
def block_max_peaks(det, threshold, r):
    """Heatmap maxima ``(J, ceil(H/8), ceil(W/8))`` over 8x8 blocks (partial blocks at the edges
    hold their own pixels) and the NMS peaks of ``det (J, H, W)`` in one pass: pixels ``>
    threshold`` equal to the maximum of their clipped ``(2r+1)^2`` window (the official -inf
    padded max-pool), searched only in the blocks whose maximum is above the threshold, while
    the block row is in cache.

    Returns ``(heat_max, flat index (j * H + y) * W + x int64, value float32)``, peaks in index
    order (loops written out in one function: calls per block cost more than the search)."""
    n_j, h, w = det.shape
    nby = (h + _B - 1) // _B
    nbx = (w + _B - 1) // _B
    heat_max = np.empty((n_j, nby, nbx), np.float32)
    acc = np.empty(w, np.float32)
    flat = np.empty(256, np.int64)
    val = np.empty(256, np.float32)
    n = 0
    for j in range(n_j):
        d = det[j]
        for by in range(nby):
            y0 = by * _B
            if n + nbx * _B * _B > flat.shape[0]:  # room for a block row (not in the inner
                cap = 2 * (n + nbx * _B * _B)  # loops: arrays reassigned there are slow)
                flat2 = np.empty(cap, np.int64)
                val2 = np.empty(cap, np.float32)
                flat2[:n] = flat[:n]
                val2[:n] = val[:n]
                flat, val = flat2, val2
            _block_rows_max(d, y0, acc)
            for bx in range(nbx):
                x0 = bx * _B
                m = acc[x0]
                for x in range(x0 + 1, min(x0 + _B, w)):
                    m = max(m, acc[x])
                heat_max[j, by, bx] = m
                if not m > threshold:
                    continue
                for y in range(y0, min(y0 + _B, h)):
                    ya = max(y - r, 0)
                    yb = min(y + r + 1, h)
                    for x in range(x0, min(x0 + _B, w)):
                        v = d[y, x]
                        if not v > threshold:
                            continue
                        # a bigger direct neighbour rejects most pixels of a smooth slope
                        if r > 0 and ((x > 0 and d[y, x - 1] > v) or (x + 1 < w and d[y, x + 1] > v)
                                      or (y > 0 and d[y - 1, x] > v)
                                      or (y + 1 < h and d[y + 1, x] > v)):
                            continue
                        xa = max(x - r, 0)
                        xb = min(x + r + 1, w)
                        peak = True
                        for yy in range(ya, yb):
                            for xx in range(xa, xb):
                                if d[yy, xx] > v:
                                    peak = False
                                    break
                            if not peak:
                                break
                        if peak:
                            flat[n] = (j * h + y) * w + x
                            val[n] = v
                            n += 1
    return heat_max, flat[:n], val[:n]


@numba.njit(inline="always")
def _score(det, tag, k, y, x, t):
    """Official float32 refine score ``det - round(sqrt(sum_d (tag_d - t_d)^2))``."""
    sq = np.float32(0.0)
    for d in range(t.shape[0]):
        a = tag[k, y, x, d] - t[d]
        sq += a * a
    return det[k, y, x] - np.rint(np.sqrt(sq))


@numba.njit(inline="always")
def _floor(lo, hi, k, by, bx, t):
    """Lower bound of the official float32 ``round(|tag - t|)`` over the tag box of block
    ``(by, bx)`` of joint ``k``. Each float32 operation errs by <= 2**-24 relative, so the box
    distance computed here and the official distance of any tag in the box are both within
    1 +- 5e-7 of the exact values; the margin ``x (1 - 1e-5) - 1e-3`` keeps the result below the
    official value, and ``round`` is monotone."""
    sq = np.float32(0.0)
    for d in range(t.shape[0]):
        td = t[d]
        g = max(lo[d, k, by, bx] - td, td - hi[d, k, by, bx], np.float32(0.0))
        sq += g * g
    dist = np.sqrt(sq) * np.float32(1 - 1e-5) - np.float32(1e-3)
    return np.rint(max(dist, np.float32(0.0)))


_S = 4  # refine: super-blocks of 4x4 blocks


@numba.njit(**_JIT)
def _eval_block(det, tag, k, by, bx, t, fl, best, bpos):
    """Scores of block ``(by, bx)`` of joint ``k`` (tag floor ``fl``) merged into the running
    ``(best, bpos)``: higher score, or equal score at a smaller row-major pixel index."""
    _, h, w = det.shape
    for y in range(by * _B, min(by * _B + _B, h)):
        for x in range(bx * _B, min(bx * _B + _B, w)):
            v = det[k, y, x]
            if v - fl < best:  # score <= det - floor (float32 monotone): below the best
                continue
            sc = _score(det, tag, k, y, x, t)
            if sc > best or (sc == best and y * w + x < bpos):
                best = sc
                bpos = y * w + x
    return best, bpos


@numba.njit(**_JIT)
def _eval_super(det, tag, ub, lo, hi, k, sy, sx, t, best, bpos, bnd, fls, ids):
    """Every block of super-block ``(sy, sx)`` whose bound reaches the best score, best bound
    first (``bnd``, ``fls``, ``ids``: scratch arrays of ``S * S`` items)."""
    nby, nbx = ub.shape[1], ub.shape[2]
    n = 0
    for by in range(sy * _S, min(sy * _S + _S, nby)):
        for bx in range(sx * _S, min(sx * _S + _S, nbx)):
            u = ub[k, by, bx]
            if u < best:
                continue
            fl = _floor(lo, hi, k, by, bx, t)
            b = u - fl
            if b >= best:  # insertion sort, descending bound
                i = n
                while i > 0 and bnd[i - 1] < b:
                    bnd[i] = bnd[i - 1]
                    fls[i] = fls[i - 1]
                    ids[i] = ids[i - 1]
                    i -= 1
                bnd[i] = b
                fls[i] = fl
                ids[i] = by * nbx + bx
                n += 1
    for i in range(n):
        if bnd[i] < best:
            break
        best, bpos = _eval_block(det, tag, k, ids[i] // nbx, ids[i] % nbx, t, fls[i], best,
                                 bpos)
    return best, bpos


@numba.njit(**_JIT)
def _pairwise_sum(a, n):
    """numpy's float32 pairwise sum of ``a[:n]`` for ``1 <= n <= 128``, bit for bit: in order
    below 8 items, else 8 interleaved partial sums added as a tree, then the rest in order
    (numpy splits longer arrays in halves; not written here: numba cannot cache recursion)."""
    if n < 8:
        s = a[0]
        for i in range(1, n):
            s += a[i]
        return s
    r = a[:8].copy()
    i = 8
    while i < n - n % 8:
        for k in range(8):
            r[k] += a[i + k]
        i += 8
    s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for k in range(i, n):
        s += a[k]
    return s


@numba.njit(**_JIT)
def _mean_rows(rows, n, out):
    """``np.mean(rows[:n], axis=0)`` of float32 rows ``(>= n, D)`` into ``out (D,)``, bit for bit
    for ``n <= 128``: numpy sums one column (D = 1) pairwise and D >= 2 columns row by row, then
    divides in float64 by the count."""
    dim = rows.shape[1]
    for d in range(dim):
        if dim == 1:
            s = _pairwise_sum(rows[:, 0], n)
        else:
            s = rows[0, d]
            for i in range(1, n):
                s += rows[i, d]
        out[d] = np.float32(np.float64(s) / n)


def _lsa(cost):
    """scipy's minimum-cost assignment (object mode), int64 row and column indices."""
    ri, ci = linear_sum_assignment(cost)
    return ri.astype(np.int64), ci.astype(np.int64)


@numba.njit(cache=True)  # not nogil: the assignment runs scipy's solver in object mode
def match_by_tag(vals, xs, ys, start, joint_order, tag, tag_threshold, max_num_people,
                 use_detection_val, ignore_too_much):
    """Official ``match_by_tag`` (:func:`.grouping_reference.match_by_tag`): the same float32
    mean tags, float64 distances and costs, and the same solver (scipy's
    ``linear_sum_assignment`` on the same cost matrix).

    Args:
        vals, xs, ys: the thresholded top-k peaks of all joints, joint ``k``'s at
            ``start[k]:start[k + 1]``.
        joint_order: ``(J,)`` matching order; tag: ``(J, H, W, D)`` float32.

    Returns:
        ``(P, J, 3 + D)`` float64 person rows in creation order. People are keyed by the first
        tag value of the peak that created them, like the official dictionary.
    """
    n_j = tag.shape[0]
    dim = tag.shape[3]
    cap = max(vals.shape[0], 1)
    rows = np.zeros((cap, n_j, 3 + dim))
    tag_lists = np.zeros((cap, n_j, dim), np.float32)  # each person's tags, in order added
    counts = np.zeros(cap, np.int64)
    keys = np.empty(cap, np.float64)
    n_people = 0
    for i in range(joint_order.shape[0]):
        idx = joint_order[i]
        s0 = start[idx]
        n = start[idx + 1] - s0
        if n == 0:
            continue
        joints = np.empty((n, 3 + dim))
        tags = np.empty((n, dim), np.float32)
        for r in range(n):
            x = xs[s0 + r]
            y = ys[s0 + r]
            joints[r, 0] = x
            joints[r, 1] = y
            joints[r, 2] = vals[s0 + r]
            for d in range(dim):
                tags[r, d] = tag[idx, y, x, d]
                joints[r, 3 + d] = tags[r, d]
        joins = np.zeros(n, np.bool_)
        assigned = np.full(n, -1, np.int64)
        if i > 0 and n_people > 0:
            n_grouped = min(n_people, max_num_people)
            if ignore_too_much and n_grouped == max_num_people:
                continue
            grouped = np.empty((n_grouped, dim), np.float32)
            for p in range(n_grouped):
                _mean_rows(tag_lists[p], counts[p], grouped[p])
            dist = np.empty((n, n_grouped))
            cost = np.empty((n, n_grouped))
            for r in range(n):
                for p in range(n_grouped):
                    sq = 0.0
                    for d in range(dim):
                        a = joints[r, 3 + d] - np.float64(grouped[p, d])
                        sq += a * a
                    dist[r, p] = np.sqrt(sq)
                    if use_detection_val:
                        cost[r, p] = np.rint(dist[r, p]) * 100.0 - joints[r, 2]
                    else:
                        cost[r, p] = dist[r, p]
            with numba.objmode(ri="int64[:]", ci="int64[:]"):
                ri, ci = _lsa(cost)
            for m in range(ri.shape[0]):
                assigned[ri[m]] = ci[m]
                joins[ri[m]] = dist[ri[m], ci[m]] < tag_threshold
        for r in range(n):  # official order; a key collision resets the keyed person's tags
            if joins[r]:
                p = assigned[r]
            else:
                key = np.float64(tags[r, 0])
                p = -1
                for m in range(n_people):
                    if keys[m] == key:
                        p = m
                        break
                if p < 0:
                    p = n_people
                    keys[p] = key
                    n_people += 1
                counts[p] = 0
            tag_lists[p, counts[p]] = tags[r]
            counts[p] += 1
            for c in range(3 + dim):
                rows[p, idx, c] = joints[r, c]
    return rows[:n_people]


@numba.njit(**_JIT)
def _search(det, tag, ub, lo, hi, sub, slo, shi, k, t, seed_x, seed_y, sbnd, sids, bnd, fls, ids):
    """Row-major pixel index of the first argmax of ``det[k] - round(|tag[k] - t|)``: the
    pixels ``(seed_x, seed_y)`` (the joint's peaks) give a first best score, then super-blocks
    are visited best bound first (``sub``, ``slo``, ``shi``: their heatmap and tag bounds), and
    in them the blocks whose bound reaches the best score (equal bounds too: the smallest-index
    tie rule). A block is skipped only when its bound is below the best score: exact."""
    _, h, w = det.shape
    nsx = sub.shape[2]
    best = np.float32(-np.inf)
    bpos = h * w
    for s in range(seed_x.shape[0]):
        y, x = seed_y[s], seed_x[s]
        sc = _score(det, tag, k, y, x, t)
        if sc > best or (sc == best and y * w + x < bpos):
            best, bpos = sc, y * w + x
    n = 0
    top = -1
    for sy in range(sub.shape[1]):
        for sx in range(nsx):
            u = sub[k, sy, sx]
            if u < best:
                continue
            b = u - _floor(slo, shi, k, sy, sx, t)
            if b >= best:
                sbnd[n] = b
                sids[n] = sy * nsx + sx
                if top < 0 or b > sbnd[top]:
                    top = n
                n += 1
    if n == 0:
        return bpos
    # the best-bounded super-block first: a good lower bound for the others
    best, bpos = _eval_super(det, tag, ub, lo, hi, k, sids[top] // nsx, sids[top] % nsx, t,
                             best, bpos, bnd, fls, ids)
    m = 0
    for i in range(n):
        if i != top and sbnd[i] >= best:
            sbnd[m] = sbnd[i]
            sids[m] = sids[i]
            m += 1
    for i in np.argsort(-sbnd[:m]):
        if sbnd[i] < best:
            break
        best, bpos = _eval_super(det, tag, ub, lo, hi, k, sids[i] // nsx, sids[i] % nsx, t,
                                 best, bpos, bnd, fls, ids)
    return bpos


@numba.njit(inline="always")
def _box_extremum(a, y0, y1, x0, x1, largest):
    """Max (``largest``) or min of ``a[y0:y1, x0:x1]`` (2-D, not empty)."""
    m = a[y0, x0]
    for y in range(y0, y1):
        for x in range(x0, x1):
            m = max(m, a[y, x]) if largest else min(m, a[y, x])
    return m


@numba.njit(**_JIT)
def refine_people(people, det, tag, ub, lo, hi, seed_start, seed_x, seed_y):
    """Official ``refine`` in place for every person (:func:`.grouping_reference.refine_person`):
    each missing joint ``j`` of person ``p`` is taken at the first argmax of ``det[j] -
    round(|tag[j] - mean tag of p|)`` when its heatmap value there is > 0, with the quarter-pixel
    offset towards the higher neighbour (ties -0.25) plus 0.5.

    Args:
        people: ``(P, J, 3 + D)`` float32; det: ``(J, H, W)`` float32; tag: ``(J, H, W, D)``.
        ub: ``(J, nby, nbx)`` upper bounds of ``det`` per 8x8 block; lo, hi: ``(D, J, nby,
            nbx)`` bounds of the tags per block (planar; read for the missing joints only).
        seed_start, seed_x, seed_y: joint ``k``'s peaks at ``seed_start[k]:seed_start[k + 1]``.
    """
    n_p, n_j = people.shape[0], people.shape[1]
    _, h, w = det.shape
    nby, nbx = ub.shape[1], ub.shape[2]
    dim = tag.shape[3]
    prev = np.zeros((n_p, dim), np.float32)
    has = np.zeros(n_p, np.bool_)
    rows = np.empty((n_j, dim), np.float32)
    for p in range(n_p):  # official mean tag of the found joints (in joint order)
        n = 0
        for j in range(n_j):
            if people[p, j, 2] > 0:
                rows[n] = tag[j, np.int32(people[p, j, 1]), np.int32(people[p, j, 0])]
                n += 1
        if n > 0:
            has[p] = True
            _mean_rows(rows, n, prev[p])
    missing = np.zeros((n_j, n_p), np.bool_)
    for p in range(n_p):
        for j in range(n_j):
            missing[j, p] = has[p] and not people[p, j, 2] > 0
    # super-block (4x4 blocks) bounds of the searched joints: heatmap max, tag box
    nsy, nsx = (nby + _S - 1) // _S, (nbx + _S - 1) // _S
    sub = np.empty((n_j, nsy, nsx), np.float32)
    slo = np.empty((dim, n_j, nsy, nsx), np.float32)
    shi = np.empty((dim, n_j, nsy, nsx), np.float32)
    for k in range(n_j):
        if not missing[k].any():
            continue
        for sy in range(nsy):
            y0, y1 = sy * _S, min(sy * _S + _S, nby)
            for sx in range(nsx):
                x0, x1 = sx * _S, min(sx * _S + _S, nbx)
                sub[k, sy, sx] = _box_extremum(ub[k], y0, y1, x0, x1, True)
                for d in range(dim):
                    slo[d, k, sy, sx] = _box_extremum(lo[d, k], y0, y1, x0, x1, False)
                    shi[d, k, sy, sx] = _box_extremum(hi[d, k], y0, y1, x0, x1, True)
    sbnd = np.empty(nsy * nsx, np.float32)
    sids = np.empty(nsy * nsx, np.int64)
    bnd = np.empty(_S * _S, np.float32)
    fls = np.empty(_S * _S, np.float32)
    ids = np.empty(_S * _S, np.int64)
    for j in range(n_j):
        s0, s1 = seed_start[j], seed_start[j + 1]
        for p in range(n_p):
            if not missing[j, p]:
                continue
            pos = _search(det, tag, ub, lo, hi, sub, slo, shi, j, prev[p], seed_x[s0:s1],
                          seed_y[s0:s1], sbnd, sids, bnd, fls, ids)
            y, x = pos // w, pos % w
            if det[j, y, x] > 0:
                dx = 0.25 if det[j, y, min(x + 1, w - 1)] > det[j, y, max(x - 1, 0)] else -0.25
                dy = 0.25 if det[j, min(y + 1, h - 1), x] > det[j, max(y - 1, 0), x] else -0.25
                people[p, j, 0] = x + 0.5 + dx
                people[p, j, 1] = y + 0.5 + dy
                people[p, j, 2] = det[j, y, x]


@numba.njit(**_JIT)
def adjust_people(people, det):
    """Official ``adjust`` in place: every found joint moves a quarter pixel towards its higher
    horizontal / vertical neighbour (ties -0.25), plus 0.5 (float64 sums stored as float32)."""
    _, h, w = det.shape
    for p in range(people.shape[0]):
        for j in range(people.shape[1]):
            if people[p, j, 2] > 0:
                x = people[p, j, 0]
                y = people[p, j, 1]
                xi = np.int64(x)
                yi = np.int64(y)
                dx = 0.25 if det[j, yi, min(xi + 1, w - 1)] > det[j, yi, max(xi - 1, 0)] else -0.25
                dy = 0.25 if det[j, min(yi + 1, h - 1), xi] > det[j, max(yi - 1, 0), xi] else -0.25
                people[p, j, 0] = np.float64(x) + dx + 0.5
                people[p, j, 1] = np.float64(y) + dy + 0.5


@numba.njit(**_JIT_MINMAX)
def _minmax_rows8(d, y0, cmin, cmax):
    """Column-wise min / max of rows ``y0 .. y0 + 7`` of ``d (rows, n)`` (SIMD: one store per
    column)."""
    r0, r1, r2, r3 = d[y0], d[y0 + 1], d[y0 + 2], d[y0 + 3]
    r4, r5, r6, r7 = d[y0 + 4], d[y0 + 5], d[y0 + 6], d[y0 + 7]
    for i in range(cmin.shape[0]):
        a0, a1, a2, a3, a4, a5, a6, a7 = r0[i], r1[i], r2[i], r3[i], r4[i], r5[i], r6[i], r7[i]
        cmin[i] = min(min(min(a0, a1), min(a2, a3)), min(min(a4, a5), min(a6, a7)))
        cmax[i] = max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))


@numba.njit(**_JIT_MINMAX)
def tag_block_extrema(tag, need):
    """Exact min / max ``(D, J, ceil(H/8), ceil(W/8))`` (planar) of ``tag (J, H, W, D)``
    (C-contiguous) over 8x8 blocks for the joints with ``need[j]`` (zeros elsewhere)."""
    n_j, h, w, dim = tag.shape
    nby = (h + _B - 1) // _B
    nbx = (w + _B - 1) // _B
    flat = tag.reshape(n_j, h, w * dim)
    lo = np.zeros((dim, n_j, nby, nbx), np.float32)
    hi = np.zeros((dim, n_j, nby, nbx), np.float32)
    cmin = np.empty(w * dim, np.float32)
    cmax = np.empty(w * dim, np.float32)
    for j in range(n_j):
        if not need[j]:
            continue
        d2 = flat[j]
        for by in range(nby):
            y0 = by * _B
            if y0 + _B <= h:
                _minmax_rows8(d2, y0, cmin, cmax)
            else:
                cmin[:] = d2[y0]
                cmax[:] = d2[y0]
                for y in range(y0 + 1, h):
                    for i in range(w * dim):
                        cmin[i] = min(cmin[i], d2[y, i])
                        cmax[i] = max(cmax[i], d2[y, i])
            for bx in range(nbx):
                x0 = bx * _B
                for d in range(dim):
                    mn = cmin[x0 * dim + d]
                    mx = cmax[x0 * dim + d]
                    for x in range(x0 + 1, min(x0 + _B, w)):
                        mn = min(mn, cmin[x * dim + d])
                        mx = max(mx, cmax[x * dim + d])
                    lo[d, j, by, bx] = mn
                    hi[d, j, by, bx] = mx
    return lo, hi
