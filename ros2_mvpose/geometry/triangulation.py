"""Confidence-weighted, outlier-robust multi-view triangulation (compiled kernels).

Conventions: ``P`` is a stack of (C, 3, 4) projection matrices ``K [R | t]`` mapping world points
(metres) to homogeneous *ideal* (undistorted) pixels with a positive third coordinate in front
of the camera; ``uv`` holds ideal pixel observations (M, C, 2) for M points (people x joints,
flattened) seen by C cameras; ``w`` (M, C) are non-negative weights (2D scores), 0 = not seen.

Method: a linear (DLT) least-squares fit whose rows ``u P3 - P1``, ``v P3 - P2`` are normalised to
unit length (of their first three entries) and weighted by the score, and by the inverse depth
when a depth estimate is at hand (which turns the algebraic residual into a reprojection error in
pixels). It is solved through the 3x3 normal equations of the inhomogeneous form (points are
never at infinity here); (nearly) singular systems (parallel rays) give NaN.

Outliers: a point whose all-view fit leaves a view off by more than half the ``threshold`` (or
behind a camera) goes through RANSAC over all view pairs (every pair is a hypothesis, scored
MSAC-style by the score-weighted truncated squared reprojection error; an expected position,
e.g. a tracked joint, counts like one more view), then its consensus set (views within
``threshold`` pixels) is refitted until stable. Without a depth estimate the fit is redone once
with inverse-depth weights from the first fit. A point supported by fewer than ``min_views``
consistent views is NaN: never a guess. A caller that expects a point somewhere (a tracked
joint) may then place it on the ray of one view that sees it near that position
(:meth:`Triangulator.place_on_rays`): the view gives the direction, the expectation the depth.

The per-point loops are numba kernels (compiled once per machine, ``cache=True``), one call for
all people, joints and cameras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = [
    "TriangulationResult",
    "Triangulator",
    "triangulate_dlt",
    "triangulate_robust",
]

# Relative determinant below which the normal equations count as singular (parallel rays).
_SINGULAR = 1e-12
_NAN = np.array(np.nan)
_POSITIVE = (0.0).__lt__  # x > 0 (False for NaN)
_F64 = np.dtype(np.float64)


@dataclass
class TriangulationResult:
    """Output of :func:`triangulate_robust` for M points and C cameras.

    Attributes:
        points: (M, 3) world points, metres; NaN where not reconstructed.
        inliers: (M, C) bool, the views supporting each point (all False where NaN).
        errors: (M, C) reprojection error of each inlier view, ideal pixels (NaN elsewhere).
        n_views: (M,) int, number of inlier views (0 where NaN).
    """

    points: np.ndarray
    inliers: np.ndarray
    errors: np.ndarray
    n_views: np.ndarray


# ------------------------------------------------------------------ kernels (one point)
@njit(cache=True, error_model="numpy")
def _dlt(P: np.ndarray, uv: np.ndarray, w: np.ndarray, depth: np.ndarray, X: np.ndarray) -> bool:
    """Weighted DLT of one point: uv (C, 2), w (C,) (0 = unused), depth (C,) (weights w / depth;
    ones for none). Writes X (3,); False (X NaN) when (nearly) singular."""
    a00 = a01 = a02 = a11 = a12 = a22 = b0 = b1 = b2 = 0.0
    for c in range(P.shape[0]):
        if w[c] == 0.0:
            continue
        wd = w[c] / depth[c]
        ww = wd * wd
        for k in range(2):
            q = uv[c, k]
            r0 = q * P[c, 2, 0] - P[c, k, 0]
            r1 = q * P[c, 2, 1] - P[c, k, 1]
            r2 = q * P[c, 2, 2] - P[c, k, 2]
            r3 = q * P[c, 2, 3] - P[c, k, 3]
            s = ww / (r0 * r0 + r1 * r1 + r2 * r2)
            a00 += s * r0 * r0
            a01 += s * r0 * r1
            a02 += s * r0 * r2
            a11 += s * r1 * r1
            a12 += s * r1 * r2
            a22 += s * r2 * r2
            b0 -= s * r0 * r3
            b1 -= s * r1 * r3
            b2 -= s * r2 * r3
    c00 = a11 * a22 - a12 * a12
    c01 = a02 * a12 - a01 * a22
    c02 = a01 * a12 - a02 * a11
    det = a00 * c00 + a01 * c01 + a02 * c02
    tr = a00 + a11 + a22
    if not det > _SINGULAR * tr * tr * tr:
        X[0] = X[1] = X[2] = np.nan
        return False
    c11 = a00 * a22 - a02 * a02
    c12 = a01 * a02 - a00 * a12
    c22 = a00 * a11 - a01 * a01
    X[0] = (c00 * b0 + c01 * b1 + c02 * b2) / det
    X[1] = (c01 * b0 + c11 * b1 + c12 * b2) / det
    X[2] = (c02 * b0 + c12 * b1 + c22 * b2) / det
    return True


@njit(cache=True, error_model="numpy")
def _homogeneous(P: np.ndarray, c: int, X: np.ndarray) -> tuple[float, float, float]:
    """``P[c] @ [X, 1]`` for a point X (3,)."""
    return (P[c, 0, 0] * X[0] + P[c, 0, 1] * X[1] + P[c, 0, 2] * X[2] + P[c, 0, 3],
            P[c, 1, 0] * X[0] + P[c, 1, 1] * X[1] + P[c, 1, 2] * X[2] + P[c, 1, 3],
            P[c, 2, 0] * X[0] + P[c, 2, 1] * X[1] + P[c, 2, 2] * X[2] + P[c, 2, 3])


@njit(cache=True, error_model="numpy")
def _project_kernel(P: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Homogeneous projections (M, C, 3) of points X (M, 3)."""
    M, C = X.shape[0], P.shape[0]
    h = np.empty((M, C, 3))
    for m in range(M):
        for c in range(C):
            h[m, c, 0], h[m, c, 1], h[m, c, 2] = _homogeneous(P, c, X[m])
    return h


@njit(cache=True, error_model="numpy")
def _errors2(P: np.ndarray, X: np.ndarray, uv: np.ndarray, e2: np.ndarray, z: np.ndarray) -> None:
    """Squared reprojection errors e2 (C,) px^2 (inf behind a camera or for NaN X) and depths
    z (C,) of point X (3,) against uv (C, 2)."""
    for c in range(P.shape[0]):
        h0, h1, h2 = _homogeneous(P, c, X)
        z[c] = h2
        if h2 > 0.0:
            du, dv = h0 / h2 - uv[c, 0], h1 / h2 - uv[c, 1]
            e2[c] = du * du + dv * dv
        else:
            e2[c] = np.inf


@njit(cache=True, error_model="numpy")
def _ransac(P, uv, w, thr2, prior, prior_scale, mask) -> None:  # noqa: ANN001
    """Best inlier mask (C,) of one point over all two-view hypotheses (all False if none).

    Hypotheses (unit weights on the pair) are scored MSAC-style, ``sum_c w_c min(e_c^2 / thr_c^2,
    1)`` (lower is better); ``prior`` (3,) (NaN = none) with ``prior_scale`` pixels per world unit
    adds ``min(d^2 / mean thr^2, 1)`` for the hypothesis' distance d (in pixels) to it."""
    C = P.shape[0]
    ones = np.ones(C)
    pw = np.zeros(C)
    Xh = np.empty(3)
    e2 = np.empty(C)
    z = np.empty(C)
    mean_thr2 = thr2.mean()
    best = np.inf
    mask[:] = False
    for a in range(C):
        if w[a] == 0.0:
            continue
        for b in range(a + 1, C):
            if w[b] == 0.0:
                continue
            pw[a] = pw[b] = 1.0
            _dlt(P, uv, pw, ones, Xh)
            pw[a] = pw[b] = 0.0
            _errors2(P, Xh, uv, e2, z)
            if not (e2[a] < thr2[a] and e2[b] < thr2[b]):
                continue
            cost = 0.0
            for c in range(C):
                r = e2[c] / thr2[c]
                cost += w[c] * (r if (w[c] > 0.0 and r < 1.0) else 1.0)
            d0, d1, d2 = Xh[0] - prior[0], Xh[1] - prior[1], Xh[2] - prior[2]
            rp = (d0 * d0 + d1 * d1 + d2 * d2) * prior_scale * prior_scale / mean_thr2
            if rp == rp:  # a prior is known
                cost += min(rp, 1.0)
            if cost < best:
                best = cost
                for c in range(C):
                    mask[c] = w[c] > 0.0 and e2[c] < thr2[c]


@njit(cache=True, error_model="numpy")
def _robust_kernel(P, uv, w_in, thr, min_views, depth_in, depth_weighting, prior, prior_scale,  # noqa: ANN001
                   X, inl, err, nv):
    """Robust fit of M points (module docstring): uv (M, C, 2), w_in and depth_in (M, C) (a
    point uses its depths when they are finite and > 0 for every usable view), thr (C,) px,
    prior (M, 3) and prior_scale (M,) (NaN = none). Writes points X (M, 3), inliers inl (M, C),
    errors err (M, C) ideal px (NaN outside the inliers) and n_views nv (M,)."""
    M, C = w_in.shape
    thr2 = thr * thr
    inl[:] = False
    err[:] = np.nan
    nv[:] = 0
    w = np.empty(C)
    wm = np.empty(C)
    d = np.empty(C)
    e2 = np.empty(C)
    z = np.empty(C)
    mask = np.zeros(C, dtype=np.bool_)
    new = np.zeros(C, dtype=np.bool_)
    for m in range(M):
        x = X[m]
        n_valid = 0
        has_depth = True
        for c in range(C):
            wc = w_in[m, c]
            ok = wc > 0.0 and math.isfinite(wc) and math.isfinite(uv[m, c, 0]) and math.isfinite(uv[m, c, 1])
            w[c] = wc if ok else 0.0
            n_valid += ok
            dc = depth_in[m, c]
            d[c] = dc
            if ok and not (dc > 0.0 and math.isfinite(dc)):
                has_depth = False
        if n_valid < min_views:
            x[:] = np.nan
            continue
        if not has_depth:
            d[:] = 1.0
        # Stage 1: all views.
        _dlt(P, uv[m], w, d, x)
        _errors2(P, x, uv[m], e2, z)
        clean = True
        for c in range(C):
            mask[c] = w[c] > 0.0 and e2[c] < thr2[c]
            if w[c] > 0.0 and not e2[c] < 0.25 * thr2[c]:
                clean = False
        reweight = not has_depth and depth_weighting
        if not clean:
            # Stage 2: RANSAC over view pairs, then refits of the consensus set.
            _ransac(P, uv[m], w, thr2, prior[m], prior_scale[m], mask)
            for it in range(4):
                for c in range(C):
                    wm[c] = w[c] if mask[c] else 0.0
                _dlt(P, uv[m], wm, d, x)
                _errors2(P, x, uv[m], e2, z)
                if it == 0 and reweight:  # inverse-depth weights from now on
                    for c in range(C):
                        d[c] = z[c] if z[c] > 0.0 else 1.0
                    continue
                same = True
                for c in range(C):
                    new[c] = w[c] > 0.0 and e2[c] < thr2[c]
                    same = same and new[c] == mask[c]
                if it == 3 or same:
                    for c in range(C):
                        mask[c] = mask[c] and e2[c] < thr2[c]
                    break
                mask[:] = new
        elif reweight:
            # One refit with inverse-depth weights (residuals ~ pixels).
            for c in range(C):
                wm[c] = w[c] if mask[c] else 0.0
                d[c] = z[c] if mask[c] else 1.0
            _dlt(P, uv[m], wm, d, x)
            _errors2(P, x, uv[m], e2, z)
            for c in range(C):
                mask[c] = mask[c] and e2[c] < thr2[c]
        n = 0
        for c in range(C):
            n += mask[c]
        if n < min_views:
            x[:] = np.nan
            continue
        nv[m] = n
        for c in range(C):
            if mask[c]:
                inl[m, c] = True
                err[m, c] = math.sqrt(e2[c])


@njit(cache=True, error_model="numpy")
def _solve_kernel(P, uv, w, depth):  # noqa: ANN001
    """Weighted DLT of M points: uv (M, C, 2), w and depth (M, C) -> X (M, 3), ok (M,)."""
    M = w.shape[0]
    X = np.empty((M, 3))
    ok = np.empty(M, dtype=np.bool_)
    for m in range(M):
        ok[m] = _dlt(P, uv[m], w[m], depth[m], X[m])
    return X, ok


@njit(cache=True, error_model="numpy")
def _ray_kernel(M_inv, centers, uv, w, prior, max_distance, X, inl, err, nv):  # noqa: ANN001
    """:meth:`Triangulator.place_on_rays`, compiled; updates X, inl, err and nv in place."""
    M, C = w.shape
    placed = 0
    for m in range(M):
        if nv[m] != 0 or not (math.isfinite(prior[m, 0]) and math.isfinite(prior[m, 1])
                              and math.isfinite(prior[m, 2])):
            continue
        best, best_c = max_distance, -1
        for c in range(C):
            wc, u, v = w[m, c], uv[m, c, 0], uv[m, c, 1]
            if not (wc > 0.0 and math.isfinite(u) and math.isfinite(v)):
                continue
            d0 = M_inv[c, 0, 0] * u + M_inv[c, 0, 1] * v + M_inv[c, 0, 2]
            d1 = M_inv[c, 1, 0] * u + M_inv[c, 1, 1] * v + M_inv[c, 1, 2]
            d2 = M_inv[c, 2, 0] * u + M_inv[c, 2, 1] * v + M_inv[c, 2, 2]
            n = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
            d0, d1, d2 = d0 / n, d1 / n, d2 / n
            q0, q1, q2 = prior[m, 0] - centers[c, 0], prior[m, 1] - centers[c, 1], prior[m, 2] - centers[c, 2]
            s = q0 * d0 + q1 * d1 + q2 * d2  # distance along the ray (> 0: in front)
            r0, r1, r2 = q0 - s * d0, q1 - s * d1, q2 - s * d2
            dist = math.sqrt(r0 * r0 + r1 * r1 + r2 * r2)
            if s > 0.0 and dist <= best:
                best, best_c = dist, c
                X[m, 0] = centers[c, 0] + s * d0
                X[m, 1] = centers[c, 1] + s * d1
                X[m, 2] = centers[c, 2] + s * d2
        if best_c >= 0:
            inl[m, best_c] = True
            err[m, best_c] = 0.0
            nv[m] = 1
            placed += 1
    return placed


# ------------------------------------------------------------------ public API
def _f64(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` as a C-contiguous float64 array of ``shape`` (broadcast; no copy when it is one)."""
    if type(a) is np.ndarray and a.dtype is _F64 and a.shape == shape and a.flags.c_contiguous:
        return a
    a = np.asarray(a, dtype=float)
    if a.shape != shape:
        a = np.broadcast_to(a, shape)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


class Triangulator:
    """Triangulation for one rig's projection matrices P (C, 3, 4)."""

    def __init__(self, P: np.ndarray) -> None:
        P = np.asarray(P, dtype=float)
        if P.ndim != 3 or P.shape[1:] != (3, 4) or P.shape[0] < 1:
            raise ValueError(f"projection matrices must have shape (C, 3, 4), got {P.shape}")
        if not np.all(np.isfinite(P)):
            raise ValueError("projection matrices contain NaN or inf")
        self.P = np.ascontiguousarray(P)
        self.n_cameras = P.shape[0]
        self.M_inv = np.linalg.inv(P[:, :, :3])  # (C, 3, 3): ideal pixel -> world ray direction
        self.centers = -np.einsum("cij,cj->ci", self.M_inv, P[:, :, 3])  # (C, 3) world

    def solve(
        self, uv: np.ndarray, w: np.ndarray, depth: np.ndarray | None = None, check: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Weighted DLT for points uv (..., C, 2) with weights w (..., C) (broadcasting).

        Rows are normalised to unit length and weighted by ``w`` (by ``w / depth`` when
        ``depth`` (..., C) > 0 is given, which makes the residual a reprojection error).
        Returns X (..., 3), NaN where the system is (nearly) singular (fewer than 2 weighted
        views, parallel rays); with ``check=True`` also ok (...,), False there.
        """
        uv = np.asarray(uv, dtype=float)
        w = np.asarray(w, dtype=float)
        lead = np.broadcast_shapes(uv.shape[:-1], w.shape)[:-1]
        C = self.n_cameras
        n = math.prod(lead)
        uvb = _f64(uv, lead + (C, 2)).reshape(n, C, 2)
        wb = _f64(w, lead + (C,)).reshape(n, C)
        db = np.ones((n, C)) if depth is None else _f64(depth, lead + (C,)).reshape(n, C)
        X, ok = _solve_kernel(self.P, uvb, wb, db)
        X = X.reshape(lead + (3,))
        return (X, ok.reshape(lead)) if check else X

    def project(self, X: np.ndarray) -> np.ndarray:
        """Points X (..., 3) -> homogeneous image coordinates (..., C, 3) in every camera."""
        if not (type(X) is np.ndarray and X.dtype is _F64 and X.flags.c_contiguous):
            X = np.ascontiguousarray(X, dtype=float)
        return _project_kernel(self.P, X.reshape(-1, 3)).reshape(X.shape[:-1] + (self.n_cameras, 3))

    def robust(
        self,
        uv: np.ndarray,
        w: np.ndarray,
        threshold: float | np.ndarray = 20.0,
        min_views: int = 2,
        depth: np.ndarray | None = None,
        depth_weighting: bool = True,
        prior: np.ndarray | None = None,
        prior_scale: np.ndarray | None = None,
    ) -> TriangulationResult:
        """Outlier-robust triangulation of M points; see :func:`triangulate_robust`.

        ``depth`` (M, C), optional: approximate depths of the points in each camera (e.g. from
        a tracked skeleton); a point whose usable views all have a finite positive depth is
        fitted with ``w / depth`` weights at once (no refit). ``prior`` (M, 3) (NaN = none) and
        ``prior_scale`` (M,) pixels per world unit: expected positions that break ties between
        RANSAC hypotheses.
        """
        C = self.n_cameras
        uv, w = _f64(uv, np.shape(uv)), _f64(w, np.shape(w))  # (no copy when already float64)
        M = w.shape[0] if w.ndim else 0
        if w.shape != (M, C) or uv.shape != (M, C, 2):
            raise ValueError(f"triangulation: uv {uv.shape} and w {w.shape} must be (M, {C}, 2) and (M, {C})")
        if type(min_views) is not int and (isinstance(min_views, bool) or int(min_views) != min_views):
            raise ValueError(f"min_views must be an integer >= 2, got {min_views!r}")
        if min_views < 2:
            raise ValueError(f"min_views must be an integer >= 2, got {min_views!r}")
        thr = _f64(threshold, (C,))
        if not all(map(_POSITIVE, thr.tolist())):  # (NaN fails too)
            raise ValueError(f"threshold must be > 0 pixels, got {threshold!r}")
        if depth is None:
            depth = np.full((M, C), np.nan)
        elif np.shape(depth) != (M, C):
            raise ValueError(f"depth must have shape ({M}, {C}), got {np.shape(depth)}")
        depth = _f64(depth, (M, C))
        prior = _f64(_NAN if prior is None else prior, (M, 3))
        prior_scale = _f64(_NAN if prior_scale is None else prior_scale, (M,))
        res = TriangulationResult(np.empty((M, 3)), np.empty((M, C), dtype=bool), np.empty((M, C)),
                                  np.empty(M, dtype=np.int64))
        _robust_kernel(self.P, uv, w, thr, int(min_views), depth, bool(depth_weighting), prior, prior_scale,
                       res.points, res.inliers, res.errors, res.n_views)
        return res

    def place_on_rays(
        self, uv: np.ndarray, w: np.ndarray, expected: np.ndarray, max_distance: float,
        result: TriangulationResult,
    ) -> int:
        """Single-view points: each point that ``result`` leaves undefined but expects at
        ``expected`` (M, 3) (NaN = no expectation, e.g. a tracked joint's predicted position)
        goes on the ray of the view (``w`` > 0, ideal pixels ``uv`` (M, C, 2)) that passes nearest
        that position, at the ray's point nearest it, when that is within ``max_distance`` (world
        units) and in front of the camera; that view becomes its one inlier (``n_views`` 1,
        error 0). Updates ``result`` in place; returns how many points were placed."""
        M = result.n_views.shape[0]
        return int(_ray_kernel(self.M_inv, self.centers, _f64(uv, (M, self.n_cameras, 2)),
                               _f64(w, (M, self.n_cameras)), _f64(expected, (M, 3)), float(max_distance),
                               result.points, result.inliers, result.errors, result.n_views))


def triangulate_dlt(P: np.ndarray, uv: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Plain confidence-weighted DLT (no outlier rejection).

    Args:
        P: (C, 3, 4) projection matrices to ideal pixels.
        uv: (M, C, 2) ideal pixels.
        w: (M, C) weights >= 0 (default 1); views with weight 0 or non-finite uv are ignored.

    Returns:
        (M, 3) world points; NaN where fewer than 2 views or the rays are parallel.
    """
    uv = np.asarray(uv, dtype=float)
    w = np.ones(uv.shape[:-1]) if w is None else np.asarray(w, dtype=float)
    with np.errstate(invalid="ignore"):
        valid = (w > 0) & np.isfinite(w) & np.all(np.isfinite(uv), axis=-1)
    return Triangulator(P).solve(np.where(valid[..., None], uv, 0.0), np.where(valid, w, 0.0))


def triangulate_robust(
    P: np.ndarray,
    uv: np.ndarray,
    w: np.ndarray,
    threshold: float | np.ndarray = 20.0,
    min_views: int = 2,
    depth: np.ndarray | None = None,
    depth_weighting: bool = True,
) -> TriangulationResult:
    """Outlier-robust, confidence-weighted triangulation of M points seen by C cameras.

    Args:
        P: (C, 3, 4) projection matrices ``K [R | t]`` to ideal pixels.
        uv: (M, C, 2) ideal (undistorted) pixel observations.
        w: (M, C) weights (2D scores) >= 0; 0 (or non-finite uv) = not observed.
        threshold: inlier reprojection threshold in pixels, scalar or per camera (C,).
        min_views: minimum number of consistent views (>= 2); fewer gives NaN.
        depth: optional (M, C) approximate depths (metres) used to weight rows by score / depth.
        depth_weighting: without ``depth``, refit once with score / depth weights (residual ~ px).

    Returns:
        :class:`TriangulationResult`. Use a :class:`Triangulator` to amortise set-up over calls.
    """
    return Triangulator(P).robust(uv, w, threshold, min_views, depth, depth_weighting)
