"""Rig file: load/save round trips, defaults, validation errors naming file and camera."""

from __future__ import annotations

import textwrap

import cv2
import numpy as np
import pytest
import yaml

from ros2_mvpose.geometry import Camera, Rig, RigCamera, load_rig, save_rig
from ros2_mvpose.geometry.camera import rotation_error

K = np.array([[900.0, 0.0, 640.0], [0.0, 905.0, 360.0], [0.0, 0.0, 1.0]])


def _cam(name: str, i: int, model: str = "plumb_bob") -> Camera:
    R = cv2.Rodrigues(np.array([0.1 * i, -0.4 + 0.2 * i, 0.05]))[0]
    t = np.array([0.3 * i - 1.0, 0.2, 3.5 + 0.1 * i])
    dist = {"plumb_bob": [-0.1, 0.02, 0.001, 0.0, 0.0], "rational_polynomial": np.arange(1, 9) * 1e-3,
            "equidistant": [0.01, 0.0, -0.002, 0.0]}[model]
    return Camera(name, K, dist, R, t, 1280, 720, model)


def _write(tmp_path, text: str):
    p = tmp_path / "rig.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_round_trip_exact(tmp_path):
    cams = [_cam("a", 0), _cam("b", 1, "rational_polynomial"), _cam("c", 2, "equidistant")]
    rig = Rig.from_cameras(cams, world_frame="map", topic_prefix="/rig")
    rig.cameras.append(RigCamera("posed_only", "/x/img", "/x/info", "x_frame", cams[0].R, [1.0, 2.0, 3.0]))
    path = tmp_path / "out.yaml"
    save_rig(rig, path, comment="test rig")
    text = path.read_text()
    assert text.startswith("# ros2_mvpose rig file") and "# test rig" in text
    back = load_rig(path)
    assert back.world_frame == "map" and back.names == ["a", "b", "c", "posed_only"]
    assert back["a"].image_topic == "/rig/a/image_raw" and back["a"].camera_info_topic == "/rig/a/camera_info"
    for orig, got in zip(cams, back.cameras[:3], strict=True):
        assert got.camera is not None and got.camera.allclose(orig, 0, 0)
        np.testing.assert_array_equal(got.R, orig.R)
    po = back["posed_only"]
    assert po.camera is None and po.frame_id == "x_frame" and po.t.tolist() == [1.0, 2.0, 3.0]
    # saving again gives the same file
    save_rig(back, tmp_path / "again.yaml", comment="test rig")
    assert (tmp_path / "again.yaml").read_text() == text
    with pytest.raises(ValueError, match=r"posed_only"):
        back.to_cameras()
    assert len(Rig(back.world_frame, back.cameras[:3]).to_cameras()) == 3


def test_minimal_file_defaults_and_rvec(tmp_path):
    rvec = [0.1, 0.2, -0.3]
    p = _write(tmp_path, f"""
        cameras:
          - name: cam1
            pose: {{rvec: {rvec}, t: [0, 0, 2]}}
          - name: cam2
            pose:
              R: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
              t: [0.5, 0, 2]
            intrinsics:
              width: 1280
              height: 720
              K: [900, 0, 640, 0, 905, 360, 0, 0, 1]
    """)
    rig = load_rig(p)
    assert rig.world_frame == "world"
    c1 = rig["cam1"]
    assert (c1.image_topic, c1.camera_info_topic) == ("/cam1/image_raw", "/cam1/camera_info")
    assert c1.frame_id == "cam1"
    np.testing.assert_allclose(c1.R, cv2.Rodrigues(np.array(rvec))[0])
    cam2 = rig["cam2"].camera
    assert cam2.distortion_model == "plumb_bob" and cam2.dist.size == 0
    np.testing.assert_allclose(cam2.K, K)
    with pytest.raises(KeyError, match="cam3"):
        rig["cam3"]


def test_rotation_with_few_digits_is_snapped(tmp_path):
    R = cv2.Rodrigues(np.array([0.5, -1.0, 0.3]))[0]
    Rr = np.round(R, 3)
    assert rotation_error(Rr) > 1e-6
    entry = {"name": "c", "pose": {"R": Rr.tolist(), "t": [0, 0, 1]}}
    p = _write(tmp_path, yaml.safe_dump({"cameras": [entry]}))
    got = load_rig(p)["c"].R
    assert rotation_error(got) < 1e-12
    np.testing.assert_allclose(got, R, atol=2e-3)


def test_camera_from_info_uses_rig_pose(tmp_path):
    from sensor_msgs.msg import CameraInfo

    rig = Rig.from_cameras([_cam("a", 1)])
    rig.cameras[0].camera = None
    msg = CameraInfo()
    msg.width, msg.height = 1280, 720
    msg.k = K.reshape(-1).tolist()
    msg.d = [-0.1, 0.02, 0.001, 0.0, 0.0]
    msg.distortion_model = "plumb_bob"
    cam = rig[0].camera_from_info(msg)
    assert cam.name == "a" and cam.allclose(_cam("a", 1), 0, 0)


BAD = [
    ("cameras: []", "non-empty list"),
    ("- a\n- b", "must be a mapping"),
    ("cameras:\n  - name: c1\n", "c1.*missing 'pose'"),
    ("cameras:\n  - pose: {rvec: [0,0,0], t: [0,0,0]}\n", r"cameras\[0\] needs a string 'name'"),
    ("cameras:\n  - name: c1\n    pose: {R: [[1,0,0],[0,1,0],[0,0,1]], rvec: [0,0,0], t: [0,0,0]}\n",
     "c1.*exactly one of"),
    ("cameras:\n  - name: c1\n    pose: {rvec: [0,0,0]}\n", "c1.*needs 't'"),
    ("cameras:\n  - name: c1\n    pose: {R: [[2,0,0],[0,1,0],[0,0,1]], t: [0,0,0]}\n", "c1.*not a rotation"),
    ("cameras:\n  - name: c1\n    pose: {R: [[1,0,0],[0,1,0],[0,0,-1]], t: [0,0,0]}\n", "c1.*not a rotation"),
    ("cameras:\n  - name: c1\n    pose: {rvec: [0,0], t: [0,0,0]}\n", "c1.*rvec"),
    ("cameras:\n  - name: c1\n    pose: {rvec: [0,0,0], t: [0,0,.nan]}\n", "c1.*NaN"),
    ("cameras:\n  - name: c1\n    pose: {rvec: [0,0,0], t: [0,0,0]}\n    intrinsic: {}\n",
     "c1.*unknown keys"),
    ("cameras:\n  - name: c1\n    pose: {rvec: [0,0,0], t: [0,0,0]}\n"
     "    intrinsics: {width: 10, height: 10, K: [[9,0,5],[0,9,5],[0,0,1]], dist: [0,0,0]}\n",
     "c1.*coefficients"),
    ("cameras:\n  - name: c1\n    pose: {rvec: [0,0,0], t: [0,0,0]}\n    intrinsics: {width: 10, K: [1]}\n",
     "c1.*lack 'height'"),
    ("cameras:\n  - name: c1\n    pose: {rvec: [0,0,0], t: [0,0,0]}\n"
     "  - name: c1\n    pose: {rvec: [0,0,0], t: [0,0,0]}\n", "duplicate camera names"),
    ("cameras: [\n", "not valid YAML"),
    ("world_frame: w\nunits: mm\ncameras: []\n", "unknown keys"),
]


@pytest.mark.parametrize(("text", "msg"), BAD)
def test_invalid_rig_files_name_file_and_camera(tmp_path, text, msg):
    p = _write(tmp_path, text)
    with pytest.raises(ValueError, match=msg) as ei:
        load_rig(p)
    assert str(p) in str(ei.value)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_rig("/nonexistent/nope.yaml")
