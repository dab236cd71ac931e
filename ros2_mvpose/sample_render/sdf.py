"""Vectorized signed distance functions over point sets.

Every primitive takes ``p`` as an ``(N, 3)`` array of points (metres) and returns the signed
distance, negative inside. The ``*_batch`` variants evaluate ``M`` primitives of one kind at once
and return an ``(N, M)`` matrix, which is how the scene evaluates a whole body per march step.
"""

from __future__ import annotations

import numpy as np


def sphere(p: np.ndarray, center, radius: float) -> np.ndarray:
    """Distance ``(N,)`` from ``p (N, 3)`` to a sphere."""
    return np.linalg.norm(np.asarray(p, float) - np.asarray(center, float), axis=-1) - float(radius)


def sphere_batch(p: np.ndarray, centers: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Distances ``(N, M)`` from ``p (N, 3)`` to ``M`` spheres (``centers (M, 3)``, ``radii (M,)``)."""
    dx = p[:, 0:1] - centers[None, :, 0]
    dy = p[:, 1:2] - centers[None, :, 1]
    dz = p[:, 2:3] - centers[None, :, 2]
    return np.sqrt(dx * dx + dy * dy + dz * dz) - radii[None, :]


def round_cone_batch(
    p: np.ndarray, a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray
) -> np.ndarray:
    """Exact distances ``(N, M)`` to ``M`` round cones (spheres of radius ``ra`` at ``a`` and
    ``rb`` at ``b``, ``a, b (M, 3)``, joined by their tangent cone). ``ra == rb`` is a capsule.

    The point is expressed in the cone's axial plane (axial coordinate ``y`` along ``b - a``,
    radial distance ``x``); depending on which side of the two tangent-circle normals it falls,
    the nearest feature is the ``a`` sphere, the ``b`` sphere or the conical side.
    """
    ba = b - a  # (M, 3)
    l2 = np.einsum("mk,mk->m", ba, ba)[None, :]  # (1, M)
    rr = (ra - rb)[None, :]
    a2 = l2 - rr * rr
    il2 = 1.0 / l2
    px = p[:, 0:1] - a[None, :, 0]
    py = p[:, 1:2] - a[None, :, 1]
    pz = p[:, 2:3] - a[None, :, 2]
    y = px * ba[None, :, 0] + py * ba[None, :, 1] + pz * ba[None, :, 2]
    pa2 = px * px + py * py + pz * pz
    z = y - l2
    # |pa * l2 - ba * y|^2 = l2^2 |pa|^2 - l2 y^2 (Pythagoras in the axial plane)
    x2 = np.maximum(l2 * (l2 * pa2 - y * y), 0.0)
    y2 = y * y * l2
    z2 = z * z * l2
    k = np.sign(rr) * rr * rr * x2
    d_b = np.sqrt(x2 + z2) * il2 - rb[None, :]
    d_a = np.sqrt(x2 + y2) * il2 - ra[None, :]
    d_side = (np.sqrt(x2 * (a2 * il2)) + y * rr) * il2 - ra[None, :]
    near_b = np.sign(z) * a2 * z2 > k
    near_a = np.sign(y) * a2 * y2 < k
    return np.where(near_b, d_b, np.where(near_a, d_a, d_side))


def round_cone(p: np.ndarray, a, b, ra: float, rb: float) -> np.ndarray:
    """Distance ``(N,)`` to one round cone (see :func:`round_cone_batch`)."""
    p = np.atleast_2d(np.asarray(p, float))
    a_, b_ = np.asarray(a, float)[None], np.asarray(b, float)[None]
    return round_cone_batch(p, a_, b_, np.array([ra], float), np.array([rb], float))[:, 0]


def capsule(p: np.ndarray, a, b, radius: float) -> np.ndarray:
    """Distance ``(N,)`` to a capsule (segment ``a``-``b`` swept by a sphere of ``radius``)."""
    return round_cone(p, a, b, radius, radius)


def ellipsoid_batch(
    p: np.ndarray, centers: np.ndarray, rotations: np.ndarray, radii: np.ndarray
) -> np.ndarray:
    """Distances ``(N, M)`` to ``M`` ellipsoids.

    ``rotations (M, 3, 3)`` has the ellipsoid's local axes as columns (local -> world), ``radii
    (M, 3)`` the semi-axes along them. The distance is the usual first-order bound
    ``k0 (k0 - 1) / k1`` (exact on the principal axes, a close under-estimate elsewhere for
    moderately elongated ellipsoids), which is safe for sphere tracing.
    """
    dx = p[:, 0:1] - centers[None, :, 0]
    dy = p[:, 1:2] - centers[None, :, 1]
    dz = p[:, 2:3] - centers[None, :, 2]
    k0 = np.zeros_like(dx)
    k1 = np.zeros_like(dx)
    for j in range(3):  # local coordinate j = d . axis_j
        q = dx * rotations[None, :, 0, j] + dy * rotations[None, :, 1, j] + dz * rotations[None, :, 2, j]
        q /= radii[None, :, j]
        k0 += q * q
        q /= radii[None, :, j]
        k1 += q * q
    k0 = np.sqrt(k0)
    return k0 * (k0 - 1.0) / np.maximum(np.sqrt(k1), 1e-12)


def ellipsoid(p: np.ndarray, center, radii, rotation=None) -> np.ndarray:
    """Distance ``(N,)`` to one ellipsoid (``rotation`` columns = local axes; default identity)."""
    p = np.atleast_2d(np.asarray(p, float))
    rot = np.eye(3) if rotation is None else np.asarray(rotation, float)
    c, r = np.asarray(center, float)[None], np.asarray(radii, float)[None]
    return ellipsoid_batch(p, c, rot[None], r)[:, 0]


def box(p: np.ndarray, center, half_size, rotation=None, rounding: float = 0.0) -> np.ndarray:
    """Exact distance ``(N,)`` to a (rounded) box with half extents ``half_size (3,)``.

    ``rounding`` rounds the edges without changing the outer extents.
    """
    p = np.atleast_2d(np.asarray(p, float))
    rot = np.eye(3) if rotation is None else np.asarray(rotation, float)
    q = (p - np.asarray(center, float)) @ rot
    d = np.abs(q) - (np.asarray(half_size, float) - rounding)
    outside = np.linalg.norm(np.maximum(d, 0.0), axis=-1)
    inside = np.minimum(d.max(axis=-1), 0.0)
    return outside + inside - rounding


def aabb_distance(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Exact distance ``(N,)`` to an axis-aligned box ``[lo, hi]`` (a bounding volume)."""
    q = np.abs(p - 0.5 * (lo + hi)) - 0.5 * (hi - lo)
    qo = np.maximum(q, 0.0)
    outside = np.sqrt(qo[:, 0] * qo[:, 0] + qo[:, 1] * qo[:, 1] + qo[:, 2] * qo[:, 2])
    return outside + np.minimum(q.max(axis=1), 0.0)


def smooth_union(d1: np.ndarray, d2: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum of two distance arrays; ``k`` (m) is the blend width."""
    if k <= 0:
        return np.minimum(d1, d2)
    h = np.maximum(k - np.abs(d1 - d2), 0.0) / k
    return np.minimum(d1, d2) - h * h * k * 0.25


def smooth_union_many(d: np.ndarray, k: float) -> np.ndarray:
    """Smooth minimum ``(N,)`` over the columns of ``d (N, M)`` (pairwise polynomial blends)."""
    out = d[:, 0]
    for j in range(1, d.shape[1]):
        out = smooth_union(out, d[:, j], k)
    return out
