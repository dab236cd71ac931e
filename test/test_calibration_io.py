"""Calibration readers/writers on real files, format detection, conversion and the calib CLI."""

from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from ros2_mvpose.cli import main
from ros2_mvpose.geometry import Camera, load_rig
from ros2_mvpose.geometry.calibration_io import (
    CameraCalib,
    convert_to_rig,
    detect_format,
    read_calibration,
    read_camera_info_yaml,
    read_opencv,
    read_toml,
    write_camera_info_yaml,
    write_toml,
)
from ros2_mvpose.geometry.camera import rotation_error

SEED = Path(__file__).resolve().parents[1] / ".." / "shared" / "seed_sample" / "calibrations"
SEED_XMLS = sorted(SEED.glob("Camera.00*.xml")) if SEED.is_dir() else []
needs_seed = pytest.mark.skipif(len(SEED_XMLS) != 5, reason=f"seed sample calibrations not found in {SEED}")

K = np.array([[910.0, 0.0, 633.0], [0.0, 912.0, 355.0], [0.0, 0.0, 1.0]])


def _cams() -> list[Camera]:
    out = []
    for i, (model, d) in enumerate([
        ("plumb_bob", [-0.12, 0.03, 0.0012, -0.0007, -0.004]),
        ("rational_polynomial", [0.3, -0.1, 0.001, 0.002, 0.01, 0.6, -0.05, 0.02]),
        ("equidistant", [0.03, -0.01, 0.002, -0.0004]),
    ]):
        R = cv2.Rodrigues(np.array([0.3 * i - 0.2, 1.1 * i, 0.1]))[0]
        out.append(Camera(f"cam{i}", K, d, R, [0.2 * i, -0.3, 3.0 + i], 1280, 720, model))
    return out


# ---------------------------------------------------------------------- the origin's XMLs
@needs_seed
def test_seed_xmls():
    cams = []
    for p in SEED_XMLS:
        assert detect_format(p) == "opencv"
        c = read_opencv(p)
        assert c.name == p.stem
        np.testing.assert_allclose(c.K, [[1500, 0, 540], [0, 1500, 540], [0, 0, 1]], atol=1e-9)
        assert (c.width, c.height) == (1080, 1080)  # from 2*cx, 2*cy: matches the 1080x1080 renders
        assert c.dist.size == 8 and not c.dist.any()
        assert rotation_error(c.R) < 1e-12
        cams.append(c.to_camera())
        # consistent with the origin's projection Intrinsics @ CameraMatrix (R printed with ~3 digits)
        fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_READ)
        P_origin = fs.getNode("Intrinsics").mat() @ fs.getNode("CameraMatrix").mat()
        fs.release()
        X = np.random.default_rng(0).uniform(-8, 8, (50, 3)) + [0.4, -1.2, 8.8]
        h = np.c_[X, np.ones(len(X))] @ P_origin.T
        np.testing.assert_allclose(cams[-1].project(X), h[:, :2] / h[:, 2:], atol=2.0)
    # All five optical axes meet near one point (the person), 27-32 world units from each camera.
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for c in cams:
        M = np.eye(3) - np.outer(c.R[2], c.R[2])
        A += M
        b += M @ c.center
    target = np.linalg.solve(A, b)
    for c in cams:
        v = target - c.center
        assert 25 < np.linalg.norm(v) < 35
        assert np.linalg.norm(np.cross(c.R[2], v)) < 2.0  # axis passes within 2 units
        assert c.in_image(c.project(target))
    assert len({tuple(np.round(c.center, 3)) for c in cams}) == 5
    # explicit size wins over the 2*c default
    c = read_opencv(SEED_XMLS[0], width=1920, height=1080, name="x")
    assert (c.name, c.width, c.height) == ("x", 1920, 1080)


@needs_seed
def test_calib_convert_cli_on_seed(tmp_path, capsys):
    out = tmp_path / "rig.yaml"
    assert main(["calib", "convert", *map(str, SEED_XMLS), "-o", str(out), "--scale", "0.1"]) == 0
    rig = load_rig(out)
    assert rig.names == [f"Camera_00{i}" for i in range(1, 6)]
    assert rig[0].image_topic == "/Camera_001/image_raw"
    assert rig[0].camera_info_topic == "/Camera_001/camera_info"
    cams = rig.to_cameras()
    direct = read_opencv(SEED_XMLS[2]).to_camera()
    np.testing.assert_allclose(cams[2].center, 0.1 * direct.center)
    np.testing.assert_allclose(cams[2].R, direct.R)
    capsys.readouterr()
    assert main(["calib", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "Camera_005" in shown and "1080x1080" in shown and "1500.0" in shown

    assert main(["calib", "convert", str(SEED_XMLS[0]), "-o", str(tmp_path / "p.yaml"),
                 "--no-intrinsics", "--topic-prefix", "studio"]) == 0
    r = load_rig(tmp_path / "p.yaml")
    assert r[0].camera is None and r[0].image_topic == "/studio/Camera_001/image_raw"


def test_calib_cli_errors(tmp_path, capsys):
    bad = tmp_path / "broken.xml"
    bad.write_text("<opencv_storage><K>not a matrix")
    assert main(["calib", "convert", str(bad), "-o", str(tmp_path / "o.yaml")]) == 2
    assert str(bad) in capsys.readouterr().err
    info = tmp_path / "intr.yaml"
    write_camera_info_yaml(info, _cams()[0])
    assert main(["calib", "convert", str(info), "-o", str(tmp_path / "o.yaml")]) == 2
    err = capsys.readouterr().err
    assert "no pose" in err and str(info) in err
    assert main(["calib", "show", str(tmp_path / "missing.yaml")]) == 2
    assert not (tmp_path / "o.yaml").exists()


# ---------------------------------------------------------------------- camera_info YAML
def test_camera_info_yaml_round_trip(tmp_path):
    for cam in _cams():
        p = tmp_path / f"{cam.name}.yaml"
        write_camera_info_yaml(p, cam)
        assert detect_format(p) == "camera_info"
        c = read_camera_info_yaml(p)
        assert c.R is None and c.t is None and c.name == cam.name
        assert c.to_camera(cam.R, cam.t).allclose(cam, 0, 0)


def test_camera_info_yaml_hand_written(tmp_path):
    p = tmp_path / "left.yaml"
    p.write_text(textwrap.dedent("""\
        image_width: 640
        image_height: 480
        camera_name: narrow_stereo/left
        camera_matrix:
          rows: 3
          cols: 3
          data: [430.15, 0, 311.71, 0, 430.49, 221.06, 0, 0, 1]
        distortion_model: plumb_bob
        distortion_coefficients:
          rows: 1
          cols: 5
          data: [-0.337, 0.117, 0.0005, -0.0009, 0]
        rectification_matrix:
          rows: 3
          cols: 3
          data: [0.99, 0.01, 0.0, -0.01, 0.99, 0.0, 0.0, 0.0, 1.0]
        projection_matrix:
          rows: 3
          cols: 4
          data: [295.5, 0, 285.5, 0, 0, 295.5, 223.3, 0, 0, 0, 1, 0]
        """))
    c = read_camera_info_yaml(p)
    assert c.name == "narrow_stereo/left" and (c.width, c.height) == (640, 480)
    np.testing.assert_allclose(c.K[0], [430.15, 0, 311.71])
    np.testing.assert_allclose(c.dist, [-0.337, 0.117, 0.0005, -0.0009, 0])
    p.write_text(p.read_text().replace("cols: 5", "cols: 4"))
    with pytest.raises(ValueError, match="distortion_coefficients is 1x4 with 5 values") as ei:
        read_camera_info_yaml(p)
    assert str(p) in str(ei.value)
    p.write_text("image_width: 640\nimage_height: 480\n")
    with pytest.raises(ValueError, match="lacks 'camera_matrix'"):
        read_camera_info_yaml(p)


# ---------------------------------------------------------------------- OpenCV FileStorage
@pytest.mark.parametrize("ext", ["yaml", "xml"])
def test_opencv_filestorage_common_keys(tmp_path, ext):
    cams = _cams()
    for variant, cam in enumerate(cams):
        p = tmp_path / f"{cam.name}.{ext}"
        fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_WRITE)
        fs.write("camera_name", cam.name)
        if variant == 0:
            fs.write("camera_matrix", cam.K)
            fs.write("distortion_coefficients", cam.dist.reshape(1, -1))
            fs.write("rvec", cv2.Rodrigues(cam.R)[0])
            fs.write("tvec", cam.t.reshape(3, 1))
            fs.write("image_width", cam.width)
            fs.write("image_height", cam.height)
        elif variant == 1:
            fs.write("K", cam.K)
            fs.write("D", cam.dist.reshape(-1, 1))
            fs.write("R", cam.R)
            fs.write("T", cam.t.reshape(3, 1))
            fs.write("image_size", np.array([[cam.width, cam.height]], dtype=np.int32))
        else:
            fs.write("cameraMatrix", cam.K)
            fs.write("distCoeffs", cam.dist.reshape(1, -1))
            fs.write("fisheye", 1)
            fs.write("R", cv2.Rodrigues(cam.R)[0])
            fs.write("t", cam.t.reshape(3, 1))
            fs.write("width", cam.width)
            fs.write("height", cam.height)
        fs.release()
        assert detect_format(p) == "opencv"
        c = read_opencv(p)
        got = c.to_camera()
        assert got.name == cam.name and got.distortion_model == cam.distortion_model
        assert got.allclose(cam, rtol=1e-12, atol=1e-12)


def test_opencv_errors(tmp_path):
    p = tmp_path / "nok.yaml"
    fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_WRITE)
    fs.write("D", np.zeros((1, 5)))
    fs.release()
    with pytest.raises(ValueError, match="no camera matrix") as ei:
        read_opencv(p)
    assert str(p) in str(ei.value)
    fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_WRITE)
    fs.write("K", K)
    fs.write("R", np.eye(3))
    fs.release()
    with pytest.raises(ValueError, match="rotation but not the other"):
        read_opencv(p)
    with pytest.raises(FileNotFoundError):
        read_opencv(tmp_path / "none.xml")


# ---------------------------------------------------------------------- aniposelib / Pose2Sim TOML
def test_toml_round_trip(tmp_path):
    cams = _cams()
    p = tmp_path / "calibration.toml"
    write_toml(p, cams)
    assert detect_format(p) == "toml"
    got = read_toml(p)
    assert [c.name for c in got] == [c.name for c in cams]
    for g, c in zip(got, cams, strict=True):
        assert g.to_camera().allclose(c, rtol=1e-12, atol=1e-12)


def test_toml_pose2sim_style(tmp_path):
    p = tmp_path / "Calib_board.toml"
    p.write_text(textwrap.dedent("""\
        [int_cam01_img]
        name = "int_cam01_img"
        size = [ 1088.0, 1920.0]
        matrix = [ [ 1682.68, 0.0, 532.39], [ 0.0, 1681.81, 979.66], [ 0.0, 0.0, 1.0]]
        distortions = [ -0.0023, 0.021, 0.0018, -0.0004]
        rotation = [ 1.6563, 1.4816, -0.6657]
        translation = [ 0.2589, 0.7733, 4.7453]
        fisheye = false

        [int_cam02_img]
        name = "int_cam02_img"
        size = [ 1088.0, 1920.0]
        matrix = [ [ 1675.0, 0.0, 544.0], [ 0.0, 1675.0, 960.0], [ 0.0, 0.0, 1.0]]
        distortions = [ 0.01, -0.002, 0.0003, 0.0]
        rotation = [ 1.3, -1.4, 0.9]
        translation = [ -0.4, 0.9, 5.1]
        fisheye = true

        [metadata]
        adjusted = false
        error = 0.0
        """))
    got = read_toml(p)
    assert [c.name for c in got] == ["int_cam01_img", "int_cam02_img"]
    assert (got[0].width, got[0].height, got[0].distortion_model) == (1088, 1920, "plumb_bob")
    assert got[1].distortion_model == "equidistant"
    np.testing.assert_allclose(got[0].R, cv2.Rodrigues(np.array([1.6563, 1.4816, -0.6657]))[0])
    rig = convert_to_rig([p], topic_prefix="/mocap")
    assert rig.names == ["int_cam01_img", "int_cam02_img"]
    assert rig[1].camera_info_topic == "/mocap/int_cam02_img/camera_info"
    p.write_text("[metadata]\nerror = 0.1\n")
    with pytest.raises(ValueError, match="no camera tables"):
        read_toml(p)
    p.write_text('[c]\nname = "c"\nmatrix = [[1,0,0],[0,1,0],[0,0,1]]\nrotation = [0,0,0]\n')
    with pytest.raises(ValueError, match="camera 'c'"):
        read_toml(p)


# ---------------------------------------------------------------------- merging
def test_convert_merges_poses_and_intrinsics(tmp_path):
    cams = _cams()
    poses = tmp_path / "poses.toml"
    # extrinsics file with placeholder intrinsics; camera_info YAMLs give the real ones
    K_ph = [[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]
    placeholder = [c.with_intrinsics(K_ph, [], "plumb_bob", 640, 480) for c in cams]
    write_toml(poses, placeholder)
    infos = []
    for c in cams[:2]:
        infos.append(tmp_path / f"{c.name}.yaml")
        write_camera_info_yaml(infos[-1], c)
    rig = convert_to_rig([poses, *infos], scale=2.0)
    got = rig.to_cameras()
    for g, c in zip(got[:2], cams[:2], strict=True):
        assert g.allclose(c.with_pose(c.R, 2.0 * c.t), rtol=1e-12, atol=1e-12)
    assert got[2].width == 640  # no camera_info for cam2: intrinsics stay those of the TOML
    # rig files merge too: the rig's poses with the YAML intrinsics
    rig_path = tmp_path / "rig.yaml"
    assert main(["calib", "convert", str(poses), "-o", str(rig_path), "--no-intrinsics"]) == 0
    assert read_calibration(rig_path)[0].K is None
    merged = convert_to_rig([rig_path, infos[0]])
    assert merged["cam0"].camera.allclose(cams[0], rtol=1e-12, atol=1e-12)
    assert merged["cam1"].camera is None
    with pytest.raises(ValueError, match="scale"):
        convert_to_rig([poses], scale=0.0)


def test_calib_record_needs_parts():
    c = CameraCalib("x", "f.yaml", K=K, dist=np.zeros(5), width=10, height=10)
    with pytest.raises(ValueError, match="f.yaml: camera 'x': no pose"):
        c.to_camera()
