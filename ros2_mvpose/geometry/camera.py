"""Calibrated pinhole / fisheye camera in the OpenCV convention.

A world point ``X`` (metres) maps to camera coordinates ``x_cam = R @ X + t``; the camera looks
along ``+z``, ``x`` to the right and ``y`` down in the image. Pixel coordinates ``(u, v)`` follow
OpenCV / ROS ``CameraInfo``: ``(0, 0)`` is the centre of the top-left pixel and ``K`` maps
normalised coordinates ``(x/z, y/z, 1)`` to pixels.

Distortion models (the ROS ``CameraInfo.distortion_model`` names):

* ``plumb_bob`` -- Brown-Conrady ``k1, k2, p1, p2[, k3]`` (4 or 5 coefficients);
* ``rational_polynomial`` -- OpenCV's full model ``k1, k2, p1, p2, k3, k4, k5, k6`` (8), also
  accepted with 4, 5 (rational part zero), 12 (thin prism ``s1..s4``) or 14 (tilt ``tauX, tauY``);
* ``equidistant`` (alias ``fisheye``) -- OpenCV's fisheye model ``k1, k2, k3, k4`` (4).

An empty coefficient list means all-zero coefficients: no distortion for the pinhole models,
the pure equidistant projection ``r_d = theta`` for the fisheye model.

No rclpy import here: :meth:`Camera.from_camera_info` duck-types the message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numba import njit

__all__ = [
    "DISTORTION_MODELS",
    "LENS_SIZE",
    "Camera",
    "nearest_rotation",
    "project_pixels",
    "rotation_error",
    "stack_lenses",
    "undistort_pixels",
]

#: Accepted coefficient counts per distortion model.
DISTORTION_MODELS: dict[str, tuple[int, ...]] = {
    "plumb_bob": (0, 4, 5),
    "rational_polynomial": (0, 4, 5, 8, 12, 14),
    "equidistant": (0, 4),
}
_MODEL_ALIASES = {"fisheye": "equidistant", "": "plumb_bob", "none": "plumb_bob"}

#: Tolerance on ``max|R R^T - I|`` and ``|det R - 1|`` accepted by :class:`Camera`.
ROTATION_TOL = 1e-6

# Undistortion: Newton iterations stop at this residual in normalised units (~1e-10 px at f=1000);
# a point whose residual stays above _UNDISTORT_FAIL (outside the model's invertible region) is NaN.
_NEWTON_TOL = 1e-13
_NEWTON_ITERS = 40
_UNDISTORT_FAIL = 1e-8


def rotation_error(R: np.ndarray) -> float:
    """Largest deviation of ``R`` (3,3) from a proper rotation: max of ``|R R^T - I|`` and ``|det-1|``."""
    R = np.asarray(R, dtype=float)
    return float(max(np.abs(R @ R.T - np.eye(3)).max(), abs(np.linalg.det(R) - 1.0)))


def nearest_rotation(M: np.ndarray) -> np.ndarray:
    """Closest proper rotation (Frobenius norm) to a 3x3 matrix, via SVD.

    Used by the calibration readers to clean rotations printed with few digits.
    Raises ValueError when ``M`` is singular or a reflection.
    """
    M = np.asarray(M, dtype=float)
    if M.shape != (3, 3) or not np.all(np.isfinite(M)):
        raise ValueError(f"rotation must be a finite 3x3 matrix, got shape {M.shape}")
    U, s, Vt = np.linalg.svd(M)
    if s[-1] <= 1e-9 * max(s[0], 1e-300):
        raise ValueError("rotation matrix is singular")
    if np.linalg.det(U @ Vt) < 0:
        raise ValueError("rotation matrix has determinant < 0 (a reflection, not a rotation)")
    return U @ Vt


def _normalize_model(model: str, name: str) -> str:
    m = str(model).strip().lower()
    m = _MODEL_ALIASES.get(m, m)
    if m not in DISTORTION_MODELS:
        raise ValueError(
            f"camera {name!r}: unknown distortion_model {model!r} "
            f"(expected one of {sorted(DISTORTION_MODELS)} or 'fisheye')"
        )
    return m


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.setflags(write=False)
    return a


def _tilt_matrix(tau_x: float, tau_y: float) -> np.ndarray:
    """OpenCV's tilted-sensor projection matrix (Scheimpflug), applied to ``(x'', y'', 1)``."""
    cx, sx = np.cos(tau_x), np.sin(tau_x)
    cy, sy = np.cos(tau_y), np.sin(tau_y)
    rot_x = np.array([[1.0, 0.0, 0.0], [0.0, cx, sx], [0.0, -sx, cx]])
    rot_y = np.array([[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]])
    rot_xy = rot_y @ rot_x
    proj_z = np.array(
        [[rot_xy[2, 2], 0.0, -rot_xy[0, 2]], [0.0, rot_xy[2, 2], -rot_xy[1, 2]], [0.0, 0.0, 1.0]]
    )
    return proj_z @ rot_xy


# ------------------------------------------------------------------ compiled lens kernels
# One row of floats per camera (``Camera.lens``, stacked by :func:`stack_lenses`): fx, fy, cx, cy,
# skew, model (0 no distortion, 1 pinhole with distortion, 2 equidistant), the 14 OpenCV
# coefficients (k1, k2, p1, p2, k3, k4, k5, k6, s1..s4, tauX, tauY; fisheye: k1..k4 first),
# tilt flag, tilt matrix (3x3 row-major). numba compiles these once per machine (cache=True).
LENS_SIZE = 30


@njit(cache=True, error_model="numpy", inline="always")
def _pinhole(x: float, y: float, p: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """Normalised ideal -> distorted coordinates of a pinhole lens row ``p`` (plumb_bob and
    rational_polynomial, thin prism, tilt) and the Jacobian d(xd, yd)/d(x, y) (row-major)."""
    r2 = x * x + y * y
    num = 1.0 + r2 * (p[6] + r2 * (p[7] + r2 * p[10]))
    den = 1.0 + r2 * (p[11] + r2 * (p[12] + r2 * p[13]))
    dnum = p[6] + r2 * (2.0 * p[7] + 3.0 * r2 * p[10])
    dden = p[11] + r2 * (2.0 * p[12] + 3.0 * r2 * p[13])
    radial = num  # (x / 1.0 == x: no division without the rational terms)
    g = 2.0 * (dnum * den - num * dden)  # d radial / d r2, times 2
    if den != 1.0:
        radial = num / den
        g = g / (den * den)
    sx = 2.0 * (p[14] + 2.0 * p[15] * r2)  # thin prism terms' d / d r2, times 2
    sy = 2.0 * (p[16] + 2.0 * p[17] * r2)
    xd = x * radial + 2.0 * p[8] * x * y + p[9] * (r2 + 2.0 * x * x) + r2 * (p[14] + p[15] * r2)
    yd = y * radial + p[8] * (r2 + 2.0 * y * y) + 2.0 * p[9] * x * y + r2 * (p[16] + p[17] * r2)
    a = radial + g * x * x + 2.0 * p[8] * y + 6.0 * p[9] * x + sx * x
    b = g * x * y + 2.0 * p[8] * x + 2.0 * p[9] * y + sx * y
    c = g * x * y + 2.0 * p[8] * x + 2.0 * p[9] * y + sy * x
    d = radial + g * y * y + 6.0 * p[8] * y + 2.0 * p[9] * x + sy * y
    if p[20] != 0.0:  # tilted sensor: (xd, yd) -> (T0 . q / T2 . q, T1 . q / T2 . q), q = (xd, yd, 1)
        w = p[27] * xd + p[28] * yd + p[29]
        X = (p[21] * xd + p[22] * yd + p[23]) / w
        Y = (p[24] * xd + p[25] * yd + p[26]) / w
        t11, t12 = (p[21] - X * p[27]) / w, (p[22] - X * p[28]) / w
        t21, t22 = (p[24] - Y * p[27]) / w, (p[25] - Y * p[28]) / w
        return X, Y, t11 * a + t12 * c, t11 * b + t12 * d, t21 * a + t22 * c, t21 * b + t22 * d
    return xd, yd, a, b, c, d


@njit(cache=True, error_model="numpy", inline="always")
def _distort(x: float, y: float, p: np.ndarray) -> tuple[float, float]:
    """Normalised ideal -> normalised distorted coordinates of lens row ``p``."""
    model = p[5]
    if model == 0.0:
        return x, y
    if model == 2.0:
        r = math.sqrt(x * x + y * y)
        if r <= 1e-12:
            return x, y
        th = math.atan(r)
        t2 = th * th
        s = th * (1.0 + t2 * (p[6] + t2 * (p[7] + t2 * (p[8] + t2 * p[9])))) / r
        return x * s, y * s
    xd, yd, _, _, _, _ = _pinhole(x, y, p)
    return xd, yd


@njit(cache=True, error_model="numpy")
def _project_kernel(X: np.ndarray, Rt: np.ndarray, lens: np.ndarray, distort: bool) -> np.ndarray:
    """World points X (M, 3) -> pixels (M, C, 2) in every camera (raw with ``distort``, else
    ideal); NaN on or behind the image plane and for non-finite X."""
    M, C = X.shape[0], Rt.shape[0]
    out = np.empty((M, C, 2))
    for m in range(M):
        for c in range(C):
            E = Rt[c]
            z = E[2, 0] * X[m, 0] + E[2, 1] * X[m, 1] + E[2, 2] * X[m, 2] + E[2, 3]
            if not z > 0.0:
                out[m, c, 0] = out[m, c, 1] = np.nan
                continue
            x = (E[0, 0] * X[m, 0] + E[0, 1] * X[m, 1] + E[0, 2] * X[m, 2] + E[0, 3]) / z
            y = (E[1, 0] * X[m, 0] + E[1, 1] * X[m, 1] + E[1, 2] * X[m, 2] + E[1, 3]) / z
            p = lens[c]
            if distort:
                x, y = _distort(x, y, p)
            out[m, c, 0] = p[0] * x + p[4] * y + p[2]
            out[m, c, 1] = p[1] * y + p[3]
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _invert(xd: float, yd: float, p: np.ndarray) -> tuple[float, float]:
    """Normalised distorted -> ideal coordinates of lens row ``p`` (NaN where not invertible)."""
    if p[5] == 0.0:
        return xd, yd
    if p[5] == 2.0:  # equidistant: theta_d(theta) is radial, invert it in 1D
        rd = math.sqrt(xd * xd + yd * yd)
        x, y = xd, yd
        if rd > 1e-12:
            th = min(rd, 1.5)
            for _ in range(30):
                t2 = th * th
                f = th * (1.0 + t2 * (p[6] + t2 * (p[7] + t2 * (p[8] + t2 * p[9])))) - rd
                df = 1.0 + t2 * (3.0 * p[6] + t2 * (5.0 * p[7] + t2 * (7.0 * p[8] + t2 * 9.0 * p[9])))
                if not df > 0.0:
                    break
                th -= f / df
                if abs(f) < 1e-15:
                    break
            if not 0.0 <= th < 0.5 * math.pi - 1e-6:
                return np.nan, np.nan
            s = math.tan(th) / rd
            x, y = xd * s, yd * s
    else:  # pinhole: damped Newton with the analytic Jacobian
        x, y = xd, yd
        fx, fy, j11, j12, j21, j22 = _pinhole(x, y, p)
        rx, ry = xd - fx, yd - fy
        res = max(abs(rx), abs(ry))
        for _ in range(_NEWTON_ITERS):
            if not res >= _NEWTON_TOL:
                break
            det = j11 * j22 - j12 * j21
            sx = (j22 * rx - j12 * ry) / det
            sy = (j11 * ry - j21 * rx) / det
            step = 1.0
            for _ in range(12):  # halve the step until the residual decreases
                nx, ny = x + step * sx, y + step * sy
                nfx, nfy, n11, n12, n21, n22 = _pinhole(nx, ny, p)
                nrx, nry = xd - nfx, yd - nfy
                nres = max(abs(nrx), abs(nry))
                if nres < res:
                    break
                step *= 0.5
            if not nres < res:
                break
            x, y, rx, ry, res = nx, ny, nrx, nry, nres
            j11, j12, j21, j22 = n11, n12, n21, n22
        if not res < _UNDISTORT_FAIL:
            return np.nan, np.nan
        return x, y
    fx, fy = _distort(x, y, p)
    if not max(abs(xd - fx), abs(yd - fy)) < _UNDISTORT_FAIL or not max(abs(x), abs(y)) < 1e6:
        return np.nan, np.nan
    return x, y


@njit(cache=True, error_model="numpy")
def _undistort_kernel(uv: np.ndarray, cam: np.ndarray, lens: np.ndarray, normalized: bool) -> np.ndarray:
    """Raw pixels uv (N, >= 2) of cameras ``cam`` (N,) -> ideal pixels (N, 2) (ideal normalised
    coordinates with ``normalized``); NaN where not invertible or not finite."""
    out = np.empty((uv.shape[0], 2))
    for i in range(uv.shape[0]):
        p = lens[cam[i]]
        yd = (uv[i, 1] - p[3]) / p[1]
        xd = (uv[i, 0] - p[2] - p[4] * yd) / p[0]
        if not (math.isfinite(xd) and math.isfinite(yd)):
            out[i, 0] = out[i, 1] = np.nan
            continue
        x, y = _invert(xd, yd, p)
        if normalized:
            out[i, 0], out[i, 1] = x, y
        else:
            out[i, 0] = p[0] * x + p[4] * y + p[2]
            out[i, 1] = p[1] * y + p[3]
    return out


def stack_lenses(cameras: Any) -> tuple[np.ndarray, np.ndarray]:
    """Lens rows (C, LENS_SIZE) and extrinsics ``[R | t]`` (C, 3, 4) of cameras, for
    :func:`project_pixels` and :func:`undistort_pixels`."""
    return (np.ascontiguousarray(np.stack([c.lens for c in cameras])),
            np.ascontiguousarray(np.stack([c.extrinsics for c in cameras])))


def project_pixels(lens: np.ndarray, Rt: np.ndarray, X: np.ndarray) -> np.ndarray:
    """World points X (M, 3) metres -> raw (distorted) pixels (M, C, 2) in every camera of
    :func:`stack_lenses`; NaN on or behind the image plane."""
    return _project_kernel(np.ascontiguousarray(X, dtype=float), Rt, lens, True)


def undistort_pixels(lens: np.ndarray, cam: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Raw pixels uv (N, 2) (further columns, e.g. scores, are ignored) seen by cameras ``cam``
    (N,) (indices into :func:`stack_lenses`' rows) -> ideal pixels (N, 2), all cameras in one
    call; NaN where not invertible or not finite."""
    return _undistort_kernel(np.ascontiguousarray(uv, dtype=float), np.ascontiguousarray(cam, dtype=np.intp),
                             lens, False)


class Camera:
    """One calibrated camera.

    Args:
        name: camera name (used in error messages and as a default frame id).
        K: (3,3) intrinsic matrix, pixels; ``K[2] == [0, 0, 1]``, positive focal lengths.
        dist: (N,) distortion coefficients for ``distortion_model`` (empty = none).
        R: (3,3) world->camera rotation (proper, orthonormal within 1e-6).
        t: (3,) world->camera translation, metres: ``x_cam = R @ X_world + t``.
        width, height: image size in pixels (> 0).
        distortion_model: ``plumb_bob``, ``rational_polynomial`` or ``equidistant``/``fisheye``.

    Instances are immutable (arrays are read-only); use :meth:`with_intrinsics` /
    :meth:`with_pose` to derive modified copies. Invalid values raise ValueError naming the camera.
    """

    __slots__ = ("_K", "_R", "_dist", "_model", "_name", "_t", "_width", "_height", "_d14", "_lens", "_Rt")

    def __init__(
        self,
        name: str,
        K: Any,
        dist: Any,
        R: Any,
        t: Any,
        width: int,
        height: int,
        distortion_model: str = "plumb_bob",
    ) -> None:
        name = str(name)
        self._name = name
        model = _normalize_model(distortion_model, name)

        K = np.asarray(K, dtype=float)
        if K.shape != (3, 3):
            raise ValueError(f"camera {name!r}: K must be 3x3, got shape {K.shape}")
        if not np.all(np.isfinite(K)):
            raise ValueError(f"camera {name!r}: K contains NaN or inf")
        if not (K[0, 0] > 0 and K[1, 1] > 0):
            raise ValueError(
                f"camera {name!r}: K must have positive focal lengths, got fx={K[0, 0]}, fy={K[1, 1]}"
                + (" (all-zero K: camera not calibrated)" if not np.any(K) else "")
            )
        if abs(K[1, 0]) > 1e-12 or abs(K[2, 0]) > 1e-12 or abs(K[2, 1]) > 1e-12 or abs(K[2, 2] - 1) > 1e-9:
            raise ValueError(
                f"camera {name!r}: K must be upper triangular with K[2] = [0, 0, 1], got {K.tolist()}"
            )

        dist = np.asarray(dist if dist is not None else [], dtype=float).reshape(-1)
        if dist.size not in DISTORTION_MODELS[model]:
            raise ValueError(
                f"camera {name!r}: distortion_model {model!r} takes "
                f"{' or '.join(str(n) for n in DISTORTION_MODELS[model] if n)} coefficients "
                f"(or none), got {dist.size}"
            )
        if not np.all(np.isfinite(dist)):
            raise ValueError(f"camera {name!r}: distortion coefficients contain NaN or inf")

        R = np.asarray(R, dtype=float)
        if R.shape != (3, 3):
            raise ValueError(f"camera {name!r}: R must be 3x3, got shape {R.shape}")
        if not np.all(np.isfinite(R)):
            raise ValueError(f"camera {name!r}: R contains NaN or inf")
        err = rotation_error(R)
        if err > ROTATION_TOL:
            raise ValueError(
                f"camera {name!r}: R is not a rotation matrix (orthonormal with det +1); "
                f"deviation {err:.3g} > {ROTATION_TOL:g}"
            )

        t = np.asarray(t, dtype=float)
        if t.shape not in ((3,), (3, 1), (1, 3)):
            raise ValueError(f"camera {name!r}: t must have 3 elements, got shape {t.shape}")
        t = t.reshape(3)
        if not np.all(np.isfinite(t)):
            raise ValueError(f"camera {name!r}: t contains NaN or inf")

        for label, v in (("width", width), ("height", height)):
            try:
                ok = float(v) == int(v) and int(v) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"camera {name!r}: {label} must be a positive integer, got {v!r}")

        self._K = _readonly(K)
        self._dist = _readonly(dist)
        self._R = _readonly(R)
        self._t = _readonly(t)
        self._width = int(width)
        self._height = int(height)
        self._model = model
        d14 = np.zeros(14)
        d14[: dist.size] = dist
        self._d14 = d14
        lens = np.zeros(LENS_SIZE)
        lens[:5] = K[0, 0], K[1, 1], K[0, 2], K[1, 2], K[0, 1]
        lens[5] = 2.0 if model == "equidistant" else 1.0 if np.any(dist) else 0.0
        lens[6:20] = d14
        if d14[12] or d14[13]:
            lens[20] = 1.0
            lens[21:30] = _tilt_matrix(d14[12], d14[13]).ravel()
        self._lens = _readonly(lens)
        self._Rt = _readonly(np.hstack([self._R, self._t[:, None]]))

    # ------------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        return self._name

    @property
    def K(self) -> np.ndarray:
        """(3,3) intrinsic matrix, pixels (read-only)."""
        return self._K

    @property
    def dist(self) -> np.ndarray:
        """(N,) distortion coefficients (read-only)."""
        return self._dist

    @property
    def R(self) -> np.ndarray:
        """(3,3) world->camera rotation (read-only)."""
        return self._R

    @property
    def t(self) -> np.ndarray:
        """(3,) world->camera translation, metres (read-only)."""
        return self._t

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    @property
    def distortion_model(self) -> str:
        return self._model

    @property
    def has_distortion(self) -> bool:
        """False when raw pixels are ideal pixels (pinhole models with all-zero coefficients).

        The equidistant (fisheye) model always distorts, even with zero coefficients.
        """
        return self._model == "equidistant" or bool(np.any(self._dist))

    @property
    def projection_matrix(self) -> np.ndarray:
        """(3,4) ``K [R | t]``: world metres -> homogeneous *ideal* (undistorted) pixels."""
        return self._K @ np.hstack([self._R, self._t[:, None]])

    @property
    def center(self) -> np.ndarray:
        """(3,) camera centre in world coordinates, metres: ``-R^T t``."""
        return -self._R.T @ self._t

    # ------------------------------------------------------------------ lens kernels
    @property
    def lens(self) -> np.ndarray:
        """(LENS_SIZE,) lens row of the compiled kernels (:func:`stack_lenses`; read-only)."""
        return self._lens

    @property
    def extrinsics(self) -> np.ndarray:
        """(3,4) ``[R | t]`` world -> camera, metres (read-only)."""
        return self._Rt

    # ------------------------------------------------------------------ projection
    def _project(self, X: Any, distort: bool) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.shape[-1:] != (3,):
            raise ValueError(f"camera {self._name!r}: project() needs shape (..., 3), got {X.shape}")
        flat = np.ascontiguousarray(X.reshape(-1, 3))
        return _project_kernel(flat, self._Rt[None], self._lens[None], distort).reshape(X.shape[:-1] + (2,))

    def project(self, X: Any) -> np.ndarray:
        """World points ``X`` (..., 3) metres -> raw (distorted) pixels (..., 2).

        Points on or behind the image plane (``z_cam <= 0``) and non-finite inputs give NaN.
        """
        return self._project(X, True)

    def project_ideal(self, X: Any) -> np.ndarray:
        """World points (..., 3) -> ideal (undistorted) pixels (..., 2); NaN behind the camera."""
        return self._project(X, False)

    # ------------------------------------------------------------------ undistortion
    def _undistort(self, uv: Any, normalized: bool) -> np.ndarray:
        uv = np.asarray(uv, dtype=float)
        if uv.shape[-1:] != (2,):
            raise ValueError(f"camera {self._name!r}: undistort() needs shape (..., 2), got {uv.shape}")
        flat = np.ascontiguousarray(uv.reshape(-1, 2))
        out = _undistort_kernel(flat, np.zeros(flat.shape[0], dtype=np.intp), self._lens[None], normalized)
        return out.reshape(uv.shape)

    def undistort_normalized(self, uv: Any) -> np.ndarray:
        """Raw pixels (..., 2) -> ideal normalised coordinates ``(x/z, y/z)`` (..., 2).

        Damped Newton iterations on the distortion function (an exact 1D inversion of the angle
        for the fisheye model) to ~1e-13 normalised units, i.e. ``undistort(project(X))``
        reproduces the ideal projection to ~1e-9 px. Points where the distortion cannot be
        inverted (outside the model's valid region) and non-finite inputs give NaN.
        """
        return self._undistort(uv, True)

    def undistort(self, uv: Any) -> np.ndarray:
        """Raw (distorted) pixels (..., 2) -> ideal pixels (..., 2) with the same ``K``.

        The result is consistent with :attr:`projection_matrix`: for a world point ``X``,
        ``undistort(project(X))`` equals the dehomogenised ``projection_matrix @ [X, 1]``.
        """
        return self._undistort(uv, False)

    def rays(self, uv: Any) -> np.ndarray:
        """Raw pixels (..., 2) -> unit viewing directions in the world frame (..., 3).

        The ray of pixel ``uv`` is ``center + s * rays(uv)`` for ``s > 0``.
        """
        n = self.undistort_normalized(uv)
        d = np.concatenate([n, np.ones(n.shape[:-1] + (1,))], axis=-1)
        d = d / np.linalg.norm(d, axis=-1, keepdims=True)
        return d @ self._R

    def in_image(self, uv: Any) -> np.ndarray:
        """Boolean (...,) mask: pixel ``uv`` (..., 2) lies inside the image (NaN -> False)."""
        uv = np.asarray(uv, dtype=float)
        with np.errstate(invalid="ignore"):
            return (
                (uv[..., 0] >= -0.5)
                & (uv[..., 0] <= self._width - 0.5)
                & (uv[..., 1] >= -0.5)
                & (uv[..., 1] <= self._height - 0.5)
            )

    # ------------------------------------------------------------------ constructors / copies
    @classmethod
    def from_camera_info(cls, info: Any, R: Any, t: Any, name: str | None = None) -> Camera:
        """Build a camera from a ``sensor_msgs/msg/CameraInfo`` (or a dict with the same keys).

        Uses ``k`` (9 values, row-major K), ``d``, ``distortion_model``, ``width``, ``height``
        (dict keys may also be ``K``/``D``). ``P`` is ignored: the raw image is modelled (K, D).
        ``name`` defaults to ``header.frame_id`` (dict: ``frame_id`` / ``camera_name``), else
        ``"camera"``. ``R`` (3,3), ``t`` (3,) give the world->camera pose in metres.
        """
        get = _getter(info)
        if name is None:
            name = get("frame_id") or get("camera_name")
            if not name:
                header = get("header")
                name = _getter(header)("frame_id") if header is not None else None
            name = name or "camera"
        k = get("k", "K", "camera_matrix")
        if k is None:
            raise ValueError(f"camera {name!r}: CameraInfo has no K")
        if isinstance(k, Mapping) and "data" in k:  # camera_calibration_parsers style
            k = k["data"]
        k = np.asarray(k, dtype=float)
        if k.size != 9:
            raise ValueError(f"camera {name!r}: CameraInfo K must have 9 values, got {k.size}")
        d = get("d", "D", "distortion_coefficients")
        if isinstance(d, Mapping) and "data" in d:
            d = d["data"]
        d = np.asarray(d if d is not None else [], dtype=float).reshape(-1)
        model = get("distortion_model") or "plumb_bob"
        width = get("width", "image_width")
        height = get("height", "image_height")
        if width is None or height is None:
            raise ValueError(f"camera {name!r}: CameraInfo has no width/height")
        return cls(name, k.reshape(3, 3), d, R, t, width, height, model)

    def with_intrinsics(
        self,
        K: Any = None,
        dist: Any = None,
        distortion_model: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> Camera:
        """Copy with new intrinsics (arguments left as None keep the current value); same pose."""
        return Camera(
            self._name,
            self._K if K is None else K,
            self._dist if dist is None else dist,
            self._R,
            self._t,
            self._width if width is None else width,
            self._height if height is None else height,
            self._model if distortion_model is None else distortion_model,
        )

    def with_camera_info(self, info: Any) -> Camera:
        """Copy with the intrinsics of a CameraInfo message (or dict); same name and pose."""
        return Camera.from_camera_info(info, self._R, self._t, name=self._name)

    def with_pose(self, R: Any, t: Any) -> Camera:
        """Copy with a new world->camera pose (R (3,3), t (3,) metres)."""
        return Camera(self._name, self._K, self._dist, R, t, self._width, self._height, self._model)

    def with_name(self, name: str) -> Camera:
        return Camera(name, self._K, self._dist, self._R, self._t, self._width, self._height, self._model)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (lists, floats) suitable for YAML/JSON; inverse of :meth:`from_dict`."""
        return {
            "name": self._name,
            "width": self._width,
            "height": self._height,
            "K": self._K.tolist(),
            "dist": self._dist.tolist(),
            "distortion_model": self._model,
            "R": self._R.tolist(),
            "t": self._t.tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Camera:
        """Inverse of :meth:`to_dict`; missing keys raise ValueError."""
        missing = [k for k in ("name", "width", "height", "K", "R", "t") if k not in d]
        if missing:
            raise ValueError(f"camera dict {d.get('name', '?')!r} lacks keys {missing}")
        return cls(
            d["name"], d["K"], d.get("dist", []), d["R"], d["t"], d["width"], d["height"],
            d.get("distortion_model", "plumb_bob"),
        )

    def allclose(self, other: Camera, rtol: float = 1e-9, atol: float = 1e-9) -> bool:
        """Same model and numerically equal parameters (names are ignored)."""
        if self._model != other._model or (self._width, self._height) != (other._width, other._height):
            return False
        return (
            np.allclose(self._K, other._K, rtol=rtol, atol=atol)
            and np.allclose(self._d14, other._d14, rtol=rtol, atol=atol)
            and np.allclose(self._R, other._R, rtol=rtol, atol=atol)
            and np.allclose(self._t, other._t, rtol=rtol, atol=atol)
        )

    def __repr__(self) -> str:
        K = self._K
        c = self.center
        return (
            f"Camera(name={self._name!r}, {self._width}x{self._height}, "
            f"f=({K[0, 0]:.2f}, {K[1, 1]:.2f}), c=({K[0, 2]:.2f}, {K[1, 2]:.2f}), "
            f"{self._model}{np.round(self._dist, 6).tolist() if np.any(self._dist) else ' (none)'}, "
            f"center=[{c[0]:.3f}, {c[1]:.3f}, {c[2]:.3f}] m)"
        )


def _getter(obj: Any):
    """Return ``get(*keys)``: first present attribute/key of ``obj`` among ``keys`` (or None)."""

    def get(*keys: str) -> Any:
        for key in keys:
            if isinstance(obj, Mapping):
                if key in obj and obj[key] is not None:
                    return obj[key]
            elif hasattr(obj, key):
                return getattr(obj, key)
        return None

    return get
