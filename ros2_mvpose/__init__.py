"""ros2_mvpose: markerless multi-camera 3D human pose for ROS 2.

Subpackages (README "Code map": where each stage lives and which way imports point):
- ``ros2_mvpose.pose2d``: 2D pose backends (HigherHRNet in PyTorch with its associative-embedding
  grouping, MediaPipe BlazePose, MoveNet) and their selection.
- ``ros2_mvpose.geometry``: cameras, rigs and calibration files, association, robust
  triangulation, tracking: the ``Reconstructor`` (numpy/scipy/numba, no rclpy).
- ``ros2_mvpose.stages``: graph-free processing stages (detection, triangulation, camera
  health) shared by the live nodes and the offline tools.
- ``ros2_mvpose.ros``: message conversions, synchronisation, QoS, DDS settings, diagnostics.
- ``ros2_mvpose.nodes``: the thin rclpy nodes and the pip launcher (``mvpose run``).
- ``ros2_mvpose.offline``: the offline pipeline on images and rosbags (Python API,
  ``mvpose images``, ``mvpose bag``, ``mvpose play``).
- ``ros2_mvpose.io``: rosbag reading and writing, MCAP recovery, track export.
- ``ros2_mvpose.sample_render``: the built-in rendered sample with exact ground truth.
- ``ros2_mvpose.cli``: the ``mvpose`` command line.

Modules: ``skeleton`` (COCO-17 definitions), ``visualization`` (overlays, 3D view),
``evaluation`` (errors against ground truth), ``resources`` (installed data files).
"""

__version__ = "0.1.0"
