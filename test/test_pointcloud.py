"""ros2_mvpose.ros.pointcloud: the keypoint / skeleton wire formats, layouts other producers use,
and malformed clouds (one exception type, never another)."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import PointCloud2, PointField

from ros2_mvpose.ros.bad_message import BadMessage
from ros2_mvpose.ros.pointcloud import (
    KEYPOINTS2D_DTYPE,
    CloudFormatError,
    array_to_cloud,
    cloud_to_array,
    cloud_to_keypoints,
    cloud_to_skeletons,
    keypoints_to_cloud,
    skeletons_to_cloud,
)

PF = {"i1": 1, "u1": 2, "i2": 3, "u2": 4, "i4": 5, "u4": 6, "f4": 7, "f8": 8}


def random_keypoints(p: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kp = np.empty((p, 17, 3), np.float32)
    kp[:, :, :2] = rng.uniform(0, 1000, (p, 17, 2))
    kp[:, :, 2] = rng.uniform(0, 1, (p, 17))
    return kp


def custom_cloud(pts: dict[str, np.ndarray], order: str = "<", pad: int = 0, row_pad: int = 0,
                 height: int = 1) -> PointCloud2:
    """A cloud as another producer might lay it out: given field types, padding, rows, endianness."""
    names = list(pts)
    dtype = np.dtype({
        "names": names,
        "formats": [pts[k].dtype.newbyteorder(order) for k in names],
        "offsets": list(np.cumsum([0] + [pts[k].dtype.itemsize + pad for k in names])[:-1]),
        "itemsize": sum(pts[k].dtype.itemsize + pad for k in names),
    })
    n = len(pts[names[0]])
    arr = np.zeros(n, dtype)
    for k in names:
        arr[k] = pts[k]
    width = n // height
    rows = arr.view(np.uint8).reshape(height, width * dtype.itemsize)
    rows = np.concatenate([rows, np.full((height, row_pad), 0xEE, np.uint8)], axis=1)
    msg = PointCloud2(height=height, width=width, point_step=dtype.itemsize, row_step=rows.shape[1],
                      is_bigendian=order == ">", is_dense=True)
    msg.fields = [PointField(name=k, offset=int(dtype.fields[k][1]), datatype=PF[pts[k].dtype.str[1:]],
                             count=1) for k in names]
    msg.data = rows.tobytes()
    return msg


@pytest.mark.parametrize("p", [0, 1, 3])
def test_keypoints_round_trip_through_cdr(p):
    kp = random_keypoints(p, p)
    back = cloud_to_keypoints(deserialize_message(serialize_message(keypoints_to_cloud(kp)), PointCloud2))
    assert back.shape == (p, 17, 3)
    np.testing.assert_allclose(back, kp.astype(np.float64))


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("pad, row_pad, height", [(0, 0, 1), (3, 0, 1), (0, 5, 2), (2, 7, 17)])
def test_other_layouts_read_the_same(order, pad, row_pad, height):
    """float64 coordinates, uint8/int16 indices, padding between fields and rows, big-endian."""
    kp = random_keypoints(2, 5)
    flat = kp.reshape(-1, 3)
    pts = {
        "joint": np.tile(np.arange(17), 2).astype(np.uint8),
        "u": flat[:, 0].astype(np.float64),
        "v": flat[:, 1].astype(np.float64),
        "score": flat[:, 2].astype(np.float32),
        "person": np.repeat([7, 3], 17).astype(np.int16),
        "extra": np.ones(34, np.float32),
    }
    msg = custom_cloud(pts, order, pad, row_pad, height)
    back = cloud_to_keypoints(deserialize_message(serialize_message(msg), PointCloud2))
    np.testing.assert_allclose(back[1], kp[0], rtol=1e-6)  # person 7 sorts after person 3
    np.testing.assert_allclose(back[0], kp[1], rtol=1e-6)


def test_skeletons_round_trip():
    rng = np.random.default_rng(1)
    joints = rng.normal(size=(2, 17, 3))
    joints[1, 4] = np.nan
    out = cloud_to_skeletons(skeletons_to_cloud(np.array([5, 9]), joints, np.full((2, 17), 0.5)))
    assert sorted(out) == [5, 9]
    np.testing.assert_allclose(out[9][0], joints[1], rtol=1e-6)
    assert out[9][1][4] == 0 and out[5][1][4] == 0.5


def valid_cloud() -> PointCloud2:
    return keypoints_to_cloud(random_keypoints(2))


def expect(msg, problem: str, match: str):
    with pytest.raises(CloudFormatError, match=match) as info:
        cloud_to_keypoints(msg)
    assert info.value.problem == problem
    assert isinstance(info.value, BadMessage)


def test_each_malformed_layout_named():
    msg = valid_cloud()
    msg.fields[1].offset = msg.point_step - 2  # 'v' (4 bytes) would reach past the point
    expect(msg, "layout", "field 'v' .* beyond point_step 20")
    msg = valid_cloud()
    msg.fields[0].offset = 10_000
    expect(msg, "layout", "beyond point_step")
    msg = valid_cloud()
    msg.row_step = msg.row_step - 1
    expect(msg, "layout", "row_step .* smaller than point_step\\*width")
    msg = valid_cloud()
    msg.row_step += 4  # rows longer than the data holds
    expect(msg, "size", "expected row_step\\*height")
    msg = valid_cloud()
    msg.data = bytes(msg.data)[:-1]
    expect(msg, "size", "data has 679 bytes")
    msg = valid_cloud()
    msg.data = bytes(msg.data) + b"\0" * 20
    expect(msg, "size", "data has 700 bytes")
    msg = valid_cloud()
    msg.width = 2**32 - 1
    msg.row_step = 2**32 - 1
    expect(msg, "layout", "row_step")
    msg.height = 2**32 - 1
    msg.row_step = msg.point_step * msg.width
    expect(msg, "size", "data has 680 bytes")
    msg = valid_cloud()
    msg.point_step = 0
    expect(msg, "layout", "beyond point_step 0")
    msg.fields = []
    expect(msg, "layout", "point_step 0")
    msg = valid_cloud()
    msg.fields[2].datatype = 9
    expect(msg, "fields", "unknown PointField datatype 9")
    msg = valid_cloud()
    msg.fields[4].name = "u"
    expect(msg, "fields", "field 'u' twice")
    msg = valid_cloud()
    msg.fields = msg.fields[:3]
    expect(msg, "fields", "lacks field\\(s\\) \\['person', 'joint'\\]")


def test_each_bad_value_named():
    kp = random_keypoints(2)
    kp[1, 3, 2] = np.nan
    expect(keypoints_to_cloud(kp), "nonfinite", "non-finite scores")
    kp = random_keypoints(2)
    kp[0, 5, 0] = np.inf
    expect(keypoints_to_cloud(kp), "nonfinite", "non-finite coordinates")
    kp[0, 5, 2] = 0.0  # a joint nobody saw may have any coordinates
    assert cloud_to_keypoints(keypoints_to_cloud(kp)).shape == (2, 17, 3)
    pts = np.zeros(3, KEYPOINTS2D_DTYPE)
    pts["joint"] = [0, 1, 17]
    expect(array_to_cloud(pts), "values", "joint index outside 0..16")
    flo = {"u": np.zeros(2, np.float32), "v": np.zeros(2, np.float32), "score": np.ones(2, np.float32),
           "person": np.array([0, np.nan], np.float32), "joint": np.array([0, 1], np.float32)}
    expect(custom_cloud(flo), "values", "'person' must hold integers")
    flo["person"] = np.array([0, 1.5], np.float32)
    expect(custom_cloud(flo), "values", "'person' must hold integers")
    flo["person"] = np.array([0, 1], np.float32)
    assert cloud_to_keypoints(custom_cloud(flo)).shape == (2, 17, 3)  # integral floats are fine
    flo["person"] = np.array([0, 2**40], np.float64)
    expect(custom_cloud(flo), "values", "'person' is out of range")


def test_empty_cloud_is_nobody():
    msg = keypoints_to_cloud(np.zeros((0, 17, 3)))
    assert msg.width == 0 and cloud_to_keypoints(msg).shape == (0, 17, 3)
    msg.data = b"junk"  # no points: the data is not looked at
    assert cloud_to_keypoints(msg).shape == (0, 17, 3)


def test_fuzz_random_layouts_only_bad_message():
    """Random fields, datatypes, offsets, counts, steps, sizes, endianness and data (with NaN/inf):
    ``cloud_to_keypoints`` / ``cloud_to_skeletons`` return or raise BadMessage, nothing else."""
    rng = np.random.default_rng(3)
    names = ["u", "v", "score", "person", "joint", "x", "y", "z", "rgb"]
    decoded = 0
    for trial in range(4000):
        base = keypoints_to_cloud(random_keypoints(int(rng.integers(0, 3)), trial))
        if trial % 2 == 0:  # random layout from scratch
            nf = int(rng.integers(0, 8))
            step = int(rng.choice([0, 1, 4, 8, 20, 24, 33, int(rng.integers(0, 64))]))
            fields = [PointField(name=str(rng.choice(names)), offset=int(rng.integers(0, 40)),
                                 datatype=int(rng.integers(0, 10)), count=int(rng.choice([0, 1, 1, 1, 3])))
                      for _ in range(nf)]
            width = int(rng.choice([0, 1, 2, 17, 34, 2**31, 2**32 - 1]))
            height = int(rng.choice([0, 1, 1, 1, 2, 2**32 - 1]))
            row_step = int(rng.choice([step * width % 2**32, int(rng.integers(0, 100)), 2**32 - 1]))
            msg = PointCloud2(height=height, width=width, point_step=step, row_step=row_step,
                              is_bigendian=bool(rng.integers(0, 2)), fields=fields)
            n = int(rng.choice([row_step * height % 5000, int(rng.integers(0, 800))]))
            raw = rng.integers(0, 256, n, np.uint8)
        else:  # a valid cloud, mutated
            msg = base
            raw = np.frombuffer(bytes(base.data), np.uint8).copy()
            what = trial % 7
            if what == 1 and raw.size:
                floats = raw[: raw.size // 4 * 4].view(np.float32)
                floats[rng.integers(0, floats.size, 3)] = rng.choice([np.nan, np.inf, -np.inf, 1e38])
            elif what == 3 and msg.fields:
                f = msg.fields[int(rng.integers(0, len(msg.fields)))]
                f.offset, f.datatype = int(rng.integers(0, 30)), int(rng.integers(0, 10))
            elif what == 5:
                msg.point_step = int(rng.integers(0, 40))
                msg.row_step = int(rng.integers(0, 1000))
            elif raw.size:
                raw = raw[: int(rng.integers(0, raw.size + 1))]
        msg.data = raw.tobytes()
        for decode in (cloud_to_keypoints, cloud_to_skeletons, cloud_to_array):
            try:
                out = decode(msg)
            except BadMessage as exc:
                assert exc.problem and str(exc)
                continue
            if decode is cloud_to_keypoints:
                assert out.ndim == 3 and out.shape[1:] == (17, 3)
                assert np.all(np.isfinite(out[:, :, 2]))
                assert np.all(np.isfinite(out[:, :, :2][out[:, :, 2] > 0]))
                decoded += 1
    assert decoded > 300
