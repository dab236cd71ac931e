"""sensor_msgs/CameraInfo -> :class:`~ros2_mvpose.geometry.camera.Camera`, for received messages.

:func:`camera_from_info_msg` checks the message (array lengths, finite values, positive focal
lengths and image size, a known distortion model with the right number of coefficients) and
raises :class:`CameraInfoError`, a :class:`~ros2_mvpose.ros.bad_message.BadMessage`, for
anything wrong, never another exception type. The conversion itself is
``Camera.from_camera_info`` (one implementation for messages, dicts and files).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ros2_mvpose.geometry.camera import DISTORTION_MODELS, Camera, _normalize_model
from ros2_mvpose.ros.bad_message import BadMessage

__all__ = ["CameraInfoError", "camera_from_info_msg", "camera_info_key"]


class CameraInfoError(BadMessage):
    """A CameraInfo message that does not describe a usable calibrated camera."""


def _floats(info: Any, field: str, name: str) -> np.ndarray:
    try:
        raw = getattr(info, field)
        if raw is None or isinstance(raw, (str, bytes)):
            raise TypeError(field)
        values = np.asarray(raw, dtype=float).reshape(-1)
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise CameraInfoError(f"camera {name!r}: CameraInfo {field.upper()} is missing or not numbers",
                              field) from exc
    if not np.all(np.isfinite(values)):
        raise CameraInfoError(f"camera {name!r}: CameraInfo {field.upper()} contains NaN or inf", "nonfinite")
    return values


def camera_info_key(info: Any) -> tuple:
    """Hashable key of the fields that define the intrinsics (K, D, model, size): equal keys,
    equal cameras. Never raises; a malformed message gets a key too (and is refused later)."""
    def part(field: str) -> Any:
        try:
            value = getattr(info, field)
            return tuple(float(x) for x in value) if field in ("k", "d") else str(value)
        except Exception:  # noqa: BLE001 - any malformed field: a key that differs from valid ones
            return ("invalid", field)

    return tuple(part(f) for f in ("k", "d", "distortion_model", "width", "height"))


def camera_from_info_msg(info: Any, R: Any, t: Any, name: str) -> Camera:
    """Camera with the intrinsics of a ``sensor_msgs/CameraInfo`` and the pose ``R`` (3,3), ``t`` (3,).

    ``P`` and ``R`` of the message are checked (12 and 9 finite values, when present) but not
    used: the raw image is modelled with ``K`` and ``D``.

    Raises:
        CameraInfoError: with ``problem`` one of ``k``, ``d``, ``r``, ``p`` (wrong length or not
            numbers), ``nonfinite``, ``uncalibrated`` (K all zero), ``intrinsics`` (focal
            lengths not positive, K not upper triangular), ``distortion_model``, ``size``.
    """
    k = _floats(info, "k", name)
    if k.size != 9:
        raise CameraInfoError(f"camera {name!r}: CameraInfo K has {k.size} values, expected 9", "k")
    if not np.any(k):
        raise CameraInfoError(f"camera {name!r}: CameraInfo K is all zero (camera not calibrated)",
                              "uncalibrated")
    if not (k[0] > 0 and k[4] > 0):
        raise CameraInfoError(
            f"camera {name!r}: CameraInfo K has focal lengths fx={k[0]:g}, fy={k[4]:g}; both must be > 0",
            "intrinsics",
        )
    for field, size in (("r", 9), ("p", 12)):
        if hasattr(info, field):
            values = _floats(info, field, name)
            if values.size not in (0, size):
                raise CameraInfoError(
                    f"camera {name!r}: CameraInfo {field.upper()} has {values.size} values, "
                    f"expected {size}", field,
                )
    d = _floats(info, "d", name)
    model_text = str(getattr(info, "distortion_model", "") or "")
    try:
        model = _normalize_model(model_text, name)
    except ValueError as exc:
        raise CameraInfoError(str(exc), "distortion_model") from None
    if d.size not in DISTORTION_MODELS[model]:
        counts = " or ".join(str(n) for n in DISTORTION_MODELS[model] if n)
        raise CameraInfoError(
            f"camera {name!r}: distortion model {model_text or model!r} takes {counts} coefficients, "
            f"CameraInfo D has {d.size}", "d",
        )
    for field in ("width", "height"):
        value = getattr(info, field, None)
        try:
            ok = value is not None and math.isfinite(float(value)) and int(value) == float(value) > 0
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise CameraInfoError(f"camera {name!r}: CameraInfo {field} {value!r} is not a positive integer",
                                  "size")
    try:
        return Camera.from_camera_info(info, R, t, name=name)
    except (ValueError, TypeError) as exc:
        raise CameraInfoError(str(exc), "intrinsics") from None
