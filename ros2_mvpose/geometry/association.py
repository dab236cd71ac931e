"""Cross-view association of 2D pose detections (which detections are the same person).

All inputs are *ideal* (undistorted) pixels. A "detection" is one person's 17 joints in one
camera; detections of all cameras are stacked: ``uv`` (D, 17, 2), ``w`` (D, 17) scores (0 = not
seen), ``cam`` (D,) camera index.

Two affinities in [0, 1] (score-weighted means over the joints both sides see, per joint
``max(0, 1 - distance / threshold)``, NaN when fewer than ``min_common`` joints are shared):

* detection-detection (:func:`pairwise_affinities`): the closest approach of the two viewing
  rays of each joint, converted to pixels (distance / range x focal length, averaged over both
  cameras), i.e. a symmetric epipolar distance; rays meeting behind a camera count as 0;
* detection-track (:func:`track_affinities`): pixel distance between a detection and the
  projection of a tracked 3D skeleton (compiled loop).

Clustering (:func:`greedy_clusters`): edges sorted by decreasing affinity are merged
greedily (union-find) when the two clusters share no camera (one detection per camera per
person) and their average linkage (mean affinity over all cross pairs) stays above the
threshold; clusters seeded from two different tracks never merge. With tracks available,
:func:`assign_to_tracks` first gives each track at most one detection per camera (Hungarian on
the track affinities) and the clustering only places the remaining detections.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.optimize import linear_sum_assignment

_NO_BONUS = np.zeros(0)

__all__ = [
    "assign_to_tracks",
    "greedy_clusters",
    "match_tracks",
    "pairwise_affinities",
    "ray_directions",
    "track_affinities",
]


def ray_directions(uv: np.ndarray, cam: np.ndarray, M_inv: np.ndarray) -> np.ndarray:
    """Unit world directions (D, 17, 3) of the rays through ideal pixels uv (D, 17, 2).

    ``M_inv`` (C, 3, 3) is the inverse of each camera's ``P[:, :3] = K R``.
    """
    h = np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1)
    d = h @ M_inv[cam].transpose(0, 2, 1)
    return d / np.sqrt((d * d).sum(-1, keepdims=True))


def _weighted_mean(aff: np.ndarray, weight: np.ndarray, min_common: int) -> np.ndarray:
    n = (weight > 0).sum(-1)
    sw = weight.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (aff * weight).sum(-1) / sw
    return np.where(n >= min_common, mean, np.nan)


def pairwise_affinities(
    pair_a: np.ndarray,
    pair_b: np.ndarray,
    dirs: np.ndarray,
    w: np.ndarray,
    cam: np.ndarray,
    centers: np.ndarray,
    focal: np.ndarray,
    threshold: np.ndarray,
    min_common: int = 3,
) -> np.ndarray:
    """Affinity (K,) of detection pairs (pair_a[k], pair_b[k]) from different cameras.

    Args:
        pair_a, pair_b: (K,) detection indices.
        dirs: (D, 17, 3) unit ray directions (world).
        w: (D, 17) joint scores (0 = not seen).
        cam: (D,) camera index of each detection.
        centers: (C, 3) camera centres, metres.
        focal: (C,) focal lengths, pixels.
        threshold: (C,) distance in pixels at which a joint's affinity reaches 0.
        min_common: joints both detections must see, else NaN.
    """
    ca, cb = cam[pair_a], cam[pair_b]
    da, db = dirs[pair_a], dirs[pair_b]  # (K, 17, 3)
    w0 = (centers[ca] - centers[cb])[:, None, :]  # (K, 1, 3)
    b = (da * db).sum(-1)
    d = (da * w0).sum(-1)
    e = (db * w0).sum(-1)
    ww = (w0 * w0).sum(-1)
    denom = 1.0 - b * b
    par = denom < 1e-10
    denom = np.where(par, 1.0, denom)
    s = (b * e - d) / denom  # along ray a
    t = (e - b * d) / denom  # along ray b
    dist2 = ww + s * s + t * t + 2.0 * s * d - 2.0 * t * e - 2.0 * s * t * b
    dist = np.sqrt(np.maximum(dist2, 0.0))
    front = (s > 0) & (t > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        px = 0.5 * dist * (focal[ca][:, None] / s + focal[cb][:, None] / t)
        thr = 0.5 * (threshold[ca] + threshold[cb])[:, None]
        aff = np.where(front, np.clip(1.0 - px / thr, 0.0, 1.0), 0.0)
    weight = np.sqrt(w[pair_a] * w[pair_b]) * ~par
    return _weighted_mean(aff, weight, min_common)


def track_affinities(
    proj: np.ndarray,
    uv: np.ndarray,
    w: np.ndarray,
    cam: np.ndarray,
    threshold: np.ndarray,
    min_common: int = 3,
) -> np.ndarray:
    """Affinity (D, T) between detections and tracks: score-weighted mean over the comparable
    joints of ``max(0, 1 - distance / threshold)`` between the detection and the track's
    projection (0 when fewer than ``min_common`` joints are comparable).

    Args:
        proj: (T, 17, C, 3) homogeneous ideal-pixel projections of the tracks' predicted joints
            (:meth:`~ros2_mvpose.geometry.triangulation.Triangulator.project`); joints unknown
            (NaN) or behind a camera are not comparable there.
        uv: (D, 17, 2) detections, ideal pixels; w (D, 17) scores; cam (D,) camera indices.
        threshold: (C,) pixels.
    """
    return _track_affinities(np.ascontiguousarray(proj, dtype=float), np.ascontiguousarray(uv, dtype=float),
                             np.ascontiguousarray(w, dtype=float), np.ascontiguousarray(cam, dtype=np.intp),
                             np.ascontiguousarray(threshold, dtype=float), int(min_common))


@njit(cache=True, error_model="numpy")
def _track_affinities(proj, uv, w, cam, threshold, min_common):  # noqa: ANN001
    """Compiled body of :func:`track_affinities`."""
    D, T, n_joints = uv.shape[0], proj.shape[0], uv.shape[1]
    aff = np.zeros((D, T))
    for d in range(D):
        c = cam[d]
        thr = threshold[c]
        for t in range(T):
            num = den = 0.0
            n = 0
            for j in range(n_joints):
                wj = w[d, j]
                z = proj[t, j, c, 2]
                if wj == 0.0 or not z > 0.0:  # not seen, or the track's joint unknown or behind
                    continue
                du = proj[t, j, c, 0] / z - uv[d, j, 0]
                dv = proj[t, j, c, 1] / z - uv[d, j, 1]
                dist = math.sqrt(du * du + dv * dv)
                num += wj * max(0.0, 1.0 - dist / thr)
                den += wj
                n += 1
            if n >= min_common:
                aff[d, t] = num / den
    return aff


def assign_to_tracks(
    aff: np.ndarray, cam: np.ndarray, min_affinity: float, bonus: np.ndarray | None = None
) -> np.ndarray:
    """Give each track at most one detection per camera (Hungarian per camera).

    Args:
        aff: (D, T) detection-track affinities (0 = not comparable).
        cam: (D,) camera index of each detection.
        min_affinity: minimum affinity of an accepted assignment.
        bonus: (T,) added to the affinities when choosing (not when accepting), e.g. to let
            confirmed tracks win ties against tentative ones.

    Returns:
        (D,) track index of each detection, -1 when unassigned.
    """
    D, T = aff.shape
    if D == 0 or T == 0:
        return np.full(D, -1, dtype=np.intp)
    # Fast path: when no two detections of one camera prefer the same track, every detection
    # taking its best track is the optimal assignment.
    best, unique = _best_tracks(aff, _NO_BONUS if bonus is None else bonus, cam, min_affinity)
    return best if unique else _assign_per_camera(aff, cam, min_affinity, bonus)


def match_tracks(
    proj: np.ndarray,
    uv: np.ndarray,
    w: np.ndarray,
    cam: np.ndarray,
    threshold: np.ndarray,
    min_affinity: float,
    bonus: np.ndarray | None = None,
    min_common: int = 3,
) -> np.ndarray:
    """:func:`assign_to_tracks` on :func:`track_affinities` (same arguments, same result), in
    one compiled call when no camera gives a track two detections.

    Returns:
        (D,) track index of each detection, -1 when unassigned.
    """
    proj = np.ascontiguousarray(proj, dtype=float)
    bonus = _NO_BONUS if bonus is None else np.ascontiguousarray(bonus, dtype=float)
    cam = np.ascontiguousarray(cam, dtype=np.intp)
    if proj.shape[0] == 0 or cam.size == 0:
        return np.full(cam.size, -1, dtype=np.intp)
    uv = np.ascontiguousarray(uv, dtype=float)
    w = np.ascontiguousarray(w, dtype=float)
    threshold = np.ascontiguousarray(threshold, dtype=float)
    best, unique = _match_tracks(proj, uv, w, cam, threshold, int(min_common), bonus, float(min_affinity))
    if unique:
        return best
    aff = _track_affinities(proj, uv, w, cam, threshold, int(min_common))
    return _assign_per_camera(aff, cam, min_affinity, None if bonus.size == 0 else bonus)


@njit(cache=True, error_model="numpy")
def _match_tracks(proj, uv, w, cam, threshold, min_common, bonus, min_affinity):  # noqa: ANN001
    """Compiled body of :func:`match_tracks`: each detection's best track and whether that is
    the assignment (:func:`_best_tracks` on :func:`_track_affinities`)."""
    return _best_tracks(_track_affinities(proj, uv, w, cam, threshold, min_common), bonus, cam, min_affinity)


def _assign_per_camera(aff: np.ndarray, cam: np.ndarray, min_affinity: float, bonus: np.ndarray | None
                       ) -> np.ndarray:
    """:func:`assign_to_tracks` by the Hungarian method per camera."""
    D = aff.shape[0]
    a = aff if bonus is None else aff + bonus
    out = np.full(D, -1, dtype=np.intp)
    order = np.argsort(cam, kind="stable")
    bounds = np.flatnonzero(np.diff(cam[order])) + 1
    for rows in np.split(order, bounds):
        block = a[rows]
        r, c = linear_sum_assignment(block, maximize=True)
        ok = aff[rows[r], c] >= min_affinity
        out[rows[r[ok]]] = c[ok]
    return out


@njit(cache=True, error_model="numpy")
def _best_tracks(aff, bonus, cam, min_affinity):  # noqa: ANN001
    """Each detection's best track by ``aff + bonus`` (D, T) (no bonus when ``bonus`` is empty)
    when its ``aff`` reaches ``min_affinity``, else -1; and whether no camera gives one track
    two detections."""
    D, T = aff.shape
    best = np.full(D, -1, dtype=np.intp)
    taken = np.zeros((cam.max() + 1, T), dtype=np.bool_)
    unique = True
    for d in range(D):
        k, best_a = 0, aff[d, 0] + (bonus[0] if bonus.size else 0.0)
        for t in range(1, T):
            a = aff[d, t] + (bonus[t] if bonus.size else 0.0)
            if a > best_a:
                k, best_a = t, a
        if aff[d, k] >= min_affinity:
            best[d] = k
            if taken[cam[d], k]:
                unique = False
            taken[cam[d], k] = True
    return best, unique


def greedy_clusters(
    n_det: int,
    cam: np.ndarray,
    pair_a: np.ndarray,
    pair_b: np.ndarray,
    pair_aff: np.ndarray,
    min_affinity: float,
    seeds: list[list[int]] | None = None,
) -> list[list[int]]:
    """Greedy average-linkage clustering with at most one detection per camera per cluster.

    Args:
        n_det: number of detections D.
        cam: (D,) camera index of each detection.
        pair_a, pair_b, pair_aff: (K,) candidate edges and their affinities (NaN = unknown).
        min_affinity: minimum edge affinity and minimum average linkage to merge.
        seeds: initial clusters (e.g. detections assigned to one track); two seeded clusters
            never merge.

    Returns:
        Clusters (lists of detection indices): the seeded ones first, in the order of
        ``seeds``, then the others (singletons included).
    """
    parent = list(range(n_det))
    members: dict[int, list[int]] = {i: [i] for i in range(n_det)}
    cams: dict[int, int] = {i: 1 << int(cam[i]) for i in range(n_det)}
    seeded: set[int] = set()
    seed_roots: list[int] = []
    for s in seeds or []:
        if not s:
            raise ValueError("greedy_clusters: empty seed")
        root = s[0]
        mask = 0
        for i in s:
            if mask & (1 << int(cam[i])):
                raise ValueError("greedy_clusters: a seed has two detections from one camera")
            mask |= 1 << int(cam[i])
            parent[i] = root
            if i != root:
                del members[i]
                del cams[i]
        members[root] = list(s)
        cams[root] = mask
        seeded.add(root)
        seed_roots.append(root)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    ok = np.isfinite(pair_aff) & (pair_aff >= min_affinity)
    if ok.any():
        idx = np.flatnonzero(ok)
        idx = idx[np.argsort(-pair_aff[idx], kind="stable")]
        lookup: dict[tuple[int, int], float] = {}
        for a, b, v in zip(pair_a.tolist(), pair_b.tolist(), pair_aff.tolist(), strict=True):
            if v == v:  # not NaN
                lookup[(a, b)] = v
                lookup[(b, a)] = v
        for a, b in zip(pair_a[idx].tolist(), pair_b[idx].tolist(), strict=True):
            ra, rb = find(a), find(b)
            if ra == rb or cams[ra] & cams[rb] or (ra in seeded and rb in seeded):
                continue
            vals = [lookup[(i, j)] for i in members[ra] for j in members[rb] if (i, j) in lookup]
            if not vals or sum(vals) < min_affinity * len(vals):
                continue
            if rb in seeded:
                ra, rb = rb, ra
            parent[rb] = ra
            members[ra].extend(members.pop(rb))
            cams[ra] |= cams.pop(rb)
    # Seeded roots stay roots (a merge keeps the seeded side), so seeds come first, in order.
    return [members[r] for r in seed_roots] + [members[r] for r in members if r not in seeded]
