"""Confidence-weighted, outlier-robust multi-view triangulation (pure numpy, vectorised).

Conventions: ``P`` is a stack of (C, 3, 4) projection matrices ``K [R | t]`` mapping world points
(metres) to homogeneous *ideal* (undistorted) pixels with a positive third coordinate in front
of the camera; ``uv`` holds ideal pixel observations (M, C, 2) for M points (people x joints,
flattened) seen by C cameras; ``w`` (M, C) are non-negative weights (2D scores), 0 = not seen.

Method: a linear (DLT) least-squares fit whose rows ``u P3 - P1``, ``v P3 - P2`` are normalised to
unit length and weighted by the score, and by the inverse depth when a depth estimate is at hand
(which turns the algebraic residual into a reprojection error in pixels). It is solved through
the 3x3 normal equations of the inhomogeneous form (points are never at infinity here): they
are linear in six per-view terms, so M points cost one (12, 6C) x (6C, M) matrix product and a
closed-form 3x3 inverse -- a handful of numpy calls for all people and joints at once.

Outliers: a point whose all-view fit leaves a view off by more than half the ``threshold`` (or
behind a camera) goes through RANSAC over all view pairs (every pair is a hypothesis, scored
MSAC-style by the score-weighted truncated squared reprojection error), then its consensus set
(views within ``threshold`` pixels) is refitted until stable.
A point supported by fewer than ``min_views`` consistent views is NaN: never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

try:  # numpy's C einsum without the Python wrapper (a few microseconds per call on small arrays)
    from numpy._core.multiarray import c_einsum as _einsum
except ImportError:  # pragma: no cover - other numpy layouts
    _einsum = np.einsum

__all__ = [
    "TriangulationResult",
    "Triangulator",
    "project_points",
    "triangulate_dlt",
    "triangulate_robust",
]

# Relative determinant below which the normal equations count as singular (parallel rays).
_SINGULAR = 1e-12

# Gather indices of the cofactors of a row-major 3x3 matrix: cof = A[I0] * A[I1] - A[I2] * A[I3].
_COF = np.array(
    [
        [4, 5, 3, 2, 0, 1, 1, 2, 0],
        [8, 6, 7, 7, 8, 6, 5, 3, 4],
        [5, 3, 4, 1, 2, 0, 2, 0, 1],
        [7, 8, 6, 8, 6, 7, 4, 5, 3],
    ]
)
# One gather for the fast solve: the cofactor operands (36) and, per row j, (b_j, A_j0) (6). The
# normal matrix A is symmetric, so det A = sum_j cof_0j A_j0 comes out of the same product as
# cof @ b.
_GATHER = np.concatenate([_COF.ravel(), [9, 0, 10, 3, 11, 6]])


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

    @property
    def mean_error(self) -> np.ndarray:
        """(M,) mean reprojection error over the inlier views, pixels (NaN where not reconstructed)."""
        total = np.where(self.inliers, self.errors, 0.0).sum(-1)
        return total / np.where(self.n_views > 0, self.n_views, np.nan)


class Triangulator:
    """Precomputed linear algebra for one rig's projection matrices P (C, 3, 4).

    The normal equations of the row-normalised, weighted DLT are linear in ``(u^2 s1, v^2 s2,
    u s1, v s2, s1, s2)`` per view (``s`` = squared row weight over squared row norm), so for M
    points they are one (12, 6C) x (6C, M) matrix product followed by a closed-form 3x3 solve.
    """

    def __init__(self, P: np.ndarray) -> None:
        P = np.asarray(P, dtype=float)
        if P.ndim != 3 or P.shape[1:] != (3, 4) or P.shape[0] < 1:
            raise ValueError(f"projection matrices must have shape (C, 3, 4), got {P.shape}")
        if not np.all(np.isfinite(P)):
            raise ValueError("projection matrices contain NaN or inf")
        self.P = P
        C = P.shape[0]
        self.n_cameras = C
        a1, a2, a3 = P[:, 0, :3], P[:, 1, :3], P[:, 2, :3]
        t1, t2, t3 = P[:, 0, 3:], P[:, 1, 3:], P[:, 2, 3:]
        # Squared row norms |u a3 - a1|^2 = u (u n33 - n3k) + nkk, per camera and row (u or v).
        self._n33 = (a3 * a3).sum(-1)[:, None]  # (C, 1)
        self._n3k = 2.0 * np.stack([(a3 * a1).sum(-1), (a3 * a2).sum(-1)], axis=-1)  # (C, 2)
        self._nkk = np.stack([(a1 * a1).sum(-1), (a2 * a2).sum(-1)], axis=-1)  # (C, 2)

        def outer(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return (x[:, :, None] * y[:, None, :]).reshape(C, 9)

        # Feature order per view: u^2 s1, v^2 s2, u s1, v s2, s1, s2.
        G = np.zeros((C, 6, 12))
        G[:, 0, :9], G[:, 0, 9:] = outer(a3, a3), -t3 * a3
        G[:, 1] = G[:, 0]
        G[:, 2, :9], G[:, 2, 9:] = -(outer(a3, a1) + outer(a1, a3)), t1 * a3 + t3 * a1
        G[:, 3, :9], G[:, 3, 9:] = -(outer(a3, a2) + outer(a2, a3)), t2 * a3 + t3 * a2
        G[:, 4, :9], G[:, 4, 9:] = outer(a1, a1), -t1 * a1
        G[:, 5, :9], G[:, 5, 9:] = outer(a2, a2), -t2 * a2
        self._GT = np.ascontiguousarray(G.reshape(C * 6, 12).T)  # (12, 6C)
        self._Pm = np.ascontiguousarray(P[:, :, :3].transpose(2, 0, 1).reshape(3, C * 3))
        self._Pt = P[:, :, 3].reshape(C * 3).copy()
        self._pairs = np.array(list(combinations(range(C), 2)), dtype=np.intp).reshape(-1, 2)
        pm = np.zeros((len(self._pairs), C), dtype=bool)
        pm[np.arange(len(self._pairs))[:, None], self._pairs] = True
        self._pair_mask = pm
        # Planar ("view-major") layout of the fast path: arrays (C, M) per quantity, so that every
        # elementwise step is one contiguous same-shape operation. Features are ordered (k, c).
        self._GTp = np.ascontiguousarray(G.transpose(2, 1, 0).reshape(12, 6 * C))  # (12, 6C)
        self._Pp = np.ascontiguousarray(P[:, :, :3].transpose(1, 0, 2).reshape(3 * C, 3))  # rows (r, c)
        self._Ptp = np.ascontiguousarray(P[:, :, 3].T.reshape(3 * C, 1))
        self._nkp = np.stack([self._n33[:, 0], self._n33[:, 0]])[:, :, None]  # (2, C, 1)
        self._n3kp = np.ascontiguousarray(self._n3k.T)[:, :, None]
        self._nkkp = np.ascontiguousarray(self._nkk.T)[:, :, None]
        self._consts: dict[int, tuple[np.ndarray, ...]] = {}

    def _planar_consts(self, m: int) -> tuple[np.ndarray, ...]:
        """Row-norm terms (2, C, m) x 3 and translations (3C, m), broadcast once per size m."""
        c = self._consts.get(m)
        if c is None:
            if len(self._consts) > 16:
                self._consts.clear()
            C = self.n_cameras
            c = tuple(
                np.ascontiguousarray(np.broadcast_to(a, shape))
                for a, shape in (
                    (self._nkp, (2, C, m)),
                    (self._n3kp, (2, C, m)),
                    (self._nkkp, (2, C, m)),
                    (self._Ptp, (3 * C, m)),
                )
            )
            self._consts[m] = c
        return c

    # ------------------------------------------------------------------ planar fast path
    def _solve_p(self, UV: np.ndarray, w: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
        """Weighted DLT in the planar layout: UV (2, C, M) ideal pixels, w and depth (C, M).

        Same arithmetic as :meth:`solve`; returns X (3, M) (meaningless where fewer than 2 views
        have weight). No error-state handling: callers use ``np.errstate``.
        """
        C, M = w.shape
        n33, n3k, nkk, _ = self._planar_consts(M)
        if depth is None:
            ww = w * w
        else:
            ww = w / depth
            ww *= ww
        den = UV * n33  # squared row norms |u P3 - P1|^2, |v P3 - P2|^2
        den -= n3k
        den *= UV
        den += nkk
        F = np.empty((6, C, M))  # u^2 s1, v^2 s2, u s1, v s2, s1, s2 (s = squared row weight / norm)
        sk = F[4:]
        np.divide(ww, den, out=sk)
        su = F[2:4]
        np.multiply(sk, UV, out=su)
        np.multiply(su, UV, out=F[:2])
        R = np.dot(self._GTp, F.reshape(6 * C, M))  # (12, M): A.ravel() and b of the normal equations
        g = R.take(_GATHER, 0)
        cof = g[:9] * g[9:18]
        cof -= g[18:27] * g[27:36]
        y = _einsum("ijn,jkn->ikn", cof.reshape(3, 3, M), g[36:].reshape(3, 2, M))  # cof @ [b | A[:, 0]]
        return y[:, 0] / y[0, 1]

    def _errors2_p(self, X: np.ndarray, UV: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Squared reprojection errors (C, M) px^2 (inf behind a camera) and depths (C, M) of
        points X (3, M) against UV (2, C, M), planar layout, no error-state handling."""
        C, M = UV.shape[1:]
        h = np.dot(self._Pp, X)
        h += self._planar_consts(M)[3]
        h = h.reshape(3, C, M)
        z = h[2]
        p = h[:2] / z
        p -= UV
        p *= p
        e2 = p[0] + p[1]
        behind = z <= 0
        if np.count_nonzero(behind):
            e2[behind] = np.inf
        return e2, z

    def _robust_p(
        self,
        UV: np.ndarray,
        w: np.ndarray,
        valid: np.ndarray,
        thr2: np.ndarray | float,
        thr2_clean: np.ndarray | float,
        min_views: int,
        depth: np.ndarray | None = None,
        depth_weighting: bool = True,
        prior: np.ndarray | None = None,
        prior_scale: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The robust fit of :meth:`robust` in the planar layout (no error-state handling).

        Args:
            UV: (2, C, M) ideal pixels (finite; 0 where not valid); w, valid: (C, M).
            thr2, thr2_clean: squared inlier threshold and a quarter of it, px^2: scalars or (C, 1).
            depth: optional (C, M) depths (> 0) for inverse-depth weights.
            prior, prior_scale: optional (M, 3) expected positions (NaN = none) and (M,) pixels
                per world unit (RANSAC tie-breaker).

        Returns:
            points (3, M) (NaN where not reconstructed), inliers (C, M), errors (C, M) px (NaN
            outside the inliers), n_views (M,).
        """
        # Stage 1: all views at once. A point is done when every view fits within half the
        # threshold (a least-squares fit spreads a moderate outlier over all views, so "all
        # within the threshold" alone could hide one).
        X = self._solve_p(UV, w, depth)
        e2, z = self._errors2_p(X, UV)
        mask = e2 < thr2
        mask &= valid
        diff = valid > (e2 < thr2_clean)  # valid views that are not clean
        if np.count_nonzero(diff):
            bad = np.flatnonzero(np.logical_or.reduce(diff, 0) & (np.add.reduce(valid, 0) >= min_views))
        else:
            bad = ()
        refit = depth is None and depth_weighting
        if len(bad):
            self._refine_p(UV, w, valid, thr2, bad, X, mask, e2, depth, depth_weighting, prior, prior_scale)
        if refit:
            # No depth prior: one refit with inverse-depth weights (residuals ~ pixels).
            if len(bad):
                rows = np.ones(mask.shape[1], dtype=bool)
                rows[bad] = False
                mr = mask[:, rows]
                Xr = self._solve_p(UV[:, :, rows], w[:, rows] * mr, np.where(mr, z[:, rows], 1.0))
                er, _ = self._errors2_p(Xr, UV[:, :, rows])
                X[:, rows] = Xr
                e2[:, rows] = er
                mask[:, rows] = mr & (er < thr2)
            else:
                Xr = self._solve_p(UV, w * mask, np.where(mask, z, 1.0))
                er, _ = self._errors2_p(Xr, UV)
                X, e2 = Xr, er
                mask &= er < thr2
        nv = np.add.reduce(mask, 0)
        keep = nv >= min_views
        if np.count_nonzero(keep) < keep.size:
            mask &= keep
            X[:, ~keep] = np.nan
            nv = np.where(keep, nv, 0)
        errors = np.where(mask, e2, np.nan)
        return X, mask, np.sqrt(errors, out=errors), nv

    def _refine_p(
        self,
        UV: np.ndarray,
        w: np.ndarray,
        valid: np.ndarray,
        thr2: np.ndarray | float,
        bad: np.ndarray,
        X: np.ndarray,
        mask: np.ndarray,
        e2: np.ndarray,
        depth: np.ndarray | None,
        depth_weighting: bool = True,
        prior: np.ndarray | None = None,
        prior_scale: np.ndarray | None = None,
    ) -> None:
        """Stage 2 of :meth:`_robust_p` for the points ``bad`` (indices into M): RANSAC over
        view pairs, then refits of the consensus set; writes the points' columns of ``X`` (3, M),
        ``mask`` and ``e2`` (C, M) in place. No error-state handling."""
        # Stage 2: RANSAC over view pairs (MSAC score), then refits of the consensus set
        # (few points: in the point-major layout of the general primitives).
        t2 = thr2 if np.ndim(thr2) == 0 else thr2[:, 0]
        vb, wb, uvb = valid[:, bad].T, w[:, bad].T, UV[:, :, bad].transpose(2, 1, 0)
        if prior is None:
            mb = self._ransac_pairs(uvb, wb, vb, t2)
        else:
            mb = self._ransac_pairs(uvb, wb, vb, t2, prior[bad], prior_scale[bad])
        db = None if depth is None else depth[:, bad].T
        for it in range(4):
            Xb = self._solve(uvb, wb * mb, db)
            eb, zb = self._errors2(Xb, uvb)
            if it == 0 and db is None and depth_weighting:
                db = np.where(zb > 0, zb, 1.0)  # inverse-depth weights from now on
                continue
            new = vb & (eb < t2)
            if it == 3 or (new == mb).all():
                mb &= eb < t2
                break
            mb = new
        mask[:, bad] = mb.T
        X[:, bad] = Xb.T
        e2[:, bad] = eb.T

    # ------------------------------------------------------------------ primitives
    def _normal(self, uv: np.ndarray, w: np.ndarray, depth: np.ndarray | None) -> tuple[np.ndarray, tuple]:
        """Normal-equation terms R (12, N) (``A.ravel()`` and ``b``) of the weighted DLT and the lead shape.

        No floating-point error handling: callers run under ``np.errstate``.
        """
        if depth is None:
            ww = w * w
        else:
            ww = w / depth
            ww *= ww
        den = uv * self._n33  # squared row norms (..., C, 2)
        den -= self._n3k
        den *= uv
        den += self._nkk
        shape = ww.shape
        if shape != den.shape[:-1]:
            shape = np.broadcast_shapes(shape, den.shape[:-1])
        F = np.empty(shape + (6,))  # per view: u^2 s1, v^2 s2, u s1, v s2, s1, s2
        sk = F[..., 4:]
        np.divide(ww[..., None], den, out=sk)
        su = F[..., 2:4]
        np.multiply(sk, uv, out=su)
        np.multiply(su, uv, out=F[..., :2])
        lead = shape[:-1]
        return self._GT @ F.reshape(-1, self.n_cameras * 6).T, lead

    def _solve(self, uv: np.ndarray, w: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
        """:meth:`solve` without the singularity check and without error-state handling."""
        R, lead = self._normal(uv, w, depth)
        n = R.shape[1]
        g = R.take(_GATHER, 0)
        cof = g[:9] * g[9:18]
        cof -= g[18:27] * g[27:36]
        y = _einsum("ijn,jkn->nik", cof.reshape(3, 3, n), g[36:].reshape(3, 2, n))  # cof @ [b | A[:, 0]]
        x = y[:, :, 0] / y[:, :1, 1]
        return x.reshape(lead + (3,))

    def solve(
        self, uv: np.ndarray, w: np.ndarray, depth: np.ndarray | None = None, check: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Weighted DLT for points uv (..., C, 2) with weights w (..., C) (broadcasting).

        Rows are normalised to unit length and weighted by ``w`` (by ``w / depth`` when
        ``depth`` (..., C) > 0 is given, which makes the residual a reprojection error).
        Returns X (..., 3), non-finite or meaningless where fewer than 2 views have weight; with
        ``check=True`` also ok (...,), False (and X NaN) where the system is (nearly) singular.
        """
        uv = np.asarray(uv, dtype=float)
        w = np.asarray(w, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            if not check:
                return self._solve(uv, w, depth)
            R, lead = self._normal(uv, w, depth)
            g = R[_COF]
            cof = g[0] * g[1] - g[2] * g[3]
            det = (R[:3] * cof[:3]).sum(0)
            x = np.einsum("ijn,jn->in", cof.reshape(3, 3, -1), R[9:]) / det
            tr = R[0] + R[4] + R[8]
            ok = det > _SINGULAR * tr * tr * tr
        x[:, ~ok] = np.nan
        return x.T.reshape(*lead, 3), ok.reshape(lead)

    def project(self, X: np.ndarray) -> np.ndarray:
        """Points X (..., 3) -> homogeneous image coordinates (..., C, 3) in every camera."""
        X = np.asarray(X, dtype=float)
        with np.errstate(invalid="ignore"):
            return self._project(X)

    def _project(self, X: np.ndarray) -> np.ndarray:
        h = X.reshape(-1, 3) @ self._Pm
        h += self._Pt
        return h.reshape(X.shape[:-1] + (self.n_cameras, 3))

    def _errors2(self, X: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`errors2` without error-state handling (callers use ``np.errstate``)."""
        h = self._project(X)
        z = h[..., 2]
        p = h[..., :2] / z[..., None]
        p -= uv
        p *= p
        e2 = p[..., 0] + p[..., 1]
        behind = z <= 0
        if np.count_nonzero(behind):
            e2[behind] = np.inf
        return e2, z

    def errors2(self, X: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Squared reprojection errors (..., C), px^2 (inf behind a camera, NaN for NaN X), and depths."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._errors2(np.asarray(X, dtype=float), np.asarray(uv, dtype=float))

    def errors(self, X: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reprojection errors (..., C) in pixels (inf behind a camera) and depths (..., C)."""
        e2, z = self.errors2(X, uv)
        return np.sqrt(e2), z

    # ------------------------------------------------------------------ robust fit
    def _ransac_pairs(
        self,
        uv: np.ndarray,
        w: np.ndarray,
        valid: np.ndarray,
        thr2: np.ndarray,
        prior: np.ndarray | None = None,
        prior_scale: np.ndarray | None = None,
    ) -> np.ndarray:
        """Best inlier mask (M, C) per point over all two-view hypotheses (all False if none works).

        Hypotheses are scored MSAC-style: the score-weighted truncated squared reprojection
        error ``sum_c w_c min(e_c^2 / thr^2, 1)`` (lower is better), so a tight consensus beats a
        loose one that also explains a moderately wrong view. With a ``prior`` (M, 3) position
        (e.g. the tracked joint; NaN = none) and ``prior_scale`` (M,) pixels per world unit,
        the prior counts like one more view of weight 1.
        """
        M = w.shape[0]
        pm = self._pair_mask[None]
        wp = (valid[:, None, :] & pm).astype(float)  # (M, H, C)
        Xh = self._solve(uv[:, None], wp)  # (M, H, 3)
        e2, _ = self._errors2(Xh, uv[:, None])  # (M, H, C)
        r = e2 / thr2
        inl = valid[:, None, :] & (r < 1.0)
        cost = (np.where(inl, r, 1.0) * w[:, None, :]).sum(-1)
        if prior is not None:
            d = Xh - prior[:, None]
            rp = (d * d).sum(-1) * (prior_scale * prior_scale / np.mean(thr2))[:, None]
            cost += np.where(rp < 1.0, rp, 1.0) * (rp == rp)
        pair_ok = (inl | ~pm).all(-1) & (wp.sum(-1) == 2)
        cost = np.where(pair_ok, cost, np.inf)
        best = np.argmin(cost, axis=1)
        rows = np.arange(M)
        return inl[rows, best] & np.isfinite(cost[rows, best])[:, None]

    def robust(
        self,
        uv: np.ndarray,
        w: np.ndarray,
        threshold: float | np.ndarray = 20.0,
        min_views: int = 2,
        depth: np.ndarray | None = None,
        depth_weighting: bool = True,
    ) -> TriangulationResult:
        """Outlier-robust triangulation; see :func:`triangulate_robust`.

        ``depth`` (M, C), optional: approximate depths of the points in each camera (e.g. from
        a tracked skeleton); the first fit then weights rows by ``w / depth`` and needs no refit.
        """
        uv = np.asarray(uv, dtype=float)
        w = np.asarray(w, dtype=float)
        C = self.n_cameras
        M = w.shape[0]
        if w.shape != (M, C) or uv.shape != (M, C, 2):
            raise ValueError(f"triangulation: uv {uv.shape} and w {w.shape} must be (M, {C}, 2) and (M, {C})")
        if isinstance(min_views, bool) or int(min_views) != min_views or min_views < 2:
            raise ValueError(f"min_views must be an integer >= 2, got {min_views!r}")
        thr = np.asarray(threshold, dtype=float)
        if thr.ndim:
            thr = thr.reshape(C)
        if not np.all(thr > 0):
            raise ValueError(f"threshold must be > 0 pixels, got {threshold!r}")
        with np.errstate(divide="ignore", invalid="ignore"):
            if depth is not None:
                depth = np.asarray(depth, dtype=float)
                if depth.shape != (M, C):
                    raise ValueError(f"depth must have shape ({M}, {C}), got {depth.shape}")
                depth = np.where(np.isfinite(depth) & (depth > 0), depth, 1.0)
            valid = (w > 0) & np.isfinite(w) & np.isfinite(uv).all(-1)
            uv = np.where(valid[..., None], uv, 0.0)
            w = np.where(valid, w, 0.0)
            thr2 = thr * thr
            return self._robust(uv, w, valid, thr2, int(min_views), depth, depth_weighting)

    def _robust(
        self,
        uv: np.ndarray,
        w: np.ndarray,
        valid: np.ndarray,
        thr2: np.ndarray | float,
        min_views: int,
        depth: np.ndarray | None = None,
        depth_weighting: bool = True,
        prior: np.ndarray | None = None,
        prior_scale: np.ndarray | None = None,
        thr2_clean: np.ndarray | float | None = None,
    ) -> TriangulationResult:
        """:meth:`robust` on validated inputs (w = 0 and finite uv where not valid; thr2 in px^2).

        ``prior`` (M, 3) / ``prior_scale`` (M,): optional expected positions (NaN = none) and
        pixels per world unit, used to break ties between RANSAC hypotheses. ``thr2_clean``:
        ``0.25 * thr2`` when the caller has it at hand. Runs without error-state handling:
        callers use ``np.errstate(divide="ignore", invalid="ignore")``.
        """
        if thr2_clean is None:
            thr2_clean = 0.25 * thr2
        if np.ndim(thr2):
            thr2 = np.reshape(thr2, (-1, 1))
            thr2_clean = np.reshape(thr2_clean, (-1, 1))
        X, inl, err, nv = self._robust_p(
            np.ascontiguousarray(uv.transpose(2, 1, 0)),
            np.ascontiguousarray(w.T),
            np.ascontiguousarray(valid.T),
            thr2,
            thr2_clean,
            min_views,
            None if depth is None else np.ascontiguousarray(depth.T),
            depth_weighting,
            prior,
            prior_scale,
        )
        return TriangulationResult(X.T, inl.T, err.T, nv)


class _SolveWorkspace:
    """Preallocated buffers for repeated weighted DLT solves of M points in the planar layout
    (:meth:`Triangulator._solve_p`'s arithmetic up to rounding, no allocation, ~13 numpy calls).

    The observations go into ``UV`` (2, C, M) (a view of ``Q`` (7, C, M) = 1, 1, u^2, v^2, u,
    v, and a free row ``Q[6]`` for the caller, e.g. scores); :meth:`solve` fills the squares
    and writes X (3, M). The squared row norms are one contraction of the powers (1, u^2, u)
    with per-view coefficients, the features one product: fewer calls than ``_solve_p``.
    Not thread-safe (one workspace per user).
    """

    __slots__ = (
        "Q", "UV", "_P", "_P1", "_P2", "_coef", "_GT", "_den", "_ww", "_sk", "_F", "_F2", "_R",
        "_g", "_ga", "_gb", "_gc", "_gd", "_g36", "_cof", "_cof3", "_tmp", "_y", "_y0", "_det",
    )

    def __init__(self, tri: Triangulator, M: int) -> None:
        C = tri.n_cameras
        self.Q = np.empty((7, C, M))
        self.Q[:2] = 1.0
        self.UV = self.Q[4:6]
        self._P = self.Q[:6].reshape(3, 2, C, M)  # powers 1, u^2, u of the pixels
        self._P1, self._P2 = self._P[1], self._P[2]
        # Squared row norms n33 u^2 - n3k u + nkk as coefficients of (1, u^2, u): (3, 2, C).
        self._coef = np.stack([tri._nkkp[:, :, 0], tri._nkp[:, :, 0], -tri._n3kp[:, :, 0]])
        # _GTp's feature columns (u^2, u, 1 powers) reordered to (1, u^2, u).
        self._GT = np.ascontiguousarray(tri._GTp.reshape(12, 3, 2 * C)[:, [2, 0, 1]].reshape(12, 6 * C))
        self._den = np.empty((2, C, M))
        self._ww = np.empty((C, M))
        self._sk = np.empty((2, C, M))
        self._F = np.empty((3, 2, C, M))
        self._F2 = self._F.reshape(6 * C, M)
        self._R = np.empty((12, M))
        self._g = np.empty((42, M))
        g = self._g
        self._ga, self._gb, self._gc, self._gd = g[:9], g[9:18], g[18:27], g[27:36]
        self._g36 = g[36:].reshape(3, 2, M)
        self._cof = np.empty((9, M))
        self._cof3 = self._cof.reshape(3, 3, M)
        self._tmp = np.empty((9, M))
        self._y = np.empty((3, 2, M))
        self._y0, self._det = self._y[:, 0], self._y[0, 1]

    def solve(self, w: np.ndarray, depth: np.ndarray, out: np.ndarray) -> None:
        """Weighted DLT of the points in ``UV`` with weights ``w`` and depths ``depth`` (C, M)
        (rows weighted by w / depth); writes X (3, M) into ``out`` (meaningless where fewer
        than 2 views have weight). No error-state handling: callers use ``np.errstate``."""
        np.multiply(self._P2, self._P2, out=self._P1)
        _einsum("fkcm,fkc->kcm", self._P, self._coef, out=self._den)  # |u P3 - P1|^2, |v P3 - P2|^2
        ww = np.divide(w, depth, out=self._ww)
        np.multiply(ww, ww, out=ww)
        np.divide(ww, self._den, out=self._sk)  # squared row weight / squared row norm
        np.multiply(self._sk, self._P, out=self._F)  # features s1, s2, u^2 s1, v^2 s2, u s1, v s2
        np.dot(self._GT, self._F2, out=self._R)  # (12, M): A.ravel() and b of the normal equations
        self._R.take(_GATHER, 0, out=self._g, mode="clip")  # (indices in range: no check)
        np.multiply(self._ga, self._gb, out=self._cof)
        np.multiply(self._gc, self._gd, out=self._tmp)
        np.subtract(self._cof, self._tmp, out=self._cof)
        _einsum("ijn,jkn->ikn", self._cof3, self._g36, out=self._y)  # cof @ [b | A[:, 0]]
        np.divide(self._y0, self._det, out=out)


def project_points(P: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project points X (..., 3) into every camera of P (C, 3, 4).

    Returns ideal pixels (..., C, 2) (NaN on or behind the image plane) and the homogeneous
    third coordinate (..., C) (the depth in metres for ``K [R | t]`` with ``K[2,2] = 1``).
    """
    P = np.asarray(P, dtype=float)
    h = np.einsum("cij,...j->...ci", P[:, :, :3], np.asarray(X, dtype=float)) + P[:, :, 3]
    z = h[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        zs = np.where(z > 0, z, np.nan)
        return h[..., :2] / zs[..., None], z


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
    X, ok = Triangulator(P).solve(np.where(valid[..., None], uv, 0.0), np.where(valid, w, 0.0), check=True)
    X[~ok | (valid.sum(-1) < 2)] = np.nan
    return X


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
