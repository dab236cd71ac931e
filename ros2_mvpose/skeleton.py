"""COCO-17 keypoint definitions shared by every module.

Joint order (index: name) is the COCO keypoint order used by HigherHRNet:
0 nose, 1 left_eye, 2 right_eye, 3 left_ear, 4 right_ear, 5 left_shoulder,
6 right_shoulder, 7 left_elbow, 8 right_elbow, 9 left_wrist, 10 right_wrist,
11 left_hip, 12 right_hip, 13 left_knee, 14 right_knee, 15 left_ankle, 16 right_ankle.
"Left" is the person's own left.
"""

from __future__ import annotations

NUM_JOINTS: int = 17

COCO17_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

#: Index of each joint's mirror image (used by flip test and left/right checks).
COCO17_FLIP_INDEX: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)

#: Limbs as (joint_a, joint_b) pairs, for drawing and bone-length checks.
COCO17_LIMBS: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (2, 4),          # face
    (5, 6), (5, 11), (6, 12), (11, 12),      # torso
    (5, 7), (7, 9), (6, 8), (8, 10),         # arms
    (11, 13), (13, 15), (12, 14), (14, 16),  # legs
)

#: Left/right bone pairs ((a, b), (a', b')) whose lengths should match on a real body.
COCO17_SYMMETRIC_BONES: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((5, 7), (6, 8)),      # upper arm
    ((7, 9), (8, 10)),     # forearm
    ((11, 13), (12, 14)),  # thigh
    ((13, 15), (14, 16)),  # shin
    ((5, 11), (6, 12)),    # flank
)
