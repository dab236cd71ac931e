"""``triangulator_node``: 2D keypoint clouds of N cameras -> tracked 3D skeletons in RViz.

Subscribes (per camera of the rig, in rig order):

- ``<image topic's parent>/keypoints2d`` (sensor_msgs/PointCloud2, the detector's 2D wire
  format; or the ``keypoint_topics`` parameter), approximately synchronized by header stamp
  (``ros2_mvpose.ros.sync.ApproximateTimeSync``), partial sets from the cameras still alive once
  one has been silent for ``dead_after`` seconds;
- the camera's ``camera_info_topic`` (sensor_msgs/CameraInfo): the latest valid intrinsics are
  used; until the first arrives, the rig file's intrinsics; with neither, the camera is skipped.

Runs ``ros2_mvpose.geometry.Reconstructor`` on each set (extrinsics from the rig file) and
publishes in the rig's ``world_frame``, stamped with the set's time (the newest header stamp of
the set, copied exactly):

- ``skeletons/markers`` (visualization_msgs/MarkerArray, see ``ros2_mvpose.ros.markers``);
- ``skeletons/points`` (sensor_msgs/PointCloud2, fields x y z score person joint);
- ``skeletons/cameras`` (MarkerArray of camera frustums, transient-local, when
  ``publish_cameras``);
- ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, every ``diagnostics_period`` seconds).

Bad input never stops the node: a CameraInfo with an all-zero or non-finite K (or otherwise
invalid) is ignored (the previous intrinsics stay), a keypoint cloud with wrong fields or a
``header.frame_id`` other than the camera's rig ``frame_id`` is left out of its set; each gives
an error log naming the camera and the problem, throttled per camera and problem.
"""

from __future__ import annotations

import inspect
import re
import sys
import time
from typing import Any

import numpy as np
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from ros2_mvpose.resources import find_data_file as resolve_data_path
from ros2_mvpose.ros.diagnostics import OK, WARN, LatencyStats, RateMeter, make_array, make_status
from ros2_mvpose.ros.markers import SkeletonMarkerPublisher, camera_frustum_markers
from ros2_mvpose.ros.node_utils import Throttle, stamp_to_sec
from ros2_mvpose.ros.params import ParamSpec, declare_parameters
from ros2_mvpose.ros.pointcloud import CloudFormatError, cloud_to_keypoints, skeletons_to_cloud
from ros2_mvpose.ros.qos import result_qos, sensor_qos
from ros2_mvpose.ros.sync import ApproximateTimeSync
from ros2_mvpose.ros.topics import sibling_topic
from ros2_mvpose.skeleton import NUM_JOINTS

NODE_NAME = "triangulator_node"
RECONSTRUCTION_PREFIX = "reconstruction."
#: per-set stages timed for /diagnostics: decoding clouds, Reconstructor.update, publishing, their
#: sum, and the node clock at publication minus the set's stamp (end-to-end age of the set)
LATENCY_STAGES = ("decode", "reconstruct", "publish", "total", "since_stamp")
#: seconds a keypoint stamp may be older than the newest processed set before the node treats it
#: as a time jump (bag replayed again) and resets synchronization and tracking
TIME_JUMP_BACK = 1.0


#: The node's own parameters as ``(name, default, description, type)`` rows (see
#: ``ros2_mvpose.ros.params``); the Reconstructor's follow in ``PARAMETERS``.
NODE_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("rig_file", "sample/rig.yaml",
              "Rig YAML (camera names, topics, frame ids, world->camera poses, optional intrinsics). "
              "Relative paths are tried from the working directory, the package's share directory "
              "and the source tree.", "string"),
    ParamSpec("world_frame", "", "Frame of the published skeletons; empty = the rig's world_frame.",
              "string"),
    ParamSpec("keypoint_topics", [], "2D keypoint cloud topic per rig camera (rig order); empty = "
              "each image topic with its last segment replaced by 'keypoints2d'.", "string_array"),
    ParamSpec("camera_info_topics", [], "CameraInfo topic per rig camera (rig order); empty = the "
              "rig's camera_info_topic.", "string_array"),
    ParamSpec("use_camera_info", True, "Use intrinsics from CameraInfo (latest valid one kept; rig "
              "intrinsics until the first); false = rig intrinsics only.", "bool"),
    ParamSpec("check_frame_id", True, "Reject keypoint clouds and CameraInfo whose non-empty "
              "header.frame_id differs from the camera's rig frame_id.", "bool"),
    ParamSpec("slop", 0.05, "Approximate sync: maximum spread of header stamps in a set, seconds.",
              "double"),
    ParamSpec("queue_size", 10, "Approximate sync: messages kept per camera.", "int"),
    ParamSpec("min_cameras", 2, "Fewest alive cameras to form a set; a camera silent for dead_after "
              "seconds is left out of sets until it publishes again (clamped to the camera count).",
              "int"),
    ParamSpec("dead_after", 0.5, "Seconds after which a silent camera counts as missing: no keypoints "
              "for this long (wall time), its stamps this far behind the other cameras', and behind "
              "them for this long (a detector slower than dead_after never loses cameras).", "double"),
    ParamSpec("tick_period", 0.05, "Seconds (wall time) between checks for missing cameras.", "double"),
    ParamSpec("publish_cameras", True, "Publish camera frustum markers on skeletons/cameras "
              "(transient local).", "bool"),
    ParamSpec("frustum_depth", 0.3, "Depth of the camera frustum markers, metres.", "double"),
    ParamSpec("marker_lifetime", 1.0, "Seconds RViz keeps a skeleton marker without update (safety "
              "net besides DELETE actions); 0 = forever.", "double"),
    ParamSpec("joint_radius", 0.04, "Joint sphere radius, metres.", "double"),
    ParamSpec("limb_width", 0.025, "Limb line width, metres.", "double"),
    ParamSpec("text_size", 0.15, "Id label height, metres.", "double"),
    ParamSpec("diagnostics_period", 1.0, "Seconds (wall time) between /diagnostics messages; 0 = off.",
              "double"),
    ParamSpec("error_throttle", 5.0, "Minimum seconds between two error logs for the same camera and "
              "problem.", "double"),
)


def _docstring_args(obj) -> dict[str, str]:
    """``{name: description}`` from a Google-style ``Args:`` section (best effort)."""
    doc = inspect.getdoc(obj) or ""
    out: dict[str, str] = {}
    m = re.search(r"^(Args|Parameters|Keyword Args|Params):\s*$", doc, flags=re.M)
    if not m:
        return out
    current = None
    for line in doc[m.end():].splitlines():
        if line and not line.startswith(" "):
            break  # next section
        item = re.match(r"^ {2,8}(\*{0,2}[A-Za-z_][\w, ]*?)(?: \([^)]*\))?:\s*(.*)$", line)
        if item and not line.startswith(" " * 9):
            names = [n.strip(" *") for n in item.group(1).split(",")]
            current = names
            for n in names:
                out[n] = item.group(2).strip()
        elif current and line.strip():
            for n in current:
                out[n] = (out[n] + " " + line.strip()).strip()
    return out


_SCALAR_TYPES = {bool: "bool", int: "int", float: "double", str: "string"}


def _ros_param(value: Any) -> tuple[Any, str] | None:
    """``(value, type name)`` for a default usable as a typed ROS parameter, else None."""
    if isinstance(value, np.generic):
        value = value.item()
    if type(value) in _SCALAR_TYPES:
        return value, _SCALAR_TYPES[type(value)]
    if isinstance(value, (tuple, list)) and value:
        items = [v.item() if isinstance(v, np.generic) else v for v in value]
        kinds = {type(v) for v in items}
        if kinds <= {int, float} and float in kinds:
            return [float(v) for v in items], "double_array"
        if len(kinds) == 1 and (k := kinds.pop()) in _SCALAR_TYPES:
            return list(items), _SCALAR_TYPES[k] + "_array"
    return None


def _reconstructor_class():
    try:
        from ros2_mvpose.geometry import Reconstructor
    except ImportError:  # not re-exported (yet): the defining module
        from ros2_mvpose.geometry.reconstructor import Reconstructor
    return Reconstructor


def reconstruction_parameters() -> tuple[ParamSpec, ...]:
    """One ``reconstruction.<name>`` parameter per keyword of ``Reconstructor`` with a typed default.

    A keyword whose default is ``None`` and whose annotation is ``float | None`` (or ``int | None``)
    becomes a double (int) parameter with default ``0``, meaning None ("automatic"); other
    keywords whose default is not a ROS parameter type are not exposed.
    """
    cls = _reconstructor_class()
    sig = inspect.signature(cls.__init__)
    docs = _docstring_args(cls)
    docs.update(_docstring_args(cls.__init__))
    out = []
    for name, p in list(sig.parameters.items())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is p.empty or name == "cameras":
            continue
        desc = docs.get(name) or f"Reconstructor keyword {name!r} (see ros2_mvpose.geometry.Reconstructor)."
        if p.default is None:
            ann = str(p.annotation)
            if "None" not in ann or not ("float" in ann or "int" in ann):
                continue
            typed = (0.0, "double") if "float" in ann else (0, "int")
            desc += " (ROS parameter: 0 = None, automatic.)"
        else:
            typed = _ros_param(p.default)
            if typed is None:
                continue
        if desc.lower().startswith("see above") and out:
            desc = f"see {out[-1].name}" + desc[len("see above"):]
        out.append(ParamSpec(RECONSTRUCTION_PREFIX + name, typed[0], desc, typed[1]))
    return tuple(out)


def reconstructor_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``Reconstructor`` from declared parameter values (0 -> None where the
    keyword's default is None, see ``reconstruction_parameters``)."""
    sig = inspect.signature(_reconstructor_class().__init__).parameters
    out = {}
    for spec in PARAMETERS:
        if not spec.name.startswith(RECONSTRUCTION_PREFIX):
            continue
        key = spec.name[len(RECONSTRUCTION_PREFIX):]
        v = values[spec.name]
        if sig[key].default is None and v == 0:
            v = None
        out[key] = v
    return out


def _all_parameters() -> tuple[ParamSpec, ...]:
    try:
        return NODE_PARAMETERS + reconstruction_parameters()
    except ImportError:  # geometry core missing: the node cannot run anyway
        return NODE_PARAMETERS


#: Every parameter the node declares (name, default, description, type), for docs and config checks.
PARAMETERS: tuple[ParamSpec, ...] = _all_parameters()


# ---------------------------------------------------------------------------------- helpers
def validate_camera_info(info: CameraInfo) -> None:
    """Raise ValueError when a CameraInfo's K is all zero or not finite, or its size is 0."""
    k = np.asarray(info.k, dtype=float)
    if k.size != 9 or not np.all(np.isfinite(k)):
        raise ValueError("K has non-finite values")
    if not np.any(k):
        raise ValueError("K is all zero (camera not calibrated)")
    if not np.all(np.isfinite(np.asarray(info.d, dtype=float))):
        raise ValueError("distortion coefficients have non-finite values")
    if int(info.width) <= 0 or int(info.height) <= 0:
        raise ValueError(f"image size {info.width}x{info.height} is not positive")


def _placeholder_camera(name: str, R: np.ndarray, t: np.ndarray):
    """A valid camera at the rig pose, used only to hold a slot until real intrinsics arrive.

    The node never feeds keypoints for a camera that is not ready, so these intrinsics are
    never used to reconstruct anything.
    """
    from ros2_mvpose.geometry import Camera

    K = np.array([[1000.0, 0.0, 499.5], [0.0, 1000.0, 499.5], [0.0, 0.0, 1.0]])
    return Camera(name, K, np.zeros(5), R, t, 1000, 1000)


# ---------------------------------------------------------------------------------- the node
class TriangulatorNode(Node):
    """Multi-camera triangulation and tracking node (see the module docstring).

    Args:
        node_name: ROS node name (default ``triangulator_node``, the name the parameters file uses).
        **kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``, ``cli_args``,
            ``context``, ``namespace``...).

    Attributes (for tests and tools):
        stats: cumulative counters (``sets``, ``partial_sets``, ``published``, and per problem).
        world_frame: frame of the published skeletons.
        keypoint_topics, camera_info_topics: resolved input topics, rig order.
    """

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        p = declare_parameters(self, PARAMETERS)

        from ros2_mvpose.geometry.rig import load_rig

        if not p["rig_file"]:
            raise ValueError(f"{node_name}: parameter rig_file is required (a rig YAML)")
        self.rig_path = resolve_data_path(p["rig_file"])
        rig = load_rig(self.rig_path)
        self.rig = rig
        self.world_frame = p["world_frame"] or rig.world_frame
        n = len(rig.cameras)
        if n == 0:
            raise ValueError(f"rig {self.rig_path} has no cameras")
        self.names = [c.name for c in rig.cameras]
        self.frame_ids = [c.frame_id or c.name for c in rig.cameras]

        kp_topics = [t for t in p["keypoint_topics"] if t]  # [""] counts as empty too
        self.keypoint_topics = kp_topics or [sibling_topic(c.image_topic, "keypoints2d") for c in rig.cameras]
        info_topics = [t for t in p["camera_info_topics"] if t]
        self.camera_info_topics = info_topics or [c.camera_info_topic for c in rig.cameras]
        for label, topics in (("keypoint_topics", self.keypoint_topics),
                              ("camera_info_topics", self.camera_info_topics)):
            if len(topics) != n:
                raise ValueError(f"parameter {label} has {len(topics)} topics for {n} rig cameras")

        self._use_camera_info = bool(p["use_camera_info"])
        self._check_frame_id = bool(p["check_frame_id"])
        self._throttle = Throttle(p["error_throttle"])

        # cameras: rig intrinsics when given, else a placeholder slot that is never fed
        self._R = [np.asarray(c.R, float) for c in rig.cameras]
        self._t = [np.asarray(c.t, float).reshape(3) for c in rig.cameras]
        self.cameras = [c.camera for c in rig.cameras]  # Camera | None (None = no intrinsics yet)
        self._info_key: list[tuple | None] = [None] * n
        slots = [cam if cam is not None else _placeholder_camera(name, R, t)
                 for cam, name, R, t in zip(self.cameras, self.names, self._R, self._t)]
        self.reconstructor = _reconstructor_class()(slots, **reconstructor_kwargs(p))

        self._sync = ApproximateTimeSync(
            n, self._on_set, queue_size=int(p["queue_size"]), slop=float(p["slop"]),
            min_inputs=max(1, min(int(p["min_cameras"]), n)), dead_after=float(p["dead_after"]),
        )
        self._markers = SkeletonMarkerPublisher(
            self.world_frame, joint_radius=p["joint_radius"], line_width=p["limb_width"],
            text_size=p["text_size"], lifetime=p["marker_lifetime"],
        )
        self._frustum_depth = float(p["frustum_depth"])

        # inputs: sensor-data QoS (best effort) accepts best-effort and reliable publishers alike
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_markers = self.create_publisher(MarkerArray, "skeletons/markers", result_qos())
        self.pub_points = self.create_publisher(PointCloud2, "skeletons/points", result_qos())
        self.pub_cameras = (self.create_publisher(MarkerArray, "skeletons/cameras", latched)
                            if p["publish_cameras"] else None)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        self._subs = []
        for i, topic in enumerate(self.keypoint_topics):
            self._subs.append(self.create_subscription(
                PointCloud2, topic, lambda msg, i=i: self._on_keypoints(i, msg),
                sensor_qos(max(10, int(p["queue_size"])))))
        if self._use_camera_info:
            for i, topic in enumerate(self.camera_info_topics):
                self._subs.append(self.create_subscription(
                    CameraInfo, topic, lambda msg, i=i: self._on_camera_info(i, msg), sensor_qos(5)))

        self.stats: dict[str, int] = {"sets": 0, "partial_sets": 0, "published": 0}
        self._last_stamp = float("-inf")  # newest set stamp processed, seconds
        rate_keys = [f"keypoints/{i}" for i in range(n)] + [f"camera_info/{i}" for i in range(n)]
        self._rates = {key: RateMeter(window=2.0) for key in rate_keys + ["sets"]}
        self._latency = {key: LatencyStats(maxlen=500) for key in LATENCY_STAGES}
        self._problems_reported = 0  # problems counted at the last diagnostics message
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._tick_timer = self.create_timer(float(p["tick_period"]), self._tick, clock=steady)
        self._diag_timer = (self.create_timer(float(p["diagnostics_period"]), self.publish_diagnostics,
                                              clock=steady)
                            if p["diagnostics_period"] > 0 else None)
        self._publish_cameras()
        ready = [name for name, c in zip(self.names, self.cameras) if c is not None]
        self.get_logger().info(
            f"{n} cameras from {self.rig_path} (intrinsics from the rig: {ready or 'none'}), "
            f"world frame {self.world_frame!r}, keypoints on {self.keypoint_topics}"
        )

    # ------------------------------------------------------------------ errors and counters
    def _problem(self, kind: str, index: int | None, text: str, level: str = "error") -> None:
        """Count a problem and log it, throttled per (kind, camera)."""
        self.stats[kind] = self.stats.get(kind, 0) + 1
        if self._throttle.allow((kind, index)):
            who = f"camera {self.names[index]!r}: " if index is not None else ""
            if level == "error":  # rclpy: one severity per call site
                self.get_logger().error(who + text)
            else:
                self.get_logger().warning(who + text)

    # ------------------------------------------------------------------ callbacks
    def _on_keypoints(self, index: int, msg: PointCloud2) -> None:
        self._rates[f"keypoints/{index}"].tick(time.monotonic())
        stamp = stamp_to_sec(msg.header.stamp)
        if stamp < self._last_stamp - TIME_JUMP_BACK:
            self._time_jumped_back(stamp)
        self._sync.add(index, msg, stamp, time.monotonic())

    def _time_jumped_back(self, stamp: float) -> None:
        """Stamps went back in time (a bag replayed again, a clock reset): start over."""
        self.get_logger().warning(
            f"keypoint stamps jumped back in time ({self._last_stamp:.3f} s -> {stamp:.3f} s); "
            "resetting synchronization and tracking")
        self.stats["time_jumps"] = self.stats.get("time_jumps", 0) + 1
        self._sync.reset()
        self.reconstructor.reset()
        self._last_stamp = float("-inf")
        header = Header(frame_id=self.world_frame)
        header.stamp = self.get_clock().now().to_msg()
        arr = self._markers.clear(header)
        if arr.markers:
            self.pub_markers.publish(arr)

    def _on_camera_info(self, index: int, info: CameraInfo) -> None:
        self._rates[f"camera_info/{index}"].tick(time.monotonic())
        key = (tuple(info.k), tuple(info.d), info.distortion_model, int(info.width), int(info.height))
        if key == self._info_key[index]:
            return
        frame = info.header.frame_id
        if self._check_frame_id and frame and frame != self.frame_ids[index]:
            self._problem("bad_camera_info", index, f"CameraInfo on {self.camera_info_topics[index]} has "
                          f"frame_id {frame!r}, expected {self.frame_ids[index]!r}; ignored")
            return
        try:
            validate_camera_info(info)
            from ros2_mvpose.geometry import Camera

            cam = Camera.from_camera_info(info, self._R[index], self._t[index], name=self.names[index])
            self.reconstructor.set_camera(index, cam)
        except ValueError as exc:
            kept = "rig/previous intrinsics kept" if self.cameras[index] is not None else "camera skipped"
            self._problem("bad_camera_info", index,
                          f"invalid CameraInfo on {self.camera_info_topics[index]}: {exc}; {kept}")
            return
        first = self._info_key[index] is None
        self._info_key[index] = key
        self.cameras[index] = cam
        if first:
            self.get_logger().info(f"camera {self.names[index]!r}: intrinsics from CameraInfo "
                                   f"({cam.width}x{cam.height}, {cam.distortion_model})")
        self._publish_cameras()

    def _tick(self) -> None:
        self._sync.tick(time.monotonic())

    def _decode(self, index: int, msg: PointCloud2) -> np.ndarray | None:
        """The camera's ``(P, 17, 3)`` keypoints, or None when this camera is skipped in this set."""
        frame = msg.header.frame_id
        if self._check_frame_id and frame and frame != self.frame_ids[index]:
            self._problem("bad_frame_id", index, f"keypoint cloud on {self.keypoint_topics[index]} has "
                          f"frame_id {frame!r}, expected {self.frame_ids[index]!r}; camera skipped")
            return None
        if self.cameras[index] is None:
            self._problem("no_intrinsics", index, "no intrinsics yet (none in the rig file, no valid "
                          f"CameraInfo on {self.camera_info_topics[index]}); camera skipped", "warn")
            return None
        try:
            kp = cloud_to_keypoints(msg)
        except CloudFormatError as exc:
            self._problem("bad_cloud", index, f"bad keypoint cloud on {self.keypoint_topics[index]}: {exc}; "
                          "camera skipped")
            return None
        if kp.shape[0] and not np.all(np.isfinite(kp[:, :, :2][kp[:, :, 2] > 0])):
            self._problem("bad_cloud", index, f"keypoint cloud on {self.keypoint_topics[index]} has "
                          "non-finite coordinates with a positive score; camera skipped")
            return None
        return kp

    def _on_set(self, msgs: list, stamp: float) -> None:
        t0 = time.perf_counter()
        self.stats["sets"] += 1
        self._rates["sets"].tick(time.monotonic())
        if any(m is None for m in msgs):
            self.stats["partial_sets"] += 1
        kps = []
        for i, msg in enumerate(msgs):
            kp = self._decode(i, msg) if msg is not None else None
            kps.append(kp if kp is not None else np.zeros((0, NUM_JOINTS, 3)))
        # the set's stamp, copied exactly from the newest member's header
        newest = max((m for m in msgs if m is not None), key=lambda m: stamp_to_sec(m.header.stamp))
        header = Header(frame_id=self.world_frame)
        header.stamp = TimeMsg(sec=newest.header.stamp.sec, nanosec=newest.header.stamp.nanosec)
        t1 = time.perf_counter()
        try:
            people = self.reconstructor.update(kps, stamp)
        except Exception as exc:  # noqa: BLE001 - a bad set must never stop the node
            self._problem("reconstruction_errors", None,
                          f"reconstruction failed on the set at {stamp:.3f} s: {type(exc).__name__}: {exc}")
            return
        self._last_stamp = max(self._last_stamp, stamp)
        t2 = time.perf_counter()
        ids = np.array([int(q.id) for q in people], dtype=np.int64)
        joints = np.array([q.joints for q in people], dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
        scores = np.array([q.scores for q in people], dtype=np.float64).reshape(-1, NUM_JOINTS)
        self.pub_points.publish(skeletons_to_cloud(ids, joints, scores, header))
        self.pub_markers.publish(self._markers.update_arrays(ids, joints, header))
        t3 = time.perf_counter()
        self.stats["published"] += 1
        now = self.get_clock().now().nanoseconds * 1e-9
        for key, dt in (("decode", t1 - t0), ("reconstruct", t2 - t1), ("publish", t3 - t2),
                        ("total", t3 - t0), ("since_stamp", now - stamp)):
            self._latency[key].add(dt)

    def _publish_cameras(self) -> None:
        if self.pub_cameras is None:
            return
        header = Header(frame_id=self.world_frame)
        header.stamp = self.get_clock().now().to_msg()
        self.pub_cameras.publish(camera_frustum_markers(self.cameras, header, depth=self._frustum_depth))

    # ------------------------------------------------------------------ diagnostics
    def publish_diagnostics(self) -> None:
        """Publish one DiagnosticArray on /diagnostics (rates over the last 2 s, totals, latencies)."""
        now = time.monotonic()
        values: dict[str, Any] = {}
        dead = []
        for i, name in enumerate(self.names):
            values[f"{name} keypoints rate (Hz)"] = self._rates[f"keypoints/{i}"].rate(now)
            if self._use_camera_info:
                values[f"{name} camera_info rate (Hz)"] = self._rates[f"camera_info/{i}"].rate(now)
            alive = self._sync.is_alive(i, now)
            values[f"{name} alive"] = alive
            if not alive:
                dead.append(name)
            values[f"{name} intrinsics"] = self.intrinsics_source(i)
        values["sets rate (Hz)"] = self._rates["sets"].rate(now)
        for key in ("sets", "partial_sets", "published"):
            values[f"{key} (total)"] = self.stats.get(key, 0)
        values["dropped messages (total)"] = self._sync.dropped
        problems = {k: v for k, v in self.stats.items() if k not in ("sets", "partial_sets", "published")}
        for key, v in sorted(problems.items()):
            values[f"{key} (total)"] = v
        for key in LATENCY_STAGES:
            summ = self._latency[key].summary_ms()
            if summ["n"]:
                values[f"latency {key} median (ms)"] = summ["median"]
                values[f"latency {key} p99 (ms)"] = summ["p99"]
        n_problems = sum(problems.values())
        recent = n_problems - self._problems_reported
        self._problems_reported = n_problems
        parts = []
        if dead:
            parts.append(f"missing cameras: {', '.join(dead)}")
        if recent:
            parts.append(f"{recent} bad inputs since the last report")
        if values["sets rate (Hz)"] == 0.0:
            parts.append("no sets")
        status = make_status(f"{self.get_name()}: triangulation", self.world_frame,
                             WARN if parts else OK, "; ".join(parts) or "ok", values)
        self.pub_diag.publish(make_array([status], self.get_clock().now().to_msg()))

    def intrinsics_source(self, index: int) -> str:
        """Where camera ``index``'s intrinsics come from: ``camera_info``, ``rig`` or ``none``."""
        if self._info_key[index] is not None:
            return "camera_info"
        return "rig" if self.cameras[index] is not None else "none"

    def latency_summary(self) -> dict[str, float]:
        """Median of each stage's recent durations, seconds (``since_stamp``: node clock - set stamp)."""
        return {k: v.summary_ms()["median"] * 1e-3 for k, v in self._latency.items() if v.summary_ms()["n"]}

    def destroy_node(self) -> None:
        try:
            header = Header(frame_id=self.world_frame)
            header.stamp = self.get_clock().now().to_msg()
            arr = self._markers.clear(header)
            if arr.markers and rclpy.ok(context=self.context):
                self.pub_markers.publish(arr)
        except Exception:  # shutting down: best effort
            pass
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point: ``triangulator_node --ros-args --params-file config/multi_cam.yaml``."""
    from ros2_mvpose.nodes.node_main import spin_node

    return spin_node(TriangulatorNode, "triangulator_node", args)


if __name__ == "__main__":
    sys.exit(main())
