"""Multi-view 3D pose reconstruction: 2D keypoints of N calibrated cameras -> tracked 3D people.

Pipeline of :meth:`Reconstructor.update` (one frame set):

1. validate the input and undistort every camera's keypoints in one call per camera;
2. associate detections across views: detections are first given to the live tracks (each
   track's predicted skeleton is projected into every camera; Hungarian per camera on a
   pixel-distance affinity), then the remaining detections are clustered with epipolar (ray
   closest-approach) affinities under a one-detection-per-camera-per-person constraint
   (:mod:`ros2_mvpose.geometry.association`); clusters seen by fewer than ``min_views``
   cameras are dropped;
3. triangulate every joint of every cluster at once with the confidence-weighted, RANSAC-backed
   DLT of :mod:`ros2_mvpose.geometry.triangulation` (joints with fewer than ``min_views``
   consistent views are NaN);
4. track people in 3D (:mod:`ros2_mvpose.geometry.tracking`): stable ids, birth/death
   hysteresis, optional One Euro smoothing.

One tracked person with at most one detection per camera (the common live case) takes a
dedicated path, :meth:`Reconstructor._update_one`: the same arithmetic from the raw arrays to
the :class:`Skeleton3D` in about 60 numpy calls on preallocated buffers, with cheap sufficient
tests in front of the general path's elementwise decisions; it hands every other case (and
every case a sufficient test cannot settle) to the general code, so results are equal to the
general path's up to rounding (tested to 1e-12).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ros2_mvpose.geometry.association import (
    _track_affinities_p,
    assign_to_tracks,
    greedy_clusters,
    pairwise_affinities,
    ray_directions,
)
from ros2_mvpose.geometry.skeleton3d import Skeleton3D
from ros2_mvpose.geometry.tracking import Tracker
from ros2_mvpose.geometry.triangulation import Triangulator, _SolveWorkspace
from ros2_mvpose.skeleton import NUM_JOINTS

__all__ = ["Reconstructor"]

J = NUM_JOINTS
_ONE_DETECTION = (1, J, 3)
_F64 = np.dtype(np.float64)
# r < _CLEAN_MARGIN for r = e2 / thr2_clean computed in floating point implies e2 < thr2_clean.
_CLEAN_MARGIN = 1.0 - 1e-12
_ONE = np.array(1.0)  # 0-d arrays are cheaper than Python floats as ufunc operands


class _OneTrack:
    """Constants, views and work buffers of :meth:`Reconstructor._update_one` for one rig and
    parameter set (planar layout: per-view arrays (C, 17))."""

    __slots__ = (
        "key", "shapes", "min_w", "lim", "lim0", "lim1", "ws", "K", "UV", "s", "P4", "P3", "XP",
        "X", "pred", "XP1", "zpred", "H", "Hxy", "Hz", "Hz2", "HX", "Hpred", "e", "e0", "e1",
        "ed", "ew", "lt", "Z", "Z0", "W", "vf", "vb", "vdt",
    )

    def __init__(self, rec: Reconstructor) -> None:
        C = len(rec._cameras)
        tri = rec._tri
        self.key = (rec.min_score, rec.min_affinity)
        self.shapes = [_ONE_DETECTION] * C  # one detection per camera
        self.min_w = np.array(max(rec.min_score, 1e-12))  # smallest usable score (0-d)
        # (threshold / 2)^2 ("clean" views of the solution) and the squared sufficient gate
        # radius thr (1 - min_affinity), 1e-9 smaller: an affinity computed from distances
        # within it is >= min_affinity in floating point too. px^2, (2, C, 17).
        gate = (rec._athr * ((1.0 - rec.min_affinity) * (1.0 - 1e-9))) ** 2
        self.lim = np.empty((2, C, J))
        self.lim[0] = rec._thr2p_clean
        self.lim[1] = gate[:, None]
        self.lim0, self.lim1 = self.lim[0], self.lim[1]
        self.ws = _SolveWorkspace(tri, J)
        self.K = self.ws.Q[4:]  # (3, C, 17): u, v, score of the detections
        self.UV = self.ws.UV  # (2, C, 17) ideal pixels
        self.s = self.ws.Q[6]  # (C, 17) scores
        self.P4 = np.concatenate([tri._Pp, tri._Ptp], axis=1)  # (3C, 4), rows (r, c)
        self.P3 = self.P4[2 * C:].copy()  # (C, 4) depth rows
        # Homogeneous solution XP[0] and prediction XP[1], (4, 17) each.
        self.XP = np.empty((2, 4, J))
        self.XP[:, 3] = 1.0
        self.X, self.pred, self.XP1 = self.XP[0, :3], self.XP[1, :3], self.XP[1]
        self.zpred = np.empty((C, J))
        self.H = np.empty((2, 3 * C, J))  # their projections
        H4 = self.H.reshape(2, 3, C, J)
        self.Hxy, self.Hz, self.Hz2, self.HX, self.Hpred = H4[:, :2], H4[:, 2, None], H4[:, 2], H4[0], H4[1]
        self.e = np.empty((2, 2, C, J))
        self.e0, self.e1 = self.e[:, 0], self.e[:, 1]
        self.ed = np.empty((2, C, J))  # squared pixel distances of the solution, the prediction
        self.ew = np.empty((2, C, J))
        self.lt = np.empty((2, C, J), dtype=bool)
        self.Z = np.empty((3, C, J))  # summed over the views: inlier errors, weights, 1.0
        self.Z0, self.W, self.vf = self.Z[0], self.Z[1], self.Z[2]
        self.vb = np.empty((C, J), dtype=bool)
        self.vdt = np.empty((3, 1))


def _by_id(p: Skeleton3D) -> int:
    return p.id


def _positive(name: str, value: Any, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Reconstructor: {name} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"Reconstructor: {name} must be a positive finite number, got {value!r}")
    return v


class Reconstructor:
    """Turns per-camera 2D COCO-17 keypoints into tracked 3D skeletons.

    Args:
        cameras: calibrated cameras (:class:`~ros2_mvpose.geometry.Camera`), at least 2, in the
            order of the ``keypoints2d`` lists given to :meth:`update`. World unit: metres.
        min_views: minimum number of mutually consistent views for a joint (and cameras for a
            person) to be reconstructed; fewer gives NaN. Default 2.
        min_score: 2D keypoints with a score below this are ignored (0..1). Default 0.1.
            Scores are clipped to [0, 1] and used as DLT weights.
        reprojection_threshold: inlier threshold of the robust triangulation, pixels. Default
            None = ``threshold_fraction`` x each camera's image diagonal.
        threshold_fraction: see above. Default 0.02 (~29 px at 1280x720, ~31 px at 1080x1080).
        association_threshold: pixel distance at which a joint's cross-view (epipolar) or
            track-to-detection affinity drops to 0. Default None = ``association_fraction`` x
            image diagonal.
        association_fraction: see above. Default 0.04 (~59 px at 1280x720).
        min_affinity: minimum mean affinity (0..1) to put two detections, or a detection and a
            track, together. Default 0.5.
        min_joints: a person needs at least this many reconstructed joints to be reported.
            Default 5.
        min_common_joints: joints two detections (or a detection and a track) must share to be
            compared. Default 3.
        max_people_per_view: at most this many detections per camera go into association (the
            highest mean score first), so a crowd or a broken 2D model cannot make the quadratic
            association explode. Default 30 (COCO's maximum people per image).
        track_max_distance: tracking gate, mean joint distance in metres between a track's
            prediction (or last position) and a new skeleton. Default 0.5 m.
        n_init: consecutive frame sets before a new person is reported (birth hysteresis;
            twice as many for a person never seen by 3 or more cameras: two views alone can
            pair up different people); during the first ``n_init`` frame sets after
            construction/reset, people seen by at least 3 cameras are reported at once.
            Default 2.
        max_age: seconds a person may go unseen before the track (and its id) ends. Default 1 s.
        smoothing: One Euro filter on the reported joints. Default False.
        min_cutoff: One Euro minimum cutoff, Hz. Default 1.0.
        beta: One Euro speed coefficient, Hz per (m/s). Default 0.5.
        d_cutoff: One Euro derivative cutoff, Hz. Default 1.0.
        use_track_prior: assign detections to live tracks before clustering (faster and more
            robust when people are tracked). Default True.

    Raises:
        ValueError: fewer than 2 cameras, coincident camera centres, invalid parameters.
    """

    def __init__(
        self,
        cameras: Sequence[Any],
        *,
        min_views: int = 2,
        min_score: float = 0.1,
        reprojection_threshold: float | None = None,
        threshold_fraction: float = 0.02,
        association_threshold: float | None = None,
        association_fraction: float = 0.04,
        min_affinity: float = 0.5,
        min_joints: int = 5,
        min_common_joints: int = 3,
        max_people_per_view: int = 30,
        track_max_distance: float = 0.5,
        n_init: int = 2,
        max_age: float = 1.0,
        smoothing: bool = False,
        min_cutoff: float = 1.0,
        beta: float = 0.5,
        d_cutoff: float = 1.0,
        use_track_prior: bool = True,
    ) -> None:
        for name, v, lo in (("min_views", min_views, 2), ("min_joints", min_joints, 1),
                            ("min_common_joints", min_common_joints, 1),
                            ("max_people_per_view", max_people_per_view, 1)):
            if isinstance(v, bool) or int(v) != v or v < lo:
                raise ValueError(f"Reconstructor: {name} must be an integer >= {lo}, got {v!r}")
        if not (0.0 <= float(min_score) <= 1.0):
            raise ValueError(f"Reconstructor: min_score must be in [0, 1], got {min_score!r}")
        if not (0.0 <= float(min_affinity) <= 1.0):
            raise ValueError(f"Reconstructor: min_affinity must be in [0, 1], got {min_affinity!r}")
        self.min_views = int(min_views)
        self.min_score = float(min_score)
        self.reprojection_threshold = _positive("reprojection_threshold", reprojection_threshold, True)
        self.threshold_fraction = _positive("threshold_fraction", threshold_fraction)
        self.association_threshold = _positive("association_threshold", association_threshold, True)
        self.association_fraction = _positive("association_fraction", association_fraction)
        self.min_affinity = float(min_affinity)
        self.min_joints = int(min_joints)
        self.max_people_per_view = int(max_people_per_view)
        self.min_common_joints = int(min_common_joints)
        self.use_track_prior = bool(use_track_prior)
        self._tracker = Tracker(
            max_distance=track_max_distance,
            n_init=n_init,
            max_age=max_age,
            smoothing=smoothing,
            min_cutoff=min_cutoff,
            beta=beta,
            d_cutoff=d_cutoff,
            min_common_joints=min_common_joints,
        )
        self._cameras = list(cameras)
        self._rebuild()
        self._last_stamp: float | None = None
        self._single_fast_path = True  # private switch (tests compare against the general path)

    # ------------------------------------------------------------------ cameras
    @property
    def cameras(self) -> tuple[Any, ...]:
        return tuple(self._cameras)

    @property
    def n_cameras(self) -> int:
        return len(self._cameras)

    @property
    def tracker(self) -> Tracker:
        return self._tracker

    def set_camera(self, index: int, camera: Any) -> None:
        """Replace camera ``index`` (e.g. new intrinsics from CameraInfo); tracks are kept."""
        if not (isinstance(index, int | np.integer) and 0 <= index < len(self._cameras)):
            raise ValueError(
                f"Reconstructor.set_camera: index must be in [0, {len(self._cameras)}), got {index!r}"
            )
        old = self._cameras[index]
        self._cameras[index] = camera
        try:
            self._rebuild()
        except ValueError:
            self._cameras[index] = old
            self._rebuild()
            raise

    def _rebuild(self) -> None:
        cams = self._cameras
        if len(cams) < 2:
            raise ValueError(f"Reconstructor needs at least 2 cameras, got {len(cams)}")
        names = []
        P, centers, focal, diag, undist, rawproj = [], [], [], [], [], []
        for i, cam in enumerate(cams):
            name = getattr(cam, "name", str(i))
            names.append(name)
            try:
                Pi = np.asarray(cam.projection_matrix, dtype=float)
                Ci = np.asarray(cam.center, dtype=float)
                K = np.asarray(cam.K, dtype=float)
                w, h = float(cam.width), float(cam.height)
            except AttributeError as exc:
                raise ValueError(f"camera {i} ({name!r}) is not a Camera: {exc}") from None
            if Pi.shape != (3, 4) or not np.all(np.isfinite(Pi)) or not np.all(np.isfinite(Ci)):
                raise ValueError(f"camera {i} ({name!r}): invalid projection matrix")
            if abs(np.linalg.det(Pi[:, :3])) < 1e-12 * max(np.abs(Pi[:, :3]).max(), 1e-300) ** 3:
                raise ValueError(f"camera {i} ({name!r}): singular projection matrix")
            P.append(Pi)
            centers.append(Ci)
            focal.append(0.5 * (K[0, 0] + K[1, 1]))
            diag.append(math.hypot(w, h))
            distorted = bool(getattr(cam, "has_distortion", True))
            undist.append(distorted)
            rawproj.append(distorted or getattr(cam, "distortion_model", "plumb_bob") == "equidistant")
        centers_a = np.array(centers)
        scale = max(1.0, float(np.abs(centers_a).max()))
        d = np.linalg.norm(centers_a[:, None] - centers_a[None], axis=-1)
        iu = np.triu_indices(len(cams), 1)
        close = d[iu] < 1e-6 * scale
        if close.any():
            a, b = iu[0][close][0], iu[1][close][0]
            raise ValueError(
                f"degenerate calibration: cameras {a} ({names[a]!r}) and {b} ({names[b]!r}) have the same "
                f"centre {centers_a[a].round(6).tolist()}; triangulation needs distinct viewpoints"
            )
        self._names = names
        self._P = np.array(P)
        self._tri = Triangulator(self._P)
        self._centers = centers_a
        self._M_inv = np.linalg.inv(self._P[:, :, :3])
        self._focal = np.array(focal)
        diag_a = np.array(diag)
        self._thr = (
            np.full(len(cams), self.reprojection_threshold)
            if self.reprojection_threshold is not None
            else self.threshold_fraction * diag_a
        )
        self._thr2 = self._thr**2
        self._athr = (
            np.full(len(cams), self.association_threshold)
            if self.association_threshold is not None
            else self.association_fraction * diag_a
        )
        self._undistort = undist
        self._rawproj = rawproj
        self._any_undistort = any(undist)
        self._any_rawproj = any(rawproj)
        self._thr2p = self._thr2[:, None]  # planar layout (C, 1)
        self._thr2p_clean = 0.25 * self._thr2p
        self._focal_col = self._focal[:, None]
        self._strong_views = min(3, len(cams))
        self._cam_key: tuple[int, ...] | None = None  # detection layout of the last frame set
        self._cam_arr = np.zeros(0, dtype=np.intp)
        self._at_most_one = False  # at most one detection per camera in the last layout
        self._undist_cams = [c for c in range(len(cams)) if undist[c]]
        self._athr_col = self._athr[:, None]
        self._fast: _OneTrack | None = None  # buffers of _update_one, made on first use

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget tracks and time (ids keep increasing: they are never reused)."""
        self._tracker.reset()
        self._last_stamp = None

    # ------------------------------------------------------------------ input
    def _check_stamp(self, stamp: Any) -> float:
        try:
            t = float(stamp)
        except (TypeError, ValueError):
            raise ValueError(f"stamp must be a number of seconds, got {stamp!r}") from None
        if not math.isfinite(t):
            raise ValueError(f"stamp must be finite, got {stamp!r}")
        if self._last_stamp is not None and t < self._last_stamp:
            warnings.warn(
                f"Reconstructor: stamp {t:.6f} s is earlier than the previous {self._last_stamp:.6f} s; "
                "tracks reset",
                RuntimeWarning,
                stacklevel=3,
            )
            self._tracker.reset()
        self._last_stamp = t
        return t

    def _gather(self, keypoints2d: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Validate and stack the detections: ideal uv (D,17,2), raw uv, scores (D,17), camera (D,)."""
        C = len(self._cameras)
        if isinstance(keypoints2d, np.ndarray) and keypoints2d.dtype != object and keypoints2d.ndim != 4:
            raise ValueError(
                f"keypoints2d must be a list of {C} arrays of shape (P_i, 17, 3), got an array of shape "
                f"{keypoints2d.shape}"
            )
        try:
            n = len(keypoints2d)
        except TypeError:
            raise ValueError(
                f"keypoints2d must be a list of {C} arrays (P_i, 17, 3), got {type(keypoints2d).__name__}"
            ) from None
        if n != C:
            raise ValueError(f"keypoints2d has {n} entries but the reconstructor has {C} cameras")
        arrays, cam_ids = [], []
        for c, kp in enumerate(keypoints2d):
            if kp is None:
                continue
            if type(kp) is np.ndarray and kp.dtype == np.float64:
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
            if a.shape[0] > self.max_people_per_view:  # keep the most confident detections
                mean_score = np.nan_to_num(a[:, :, 2], nan=-1.0).mean(axis=1)
                a = a[np.sort(np.argsort(-mean_score, kind="stable")[: self.max_people_per_view])]
            arrays.append(a)
            cam_ids.append(c)
        if not arrays:
            e = np.zeros((0, J, 2))
            return e, e, np.zeros((0, J)), np.zeros(0, dtype=np.intp)
        counts = [a.shape[0] for a in arrays]
        key = (*cam_ids, *counts)
        if key == self._cam_key:  # same layout as the last frame set (the steady state)
            cam = self._cam_arr
        else:
            cam = np.repeat(np.array(cam_ids, dtype=np.intp), counts)
            self._cam_key, self._cam_arr = key, cam
            self._athr_det = self._athr[cam]
            # One detection in every camera: a single person needs no scatter into views.
            self._one_per_camera = len(cam_ids) == len(self._cameras) and max(counts) == 1
            self._at_most_one = max(counts) == 1
        A = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
        s = A[..., 2]
        raw = A[..., :2]
        # The sum of the values is finite exactly when they all are (or overflows: checked below).
        if not math.isfinite(np.add.reduce(A, axis=None)) and not np.isfinite(A).all():
            bad_s = ~np.isfinite(s).all(-1)
            if bad_s.any():
                c = int(cam[np.flatnonzero(bad_s)[0]])
                raise ValueError(f"keypoints2d[{c}] (camera {self._names[c]!r}): score contains NaN or inf")
            finite = np.isfinite(raw).all(-1)
            bad_uv = ~finite & (s > 0)
            if bad_uv.any():
                c = int(cam[np.flatnonzero(bad_uv.any(-1))[0]])
                raise ValueError(
                    f"keypoints2d[{c}] (camera {self._names[c]!r}): u, v contain NaN or inf where score > 0"
                )
            raw = np.where(finite[..., None], raw, 0.0)
        w = np.minimum(s, 1.0)
        w = np.where(w >= max(self.min_score, 1e-12), w, 0.0)
        uv = raw
        if self._any_undistort and any(self._undistort[c] for c in cam_ids):
            uv = raw.copy()
            start = 0
            for c, k in zip(cam_ids, counts, strict=True):
                if self._undistort[c]:
                    uv[start:start + k] = self._cameras[c].undistort(raw[start:start + k])
                start += k
            bad = ~np.isfinite(uv).all(-1)  # undistortion failed (outside the model's valid region)
            if bad.any():
                uv = np.where(bad[..., None], 0.0, uv)
                w = np.where(bad, 0.0, w)
        return uv, raw, w, cam

    # ------------------------------------------------------------------ main entry
    def update(self, keypoints2d: Sequence[Any], stamp: float) -> list[Skeleton3D]:
        """Reconstruct and track the people of one synchronized frame set.

        Args:
            keypoints2d: one entry per camera (constructor order): (P_i, 17, 3) array of u, v
                (raw, distorted pixels) and score; P_i may be 0 (or the entry None) when a
                camera sees nobody or has no frame in this set.
            stamp: time of the frame set, seconds (should not decrease; if it does, tracks reset
                with a RuntimeWarning).

        Returns:
            Confirmed people seen in this frame set, sorted by id.

        Raises:
            ValueError: wrong number of entries, wrong shapes, NaN/inf scores, NaN/inf
                coordinates with a positive score, non-finite stamp.
        """
        t = self._check_stamp(stamp)
        single = self._single_fast_path and self.use_track_prior and len(self._tracker.tracks) == 1
        if single:
            with np.errstate(divide="ignore", invalid="ignore"):
                people = self._update_one(keypoints2d, t)
            if people is not None and people is not False:
                return people
            single = people is None  # False: not the single-track steady state (skip _update_single)
        uv, raw, w, cam = self._gather(keypoints2d)
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._update(t, uv, raw, w, cam, single)

    def _update(
        self, t: float, uv: np.ndarray, raw: np.ndarray, w: np.ndarray, cam: np.ndarray, single: bool = True
    ) -> list[Skeleton3D]:
        """:meth:`update` on validated input (runs under ``np.errstate``); ``single`` False
        skips :meth:`_update_single` (:meth:`_update_one` already found the frame set outside
        the single-track steady state)."""
        tracker = self._tracker
        T = len(tracker.tracks) if self.use_track_prior else 0
        if (T == 1 and single and self._single_fast_path
                and self._at_most_one and uv.shape[0] >= self.min_views):
            people = self._update_single(t, uv, raw, w, cam)
            if people is not None:
                return people
        pred = proj = zpred = None
        if T and uv.shape[0]:
            # Tracks' predicted joints in every camera, planar layout: (3, C, T*17).
            pred = tracker.predict(t)  # (T, 17, 3)
            tri = self._tri
            M = T * J
            h = tri._Pp @ pred.reshape(M, 3).T
            h += tri._planar_consts(M)[3]
            h = h.reshape(3, len(self._cameras), M)
            zpred = h[2]  # (C, T*17) depths
            proj = h[:2] / np.where(zpred > 0, zpred, np.nan)  # (2, C, T*17) ideal pixels
        rows, hints, steady = self._associate(uv, w, cam, proj, T)
        if hints.size == 0:
            tracker.update(np.zeros((0, J, 3)), t)
            return []
        joints, scores, errors, n_views, keep = self._triangulate(
            rows, hints, steady, pred, zpred, uv, raw, w, cam
        )
        if keep is not None:
            hints = hints[keep]
        # Start-up births need >= 3 cameras on some joint (2-view clusters can be epipolar ghosts).
        strong = np.maximum.reduce(n_views, -1) >= self._strong_views
        tracks = tracker.update(joints, t, strong, hints)
        return self._people(tracks, joints, scores, errors, n_views, t)

    def _people(
        self,
        tracks: list[Any],
        joints: np.ndarray,
        scores: np.ndarray,
        errors: np.ndarray,
        n_views: np.ndarray,
        t: float,
    ) -> list[Skeleton3D]:
        """The reported people (confirmed tracks, sorted by id) of one frame set."""
        smooth = self._tracker.smoothing
        people = []
        for i, trk in enumerate(tracks):
            if trk is not None:
                X = trk.output.copy() if smooth else joints[i]
                people.append(Skeleton3D(trk.id, X, scores[i], errors[i], n_views[i], t))
        if len(people) > 1:
            people.sort(key=_by_id)
        return people

    def _update_single(
        self, t: float, uv: np.ndarray, raw: np.ndarray, w: np.ndarray, cam: np.ndarray
    ) -> list[Skeleton3D] | None:
        """The steady state of one live track with at most one detection per camera, every
        detection gating to it: the arithmetic of the general path with none of its bookkeeping.
        Returns None (nothing changed) when that case does not hold: the caller then runs the
        general path."""
        tracker = self._tracker
        C = len(self._cameras)
        pred = tracker.predict(t)  # (1, 17, 3)
        tri = self._tri
        h = tri._Pp @ pred.reshape(J, 3).T
        h += tri._planar_consts(J)[3]
        h = h.reshape(3, C, J)
        zpred = h[2]  # (C, 17) depths
        proj = h[:2] / np.where(zpred > 0, zpred, np.nan)  # (2, C, 17) ideal pixels
        aff = _track_affinities_p(
            proj.reshape(2, C, 1, J), uv, w, cam, self._athr_det, self.min_common_joints
        )
        if not np.minimum.reduce(aff, None) >= self.min_affinity:
            return None  # some detection does not gate to the track
        if self._one_per_camera:
            UV = np.ascontiguousarray(uv.transpose(2, 0, 1))  # camera c is detection c
            W = w
        else:
            UV = np.zeros((2, C, J))
            UV[:, cam] = uv.transpose(2, 0, 1)
            W = np.zeros((C, J))
            W[cam] = w
        depth = np.where(zpred > 0, zpred, 1.0)
        scale = np.add.reduce(self._focal_col / depth, 0) / C
        joints, scores, errors, n_views, keep = self._fit(
            UV, W, depth, pred.reshape(J, 3), scale, 1, np.zeros(cam.size, dtype=np.intp), cam, raw
        )
        if keep is not None:
            return None  # too few joints: the general path drops the person
        strong = np.maximum.reduce(n_views, -1) >= self._strong_views
        tracks = tracker._update_steady(joints, t, strong)
        return self._people(tracks, joints, scores, errors, n_views, t)

    def _update_one(self, keypoints2d: Sequence[Any], t: float) -> list[Skeleton3D] | bool | None:
        """:meth:`update` for one live track and numeric arrays of at most one detection per
        camera, from the raw input to the people: the arithmetic of the general path (equal up
        to rounding) in about 60 numpy calls on the preallocated buffers of :class:`_OneTrack`.
        Runs under ``np.errstate``; changes no state (other than its buffers) unless it returns
        people.

        Cheap sufficient tests (counts of float masks) stand in for the general path's
        elementwise decisions (the track gate, "every usable view clean", "every joint seen by
        min_views views"); when one does not pass, the general path's exact test runs.

        Returns the people; None when the input is not in that form (lists, non-numeric arrays,
        several detections in a view, NaN/inf, fewer than ``min_views`` views: the general code
        validates it); False when it is but the frame set is not the steady state of the track
        (a detection does not gate to it, too few joints): the general path handles it.
        """
        cams = self._cameras
        C = len(cams)
        if (type(keypoints2d) is not list and type(keypoints2d) is not tuple) or len(keypoints2d) != C:
            return None
        b = self._fast
        if b is None or b.key != (self.min_score, self.min_affinity):
            b = self._fast = _OneTrack(self)
        missing = None
        try:
            one_each = [kp.shape for kp in keypoints2d] == b.shapes  # one detection per camera
        except AttributeError:  # None or a list somewhere
            one_each = False
        K = b.K  # (3, C, 17): u, v, score
        if one_each:
            try:  # (same float64 values as the general path's np.asarray(kp, dtype=float))
                np.copyto(K, np.concatenate(keypoints2d).transpose(2, 0, 1))
            except (TypeError, ValueError):  # not a numeric numpy array
                return None
        else:
            for c, kp in enumerate(keypoints2d):
                if type(kp) is np.ndarray:
                    if kp.shape == _ONE_DETECTION:
                        if kp.dtype is not _F64:
                            return None
                        continue
                    if kp.size == 0:
                        missing = [c] if missing is None else [*missing, c]
                        continue
                    return None
                if kp is None:
                    missing = [c] if missing is None else [*missing, c]
                    continue
                return None
            if missing is None or C - len(missing) < self.min_views:
                return None
            K[:] = 0.0
            for c, kp in enumerate(keypoints2d):
                if kp is not None and kp.size:
                    K[:, c] = kp[0].T
        if not math.isfinite(np.add.reduce(K, None)):
            return None  # NaN/inf somewhere: the general code validates (and may raise)
        UV = b.UV
        raw = None
        if self._any_rawproj:
            raw = UV.copy()  # raw (distorted) pixels
        if self._any_undistort:
            for c in self._undist_cams:
                if missing is None or c not in missing:
                    UV[:, c] = cams[c].undistort(raw[:, c].T).T
            if not math.isfinite(np.add.reduce(UV, None)):
                return None  # undistortion failed somewhere: the general code zeroes those joints
        s = b.s
        CJ = C * J
        Z = b.Z  # summed over the views at the end: inlier errors, weights, 1.0
        vf = b.vf  # (C, 17) 1.0 for the usable views of each joint, else 0.0
        np.copyto(vf, np.greater_equal(s, b.min_w, out=b.vb))
        n_valid = np.count_nonzero(b.vb)
        W = np.minimum(s, _ONE, out=b.W)  # DLT weights: scores clipped to [0, 1], 0 where not usable
        np.multiply(W, vf, out=W)

        # The track's predicted joints (Tracker.predict), homogeneous, next to the solution.
        tracker = self._tracker
        dt = min(max(t - tracker._common_stamp, 0.0), tracker.max_age)
        pred = b.pred
        vdt = b.vdt  # (3, 1) velocity x dt (Python floats: the same products as numpy's)
        vx, vy, vz = tracker._vel[0].tolist()
        vdt[0, 0], vdt[1, 0], vdt[2, 0] = vx * dt, vy * dt, vz * dt
        np.add(tracker._last[0].T, vdt, out=pred)
        zpred = np.dot(b.P3, b.XP1, out=b.zpred)  # (C, 17) depths of the prediction
        in_front = np.minimum.reduce(zpred, None) > 0  # (False with an unknown joint)
        depth = zpred if in_front else np.where(zpred > 0, zpred, 1.0)

        # Robust triangulation: Triangulator._robust_p with a depth prior (so no refit).
        X = b.X
        b.ws.solve(W, depth, X)  # (3, 17)
        np.matmul(b.P4, b.XP, out=b.H)  # projections of the solution and the prediction
        e = np.divide(b.Hxy, b.Hz, out=b.e)
        np.subtract(e, UV, out=e)
        np.multiply(e, e, out=e)
        ed = np.add(b.e0, b.e1, out=b.ed)  # (2, C, 17) squared pixel distances to the detections
        e2 = ed[0]  # of the solution
        # Sufficient for both decisions below: everything in front of the cameras, every usable
        # view of the solution within half the inlier threshold ("clean") and of the prediction
        # within thr (1 - min_affinity).
        both = False
        if in_front and np.minimum.reduce(b.Hz2, None) > 0:
            ew = np.multiply(ed, vf, out=b.ew)
            both = np.count_nonzero(np.less(ew, b.lim, out=b.lt)) == 2 * CJ

        # Gate: every detection must go to the track (affinity >= min_affinity). Sufficient: the
        # prediction known and in front, every usable joint within thr (1 - min_affinity) of it,
        # and min_common_joints usable joints in each view; else the exact affinity.
        gate = both
        if not both and in_front and not np.count_nonzero(b.Hpred[2] <= 0):
            gate = np.count_nonzero(ed[1] * vf < b.lim1) == CJ
        if gate and CJ - n_valid > J - self.min_common_joints:
            n = np.add.reduce(vf, 1)
            if missing is not None:
                n = np.delete(n, missing)
            gate = np.minimum.reduce(n) >= self.min_common_joints
        if not gate and not self._gate_exact(b.Hpred, UV, W, missing):
            return False

        # Inliers: every usable view when all are clean (sufficient test), else the exact tests.
        if both:
            all_usable = True
            np.sqrt(ew[0], out=b.Z0)
        else:
            z = b.HX[2]
            if np.count_nonzero(z <= 0):
                e2[z <= 0] = np.inf  # behind the camera
            ev = e2 * vf  # NaN where a usable view is NaN/inf or an unusable one inf
            all_usable = np.count_nonzero(ev < b.lim0) == CJ
            if all_usable:
                np.sqrt(ev, out=b.Z0)
        if all_usable:
            mf = vf
        else:
            mf = self._inliers_exact(UV, W, vf, e2, X, depth, pred.T)
            np.sqrt(e2 * mf, out=b.Z0)  # NaN only outside the inliers
            np.fmax(b.Z0, 0.0, out=b.Z0)
            np.multiply(W, mf, out=W)
            vf[:] = mf
            mf = vf
        # Every joint has min_views usable views when at most C - min_views views are unusable.
        sure = all_usable and CJ - n_valid <= C - self.min_views
        if not sure:
            keep = np.add.reduce(mf, 0) >= self.min_views
            n_keep = np.count_nonzero(keep)
            if n_keep < J:
                if n_keep < self.min_joints:
                    return False  # too few joints: the general path drops the person
                X[:, ~keep] = np.nan
                Z *= keep
        if J < self.min_joints:
            return False
        joints = X.T.copy()  # (17, 3)
        if self._any_rawproj:
            self._raw_errors(b.Z0, mf, joints, raw)
        # Mean reprojection error (px) and score over the inlier views of each joint.
        sums = np.add.reduce(Z, 1)  # (3, 17): errors, weights, inlier views
        nvf = sums[2]
        if sure:  # every joint has inliers
            q = sums[:2] / nvf
            err = q[0]
            scores = q[1]
        else:
            err = sums[0] / nvf  # 0 / 0 = NaN where the joint has no inlier view
            scores = sums[1] / np.maximum(nvf, _ONE)
        nv = nvf.astype(np.intp)

        # Tracking: the steady-state update of the one track.
        strong = tracker.tracks[0].strong or np.count_nonzero(nvf >= self._strong_views) > 0
        trk = tracker._update_one(joints, t, strong)
        if trk is None:
            return []
        if tracker.smoothing:
            joints = trk.output.copy()
        return [Skeleton3D(trk.id, joints, scores, err, nv, t)]

    def _gate_exact(self, h: np.ndarray, UV: np.ndarray, W: np.ndarray, missing: list[int] | None) -> bool:
        """Whether every detection gates to the track: the affinity of ``_track_affinities_p``
        (``h`` (3, C, 17) homogeneous projections of the prediction, ``UV`` (2, C, 17))."""
        C = len(self._cameras)
        zpred = h[2]
        d = h[:2] / np.where(zpred > 0, zpred, np.nan)
        d -= UV
        d *= d
        dist = d[0]
        dist += d[1]
        np.sqrt(dist, out=dist)  # NaN where the track's joint is unknown or behind
        S = np.empty((3, C, J))
        wk = np.multiply(W, dist == dist, out=S[1])
        aff = dist / self._athr_col
        np.subtract(1.0, aff, out=aff)
        np.fmax(aff, 0.0, out=aff)
        np.multiply(wk, aff, out=S[0])
        np.not_equal(wk, 0.0, out=S[2])
        num, den, n = np.add.reduce(S, -1)
        aff = np.where(n >= self.min_common_joints, num / den, 0.0)
        if missing is not None:
            aff = np.delete(aff, missing)
        return bool(np.minimum.reduce(aff) >= self.min_affinity)

    def _inliers_exact(
        self,
        UV: np.ndarray,
        W: np.ndarray,
        vf: np.ndarray,
        e2: np.ndarray,
        X: np.ndarray,
        depth: np.ndarray,
        pred: np.ndarray,
    ) -> np.ndarray:
        """Inlier views (C, 17) as float 0/1 by the exact tests of ``Triangulator._robust_p``
        (RANSAC and refits for the joints with a usable view that is not clean); updates ``X``
        and ``e2`` in place. Joints with fewer than ``min_views`` inliers are left to the caller."""
        C = len(self._cameras)
        valid = vf > 0
        thr2 = self._thr2p
        mask = e2 < thr2
        mask &= valid
        diff = valid > (e2 < self._thr2p_clean)  # usable views that are not clean
        if np.count_nonzero(diff):
            bad = np.flatnonzero(np.logical_or.reduce(diff, 0) & (np.add.reduce(valid, 0) >= self.min_views))
            if bad.size:
                scale = np.add.reduce(self._focal_col / depth, 0) / C
                self._tri._refine_p(UV, W, valid, thr2, bad, X, mask, e2, depth, True, pred, scale)
        return mask.astype(float)

    def _raw_errors(self, E: np.ndarray, mf: np.ndarray, joints: np.ndarray, raw: np.ndarray) -> None:
        """Replace the inlier errors ``E`` (C, 17) of the cameras with lens distortion (or
        fisheye) by errors in raw pixels: ``joints`` (17, 3) projected with distortion against
        the raw detections ``raw`` (2, C, 17)."""
        for c in range(len(self._cameras)):
            if self._rawproj[c] and np.count_nonzero(mf[c]):
                p = np.asarray(self._cameras[c].project(joints))  # (17, 2) raw pixels
                e = np.sqrt(((p - raw[:, c].T) ** 2).sum(-1))
                E[c] = np.where(mf[c] > 0, e, 0.0)

    # ------------------------------------------------------------------ association
    def _associate(
        self, uv: np.ndarray, w: np.ndarray, cam: np.ndarray, proj: np.ndarray | None, T: int
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Person row (D,) of each detection (-1: none), the track index of each row (-1: new)
        and whether the steady state holds (every detection went to a track, every track kept:
        rows are the track indices 0..T-1). ``proj``: (2, C, T*17) projections of the tracks'
        predictions (planar layout), or None.

        Rows 0..T-1 are the live tracks (those with at least ``min_views`` detections are kept),
        later rows are new clusters. Returned rows are renumbered 0..N-1 over the kept persons.
        """
        D = uv.shape[0]
        if D == 0:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp), False
        n_rows = 0
        if proj is None:
            row = np.full(D, -1, dtype=np.intp)
        else:
            projp = proj.reshape(2, len(self._cameras), T, J)
            aff = _track_affinities_p(projp, uv, w, cam, self._athr_det, self.min_common_joints)
            # Confirmed tracks win ties against tentative ones (possible ghosts).
            bonus = np.array([0.0 if t.id is None else 0.1 for t in self._tracker.tracks])
            row = assign_to_tracks(aff, cam, self.min_affinity, bonus)
            n_rows = T
            if np.count_nonzero(row < 0) == 0:
                # Every detection explained by a track (the steady state): no clustering.
                if np.count_nonzero(np.bincount(row, minlength=T) < self.min_views) == 0:
                    return row, self._tracker._steady_hints, True
        free = np.flatnonzero(row < 0)
        if free.size:
            seeds: list[list[int]] = []
            seed_rows: list[int] = []
            if n_rows:
                order = np.argsort(row, kind="stable")
                sr = row[order]
                start = int(np.searchsorted(sr, 0))
                if start < D:
                    bounds = np.flatnonzero(np.diff(sr[start:])) + 1
                    for grp in np.split(order[start:], bounds):
                        seeds.append(grp.tolist())
                        seed_rows.append(int(row[grp[0]]))
            is_free = np.zeros(D, dtype=bool)
            is_free[free] = True
            other = np.arange(D)
            ok = cam[free][:, None] != cam[None, :]
            # Free-free pairs once (a < b); free-seeded pairs always.
            ok &= ~is_free[None, :] | (free[:, None] < other[None, :])
            ia, ib = np.nonzero(ok)
            if ia.size:
                pa, pb = free[ia], other[ib]
                involved = np.unique(np.concatenate([pa, pb]))
                dirs = np.zeros((D, J, 3))
                dirs[involved] = ray_directions(uv[involved], cam[involved], self._M_inv)
                paff = pairwise_affinities(
                    pa, pb, dirs, w, cam, self._centers, self._focal, self._athr, self.min_common_joints
                )
                clusters = greedy_clusters(D, cam, pa, pb, paff, self.min_affinity, seeds)
                for k, members in enumerate(clusters):
                    if k < len(seeds):
                        row[members] = seed_rows[k]
                    elif len(members) >= self.min_views:
                        row[members] = n_rows
                        n_rows += 1
        # Keep persons seen by at least min_views cameras; renumber rows.
        counts = np.bincount(row[row >= 0], minlength=n_rows)
        kept = np.flatnonzero(counts >= self.min_views)
        remap = np.full(n_rows + 1, -1, dtype=np.intp)
        remap[kept] = np.arange(kept.size)
        row = remap[row]  # -1 maps to remap[-1] == -1
        hints = np.where(kept < T, kept, -1) if proj is not None else np.full(kept.size, -1, dtype=np.intp)
        return row, hints, False

    # ------------------------------------------------------------------ triangulation
    def _triangulate(
        self,
        row: np.ndarray,
        hints: np.ndarray,
        steady: bool,
        pred: np.ndarray | None,
        zpred: np.ndarray | None,
        uv: np.ndarray,
        raw: np.ndarray,
        w: np.ndarray,
        cam: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Joints (K,17,3), scores (K,17), mean errors (K,17) px, n_views (K,17) int, kept persons
        (N,) bool (None: all kept).

        Works in the planar layout of :meth:`Triangulator._robust_p`: per-view arrays (C, N*17).
        ``pred`` (T, 17, 3) and ``zpred`` (C, T*17): the tracks' predictions and their depths.
        """
        C = len(self._cameras)
        N = hints.size
        M = N * J
        if steady or row.min() >= 0:
            ci, cc, uvs, ws, raws = row, cam, uv, w, raw
        else:
            di = np.flatnonzero(row >= 0)
            ci, cc, uvs, ws, raws = row[di], cam[di], uv[di], w[di], raw[di]
        if N == 1 and self._one_per_camera and steady:
            UV = np.ascontiguousarray(uvs.transpose(2, 0, 1))  # (2, C, 17): camera c is detection c
            W = ws
        else:
            UV = np.zeros((2, C, N, J))
            UV[:, cc, ci] = uvs.transpose(2, 0, 1)
            W = np.zeros((C, N, J))
            W[cc, ci] = ws
            UV = UV.reshape(2, C, M)
            W = W.reshape(C, M)
        depth = prior = scale = None
        if zpred is not None and (steady or (hints >= 0).any()):
            # Tracked people: depth prior (inverse-depth weights in one pass) and the predicted
            # joints as a tie-breaker for the RANSAC hypotheses.
            if steady:
                zt, prior = zpred, pred
            else:
                tr = hints >= 0
                z3 = zpred.reshape(C, -1, J)
                if tr.all():
                    same = N == z3.shape[1] and (hints == np.arange(N)).all()
                    zt = zpred if same else z3[:, hints]
                    prior = pred if same else pred[hints]
                else:
                    zt = np.ones((C, N, J))
                    zt[:, tr] = z3[:, hints[tr]]
                    prior = np.full((N, J, 3), np.nan)
                    prior[tr] = pred[hints[tr]]
                zt = zt.reshape(C, M)
            depth = np.where(zt > 0, zt, 1.0)
            prior = prior.reshape(M, 3)
            scale = np.add.reduce(self._focal_col / depth, 0) / C  # mean over the cameras
        return self._fit(UV, W, depth, prior, scale, N, ci, cc, raws)

    def _fit(
        self,
        UV: np.ndarray,
        W: np.ndarray,
        depth: np.ndarray | None,
        prior: np.ndarray | None,
        scale: np.ndarray | None,
        N: int,
        ci: np.ndarray,
        cc: np.ndarray,
        raws: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Robust fit of N persons in the planar layout (UV (2, C, N*17), W and depth (C, N*17),
        prior (N*17, 3), scale (N*17,)); ``ci``, ``cc``, ``raws``: person row, camera and raw
        pixels (D', 17, 2) of each used detection. Returns what :meth:`_triangulate` does."""
        C = len(self._cameras)
        M = N * J
        X, inl, errs, nv = self._tri._robust_p(
            UV, W, W > 0, self._thr2p, self._thr2p_clean, self.min_views, depth, True, prior, scale
        )
        joints = np.ascontiguousarray(X.T).reshape(N, J, 3)
        raw_cams = [c for c in range(C) if self._rawproj[c] and inl[c].any()] if self._any_rawproj else ()
        Z = np.empty((2, C, M))
        if raw_cams:
            rawb = np.zeros((N, J, C, 2))
            rawb[ci, :, cc] = raws
            errs = errs.copy()
            for c in raw_cams:
                p = np.asarray(self._cameras[c].project(joints))  # (N, 17, 2) raw pixels
                e = np.sqrt(((p - rawb[:, :, c]) ** 2).sum(-1))
                errs[c] = np.where(inl[c], e.reshape(M), np.nan)
            Z[0] = np.where(inl, errs, 0.0)
        else:
            np.fmax(errs, 0.0, out=Z[0])  # errors are NaN exactly outside the inliers
        np.multiply(W, inl, out=Z[1])
        esum, wsum = np.add.reduce(Z, 1)  # sums over the inlier views
        # Means over the inlier views: 0 / 0 = NaN error where a joint has none, score 0 there.
        err = (esum / nv).reshape(N, J)
        scores = (wsum / np.maximum(nv, 1)).reshape(N, J)
        nv = nv.reshape(N, J)
        if N == 1:
            if np.count_nonzero(nv) >= self.min_joints:
                return joints, scores, err, nv, None
            keep = np.zeros(1, dtype=bool)
        else:
            keep = np.add.reduce(nv > 0, -1) >= self.min_joints
        if np.count_nonzero(keep) == N:
            return joints, scores, err, nv, None
        return joints[keep], scores[keep], err[keep], nv[keep], keep
