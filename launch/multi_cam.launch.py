"""Launch the ros2_mvpose live pipeline: detector_node + triangulator_node (+ RViz).

    ros2 launch ros2_mvpose multi_cam.launch.py
    ros2 launch ros2_mvpose multi_cam.launch.py rig_file:=/path/rig.yaml \
        checkpoint:=/path/pose_higher_hrnet_w32_512.pth use_sim_time:=true rviz:=true
    ros2 launch ros2_mvpose multi_cam.launch.py detector_groups:="cam1,cam2;cam3,cam4,cam5"

Both nodes read their sections of one parameters file (``params_file``, default the installed
``config/multi_cam.yaml``); the launch arguments override single parameters. The pip
equivalent, where ``ros2 launch`` does not exist, is ``mvpose run --params config/multi_cam.yaml``.

``detector_groups`` starts one detector process per group of rig camera names
(``detector_node_0``, ``detector_node_1``, ...; each with the file's ``detector_node`` section,
its own ``detector_node_<k>`` section when the file has one, e.g. for its ``device``), all
feeding the one triangulator; empty = one detector for all cameras.
"""

import os

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.logging import get_logger
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from ros2_mvpose.nodes.detector_groups import group_node_names, group_parameters, parse_detector_groups

PACKAGE = "ros2_mvpose"
PARAMS_FILE = "multi_cam.yaml"
RVIZ_FILE = "mvpose.rviz"
DETECTOR_EXECUTABLE = "detector_node"
TRIANGULATOR_EXECUTABLE = "triangulator_node"


def _flag(context, name: str) -> bool:
    """A boolean launch argument (``true``/``1``, any case)."""
    return LaunchConfiguration(name).perform(context).strip().lower() in ("true", "1")


def _overrides(context, *, detector: bool) -> dict:
    """Parameter overrides from the non-empty launch arguments (empty = keep the file's value)."""
    out = {"use_sim_time": _flag(context, "use_sim_time")}
    rig = LaunchConfiguration("rig_file").perform(context)
    if rig:
        out["rig_file"] = rig
    checkpoint = LaunchConfiguration("checkpoint").perform(context)
    if detector and checkpoint:
        out["checkpoint"] = checkpoint
    return out


def _detectors(context, params_file: str) -> list:
    """One detector node for all cameras, or one per group of ``detector_groups``."""
    groups = parse_detector_groups(LaunchConfiguration("detector_groups").perform(context))
    overrides = _overrides(context, detector=True)
    if not groups:
        return [
            Node(
                package=PACKAGE,
                executable=DETECTOR_EXECUTABLE,
                name="detector_node",
                output="screen",
                emulate_tty=True,
                parameters=[params_file, overrides],
            )
        ]
    return [
        Node(
            package=PACKAGE,
            executable=DETECTOR_EXECUTABLE,
            name=name,
            output="screen",
            emulate_tty=True,
            parameters=[params_file, group_parameters(params_file, name, cameras), overrides],
        )
        for name, cameras in zip(group_node_names(groups), groups)
    ]


def _nodes(context):
    params_file = LaunchConfiguration("params_file").perform(context)
    return [
        *_detectors(context, params_file),
        Node(
            package=PACKAGE,
            executable=TRIANGULATOR_EXECUTABLE,
            name="triangulator_node",
            output="screen",
            emulate_tty=True,
            parameters=[params_file, _overrides(context, detector=False)],
        ),
    ]


def _rviz(context):
    """RViz2 with the package's display config when ``rviz:=true`` and the rviz2 package exists.

    Without rviz2 (not installed, or no ament index), a warning says so and the pipeline starts
    without it (a missing executable would otherwise end the launch and leave the nodes running).
    """
    if not _flag(context, "rviz"):
        return []
    try:
        get_package_share_directory("rviz2")
    except (PackageNotFoundError, OSError):  # OSError: no ament index (AMENT_PREFIX_PATH unset)
        get_logger("multi_cam.launch").warning(
            "rviz:=true, but the rviz2 package is not installed (e.g. apt install ros-jazzy-rviz2); "
            "starting the pipeline without RViz"
        )
        return []
    return [
        Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            arguments=["-d", os.path.join(get_package_share_directory(PACKAGE), "config", RVIZ_FILE)],
            parameters=[{"use_sim_time": _flag(context, "use_sim_time")}],
            output="screen",
        )
    ]


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=os.path.join(share, "config", PARAMS_FILE),
                description="ROS 2 parameters file for both nodes",
            ),
            DeclareLaunchArgument(
                "rig_file", default_value="", description="Rig file (empty: rig_file from params_file)"
            ),
            DeclareLaunchArgument(
                "checkpoint",
                default_value="",
                description="HigherHRNet checkpoint for the detector (empty: from params_file)",
            ),
            DeclareLaunchArgument(
                "use_sim_time", default_value="false", description="Use /clock (replay from bags)"
            ),
            DeclareLaunchArgument(
                "detector_groups",
                default_value="",
                description="Camera-name groups, one detector process each, e.g. 'cam1,cam2;cam3,cam4' "
                "(empty: one detector for all cameras)",
            ),
            DeclareLaunchArgument(
                "rviz", default_value="false", description="Start RViz2 (when the rviz2 package is installed)"
            ),
            OpaqueFunction(function=_nodes),
            OpaqueFunction(function=_rviz),
        ]
    )
