"""MoveNet MultiPose against BlazePose on the built-in sample bags (5 cameras, 640x480), same run.

Usage:
    .venv/bin/python benchmarks/bench_movenet.py [--bag sample_bag] [--sizes 256,320,384]
        [--reps 2] [--no-threads]

Every synchronized set of the bag goes through each variant in turn (interleaved set by set, so
that load changes on a shared machine hit all variants alike), ``--reps`` passes over the bag
after a warm-up set. Per variant: the median wall time of the 2D model per set and per image,
the model-only sets/s, the median of the whole per-set pipeline (model + ``Reconstructor.update``
of that variant's keypoints) as sets/s, and the ratio of that to BlazePose's in the same run
(> 1 = more sets per second than BlazePose).

Variants: BlazePose (its defaults: one graph per camera, ``min(4, cores)`` worker threads);
MoveNet with its defaults (a 256 first pass, 384 again for images with 2+ people; one interpreter
per camera and size, 1 LiteRT thread each, ``min(4, cores)`` worker threads over the cameras);
MoveNet in one pass at each ``--sizes``; unless ``--no-threads``, the MoveNet defaults with
1 worker x 1 LiteRT thread, 1 x 2 and 2 x 2 (the 1-vs-2-threads comparison).
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_sets(bag: Path, topics: list[str]) -> list[tuple[float, list]]:
    """``[(stamp seconds, [BGR image per topic])]`` for every complete set of ``bag``."""
    from ros2_mvpose.io.rosbag_io import read_bag, stamp_to_ns
    from ros2_mvpose.ros.image_conversion import image_msg_to_bgr

    sets: dict[int, dict[str, object]] = {}
    for m in read_bag(bag, topics=topics):
        sets.setdefault(stamp_to_ns(m.msg.header.stamp), {})[m.topic] = image_msg_to_bgr(m.msg)
    return [(ns * 1e-9, [s[t] for t in topics]) for ns, s in sorted(sets.items()) if len(s) == len(topics)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bag", default="sample_bag",
                    help="bag inside sample/ (sample_bag: 1 person, multi_bag: 3)")
    ap.add_argument("--sizes", default="256,320,384", help="MoveNet input sizes (long side, pixels)")
    ap.add_argument("--reps", type=int, default=2, help="passes over the bag")
    ap.add_argument("--no-threads", action="store_true", help="skip the 1-vs-2 LiteRT threads variants")
    args = ap.parse_args()

    from ros2_mvpose.geometry import Reconstructor
    from ros2_mvpose.geometry.rig import load_rig
    from ros2_mvpose.pose2d.blazepose import BlazePoseBackend
    from ros2_mvpose.pose2d.movenet import DEFAULT_FIRST_PASS_SIZE, DEFAULT_INPUT_SIZE, MoveNetBackend

    rig = load_rig(ROOT / "sample" / "rig.yaml")
    sets = load_sets(ROOT / "sample" / args.bag, [c.image_topic for c in rig.cameras])
    n_cams = len(rig.cameras)
    variants: list[tuple[str, object]] = [("BlazePose (defaults)", BlazePoseBackend())]
    variants.append((f"MoveNet defaults ({DEFAULT_FIRST_PASS_SIZE}, then {DEFAULT_INPUT_SIZE} where "
                     "2+ people)", MoveNetBackend()))
    for size in (int(s) for s in args.sizes.split(",")):
        variants.append((f"MoveNet {size} only", MoveNetBackend(input_size=size, first_pass_size=0)))
    if not args.no_threads:
        for workers, threads in ((1, 1), (1, 2), (2, 2)):
            variants.append((f"MoveNet defaults, {workers} worker{'s' if workers > 1 else ''} x "
                             f"{threads} LiteRT thread{'s' if threads > 1 else ''}",
                             MoveNetBackend(num_workers=workers, num_threads=threads)))
    recs = [Reconstructor(rig.to_cameras()) for _ in variants]
    for _, b in variants:  # warm-up: interpreters, graphs, allocations
        b.predict(sets[0][1])
    model: list[list[float]] = [[] for _ in variants]
    total: list[list[float]] = [[] for _ in variants]
    people: list[list[int]] = [[] for _ in variants]
    for rep in range(args.reps):
        for stamp, images in sets:
            for j, (_, b) in enumerate(variants):
                t0 = time.perf_counter()
                kps = b.predict(images)
                t1 = time.perf_counter()
                found = recs[j].update(kps, stamp + rep * 1000.0)
                t2 = time.perf_counter()
                model[j].append(t1 - t0)
                total[j].append(t2 - t0)
                people[j].append(len(found))
    for _, b in variants:
        b.close()

    base = statistics.median(total[0])
    print(f"{args.bag}: {len(sets)} sets x {n_cams} cameras (640x480), {args.reps} passes after a warm-up; "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}\n")
    print("| variant | model ms/set | model ms/image | model sets/s | pipeline sets/s | "
          "sets/s ratio to BlazePose | people per set (median) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (label, _), m, t, p in zip(variants, model, total, people):
        mm, tt = statistics.median(m), statistics.median(t)
        print(f"| {label} | {1e3 * mm:.0f} | {1e3 * mm / n_cams:.1f} | {1 / mm:.2f} | {1 / tt:.2f} | "
              f"{base / tt:.2f} | {statistics.median(p):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
