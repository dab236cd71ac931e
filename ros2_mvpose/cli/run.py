"""``mvpose run``: start the live detector and triangulator nodes from a parameters file."""

from __future__ import annotations

import argparse
import sys

from ros2_mvpose.nodes.launcher import DEFAULT_PARAMS, EXECUTORS, KEYPOINT_PATHS, LaunchConfig, run


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="start detector_node and triangulator_node (the pip equivalent of ros2 launch)",
        description="Start detector_node and triangulator_node from one ROS 2 parameters file, in this "
        "process (one executor) or as child processes. Stop with Ctrl-C.",
    )
    p.add_argument("--params", default=DEFAULT_PARAMS,
                   help=f"ROS 2 parameters YAML for both nodes (default {DEFAULT_PARAMS})")
    p.add_argument("--rig", default=None, help="rig file; overrides rig_file of both nodes")
    p.add_argument("--checkpoint", default=None, help="HigherHRNet checkpoint; overrides the detector's")
    p.add_argument("--use-sim-time", action="store_true", help="use /clock (replay from bags)")
    p.add_argument("--mode", choices=("inprocess", "processes"), default="inprocess",
                   help="both nodes in this process (default) or one process per node")
    p.add_argument("--executor", choices=EXECUTORS, default="single",
                   help="in-process executor: single (SingleThreadedExecutor, default, the fastest "
                   "for these nodes) or multi (MultiThreadedExecutor)")
    p.add_argument("--keypoints", choices=KEYPOINT_PATHS, default="direct",
                   help="in-process mode: the detector hands its keypoints to the triangulator "
                   "directly (direct, default; the clouds are still published) or only over DDS")
    p.add_argument("--nodes", nargs="+", choices=("detector_node", "triangulator_node"),
                   default=["detector_node", "triangulator_node"], help="start only these nodes")
    p.add_argument("--detector-groups", nargs="+", default=[], metavar="CAM,CAM",
                   help="one detector node per group of rig camera names, e.g. --detector-groups "
                   "cam1,cam2 cam3,cam4,cam5 (nodes detector_node_0, detector_node_1; with --mode "
                   "processes one process each, e.g. one per GPU: -p detector_node_1:device:=cuda:1)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="[NODE:]NAME:=VALUE",
                   help="extra parameter override, e.g. -p slop:=0.03 or -p detector_node:backend:=blazepose")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    cfg = LaunchConfig(
        params_file=args.params,
        rig=args.rig,
        checkpoint=args.checkpoint,
        use_sim_time=args.use_sim_time,
        extra_params=args.param,
        nodes=args.nodes,
        executor=args.executor,
        detector_groups=";".join(args.detector_groups),
        keypoints=args.keypoints,
    )
    try:
        return run(cfg, args.mode)
    except (ValueError, FileNotFoundError) as exc:
        print(f"mvpose run: {exc}", file=sys.stderr)
        return 2
