"""Test helper: HigherHRNet reference data from ``../shared/higherhrnet/`` (not a test module).

Imports ``det_weights.py`` from the shared folder by path and caches the generated deterministic
state dicts for the whole test session (generating 1810 tensors takes a few seconds). Every
accessor calls ``pytest.skip`` with a clear reason when the shared data is absent.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

SHARED_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "higherhrnet"
MANIFESTS = {32: "state_dict_w32_512.json", 48: "state_dict_w48_640.json"}


def shared_file(name: str) -> Path:
    """Path of ``name`` in the shared HigherHRNet folder; skips the test when it is absent."""
    path = SHARED_DIR / name
    if not path.is_file():
        pytest.skip(f"HigherHRNet reference data not available: {path} is missing "
                    "(expected ../shared/higherhrnet/ beside the project)")
    return path


@functools.cache
def _det_weights_module(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("hhrnet_det_weights", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def det_weights() -> ModuleType:
    """The shared ``det_weights`` module (deterministic weight recipe)."""
    return _det_weights_module(str(shared_file("det_weights.py")))


def manifest(width: int) -> list[tuple[str, list[int]]]:
    """``[(key, shape), ...]`` of the official model's state dict, in order."""
    return det_weights().load_manifest(shared_file(MANIFESTS[width]))


@functools.cache
def _state_dict(width: int) -> dict[str, torch.Tensor]:
    return det_weights().make_state_dict(shared_file(MANIFESTS[width]))


def state_dict(width: int) -> dict[str, torch.Tensor]:
    """Deterministic weights for HigherHRNet-W``width`` (a new dict over cached tensors).

    The dict may be modified freely; the tensors are shared, so never modify them in place.
    """
    return dict(_state_dict(width))


@functools.cache
def _forward_reference(width: int) -> dict[str, np.ndarray]:
    with np.load(shared_file(f"forward_w{width}.npz")) as data:
        return {k: data[k] for k in data.files}


def forward_reference(width: int) -> dict[str, np.ndarray]:
    """Official forward with the deterministic weights: ``x``, ``out0_f32``, ``out1_f32`` (+f64 for w32)."""
    return _forward_reference(width)
