"""The graph-free stages (``ros2_mvpose.stages``) without DDS: detection, triangulation, health,
and the one parameter source that feeds the nodes, the config file and the docs."""

from __future__ import annotations

import inspect
import random
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, PointCloud2, PointField
from std_msgs.msg import Header

from ros2_mvpose.geometry.rig import Rig
from ros2_mvpose.geometry.synthetic import render_views, ring_rig, walking_people
from ros2_mvpose.ros.image_conversion import bgr_to_image_msg
from ros2_mvpose.ros.params import from_values, kwargs_of, specs_of
from ros2_mvpose.ros.pointcloud import keypoints_to_cloud
from ros2_mvpose.stages.detection import BadInput, DetectionStage
from ros2_mvpose.stages.health import ERROR, OK, WARN, CameraHealth
from ros2_mvpose.stages.problems import Problem, problem_key
from ros2_mvpose.stages.triangulation import ReconstructionParams, TriangulationStage


# ------------------------------------------------------------------ parameters
def test_reconstruction_params_are_the_reconstructor_keywords():
    from ros2_mvpose.geometry.reconstructor import Reconstructor

    sig = {
        k: p
        for k, p in inspect.signature(Reconstructor.__init__).parameters.items()
        if p.kind == p.KEYWORD_ONLY
    }
    ours = kwargs_of(ReconstructionParams())
    assert set(ours) == set(sig), f"missing {set(sig) - set(ours)}, unknown {set(ours) - set(sig)}"
    for name, value in ours.items():
        assert value == sig[name].default, f"{name}: {value!r} != Reconstructor default {sig[name].default!r}"


def test_parameter_groups_types_and_values():
    specs = {s.name: s for s in specs_of(ReconstructionParams, "reconstruction.")}
    assert specs["reconstruction.min_views"].type == "int"
    assert specs["reconstruction.min_score"].type == "double"
    assert specs["reconstruction.smoothing"].type == "bool"
    assert all(s.description for s in specs.values())
    p = from_values(
        ReconstructionParams(), {"reconstruction.min_views": 3, "min_views": 9}, "reconstruction."
    )
    assert p.min_views == 3 and kwargs_of(p)["reprojection_threshold"] is None  # 0 = automatic
    assert kwargs_of(from_values(p, {"reprojection_threshold": 12.0}))["reprojection_threshold"] == 12.0


def test_config_file_and_docs_are_generated_from_the_parameter_groups():
    from ros2_mvpose.nodes import params

    assert params.main([]) == 0, "run `python -m ros2_mvpose.nodes.params --write`"
    names = {s.name for node in params.NODE_GROUPS for s in params.parameters(node)}
    assert "camera_timeout" in names and "dead_after" not in names  # one name per setting


def test_problem_keys_separate_problems_not_numbers():
    a = problem_key(ValueError("step 10 is smaller than width*3 = 64"))
    b = problem_key(ValueError("step 12 is smaller than width*3 = 66"))
    c = problem_key(ValueError("truncated image data: 10 bytes"))
    assert a == b != c
    exc = ValueError("anything")
    exc.problem = "encoding"
    assert problem_key(exc) == "encoding"


# ------------------------------------------------------------------ detection
class CentroidBackend:
    """One person at the centroid of the bright pixels of each image (or nobody)."""

    name = "centroid"

    def __init__(self):
        self.batches = []

    def predict(self, images):
        self.batches.append(len(images))
        out = []
        for im in images:
            ys, xs = np.nonzero(im.max(axis=2) > 200)
            if xs.size == 0:
                out.append(np.zeros((0, 17, 3)))
                continue
            kp = np.zeros((1, 17, 3))
            kp[0, :, 0], kp[0, :, 1], kp[0, :, 2] = xs.mean(), ys.mean(), 1.0
            out.append(kp)
        return out


def square_image(x: int, y: int, h: int = 40, w: int = 60) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[y : y + 4, x : x + 4] = 255
    return img


def compressed(img: np.ndarray, fmt: str) -> CompressedImage:
    ok, buf = cv2.imencode("." + fmt, img)
    assert ok
    return CompressedImage(header=Header(frame_id="c"), format=fmt, data=buf.tobytes())


def fuzzed_image(rng: random.Random):
    """An Image look-alike with random, often nonsensical fields (rosbags dataclasses allow any)."""
    h = rng.choice([0, 1, 3, 40, 2**31, -5])
    w = rng.choice([0, 2, 60, 2**31, -1])
    step = rng.choice([0, w * 3 if w > 0 else 0, 7, 2**32 - 1])
    n = rng.choice([0, 1, 17, 7200, 100_000])
    data = bytes(rng.getrandbits(8) for _ in range(min(n, 2000))) * (n // 2000 + 1)
    enc = rng.choice(["bgr8", "rgb8", "mono16", "", "??", "bayer_rggb8", "16UC3", "\x00"])
    return SimpleNamespace(
        header=Header(),
        height=h,
        width=w,
        step=step,
        encoding=enc,
        is_bigendian=rng.choice([0, 1, 7]),
        data=data[:n],
    )


def test_detection_stage_converts_every_transport_and_batches_once():
    backend = CentroidBackend()
    stage = DetectionStage(backend, 4)
    raw = bgr_to_image_msg(square_image(10, 20), Header(frame_id="a"))
    msgs = [raw, compressed(square_image(30, 8), "jpg"), compressed(square_image(5, 5), "png"), None]
    assert all(stage.check(i, m) is None for i, m in enumerate(msgs[:3]))
    res = stage.on_set(msgs)
    assert res.problems == [] and backend.batches == [3]
    assert res.keypoints[3] is None and res.images[3] is None
    np.testing.assert_allclose(res.keypoints[0][0, 0, :2], (11.5, 21.5))
    np.testing.assert_allclose(res.keypoints[1][0, 0, :2], (31.5, 9.5), atol=0.6)  # jpeg: near
    np.testing.assert_allclose(res.keypoints[2][0, 0, :2], (6.5, 6.5))  # png: exact
    assert all(k.dtype == np.float32 and k.shape == (1, 17, 3) for k in res.keypoints[:3])


def test_detection_stage_never_raises_on_fuzzed_images_and_the_others_go_on():
    rng = random.Random(7)
    backend = CentroidBackend()
    stage = DetectionStage(backend, 3)
    good = bgr_to_image_msg(square_image(10, 20), Header())
    for trial in range(300):
        bad = (
            fuzzed_image(rng)
            if trial % 3
            else CompressedImage(
                format=rng.choice(["jpeg", "png", ""]), data=bytes(rng.getrandbits(8) for _ in range(50))
            )
        )
        problem = stage.check(1, bad)
        item = BadInput(Header(), problem) if problem is not None else bad
        res = stage.on_set([good, item, good])
        assert res.keypoints[0] is not None and res.keypoints[2] is not None, trial
        if res.keypoints[1] is None:
            probs = [problem] if problem is not None else res.problems
            assert probs and all(p.camera == 1 and p.key and p.text for p in probs), (trial, probs)


def test_detection_stage_turns_backend_failures_into_problems():
    class Broken:
        def __init__(self, out):
            self.out = out

        def predict(self, images):
            if isinstance(self.out, Exception):
                raise self.out
            return self.out

    img = bgr_to_image_msg(square_image(1, 1), Header())
    for out, text in (
        (RuntimeError("cuda out of memory"), "cuda out of memory"),
        ([np.zeros((0, 17, 3))], "1 results for 2 images"),
        ([np.zeros((1, 5, 3))] * 2, "shape"),
    ):
        res = DetectionStage(Broken(out), 2).on_set([img, img])
        assert res.keypoints == [None, None]
        assert len(res.problems) == 1 and res.problems[0].camera is None and text in res.problems[0].text


# ------------------------------------------------------------------ triangulation
@pytest.fixture(scope="module")
def rig_scene():
    cams = ring_rig(4, image_size=(800, 600), focal=600.0, distortion=(-0.1, 0.02, 0.0, 0.0, 0.0))
    seq = walking_people(2, 8, fps=10.0, seed=2)
    return cams, seq


def clouds_for(cams, people, stamp, rng):
    views, _ = render_views(cams, people, rng=rng, min_visible=17, shuffle=True)
    header = Header(frame_id="")
    header.stamp.sec, header.stamp.nanosec = int(stamp), int(round((stamp % 1) * 1e9))
    return [keypoints_to_cloud(v, Header(stamp=header.stamp, frame_id=c.name)) for v, c in zip(views, cams)]


def test_triangulation_stage_reconstructs_exactly_and_copies_the_stamp(rig_scene):
    cams, seq = rig_scene
    rig = Rig.from_cameras(cams)
    stage = TriangulationStage(rig.cameras, ReconstructionParams(smoothing=False))
    rng = np.random.default_rng(0)
    for f in range(seq.joints.shape[0]):
        res = stage.on_set(clouds_for(cams, seq.joints[f], 100.0 + 0.1 * f, rng), 100.0 + 0.1 * f)
        assert res.ok and res.problems == []
    assert res.joints.shape == (2, 17, 3) and res.ids.shape == (2,)
    for j in res.joints:
        assert np.linalg.norm(seq.joints[-1][:, None] - j[None], axis=-1).mean(-1).min() < 1e-3
    assert (res.header_stamp.sec, res.header_stamp.nanosec) == (100, 700_000_000)


def random_cloud(rng: random.Random) -> PointCloud2:
    """A PointCloud2 with random fields, sizes and bytes (including NaN/inf and huge counts)."""
    names = rng.sample(["u", "v", "score", "person", "joint", "x", "junk"], rng.randint(0, 6))
    fields = [
        PointField(
            name=n,
            offset=rng.choice([0, 4, 8, 12, 16, 200, 2**31]),
            datatype=rng.choice([1, 2, 5, 7, 8, 99 % 256]),
            count=rng.choice([0, 1, 3]),
        )
        for n in names
    ]
    width = rng.choice([0, 1, 17, 2**31 - 1])
    point_step = rng.choice([0, 4, 20, 2**31])
    floats = np.array([rng.choice([np.nan, np.inf, -np.inf, 1e38, 3.0]) for _ in range(64)], np.float32)
    data = floats.tobytes()[: rng.choice([0, 3, 20, 256])]
    return PointCloud2(
        header=Header(),
        height=rng.choice([0, 1, 2]),
        width=width,
        fields=fields,
        is_bigendian=rng.choice([False, True]),
        point_step=point_step,
        row_step=rng.choice([0, point_step * width % 2**32, 7]),
        data=data,
        is_dense=True,
    )


def test_triangulation_stage_never_raises_on_fuzzed_clouds_and_camera_infos(rig_scene):
    cams, seq = rig_scene
    rig = Rig.from_cameras(cams)
    stage = TriangulationStage(rig.cameras, ReconstructionParams(smoothing=False))
    rng_np = np.random.default_rng(1)
    rng = random.Random(3)
    for trial in range(300):
        clouds = clouds_for(cams, seq.joints[0], 50.0 + trial, rng_np)
        clouds[2] = random_cloud(rng)
        res = stage.on_set(clouds, 50.0 + trial)
        assert res.ok, res.problems
        assert all(p.camera == 2 for p in res.problems), res.problems
        assert len(res.people) >= 1  # three good cameras still see both people
        info = CameraInfo(
            width=rng.choice([0, 800, 2**31]),
            height=rng.choice([0, 600]),
            distortion_model=rng.choice(["plumb_bob", "equidistant", "??", ""]),
            d=[rng.choice([0.0, np.nan, 1e300, -3.0]) for _ in range(rng.choice([0, 4, 5, 9]))],
            k=[rng.choice([0.0, 600.0, np.inf, -1.0, 400.0]) for _ in range(9)],
        )
        changed, problem = stage.on_camera_info(2, info)
        assert not (changed and problem is not None)
        assert stage.cameras[2] is not None  # the rig's (or a valid CameraInfo's) intrinsics
    assert stage.intrinsics_source(0) == "rig"


def test_triangulation_stage_problems_name_the_camera(rig_scene):
    cams, _ = rig_scene
    rig = Rig.from_cameras(cams)
    rig.cameras[3].camera = None  # no intrinsics in the rig
    stage = TriangulationStage(rig.cameras)
    cloud = keypoints_to_cloud(np.zeros((0, 17, 3)), Header(frame_id="elsewhere"))
    res = stage.on_set([None, cloud, None, keypoints_to_cloud(np.zeros((0, 17, 3)), Header())], 1.0)
    assert {(p.camera, p.key) for p in res.problems} == {(1, "frame_id"), (3, "no_intrinsics")}
    info = CameraInfo(
        width=800,
        height=600,
        k=list(np.asarray(cams[3].K).ravel()),
        d=[0.0] * 5,
        distortion_model="plumb_bob",
    )
    assert stage.on_camera_info(3, info) == (True, None) and stage.on_camera_info(3, info) == (False, None)
    assert stage.intrinsics_source(3) == "camera_info"
    changed, problem = stage.on_camera_info(3, CameraInfo(width=800, height=600, k=[0.0] * 9))
    assert not changed and problem.camera == 3 and "all zero" in problem.text
    assert stage.intrinsics_source(3) == "camera_info"  # the previous intrinsics stay


# ------------------------------------------------------------------ health
def test_camera_health_states_follow_the_camera_and_clear_on_recovery():
    h = CameraHealth(timeout=1.0, bad_window=2.0)
    assert h.state(0.0).state == "waiting"
    h.on_received(0.0)
    h.on_usable(0.0)
    assert (h.state(0.5).state, h.state(0.5).level) == ("ok", OK)
    bad = Problem(0, "encoding", "unsupported encoding 'x'")
    h.on_received(0.6)
    h.on_bad(0.6, bad)
    st = h.state(0.7)
    assert (st.state, st.level) == ("bad_input", WARN) and "unsupported" in st.message and st.usable
    assert h.state(3.0).state == "dead"  # silent now: dead, not "bad images"
    for t in np.arange(3.0, 5.0, 0.1):  # only bad input arrives
        h.on_received(t)
        h.on_bad(t, bad)
    st = h.state(5.0)
    assert (st.state, st.level, st.usable) == ("undecodable", ERROR, False)
    for t in np.arange(5.0, 8.0, 0.1):  # recovered
        h.on_received(t)
        h.on_usable(t)
    assert h.state(8.0).state == "ok"
    assert h.state(8.0, sync_offset=0.8).state == "out_of_sync"
    assert h.state(8.0, in_sets=False).state == "left_out"
    assert h.state(8.0, wrong_type="sensor_msgs/msg/CompressedImage").level == ERROR


def test_error_logs_are_throttled_per_camera_and_problem():
    """A second, different problem of one camera within the throttle window is logged too; the
    same problem again is not; another camera's same problem is."""
    from ros2_mvpose.nodes.common import CameraInputs
    from ros2_mvpose.nodes.params import ReportingParams, SyncParams

    class Logger:
        def __init__(self):
            self.lines = []

        def error(self, text):
            self.lines.append(text)

        warning = error

    class Node:
        logger = Logger()

        def get_logger(self):
            return self.logger

    node = Node()
    inputs = CameraInputs(
        node,
        ["a", "b"],
        ["/a/image", "/b/image"],
        CompressedImage,
        SyncParams(),
        ReportingParams(error_throttle=60.0),
    )
    for p in (
        Problem(0, "encoding", "unsupported encoding 'x'"),
        Problem(0, "encoding", "unsupported encoding 'y'"),
        Problem(0, "truncated", "truncated image data"),
        Problem(1, "encoding", "unsupported encoding 'x'"),
    ):
        inputs.report(p, "bad image")
    assert node.logger.lines == [
        "camera a (/a/image): bad image: unsupported encoding 'x'",
        "camera a (/a/image): bad image: truncated image data",
        "camera b (/b/image): bad image: unsupported encoding 'x'",
    ]
    assert inputs.health[0].bad == 3 and inputs.problem_counts == {"encoding": 3, "truncated": 1}
    assert inputs.expected_type == "sensor_msgs/msg/CompressedImage"
