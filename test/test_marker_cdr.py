"""The serialized MarkerArray (``SkeletonMarkerPublisher.update_serialized``, written by
``ros2_mvpose.ros.cdr`` without message objects) is the message ``update_arrays`` builds: over
many random sequences of sets (people coming and going, NaN joints, odd frame names), rclpy
deserializes the bytes into exactly what it gets from serializing the message."""

from __future__ import annotations

import random

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from ros2_mvpose.ros.cdr import CdrWriter
from ros2_mvpose.ros.markers import SkeletonMarkerPublisher


@pytest.mark.parametrize("seed", range(8))
def test_serialized_markers_equal_the_message(seed):
    rng = np.random.default_rng(seed)
    py = random.Random(seed)
    kw = dict(joint_radius=py.uniform(0.01, 0.1), line_width=py.uniform(0.005, 0.05),
              text_size=py.uniform(0.05, 0.3), lifetime=py.choice([0.0, 0.5, 1.25, 3.0]))
    frame = py.choice(["world", "", "map", "ü/frame_" + "x" * py.randint(0, 9)])
    as_msg = SkeletonMarkerPublisher("fallback", **kw)
    as_cdr = SkeletonMarkerPublisher("fallback", **kw)
    for _ in range(25):
        ids = py.sample(range(1, 40), py.randint(0, 5))
        joints = rng.normal(0.0, 2.0, (len(ids), 17, 3))
        joints[rng.random((len(ids), 17)) < py.choice([0.0, 0.3, 0.9, 1.0])] = np.nan
        header = Header(stamp=Time(sec=py.randint(0, 2**31 - 1), nanosec=py.randint(0, 10**9 - 1)),
                        frame_id=frame)
        message = as_msg.update_arrays(ids, joints, header)
        expected = deserialize_message(serialize_message(message), MarkerArray)
        raw = as_cdr.update_serialized(ids, joints, header)
        assert isinstance(raw, bytes)
        assert deserialize_message(raw, MarkerArray) == expected
        assert as_cdr.published_ids == as_msg.published_ids


def test_writer_alignment():
    w = CdrWriter()
    w.boolean(True)
    w.f64s((1.5,))  # 7 padding bytes after the bool, relative to the encapsulation header
    w.string("ab")
    w.sequence(np.zeros((0, 3)), "<f8")  # empty: count only, no alignment
    w.boolean(False)
    w.sequence(np.ones((1, 2)), "<f4")
    b = w.bytes()
    assert b[:4] == b"\x00\x01\x00\x00"
    assert b[4:] == (b"\x01" + b"\x00" * 7 + np.float64(1.5).tobytes() + b"\x03\x00\x00\x00ab\x00"
                     + b"\x00" + b"\x00\x00\x00\x00" + b"\x00" + b"\x00" * 3 + b"\x01\x00\x00\x00"
                     + np.ones(2, "<f4").tobytes())
