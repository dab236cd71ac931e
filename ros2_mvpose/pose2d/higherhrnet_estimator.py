"""HigherHRNet bottom-up 2D pose estimation over a synchronized set of camera images.

Reproduces the official COCO test pipeline of HRNet/HigherHRNet-Human-Pose-Estimation
(``tools/valid.py``): BGR -> RGB, aligned resize
(:mod:`.transforms`), ``ToTensor`` + ImageNet normalization, flip test with the COCO flip index,
averaging of both stages' heatmaps, stage-0 tags (flipped tags as a second tag dimension),
bilinear projection to the input resolution, associative-embedding grouping
(:func:`.grouping.parse_heatmaps`, refine for every image; at a single scale its block bounds
come from the low-resolution network outputs, :class:`LowRes`, same result) and the official
map back to image pixels; several test scales are combined like the official code.

All images of a set whose aligned input size is the same go through the network as one batch
(with their flipped copies in the same batch).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..skeleton import COCO17_FLIP_INDEX, NUM_JOINTS
from .backend import register_backend
from .grouping import BlockBounds, accelerator, parse_heatmaps, upsampled_block_bounds
from .transforms import AlignedResize, get_multi_scale_size, heatmap_to_image, warp_image

__all__ = ["HigherHRNetEstimator", "LowRes", "PoseResult", "SetResult"]

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_RUNTIMES = ("torch", "onnxruntime")


@dataclass
class PoseResult:
    """People found in one image.

    Attributes:
        keypoints: ``(P, 17, 3)`` float32 x, y in image pixels and score (0 for a joint that
            neither grouping nor refine found).
        person_scores: ``(P,)`` float32 mean joint score before refine (the official score).
        tags: ``(P, 17, D)`` float32 associative-embedding tags of the grouped joints (0 where
            refined or missing).
    """

    keypoints: np.ndarray
    person_scores: np.ndarray
    tags: np.ndarray


@dataclass
class SetResult:
    """Result of :meth:`HigherHRNetEstimator.predict_full` for one set of images.

    ``timings`` holds seconds spent in ``pre`` (resize + normalization), ``net`` (network incl.
    host/device copies), ``post`` (stage/flip aggregation and projection to the input size) and
    ``group`` (grouping + mapping back to image pixels), summed over the set.
    """

    results: list[PoseResult]
    timings: dict[str, float] = field(default_factory=dict)


def _resolve_device(device: str | torch.device) -> torch.device:
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"invalid device {device!r}: use 'cpu', 'cuda', 'cuda:N' or 'auto'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}: use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    return dev


def _check_images(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        raise ValueError("images must be a list of (H, W, 3) uint8 BGR arrays, got one ndarray")
    out = []
    for i, img in enumerate(images):
        if not isinstance(img, np.ndarray):
            raise ValueError(f"image {i} is a {type(img).__name__}, expected a numpy array")
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError(f"image {i} must have shape (H, W, 3), got {img.shape}")
        if img.dtype != np.uint8:
            raise ValueError(f"image {i} must be uint8 BGR, got dtype {img.dtype}")
        out.append(img)
    return out


class HigherHRNetEstimator:
    """HigherHRNet 2D pose backend (``name = "higherhrnet"``).

    Args:
        checkpoint: path of an official model-zoo checkpoint (loaded strictly with
            :func:`ros2_mvpose.pose2d.checkpoint.load_higherhrnet`) or a ready ``nn.Module``
            returning ``[(B, 2J, H/4, W/4), (B, J, H/2, W/2)]``.
        input_size: ``DATASET.INPUT_SIZE`` (512 for W32, 640 for W48).
        flip_test: official flip test (doubles the network batch).
        scales: test scale factors (official ``TEST.SCALE_FACTOR``); with several, 1.0 must be one.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        half: run the network in float16 (CUDA only).
        detection_threshold, tag_threshold, max_people, adjust, refine: grouping parameters
            (official defaults 0.1, 1.0, 30, True, True).
        min_person_score: drop people whose person score is below this (0 keeps all, as the
            official evaluation does).
        runtime: ``"torch"`` or ``"onnxruntime"`` (CPU; needs the ``onnxruntime`` package; the
            network is exported once with a dynamic batch and spatial size).
    """

    name = "higherhrnet"

    def __init__(
        self,
        checkpoint: str | Path | torch.nn.Module,
        input_size: int = 512,
        flip_test: bool = True,
        scales: Sequence[float] = (1.0,),
        device: str | torch.device = "cpu",
        half: bool = False,
        detection_threshold: float = 0.1,
        tag_threshold: float = 1.0,
        max_people: int = 30,
        min_person_score: float = 0.0,
        adjust: bool = True,
        refine: bool = True,
        runtime: str = "torch",
    ) -> None:
        if int(input_size) != input_size or input_size < 64:
            raise ValueError(f"input_size must be an integer >= 64, got {input_size!r}")
        scales = tuple(float(s) for s in scales)
        if not scales or any(not s > 0 for s in scales):
            raise ValueError(f"scales must be a non-empty sequence of positive factors, got {scales}")
        if len(scales) > 1 and 1.0 not in scales:
            raise ValueError(f"with several scales, 1.0 must be one of them (tags come from scale "
                             f"1.0, as in the official code), got {scales}")
        if runtime not in _RUNTIMES:
            raise ValueError(f"runtime must be one of {_RUNTIMES}, got {runtime!r}")
        self.device = _resolve_device(device)
        if half and self.device.type != "cuda":
            if device == "auto":
                half = False  # no CUDA here: run float32
            else:
                raise ValueError("half=True (float16) is only supported on CUDA devices")
        if runtime == "onnxruntime" and self.device.type != "cpu":
            raise ValueError("runtime='onnxruntime' is only supported with device='cpu'")
        self.input_size = int(input_size)
        self.flip_test = bool(flip_test)
        self.scales = scales
        self.half = bool(half)
        self.parse_params = dict(
            detection_threshold=float(detection_threshold), tag_threshold=float(tag_threshold),
            max_num_people=int(max_people), adjust=bool(adjust), refine=bool(refine))
        self.min_person_score = float(min_person_score)
        self.runtime = runtime

        if isinstance(checkpoint, torch.nn.Module):
            model = checkpoint
        else:
            from .checkpoint import load_higherhrnet

            model = load_higherhrnet(checkpoint, "cpu")
        model = model.eval().to(self.device)
        if self.half:
            model = model.half()
        self.model = model
        self.num_joints = NUM_JOINTS
        self._flip_index = list(COCO17_FLIP_INDEX)
        self._mean = torch.tensor(_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(_STD, device=self.device).view(1, 3, 1, 1)
        self._ort = None
        if runtime == "onnxruntime":
            self._ort = _OnnxNetwork(model)

    # ------------------------------------------------------------------------------------------
    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``(P_i, 17, 3)`` x, y, score in each image's pixels (see :class:`PoseBackend`)."""
        return [r.keypoints for r in self.predict_full(images).results]

    def predict_full(self, images: Sequence[np.ndarray]) -> SetResult:
        """Poses, person scores, tags and per-stage timings for one set of BGR images."""
        maps, resizes, timings = self._compute_maps(images)
        t0 = time.perf_counter()
        results = []
        for (heat, tags, low), (res_min, hm_size) in zip(maps, resizes):
            people, scores = self.group(heat, tags, low)
            keep = scores >= self.min_person_score
            people, scores = people[keep], scores[keep]
            kp = np.empty((len(people), self.num_joints, 3), np.float32)
            kp[..., :2] = _to_image(people[..., :2], res_min, hm_size)
            kp[..., 2] = people[..., 2]
            results.append(PoseResult(kp, scores.astype(np.float32), people[..., 3:].copy()))
        timings["group"] = time.perf_counter() - t0
        return SetResult(results, timings)

    def compute_maps(self, images: Sequence[np.ndarray]
                     ) -> list[tuple[np.ndarray, np.ndarray, AlignedResize]]:
        """Final heatmaps ``(17, H, W)`` and tags ``(17, H, W, D)`` per image, as given to the
        grouping, with the aligned resize of the smallest scale (for the map back)."""
        maps, resizes, _ = self._compute_maps(images)
        return [(h, t, r[0]) for (h, t, _low), r in zip(maps, resizes)]

    def group(self, heat: np.ndarray, tags: np.ndarray, low: LowRes | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`parse_heatmaps` of one image's final maps with this estimator's parameters;
        with ``low`` (the network outputs the maps were upsampled from) refine's tag boxes come
        from the 1/4 tags (:func:`upsampled_block_bounds`, 16x less data): same result."""
        # tag boxes serve the compiled refine only
        use = low is not None and self.parse_params["refine"] and accelerator() == "numba"
        bounds = low.bounds(heat.shape) if use else None
        return parse_heatmaps(heat, tags, **self.parse_params, bounds=bounds)

    # ------------------------------------------------------------------------------------------
    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _run_network(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._ort is not None:
            return self._ort(x)
        out = self.model(x.half() if self.half else x)
        return out[0].float(), out[1].float()

    @torch.inference_mode()
    def _compute_maps(self, images):
        images = _check_images(images)
        timings = {"pre": 0.0, "net": 0.0, "post": 0.0}
        n = len(images)
        min_scale = min(self.scales)
        single = len(self.scales) == 1
        base = [get_multi_scale_size(im.shape[1], im.shape[0], self.input_size, 1.0, min_scale)
                for im in images]
        heat_acc: list[torch.Tensor | None] = [None] * n
        tag_list: list[list[torch.Tensor]] = [[] for _ in range(n)]
        lows: list[LowRes | None] = [None] * n
        last_resize: list[AlignedResize | None] = [None] * n
        for s in sorted(self.scales, reverse=True):
            resizes = [get_multi_scale_size(im.shape[1], im.shape[0], self.input_size, s, min_scale)
                       for im in images]
            groups: dict[tuple, list[int]] = {}
            for i, r in enumerate(resizes):
                groups.setdefault((r.size, base[i].size), []).append(i)
            for (_size, base_size), idx in groups.items():
                t0 = time.perf_counter()
                x = self._preprocess([images[i] for i in idx], [resizes[i] for i in idx])
                b = x.shape[0]
                if self.flip_test:
                    x = torch.cat([x, torch.flip(x, [3])], 0)
                self._sync()
                t1 = time.perf_counter()
                o0, o1 = self._run_network(x)
                self._sync()
                t2 = time.perf_counter()
                for k, i in enumerate(idx):
                    heat, tags, lows[i] = self._postprocess(o0, o1, k, b, base_size)
                    heat_acc[i] = heat if heat_acc[i] is None else heat_acc[i] + heat
                    if s == 1.0 or single:
                        tag_list[i].extend(tags)
                    last_resize[i] = resizes[i]
                self._sync()
                t3 = time.perf_counter()
                timings["pre"] += t1 - t0
                timings["net"] += t2 - t1
                timings["post"] += t3 - t2
        t0 = time.perf_counter()
        maps, info = [], []
        for i in range(n):
            heat = heat_acc[i] / float(len(self.scales))
            tags = torch.stack(tag_list[i], dim=3)
            maps.append((heat.cpu().numpy(), tags.cpu().numpy(), lows[i] if single else None))
            info.append((last_resize[i], (base[i].size[0], base[i].size[1])))
        timings["post"] += time.perf_counter() - t0
        return maps, info, timings

    def _preprocess(self, images: list[np.ndarray], resizes: list[AlignedResize]) -> torch.Tensor:
        """Warp each image, then BGR->RGB, /255 and ImageNet normalization as one tensor op."""
        batch = np.stack([warp_image(im, r) for im, r in zip(images, resizes)])
        x = torch.from_numpy(batch).to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).flip(1).float().div_(255.0)  # (B, 3, h, w) RGB in [0, 1]
        return x.sub_(self._mean).div_(self._std).contiguous()

    def _postprocess(self, o0: torch.Tensor, o1: torch.Tensor, k: int, b: int,
                     base_size: tuple[int, int]
                     ) -> tuple[torch.Tensor, list[torch.Tensor], LowRes | None]:
        """Image ``k`` of a batch of ``b`` (+ ``b`` flipped): heatmaps ``(17, Hb, Wb)`` (flip
        averaged) and its tag maps ``[(17, Hb, Wb)]`` (original, flipped), at ``base_size``,
        and the low-resolution maps they are exact 2x upsamplings of (None when not exact)."""
        nj = self.num_joints
        w_b, h_b = base_size
        sel = [k, k + b] if self.flip_test else [k]
        up0 = F.interpolate(o0[sel], size=o1.shape[2:], mode="bilinear", align_corners=False)
        s1 = o1[sel]
        heat = (up0[0:1, :nj] + s1[0:1]) / 2
        tags = [up0[0:1, nj:]]
        if self.flip_test:
            f0 = torch.flip(up0[1:2], [3])
            f1 = torch.flip(s1[1:2], [3])
            heat_f = (f0[:, :nj][:, self._flip_index] + f1[:, :nj][:, self._flip_index]) / 2
            tags.append(f0[:, nj:][:, self._flip_index])
            heat = torch.cat([heat, heat_f], 0)
        # One interpolate call for all maps (channels are resized independently).
        proj = F.interpolate(torch.cat([heat, *tags], 0), size=(h_b, w_b), mode="bilinear",
                             align_corners=False)
        nh = heat.shape[0]
        heat_p = proj[:nh]
        heat_out = (heat_p[0] + heat_p[1]) / 2.0 if self.flip_test else heat_p[0]
        low = None
        if (h_b, w_b) == (2 * heat.shape[2], 2 * heat.shape[3]) == (4 * o0.shape[2],
                                                                    4 * o0.shape[3]):
            # exact 2x / 4x upsamplings: keep the half-resolution heatmaps and the 1/4
            # stage-0 tags for the grouping's block bounds (references, no copies)
            low = LowRes(heat, o0[k, nj:], o0[k + b, nj:] if self.flip_test else None,
                         self._flip_index)
        return heat_out, [proj[nh + t] for t in range(len(tags))], low


@dataclass
class LowRes:
    """The network outputs one image's final maps are exact 2x upsamplings of (single scale).

    Attributes:
        heat: ``(F, J, H/2, W/2)`` half-resolution heatmaps, F = 2 under flip test (the final
            heatmap is the mean of their 2x bilinear upsamplings).
        tags: ``(J, H/4, W/4)`` stage-0 tags of the image (1/4 resolution; upsampled 2x twice
            they are tag dimension 0).
        tags_flipped: the same output of the flipped image, as the network gave it (not
            flipped back, joints not permuted), or None without flip test.
        flip_index: the joint permutation of the flip test.
    """

    heat: torch.Tensor
    tags: torch.Tensor
    tags_flipped: torch.Tensor | None
    flip_index: list[int]

    def bounds(self, shape: tuple[int, ...]) -> BlockBounds | None:
        """Valid 8x8 block bounds of the final maps of ``shape (J, H, W)`` (None when the
        sizes do not allow them)."""
        h2, w2 = self.heat.shape[2:]
        if tuple(shape[1:]) != (2 * h2, 2 * w2) or h2 % 4 or w2 % 4:
            return None
        tq = [self.tags.cpu().numpy()]
        if self.tags_flipped is not None:  # flipped back: a view; joints permuted afterwards
            tq.append(self.tags_flipped.cpu().numpy()[:, :, ::-1])
        b = upsampled_block_bounds(tq)  # tag boxes from the 1/4 tags
        if self.tags_flipped is not None:
            for a in (b.tag_min, b.tag_max):
                a[..., 1] = a[self.flip_index, :, :, 1]
        return b


class _OnnxNetwork:
    """The network exported to ONNX (dynamic batch and size) and run by ONNX Runtime on CPU.

    Needs the ``onnx`` (export) and ``onnxruntime`` packages; the export happens once, in memory.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        import io

        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ValueError("runtime='onnxruntime' needs the onnxruntime package "
                             "(pip install onnxruntime onnx)") from exc
        buf = io.BytesIO()
        dummy = torch.zeros(1, 3, 128, 128)
        dyn = {"x": {0: "b", 2: "h", 3: "w"}, "o0": {0: "b", 2: "h4", 3: "w4"},
               "o1": {0: "b", 2: "h2", 3: "w2"}}
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(model.float().cpu(), (dummy,), buf, input_names=["x"],
                              output_names=["o0", "o1"], dynamic_axes=dyn, opset_version=17,
                              dynamo=False)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(buf.getvalue(), opts,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        o0, o1 = self.session.run(None, {"x": x.detach().cpu().float().numpy()})
        return torch.from_numpy(o0), torch.from_numpy(o1)


def _to_image(xy: np.ndarray, resize: AlignedResize, heatmap_size: tuple[int, int]) -> np.ndarray:
    return heatmap_to_image(xy, resize, heatmap_size).astype(np.float32)


register_backend("higherhrnet", HigherHRNetEstimator)
