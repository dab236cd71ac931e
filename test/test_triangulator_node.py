"""triangulator_node over real DDS: CameraInfo + 2D keypoint clouds in, 3D skeletons out.

The 2D input is projected (with lens distortion) from known walking 3D skeletons, so the
published 3D points must match the truth within 1 mm.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
import ros_helpers
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_helpers import make_executor, stamp_msg, unique_ns, wait_until
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

from ros2_mvpose.geometry import Camera
from ros2_mvpose.geometry.rig import Rig, RigCamera, save_rig
from ros2_mvpose.geometry.synthetic import render_views, ring_rig, walking_people
from ros2_mvpose.ros.markers import NS_FRUSTUMS, SKELETON_NAMESPACES
from ros2_mvpose.ros.pointcloud import array_to_cloud, cloud_to_skeletons, keypoints_to_cloud

pytestmark = pytest.mark.ros
ros_context = ros_helpers.ros_context  # pytest fixture: fresh context on a random domain id

# ------------------------------------------------------------------ synthetic scene
DISTORTION = (-0.12, 0.03, 0.001, -0.0005, 0.0)


def scene(n_cameras: int, n_people: int, n_frames: int, fps: float):
    """A distorted ring rig and people walking across it (``ros2_mvpose.geometry.synthetic``)."""
    cams = ring_rig(n_cameras, image_size=(1280, 960), focal=900.0, distortion=DISTORTION, jitter=0.05)
    return cams, walking_people(n_people, n_frames, fps=fps, speed=0.8, seed=3)


def keypoints_for(cam: Camera, people: np.ndarray, rng) -> np.ndarray:
    """(P, 17, 3) exact distorted pixel keypoints of ``people`` (N, 17, 3), shuffled order."""
    views, _ = render_views([cam], people, rng=rng, min_visible=17, shuffle=True)
    return views[0]


def write_rig(path: Path, cams: list[Camera], ns: str, intrinsics: list[Camera | None]) -> Path:
    """Rig file with topics under ``ns``; ``intrinsics[i]`` None = no intrinsics in the file."""
    rig = Rig("world", [
        RigCamera(name=c.name, image_topic=f"{ns}/{c.name}/image_raw",
                  camera_info_topic=f"{ns}/{c.name}/camera_info", frame_id=f"{c.name}_optical",
                  R=np.array(c.R), t=np.array(c.t),
                  camera=None if k is None else Camera(c.name, k.K, k.dist, c.R, c.t, k.width, k.height))
        for c, k in zip(cams, intrinsics)
    ])
    save_rig(rig, path)
    return path


def camera_info(cam: Camera, stamp, frame_id: str, k=None) -> CameraInfo:
    info = CameraInfo()
    info.header = Header(stamp=stamp, frame_id=frame_id)
    info.width, info.height = cam.width, cam.height
    info.distortion_model = "plumb_bob"
    info.d = [float(v) for v in cam.dist]
    info.k = [float(v) for v in (np.asarray(cam.K) if k is None else np.asarray(k)).reshape(-1)]
    return info


# Reconstructor settings for exact synthetic input: no temporal smoothing (it would lag behind
# walking people); everything else at its default.
EXACT = {"reconstruction.smoothing": False}


def reconstruction_overrides() -> list[Parameter]:
    from ros2_mvpose.nodes.triangulator_node import PARAMETERS

    names = {p.name for p in PARAMETERS}
    return [Parameter(k, value=v) for k, v in EXACT.items() if k in names]


# ------------------------------------------------------------------ harness
class Harness:
    """The triangulator node plus a test node, spun by one executor in a background thread."""

    def __init__(self, ctx, tri, ns: str, cams: list[Camera]):
        self.ctx, self.tri, self.ns, self.cams = ctx, tri, ns, cams
        self.node = rclpy.create_node("triangulator_test", context=ctx)
        rel = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        self.kp_pubs = [self.node.create_publisher(PointCloud2, t, rel) for t in tri.keypoint_topics]
        self.info_pubs = [self.node.create_publisher(CameraInfo, t, rel) for t in tri.camera_info_topics]
        self.clock_pub = self.node.create_publisher(Clock, "/clock", 10)
        self.points: list[PointCloud2] = []
        self.markers: list[MarkerArray] = []
        self.diags: list[DiagnosticArray] = []
        self.frusta: list[MarkerArray] = []
        out = f"{ns}/skeletons"
        self.node.create_subscription(PointCloud2, f"{out}/points", self.points.append, rel)
        self.node.create_subscription(MarkerArray, f"{out}/markers", self.markers.append, rel)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, rel)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(MarkerArray, f"{out}/cameras", self.frusta.append, latched)
        self.ex = make_executor(ctx, [tri, self.node])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        outs = [tri.pub_points, tri.pub_markers]
        ok = wait_until(lambda: all(p.get_subscription_count() for p in self.kp_pubs + self.info_pubs + outs),
                        timeout=10.0)
        assert ok, "DDS discovery between the test node and triangulator_node timed out"

    def _spin(self):
        while not self._stop.is_set() and self.ctx.ok():
            self.ex.spin_once(timeout_sec=0.02)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.ex.shutdown()
        self.tri.destroy_node()
        self.node.destroy_node()


def _make_node(ctx, ns, rig_path, **params):
    from ros2_mvpose.nodes.triangulator_node import TriangulatorNode

    overrides = [Parameter("rig_file", value=str(rig_path)), *reconstruction_overrides()]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return TriangulatorNode(context=ctx, namespace=ns, parameter_overrides=overrides)


def _match(decoded: dict, truth: np.ndarray, complete: bool = True) -> dict[int, int]:
    """``{truth index: track id}`` by nearest mean joint distance; asserts 1 mm agreement.

    ``complete``: every true person must be published (False while tracks are being born).
    """
    if complete:
        assert len(decoded) == len(truth), f"{len(decoded)} people published, {len(truth)} in the scene"
    assert len(decoded) <= len(truth), f"{len(decoded)} people published, {len(truth)} in the scene"
    out = {}
    for tid, (joints, _) in decoded.items():
        k = int(np.argmin([np.nanmean(np.linalg.norm(joints - tj, axis=1)) for tj in truth]))
        assert np.all(np.isfinite(joints)), f"track {tid}: joints missing: {joints}"
        err = np.linalg.norm(joints - truth[k], axis=1).max()
        assert err < 1e-3, f"person {k} (track {tid}): max joint error {err * 1e3:.3f} mm >= 1 mm"
        assert k not in out, f"tracks {out[k]} and {tid} are both person {k}"
        out[k] = tid
    return out


# ------------------------------------------------------------------ tests
def test_triangulates_tracks_and_clears_markers(ros_context, tmp_path):
    ns = unique_ns()
    t0, period, n_frames = 1000.0, 0.1, 36
    cams, seq = scene(4, 3, n_frames, 1.0 / period)
    # cam1's rig intrinsics are wrong (CameraInfo must override them), cam3 has none in the rig
    wrong = cams[1].with_intrinsics(K=np.asarray(cams[1].K) * np.array([[1.05], [1.05], [1.0]]))
    rig = write_rig(tmp_path / "rig.yaml", cams, ns, [cams[0], wrong, cams[2], None])
    tri = _make_node(ros_context, ns, rig, min_cameras=2, camera_timeout=0.3,
                     marker_lifetime=0.5, diagnostics_period=0.5)
    assert tri.intrinsics_source(3) == "none" and tri.intrinsics_source(1) == "rig"
    h = Harness(ros_context, tri, ns, cams)
    rng = np.random.default_rng(0)
    try:
        # CameraInfo first (as camera drivers do): the node switches every camera to it
        for i, cam in enumerate(cams):
            h.info_pubs[i].publish(camera_info(cam, stamp_msg(t0 - 1.0), f"cam{i}_optical"))
        assert wait_until(lambda: all(tri.intrinsics_source(i) == "camera_info" for i in range(4)), 5.0)
        truth: dict[float, np.ndarray] = {}
        silent = range(10, 20)  # cam3 drops out for 1 s (> camera_timeout) then comes back
        leave = 24  # person 2 leaves at this frame
        for f in range(n_frames):
            t = t0 + f * period
            stamp = stamp_msg(t)
            people = seq.joints[f, :2] if f >= leave else seq.joints[f]
            truth[round(t, 6)] = people
            for i, cam in enumerate(cams):
                h.info_pubs[i].publish(camera_info(cam, stamp, f"cam{i}_optical"))
                if i == 3 and f in silent:
                    continue
                hdr = Header(stamp=stamp, frame_id=f"cam{i}_optical")
                h.kp_pubs[i].publish(keypoints_to_cloud(keypoints_for(cam, people, rng), hdr))
            time.sleep(period)
        assert wait_until(lambda: h.points and round(_sec(h.points[-1]), 6) == round(t, 6), timeout=5.0)
        time.sleep(0.2)
        stats = dict(tri.stats)
    finally:
        h.close()

    assert len(h.points) >= n_frames - 6, f"only {len(h.points)} sets published: {stats}"
    assert stats["partial_sets"] >= 4, stats
    ids_of = {}
    for n, msg in enumerate(h.points):
        assert msg.header.frame_id == "world"
        key = round(_sec(msg), 6)
        assert key in truth, f"output stamp {key} is not an input stamp"
        # the first sets may lack a person still being born (Reconstructor n_init hysteresis)
        mapping = _match(cloud_to_skeletons(msg), truth[key], complete=n >= 2)
        for k, tid in mapping.items():
            assert ids_of.setdefault(k, tid) == tid, f"person {k} changed id {ids_of[k]} -> {tid} at {key}"
    published_stamps = {round(_sec(m), 6) for m in h.points}
    assert any(round(t0 + f * period, 6) in published_stamps for f in silent), "no partial set was published"
    assert len(set(ids_of.values())) == 3

    # markers: same stamps; person 2's markers get DELETE once it left, and are never re-added
    gone = ids_of[2]
    deleted_at = None
    for arr in h.markers:
        acts = {(m.ns, m.id): m.action for m in arr.markers}
        assert {m.header.frame_id for m in arr.markers} <= {"world"}
        if deleted_at is None and all(acts.get((ns_, gone)) == Marker.DELETE for ns_ in SKELETON_NAMESPACES):
            deleted_at = _sec(arr.markers[0])
            assert deleted_at >= t0 + leave * period - 1e-6
        elif deleted_at is not None:
            assert (SKELETON_NAMESPACES[0], gone) not in acts, "a person who left came back in the markers"
    assert deleted_at is not None, "the markers of the person who left were never deleted"
    assert all(m.lifetime.nanosec == 500_000_000 for arr in h.markers for m in arr.markers
               if m.action == Marker.ADD)
    last_adds = {m.id for m in h.markers[-1].markers if m.action == Marker.ADD}
    assert last_adds == {ids_of[0], ids_of[1]}

    # latched camera frustums: all four cameras once cam3's CameraInfo arrived
    assert h.frusta, "no camera frustums on skeletons/cameras"
    assert sorted(m.id for m in h.frusta[-1].markers if m.ns == NS_FRUSTUMS) == [0, 1, 2, 3]
    # diagnostics came out and carry per-camera rates and latencies
    keys = {kv.key for d in h.diags for s in d.status for kv in s.values}
    assert {"input_rate_hz", "camera_info_rate_hz", "state", "latency_reconstruct_median_ms"} <= keys


def _sec(msg) -> float:
    return msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec


def test_bad_input_keeps_node_alive_and_uses_sim_time(ros_context, tmp_path):
    ns = unique_ns()
    t0, period, n_frames = 200.0, 0.05, 24
    cams, seq = scene(5, 2, n_frames, 1.0 / period)
    # cam2 has no rig intrinsics and only ever sends an invalid CameraInfo
    rig = write_rig(tmp_path / "rig.yaml", cams, ns, [cams[0], cams[1], None, cams[3], cams[4]])
    tri = _make_node(ros_context, ns, rig, min_cameras=2, camera_timeout=0.3,
                     diagnostics_period=0.3, error_throttle=0.2, use_sim_time=True)
    h = Harness(ros_context, tri, ns, cams)
    rng = np.random.default_rng(1)
    sim0 = 5000.0
    try:
        truth = {}
        for f in range(n_frames):
            t = t0 + f * period
            stamp = stamp_msg(t)
            h.clock_pub.publish(Clock(clock=stamp_msg(sim0 + f * period)))
            people = seq.joints[f]
            truth[round(t, 6)] = people
            bad_k = {0: np.zeros(9), 1: np.r_[np.nan, np.ones(8)], 2: np.r_[np.inf, np.ones(8)]}
            for i, cam in enumerate(cams):
                h.info_pubs[i].publish(camera_info(cam, stamp, f"cam{i}_optical", k=bad_k.get(i)))
                kp = keypoints_for(cam, people, rng)
                hdr = Header(stamp=stamp, frame_id=f"cam{i}_optical")
                if i == 3 and f % 2 == 0:  # wrong fields: an xyz cloud
                    pts = np.zeros(5, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
                    msg = array_to_cloud(pts, hdr)
                elif i == 3:  # right format, unknown frame
                    msg = keypoints_to_cloud(kp, Header(stamp=stamp, frame_id="somewhere_else"))
                else:
                    msg = keypoints_to_cloud(kp, hdr)
                h.kp_pubs[i].publish(msg)
            time.sleep(period)
        assert wait_until(lambda: h.points and round(_sec(h.points[-1]), 6) == round(t, 6), timeout=5.0)
        assert wait_until(lambda: any(_diag_warn(d) for d in h.diags), timeout=3.0)
        sources = [tri.intrinsics_source(i) for i in range(5)]
        sim_now = tri.get_clock().now().nanoseconds * 1e-9
        n_before = len(h.points)
        # the recording starts over (bag replayed again): stamps jump back, the node starts over;
        # cams 2 and 3 stay silent: they count as dead once the others' stamps moved > camera_timeout
        for f in range(10):
            t_again = t0 - 10.0 + f * period
            truth[round(t_again, 6)] = seq.joints[f]
            for i in (0, 1, 4):
                hdr = Header(stamp=stamp_msg(t_again), frame_id=f"cam{i}_optical")
                h.kp_pubs[i].publish(keypoints_to_cloud(keypoints_for(cams[i], seq.joints[f], rng), hdr))
            time.sleep(period)
        assert wait_until(lambda: len(h.points) > n_before and _sec(h.points[-1]) < t0, timeout=5.0), (
            "no output after the stamps jumped back")
        stats = dict(tri.stats)
    finally:
        h.close()

    # invalid CameraInfo: ignored, rig intrinsics kept (cam0, cam1), cam2 skipped for lack of any
    assert sources == ["rig", "rig", "none", "camera_info", "camera_info"]
    assert stats.get("camera_info", 0) >= 3 and stats.get("no_intrinsics", 0) >= 1, stats
    assert stats.get("cloud", 0) >= 1 and stats.get("frame_id", 0) >= 1, stats
    assert stats.get("time_jumps") == 1, stats
    # the other cameras kept working: every set reconstructed exactly from cam0, cam1, cam4
    assert n_before >= n_frames - 4, f"{n_before} of {n_frames} sets published: {stats}"
    for n, msg in enumerate(h.points):
        _match(cloud_to_skeletons(msg), truth[round(_sec(msg), 6)], complete=2 <= n < n_before)
    # use_sim_time: the node's clock follows /clock, and diagnostics are stamped with it
    assert sim0 <= sim_now <= sim0 + n_frames * period + 1e-6
    d_stamps = [_sec(d) for d in h.diags if _sec(d) > 0]
    assert d_stamps and all(sim0 <= s <= sim0 + n_frames * period + 1e-6 for s in d_stamps)


def _diag_warn(d: DiagnosticArray) -> bool:
    """cam3 sends only unusable clouds: its status says so (ERROR, not alive)."""
    return any(
        s.level == DiagnosticStatus.ERROR and s.name.endswith("camera cam3") and "no usable" in s.message
        for s in d.status
    )


def test_one_camera_clock_jumping_back_is_left_out_without_a_reset(ros_context, tmp_path, capfd):
    """cam1's stamps alone jump back 30 s: it is out of sync (logged once, naming it), the other
    three cameras go on (exact partial sets), tracking is not reset; cam1 rejoins when its clock
    is right again."""
    ns = unique_ns()
    t0, period, n_frames = 3000.0, 0.05, 40
    cams, seq = scene(4, 2, n_frames, 1.0 / period)
    rig = write_rig(tmp_path / "rig.yaml", cams, ns, cams)
    tri = _make_node(ros_context, ns, rig, min_cameras=2, camera_timeout=0.5)
    h = Harness(ros_context, tri, ns, cams)
    rng = np.random.default_rng(4)
    truth = {}
    try:
        for f in range(n_frames):
            t = t0 + f * period
            truth[round(t, 6)] = seq.joints[f]
            for i, cam in enumerate(cams):
                stamp = t - 30.0 if i == 1 and 10 <= f < 30 else t
                hdr = Header(stamp=stamp_msg(stamp), frame_id=f"cam{i}_optical")
                h.kp_pubs[i].publish(keypoints_to_cloud(keypoints_for(cam, seq.joints[f], rng), hdr))
            time.sleep(period)
        last = t0 + (n_frames - 1) * period
        assert wait_until(lambda: h.points and round(_sec(h.points[-1]), 6) == round(last, 6), timeout=5.0)
        stats = dict(tri.stats)
        resets = tri._sync.resets
        offset_now = tri._sync.offset(1)
    finally:
        h.close()
    assert stats.get("time_jumps") == 0 and resets == 0, stats
    assert offset_now is None  # back in sync at the end
    published = [round(_sec(m), 6) for m in h.points]
    assert published == sorted(published)
    assert len([x for x in published if t0 + 10 * period <= x < t0 + 30 * period]) >= 17  # no stall
    for msg in h.points:
        _match(cloud_to_skeletons(msg), truth[round(_sec(msg), 6)], complete=False)
    err = capfd.readouterr().err
    assert err.count("is out of sync") == 1 and err.count("is back in sync") == 1, err
    assert "'cam1'" in next(x for x in err.splitlines() if "is out of sync" in x)


# ------------------------------------------------------------------ no-DDS helpers
def test_helpers():
    from ros2_mvpose.resources import find_data_file as resolve_data_path
    from ros2_mvpose.ros.topics import sibling_topic

    assert sibling_topic("/cam1/image_raw", "keypoints2d") == "/cam1/keypoints2d"
    assert sibling_topic("/a/b/cam1/image", "keypoints2d") == "/a/b/cam1/keypoints2d"
    assert sibling_topic("/image", "keypoints2d") == "/keypoints2d"
    assert sibling_topic("image", "keypoints2d") == "keypoints2d"
    here = Path(__file__).resolve()
    assert resolve_data_path(here) == here
    assert resolve_data_path("test/" + here.name).resolve() == here  # from the source tree
    with pytest.raises(FileNotFoundError, match="no_such_file"):
        resolve_data_path("config/no_such_file.yaml")
