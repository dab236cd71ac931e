"""``mvpose bag``: detect and reconstruct people in a rosbag2, writing the nodes' topics."""

from __future__ import annotations

from ros2_mvpose.cli.common import add_backend_args, fail, make_backend, setup_logging
from ros2_mvpose.ros.sync import DEFAULT_SLOP


def register(sub) -> None:
    p = sub.add_parser(
        "bag",
        help="process a rosbag2 (MCAP or sqlite3) into keypoints, markers and 3D points",
        description="Reads the rig's image (and CameraInfo) topics from a rosbag2, synchronizes "
        "them, detects, reconstructs and writes a rosbag2 MCAP with <cam>/keypoints2d, "
        "/skeletons/points and /skeletons/markers in the live nodes' formats.",
    )
    p.add_argument("input", help="input bag directory or .mcap file")
    p.add_argument("--rig", required=True, help="rig file naming the cameras' topics and poses")
    p.add_argument("--out", required=True, help="output bag directory (must not exist)")
    p.add_argument(
        "--storage", default="mcap", choices=["mcap", "sqlite3"], help="output storage (default mcap)"
    )
    p.add_argument(
        "--slop", type=float, default=DEFAULT_SLOP,
        help=f"max stamp spread within a set, s (default {DEFAULT_SLOP})",
    )
    p.add_argument("--min-cameras", type=int, default=2, help="smallest partial set processed (default 2)")
    p.add_argument(
        "--copy-topic",
        action="append",
        default=None,
        help="input topic copied to the output unchanged (repeatable; default /ground_truth/skeletons)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_backend_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ros2_mvpose.geometry.rig import load_rig
    from ros2_mvpose.io.rosbag_io import BagError
    from ros2_mvpose.offline.bag_processing import process_bag

    setup_logging()
    try:
        rig = load_rig(args.rig)
    except OSError as exc:
        return fail(f"rig file {args.rig}: {exc.strerror or exc}")
    except ValueError as exc:
        return fail(str(exc))
    try:
        backend = make_backend(args)
    except (OSError, ValueError, ImportError) as exc:
        return fail(str(exc))
    try:
        summary = process_bag(
            args.input,
            rig,
            args.out,
            backend,
            storage=args.storage,
            slop=args.slop,
            min_cameras=args.min_cameras,
            copy_topics=args.copy_topic or ("/ground_truth/skeletons",),
            progress=not args.no_progress,
        )
    except (BagError, ValueError) as exc:
        return fail(str(exc))
    except OSError as exc:  # any other file-system error: a message, never a traceback
        return fail(f"{exc.filename or args.out}: {exc.strerror or exc}")
    print(summary.report())
    if summary.sets == 0:
        return fail(
            f"no set was processed from {args.input}: no camera images could be synchronized "
            f"and decoded (see the errors above)",
            code=1,
        )
    return 1 if summary.error else 0
