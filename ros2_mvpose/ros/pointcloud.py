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
"""

from __future__ import annotations

import numpy as np

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


class CloudFormatError(ValueError):
    """A PointCloud2 does not have the fields or layout a wire format requires."""


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


def cloud_to_array(msg, required: np.dtype | None = None) -> np.ndarray:
    """Unpack a ``PointCloud2`` into a 1-D structured array.

    Args:
        msg: the cloud (rclpy message, or any object with the same attributes).
        required: if given, the returned array has exactly this dtype; each of its fields must
            exist in the cloud (any datatype, converted), otherwise ``CloudFormatError``.

    Raises:
        CloudFormatError: missing fields, big-endian data, or a data size that does not match
            ``point_step * width * height``.
    """
    if msg.is_bigendian:
        raise CloudFormatError("big-endian PointCloud2 is not supported")
    n = int(msg.width) * int(msg.height)
    step = int(msg.point_step)
    data = bytes(msg.data) if not isinstance(msg.data, (bytes, bytearray)) else msg.data
    if n and len(data) < n * step:
        raise CloudFormatError(
            f"PointCloud2 data has {len(data)} bytes, expected point_step*width*height = {n * step}"
        )
    names, formats, offsets = [], [], []
    for f in msg.fields:
        if f.datatype not in _PF_TO_NP:
            raise CloudFormatError(f"field {f.name!r} has unknown PointField datatype {f.datatype}")
        if int(f.count) != 1:
            continue  # multi-count fields are not part of our formats
        names.append(f.name)
        formats.append(_PF_TO_NP[f.datatype].newbyteorder("<"))
        offsets.append(int(f.offset))
    if step == 0 and n:
        raise CloudFormatError("PointCloud2 has point_step 0")
    src_dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": max(step, 1)})
    if n:
        raw = np.frombuffer(data, dtype=np.uint8, count=n * step)
        if int(msg.height) > 1 and int(msg.row_step) != step * int(msg.width):
            rows = np.frombuffer(data, dtype=np.uint8).reshape(int(msg.height), int(msg.row_step))
            raw = np.ascontiguousarray(rows[:, : step * int(msg.width)]).reshape(-1)
        arr = raw.view(src_dtype)
    else:
        arr = np.zeros(0, dtype=src_dtype)
    if required is None:
        return np.array(arr)
    missing = [name for name in required.names if name not in names]
    if missing:
        raise CloudFormatError(
            f"PointCloud2 lacks field(s) {missing}; has {names}, expected {list(required.names)}"
        )
    out = np.empty(arr.shape[0], dtype=required)
    for name in required.names:
        out[name] = arr[name]
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
        CloudFormatError: wrong fields, joint index outside 0..16, non-finite scores.
    """
    pts = cloud_to_array(msg, KEYPOINTS2D_DTYPE)
    if pts.size == 0:
        return np.zeros((0, NUM_JOINTS, 3))
    joint = pts["joint"].astype(np.int64)
    if joint.min() < 0 or joint.max() >= NUM_JOINTS:
        raise CloudFormatError(f"keypoint cloud has joint index outside 0..{NUM_JOINTS - 1}")
    persons, pidx = np.unique(pts["person"], return_inverse=True)
    out = np.full((persons.size, NUM_JOINTS, 3), np.nan)
    out[:, :, 2] = 0.0
    out[pidx, joint, 0] = pts["u"]
    out[pidx, joint, 1] = pts["v"]
    out[pidx, joint, 2] = pts["score"]
    if not np.all(np.isfinite(out[:, :, 2])):
        raise CloudFormatError("keypoint cloud has non-finite scores")
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
