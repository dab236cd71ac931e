"""An adult COCO-17 body model and its deterministic motion (walking, turning, raising arms).

Frames: the world is z-up with the ground plane at ``z = 0`` (metres). Each person has a local
frame at the ground point below the pelvis: ``+x`` forward, ``+y`` the person's left, ``+z`` up;
the local frame is the world frame turned by the heading ``yaw`` about ``z``.

Ground truth convention: ``nose``, ``eyes`` and ``ears`` are the modelled facial features (nose
tip, front of the eyeball at the pupil, centre of the ear); every other COCO joint is the
anatomical joint centre. COCO annotators mark shoulders and hips higher than the joint centres;
:func:`coco_label_offsets` / :func:`to_coco_labels` give the label convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ros2_mvpose.skeleton import NUM_JOINTS

#: Standing height (m) the proportions below are written for.
REFERENCE_HEIGHT = 1.70

# Segment lengths and offsets for a 1.70 m adult (m), from common anthropometric ratios.
_HIP_HALF_WIDTH = 0.09  # hip joint centres, lateral
_SHOULDER_HALF_WIDTH = 0.175  # glenohumeral joint centres, lateral
_THIGH = 0.41
_SHIN = 0.41
_ANKLE_HEIGHT = 0.085  # ankle joint centre above the sole
_HIP_TO_SHOULDER = 0.47
_HIP_TO_NECK = 0.54
_HIP_TO_HEAD = 0.70  # head centre (middle of the skull ellipsoid)
_UPPER_ARM = 0.29
_FOREARM = 0.25

#: Facial features relative to the head centre, in the person frame (x fwd, y left, z up).
HEAD_RADII = np.array([0.095, 0.077, 0.108])
EYE_OFFSET = np.array([0.078, 0.032, -0.005])  # eyeball centre (left eye; mirror y for right)
EYE_RADIUS = 0.014
NOSE_BRIDGE = np.array([0.086, 0.0, -0.004])
NOSE_TIP = np.array([0.104, 0.0, -0.036])
NOSE_RADII = (0.009, 0.013)
EAR_OFFSET = np.array([-0.008, 0.080, -0.015])  # ear centre (left ear)

#: COCO label offsets along the torso's up axis (m): shoulders ~4 cm, hips ~3 cm above the centre.
COCO_SHOULDER_OFFSET = 0.04
COCO_HIP_OFFSET = 0.03


def rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass
class Appearance:
    """Colours (linear RGB in [0, 1]) and size of one person."""

    height: float = REFERENCE_HEIGHT
    skin: tuple[float, float, float] = (0.62, 0.40, 0.29)
    hair: tuple[float, float, float] = (0.05, 0.03, 0.02)
    shirt: tuple[float, float, float] = (0.70, 0.06, 0.05)
    trousers: tuple[float, float, float] = (0.05, 0.08, 0.20)
    shoes: tuple[float, float, float] = (0.03, 0.03, 0.03)


@dataclass
class PosedBody:
    """One person at one instant, everything in world coordinates (metres).

    Attributes:
        joints: ``(17, 3)`` COCO-17 ground truth (see module doc for the convention).
        yaw: heading (rad) of the person frame about world ``z``.
        frame: ``(3, 3)`` person frame axes as columns (x fwd, y left, z up), world.
        head_center: ``(3,)`` centre of the skull ellipsoid.
        neck_base: ``(3,)`` base of the neck (between the shoulders).
        pelvis: ``(3,)`` middle of the hip joint centres.
        arm_frames: ``(2, 3, 3)`` left/right upper-arm frames (columns; local ``-z`` points along
            the upper arm to the elbow).
        hand_frames: ``(2, 3, 3)`` left/right hand frames (local ``-z`` along the hand).
    """

    joints: np.ndarray
    yaw: float
    frame: np.ndarray
    head_center: np.ndarray
    neck_base: np.ndarray
    pelvis: np.ndarray
    arm_frames: np.ndarray
    hand_frames: np.ndarray
    appearance: Appearance = field(default_factory=Appearance)

    @property
    def scale(self) -> float:
        return self.appearance.height / REFERENCE_HEIGHT


def pose_body(
    root_xy: tuple[float, float],
    yaw: float,
    walk_phase: float,
    walk_amount: float = 1.0,
    arm_raise: tuple[float, float] = (0.0, 0.0),
    appearance: Appearance | None = None,
    raise_plane: float = 0.0,
) -> PosedBody:
    """Pose the body model.

    Args:
        root_xy: world ``(x, y)`` of the ground point below the pelvis (m).
        yaw: heading (rad), ``0`` faces world ``+x``.
        walk_phase: gait phase of the left leg (rad); the right leg is half a cycle behind.
        walk_amount: 0 (standing) .. 1 (full walking stride).
        arm_raise: left/right arm raise, 0 (at the side, swinging) .. 1 (raised ~150 deg sideways).
        appearance: size and colours (default: a 1.70 m adult).
        raise_plane: plane the arms rise in (rad): 0 sideways, ``pi / 2`` straight forward.

    Returns:
        The posed body; ``joints`` holds the exact COCO-17 ground truth.
    """
    app = appearance or Appearance()
    s = app.height / REFERENCE_HEIGHT
    w = float(np.clip(walk_amount, 0.0, 1.0))

    # --- legs (local frame): hip flexion about the lateral axis, knee flexes in swing.
    leg = []
    for side, phase in ((1.0, walk_phase), (-1.0, walk_phase + math.pi)):
        hip_flex = w * math.radians(24.0) * math.sin(phase)
        swing = max(0.0, math.cos(phase))  # foot moving forward
        knee_flex = math.radians(4.0) + w * math.radians(55.0) * swing**2
        thigh_dir = np.array([math.sin(hip_flex), 0.0, -math.cos(hip_flex)])
        shin_dir = np.array([math.sin(hip_flex - knee_flex), 0.0, -math.cos(hip_flex - knee_flex)])
        knee_rel = _THIGH * s * thigh_dir
        ankle_rel = knee_rel + _SHIN * s * shin_dir
        leg.append((side, knee_rel, ankle_rel))
    # Pelvis height such that the lower ankle is at ankle height (feet on the ground).
    hip_z = _ANKLE_HEIGHT * s - min(a[2] for _, _, a in leg)
    pelvis_l = np.array([0.0, 0.0, hip_z])

    local: dict[int, np.ndarray] = {}
    for side, knee_rel, ankle_rel in leg:
        hip = pelvis_l + np.array([0.0, side * _HIP_HALF_WIDTH * s, 0.0])
        j_hip, j_knee, j_ankle = (11, 13, 15) if side > 0 else (12, 14, 16)
        local[j_hip] = hip
        local[j_knee] = hip + knee_rel
        local[j_ankle] = hip + ankle_rel

    # --- arms: abduction (raise sideways), flexion (swing), elbow flexion.
    arm_frames_l, hand_frames_l = [], []
    for i, (side, phase) in enumerate(((1.0, walk_phase + math.pi), (-1.0, walk_phase))):
        r = float(np.clip(arm_raise[i], 0.0, 1.0))
        r = r * r * (3.0 - 2.0 * r)  # ease in/out
        abduction = math.radians(8.0 + 142.0 * r)
        flexion = (1.0 - r) * w * math.radians(18.0) * math.sin(phase)
        elbow = math.radians(12.0 + (1.0 - r) * w * 12.0 * max(0.0, math.sin(phase)) + 8.0 * r)
        r_arm = rot_y(-flexion) @ rot_z(-side * raise_plane * r) @ rot_x(side * abduction)
        shoulder = np.array([0.0, side * _SHOULDER_HALF_WIDTH * s, hip_z + _HIP_TO_SHOULDER * s])
        elbow_p = shoulder + r_arm @ np.array([0.0, 0.0, -_UPPER_ARM * s])
        r_fore = r_arm @ rot_y(-elbow)
        wrist = elbow_p + r_fore @ np.array([0.0, 0.0, -_FOREARM * s])
        j_sh, j_el, j_wr = (5, 7, 9) if side > 0 else (6, 8, 10)
        local[j_sh], local[j_el], local[j_wr] = shoulder, elbow_p, wrist
        arm_frames_l.append(r_arm)
        hand_frames_l.append(r_fore)

    head_l = np.array([0.01 * s, 0.0, hip_z + _HIP_TO_HEAD * s])
    neck_l = np.array([0.0, 0.0, hip_z + _HIP_TO_NECK * s])
    mirror = np.array([1.0, -1.0, 1.0])
    local[0] = head_l + s * (NOSE_TIP + np.array([NOSE_RADII[1], 0.0, 0.0]))
    local[1] = head_l + s * (EYE_OFFSET + np.array([EYE_RADIUS, 0.0, 0.0]))
    local[2] = head_l + s * mirror * (EYE_OFFSET + np.array([EYE_RADIUS, 0.0, 0.0]))
    local[3] = head_l + s * EAR_OFFSET
    local[4] = head_l + s * mirror * EAR_OFFSET

    frame = rot_z(yaw)
    origin = np.array([root_xy[0], root_xy[1], 0.0])

    def to_world(v: np.ndarray) -> np.ndarray:
        return origin + frame @ v

    joints = np.stack([to_world(local[j]) for j in range(NUM_JOINTS)])
    return PosedBody(
        joints=joints,
        yaw=float(yaw),
        frame=frame,
        head_center=to_world(head_l),
        neck_base=to_world(neck_l),
        pelvis=to_world(pelvis_l),
        arm_frames=np.stack([frame @ m for m in arm_frames_l]),
        hand_frames=np.stack([frame @ m for m in hand_frames_l]),
        appearance=app,
    )


def coco_label_offsets(joints: np.ndarray) -> np.ndarray:
    """Offsets ``(..., 17, 3)`` (m) from joint centres to where COCO annotators label them.

    Shoulders move ``COCO_SHOULDER_OFFSET`` and hips ``COCO_HIP_OFFSET`` along the torso's up
    axis (mid-hip to mid-shoulder); all other joints are unchanged.
    """
    joints = np.asarray(joints, float)
    up = 0.5 * (joints[..., 5, :] + joints[..., 6, :]) - 0.5 * (joints[..., 11, :] + joints[..., 12, :])
    up = up / np.linalg.norm(up, axis=-1, keepdims=True)
    off = np.zeros_like(joints)
    off[..., [5, 6], :] = COCO_SHOULDER_OFFSET * up[..., None, :]
    off[..., [11, 12], :] = COCO_HIP_OFFSET * up[..., None, :]
    return off


def to_coco_labels(joints: np.ndarray) -> np.ndarray:
    """Joint centres ``(..., 17, 3)`` -> positions in the COCO label convention."""
    return np.asarray(joints, float) + coco_label_offsets(joints)


# --------------------------------------------------------------------------- motion scripts

#: Shirt / trousers colours for up to three people (linear RGB).
_OUTFITS = (
    ((0.70, 0.06, 0.05), (0.04, 0.07, 0.20), (0.05, 0.03, 0.02), (0.62, 0.40, 0.29)),
    ((0.08, 0.35, 0.70), (0.22, 0.20, 0.16), (0.30, 0.17, 0.07), (0.78, 0.55, 0.42)),
    ((0.85, 0.60, 0.05), (0.03, 0.03, 0.04), (0.02, 0.02, 0.02), (0.38, 0.22, 0.14)),
)
_HEIGHTS = (1.70, 1.78, 1.64)
_STRIDE = 1.0  # m per gait cycle
_SPEED = 0.75  # m/s


def _bump(t: float, start: float, rise: float, hold: float) -> float:
    """0 -> 1 over ``rise`` s from ``start``, holds ``hold`` s, back to 0 over ``rise`` s."""
    x = t - start
    if x <= 0.0:
        return 0.0
    if x < rise:
        return x / rise
    if x < rise + hold:
        return 1.0
    if x < 2 * rise + hold:
        return 1.0 - (x - rise - hold) / rise
    return 0.0


def people_at(t: float, num_people: int = 1, seed: int = 0) -> list[PosedBody]:
    """The scripted people at time ``t`` (s), deterministic for a given ``seed``.

    - Person 1 walks counter-clockwise on a 1.0 m circle around the origin (turning all the
      time) and raises both arms for a while.
    - Person 2 (``num_people >= 2``) walks the same circle half a turn ahead, raising the right arm.
    - Person 3 (``num_people == 3``) stands at the centre, turning on the spot (stepping) and
      raising the left arm.
    Limb axes of different people stay >= ~0.25 m apart over the first 4 s, so bodies never
    interpenetrate, but they occlude each other in some views.
    """
    if not 1 <= num_people <= 3:
        raise ValueError(f"num_people must be 1, 2 or 3, got {num_people}")
    if not math.isfinite(t):
        raise ValueError(f"time must be finite, got {t}")
    rng = np.random.default_rng(seed)
    start_angle = -math.pi / 2 + (rng.uniform(-0.5, 0.5) if seed else 0.0)
    phase0 = rng.uniform(0, 2 * math.pi) if seed else 0.0
    radius = 1.0
    people = []
    for i in range(num_people):
        shirt, trousers, hair, skin = _OUTFITS[i]
        app = Appearance(height=_HEIGHTS[i], skin=skin, hair=hair, shirt=shirt, trousers=trousers)
        gait = phase0 + 2 * math.pi * _SPEED * t / _STRIDE + i * 1.3
        if i < 2:
            ang = start_angle + i * math.pi + _SPEED * t / radius
            xy = (radius * math.cos(ang), radius * math.sin(ang))
            yaw = ang + math.pi / 2
            if i == 0:  # both arms up, forward of the side (the walking direction is free)
                up = _bump(t, 1.0, 0.6, 0.6)
                people.append(pose_body(xy, yaw, gait, 1.0, (up, up), app, raise_plane=1.1))
            else:  # right arm sideways, away from the centre
                up = _bump(t, 0.4, 0.6, 1.0)
                people.append(pose_body(xy, yaw, gait, 1.0, (0.0, up), app))
        else:
            yaw = start_angle + 0.6 * t  # turning on the spot, ~35 deg/s
            up = _bump(t, 0.8, 0.7, 0.8)
            people.append(pose_body((0.0, 0.0), yaw, 0.8 * gait, 0.35, (up, 0.0), app, raise_plane=0.6))
    return people
