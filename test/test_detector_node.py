"""The detector node over real DDS on loopback (isolated domain id and topic namespace per test).

The 2D model is replaced by ``BrightSquareBackend``, a deterministic test double that "detects"
one person at the centroid of the bright pixels of each image; everything else is the real
node: sensor-data subscriptions, validation and conversion of the images, approximate sync,
the worker, PointCloud2 publishing, annotated images and /diagnostics.
"""

from __future__ import annotations

import os
import random
import threading
import time

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
pytest.importorskip("rclpy", reason="needs rclpy (ROS 2 Jazzy) and DDS on loopback")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_helpers import (  # noqa: E402
    make_executor,
    ros_context,  # noqa: F401 - pytest fixture
    spin_for,
    spin_until,
    stamp_msg,
    stamp_to_float,
    unique_ns,
    wait_for_publishers,
    wait_for_subscribers,
)
from sensor_msgs.msg import Image, PointCloud2  # noqa: E402

from ros2_mvpose.nodes.detector_node import PARAMETERS, DetectorNode, sibling_topic  # noqa: E402
from ros2_mvpose.ros.diagnostics import status_values  # noqa: E402
from ros2_mvpose.ros.pointcloud import cloud_to_keypoints  # noqa: E402
from ros2_mvpose.ros.qos import result_qos  # noqa: E402

pytestmark = pytest.mark.ros

H, W, SQ = 48, 64, 4


class BrightSquareBackend:
    """Test double of a 2D model: one person at the centroid of the pixels brighter than 200.

    Joint j is at (cx + j, cy) with score 1; an image with no bright pixel has nobody.
    Records the batch sizes; optionally sleeps ``delay`` s per call or raises on chosen calls.
    """

    name = "bright-square"

    def __init__(self, delay: float = 0.0, fail_every: int = 0):
        self.delay = delay
        self.fail_every = fail_every
        self.batch_sizes: list[int] = []
        self.calls = 0
        self.max_concurrent = 0
        self._active = 0
        self._lock = threading.Lock()

    def predict(self, images):
        with self._lock:
            self.calls += 1
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
            call = self.calls
        try:
            self.batch_sizes.append(len(images))
            if self.delay:
                time.sleep(self.delay)
            if self.fail_every and call % self.fail_every == 0:
                raise RuntimeError(f"model failure on call {call}")
            out = []
            for img in images:
                assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
                ys, xs = np.nonzero(img.max(axis=2) > 200)
                if xs.size == 0:
                    out.append(np.zeros((0, 17, 3)))
                    continue
                kp = np.zeros((1, 17, 3))
                kp[0, :, 0] = xs.mean() + np.arange(17)
                kp[0, :, 1] = ys.mean()
                kp[0, :, 2] = 1.0
                out.append(kp)
            return out
        finally:
            with self._lock:
                self._active -= 1


def square_pos(cam: int, frame: int) -> tuple[int, int] | None:
    """Top-left corner of the square of camera ``cam`` in ``frame``; None every 5th frame (nobody)."""
    if frame % 5 == 4:
        return None
    return 2 + 2 * (frame % 25), 2 + 10 * (cam % 4)


def make_image(cam: int, frame: int, stamp: float, encoding: str = "bgr8", pad: int = 0) -> Image:
    bgr = np.zeros((H, W, 3), np.uint8)
    bgr[:, :, 0] = 40  # dim background
    pos = square_pos(cam, frame)
    if pos is not None:
        x, y = pos
        bgr[y : y + SQ, x : x + SQ] = 255
    if encoding == "rgb8":
        px = bgr[:, :, ::-1]
    elif encoding == "mono8":
        px = bgr.max(axis=2, keepdims=True)
    elif encoding == "rgba8":
        px = np.concatenate([bgr[:, :, ::-1], np.full((H, W, 1), 255, np.uint8)], axis=2)
    else:
        px = bgr
    rows = np.ascontiguousarray(px).reshape(H, -1)
    rows = np.concatenate([rows, np.zeros((H, pad), np.uint8)], axis=1)
    msg = Image(height=H, width=W, encoding=encoding, is_bigendian=0, step=rows.shape[1])
    msg.header.stamp = stamp_msg(stamp)
    msg.header.frame_id = f"cam{cam}_optical"
    msg.data = rows.tobytes()
    return msg


def expected_keypoints(cam: int, frame: int) -> np.ndarray:
    pos = square_pos(cam, frame)
    if pos is None:
        return np.zeros((0, 17, 3))
    x, y = pos
    kp = np.zeros((1, 17, 3))
    kp[0, :, 0] = x + (SQ - 1) / 2 + np.arange(17)
    kp[0, :, 1] = y + (SQ - 1) / 2
    kp[0, :, 2] = 1.0
    return kp


class Harness:
    """A DetectorNode plus a test node publishing images and recording the node's outputs."""

    def __init__(self, ctx, n_cams: int, backend, annotated: bool = False, **params):
        self.ns = unique_ns()
        self.n = n_cams
        self.image_topics = [f"{self.ns}/cam{i}/image_raw" for i in range(n_cams)]
        overrides = [Parameter("image_topics", value=self.image_topics)]
        overrides += [Parameter("publish_annotated", value=annotated)]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.backend = backend
        self.node = DetectorNode(
            backend=backend, context=ctx, parameter_overrides=overrides, namespace=self.ns
        )
        self.test_node = Node("detector_test_peer", context=ctx, namespace=self.ns)
        self.pubs = [self.test_node.create_publisher(Image, t, result_qos()) for t in self.image_topics]
        self.clouds: list[list[PointCloud2]] = [[] for _ in range(n_cams)]
        self.annotated: list[Image] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.subs = [
            self.test_node.create_subscription(
                PointCloud2,
                sibling_topic(t, "keypoints2d"),
                lambda m, i=i: self.clouds[i].append(m),
                result_qos(100),
            )
            for i, t in enumerate(self.image_topics)
        ]
        if annotated:
            self.subs.append(
                self.test_node.create_subscription(
                    Image, f"{self.ns}/cam0/keypoints2d/annotated", self.annotated.append, result_qos(100)
                )
            )
        self.subs.append(
            self.test_node.create_subscription(
                DiagnosticArray, "/diagnostics", self._on_diag, result_qos(100)
            )
        )
        self.ex = make_executor(ctx, [self.node, self.test_node])
        for pub in self.pubs:
            assert wait_for_subscribers(self.ex, pub, 1, timeout=5.0), "detector did not subscribe"
        for sub in self.subs[:n_cams]:
            assert wait_for_publishers(self.ex, sub, 1, timeout=5.0), "detector does not publish"
        spin_for(self.ex, 0.1)
        self.sent: list[dict[int, float]] = []  # per frame: {cam: stamp}

    def _on_diag(self, msg: DiagnosticArray) -> None:
        if any(st.name.startswith(self.ns + "/") for st in msg.status):
            self.diagnostics.append(msg)

    def publish_frame(
        self, frame: int, cams, stamp0: float, period: float, jitter: float, rng, encodings=None
    ):
        stamps = {}
        for cam in cams:
            stamp = stamp0 + frame * period + rng.uniform(-jitter, jitter)
            enc = encodings[cam] if encodings else "bgr8"
            self.pubs[cam].publish(make_image(cam, frame, stamp, enc, pad=8 if cam == 1 else 0))
            stamps[cam] = stamp
        while len(self.sent) <= frame:
            self.sent.append({})
        self.sent[frame].update(stamps)
        return stamps

    def frame_of(self, cam: int, cloud: PointCloud2) -> int:
        """Which published frame a cloud answers (by exact header stamp)."""
        stamp = stamp_to_float(cloud.header.stamp)
        for f, stamps in enumerate(self.sent):
            if cam in stamps and abs(stamps[cam] - stamp) < 1e-9:
                return f
        raise AssertionError(f"cloud of cam{cam} with stamp {stamp} matches no published image")

    def close(self):
        self.ex.shutdown()
        self.node.destroy_node()
        self.test_node.destroy_node()


@pytest.fixture
def harness_factory(ros_context):  # noqa: F811 - the fixture from ros_helpers
    made = []

    def make(*args, **kw):
        h = Harness(ros_context, *args, **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def check_cloud(h: Harness, cam: int, cloud: PointCloud2) -> int:
    f = h.frame_of(cam, cloud)
    assert cloud.header.frame_id == f"cam{cam}_optical"
    kp = cloud_to_keypoints(cloud)
    exp = expected_keypoints(cam, f)
    assert kp.shape == exp.shape, (cam, f)
    np.testing.assert_allclose(kp, exp, atol=1e-4)
    if exp.shape[0] == 0:
        assert cloud.width == 0
    return f


@pytest.mark.parametrize("raw", [True, False], ids=["serialized", "messages"])
def test_jittered_images_give_one_cloud_per_camera_per_set(harness_factory, raw):
    backend = BrightSquareBackend()
    h = harness_factory(3, backend, annotated=True, slop=0.025, diagnostics_period=0.2, raw_images=raw)
    rng = random.Random(3)
    encodings = {0: "bgr8", 1: "rgb8", 2: "mono8"}
    n_frames = 12
    for f in range(n_frames):
        cams = [0, 1, 2]
        rng.shuffle(cams)  # arrival order varies
        h.publish_frame(f, cams, 1000.0, 0.05, 0.008, rng, encodings)
        spin_for(h.ex, 0.05)
    assert spin_until(h.ex, lambda: all(len(c) >= n_frames for c in h.clouds), timeout=5.0), [
        len(c) for c in h.clouds
    ]
    spin_for(h.ex, 0.3)  # nothing more may come, and lets /diagnostics go out
    for cam in range(3):
        frames = [check_cloud(h, cam, c) for c in h.clouds[cam]]
        assert frames == list(range(n_frames)), (cam, frames)
    assert h.node.sync.emitted == n_frames and h.node.sets_processed == n_frames
    assert h.node.worker.dropped == 0
    assert backend.batch_sizes == [3] * n_frames  # one batch per set
    # annotated images of cam0: same header as the source, keypoints drawn in the square's colour
    assert len(h.annotated) == n_frames
    ann = h.annotated[0]
    assert (ann.height, ann.width, ann.encoding) == (H, W, "bgr8")
    assert stamp_to_float(ann.header.stamp) == pytest.approx(h.sent[0][0], abs=1e-9)
    # /diagnostics over DDS: rates, processed sets, per-stage latency
    assert h.diagnostics, "no /diagnostics received"
    last = {st.name: status_values(st) for st in h.diagnostics[-1].status}
    sets = last[f"{h.ns}/detector_node: sets"]
    assert int(sets["sets_processed"]) == n_frames and int(sets["sets_dropped"]) == 0
    assert float(sets["latency_model_median_ms"]) >= 0 and float(sets["latency_conversion_p99_ms"]) >= 0
    cam0 = last[f"{h.ns}/detector_node: camera cam0"]
    assert int(cam0["received"]) == n_frames and cam0["alive"] == "True" and cam0["state"] == "ok"


def test_camera_going_silent_and_coming_back(harness_factory):
    h = harness_factory(
        3,
        BrightSquareBackend(),
        min_cameras=2,
        camera_timeout=0.3,
        slop=0.02,
        queue_size=10,
        diagnostics_period=0.1,
    )
    rng = random.Random(5)
    period = 0.05
    phases = [(range(0, 6), [0, 1, 2]), (range(6, 22), [0, 1]), (range(22, 30), [0, 1, 2])]
    alive_during_silence = None
    for frames, cams in phases:
        for f in frames:
            h.publish_frame(f, cams, 2000.0, period, 0.005, rng)
            spin_for(h.ex, period)
        if cams == [0, 1]:
            alive_during_silence = h.node.sync.is_alive(2)
            diag_during_silence = list(h.diagnostics)
    spin_until(h.ex, lambda: any(h.frame_of(0, c) == 29 for c in h.clouds[0]), timeout=3.0)
    spin_for(h.ex, 0.2)
    got = [{h.frame_of(cam, c) for c in h.clouds[cam]} for cam in range(3)]
    for cam in range(3):
        for c in h.clouds[cam]:
            check_cloud(h, cam, c)
    assert alive_during_silence is False
    assert h.node.sync.is_alive(2)
    assert set(range(0, 6)) <= got[2] and not got[2] & set(range(6, 22))
    # once cam2 is declared dead (0.3 s), cams 0 and 1 go on with partial sets
    assert set(range(14, 22)) <= got[0] & got[1]
    assert h.node.sync.partial >= 8
    # cam2 back: full sets again (its first frame may be lost: that set was already partial)
    assert set(range(23, 30)) <= got[0] & got[1] & got[2]
    # the silence was visible on /diagnostics
    dead = [
        status_values(st)["alive"]
        for msg in diag_during_silence
        for st in msg.status
        if st.name.endswith("camera cam2")
    ]
    assert "False" in dead


@pytest.mark.parametrize("raw", [True, False], ids=["serialized", "messages"])
def test_bad_images_beside_good_ones(harness_factory, capfd, raw):
    h = harness_factory(4, BrightSquareBackend(), diagnostics_period=0.2, slop=0.02, raw_images=raw)
    rng = random.Random(8)
    n_frames = 8
    for f in range(n_frames):
        stamps = {}
        for cam in range(4):
            stamp = 3000.0 + f * 0.05 + rng.uniform(-0.004, 0.004)
            msg = make_image(cam, f, stamp, "rgba8" if cam == 3 else "bgr8")
            if cam == 1:
                msg.encoding = "nv21"
            if cam == 2:
                msg.data = bytes(msg.data)[: len(msg.data) - 10]
            h.pubs[cam].publish(msg)
            stamps[cam] = stamp
        h.sent.append(stamps)
        spin_for(h.ex, 0.05)
    assert spin_until(h.ex, lambda: len(h.clouds[0]) >= n_frames and len(h.clouds[3]) >= n_frames, 5.0)
    spin_for(h.ex, 0.4)
    for cam in (0, 3):
        assert [check_cloud(h, cam, c) for c in h.clouds[cam]] == list(range(n_frames))
    assert h.clouds[1] == [] and h.clouds[2] == []
    health = h.node.inputs.health
    assert health[1].bad == n_frames and "nv21" in health[1].last_problem
    assert health[2].bad == n_frames and "truncated" in health[2].last_problem
    assert h.node.sets_processed == n_frames
    # error logs name the camera and the problem, throttled to one per camera and problem
    err = capfd.readouterr().err
    assert err.count("camera cam1") == 1 and "nv21" in err
    assert err.count("camera cam2") == 1 and "truncated image data" in err
    # and /diagnostics says so
    last = {st.name: st for st in h.diagnostics[-1].status}
    st1 = last[f"{h.ns}/detector_node: camera cam1"]
    assert st1.level == bytes([2]) and "nv21" in st1.message  # nothing usable: ERROR
    assert int(status_values(st1)["bad_inputs"]) == n_frames and status_values(st1)["alive"] == "False"


def test_slow_backend_drops_sets_and_keeps_the_newest(harness_factory):
    backend = BrightSquareBackend(delay=0.12)
    h = harness_factory(2, backend, slop=0.01)
    rng = random.Random(11)
    n_frames = 25
    for f in range(n_frames):
        h.publish_frame(f, [0, 1], 4000.0, 0.03, 0.002, rng)
        spin_for(h.ex, 0.03)
    last = n_frames - 1
    assert spin_until(h.ex, lambda: any(h.frame_of(0, c) == last for c in h.clouds[0]), timeout=3.0)
    assert h.node.worker.wait_idle(2.0)
    spin_for(h.ex, 0.1)
    w = h.node.worker
    assert h.node.sync.emitted == n_frames
    assert w.dropped > 0 and w.processed < n_frames
    assert w.processed + w.dropped == n_frames == w.submitted  # no set queued or lost silently
    assert backend.max_concurrent == 1
    assert len(h.clouds[0]) == w.processed == len(h.clouds[1])
    for cam in range(2):
        frames = [check_cloud(h, cam, c) for c in h.clouds[cam]]
        assert frames == sorted(frames) and frames[-1] == last  # the newest set is always processed


def test_garbage_serialized_images_are_reported_and_the_others_go_on(harness_factory, capfd):
    """Bytes that are not a serialized Image (published raw on one camera's topic) are counted and
    logged for that camera; the other cameras' sets go on as partial sets."""
    h = harness_factory(3, BrightSquareBackend(), slop=0.02, min_cameras=2, camera_timeout=0.3)
    rng = random.Random(21)
    for f in range(12):
        h.publish_frame(f, [0, 1], 7000.0, 0.05, 0.002, rng)
        h.pubs[2].publish(b"\x00\x01\x00\x00" + bytes(8))  # a CDR header, then nothing sensible
        spin_for(h.ex, 0.06)
    assert spin_until(h.ex, lambda: len(h.clouds[0]) >= 4, timeout=5.0), [len(c) for c in h.clouds]
    assert h.clouds[2] == []
    assert h.node.inputs.health[2].bad >= 12 and "serialized Image" in h.node.inputs.health[2].last_problem
    assert h.node.inputs.health[2].received >= 12  # counted as received
    assert h.node.sync.partial >= 4
    err = capfd.readouterr().err
    assert err.count("camera cam2") == 1 and "serialized Image truncated" in err


def test_backend_exceptions_do_not_stop_the_node(harness_factory):
    backend = BrightSquareBackend(fail_every=3)
    h = harness_factory(2, backend, slop=0.01)
    rng = random.Random(13)
    for f in range(9):
        h.publish_frame(f, [0, 1], 5000.0, 0.05, 0.002, rng)
        spin_for(h.ex, 0.05)
    assert spin_until(h.ex, lambda: backend.calls >= 9 and len(h.clouds[0]) >= 6, timeout=3.0)
    spin_for(h.ex, 0.1)
    assert h.node.backend_errors == 3 and "model failure" in h.node.last_backend_error
    frames = [check_cloud(h, 0, c) for c in h.clouds[0]]
    assert frames == [0, 1, 3, 4, 6, 7]


def test_parameters_rig_file_and_timing_backend(ros_context, tmp_path):  # noqa: F811
    rig = tmp_path / "rig.yaml"
    rig.write_text(
        "world_frame: world\n"
        "cameras:\n"
        "  - name: left\n"
        "    image_topic: /rig/left/image_raw\n"
        "    pose: {R: [[1,0,0],[0,1,0],[0,0,1]], t: [0, 0, 0]}\n"
        "  - name: right\n"
        "    image_topic: /rig/right/color/image\n"
        "    pose: {R: [[1,0,0],[0,1,0],[0,0,1]], t: [0.5, 0, 0]}\n"
    )
    node = DetectorNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("rig_file", value=str(rig)),
            Parameter("backend", value="timing"),
            Parameter("timing_delay", value=0.001),
        ],
    )
    try:
        assert node.image_topics == ["/rig/left/image_raw", "/rig/right/color/image"]
        assert node.camera_names == ["left", "right"]
        assert node.keypoint_topics == ["/rig/left/keypoints2d", "/rig/right/color/keypoints2d"]
        assert node.backend.name == "timing"
        out = node.backend.predict([np.zeros((4, 4, 3), np.uint8)] * 2)
        assert [o.shape for o in out] == [(0, 17, 3), (0, 17, 3)]
        for spec in PARAMETERS:
            desc = node.describe_parameter(spec.name)
            assert desc.description == spec.description and spec.description
        assert node.min_cameras == 1
    finally:
        node.destroy_node()
    with pytest.raises(ValueError, match="image_topics or rig_file"):
        DetectorNode(context=ros_context, backend=BrightSquareBackend())
    with pytest.raises(ValueError, match="slop"):
        DetectorNode(
            context=ros_context,
            backend=BrightSquareBackend(),
            parameter_overrides=[
                Parameter("image_topics", value=["/a/image"]),
                Parameter("slop", value=-1.0),
            ],
        )


def test_sibling_topic():
    assert sibling_topic("/cam1/image_raw", "keypoints2d") == "/cam1/keypoints2d"
    assert sibling_topic("cam1/image_raw", "keypoints2d") == "cam1/keypoints2d"
    assert sibling_topic("/image_raw", "keypoints2d") == "/keypoints2d"
    assert sibling_topic("image_raw", "keypoints2d") == "keypoints2d"


def test_docs_list_every_parameter_with_its_default():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "detector.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`"): line for line in doc.splitlines() if line.startswith("| `")
    }
    for spec in PARAMETERS:
        assert spec.name in rows, f"docs/detector.md lacks parameter {spec.name}"
        default = spec.default
        if isinstance(default, bool):
            text = "true" if default else "false"
        elif isinstance(default, str):
            text = f'"{default}"'
        elif isinstance(default, list):
            text = "[" + ", ".join(f'"{x}"' for x in default) + "]"
        else:
            text = repr(default)
        assert f"`{text}`" in rows[spec.name], f"docs/detector.md: wrong default for {spec.name}"


def test_topic_of_another_type_is_reported_by_name(ros_context, capfd):  # noqa: F811
    """A CompressedImage publisher on a raw image topic matches no subscription (silence in DDS):
    the node names the topic and the type it carries, and the camera's state says so."""
    from sensor_msgs.msg import CompressedImage

    ns = unique_ns()
    topics = [f"{ns}/cam0/image_raw", f"{ns}/cam1/image_raw"]
    node = DetectorNode(
        backend=BrightSquareBackend(),
        context=ros_context,
        parameter_overrides=[
            Parameter("image_topics", value=topics),
            Parameter("diagnostics_period", value=0.0),
        ],
    )
    import rclpy

    other = rclpy.Context()  # another participant: one participant refuses two types on one topic
    rclpy.init(context=other, domain_id=ros_context.test_domain_id)
    peer = Node("type_peer", context=other)
    good = peer.create_publisher(Image, topics[0], result_qos())
    wrong = peer.create_publisher(CompressedImage, topics[1], result_qos())
    ex = make_executor(ros_context, [node])
    try:
        assert wait_for_subscribers(ex, good, 1, timeout=5.0)

        def cam1_state() -> str:
            st = {s.name: s for s in node.diagnostics_statuses()}[
                f"{node.get_fully_qualified_name()}: camera cam1"
            ]
            return status_values(st)["state"]

        assert spin_until(ex, lambda: cam1_state() == "wrong_type", timeout=8.0), cam1_state()
        assert wrong.get_subscription_count() == 0  # DDS alone would say nothing
    finally:
        ex.shutdown()
        node.destroy_node()
        peer.destroy_node()
        rclpy.shutdown(context=other)
    err = capfd.readouterr().err
    assert f"topic {topics[1]} carries sensor_msgs/msg/CompressedImage, expected sensor_msgs/msg/Image" in err
    assert "cam0" not in err.split("carries")[0].splitlines()[-1]


def test_camera_with_a_bad_clock_is_left_out_once_and_rejoins(harness_factory, capfd):
    """cam2's stamps jump 1e6 s ahead for a while: logged once naming it and its offset, cams 0
    and 1 go on with partial sets at once (no stall), cam2 is back once its stamps agree again."""
    h = harness_factory(3, BrightSquareBackend(), min_cameras=2, slop=0.015, diagnostics_period=0.1)
    period = 0.05
    states = []
    for f in range(36):
        bad = 8 <= f < 24
        for cam in (0, 1, 2):
            stamp = 4000.0 + f * period + (1e6 if cam == 2 and bad else 0.0)
            h.pubs[cam].publish(make_image(cam, f, stamp))
            while len(h.sent) <= f:
                h.sent.append({})
            h.sent[f][cam] = stamp
        spin_for(h.ex, period)
        if f == 22:
            states = [status_values(st)["state"] for msg in h.diagnostics for st in msg.status
                      if st.name.endswith("camera cam2")]
    assert spin_until(h.ex, lambda: any(h.frame_of(0, c) >= 33 for c in h.clouds[0]), timeout=3.0)
    spin_for(h.ex, 0.3)
    got = [{check_cloud(h, cam, c) for c in h.clouds[cam]} for cam in range(3)]
    # never stalled by the far-future stamps (a loaded machine may lose a few images: qos_depth 1)
    assert len(got[0] & got[1] & set(range(8, 24))) >= 12
    assert not got[2] & set(range(8, 24)) and len(got[2] & set(range(25, 36))) >= 8
    assert "out_of_sync" in states
    err = capfd.readouterr().err
    assert err.count("is out of sync") == 1 and err.count("is back in sync") == 1, err
    line = next(x for x in err.splitlines() if "is out of sync" in x)
    assert "'cam2'" in line and "1000000.0" in line and "ahead of" in line


def test_replayed_bag_loop_gives_clouds_again_with_one_reset(harness_factory, capfd):
    """Stamps of every camera jump back (``ros2 bag play -l``): one warning, the sets go on."""
    h = harness_factory(3, BrightSquareBackend(), min_cameras=0, slop=0.015)
    rng = random.Random(12)
    period = 0.05
    for _loop in range(2):
        for f in range(30):  # a 1.5 s bag
            for cam in rng.sample([0, 1, 2], 3):
                h.pubs[cam].publish(make_image(cam, f, 5000.0 + f * period))
            spin_for(h.ex, period)
    spin_until(h.ex, lambda: all(len(c) >= 58 for c in h.clouds), timeout=3.0)
    for cam in range(3):
        stamps = [stamp_to_float(c.header.stamp) - 5000.0 for c in h.clouds[cam]]
        back = [k for k in range(1, len(stamps)) if stamps[k] < stamps[k - 1]]
        assert len(back) == 1, (cam, stamps)  # both passes, one jump back
        # (a loaded machine may lose a few images: qos_depth 1)
        assert back[0] >= 20 and len(stamps) - back[0] >= 20, (cam, stamps)
    assert h.node.sync.resets == 1
    err = capfd.readouterr().err
    assert err.count("jumped back") == 1, err
