"""Multi-view geometry core (no rclpy): cameras, calibration files, reconstruction."""

from ros2_mvpose.geometry.calibration_io import (  # noqa: F401
    CameraCalib,
    convert_to_rig,
    read_calibration,
    read_camera_info_yaml,
    read_opencv,
    read_toml,
    write_camera_info_yaml,
    write_toml,
)
from ros2_mvpose.geometry.camera import Camera  # noqa: F401
from ros2_mvpose.geometry.reconstructor import Reconstructor  # noqa: F401
from ros2_mvpose.geometry.rig import Rig, RigCamera, load_rig, save_rig  # noqa: F401
from ros2_mvpose.geometry.skeleton3d import Skeleton3D  # noqa: F401
