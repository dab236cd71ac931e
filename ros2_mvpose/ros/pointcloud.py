"""sensor_msgs/PointCloud2 <-> numpy structured arrays, and the package's two wire formats.

Wire formats (documented in README, "Topics and wire formats"):

- 2D keypoints (``<camera>/keypoints2d``): one point per (person, joint) that the 2D model
  returned, fields ``u, v, score`` (float32, raw image pixels, score in [0, 1]) and
  ``person, joint`` (int32; ``person`` indexes the people of that image, ``joint`` is the
  COCO-17 index). Joints with score 0 are still sent, so a cloud always holds ``17 * P`` points.
  ``height = 1``, ``width = 17 * P``; an empty cloud (width 0) means nobody was seen.
- 3D skeletons (``skeletons/points``): one point per reconstructed joint, fields
  ``x, y, z, score`` (float32; metres in ``world_frame``) and ``person, joint`` (int32;
  ``person`` is the stable track id). Joints that were not reconstructed are not sent.

Reading a cloud checks its layout against the PointCloud2 definition (fields inside
``point_step``, ``row_step >= point_step * width``, ``len(data) == row_step * height``, known
datatypes) and its values (finite scores, finite coordinates where the score is positive,
joint indices in range); every malformed cloud raises :class:`CloudFormatError`, a
:class:`~ros2_mvpose.ros.bad_message.BadMessage`, and nothing else.
"""

from __future__ import annotations

import numpy as np

from ros2_mvpose.ros.bad_message import BadMessage, byte_array, uint_field
from ros2_mvpose.skeleton import NUM_JOINTS

# sensor_msgs/PointField datatypes
_INT8, _UINT8, _INT16, _UINT16, _INT32, _UINT32, _FLOAT32, _FLOAT64 = 1, 2, 3, 4, 5, 6, 7, 8
_NP_TO_PF = {
    np.dtype("int8"): _INT8,
    np.dtype("uint8"): _UINT8,
    np.dtype("int16"): _INT16,
    np.dtype("uint16"): _UINT16,
    np.dtype("int32"): _INT32,
    np.dtype("uint32"): _UINT32,
    np.dtype("float32"): _FLOAT32,
    np.dtype("float64"): _FLOAT64,
}
_PF_TO_NP = {v: k for k, v in _NP_TO_PF.items()}

KEYPOINTS2D_DTYPE = np.dtype(
    [("u", "<f4"), ("v", "<f4"), ("score", "<f4"), ("person", "<i4"), ("joint", "<i4")]
)
SKELETONS3D_DTYPE = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("score", "<f4"), ("person", "<i4"), ("joint", "<i4")]
)


class CloudFormatError(BadMessage):
    """A PointCloud2 does not have the fields, layout or values a wire format requires."""


def array_to_cloud(points: np.ndarray, header=None):
    """Pack a 1-D numpy structured array into a ``sensor_msgs/PointCloud2`` (``height = 1``).

    Args:
        points: ``(N,)`` structured array of scalar numeric fields (little-endian).
        header: ``std_msgs/Header`` to copy into the message (optional).
    """
    from sensor_msgs.msg import PointCloud2, PointField

    points = np.ascontiguousarray(points)
    if points.dtype.names is None or points.ndim != 1:
        raise ValueError("array_to_cloud needs a 1-D structured array")
    msg = PointCloud2()
    if header is not None:
        msg.header = header
    fields = []
    for name in points.dtype.names:
        dt, offset = points.dtype.fields[name][:2]
        base = dt.newbyteorder("=")
        if base not in _NP_TO_PF:
            raise ValueError(f"field {name!r} has unsupported dtype {dt}")
        fields.append(PointField(name=name, offset=offset, datatype=_NP_TO_PF[base], count=1))
    msg.fields = fields
    msg.is_bigendian = False
    msg.point_step = points.dtype.itemsize
    msg.height = 1
    msg.width = int(points.shape[0])
    msg.row_step = msg.point_step * msg.width
    msg.is_dense = True
    msg.data = points.tobytes()
    return msg


def _point_fields(msg, step: int, order: str) -> tuple[list[str], list[np.dtype], list[int]]:
    """Names, dtypes and offsets of the cloud's single-count fields, each checked to fit ``step``."""
    names: list[str] = []
    formats: list[np.dtype] = []
    offsets: list[int] = []
    try:
        fields = list(msg.fields)
    except (AttributeError, TypeError) as exc:
        raise CloudFormatError("PointCloud2 has no field list", "fields") from exc
    for f in fields:
        try:
            name, datatype, offset, count = str(f.name), int(f.datatype), int(f.offset), int(f.count)
        except (AttributeError, TypeError, ValueError, OverflowError) as exc:
            raise CloudFormatError(f"PointCloud2 has a malformed PointField ({exc})", "fields") from exc
        if datatype not in _PF_TO_NP:
            raise CloudFormatError(f"field {name!r} has unknown PointField datatype {datatype}", "fields")
        size = _PF_TO_NP[datatype].itemsize
        if offset < 0 or offset + size * max(count, 1) > step:
            raise CloudFormatError(
                f"field {name!r} (offset {offset}, {max(count, 1)} x {size} bytes) lies beyond "
                f"point_step {step}", "layout",
            )
        if count != 1:
            continue  # multi-count fields are not part of our formats
        if name in names:
            raise CloudFormatError(f"PointCloud2 has field {name!r} twice", "fields")
        names.append(name)
        formats.append(_PF_TO_NP[datatype].newbyteorder(order))
        offsets.append(offset)
    return names, formats, offsets


def cloud_to_array(msg, required: np.dtype | None = None) -> np.ndarray:
    """Unpack a ``PointCloud2`` into a 1-D structured array (``height * width`` points).

    Args:
        msg: the cloud (rclpy message, or any object with the same attributes).
        required: if given, the returned array has exactly this dtype; each of its fields must
            exist in the cloud (any numeric datatype, converted; integer fields must hold
            integers), otherwise ``CloudFormatError``.

    Raises:
        CloudFormatError: missing or unknown fields, a field beyond ``point_step``, ``row_step``
            smaller than a row, or data whose size is not ``row_step * height``.
    """
    fields = ("width", "height", "point_step", "row_step")
    width, height, step, row_step = (uint_field(msg, f, "PointCloud2", CloudFormatError) for f in fields)
    order = ">" if getattr(msg, "is_bigendian", False) else "<"
    names, formats, offsets = _point_fields(msg, step, order)
    n = width * height
    data = np.zeros(0, np.uint8)
    if n:
        data = byte_array(getattr(msg, "data", b""), "PointCloud2", CloudFormatError)
    if n:
        if step == 0:
            raise CloudFormatError(f"PointCloud2 has point_step 0 with {n} points", "layout")
        if row_step < step * width:
            raise CloudFormatError(
                f"PointCloud2 row_step {row_step} is smaller than point_step*width = {step}*{width}", "layout"
            )
        if data.size != row_step * height:
            raise CloudFormatError(
                f"PointCloud2 data has {data.size} bytes, expected row_step*height = {row_step}*{height} = "
                f"{row_step * height}", "size",
            )
    src_dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": max(step, 1)})
    if n:
        rows = data.reshape(height, row_step)[:, : step * width]
        arr = np.ascontiguousarray(rows).reshape(-1).view(src_dtype)
    else:
        arr = np.zeros(0, dtype=src_dtype)
    if required is None:
        return np.array(arr)
    missing = [name for name in required.names if name not in names]
    if missing:
        raise CloudFormatError(
            f"PointCloud2 lacks field(s) {missing}; has {names}, expected {list(required.names)}", "fields"
        )
    out = np.empty(arr.shape[0], dtype=required)
    for name in required.names:
        values = arr[name]
        if required[name].kind in "iu" and values.dtype.kind == "f":
            if not np.all(np.isfinite(values) & (values == np.round(values))):
                raise CloudFormatError(f"PointCloud2 field {name!r} must hold integers", "values")
        if required[name].kind in "iu":
            info = np.iinfo(required[name])
            if values.size and (values.min() < info.min or values.max() > info.max):
                raise CloudFormatError(f"PointCloud2 field {name!r} is out of range for {required[name]}",
                                       "values")
        out[name] = values
    return out


def keypoints_to_cloud(keypoints: np.ndarray, header=None):
    """Encode ``(P, 17, 3)`` keypoints (u, v, score in raw image pixels) as a 2D keypoint cloud."""
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"keypoints must have shape (P, {NUM_JOINTS}, 3), got {kp.shape}")
    p = kp.shape[0]
    pts = np.empty(p * NUM_JOINTS, dtype=KEYPOINTS2D_DTYPE)
    flat = kp.reshape(-1, 3)
    pts["u"], pts["v"], pts["score"] = flat[:, 0], flat[:, 1], flat[:, 2]
    pts["person"] = np.repeat(np.arange(p, dtype=np.int32), NUM_JOINTS)
    pts["joint"] = np.tile(np.arange(NUM_JOINTS, dtype=np.int32), p)
    return array_to_cloud(pts, header)


def cloud_to_keypoints(msg) -> np.ndarray:
    """Decode a 2D keypoint cloud into ``(P, 17, 3)`` float64 (u, v, score).

    People are indexed by the ``person`` field (renumbered densely in ascending order); joints
    a cloud omits get score 0 and NaN coordinates.

    Raises:
        CloudFormatError: wrong fields or layout, joint index outside 0..16, non-finite scores,
            non-finite coordinates with a positive score.
    """
    pts = cloud_to_array(msg, KEYPOINTS2D_DTYPE)
    if pts.size == 0:
        return np.zeros((0, NUM_JOINTS, 3))
    joint = pts["joint"].astype(np.int64)
    if joint.min() < 0 or joint.max() >= NUM_JOINTS:
        raise CloudFormatError(f"keypoint cloud has joint index outside 0..{NUM_JOINTS - 1}", "values")
    persons, pidx = np.unique(pts["person"], return_inverse=True)
    out = np.full((persons.size, NUM_JOINTS, 3), np.nan)
    out[:, :, 2] = 0.0
    out[pidx, joint, 0] = pts["u"]
    out[pidx, joint, 1] = pts["v"]
    out[pidx, joint, 2] = pts["score"]
    if not np.all(np.isfinite(out[:, :, 2])):
        raise CloudFormatError("keypoint cloud has non-finite scores", "nonfinite")
    if not np.all(np.isfinite(out[:, :, :2][out[:, :, 2] > 0])):
        raise CloudFormatError("keypoint cloud has non-finite coordinates with a positive score", "nonfinite")
    return out


def skeletons_to_cloud(ids: np.ndarray, joints: np.ndarray, scores: np.ndarray, header=None):
    """Encode 3D skeletons as a ``skeletons/points`` cloud.

    Args:
        ids: ``(P,)`` int track ids.
        joints: ``(P, 17, 3)`` world coordinates in metres; NaN rows are skipped.
        scores: ``(P, 17)`` joint confidences.
    """
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    joints = np.asarray(joints, dtype=np.float64).reshape(ids.size, NUM_JOINTS, 3)
    scores = np.asarray(scores, dtype=np.float64).reshape(ids.size, NUM_JOINTS)
    valid = np.all(np.isfinite(joints), axis=2)
    pi, ji = np.nonzero(valid)
    pts = np.empty(pi.size, dtype=SKELETONS3D_DTYPE)
    xyz = joints[pi, ji]
    pts["x"], pts["y"], pts["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    pts["score"] = scores[pi, ji]
    pts["person"] = ids[pi]
    pts["joint"] = ji
    return array_to_cloud(pts, header)


def cloud_to_skeletons(msg) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Decode a ``skeletons/points`` cloud into ``{track_id: (joints (17, 3), scores (17,))}``.

    Joints absent from the cloud are NaN (score 0).
    """
    pts = cloud_to_array(msg, SKELETONS3D_DTYPE)
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for pid in np.unique(pts["person"]):
        sel = pts[pts["person"] == pid]
        j = np.full((NUM_JOINTS, 3), np.nan)
        s = np.zeros(NUM_JOINTS)
        idx = sel["joint"].astype(np.int64)
        ok = (idx >= 0) & (idx < NUM_JOINTS)
        j[idx[ok]] = np.stack([sel["x"], sel["y"], sel["z"]], axis=1)[ok]
        s[idx[ok]] = sel["score"][ok]
        out[int(pid)] = (j, s)
    return out
