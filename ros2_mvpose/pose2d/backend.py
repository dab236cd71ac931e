"""The interface every 2D pose backend implements, and the backend registry.

A backend turns one synchronized set of camera images into COCO-17 keypoints per camera.
The detector node, the offline CLI and the Python API only talk to this interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class PoseBackend(Protocol):
    """A 2D multi-person pose estimator over a batch of camera images."""

    #: Short name used in parameters, logs and the CLI (e.g. ``"higherhrnet"``).
    name: str

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Estimate 2D poses on one synchronized set of images.

        Args:
            images: one ``(H_i, W_i, 3)`` uint8 **BGR** array per camera; sizes may differ.

        Returns:
            One ``(P_i, 17, 3)`` float array per image: u, v, score, with u, v in that image's
            raw pixel coordinates (origin at the top-left pixel's centre, OpenCV convention) and
            score in [0, 1]. ``P_i`` may be 0 (shape ``(0, 17, 3)``).
        """
        ...


BackendFactory = Callable[..., PoseBackend]
_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Register a backend factory under ``name`` (called by each backend module)."""
    _REGISTRY[name] = factory


def available_backends() -> list[str]:
    """Names of the registered backends."""
    _import_builtin_backends()
    return sorted(_REGISTRY)


def create_backend(name: str, **kwargs) -> PoseBackend:
    """Create a registered backend by name; raises ValueError for an unknown name."""
    _import_builtin_backends()
    if name not in _REGISTRY:
        raise ValueError(f"unknown 2D backend {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)


def _import_builtin_backends() -> None:
    """Import the built-in backend modules so that they register themselves."""
    import importlib

    for mod in (
        "ros2_mvpose.pose2d.higherhrnet_estimator",
        "ros2_mvpose.pose2d.movenet",
        "ros2_mvpose.pose2d.blazepose",
    ):
        try:
            importlib.import_module(mod)
        except ImportError:  # optional dependency missing: that backend is simply unavailable
            pass
