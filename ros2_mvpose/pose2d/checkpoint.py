"""Loading official HigherHRNet model-zoo checkpoints safely and strictly.

A checkpoint file is untrusted input: it is read with ``torch.load(weights_only=True)`` (no
arbitrary code runs), unwrapped (``{'state_dict': sd}`` / ``{'model': sd}``), its keys are
normalized (a leading ``module.`` or ``1.`` is stripped), the width (W32 / W48) is detected from
the tensors themselves and the result is loaded into :class:`HigherHRNet` with ``strict=True``.
Every failure is one :class:`CheckpointError` naming the file, the problem, what was expected and
where the official files are published. A file the safe loader refuses (a pickle that would import
code) is reported as refused as unsafe, naming what it would import; torch's advice to load it
with ``weights_only=False`` is never passed on.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from .higherhrnet import HRNET_SPECS, HigherHRNet

__all__ = [
    "CheckpointError",
    "DEFAULT_CHECKPOINT",
    "MODEL_ZOO_URL",
    "OFFICIAL_CHECKPOINTS",
    "detect_width",
    "load_higherhrnet",
    "read_state_dict",
]

MODEL_ZOO_URL = "https://github.com/HRNet/HigherHRNet-Human-Pose-Estimation"
#: Official COCO checkpoint file names per width.
OFFICIAL_CHECKPOINTS = {32: "pose_higher_hrnet_w32_512.pth", 48: "pose_higher_hrnet_w48_640.pth.tar"}
#: Where the detector looks by default, relative to the package (source) root.
DEFAULT_CHECKPOINT = "checkpoints/pose_higher_hrnet_w32_512.pth"

#: Wrapper keys of training checkpoints that hold the model's state dict.
_WRAPPER_KEYS = ("state_dict", "model")
#: Key prefixes added by DataParallel (``module.``) or an ``nn.Sequential`` wrapper (``1.``).
_KEY_PREFIXES = ("module.", "1.")
#: Key whose output-channel count gives the width (first stage-2 branch transition).
_WIDTH_KEY = "transition1.0.0.weight"
_N_TENSORS = 1810  # len(HigherHRNet(w).state_dict()) for both widths


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or not an official HigherHRNet COCO model."""


def _error(path: str | os.PathLike, problem: str) -> CheckpointError:
    return CheckpointError(
        f"cannot load HigherHRNet checkpoint '{os.fspath(path)}': {problem}. "
        f"Expected a HigherHRNet-W32/W48 COCO state dict with {_N_TENSORS} tensors: the official "
        f"{OFFICIAL_CHECKPOINTS[32]} or {OFFICIAL_CHECKPOINTS[48]} from the HigherHRNet model zoo "
        f"({MODEL_ZOO_URL}, Google Drive / OneDrive links in its README), placed unmodified in the "
        f"package's checkpoints/ folder (default {DEFAULT_CHECKPOINT}; see checkpoints/README.md)"
    )


def _few(keys, n: int = 5) -> str:
    """``"a, b, c, ... (N in all)"``: the first ``n`` keys in their order."""
    keys = list(keys)
    more = f", ... ({len(keys)} in all)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def _strip_prefix(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _KEY_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


#: Globals a plain state dict pickle may import (tensor rebuilding, storages, OrderedDict).
_SAFE_GLOBAL_PREFIXES = ("torch.", "collections.OrderedDict")
#: Sentences of torch's error texts that are advice, not the cause (never passed on: one of them
#: recommends turning the safety check off).
_ADVICE = re.compile(r"weights_only|Weights only load failed|trusted source|file an issue"
                     r"|WeightsUnpickler error|Check the documentation|internal miniz error"
                     r"|If you are seeing this error|This can happen if|PyTorch 2\.6", re.I)
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
               "SHORT_BINSTRING"}


def _pickle_bytes(path: Path) -> bytes:
    """The pickle stream ``torch.load`` reads: ``*/data.pkl`` of a zip checkpoint, else the file."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                name = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                return zf.read(name) if name is not None else b""
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError):
            return b""
    return path.read_bytes()


def _pickle_imports(data: bytes) -> tuple[list[str], list[str]] | None:
    """``(globals imported, opcode names)`` of the complete pickles at the start of ``data``.

    Reads the opcodes only (``pickletools.genops``, nothing is executed). ``None`` when the bytes
    do not start with a complete pickle (truncated, corrupt, or not a pickle at all). A legacy
    torch file holds several pickles in a row, followed by raw storage bytes.
    """
    stream = io.BytesIO(data)
    imports: list[str] = []
    ops: list[str] = []
    for count in range(8):
        start = stream.tell()
        if start >= len(data):
            break
        strings: list[str] = []
        try:
            for op, arg, _ in pickletools.genops(stream):
                ops.append(op.name)
                if op.name in _STRING_OPS and isinstance(arg, (str, bytes)):
                    strings.append(arg if isinstance(arg, str) else arg.decode("latin-1"))
                elif op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                    imports.append(arg.replace(" ", "."))
                elif op.name == "STACK_GLOBAL":
                    imports.append(".".join(strings[-2:]) if len(strings) >= 2 else "<a global>")
        except (ValueError, EOFError, UnicodeDecodeError, OverflowError):
            if count == 0:
                return None
            break
    return imports, ops


def _describe_load_failure(path: Path, exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` failed, without torch's advice to disable the check.

    A complete pickle that the weights-only unpickler refused is reported as refused as unsafe,
    naming what loading it would import; anything else as an unreadable (truncated/corrupt) file.
    """
    text = str(exc)
    refused = isinstance(exc, pickle.UnpicklingError) and (
        "Weights only load failed" in text or "WeightsUnpickler" in text or "Unsupported global" in text
    )
    parsed = _pickle_imports(_pickle_bytes(path)) if refused else None
    if refused and parsed is not None:
        imports, ops = parsed
        unsafe = sorted({g for g in imports if not g.startswith(_SAFE_GLOBAL_PREFIXES)})
        if unsafe:
            what = f"unpickling it would import {', '.join(unsafe[:5])}"
        else:
            odd = sorted(set(ops) - {"PROTO", "STOP"})
            what = f"it is a pickle whose opcodes the safe loader does not accept ({', '.join(odd[:8])})"
        return (f"it was refused as unsafe: {what}, which can run arbitrary code. Only "
                "tensors in plain containers are accepted (torch.load with weights_only=True); a whole "
                "pickled model or other Python objects are not: save the model's state_dict() instead")
    sentences = re.split(r"(?<=[.:])\s+|\s+(?=Check the documentation)", " ".join(text.split()))
    cause = " ".join(x for x in sentences if not _ADVICE.search(x)).strip()[:200] or "no details"
    kind = type(exc).__name__
    if kind == "error":  # struct.error, zlib.error...
        kind = f"{type(exc).__module__}.error"
    return ("it is not a readable PyTorch checkpoint (truncated or corrupt download, or not a "
            f"checkpoint at all): {kind}: {cause}")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read ``path`` safely and return its normalized state dict (CPU tensors).

    Unwraps ``{'state_dict'|'model': sd}`` and strips leading ``module.`` / ``1.`` from keys.
    Does not check the keys against the model (see :func:`load_higherhrnet`).

    Raises:
        CheckpointError: missing/unreadable/corrupt file, refused pickle content, not a dict
            of tensors, or keys that collide after stripping prefixes.
    """
    p = Path(path)
    if not p.exists():
        raise _error(path, "the file does not exist")
    if not p.is_file():
        raise _error(path, "it is not a regular file")
    if p.stat().st_size == 0:
        raise _error(path, "the file is empty")
    try:
        with warnings.catch_warnings():  # torch's "please file an issue" note on pickle protocols > 2
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # any reader failure becomes one clear error
        raise _error(path, _describe_load_failure(p, exc)) from None

    for _ in range(2):  # e.g. {'state_dict': {...}} or {'model': {'state_dict': ...}}
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
            if inner is not None:
                obj = inner
    if not isinstance(obj, Mapping):
        raise _error(path, f"it holds a {type(obj).__name__}, not a state dict")
    if not obj:
        raise _error(path, "it holds an empty dict")

    sd: dict[str, torch.Tensor] = {}
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise _error(path, f"it is a dict but not a state dict of tensors (e.g. entry {bad[0]!r} "
                           f"is a {type(obj[bad[0]]).__name__})")
    for key, value in obj.items():
        name = _strip_prefix(key)
        if name in sd:
            raise _error(path, f"key {key!r} collides with another key after stripping prefixes")
        sd[name] = value
    return sd


def detect_width(sd: Mapping[str, torch.Tensor], path: str | os.PathLike = "<state dict>") -> int:
    """HRNet width (32 or 48) of a normalized state dict, from ``transition1.0.0.weight``."""
    w = sd.get(_WIDTH_KEY)
    if w is None:
        raise _error(path, f"it is not a HigherHRNet state dict (no {_WIDTH_KEY!r}; "
                           f"its {len(sd)} keys are {_few(sd)})")
    width = int(w.shape[0]) if w.ndim == 4 else -1
    if width not in HRNET_SPECS:
        raise _error(path, f"{_WIDTH_KEY!r} has shape {list(w.shape)}, i.e. an unsupported width "
                           f"(only {'/'.join(map(str, sorted(HRNET_SPECS)))} exist)")
    return width


def _resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_higherhrnet(path: str | os.PathLike, device: str | torch.device = "cpu") -> HigherHRNet:
    """Build the right :class:`HigherHRNet` for the checkpoint at ``path`` and load it strictly.

    Args:
        path: an official model-zoo file (``.pth`` / ``.pth.tar``) or any compatible state dict
            (plain, ``module.``/``1.``-prefixed, or wrapped in ``{'state_dict'|'model': ...}``).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available).

    Returns:
        The model in ``eval()`` mode on ``device`` (float32), with ``model.width`` set.

    Raises:
        CheckpointError: for any problem with the file (see :func:`read_state_dict`), a foreign
            model, missing/unexpected keys, wrong shapes or non-finite values.
    """
    sd = read_state_dict(path)
    width = detect_width(sd, path)
    with torch.device("meta"):
        expected = HigherHRNet(width).state_dict()  # keys and shapes only

    # Tolerate missing BN step counters (not used in eval mode): take the model's own zeros.
    for key in expected:
        if key.endswith(".num_batches_tracked") and key not in sd:
            sd[key] = torch.zeros((), dtype=torch.long)

    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_few(unexpected)})")
        raise _error(path, f"it does not match HigherHRNet-W{width}: " + " and ".join(parts))
    wrong = [f"{k} {list(sd[k].shape)} (expected {list(v.shape)})"
             for k, v in expected.items() if sd[k].shape != v.shape]
    if wrong:
        raise _error(path, f"it does not match HigherHRNet-W{width}: {len(wrong)} tensors have the "
                           f"wrong shape: {'; '.join(wrong[:3])}")
    kinds = [f"{k} ({sd[k].dtype})" for k, v in expected.items()
             if sd[k].is_floating_point() != v.is_floating_point()]
    if kinds:
        raise _error(path, f"{len(kinds)} tensors have the wrong kind of dtype: {'; '.join(kinds[:3])}")
    nonfinite = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if nonfinite:
        raise _error(path, f"{len(nonfinite)} tensors hold NaN/Inf values ({_few(nonfinite)})")

    # Build on the meta device and adopt the checkpoint's tensors (no wasted random init).
    sd = {k: v.float().contiguous() if v.is_floating_point() else v for k, v in sd.items()}
    with torch.device("meta"):
        model = HigherHRNet(width)
    try:
        model.load_state_dict(sd, strict=True, assign=True)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied into float32
        raise _error(path, f"load_state_dict failed: {' '.join(str(exc).split())[:300]}") from exc
    return model.to(_resolve_device(device)).eval()
