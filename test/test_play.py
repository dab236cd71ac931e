"""`mvpose play`: a bag's messages published live over DDS with their timing and /clock."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo, PointCloud2  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from ros2_mvpose.io.rosbag_io import BagWriter, ns_to_stamp, stamp_to_ns  # noqa: E402
from ros2_mvpose.offline.bag_player import play_bag  # noqa: E402
from ros2_mvpose.ros.pointcloud import cloud_to_keypoints, keypoints_to_cloud  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def context():
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx, domain_id=100 + (os.getpid() % 60))
    yield ctx
    rclpy.shutdown(context=ctx)


def _keypoint_bag(path, n: int, period_ns: int, t0: int = 10**9, info_topic: str | None = None,
                  storage: str = "mcap"):
    """A bag of ``n`` /cam1/keypoints2d clouds (joint values = frame index), ``period_ns`` apart,
    with a CameraInfo on ``info_topic`` at each stamp when given."""
    with BagWriter(path, storage=storage) as w:
        for i in range(n):
            t = t0 + i * period_ns
            h = Header(frame_id="cam1", stamp=ns_to_stamp(t))
            w.write("/cam1/keypoints2d", keypoints_to_cloud(np.full((1, 17, 3), float(i)), h), t)
            if info_topic:
                w.write(info_topic, CameraInfo(header=h, width=640, height=480), t)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_play_publishes_with_timing_and_clock(tmp_path, context, storage):
    path = tmp_path / "bag"
    t0 = 1_000 * 10**9
    n, period = 8, 100_000_000  # 10 Hz
    _keypoint_bag(path, n, period, t0, info_topic="/cam1/camera_info", storage=storage)

    sub_node = rclpy.create_node("play_listener", context=context)
    got, clocks = [], []
    sub_node.create_subscription(
        PointCloud2, "/cam1/keypoints2d", lambda m: got.append((time.monotonic(), m)), 50
    )
    sub_node.create_subscription(CameraInfo, "/cam1/camera_info", lambda m: None, 50)
    sub_node.create_subscription(Clock, "/clock", lambda m: clocks.append(stamp_to_ns(m.clock)), 500)
    ex = SingleThreadedExecutor(context=context)
    ex.add_node(sub_node)
    stop = threading.Event()
    spinner = threading.Thread(
        target=lambda: [ex.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)]
    )
    spinner.start()
    pub_node = rclpy.create_node("mvpose_play", context=context)
    try:
        count = play_bag(pub_node, path, rate=1.0, wait_for_subscribers=5.0)
        assert count == 2 * n
        time.sleep(0.5)
    finally:
        stop.set()
        spinner.join()
        ex.shutdown()
        pub_node.destroy_node()
        sub_node.destroy_node()
    assert len(got) == n, f"{len(got)} of {n} clouds arrived"
    values = [cloud_to_keypoints(m)[0, 0, 0] for _, m in got]
    assert values == sorted(values) and values[-1] == n - 1
    stamps = [stamp_to_ns(m.header.stamp) for _, m in got]
    assert all(s in {t0 + i * period for i in range(n)} for s in stamps)
    # original timing: arrival spacing follows the 10 Hz stamps
    arrivals = np.array([a for a, _ in got])
    gaps = np.diff(arrivals)
    assert np.median(gaps) == pytest.approx(0.1, abs=0.03)
    # /clock carries bag time, monotonically, covering the bag
    assert clocks and np.all(np.diff(clocks) >= 0)
    assert clocks[0] >= t0 and clocks[-1] == t0 + (n - 1) * period


class _FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, dt: float) -> None:
        self.now += dt


@pytest.mark.parametrize("found_at, timeout, settle, expected_end, expected_idle", [
    ({"a": 0.3, "b": 0.8}, 5.0, 1.0, 1.8, ["c"]),          # c nobody's: 1 s after b, not 5 s
    ({"a": 0.3, "b": 0.8, "c": 1.5}, 5.0, 1.0, 1.5, []),   # all found: go at once
    ({}, 3.0, 1.0, 3.0, ["a", "b", "c"]),                   # nobody listening yet: the full wait
    ({"a": 0.2, "b": 2.5}, 2.0, 1.0, 1.2, ["b", "c"]),     # settled before b appeared
    ({"a": 0.2, "b": 1.0}, 1.1, 1.0, 1.1, ["c"]),          # timeout bounds the settle time
])
def test_wait_for_subscribers_of(found_at, timeout, settle, expected_end, expected_idle):
    from ros2_mvpose.offline.bag_player import wait_for_subscribers_of

    t = _FakeTime()
    counts = lambda: {k: int(k in found_at and t.now >= found_at[k]) for k in "abc"}  # noqa: E731
    idle = wait_for_subscribers_of(counts, timeout, settle, clock=t.clock, sleep=t.sleep)
    assert sorted(idle) == expected_idle
    assert t.now == pytest.approx(expected_end, abs=0.03)


def test_play_does_not_wait_for_topics_nobody_subscribes_to(tmp_path, context):
    """A bag with a topic nobody subscribes to: `--wait 20` does not make playback wait 20 s."""
    import subprocess
    import sys

    path = tmp_path / "bag"
    _keypoint_bag(path, 5, 100_000_000, info_topic="/nobody/listens")
    node = rclpy.create_node("partial_listener", context=context)
    got = []
    node.create_subscription(PointCloud2, "/cam1/keypoints2d", lambda m: got.append(time.monotonic()), 50)
    ex = SingleThreadedExecutor(context=context)
    ex.add_node(node)
    env = dict(os.environ, ROS_DOMAIN_ID=str(context.get_domain_id()))
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "ros2_mvpose", "play", str(path), "--wait", "20"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = started + 60
        while proc.poll() is None and time.monotonic() < deadline:
            ex.spin_once(timeout_sec=0.05)
        drain = time.monotonic() + 5
        while len(got) < 5 and time.monotonic() < drain:
            ex.spin_once(timeout_sec=0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate()[0]
        ex.shutdown()
        node.destroy_node()
    assert proc.returncode == 0, out
    assert len(got) == 5, out
    assert "no subscriber for /nobody/listens" in out
    # process start-up (imports) takes a few seconds on a busy machine; 20 s would be the old wait
    assert got[0] - started < 15, f"first message {got[0] - started:.1f} s after start"


_FROZEN_SUBSCRIBER = """
import os, sys, rclpy
from rclpy.executors import ExternalShutdownException
from sensor_msgs.msg import PointCloud2
rclpy.init(domain_id=int(sys.argv[1]))
node = rclpy.create_node("frozen_listener")
node.create_subscription(PointCloud2, "/cam1/keypoints2d", lambda m: None, 50)
print("ready", flush=True)
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
"""


def test_play_waits_for_acknowledgements_and_names_the_topic_without_them(tmp_path, context, capfd):
    """A reliable subscriber that stops answering (its process frozen): the player waits
    ``ack_timeout`` for the acknowledgements (so a live one gets the last messages before the
    player exits), then warns naming the topic, instead of returning at once or hanging."""
    import signal
    import subprocess
    import sys

    path = tmp_path / "bag"
    _keypoint_bag(path, 3, 10_000_000)
    sub = subprocess.Popen([sys.executable, "-c", _FROZEN_SUBSCRIBER, str(context.get_domain_id())],
                           stdout=subprocess.PIPE, text=True)
    node = rclpy.create_node("mvpose_play", context=context)
    try:
        assert sub.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        while node.count_subscribers("/cam1/keypoints2d") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert node.count_subscribers("/cam1/keypoints2d") == 1, "subscriber not discovered"
        sub.send_signal(signal.SIGSTOP)
        capfd.readouterr()
        t0 = time.monotonic()
        count = play_bag(node, path, wait_for_subscribers=5.0, ack_timeout=1.5, publish_clock=False)
        waited = time.monotonic() - t0
        err = capfd.readouterr().err
    finally:
        # Thawed, and our publishers gone, before it ends (a DDS peer killed while frozen can
        # crash this process's Fast DDS when it later destroys its endpoints), then a clean exit.
        sub.send_signal(signal.SIGCONT)
        node.destroy_node()
        sub.send_signal(signal.SIGINT)
        try:
            sub.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sub.kill()
            sub.wait()
    assert count == 3
    assert 1.5 <= waited < 1.5 + 0.02 + 2.0, waited  # the messages take 20 ms; then the wait
    assert "not acknowledged within 1.5 s" in err and "/cam1/keypoints2d" in err, err


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_play_rejects_bad_ack_timeout(tmp_path, context, bad):
    node = rclpy.create_node("p", context=context)
    try:
        with pytest.raises(ValueError, match="ack timeout"):
            play_bag(node, tmp_path, ack_timeout=bad)
    finally:
        node.destroy_node()


def test_play_rejects_bad_rate(tmp_path, context):
    node = rclpy.create_node("p", context=context)
    try:
        with pytest.raises(ValueError, match="rate"):
            play_bag(node, tmp_path, rate=0)
    finally:
        node.destroy_node()


def test_large_images_reach_a_best_effort_subscriber_in_another_process(tmp_path, context):
    """`mvpose play` in its own process -> a sensor-data (best-effort) subscriber here: with the
    package's Fast DDS profile (ros2_mvpose.ros.dds) every 640x480 image arrives."""
    import subprocess
    import sys

    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from ros2_mvpose.ros.image_conversion import bgr_to_image_msg

    path = tmp_path / "imgs"
    n = 10
    with BagWriter(path) as w:
        for i in range(n):
            t = 10**9 + i * 100_000_000
            img = np.full((480, 640, 3), i, np.uint8)
            w.write("/cam1/image_raw", bgr_to_image_msg(img, Header(stamp=ns_to_stamp(t))), t)
    node = rclpy.create_node("big_listener", context=context)
    got = []
    node.create_subscription(
        Image, "/cam1/image_raw", lambda m: got.append(m.data[0]), qos_profile_sensor_data
    )
    ex = SingleThreadedExecutor(context=context)
    ex.add_node(node)
    env = dict(os.environ, ROS_DOMAIN_ID=str(context.get_domain_id()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ros2_mvpose", "play", str(path), "--wait", "10", "--no-clock"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        while proc.poll() is None and time.monotonic() < deadline:
            ex.spin_once(timeout_sec=0.05)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate()[0]
        ex.shutdown()
        node.destroy_node()
    assert proc.returncode == 0, out
    assert sorted(got) == list(range(n)), f"{len(got)} of {n} images arrived: {got}"
