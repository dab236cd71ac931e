#!/usr/bin/env python3
"""Benchmark of the multi-view reconstruction (Reconstructor.update) against the origin's method.

Scenes are synthetic (``ros2_mvpose.geometry.synthetic``): a ring of cameras (1280x720, f = 1000
px, no lens distortion, like the origin's sample) around people walking on crossing paths, with
exact ground truth. Every number comes from this run, on one thread:

* speed: frame sets per CPU second (``time.process_time``, so that other processes on the
  machine do not count) of ``Reconstructor.update`` (association + robust triangulation
  + tracking) for 5 cameras x 1 person, 5 x 4 and 10 x 10, 2 px noise;
* baseline: the origin's method on the same frames, given the ground-truth association (it has
  none): for each person, a Python loop over the 17 joints and the cameras, unweighted DLT
  rows of the views whose score >= 0.5, solved by SVD: timed twice, with ``scipy.linalg.svd``
  (what the origin used) and with ``numpy.linalg.svd`` (faster on small matrices), and the
  speed-ups are given against both;
* accuracy: mean per-joint 3D error (mm) with 2 px noise and 10 % gross 2D outliers
  (displaced 40-200 px, confident scores), ours vs the baseline.

Usage: ``python benchmarks/bench_reconstruction.py [--quick] [--frames N]``; prints a markdown
table to paste into BENCHMARKS.md. Default run: well under a minute.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy.linalg import svd as scipy_svd  # noqa: E402

from ros2_mvpose.geometry import Reconstructor  # noqa: E402
from ros2_mvpose.geometry.synthetic import render_views, ring_rig, walking_people  # noqa: E402
from ros2_mvpose.geometry.triangulation import Triangulator  # noqa: E402


def origin_triangulate(points2ds: list[np.ndarray], cammats: list[np.ndarray], svd=scipy_svd) -> np.ndarray:
    """The origin's per-joint loop: unweighted DLT over views with score >= 0.5 (SVD: ``svd``,
    ``scipy.linalg.svd`` by default as in the origin, or ``numpy.linalg.svd``).

    ``points2ds[i]`` (17, 3) u, v, score of one person in camera i; returns (17, 3) (NaN where
    fewer than 2 views pass, where the origin would have failed).
    """
    out = []
    for keynum in range(17):
        A = []
        for points2d, cammat in zip(points2ds, cammats, strict=True):
            if points2d[keynum][2] < 0.5:
                continue
            u = points2d[keynum][0]
            v = points2d[keynum][1]
            A.append(u * cammat[2] - cammat[0])
            A.append(v * cammat[2] - cammat[1])
        if len(A) < 4:
            out.append(np.full(3, np.nan))
            continue
        vt = svd(A, full_matrices=False)[2]
        out.append(vt[-1][:3] / vt[-1][3])
    return np.array(out)


def make_scene(n_cams: int, n_people: int, n_frames: int, seed: int, noise: float, outliers: float):
    big = n_people > 4
    cams = ring_rig(n_cams, radius=7.0 if big else 5.0, jitter=0.05, seed=seed)
    seq = walking_people(n_people, n_frames, area_radius=2.5 if big else 1.5, seed=seed)
    rng = np.random.default_rng(seed)
    frames, labels = [], []
    for f in range(n_frames):
        v, lab = render_views(cams, seq.joints[f], rng=rng, noise_px=noise, outlier_rate=outliers)
        frames.append(v)
        labels.append(lab)
    return cams, seq, frames, labels


def baseline_inputs(frames, labels, n_people: int, n_cams: int):
    """Per frame, per person: the list of (17, 3) keypoints per camera (score 0 where unseen)."""
    out = []
    for views, labs in zip(frames, labels, strict=True):
        per = []
        for k in range(n_people):
            pts = []
            for c in range(n_cams):
                idx = np.flatnonzero(labs[c] == k)
                pts.append(views[c][idx[0]] if idx.size else np.zeros((17, 3)))
            per.append(pts)
        out.append(per)
    return out


# CPU time of this (single-threaded) process: robust to other processes sharing the cores.
clock = time.process_time


def time_ours(cams, seq, frames, repeats: int) -> float:
    """CPU seconds per frame set of Reconstructor.update (best of ``repeats`` passes)."""
    best = np.inf
    for _ in range(repeats):
        rec = Reconstructor(cams)
        rec.update(frames[0], seq.stamps[0])
        t0 = clock()
        for f in range(1, len(frames)):
            rec.update(frames[f], seq.stamps[f])
        best = min(best, (clock() - t0) / (len(frames) - 1))
    return best


def time_core(cams, binputs, repeats: int) -> float:
    """CPU seconds per frame set of the robust triangulation alone on the same (ground-truth
    associated) input as the baseline: one ``Triangulator.robust`` call for all people."""
    tri = Triangulator(np.stack([c.projection_matrix for c in cams]))
    inputs = []
    for per in binputs:
        a = np.array(per)  # (N, C, 17, 3)
        inputs.append((a[..., :2].transpose(0, 2, 1, 3).reshape(-1, len(cams), 2),
                       a[..., 2].transpose(0, 2, 1).reshape(-1, len(cams))))
    thr = 0.02 * np.hypot(cams[0].width, cams[0].height)
    best = np.inf
    for _ in range(repeats):
        t0 = clock()
        for uv, w in inputs[1:]:
            tri.robust(uv, w, thr)
        best = min(best, (clock() - t0) / (len(inputs) - 1))
    return best


def time_baseline(cammats, binputs, repeats: int, svd=scipy_svd) -> float:
    """CPU seconds per frame set of the origin's method (best of ``repeats`` passes)."""
    best = np.inf
    for _ in range(repeats):
        t0 = clock()
        for per in binputs[1:]:
            for pts in per:
                origin_triangulate(pts, cammats, svd)
        best = min(best, (clock() - t0) / (len(binputs) - 1))
    return best


def accuracy(n_people: int, n_frames: int, seed: int) -> dict[str, float]:
    """Mean per-joint error (mm) and completeness with 2 px noise + 10 % outliers, 5 cameras."""
    cams, seq, frames, labels = make_scene(5, n_people, n_frames, seed, noise=2.0, outliers=0.1)
    cammats = [c.projection_matrix for c in cams]
    rec = Reconstructor(cams)
    ours, base = [], []
    n_ours = n_base = n_total = 0
    for f, (views, _labs) in enumerate(zip(frames, labels, strict=True)):
        gt = seq.joints[f]
        people = rec.update(views, seq.stamps[f])
        for p in people:
            d = np.linalg.norm(gt - p.joints[None], axis=-1)  # (N, 17)
            k = int(np.nanargmin(np.nanmean(d, -1)))
            ok = np.isfinite(d[k])
            ours.append(d[k][ok])
            n_ours += int(ok.sum())
        for k, pts in enumerate(baseline_inputs([views], [labels[f]], n_people, 5)[0]):
            X = origin_triangulate(pts, cammats)
            d = np.linalg.norm(X - gt[k], axis=-1)
            ok = np.isfinite(d)
            base.append(d[ok])
            n_base += int(ok.sum())
        n_total += n_people * 17
    e_ours = float(np.mean(np.concatenate(ours))) * 1000
    e_base = float(np.mean(np.concatenate(base))) * 1000
    return {
        "ours_mm": e_ours,
        "base_mm": e_base,
        "ours_median_mm": float(np.median(np.concatenate(ours))) * 1000,
        "base_median_mm": float(np.median(np.concatenate(base))) * 1000,
        "ours_complete": n_ours / n_total,
        "base_complete": n_base / n_total,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300, help="frame sets per speed scenario (default 300)")
    ap.add_argument("--repeats", type=int, default=3, help="timing passes, best kept (default 3)")
    ap.add_argument("--quick", action="store_true", help="fewer frames (smoke test)")
    args = ap.parse_args(argv)
    n_frames = 40 if args.quick else args.frames
    repeats = 1 if args.quick else args.repeats

    rows = []
    for n_cams, n_people in ((5, 1), (5, 4), (10, 10)):
        nf = max(20, n_frames // 3) if n_people >= 10 else n_frames
        cams, seq, frames, labels = make_scene(n_cams, n_people, nf, seed=1, noise=2.0, outliers=0.0)
        cammats = [c.projection_matrix for c in cams]
        binputs = baseline_inputs(frames, labels, n_people, n_cams)
        # Interleaved passes (ours, core, both baselines), best of each: load on the machine
        # hits all of them alike.
        t_ours = t_core = t_base = t_base_np = np.inf
        for _ in range(repeats):
            t_ours = min(t_ours, time_ours(cams, seq, frames, 1))
            t_core = min(t_core, time_core(cams, binputs, 1))
            t_base = min(t_base, time_baseline(cammats, binputs, 1, scipy_svd))
            t_base_np = min(t_base_np, time_baseline(cammats, binputs, 1, np.linalg.svd))
        rows.append((n_cams, n_people, 1.0 / t_ours, 1.0 / t_core, 1.0 / t_base, 1.0 / t_base_np))
        print(
            f"{n_cams} cams x {n_people:2d} people: update {1 / t_ours:7.0f} sets/s "
            f"({t_ours * 1e6:6.0f} us), "
            f"triangulation only {1 / t_core:7.0f} sets/s, baseline {1 / t_base:6.0f} sets/s (scipy svd), "
            f"{1 / t_base_np:6.0f} sets/s (numpy svd)",
            flush=True,
        )
    acc1 = accuracy(1, 60 if args.quick else 200, seed=2)
    acc4 = accuracy(4, 30 if args.quick else 100, seed=3)

    print()
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, one thread, "
          "CPU time")
    print()
    print("| Scene (synthetic, 2 px noise) | Reconstructor.update (sets/s) | Robust triangulation only "
          "(sets/s) | Baseline, scipy SVD (sets/s) | Baseline, numpy SVD (sets/s) | update / baseline "
          "(scipy / numpy) | triangulation / baseline (scipy / numpy) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n_cams, n_people, s_ours, s_core, s_base, s_base_np in rows:
        print(f"| {n_cams} cameras x {n_people} people | {s_ours:.0f} | {s_core:.0f} | {s_base:.0f} | "
              f"{s_base_np:.0f} | {s_ours / s_base:.1f}x / {s_ours / s_base_np:.1f}x | "
              f"{s_core / s_base:.1f}x / {s_core / s_base_np:.1f}x |")
    print()
    print("| Accuracy, 5 cameras, 2 px noise + 10 % outliers | Ours | Origin baseline | Ours / baseline |")
    print("|---|---:|---:|---:|")
    for label, acc in (("1 person", acc1), ("4 people", acc4)):
        print(
            f"| {label}: mean per-joint error (mm) | {acc['ours_mm']:.1f} | {acc['base_mm']:.1f} | "
            f"{acc['ours_mm'] / acc['base_mm']:.2f} |"
        )
        print(
            f"| {label}: median per-joint error (mm) | {acc['ours_median_mm']:.1f} | "
            f"{acc['base_median_mm']:.1f} | {acc['ours_median_mm'] / acc['base_median_mm']:.2f} |"
        )
        print(
            f"| {label}: joints reconstructed | {acc['ours_complete']:.1%} | {acc['base_complete']:.1%} | |"
        )
    print()
    print("Baseline: the origin's per-joint loop (views with score >= 0.5, unweighted DLT, SVD) given the")
    print("ground-truth association, timed with scipy.linalg.svd (the origin's) and numpy.linalg.svd;")
    print("accuracy uses the scipy one. Reconstructor.update: validation, association (tracking prior +")
    print("epipolar clustering), robust triangulation and tracking. Triangulation only: one")
    print("Triangulator.robust call per frame set on the baseline's input (same job as the baseline).")
    print("Targets: >= 1000 sets/s at 5 x 4; >= 10x baseline at 5 x 1; error <= 1/3 of the baseline's.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
