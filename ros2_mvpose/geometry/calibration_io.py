"""Calibration file readers/writers and conversion to a :class:`~ros2_mvpose.geometry.rig.Rig`.

Supported formats (``format`` names):

* ``rig`` -- this package's rig YAML (:func:`ros2_mvpose.geometry.rig.load_rig`).
* ``camera_info`` -- ROS ``camera_calibration_parsers`` YAML (``image_width``, ``camera_matrix:
  {rows, cols, data}``, ...): intrinsics only, no pose. Read and write.
* ``opencv`` -- OpenCV ``FileStorage`` XML/YAML/JSON (read in pure Python by
  :mod:`~ros2_mvpose.geometry.opencv_storage`) with the usual key spellings
  (``camera_matrix``/``K``, ``distortion_coefficients``/``D``, ``R``/``rvec``, ``T``/``tvec``,
  ``image_width``/``image_height``), and scaled-matrix files (``Intrinsics`` = K/1000,
  ``CameraMatrix`` = [R|t]/1000, ``Distortion``; see :func:`read_opencv`).
* ``toml`` -- aniposelib / Pose2Sim ``calibration.toml``: one table per camera with ``name``,
  ``size`` [w, h], ``matrix`` (3x3), ``distortions``, ``rotation`` (Rodrigues, world->camera),
  ``translation``; ``fisheye = true`` selects the equidistant model. Pose2Sim writes metres;
  aniposelib writes the units of the calibration board's square length (often millimetres):
  pass ``scale`` (e.g. 0.001) to convert. Read and write.

All poses are world->camera in the OpenCV convention ``x_cam = R @ X_world + t``. Every reader
raises :class:`~ros2_mvpose.geometry.rig.CalibrationError` (a ValueError) naming the file (and
the camera) for invalid content, and FileNotFoundError for a missing file; nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from ros2_mvpose.geometry.camera import Camera
from ros2_mvpose.geometry.opencv_storage import read_opencv_storage
from ros2_mvpose.geometry.rig import (
    CalibrationError,
    Rig,
    RigCamera,
    clean_rotation,
    default_topics,
    load_rig,
    parse_yaml,
    read_text,
    ros_name,
    rvec_to_R,
    yaml_error_text,
)

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "FORMATS",
    "CalibrationError",
    "CameraCalib",
    "convert_to_rig",
    "detect_format",
    "read_calibration",
    "read_camera_info_yaml",
    "read_opencv",
    "read_toml",
    "write_camera_info_yaml",
    "write_toml",
]

FORMATS = ("rig", "camera_info", "opencv", "toml")


@dataclass
class CameraCalib:
    """What one calibration file says about one camera; any part may be missing (None).

    ``K`` (3,3) pixels, ``dist`` (N,), ``R`` (3,3) and ``t`` (3,) world->camera (file units),
    ``width``/``height`` pixels. ``source`` is the file it came from (for messages).
    """

    name: str
    source: str = ""
    K: np.ndarray | None = None
    dist: np.ndarray | None = None
    distortion_model: str = "plumb_bob"
    width: int | None = None
    height: int | None = None
    R: np.ndarray | None = None
    t: np.ndarray | None = None

    @property
    def has_intrinsics(self) -> bool:
        return self.K is not None

    @property
    def has_pose(self) -> bool:
        return self.R is not None and self.t is not None

    def to_camera(self, R: Any = None, t: Any = None) -> Camera:
        """Full :class:`Camera` (pose from the arguments or from this record)."""
        R = self.R if R is None else R
        t = self.t if t is None else t
        where = f"{self.source}: camera {self.name!r}" if self.source else f"camera {self.name!r}"
        if self.K is None:
            raise CalibrationError(f"{where}: no intrinsics (K)")
        if R is None or t is None:
            raise CalibrationError(f"{where}: no pose (R, t)")
        if self.width is None or self.height is None:
            raise CalibrationError(f"{where}: image size unknown (give width/height)")
        try:
            return Camera(self.name, self.K, self.dist, R, t, self.width, self.height, self.distortion_model)
        except (ValueError, TypeError) as exc:
            raise CalibrationError(f"{self.source}: {exc}" if self.source else str(exc)) from None

    @classmethod
    def from_camera(cls, camera: Camera, source: str = "") -> CameraCalib:
        return cls(
            camera.name, source, np.array(camera.K), np.array(camera.dist), camera.distortion_model,
            camera.width, camera.height, np.array(camera.R), np.array(camera.t),
        )


def _model_for(n_coeffs: int, where: str, fisheye: bool = False) -> str:
    if fisheye:
        if n_coeffs not in (0, 4):
            raise CalibrationError(f"{where}: fisheye (equidistant) needs 4 distortion coefficients, "
                             f"got {n_coeffs}")
        return "equidistant"
    if n_coeffs in (0, 4, 5):
        return "plumb_bob"
    if n_coeffs in (8, 12, 14):
        return "rational_polynomial"
    raise CalibrationError(f"{where}: cannot use {n_coeffs} distortion coefficients "
                           "(expected 4, 5, 8, 12 or 14)")


def _size(value: Any, where: str, what: str) -> int:
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise CalibrationError(f"{where}: {what} must be a positive integer, got {value!r}") from None
    if not (np.isfinite(v) and v > 0 and v == int(v)):
        raise CalibrationError(f"{where}: {what} must be a positive integer, got {value!r}")
    return int(v)


def _array(value: Any, where: str, what: str, size: int | None = None) -> np.ndarray:
    if isinstance(value, (Mapping, str, bytes)):
        raise CalibrationError(f"{where}: {what} must be numbers, got {type(value).__name__} {value!r}")
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise CalibrationError(f"{where}: {what} must be numbers, got {value!r}") from None
    if size is not None and a.size != size:
        raise CalibrationError(f"{where}: {what} must have {size} values, got {a.size}")
    if not np.all(np.isfinite(a)):
        raise CalibrationError(f"{where}: {what} contains NaN or inf")
    return a


# ---------------------------------------------------------------------- camera_info YAML
def _ros_matrix(d: Any, where: str, key: str, rows: int | None, cols: int | None) -> np.ndarray:
    if not isinstance(d, Mapping) or "data" not in d:
        raise CalibrationError(f"{where}: {key} must be a mapping with rows, cols and data")
    data = _array(d["data"], where, f"{key} data").reshape(-1)
    r = d.get("rows", rows if rows is not None else 1)
    c = d.get("cols", cols if cols is not None else data.size)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (r, c)):
        raise CalibrationError(f"{where}: {key} rows and cols must be non-negative integers, "
                               f"got rows: {r!r}, cols: {c!r}")
    if (rows is not None and r != rows) or (cols is not None and c != cols) or r * c != data.size:
        raise CalibrationError(
            f"{where}: {key} is {r}x{c} with {data.size} values"
            + (f", expected {rows}x{cols}" if rows is not None and cols is not None else "")
        )
    return data.reshape(r, c)


def read_camera_info_yaml(path: str | os.PathLike) -> CameraCalib:
    """Read a ROS camera_calibration_parsers YAML: intrinsics and image size, no pose.

    Uses ``camera_matrix`` and ``distortion_coefficients`` (the raw camera); the rectification
    and projection matrices (stereo rectification) are not needed to model the raw image.
    """
    path = Path(path)
    where = str(path)
    data = parse_yaml(read_text(path), where)
    if not isinstance(data, Mapping):
        raise CalibrationError(f"{where}: expected a camera_info mapping")
    for key in ("image_width", "image_height", "camera_matrix"):
        if key not in data:
            raise CalibrationError(f"{where}: camera_info YAML lacks {key!r}")
    name = str(data.get("camera_name") or path.stem)
    where = f"{path}: camera {name!r}"
    K = _ros_matrix(data["camera_matrix"], where, "camera_matrix", 3, 3)
    dist = np.zeros(0)
    if data.get("distortion_coefficients") is not None:
        dist = _ros_matrix(data["distortion_coefficients"], where, "distortion_coefficients", None, None)
        dist = dist.reshape(-1)
    model = data.get("distortion_model") or _model_for(dist.size, where)
    if not isinstance(model, str):
        raise CalibrationError(f"{where}: distortion_model must be a string, got {model!r}")
    calib = CameraCalib(
        name, str(path), K, dist, model,
        _size(data["image_width"], where, "image_width"), _size(data["image_height"], where, "image_height"),
    )
    calib.to_camera(np.eye(3), np.zeros(3))  # validate now, errors name the file
    return calib


def write_camera_info_yaml(path: str | os.PathLike, camera: Camera | CameraCalib) -> None:
    """Write intrinsics as a ROS camera_calibration_parsers YAML (R = I, P = [K | 0])."""
    if isinstance(camera, Camera):
        camera = CameraCalib.from_camera(camera)
    if camera.K is None or camera.width is None or camera.height is None:
        raise CalibrationError(f"camera {camera.name!r}: need K, width and height to write camera_info")
    K = np.asarray(camera.K, dtype=float)
    dist = np.asarray(camera.dist if camera.dist is not None else [], dtype=float).reshape(-1)
    P = np.hstack([K, np.zeros((3, 1))])

    def mat(a: np.ndarray, rows: int, cols: int) -> dict[str, Any]:
        return {"rows": rows, "cols": cols, "data": [float(x) for x in np.asarray(a).reshape(-1)]}

    data = {
        "image_width": int(camera.width),
        "image_height": int(camera.height),
        "camera_name": camera.name,
        "camera_matrix": mat(K, 3, 3),
        "distortion_model": camera.distortion_model,
        "distortion_coefficients": mat(dist, 1, dist.size),
        "rectification_matrix": mat(np.eye(3), 3, 3),
        "projection_matrix": mat(P, 3, 4),
    }

    class _Dumper(yaml.SafeDumper):
        pass

    _Dumper.add_representer(
        list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
    )
    Path(path).write_text(yaml.dump(data, Dumper=_Dumper, sort_keys=False), encoding="utf-8")


# ---------------------------------------------------------------------- OpenCV FileStorage
_K_KEYS = ("camera_matrix", "cameraMatrix", "K", "intrinsic_matrix", "intrinsic", "intrinsics", "Intrinsics",
           "mtx", "M", "CameraMatrix")
_D_KEYS = ("distortion_coefficients", "dist_coeffs", "distCoeffs", "distortion", "Distortion", "D", "dist",
           "DistCoeffs")
_R_KEYS = ("R", "rotation_matrix", "rotation", "Rotation", "rmat")
_RVEC_KEYS = ("rvec", "rvecs", "rotation_vector", "Rvec")
_T_KEYS = ("T", "t", "tvec", "tvecs", "translation", "translation_vector", "Translation", "Tvec")
_W_KEYS = ("image_width", "width", "imageWidth", "ImageWidth")
_H_KEYS = ("image_height", "height", "imageHeight", "ImageHeight")
_SIZE_KEYS = ("image_size", "imageSize", "size", "ImageSize")
_NAME_KEYS = ("camera_name", "name", "cameraName")
_MODEL_KEYS = ("distortion_model", "distortionModel")
_FISHEYE_KEYS = ("fisheye", "is_fisheye")


def _fs_get(fs: Mapping[str, Any], keys: Iterable[str]) -> tuple[str | None, Any]:
    """``(key, value)`` of the first of ``keys`` the storage holds a value for, else (None, None)."""
    for key in keys:
        v = fs.get(key)
        if v is not None:
            return key, v
    return None, None


def _split_scaled_extrinsics(M: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``M`` (3,4) = s [R | t] with unknown s != 0 -> (R, t); s from the rotation's scale."""
    A = M[:, :3]
    with np.errstate(all="ignore"):  # huge entries: det/norm overflow, refused below
        det = np.linalg.det(A)
        s = np.sign(det) * float(np.mean(np.linalg.norm(A, axis=1)))
    if not np.isfinite(det) or abs(det) < 1e-300 or not np.isfinite(s):
        raise CalibrationError(f"{where}: CameraMatrix rotation part is singular or not finite")
    R = clean_rotation(A / s, where)
    return R, M[:, 3] / s


def read_opencv(
    path: str | os.PathLike,
    name: str | None = None,
    width: int | None = None,
    height: int | None = None,
) -> CameraCalib:
    """Read one camera from an OpenCV FileStorage file (XML, YAML or JSON).

    Key spellings accepted: K = ``camera_matrix``/``cameraMatrix``/``K``/``intrinsic(s)``/``mtx``;
    distortion = ``distortion_coefficients``/``dist_coeffs``/``D``/``dist``; rotation = ``R``
    (3x3, or 3 values = Rodrigues) or ``rvec``; translation = ``T``/``t``/``tvec``; size =
    ``image_width``/``image_height`` or ``image_size`` [w, h]; optional ``distortion_model``
    string or ``fisheye`` flag (else the model follows the coefficient count: 4/5 plumb_bob,
    8/12/14 rational_polynomial).

    Scaled-matrix files (e.g. the ``Camera.00N.xml`` of a Blender scene) are recognised by an
    ``Intrinsics`` 3x3 matrix together with a 3x4 ``CameraMatrix``: ``Intrinsics`` is K up to
    scale (normalised so that K[2,2] = 1) and ``CameraMatrix`` is [R | t] up to scale (rescaled so
    that R is a rotation, then snapped to the nearest rotation since it is printed with ~3
    significant digits); translations keep the file's world units.

    The image size, when the file lacks it (as scaled-matrix files do), is taken from ``width``
    / ``height`` and otherwise defaults to ``(2 cx, 2 cy)`` rounded -- correct for a centred
    principal point (e.g. 1080x1080 renders) but only a guess otherwise.
    ``name`` defaults to ``camera_name`` in the file, else the file name without extension.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"calibration file not found: {path}")
    return _read_opencv_storage(read_opencv_storage(path), path, name, width, height)


def _read_opencv_storage(fs: Mapping[str, Any], path: Path, name: str | None, width: int | None,
                         height: int | None) -> CameraCalib:
    """The body of :func:`read_opencv` on the file's top-level entries."""
    if name is None:
        _, n = _fs_get(fs, _NAME_KEYS)
        name = n if isinstance(n, str) and n else path.stem
    where = f"{path}: camera {name!r}"

    # Intrinsics (a scaled 'Intrinsics' + 3x4 'CameraMatrix' handled first).
    extr = None
    k_key, K = _fs_get(fs, [k for k in _K_KEYS if k != "CameraMatrix"])
    cm = fs.get("CameraMatrix")
    if cm is not None:
        cm = np.asarray(cm, dtype=float)
        if cm.shape == (3, 4) and K is not None:
            extr = _split_scaled_extrinsics(cm, where)
        elif cm.shape in ((3, 3), (9,)) and K is None:
            k_key, K = "CameraMatrix", cm
    if K is None:
        raise CalibrationError(f"{where}: no camera matrix found (looked for {list(_K_KEYS)})")
    K = _array(K, where, k_key or "K", 9).reshape(3, 3)
    if K[2, 2] == 0:
        raise CalibrationError(f"{where}: {k_key}[2,2] is zero")
    K = K / K[2, 2]

    _, D = _fs_get(fs, _D_KEYS)
    dist = np.zeros(0) if D is None else _array(D, where, "distortion").reshape(-1)
    _, model = _fs_get(fs, _MODEL_KEYS)
    _, fisheye = _fs_get(fs, _FISHEYE_KEYS)
    if isinstance(model, str) and model:
        model = str(model)
    else:
        model = _model_for(dist.size, where, fisheye=bool(fisheye) if fisheye is not None else False)

    # Pose.
    R = t = None
    if extr is not None:
        R, t = extr
    else:
        r_key, Rv = _fs_get(fs, _R_KEYS)
        v_key, rv = _fs_get(fs, _RVEC_KEYS)
        _, T = _fs_get(fs, _T_KEYS)
        if Rv is not None:
            Rv = _array(Rv, where, r_key or "R")
            R = rvec_to_R(Rv, where) if Rv.size == 3 else clean_rotation(Rv.reshape(3, 3) if Rv.size == 9
                                                                           else Rv, where)
        elif rv is not None:
            R = rvec_to_R(_array(rv, where, v_key or "rvec"), where)
        if T is not None:
            t = _array(T, where, "translation", 3).reshape(3)
        if (R is None) != (t is None):
            raise CalibrationError(f"{where}: has {'a rotation' if R is not None else 'a translation'} "
                             "but not the other")

    # Image size.
    _, w = _fs_get(fs, _W_KEYS)
    _, h = _fs_get(fs, _H_KEYS)
    if w is None or h is None:
        _, sz = _fs_get(fs, _SIZE_KEYS)
        if sz is not None:
            sz = _array(sz, where, "image_size", 2).reshape(2)
            w, h = sz
    if w is None or h is None:
        w = width if width is not None else round(2 * K[0, 2])
        h = height if height is not None else round(2 * K[1, 2])
    calib = CameraCalib(
        str(name), str(path), K, dist, model,
        _size(w, where, "image width"), _size(h, where, "image height"), R, t,
    )
    calib.to_camera(np.eye(3) if calib.R is None else calib.R, np.zeros(3) if calib.t is None else calib.t)
    return calib


# ---------------------------------------------------------------------- aniposelib / Pose2Sim TOML
def read_toml(path: str | os.PathLike) -> list[CameraCalib]:
    """Read an aniposelib / Pose2Sim ``calibration.toml``: one :class:`CameraCalib` per camera table.

    Tables without a ``matrix`` key (e.g. ``[metadata]``) are skipped. Translations keep the
    file's units (Pose2Sim: metres; aniposelib: the board's units).
    """
    path = Path(path)
    try:
        data = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"{path}: not valid TOML, {exc}") from None
    except RecursionError:
        raise CalibrationError(f"{path}: TOML nested too deeply") from None
    out = []
    for key, sec in data.items():
        if not isinstance(sec, Mapping) or "matrix" not in sec:
            continue
        name = str(sec.get("name") or key)
        where = f"{path}: camera {name!r} (table [{key}])"
        K = _array(sec["matrix"], where, "matrix", 9).reshape(3, 3)
        dist = _array(sec.get("distortions", []), where, "distortions").reshape(-1)
        fisheye = bool(sec.get("fisheye", False))
        if not fisheye and 0 < dist.size < 4:
            dist = np.concatenate([dist, np.zeros(5 - dist.size)])  # aniposelib may store k1 only
        model = _model_for(dist.size, where, fisheye=fisheye)
        if "size" not in sec:
            raise CalibrationError(f"{where}: lacks 'size' [width, height]")
        size = _array(sec["size"], where, "size", 2).reshape(2)
        R = t = None
        if "rotation" in sec or "translation" in sec:
            if "rotation" not in sec or "translation" not in sec:
                raise CalibrationError(f"{where}: needs both 'rotation' and 'translation'")
            rot = _array(sec["rotation"], where, "rotation")
            if rot.size not in (3, 9):
                raise CalibrationError(f"{where}: rotation must be 3 numbers (Rodrigues vector) or a 3x3 "
                                       f"matrix, got {rot.size} numbers")
            R = rvec_to_R(rot, where) if rot.size == 3 else clean_rotation(rot.reshape(3, 3), where)
            t = _array(sec["translation"], where, "translation", 3).reshape(3)
        calib = CameraCalib(
            name, str(path), K, dist, model,
            _size(size[0], where, "size[0] (width)"), _size(size[1], where, "size[1] (height)"), R, t,
        )
        calib.to_camera(np.eye(3) if R is None else R, np.zeros(3) if t is None else t)
        out.append(calib)
    if not out:
        raise CalibrationError(f"{path}: no camera tables (with a 'matrix' key) found")
    return out


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not np.isfinite(f):
            raise CalibrationError(f"cannot write non-finite number {f} to TOML")
        return repr(f)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return "[ " + ", ".join(_toml_value(x) for x in v) + " ]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def write_toml(path: str | os.PathLike, cameras: Sequence[Camera], error: float = 0.0) -> None:
    """Write cameras as an aniposelib/Pose2Sim ``calibration.toml`` (tables ``[cam_0]``, ...).

    Rotations are written as Rodrigues vectors; translations in the cameras' units (metres).
    """
    lines = []
    for i, cam in enumerate(cameras):
        rvec = cv2.Rodrigues(np.asarray(cam.R, dtype=float))[0].reshape(3)
        lines += [
            f"[cam_{i}]",
            f"name = {_toml_value(cam.name)}",
            f"size = {_toml_value([cam.width, cam.height])}",
            f"matrix = {_toml_value(np.asarray(cam.K))}",
            f"distortions = {_toml_value(np.asarray(cam.dist))}",
            f"rotation = {_toml_value(rvec)}",
            f"translation = {_toml_value(np.asarray(cam.t))}",
            f"fisheye = {_toml_value(cam.distortion_model == 'equidistant')}",
            "",
        ]
    lines += ["[metadata]", "adjusted = false", f"error = {_toml_value(float(error))}", ""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")


# ---------------------------------------------------------------------- detection and conversion
def detect_format(path: str | os.PathLike) -> str:
    """Guess the format of a calibration file: one of :data:`FORMATS`.

    Raises:
        FileNotFoundError: no such file.
        CalibrationError: unknown format; a ``.yaml``/``.yml`` file (or one without a known
            suffix that is neither YAML nor TOML) with a YAML syntax error is reported as such,
            with its line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"calibration file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return "toml"
    if suffix in (".xml", ".json"):
        return "opencv"
    text = read_text(path)
    head = text[:4096]
    if head.lstrip().startswith("%YAML:1.") or "!!opencv-matrix" in head or "<opencv_storage>" in head:
        return "opencv"
    yaml_error = None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        data, yaml_error = None, exc
    except (RecursionError, ValueError, TypeError, OverflowError):
        data = None
    if isinstance(data, Mapping):
        if "cameras" in data:
            return "rig"
        if "camera_matrix" in data and "image_width" in data:
            return "camera_info"
        if any(k in data for k in _K_KEYS):
            return "opencv"
    if yaml_error is not None and suffix in (".yaml", ".yml"):
        raise CalibrationError(f"{path}: not valid YAML, {yaml_error_text(yaml_error)}")
    try:
        tomllib.loads(text)
        return "toml"
    except (tomllib.TOMLDecodeError, RecursionError):
        pass
    if yaml_error is not None:
        raise CalibrationError(f"{path}: neither YAML nor TOML; as YAML: {yaml_error_text(yaml_error)}")
    raise CalibrationError(
        f"{path}: unknown calibration format (expected a rig YAML, a ROS camera_info YAML, an OpenCV "
        "FileStorage XML/YAML or an aniposelib/Pose2Sim TOML); pass the format explicitly"
    )


def read_calibration(
    path: str | os.PathLike, format: str = "auto", width: int | None = None, height: int | None = None
) -> list[CameraCalib]:
    """Read any supported calibration file into a list of :class:`CameraCalib` (file units).

    ``width``/``height`` only fill in an image size the file lacks (OpenCV files).
    """
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "camera_info":
        return [read_camera_info_yaml(path)]
    if fmt == "opencv":
        return [read_opencv(path, width=width, height=height)]
    if fmt in ("toml", "anipose", "pose2sim"):
        return read_toml(path)
    if fmt == "rig":
        rig = load_rig(path)
        out = []
        for rc in rig.cameras:
            if rc.camera is not None:
                out.append(CameraCalib.from_camera(rc.camera, str(path)))
            else:
                out.append(CameraCalib(rc.name, str(path), R=np.array(rc.R), t=np.array(rc.t)))
        return out
    raise CalibrationError(f"unknown calibration format {format!r} (expected auto or one of {list(FORMATS)})")


def convert_to_rig(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    format: str = "auto",
    world_frame: str = "world",
    topic_prefix: str = "",
    width: int | None = None,
    height: int | None = None,
    scale: float = 1.0,
) -> Rig:
    """Read calibration files and merge them into a :class:`Rig`.

    Cameras are matched by name across files (in order of first appearance); a later file
    overrides what an earlier one said (so ``extrinsics.toml cam1.yaml`` takes the pose from the
    TOML and the intrinsics from the camera_info YAML). Every camera needs a pose; intrinsics are
    optional (the rig then takes them from camera_info at run time). Translations are multiplied
    by ``scale`` (file units -> metres, e.g. 0.001 for millimetres). Camera names are made
    ROS-legal (``Camera.001`` -> ``Camera_001``) and give the default topics
    ``<topic_prefix>/<name>/image_raw`` and ``.../camera_info`` and the frame id.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise CalibrationError("no calibration files given")
    if not (np.isfinite(scale) and scale > 0):
        raise CalibrationError(f"scale must be a positive number, got {scale}")
    merged: dict[str, CameraCalib] = {}
    for p in paths:
        for c in read_calibration(p, format, width, height):
            key = ros_name(c.name)
            old = merged.get(key)
            if old is None:
                merged[key] = replace(c, name=key)
                continue
            upd = {}
            if c.has_intrinsics:
                upd.update(K=c.K, dist=c.dist, distortion_model=c.distortion_model, width=c.width,
                           height=c.height)
            if c.has_pose:
                upd.update(R=c.R, t=c.t)
            merged[key] = replace(old, source=c.source, **upd)
    cams = []
    for key, c in merged.items():
        if not c.has_pose:
            raise CalibrationError(
                f"{c.source}: camera {c.name!r} has no pose (a camera_info YAML holds intrinsics only); "
                "also pass a rig, OpenCV or TOML file giving its extrinsics under the same camera name"
            )
        t = np.asarray(c.t, dtype=float) * scale
        img, info = default_topics(key, topic_prefix)
        cam = c.to_camera(c.R, t) if c.has_intrinsics else None
        cams.append(RigCamera(key, img, info, key, np.asarray(c.R, dtype=float), t, cam))
    return Rig(world_frame, cams)
