"""Per-set time of the BlazePose path on the origin's 5 views (1080x1080): conversion, model, 3D.

Usage:
    .venv/bin/python benchmarks/bench_blazepose.py [--reps 10] [--workers 1,2]

Stages, per synchronized set of 5 images (median and mean over ``--reps`` sets, after a warm-up):
* conversion: ``sensor_msgs/Image`` (bgr8) -> BGR numpy (``image_msg_to_bgr``) -> RGB (``to_rgb``);
* model: the 5 MediaPipe graphs (static image mode), once per ``--workers`` value, and once in
  tracking mode (``static_image_mode=False``, same set repeated: its best case); the ratio column
  compares each to the sequential static run (1 worker) measured in the same process;
* reconstruction: ``Reconstructor.update`` on the five cameras (or, where the Reconstructor is not
  available, the robust triangulation alone, as labelled).

Needs ../shared/seed_sample beside the project. Prints a markdown table.
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
SEED = ROOT.parent / "shared" / "seed_sample"


CPU: dict[int, float] = {}


def timed(fn, reps: int) -> tuple[list[float], object]:
    """Wall times of ``reps`` calls after one warm-up; the mean process CPU time goes to CPU[id(list)]."""
    out = fn()  # warm-up
    times: list[float] = []
    c0 = time.process_time()
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    CPU[id(times)] = (time.process_time() - c0) / reps
    return times, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--workers", default="1,2", help="comma-separated thread counts over cameras")
    args = ap.parse_args()
    if not (SEED / "images").is_dir():
        print(f"seed sample not found at {SEED}", file=sys.stderr)
        return 1

    import cv2
    import numpy as np

    from ros2_mvpose.geometry.calibration_io import read_opencv
    from ros2_mvpose.pose2d.blazepose import BlazePoseBackend, to_rgb
    from ros2_mvpose.ros.image_conversion import bgr_to_image_msg, image_msg_to_bgr

    n = 5
    images = [cv2.imread(str(SEED / "images" / f"Camera.00{i}.png")) for i in range(1, n + 1)]
    cams = [read_opencv(SEED / "calibrations" / f"Camera.00{i}.xml").to_camera() for i in range(1, n + 1)]
    msgs = [bgr_to_image_msg(im, encoding="bgr8") for im in images]

    rows: list[tuple[str, list[float], float | None]] = []
    conv_t, rgb = timed(lambda: [to_rgb(image_msg_to_bgr(m), i) for i, m in enumerate(msgs)], args.reps)
    rows.append(("conversion (Image bgr8 -> BGR -> RGB)", conv_t, None))

    # Model variants interleaved set by set, so that load changes on a shared machine hit all alike.
    variants = [(f"model ({w} worker{'s' if w > 1 else ''})", BlazePoseBackend(num_workers=w))
                for w in (int(x) for x in args.workers.split(","))]
    # Tracking mode (detector skipped while tracking holds); the same set repeated = best case.
    variants.append(("model (tracking mode, 1 worker, same set repeated)",
                     BlazePoseBackend(num_workers=1, static_image_mode=False)))
    kp = [b.predict_rgb(rgb) for _, b in variants][0]  # warm-up
    walls: list[list[float]] = [[] for _ in variants]
    cpus = [0.0] * len(variants)
    for _ in range(args.reps):
        for j, (_, b) in enumerate(variants):
            c0, t0 = time.process_time(), time.perf_counter()
            b.predict_rgb(rgb)
            walls[j].append(time.perf_counter() - t0)
            cpus[j] += (time.process_time() - c0) / args.reps
    base = statistics.median(walls[0])
    for (label, b), t, c in zip(variants, walls, cpus):
        CPU[id(t)] = c
        rows.append((label, t, statistics.median(t) / base))
        b.close()

    try:
        from ros2_mvpose.geometry import Reconstructor

        rec = Reconstructor(cams)
        stamp = [0.0]

        def reconstruct():
            stamp[0] += 0.04
            return rec.update(kp, stamp[0])

        label = "reconstruction (Reconstructor.update)"
    except ImportError:
        from ros2_mvpose.geometry.triangulation import triangulate_robust

        P = np.stack([c.projection_matrix for c in cams])

        def reconstruct():
            k = np.stack([a[0] for a in kp])  # (C, 17, 3): one person per view
            uv = np.stack([c.undistort(k[i, :, :2]) for i, c in enumerate(cams)], 1)
            return triangulate_robust(P, uv, k[:, :, 2].T)

        label = "reconstruction (triangulate_robust only: no Reconstructor yet)"
    rec_t, _ = timed(reconstruct, args.reps)
    rows.append((label, rec_t, None))

    omp = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"BlazePose (full, static image mode), {n} views of 1080x1080, {args.reps} sets after a "
          f"warm-up; {os.cpu_count()} CPU cores, OMP_NUM_THREADS={omp}, load average "
          f"{os.getloadavg()[0]:.1f} (CPU ms = process CPU time, all threads)\n")
    print("| stage | median wall ms/set | mean wall ms/set | CPU ms/set | wall ratio to 1 worker |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, t, ratio in rows:
        r = f"{ratio:.2f}" if ratio is not None else ""
        print(f"| {name} | {1e3 * statistics.median(t):.1f} | {1e3 * statistics.mean(t):.1f} | "
              f"{1e3 * CPU[id(t)]:.1f} | {r} |")
    total = statistics.median(conv_t) + base + statistics.median(rec_t)
    print(f"\nper set, 1 worker: {1e3 * total:.0f} ms ({1 / total:.2f} sets/s); model share "
          f"{100 * base / total:.0f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
