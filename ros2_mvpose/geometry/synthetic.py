"""Synthetic camera rigs, walking COCO-17 people and their 2D detections, with exact ground truth.

Used by the tests and benchmarks. World frame: metres, ``z`` up, ground plane ``z = 0``.

* :func:`ring_rig` -- N cameras on a circle around the capture area, looking at its centre.
* :func:`skeleton_template` / :func:`posed_skeleton` -- an adult (~1.7 m) COCO-17 body with a
  simple walking gait (swinging legs and arms, vertical bob).
* :func:`walking_people` -- several people walking to and fro on straight lines that all cross
  near the centre, at staggered times (paths cross, bodies do not overlap).
* :func:`render_views` -- project people into every camera as a 2D pose detector would report
  them: raw (distorted) pixels, scores, Gaussian noise, gross outliers, missed joints, people
  outside the image dropped, phantom detections, shuffled order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ros2_mvpose.geometry.camera import Camera
from ros2_mvpose.skeleton import NUM_JOINTS

__all__ = [
    "SyntheticSequence",
    "look_at",
    "posed_skeleton",
    "render_views",
    "ring_rig",
    "skeleton_template",
    "walking_people",
]


def look_at(
    center: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """World->camera (R (3,3), t (3,)) for a camera at ``center`` looking at ``target`` (metres)."""
    center = np.asarray(center, dtype=float)
    fwd = np.asarray(target, dtype=float) - center
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, np.asarray(up, dtype=float))
    if np.linalg.norm(right) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to 'up'")
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])
    return R, -R @ center


def ring_rig(
    n_cameras: int = 5,
    radius: float = 5.0,
    camera_height: float = 2.5,
    target: tuple[float, float, float] = (0.0, 0.0, 0.9),
    image_size: tuple[int, int] = (1280, 720),
    focal: float = 1000.0,
    distortion: tuple[float, ...] | None = None,
    distortion_model: str = "plumb_bob",
    jitter: float = 0.0,
    seed: int = 0,
) -> list[Camera]:
    """Cameras evenly spaced on a circle of ``radius`` metres at ``camera_height`` metres.

    Args:
        n_cameras: number of cameras.
        radius, camera_height: placement, metres.
        target: point every camera looks at, metres.
        image_size: (width, height) pixels; the principal point is the image centre.
        focal: focal length, pixels.
        distortion: coefficients for ``distortion_model`` (None: no distortion).
        jitter: random perturbation of positions (metres) and of the target, to break symmetry.
        seed: random seed for the jitter.
    """
    if n_cameras < 1:
        raise ValueError(f"ring_rig: n_cameras must be >= 1, got {n_cameras}")
    rng = np.random.default_rng(seed)
    w, h = image_size
    K = np.array([[focal, 0.0, (w - 1) / 2.0], [0.0, focal, (h - 1) / 2.0], [0.0, 0.0, 1.0]])
    cams = []
    for i in range(n_cameras):
        a = 2.0 * np.pi * i / n_cameras + 0.1
        c = np.array([radius * np.cos(a), radius * np.sin(a), camera_height])
        tg = np.asarray(target, dtype=float)
        if jitter:
            c = c + rng.normal(0.0, jitter, 3)
            tg = tg + rng.normal(0.0, jitter, 3)
        R, t = look_at(c, tg)
        dist = [] if distortion is None else distortion
        cams.append(Camera(f"cam{i}", K, dist, R, t, w, h, distortion_model))
    return cams


# Body frame: x forward, y to the person's left, z up; feet on z = 0. Adult of 1.7 m.
_TEMPLATE = np.array(
    [
        [0.09, 0.000, 1.60],  # nose
        [0.07, 0.035, 1.64],  # left_eye
        [0.07, -0.035, 1.64],  # right_eye
        [0.00, 0.075, 1.61],  # left_ear
        [0.00, -0.075, 1.61],  # right_ear
        [0.00, 0.190, 1.42],  # left_shoulder
        [0.00, -0.190, 1.42],  # right_shoulder
        [0.00, 0.220, 1.12],  # left_elbow
        [0.00, -0.220, 1.12],  # right_elbow
        [0.03, 0.220, 0.86],  # left_wrist
        [0.03, -0.220, 0.86],  # right_wrist
        [0.00, 0.100, 0.93],  # left_hip
        [0.00, -0.100, 0.93],  # right_hip
        [0.02, 0.100, 0.50],  # left_knee
        [0.02, -0.100, 0.50],  # right_knee
        [-0.02, 0.100, 0.08],  # left_ankle
        [-0.02, -0.100, 0.08],  # right_ankle
    ]
)


def skeleton_template(height: float = 1.7) -> np.ndarray:
    """(17, 3) standing COCO-17 body in its own frame (x forward, y left, z up), metres."""
    return _TEMPLATE * (height / 1.7)


def _swing(points: np.ndarray, pivot: np.ndarray, angle: float) -> np.ndarray:
    """Rotate points (k, 3) about the lateral (y) axis through ``pivot``; positive = forward."""
    c, s = np.cos(angle), np.sin(angle)
    d = points - pivot
    return pivot + np.stack([c * d[:, 0] - s * d[:, 2], d[:, 1], s * d[:, 0] + c * d[:, 2]], axis=1)


def posed_skeleton(
    position: np.ndarray, heading: float, phase: float = 0.0, height: float = 1.7, stride: float = 0.45
) -> np.ndarray:
    """(17, 3) world joints of a walking person.

    Args:
        position: (2,) or (3,) ground position (x, y[, z]) of the body origin, metres.
        heading: walking direction, radians from the world x axis.
        phase: gait phase, radians (one gait cycle = 2 pi).
        height: body height, metres.
        stride: leg swing amplitude, radians (0 = standing).
    """
    j = skeleton_template(height).copy()
    leg = stride * np.sin(phase)
    arm = 0.6 * stride * np.sin(phase)
    hips = j[[11, 12]]
    j[[13, 15]] = _swing(j[[13, 15]], hips[0], leg)
    j[[14, 16]] = _swing(j[[14, 16]], hips[1], -leg)
    j[[7, 9]] = _swing(j[[7, 9]], j[5], -arm)
    j[[8, 10]] = _swing(j[[8, 10]], j[6], arm)
    j[:, 2] += 0.02 * height / 1.7 * np.cos(2 * phase) + 0.02 * height / 1.7 * (1 - np.cos(leg))
    c, s = np.cos(heading), np.sin(heading)
    Rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    p = np.zeros(3)
    p[: len(position)] = position
    return j @ Rz.T + p


@dataclass
class SyntheticSequence:
    """Ground truth of a synthetic scene.

    Attributes:
        stamps: (T,) seconds.
        joints: (T, N, 17, 3) world joints, metres.
    """

    stamps: np.ndarray
    joints: np.ndarray

    @property
    def n_frames(self) -> int:
        return self.joints.shape[0]

    @property
    def n_people(self) -> int:
        return self.joints.shape[1]


def walking_people(
    n_people: int,
    n_frames: int,
    fps: float = 30.0,
    area_radius: float = 1.5,
    speed: float = 1.2,
    seed: int = 0,
    t0: float = 0.0,
) -> SyntheticSequence:
    """People walking to and fro (sinusoidally, peak ``speed`` m/s) on lines through the centre.

    Person k walks on a line at angle ``pi k / n`` (plus a small random offset) passing close to
    the centre, with amplitude ``area_radius`` metres; crossings of the centre are staggered by
    half a period / n so that every pair of paths crosses without the bodies meeting.
    """
    rng = np.random.default_rng(seed)
    omega = speed / area_radius
    half_period = np.pi / omega
    stamps = t0 + np.arange(n_frames) / fps
    out = np.empty((n_frames, n_people, NUM_JOINTS, 3))
    for k in range(n_people):
        ang = np.pi * k / max(n_people, 1) + rng.uniform(-0.1, 0.1)
        d = np.array([np.cos(ang), np.sin(ang)])
        off = rng.uniform(-0.1, 0.1) * np.array([-d[1], d[0]])
        tk = half_period * k / max(n_people, 1)
        height = rng.uniform(1.6, 1.85)
        for f, t in enumerate(stamps - t0):
            s = area_radius * np.sin(omega * (t - tk))
            v = np.cos(omega * (t - tk))
            heading = ang if v >= 0 else ang + np.pi
            dist_walked = area_radius * (omega * (t - tk))
            phase = 2 * np.pi * dist_walked / (1.4 * height / 1.7)
            stride = 0.45 * min(1.0, abs(v) * 2)
            out[f, k] = posed_skeleton(off + s * d, heading, phase, height, stride=stride)
    return SyntheticSequence(stamps, out)


def render_views(
    cameras: list[Camera],
    joints: np.ndarray,
    rng: np.random.Generator | int | None = None,
    noise_px: float = 0.0,
    outlier_rate: float = 0.0,
    outlier_px: tuple[float, float] = (40.0, 200.0),
    score_range: tuple[float, float] = (0.6, 1.0),
    drop_rate: float = 0.0,
    false_rate: float = 0.0,
    min_visible: int = 5,
    shuffle: bool = True,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """2D detections of people ``joints`` (N, 17, 3) in every camera.

    Args:
        cameras: the rig.
        joints: (N, 17, 3) world joints, metres.
        rng: numpy Generator or seed.
        noise_px: standard deviation of Gaussian pixel noise per coordinate.
        outlier_rate: probability that a visible joint is a gross outlier (displaced by a random
            ``outlier_px`` range of pixels in a random direction, keeping its score).
        score_range: uniform range of the scores of visible joints.
        drop_rate: probability that a visible joint is missed (score 0).
        false_rate: per view, probability of one phantom detection (a person that exists in
            that view only, somewhere in the capture area).
        min_visible: a person with fewer joints inside the image is not detected in that view.
        shuffle: shuffle the detections of each view.

    Returns:
        (views, labels): ``views[i]`` (P_i, 17, 3) u, v (raw pixels), score; ``labels[i]`` (P_i,)
        the ground-truth person index of each detection (-1 for phantoms). Joints outside the
        image have score 0 and their coordinates clipped to the image.
    """
    rng = np.random.default_rng(rng)
    joints = np.asarray(joints, dtype=float).reshape(-1, NUM_JOINTS, 3)
    views, labels = [], []
    for cam in cameras:
        people = [joints]
        lab = [np.arange(joints.shape[0])]
        if false_rate and rng.random() < false_rate:
            pos = rng.uniform(-1.5, 1.5, 2)
            people.append(posed_skeleton(pos, rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi))[None])
            lab.append(np.array([-1]))
        allj = np.concatenate(people)
        lab = np.concatenate(lab)
        uv = cam.project(allj)  # (n, 17, 2), NaN behind
        inside = cam.in_image(uv)
        keep = inside.sum(-1) >= min_visible
        uv, inside, lab = uv[keep], inside[keep], lab[keep]
        n = uv.shape[0]
        score = rng.uniform(*score_range, size=(n, NUM_JOINTS))
        if noise_px:
            uv = uv + rng.normal(0.0, noise_px, uv.shape)
        if outlier_rate:
            out = (rng.random((n, NUM_JOINTS)) < outlier_rate) & inside
            ang = rng.uniform(0, 2 * np.pi, (n, NUM_JOINTS))
            mag = rng.uniform(*outlier_px, (n, NUM_JOINTS))
            shift = np.stack([np.cos(ang), np.sin(ang)], -1) * mag[..., None]
            uv = np.where(out[..., None], uv + shift, uv)
        if drop_rate:
            inside &= rng.random((n, NUM_JOINTS)) >= drop_rate
        uv = np.where(np.isfinite(uv), uv, 0.0)
        uv[..., 0] = np.clip(uv[..., 0], 0, cam.width - 1)
        uv[..., 1] = np.clip(uv[..., 1], 0, cam.height - 1)
        score = np.where(inside, score, 0.0)
        kp = np.concatenate([uv, score[..., None]], axis=-1)
        if shuffle and n > 1:
            order = rng.permutation(n)
            kp, lab = kp[order], lab[order]
        views.append(kp)
        labels.append(lab)
    return views, labels
