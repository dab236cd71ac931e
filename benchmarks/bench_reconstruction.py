#!/usr/bin/env python3
"""Benchmark of the multi-view reconstruction (Reconstructor.update) against a naive per-joint DLT loop.

Scenes are synthetic (``ros2_mvpose.geometry.synthetic``): a ring of cameras (1280x720, f = 1000
px) around people walking on crossing paths, with exact ground truth. Every scene runs twice:
with plumb_bob lens distortion on every camera (the headline: real cameras have it; the input is
raw, distorted pixels) and without (the figure beside it). Every number comes from this run, on
one thread:

* speed: frame sets per CPU second (``time.process_time``, so that other processes on the
  machine count less) of ``Reconstructor.update`` (validation, undistortion, association,
  robust triangulation, reprojection errors, tracking) for 5 cameras x 1 person, 5 x 4 and
  10 x 10, 2 px noise; median of the timing passes;
* baseline: a naive per-joint DLT loop on the same detections, given the ground-truth
  association: for each person, a Python loop over the 17 joints and the cameras, unweighted
  DLT rows of the views whose score >= 0.5, solved by SVD, timed with ``scipy.linalg.svd`` and
  with ``numpy.linalg.svd`` (faster on small matrices); it does not undistort (that would only
  make it slower), and the speed-ups are given against both;
* accuracy: mean per-joint 3D error (mm) with 2 px noise and 10 % gross 2D outliers
  (displaced 40-200 px, confident scores), ours vs the baseline (given ideal pixels);
* compile: the first ``update`` in a fresh process with an empty numba cache (the one-time
  compile after an install) and with the cache filled (every later start).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_reconstruction.py [--quick] [--frames N]
[--no-compile]``; prints a markdown table to paste into BENCHMARKS.md.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy.linalg import svd as scipy_svd  # noqa: E402

from ros2_mvpose.geometry import Reconstructor  # noqa: E402
from ros2_mvpose.geometry.synthetic import render_views, ring_rig, walking_people  # noqa: E402

# plumb_bob k1, k2, p1, p2, k3 of a typical wide-angle lens (a few percent barrel at the corners)
DIST = (-0.25, 0.08, 0.001, -0.0015, -0.01)


def naive_triangulate(points2ds: list[np.ndarray], cammats: list[np.ndarray], svd=scipy_svd) -> np.ndarray:
    """The naive per-joint loop: unweighted DLT over views with score >= 0.5 (SVD: ``svd``).

    ``points2ds[i]`` (17, 3) u, v, score of one person in camera i; returns (17, 3) (NaN where
    fewer than 2 views pass).
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


def make_scene(n_cams: int, n_people: int, n_frames: int, seed: int, noise: float, outliers: float,
               distortion: tuple[float, ...] | None = None):
    big = n_people > 4
    cams = ring_rig(n_cams, radius=7.0 if big else 5.0, jitter=0.05, seed=seed, distortion=distortion)
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


def time_ours(cams, seq, frames) -> float:
    """CPU seconds per frame set of Reconstructor.update (one pass after one warm-up set)."""
    rec = Reconstructor(cams)
    rec.update(frames[0], seq.stamps[0])
    t0 = clock()
    for f in range(1, len(frames)):
        rec.update(frames[f], seq.stamps[f])
    return (clock() - t0) / (len(frames) - 1)


def time_baseline(cammats, binputs, svd=scipy_svd) -> float:
    """CPU seconds per frame set of the naive loop (one pass)."""
    t0 = clock()
    for per in binputs[1:]:
        for pts in per:
            naive_triangulate(pts, cammats, svd)
    return (clock() - t0) / (len(binputs) - 1)


def accuracy(n_people: int, n_frames: int, seed: int, distortion=None) -> dict[str, float]:
    """Mean per-joint error (mm) and completeness with 2 px noise + 10 % outliers, 5 cameras."""
    cams, seq, frames, labels = make_scene(5, n_people, n_frames, seed, noise=2.0, outliers=0.1,
                                           distortion=distortion)
    cammats = [c.projection_matrix for c in cams]
    rec = Reconstructor(cams)
    ours, base = [], []
    n_ours = n_base = n_total = switches = 0
    ident: dict[int, int] = {}  # ground-truth person -> track id
    for f, views in enumerate(frames):
        gt = seq.joints[f]
        people = rec.update(views, seq.stamps[f])
        for p in people:
            d = np.linalg.norm(gt - p.joints[None], axis=-1)  # (N, 17)
            k = int(np.nanargmin(np.nanmean(d, -1)))
            switches += ident.setdefault(k, p.id) != p.id
            ident[k] = p.id
            ok = np.isfinite(d[k])
            ours.append(d[k][ok])
            n_ours += int(ok.sum())
        ideal = [np.concatenate([c.undistort(v[..., :2]), v[..., 2:]], -1)
                 for c, v in zip(cams, views, strict=True)]
        for k, pts in enumerate(baseline_inputs([ideal], [labels[f]], n_people, 5)[0]):
            X = naive_triangulate(pts, cammats)
            d = np.linalg.norm(X - gt[k], axis=-1)
            ok = np.isfinite(d)
            base.append(d[ok])
            n_base += int(ok.sum())
        n_total += n_people * 17
    ours_a, base_a = np.concatenate(ours) * 1000, np.concatenate(base) * 1000
    return {
        "ours_mm": float(ours_a.mean()),
        "base_mm": float(base_a.mean()),
        "ours_median_mm": float(np.median(ours_a)),
        "base_median_mm": float(np.median(base_a)),
        "ours_complete": n_ours / n_total,
        "base_complete": n_base / n_total,
        "id_switches": switches,
    }


_FIRST_CALL = """
import time
t0 = time.perf_counter()
from ros2_mvpose.geometry import Reconstructor
from ros2_mvpose.geometry.synthetic import render_views, ring_rig, walking_people
cams = ring_rig(5, distortion=%r)
seq = walking_people(2, 2)
views = [render_views(cams, seq.joints[f], rng=f)[0] for f in range(2)]
rec = Reconstructor(cams)
t1, c1 = time.perf_counter(), time.process_time()
rec.update(views[0], 0.0)
rec.update(views[1], 0.04)
print(time.perf_counter() - t1, time.process_time() - c1)
"""


def first_call_seconds() -> list[tuple[float, float]]:
    """Wall and CPU seconds of the first two updates (one new, one tracked person set) in a
    fresh process: with an empty numba cache (compile) and then with the cache it filled."""
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for _ in range(2):
            r = subprocess.run([sys.executable, "-c", _FIRST_CALL % (DIST,)], env=env, check=True,
                               capture_output=True, text=True)
            wall, cpu = r.stdout.split()[-2:]
            out.append((float(wall), float(cpu)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300, help="frame sets per speed scenario (default 300)")
    ap.add_argument("--repeats", type=int, default=5, help="timing passes, median kept (default 5)")
    ap.add_argument("--quick", action="store_true", help="fewer frames (smoke test)")
    ap.add_argument("--no-compile", action="store_true", help="skip the first-call (compile) timing")
    args = ap.parse_args(argv)
    n_frames = 40 if args.quick else args.frames
    repeats = 1 if args.quick else args.repeats
    compile_s = None if args.no_compile else first_call_seconds()

    rows = []
    for n_cams, n_people in ((5, 1), (5, 4), (10, 10)):
        nf = max(20, n_frames // 3) if n_people >= 10 else n_frames
        scenes = {d: make_scene(n_cams, n_people, nf, seed=1, noise=2.0, outliers=0.0, distortion=d)
                  for d in (DIST, None)}
        cams, seq, frames, labels = scenes[DIST]
        cammats = [c.projection_matrix for c in cams]
        binputs = baseline_inputs(frames, labels, n_people, n_cams)
        # Interleaved passes (ours distorted and not, both baselines), median of each: load on
        # the machine hits all of them alike.
        t = {k: [] for k in ("dist", "ideal", "scipy", "numpy")}
        for _ in range(repeats):
            t["dist"].append(time_ours(*scenes[DIST][:3]))
            t["ideal"].append(time_ours(*scenes[None][:3]))
            t["scipy"].append(time_baseline(cammats, binputs, scipy_svd))
            t["numpy"].append(time_baseline(cammats, binputs, np.linalg.svd))
        r = {k: 1.0 / float(np.median(v)) for k, v in t.items()}
        rows.append((n_cams, n_people, r))
        print(
            f"{n_cams} cams x {n_people:2d} people: update {r['dist']:7.0f} sets/s with distortion "
            f"({1e6 / r['dist']:6.0f} us), {r['ideal']:7.0f} without; baseline {r['scipy']:6.0f} sets/s "
            f"(scipy svd), {r['numpy']:6.0f} (numpy svd)",
            flush=True,
        )
    acc = [
        ("1 person, distorted", accuracy(1, 60 if args.quick else 200, seed=2, distortion=DIST)),
        ("1 person", accuracy(1, 60 if args.quick else 200, seed=2)),
        ("4 people, distorted", accuracy(4, 30 if args.quick else 150, seed=3, distortion=DIST)),
        ("4 people", accuracy(4, 30 if args.quick else 150, seed=3)),
    ]

    print()
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, one thread, "
          f"CPU time, median of {repeats} passes")
    print()
    print("| Scene (synthetic, 2 px noise) | update, plumb_bob on every camera (sets/s) | update, no "
          "distortion (sets/s) | baseline, scipy SVD (sets/s) | baseline, numpy SVD (sets/s) | "
          "distorted update / baseline (scipy / numpy) |")
    print("|---|---:|---:|---:|---:|---:|")
    for n_cams, n_people, r in rows:
        print(f"| {n_cams} cameras x {n_people} people | {r['dist']:.0f} | {r['ideal']:.0f} | "
              f"{r['scipy']:.0f} | {r['numpy']:.0f} | {r['dist'] / r['scipy']:.1f}x / "
              f"{r['dist'] / r['numpy']:.1f}x |")
    print()
    print("| Accuracy, 5 cameras, 2 px noise + 10 % outliers | Ours | Naive baseline | Ours / baseline |")
    print("|---|---:|---:|---:|")
    for label, a in acc:
        print(f"| {label}: mean per-joint error (mm) | {a['ours_mm']:.1f} | {a['base_mm']:.1f} | "
              f"{a['ours_mm'] / a['base_mm']:.2f} |")
        print(f"| {label}: median per-joint error (mm) | {a['ours_median_mm']:.1f} | "
              f"{a['base_median_mm']:.1f} | {a['ours_median_mm'] / a['base_median_mm']:.2f} |")
        print(f"| {label}: joints reconstructed | {a['ours_complete']:.1%} | {a['base_complete']:.1%} | |")
        print(f"| {label}: id switches (people crossing) | {a['id_switches']} | | |")
    if compile_s is not None:
        print()
        (cw, cc), (ww, wc) = compile_s
        print(f"First two updates in a fresh process: {cw:.1f} s wall / {cc:.1f} s CPU with an empty numba "
              f"cache (the one-time compile), {ww:.2f} s wall / {wc:.2f} s CPU with the cache filled.")
    print()
    print("Targets (distorted): >= 10x the baseline at 5 x 1; >= 1000 sets/s at 5 x 4; >= 150 sets/s at")
    print("10 x 10; mean error <= 1/3 of the baseline's.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
