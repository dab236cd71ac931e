"""``mvpose images``: one synchronized set of images -> 3D skeletons as JSON plus overlays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ros2_mvpose.cli.common import add_backend_args, fail, make_backend, setup_logging
from ros2_mvpose.skeleton import COCO17_NAMES


def register(sub) -> None:
    p = sub.add_parser(
        "images",
        help="reconstruct 3D skeletons from one synchronized set of images",
        description="Detect 2D poses in one image per rig camera (given in rig order) and "
        "reconstruct 3D skeletons. Writes skeletons.json and one overlay per camera.",
    )
    p.add_argument(
        "--rig", required=True, help="rig file (see docs/rig_file.md; `mvpose calib convert` makes one)"
    )
    p.add_argument("images", nargs="+", help="one image per rig camera, in rig order")
    p.add_argument("--out", default="mvpose_out", help="output folder (default: mvpose_out)")
    p.add_argument("--min-views", type=int, default=2, help="views needed to triangulate a joint (default 2)")
    add_backend_args(p)
    p.set_defaults(func=run)


def skeletons_to_json(people, stamp: float = 0.0) -> dict:
    """JSON-ready dict of reconstructed people (metres; null for joints not reconstructed)."""

    def num(x):
        return None if not np.isfinite(x) else round(float(x), 6)

    return {
        "stamp": stamp,
        "joint_names": list(COCO17_NAMES),
        "people": [
            {
                "id": int(p.id),
                "joints": [[num(v) for v in j] if np.all(np.isfinite(j)) else None for j in p.joints],
                "scores": [num(s) for s in p.scores],
                "reprojection_error_px": [num(e) for e in p.reprojection_error],
            }
            for p in people
        ],
    }


def run(args) -> int:
    import cv2

    from ros2_mvpose.geometry.rig import load_rig
    from ros2_mvpose.offline.pipeline import MultiViewPipeline
    from ros2_mvpose.visualization import draw_keypoints

    setup_logging()
    try:
        rig = load_rig(args.rig)
        cameras = rig.to_cameras()
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    if len(args.images) != len(cameras):
        return fail(
            f"{len(args.images)} images given for {len(cameras)} rig cameras "
            f"({', '.join(c.name for c in cameras)}); give one per camera in rig order"
        )
    images = []
    for path in args.images:
        im = cv2.imread(path, cv2.IMREAD_COLOR)
        if im is None:
            return fail(f"cannot read image {path}")
        images.append(im)
    for cam, im, path in zip(cameras, images, args.images):
        if (im.shape[1], im.shape[0]) != (cam.width, cam.height):
            return fail(
                f"image {path} is {im.shape[1]}x{im.shape[0]} but camera {cam.name} is calibrated "
                f"for {cam.width}x{cam.height}"
            )
    try:
        backend = make_backend(args)
    except (OSError, ValueError, ImportError) as exc:
        return fail(str(exc))
    pipe = MultiViewPipeline(cameras, backend, min_views=args.min_views)
    res = pipe.process(images, 0.0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = skeletons_to_json(res.people)
    doc["keypoints2d"] = {c.name: np.round(k, 3).tolist() for c, k in zip(cameras, res.keypoints2d)}
    (out / "skeletons.json").write_text(json.dumps(doc, indent=1))
    for cam, im, kp in zip(cameras, images, res.keypoints2d):
        cv2.imwrite(str(out / f"overlay_{cam.name}.png"), draw_keypoints(im, kp, label=cam.name))
    n_joints = [int(np.isfinite(p.joints[:, 0]).sum()) for p in res.people]
    print(
        f"{len(res.people)} people reconstructed (joints per person: {n_joints}); wrote {out}/skeletons.json "
        f"and {len(cameras)} overlays"
    )
    return 0
