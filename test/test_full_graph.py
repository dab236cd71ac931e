"""The whole live graph over real DDS: camera images in, MarkerArray and 3D points out.

Publisher node (sensor_msgs/Image, bgr8, one topic per camera) -> detector_node (real node:
QoS, validation, conversion, sync, worker, keypoint clouds) -> triangulator_node (real node:
CameraInfo, sync, Reconstructor, markers) -> a listener node.

The only stand-in is the 2D model: ``DotPoseBackend`` reads people from images in which each
joint of each person is drawn as a small disc of a unique colour (a deterministic "detector"
whose accuracy is the rasterisation's, ~0.1 px), so the 3D result is checked against truth.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
import rclpy
import ros_helpers
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_helpers import make_executor, stamp_msg, unique_ns, wait_until
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

from ros2_mvpose.geometry.rig import Rig, RigCamera, save_rig
from ros2_mvpose.geometry.synthetic import ring_rig, walking_people
from ros2_mvpose.ros.image_conversion import bgr_to_image_msg
from ros2_mvpose.ros.markers import NS_JOINTS
from ros2_mvpose.ros.pointcloud import cloud_to_skeletons
from ros2_mvpose.skeleton import NUM_JOINTS

pytestmark = pytest.mark.ros
ros_context = ros_helpers.ros_context  # pytest fixture: fresh context on a random domain id

_SHIFT = 4  # cv2 fractional bits: disc centres at 1/16 px


def dot_colour(person: int, joint: int) -> tuple[int, int, int]:
    """BGR colour of a joint's disc: B encodes the person, G the joint, R = 255 marks a dot."""
    return (40 + 50 * person, 8 + 14 * joint, 255)


def render_dots(cam, people: np.ndarray, radius: float = 2.5) -> np.ndarray:
    """A black BGR image of ``cam`` with each joint of ``people`` (N, 17, 3) as a coloured disc."""
    img = np.zeros((cam.height, cam.width, 3), np.uint8)
    uv = cam.project(people.reshape(-1, 3)).reshape(-1, NUM_JOINTS, 2)
    s = 1 << _SHIFT
    for p in range(uv.shape[0]):
        for j in range(NUM_JOINTS):
            c = np.round(uv[p, j] * s).astype(int)
            centre = (int(c[0]), int(c[1]))
            cv2.circle(img, centre, int(round(radius * s)), dot_colour(p, j), -1, cv2.LINE_8, _SHIFT)
    return img


class DotPoseBackend:
    """2D "model" for dot images: centroid of each colour -> (person, joint) keypoint, score 1."""

    name = "dots"

    def __init__(self):
        self.calls = 0

    def predict(self, images):
        self.calls += 1
        out = []
        for img in images:
            mask = img[:, :, 2] == 255
            ys, xs = np.nonzero(mask)
            b = img[ys, xs, 0].astype(int)
            g = img[ys, xs, 1].astype(int)
            person = (b - 40) // 50
            joint = (g - 8) // 14
            n_people = int(person.max()) + 1 if person.size else 0
            kp = np.zeros((n_people, NUM_JOINTS, 3))
            key = person * NUM_JOINTS + joint
            cnt = np.bincount(key, minlength=n_people * NUM_JOINTS)
            sx = np.bincount(key, xs, minlength=n_people * NUM_JOINTS)
            sy = np.bincount(key, ys, minlength=n_people * NUM_JOINTS)
            found = cnt > 0
            kp.reshape(-1, 3)[found, 0] = sx[found] / cnt[found]
            kp.reshape(-1, 3)[found, 1] = sy[found] / cnt[found]
            kp.reshape(-1, 3)[found, 2] = 1.0
            out.append(kp)
        return out


def test_images_in_markers_out(ros_context, tmp_path):
    from ros2_mvpose.nodes.detector_node import DetectorNode
    from ros2_mvpose.nodes.triangulator_node import TriangulatorNode

    ns = unique_ns()
    cams = ring_rig(3, radius=4.0, image_size=(800, 600), focal=900.0, jitter=0.05)
    rig = tmp_path / "rig.yaml"
    save_rig(Rig("world", [RigCamera.from_camera(c, topic_prefix=ns) for c in cams]), rig)
    n_frames, period, t0 = 10, 0.1, 300.0
    seq = walking_people(2, n_frames, fps=1 / period, speed=0.6, seed=5)

    rig_param = Parameter("rig_file", value=str(rig))
    backend = DotPoseBackend()
    det = DetectorNode(backend=backend, context=ros_context,
                       parameter_overrides=[rig_param, Parameter("diagnostics_period", value=0.0)])
    tri = TriangulatorNode(context=ros_context, parameter_overrides=[
        rig_param, Parameter("diagnostics_period", value=0.0), Parameter("camera_timeout", value=2.0)])
    io = rclpy.create_node("full_graph_io", context=ros_context)
    rel = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    img_pubs = [io.create_publisher(Image, c.image_topic, rel) for c in tri.rig.cameras]
    info_pubs = [io.create_publisher(CameraInfo, c.camera_info_topic, rel) for c in tri.rig.cameras]
    markers: list[MarkerArray] = []
    points: list[PointCloud2] = []
    io.create_subscription(MarkerArray, "skeletons/markers", markers.append, rel)
    io.create_subscription(PointCloud2, "skeletons/points", points.append, rel)
    ex = make_executor(ros_context, [det, tri, io])
    stop = threading.Event()
    spinner = threading.Thread(
        target=lambda: [ex.spin_once(timeout_sec=0.02) for _ in iter(stop.is_set, True)])
    spinner.start()
    images = [[render_dots(c, seq.joints[f]) for c in cams] for f in range(n_frames)]
    try:
        assert wait_until(lambda: all(p.get_subscription_count() for p in img_pubs)
                          and all(p.get_subscription_count() for p in det._kp_pubs)
                          and tri.pub_markers.get_subscription_count(), timeout=10.0), "discovery timed out"
        for f in range(n_frames):
            stamp = stamp_msg(t0 + f * period)
            for i, cam in enumerate(cams):
                hdr = Header(stamp=stamp, frame_id=tri.frame_ids[i])
                info = CameraInfo(header=hdr, width=cam.width, height=cam.height,
                                  distortion_model="plumb_bob")
                info.k = [float(v) for v in np.asarray(cam.K).reshape(-1)]
                info.d = [0.0] * 5
                info_pubs[i].publish(info)
                img_pubs[i].publish(bgr_to_image_msg(images[f][i], header=hdr))
            time.sleep(period)
        last = t0 + (n_frames - 1) * period
        assert wait_until(lambda: markers and abs(_sec(markers[-1].markers[0]) - last) < 1e-6
                          if markers and markers[-1].markers else False, timeout=10.0), (
            f"{len(markers)} MarkerArrays; detector sets {det.sets_processed}, triangulator {tri.stats}")
    finally:
        stop.set()
        spinner.join(timeout=5)
        ex.shutdown()
        for n in (det, tri, io):
            n.destroy_node()

    # most sets made it through (the worker may drop a set when the model is busy)
    assert len(markers) >= n_frames - 3 and len(points) == len(markers)
    truth = {round(t0 + f * period, 6): seq.joints[f] for f in range(n_frames)}
    ids = set()
    for arr, cloud in zip(markers, points):
        joints_msgs = [m for m in arr.markers if m.ns == NS_JOINTS and m.action == Marker.ADD]
        assert len(joints_msgs) == 2
        key = round(_sec(joints_msgs[0]), 6)
        assert key in truth, "MarkerArray stamp is not an image stamp"
        for m in joints_msgs:
            assert m.header.frame_id == "world" and len(m.points) == NUM_JOINTS
            xyz = np.array([[p.x, p.y, p.z] for p in m.points])
            err = min(np.abs(xyz - tj).max() for tj in truth[key])
            assert err < 0.02, f"marker joints {err * 1e3:.1f} mm from the nearest true person"
            ids.add(m.id)
        decoded = cloud_to_skeletons(cloud)
        assert sorted(decoded) == sorted(m.id for m in joints_msgs)
    assert len(ids) == 2, f"track ids changed over the sequence: {sorted(ids)}"


def _sec(msg) -> float:
    return msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
