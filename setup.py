"""ament_python package ros2_mvpose; also installs with plain pip (see README)."""

from glob import glob

from setuptools import find_packages, setup

package_name = "ros2_mvpose"

# Pure-Python dependencies. On a ROS machine these come from rosdep (package.xml);
# with pip they come from PyPI. ROS 2 itself comes from the "ros" extra on pip installs.
install_requires = [
    "setuptools",
    "numpy>=1.24",
    "scipy>=1.10",
    "opencv-python-headless>=4.8",
    "pyyaml>=6",
    "rosbags>=0.10",
    "tqdm>=4.60",
]

ROS_WHEELS = [
    "ros-jazzy-rclpy[fastrtps]",
    "ros-jazzy-sensor-msgs",
    "ros-jazzy-visualization-msgs",
    "ros-jazzy-geometry-msgs",
    "ros-jazzy-std-msgs",
    "ros-jazzy-diagnostic-msgs",
    "ros-jazzy-rosgraph-msgs",
    "ros-jazzy-builtin-interfaces",
]

extras_require = {
    # ROS 2 Jazzy from its PyPI wheels, for machines without a ROS install.
    "ros": ROS_WHEELS,
    # PyTorch for the HigherHRNet backend (CPU build from local disk on the dev machines).
    "torch": ["torch==2.13.0"],
    "dev": ["pytest>=7", "ruff>=0.5", "hypothesis>=6"],
}


def data_files():
    files = [
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.rviz")),
        ("share/" + package_name + "/checkpoints", glob("checkpoints/*.md")),
        ("share/" + package_name + "/sample", [f for f in glob("sample/*") if not f.endswith("/")]),
    ]
    return [(d, f) for d, f in files if f]


setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*", "benchmarks"]),
    data_files=data_files(),
    install_requires=install_requires,
    extras_require=extras_require,
    python_requires=">=3.10",
    zip_safe=True,
    maintainer="ros2_mvpose developers",
    maintainer_email="ros2-mvpose@example.org",
    description="Markerless multi-camera 3D human pose: HigherHRNet 2D pose, robust triangulation, "
    "association and tracking, as ROS 2 nodes and an offline CLI.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "mvpose = ros2_mvpose.cli:main",
            "detector_node = ros2_mvpose.nodes.detector_node:main",
            "triangulator_node = ros2_mvpose.nodes.triangulator_node:main",
        ],
    },
)
