"""Benchmark the HigherHRNet estimator on one synchronized set of camera images (CPU).

Per set of ``--cameras`` images of ``--size`` x ``--size`` at input 512 with flip test, times
preprocessing, network, post-processing (stage/flip aggregation + projection) and grouping for

* the batched estimator (all images of the set in one network batch),
* the same model one image at a time (baseline, same run),
* optionally the ONNX Runtime path (``--onnx``; needs ``onnx`` + ``onnxruntime``),

and times the grouping alone on synthetic 512x512 maps with 10 people (the weights here are not
trained, so their heatmaps give meaningless, crowded groupings): as the pipeline runs it (refine's
tag boxes from the 1/4 network tags, then :func:`parse_heatmaps`; the maps are made by the
estimator's own post-processing from synthetic network outputs) and plain :func:`parse_heatmaps`,
on the compiled numba kernels, and the plain reference (what runs without numba) on the same
maps in the same run, checked to give identical people and scores.

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


def synthetic_outputs(rng, n_people: int = 10, size: int = 512, dim: int = 2):
    """Network-like outputs of one image and its flipped copy (flip test), 10 people placed with
    ~20 % of their joints missing: ``o0 (2, 34, size/4, size/4)`` (heatmaps + tags at 1/4) and
    ``o1 (2, 17, size/2, size/2)`` (heatmaps at 1/2). Joint blobs have sigma 4 input pixels;
    tags are smooth random backgrounds with each person's tag around its joints (first dimension
    ``1.5 k - 7``, second random: the flipped image's own embedding)."""
    from ros2_mvpose.skeleton import COCO17_FLIP_INDEX

    hq, hh = size // 4, size // 2
    yq, xq = np.mgrid[0:hq, 0:hq].astype(np.float32)
    yh, xh = np.mgrid[0:hh, 0:hh].astype(np.float32)
    heat_q = np.zeros((17, hq, hq), np.float32)
    heat_h = np.zeros((17, hh, hh), np.float32)
    tagq = rng.uniform(-3, 3, (dim, 17, hq, hq)).astype(np.float32)
    tagq = np.stack([[cv2.GaussianBlur(tagq[d, j], (0, 0), 3) for j in range(17)]
                     for d in range(dim)])
    for k in range(n_people):
        ox, oy = rng.uniform(40, size - 40), rng.uniform(40, size - 40)
        tag = [k * 1.5 - 7] + list(rng.uniform(-3, 3, dim - 1))
        for j in range(17):
            if rng.uniform() < 0.8:  # ~20 % of the joints missing: exercises refine
                cx = np.clip(ox + rng.normal(0, 25), 0, size - 1)
                cy = np.clip(oy + rng.normal(0, 40), 0, size - 1)
                amp = rng.uniform(0.3, 0.9)
                for m, ys, xs, f in ((heat_q, yq, xq, 4), (heat_h, yh, xh, 2)):
                    c = ((cx + 0.5) / f - 0.5, (cy + 0.5) / f - 0.5)
                    g = amp * np.exp(-((xs - c[0]) ** 2 + (ys - c[1]) ** 2) * (f * f / 32.0))
                    np.maximum(m[j], g, out=m[j])
                qx, qy = int(cx / 4), int(cy / 4)
                for d in range(dim):
                    tagq[d, j, max(qy - 2, 0):qy + 3, max(qx - 2, 0):qx + 3] = tag[d]
    perm = list(COCO17_FLIP_INDEX)

    def flipped(a):  # the flipped image's output: mirrored, joint channels swapped
        return a[perm][:, :, ::-1]

    noise = 0.01
    o0 = np.stack([np.concatenate([heat_q, tagq[0]]),
                   np.concatenate([flipped(heat_q) + rng.normal(0, noise, heat_q.shape),
                                   flipped(tagq[-1])])]).astype(np.float32)
    o1 = np.stack([heat_h, flipped(heat_h) + rng.normal(0, noise, heat_h.shape)]).astype(np.float32)
    return torch.from_numpy(o0), torch.from_numpy(o1)


def pipeline_maps(est, rng, size: int = 512):
    """Final maps exactly as the estimator builds them from synthetic network outputs:
    ``(heat (17, size, size), tags (17, size, size, 2), low-resolution outputs)``."""
    o0, o1 = synthetic_outputs(rng, size=size)
    with torch.inference_mode():
        heat, tags, low = est._postprocess(o0, o1, 0, 1, (size, size))
        return heat.numpy(), torch.stack(tags, dim=3).numpy(), low


def time_grouping(n_maps: int, reps: int) -> dict:
    """Wall ms per image of the grouping as the pipeline runs it (:meth:`group` = tag boxes
    from the low-resolution outputs + :func:`parse_heatmaps`), and of plain
    :func:`parse_heatmaps` (bounds from one pass over the final maps), each with and without
    refine, on ``n_maps`` synthetic 10-person 512x512 images x ``reps`` rounds (calls
    interleaved; the machine is shared: medians and minima of single calls). The first call
    (compile or load of the kernels from numba's cache) is timed apart as ``first_call_s``; the
    reference (``grouping_reference.parse``) is timed once per map and checked equal."""
    from ros2_mvpose.pose2d import grouping_reference

    est = HigherHRNetEstimator(torch.nn.Identity(), input_size=512)  # official grouping defaults
    est_nr = HigherHRNetEstimator(torch.nn.Identity(), input_size=512, refine=False)
    rng = np.random.default_rng(0)
    maps = [pipeline_maps(est, rng) for _ in range(n_maps)]
    variants = {
        "pipeline": lambda h, t, lo: est.group(h, t, lo),
        "pipeline_no_refine": lambda h, t, lo: est_nr.group(h, t, lo),
        "plain": lambda h, t, lo: parse_heatmaps(h, t),
        "plain_no_refine": lambda h, t, lo: parse_heatmaps(h, t, refine=False),
    }
    t0 = time.perf_counter()
    for fn in variants.values():  # first calls: numba compiles or loads its cache here
        fn(*maps[0])
    first_call = time.perf_counter() - t0
    for det, tags, low in maps:  # warm-up; the paths agree exactly
        ref = parse_heatmaps(det, tags)
        got = est.group(det, tags, low)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for det, tags, low in maps:
            for name, fn in variants.items():
                t0 = time.perf_counter()
                fn(det, tags, low)
                times[name].append(time.perf_counter() - t0)
    out: dict[str, float | int] = {}
    for k, v in times.items():
        out[k] = float(np.median(v)) * 1e3
        out["min_" + k] = min(v) * 1e3
    out["people"] = len(parse_heatmaps(*maps[0][:2])[0])
    out["calls"] = len(times["plain"])
    out["first_call_s"] = first_call
    ref_times = []
    for det, tags, _ in maps:
        t0 = time.perf_counter()
        want = grouping_reference.parse(det, tags)
        ref_times.append(time.perf_counter() - t0)
        got = parse_heatmaps(det, tags)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    out["reference"] = float(np.median(ref_times)) * 1e3
    return out


def grouping_report(reps: int) -> str:
    """Grouping timings (compiled kernels, and the reference once per map), checked identical."""
    from ros2_mvpose.pose2d import grouping

    t0 = time.perf_counter()
    if grouping.accelerator() != "numba":
        return "grouping: numba is not installed, nothing to time (the reference runs)"
    t_import = time.perf_counter() - t0
    g = time_grouping(n_maps=3, reps=reps)
    return "\n".join([
        f"Grouping on synthetic 17x512x512 maps built by the estimator's post-processing from "
        f"synthetic network outputs (2-D tags, 10 people placed, ~20 % joints missing; "
        f"{g['people']} found on the first), official defaults, median (min) of {g['calls']} "
        f"calls per variant (numba import {t_import:.2f} s; identical to the reference):",
        f"- as the pipeline runs it (HigherHRNetEstimator.group: refine's tag boxes from the 1/4 "
        f"stage-0 tags + parse_heatmaps): {g['pipeline']:.1f} ms/image with refine (min "
        f"{g['min_pipeline']:.1f}), {g['pipeline_no_refine']:.1f} (min "
        f"{g['min_pipeline_no_refine']:.1f}) without (target <= 5 ms); plain parse_heatmaps (no "
        f"precomputed bounds): {g['plain']:.1f} (min {g['min_plain']:.1f}) with refine, "
        f"{g['plain_no_refine']:.1f} (min {g['min_plain_no_refine']:.1f}) without; first calls "
        f"{g['first_call_s']:.2f} s",
        f"- the plain reference (what runs without numba): {g['reference']:.0f} ms/image "
        f"(median of 3), x{g['reference'] / g['pipeline']:.0f} the pipeline's grouping"])


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
    ap.add_argument("--group-only", action="store_true", help="only time the grouping")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    group_line = grouping_report(args.group_reps)
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
