"""Every parameter of both nodes, in one place: dataclass groups whose fields give each
parameter's name, type (the annotation), default and description (``ros2_mvpose.ros.params.param``).

The same groups feed the nodes' constructors and ROS parameter declarations, the stages
(``BackendParams``, ``ReconstructionParams``), ``config/multi_cam.yaml`` and the parameter tables
of ``docs/detector.md`` / ``docs/triangulator.md``: ``python -m ros2_mvpose.nodes.params --write``
regenerates the file and the tables, and a test checks they are up to date. One name per setting
across the nodes (``camera_timeout``, ``error_throttle``...).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ros2_mvpose.resources import find_data_file
from ros2_mvpose.ros.params import ParamSpec, param, specs_of
from ros2_mvpose.ros.sync import DEFAULT_MAX_OFFSET, DEFAULT_SLOP
from ros2_mvpose.ros.topics import camera_name_from_topic, sibling_topic
from ros2_mvpose.stages.detection import BackendParams
from ros2_mvpose.stages.triangulation import ReconstructionParams

RECONSTRUCTION_PREFIX = "reconstruction."
#: values of the detector's image_transport parameter (image_transport's transport names)
IMAGE_TRANSPORTS = ("raw", "compressed")


@dataclass
class SyncParams:
    """Approximate-time synchronization of the cameras' inputs (``ros2_mvpose.ros.sync``)."""

    slop: float = param(
        DEFAULT_SLOP,
        "Maximum spread of header stamps within a synchronized set, seconds (the default fits cameras up "
        "to 30 Hz: under half a frame period, so two capture frames never mix; for a rate f use at most "
        "1/(2 f) minus the stamp jitter).",
    )
    queue_size: int = param(10, "Messages kept per camera while waiting for a set (per-camera queue bound).")
    min_cameras: int = param(
        1,
        "Fewest alive cameras to form a set once a camera is declared dead; 0 = all cameras (no partial "
        "sets); clamped to the camera count.",
    )
    camera_timeout: float = param(
        1.0,
        "Seconds after which a silent camera is dead and sets go on without it: nothing received for "
        "this long (wall time), its stamps this far behind the other cameras', and behind them for "
        "this long; it rejoins with its next message.",
    )
    max_stamp_offset: float = param(
        DEFAULT_MAX_OFFSET,
        "Seconds by which a camera's stamps may disagree with the other cameras' before it is out of "
        "sync (far-future stamps, stamp 0, a clock that jumped back): reported once, left out of sets, "
        "back when its stamps agree again. Every camera jumping back (a bag replayed in a loop) "
        "restarts synchronization.",
    )

    def validate(self) -> None:
        """Raise ValueError naming the first invalid setting."""
        if not self.slop >= 0:
            raise ValueError(f"parameter slop must be >= 0 seconds, got {self.slop}")
        if self.queue_size < 1:
            raise ValueError(f"parameter queue_size must be >= 1, got {self.queue_size}")
        if not self.camera_timeout > 0:
            raise ValueError(f"parameter camera_timeout must be > 0 seconds, got {self.camera_timeout}")
        if not self.max_stamp_offset > 0:
            raise ValueError(f"parameter max_stamp_offset must be > 0 seconds, got {self.max_stamp_offset}")


@dataclass
class ReportingParams:
    """Diagnostics and error logs."""

    diagnostics_period: float = param(
        1.0, "Seconds (wall time) between /diagnostics messages; 0 disables them."
    )
    error_throttle: float = param(5.0, "Minimum seconds between two error logs for one camera and problem.")


@dataclass
class DetectorParams:
    """The detector node's own settings (inputs, outputs)."""

    rig_file: str = param(
        "",
        "Rig YAML; its cameras' image_topic entries are the inputs (rig order). Used when "
        "image_topics is empty. Relative paths: working directory, package share, source tree.",
    )
    image_topics: list[str] = param(
        [""], "Image topics, one per camera; [''] or [] = take them from rig_file."
    )
    cameras: list[str] = param(
        [""],
        "Names of the cameras this detector serves (rig camera names; with image_topics, each topic's "
        "parent segment); [''] or [] = all. Several detectors with disjoint subsets (one per GPU or "
        "machine) can feed one triangulator (mvpose run --detector-groups).",
    )
    image_transport: str = param(
        "raw",
        "raw: sensor_msgs/Image on each image topic; compressed: "
        "sensor_msgs/CompressedImage (jpeg, png) on <image topic>/compressed.",
    )
    use_message_filters: bool = param(
        False,
        "Use message_filters.ApproximateTimeSynchronizer instead of the package's synchronizer when it "
        "imports, no partial sets are wanted (min_cameras = all) and the transport is raw. The "
        "package's forms at least as many single-frame sets, never emits sets out of stamp order "
        "and handles out-of-sync cameras and replay loops (BENCHMARKS.md).",
    )
    qos_depth: int = param(
        1,
        "History depth of the sensor-data (best-effort) image subscriptions. 1 = only the "
        "newest image per camera waits: a busy moment drops frames instead of delaying every "
        "later set (depth 5 added ~100 ms whenever the executor fell behind, BENCHMARKS.md).",
    )
    raw_images: bool = param(
        True,
        "Take images as serialized bytes and read their fields in place (no Python "
        "message is built: ~2 ms less per 1080p image on the executor thread).",
    )
    keypoints_suffix: str = param(
        "keypoints2d", "Leaf name of the keypoint topics: the image topic's last segment replaced by it."
    )
    publish_annotated: bool = param(
        False, "Also publish each image with its keypoints drawn on <keypoint topic>/annotated."
    )
    annotate_min_score: float = param(0.2, "Joints below this score are not drawn on annotated images.")

    def validate(self) -> None:
        """Raise ValueError naming the first invalid setting."""
        if self.qos_depth < 1:
            raise ValueError(f"parameter qos_depth must be >= 1, got {self.qos_depth}")
        if self.image_transport not in IMAGE_TRANSPORTS:
            raise ValueError(
                f"parameter image_transport must be one of {', '.join(IMAGE_TRANSPORTS)}, "
                f"got {self.image_transport!r}"
            )
        if not self.keypoints_suffix or "/" in self.keypoints_suffix.strip("/"):
            raise ValueError(
                f"parameter keypoints_suffix must be one topic segment, got {self.keypoints_suffix!r}"
            )

    def inputs(self) -> tuple[list[str], list[str]]:
        """``(image topics, camera names)``: from ``image_topics``, else from the rig file's cameras;
        only those named in ``cameras`` when it is set."""
        from ros2_mvpose.nodes.detector_groups import select_cameras

        topics = [t for t in self.image_topics if t]
        if topics:
            if len(set(topics)) != len(topics):
                raise ValueError(f"parameter image_topics lists a topic twice: {topics}")
            names, source = [camera_name_from_topic(t) for t in topics], "image_topics"
        else:
            if not self.rig_file:
                raise ValueError("no image topics: set the image_topics or rig_file parameter")
            from ros2_mvpose.geometry.rig import load_rig

            rig = load_rig(find_data_file(self.rig_file))
            if len(rig.cameras) == 0:
                raise ValueError(f"rig file {self.rig_file} has no cameras")
            topics, names, source = (
                [c.image_topic for c in rig.cameras],
                [c.name for c in rig.cameras],
                self.rig_file,
            )
        keep = select_cameras(names, self.cameras, source)
        return [topics[i] for i in keep], [names[i] for i in keep]


@dataclass
class TriangulatorParams:
    """The triangulator node's own settings (inputs, outputs, markers)."""

    rig_file: str = param(
        "sample/rig.yaml",
        "Rig YAML (camera names, topics, frame ids, world->camera poses, "
        "optional intrinsics). Relative paths are tried from the working directory, the "
        "package's share directory and the source tree.",
    )
    world_frame: str = param("", "Frame of the published skeletons; empty = the rig's world_frame.")
    keypoint_topics: list[str] = param(
        [],
        "2D keypoint cloud topic per rig camera (rig order); empty = each "
        "image topic with its last segment replaced by 'keypoints2d'.",
    )
    camera_info_topics: list[str] = param(
        [], "CameraInfo topic per rig camera (rig order); empty = the rig's camera_info_topic."
    )
    use_camera_info: bool = param(
        True,
        "Use intrinsics from CameraInfo (latest valid one kept; rig intrinsics "
        "until the first); false = rig intrinsics only.",
    )
    check_frame_id: bool = param(
        True,
        "Reject keypoint clouds and CameraInfo whose non-empty header.frame_id "
        "differs from the camera's rig frame_id.",
    )
    publish_cameras: bool = param(
        True, "Publish camera frustum markers on skeletons/cameras (transient local)."
    )
    frustum_depth: float = param(0.3, "Depth of the camera frustum markers, metres.")
    marker_lifetime: float = param(
        1.0,
        "Seconds RViz keeps a skeleton marker without update (safety net "
        "besides DELETE actions); 0 = forever.",
    )
    joint_radius: float = param(0.04, "Joint sphere radius, metres.")
    limb_width: float = param(0.025, "Limb line width, metres.")
    text_size: float = param(0.15, "Id label height, metres.")

    def inputs(self) -> tuple[Any, Path, list[str], list[str]]:
        """``(rig, rig path, keypoint topics, camera_info topics)``, topics in rig order.

        Raises:
            ValueError, FileNotFoundError: no or a bad rig file, or topic lists of the wrong length.
        """
        from ros2_mvpose.geometry.rig import load_rig

        if not self.rig_file:
            raise ValueError("parameter rig_file is required (a rig YAML)")
        path = find_data_file(self.rig_file)
        rig = load_rig(path)
        n = len(rig.cameras)
        if n == 0:
            raise ValueError(f"rig {path} has no cameras")
        kp = [t for t in self.keypoint_topics if t] or [
            sibling_topic(c.image_topic, "keypoints2d") for c in rig.cameras
        ]
        info = [t for t in self.camera_info_topics if t] or [c.camera_info_topic for c in rig.cameras]
        for label, topics in (("keypoint_topics", kp), ("camera_info_topics", info)):
            if len(topics) != n:
                raise ValueError(f"parameter {label} has {len(topics)} topics for {n} rig cameras")
        return rig, path, kp, info


#: ``(defaults, name prefix)`` of each node's parameter groups, in declaration order.
DETECTOR_GROUPS = ((DetectorParams(), ""), (BackendParams(), ""), (SyncParams(), ""), (ReportingParams(), ""))
TRIANGULATOR_GROUPS = (
    (TriangulatorParams(), ""),
    (SyncParams(min_cameras=2, camera_timeout=0.5), ""),
    (ReportingParams(), ""),
    (ReconstructionParams(), RECONSTRUCTION_PREFIX),
)
NODE_GROUPS = {"detector_node": DETECTOR_GROUPS, "triangulator_node": TRIANGULATOR_GROUPS}


def all_parameter_names() -> set[str]:
    """Every parameter name of the package's nodes (settings given to both nodes at once)."""
    return {s.name for node in NODE_GROUPS for s in parameters(node)}


def parameters(node: str) -> tuple[ParamSpec, ...]:
    """Every parameter ``node`` (``detector_node`` / ``triangulator_node``) declares, in order."""
    return tuple(s for group, prefix in NODE_GROUPS[node] for s in specs_of(group, prefix))


# ------------------------------------------------------------------ config file and docs
ROOT = Path(__file__).resolve().parents[2]
CONFIG_FILE = ROOT / "config" / "multi_cam.yaml"
DOC_FILES = {
    "detector_node": ROOT / "docs" / "detector.md",
    "triangulator_node": ROOT / "docs" / "triangulator.md",
}
#: values config/multi_cam.yaml sets differently from the nodes' defaults
FILE_VALUES = {"rig_file": "sample/rig.yaml"}
_PURPOSE = {
    "detector_node": "N synchronized camera images -> 2D keypoints per camera "
    "(<image topic parent>/keypoints2d).",
    "triangulator_node": "2D keypoint clouds + CameraInfo -> tracked 3D skeletons (skeletons/markers, "
    "skeletons/points).",
}
_CONFIG_HEADER = """\
# ros2_mvpose live pipeline: parameters of detector_node and triangulator_node.
#
#   ros2 launch ros2_mvpose multi_cam.launch.py params_file:=<this file>
#   mvpose run --params config/multi_cam.yaml [--rig RIG] [--checkpoint CKPT] [--use-sim-time]
#
# Generated from the nodes' parameter groups (ros2_mvpose/nodes/params.py) by
# `python -m ros2_mvpose.nodes.params --write`: every parameter with its default value and
# description; the only deliberate difference is rig_file, which points at the package's sample
# rig. Relative paths are tried from the working directory, the installed share/ros2_mvpose
# directory and the source tree. At run time: `ros2 param describe <node> <name>`.
"""


def _yaml_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    import yaml

    text = yaml.safe_dump(v, default_flow_style=True, width=10**6).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


def _yaml_value(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(f"'{x}'" if isinstance(x, str) else _yaml_scalar(x) for x in v) + "]"
    return _yaml_scalar(v)


def _comment(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, width=100, initial_indent=indent + "# ", subsequent_indent=indent + "# ")


def render_config() -> str:
    """``config/multi_cam.yaml`` as the parameter groups define it."""
    lines = _CONFIG_HEADER.splitlines()
    for node in NODE_GROUPS:
        lines += ["", f"{node}:", "  ros__parameters:"]
        lines += _comment(_PURPOSE[node], "    ")
        lines += [
            "    # Standard ROS 2 parameter: use /clock instead of the wall clock (replay from bags).",
            "    use_sim_time: false",
        ]
        nested = None
        for s in parameters(node):
            head, _, leaf = s.name.rpartition(".")
            indent = "    "
            if head:
                if head != nested:
                    lines.append(f"    {head}:")
                    nested = head
                indent = "      "
            value = FILE_VALUES.get(s.name, s.default)
            note = f" [node default: {_yaml_value(s.default)}]" if value != s.default else ""
            lines += _comment(f"({s.type}) {s.description}{note}", indent)
            lines.append(f"{indent}{leaf}: {_yaml_value(value)}")
    return "\n".join(lines) + "\n"


def _md_default(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(f'"{x}"' for x in v) + "]"
    return repr(v)


TABLE_BEGIN = "<!-- parameters: generated by `python -m ros2_mvpose.nodes.params --write` -->"
TABLE_END = "<!-- /parameters -->"


def render_table(node: str) -> str:
    """The markdown parameter table of ``node`` (between ``TABLE_BEGIN`` and ``TABLE_END``)."""
    rows = [TABLE_BEGIN, "| name | type | default | description |", "|---|---|---|---|"]
    for s in parameters(node):
        rows.append(f"| `{s.name}` | {s.type} | `{_md_default(s.default)}` | {s.description} |")
    rows += [
        "| `use_sim_time` | bool | `false` | Standard ROS 2 parameter: use `/clock` (replay from bags). |",
        TABLE_END,
    ]
    return "\n".join(rows)


def render_doc(node: str, text: str) -> str:
    """``text`` (a node's doc page) with its parameter table replaced by :func:`render_table`."""
    begin, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{DOC_FILES[node]} has no {TABLE_BEGIN} ... {TABLE_END} section")
    return text[:begin] + render_table(node) + text[end + len(TABLE_END) :]


def main(argv: list[str] | None = None) -> int:
    """``python -m ros2_mvpose.nodes.params [--write]``: check (or rewrite) the config file and docs."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--write", action="store_true", help="rewrite the files instead of checking them")
    args = ap.parse_args(argv)
    wanted = {CONFIG_FILE: render_config()}
    for node, path in DOC_FILES.items():
        wanted[path] = render_doc(node, path.read_text())
    stale = [p for p, text in wanted.items() if p.read_text() != text]
    if args.write:
        for p in stale:
            p.write_text(wanted[p])
        print("\n".join(f"rewrote {p}" for p in stale) or "up to date")
        return 0
    print("\n".join(f"out of date: {p}" for p in stale) or "up to date")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
