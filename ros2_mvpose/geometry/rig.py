"""Rig file: the cameras of a capture set-up, their ROS topics, poses and optional intrinsics.

Format (YAML, documented in ``docs/rig_file.md``)::

    world_frame: world
    cameras:
      - name: cam1
        image_topic: /cam1/image_raw          # optional, default /<name>/image_raw
        camera_info_topic: /cam1/camera_info  # optional, default /<name>/camera_info
        frame_id: cam1                        # optional, default = name
        pose: {R: [[...], [...], [...]], t: [x, y, z]}   # world->camera, metres (or rvec: [...])
        intrinsics:                           # optional; CameraInfo overrides at run time
          width: 1080
          height: 1080
          K: [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
          dist: [k1, k2, p1, p2, k3]
          distortion_model: plumb_bob

Poses follow the OpenCV convention ``x_cam = R @ X_world + t`` (world->camera, metres).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from ros2_mvpose.geometry.camera import Camera, nearest_rotation, rotation_error

__all__ = [
    "ROTATION_CLEAN_TOL",
    "CalibrationError",
    "Rig",
    "RigCamera",
    "clean_rotation",
    "default_topics",
    "load_rig",
    "rig_from_dict",
    "rig_to_dict",
    "ros_name",
    "save_rig",
]


class CalibrationError(ValueError):
    """A calibration or rig file (or its content) that cannot be used.

    The message names the file and, where it applies, the camera. Every reader of this package
    (rig YAML, camera_info YAML, OpenCV FileStorage, TOML) raises this for bad content, never
    another exception type; a file that does not exist raises FileNotFoundError.
    """

#: Rotations read from files may deviate from orthonormal by this much (printed with few digits);
#: they are replaced by the nearest rotation. Larger deviations are errors.
ROTATION_CLEAN_TOL = 5e-3

_CAMERA_KEYS = {"name", "image_topic", "camera_info_topic", "frame_id", "pose", "intrinsics"}
_POSE_KEYS = {"R", "rvec", "t"}
_INTRINSICS_KEYS = {"width", "height", "K", "dist", "D", "distortion_model"}
_TOP_KEYS = {"world_frame", "cameras"}


def ros_name(name: str) -> str:
    """A ROS-legal name token from ``name``: letters, digits and ``_``; not starting with a digit.

    >>> ros_name("Camera.001")
    'Camera_001'
    """
    out = "".join(c if (c.isascii() and (c.isalnum() or c == "_")) else "_" for c in str(name))
    if not out or out[0].isdigit():
        out = "cam_" + out
    return out


def default_topics(name: str, prefix: str = "") -> tuple[str, str]:
    """Default ``(image_topic, camera_info_topic)`` for a camera: ``<prefix>/<name>/image_raw`` etc."""
    base = "/".join(p for p in (prefix.strip("/"), ros_name(name)) if p)
    return f"/{base}/image_raw", f"/{base}/camera_info"


def clean_rotation(R: Any, where: str, tol: float = ROTATION_CLEAN_TOL) -> np.ndarray:
    """Validate a rotation read from a file and snap it to the nearest exact rotation.

    ``where`` names the source (file and camera) in the ValueError raised when ``R`` is not
    3x3, not finite, a reflection, or further than ``tol`` from orthonormal (CalibrationError).
    """
    try:
        R = np.asarray(R, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise CalibrationError(f"{where}: rotation must be a 3x3 matrix of numbers, got {R!r}") from None
    if R.shape != (3, 3):
        raise CalibrationError(f"{where}: rotation must be 3x3, got shape {R.shape}")
    if not np.all(np.isfinite(R)):
        raise CalibrationError(f"{where}: rotation contains NaN or inf")
    with np.errstate(all="ignore"):  # huge entries: the deviation is inf/NaN, refused below
        err = rotation_error(R)
    if not err <= tol:
        raise CalibrationError(
            f"{where}: R is not a rotation matrix (deviation from orthonormal/det +1 is {err:.3g} > {tol:g})"
        )
    if err <= 1e-12:
        return R
    try:
        return nearest_rotation(R)
    except ValueError as exc:
        raise CalibrationError(f"{where}: {exc}") from None


def rvec_to_R(rvec: Any, where: str) -> np.ndarray:
    """Rodrigues vector (3,) radians -> rotation matrix (3,3); CalibrationError naming ``where``."""
    try:
        r = np.asarray(rvec, dtype=float).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        r = np.zeros(0)
    if r.size != 3 or not np.all(np.isfinite(r)):
        raise CalibrationError(f"{where}: rvec must be 3 finite numbers, got {rvec!r}")
    return cv2.Rodrigues(r)[0]


@dataclass
class RigCamera:
    """One camera of a rig.

    ``R`` (3,3), ``t`` (3,): world->camera pose, metres. ``camera`` is the full :class:`Camera`
    (same name and pose) when the rig gives intrinsics, else None (intrinsics then come from the
    camera_info topic at run time, see :meth:`camera_from_info`).
    """

    name: str
    image_topic: str
    camera_info_topic: str
    frame_id: str
    R: np.ndarray
    t: np.ndarray
    camera: Camera | None = None

    def __post_init__(self) -> None:
        self.R = np.asarray(self.R, dtype=float)
        self.t = np.asarray(self.t, dtype=float).reshape(-1)
        if self.t.shape != (3,):
            raise CalibrationError(f"camera {self.name!r}: t must have 3 elements, got {self.t.size}")
        if self.camera is not None:
            if not (np.allclose(self.camera.R, self.R, atol=1e-9) and np.allclose(self.camera.t, self.t)):
                raise CalibrationError(f"camera {self.name!r}: RigCamera pose differs from its Camera's pose")

    @property
    def has_intrinsics(self) -> bool:
        return self.camera is not None

    def camera_from_info(self, info: Any) -> Camera:
        """Camera with this rig camera's name and pose and the intrinsics of a CameraInfo (or dict)."""
        return Camera.from_camera_info(info, self.R, self.t, name=self.name)

    @classmethod
    def from_camera(
        cls,
        camera: Camera,
        image_topic: str | None = None,
        camera_info_topic: str | None = None,
        frame_id: str | None = None,
        topic_prefix: str = "",
        with_intrinsics: bool = True,
    ) -> RigCamera:
        """Rig entry for ``camera``; topics default to ``<prefix>/<name>/image_raw`` etc."""
        img, info = default_topics(camera.name, topic_prefix)
        return cls(
            name=camera.name,
            image_topic=image_topic or img,
            camera_info_topic=camera_info_topic or info,
            frame_id=frame_id or ros_name(camera.name),
            R=np.array(camera.R),
            t=np.array(camera.t),
            camera=camera if with_intrinsics else None,
        )


@dataclass
class Rig:
    """A set of cameras sharing one world frame (``world_frame``, a ROS frame id)."""

    world_frame: str = "world"
    cameras: list[RigCamera] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [c.name for c in self.cameras]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise CalibrationError(f"rig: duplicate camera names {dup}")

    def __len__(self) -> int:
        return len(self.cameras)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def __getitem__(self, key: int | str) -> RigCamera:
        if isinstance(key, str):
            for c in self.cameras:
                if c.name == key:
                    return c
            raise KeyError(f"rig has no camera named {key!r} (cameras: {self.names})")
        return self.cameras[key]

    def to_cameras(self) -> list[Camera]:
        """Cameras in rig order; ValueError naming the cameras that have no intrinsics."""
        missing = [c.name for c in self.cameras if c.camera is None]
        if missing:
            raise CalibrationError(
                f"rig cameras {missing} have no intrinsics: add an 'intrinsics' section to the rig "
                "file or take them from the camera_info topics"
            )
        return [c.camera for c in self.cameras]  # type: ignore[misc]

    @classmethod
    def from_cameras(
        cls, cameras: Sequence[Camera], world_frame: str = "world", topic_prefix: str = ""
    ) -> Rig:
        """Rig with default topics / frame ids for ``cameras`` (with intrinsics)."""
        return cls(world_frame, [RigCamera.from_camera(c, topic_prefix=topic_prefix) for c in cameras])


# ---------------------------------------------------------------------- dict <-> Rig
def _matrix(value: Any, shape: tuple[int, ...], where: str, what: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise CalibrationError(f"{where}: {what} must be numbers with shape {shape}, got {value!r}") from None
    if a.size == int(np.prod(shape)) and a.ndim <= 1 and len(shape) == 2:
        a = a.reshape(shape)  # flat row-major list accepted for matrices
    if a.shape != shape and not (len(shape) == 1 and a.size == shape[0]):
        raise CalibrationError(f"{where}: {what} must have shape {shape}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise CalibrationError(f"{where}: {what} contains NaN or inf")
    return a.reshape(shape)


def vector(value: Any, where: str, what: str) -> np.ndarray:
    """A flat list of finite numbers -> (N,) array; CalibrationError naming ``where`` otherwise."""
    if isinstance(value, (Mapping, str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        kind = type(value).__name__
        raise CalibrationError(f"{where}: {what} must be a list of numbers, got {kind} {value!r}")
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise CalibrationError(f"{where}: {what} must be a list of numbers, got {value!r}") from None
    if a.ndim != 1:
        raise CalibrationError(f"{where}: {what} must be a flat list of numbers, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise CalibrationError(f"{where}: {what} contains NaN or inf")
    return a


def _check_keys(d: Mapping, allowed: set[str], where: str) -> None:
    unknown = sorted(set(map(str, d)) - allowed)
    if unknown:
        raise CalibrationError(f"{where}: unknown keys {unknown} (allowed: {sorted(allowed)})")


def _camera_from_entry(entry: Any, index: int, source: str) -> RigCamera:
    if not isinstance(entry, Mapping):
        raise CalibrationError(f"{source}: cameras[{index}] must be a mapping, got {type(entry).__name__}")
    name = entry.get("name")
    if not name or not isinstance(name, str):
        raise CalibrationError(f"{source}: cameras[{index}] needs a string 'name'")
    where = f"{source}: camera {name!r}"
    _check_keys(entry, _CAMERA_KEYS, where)

    pose = entry.get("pose")
    if not isinstance(pose, Mapping):
        raise CalibrationError(f"{where}: missing 'pose' mapping with R (or rvec) and t")
    _check_keys(pose, _POSE_KEYS, f"{where} pose")
    if ("R" in pose) == ("rvec" in pose):
        raise CalibrationError(f"{where}: pose needs exactly one of 'R' (3x3) or 'rvec' (Rodrigues, 3)")
    if "t" not in pose:
        raise CalibrationError(f"{where}: pose needs 't' (3, metres)")
    if "R" in pose:
        R = clean_rotation(_matrix(pose["R"], (3, 3), where, "pose R"), where)
    else:
        R = rvec_to_R(_matrix(pose["rvec"], (3,), where, "pose rvec"), where)
    t = _matrix(pose["t"], (3,), where, "pose t")

    img_default, info_default = default_topics(name)
    image_topic = str(entry.get("image_topic") or img_default)
    info_topic = str(entry.get("camera_info_topic") or info_default)
    frame_id = str(entry.get("frame_id") or name)

    camera = None
    intr = entry.get("intrinsics")
    if intr is not None:
        if not isinstance(intr, Mapping):
            raise CalibrationError(f"{where}: 'intrinsics' must be a mapping")
        _check_keys(intr, _INTRINSICS_KEYS, f"{where} intrinsics")
        for k in ("width", "height", "K"):
            if k not in intr:
                raise CalibrationError(f"{where}: intrinsics lack {k!r}")
        K = _matrix(intr["K"], (3, 3), where, "intrinsics K")
        dist = intr.get("dist", intr.get("D", []))
        dist = vector(dist if dist is not None else [], where, "intrinsics dist")
        try:
            camera = Camera(
                name, K, dist, R, t, intr["width"], intr["height"],
                intr.get("distortion_model", "plumb_bob"),
            )
        except (ValueError, TypeError) as exc:
            raise CalibrationError(f"{source}: {exc}") from None
    return RigCamera(name, image_topic, info_topic, frame_id, R, t, camera)


def rig_from_dict(data: Any, source: str = "<rig>") -> Rig:
    """Build a :class:`Rig` from the parsed YAML mapping; ``source`` names it in errors."""
    if not isinstance(data, Mapping):
        kind = type(data).__name__
        raise CalibrationError(f"{source}: a rig file must be a mapping with 'cameras', got {kind}")
    _check_keys(data, _TOP_KEYS, source)
    cams = data.get("cameras")
    if not isinstance(cams, list) or not cams:
        raise CalibrationError(f"{source}: 'cameras' must be a non-empty list")
    world = data.get("world_frame", "world")
    if not isinstance(world, str) or not world:
        raise CalibrationError(f"{source}: world_frame must be a non-empty string")
    cameras = [_camera_from_entry(e, i, source) for i, e in enumerate(cams)]
    try:
        return Rig(world, cameras)
    except ValueError as exc:
        raise CalibrationError(f"{source}: {exc}") from None


def _floats(a: np.ndarray) -> list:
    return np.asarray(a, dtype=float).tolist()


def rig_to_dict(rig: Rig) -> dict[str, Any]:
    """Plain-Python mapping of ``rig`` in the rig file layout (inverse of :func:`rig_from_dict`)."""
    cams = []
    for c in rig.cameras:
        entry: dict[str, Any] = {
            "name": c.name,
            "image_topic": c.image_topic,
            "camera_info_topic": c.camera_info_topic,
            "frame_id": c.frame_id,
            "pose": {"R": _floats(c.R), "t": _floats(c.t)},
        }
        if c.camera is not None:
            cam = c.camera
            entry["intrinsics"] = {
                "width": cam.width,
                "height": cam.height,
                "K": _floats(cam.K),
                "dist": _floats(cam.dist),
                "distortion_model": cam.distortion_model,
            }
        cams.append(entry)
    return {"world_frame": rig.world_frame, "cameras": cams}


# ---------------------------------------------------------------------- files
class _FlowListDumper(yaml.SafeDumper):
    """Dump lists of scalars in flow style: a matrix becomes one ``[a, b, c]`` line per row."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flat = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_FlowListDumper.add_representer(list, _represent_list)


def read_text(path: Path, what: str = "calibration file") -> str:
    """The file's text (UTF-8); FileNotFoundError, or CalibrationError for undecodable bytes."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise CalibrationError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """``"syntax error at line L, column C: <problem>"`` (1-based) for a YAML parser error."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"syntax error{where}: {problem}" + (f" ({context})" if context else "")


def parse_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` with syntax errors as CalibrationError naming the file and line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalibrationError(f"{source}: not valid YAML, {yaml_error_text(exc)}") from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:  # e.g. absurd nesting
        raise CalibrationError(f"{source}: YAML cannot be read ({type(exc).__name__}: {exc})") from None


def load_rig(path: str | os.PathLike) -> Rig:
    """Read a rig YAML file; CalibrationError naming the file (and camera) for any invalid content."""
    path = Path(path)
    data = parse_yaml(read_text(path, "rig file"), str(path))
    return rig_from_dict(data, source=str(path))


def save_rig(rig: Rig, path: str | os.PathLike, comment: str | None = None) -> None:
    """Write ``rig`` as a rig YAML file (full float precision, so load_rig(save_rig(r)) == r)."""
    text = yaml.dump(
        rig_to_dict(rig), Dumper=_FlowListDumper, sort_keys=False, default_flow_style=False, width=1000
    )
    header = "# ros2_mvpose rig file (see docs/rig_file.md). Poses: x_cam = R @ X_world + t, metres.\n"
    if comment:
        header += "".join(f"# {line}\n" for line in comment.splitlines())
    Path(path).write_text(header + text, encoding="utf-8")
