"""In-process keypoint hand-off (``ros2_mvpose.nodes.inprocess``) over real DDS.

Two detector nodes and one triangulator in one process: the first detector (three cameras) is
linked, so the triangulator gets its keypoints straight from the detector's worker thread; the
second (one camera) still reaches the triangulator over DDS, as a detector in another process
would. The same frames run once linked and once all over DDS; the 3D output must be identical
(the hand-off carries the same float32 keypoints as the cloud), every set complete, and the
linked detector must still publish its clouds for other subscribers.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import rclpy
import ros_helpers
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_helpers import make_executor, stamp_msg, unique_ns, wait_until
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header
from test_full_graph import DotPoseBackend, render_dots

from ros2_mvpose.geometry.rig import Rig, RigCamera, save_rig
from ros2_mvpose.geometry.synthetic import ring_rig, walking_people
from ros2_mvpose.nodes.inprocess import link_keypoints, link_nodes
from ros2_mvpose.ros.image_conversion import bgr_to_image_msg
from ros2_mvpose.ros.pointcloud import cloud_to_skeletons

pytestmark = pytest.mark.ros
ros_context = ros_helpers.ros_context

N_FRAMES, PERIOD, T0 = 8, 0.1, 500.0


def _run(ctx, rig_file, images, linked: bool) -> tuple[list[PointCloud2], dict]:
    from ros2_mvpose.geometry.rig import load_rig
    from ros2_mvpose.nodes.detector_node import DetectorNode
    from ros2_mvpose.nodes.triangulator_node import TriangulatorNode

    rig = load_rig(rig_file)
    image_topics = [c.image_topic for c in rig.cameras]
    common = [Parameter("diagnostics_period", value=0.0)]
    det_a, det_b = (
        DetectorNode(backend=DotPoseBackend(), node_name=name, context=ctx,
                     parameter_overrides=common + [Parameter("image_topics", value=topics)])
        for name, topics in (("det_a", image_topics[:3]), ("det_b", image_topics[3:])))
    tri = TriangulatorNode(context=ctx, parameter_overrides=common + [
        Parameter("rig_file", value=str(rig_file)), Parameter("camera_timeout", value=30.0)])
    if linked:
        assert link_keypoints([det_a], tri) == tri.keypoint_topics[:3]
    io = rclpy.create_node("link_io", context=ctx)
    rel = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    pubs = [io.create_publisher(Image, t, rel) for t in image_topics]
    points: list[PointCloud2] = []
    cam0_clouds: list[PointCloud2] = []
    io.create_subscription(PointCloud2, "skeletons/points", points.append, rel)
    io.create_subscription(PointCloud2, tri.keypoint_topics[0], cam0_clouds.append, rel)
    ex = make_executor(ctx, [det_a, det_b, tri, io])
    stop = threading.Event()
    spinner = threading.Thread(
        target=lambda: [ex.spin_once(timeout_sec=0.02) for _ in iter(stop.is_set, True)])
    spinner.start()
    try:
        assert wait_until(lambda: all(p.get_subscription_count() for p in pubs)
                          and tri._subs[3].get_publisher_count()
                          and tri.pub_points.get_subscription_count()
                          and det_a._kp_pubs[0].get_subscription_count(), timeout=15.0), "discovery timed out"
        subscribers = [io.count_subscribers(t) for t in tri.keypoint_topics]
        for f in range(N_FRAMES):
            for i, pub in enumerate(pubs):
                header = Header(stamp=stamp_msg(T0 + f * PERIOD), frame_id=tri.frame_ids[i])
                pub.publish(bgr_to_image_msg(images[f][i], header=header))
            # one frame at a time: no worker ever drops a set, so both runs see every frame
            assert wait_until(lambda f=f: len(points) > f, timeout=20.0), (
                f"frame {f}: {len(points)} outputs; triangulator {tri.stats}")
        assert wait_until(lambda: len(cam0_clouds) >= N_FRAMES, timeout=5.0)
    finally:
        stop.set()
        spinner.join(timeout=5)
        ex.shutdown()
        stats = dict(tri.stats)
        for n in (det_a, det_b, tri, io):
            n.destroy_node()
    return points, {"stats": stats, "subscribers": subscribers, "cam0_clouds": len(cam0_clouds)}


def test_linked_detector_gives_the_same_3d_as_dds(ros_context, tmp_path):
    ns = unique_ns()
    cams = ring_rig(4, radius=4.0, image_size=(640, 480), focal=700.0, jitter=0.05)
    rig_file = tmp_path / "rig.yaml"
    save_rig(Rig("world", [RigCamera.from_camera(c, topic_prefix=ns) for c in cams]), rig_file)
    seq = walking_people(2, N_FRAMES, fps=1 / PERIOD, speed=0.6, seed=3)
    images = [[render_dots(c, seq.joints[f]) for c in cams] for f in range(N_FRAMES)]

    dds, dds_info = _run(ros_context, rig_file, images, linked=False)
    direct, direct_info = _run(ros_context, rig_file, images, linked=True)

    for info in (dds_info, direct_info):
        assert info["stats"]["sets"] == N_FRAMES and info["stats"]["partial_sets"] == 0, info
        assert info["cam0_clouds"] == N_FRAMES  # the clouds are still published for other subscribers
    # linked: the triangulator does not subscribe to the three linked topics (only the test's
    # listener on cam 0 does); over DDS it subscribes to all four
    assert direct_info["subscribers"] == [1, 0, 0, 1] and dds_info["subscribers"] == [2, 1, 1, 1]
    assert len(dds) == len(direct) == N_FRAMES
    for f, (a, b) in enumerate(zip(dds, direct)):
        assert a.header.stamp == b.header.stamp == stamp_msg(T0 + f * PERIOD)
        assert bytes(a.data) == bytes(b.data), f"frame {f}: linked and DDS outputs differ"
    people = cloud_to_skeletons(direct[-1])
    assert len(people) == 2
    err = max(min(np.abs(j - t).max() for t in seq.joints[-1]) for j, _ in people.values())
    assert err < 0.02, f"{err * 1e3:.1f} mm from the nearest true person"


def test_link_nodes_finds_the_pairs(ros_context, tmp_path):
    from ros2_mvpose.nodes.detector_node import DetectorNode
    from ros2_mvpose.nodes.triangulator_node import TriangulatorNode

    cams = ring_rig(3)
    rig_file = tmp_path / "rig.yaml"
    save_rig(Rig("world", [RigCamera.from_camera(c, topic_prefix=unique_ns()) for c in cams]), rig_file)
    rig = Parameter("rig_file", value=str(rig_file))
    det = DetectorNode(context=ros_context, parameter_overrides=[rig, Parameter("backend", value="timing")])
    other = DetectorNode(node_name="other", context=ros_context, parameter_overrides=[
        Parameter("image_topics", value=["/elsewhere/image_raw"]), Parameter("backend", value="timing")])
    tri = TriangulatorNode(context=ros_context, parameter_overrides=[rig])
    try:
        assert link_nodes([det]) == [] and link_nodes([tri]) == []
        assert link_nodes([det, other, tri]) == tri.keypoint_topics  # 'other' shares no topic
        assert len(det.keypoint_sinks) == 1 and other.keypoint_sinks == []
        assert all(s is None for s in tri._subs[:3])
    finally:
        for n in (det, other, tri):
            n.destroy_node()
