"""One reconstructed 3D person (COCO-17) as returned by :class:`~ros2_mvpose.geometry.Reconstructor`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ros2_mvpose.skeleton import NUM_JOINTS

__all__ = ["Skeleton3D"]


@dataclass
class Skeleton3D:
    """A 3D skeleton in the world frame.

    Attributes:
        id: stable track id (int >= 0), never reused within one :class:`Reconstructor` instance.
        joints: (17, 3) world coordinates, metres; NaN rows where the joint was not reconstructed.
        scores: (17,) confidence in [0, 1]: mean 2D score of the views that support the joint
            (0 where NaN).
        reprojection_error: (17,) mean distance in raw image pixels between the 2D detections of
            the supporting views and the joint's projection (NaN where not reconstructed).
        n_views: (17,) int number of views supporting each joint (0 where NaN).
        stamp: time of the frame set, seconds (NaN when unknown).
    """

    id: int
    joints: np.ndarray
    scores: np.ndarray
    reprojection_error: np.ndarray
    n_views: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, dtype=int))
    stamp: float = float("nan")

    @property
    def valid(self) -> np.ndarray:
        """(17,) bool: joints that were reconstructed."""
        return np.all(np.isfinite(self.joints), axis=-1)

    @property
    def num_valid(self) -> int:
        """Number of reconstructed joints."""
        return int(self.valid.sum())

    def centroid(self) -> np.ndarray:
        """(3,) mean of the reconstructed joints, metres (NaN when none)."""
        v = self.valid
        return self.joints[v].mean(axis=0) if v.any() else np.full(3, np.nan)
