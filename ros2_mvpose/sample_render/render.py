"""Sphere-tracing renderer for :class:`~ros2_mvpose.sample_render.scene.Scene`.

Cameras follow the OpenCV convention (``x_cam = R @ X_world + t``, pixel ``(u, v)`` = column,
row with the centre of pixel ``(0, 0)`` at ``(0, 0)``). Rays are built by undistorting every
pixel, so a rendered image has the camera's lens distortion exactly (the image of a world point
``X`` is at the camera's distorted projection of ``X``).

Cost control: the ground (``z = 0``) and the sky are analytic; only rays that cross a person's
bounding box are marched, and only inside that box; the scene SDF itself evaluates a person's
primitives only near the person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ros2_mvpose.sample_render.scene import Scene

_SHADOW_GROW = 0.15
_TETRA = np.array([[1, -1, -1], [-1, -1, 1], [-1, 1, -1], [1, 1, 1]], float)


@dataclass
class Rays:
    """Per-pixel rays of one camera: ``origin (3,)`` (camera centre, world) and unit
    ``dirs (H*W, 3)`` in row-major pixel order; ``focal`` is the mean focal length (px)."""

    origin: np.ndarray
    dirs: np.ndarray
    width: int
    height: int
    focal: float


def distort_normalized(xy: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """OpenCV lens model on normalized coordinates ``(N, 2)``; ``dist`` = (k1, k2, p1, p2[, k3[,
    k4, k5, k6]]) (plumb_bob / rational_polynomial)."""
    d = np.zeros(8)
    d[: min(dist.size, 8)] = dist[:8]
    k1, k2, p1, p2, k3, k4, k5, k6 = d
    x, y = xy[:, 0], xy[:, 1]
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=1)


def undistort_normalized(xy_d: np.ndarray, dist: np.ndarray, iterations: int = 40) -> np.ndarray:
    """Invert :func:`distort_normalized` (Newton steps with a numeric Jacobian) to ~1e-12."""
    if not np.any(dist != 0):
        return xy_d.copy()
    xy = xy_d.copy()
    h = 1e-7
    for _ in range(iterations):
        f = distort_normalized(xy, dist) - xy_d
        if np.max(np.abs(f)) < 1e-13:
            break
        jx = (distort_normalized(xy + [h, 0.0], dist) - distort_normalized(xy - [h, 0.0], dist)) / (2 * h)
        jy = (distort_normalized(xy + [0.0, h], dist) - distort_normalized(xy - [0.0, h], dist)) / (2 * h)
        det = jx[:, 0] * jy[:, 1] - jy[:, 0] * jx[:, 1]
        step_x = (jy[:, 1] * f[:, 0] - jy[:, 0] * f[:, 1]) / det
        step_y = (-jx[:, 1] * f[:, 0] + jx[:, 0] * f[:, 1]) / det
        xy = xy - np.stack([step_x, step_y], axis=1)
    return xy


def camera_rays(camera) -> Rays:
    """Rays through every pixel centre of ``camera`` (any object with ``K (3, 3)``, ``dist``,
    ``R (3, 3)``, ``t (3,)``, ``width``, ``height``; ``distortion_model`` plumb_bob or
    rational_polynomial when ``dist`` is non-zero)."""
    K = np.asarray(camera.K, float)
    R = np.asarray(camera.R, float)
    t = np.asarray(camera.t, float).reshape(3)
    dist = np.asarray(getattr(camera, "dist", np.zeros(5)), float).reshape(-1)
    w, h = int(camera.width), int(camera.height)
    if w <= 0 or h <= 0:
        raise ValueError(f"camera size must be positive, got {w}x{h}")
    model = getattr(camera, "distortion_model", "plumb_bob")
    if np.any(dist != 0) and model not in ("plumb_bob", "rational_polynomial"):
        raise ValueError(f"renderer supports plumb_bob / rational_polynomial distortion, not {model!r}")
    u, v = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
    uv = np.stack([u.ravel(), v.ravel()], axis=1)
    xy = undistort_normalized(
        np.stack([(uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1]], axis=1), dist
    )
    d_cam = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1)
    dirs = d_cam @ R  # = (R.T @ d_cam.T).T
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    origin = -R.T @ t
    return Rays(origin, dirs, w, h, float(0.5 * (K[0, 0] + K[1, 1])))


def _slab(origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Entry/exit distances ``(N,)`` of rays against an axis-aligned box (``t_in > t_out``: miss)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dirs
        t1 = (lo - origin) * inv
        t2 = (hi - origin) * inv
    t1 = np.nan_to_num(t1, nan=-np.inf)
    t2 = np.nan_to_num(t2, nan=np.inf)
    tn = np.minimum(t1, t2).max(axis=1)
    tf = np.maximum(t1, t2).min(axis=1)
    return np.maximum(tn, 0.0), tf


def _people_span(scene: Scene, origin, dirs, grow: float = 0.0):
    """Union of the people's bounding-box spans (boxes grown by ``grow`` m) along each ray:
    ``(t_in, t_out)``."""
    n = dirs.shape[0]
    t_in = np.full(n, np.inf)
    t_out = np.full(n, -np.inf)
    for person in scene.people:
        tn, tf = _slab(origin, dirs, person.lo - grow, person.hi + grow)
        hit = tn <= tf
        t_in = np.where(hit, np.minimum(t_in, tn), t_in)
        t_out = np.where(hit, np.maximum(t_out, tf), t_out)
    return t_in, t_out


def march(scene: Scene, origin, dirs, t_start, t_end, pixel_angle: float, max_steps: int = 96):
    """Sphere-trace rays ``origin + t * dirs`` over ``[t_start, t_end]`` against the people.

    ``origin`` is ``(3,)`` or ``(N, 3)``. Returns ``t_hit (N,)`` (``inf`` for a miss). A ray hits
    when the distance drops below half a pixel's footprint (``0.5 * pixel_angle * t``).
    """
    n = dirs.shape[0]
    t_hit = np.full(n, np.inf)
    origin = np.broadcast_to(np.asarray(origin, float), (n, 3))
    idx = np.nonzero(t_start < t_end)[0]
    t = t_start[idx].copy()
    tend = t_end[idx]
    eps = 0.5 * pixel_angle
    for _ in range(max_steps):
        if idx.size == 0:
            break
        d = scene.sdf(origin[idx] + dirs[idx] * t[:, None])
        hit = d < eps * t
        t_hit[idx[hit]] = t[hit]
        t = t + d
        keep = ~hit & (t < tend)
        idx, t, tend = idx[keep], t[keep], tend[keep]
    return t_hit


def normals(scene: Scene, p: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Unit surface normals ``(N, 3)`` from the SDF gradient (tetrahedral differences)."""
    g = np.zeros_like(p)
    for k in _TETRA:
        g += k[None] * scene.sdf(p + h * k[None])[:, None]
    return g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)


def soft_shadow(scene: Scene, p: np.ndarray, sun: np.ndarray, steps: int = 40, k: float = 16.0):
    """Sun visibility ``(N,)`` in [0, 1] (0: fully shadowed) for points ``p (N, 3)`` (a few
    distance-field steps toward the sun; the penumbra is ``~t / k`` wide at distance ``t``).

    Only rays that pass within ``_SHADOW_GROW`` of a person's box are marched; the penumbra is
    kept narrower than that so it does not end at the box's edge."""
    n = p.shape[0]
    res = np.ones(n)
    if n == 0:
        return res
    dirs = np.broadcast_to(sun, (n, 3))
    t_in, t_out = _people_span(scene, p, dirs, _SHADOW_GROW)
    idx = np.nonzero(t_in <= t_out)[0]
    t = np.maximum(t_in[idx], 0.01)
    tend = t_out[idx]
    for _ in range(steps):
        if idx.size == 0:
            break
        # exact distances up to _SHADOW_GROW from the parts, so the penumbra is not box-shaped
        d = scene.sdf(p[idx] + sun[None] * t[:, None], exact_within=_SHADOW_GROW)
        res[idx] = np.minimum(res[idx], np.clip(k * d / t, 0.0, 1.0))
        t = t + np.clip(d, 0.01, 0.1)
        keep = (res[idx] > 0.02) & (t < tend)
        idx, t, tend = idx[keep], t[keep], tend[keep]
    return res * res * (3.0 - 2.0 * res)


def render(camera, scene: Scene, rays: Rays | None = None, max_steps: int = 96) -> np.ndarray:
    """Render ``scene`` as seen by ``camera``; returns ``(H, W, 3)`` uint8 BGR.

    Pass precomputed ``rays`` (from :func:`camera_rays`) to skip undistorting every pixel when
    rendering many frames from a static camera.
    """
    rays = rays or camera_rays(camera)
    o, d = rays.origin, rays.dirs
    lt = scene.lighting
    sun = lt.sun_dir / np.linalg.norm(lt.sun_dir)
    n = d.shape[0]
    colour = scene.sky(d)

    down = d[:, 2] < -1e-9
    with np.errstate(divide="ignore"):
        t_ground = np.where(down, -o[2] / np.where(down, d[:, 2], -1.0), np.inf)

    t_in, t_out = _people_span(scene, o, d)
    t_end = np.minimum(t_out, t_ground)
    t_hit = march(scene, o, d, t_in, t_end, 1.0 / rays.focal, max_steps)
    person = np.isfinite(t_hit)
    ground = down & ~person

    if ground.any():
        gi = np.nonzero(ground)[0]
        pg = o[None] + d[gi] * t_ground[gi, None]
        alb = scene.ground_albedo(pg[:, :2], t_ground[gi])
        vis = soft_shadow(scene, pg + np.array([0, 0, 1e-3]), sun)
        light = lt.ambient + lt.sun * max(sun[2], 0.0) * vis
        colour[gi] = alb * light[:, None]
    if person.any():
        pi = np.nonzero(person)[0]
        pp = o[None] + d[pi] * t_hit[pi, None]
        nrm = normals(scene, pp)
        # make normals face the camera (grazing hits can report a back-facing gradient)
        flip = np.einsum("ij,ij->i", nrm, d[pi]) > 0
        nrm[flip] *= -1.0
        alb = scene.albedo(pp)
        lam = np.clip(nrm @ sun, 0.0, 1.0)
        vis = np.ones(pi.size)
        lit = lam > 0
        vis[lit] = soft_shadow(scene, pp[lit] + 0.004 * nrm[lit], sun)
        amb = lt.ambient * (0.55 + 0.45 * np.clip(0.5 + 0.5 * nrm[:, 2], 0.0, 1.0))
        colour[pi] = alb * (amb + lt.sun * lam * vis)[:, None]

    srgb = np.clip(colour, 0.0, 1.0) ** (1.0 / 2.2)
    img = np.round(srgb * 255.0).astype(np.uint8).reshape(rays.height, rays.width, 3)
    assert img.shape[0] * img.shape[1] == n
    return np.ascontiguousarray(img[:, :, ::-1])
