"""Latency of the live ROS graph: camera images in, MarkerArray out, over real DDS.

Usage:
    .venv/bin/python benchmarks/bench_ros_latency.py                 # 20 s per run
    .venv/bin/python benchmarks/bench_ros_latency.py --duration 120  # the BENCHMARKS.md figure

Set-up: 5 cameras of 1080x1080 (``../shared/seed_sample`` renders and calibrations when present,
else a synthetic ring rig and rendered frames) published as ``sensor_msgs/Image`` bgr8 at 30 Hz,
each by its own process like independent camera drivers (``--publishers processes``, default;
``inprocess``: all five one after the other from this process), frame ``k`` stamped with its
capture time and published at that time, as serialized bytes. The graph (``detector_node`` +
``triangulator_node``, the real nodes, in one child process on a ``SingleThreadedExecutor``
like ``mvpose run``; ``--graph processes``: one process per node) runs on an isolated
ROS_DOMAIN_ID, with the package's parameter defaults (``--det-param`` overrides the
detector's); a listener node in this process receives ``skeletons/markers``,
``skeletons/points`` and ``/diagnostics``.

Detector and triangulator hand the keypoints over in-process like ``mvpose run``
(``--keypoints direct``, ``ros2_mvpose.nodes.inprocess``); ``--keypoints dds`` sends them only
through DDS, ``--keypoints both`` adds a timing run over DDS to compare in the same invocation.

Runs, in one invocation:

* **transport floor**: a bare subscriber instead of the graph (see ``FloorNode``), the reference
  the graph's latency is divided by (graph / floor at median);
* **timing**: the 2D model replaced by a stand-in that sleeps ``--model-delay`` seconds (default
  0) and returns fixed keypoints of two people (their projections into the rig), so conversion,
  sync, the worker, clouds, reconstruction, tracking and markers all do their real work;
* **real model**: BlazePose when mediapipe imports, else HigherHRNet-W32 with the deterministic
  weights of ``../shared/higherhrnet`` (random, not pretrained: same compute, meaningless
  keypoints) -- ``--real``. On this CPU it is far slower than 30 Hz, so most sets are dropped
  (the detector always runs on the newest set): reported, as expected behaviour.

Figures per run: MarkerArray latency (receive time - image stamp) median and p99; the model's
median time per set (detector /diagnostics); the share not in the model (median latency - median
model time; target < 15 ms); sets published vs. sets out and dropped; resident memory (RSS) of
the graph process after warm-up and at the end. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
SEED = SHARED / "seed_sample"


# ------------------------------------------------------------------ scene: rig and images
def make_rig(path: Path, n: int, size: int):
    """Rig file for the benchmark: the seed sample's calibrations when present, else synthetic."""
    from ros2_mvpose.geometry.rig import Rig, RigCamera, save_rig

    xmls = sorted(glob.glob(str(SEED / "calibrations" / "*.xml")))
    if n == 5 and size == 1080 and len(xmls) == 5:
        from ros2_mvpose.geometry.calibration_io import convert_to_rig

        rig = convert_to_rig(xmls)
        source = "seed_sample"
    else:
        from ros2_mvpose.geometry.synthetic import ring_rig

        cams = ring_rig(n, image_size=(size, size), focal=size)
        rig = Rig("world", [RigCamera.from_camera(c) for c in cams])
        source = "synthetic ring rig"
    save_rig(rig, path)
    return rig, source


def load_images(rig, size: int) -> list[np.ndarray]:
    """One BGR image per camera: the seed renders when they match, else rendered people."""
    import cv2

    pngs = sorted(glob.glob(str(SEED / "images" / "*.png")))
    if len(pngs) == len(rig.cameras) and size == 1080:
        return [cv2.imread(p, cv2.IMREAD_COLOR) for p in pngs]
    imgs = []
    for cam in rig.cameras:
        img = np.full((size, size, 3), 90, np.uint8)
        uv = cam.camera.project(scene_people(rig)).reshape(-1, 2)
        for u, v in uv[np.isfinite(uv).all(1)]:
            cv2.circle(img, (int(u), int(v)), max(2, size // 200), (255, 255, 255), -1)
        imgs.append(img)
    return imgs


def scene_people(rig) -> np.ndarray:
    """Two people (2, 17, 3) standing where the cameras look, scaled to the rig's units."""
    from ros2_mvpose.geometry.synthetic import posed_skeleton

    centres = np.array([c.camera.center for c in rig.cameras])
    axes = np.array([c.camera.R[2] for c in rig.cameras])
    # least-squares point closest to all optical axes, and a body scale for ~5 m viewing distance
    A = sum(np.eye(3) - np.outer(a, a) for a in axes)
    b = sum((np.eye(3) - np.outer(a, a)) @ c for a, c in zip(axes, centres))
    target = np.linalg.solve(A, b)
    scale = float(np.median(np.linalg.norm(centres - target, axis=1))) / 5.0
    up = -np.mean([c.camera.R[1] for c in rig.cameras], axis=0)  # image "up" averaged = world up
    up /= np.linalg.norm(up)
    x = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(up, x)
    basis = np.stack([x, y, up], axis=1)  # body frame (x, y, z up) -> world
    out = []
    for k, off in enumerate((-0.5, 0.5)):
        body = posed_skeleton(np.array([off, 0.0]), 0.3 + k, 0.5 * k) - np.array([0.0, 0.0, 0.9])
        out.append(target + scale * body @ basis.T)
    return np.stack(out)


class ReplayBackend:
    """Model stand-in: sleeps ``delay`` s per set, returns fixed keypoints per camera index."""

    name = "timing-replay"

    def __init__(self, keypoints: list[np.ndarray], delay: float):
        self.keypoints = keypoints
        self.delay = float(delay)

    def predict(self, images):
        if self.delay > 0:
            time.sleep(self.delay)
        return [self.keypoints[i % len(self.keypoints)].copy() for i in range(len(images))]


def deterministic_hrnet_checkpoint(out: Path) -> Path:
    """HigherHRNet-W32 state dict from ../shared/higherhrnet/det_weights.py (not pretrained)."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("det_weights", SHARED / "higherhrnet" / "det_weights.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.save(mod.make_state_dict(SHARED / "higherhrnet" / "state_dict_w32_512.json"), out)
    return out


def real_backend_choice(choice: str) -> str | None:
    if choice == "none":
        return None
    if choice in ("auto", "blazepose"):
        try:
            import mediapipe  # noqa: F401

            return "blazepose"
        except ImportError:
            if choice == "blazepose":
                raise SystemExit("--real blazepose: mediapipe is not installed") from None
    if (SHARED / "higherhrnet" / "det_weights.py").exists():
        return "higherhrnet"
    return None


# ------------------------------------------------------------------ child: the graph
def FloorNode(rig):  # noqa: N802 - builds a node class lazily (rclpy imported in the child only)
    """Transport floor: takes the 5 image topics like the detector (serialized, sensor QoS depth
    1) and, once every camera's image of a frame is in, publishes an empty MarkerArray-sized
    answer (one marker, one empty cloud) stamped with the frame: no conversion, no model, no
    triangulator. Its latency is what any rclpy node pays to receive the images."""
    from rclpy.node import Node
    from sensor_msgs.msg import Image, PointCloud2
    from visualization_msgs.msg import Marker, MarkerArray

    from ros2_mvpose.ros.image_cdr import parse_image_cdr
    from ros2_mvpose.ros.qos import result_qos, sensor_qos

    class _Floor(Node):
        def __init__(self):
            super().__init__("transport_floor")
            self.n = len(rig.cameras)
            self.pending: dict[tuple[int, int], set[int]] = {}
            self.pub_m = self.create_publisher(MarkerArray, "/skeletons/markers", result_qos())
            self.pub_p = self.create_publisher(PointCloud2, "/skeletons/points", result_qos())
            self.subs = [self.create_subscription(Image, c.image_topic, lambda m, i=i: self.on_image(i, m),
                                                  sensor_qos(1), raw=True)
                         for i, c in enumerate(rig.cameras)]

        def on_image(self, i, data):
            msg = parse_image_cdr(data)
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            got = self.pending.setdefault(key, set())
            got.add(i)
            if len(got) == self.n:
                del self.pending[key]
                for k in [k for k in self.pending if k < key]:  # frames that will never complete
                    del self.pending[k]
                marker = Marker(header=msg.header)
                marker.header.frame_id = "world"
                self.pub_m.publish(MarkerArray(markers=[marker]))
                self.pub_p.publish(PointCloud2(header=marker.header))

    return _Floor()


def run_graph(args) -> int:
    """Child process: the nodes named by ``--nodes`` on one executor until SIGINT."""
    import rclpy
    import yaml
    from rclpy.executors import ExternalShutdownException
    from rclpy.parameter import Parameter

    from ros2_mvpose.geometry.rig import load_rig
    from ros2_mvpose.nodes.detector_node import DetectorNode
    from ros2_mvpose.nodes.launcher import make_executor
    from ros2_mvpose.nodes.triangulator_node import TriangulatorNode

    parent = os.getppid()

    def orphan_watch():  # the benchmark was killed: do not keep loading the machine
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=orphan_watch, daemon=True).start()
    rig = load_rig(args.rig)
    backend = None
    if "detector" not in args.nodes:
        pass
    elif args.backend == "replay":
        people = scene_people(rig)
        kps = []
        for c in rig.cameras:
            kp = np.concatenate([c.camera.project(people), np.full((2, 17, 1), 0.9)], axis=-1)
            kps.append(kp.astype(np.float32))
        backend = ReplayBackend(kps, args.model_delay)
    else:
        from ros2_mvpose.pose2d.select import select_backend

        backend, reason = select_backend(args.backend, checkpoint=args.checkpoint or None)
        print(reason, flush=True)
    from ros2_mvpose.ros.dds import apply_large_image_profile

    apply_large_image_profile()
    rclpy.init()
    common = [Parameter("rig_file", value=str(args.rig)), Parameter("diagnostics_period", value=1.0)]
    det_params = [Parameter(k, value=yaml.safe_load(v)) for k, v in (x.split("=", 1) for x in args.det_param)]
    nodes = []
    if "floor" in args.nodes:
        nodes.append(FloorNode(rig))
    if "detector" in args.nodes:
        nodes.append(DetectorNode(backend=backend, parameter_overrides=common + det_params))
    if "triangulator" in args.nodes:
        nodes.append(TriangulatorNode(parameter_overrides=common))
    if args.gil_switch_ms > 0:
        sys.setswitchinterval(args.gil_switch_ms * 1e-3)
    if args.keypoints == "direct":
        from ros2_mvpose.nodes.inprocess import link_nodes

        print(f"keypoints handed over in-process: {link_nodes(nodes)}", flush=True)
    ex = make_executor(args.executor)
    for node in nodes:
        ex.add_node(node)
    print("READY", flush=True)
    try:
        ex.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        ex.shutdown()
        for node in nodes:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


# ------------------------------------------------------------------ child: one camera
def run_camera(args) -> int:
    """Child process: camera ``--camera`` of the rig publishes its image at ``--fps`` until SIGINT.

    Frame ``k`` is stamped ``--start + k / fps`` (its capture time) and published at that time,
    as serialized bytes (the stamp patched in), like an independent camera driver.
    """
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from ros2_mvpose.geometry.rig import load_rig
    from ros2_mvpose.ros.dds import apply_large_image_profile
    from ros2_mvpose.ros.image_conversion import bgr_to_image_msg

    parent = os.getppid()
    rig = load_rig(args.rig)
    cam = rig.cameras[args.camera]
    image = load_images(rig, args.size)[args.camera]
    apply_large_image_profile()
    rclpy.init()
    node = rclpy.create_node(f"bench_camera_{args.camera}")
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    pub = node.create_publisher(Image, cam.image_topic, qos)
    raw = bytearray(serialize_message(bgr_to_image_msg(image, header=Header(frame_id=cam.frame_id))))
    period = 1.0 / args.fps
    sent = frame = 0
    skipped: list[int] = []
    try:
        while os.getppid() == parent:
            t_frame = args.start + frame * period
            wait = t_frame - time.time()
            if wait > 0:
                time.sleep(wait)
            elif wait < -period:  # too busy to keep up: like a camera, send the current frame,
                now_frame = int((time.time() - args.start) / period)  # never a backlog of stale ones
                skipped += range(frame, now_frame)
                frame = now_frame
                t_frame = args.start + frame * period
            sec, nsec = divmod(int(round(t_frame * 1e9)), 1_000_000_000)
            raw[4:12] = struct.pack("<iI", sec, nsec)
            pub.publish(bytes(raw))
            sent += 1
            frame += 1
    except KeyboardInterrupt:
        pass
    print(f"CAMERA {args.camera} sent {sent} skipped {len(skipped)}", flush=True)
    print(f"SKIPPED {' '.join(map(str, skipped))}", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


# ------------------------------------------------------------------ parent: publish and measure
def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def measure(args, backend: str, rig_path: Path, rig, images, checkpoint: str = "",
            keypoints: str = "direct") -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image, PointCloud2
    from std_msgs.msg import Header
    from visualization_msgs.msg import MarkerArray

    from ros2_mvpose.ros.image_conversion import bgr_to_image_msg

    domain = random.SystemRandom().randint(1, 100)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    cmd = [sys.executable, __file__, "--child", "--rig", str(rig_path), "--backend", backend,
           "--model-delay", str(args.model_delay), "--checkpoint", checkpoint, "--executor", args.executor,
           "--keypoints", keypoints, "--gil-switch-ms", str(args.gil_switch_ms)]
    cmd += [f"--det-param={x}" for x in args.det_param]
    if backend == "floor":
        groups = [["floor"]]
    elif args.graph == "inprocess":
        groups = [["detector", "triangulator"]]
    else:
        groups = [["detector"], ["triangulator"]]
    children = [subprocess.Popen(cmd + ["--nodes", *g], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for g in groups]
    log: list[str] = []

    def pump(c):
        for line in c.stdout:
            log.append(line.rstrip())

    for c in children:
        threading.Thread(target=pump, args=(c,), daemon=True).start()
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("bench_io", context=ctx)
    rel = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    img_qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.BEST_EFFORT)
    pubs = [node.create_publisher(Image, c.image_topic, img_qos) for c in rig.cameras]
    # serialized once; each frame patches the stamp (bytes 4..12 of little-endian CDR) and
    # publishes the bytes, as a camera driver in C++ would cost the least of a Python one
    raw = [bytearray(serialize_message(bgr_to_image_msg(img, header=Header(frame_id=c.frame_id))))
           for img, c in zip(images, rig.cameras)]
    lock = threading.Lock()
    state = {"measuring": False, "marker_lat": [], "points_lat": [], "empty_markers": 0, "diag": {}}
    published: list[float] = []

    def on_markers(arr):
        now = time.time()
        if not arr.markers:
            with lock:
                state["empty_markers"] += 1
            return
        s = arr.markers[0].header.stamp
        with lock:
            state["marker_lat"].append((s.sec + 1e-9 * s.nanosec, now))

    def on_points(cloud):
        now = time.time()
        s = cloud.header.stamp
        with lock:
            state["points_lat"].append((s.sec + 1e-9 * s.nanosec, now))

    def on_diag(arr):
        with lock:
            for st in arr.status:
                state["diag"][st.name] = {kv.key: kv.value for kv in st.values}

    node.create_subscription(MarkerArray, "/skeletons/markers", on_markers, rel)
    node.create_subscription(PointCloud2, "/skeletons/points", on_points, rel)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, rel)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    stop = threading.Event()
    spinner = threading.Thread(
        target=lambda: [ex.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)])
    spinner.start()
    result: dict = {"backend": backend}
    cameras: list[subprocess.Popen] = []
    try:
        t_end = time.monotonic() + 300
        while (log.count("READY") < len(children) and all(c.poll() is None for c in children)
               and time.monotonic() < t_end):
            time.sleep(0.1)
        if any(c.poll() is not None for c in children) or log.count("READY") < len(children):
            raise RuntimeError("graph process failed:\n" + "\n".join(log[-30:]))
        while time.monotonic() < t_end and not all(p.get_subscription_count() for p in pubs):
            time.sleep(0.05)
        period = 1.0 / args.fps
        warmup = args.warmup
        cam_start = time.time() + 3.0
        if args.publishers == "processes":
            cam_cmd = [sys.executable, __file__, "--rig", str(rig_path), "--size", str(args.size),
                       "--fps", str(args.fps), "--start", repr(cam_start)]
            cameras = [subprocess.Popen(cam_cmd + ["--camera", str(k)], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True) for k in range(len(pubs))]
            for c in cameras:
                threading.Thread(target=pump, args=(c,), daemon=True).start()
            time.sleep(max(0.0, cam_start - time.time()))
        t_start = time.monotonic()
        n = 0
        rss_start = None
        t_measure = measure_from = 0.0
        rss_samples = []
        while True:
            now_m = time.monotonic()
            el = now_m - t_start
            if rss_start is not None and now_m - t_measure >= args.duration:
                break
            with lock:
                outputs = len(state["points_lat"])
            # warm-up: at least --warmup s and two sets out of the graph (the model's first calls
            # allocate), at most 120 s
            if rss_start is None and el >= warmup and (outputs >= 2 or el >= 120):
                with lock:
                    state["measuring"] = True
                    state["marker_lat"].clear()
                    state["points_lat"].clear()
                rss_start = sum(rss_mb(c.pid) for c in children)
                measure_from = time.time()
                t_measure = now_m
                with lock:
                    received_start = _images_received(state["diag"])
            if cameras:  # camera processes publish; count the frame times in the window
                stamp = cam_start + n * period
                time.sleep(max(0.0, stamp - time.time()))
            else:
                stamp = time.time()
                sec, nsec = divmod(int(stamp * 1e9), 1_000_000_000)
                stamp_bytes = struct.pack("<iI", sec, nsec)
                for p, m in zip(pubs, raw):
                    m[4:12] = stamp_bytes
                    p.publish(bytes(m))
            if rss_start is not None:
                published.append(round(stamp, 6))
            n += 1
            if n % int(args.fps) == 0 and rss_start is not None:
                rss_samples.append(sum(rss_mb(c.pid) for c in children))
            nxt = t_start + n * period
            time.sleep(max(0.0, nxt - time.monotonic()))
        measure_to = time.time() if not cameras else stamp + 1e-6  # the last frame counted
        with lock:
            received_end = _images_received(state["diag"])
        time.sleep(args.drain)
        for c in cameras:
            c.send_signal(signal.SIGINT)
        for c in cameras:
            c.wait(timeout=20)
        rss_end = sum(rss_mb(c.pid) for c in children)
        result["camera_log"] = [line for line in log if line.startswith("CAMERA")]
        # frames some camera never sent (it was too busy): no set can exist, not the graph's drop
        skipped = {round(cam_start + int(k) * period, 6)
                   for line in log if line.startswith("SKIPPED") for k in line.split()[1:]}
        published = [s for s in published if s not in skipped]
        result["camera_skipped"] = len(skipped)
        with lock:
            ml = [(s, r) for s, r in state["marker_lat"] if measure_from <= s <= measure_to]
            pl = [(s, r) for s, r in state["points_lat"] if measure_from <= s <= measure_to]
            diag = dict(state["diag"])
            empty = state["empty_markers"]
        lat = np.array([r - s for s, r in ml]) if ml else np.array([np.nan])
        plat = np.array([r - s for s, r in pl]) if pl else np.array([np.nan])
        det = next((v for k, v in diag.items() if "detector" in k and ": sets" in k), {})
        got = [received_end[k] - received_start.get(k, 0) for k in received_end]
        det_code = sum(float(det.get(f"latency_{k}_median_ms", "nan")) for k in ("conversion", "publish"))
        tri = next((v for k, v in diag.items() if "triangulat" in k and ": sets" in k), {})
        tri_total = float(tri.get("latency_total_median_ms", "nan"))
        model_ms = float(det.get("latency_model_median_ms", "nan"))
        med = float(np.nanmedian(lat)) * 1e3
        result.update(
            sets_published=len(published),
            sets_out=len(pl),
            markers_out=len(ml),
            empty_markers=empty,
            dropped=len(published) - len(pl),
            latency_median_ms=med,
            latency_p99_ms=float(np.nanpercentile(lat, 99)) * 1e3,
            points_latency_median_ms=float(np.nanmedian(plat)) * 1e3,
            model_median_ms=model_ms,
            non_model_ms=med - model_ms,
            detector_dropped=det.get("sets_dropped", "?"),
            input_rate_hz=float(np.mean(got)) / args.duration if got else float("nan"),
            node_code_ms=det_code + tri_total,
            sync_dropped_msgs=det.get("messages_dropped_by_sync", "?"),
            conversion_ms=float(det.get("latency_conversion_median_ms", "nan")),
            reconstruct_ms=float(tri.get("latency_reconstruct_median_ms", "nan")),
            rss_start_mb=rss_start,
            rss_end_mb=rss_end,
            rss_max_mb=max(rss_samples + [rss_end]),
        )
    finally:
        stop.set()
        spinner.join(timeout=5)
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        for c in children + cameras:
            if c.poll() is None:
                c.send_signal(signal.SIGINT)
        for c in children + cameras:
            try:
                c.wait(timeout=20)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
    result["log"] = log
    result["diag"] = diag
    return result


def _images_received(diag: dict) -> dict[str, int]:
    """Per-camera ``received`` counters of the detector's last /diagnostics."""
    return {k: int(v["received"]) for k, v in diag.items() if "detector" in k and ": camera " in k}


def main() -> int:
    # Both the camera publisher (this process) and the graph (child) use the package's Fast DDS
    # profile for large images, as README asks of camera drivers (ros2_mvpose.ros.dds).
    from ros2_mvpose.ros.dds import apply_large_image_profile

    apply_large_image_profile()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=20.0,
                    help="measured seconds per run (120 for BENCHMARKS.md)")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds published before measuring")
    ap.add_argument("--drain", type=float, default=2.0,
                    help="seconds to wait for outputs after the last frame")
    ap.add_argument("--cameras", type=int, default=5)
    ap.add_argument("--size", type=int, default=1080, help="image width = height, pixels")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--model-delay", type=float, default=0.0,
                    help="seconds the timing stand-in sleeps per set")
    ap.add_argument("--real", choices=("auto", "blazepose", "higherhrnet", "none"), default="auto",
                    help="real 2D model run (auto: BlazePose if installed, else HigherHRNet deterministic)")
    ap.add_argument("--checkpoint", default="",
                    help="HigherHRNet checkpoint (default: deterministic weights)")
    ap.add_argument("--executor", choices=("single", "multi"), default="single",
                    help="executor of the graph process (as mvpose run --executor)")
    ap.add_argument("--graph", choices=("inprocess", "processes"), default="inprocess",
                    help="both nodes in one process (like mvpose run) or one process each")
    ap.add_argument("--keypoints", choices=("direct", "dds", "both"), default="direct",
                    help="detector -> triangulator in the graph process: handed over in-process "
                    "(direct, as mvpose run), only over DDS, or both (one timing run each)")
    ap.add_argument("--gil-switch-ms", type=float, default=0.0,
                    help="Python thread switch interval of the graph process, ms (0: Python's 5 ms)")
    ap.add_argument("--det-param", action="append", default=[], metavar="NAME=VALUE",
                    help="detector parameter override (repeatable), e.g. qos_depth=1")
    ap.add_argument("--nodes", nargs="+", default=["detector", "triangulator"], help=argparse.SUPPRESS)
    ap.add_argument("--publishers", choices=("processes", "inprocess"), default="processes",
                    help="one process per camera (independent drivers, default) or all cameras "
                    "published one after the other from this process")
    ap.add_argument("--camera", type=int, default=-1, help=argparse.SUPPRESS)
    ap.add_argument("--start", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--verbose", action="store_true", help="also print both nodes' last /diagnostics")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rig", default="", help=argparse.SUPPRESS)
    ap.add_argument("--backend", default="replay", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return run_graph(args)
    if args.camera >= 0:
        return run_camera(args)

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // 2)))
    tmp = Path(tempfile.mkdtemp(prefix="bench_ros_latency_"))
    rig, source = make_rig(tmp / "rig.yaml", args.cameras, args.size)
    images = load_images(rig, args.size)
    print(f"# ROS graph latency: {args.cameras} cameras {args.size}x{args.size} bgr8 at {args.fps:g} Hz, "
          f"{args.duration:g} s per run ({source}); {os.cpu_count()} CPUs", flush=True)
    runs = [("transport floor (bare subscriber)", "floor", ""), ("timing stand-in", "replay", "")]
    if args.keypoints == "both":
        runs.append(("timing stand-in, keypoints over DDS", "replay-dds", ""))
    real = real_backend_choice(args.real)
    if real == "higherhrnet" and not args.checkpoint:
        ckpt = str(deterministic_hrnet_checkpoint(tmp / "hrnet_w32_deterministic.pth"))
        runs.append(("HigherHRNet-W32 (deterministic weights)", "higherhrnet", ckpt))
    elif real == "higherhrnet":
        runs.append(("HigherHRNet-W32", "higherhrnet", args.checkpoint))
    elif real == "blazepose":
        runs.append(("BlazePose", "blazepose", ""))
    else:
        print("(no real model available: mediapipe missing and ../shared/higherhrnet absent)")
    results = []
    if args.keypoints == "dds":  # every graph run with the keypoints over DDS
        runs = [(label, b if b in ("floor", "replay-dds") else b + "-dds", c) for label, b, c in runs]
    for label, backend, ckpt in runs:
        print(f"running: {label} ...", flush=True)
        keypoints = "dds" if backend.endswith("-dds") else "direct"
        r = measure(args, backend.removesuffix("-dds"), tmp / "rig.yaml", rig, images, ckpt, keypoints)
        r["label"] = label
        results.append(r)
    print()
    print("| run | sets published | images received per camera (Hz) | MarkerArrays out | dropped sets "
          "| latency median (ms) | latency p99 (ms) | model median (ms) | not in the model, median (ms) "
          "| of which in node code (ms) | reconstruct (ms) | graph RSS start -> end (max) MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['label']} | {r['sets_published']} | {r['input_rate_hz']:.1f} | {r['markers_out']} "
              f"| {r['dropped']} ({100.0 * r['dropped'] / max(1, r['sets_published']):.0f}%) "
              f"| {r['latency_median_ms']:.1f} | {r['latency_p99_ms']:.1f} | {r['model_median_ms']:.1f} "
              f"| {r['non_model_ms']:.1f} | {r['node_code_ms']:.1f} | {r['reconstruct_ms']:.2f} "
              f"| {r['rss_start_mb']:.0f} -> {r['rss_end_mb']:.0f} ({r['rss_max_mb']:.0f}) |")
    print()
    print("Transport floor: the graph replaced by a bare rclpy node that takes the same image topics "
          "(serialized, depth 1) and answers each complete frame with a one-marker MarkerArray: "
          "what any Python node pays to receive the images on this machine. "
          "Latency: MarkerArray receive time minus the image stamp (wall clock, same machine). "
          "'not in the model' = median latency - median model time per set (detector /diagnostics); "
          "'of which in node code' = the detector's image conversion and cloud publishing plus the "
          "triangulator's per-set time (medians); the rest is DDS transport of the images, sync "
          "waiting and, with a slow model, waiting for the worker. "
          "Dropped sets: frames published whose set produced no output (the detector runs on the "
          "newest set only). RSS: the graph process after warm-up, at the end, and the maximum sampled.")
    for r in results:
        if r.get("camera_skipped"):
            print(f"- {r['label']}: the camera processes skipped {r['camera_skipped']} frames (too busy to "
                  "publish at the frame rate; not counted as published)")
    floor = next((r for r in results if r["backend"] == "floor"), None)
    if floor is not None:
        for r in results:
            if r is not floor:
                over = r["latency_median_ms"] - floor["latency_median_ms"]
                ratio = r["latency_median_ms"] / floor["latency_median_ms"]
                print(f"- {r['label']}: {over:.1f} ms over the "
                      f"transport floor at median, graph / floor = {ratio:.2f} (not in the model and "
                      f"not transport: {r['non_model_ms'] - floor['latency_median_ms']:.1f} ms)")
        print()
    if args.verbose:
        for r in results:
            print("\n".join(r.get("camera_log", [])))
            for name, values in sorted(r.get("diag", {}).items()):
                print(f"\n{r['label']}: {name}")
                print("    " + ", ".join(f"{k}={v}" for k, v in values.items()))
    for r in results:
        if r["markers_out"] == 0 and r["log"]:
            print(f"\n{r['label']}: no MarkerArray with people; last graph log lines:")
            print("\n".join("    " + line for line in r["log"][-10:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
