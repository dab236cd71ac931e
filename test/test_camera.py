"""Camera model: projection against OpenCV, undistortion round trips, validation, CameraInfo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ros2_mvpose.geometry import Camera

K0 = np.array([[800.0, 0.0, 330.0], [0.0, 790.0, 245.0], [0.0, 0.0, 1.0]])
R0 = cv2.Rodrigues(np.array([0.2, -0.3, 0.1]))[0]
T0 = np.array([0.1, -0.2, 4.0])

DISTS = {
    ("plumb_bob", 5): [-0.28, 0.09, 0.001, -0.002, -0.015],
    ("plumb_bob", 4): [-0.2, 0.05, 0.002, 0.001],
    ("rational_polynomial", 8): [0.5, -0.2, 0.001, -0.002, 0.05, 0.8, -0.1, 0.02],
    ("rational_polynomial", 12): [0.1, -0.05, 0.001, -0.002, 0.01, 0.02, 0.01, 0.0,
                                  0.002, -0.001, 0.001, 0.0005],
    ("rational_polynomial", 14): [0.1, -0.05, 0.001, -0.002, 0.01, 0.02, 0.01, 0.0,
                                  0.002, -0.001, 0.001, 0.0005, 0.02, -0.015],
    ("equidistant", 4): [0.05, -0.01, 0.003, -0.001],
    ("equidistant", 0): [],  # zero coefficients: still the equidistant projection, not a pinhole
}


def _points(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.2, 1.2, (n, 3))


@pytest.mark.parametrize(("model", "n"), list(DISTS))
def test_project_matches_opencv(model, n):
    d = np.array(DISTS[(model, n)])
    cam = Camera("c", K0, d, R0, T0, 640, 480, model)
    X = _points(500)
    rvec = cv2.Rodrigues(R0)[0]
    if model == "equidistant":
        d4 = np.zeros(4) if d.size == 0 else d
        ref = cv2.fisheye.projectPoints(X.reshape(-1, 1, 3), rvec, T0, K0, d4)[0].reshape(-1, 2)
    else:
        ref = cv2.projectPoints(X, rvec, T0, K0, d)[0].reshape(-1, 2)
    np.testing.assert_allclose(cam.project(X), ref, atol=1e-8)


@pytest.mark.parametrize(("model", "n"), list(DISTS))
def test_undistort_inverts_project(model, n):
    cam = Camera("c", K0, DISTS[(model, n)], R0, T0, 640, 480, model)
    X = _points(500, 1)
    ideal = cam.project_ideal(X)
    got = cam.undistort(cam.project(X))
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, ideal, atol=1e-6)


def test_undistort_agrees_with_opencv_reference():
    d = np.array(DISTS[("plumb_bob", 5)])
    cam = Camera("c", K0, d, R0, T0, 640, 480)
    uv = cam.project(_points(200, 2))
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-15)
    ref = cv2.undistortPoints(uv.reshape(-1, 1, 2), K0, d, P=K0, criteria=crit).reshape(-1, 2)
    np.testing.assert_allclose(cam.undistort(uv), ref, atol=1e-4)


def _rot(rvec) -> np.ndarray:
    return cv2.Rodrigues(np.asarray(rvec, dtype=float))[0]


@st.composite
def _camera_and_points(draw, model: str):
    f = draw(st.floats(300, 2000))
    fy = f * draw(st.floats(0.95, 1.05))
    w, h = draw(st.integers(320, 1920)), draw(st.integers(240, 1080))
    cx = w / 2 + draw(st.floats(-20, 20))
    cy = h / 2 + draw(st.floats(-20, 20))
    K = np.array([[f, 0, cx], [0, fy, cy], [0, 0, 1]])
    u = st.floats(-1, 1)
    if model == "plumb_bob":
        d = [0.3 * draw(u), 0.1 * draw(u), 0.005 * draw(u), 0.005 * draw(u), 0.02 * draw(u)]
        rmax = 0.6
    elif model == "rational_polynomial":
        d = [0.3 * draw(u), 0.1 * draw(u), 0.005 * draw(u), 0.005 * draw(u), 0.02 * draw(u),
             0.2 * draw(u), 0.05 * draw(u), 0.01 * draw(u)]
        rmax = 0.6
    else:
        d = [0.05 * draw(u), 0.01 * draw(u), 0.003 * draw(u), 0.001 * draw(u)]
        rmax = 1.5
    R = _rot([draw(st.floats(-3, 3)) for _ in range(3)])
    t = np.array([draw(st.floats(-5, 5)) for _ in range(3)])
    cam = Camera("hyp", K, d, R, t, w, h, model)
    # world points in front of the camera within the model's valid radius
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = 64
    xy = rng.uniform(-rmax, rmax, (n, 2)) / np.sqrt(2)
    z = rng.uniform(0.5, 20, n)
    xc = np.column_stack([xy * z[:, None], z])
    X = (xc - t) @ R  # R^T (xc - t)
    return cam, X


@pytest.mark.parametrize("model", ["plumb_bob", "rational_polynomial", "equidistant"])
def test_property_round_trip(model):
    @settings(max_examples=40, deadline=None)
    @given(_camera_and_points(model))
    def check(cam_x):
        cam, X = cam_x
        uv = cam.project(X)
        assert np.isfinite(uv).all()
        ideal = cam.undistort(uv)
        P = cam.projection_matrix
        h = np.hstack([X, np.ones((len(X), 1))]) @ P.T
        np.testing.assert_allclose(ideal, h[:, :2] / h[:, 2:], atol=1e-6)
        # rays point back at the world points
        ray = cam.rays(uv)
        v = X - cam.center
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        np.testing.assert_allclose(ray, v, atol=1e-9)

    check()


def test_projection_matrix_matches_project_without_distortion():
    cam = Camera("c", K0, [], R0, T0, 640, 480)
    X = _points(100, 3)
    h = np.hstack([X, np.ones((100, 1))]) @ cam.projection_matrix.T
    np.testing.assert_allclose(cam.project(X), h[:, :2] / h[:, 2:], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(cam.undistort(cam.project(X)), cam.project(X), atol=1e-9)


def test_center_and_skew():
    K = K0.copy()
    K[0, 1] = 2.5
    cam = Camera("c", K, DISTS[("plumb_bob", 5)], R0, T0, 640, 480)
    np.testing.assert_allclose(cam.center, -R0.T @ T0)
    np.testing.assert_allclose(R0 @ cam.center + T0, 0, atol=1e-12)
    X = _points(50, 4)
    np.testing.assert_allclose(cam.undistort(cam.project(X)), cam.project_ideal(X), atol=1e-6)


def test_behind_camera_and_shapes():
    cam = Camera("c", K0, DISTS[("plumb_bob", 5)], np.eye(3), np.zeros(3), 640, 480)
    uv = cam.project(np.array([[0.0, 0.0, -1.0], [0.1, 0.0, 0.0], [0.1, 0.1, 2.0], [np.nan, 0, 1]]))
    assert np.isnan(uv[0]).all() and np.isnan(uv[1]).all() and np.isnan(uv[3]).all()
    assert np.isfinite(uv[2]).all()
    X = np.random.default_rng(5).uniform(-0.5, 0.5, (2, 3, 4, 3)) + [0, 0, 3]
    out = cam.project(X)
    assert out.shape == (2, 3, 4, 2)
    np.testing.assert_allclose(out[1, 2], cam.project(X[1, 2]))
    und = cam.undistort(out)
    assert und.shape == (2, 3, 4, 2)
    assert cam.undistort(np.zeros((0, 2))).shape == (0, 2)
    one = cam.project([0.1, 0.2, 3.0])  # a single point, plain list
    assert one.shape == (2,)
    np.testing.assert_allclose(cam.undistort(one), cam.project_ideal(np.array([0.1, 0.2, 3.0])), atol=1e-6)
    assert np.isnan(cam.project([0.1, 0.2, -3.0])).all()
    assert np.isnan(cam.undistort(np.array([np.nan, 1.0]))).all()
    with pytest.raises(ValueError, match="shape"):
        cam.project(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="shape"):
        cam.undistort(np.zeros((4, 3)))


def test_in_image():
    cam = Camera("c", K0, [], np.eye(3), np.zeros(3), 640, 480)
    m = cam.in_image(np.array([[0, 0], [639, 479], [640, 10], [-1, 5], [np.nan, 3]]))
    assert m.tolist() == [True, True, False, False, False]


BAD = [
    (dict(K=np.eye(2)), "K must be 3x3"),
    (dict(K=np.where(np.eye(3) > 0, np.nan, 0)), "NaN"),
    (dict(K=np.diag([-800.0, 800.0, 1.0])), "positive focal"),
    (dict(K=np.zeros((3, 3))), "not calibrated"),
    (dict(K=np.array([[800.0, 0, 320], [0, 800, 240], [0, 0, 2]])), r"K\[2\]"),
    (dict(R=np.eye(3) * 1.01), "not a rotation"),
    (dict(R=np.diag([1.0, 1.0, -1.0])), "not a rotation"),
    (dict(R=np.eye(4)), "R must be 3x3"),
    (dict(t=np.zeros(2)), "t must have 3"),
    (dict(t=[0, 0, np.inf]), "t contains"),
    (dict(dist=np.zeros(6)), "coefficients"),
    (dict(dist=np.zeros(5), distortion_model="equidistant"), "coefficients"),
    (dict(dist=[0.1, np.nan, 0, 0, 0]), "NaN"),
    (dict(width=0), "width"),
    (dict(height=-5), "height"),
    (dict(width=640.5), "width"),
    (dict(distortion_model="kannala"), "unknown distortion_model"),
]


@pytest.mark.parametrize(("kw", "msg"), BAD)
def test_invalid_inputs_name_camera_and_problem(kw, msg):
    args = dict(K=K0, dist=np.zeros(5), R=R0, t=T0, width=640, height=480, distortion_model="plumb_bob")
    args.update(kw)
    with pytest.raises(ValueError, match=msg) as ei:
        Camera("badcam", **args)
    assert "badcam" in str(ei.value)


def test_immutable_and_copies():
    cam = Camera("c", K0, DISTS[("plumb_bob", 5)], R0, T0, 640, 480)
    with pytest.raises(ValueError):
        cam.K[0, 0] = 1.0
    K2 = K0 * [[2, 1, 2], [1, 2, 2], [1, 1, 1]]
    cam2 = cam.with_intrinsics(K=K2, dist=[0.1, 0, 0, 0], distortion_model="equidistant",
                               width=1280, height=960)
    assert cam2.name == "c" and cam2.distortion_model == "equidistant" and cam2.width == 1280
    np.testing.assert_array_equal(cam2.R, cam.R)
    np.testing.assert_array_equal(cam2.t, cam.t)
    assert Camera.from_dict(cam.to_dict()).allclose(cam, 0, 0)
    assert not cam2.allclose(cam)
    r = repr(cam)
    assert "'c'" in r and "640x480" in r and "plumb_bob" in r
    assert cam.with_pose(np.eye(3), [0, 0, 1]).center.tolist() == [0, 0, -1]
    assert Camera("f", K0, [0, 0, 0, 0], R0, T0, 640, 480, "fisheye").distortion_model == "equidistant"


@pytest.mark.parametrize("model", ["plumb_bob", "rational_polynomial", "equidistant"])
def test_from_camera_info_message(model):
    from sensor_msgs.msg import CameraInfo  # real ROS message (the module itself never imports rclpy)

    d = {"plumb_bob": DISTS[("plumb_bob", 5)], "rational_polynomial": DISTS[("rational_polynomial", 8)],
         "equidistant": DISTS[("equidistant", 4)]}[model]
    msg = CameraInfo()
    msg.header.frame_id = "cam_left_optical"
    msg.width, msg.height = 640, 480
    msg.k = K0.reshape(-1).tolist()
    msg.d = list(d)
    msg.distortion_model = model
    msg.p = np.hstack([K0, np.zeros((3, 1))]).reshape(-1).tolist()
    cam = Camera.from_camera_info(msg, R0, T0)
    assert cam.name == "cam_left_optical"
    ref = Camera("cam_left_optical", K0, d, R0, T0, 640, 480, model)
    assert cam.allclose(ref, 0, 0)
    X = _points(20, 6)
    np.testing.assert_allclose(cam.project(X), ref.project(X))
    assert Camera.from_camera_info(msg, R0, T0, name="x").name == "x"
    assert ref.with_camera_info(msg).allclose(ref, 0, 0)

    bad = CameraInfo()  # an uncalibrated driver publishes all zeros
    bad.width, bad.height = 640, 480
    bad.distortion_model = "plumb_bob"
    with pytest.raises(ValueError, match="not calibrated"):
        Camera.from_camera_info(bad, R0, T0, name="zero")


def test_from_camera_info_dict():
    info = {"K": K0.reshape(-1).tolist(), "D": DISTS[("plumb_bob", 5)], "distortion_model": "plumb_bob",
            "width": 640, "height": 480, "frame_id": "camd"}
    cam = Camera.from_camera_info(info, R0, T0)
    assert cam.name == "camd" and cam.allclose(Camera("x", K0, info["D"], R0, T0, 640, 480), 0, 0)
    info2 = {"k": K0.reshape(-1), "d": [], "width": 640, "height": 480, "header": {"frame_id": "hdr"}}
    assert Camera.from_camera_info(info2, R0, T0).name == "hdr"
    with pytest.raises(ValueError, match="9 values"):
        Camera.from_camera_info({"k": [1, 2, 3], "width": 1, "height": 1}, R0, T0, name="n")
    with pytest.raises(ValueError, match="width/height"):
        Camera.from_camera_info({"k": K0.reshape(-1)}, R0, T0, name="n")


def test_batched_lens_kernels_match_each_camera():
    """All cameras at once (``stack_lenses`` + ``project_pixels`` / ``undistort_pixels``, as the
    Reconstructor runs them) equal each camera's own ``project`` / ``undistort``, for a rig that
    mixes every distortion model, and the undistortion inverts the projection."""
    from ros2_mvpose.geometry.camera import project_pixels, stack_lenses, undistort_pixels

    cams = [Camera(f"{m}{n}", K0, d, R0, T0 + [0.3 * i, 0.0, 0.0], 640, 480, m)
            for i, ((m, n), d) in enumerate(DISTS.items())]
    cams.append(Camera("pinhole", K0, [], R0, T0, 640, 480))
    lens, Rt = stack_lenses(cams)
    X = _points(300, 7) * 0.8
    uv = project_pixels(lens, Rt, X)  # (300, C, 2)
    for c, cam in enumerate(cams):
        np.testing.assert_array_equal(uv[:, c], cam.project(X))
    rng = np.random.default_rng(3)
    cam_idx = rng.integers(0, len(cams), 300)
    raw = uv[np.arange(300), cam_idx]
    ideal = undistort_pixels(lens, cam_idx, raw)
    for c, cam in enumerate(cams):
        sel = cam_idx == c
        np.testing.assert_array_equal(ideal[sel], cam.undistort(raw[sel]))
        np.testing.assert_allclose(ideal[sel], cam.project_ideal(X[sel]), atol=1e-6)
    bad = raw.copy()
    bad[:5] = np.nan
    assert np.isnan(undistort_pixels(lens, cam_idx, bad)[:5]).all()
