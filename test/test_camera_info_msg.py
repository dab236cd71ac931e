"""ros2_mvpose.ros.camera_info: CameraInfo messages -> Camera, every malformed one refused with
CameraInfoError (a BadMessage) naming the camera and the problem."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo

from ros2_mvpose.geometry.camera import Camera
from ros2_mvpose.ros.bad_message import BadMessage
from ros2_mvpose.ros.camera_info import CameraInfoError, camera_from_info_msg, camera_info_key

R, T = np.eye(3), np.array([0.1, -0.2, 3.0])


def good_info(**changes) -> CameraInfo:
    info = CameraInfo(width=640, height=480, distortion_model="plumb_bob")
    info.k = [500.0, 0.0, 320.0, 0.0, 505.0, 240.0, 0.0, 0.0, 1.0]
    info.d = [0.1, -0.05, 0.001, 0.002, 0.01]
    info.r = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
    info.p = [500.0, 0, 320.0, 0, 0, 505.0, 240.0, 0, 0, 0, 1.0, 0]
    for k, v in changes.items():
        setattr(info, k, v)
    return info


def test_valid_message_gives_the_camera():
    info = deserialize_message(serialize_message(good_info()), CameraInfo)
    cam = camera_from_info_msg(info, R, T, "cam1")
    assert isinstance(cam, Camera) and cam.name == "cam1"
    assert (cam.width, cam.height, cam.distortion_model) == (640, 480, "plumb_bob")
    np.testing.assert_array_equal(cam.K, np.reshape(info.k, (3, 3)))
    np.testing.assert_array_equal(cam.t, T)
    fisheye = good_info(distortion_model="equidistant", d=[0.1, 0.01, 0.0, 0.001])
    assert camera_from_info_msg(fisheye, R, T, "cam2").distortion_model == "equidistant"
    assert camera_from_info_msg(good_info(d=[]), R, T, "c").dist.size == 0


def test_key_tells_equal_intrinsics_apart():
    assert camera_info_key(good_info()) == camera_info_key(good_info())
    assert camera_info_key(good_info()) != camera_info_key(good_info(width=641))
    assert camera_info_key(good_info()) != camera_info_key(good_info(d=[0.1, -0.05, 0.001, 0.002, 0.02]))
    assert camera_info_key(SimpleNamespace(k=None, d=3)) == camera_info_key(SimpleNamespace(k=None, d=3))


ZERO_K = [0.0] * 9


@pytest.mark.parametrize("changes, problem, match", [
    ({"k": ZERO_K}, "uncalibrated", "all zero"),
    ({"k": [0.0, 0, 320, 0, 505, 240, 0, 0, 1]}, "intrinsics", "fx=0"),
    ({"k": [500.0, 0, 320, 0, -5, 240, 0, 0, 1]}, "intrinsics", "fy=-5"),
    ({"k": [500.0, 0, 320, 0, 505, 240, 0, 0, 2]}, "intrinsics", "upper triangular"),
    ({"k": [500.0, 0, np.nan, 0, 505, 240, 0, 0, 1]}, "nonfinite", "K contains NaN"),
    ({"d": [0.1, np.inf, 0, 0, 0]}, "nonfinite", "D contains NaN or inf"),
    ({"d": [0.1, 0.2, 0.3]}, "d", "takes 4 or 5 coefficients, CameraInfo D has 3"),
    ({"distortion_model": "equidistant"}, "d", "takes 4 coefficients, CameraInfo D has 5"),
    ({"distortion_model": "kannala_brandt"}, "distortion_model", "unknown distortion_model 'kannala_brandt'"),
    ({"p": [np.nan] * 12}, "nonfinite", "P contains NaN"),
    ({"width": 0}, "size", "width 0"),
    ({"height": 0}, "size", "height 0"),
])
def test_each_problem_named(changes, problem, match):
    with pytest.raises(CameraInfoError, match=match) as info:
        camera_from_info_msg(good_info(**changes), R, T, "cam7")
    assert info.value.problem == problem and "'cam7'" in str(info.value)


@pytest.mark.parametrize("field, values, problem", [
    ("k", [1.0] * 8, "k"), ("k", [1.0] * 12, "k"), ("r", [1.0] * 4, "r"), ("p", [1.0] * 9, "p"),
    ("k", "abc", "k"), ("d", None, "d"), ("k", [object()] * 9, "k"),
])
def test_wrong_lengths_and_types_in_look_alikes(field, values, problem):
    """Bag readers and dicts hand over plain objects: wrong lengths and types are named too."""
    info = good_info()
    fake = SimpleNamespace(**{f: getattr(info, f) for f in ("k", "d", "r", "p", "width", "height",
                                                           "distortion_model")})
    setattr(fake, field, values)
    with pytest.raises(CameraInfoError) as exc:
        camera_from_info_msg(fake, R, T, "camX")
    assert exc.value.problem == problem


def test_fuzz_only_bad_message():
    rng = np.random.default_rng(4)
    specials = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e308, -1e-308]
    made = 0
    for _ in range(3000):
        info = good_info()
        for _ in range(int(rng.integers(1, 4))):
            field = str(rng.choice(["k", "d", "r", "p", "width", "height", "distortion_model"]))
            if field in ("k", "r", "p"):
                arr = np.array(getattr(info, field))
                arr[rng.integers(0, arr.size)] = rng.choice(specials + [float(rng.normal() * 1000)])
                setattr(info, field, arr.tolist())
            elif field == "d":
                n = int(rng.choice([0, 1, 4, 5, 8, 12, 14, 15]))
                d = rng.normal(0, 0.1, n)
                if n and rng.random() < 0.3:
                    d[rng.integers(0, n)] = rng.choice(specials)
                info.d = d.tolist()
            elif field == "distortion_model":
                info.distortion_model = str(rng.choice(["", "plumb_bob", "rational_polynomial", "equidistant",
                                                        "fisheye", "none", "PLUMB_BOB", "x"]))
            else:
                setattr(info, field, int(rng.choice([0, 1, 2**32 - 1, 640])))
        try:
            cam = camera_from_info_msg(info, R, T, "fz")
        except BadMessage as exc:
            assert exc.problem and "'fz'" in str(exc)
            continue
        assert np.all(np.isfinite(cam.K)) and cam.K[0, 0] > 0
        made += 1
    assert made > 100
