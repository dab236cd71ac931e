"""The built-in rendered sample: a numpy sphere-tracer of signed distance functions around the
COCO-17 skeleton, with exact 3D ground truth (``mvpose sample render``, ``sample/README.md``).

Modules: :mod:`.sdf` (primitives), :mod:`.body` (body model and motion), :mod:`.scene` (people,
ground, sky), :mod:`.render` (sphere tracing), :mod:`.rig` (the 5-camera rig),
:mod:`.sample_bag` (rosbag2 + ground-truth writer). Nothing here imports rclpy at module level.
"""
