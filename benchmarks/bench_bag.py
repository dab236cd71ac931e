"""`mvpose bag` throughput on the built-in sample, per 2D backend, and the share of time outside the model.

Usage:
    .venv/bin/python benchmarks/bench_bag.py [--backends blazepose,higherhrnet] [--threads 1]

HigherHRNet runs with the deterministic random weights from ../shared/higherhrnet (no pretrained
weights can be downloaded here): its detections are meaningless, but its cost is that of the real
model at the same input size, which is what this measures. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def hrnet_checkpoint(tmp: Path) -> Path | None:
    det = ROOT.parent / "shared" / "higherhrnet" / "det_weights.py"
    if not det.exists():
        return None
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("det_weights", det)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sd = mod.make_state_dict(str(det.parent / "state_dict_w32_512.json"))
    path = tmp / "pose_higher_hrnet_w32_512.pth"
    torch.save(sd, path)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="blazepose,higherhrnet")
    ap.add_argument("--threads", type=int, default=2, help="torch/OpenCV threads (default 2 = this machine)")
    ap.add_argument("--bag", default=str(ROOT / "sample" / "sample_bag"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from ros2_mvpose.geometry.rig import load_rig
    from ros2_mvpose.offline.bag_processing import process_bag
    from ros2_mvpose.pose2d.select import select_backend

    rig = load_rig(ROOT / "sample" / "rig.yaml")
    rows = []
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for name in args.backends.split(","):
            ckpt = None
            if name == "higherhrnet":
                ckpt = hrnet_checkpoint(tmp)
                if ckpt is None:
                    print("higherhrnet: skipped (../shared/higherhrnet absent)")
                    continue
            backend, reason = select_backend(name, checkpoint=str(ckpt) if ckpt else None)
            print(reason)
            t0 = time.perf_counter()
            s = process_bag(args.bag, rig, tmp / f"out_{name}", backend, progress=False)
            wall = time.perf_counter() - t0
            rows.append((name, s.sets, s.sets / wall, 1.0 - s.model_seconds / wall, s.dropped_images))
    print()
    print(f"`mvpose bag` on {Path(args.bag).name}, {os.cpu_count()} cores, torch threads {args.threads}")
    print()
    print("| backend | sets | sets/s | share of time outside the 2D model | dropped images |")
    print("|---|---|---|---|---|")
    for name, n, sps, share, dropped in rows:
        print(f"| {name} | {n} | {sps:.2f} | {100 * share:.1f}% | {dropped} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
