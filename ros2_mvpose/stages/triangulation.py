"""Triangulation stage: CameraInfo and one set of 2D keypoint clouds -> tracked 3D people.

No rclpy graph: ``triangulator_node`` queues clouds and publishes what this stage returns, and
``mvpose bag`` feeds it the clouds the detection stage produced. Extrinsics come from the rig;
intrinsics from the rig until the first valid CameraInfo of a camera, then from the latest
valid CameraInfo (the Reconstructor's camera is replaced only when K, D, the model or the size
change). A malformed CameraInfo or cloud, a cloud from the wrong frame, a camera without
intrinsics, or a failing reconstruction each become a
:class:`~ros2_mvpose.stages.problems.Problem`; nothing raises.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ros2_mvpose.ros.camera_info import camera_from_info_msg, camera_info_key
from ros2_mvpose.ros.params import kwargs_of, param
from ros2_mvpose.ros.pointcloud import cloud_to_keypoints
from ros2_mvpose.skeleton import NUM_JOINTS
from ros2_mvpose.stages.problems import Problem, problem_key


@dataclass
class ReconstructionParams:
    """Keyword arguments of ``ros2_mvpose.geometry.Reconstructor`` (same names and defaults;
    a test checks they agree with its signature). ``0`` means None (automatic) where noted."""

    min_views: int = param(
        2,
        "Minimum number of mutually consistent views for a joint (and cameras for a person) to be "
        "reconstructed; fewer gives NaN.",
    )
    min_score: float = param(
        0.1, "2D keypoints with a score below this are ignored (0..1); scores are used as DLT weights."
    )
    reprojection_threshold: float = param(
        0.0,
        "Inlier threshold of the robust triangulation, pixels; 0 = threshold_fraction x each camera's "
        "image diagonal.",
        zero_is_none=True,
    )
    threshold_fraction: float = param(
        0.02,
        "Inlier threshold as a fraction of the image diagonal when reprojection_threshold is 0 "
        "(0.02: ~29 px at 1280x720).",
    )
    association_threshold: float = param(
        0.0,
        "Pixel distance at which a joint's cross-view (epipolar) or track-to-detection affinity drops "
        "to 0; 0 = association_fraction x image diagonal.",
        zero_is_none=True,
    )
    association_fraction: float = param(
        0.04, "Association distance as a fraction of the image diagonal when association_threshold is 0."
    )
    min_affinity: float = param(
        0.5, "Minimum mean affinity (0..1) to put two detections, or a detection and a track, together."
    )
    min_joints: int = param(5, "A person needs at least this many reconstructed joints to be reported.")
    min_common_joints: int = param(
        3, "Joints two detections (or a detection and a track) must share to be compared."
    )
    max_people_per_view: int = param(
        30,
        "At most this many detections per camera go into association (highest mean score first), so "
        "a crowd or a broken 2D model cannot make the quadratic association explode.",
    )
    track_max_distance: float = param(
        0.5, "Tracking gate: mean joint distance in metres between a track's prediction and a new skeleton."
    )
    n_init: int = param(
        2,
        "Consecutive sets before a new person is reported (birth hysteresis); during the first n_init "
        "sets after start or reset, people seen by at least 3 cameras are reported at once.",
    )
    max_age: float = param(1.0, "Seconds a person may go unseen before the track (and its id) ends.")
    smoothing: bool = param(False, "One Euro filter on the reported joints.")
    min_cutoff: float = param(1.0, "One Euro minimum cutoff, Hz.")
    beta: float = param(0.5, "One Euro speed coefficient, Hz per (m/s).")
    d_cutoff: float = param(1.0, "One Euro derivative cutoff, Hz.")
    use_track_prior: bool = param(
        True,
        "Assign detections to live tracks before clustering (faster and more robust when people are "
        "tracked).",
    )
    single_view_distance: float = param(
        0.2,
        "A tracked person's joint that fewer than min_views views agree on, but that one view sees "
        "within this distance (metres) of the track's prediction, is placed on that view's ray nearest "
        "the prediction (n_views 1); 0 = off (such joints are NaN).",
    )


def people_arrays(people: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ids (P,) int64, joints (P, 17, 3) metres, scores (P, 17))`` of reconstructed people."""
    ids = np.array([int(q.id) for q in people], dtype=np.int64)
    joints = np.array([q.joints for q in people], dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
    scores = np.array([q.scores for q in people], dtype=np.float64).reshape(-1, NUM_JOINTS)
    return ids, joints, scores


@dataclass
class TriangulationResult:
    """What one set produced.

    Attributes:
        people: reconstructed, tracked people (``Skeleton3D``); empty when the set failed.
        ids, joints, scores: the same as arrays (:func:`people_arrays`).
        header_stamp: the newest member's header stamp, copied exactly (outputs carry it).
        problems: everything skipped.
        ok: False when the reconstruction failed (nothing to publish).
        timings: seconds spent in ``decode`` and ``reconstruct``.
    """

    people: list
    ids: np.ndarray
    joints: np.ndarray
    scores: np.ndarray
    header_stamp: Any
    problems: list[Problem] = field(default_factory=list)
    ok: bool = True
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class DecodedKeypoints:
    """A camera's keypoints handed over without a cloud (detector and triangulator in one
    process): ``header`` as the cloud's would be (the image's stamp and frame_id), ``keypoints``
    ``(P, 17, 3)`` u, v, score in raw image pixels."""

    header: Any
    keypoints: np.ndarray


def _placeholder_camera(name: str, R: np.ndarray, t: np.ndarray):
    """A valid camera at the rig pose holding a slot until real intrinsics arrive (never fed)."""
    from ros2_mvpose.geometry import Camera

    K = np.array([[1000.0, 0.0, 499.5], [0.0, 1000.0, 499.5], [0.0, 0.0, 1.0]])
    return Camera(name, K, np.zeros(5), R, t, 1000, 1000)


class TriangulationStage:
    """Keypoint clouds of N cameras -> tracked 3D skeletons (see the module docstring).

    Args:
        rig_cameras: the rig's cameras (``RigCamera``: name, frame_id, R, t, optional camera).
        reconstruction: Reconstructor settings.
        check_frame_id: reject clouds and CameraInfo whose non-empty ``header.frame_id`` differs
            from the camera's rig ``frame_id`` (default: the camera name).
    """

    def __init__(
        self,
        rig_cameras: Sequence[Any],
        reconstruction: ReconstructionParams | None = None,
        check_frame_id: bool = True,
    ):
        from ros2_mvpose.geometry.reconstructor import Reconstructor

        if not rig_cameras:
            raise ValueError("the rig has no cameras")
        self.names = [c.name for c in rig_cameras]
        self.frame_ids = [c.frame_id or c.name for c in rig_cameras]
        self._R = [np.asarray(c.R, float) for c in rig_cameras]
        self._t = [np.asarray(c.t, float).reshape(3) for c in rig_cameras]
        #: per camera the Camera in use, or None (no intrinsics yet)
        self.cameras: list[Any] = [c.camera for c in rig_cameras]
        self.check_frame_id = bool(check_frame_id)
        self._info_key: list[tuple | None] = [None] * len(self.names)
        slots = [
            cam if cam is not None else _placeholder_camera(name, R, t)
            for cam, name, R, t in zip(self.cameras, self.names, self._R, self._t)
        ]
        self.reconstructor = Reconstructor(slots, **kwargs_of(reconstruction or ReconstructionParams()))

    @property
    def n_cameras(self) -> int:
        return len(self.names)

    def intrinsics_source(self, index: int) -> str:
        """Where camera ``index``'s intrinsics come from: ``camera_info``, ``rig`` or ``none``."""
        if self._info_key[index] is not None:
            return "camera_info"
        return "rig" if self.cameras[index] is not None else "none"

    def on_camera_info(self, index: int, info: Any) -> tuple[bool, Problem | None]:
        """Take a camera's CameraInfo. Returns ``(intrinsics changed, problem or None)``; an
        invalid one is ignored (the rig's or the previous intrinsics stay)."""
        key = camera_info_key(info)
        if key == self._info_key[index]:
            return False, None
        frame = getattr(getattr(info, "header", None), "frame_id", "")
        if self.check_frame_id and frame and frame != self.frame_ids[index]:
            return False, Problem(
                index,
                "camera_info:frame_id",
                f"CameraInfo has frame_id {frame!r}, expected {self.frame_ids[index]!r}; ignored",
            )
        try:
            cam = camera_from_info_msg(info, self._R[index], self._t[index], self.names[index])
            self.reconstructor.set_camera(index, cam)
        except Exception as exc:  # noqa: BLE001 - any malformed CameraInfo is a problem, never a crash
            kept = "rig/previous intrinsics kept" if self.cameras[index] is not None else "camera skipped"
            return False, Problem(
                index, "camera_info:" + problem_key(exc), f"invalid CameraInfo: {exc}; {kept}"
            )
        self._info_key[index] = key
        self.cameras[index] = cam
        return True, None

    def decode(self, index: int, cloud: Any) -> tuple[np.ndarray | None, Problem | None]:
        """A camera's ``(P, 17, 3)`` keypoints from its cloud, or ``(None, problem)``."""
        frame = cloud.header.frame_id
        if self.check_frame_id and frame and frame != self.frame_ids[index]:
            return None, Problem(
                index,
                "frame_id",
                f"keypoint cloud has frame_id {frame!r}, expected {self.frame_ids[index]!r}; camera skipped",
            )
        if self.cameras[index] is None:
            return None, Problem(
                index,
                "no_intrinsics",
                "no intrinsics yet (none in the rig, no valid CameraInfo); camera skipped",
            )
        try:
            kp = cloud.keypoints if isinstance(cloud, DecodedKeypoints) else cloud_to_keypoints(cloud)
        except Exception as exc:  # noqa: BLE001 - any malformed cloud is a problem, never a crash
            return None, Problem(
                index, "cloud:" + problem_key(exc), f"bad keypoint cloud: {exc}; camera skipped"
            )
        if kp.shape[0] and not np.all(np.isfinite(kp[:, :, :2][kp[:, :, 2] > 0])):
            return None, Problem(
                index,
                "cloud:non_finite",
                "keypoint cloud has non-finite coordinates with a positive score; camera skipped",
            )
        return kp, None

    def on_set(self, clouds: Sequence[Any], stamp: float) -> TriangulationResult:
        """Reconstruct one synchronized set (``None`` = camera not in the set) taken at ``stamp`` s."""
        if len(clouds) != self.n_cameras:
            raise ValueError(f"got {len(clouds)} clouds for {self.n_cameras} cameras")
        t0 = time.perf_counter()
        problems: list[Problem] = []
        kps = []
        for i, cloud in enumerate(clouds):
            kp = None
            if cloud is not None:
                kp, problem = self.decode(i, cloud)
                if problem is not None:
                    problems.append(problem)
            kps.append(kp if kp is not None else np.zeros((0, NUM_JOINTS, 3)))
        present = [c for c in clouds if c is not None]
        newest = max(present, key=lambda c: (c.header.stamp.sec, c.header.stamp.nanosec)) if present else None
        header_stamp = newest.header.stamp if newest is not None else None
        t1 = time.perf_counter()
        try:
            people = list(self.reconstructor.update(kps, float(stamp)))
            ok = True
        except Exception as exc:  # noqa: BLE001 - a bad set never stops the node
            problems.append(
                Problem(
                    None,
                    "reconstruction",
                    f"reconstruction failed on the set at {stamp:.3f} s: {type(exc).__name__}: {exc}",
                )
            )
            people, ok = [], False
        t2 = time.perf_counter()
        ids, joints, scores = people_arrays(people)
        return TriangulationResult(
            people,
            ids,
            joints,
            scores,
            header_stamp,
            problems,
            ok,
            {"decode": t1 - t0, "reconstruct": t2 - t1},
        )

    def reset(self) -> None:
        """Forget the tracks (a replay loop or a clock jump); intrinsics are kept."""
        self.reconstructor.reset()
