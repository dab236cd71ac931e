"""``triangulator_node``: 2D keypoint clouds of N cameras -> tracked 3D skeletons in RViz.

Subscribes, per rig camera (rig order), to ``<image topic's parent>/keypoints2d``
(sensor_msgs/PointCloud2, the detector's wire format; or ``keypoint_topics``), synchronized by
header stamp (``ros2_mvpose.ros.sync``), and to its ``camera_info_topic`` (sensor_msgs/CameraInfo).
The triangulation stage (``ros2_mvpose.stages.triangulation``) turns each set into tracked
people; the node publishes them in the rig's ``world_frame``, stamped with the newest header
stamp of the set: ``skeletons/markers`` (MarkerArray), ``skeletons/points`` (PointCloud2 x y z
score person joint), ``skeletons/cameras`` (frustums, transient local, when
``publish_cameras``) and ``/diagnostics``.

No message ends the node: a malformed cloud or CameraInfo gets an error log naming the camera
and the problem (throttled per camera and problem) and is skipped; the other cameras go on.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from ros2_mvpose.geometry.warmup import warm_up_geometry
from ros2_mvpose.nodes.common import (
    TOPIC_CHECK_PERIOD,
    CameraInputs,
    add_latency,
    guarded,
    internal_problem,
    locked,
    log_sync_event,
    make_sync,
    steady_timer,
)
from ros2_mvpose.nodes.params import TRIANGULATOR_GROUPS, all_parameter_names, parameters
from ros2_mvpose.ros import diagnostics as diag
from ros2_mvpose.ros.markers import SkeletonMarkerPublisher, camera_frustum_markers
from ros2_mvpose.ros.node_utils import stamp_to_sec
from ros2_mvpose.ros.params import declare_parameters, from_values
from ros2_mvpose.ros.pointcloud import skeletons_to_cloud
from ros2_mvpose.ros.qos import result_qos, sensor_qos
from ros2_mvpose.ros.sync import SyncEvent
from ros2_mvpose.stages.problems import Problem
from ros2_mvpose.stages.triangulation import TriangulationStage

NODE_NAME = "triangulator_node"
LATENCY_STAGES = ("decode", "reconstruct", "publish", "total", "since_stamp")

#: Every parameter of the node, in declaration order (groups in ros2_mvpose.nodes.params).
PARAMETERS = parameters(NODE_NAME)


class TriangulatorNode(Node):
    """Multi-camera triangulation and tracking node (see the module docstring).

    Args:
        node_name: ROS node name.
        **kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``, ``context``...).

    Attributes (for tests and tools):
        stats: counters (``sets``, ``partial_sets``, ``published``, ``time_jumps``, and one per
            kind of problem: ``camera_info``, ``cloud``, ``frame_id``, ``no_intrinsics``...).
    """

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        values = declare_parameters(self, PARAMETERS, known=all_parameter_names())
        p, sp, rp, recon = (from_values(g, values, prefix) for g, prefix in TRIANGULATOR_GROUPS)
        sp.validate()
        rig, self.rig_path, self.keypoint_topics, self.camera_info_topics = p.inputs()
        self.rig = rig
        n = len(rig.cameras)
        self.world_frame = p.world_frame or rig.world_frame
        self.names = [c.name for c in rig.cameras]
        self.stage = TriangulationStage(rig.cameras, recon, check_frame_id=p.check_frame_id)
        self.frame_ids = self.stage.frame_ids
        if (took := warm_up_geometry()) > 2.0:  # compile/load the numba kernels before any message
            self.get_logger().info(f"geometry kernels compiled in {took:.0f} s (once per install)")
        self.inputs = CameraInputs(self, self.names, self.keypoint_topics, PointCloud2, sp, rp)
        self.info_inputs = CameraInputs(self, self.names, self.camera_info_topics, CameraInfo, None, rp)
        self._sync = make_sync(n, self._on_set, sp, guarded(self._on_sync_event, self._on_internal_error))
        self._markers = SkeletonMarkerPublisher(
            self.world_frame,
            joint_radius=p.joint_radius,
            line_width=p.limb_width,
            text_size=p.text_size,
            lifetime=p.marker_lifetime,
        )
        self._frustum_depth = p.frustum_depth
        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.pub_markers = self.create_publisher(MarkerArray, "skeletons/markers", result_qos())
        self.pub_points = self.create_publisher(PointCloud2, "skeletons/points", result_qos())
        self.pub_cameras = (
            self.create_publisher(MarkerArray, "skeletons/cameras", latched) if p.publish_cameras else None
        )
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # one lock: keypoints also come from detector worker threads (nodes.inprocess)
        self._lock = threading.RLock()
        self._closed = False
        on_kp = guarded(locked(self._lock, self._on_keypoints), self._on_internal_error)
        on_info = guarded(locked(self._lock, self._on_camera_info), self._on_internal_error)
        self._subs = [
            self.create_subscription(
                PointCloud2, t, lambda m, i=i: on_kp(i, m), sensor_qos(max(10, sp.queue_size))
            )
            for i, t in enumerate(self.keypoint_topics)
        ]
        if p.use_camera_info:
            self._subs += [
                self.create_subscription(CameraInfo, t, lambda m, i=i: on_info(i, m), sensor_qos(5))
                for i, t in enumerate(self.camera_info_topics)
            ]
        self.stats: dict[str, int] = {"sets": 0, "partial_sets": 0, "published": 0, "time_jumps": 0}
        self._set_rate = diag.RateMeter(window=2.0)
        self._latency = {key: diag.LatencyStats(maxlen=500) for key in LATENCY_STAGES}
        on_error = self._on_internal_error
        self._steady_timers = [
            steady_timer(self, min(0.05, sp.camera_timeout / 4), locked(self._lock, self._tick), on_error),
            steady_timer(self, TOPIC_CHECK_PERIOD, self._check_types, on_error),
            steady_timer(self, rp.diagnostics_period, locked(self._lock, self.publish_diagnostics), on_error),
        ]
        self._publish_cameras()
        ready = [name for i, name in enumerate(self.names) if self.stage.cameras[i] is not None]
        self.get_logger().info(
            f"{n} cameras from {self.rig_path} (intrinsics from the rig: {ready or 'none'}), "
            f"world frame {self.world_frame!r}, keypoints on {self.keypoint_topics}"
        )

    # ------------------------------------------------------------------ callbacks
    def take_local_inputs(self, indices) -> None:
        """Stop subscribing to the keypoint topics of cameras ``indices``: their keypoints come
        from :meth:`add_local_keypoints` (a detector in this process, ``nodes.inprocess``)."""
        for j in indices:
            if self._subs[j] is not None:
                self.destroy_subscription(self._subs[j])
                self._subs[j] = None

    def add_local_keypoints(self, items) -> None:
        """Take ``(camera index, DecodedKeypoints)`` pairs of one set, from any thread; the set
        is reconstructed and published in the calling thread once complete."""
        try:
            with self._lock:
                if self._closed:
                    return
                for j, item in items:
                    self._on_keypoints(j, item)
        except Exception as exc:  # noqa: BLE001 - a bad set must not stop the detector either
            self._on_internal_error(exc)

    def _report(self, problems: list[Problem], inputs: CameraInputs, what: str) -> None:
        for problem in problems:
            kind = problem.key.split(":", 1)[0]
            self.stats[kind] = self.stats.get(kind, 0) + 1
            inputs.report(problem, what, warn=kind == "no_intrinsics")

    def _on_internal_error(self, exc: BaseException) -> None:
        self._report([internal_problem(exc)], self.inputs, "")

    def _on_keypoints(self, index: int, msg: PointCloud2) -> None:
        self.inputs.received(index)
        self._sync.add(index, msg, stamp_to_sec(msg.header.stamp), time.monotonic())

    def _on_sync_event(self, ev: SyncEvent) -> None:
        """A camera out of / back in sync (logged once), or every camera's stamps went back in time
        (a bag replayed again, a clock reset): the synchronizer restarted, tracking starts over."""
        log_sync_event(self, ev, self.names, "; tracking reset" if ev.kind == "reset" else "")
        if ev.kind == "reset":
            self.stats["time_jumps"] += 1
            self.stage.reset()
            arr = self._markers.clear(self._header())
            if arr.markers:
                self.pub_markers.publish(arr)

    def _on_camera_info(self, index: int, info: CameraInfo) -> None:
        self.info_inputs.received(index)
        changed, problem = self.stage.on_camera_info(index, info)
        if problem is not None:
            self._report([problem], self.info_inputs, "")
            return
        self.info_inputs.usable(index)
        if changed:
            cam = self.stage.cameras[index]
            self.get_logger().info(
                f"camera {self.names[index]!r}: intrinsics from CameraInfo "
                f"({cam.width}x{cam.height}, {cam.distortion_model})"
            )
            self._publish_cameras()

    def _tick(self) -> None:
        self._sync.tick(time.monotonic())

    def _check_types(self) -> None:
        self.inputs.check_topic_types()
        self.info_inputs.check_topic_types()

    def _on_set(self, msgs: list, stamp: float) -> None:
        t0 = time.perf_counter()
        self.stats["sets"] += 1
        self._set_rate.tick(time.monotonic())
        self.stats["partial_sets"] += int(any(m is None for m in msgs))
        res = self.stage.on_set(msgs, stamp)
        self._report(res.problems, self.inputs, "keypoints")
        for i, m in enumerate(msgs):
            if m is not None and not any(q.camera == i for q in res.problems):
                self.inputs.usable(i)
        if not res.ok:
            return
        t1 = time.perf_counter()
        header = self._header(TimeMsg(sec=res.header_stamp.sec, nanosec=res.header_stamp.nanosec))
        self.pub_points.publish(skeletons_to_cloud(res.ids, res.joints, res.scores, header))
        self.pub_markers.publish(self._markers.update_serialized(res.ids, res.joints, header))
        t2 = time.perf_counter()
        self.stats["published"] += 1
        now = self.get_clock().now().nanoseconds * 1e-9
        durations = (res.timings["decode"], res.timings["reconstruct"], t2 - t1, t2 - t0, now - stamp)
        for key, dt in zip(LATENCY_STAGES, durations):
            self._latency[key].add(dt)

    def _header(self, stamp=None) -> Header:
        return Header(
            frame_id=self.world_frame, stamp=stamp if stamp is not None else self.get_clock().now().to_msg()
        )

    def _publish_cameras(self) -> None:
        if self.pub_cameras is not None:
            self.pub_cameras.publish(
                camera_frustum_markers(self.stage.cameras, self._header(), depth=self._frustum_depth)
            )

    # ------------------------------------------------------------------ diagnostics
    def diagnostics_statuses(self) -> list:
        """One ``DiagnosticStatus`` per camera (``<node>: camera <name>``) and one for the sets."""
        now = time.monotonic()
        name = self.get_fully_qualified_name()

        def extra(i: int) -> dict[str, Any]:
            info = self.info_inputs.health[i]
            return {
                "intrinsics": self.stage.intrinsics_source(i),
                "camera_info_rate_hz": self.info_inputs.rates[i].rate(now),
                "bad_camera_info": info.bad,
                "camera_info_problem": info.last_problem,
            }

        statuses = self.inputs.statuses(
            name,
            now,
            in_sets=lambda i: self._sync.in_sets(i, now),
            sync_offset=self._sync.offset,
            extra=extra,
        )
        values: dict[str, Any] = {
            "sets_rate_hz": self._set_rate.rate(now),
            "messages_dropped_by_sync": self._sync.dropped,
        }
        values.update(self.stats)
        add_latency(values, self._latency)
        level, msg = (diag.OK, "ok") if values["sets_rate_hz"] > 0 else (diag.WARN, "no sets")
        statuses.append(diag.make_status(f"{name}: sets", self.world_frame, level, msg, values))
        return statuses

    def publish_diagnostics(self) -> None:
        """Publish one DiagnosticArray on /diagnostics."""
        self.pub_diag.publish(diag.make_array(self.diagnostics_statuses(), self.get_clock().now().to_msg()))

    def intrinsics_source(self, index: int) -> str:
        """Where camera ``index``'s intrinsics come from: ``camera_info``, ``rig`` or ``none``."""
        return self.stage.intrinsics_source(index)

    def destroy_node(self) -> None:
        with self._lock:  # a detector's worker in this process may be handing over a set
            self._closed = True
            try:
                arr = self._markers.clear(self._header())
                if arr.markers and rclpy.ok(context=self.context):
                    self.pub_markers.publish(arr)
            except Exception:  # noqa: BLE001 - shutting down: best effort
                pass
            super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point: ``triangulator_node --ros-args --params-file config/multi_cam.yaml``."""
    from ros2_mvpose.nodes.node_main import spin_node

    return spin_node(TriangulatorNode, "triangulator_node", args)


if __name__ == "__main__":
    sys.exit(main())
