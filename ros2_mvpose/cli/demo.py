"""``mvpose demo``: the full pipeline on the built-in sample, with pictures and a summary.

The offline pipeline (the same synchronizer, 2D backend, Reconstructor and message builders as
the live nodes) replays the sample bag; ``--live`` instead plays the bag over DDS into the real
detector and triangulator nodes and records their output.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from ros2_mvpose.cli.common import add_backend_args, fail, find_sample_dir, make_backend, setup_logging
from ros2_mvpose.skeleton import COCO17_NAMES


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the full pipeline on the built-in sample (what scripts/demo.sh runs)",
        description="Replays the built-in sample through detection, reconstruction and tracking; writes "
        "per-camera overlays, a 3D view, an output bag and a summary with the error against ground truth.",
    )
    p.add_argument("--sample", default=None, help="sample folder (default: the built-in sample/)")
    p.add_argument(
        "--bag",
        default="multi_bag",
        help="bag inside the sample folder: multi_bag (3 people, default) or sample_bag (1 person)",
    )
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out/, replaced)")
    add_backend_args(p)
    p.set_defaults(func=run)


def _read_truth(bag: Path, topic: str = "/ground_truth/skeletons") -> dict[int, dict]:
    """``{stamp_ns: {person: (joints (17, 3), scores)}}`` from a ground-truth topic (empty if absent)."""
    from ros2_mvpose.io.rosbag_io import bag_topics, read_bag, stamp_to_ns
    from ros2_mvpose.ros.pointcloud import cloud_to_skeletons

    if topic not in bag_topics(bag):
        return {}
    return {stamp_to_ns(m.msg.header.stamp): cloud_to_skeletons(m.msg) for m in read_bag(bag, topics=[topic])}


def run(args) -> int:
    import cv2

    from ros2_mvpose.evaluation import ErrorStats, truth_by_stamp
    from ros2_mvpose.geometry.rig import load_rig
    from ros2_mvpose.io.rosbag_io import BagError
    from ros2_mvpose.offline.bag_processing import process_bag
    from ros2_mvpose.visualization import draw_keypoints, render_3d_view, tile_images

    setup_logging()
    try:
        sample = Path(args.sample) if args.sample else find_sample_dir()
        rig = load_rig(sample / "rig.yaml")
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    bag = sample / args.bag
    if not bag.exists():
        return fail(f"sample bag {bag} not found (regenerate with `mvpose sample render`)")
    try:
        backend = make_backend(args)
    except (OSError, ValueError, ImportError) as exc:
        return fail(str(exc))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    out_bag = out / "output_bag"
    if out_bag.exists():
        shutil.rmtree(out_bag)
    truth = _read_truth(bag)
    truth_coco = _read_truth(bag, "/ground_truth/skeletons_coco")  # shoulders/hips where COCO labels them
    stats, stats_coco = ErrorStats(), ErrorStats()
    t_first: list[float] = []
    frames: list[tuple[float, list]] = []
    best = {"n": -1}

    def on_frame(res, images):
        est = [p.joints for p in res.people]
        stats.add_frame(truth_by_stamp(truth, int(round(res.stamp * 1e9))), est)
        if truth_coco:
            stats_coco.add_frame(truth_by_stamp(truth_coco, int(round(res.stamp * 1e9))), est)
        if not t_first:
            t_first.append(res.stamp)
        frames.append((res.stamp, [(p.id, p.joints.copy()) for p in res.people]))
        # keep the set with the most people (latest on ties) for the overlay picture
        if len(res.people) >= best["n"]:
            best.update(
                n=len(res.people),
                images=[None if im is None else im.copy() for im in images],
                kps=res.keypoints2d,
                stamp=res.stamp,
                people=[(p.id, p.joints.copy()) for p in res.people],
            )

    t0 = time.perf_counter()
    try:
        summary = process_bag(bag, rig, out_bag, backend, on_frame=on_frame)
    except (BagError, ValueError) as exc:
        return fail(str(exc))
    wall = time.perf_counter() - t0

    pictures = []
    if best["n"] >= 0:
        tiles = []
        for cam, im, kp in zip(rig.cameras, best["images"], best["kps"]):
            if im is not None:
                tiles.append(
                    draw_keypoints(im, kp, label=f"{cam.name}  t={best['stamp'] - t_first[0]:.2f} s")
                )
        if tiles:
            cv2.imwrite(str(out / "overlays.png"), tile_images(tiles, cols=3, width=480))
            pictures.append(out / "overlays.png")
        centers = np.array([-c.R.T @ c.t for c in rig.cameras])
        trails = {}
        for _, people in frames:
            for tid, j in people:
                hip = np.nanmean(j[[11, 12]], axis=0)
                if np.all(np.isfinite(hip)):
                    trails.setdefault(tid, []).append(hip)
        gt = truth_by_stamp(truth, int(round(best["stamp"] * 1e9)))
        view = render_3d_view(
            best["people"],
            camera_centers=centers,
            ground_truth=gt,
            trails={k: np.array(v) for k, v in trails.items()},
            title=f"t={best['stamp'] - t_first[0]:.2f} s   colour = track id, grey = ground truth",
        )
        cv2.imwrite(str(out / "skeletons_3d.png"), view)
        pictures.append(out / "skeletons_3d.png")

    result = {
        "backend": getattr(backend, "name", "?"),
        "sets": summary.sets,
        "partial_sets": summary.partial_sets,
        "dropped_images": summary.dropped_images,
        "track_ids": sorted(summary.track_ids),
        "max_people_at_once": summary.max_people,
        "true_people_per_frame_max": max((len(v) for v in truth.values()), default=0),
        "person_recall": stats.recall,
        "false_people": stats.false_people,
        "mpjpe_mm": stats.mean_mm,
        "mpjpe_mm_vs_coco_labels": stats_coco.mean_mm if truth_coco else None,
        "per_joint_mm": dict(
            zip(
                COCO17_NAMES,
                [None if not np.isfinite(v) else round(float(v), 1) for v in stats.per_joint_mm],
            )
        ),
        "joint_coverage": stats.joint_coverage,
        "sets_per_second": summary.sets / wall if wall > 0 else 0.0,
        "model_share": summary.model_seconds / wall if wall > 0 else 0.0,
        "output_bag": str(out_bag),
        "pictures": [str(p) for p in pictures],
        "error": summary.error,
    }
    (out / "summary.json").write_text(json.dumps(result, indent=1))
    print()
    print("=== ros2_mvpose demo on the built-in sample ===")
    print(f"2D backend:           {result['backend']}")
    print(
        f"sets processed:       {summary.sets} ({summary.partial_sets} partial, "
        f"{summary.dropped_images} images dropped)"
    )
    print(
        f"people found:         {len(summary.track_ids)} tracks {sorted(summary.track_ids)}, "
        f"at most {summary.max_people} at once (ground truth: {result['true_people_per_frame_max']})"
    )
    if truth:
        print(
            f"person recall:        {100 * stats.recall:.0f}% of true people matched, "
            f"{stats.false_people} false"
        )
        print(
            f"per-joint error:      {stats.mean_mm:.1f} mm mean over {100 * stats.joint_coverage:.0f}% "
            "of joints reconstructed"
        )
        if truth_coco:
            print(f"  against COCO-style labels (shoulders +4 cm, hips +3 cm): {stats_coco.mean_mm:.1f} mm")
        print(stats.table())
    print(
        f"speed:                {result['sets_per_second']:.2f} sets/s "
        f"({100 * (1 - result['model_share']):.0f}% of the time outside the 2D model)"
    )
    print(f"pictures:             {', '.join(map(str, pictures))}")
    print(f"output bag:           {out_bag}  (try: mvpose export {out_bag} --format trc)")
    print(f"summary:              {out / 'summary.json'}")
    if summary.error:
        print(f"ERROR: {summary.error}")
        return 1
    return 0
