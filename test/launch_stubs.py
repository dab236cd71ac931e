"""Loading launch/multi_cam.launch.py without launch/launch_ros (not installable from PyPI).

``launch`` and ``launch_ros`` are replaced by recorders of what the file builds; the real
``ament_index_python`` answers from a temporary ament index holding the packages a test names.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
from pathlib import Path

LAUNCH = Path(__file__).resolve().parents[1] / "launch" / "multi_cam.launch.py"


class Action:
    """Stand-in for a launch action: remembers its arguments."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration:
    def __init__(self, name: str) -> None:
        self.name = name

    def perform(self, context) -> str:
        return context[self.name]


def ament_prefix(root: Path, packages) -> Path:
    """A real ament index (resource marker + share folder) holding ``packages``."""
    index = root / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    for pkg in packages:
        (index / pkg).write_text("")
        (root / "share" / pkg).mkdir(parents=True)
    return root


def load_launch_module(monkeypatch, tmp_path: Path, packages=("ros2_mvpose",)):
    """The launch module, with ``AMENT_PREFIX_PATH`` set to an index of ``packages``.

    ``generate_launch_description()`` returns the list of recorded actions.
    """
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(ament_prefix(tmp_path / "ament_prefix", packages)))
    stubs = {
        "launch": {"LaunchDescription": lambda actions: actions},
        "launch.actions": {"DeclareLaunchArgument": Action, "OpaqueFunction": Action},
        "launch.logging": {"get_logger": logging.getLogger},
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
        "launch_ros": {},
        "launch_ros.actions": {"Node": Action},
    }
    for name, attrs in stubs.items():
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(**attrs))
    spec = importlib.util.spec_from_file_location("multi_cam_launch_under_test", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
