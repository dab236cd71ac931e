"""Finding the package's data files (config, sample, checkpoints) however it was installed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "ros2_mvpose"


def data_roots() -> list[Path]:
    """Folders a relative data path is looked up in, in order: the working directory, the
    ament share folder (colcon installs), ``<prefix>/share/ros2_mvpose`` (pip installs) and the
    source tree (editable installs)."""
    roots = [Path.cwd()]
    try:
        from ament_index_python.packages import get_package_share_directory

        roots.append(Path(get_package_share_directory(PACKAGE)))
    except Exception:  # not installed through ament (pip / editable)
        pass
    roots.append(Path(sys.prefix) / "share" / PACKAGE)
    roots.append(Path(__file__).resolve().parents[1])
    return roots


def find_data_file(path: str | os.PathLike) -> Path:
    """An existing file or folder given absolute, or relative to one of :func:`data_roots`.

    Raises:
        FileNotFoundError: naming every place that was tried.
    """
    p = Path(os.path.expanduser(str(path)))
    if p.is_absolute():
        if p.exists():
            return p
        raise FileNotFoundError(f"{p} does not exist")
    tried = [root / p for root in data_roots()]
    for cand in tried:
        if cand.exists():
            return cand
    raise FileNotFoundError(f"{path} not found; tried {', '.join(str(c) for c in tried)}")
