"""Benchmark the HigherHRNet estimator on one synchronized set of camera images (CPU).

Per set of ``--cameras`` images of ``--size`` x ``--size`` at input 512 with flip test, times
preprocessing, network, post-processing (stage/flip aggregation + projection) and grouping for

* the batched estimator (all images of the set in one network batch),
* the same model one image at a time (baseline, same run),
* optionally the ONNX Runtime path (``--onnx``; needs ``onnx`` + ``onnxruntime``),

and times :func:`parse_heatmaps` alone on synthetic 512x512 maps with 10 people (the weights here
are not trained, so their heatmaps give meaningless, crowded groupings).

Weights: the deterministic reference weights from ``../shared/higherhrnet`` when present, else
random init. Prints a markdown table. Example::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_hrnet_estimator.py --reps 2
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ros2_mvpose.pose2d.grouping import parse_heatmaps
from ros2_mvpose.pose2d.higherhrnet import HigherHRNet
from ros2_mvpose.pose2d.higherhrnet_estimator import HigherHRNetEstimator

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "higherhrnet"


def load_model() -> tuple[torch.nn.Module, str]:
    model = HigherHRNet(32)
    if (SHARED / "det_weights.py").is_file():
        spec = importlib.util.spec_from_file_location("det_weights", SHARED / "det_weights.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        model.load_state_dict(mod.make_state_dict(SHARED / "state_dict_w32_512.json"))
        return model.eval(), "deterministic reference weights"
    return model.eval(), "random init (../shared absent)"


def make_images(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        small = rng.integers(0, 256, (size // 16, size // 16, 3), np.uint8)
        img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        out.append(img)
    return out


def synthetic_maps(rng, n_people=10, h=512, w=512, dim=2):
    """Smooth heatmaps/tags like the real pipeline (tags built at 1/4 and upsampled)."""
    hq, wq = h // 4, w // 4
    ys, xs = np.mgrid[0:h, 0:w]
    det = np.zeros((17, h, w), np.float32)
    tagq = rng.uniform(-3, 3, (17, hq, wq, dim)).astype(np.float32)
    tagq = np.stack([np.stack([cv2.GaussianBlur(tagq[j, :, :, d], (0, 0), 3) for d in range(dim)], -1)
                     for j in range(17)])
    for k in range(n_people):
        ox, oy = rng.uniform(40, w - 40), rng.uniform(40, h - 40)
        tag = np.array([k * 1.5 - 7] + list(rng.uniform(-3, 3, dim - 1)))
        for j in range(17):
            if rng.uniform() < 0.8:  # ~20 % of the joints missing: exercises refine
                cx = np.clip(ox + rng.normal(0, 25), 0, w - 1)
                cy = np.clip(oy + rng.normal(0, 40), 0, h - 1)
                g = rng.uniform(0.3, 0.9) * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 32.0)
                det[j] = np.maximum(det[j], g)
                qx, qy = int(cx / 4), int(cy / 4)
                tagq[j, max(qy - 2, 0):qy + 3, max(qx - 2, 0):qx + 3] = tag
    tags = np.stack([cv2.resize(tagq[j], (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, dim)
                     for j in range(17)])
    return det, tags.astype(np.float32)


def time_grouping(n_maps: int, reps: int) -> dict[str, float | int]:
    """Median wall ms per :func:`parse_heatmaps` call (with / without refine, interleaved) over
    ``n_maps`` synthetic 10-person 512x512 map sets x ``reps`` rounds (the machine is shared:
    the median of many single calls is steadier than one mean), plus people found."""
    rng = np.random.default_rng(0)
    maps = [synthetic_maps(rng) for _ in range(n_maps)]
    for det, tags in maps:  # warm-up
        parse_heatmaps(det, tags)
    times: dict[str, list[float]] = {"refine": [], "no_refine": []}
    for _ in range(reps):
        for det, tags in maps:
            t0 = time.perf_counter()
            parse_heatmaps(det, tags)
            t1 = time.perf_counter()
            parse_heatmaps(det, tags, refine=False)
            times["refine"].append(t1 - t0)
            times["no_refine"].append(time.perf_counter() - t1)
    out: dict[str, float | int] = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    out["min_refine"] = min(times["refine"]) * 1e3
    out["people"] = len(parse_heatmaps(*maps[0])[0])
    return out


def time_sets(fn, reps: int) -> dict[str, float]:
    fn()  # warm-up
    acc: dict[str, float] = {}
    t0 = time.perf_counter()
    for _ in range(reps):
        for k, v in fn().items():
            acc[k] = acc.get(k, 0.0) + v
    acc["total"] = time.perf_counter() - t0
    return {k: v / reps for k, v in acc.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cameras", type=int, default=5)
    ap.add_argument("--size", type=int, default=1080)
    ap.add_argument("--input-size", type=int, default=512)
    ap.add_argument("--reps", type=int, default=1, help="timed sets per variant (after 1 warm-up)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--onnx", action="store_true", help="also time runtime='onnxruntime'")
    ap.add_argument("--no-flip", action="store_true")
    ap.add_argument("--det-threshold", type=float, default=1.5,
                    help="grouping threshold in the pipeline rows: untrained weights give "
                         "hundreds of spurious people at the official 0.1")
    ap.add_argument("--group-reps", type=int, default=10,
                    help="rounds over the synthetic grouping maps")
    ap.add_argument("--group-only", action="store_true", help="only time parse_heatmaps")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    g = time_grouping(n_maps=3, reps=args.group_reps)
    group_line = (f"parse_heatmaps on synthetic 17x512x512 maps, 2-D tags, 10 people placed "
                  f"(~20 % joints missing; {g['people']} found on the first), {args.threads} "
                  f"torch threads, median of {3 * args.group_reps} calls: {g['refine']:.1f} "
                  f"ms/image with refine (min {g['min_refine']:.1f}), {g['no_refine']:.1f} ms "
                  f"without (target <= 5 ms)")
    if args.group_only:
        print(group_line)
        return 0

    model, weights = load_model()
    images = make_images(args.cameras, args.size)
    flip = not args.no_flip
    kw = dict(input_size=args.input_size, flip_test=flip, detection_threshold=args.det_threshold,
              max_people=10)
    est = HigherHRNetEstimator(model, **kw)

    def batched(e=est):
        return e.predict_full(images).timings

    def one_by_one(e=est):
        acc: dict[str, float] = {}
        for img in images:
            for k, v in e.predict_full([img]).timings.items():
                acc[k] = acc.get(k, 0.0) + v
        return acc

    rows = [("torch, batched", time_sets(batched, args.reps)),
            ("torch, one image at a time", time_sets(one_by_one, args.reps))]
    if args.onnx:
        est_ort = HigherHRNetEstimator(model, runtime="onnxruntime", **kw)
        rows.append(("onnxruntime, batched",
                     time_sets(lambda: batched(est_ort), args.reps)))

    print(f"\nHigherHRNet-W32 estimator, {args.cameras} images {args.size}x{args.size}, input "
          f"{args.input_size}, flip {'on' if flip else 'off'}, {args.threads} torch threads, "
          f"{weights}, {args.reps} timed set(s) per row, pipeline grouping threshold "
          f"{args.det_threshold}\n")
    print("| variant | pre ms/set | net ms/set | post ms/set | group ms/set | total ms/set | sets/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {t['pre'] * 1e3:.0f} | {t['net'] * 1e3:.0f} | {t['post'] * 1e3:.0f} | "
              f"{t['group'] * 1e3:.0f} | {t['total'] * 1e3:.0f} | {1 / t['total']:.3f} |")
    base = rows[1][1]["total"]
    for name, t in rows:
        print(f"\n{name}: throughput x{base / t['total']:.2f} vs one image at a time"
              + (" (target >= 1.3x)" if name == "torch, batched" else ""), end="")
    print(f"\n\n{group_line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
