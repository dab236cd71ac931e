"""The offline Python API: a 2D backend plus the Reconstructor on synchronized image sets.

Used by ``mvpose images`` and the demo; the batch runs through the detection stage's
``detect`` (``ros2_mvpose.stages.detection``), the one the detector node and ``mvpose bag`` use.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ros2_mvpose.pose2d.backend import PoseBackend
from ros2_mvpose.skeleton import NUM_JOINTS
from ros2_mvpose.stages.detection import DetectionStage


@dataclass
class FrameResult:
    """What one synchronized set produced.

    Attributes:
        stamp: set time in seconds.
        keypoints2d: per camera ``(P_i, 17, 3)`` u, v, score in raw pixels (empty for a missing camera).
        people: reconstructed, tracked people (``Skeleton3D``: ``id``, ``joints`` (17, 3) metres, ...).
        timings: seconds spent per stage: ``model`` (2D backend) and ``reconstruct``.
    """

    stamp: float
    keypoints2d: list[np.ndarray]
    people: list
    timings: dict[str, float] = field(default_factory=dict)


class MultiViewPipeline:
    """Detect 2D poses in every camera of a set and reconstruct tracked 3D skeletons.

    Args:
        cameras: ``ros2_mvpose.geometry.Camera`` list, in the order images are given.
        backend: a 2D ``PoseBackend`` (see ``ros2_mvpose.pose2d.select.select_backend``).
        **reconstructor_params: passed to ``ros2_mvpose.geometry.Reconstructor``.
    """

    def __init__(self, cameras: Sequence, backend: PoseBackend, **reconstructor_params):
        from ros2_mvpose.geometry.reconstructor import Reconstructor

        self.cameras = list(cameras)
        self.backend = backend
        self.reconstructor = Reconstructor(self.cameras, **reconstructor_params)
        self._stage = DetectionStage(backend, len(self.cameras))

    def detect(self, images: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        """2D keypoints per camera; ``None`` images (missing cameras) give empty arrays."""
        kps = self._stage.detect(images)
        return [np.zeros((0, NUM_JOINTS, 3)) if kp is None else kp.astype(np.float64) for kp in kps]

    def process(self, images: Sequence[np.ndarray | None], stamp: float) -> FrameResult:
        """Run the 2D backend and the reconstructor on one set taken at ``stamp`` seconds."""
        t0 = time.perf_counter()
        kps = self.detect(images)
        t1 = time.perf_counter()
        people = self.reconstructor.update(kps, float(stamp))
        t2 = time.perf_counter()
        return FrameResult(float(stamp), kps, people, {"model": t1 - t0, "reconstruct": t2 - t1})
