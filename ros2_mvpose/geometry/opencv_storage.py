"""Reading OpenCV ``FileStorage`` files (XML, YAML, JSON) in pure Python.

Calibration files are untrusted input, and OpenCV's own parser can corrupt memory on malformed
files (a mutated YAML brought the process down with ``free(): invalid next size``). This reader
parses the same formats with the standard library (``xml.etree``, ``json``) and PyYAML's safe
loader, so a bad file can only raise :class:`~ros2_mvpose.geometry.rig.CalibrationError`.

Values of the top-level mapping are returned as OpenCV's ``FileNode`` would give them: matrices
(``opencv-matrix``: ``rows``, ``cols``, ``dt``, ``data``; ``opencv-nd-matrix``: ``sizes``) as float
arrays of shape ``(rows, cols)`` (``(rows, cols, channels)`` for multi-channel ``dt`` such as
``3d``), numeric sequences as float arrays, numbers as float, strings as str; a nested mapping
that is not a matrix as ``None``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ros2_mvpose.geometry.rig import CalibrationError, read_text, yaml_error_text

__all__ = ["read_opencv_storage"]

_MATRIX_TAGS = ("opencv-matrix", "opencv-nd-matrix")
_DT = re.compile(r"^\s*(\d*)\s*([ucwsifdhr])\s*$")


class _OpenCVLoader(yaml.SafeLoader):
    """PyYAML safe loader that knows OpenCV's ``!!opencv-matrix`` tags."""


def _construct_matrix(tag: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, f"!!{tag} must be a mapping", node.start_mark)
        out = loader.construct_mapping(node, deep=True)
        out["type_id"] = tag
        return out

    return construct


for _tag in _MATRIX_TAGS:
    _OpenCVLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _construct_matrix(_tag))


def _matrix(node: dict, where: str) -> np.ndarray:
    """An ``opencv-matrix`` / ``opencv-nd-matrix`` mapping -> float array."""
    dt = node.get("dt", "d")
    m = _DT.match(str(dt))
    if m is None:
        raise CalibrationError(f"{where}: matrix element type dt {dt!r} is not an OpenCV type")
    channels = int(m.group(1) or 1)
    try:
        data = np.asarray(node.get("data", []), dtype=float).reshape(-1)
        if node.get("type_id") == "opencv-nd-matrix":
            shape = tuple(int(s) for s in np.asarray(node.get("sizes", []), dtype=float).reshape(-1))
        else:
            shape = (int(node["rows"]), int(node["cols"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        raise CalibrationError(f"{where}: matrix needs numeric rows, cols (or sizes) and data") from None
    shape = shape + ((channels,) if channels > 1 else ())
    if any(s < 0 for s in shape) or int(np.prod(shape, dtype=object)) != data.size:
        raise CalibrationError(f"{where}: matrix of shape {list(shape)} holds {data.size} values")
    return data.reshape(shape)


def _value(v: Any, where: str) -> Any:
    """A parsed value in the form OpenCV's FileNode gives it (see the module docstring)."""
    if isinstance(v, dict):
        return _matrix(v, where) if v.get("type_id") in _MATRIX_TAGS else None
    if isinstance(v, list):
        try:
            return np.asarray(v, dtype=float)
        except (TypeError, ValueError, OverflowError):
            return v
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    return v if isinstance(v, str) else None


def _xml_leaf(text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    tokens = text.split()
    try:
        numbers = [float(t) for t in tokens]
    except ValueError:
        return text
    return numbers[0] if len(numbers) == 1 else numbers


def _xml_node(el: ET.Element) -> Any:
    """An element as plain Python: dict (map or matrix), list (sequence), number or str."""
    children = list(el)
    if el.get("type_id") in _MATRIX_TAGS:
        out: dict[str, Any] = {c.tag: _xml_leaf(c.text or "") for c in children}
        out["type_id"] = el.get("type_id")
        if not isinstance(out.get("data"), list):
            out["data"] = [] if out.get("data") is None else [out["data"]]
        if not isinstance(out.get("sizes"), list) and out.get("sizes") is not None:
            out["sizes"] = [out["sizes"]]
        return out
    if not children:
        return _xml_leaf(el.text or "")
    if all(c.tag == "_" for c in children):
        return [_xml_node(c) for c in children]
    return {c.tag: _xml_node(c) for c in children}


def _parse(text: str, where: str) -> dict:
    head = text.lstrip()
    if head.startswith("<"):
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise CalibrationError(f"{where}: not valid XML ({exc})") from None
        if root.tag != "opencv_storage":
            raise CalibrationError(f"{where}: XML root is <{root.tag}>, not <opencv_storage>")
        return {c.tag: _xml_node(c) for c in root}
    if head.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CalibrationError(f"{where}: not valid JSON ({exc})") from None
    else:
        # OpenCV writes a "%YAML:1.0" (or "%YAML 1.2") directive PyYAML does not take
        text = re.sub(r"\A\s*%YAML[: ]\s*\d+\.\d+[^\n]*\n", "", text)
        try:
            data = yaml.load(text, Loader=_OpenCVLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise CalibrationError(f"{where}: not valid YAML, {yaml_error_text(exc)}") from None
    if not isinstance(data, dict):
        raise CalibrationError(f"{where}: an OpenCV FileStorage file must hold a mapping")
    return data


def read_opencv_storage(path: str | Path) -> dict[str, Any]:
    """Top-level entries of an OpenCV FileStorage file (XML, YAML or JSON), converted as described
    in the module docstring.

    Raises:
        FileNotFoundError: no such file.
        CalibrationError: not XML/YAML/JSON, not a FileStorage layout, or a malformed matrix;
            the message names the file and the entry.
    """
    path = Path(path)
    where = str(path)
    try:
        data = _parse(read_text(path), where)
        return {str(k): _value(v, f"{where}: {k}") for k, v in data.items()}
    except RecursionError:
        raise CalibrationError(f"{where}: nested too deeply to be a calibration file") from None
