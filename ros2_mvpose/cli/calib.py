"""``mvpose calib``: convert calibration files into a rig file, and show a rig.

    mvpose calib convert INPUT... -o rig.yaml [--format auto|rig|camera_info|opencv|toml]
                         [--topic-prefix /ns] [--width W --height H] [--scale S] [--world-frame F]
    mvpose calib show RIG
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ros2_mvpose.geometry.calibration_io import FORMATS, convert_to_rig
from ros2_mvpose.geometry.rig import load_rig, save_rig

_FORMAT_CHOICES = ("auto", *FORMATS, "anipose", "pose2sim")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("calib", help="convert calibration files to a rig file; show a rig")
    sub = p.add_subparsers(dest="calib_command", metavar="ACTION")

    c = sub.add_parser(
        "convert",
        help="convert calibration files (OpenCV XML/YAML, ROS camera_info YAML, anipose/Pose2Sim "
        "TOML, rig YAML) into one rig file",
        description="Cameras are matched by name across inputs; later files override earlier ones "
        "(e.g. poses from a TOML, intrinsics from camera_info YAMLs). Every camera needs a pose.",
    )
    c.add_argument("inputs", nargs="+", metavar="INPUT", help="calibration files")
    c.add_argument("-o", "--output", required=True, help="rig YAML to write")
    c.add_argument("--format", default="auto", choices=_FORMAT_CHOICES, help="input format (default: detect)")
    c.add_argument("--topic-prefix", default="", help="namespace for /<prefix>/<name>/image_raw topics")
    c.add_argument("--world-frame", default="world", help="world frame id (default: world)")
    c.add_argument("--width", type=int, help="image width when a file lacks it (default: 2*cx)")
    c.add_argument("--height", type=int, help="image height when a file lacks it (default: 2*cy)")
    c.add_argument(
        "--scale", type=float, default=1.0,
        help="multiply translations by this to get metres (e.g. 0.001 for millimetres; default 1)",
    )
    c.add_argument("--no-intrinsics", action="store_true",
                   help="write poses only (intrinsics then come from camera_info at run time)")
    c.set_defaults(func=_convert)

    s = sub.add_parser("show", help="print a summary table of a rig file")
    s.add_argument("rig", help="rig YAML")
    s.set_defaults(func=_show)

    p.set_defaults(func=lambda _a: (p.print_help(), 1)[1])


def _convert(args: argparse.Namespace) -> int:
    fmt = {"anipose": "toml", "pose2sim": "toml"}.get(args.format, args.format)
    try:
        rig = convert_to_rig(
            args.inputs, format=fmt, world_frame=args.world_frame, topic_prefix=args.topic_prefix,
            width=args.width, height=args.height, scale=args.scale,
        )
        if args.no_intrinsics:
            for rc in rig.cameras:
                rc.camera = None
        save_rig(rig, args.output, comment="written by: mvpose calib convert " + " ".join(args.inputs))
    except (ValueError, OSError) as exc:
        print(f"mvpose calib convert: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {len(rig)} cameras ({', '.join(rig.names)})")
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        rig = load_rig(args.rig)
    except (ValueError, OSError) as exc:
        print(f"mvpose calib show: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.rig}: world frame {rig.world_frame!r}, {len(rig)} cameras")
    header = f"{'camera':<16} {'size':>11} {'fx':>9} {'fy':>9} {'model':<24} {'centre (m)':<28} image_topic"
    print(header)
    print("-" * len(header))
    for rc in rig.cameras:
        centre = -rc.R.T @ rc.t
        pos = "[" + ", ".join(f"{v:8.3f}" for v in centre) + "]"
        if rc.camera is not None:
            cam = rc.camera
            size = f"{cam.width}x{cam.height}"
            fx, fy = f"{cam.K[0, 0]:.1f}", f"{cam.K[1, 1]:.1f}"
            model = cam.distortion_model + ("" if cam.has_distortion else " (0)")
        else:
            size, fx, fy, model = "-", "-", "-", "(camera_info)"
        print(f"{rc.name:<16} {size:>11} {fx:>9} {fy:>9} {model:<24} {pos:<28} {rc.image_topic}")
    centres = np.array([-rc.R.T @ rc.t for rc in rig.cameras])
    if len(centres) > 1:
        d = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
        print(f"camera baselines: min {d[d > 0].min():.3f} m, max {d.max():.3f} m")
    return 0
