"""``detector_node``: N synchronized camera images -> 2D keypoints per camera (PointCloud2).

Subscribes (sensor-data QoS) to the image topics of the rig (or the ``image_topics`` parameter;
with ``image_transport: compressed`` to ``<image topic>/compressed``, sensor_msgs/CompressedImage,
as image_transport names it), synchronizes them by header stamp (``ros2_mvpose.ros.sync``) and
hands each set to a worker thread with a one-slot mailbox (``ros2_mvpose.ros.worker``) that runs
the detection stage (``ros2_mvpose.stages.detection``) on the newest set.

Publishes, per camera present in the set (see ``docs/detector.md``):
``<image topic's parent>/<keypoints_suffix>`` (sensor_msgs/PointCloud2: u v score float32, person
joint int32; the image's header; width 0 = nobody seen), ``<that topic>/annotated`` when
``publish_annotated``, and ``/diagnostics`` every ``diagnostics_period`` seconds.

No message ends the node: a malformed image gets an error log naming the camera and the problem
(throttled per camera and problem) and is skipped; the other cameras go on.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, PointCloud2

from ros2_mvpose.nodes.common import (
    TOPIC_CHECK_PERIOD,
    CameraInputs,
    add_latency,
    guarded,
    internal_problem,
    log_sync_event,
    make_sync,
    min_inputs,
    steady_timer,
)
from ros2_mvpose.nodes.params import DETECTOR_GROUPS, all_parameter_names, parameters
from ros2_mvpose.ros import diagnostics as diag
from ros2_mvpose.ros.image_cdr import parse_compressed_image_cdr, parse_image_cdr
from ros2_mvpose.ros.image_conversion import bgr_to_image_msg, cv_bridge_status
from ros2_mvpose.ros.node_utils import stamp_to_sec
from ros2_mvpose.ros.params import declare_parameters, from_values
from ros2_mvpose.ros.pointcloud import keypoints_to_cloud
from ros2_mvpose.ros.qos import result_qos, sensor_qos
from ros2_mvpose.ros.sync import ApproximateTimeSync, MessageFiltersSync, SyncEvent, message_filters_available
from ros2_mvpose.ros.topics import sibling_topic, transport_topic
from ros2_mvpose.ros.worker import LatestWorker
from ros2_mvpose.stages.detection import BadInput, DetectionStage, create_backend
from ros2_mvpose.stages.problems import Problem, problem_key
from ros2_mvpose.visualization import draw_keypoints

NODE_NAME = "detector_node"
#: image_transport -> (message type, reader of its serialized form)
TRANSPORTS = {"raw": (Image, parse_image_cdr), "compressed": (CompressedImage, parse_compressed_image_cdr)}

#: Every parameter of the node, in declaration order (groups in ros2_mvpose.nodes.params).
PARAMETERS = parameters(NODE_NAME)


@dataclass
class _SetItem:
    msgs: list
    stamp: float
    t_emitted: float


class DetectorNode(Node):
    """Synchronized images -> per-camera 2D keypoint clouds (see the module docstring).

    Args:
        backend: a ready 2D backend object used instead of building one from the parameters.
        node_name: ROS node name.
        **kwargs: passed to ``rclpy.node.Node`` (``context``, ``parameter_overrides``...).

    Raises:
        ValueError: no image topics, or an invalid parameter value.
    """

    def __init__(self, backend: Any = None, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        values = declare_parameters(self, PARAMETERS, known=all_parameter_names())
        p, bp, sp, rp = (from_values(g, values, prefix) for g, prefix in DETECTOR_GROUPS)
        self.params = values
        sp.validate()
        p.validate()
        self.image_topics, self.camera_names = p.inputs()
        n = len(self.image_topics)
        self.keypoint_topics = [sibling_topic(t, p.keypoints_suffix) for t in self.image_topics]
        self.min_cameras = min_inputs(sp.min_cameras, n)
        if backend is None:
            backend, reason = create_backend(bp)
        else:
            reason = (
                f"2D backend: {getattr(backend, 'name', type(backend).__name__)} (injected by the caller)"
            )
        self.backend = backend
        self.stage = DetectionStage(backend, n)
        self.get_logger().info(reason + f"; image conversion: {cv_bridge_status()}")
        self._annotate_min_score = p.annotate_min_score
        msg_type, self._parse = TRANSPORTS[p.image_transport]
        self.input_topics = [transport_topic(t, p.image_transport) for t in self.image_topics]
        self.inputs = CameraInputs(self, self.camera_names, self.input_topics, msg_type, sp, rp)
        self._lock = threading.Lock()
        self.latency = {k: diag.LatencyStats() for k in ("conversion", "model", "publish", "total", "age")}
        self.sets_processed = 0
        self.published = [0] * n
        self.backend_errors = 0
        self.last_backend_error = ""
        #: called in the worker thread with each set's keypoints and headers (camera order, None
        #: = camera not in the set) before the clouds are published (``nodes.inprocess``)
        self.keypoint_sinks: list = []

        out_qos = result_qos()
        self._kp_pubs = [self.create_publisher(PointCloud2, t, out_qos) for t in self.keypoint_topics]
        self._ann_pubs = (
            [self.create_publisher(Image, t + "/annotated", out_qos) for t in self.keypoint_topics]
            if p.publish_annotated
            else None
        )
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", result_qos())
        self.worker = LatestWorker(
            self._process_set, on_error=self._on_internal_error, name="detector-worker"
        )
        self.worker.start()

        in_qos = sensor_qos(p.qos_depth)
        on_error = self._on_internal_error
        if (
            p.use_message_filters
            and p.image_transport == "raw"
            and self.min_cameras == n
            and message_filters_available()
        ):
            self.sync = MessageFiltersSync(
                self,
                Image,
                self.image_topics,
                in_qos,
                self._on_set,
                sp.queue_size,
                sp.slop,
                on_message=guarded(self._on_image_msg, on_error),
            )
            self.sync_impl = "message_filters.ApproximateTimeSynchronizer"
        else:
            self.sync = make_sync(n, self._on_set, sp, guarded(self._on_sync_event, on_error))
            self.sync_impl = "ros2_mvpose.ros.sync.ApproximateTimeSync"
            raw = bool(p.raw_images)
            cb = guarded(self._on_serialized if raw else self._on_image_msg, on_error)
            self._subs = [
                self.create_subscription(msg_type, t, lambda m, i=i: cb(i, m), in_qos, raw=raw)
                for i, t in enumerate(self.input_topics)
            ]
            self.sync_impl += " (serialized images)" if raw else ""
            self._tick_timer = steady_timer(self, min(0.05, sp.camera_timeout / 4), self._on_tick, on_error)
        self._type_timer = steady_timer(self, TOPIC_CHECK_PERIOD, self.inputs.check_topic_types, on_error)
        self._diag_timer = steady_timer(self, rp.diagnostics_period, self.publish_diagnostics, on_error)
        self.get_logger().info(
            f"{n} camera(s) {self.camera_names}: {self.input_topics} ({p.image_transport}) -> "
            f"{self.keypoint_topics}; sync {self.sync_impl}, slop {sp.slop} s, queue {sp.queue_size}, "
            f"min_cameras {self.min_cameras}, camera_timeout {sp.camera_timeout} s"
        )

    # -------------------------------------------------------------- executor thread
    def _on_image_msg(self, index: int, msg: Any) -> None:
        self.inputs.received(index)
        self._on_image(index, msg)

    def _on_serialized(self, index: int, data: bytes) -> None:
        self.inputs.received(index)
        try:
            msg = self._parse(data)
        except Exception as exc:  # noqa: BLE001 - no stamp to place it by: reported, in no set
            self.inputs.report(Problem(index, problem_key(exc), str(exc)), "bad image")
            return
        self._on_image(index, msg)

    def _on_image(self, index: int, msg: Any) -> None:
        problem = self.stage.check(index, msg)
        if problem is not None:
            self.inputs.report(problem, "bad image")
            item: Any = BadInput(msg.header, problem)
        else:
            self.inputs.usable(index)
            item = msg
        if isinstance(self.sync, ApproximateTimeSync):
            self.sync.add(index, item, stamp_to_sec(msg.header.stamp), time.monotonic())

    def _on_tick(self) -> None:
        self.sync.tick(time.monotonic())

    def _on_sync_event(self, ev: SyncEvent) -> None:
        """A camera out of / back in sync, or every camera's stamps jumped back: logged once."""
        log_sync_event(self, ev, self.camera_names)

    def _on_set(self, msgs: list, stamp: float) -> None:
        self.worker.submit(_SetItem(list(msgs), stamp, time.monotonic()))

    def _on_internal_error(self, exc: BaseException) -> None:
        self.inputs.report(internal_problem(exc))

    # -------------------------------------------------------------- worker thread
    def _process_set(self, item: _SetItem) -> None:
        res = self.stage.on_set(item.msgs)
        for problem in res.problems:
            if problem.camera is None:
                with self._lock:
                    self.backend_errors += 1
                    self.last_backend_error = problem.text
            self.inputs.report(problem, "bad image")
        t1 = time.monotonic()
        if self.keypoint_sinks:
            headers = [m.header if kp is not None else None for m, kp in zip(item.msgs, res.keypoints)]
            for sink in self.keypoint_sinks:
                sink(res.keypoints, headers)
        for i, kp in enumerate(res.keypoints):
            if kp is None:
                continue
            header = item.msgs[i].header
            self._kp_pubs[i].publish(keypoints_to_cloud(kp, header))
            if self._ann_pubs is not None:
                ann = draw_keypoints(res.images[i], kp, min_score=self._annotate_min_score)
                self._ann_pubs[i].publish(bgr_to_image_msg(ann, header=header))
            self.published[i] += 1
        if not any(kp is not None for kp in res.keypoints):
            return
        t2 = time.monotonic()
        with self._lock:
            self.sets_processed += 1
        self.latency["conversion"].add(res.timings["conversion"])
        self.latency["model"].add(res.timings["model"])
        self.latency["publish"].add(t2 - t1)
        self.latency["total"].add(t2 - item.t_emitted)
        self.latency["age"].add(self.get_clock().now().nanoseconds * 1e-9 - item.stamp)

    # -------------------------------------------------------------- diagnostics
    def diagnostics_statuses(self) -> list:
        """The node's current ``diagnostic_msgs/DiagnosticStatus`` list (one per camera, one for the sets)."""
        now = time.monotonic()
        name = self.get_fully_qualified_name()
        statuses = self.inputs.statuses(
            name,
            now,
            in_sets=lambda i: self.sync.in_sets(i, now),
            sync_offset=self.sync.offset,
            extra=lambda i: {"clouds_published": self.published[i]},
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
            "sync_resets": self.sync.resets,
        }
        add_latency(values, self.latency)
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
