#!/usr/bin/env python3
"""Shelf benchmark: real OpenPose detections of 5 real cameras through the Reconstructor.

Reads ``../shared/shelf`` (or ``--data``; skips with a message when absent): groups each
view's BODY25 heatmap peaks into people with the part-affinity scores (OpenPose-style greedy
assembly, :func:`shelf_data.group_body25`), maps them to COCO-17, runs
``Reconstructor.update`` with default parameters frame by frame in time order at 25 fps, and
scores PCP per actor and the mean per-joint error. The head joints (bottom and top of head) are
derived by the rule of the 4D Association evaluation (:func:`shelf_data.head_4da`: halfway from
the shoulder centre to the face centre, and a fixed offset along the facing direction and up);
for COCO-17 the face centre is the mean of the defined nose and ears (``--head 4da``, default),
or the ear centre (``--head 4da-ears``, the 4D Association output's own rule); ``--head mvpose``
uses mvpose's nose-and-shoulders rule. The 4D Association method's own output
on the same detections is scored by the same code (always with its own head rule).

Usage: ``python benchmarks/bench_shelf.py [--data DIR] [--parts] [--frames A:B] [--head H]``; prints a
markdown table (PCP % per actor 1-4, average over actors 1-3, mean per-joint error in mm of the
defined joints, joints left undefined in matched skeletons of actors 1-3).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shelf_data as sd  # noqa: E402

from ros2_mvpose.geometry import Reconstructor  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "shelf"
FPS = 25.0


def load_views(data: Path, cams) -> list[list[np.ndarray]]:
    """Per frame, per camera: (P, 17, 3) COCO-17 keypoints grouped from the BODY25 peaks."""
    per_cam = []
    for k, cam in enumerate(cams):
        frames = sd.read_detections(data / "detection" / f"{k}.txt", cam.width, cam.height)
        per_cam.append([sd.body25_to_coco(sd.group_body25(f)) for f in frames])
    n = {len(f) for f in per_cam}
    if len(n) != 1:
        raise ValueError(f"{data / 'detection'}: cameras have different frame counts {sorted(n)}")
    return [list(v) for v in zip(*per_cam, strict=True)]


def reconstruct(
    cams, views: list[list[np.ndarray]], head: str = "4da", **params
) -> tuple[list[list[np.ndarray]], float]:
    """Shelf skeletons (14, 3) per frame from the Reconstructor (COCO -> Shelf head conversion
    ``head``), and the CPU seconds spent."""
    rec = Reconstructor(cams, **params)
    out = []
    t0 = time.process_time()
    people_per_frame = [rec.update(v, stamp=i / FPS) for i, v in enumerate(views)]
    cpu = time.process_time() - t0
    for people in people_per_frame:
        out.append([sd.coco_to_shelf(p.joints, head) for p in people])
    return out, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Shelf folder (default ../shared/shelf)")
    ap.add_argument("--parts", action="store_true", help="also print PCP per part and actor")
    ap.add_argument("--frames", default=None, help="frame range A:B (0 = Shelf frame 300)")
    ap.add_argument("--head", choices=sd.HEADS, default="4da",
                    help="COCO -> Shelf head conversion (default: the 4D Association evaluation's)")
    args = ap.parse_args(argv)
    data = args.data.resolve()
    if not (data / "calibration.json").is_file():
        print(f"SKIP: no Shelf data at {data} (needs calibration.json, detection/, gt.txt)")
        return 0
    cams = sd.read_cameras(data / "calibration.json")
    views = load_views(data, cams)
    gt = sd.read_skeletons(data / "gt.txt", 15)
    fourda = sd.read_skeletons(data / "skel_4da_linux_2020-06.txt", 19)
    sl = slice(None)
    if args.frames:
        a, b = (int(x) for x in args.frames.split(":"))
        sl = slice(a, b)
    reconstruct(cams, views[:5])  # compiles the numba kernels (once per machine), not timed
    ours, cpu = reconstruct(cams, views[sl], args.head)
    s_ours = sd.score(ours, gt[sl])
    s_4da = sd.score([[sd.skel19_to_shelf(p) for p in f.values()] for f in fourda[sl]], gt[sl])
    print(f"Shelf: {len(views[sl])} frames, {len(cams)} cameras; Reconstructor {cpu:.2f} CPU s "
          f"({len(views[sl]) / cpu:.0f} sets/s)\n")
    print("| method | PCP actor 1 | actor 2 | actor 3 | actor 4 | average 1-3 | "
          "mean per-joint error 1 / 2 / 3 / 4 (mm) | undefined joints 1-3 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(sd.format_score("ros2_mvpose Reconstructor (defaults)", s_ours))
    print(sd.format_score("4D Association (2020-06 output)", s_4da))
    if args.parts:
        print("\nPCP per part (%), actors 1 / 2 / 3:")
        for k, name in enumerate(sd.PART_NAMES):
            row = []
            for s in (s_ours, s_4da):
                pct = 100 * s.correct[:3, k] / np.maximum(s.frames[:3], 1)
                row.append(" / ".join(f"{v:5.1f}" for v in pct))
            print(f"  {name:12s} ours {row[0]}   4DA {row[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
