"""The package's layers (README "Code map"): every import of the package points down.

Reads the source of every module (no import) and checks each ``ros2_mvpose`` import, at module
level or inside a function, against the layer table below.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "ros2_mvpose"

#: Top-level subpackage or module -> layer; a module may import its own and lower layers only.
LAYERS = {
    "skeleton": 1, "resources": 1,
    "geometry": 2, "pose2d": 2, "visualization": 2, "evaluation": 2,
    "ros": 3,
    "stages": 4, "io": 4, "sample_render": 4,
    "nodes": 5, "offline": 5,
    "cli": 6,
    "__main__": 7,
}


def _unit(path: Path) -> str:
    """Top-level subpackage or module name of a file of the package."""
    return path.relative_to(PKG).parts[0].removesuffix(".py")


def _imported_units(path: Path) -> set[str]:
    """Top-level names of the package that the file imports (absolute or relative)."""
    tree = ast.parse(path.read_text(), str(path))
    depth = len(path.relative_to(PKG).parts) - 1  # 0 for top-level modules
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = [node.module or ""]
            elif node.level > depth:  # relative import reaching the package root
                base = node.module.split(".")[0] if node.module else None
                names = [f"ros2_mvpose.{base}"] if base else \
                    [f"ros2_mvpose.{a.name}" for a in node.names]
            else:
                continue  # inside the same subpackage
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "ros2_mvpose" and len(parts) > 1:
                out.add(parts[1])
    return out


def test_every_unit_has_a_layer():
    units = {_unit(p) for p in PKG.rglob("*.py")} - {"__init__"}
    assert units <= set(LAYERS), f"add new subpackages to LAYERS and the README: {units - set(LAYERS)}"


def test_imports_point_down_the_layers():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        unit = _unit(path)
        if unit == "__init__":
            continue
        for dst in _imported_units(path) - {unit}:
            if LAYERS.get(dst, 0) >= LAYERS[unit]:
                bad.append(f"{path.relative_to(PKG.parent)} imports {dst} (layer {LAYERS.get(dst)} "
                           f">= {LAYERS[unit]})")
    assert not bad, "\n".join(bad)
