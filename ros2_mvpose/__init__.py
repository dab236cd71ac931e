"""ros2_mvpose: markerless multi-camera 3D human pose for ROS 2.

Subpackages:
- ``ros2_mvpose.geometry``: cameras, calibration files, triangulation, association, tracking
  (numpy/scipy/OpenCV only, no rclpy).
- ``ros2_mvpose.pose2d``: 2D pose backends (HigherHRNet in PyTorch, MediaPipe BlazePose).
- ``ros2_mvpose.ros``: message conversions and synchronisation used by the nodes.
- ``ros2_mvpose.nodes``: the thin rclpy nodes and the pip launcher.
- ``ros2_mvpose.cli``: the ``mvpose`` command line.
"""

__version__ = "0.1.0"
