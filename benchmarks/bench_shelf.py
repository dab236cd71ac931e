#!/usr/bin/env python3
"""Shelf benchmark: real OpenPose detections of 5 real cameras through the Reconstructor.

Reads ``../shared/shelf`` (or ``--data``; skips with a message when absent): groups each
view's BODY25 heatmap peaks into people with the part-affinity scores (OpenPose-style greedy
assembly, :func:`shelf_data.group_body25`), maps them to COCO-17, runs
``Reconstructor.update`` with default parameters frame by frame in time order at 25 fps, and
scores PCP per actor and the mean per-joint error. The head joints (bottom and top of head) are
derived by the rule of the 4D Association evaluation (:func:`shelf_data.head_4da`: halfway from
the shoulder centre to the face centre, and a fixed offset along the facing direction and up);
for COCO-17 the face centre is the ear centre, as for the 4D Association output, or the mean of
the defined nose and ears when an ear is undefined (``--head 4da``, default), or always the ear
centre (``--head 4da-ears``: NaN head without both ears), or always the mean of the defined
nose and ears (``--head 4da-mean``); ``--head mvpose``
uses mvpose's nose-and-shoulders rule. The 4D Association method's own output
on the same detections (2020-06 and 2021-01 outputs) is scored by the same code (always with its
own head rule).

Usage: ``python benchmarks/bench_shelf.py [--data DIR] [--parts] [--frames A:B] [--head H]
[--ceiling] [--single-view-distance M] [--param NAME=VALUE ...]``; prints a
markdown table (PCP % per actor 1-4, average over actors 1-3, mean per-joint error in mm of the
defined joints, joints left undefined in matched skeletons of actors 1-3).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import ast  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shelf_data as sd  # noqa: E402

from ros2_mvpose.geometry import Reconstructor  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "shelf"
FPS = 25.0


def load_detections(data: Path, cams) -> list[list[sd.Body25Frame]]:
    """Per frame, per camera: the BODY25 peaks and part-affinity scores."""
    per_cam = [sd.read_detections(data / "detection" / f"{k}.txt", c.width, c.height)
               for k, c in enumerate(cams)]
    n = {len(f) for f in per_cam}
    if len(n) != 1:
        raise ValueError(f"{data / 'detection'}: cameras have different frame counts {sorted(n)}")
    return [list(v) for v in zip(*per_cam, strict=True)]


def load_views(data: Path, cams) -> list[list[np.ndarray]]:
    """Per frame, per camera: (P, 17, 3) COCO-17 keypoints grouped from the BODY25 peaks."""
    return [[sd.body25_to_coco(sd.group_body25(f)) for f in fr] for fr in load_detections(data, cams)]


def reconstruct(cams, views: list[list[np.ndarray]], **params) -> tuple[list[list[np.ndarray]], float]:
    """COCO-17 skeletons (17, 3) per frame from the Reconstructor, and the CPU seconds spent."""
    rec = Reconstructor(cams, **params)
    t0 = time.process_time()
    people_per_frame = [rec.update(v, stamp=i / FPS) for i, v in enumerate(views)]
    cpu = time.process_time() - t0
    return [[p.joints for p in people] for people in people_per_frame], cpu


def ceiling(cams, dets, gt, coco: list[list[np.ndarray]], head: str) -> list[list[np.ndarray]]:
    """Per frame, per annotated actor: the Shelf skeleton of :func:`shelf_data.ceiling_limbs`
    with the face joints of the Reconstructor's skeleton matched to the actor."""
    out = []
    for frames, truth, people in zip(dets, gt, coco, strict=True):
        fr = []
        for g in truth.values():
            X = np.full((17, 3), np.nan)
            if people:
                d = [np.nanmean(np.linalg.norm(sd.coco_to_shelf(p, head) - g[:14], axis=1)) for p in people]
                X[:5] = people[int(np.nanargmin(d))][:5]
            X[sd.COCO_TO_SHELF12] = sd.ceiling_limbs(cams, frames, g)
            fr.append(sd.coco_to_shelf(X, head))
        out.append(fr)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Shelf folder (default ../shared/shelf)")
    ap.add_argument("--parts", action="store_true", help="also print PCP per part and actor")
    ap.add_argument("--frames", default=None, help="frame range A:B (0 = Shelf frame 300)")
    ap.add_argument("--ceiling", action="store_true",
                    help="also score the best limb joints any triangulation of these peaks can give "
                         "(views chosen with the ground truth; the Reconstructor's face joints)")
    ap.add_argument("--single-view-distance", type=float, default=None,
                    help="Reconstructor single_view_distance, metres (default: the Reconstructor's)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="another Reconstructor keyword argument (a Python literal), e.g. smoothing=True; "
                         "repeatable")
    ap.add_argument("--head", choices=sd.HEADS, default="4da",
                    help="COCO -> Shelf head conversion (default: the 4D Association evaluation's)")
    args = ap.parse_args(argv)
    data = args.data.resolve()
    if not (data / "calibration.json").is_file():
        print(f"SKIP: no Shelf data at {data} (needs calibration.json, detection/, gt.txt)")
        return 0
    cams = sd.read_cameras(data / "calibration.json")
    dets = load_detections(data, cams)
    views = [[sd.body25_to_coco(sd.group_body25(f)) for f in fr] for fr in dets]
    gt = sd.read_skeletons(data / "gt.txt", 15)
    fourda = sd.read_skeletons(data / "skel_4da_linux_2020-06.txt", 19)
    fourda21 = sd.read_skeletons(data / "skel_4da_windows_2021-01.txt", 19)
    sl = slice(None)
    if args.frames:
        a, b = (int(x) for x in args.frames.split(":"))
        sl = slice(a, b)
    reconstruct(cams, views[:5])  # compiles the numba kernels (once per machine), not timed
    params = {} if args.single_view_distance is None else {"single_view_distance": args.single_view_distance}
    for item in args.param:
        name, _, value = item.partition("=")
        try:
            params[name.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            ap.error(f"--param {item!r}: expected NAME=VALUE with a Python literal value")
    try:
        coco, cpu = reconstruct(cams, views[sl], **params)
    except (TypeError, ValueError) as exc:
        ap.error(f"Reconstructor parameters {params}: {exc}")
    ours = [[sd.coco_to_shelf(p, args.head) for p in f] for f in coco]
    s_ours = sd.score(ours, gt[sl])
    s_4da = sd.score([[sd.skel19_to_shelf(p) for p in f.values()] for f in fourda[sl]], gt[sl])
    s_4da21 = sd.score([[sd.skel19_to_shelf(p) for p in f.values()] for f in fourda21[sl]], gt[sl])
    print(f"Shelf: {len(views[sl])} frames, {len(cams)} cameras; Reconstructor {cpu:.2f} CPU s "
          f"({len(views[sl]) / cpu:.0f} sets/s)\n")
    print("| method | PCP actor 1 | actor 2 | actor 3 | actor 4 | average 1-3 | "
          "mean per-joint error 1 / 2 / 3 / 4 (mm) | undefined joints 1-3 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    label = ", ".join([f"{k}={v}" for k, v in params.items()] + [f"head {args.head}"])
    print(sd.format_score(f"ros2_mvpose Reconstructor ({label})", s_ours))
    print(sd.format_score("4D Association (2020-06 output)", s_4da))
    print(sd.format_score("4D Association (2021-01 output)", s_4da21))
    if args.ceiling:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN skeletons
            s_ceil = sd.score(ceiling(cams, dets[sl], gt[sl], coco, args.head), gt[sl])
        print(sd.format_score("ceiling: limbs from the peaks and views nearest the truth", s_ceil))
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
