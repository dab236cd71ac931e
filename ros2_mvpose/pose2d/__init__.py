"""2D pose estimation: backends (HigherHRNet, ...), grouping and checkpoint loading.

Names are imported lazily so that ``import ros2_mvpose.pose2d`` does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "HigherHRNetEstimator": ".higherhrnet_estimator",
    "parse_heatmaps": ".grouping",
    "HigherHRNet": ".higherhrnet",
    "load_higherhrnet": ".checkpoint",
    "CheckpointError": ".checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))
