"""Fast DDS settings for camera images between processes.

With its defaults, Fast DDS (ROS 2 Jazzy's default middleware) moves samples larger than its
512 KiB shared-memory segment as fragmented UDP through small socket buffers; best-effort
subscribers (the sensor-data QoS the detector uses for images) then lose most 640x480 and nearly
all 1080p images between processes (measured on loopback: 8 of 20 images of 0.9 MB arrived).
``config/fastdds_large_images.xml`` gives shared memory a 64 MiB segment and UDP 8 MiB buffers:
20 of 20 arrived, also at 3.5 MB (1080x1080 bgr8).

The package's entry points (``detector_node``, ``triangulator_node``, ``mvpose run``,
``mvpose play``) apply that profile unless the user has chosen one (``FASTRTPS_DEFAULT_PROFILES_FILE``
or ``FASTDDS_DEFAULT_PROFILES_FILE`` set) or another middleware (``RMW_IMPLEMENTATION``), or sets
``MVPOSE_NO_DDS_PROFILE=1``. Camera drivers in other processes need the same (export the variable
before starting them): the sender's segment must hold the message.
"""

from __future__ import annotations

import os
from pathlib import Path

PROFILE_NAME = "fastdds_large_images.xml"
_ENV_VARS = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


def profile_path() -> Path | None:
    """The shipped profile (``config/`` of the source tree or the installed share folder)."""
    from ros2_mvpose.resources import find_data_file

    try:
        return find_data_file(f"config/{PROFILE_NAME}")
    except FileNotFoundError:
        return None


def apply_large_image_profile() -> str | None:
    """Point Fast DDS at the large-image profile (call before ``rclpy.init``).

    Returns the profile path when it was applied, None when the user's own setting was kept.
    """
    if os.environ.get("MVPOSE_NO_DDS_PROFILE") == "1":
        return None
    if any(os.environ.get(v) for v in _ENV_VARS):
        return None
    rmw = os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if rmw not in ("", "rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp"):
        return None
    path = profile_path()
    if path is None:
        return None
    os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(path)
    return str(path)
