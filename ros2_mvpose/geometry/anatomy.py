"""Anatomical plausibility of triangulated COCO-17 skeletons (pure numpy).

Multi-view geometry cannot reject a joint whose views agree on the wrong 3D point: the same wrong
body part (another person's ear, a hand behind a shoulder) in two or three views, or a weak pair
of detections whose rays happen to meet far from the body. Such a joint makes a bone that no
human has. :func:`implausible_joints` names the joints to blame for bones too long for the
person's own size, whatever the world unit: each skeleton's scale is the median ratio of its
body bones to an adult's (:data:`BONES`), and a bone is implausible beyond its largest ratio
times that scale (1.6 to 4 times the typical length, so that posture, the spread of 2D
keypoints and real body proportions never reach it). The reconstruction leaves those joints
undefined rather than move them anywhere.
"""

from __future__ import annotations

import numpy as np

from ros2_mvpose.skeleton import NUM_JOINTS

__all__ = ["BONES", "bone_lengths", "implausible_joints"]

#: COCO-17 bones (a, b), a the proximal end: (typical length of a 1.7 m adult in metres,
#: largest plausible ratio to it at the person's scale). The face "bones" come last.
BONES: dict[tuple[int, int], tuple[float, float]] = {
    (5, 6): (0.35, 2.0),                         # shoulder width
    (5, 11): (0.52, 1.75), (6, 12): (0.52, 1.75),  # shoulder - hip
    (11, 12): (0.24, 2.25),                      # hip width
    (5, 7): (0.30, 1.8), (6, 8): (0.30, 1.8),    # upper arm
    (7, 9): (0.26, 1.9), (8, 10): (0.26, 1.9),   # forearm
    (11, 13): (0.43, 1.6), (12, 14): (0.43, 1.6),  # thigh
    (13, 15): (0.41, 1.7), (14, 16): (0.41, 1.7),  # shin
    (0, 1): (0.05, 4.0), (0, 2): (0.05, 4.0),    # nose - eye
    (1, 3): (0.10, 3.0), (2, 4): (0.10, 3.0),    # eye - ear
    (0, 3): (0.12, 2.5), (0, 4): (0.12, 2.5),    # nose - ear
}
_N_BODY = 12  # the first 12 bones set the scale
_MIN_SCALE_BONES = 4  # fewer defined body bones: no scale, no check
_BONES = np.array(list(BONES), dtype=np.intp)  # (B, 2)
_TYPICAL = np.array([v[0] for v in BONES.values()])  # (B,)
_RATIO = np.array([v[1] for v in BONES.values()])  # (B,)


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., B) lengths (world units; NaN where an end is undefined) of the bones of
    :data:`BONES`, in its order, for skeletons ``joints`` (..., 17, 3)."""
    d = joints[..., _BONES[:, 0], :] - joints[..., _BONES[:, 1], :]
    return np.sqrt(np.einsum("...k,...k->...", d, d))


def implausible_joints(joints: np.ndarray, n_views: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Joints to leave undefined so that no bone is implausibly long for the person's size.

    Per too-long bone, the end to blame is the one in more too-long bones, else the one with
    fewer views, else the larger reprojection error, else the distal one; blamed joints are
    removed and the bones checked again until none is too long. Skeletons with fewer than 4
    defined body bones (no reliable scale) are not judged.

    Args:
        joints: (N, 17, 3) world units, NaN = undefined.
        n_views: (N, 17) consistent views per joint.
        errors: (N, 17) mean reprojection error per joint, pixels (NaN = undefined).

    Returns:
        (N, 17) bool.
    """
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"implausible_joints: expected (N, {NUM_JOINTS}, 3) joints, got {joints.shape}")
    N = joints.shape[0]
    blame = np.zeros((N, NUM_JOINTS), dtype=bool)
    ratio = bone_lengths(joints) / _TYPICAL  # (N, B)
    body = np.sort(ratio[:, :_N_BODY], axis=1)  # NaN last
    n_def = np.count_nonzero(np.isfinite(body), axis=1)
    scale = body[np.arange(N), np.maximum(n_def - 1, 0) // 2]  # (lower) median over defined bones
    limit = _RATIO * np.where(n_def >= _MIN_SCALE_BONES, scale, np.inf)[:, None]  # (N, B)
    bad = ratio > limit  # NaN compares False
    if not bad.any():  # the common case
        return blame
    err = np.nan_to_num(errors, nan=np.inf)
    while bad.any():
        count = np.zeros((N, NUM_JOINTS), dtype=np.intp)
        n_idx, b_idx = np.nonzero(bad)
        np.add.at(count, (n_idx, _BONES[b_idx, 0]), 1)
        np.add.at(count, (n_idx, _BONES[b_idx, 1]), 1)
        for n, b in zip(n_idx, b_idx):
            a, e = _BONES[b]
            ka = (count[n, a], -n_views[n, a], err[n, a], 0)
            ke = (count[n, e], -n_views[n, e], err[n, e], 1)
            blame[n, a if ka > ke else e] = True
        bad = bone_lengths(np.where(blame[..., None], np.nan, joints)) / _TYPICAL > limit
    return blame
