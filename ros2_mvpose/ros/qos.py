"""QoS profiles used by the nodes.

- Subscriptions to camera images and keypoint clouds use *sensor data* QoS (best effort,
  keep last ``depth``, volatile): they accept both best-effort and reliable publishers and
  never block a camera driver or build a backlog.
- Publishers of results use reliable, keep last ``depth``, volatile: compatible with both
  best-effort and reliable subscribers (RViz, ``ros2 topic echo``, the triangulator).
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def sensor_qos(depth: int = 5) -> QoSProfile:
    """Best-effort, keep-last ``depth`` QoS for sensor-data subscriptions."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=int(depth),
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


def result_qos(depth: int = 10) -> QoSProfile:
    """Reliable, keep-last ``depth`` QoS for published results (compatible with any subscriber)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=int(depth),
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )
