"""The rendered sample: SDF primitives, body model, renderer, rig, bag writer and the committed
``sample/`` folder. Renders only tiny frames (the full sample takes minutes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from ros2_mvpose.sample_render import body, render, rig, scene, sdf
from ros2_mvpose.skeleton import COCO17_LIMBS, NUM_JOINTS

os.environ.setdefault("OMP_NUM_THREADS", "1")

SAMPLE = Path(__file__).resolve().parents[1] / "sample"


# ----------------------------------------------------------------------------- SDF primitives


def test_sphere_and_box_distances_on_known_points():
    p = np.array([[3.0, 0, 0], [1.0, 1.0, 1.0], [1.5, 0, 0]])
    np.testing.assert_allclose(sdf.sphere(p, [1.0, 0, 0], 0.5), [1.5, np.sqrt(1.0 + 1.0) - 0.5, 0.0])
    half = np.array([1.0, 2.0, 3.0])
    q = np.array([[2.0, 0, 0], [0, 0, 0], [2.0, 3.0, 0], [0.5, 0, 0]])
    np.testing.assert_allclose(sdf.box(q, [0, 0, 0], half), [1.0, -1.0, np.sqrt(2.0), -0.5])
    # rotated box: 90 deg about z swaps the x and y extents
    rz = body.rot_z(np.pi / 2)
    np.testing.assert_allclose(sdf.box(np.array([[0, 3.0, 0]]), [0, 0, 0], half, rz), [2.0], atol=1e-12)
    # rounding keeps the outer extent on faces
    np.testing.assert_allclose(sdf.box(np.array([[2.0, 0, 0]]), [0, 0, 0], half, rounding=0.3), [1.0])
    np.testing.assert_allclose(sdf.aabb_distance(q, -half, half), sdf.box(q, [0, 0, 0], half))


def test_round_cone_matches_brute_force_and_capsule():
    """Outside a round cone (the convex hull of its end spheres) the distance is the minimum over
    the interpolated spheres; inside it is negative."""
    rng = np.random.default_rng(1)
    a, b, ra, rb = np.array([0.1, -0.2, 0.3]), np.array([0.6, 0.4, 1.1]), 0.25, 0.08
    p = rng.uniform(-1.5, 2.0, size=(400, 3))
    s = np.linspace(0.0, 1.0, 4001)[:, None]
    centers, radii = a + s * (b - a), ra + s[:, 0] * (rb - ra)
    brute = (np.linalg.norm(p[:, None] - centers[None], axis=2) - radii[None]).min(axis=1)
    d = sdf.round_cone(p, a, b, ra, rb)
    outside = brute > 0
    assert outside.sum() > 300
    np.testing.assert_allclose(d[outside], brute[outside], atol=2e-5)
    assert np.all(d[~outside] <= 1e-9)
    # capsule: perpendicular from the middle, and beyond an end
    np.testing.assert_allclose(sdf.capsule(np.array([[1.0, 0, 0.5]]), [0, 0, 0], [0, 0, 1], 0.2), [0.8])
    np.testing.assert_allclose(sdf.capsule(np.array([[0, 0, 2.0]]), [0, 0, 0], [0, 0, 1], 0.2), [0.8])
    np.testing.assert_allclose(sdf.capsule(np.array([[0, 0, 0.5]]), [0, 0, 0], [0, 0, 1], 0.2), [-0.2])


def test_ellipsoid_exact_on_axes_and_for_spheres():
    rng = np.random.default_rng(2)
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    c, radii = np.array([0.2, -0.1, 0.4]), np.array([0.3, 0.2, 0.1])
    for j in range(3):
        for gap in (0.05, 0.4):
            p = (c + rot[:, j] * (radii[j] + gap))[None]
            np.testing.assert_allclose(sdf.ellipsoid(p, c, radii, rot), [gap], rtol=1e-9)
    np.testing.assert_allclose(sdf.ellipsoid(c[None], c, radii, rot), [-0.0], atol=1e-12)
    p = rng.normal(size=(50, 3))
    np.testing.assert_allclose(sdf.ellipsoid(p, c, [0.3] * 3, rot), sdf.sphere(p, c, 0.3), atol=1e-12)


def test_smooth_union():
    d1, d2 = np.array([0.0, 1.0, 0.5]), np.array([2.0, 1.0, 0.45])
    out = sdf.smooth_union(d1, d2, 0.2)
    np.testing.assert_allclose(out[0], 0.0)  # far apart: plain minimum
    np.testing.assert_allclose(out[1], 1.0 - 0.2 / 4)  # equal: deepest blend
    assert out[2] < 0.45
    np.testing.assert_array_equal(sdf.smooth_union(d1, d2, 0.0), np.minimum(d1, d2))


# ----------------------------------------------------------------------------- body model


def test_body_proportions_and_constant_bone_lengths():
    stand = body.pose_body((0.0, 0.0), 0.0, 0.0, walk_amount=0.0)
    j = stand.joints
    assert j[15, 2] == pytest.approx(0.085) and j[16, 2] == pytest.approx(0.085)
    np.testing.assert_allclose(j[5, 1], -j[6, 1])  # symmetric, left = +y when facing +x
    assert j[5, 1] > 0 and j[11, 1] > 0
    assert 1.30 < j[5, 2] < 1.45 and 0.85 < j[11, 2] < 0.95  # shoulder / hip joint centres
    assert j[0, 0] > j[1, 0] > j[3, 0]  # nose ahead of the eyes, eyes ahead of the ears
    top = stand.head_center[2] + body.HEAD_RADII[2]
    assert 1.66 < top < 1.74

    def lengths(b):
        return np.array([np.linalg.norm(b.joints[x] - b.joints[y]) for x, y in COCO17_LIMBS])

    ref = lengths(stand)
    for t in np.linspace(0.0, 4.0, 17):
        for b in body.people_at(float(t), 3):
            np.testing.assert_allclose(lengths(b) / b.scale, ref, atol=1e-9)
            assert np.min(b.joints[15:17, 2]) == pytest.approx(0.085 * b.scale)


def test_people_stay_apart_and_motion_is_deterministic():
    for t in np.arange(0.0, 4.0, 0.1):
        people = body.people_at(float(t), 3)
        pts = []
        for b in people:
            s = np.linspace(0, 1, 9)[:, None]
            J = b.joints
            pts.append(np.concatenate([J[a] + s * (J[c] - J[a]) for a, c in COCO17_LIMBS if a >= 5]))
        for i in range(3):
            for k in range(i + 1, 3):
                gap = np.linalg.norm(pts[i][:, None] - pts[k][None], axis=2).min()
                assert gap > 0.22, f"people {i} and {k} come within {gap:.2f} m at t={t:.1f}"
    a = body.people_at(1.3, 2, seed=5)
    b = body.people_at(1.3, 2, seed=5)
    np.testing.assert_array_equal(a[1].joints, b[1].joints)
    assert not np.allclose(body.people_at(1.3, 1, seed=6)[0].joints, a[0].joints)
    with pytest.raises(ValueError, match="num_people"):
        body.people_at(0.0, 4)


def test_coco_label_offsets_move_shoulders_and_hips_up_the_torso():
    j = body.people_at(0.7, 1)[0].joints
    c = body.to_coco_labels(j)
    d = c - j
    assert np.all(d[[0, 1, 2, 3, 4, 7, 8, 9, 10, 13, 14, 15, 16]] == 0)
    np.testing.assert_allclose(np.linalg.norm(d[[5, 6]], axis=1), 0.04)
    np.testing.assert_allclose(np.linalg.norm(d[[11, 12]], axis=1), 0.03)
    assert np.all(d[[5, 6, 11, 12], 2] > 0.025)  # upright torso: mostly +z


# ----------------------------------------------------------------------------- rig and renderer


def test_rig_cameras_look_at_the_capture_area():
    cams = rig.sample_rig(640, 480)
    assert [c.name for c in cams] == [f"cam{i}" for i in range(1, 6)]
    for c in cams:
        np.testing.assert_allclose(c.R @ c.R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(c.R) == pytest.approx(1.0)
        r = np.hypot(*c.center[:2])
        assert 2.5 <= r <= 3.5 and 1.5 <= c.center[2] <= 2.5
        uv = c.project(np.array([0.0, 0.0, 0.85]))
        assert abs(uv[0] - 320) < 10 and abs(uv[1] - 240) < 10
    with pytest.raises(ValueError, match="size"):
        rig.sample_rig(8, 8)


def test_rays_reproject_to_their_pixels_with_distortion():
    cam = rig.sample_rig(96, 72)[2]
    assert np.any(cam.dist != 0)
    rays = render.camera_rays(cam)
    idx = np.array([0, 95, 71 * 96, 72 * 96 - 1, 36 * 96 + 48, 1234])
    X = rays.origin + 3.0 * rays.dirs[idx]
    uv = cam.project(X)
    np.testing.assert_allclose(uv, np.stack([idx % 96, idx // 96], axis=1), atol=1e-6)
    try:
        from ros2_mvpose.geometry import Camera
    except ImportError:
        return
    gcam = Camera(cam.name, cam.K, cam.dist, cam.R, cam.t, cam.width, cam.height)
    np.testing.assert_allclose(gcam.project(X), uv, atol=1e-6)


def _render_all(cams, sc):
    return [render.render(c, sc) for c in cams]


def test_render_is_deterministic_and_gt_joints_land_on_the_body():
    """At every projected ground-truth joint the image differs from the same view without
    people, i.e. each joint lies on the person's pixels (the facial features too)."""
    cams = rig.sample_rig(160, 120)
    people = body.people_at(0.8, 1)
    sc = scene.build_scene(people)
    imgs = _render_all(cams, sc)
    again = render.render(cams[0], scene.build_scene(body.people_at(0.8, 1)))
    assert again.tobytes() == imgs[0].tobytes()
    assert imgs[0].shape == (120, 160, 3) and imgs[0].dtype == np.uint8
    empty = _render_all(cams, scene.Scene([]))
    for cam, img, bg in zip(cams, imgs, empty):
        uv = np.round(cam.project(people[0].joints)).astype(int)
        assert np.all((uv >= 0) & (uv < [160, 120])), cam.name
        differs = np.any(img[uv[:, 1], uv[:, 0]] != bg[uv[:, 1], uv[:, 0]], axis=1)
        assert differs.all(), f"{cam.name}: joints {np.nonzero(~differs)[0]} not on the body"
        person_px = np.any(img != bg, axis=2).sum()
        assert 150 < person_px < 0.2 * 160 * 120, cam.name
    # background: sky above the horizon is blue-ish (B > R in BGR), ground below is grey
    sky = empty[0][0, 80]
    assert sky[0] > sky[2]


# ----------------------------------------------------------------------------- bag writer + CLI


def _read_bag(path: Path):
    import importlib

    from rclpy.serialization import deserialize_message
    from rosbags.rosbag2 import Reader

    def msg_class(name: str):
        pkg, kind, cls = name.split("/")
        return getattr(importlib.import_module(f"{pkg}.{kind}"), cls)

    out = []
    with Reader(path) as reader:
        conns = {c.topic: c for c in reader.connections}
        for conn, t_ns, raw in reader.messages():
            msg = deserialize_message(bytes(raw), msg_class(conn.msgtype))
            out.append((conn.topic, conn.msgtype, t_ns, msg))
    return conns, out


def _check_sample(folder: Path, bag: Path, gt_path: Path, rerender_one: bool):
    """Everything a consumer of the sample relies on."""
    from ros2_mvpose.ros.pointcloud import cloud_to_skeletons

    gt = json.loads(gt_path.read_text())
    rig_yaml = yaml.safe_load((folder / "rig.yaml").read_text())
    cams = {c["name"]: c for c in rig_yaml["cameras"]}
    n_frames = len(gt["frames"])
    conns, msgs = _read_bag(bag)
    expected = {f"/{n}/image_raw": "sensor_msgs/msg/Image" for n in cams}
    expected |= {f"/{n}/camera_info": "sensor_msgs/msg/CameraInfo" for n in cams}
    expected |= {"/ground_truth/skeletons": "sensor_msgs/msg/PointCloud2"}
    expected |= {"/ground_truth/skeletons_coco": "sensor_msgs/msg/PointCloud2"}
    assert {t: c.msgtype for t, c in conns.items()} == expected
    assert all(c.msgcount == n_frames for c in conns.values())

    stamps: dict[int, set] = {}
    gt_by_stamp = {f["stamp_ns"]: f for f in gt["frames"]}
    first_image = None
    for topic, _, t_ns, msg in msgs:
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        assert stamp == t_ns
        stamps.setdefault(stamp, set()).add(topic)
        if topic.endswith("camera_info"):
            c = cams[topic.split("/")[1]]
            assert msg.header.frame_id == c["frame_id"]
            assert (msg.width, msg.height) == (c["intrinsics"]["width"], c["intrinsics"]["height"])
            np.testing.assert_allclose(np.reshape(msg.k, (3, 3)), c["intrinsics"]["K"])
            np.testing.assert_allclose(msg.d, c["intrinsics"]["dist"])
            assert msg.distortion_model == c["intrinsics"]["distortion_model"]
        elif topic.endswith("image_raw"):
            c = cams[topic.split("/")[1]]
            assert msg.encoding == "bgr8" and msg.header.frame_id == c["frame_id"]
            assert (msg.width, msg.height, msg.step) == (gt["width"], gt["height"], 3 * gt["width"])
            if first_image is None:
                pixels = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
                first_image = (topic, stamp, pixels)
        else:
            assert msg.header.frame_id == gt["world_frame"]
            key = "joints" if topic == "/ground_truth/skeletons" else "joints_coco"
            skel = cloud_to_skeletons(msg)
            frame = gt_by_stamp[stamp]
            assert sorted(skel) == [p["id"] for p in frame["people"]]
            for p in frame["people"]:
                np.testing.assert_allclose(skel[p["id"]][0], p[key], atol=2e-6)
                np.testing.assert_allclose(skel[p["id"]][1], 1.0)
    assert sorted(stamps) == sorted(gt_by_stamp)
    assert all(len(v) == len(expected) for v in stamps.values())  # one full set per stamp
    dt = np.diff(sorted(stamps)) / 1e9
    np.testing.assert_allclose(dt, 1.0 / gt["fps"], atol=1e-9)

    # the ground truth is what the body model gives for these arguments (sample is up to date)
    for f in gt["frames"]:
        for p, b in zip(f["people"], body.people_at(f["time_s"], gt["people"], gt["seed"])):
            np.testing.assert_allclose(p["joints"], b.joints, atol=2e-6)
            np.testing.assert_allclose(p["joints_coco"], body.to_coco_labels(b.joints), atol=2e-6)

    if rerender_one:  # and so is the first image (allowing last-bit float differences)
        topic, stamp, img = first_image
        cam = {c.name: c for c in rig.sample_rig(gt["width"], gt["height"])}[topic.split("/")[1]]
        t = gt_by_stamp[stamp]["time_s"]
        fresh = render.render(cam, scene.build_scene(body.people_at(t, gt["people"], gt["seed"])))
        diff = np.abs(fresh.astype(int) - img.astype(int))
        assert (diff > 2).mean() < 1e-3, "committed image differs from a fresh render: regenerate sample/"


def test_cli_renders_a_small_bag_that_reads_back(tmp_path):
    from ros2_mvpose.cli import main

    out = tmp_path / "s"
    args = ["sample", "render", "--out", str(out), "--name", "tiny", "--people", "2", "--seconds", "0.4",
            "--fps", "5", "--width", "48", "--height", "36", "--no-progress"]
    assert main(args) == 0
    bag, gt = out / "tiny_bag", out / "tiny_ground_truth.json"
    assert (bag / "metadata.yaml").exists() and (out / "rig.yaml").exists()
    _check_sample(out, bag, gt, rerender_one=True)
    assert len(json.loads(gt.read_text())["frames"][0]["people"]) == 2
    assert main(args) == 2  # exists: refused without --force
    assert main(args + ["--force"]) == 0
    assert main(["sample", "render", "--out", str(out), "--fps", "0", "--no-progress"]) == 2


def test_rig_file_loads_with_the_geometry_rig_loader(tmp_path):
    rig_mod = pytest.importorskip("ros2_mvpose.geometry.rig", reason="geometry.rig not in this build")
    cams = rig.sample_rig(64, 48)
    path = rig.write_rig(cams, tmp_path / "rig.yaml")
    loaded = rig_mod.load_rig(path)
    assert loaded.world_frame == "world"
    for mine, rc in zip(cams, loaded.cameras):
        assert rc.name == mine.name and rc.image_topic == f"/{mine.name}/image_raw"
        np.testing.assert_allclose(rc.R, mine.R)
        np.testing.assert_allclose(rc.t, mine.t)
        np.testing.assert_allclose(rc.camera.K, mine.K)
        np.testing.assert_allclose(rc.camera.dist, mine.dist)


# ----------------------------------------------------------------------------- committed sample


def _committed(name: str):
    bag = SAMPLE / f"{name}_bag"
    gt = SAMPLE / ("ground_truth.json" if name == "sample" else f"{name}_ground_truth.json")
    if not (bag / "metadata.yaml").exists() or not gt.exists():
        pytest.skip(f"committed sample {bag} not present")
    return bag, gt


@pytest.mark.parametrize("name", ["sample", "multi"])
def test_committed_sample_reads_back_and_matches_ground_truth(name):
    bag, gt = _committed(name)
    _check_sample(SAMPLE, bag, gt, rerender_one=(name == "sample"))
    frames = json.loads(gt.read_text())["frames"]
    assert len(frames) >= 10 and all(len(f["people"]) >= 1 for f in frames)
    assert all(len(p["joints"]) == NUM_JOINTS for f in frames for p in f["people"])


def test_committed_sample_is_small_enough():
    if not SAMPLE.exists():
        pytest.skip("sample/ not present")
    size = sum(f.stat().st_size for f in SAMPLE.rglob("*") if f.is_file())
    assert size < 20 * 2**20, f"sample/ is {size / 2**20:.1f} MiB"
