"""The offline pipeline: the same stages as the live nodes, fed from images and rosbags.

- :mod:`.pipeline`: ``MultiViewPipeline``, images -> 2D keypoints -> tracked 3D people (Python API,
  ``mvpose images``, the demo);
- :mod:`.bag_processing`: ``mvpose bag``, a rosbag2 in, the nodes' topics out;
- :mod:`.bag_player`: ``mvpose play``, a rosbag2 published live with ``/clock``.
"""
