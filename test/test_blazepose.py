"""The pretrained MediaPipe BlazePose backend and the 2D backend selection.

Runs the real MediaPipe graph (the model files shipped in the wheel) on the origin's five
1080x1080 renders in ``../shared/seed_sample/images`` (skipped with a reason when absent), with
the network disabled (in-process and in a fresh subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from no_network import SUBPROCESS_PRELUDE, block_network

from ros2_mvpose.skeleton import COCO17_FLIP_INDEX, COCO17_NAMES, NUM_JOINTS

pytest.importorskip("mediapipe", reason="mediapipe not installed (scripts/requirements-blazepose.txt)")
cv2 = pytest.importorskip("cv2")

from ros2_mvpose.pose2d import select as sel  # noqa: E402
from ros2_mvpose.pose2d.blazepose import (  # noqa: E402
    BLAZEPOSE_TO_COCO17,
    MODEL_FILES,
    BlazePoseBackend,
    find_model_files,
    landmarks_to_coco17,
    to_rgb,
)

PROJECT = Path(__file__).resolve().parent.parent
SEED_IMAGES = PROJECT.parent / "shared" / "seed_sample" / "images"
N_VIEWS = 5
#: Views whose camera sees the person from the front / from the back (checked on the renders:
#: the face is visible in 1 and 2, the hair and the back of the bag in 4 and 5; 3 is a side view).
FRONT_VIEWS, BACK_VIEWS = (0, 1), (3, 4)
L_SH, R_SH, L_HIP, R_HIP = 5, 6, 11, 12


def seed_images() -> list[np.ndarray]:
    paths = [SEED_IMAGES / f"Camera.00{i}.png" for i in range(1, N_VIEWS + 1)]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"seed sample renders not available: expected {SEED_IMAGES}/Camera.00[1-5].png "
                    "(../shared/seed_sample beside the project)")
    return [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths]


@pytest.fixture(scope="module")
def backend():
    b = BlazePoseBackend(num_workers=2)
    yield b
    b.close()


@pytest.fixture(scope="module")
def seed_predictions(backend):
    images = seed_images()
    return images, backend.predict(images)


# --- mapping and conversion (no model run) -------------------------------------------------------

def test_coco_mapping_matches_mediapipe_landmark_names():
    import mediapipe as mp

    names = [mp.solutions.pose.PoseLandmark(i).name.lower() for i in BLAZEPOSE_TO_COCO17]
    assert names == list(COCO17_NAMES)
    # left/right: the COCO mirror of each joint maps to the BlazePose mirror landmark.
    for j, b in enumerate(BLAZEPOSE_TO_COCO17):
        mirror = mp.solutions.pose.PoseLandmark(BLAZEPOSE_TO_COCO17[COCO17_FLIP_INDEX[j]]).name
        own = mp.solutions.pose.PoseLandmark(b).name
        assert mirror == own.replace("LEFT", "@").replace("RIGHT", "LEFT").replace("@", "RIGHT")


def test_landmarks_to_coco17_pixel_convention_and_scores():
    lm = np.zeros((33, 4))
    lm[:, 3] = np.nan  # presence not filled (as in mediapipe 0.10.21's pose solution)
    lm[:, 2] = 0.8
    lm[0, :2] = (0.5, 0.25)        # nose: image centre column, quarter height
    lm[11, :2] = (0.0, 0.0)        # left shoulder: the image's top-left corner (pixel edge)
    lm[12, :2] = (1.2, 0.5)        # right shoulder: beyond the right border
    lm[15, 2] = 1.7                # visibility out of range -> clipped
    lm[16, 2:] = (0.9, 0.5)        # presence filled -> multiplies
    out = landmarks_to_coco17(lm, 640, 480)
    assert out.shape == (NUM_JOINTS, 3)
    np.testing.assert_allclose(out[0], [319.5, 119.5, 0.8])
    np.testing.assert_allclose(out[5], [-0.5, -0.5, 0.8])
    assert out[6, 2] == 0.0 and out[6, 0] == pytest.approx(767.5)
    assert out[9, 2] == 1.0 and out[10, 2] == pytest.approx(0.45)
    with pytest.raises(ValueError, match="33, 4"):
        landmarks_to_coco17(np.zeros((17, 4)), 640, 480)


def test_to_rgb_accepts_gray_bgra_and_rejects_bad_input():
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0] = 10
    bgr[..., 2] = 200
    rgb = to_rgb(bgr)
    assert rgb.flags.c_contiguous and rgb[0, 0].tolist() == [200, 0, 10]
    assert to_rgb(np.dstack([bgr, np.full((4, 6), 255, np.uint8)]))[0, 0].tolist() == [200, 0, 10]
    gray = np.full((5, 7), 77, np.uint8)
    assert to_rgb(gray).shape == (5, 7, 3) and to_rgb(gray[..., None]).shape == (5, 7, 3)
    with pytest.raises(ValueError, match="image 3: expected dtype uint8"):
        to_rgb(np.zeros((4, 4, 3), np.float32), 3)
    with pytest.raises(ValueError, match="empty image"):
        to_rgb(np.zeros((0, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="expected shape"):
        to_rgb(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="numpy array"):
        to_rgb([[1, 2, 3]])


def test_model_files_ship_in_the_wheel():
    files = find_model_files()
    assert set(files) == set(MODEL_FILES)
    assert all(p.is_file() and p.stat().st_size > 1_000_000 for p in files.values())


@pytest.mark.parametrize("complexity", [0, 2, "1"])
def test_only_the_bundled_full_model_is_allowed(complexity):
    with pytest.raises(ValueError, match="download"):
        BlazePoseBackend(model_complexity=complexity)


def test_bad_options_raise_valueerror():
    with pytest.raises(ValueError, match="min_detection_confidence"):
        BlazePoseBackend(min_detection_confidence=1.5)
    with pytest.raises(ValueError, match="num_workers"):
        BlazePoseBackend(num_workers=0)


# --- real model runs ----------------------------------------------------------------------------

def test_registered_and_empty_images_give_no_person(backend):
    from ros2_mvpose.pose2d.backend import available_backends, create_backend

    assert "blazepose" in available_backends()
    b = create_backend("blazepose", num_workers=1)
    try:
        out = b.predict([np.zeros((480, 640, 3), np.uint8), np.full((97, 131), 128, np.uint8)])
    finally:
        b.close()
    assert [o.shape for o in out] == [(0, NUM_JOINTS, 3), (0, NUM_JOINTS, 3)]
    assert backend.predict([]) == []
    with pytest.raises(ValueError, match="image 1"):
        backend.predict([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.int16)])


@pytest.mark.shared
def test_one_person_in_every_seed_view(seed_predictions):
    images, preds = seed_predictions
    assert len(preds) == N_VIEWS
    for i, (img, kp) in enumerate(zip(images, preds)):
        h, w = img.shape[:2]
        assert kp.shape == (1, NUM_JOINTS, 3), f"view {i + 1}"
        u, v, s = kp[0].T
        assert np.all((u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)), f"view {i + 1} off-image"
        assert np.all((s >= 0) & (s <= 1)) and np.median(s) > 0.9, f"view {i + 1} scores {s}"
        # an upright person: head above shoulders above hips above knees above ankles (image y down)
        head = v[:5].mean()
        sh, hip, knee, ankle = v[[5, 6]].mean(), v[[11, 12]].mean(), v[[13, 14]].mean(), v[[15, 16]].mean()
        assert head < sh < hip < knee < ankle, f"view {i + 1}: {head, sh, hip, knee, ankle}"
        # a person of plausible size: 1/3 to the whole of the image height from nose to ankles
        assert h / 3 < ankle - v[0] < h


@pytest.mark.shared
def test_left_right_orientation_on_known_views(seed_predictions):
    _, preds = seed_predictions
    for i in FRONT_VIEWS:  # facing the camera: the person's left appears on the image's right
        kp = preds[i][0]
        assert kp[L_SH, 0] > kp[R_SH, 0] and kp[L_HIP, 0] > kp[R_HIP, 0], f"view {i + 1}"
    for i in BACK_VIEWS:   # seen from behind: the person's left appears on the image's left
        kp = preds[i][0]
        assert kp[L_SH, 0] < kp[R_SH, 0] and kp[L_HIP, 0] < kp[R_HIP, 0], f"view {i + 1}"


@pytest.mark.shared
def test_static_mode_is_deterministic_and_threads_match_sequential(seed_predictions):
    images, preds = seed_predictions
    seq = BlazePoseBackend(num_workers=1)
    try:
        again = seq.predict(images)
    finally:
        seq.close()
    for a, b in zip(preds, again):
        np.testing.assert_allclose(a, b, atol=1e-3)


@pytest.mark.shared
def test_odd_size_canvas_and_grayscale(backend, seed_predictions):
    images, preds = seed_predictions
    img, ref = images[0], preds[0][0]
    h, w = img.shape[:2]
    dx, dy = 301, 73
    canvas = np.zeros((h + 121, w + 453, 3), np.uint8)  # 1201 x 1533: not square, odd sizes
    canvas[dy:dy + h, dx:dx + w] = img
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    out = backend.predict([canvas, gray])
    assert out[0].shape == (1, NUM_JOINTS, 3) and out[1].shape == (1, NUM_JOINTS, 3)
    shifted = out[0][0, :, :2] - (dx, dy)
    err = np.linalg.norm(shifted - ref[:, :2], axis=1)
    assert np.median(err) < 5.0 and err.max() < 20.0, err  # model noise under a different crop
    err_gray = np.linalg.norm(out[1][0, :, :2] - ref[:, :2], axis=1)
    assert np.median(err_gray) < 8.0 and err_gray.max() < 30.0, err_gray


# --- no network ----------------------------------------------------------------------------------

def test_runs_with_networking_disabled_in_process(monkeypatch):
    attempts = block_network(monkeypatch)
    img = seed_images()[0] if SEED_IMAGES.is_dir() else np.zeros((256, 256, 3), np.uint8)
    b, reason = sel.select_backend("blazepose", num_workers=1)
    try:
        out = b.predict([img])
    finally:
        b.close()
    assert attempts == []
    assert "blazepose" in reason and out[0].shape[1:] == (NUM_JOINTS, 3)
    if SEED_IMAGES.is_dir():
        assert out[0].shape[0] == 1


_SUBPROCESS = SUBPROCESS_PRELUDE + textwrap.dedent("""
    import numpy as np, cv2
    from ros2_mvpose.pose2d.select import select_backend
    backend, reason = select_backend("blazepose", num_workers=1)
    img = cv2.imread(sys.argv[1]) if len(sys.argv) > 1 else np.zeros((64, 64, 3), np.uint8)
    n = [int(o.shape[0]) for o in backend.predict([img])]
    backend.close()
    clean = list(attempts)
    # the guard does catch MediaPipe's own download path (lite model, absent from the wheel):
    import mediapipe as mp
    try:
        mp.solutions.pose.Pose(static_image_mode=True, model_complexity=0)
        caught = "no-error"
    except OSError:
        caught = "refused"
    print(json.dumps({"attempts": clean, "persons": n, "reason": reason,
                      "lite_download": caught, "after": attempts[len(clean):]}))
""")


def test_runs_with_networking_disabled_in_fresh_process():
    import mediapipe

    lite = Path(mediapipe.__file__).parent / "modules/pose_landmark/pose_landmark_lite.tflite"
    args = [sys.executable, "-c", _SUBPROCESS]
    seed = SEED_IMAGES / "Camera.001.png"
    if seed.is_file():
        args.append(str(seed))
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOG_minloglevel="2")
    proc = subprocess.run(args, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["attempts"] == [], res
    assert res["persons"] == [1 if seed.is_file() else 0]
    if not lite.exists():  # otherwise MediaPipe has nothing to download for the lite model
        assert res["lite_download"] == "refused" and res["after"], res


# --- backend selection ---------------------------------------------------------------------------

def _defaults_present() -> bool:
    return any(p.is_file() for p in sel.checkpoint_candidates())


def test_choose_backend_auto_follows_the_checkpoint_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(sel.CHECKPOINT_ENV, raising=False)
    ckpt = tmp_path / "mine.pth"
    from ros2_mvpose.pose2d.movenet import movenet_available

    pretrained = "movenet" if movenet_available()[0] else "blazepose"
    name, path, reason = sel.choose_backend("auto", ckpt)
    assert (name, path) == (pretrained, None) and "does not exist" in reason and str(ckpt) in reason
    ckpt.write_bytes(b"x")
    name, path, reason = sel.choose_backend("auto", ckpt)
    assert (name, path) == ("higherhrnet", ckpt) and "exists" in reason
    # default search: $MVPOSE_CHECKPOINT as a folder, then ./checkpoints/
    if not _defaults_present():
        name, path, reason = sel.choose_backend("AUTO")
        assert name == pretrained and "no HigherHRNet checkpoint" in reason
        assert str(tmp_path / "checkpoints" / sel.DEFAULT_CHECKPOINT_NAME) in reason
    local = tmp_path / "checkpoints" / sel.DEFAULT_CHECKPOINT_NAME
    local.parent.mkdir()
    local.write_bytes(b"x")
    assert sel.default_checkpoint_path() == local
    assert sel.choose_backend("auto")[:2] == ("higherhrnet", local)
    envdir = tmp_path / "elsewhere"
    envdir.mkdir()
    (envdir / sel.DEFAULT_CHECKPOINT_NAME).write_bytes(b"x")
    monkeypatch.setenv(sel.CHECKPOINT_ENV, str(envdir))
    assert sel.default_checkpoint_path() == envdir / sel.DEFAULT_CHECKPOINT_NAME
    assert sel.choose_backend("higherhrnet")[1] == envdir / sel.DEFAULT_CHECKPOINT_NAME
    assert sel.choose_backend("blazepose")[0] == "blazepose"
    with pytest.raises(ValueError, match="unknown 2D backend 'openpose'"):
        sel.choose_backend("openpose")


def test_select_backend_auto_without_checkpoint_or_movenet_builds_blazepose(tmp_path, monkeypatch):
    if _defaults_present():
        pytest.skip("a HigherHRNet checkpoint is installed here, so auto picks HigherHRNet")
    import ros2_mvpose.pose2d.movenet as movenet

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(sel.CHECKPOINT_ENV, raising=False)
    monkeypatch.setattr(movenet, "movenet_available", lambda: (False, "not installed (test)"))
    # auto passes only the keys the chosen backend accepts (input_size is HigherHRNet's)
    backend, reason = sel.select_backend("auto", min_detection_confidence=0.3, input_size=640)
    try:
        assert isinstance(backend, BlazePoseBackend) and backend.name == "blazepose"
        assert backend.min_detection_confidence == 0.3
        assert reason.startswith("2D backend: blazepose (auto)") and "not installed (test)" in reason
    finally:
        backend.close()
    with pytest.raises(TypeError):
        sel.select_backend("blazepose", input_size=640)


def test_select_backend_higherhrnet_with_bad_checkpoint_raises_checkpoint_error(tmp_path, monkeypatch):
    pytest.importorskip("ros2_mvpose.pose2d.higherhrnet_estimator",
                        reason="HigherHRNet estimator not available")
    from ros2_mvpose.pose2d.checkpoint import CheckpointError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(sel.CHECKPOINT_ENV, raising=False)
    with pytest.raises(CheckpointError, match="missing.pth"):
        sel.select_backend("higherhrnet", checkpoint=tmp_path / "missing.pth")
    # auto with an existing (here: corrupt) file picks HigherHRNet and reports the loader's error
    bad = tmp_path / "corrupt.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt.pth"):
        sel.select_backend("auto", checkpoint=bad)
