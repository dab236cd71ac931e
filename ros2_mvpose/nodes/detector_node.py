"""``detector_node``: N synchronized camera images -> 2D keypoints per camera (PointCloud2).

Subscribes (sensor-data QoS) to the image topics of the rig (or the ``image_topics``
parameter), synchronizes them approximately by header stamp (``ros2_mvpose.ros.sync``: partial
sets from the cameras still alive once one has been silent for ``camera_timeout`` seconds), and
hands each set to a worker thread with a one-slot mailbox (``ros2_mvpose.ros.worker``): the 2D
backend always runs on the newest set, older sets waiting for it are dropped and counted.

Publishes, per camera present in the set (see ``docs/detector.md``):

- ``<image topic's parent>/<keypoints_suffix>`` (sensor_msgs/PointCloud2, fields u v score
  float32, person joint int32; header copied from that camera's image; width 0 when nobody was
  seen), e.g. ``/cam1/image_raw`` -> ``/cam1/keypoints2d``;
- ``<that topic>/annotated`` (sensor_msgs/Image bgr8, keypoints drawn) when ``publish_annotated``;
- ``/diagnostics`` (diagnostic_msgs/DiagnosticArray) every ``diagnostics_period`` seconds:
  input rate per camera, processed/dropped sets, per-stage latency (conversion, model, publish).

Bad images (unsupported encoding, ``step`` smaller than a row, truncated data, zero size) give an
error log naming the camera and the problem (throttled per camera and problem); that camera is
missing from the set (no cloud for it), the others go on. Backend exceptions are logged and the
node goes on with the next set.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import Image, PointCloud2

from ros2_mvpose.nodes.detector_groups import select_cameras
from ros2_mvpose.resources import find_data_file
from ros2_mvpose.ros import diagnostics as diag
from ros2_mvpose.ros.image_cdr import ImageCdrError, parse_image_cdr
from ros2_mvpose.ros.image_conversion import (
    ImageConversionError,
    bgr_to_image_msg,
    cv_bridge_status,
    image_msg_to_bgr,
    validate_image_msg,
)
from ros2_mvpose.ros.node_utils import Throttle, stamp_to_sec
from ros2_mvpose.ros.params import ParamSpec, as_specs, declare_parameters
from ros2_mvpose.ros.pointcloud import keypoints_to_cloud
from ros2_mvpose.ros.qos import result_qos, sensor_qos
from ros2_mvpose.ros.sync import ApproximateTimeSync, MessageFiltersSync, message_filters_available
from ros2_mvpose.ros.topics import sibling_topic
from ros2_mvpose.ros.worker import LatestWorker
from ros2_mvpose.skeleton import NUM_JOINTS
from ros2_mvpose.visualization import draw_keypoints

NODE_NAME = "detector_node"

#: Every parameter of the node as ``ParamSpec(name, default, description, type)`` rows (plain
#: tuples too). ``config/multi_cam.yaml`` and ``docs/detector.md`` list the same table.
_PARAMETER_ROWS: tuple[tuple[str, Any, str, str], ...] = (
    (
        "rig_file",
        "",
        "Rig YAML; its cameras' image_topic entries are the inputs (rig order). Used when "
        "image_topics is empty. Relative paths: working directory, package share, source tree.",
        "string",
    ),
    (
        "image_topics",
        [""],
        "Image topics (sensor_msgs/Image), one per camera; [''] or [] = take them from rig_file.",
        "string_array",
    ),
    (
        "cameras",
        [""],
        "Names of the cameras this detector serves (rig camera names; with image_topics, each "
        "topic's parent segment); [''] or [] = all. Several detectors with disjoint subsets (one per "
        "GPU or machine) can feed one triangulator (mvpose run --detector-groups).",
        "string_array",
    ),
    (
        "backend",
        "auto",
        "2D pose backend: auto (HigherHRNet when the checkpoint exists, else BlazePose), "
        "higherhrnet, blazepose, or timing (no model: a fixed-delay stand-in returning nobody, "
        "for latency benchmarks of everything but the model).",
        "string",
    ),
    ("checkpoint", "", "HigherHRNet checkpoint file (.pth); empty = the backend's default.", "string"),
    ("device", "cpu", "Torch device of the model (cpu, cuda, cuda:1, ...).", "string"),
    ("input_size", 512, "Model input size in pixels (HigherHRNet: the shorter side, multiple of 32).", "int"),
    (
        "flip_test",
        True,
        "Average the model with its horizontally flipped input (slower, more accurate).",
        "bool",
    ),
    (
        "runtime",
        "torch",
        "HigherHRNet inference runtime: torch, or onnxruntime (CPU only; needs the onnxruntime package; "
        "measured 1.2x faster than torch on a 2-core CPU, BENCHMARKS.md).",
        "string",
    ),
    ("timing_delay", 0.0, "Seconds the 'timing' backend sleeps per set (stands in for the model).", "double"),
    ("slop", 0.05, "Maximum spread of header stamps within a synchronized set, seconds.", "double"),
    ("queue_size", 10, "Images kept per camera while waiting for a set (per-camera queue bound).", "int"),
    (
        "min_cameras",
        1,
        "Fewest alive cameras to form a set once a camera is declared dead; 0 = all cameras "
        "(no partial sets).",
        "int",
    ),
    (
        "camera_timeout",
        1.0,
        "Seconds after which a silent camera is dead and sets go on without it: no image for this "
        "long (wall time), its stamps this far behind the other cameras', and behind them for this "
        "long; it rejoins with its next image.",
        "double",
    ),
    (
        "use_message_filters",
        True,
        "Use message_filters.ApproximateTimeSynchronizer when it imports and no partial sets are "
        "wanted (min_cameras = all); otherwise the package's own synchronizer.",
        "bool",
    ),
    (
        "qos_depth",
        1,
        "History depth of the sensor-data (best-effort) image subscriptions. 1 = only the newest "
        "image per camera waits: a busy moment drops frames instead of delaying every later set ("
        "depth 5 added ~100 ms whenever the executor fell behind, BENCHMARKS.md).",
        "int",
    ),
    (
        "raw_images",
        True,
        "Take images as serialized bytes and read their fields in place (no Python message is "
        "built: ~2 ms less per 1080p image on the executor thread). Package synchronizer only; "
        "with message_filters images arrive as messages.",
        "bool",
    ),
    (
        "keypoints_suffix",
        "keypoints2d",
        "Leaf name of the keypoint topics: the image topic's last segment replaced by it.",
        "string",
    ),
    (
        "publish_annotated",
        False,
        "Also publish each image with its keypoints drawn on <keypoint topic>/annotated.",
        "bool",
    ),
    ("annotate_min_score", 0.2, "Joints below this score are not drawn on annotated images.", "double"),
    ("diagnostics_period", 1.0, "Seconds between /diagnostics messages; 0 disables them.", "double"),
    ("error_throttle", 5.0, "Seconds between repeated error logs for one camera and problem.", "double"),
)
PARAMETERS: tuple[ParamSpec, ...] = tuple(as_specs(_PARAMETER_ROWS))


# ---------------------------------------------------------------------------------- helpers
def camera_name_from_topic(topic: str) -> str:
    """``/cam1/image_raw`` -> ``cam1`` (the parent segment; the topic itself if it has none)."""
    parts = [p for p in topic.split("/") if p]
    return parts[-2] if len(parts) >= 2 else (parts[0] if parts else topic)


class TimingBackend:
    """Stand-in for a 2D model in latency benchmarks: sleeps ``delay`` s per set, finds nobody."""

    name = "timing"

    def __init__(self, delay: float = 0.0):
        if not delay >= 0:
            raise ValueError(f"timing delay must be >= 0 seconds, got {delay}")
        self.delay = float(delay)

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self.delay > 0:
            time.sleep(self.delay)
        return [np.zeros((0, NUM_JOINTS, 3), np.float32) for _ in images]


def create_backend_from_params(p: dict[str, Any]) -> tuple[Any, str]:
    """Build the 2D backend named by the parameters; returns ``(backend, log line saying why)``."""
    name = str(p["backend"]).strip().lower()
    if name == "timing":
        delay = float(p["timing_delay"])
        return TimingBackend(
            delay
        ), f"2D backend: timing stand-in (no model, {delay:.4f} s per set, finds nobody)"
    from ros2_mvpose.pose2d.select import select_backend

    kw: dict[str, Any] = {}
    if name in ("auto", "higherhrnet"):  # "auto" passes on only what the chosen backend accepts
        kw = {
            "input_size": int(p["input_size"]),
            "flip_test": bool(p["flip_test"]),
            "runtime": str(p["runtime"]),
        }
    return select_backend(name, checkpoint=p["checkpoint"] or None, device=p["device"], **kw)


@dataclass
class _BadImage:
    """Placeholder for an image that failed validation: keeps the camera's slot in the set."""

    header: Any
    problem: str


@dataclass
class _CameraStats:
    rate: diag.RateMeter = field(default_factory=lambda: diag.RateMeter(window=2.0))
    bad_images: int = 0
    last_problem: str = ""
    published: int = 0


@dataclass
class _SetItem:
    msgs: list
    stamp: float
    t_emitted: float


# ---------------------------------------------------------------------------------- node
class DetectorNode(Node):
    """Synchronized images -> per-camera 2D keypoint clouds (see the module docstring).

    Args:
        backend: a ready 2D backend object (``predict(images) -> list of (P, 17, 3)``), used
            instead of building one from the parameters (tests, embedding).
        node_name: ROS node name.
        **kwargs: passed to ``rclpy.node.Node`` (``context``, ``parameter_overrides``,
            ``namespace``, ...).

    Raises:
        ValueError: no image topics (neither ``image_topics`` nor ``rig_file``), or an invalid
            parameter value.
    """

    def __init__(self, backend: Any = None, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        p = declare_parameters(self, PARAMETERS)
        self.params = p
        self._check_params(p)
        self.image_topics, self.camera_names = self._resolve_inputs(p)
        keep = select_cameras(self.camera_names, p["cameras"], p["rig_file"] if not any(p["image_topics"])
                              else "image_topics")
        self.image_topics = [self.image_topics[i] for i in keep]
        self.camera_names = [self.camera_names[i] for i in keep]
        n = len(self.image_topics)
        self.keypoint_topics = [sibling_topic(t, p["keypoints_suffix"]) for t in self.image_topics]
        min_cameras = n if p["min_cameras"] <= 0 else min(int(p["min_cameras"]), n)
        if p["min_cameras"] > n:
            self.get_logger().warning(f"min_cameras {p['min_cameras']} > {n} cameras; using {n}")
        self.min_cameras = min_cameras

        if backend is None:
            backend, reason = create_backend_from_params(p)
        else:
            reason = (
                f"2D backend: {getattr(backend, 'name', type(backend).__name__)} (injected by the caller)"
            )
        self.backend = backend
        self.get_logger().info(reason)
        self.get_logger().info(f"image conversion: {cv_bridge_status()}")

        self._throttle = Throttle(p["error_throttle"])
        self._lock = threading.Lock()
        self.cameras = [_CameraStats() for _ in range(n)]
        self.latency = {k: diag.LatencyStats() for k in ("conversion", "model", "publish", "total", "age")}
        self.sets_processed = 0
        self.backend_errors = 0
        self.last_backend_error = ""

        out_qos = result_qos()
        self._kp_pubs = [self.create_publisher(PointCloud2, t, out_qos) for t in self.keypoint_topics]
        self._ann_pubs = (
            [self.create_publisher(Image, t + "/annotated", out_qos) for t in self.keypoint_topics]
            if p["publish_annotated"]
            else None
        )
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", result_qos())

        self.worker = LatestWorker(self._process_set, on_error=self._on_worker_error, name="detector-worker")
        self.worker.start()

        in_qos = sensor_qos(p["qos_depth"])
        use_mf = p["use_message_filters"] and min_cameras == n and message_filters_available()
        if use_mf:
            self.sync = MessageFiltersSync(
                self,
                Image,
                self.image_topics,
                in_qos,
                self._on_set,
                p["queue_size"],
                p["slop"],
                on_message=self._count_image,
            )
            self.sync_impl = "message_filters.ApproximateTimeSynchronizer"
        else:
            self.sync = ApproximateTimeSync(
                n,
                self._on_set,
                queue_size=p["queue_size"],
                slop=p["slop"],
                min_inputs=min_cameras,
                dead_after=p["camera_timeout"],
            )
            self.sync_impl = "ros2_mvpose.ros.sync.ApproximateTimeSync"
            raw = bool(p["raw_images"])
            on_image = self._on_raw_image if raw else self._on_image
            self._subs = [
                self.create_subscription(Image, t, lambda msg, i=i: on_image(i, msg), in_qos, raw=raw)
                for i, t in enumerate(self.image_topics)
            ]
            self.sync_impl += " (serialized images)" if raw else ""
            tick = min(0.1, p["camera_timeout"] / 4.0)
            # liveness runs on the steady clock: under use_sim_time a paused /clock must not stall it
            steady = Clock(clock_type=ClockType.STEADY_TIME)
            self._tick_timer = self.create_timer(tick, self._on_tick, clock=steady)
        if p["diagnostics_period"] > 0:
            steady = Clock(clock_type=ClockType.STEADY_TIME)
            self._diag_timer = self.create_timer(
                p["diagnostics_period"], self.publish_diagnostics, clock=steady
            )
        self.get_logger().info(
            f"{n} camera(s) {self.camera_names}: {self.image_topics} -> {self.keypoint_topics}; "
            f"sync {self.sync_impl}, slop {p['slop']} s, queue {p['queue_size']}, "
            f"min_cameras {min_cameras}, camera_timeout {p['camera_timeout']} s"
        )

    # -------------------------------------------------------------- setup
    @staticmethod
    def _check_params(p: dict[str, Any]) -> None:
        if not p["slop"] >= 0:
            raise ValueError(f"parameter slop must be >= 0 seconds, got {p['slop']}")
        if p["queue_size"] < 1:
            raise ValueError(f"parameter queue_size must be >= 1, got {p['queue_size']}")
        if not p["camera_timeout"] > 0:
            raise ValueError(f"parameter camera_timeout must be > 0 seconds, got {p['camera_timeout']}")
        if p["qos_depth"] < 1:
            raise ValueError(f"parameter qos_depth must be >= 1, got {p['qos_depth']}")
        if not p["keypoints_suffix"] or "/" in p["keypoints_suffix"].strip("/"):
            raise ValueError(
                f"parameter keypoints_suffix must be one topic segment, got {p['keypoints_suffix']!r}"
            )

    def _resolve_inputs(self, p: dict[str, Any]) -> tuple[list[str], list[str]]:
        topics = [t for t in p["image_topics"] if t]
        if topics:
            if len(set(topics)) != len(topics):
                raise ValueError(f"parameter image_topics lists a topic twice: {topics}")
            return topics, [camera_name_from_topic(t) for t in topics]
        if not p["rig_file"]:
            raise ValueError("no image topics: set the image_topics or rig_file parameter")
        from ros2_mvpose.geometry.rig import load_rig

        rig = load_rig(find_data_file(p["rig_file"]))
        if len(rig.cameras) == 0:
            raise ValueError(f"rig file {p['rig_file']} has no cameras")
        return [c.image_topic for c in rig.cameras], [c.name for c in rig.cameras]

    # -------------------------------------------------------------- executor thread
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _count_image(self, index: int, msg) -> None:
        self.cameras[index].rate.tick(time.monotonic())

    def _on_image(self, index: int, msg: Any) -> None:
        self._count_image(index, msg)
        item: Any = msg
        try:
            validate_image_msg(msg)
        except ImageConversionError as exc:
            item = _BadImage(msg.header, str(exc))
            self._report_bad_image(index, str(exc))
        self.sync.add(index, item, stamp_to_sec(msg.header.stamp), time.monotonic())

    def _on_raw_image(self, index: int, data: bytes) -> None:
        try:
            msg = parse_image_cdr(data)
        except ImageCdrError as exc:  # no stamp to place it by: counted, logged, not in any set
            self._count_image(index, None)
            self._report_bad_image(index, str(exc))
            return
        self._on_image(index, msg)

    def _on_tick(self) -> None:
        self.sync.tick(time.monotonic())

    def _on_set(self, msgs: list, stamp: float) -> None:
        self.worker.submit(_SetItem(list(msgs), stamp, time.monotonic()))

    # -------------------------------------------------------------- worker thread
    def _report_bad_image(self, index: int, problem: str) -> None:
        cam = self.cameras[index]
        with self._lock:
            cam.bad_images += 1
            cam.last_problem = problem
        kind = problem.split(" ", 1)[0]  # "unsupported", "step", "truncated", "empty"
        if self._throttle.allow(("image", index, kind)):
            self.get_logger().error(
                f"camera {self.camera_names[index]} ({self.image_topics[index]}): bad image: {problem}; "
                f"camera left out of its sets"
            )

    def _on_worker_error(self, exc: BaseException) -> None:
        with self._lock:
            self.backend_errors += 1
            self.last_backend_error = f"{type(exc).__name__}: {exc}"
        if self._throttle.allow(("worker", type(exc).__name__)):
            self.get_logger().error(f"2D backend failed on a set: {type(exc).__name__}: {exc}")

    def _process_set(self, item: _SetItem) -> None:
        t0 = time.monotonic()
        present: list[int] = []
        images: list[np.ndarray] = []
        for i, msg in enumerate(item.msgs):
            if msg is None:
                continue
            if isinstance(msg, _BadImage):
                continue
            try:
                images.append(image_msg_to_bgr(msg))
                present.append(i)
            except ImageConversionError as exc:  # only reachable with message_filters (no pre-check)
                self._report_bad_image(i, str(exc))
        t1 = time.monotonic()
        if not present:
            return
        kps = self.backend.predict(images)
        t2 = time.monotonic()
        if len(kps) != len(images):
            raise ValueError(f"backend returned {len(kps)} results for {len(images)} images")
        for i, img, kp in zip(present, images, kps):
            kp = np.asarray(kp, dtype=np.float32)
            if kp.size == 0:
                kp = kp.reshape(0, NUM_JOINTS, 3)
            header = item.msgs[i].header
            self._kp_pubs[i].publish(keypoints_to_cloud(kp, header))
            if self._ann_pubs is not None:
                ann = draw_keypoints(img, kp, min_score=self.params["annotate_min_score"])
                self._ann_pubs[i].publish(bgr_to_image_msg(ann, header=header))
            self.cameras[i].published += 1
        t3 = time.monotonic()
        with self._lock:
            self.sets_processed += 1
        self.latency["conversion"].add(t1 - t0)
        self.latency["model"].add(t2 - t1)
        self.latency["publish"].add(t3 - t2)
        self.latency["total"].add(t3 - item.t_emitted)
        self.latency["age"].add(self._now() - item.stamp)

    # -------------------------------------------------------------- diagnostics
    def diagnostics_statuses(self) -> list:
        """The node's current ``diagnostic_msgs/DiagnosticStatus`` list (inputs, sets, latency)."""
        now_m = time.monotonic()
        name = self.get_fully_qualified_name()
        statuses = []
        for i, cam in enumerate(self.cameras):
            alive = self.sync.is_alive(i, now_m) if isinstance(self.sync, ApproximateTimeSync) else True
            rate = cam.rate.rate(now_m)
            level = diag.OK
            msg = "ok"
            if not alive:
                level, msg = diag.WARN, "no images (dead, left out of sets)"
            if cam.bad_images:
                level, msg = max(level, diag.WARN), f"bad images: {cam.last_problem}"
            statuses.append(
                diag.make_status(
                    f"{name}: camera {self.camera_names[i]}",
                    self.camera_names[i],
                    level,
                    msg,
                    {
                        "topic": self.image_topics[i],
                        "input_rate_hz": rate,
                        "images_received": cam.rate.count,
                        "alive": alive,
                        "bad_images": cam.bad_images,
                        "clouds_published": cam.published,
                    },
                )
            )
        values: dict[str, Any] = {
            "sync": self.sync_impl,
            "sets_emitted": self.sync.emitted,
            "sets_processed": self.sets_processed,
            "sets_dropped": self.worker.dropped,
            "partial_sets": self.sync.partial,
            "messages_dropped_by_sync": self.sync.dropped,
            "backend": getattr(self.backend, "name", type(self.backend).__name__),
            "backend_errors": self.backend_errors,
        }
        for stage, stats in self.latency.items():
            s = stats.summary_ms()
            values[f"latency_{stage}_median_ms"] = s["median"]
            values[f"latency_{stage}_p99_ms"] = s["p99"]
        level = diag.WARN if self.backend_errors else diag.OK
        msg = f"last backend error: {self.last_backend_error}" if self.backend_errors else "ok"
        statuses.append(diag.make_status(f"{name}: sets", name, level, msg, values))
        return statuses

    def publish_diagnostics(self) -> None:
        self._diag_pub.publish(diag.make_array(self.diagnostics_statuses(), self.get_clock().now().to_msg()))

    def destroy_node(self):
        self.worker.stop()
        return super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point: ``detector_node --ros-args -p image_topics:=[...] ...``."""
    from ros2_mvpose.nodes.node_main import spin_node

    return spin_node(DetectorNode, "detector_node", args)


if __name__ == "__main__":
    sys.exit(main())
