"""Grouping of this tree against the grouping of an earlier commit, side by side in one process.

Extracts ``ros2_mvpose/pose2d/grouping.py`` and ``grouping_kernels.py`` of ``--commit`` (git) into
a temporary package, builds synthetic 10-person 512x512 maps with the estimator's own
post-processing (as ``bench_hrnet_estimator.py --group-only``), checks that both give identical
people and scores, and times both as the pipeline runs them (tag boxes from the 1/4 tags +
``parse_heatmaps``, refine on) and as plain ``parse_heatmaps``, calls interleaved. Prints medians
and minima of wall time and of the calling thread's CPU time (the machine is shared: CPU time
is the steadier comparison). The earlier commit's API: ``upsampled_block_bounds(None, tags)``.
Example::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_grouping_vs_commit.py --commit 1f3b348
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ros2_mvpose.pose2d.grouping import parse_heatmaps
from ros2_mvpose.pose2d.higherhrnet_estimator import HigherHRNetEstimator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hrnet_estimator import pipeline_maps  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def load_commit_grouping(commit: str, tmp: Path):
    """The grouping module of ``commit``, importable beside this tree's."""
    pkg = tmp / "grouping_at_commit"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in ("grouping.py", "grouping_kernels.py"):
        src = subprocess.run(["git", "show", f"{commit}:ros2_mvpose/pose2d/{name}"], cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout
        (pkg / name).write_text(src)
    sys.path.insert(0, str(tmp))
    return importlib.import_module("grouping_at_commit.grouping")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--commit", required=True)
    ap.add_argument("--maps", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = load_commit_grouping(args.commit, Path(tmp))
        est = HigherHRNetEstimator(torch.nn.Identity(), input_size=512)
        rng = np.random.default_rng(0)
        maps = [pipeline_maps(est, rng) for _ in range(args.maps)]

        def old_pipeline(heat, tags, low):
            tq = [low.tags.numpy(), low.tags_flipped.numpy()[:, :, ::-1]]
            b = old.upsampled_block_bounds(None, tq)
            for a in (b.tag_min, b.tag_max):
                a[..., 1] = a[low.flip_index, :, :, 1]
            return old.parse_heatmaps(heat, tags, bounds=b)

        variants = {"commit, pipeline": old_pipeline, "this tree, pipeline": est.group,
                    "commit, plain": lambda h, t, lo: old.parse_heatmaps(h, t),
                    "this tree, plain": lambda h, t, lo: parse_heatmaps(h, t)}
        for m in maps:  # first calls (numba compiles or loads its cache) and equality
            outs = [f(*m) for f in variants.values()]
            for people, scores in outs[1:]:
                assert np.array_equal(people, outs[0][0]) and np.array_equal(scores, outs[0][1])
        wall = {k: [] for k in variants}
        cpu = {k: [] for k in variants}
        for _ in range(args.reps):
            for m in maps:
                for k, f in variants.items():
                    t0, c0 = time.perf_counter(), time.thread_time()
                    f(*m)
                    cpu[k].append(time.thread_time() - c0)
                    wall[k].append(time.perf_counter() - t0)
    print(f"{len(maps)} maps x {args.reps} rounds, identical people and scores; ms per image, "
          f"median (min):")
    for k in variants:
        print(f"- {k}: wall {np.median(wall[k]) * 1e3:.2f} ({min(wall[k]) * 1e3:.2f}), "
              f"thread CPU {np.median(cpu[k]) * 1e3:.2f} ({min(cpu[k]) * 1e3:.2f})")
    for what in ("pipeline", "plain"):
        a, b = f"this tree, {what}", f"commit, {what}"
        print(f"- this tree / commit, {what}: wall x{np.median(wall[a]) / np.median(wall[b]):.3f}, "
              f"CPU x{np.median(cpu[a]) / np.median(cpu[b]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
