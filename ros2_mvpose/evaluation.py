"""Accuracy against ground truth: matching reconstructed people to true people and per-joint errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ros2_mvpose.skeleton import COCO17_NAMES, NUM_JOINTS


def match_people(
    truth: Sequence[np.ndarray], estimate: Sequence[np.ndarray], max_distance: float = 0.5
) -> list[tuple[int, int]]:
    """Pair estimated with true skeletons by the Hungarian method on mean joint distance.

    Args:
        truth: ``(17, 3)`` true skeletons (metres; NaN joints ignored).
        estimate: ``(17, 3)`` estimated skeletons.
        max_distance: pairs whose mean joint distance exceeds this (metres) are not matched.

    Returns:
        ``(truth_index, estimate_index)`` pairs.
    """
    if not len(truth) or not len(estimate):
        return []
    T = np.asarray(truth, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
    E = np.asarray(estimate, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
    d = np.linalg.norm(T[:, None] - E[None], axis=-1)  # (Nt, Ne, 17)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(d)
        cost = np.where(valid.any(-1), np.nanmean(np.where(valid, d, np.nan), axis=-1), np.inf)
    big = 1e6
    r, c = linear_sum_assignment(np.where(np.isfinite(cost), cost, big))
    return [(int(i), int(j)) for i, j in zip(r, c) if cost[i, j] <= max_distance]


@dataclass
class ErrorStats:
    """Per-joint errors (metres) accumulated over frames, and detection counts."""

    errors: list[np.ndarray] = field(default_factory=list)  # each (17,), NaN where not reconstructed
    true_people: int = 0
    matched_people: int = 0
    false_people: int = 0

    def add_frame(
        self, truth: Sequence[np.ndarray], estimate: Sequence[np.ndarray], max_distance: float = 0.5
    ):
        pairs = match_people(truth, estimate, max_distance)
        self.true_people += len(truth)
        self.matched_people += len(pairs)
        self.false_people += len(estimate) - len(pairs)
        for i, j in pairs:
            self.errors.append(np.linalg.norm(np.asarray(truth[i]) - np.asarray(estimate[j]), axis=-1))

    @property
    def per_joint_mm(self) -> np.ndarray:
        """Mean error per COCO joint in mm (NaN for a joint never reconstructed), shape (17,)."""
        if not self.errors:
            return np.full(NUM_JOINTS, np.nan)
        with np.errstate(invalid="ignore"):
            return 1000.0 * np.nanmean(np.array(self.errors), axis=0)

    @property
    def mean_mm(self) -> float:
        """Mean per-joint position error (MPJPE) in mm over every reconstructed joint."""
        if not self.errors:
            return float("nan")
        e = np.array(self.errors)
        return float(1000.0 * np.nanmean(e)) if np.isfinite(e).any() else float("nan")

    @property
    def joint_coverage(self) -> float:
        """Share of the matched people's joints that were reconstructed."""
        if not self.errors:
            return 0.0
        return float(np.isfinite(np.array(self.errors)).mean())

    @property
    def recall(self) -> float:
        return self.matched_people / self.true_people if self.true_people else float("nan")

    def table(self) -> str:
        pj = self.per_joint_mm
        return "\n".join(f"  {n:<15s} {v:7.1f} mm" for n, v in zip(COCO17_NAMES, pj))


def truth_by_stamp(
    frames: Mapping[int, Mapping[int, tuple[np.ndarray, np.ndarray]]],
    stamp_ns: int,
    tolerance_ns: int = 5_000_000,
) -> list[np.ndarray]:
    """The ground-truth skeletons at the stamp nearest ``stamp_ns`` (within ``tolerance_ns``)."""
    if not frames:
        return []
    keys = np.fromiter(frames.keys(), dtype=np.int64)
    k = int(keys[np.argmin(np.abs(keys - stamp_ns))])
    if abs(k - stamp_ns) > tolerance_ns:
        return []
    return [j for j, _ in frames[k].values()]
