"""Detector groups: several detector nodes, each for a subset of the rig's cameras.

One detector per GPU or per machine, all feeding one triangulator over DDS: each detector node
takes the images of its cameras only (the detector's ``cameras`` parameter) and publishes their
keypoint clouds; the triangulator subscribes to every camera's cloud topic as usual, so it does
not care which process served which camera.

A group list is written ``cam1,cam2;cam3,cam4,cam5`` (groups separated by ``;`` or spaces,
names by ``,``), or given as a list of such strings / of name lists. Group ``k`` (0-based) runs
as the node ``detector_node_<k>``. Pure Python (no rclpy): used by the detector node, the
``mvpose run`` launcher and the launch file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DETECTOR = "detector_node"


def parse_detector_groups(spec: str | Sequence[str] | Sequence[Sequence[str]] | None) -> list[list[str]]:
    """Camera-name groups from ``"cam1,cam2;cam3"``, ``["cam1,cam2", "cam3"]`` or nested lists.

    Returns [] for an empty spec (one detector for all cameras). Raises ValueError for an empty
    group or a camera named in two groups (or twice in one), naming it.
    """
    if spec is None:
        return []
    if isinstance(spec, str):
        items: list = [g for g in re.split(r"[;\s]+", spec.strip()) if g]
    else:
        items = list(spec)
    groups = []
    for item in items:
        parts = item.split(",") if isinstance(item, str) else item
        names = [str(n).strip() for n in parts]
        if not all(names):
            raise ValueError(f"detector group {item!r} has an empty camera name")
        groups.append(names)
    seen: dict[str, int] = {}
    for k, names in enumerate(groups):
        for name in names:
            if name in seen:
                where = "twice in" if seen[name] == k else f"in groups {seen[name]} and"
                raise ValueError(f"camera {name!r} is named {where} group {k} of the detector groups")
            seen[name] = k
    return groups


def group_node_names(groups: Sequence[Sequence[str]]) -> list[str]:
    """The detector node names of ``groups``: ``detector_node_0``, ``detector_node_1``, ...;
    ``[detector_node]`` when there are no groups (one detector for all cameras)."""
    return [f"{DETECTOR}_{k}" for k in range(len(groups))] if groups else [DETECTOR]


def is_detector_name(name: str) -> bool:
    """Whether ``name`` is the detector node's name or a detector group's (``detector_node_<k>``)."""
    return re.fullmatch(rf"{DETECTOR}(_\d+)?", name) is not None


def check_groups_against(groups: Sequence[Sequence[str]], names: Sequence[str], source: str) -> list[str]:
    """Check that every grouped camera exists in ``names`` (the rig's camera names, ``source`` =
    the rig file); returns the rig cameras no group serves (the triangulator gets no keypoints
    for them). Raises ValueError naming unknown cameras and the known ones."""
    known = set(names)
    unknown = [n for g in groups for n in g if n not in known]
    if unknown:
        raise ValueError(f"detector groups name camera(s) {unknown} that {source} does not have; "
                         f"its cameras: {list(names)}")
    grouped = {n for g in groups for n in g}
    return [n for n in names if n not in grouped]


def select_cameras(names: Sequence[str], wanted: Sequence[str], source: str) -> list[int]:
    """Indexes (in ``names`` order) of the cameras listed in ``wanted``; all when ``wanted`` is
    empty (``[]`` or ``[""]``). Raises ValueError naming unknown or repeated cameras, ``source``
    (the rig file or ``image_topics``) and the known names."""
    wanted = [w for w in wanted if w]
    if not wanted:
        return list(range(len(names)))
    dup = sorted({w for w in wanted if wanted.count(w) > 1})
    if dup:
        raise ValueError(f"parameter cameras names {dup} more than once")
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise ValueError(f"parameter cameras names {unknown}, not cameras of {source}; "
                         f"its cameras: {list(names)}")
    return [i for i, n in enumerate(names) if n in wanted]


def flatten_parameters(d: dict, prefix: str = "") -> dict:
    """ROS parameter semantics: nested mappings of a parameters file become dotted names."""
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten_parameters(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _section(data: dict, node: str) -> dict:
    for key in (node, "/" + node):
        params = (data.get(key) or {}).get("ros__parameters")
        if isinstance(params, dict):
            return flatten_parameters(params)
    return {}


def group_parameters(params_file, node: str, cameras: Sequence[str]) -> dict:
    """Parameters of detector group node ``node`` (``detector_node_<k>``) from a ROS 2 parameters
    file: its ``detector_node`` section, then its own section (``detector_node_<k>:``, optional)
    on top, then ``cameras``; nested names dotted. A file that does not parse raises ValueError
    naming it."""
    import yaml

    try:
        with open(params_file, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"parameters file {params_file} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"parameters file {params_file}: expected node sections at the top level")
    params = _section(data, DETECTOR)
    params.update(_section(data, node))
    params["cameras"] = list(cameras)
    return params
