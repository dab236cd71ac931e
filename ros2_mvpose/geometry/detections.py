"""One frame set's per-camera 2D detections, validated and stacked for the reconstruction.

:class:`DetectionStack` turns the ``keypoints2d`` list given to
:meth:`~ros2_mvpose.geometry.Reconstructor.update` (one ``(P_i, 17, 3)`` u, v, score array in raw
pixels, or None, per camera) into flat arrays over all D detections: ideal (undistorted) pixels,
raw pixels, DLT weights and the camera of each detection. Undistortion of all cameras is one
compiled call (:func:`ros2_mvpose.geometry.camera.undistort_pixels`). A frame set with the same
entry shapes as the last one is not validated again, and the work buffers are reused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit

from ros2_mvpose.geometry.camera import undistort_pixels
from ros2_mvpose.skeleton import NUM_JOINTS

__all__ = ["DetectionStack"]

J = NUM_JOINTS
_F64 = np.dtype(np.float64)
_join = bytearray().join  # C-contiguous arrays -> one writable buffer of their bytes


class DetectionStack:
    """Validator and stacker of the detections of one rig's cameras.

    Args:
        names: camera names (C,), for error messages.
        lens: (C, ...) stacked lens parameters (:func:`~ros2_mvpose.geometry.camera.stack_lenses`).
        distorted: (C,) bool, cameras whose raw pixels are not ideal pixels.
    """

    def __init__(self, names: Sequence[str], lens: np.ndarray, distorted: np.ndarray) -> None:
        self._names = list(names)
        self._lens = lens
        self._distorted = np.asarray(distorted, dtype=bool)
        self._gathered: dict[int, tuple[np.ndarray, ...]] = {}
        self._layout: tuple[Any, ...] | None = None  # entry shapes of the last frame set, if valid
        self._used: list[int] | None = None  # cameras with detections (None: all, as given)
        self._cam = self._cam_points = np.zeros(0, dtype=np.intp)  # camera of each detection, keypoint
        self._any_distorted = False

    def __call__(
        self, keypoints2d: Sequence[Any], min_score: float, max_people: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Validate and stack one frame set: ideal pixels uv (D, 17, 2), raw pixels (D, 17, 2),
        DLT weights w (D, 17) (scores clipped to 1; 0 below ``min_score`` or where the pixel
        cannot be undistorted), camera index (D,). At most the ``max_people`` most confident
        detections of a camera are kept. The arrays are work buffers, valid until the next call.

        Raises:
            ValueError: naming the entry and camera (wrong count, shape, type, NaN/inf scores,
                NaN/inf coordinates with a positive score).
        """
        if type(keypoints2d) is not list and type(keypoints2d) is not tuple:
            self._check_container(keypoints2d)
        if len(keypoints2d) != len(self._names):
            raise ValueError(f"keypoints2d has {len(keypoints2d)} entries but the reconstructor has "
                             f"{len(self._names)} cameras")
        # The shapes of float64 arrays (True: no entry; False: anything else, checked below).
        shapes = tuple([kp.shape if type(kp) is np.ndarray and kp.dtype is _F64 else kp is None
                        for kp in keypoints2d])
        if shapes == self._layout:  # the same shapes as the last frame set: already validated
            used = self._used
            arrays = keypoints2d if used is None else [keypoints2d[c] for c in used]
        else:
            arrays = self._validate(keypoints2d, shapes, max_people)
            if not arrays:
                e = np.zeros((0, J, 2))
                return e, e, np.zeros((0, J)), np.zeros(0, dtype=np.intp)
        try:  # (the buffers joined: faster than np.concatenate on a few small arrays)
            A = np.frombuffer(_join(arrays)).reshape(-1, J, 3)
        except TypeError:  # an entry that is not C-contiguous
            A = np.concatenate(arrays)
        cam = self._cam
        flat, uv, raw, w = self._gbuf
        ideal = undistort_pixels(self._lens, self._cam_points, A.reshape(-1, 3)) if self._any_distorted else A
        if not _split(A, ideal.reshape(A.shape[0], J, -1), max(min_score, 1e-12), flat):
            s = A[..., 2]
            bad_s = ~np.isfinite(s).all(-1)
            if bad_s.any():
                c = int(cam[np.flatnonzero(bad_s)[0]])
                raise ValueError(f"keypoints2d[{c}] (camera {self._names[c]!r}): score contains NaN or inf")
            ok = np.isfinite(raw).all(-1)
            if (~ok & (s > 0)).any():
                c = int(cam[np.flatnonzero((~ok & (s > 0)).any(-1))[0]])
                raise ValueError(
                    f"keypoints2d[{c}] (camera {self._names[c]!r}): u, v contain NaN or inf where score > 0"
                )
            raw[~ok] = 0.0
        return uv, raw, w, cam

    def _check_container(self, keypoints2d: Any) -> None:
        C = len(self._names)
        if isinstance(keypoints2d, np.ndarray) and keypoints2d.dtype != object and keypoints2d.ndim != 4:
            raise ValueError(
                f"keypoints2d must be a list of {C} arrays of shape (P_i, 17, 3), got an array of shape "
                f"{keypoints2d.shape}"
            )
        try:
            len(keypoints2d)
        except TypeError:
            raise ValueError(
                f"keypoints2d must be a list of {C} arrays (P_i, 17, 3), got {type(keypoints2d).__name__}"
            ) from None

    def _validate(
        self, keypoints2d: Sequence[Any], shapes: tuple[Any, ...], max_people: int
    ) -> list[np.ndarray]:
        """The non-empty entries as float64 arrays (P_i, 17, 3) (the most confident
        ``max_people`` of each); sets the detection layout (camera of each detection)."""
        arrays, cam_ids = [], []
        cacheable = False not in shapes
        for c, kp in enumerate(keypoints2d):
            if kp is None:
                continue
            if type(kp) is np.ndarray and kp.dtype is _F64:
                a = kp
            else:
                try:
                    a = np.asarray(kp, dtype=float)
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f"keypoints2d[{c}] (camera {self._names[c]!r}): not a numeric array: {exc}"
                    ) from None
            if a.size == 0:
                continue
            if a.shape[1:] != (J, 3) or a.ndim != 3:
                raise ValueError(
                    f"keypoints2d[{c}] (camera {self._names[c]!r}): expected shape (P, {J}, 3) "
                    f"(u, v, score), got {a.shape}"
                )
            if a.shape[0] > max_people:  # keep the most confident detections
                mean_score = np.nan_to_num(a[:, :, 2], nan=-1.0).mean(axis=1)
                a = a[np.sort(np.argsort(-mean_score, kind="stable")[: max_people])]
                cacheable = False
            arrays.append(a)
            cam_ids.append(c)
        self._layout = shapes if cacheable and arrays else None
        if arrays:
            # (None: every entry, as given; else the cameras to take them from)
            self._used = None if cacheable and len(arrays) == len(shapes) else cam_ids
            self._cam = np.repeat(np.array(cam_ids, dtype=np.intp), [a.shape[0] for a in arrays])
            self._cam_points = np.repeat(self._cam, J)  # camera of each keypoint
            self._any_distorted = bool(self._distorted[cam_ids].any())
            D = self._cam.size
            buf = self._gathered.get(D)
            if buf is None:
                if len(self._gathered) > 8:
                    self._gathered.clear()
                flat = np.empty(D * J * 5)
                buf = self._gathered[D] = (flat, *_detection_arrays(flat, D))
            self._gbuf = buf
        return arrays


def _detection_arrays(flat, D):  # noqa: ANN001
    """Ideal pixels uv and raw pixels (D, 17, 2) and weights w (D, 17) of D detections, views
    of one buffer ``flat`` (D * 17 * 5). Plain Python (numpy views with numpy's own dtype
    objects) and compiled (:data:`_detection_arrays_nb`) from this one source."""
    a = D * J * 2
    return (flat[:a].reshape((D, J, 2)), flat[a:2 * a].reshape((D, J, 2)),
            flat[2 * a:2 * a + D * J].reshape((D, J)))


_detection_arrays_nb = njit(cache=True, error_model="numpy", inline="always")(_detection_arrays)


@njit(cache=True, error_model="numpy")
def _split(A, ideal, min_w, flat):  # noqa: ANN001
    """Fill, for the stacked detections A (D, 17, 3), the arrays of :func:`_detection_arrays`
    of ``flat``: the ideal pixels uv (the first two columns of ``ideal`` (D, 17, >= 2); 0 where
    not finite, e.g. not invertible), the raw pixels and the DLT weights w (scores clipped to 1;
    0 below ``min_w`` or where the ideal pixels are not finite). Returns whether every value of
    A is finite."""
    uv, raw, w = _detection_arrays_nb(flat, A.shape[0])
    finite = True
    for d in range(A.shape[0]):
        for j in range(J):
            u, v, s = A[d, j, 0], A[d, j, 1], A[d, j, 2]
            raw[d, j, 0], raw[d, j, 1] = u, v
            x, y = ideal[d, j, 0], ideal[d, j, 1]
            ok = math.isfinite(x) and math.isfinite(y)
            uv[d, j, 0], uv[d, j, 1] = (x, y) if ok else (0.0, 0.0)
            w[d, j] = min(s, 1.0) if (s >= min_w and ok) else 0.0
            if not (math.isfinite(u) and math.isfinite(v) and math.isfinite(s)):
                finite = False
    return finite
