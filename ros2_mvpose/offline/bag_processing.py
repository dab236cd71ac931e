"""``mvpose bag``: detect and reconstruct people in a rosbag2 recording, streaming.

Reads a rosbag2 (MCAP or sqlite3), synchronizes the rig's camera topics by header stamp with the
live nodes' synchronizer, runs the detection stage and the triangulation stage
(``ros2_mvpose.stages``, the very code the nodes run: clouds go from one to the other in the wire
format) on every set, and writes a rosbag2 with the nodes' output topics and formats:

- ``<camera ns>/keypoints2d`` (sensor_msgs/PointCloud2, the image's header) per camera,
- ``/skeletons/points`` (sensor_msgs/PointCloud2, world frame) and
- ``/skeletons/markers`` (visualization_msgs/MarkerArray),

plus, unchanged, the input topics named in ``copy_topics`` (e.g. ground truth, CameraInfo).
A camera's images are read from its rig ``image_topic`` (sensor_msgs/Image or CompressedImage)
or, when the bag lacks it, from ``<image_topic>/compressed`` (image_transport's name). At the
end of the input (also a truncated one) the images still waiting form a last, partial set.
Memory stays flat: one set of images is held at a time (plus the synchronizer's bounded queues).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ros2_mvpose.io.rosbag_io import BagError, BagWriter, bag_topics, ns_to_stamp, read_bag, stamp_to_ns
from ros2_mvpose.ros.sync import DEFAULT_SLOP
from ros2_mvpose.ros.topics import sibling_topic
from ros2_mvpose.skeleton import NUM_JOINTS

log = logging.getLogger("mvpose.bag")
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


@dataclass
class BagSummary:
    """What ``process_bag`` did; ``error`` is set when the input ended early (output kept)."""

    output: Path
    sets: int = 0
    partial_sets: int = 0
    dropped_images: int = 0
    bad_images: int = 0
    track_ids: set[int] = field(default_factory=set)
    max_people: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def sets_per_second(self) -> float:
        return self.sets / self.seconds if self.seconds > 0 else 0.0

    def report(self) -> str:
        share = 1.0 - self.model_seconds / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"sets processed: {self.sets} ({self.partial_sets} partial), "
            f"dropped images: {self.dropped_images}, bad images: {self.bad_images}",
            f"people (track ids): {len(self.track_ids)} {sorted(self.track_ids)}, "
            f"at most {self.max_people} at once",
            f"time: {self.seconds:.1f} s, {self.sets_per_second:.2f} sets/s, "
            f"{100 * share:.0f}% of the time outside the 2D model",
            f"output: {self.output}",
        ]
        lines += [f"warning: {w}" for w in self.warnings]
        if self.error:
            lines.append(f"ERROR: {self.error} (everything processed until then is in the output)")
        return "\n".join(lines)


def camera_topics(rig, topics: dict[str, tuple[str, int]]) -> list[str | None]:
    """Per rig camera the bag topic its images come from: the rig's ``image_topic`` when the bag
    has it, else ``<image_topic>/compressed``, else None."""
    out: list[str | None] = []
    for c in rig.cameras:
        found = None
        for t in (c.image_topic, c.image_topic.rstrip("/") + "/compressed"):
            if t in topics and topics[t][0] in IMAGE_TYPES:
                found = t
                break
        out.append(found)
    return out


def _first_camera_infos(path: Path, topics: Sequence[str]) -> dict[str, object]:
    """The first CameraInfo on each of ``topics`` (a quick pre-pass over those topics only)."""
    want = set(topics)
    found: dict[str, object] = {}
    if not want:
        return found
    try:
        for m in read_bag(path, topics=want):
            found.setdefault(m.topic, m.msg)
            if len(found) == len(want):
                break
    except BagError:
        pass  # the main pass reports the corruption
    return found


def process_bag(
    in_path: str | Path,
    rig,
    out_path: str | Path,
    backend,
    *,
    storage: str = "mcap",
    slop: float = DEFAULT_SLOP,
    queue_size: int = 10,
    min_cameras: int = 2,
    camera_timeout: float = 1.0,
    reconstructor_params: dict | None = None,
    copy_topics: Sequence[str] = ("/ground_truth/skeletons",),
    progress: bool = True,
    on_frame: Callable | None = None,
) -> BagSummary:
    """Run detection and reconstruction over a bag; see the module docstring.

    Args:
        in_path: input bag (directory or ``.mcap`` file).
        rig: a ``ros2_mvpose.geometry.rig.Rig`` (topics, extrinsics, optional intrinsics).
        out_path: output bag directory (must not exist).
        backend: a 2D ``PoseBackend``.
        slop, queue_size, min_cameras, camera_timeout: synchronizer settings as in the nodes
            (``camera_timeout`` in bag receive time).
        reconstructor_params: ``ReconstructionParams`` fields (``Reconstructor`` keywords).
        copy_topics: input topics copied to the output unchanged when present.
        on_frame: optional callback ``(FrameResult, images)`` per processed set.

    Raises:
        BagError: the bag cannot be opened, none of the rig's image topics is in it, a camera
            has neither CameraInfo in the bag nor intrinsics in the rig, or the output cannot
            be written.
    """
    from std_msgs.msg import Header

    from ros2_mvpose.offline.pipeline import FrameResult
    from ros2_mvpose.ros.markers import SkeletonMarkerPublisher
    from ros2_mvpose.ros.pointcloud import keypoints_to_cloud, skeletons_to_cloud
    from ros2_mvpose.ros.sync import ApproximateTimeSync
    from ros2_mvpose.stages.detection import DetectionStage
    from ros2_mvpose.stages.triangulation import ReconstructionParams, TriangulationStage

    in_path, out_path = Path(in_path), Path(out_path)
    summary = BagSummary(output=out_path)
    topics = bag_topics(in_path)
    cams = list(rig.cameras)
    image_topics = camera_topics(rig, topics)
    if all(t is None for t in image_topics):
        raise BagError(
            f"bag {in_path} has none of the rig's image topics {[c.image_topic for c in cams]} (nor their "
            f"/compressed topics); its topics are {sorted(topics)}"
        )
    for c, t in zip(cams, image_topics):
        if t is None:
            why = "is not in the bag"
            if c.image_topic in topics:
                why = f"carries {topics[c.image_topic][0]}, not {' or '.join(IMAGE_TYPES)}"
            summary.warnings.append(
                f"image topic {c.image_topic} {why}; camera {c.name} is absent from every set"
            )
    tri = TriangulationStage(cams, ReconstructionParams(**(reconstructor_params or {})), check_frame_id=False)
    infos = _first_camera_infos(in_path, [c.camera_info_topic for c in cams if c.camera_info_topic in topics])
    for i, c in enumerate(cams):
        info = infos.get(c.camera_info_topic)
        problem = tri.on_camera_info(i, info)[1] if info is not None else None
        if problem is not None:
            log.error("camera %s: CameraInfo on %s ignored: %s", c.name, c.camera_info_topic, problem.text)
        if tri.cameras[i] is None:
            raise BagError(
                f"bag {in_path} has no valid CameraInfo on {c.camera_info_topic} and the rig gives no "
                f"intrinsics for camera {c.name!r}"
            )
    det = DetectionStage(backend, len(cams))
    index_of_image = {t: i for i, t in enumerate(image_topics) if t is not None}
    index_of_info = {c.camera_info_topic: i for i, c in enumerate(cams)}
    markers = SkeletonMarkerPublisher(frame_id=rig.world_frame)
    n_expected = min((topics[t][1] for t in index_of_image), default=0)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_expected, unit="set", desc=f"mvpose bag {in_path.name}", dynamic_ncols=True)
    t_start = time.perf_counter()
    need = min(min_cameras, len(cams))

    try:
        writer_cm = BagWriter(out_path, storage=storage)
        writer = writer_cm.__enter__()
    except OSError as exc:
        raise BagError(f"cannot write the output bag {out_path}: {exc.strerror or exc}") from exc

    def on_set(msgs: list, stamp: float) -> None:
        res = det.on_set(msgs)
        for p in res.problems:
            summary.bad_images += int(p.camera is not None)
            who = cams[p.camera].name if p.camera is not None else "-"
            log.error("camera %s: image at %.3f s skipped: %s", who, stamp, p.text)
        present = [i for i, kp in enumerate(res.keypoints) if kp is not None]
        if len(present) < need:
            return
        t_ns = int(round(stamp * 1e9))
        clouds = [None] * len(cams)
        for i in present:
            clouds[i] = keypoints_to_cloud(res.keypoints[i], msgs[i].header)
            writer.write(keypoints_topic(cams[i].image_topic), clouds[i], t_ns)
        out = tri.on_set(clouds, stamp)
        for p in out.problems:
            log.error("camera %s: %s", cams[p.camera].name if p.camera is not None else "-", p.text)
        summary.sets += 1
        summary.partial_sets += int(len(present) < len(cams))
        summary.model_seconds += res.timings["model"]
        header = Header(frame_id=rig.world_frame, stamp=ns_to_stamp(t_ns))
        writer.write("/skeletons/points", skeletons_to_cloud(out.ids, out.joints, out.scores, header), t_ns)
        writer.write("/skeletons/markers", markers.update_arrays(out.ids, out.joints, header), t_ns)
        summary.track_ids.update(int(i) for i in out.ids)
        summary.max_people = max(summary.max_people, len(out.ids))
        if on_frame is not None:
            kps = [kp if kp is not None else np.zeros((0, NUM_JOINTS, 3), np.float32) for kp in res.keypoints]
            on_frame(
                FrameResult(
                    stamp,
                    kps,
                    out.people,
                    {"model": res.timings["model"], "reconstruct": out.timings["reconstruct"]},
                ),
                res.images,
            )
        if bar is not None:
            bar.update(1)
            bar.set_postfix(
                sets_s=f"{summary.sets / (time.perf_counter() - t_start):.2f}", people=len(out.ids)
            )

    def on_event(event) -> None:  # out of sync / back / every stamp jumped back (the bag loops)
        log.warning("%s", event.describe([cams[i].name for i in slots]))
        if event.kind == "reset":
            tri.reset()

    # the synchronizer takes the cameras the bag has (none waits for a topic that never comes)
    slots = list(index_of_image.values())

    def on_sync_set(msgs: list, stamp: float) -> None:
        full = [None] * len(cams)
        for i, m in zip(slots, msgs):
            full[i] = m
        on_set(full, stamp)

    sync = ApproximateTimeSync(
        len(slots),
        on_sync_set,
        queue_size=queue_size,
        slop=slop,
        min_inputs=min(need, len(slots)),
        dead_after=camera_timeout,
        on_event=on_event,
    )
    slot_of = {t: k for k, t in enumerate(index_of_image)}
    wanted = set(index_of_image) | set(index_of_info) | set(copy_topics)
    try:
        for m in read_bag(in_path, topics=[t for t in wanted if t in topics]):
            if m.topic in index_of_image:
                stamp = stamp_to_ns(m.msg.header.stamp) * 1e-9
                now = m.timestamp_ns * 1e-9  # receive (log) time: liveness and clock checks
                sync.add(slot_of[m.topic], m.msg, stamp, now=now)
                sync.tick(now)
            elif m.topic in index_of_info:
                i = index_of_info[m.topic]
                problem = tri.on_camera_info(i, m.msg)[1]
                if problem is not None:
                    log.error("camera %s: CameraInfo ignored: %s", cams[i].name, problem.text)
                if m.topic in copy_topics:
                    writer.write(m.topic, m.msg, m.timestamp_ns)
            else:
                writer.write(m.topic, m.msg, m.timestamp_ns)
    except BagError as exc:
        summary.error = str(exc)
    finally:
        sync.flush()  # end of input (also a truncated one): the last, possibly partial, sets
        summary.dropped_images = int(getattr(sync, "dropped", 0))
        summary.seconds = time.perf_counter() - t_start
        if bar is not None:
            bar.close()
        try:
            writer_cm.__exit__(None, None, None)
        except OSError as exc:
            raise BagError(f"cannot finish the output bag {out_path}: {exc.strerror or exc}") from exc
    return summary


def keypoints_topic(image_topic: str, suffix: str = "keypoints2d") -> str:
    """A camera's keypoint topic as the detector names it: ``/cam1/image_raw`` -> ``/cam1/keypoints2d``."""
    return sibling_topic(image_topic, suffix)
