"""Render the sample sequence and write it as a rosbag2 (MCAP) with exact ground truth.

Bag contents (one set per frame, every message of a set has the same ``header.stamp``, and the
bag's receive time equals that stamp):

- ``/camN/camera_info`` (sensor_msgs/msg/CameraInfo, frame_id ``camN``) and
  ``/camN/image_raw`` (sensor_msgs/msg/Image, ``bgr8``) for each camera;
- ``/ground_truth/skeletons`` (sensor_msgs/msg/PointCloud2 in the package's 3D skeleton format,
  frame ``world``, ``person`` = ground-truth id starting at 1, score 1): joint centres (facial
  joints are the modelled features), see :mod:`ros2_mvpose.sample_render.body`;
- ``/ground_truth/skeletons_coco``: the same skeletons in the COCO label convention (shoulders
  +4 cm, hips +3 cm along the torso axis).

Messages are the real rclpy classes serialized with ``rclpy.serialization.serialize_message``;
``rosbags`` only stores the CDR bytes (MCAP chunks compressed with zstd).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ros2_mvpose.sample_render.body import (
    COCO_HIP_OFFSET,
    COCO_SHOULDER_OFFSET,
    people_at,
    to_coco_labels,
)
from ros2_mvpose.sample_render.render import camera_rays, render
from ros2_mvpose.sample_render.rig import WORLD_FRAME, SampleCamera, sample_rig, write_rig
from ros2_mvpose.sample_render.scene import build_scene
from ros2_mvpose.skeleton import COCO17_NAMES

#: First stamp of the sequence (ns): 2025-01-01T00:00:00Z, fixed so the bag is reproducible.
BASE_STAMP_NS = 1_735_689_600 * 1_000_000_000
GT_TOPIC = "/ground_truth/skeletons"
GT_COCO_TOPIC = "/ground_truth/skeletons_coco"


@dataclass
class SampleSpec:
    """What to render. ``name`` picks the output names (see :func:`output_paths`)."""

    people: int = 1
    seconds: float = 3.0
    fps: float = 5.0
    width: int = 640
    height: int = 480
    seed: int = 0
    name: str = "sample"

    def validate(self) -> None:
        if not 1 <= self.people <= 3:
            raise ValueError(f"people must be 1, 2 or 3, got {self.people}")
        if not (self.seconds > 0 and np.isfinite(self.seconds)):
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        if not (self.fps > 0 and np.isfinite(self.fps)):
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.width < 16 or self.height < 16:
            raise ValueError(f"image size must be at least 16x16, got {self.width}x{self.height}")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"name must be a plain file name stem, got {self.name!r}")

    @property
    def num_frames(self) -> int:
        return max(1, int(round(self.seconds * self.fps)))

    def stamp_ns(self, k: int) -> int:
        return BASE_STAMP_NS + int(round(k * 1e9 / self.fps))


def output_paths(out_dir: str | Path, name: str = "sample") -> dict[str, Path]:
    """``rig`` (``rig.yaml``), ``bag`` (``<name>_bag/``) and ``ground_truth`` (``ground_truth.json``
    for the default name ``sample``, else ``<name>_ground_truth.json``) under ``out_dir``."""
    out = Path(out_dir)
    gt = "ground_truth.json" if name == "sample" else f"{name}_ground_truth.json"
    return {"rig": out / "rig.yaml", "bag": out / f"{name}_bag", "ground_truth": out / gt}


def _header(stamp_ns: int, frame_id: str):
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return Header(stamp=stamp, frame_id=frame_id)


def camera_info_msg(cam: SampleCamera, stamp_ns: int):
    """sensor_msgs/CameraInfo of a sample camera (``P = [K | 0]``, ``R = I``)."""
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo()
    msg.header = _header(stamp_ns, cam.name)
    msg.width, msg.height = int(cam.width), int(cam.height)
    msg.distortion_model = cam.distortion_model
    msg.d = [float(x) for x in cam.dist]
    msg.k = [float(x) for x in cam.K.ravel()]
    msg.r = [float(x) for x in np.eye(3).ravel()]
    msg.p = [float(x) for x in np.hstack([cam.K, np.zeros((3, 1))]).ravel()]
    return msg


def image_msg(img: np.ndarray, stamp_ns: int, frame_id: str):
    """sensor_msgs/Image (``bgr8``) from an ``(H, W, 3)`` uint8 BGR array."""
    from sensor_msgs.msg import Image

    img = np.ascontiguousarray(img, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8 BGR, got shape {img.shape}")
    msg = Image()
    msg.header = _header(stamp_ns, frame_id)
    msg.height, msg.width = int(img.shape[0]), int(img.shape[1])
    msg.encoding = "bgr8"
    msg.is_bigendian = 0
    msg.step = int(img.shape[1] * 3)
    msg.data = img.tobytes()
    return msg


def _open_writer(path: Path):
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)  # zstd MCAP chunks
    writer.open()
    return writer, get_typestore(Stores.ROS2_JAZZY)


def render_sample(
    out_dir: str | Path,
    spec: SampleSpec | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Render the sequence of ``spec`` and write rig, bag and ground-truth JSON under ``out_dir``.

    Args:
        out_dir: output folder (created).
        spec: what to render (default :class:`SampleSpec`).
        overwrite: replace an existing bag / JSON of the same name (otherwise ``FileExistsError``).
        progress: called with 1 after each rendered image.

    Returns:
        Summary: paths, frames, cameras, messages written, render seconds.
    """
    from rclpy.serialization import serialize_message

    from ros2_mvpose.ros.pointcloud import skeletons_to_cloud

    spec = spec or SampleSpec()
    spec.validate()
    paths = output_paths(out_dir, spec.name)
    for key in ("bag", "ground_truth"):
        if paths[key].exists():
            if not overwrite:
                raise FileExistsError(f"{paths[key]} exists; pass overwrite=True (--force) to replace it")
            if paths[key].is_dir():
                shutil.rmtree(paths[key])
            else:
                paths[key].unlink()
    paths["bag"].parent.mkdir(parents=True, exist_ok=True)

    cams = sample_rig(spec.width, spec.height)
    write_rig(cams, paths["rig"])
    rays = [camera_rays(c) for c in cams]

    frames = []
    n_msgs = 0
    t_render = 0.0
    writer, store = _open_writer(paths["bag"])
    try:
        conns = {}

        def write(topic: str, msg, stamp_ns: int) -> None:
            nonlocal n_msgs
            if topic not in conns:
                msgtype = f"{type(msg).__module__.split('.')[0]}/msg/{type(msg).__name__}"
                conns[topic] = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(conns[topic], stamp_ns, serialize_message(msg))
            n_msgs += 1

        for k in range(spec.num_frames):
            t = k / spec.fps
            stamp = spec.stamp_ns(k)
            bodies = people_at(t, spec.people, spec.seed)
            scene = build_scene(bodies)
            for cam, r in zip(cams, rays):
                t0 = time.perf_counter()
                img = render(cam, scene, r)
                t_render += time.perf_counter() - t0
                write(f"/{cam.name}/camera_info", camera_info_msg(cam, stamp), stamp)
                write(f"/{cam.name}/image_raw", image_msg(img, stamp, cam.name), stamp)
                if progress:
                    progress(1)
            ids = np.arange(1, len(bodies) + 1)
            joints = np.stack([b.joints for b in bodies])
            coco = to_coco_labels(joints)
            ones = np.ones(joints.shape[:2])
            write(GT_TOPIC, skeletons_to_cloud(ids, joints, ones, _header(stamp, WORLD_FRAME)), stamp)
            write(GT_COCO_TOPIC, skeletons_to_cloud(ids, coco, ones, _header(stamp, WORLD_FRAME)), stamp)
            frames.append(
                {
                    "index": k,
                    "time_s": round(t, 9),
                    "stamp_ns": stamp,
                    "people": [
                        {
                            "id": int(i),
                            "joints": np.round(j, 6).tolist(),
                            "joints_coco": np.round(c, 6).tolist(),
                        }
                        for i, j, c in zip(ids, joints, coco)
                    ],
                }
            )
    finally:
        writer.close()

    gt = {
        "description": "Exact 3D ground truth of the rendered sample (see sample/README.md).",
        "command": command_line(spec, out_dir),
        "bag": paths["bag"].name,
        "world_frame": WORLD_FRAME,
        "units": "metres",
        "joint_names": list(COCO17_NAMES),
        "joints_convention": (
            "joints: nose, eyes and ears are the modelled facial features (nose tip, front of the "
            "eyeball, ear centre); all other joints are anatomical joint centres. joints_coco: the "
            "same with shoulders and hips moved up the torso axis (mid-hip to mid-shoulder) to "
            "where COCO annotators mark them."
        ),
        "coco_label_offsets_m": {"shoulders": COCO_SHOULDER_OFFSET, "hips": COCO_HIP_OFFSET},
        "topics": {"joints": GT_TOPIC, "joints_coco": GT_COCO_TOPIC},
        "people": spec.people,
        "fps": spec.fps,
        "seed": spec.seed,
        "width": spec.width,
        "height": spec.height,
        "cameras": [c.name for c in cams],
        "frames": frames,
    }
    paths["ground_truth"].write_text(json.dumps(gt, indent=1) + "\n")
    return {
        "paths": paths,
        "frames": spec.num_frames,
        "cameras": len(cams),
        "messages": n_msgs,
        "render_seconds": t_render,
    }


def command_line(spec: SampleSpec, out_dir: str | Path) -> str:
    """The ``mvpose sample render`` command that regenerates ``spec`` into ``out_dir``."""
    return (
        f"mvpose sample render --out {out_dir} --name {spec.name} --people {spec.people} "
        f"--seconds {spec.seconds:g} --fps {spec.fps:g} --width {spec.width} --height {spec.height} "
        f"--seed {spec.seed}"
    )
