"""Test-session setup shared by every test file."""

from ros2_mvpose.ros.dds import apply_large_image_profile

# Like the package's entry points: Fast DDS with room for camera images between processes
# (ros2_mvpose.ros.dds), set before any test creates a DDS participant.
apply_large_image_profile()
