"""rosbag2 reading/writing through rosbags storage and rclpy CDR, in both storage formats."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from ros2_mvpose.io.rosbag_io import BagError, BagWriter, bag_topics, ns_to_stamp, read_bag, stamp_to_ns
from ros2_mvpose.ros.pointcloud import cloud_to_keypoints, keypoints_to_cloud


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip_keeps_types_stamps_and_payload(tmp_path, storage):
    path = tmp_path / f"bag_{storage}"
    rng = np.random.default_rng(0)
    kps = [rng.uniform(0, 500, (i % 3, 17, 3)) for i in range(6)]
    with BagWriter(path, storage=storage) as w:
        for i, kp in enumerate(kps):
            t = 1_700_000_000_000_000_000 + i * 33_000_000
            h = Header(frame_id="cam1", stamp=ns_to_stamp(t))
            w.write("/cam1/keypoints2d", keypoints_to_cloud(kp, h), t)
            info = CameraInfo(header=h, width=640, height=480, distortion_model="plumb_bob")
            w.write("/cam1/camera_info", info, t)
    topics = bag_topics(path)
    assert topics == {
        "/cam1/keypoints2d": ("sensor_msgs/msg/PointCloud2", 6),
        "/cam1/camera_info": ("sensor_msgs/msg/CameraInfo", 6),
    }
    clouds = [m for m in read_bag(path, topics=["/cam1/keypoints2d"])]
    assert len(clouds) == 6
    for i, m in enumerate(clouds):
        assert m.timestamp_ns == stamp_to_ns(m.msg.header.stamp) == 1_700_000_000_000_000_000 + i * 33_000_000
        np.testing.assert_allclose(cloud_to_keypoints(m.msg), kps[i].astype(np.float32))


def test_missing_and_existing_paths_give_clear_errors(tmp_path):
    with pytest.raises(BagError, match="does not exist"):
        list(read_bag(tmp_path / "nope"))
    (tmp_path / "exists").mkdir()
    with pytest.raises(BagError, match="already exists"):
        BagWriter(tmp_path / "exists")
    with pytest.raises(ValueError, match="storage"):
        BagWriter(tmp_path / "x", storage="rosbag1")


def test_truncated_mcap_yields_what_it_can_then_names_the_file(tmp_path):
    path = tmp_path / "bag"
    with BagWriter(path) as w:
        for i in range(200):
            t = 10**9 + i * 10**7
            kp = np.full((2, 17, 3), float(i))
            w.write("/cam1/keypoints2d", keypoints_to_cloud(kp, Header(stamp=ns_to_stamp(t))), t)
    mcap = next(path.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) // 2])
    got = []
    with pytest.raises(BagError) as err:
        for m in read_bag(path):
            got.append(m)
    assert str(path) in str(err.value) and "truncated" in str(err.value)
    assert 50 < len(got) < 200, len(got)
    # everything before the cut is delivered intact
    for i, m in enumerate(got):
        assert cloud_to_keypoints(m.msg)[0, 0, 0] == pytest.approx(i)
