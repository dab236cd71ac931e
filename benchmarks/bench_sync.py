"""Set quality of the package synchronizer against message_filters' ApproximateTimeSynchronizer.

Usage:
    .venv/bin/python benchmarks/bench_sync.py [--seeds 5] [--seconds 20] [--slop 0.015 0.05]

Realistic rig streams (``test/sync_reference.py``): 5 cameras at 30 Hz, stamp jitter +-5 ms,
5 % of the images dropped, arrival delays 1-60 ms, camera 2 silent for 2 s; arrival either
independent per image (images of one camera may overtake each other) or in stamp order per camera
(``fifo``: one DDS writer per camera). The same streams go through

* **message_filters**: its Python ``ApproximateTimeSynchronizer`` policy, re-stated without rclpy
  (``test/sync_reference.py``, from ros2/message_filters ``src/message_filters/__init__.py``);
* **package**: ``ros2_mvpose.ros.sync.ApproximateTimeSync`` with full sets only (as message_filters);
* **package partial**: the same with ``min_inputs=2`` (partial sets while a camera is silent).

Prints, per slop and arrival model, the sets whose images all come from one capture frame
(single), the sets mixing frames (mixed), the total, the median and p99 latency (receive time of
the set minus its newest stamp) and the processing time per image, summed/pooled over the seeds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))


def main() -> int:
    from sync_reference import StreamSpec, realistic_stream, run_message_filters, run_package

    from ros2_mvpose.ros.sync import DEFAULT_SLOP

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=20.0, help="stream length per seed, s")
    ap.add_argument("--slop", type=float, nargs="+", default=[DEFAULT_SLOP, 0.05])
    args = ap.parse_args()

    print(f"{args.seeds} seeds x {args.seconds:g} s of 5 cameras at 30 Hz (jitter +-5 ms, 5 % drops, "
          "1-60 ms delays, camera 2 silent 8-10 s)")
    print(f"{'slop':>6} {'arrival':>11} {'synchronizer':>18} {'single':>7} {'mixed':>6} {'total':>6} "
          f"{'lat_med_ms':>10} {'lat_p99_ms':>10} {'us/image':>8}")
    ok = True
    for slop in args.slop:
        for fifo in (False, True):
            spec = StreamSpec(seconds=args.seconds, fifo=fifo)
            rows = {"message_filters": [], "package": [], "package partial": []}
            n_images = 0
            for seed in range(args.seeds):
                stream = realistic_stream(spec, seed)
                n_images += len(stream)
                rows["message_filters"].append(run_message_filters(stream, spec.n_cameras, slop))
                rows["package"].append(run_package(stream, spec.n_cameras, slop))
                rows["package partial"].append(run_package(stream, spec.n_cameras, slop, min_inputs=2))
            totals = {}
            for name, runs in rows.items():
                single = sum(r.single_frame for r in runs)
                mixed = sum(r.mixed for r in runs)
                lat = sorted(x for r in runs for x in r.latency)
                med = 1e3 * statistics.median(lat) if lat else float("nan")
                p99 = 1e3 * lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan")
                us = 1e6 * sum(r.seconds for r in runs) / max(1, n_images)
                totals[name] = (single, mixed)
                arrival = "in order" if fifo else "independent"
                print(f"{slop:6.3f} {arrival:>11} {name:>18} {single:7d} {mixed:6d} {single + mixed:6d} "
                      f"{med:10.1f} {p99:10.1f} {us:8.1f}")
            mf, pkg = totals["message_filters"], totals["package"]
            verdict = pkg[0] >= mf[0] and pkg[1] <= mf[1]
            ok &= verdict
            print(f"{'':>6} {'':>11} {'package vs mf':>18} single {pkg[0] / max(1, mf[0]):.2f}x, "
                  f"mixed {pkg[1]} vs {mf[1]}: {'OK' if verdict else 'WORSE'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
