"""``mvpose export``: 3D tracks from an output bag to CSV, JSON or TRC (OpenSim / Pose2Sim)."""

from __future__ import annotations

from pathlib import Path

from ros2_mvpose.cli.common import fail


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export 3D tracks from a bag written by `mvpose bag` to csv, json or trc",
        description="Reads the /skeletons/points clouds of a bag and writes the tracks for analysis tools.",
    )
    p.add_argument("input", help="bag written by `mvpose bag` (or recorded from the triangulator node)")
    p.add_argument("--format", required=True, choices=["csv", "json", "trc"], help="output format")
    p.add_argument("--out", default=None, help="output file (default: tracks.<format> beside the bag)")
    p.add_argument("--topic", default="/skeletons/points", help="3D points topic (default /skeletons/points)")
    p.add_argument("--up", default="z", choices=["z", "y"], help="world up axis, for TRC's Y-up (default z)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ros2_mvpose.io.rosbag_io import BagError
    from ros2_mvpose.io.tracks import read_tracks_from_bag, write_csv, write_json, write_trc

    try:
        tracks = read_tracks_from_bag(args.input, topic=args.topic)
    except (BagError, ValueError) as exc:
        return fail(str(exc))
    out = Path(args.out) if args.out else Path(args.input).resolve().parent / f"tracks.{args.format}"
    if args.format == "csv":
        write_csv(tracks, out)
        files = [out]
    elif args.format == "json":
        write_json(tracks, out)
        files = [out]
    else:
        files = write_trc(tracks, out, up=args.up)
    print(f"{len(tracks.joints)} tracks over {len(tracks.times)} frames -> {', '.join(map(str, files))}")
    return 0
