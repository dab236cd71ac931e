"""`mvpose bag`: a generated rosbag2 in, the nodes' topics out, in both storage formats.

The 2D model is replaced by a deterministic stand-in that reads a frame number encoded in each
image and returns the exact projections of the synthetic people for that camera; everything
else (bag reading, image conversion, synchronisation, CameraInfo handling, reconstruction,
tracking, message builders, bag writing) is the real code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from ros2_mvpose.geometry.rig import Rig
from ros2_mvpose.geometry.synthetic import ring_rig, walking_people
from ros2_mvpose.io.rosbag_io import BagError, BagWriter, bag_topics, ns_to_stamp, read_bag, stamp_to_ns
from ros2_mvpose.offline.bag_processing import keypoints_topic, process_bag
from ros2_mvpose.ros.image_conversion import bgr_to_image_msg
from ros2_mvpose.ros.pointcloud import cloud_to_keypoints, cloud_to_skeletons, skeletons_to_cloud

T0 = 1_700_000_000 * 10**9
PERIOD = 100_000_000  # 10 Hz
N_FRAMES = 12
W, H = 320, 240


class FrameOracle:
    """Stand-in 2D model: pixel (0, 0) holds (frame, camera); returns that view's true projections."""

    name = "oracle"

    def __init__(self, cameras, joints):
        self.cameras, self.joints = cameras, joints

    def predict(self, images):
        out = []
        for im in images:
            f, c = int(im[0, 0, 0]), int(im[0, 0, 1])
            uv = self.cameras[c].project(self.joints[f])
            out.append(np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1))
        return out


def camera_info(cam, header):
    return CameraInfo(
        header=header,
        width=cam.width,
        height=cam.height,
        distortion_model="plumb_bob",
        k=cam.K.reshape(-1).tolist(),
        d=[0.0] * 5,
    )


@pytest.fixture(scope="module")
def scene():
    cams = ring_rig(4, radius=4.0, image_size=(W, H), focal=260.0)
    seq = walking_people(2, N_FRAMES, fps=10.0, area_radius=0.8, seed=3)
    return cams, seq


def write_input_bag(path, scene, storage="mcap", drop=(), bad=(), rig_intrinsics=True):
    cams, seq = scene
    rig = Rig.from_cameras(cams)
    with BagWriter(path, storage=storage) as w:
        for f in range(N_FRAMES):
            t = T0 + f * PERIOD
            for c, cam in enumerate(cams):
                jitter = (c * 7_000_000) % 20_000_000  # stamps differ by up to 20 ms inside a set
                h = Header(frame_id=cam.name, stamp=ns_to_stamp(t + jitter))
                w.write(rig.cameras[c].camera_info_topic, camera_info(cam, h), t + jitter)
                if (f, c) in drop:
                    continue
                img = np.zeros((H, W, 3), np.uint8)
                img[0, 0] = (f, c, 0)
                msg = bgr_to_image_msg(img, h)
                if (f, c) in bad:
                    msg.encoding = "nv21"
                w.write(rig.cameras[c].image_topic, msg, t + jitter)
            gt = skeletons_to_cloud(
                np.arange(seq.n_people),
                seq.joints[f],
                np.ones((seq.n_people, 17)),
                Header(frame_id="world", stamp=ns_to_stamp(t)),
            )
            w.write("/ground_truth/skeletons", gt, t)
    if not rig_intrinsics:
        for rc in rig.cameras:
            rc.camera = None
    return rig


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_round_trip(tmp_path, scene, storage):
    cams, seq = scene
    drop = {(5, 3), (6, 3), (7, 3)}  # camera 3 silent for 3 frames -> partial sets
    bad = {(9, 1)}  # one image with an unsupported encoding
    rig = write_input_bag(tmp_path / "in", scene, storage, drop=drop, bad=bad)
    out = tmp_path / "out"
    s = process_bag(
        tmp_path / "in",
        rig,
        out,
        FrameOracle(cams, seq.joints),
        progress=False,
        camera_timeout=0.25,
        min_cameras=2,
    )
    assert s.error is None and s.bad_images == 1
    assert s.sets == N_FRAMES and s.partial_sets >= 3
    assert len(s.track_ids) == 2 and s.max_people == 2

    topics = bag_topics(out)
    for rc in rig.cameras:
        msgtype, n = topics[keypoints_topic(rc.image_topic)]
        assert msgtype == "sensor_msgs/msg/PointCloud2"
    assert topics["/skeletons/points"] == ("sensor_msgs/msg/PointCloud2", N_FRAMES)
    assert topics["/skeletons/markers"] == ("visualization_msgs/msg/MarkerArray", N_FRAMES)
    assert topics["/ground_truth/skeletons"][1] == N_FRAMES  # copied through

    # 2D clouds carry the source image's header and the model's keypoints
    for m in read_bag(out, topics=[keypoints_topic(rig.cameras[2].image_topic)]):
        f = round((stamp_to_ns(m.msg.header.stamp) - T0) / PERIOD)
        assert m.msg.header.frame_id == cams[2].name
        np.testing.assert_allclose(
            cloud_to_keypoints(m.msg)[:, :, :2], cams[2].project(seq.joints[f]), atol=1e-3
        )

    # 3D points: exact people with two stable ids (after the tracker's confirmation frames)
    ids_seen = []
    frames_with_both = 0
    for m in read_bag(out, topics=["/skeletons/points"]):
        assert m.msg.header.frame_id == rig.world_frame
        f = round((stamp_to_ns(m.msg.header.stamp) * 1e-9 - T0 * 1e-9) / 0.1)
        people = cloud_to_skeletons(m.msg)
        if len(people) == 2:
            frames_with_both += 1
        for pid, (j, _) in people.items():
            err = np.linalg.norm(seq.joints[f][:, None] - j[None], axis=-1).mean(-1).min()
            assert err < 1e-3, (f, pid, err)
        ids_seen.append(sorted(people))
    assert frames_with_both >= N_FRAMES - 2
    assert len({tuple(i) for i in ids_seen if len(i) == 2}) == 1  # the same two ids throughout


def test_missing_camera_info_and_topics_name_the_problem(tmp_path, scene):
    cams, seq = scene
    rig = write_input_bag(tmp_path / "in", scene, rig_intrinsics=False)
    rig.cameras[1].camera_info_topic = "/nowhere/camera_info"
    with pytest.raises(BagError, match="/nowhere/camera_info.*cam"):
        process_bag(tmp_path / "in", rig, tmp_path / "out", FrameOracle(cams, seq.joints), progress=False)
    for rc in rig.cameras:
        rc.image_topic = "/other" + rc.image_topic
    with pytest.raises(BagError, match="none of the rig's image topics"):
        process_bag(tmp_path / "in", rig, tmp_path / "out2", FrameOracle(cams, seq.joints), progress=False)


def test_truncated_input_keeps_everything_processed(tmp_path, scene):
    cams, seq = scene
    rig = write_input_bag(tmp_path / "in", scene)
    mcap = next((tmp_path / "in").glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: int(len(data) * 0.6)])
    s = process_bag(tmp_path / "in", rig, tmp_path / "out", FrameOracle(cams, seq.joints), progress=False)
    assert s.error is not None and "truncated" in s.error and str(tmp_path / "in") in s.error
    assert 0 < s.sets < N_FRAMES
    # the output bag is complete and readable, with every set processed before the damage
    assert bag_topics(tmp_path / "out")["/skeletons/points"][1] == s.sets


def write_compressed_bag(path, scene, formats=("png", "png", "jpg", None), drop=()):
    """Cameras with a format store CompressedImage on ``<image_topic>/compressed`` (image_transport's
    name; the rig's raw topic is absent from the bag), the others raw Images. Pixel block (0..15,
    0..15) holds (frame, camera), uniform so that JPEG keeps it."""
    import cv2
    from sensor_msgs.msg import CompressedImage

    cams, seq = scene
    rig = Rig.from_cameras(cams)
    with BagWriter(path) as w:
        for f in range(N_FRAMES):
            t = T0 + f * PERIOD
            for c, cam in enumerate(cams):
                h = Header(frame_id=cam.name, stamp=ns_to_stamp(t + c * 3_000_000))
                w.write(rig.cameras[c].camera_info_topic, camera_info(cam, h), t)
                if (f, c) in drop:
                    continue
                img = np.zeros((H, W, 3), np.uint8)
                img[:16, :16] = (f * 10, c * 10, 0)
                if formats[c] is None:
                    w.write(rig.cameras[c].image_topic, bgr_to_image_msg(img, h), t)
                else:
                    ok, buf = cv2.imencode("." + formats[c], img)
                    msg = CompressedImage(
                        header=h, format=f"bgr8; {formats[c]} compressed bgr8", data=buf.tobytes()
                    )
                    w.write(rig.cameras[c].image_topic + "/compressed", msg, t)
    return rig


class RoundingOracle(FrameOracle):
    """FrameOracle reading (frame * 10, camera * 10) with rounding (JPEG changes a value by a few)."""

    def predict(self, images):
        out = []
        for im in images:
            f, c = round(im[4, 4, 0] / 10), round(im[4, 4, 1] / 10)
            uv = self.cameras[c].project(self.joints[f])
            out.append(np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1))
        return out


def test_compressed_camera_topics_are_found_and_decoded(tmp_path, scene):
    cams, seq = scene
    rig = write_compressed_bag(tmp_path / "in", scene)
    topics = bag_topics(tmp_path / "in")
    assert topics[rig.cameras[0].image_topic + "/compressed"][0] == "sensor_msgs/msg/CompressedImage"
    s = process_bag(tmp_path / "in", rig, tmp_path / "out", RoundingOracle(cams, seq.joints), progress=False)
    assert s.error is None and s.bad_images == 0 and s.warnings == []
    assert s.sets == N_FRAMES and s.partial_sets == 0 and len(s.track_ids) == 2
    out = bag_topics(tmp_path / "out")
    for rc in rig.cameras:  # keypoints next to the rig's image topic, whatever the transport
        assert out[keypoints_topic(rc.image_topic)][1] == N_FRAMES
    for m in read_bag(tmp_path / "out", topics=[keypoints_topic(rig.cameras[2].image_topic)]):
        f = round((stamp_to_ns(m.msg.header.stamp) - T0) / PERIOD)
        np.testing.assert_allclose(
            cloud_to_keypoints(m.msg)[:, :, :2], cams[2].project(seq.joints[f]), atol=1e-3
        )


def test_a_camera_topic_of_another_type_is_named_with_its_type(tmp_path, scene):
    cams, seq = scene
    rig = write_compressed_bag(tmp_path / "in", scene, formats=(None,) * 4)
    rig.cameras[3].image_topic = rig.cameras[3].camera_info_topic  # wired to the wrong topic
    s = process_bag(tmp_path / "in", rig, tmp_path / "out", RoundingOracle(cams, seq.joints), progress=False)
    assert s.warnings == [
        f"image topic {rig.cameras[3].image_topic} carries sensor_msgs/msg/CameraInfo, not "
        "sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage; camera cam3 is absent "
        "from every set"
    ]
    assert s.sets == N_FRAMES and s.partial_sets == N_FRAMES


def test_last_partial_set_is_processed_at_the_end_of_input(tmp_path, scene):
    """The last frame lacks camera 3: nothing more will come, so it is processed as a partial set."""
    cams, seq = scene
    rig = write_compressed_bag(tmp_path / "in", scene, formats=(None,) * 4, drop={(N_FRAMES - 1, 3)})
    s = process_bag(tmp_path / "in", rig, tmp_path / "out", RoundingOracle(cams, seq.joints), progress=False)
    assert s.sets == N_FRAMES and s.partial_sets == 1
    last = list(read_bag(tmp_path / "out", topics=["/skeletons/points"]))[-1]
    assert round((stamp_to_ns(last.msg.header.stamp) - T0) / PERIOD) == N_FRAMES - 1
    assert len(cloud_to_skeletons(last.msg)) == 2


def test_cli_bag_errors_are_messages_with_exit_codes(tmp_path, scene, capsys):
    from ros2_mvpose.cli import main
    from ros2_mvpose.geometry.rig import save_rig

    cams, seq = scene
    rig = write_input_bag(tmp_path / "in", scene, bad={(f, c) for f in range(N_FRAMES) for c in range(4)})
    save_rig(rig, tmp_path / "rig.yaml")
    base = ["bag", "--rig", str(tmp_path / "rig.yaml"), "--backend", "timing", "--no-progress"]
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    cases = [
        ([str(tmp_path / "missing_bag"), "--out", str(tmp_path / "o1")], 2, "missing_bag"),
        ([str(tmp_path / "in"), "--out", str(blocker / "out")], 2, str(blocker)),  # parent is a file
        ([str(tmp_path / "in"), "--out", str(tmp_path / "in")], 2, "already exists"),
        ([str(tmp_path / "in"), "--out", str(tmp_path / "o2")], 1, "no set was processed"),  # all bad
    ]
    for args, code, text in cases:
        assert main(base[:1] + args + base[1:]) == code, args
        err = capsys.readouterr().err
        assert text in err and "Traceback" not in err, err
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        import os

        if os.access(tmp_path / "ro", os.W_OK):  # root ignores permissions: nothing to test
            return
        assert main(base[:1] + [str(tmp_path / "in"), "--out", str(tmp_path / "ro" / "out")] + base[1:]) == 2
        err = capsys.readouterr().err
        assert "ro/out" in err and "Traceback" not in err
    finally:
        (tmp_path / "ro").chmod(0o700)
