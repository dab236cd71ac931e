"""``mvpose bag``: detect and reconstruct people in a rosbag2 recording, streaming.

Reads a rosbag2 (MCAP or sqlite3), synchronizes the rig's image topics by header stamp with the
same approximate-time synchronizer as the live nodes, runs the 2D backend and the Reconstructor on
every set, and writes a rosbag2 MCAP with the nodes' output topics and formats:

- ``<camera ns>/keypoints2d`` (sensor_msgs/PointCloud2, the image's header) per camera,
- ``/skeletons/points`` (sensor_msgs/PointCloud2, world frame) and
- ``/skeletons/markers`` (visualization_msgs/MarkerArray),

plus, unchanged, the input topics named in ``copy_topics`` (e.g. ground truth, CameraInfo).
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
from ros2_mvpose.ros.topics import sibling_topic

log = logging.getLogger("mvpose.bag")


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
            f"dropped images: {self.dropped_images}, "
            f"bad images: {self.bad_images}",
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
    slop: float = 0.05,
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
        slop, queue_size, min_cameras, camera_timeout: synchronizer settings as in the detector node
            (``camera_timeout`` in bag time).
        copy_topics: input topics copied to the output unchanged when present.
        on_frame: optional callback ``(FrameResult, images)`` per processed set.

    Raises:
        BagError: the bag cannot be opened, none of the rig's image topics is in it, or a camera
            has neither CameraInfo in the bag nor intrinsics in the rig.
    """
    from ros2_mvpose.geometry import Camera
    from ros2_mvpose.pipeline import MultiViewPipeline
    from ros2_mvpose.ros.image_conversion import image_msg_to_bgr
    from ros2_mvpose.ros.markers import SkeletonMarkerPublisher
    from ros2_mvpose.ros.pointcloud import keypoints_to_cloud, skeletons_to_cloud
    from ros2_mvpose.ros.sync import ApproximateTimeSync

    in_path, out_path = Path(in_path), Path(out_path)
    summary = BagSummary(output=out_path)
    topics = bag_topics(in_path)
    cams = list(rig.cameras)
    missing = [c.image_topic for c in cams if c.image_topic not in topics]
    if len(missing) == len(cams):
        raise BagError(
            f"bag {in_path} has none of the rig's image topics {[c.image_topic for c in cams]}; "
            f"its topics are {sorted(topics)}"
        )
    for t in missing:
        summary.warnings.append(f"image topic {t} is not in the bag; that camera is absent from every set")
    infos = _first_camera_infos(in_path, [c.camera_info_topic for c in cams if c.camera_info_topic in topics])
    cameras = []
    for c in cams:
        info = infos.get(c.camera_info_topic)
        if info is not None:
            cameras.append(Camera.from_camera_info(info, c.R, c.t, name=c.name))
        elif c.camera is not None:
            cameras.append(c.camera)
        else:
            raise BagError(
                f"bag {in_path} has no CameraInfo on {c.camera_info_topic} and the rig gives no "
                f"intrinsics for camera {c.name!r}"
            )
    pipeline = MultiViewPipeline(cameras, backend, **(reconstructor_params or {}))
    index_of_image = {c.image_topic: i for i, c in enumerate(cams)}
    index_of_info = {c.camera_info_topic: i for i, c in enumerate(cams)}
    last_k = {i: None for i in range(len(cams))}
    markers = SkeletonMarkerPublisher(frame_id=rig.world_frame)
    n_expected = min((topics[c.image_topic][1] for c in cams if c.image_topic in topics), default=0)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_expected, unit="set", desc=f"mvpose bag {in_path.name}", dynamic_ncols=True)
    t_start = time.perf_counter()

    with BagWriter(out_path, storage=storage) as writer:

        def on_set(msgs: list, stamp: float) -> None:
            images: list[np.ndarray | None] = []
            for i, m in enumerate(msgs):
                if m is None:
                    images.append(None)
                    continue
                try:
                    images.append(image_msg_to_bgr(m))
                except ValueError as exc:
                    summary.bad_images += 1
                    log.error("camera %s: image at %.3f s skipped: %s", cams[i].name, stamp, exc)
                    images.append(None)
            if sum(im is not None for im in images) < min(min_cameras, len(cams)):
                return
            res = pipeline.process(images, stamp)
            summary.sets += 1
            summary.partial_sets += int(any(im is None for im in images))
            summary.model_seconds += res.timings["model"]
            t_ns = int(round(stamp * 1e9))
            for i, m in enumerate(msgs):
                if m is not None:
                    writer.write(
                        keypoints_topic(cams[i].image_topic),
                        keypoints_to_cloud(res.keypoints2d[i], m.header),
                        t_ns,
                    )
            from std_msgs.msg import Header

            header = Header(frame_id=rig.world_frame, stamp=ns_to_stamp(t_ns))
            ids = [p.id for p in res.people]
            joints = np.array([p.joints for p in res.people]).reshape(-1, 17, 3)
            scores = np.array([p.scores for p in res.people]).reshape(-1, 17)
            writer.write("/skeletons/points", skeletons_to_cloud(ids, joints, scores, header), t_ns)
            writer.write("/skeletons/markers", markers.update(res.people, header), t_ns)
            summary.track_ids.update(ids)
            summary.max_people = max(summary.max_people, len(ids))
            if on_frame is not None:
                on_frame(res, images)
            if bar is not None:
                bar.update(1)
                el = time.perf_counter() - t_start
                bar.set_postfix(sets_s=f"{summary.sets / el:.2f}", people=len(ids))

        sync = ApproximateTimeSync(
            len(cams),
            on_set,
            queue_size=queue_size,
            slop=slop,
            min_inputs=min(min_cameras, len(cams)),
            dead_after=camera_timeout,
        )
        wanted = set(index_of_image) | set(index_of_info) | set(copy_topics)
        last_stamp = 0.0
        try:
            for m in read_bag(in_path, topics=[t for t in wanted if t in topics]):
                if m.topic in index_of_image:
                    stamp = stamp_to_ns(m.msg.header.stamp) * 1e-9
                    last_stamp = max(last_stamp, stamp)
                    sync.add(index_of_image[m.topic], m.msg, stamp, now=last_stamp)
                    sync.tick(last_stamp)
                elif m.topic in index_of_info:
                    i = index_of_info[m.topic]
                    k = tuple(m.msg.k) + tuple(m.msg.d)
                    if k != last_k[i]:
                        try:
                            cam = Camera.from_camera_info(m.msg, cams[i].R, cams[i].t, name=cams[i].name)
                            pipeline.reconstructor.set_camera(i, cam)
                            last_k[i] = k
                        except ValueError as exc:
                            log.error("camera %s: CameraInfo ignored: %s", cams[i].name, exc)
                    if m.topic in copy_topics:
                        writer.write(m.topic, m.msg, m.timestamp_ns)
                else:
                    writer.write(m.topic, m.msg, m.timestamp_ns)
        except BagError as exc:
            summary.error = str(exc)
        finally:
            summary.dropped_images = int(getattr(sync, "dropped", 0))
            summary.seconds = time.perf_counter() - t_start
            if bar is not None:
                bar.close()
    return summary


def keypoints_topic(image_topic: str, suffix: str = "keypoints2d") -> str:
    """A camera's keypoint topic as the detector names it: ``/cam1/image_raw`` -> ``/cam1/keypoints2d``."""
    return sibling_topic(image_topic, suffix)
