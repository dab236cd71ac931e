"""Multi-view 3D pose reconstruction: 2D keypoints of N calibrated cameras -> tracked 3D people.

One path for one to many people, batched over people, joints and cameras. Pipeline of
:meth:`Reconstructor.update` (one frame set):

1. validate the input and stack it, undistorting the keypoints of all cameras in one compiled
   call (:mod:`ros2_mvpose.geometry.detections`);
2. associate detections across views: detections are first given to the live tracks (each
   track's predicted skeleton is projected into every camera; Hungarian per camera on a
   pixel-distance affinity), then the remaining detections are clustered with epipolar (ray
   closest-approach) affinities under a one-detection-per-camera-per-person constraint
   (:mod:`ros2_mvpose.geometry.association`); clusters seen by fewer than ``min_views``
   cameras are dropped;
3. triangulate every joint of every person in one call of the confidence-weighted, RANSAC-backed
   DLT of :mod:`ros2_mvpose.geometry.triangulation` (tracked joints use the track's predicted
   depths as weights and its position as a RANSAC tie-breaker; joints with fewer than
   ``min_views`` consistent views are NaN); a joint that makes a bone longer than any human's
   (:mod:`ros2_mvpose.geometry.anatomy`: views that agree on the wrong point) is NaN too; then
   a tracked person's NaN joint that one view sees near the track's prediction is put on that
   view's ray (``single_view_distance``) and checked again; finally the joints are reprojected
   through each lens (:func:`ros2_mvpose.geometry.camera.project_pixels`) for the errors in raw
   pixels;
4. track people in 3D (:mod:`ros2_mvpose.geometry.tracking`): stable ids, birth/death
   hysteresis, optional One Euro smoothing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit

from ros2_mvpose.geometry.anatomy import reject_implausible
from ros2_mvpose.geometry.association import (
    greedy_clusters,
    match_tracks,
    pairwise_affinities,
    ray_directions,
)
from ros2_mvpose.geometry.camera import project_pixels, stack_lenses
from ros2_mvpose.geometry.detections import DetectionStack
from ros2_mvpose.geometry.skeleton3d import Skeleton3D
from ros2_mvpose.geometry.tracking import Tracker
from ros2_mvpose.geometry.triangulation import Triangulator
from ros2_mvpose.skeleton import NUM_JOINTS

__all__ = ["Reconstructor"]

J = NUM_JOINTS
_NO_PRED = np.zeros((0, J, 3))


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
        single_view_distance: a tracked person's joint that fewer than ``min_views`` views agree
            on, but that one of its views sees within this distance (metres) of the track's
            predicted joint, is placed on that view's ray at the point nearest the prediction
            (``n_views`` 1): the view gives the direction, the track the depth. 0 turns this off
            (such joints are NaN). Never used for untracked people or joints no view sees.
            Default 0.2 m.

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
        single_view_distance: float = 0.2,
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
        self.single_view_distance = 0.0 if single_view_distance == 0 else _positive(
            "single_view_distance (metres, 0 = off)", single_view_distance)
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

    # ------------------------------------------------------------------ cameras
    @property
    def cameras(self) -> tuple[Any, ...]:
        return tuple(self._cameras)

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
        names, P, centers, focal, diag = [], [], [], [], []
        for i, cam in enumerate(cams):
            name = getattr(cam, "name", str(i))
            names.append(name)
            try:
                Pi = np.asarray(cam.projection_matrix, dtype=float)
                Ci = np.asarray(cam.center, dtype=float)
                K = np.asarray(cam.K, dtype=float)
                w, h = float(cam.width), float(cam.height)
                cam.lens, cam.extrinsics, cam.has_distortion  # noqa: B018 - what the lens kernels read
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
        self._tri = Triangulator(np.array(P))
        self._lens, self._Rt = stack_lenses(cams)
        self._distorted = np.array([c.has_distortion for c in cams])  # raw pixels are not ideal
        self._centers = centers_a
        self._M_inv = self._tri.M_inv
        self._focal = np.array(focal)
        diag_a = np.array(diag)
        self._thr = (
            np.full(len(cams), self.reprojection_threshold)
            if self.reprojection_threshold is not None
            else self.threshold_fraction * diag_a
        )
        self._athr = (
            np.full(len(cams), self.association_threshold)
            if self.association_threshold is not None
            else self.association_fraction * diag_a
        )
        self._strong_views = min(3, len(cams))
        self._no_proj = np.zeros((0, J, len(cams), 3))
        self._index = np.zeros(0, dtype=np.intp)
        self._buffers: dict[int, tuple[np.ndarray, ...]] = {}
        self._gather = DetectionStack(names, self._lens, self._distorted)

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
        uv, raw, w, cam = self._gather(keypoints2d, self.min_score, self.max_people_per_view)
        tracker = self._tracker
        T = len(tracker.tracks) if self.use_track_prior and uv.shape[0] else 0
        pred, proj = _NO_PRED, self._no_proj
        if T:
            pred = tracker.predict(t)  # (T, 17, 3)
            proj = self._tri.project(pred)  # (T, 17, C, 3) homogeneous
        rows, hints = self._associate(uv, w, cam, proj if T else None)
        if hints.size == 0:
            tracker.update(_NO_PRED, t)
            return []
        joints, scores, errors, n_views, strong, keep = self._triangulate(
            rows, hints, pred, proj, uv, raw, w, cam
        )
        if joints.shape[0] < hints.size:
            hints = hints[keep]
        # Start-up births need >= 3 cameras on some joint (2-view clusters can be epipolar ghosts).
        tracks = tracker.update(joints, t, strong, hints)
        people = [
            Skeleton3D(trk.id, trk.output.copy() if tracker.smoothing else joints[i], scores[i], errors[i],
                       n_views[i], t)
            for i, trk in enumerate(tracks)
            if trk is not None
        ]
        if len(people) > 1:
            people.sort(key=_by_id)
        return people

    # ------------------------------------------------------------------ association
    def _associate(
        self, uv: np.ndarray, w: np.ndarray, cam: np.ndarray, proj: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Person row (D,) of each detection (-1: none) and the track index of each row (-1:
        new). ``proj``: (T, 17, C, 3) homogeneous projections of the tracks' predictions, or None.

        Rows 0..T-1 are the live tracks (those with at least ``min_views`` detections are kept),
        later rows are new clusters. Returned rows are renumbered 0..N-1 over the kept persons.
        """
        D = uv.shape[0]
        if D == 0:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        T = 0 if proj is None else proj.shape[0]
        n_rows = T
        if proj is None:
            row = np.full(D, -1, dtype=np.intp)
        else:
            # Confirmed tracks win ties against tentative ones (possible ghosts).
            bonus = np.array([0.0 if t.id is None else 0.1 for t in self._tracker.tracks])
            row = match_tracks(proj, uv, w, cam, self._athr, self.min_affinity, bonus, self.min_common_joints)
            rl = row.tolist()  # (Python lists: faster than numpy on a few elements)
            if -1 not in rl and min(map(rl.count, range(T))) >= self.min_views:
                return row, self._tracker_index(T)  # every detection to a track, every track kept
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
        return row, np.where(kept < T, kept, -1)

    def _tracker_index(self, T: int) -> np.ndarray:
        if self._index.size != T:
            self._index = np.arange(T)
        return self._index

    # ------------------------------------------------------------------ triangulation
    def _triangulate(
        self,
        row: np.ndarray,
        hints: np.ndarray,
        pred: np.ndarray,
        proj: np.ndarray,
        uv: np.ndarray,
        raw: np.ndarray,
        w: np.ndarray,
        cam: np.ndarray,
    ) -> tuple[np.ndarray, ...]:
        """Joints (K, 17, 3), scores (K, 17), mean raw-pixel errors (K, 17), n_views (K, 17),
        strong evidence (K,) (a joint seen by 3 cameras) of the persons kept (N,) bool (at least
        ``min_joints`` joints) among the N rows.

        ``pred`` (T, 17, 3) and ``proj`` (T, 17, C, 3): the tracks' predicted joints and their
        homogeneous projections
        (tracked persons use them as depth weights and as a RANSAC tie-breaker).
        """
        N = hints.size
        buf = self._buffers.get(N)
        if buf is None:  # per-person work arrays (M = N * 17 points), filled by _person_views
            if len(self._buffers) > 8:
                self._buffers.clear()
            M, C = N * J, self._focal.size
            flat = np.empty(M * (6 * C + 4))
            buf = self._buffers[N] = (flat, *_person_arrays(flat, M, C))
        flat, UV, RAW, W, depth, prior, scale = buf
        _person_views(uv, raw, w, row, cam, hints, pred, proj, self._focal, flat)
        res = self._tri.robust(UV, W, self._thr, self.min_views, depth, True, prior, scale)
        # A bone no human has: the joint to blame is left undefined (never moved).
        undefined = reject_implausible(res.points, res.inliers, res.errors, res.n_views)
        # Tracked joints that no views agree on (or that the anatomy check rejected), seen by one
        # view near the track's prediction: on that view's ray, and checked again.
        svd = self.single_view_distance
        if undefined and svd > 0.0 and self._tri.place_on_rays(UV, W, prior, svd, res):
            reject_implausible(res.points, res.inliers, res.errors, res.n_views)
        reproj = project_pixels(self._lens, self._Rt, res.points)
        joints = res.points.reshape(N, J, 3)
        stats, flags = _person_stats(reproj, RAW, W, res.inliers, res.n_views, N, self.min_joints,
                                     self._strong_views)
        scores, errors, strong, keep = stats[0], stats[1], flags[0], flags[1]
        nv = res.n_views.reshape(N, J)
        if False not in keep.tolist():
            return joints, scores, errors, nv, strong, keep
        return joints[keep], scores[keep], errors[keep], nv[keep], strong[keep], keep


def _person_arrays(flat, M, C):  # noqa: ANN001
    """The per-point work arrays of M points and C cameras, views of one buffer ``flat``
    (M * (6 C + 4)): ideal pixels UV and raw pixels RAW (M, C, 2), scores W and depths (M, C),
    positions (M, 3), pixels per metre (M,). Plain Python and compiled
    (:data:`_person_arrays_nb`) from this one source."""
    a, b = 2 * M * C, M * C
    return (flat[:a].reshape((M, C, 2)), flat[a:2 * a].reshape((M, C, 2)),
            flat[2 * a:2 * a + b].reshape((M, C)), flat[2 * a + b:3 * a].reshape((M, C)),
            flat[3 * a:3 * a + 3 * M].reshape((M, 3)), flat[3 * a + 3 * M:3 * a + 4 * M])


_person_arrays_nb = njit(cache=True, error_model="numpy", inline="always")(_person_arrays)


@njit(cache=True, error_model="numpy")
def _person_views(uv, raw, w, row, cam, hints, pred, proj, focal, flat):  # noqa: ANN001
    """Fill the per-point (M = N * 17 points, person-major), per-camera arrays
    (:func:`_person_arrays` of ``flat``) from the detections (D, 17, ...) with their person
    ``row`` and camera ``cam``: ideal pixels UV and raw pixels RAW (M, C, 2), scores W (M, C)
    (0: not seen); for persons with a track (``hints`` >= 0, into ``pred`` (T, 17, 3) and their
    homogeneous projections ``proj`` (T, 17, C, 3)): predicted depths (M, C), positions (M, 3)
    and pixels per metre (M,) (NaN elsewhere)."""
    C = focal.size
    UV, RAW, W, depth, prior, scale = _person_arrays_nb(flat, hints.size * J, C)
    UV[:] = 0.0
    RAW[:] = 0.0
    W[:] = 0.0
    depth[:] = np.nan
    prior[:] = np.nan
    scale[:] = np.nan
    for d in range(row.size):
        n, c = row[d], cam[d]
        if n < 0:
            continue
        for j in range(J):
            m = n * J + j
            UV[m, c] = uv[d, j]
            RAW[m, c] = raw[d, j]
            W[m, c] = w[d, j]
    for n in range(hints.size):
        k = hints[n]
        if k < 0:
            continue
        for j in range(J):
            m = n * J + j
            prior[m] = pred[k, j]
            s = 0.0
            for c in range(C):
                z = proj[k, j, c, 2]
                depth[m, c] = z
                s += focal[c] / z
            scale[m] = s / C


@njit(cache=True, error_model="numpy")
def _person_stats(reproj, RAW, W, inl, nv, N, min_joints, strong_views):  # noqa: ANN001
    """Per person (N) and joint: scores and errors (2, N, 17) (the mean score of the inlier
    views, 0 where none; the mean raw-pixel error, ``reproj`` (M, C, 2) against RAW, NaN where
    no inlier view) and, per person (2, N): whether some joint has ``strong_views`` views, and
    whether the person has at least ``min_joints`` joints."""
    C = inl.shape[1]
    stats = np.empty((2, N, J))
    flags = np.zeros((2, N), dtype=np.bool_)
    for n in range(N):
        n_joints = 0
        for j in range(J):
            m = n * J + j
            stats[0, n, j], stats[1, n, j] = 0.0, np.nan
            if nv[m] == 0:
                continue
            n_joints += 1
            flags[0, n] |= nv[m] >= strong_views
            e = s = 0.0
            for c in range(C):
                if inl[m, c]:
                    du, dv = reproj[m, c, 0] - RAW[m, c, 0], reproj[m, c, 1] - RAW[m, c, 1]
                    e += math.sqrt(du * du + dv * dv)
                    s += W[m, c]
            stats[1, n, j] = e / nv[m]
            stats[0, n, j] = s / nv[m]
        flags[1, n] = n_joints >= min_joints
    return stats, flags
