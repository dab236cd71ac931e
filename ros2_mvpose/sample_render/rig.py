"""The sample's camera rig: 5 cameras on a ring around the capture area, looking at its centre.

World frame ``world``: z up, ground at ``z = 0``, capture area centred on the origin. Cameras
use the OpenCV convention ``x_cam = R @ X_world + t`` (x right, y down, z forward) and a small
plumb_bob lens distortion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

#: Ring layout: (azimuth deg, height m, radius m) per camera.
_RING = ((-90.0, 2.2, 3.2), (-18.0, 1.8, 3.4), (54.0, 2.4, 3.1), (126.0, 1.7, 3.3), (198.0, 2.05, 3.25))
_TARGET = np.array([0.0, 0.0, 0.85])
#: Small plumb_bob distortion (k1, k2, p1, p2, k3) per camera.
_DIST = (
    (-0.060, 0.020, 0.0004, -0.0003, 0.0),
    (-0.045, 0.012, -0.0002, 0.0003, 0.0),
    (-0.070, 0.030, 0.0003, 0.0002, 0.0),
    (-0.050, 0.015, -0.0003, -0.0002, 0.0),
    (-0.055, 0.018, 0.0002, -0.0004, 0.0),
)
WORLD_FRAME = "world"


@dataclass
class SampleCamera:
    """One rendered camera (intrinsics for ``width x height`` pixels, pose world -> camera)."""

    name: str
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int
    distortion_model: str = "plumb_bob"

    @property
    def center(self) -> np.ndarray:
        """Camera centre ``(3,)`` in the world frame."""
        return -self.R.T @ self.t

    def project(self, X: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` -> distorted raw pixels ``(..., 2)`` (OpenCV model)."""
        X = np.asarray(X, float)
        rvec, _ = cv2.Rodrigues(self.R)
        uv, _ = cv2.projectPoints(X.reshape(-1, 1, 3), rvec, self.t.reshape(3, 1), self.K, self.dist)
        return uv.reshape(*X.shape[:-1], 2)

    def depth(self, X: np.ndarray) -> np.ndarray:
        """Camera-frame z ``(...)`` of world points ``(..., 3)`` (m)."""
        return (np.asarray(X, float) @ self.R.T + self.t)[..., 2]


def look_at(center: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera ``(R, t)`` for a camera at ``center`` looking at ``target``, no roll."""
    center = np.asarray(center, float)
    z = np.asarray(target, float) - center
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("camera looks straight up or down; no roll-free orientation")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ center


def sample_rig(width: int = 640, height: int = 480, num_cameras: int = 5) -> list[SampleCamera]:
    """The sample's cameras ``cam1..camN`` for images of ``width x height`` pixels.

    The focal length scales with the width (``0.78 * width``, ~65 deg horizontal field of view),
    so a 1.7 m person at 3-4 m is ~200-300 px tall at 640x480.
    """
    if width < 16 or height < 16:
        raise ValueError(f"image size must be at least 16x16, got {width}x{height}")
    if not 1 <= num_cameras <= len(_RING):
        raise ValueError(f"num_cameras must be 1..{len(_RING)}, got {num_cameras}")
    cams = []
    for i in range(num_cameras):
        az, h, r = _RING[i]
        a = math.radians(az)
        R, t = look_at(np.array([r * math.cos(a), r * math.sin(a), h]), _TARGET)
        f = 0.78 * width
        K = np.array(
            [
                [f * (1.0 + 0.002 * i), 0.0, 0.5 * width + 1.5 - i],
                [0.0, f, 0.5 * height - 2.0 + 0.5 * i],
                [0.0, 0.0, 1.0],
            ]
        )
        cams.append(SampleCamera(f"cam{i + 1}", K, np.array(_DIST[i], float), R, t, width, height))
    return cams


def rig_dict(cameras: list[SampleCamera], world_frame: str = WORLD_FRAME) -> dict:
    """The rig file contents (see README, "Rig file") for ``cameras``."""

    def flt(a) -> list:
        return [float(x) for x in np.asarray(a).ravel()]

    return {
        "world_frame": world_frame,
        "cameras": [
            {
                "name": c.name,
                "image_topic": f"/{c.name}/image_raw",
                "camera_info_topic": f"/{c.name}/camera_info",
                "frame_id": c.name,
                "pose": {"R": [flt(row) for row in c.R], "t": flt(c.t)},
                "intrinsics": {
                    "width": int(c.width),
                    "height": int(c.height),
                    "K": [flt(row) for row in c.K],
                    "dist": flt(c.dist),
                    "distortion_model": c.distortion_model,
                },
            }
            for c in cameras
        ],
    }


def write_rig(cameras: list[SampleCamera], path: str | Path, world_frame: str = WORLD_FRAME) -> Path:
    """Write the rig YAML in the package's rig file format (readable by ``load_rig``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = rig_dict(cameras, world_frame)
    header = "# Sample rig written by `mvpose sample render` (world->camera poses, metres).\n"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120))
    return path
