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
from numba import njit

from ros2_mvpose.skeleton import NUM_JOINTS

__all__ = ["BONES", "bone_lengths", "implausible_joints", "reject_implausible"]

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


@njit(cache=True)
def _blame(X, n_views, errors, bones, typical, max_ratio, n_body, min_bones, blame):
    """:func:`implausible_joints` for one batch, compiled: writes ``blame`` (N, 17)."""
    B = bones.shape[0]
    r = np.empty(B)
    body = np.empty(n_body)
    for n in range(X.shape[0]):
        nb = 0
        for b in range(B):
            a, e = bones[b, 0], bones[b, 1]
            dx = X[n, a, 0] - X[n, e, 0]
            dy = X[n, a, 1] - X[n, e, 1]
            dz = X[n, a, 2] - X[n, e, 2]
            r[b] = np.sqrt(dx * dx + dy * dy + dz * dz) / typical[b]
            if b < n_body and np.isfinite(r[b]):
                body[nb] = r[b]
                nb += 1
        if nb < min_bones:
            continue
        scale = np.sort(body[:nb])[(nb - 1) // 2]  # (lower) median
        while True:
            count = np.zeros(X.shape[1], dtype=np.int64)
            any_bad = False
            for b in range(B):
                a, e = bones[b, 0], bones[b, 1]
                if not (blame[n, a] or blame[n, e]) and r[b] > max_ratio[b] * scale:
                    count[a] += 1
                    count[e] += 1
                    any_bad = True
            if not any_bad:
                break
            new = np.zeros(X.shape[1], dtype=np.bool_)
            for b in range(B):
                a, e = bones[b, 0], bones[b, 1]
                if blame[n, a] or blame[n, e] or not r[b] > max_ratio[b] * scale:
                    continue
                # The end in more bad bones, else fewer views, else the larger error, else distal.
                if count[a] != count[e]:
                    pick_a = count[a] > count[e]
                elif n_views[n, a] != n_views[n, e]:
                    pick_a = n_views[n, a] < n_views[n, e]
                else:
                    ea = errors[n, a] if np.isfinite(errors[n, a]) else np.inf
                    ee = errors[n, e] if np.isfinite(errors[n, e]) else np.inf
                    pick_a = ea > ee
                new[a if pick_a else e] = True
            for j in range(X.shape[1]):
                if new[j]:
                    blame[n, j] = True


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
    blame = np.zeros(joints.shape[:2], dtype=bool)
    _blame(np.ascontiguousarray(joints, dtype=np.float64), np.ascontiguousarray(n_views, dtype=np.int64),
           np.ascontiguousarray(errors, dtype=np.float64), _BONES, _TYPICAL, _RATIO, _N_BODY,
           _MIN_SCALE_BONES, blame)
    return blame


@njit(cache=True, error_model="numpy")
def _reject(points, inliers, errors, n_views):  # noqa: ANN001
    """:func:`reject_implausible`, compiled (the bone table is compiled in)."""
    M, C = inliers.shape
    N = M // NUM_JOINTS
    X = points.reshape(N, NUM_JOINTS, 3)
    nv = n_views.reshape(N, NUM_JOINTS)
    e = np.full((N, NUM_JOINTS), np.nan)
    for m in range(M):
        if n_views[m] > 0:
            s = 0.0
            for c in range(C):
                if inliers[m, c]:
                    s += errors[m, c]
            e[m // NUM_JOINTS, m % NUM_JOINTS] = s / n_views[m]
    blame = np.zeros((N, NUM_JOINTS), dtype=np.bool_)
    _blame(X, nv, e, _BONES, _TYPICAL, _RATIO, _N_BODY, _MIN_SCALE_BONES, blame)
    undefined = 0
    for m in range(M):
        if blame[m // NUM_JOINTS, m % NUM_JOINTS]:
            points[m, :] = np.nan
            inliers[m, :] = False
            errors[m, :] = np.nan
            n_views[m] = 0
        undefined += n_views[m] == 0
    return undefined


def reject_implausible(
    points: np.ndarray, inliers: np.ndarray, errors: np.ndarray, n_views: np.ndarray
) -> int:
    """:func:`implausible_joints` on a triangulation of N skeletons (M = N * 17 points,
    person-major: ``points`` (M, 3), ``inliers`` (M, C) bool, ``errors`` (M, C) pixels,
    ``n_views`` (M,) int64, as :class:`~ros2_mvpose.geometry.triangulation.TriangulationResult`
    holds them; the joint error is the mean over its inlier views): the blamed joints become
    undefined in place (NaN, no inliers, 0 views). Returns the number of undefined points."""
    return int(_reject(points, inliers, errors, n_views))
