"""Graph-free processing stages shared by the live nodes and ``mvpose bag``.

Like ROS's camera_calibration, each stage takes messages and returns results; the nodes only
queue, publish and report (``ros2_mvpose.nodes``), the offline tools feed the same stages from
a bag (``ros2_mvpose.offline``):

- :mod:`.detection`: one synchronized set of images -> 2D keypoints per camera, problems;
- :mod:`.triangulation`: CameraInfo and one set of keypoint clouds -> tracked 3D people, problems;
- :mod:`.health`: per-camera state (alive, dead, out of sync, bad input) for diagnostics;
- :mod:`.problems`: what a stage reports about an input it had to skip.
"""
