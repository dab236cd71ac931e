"""Declare a node's parameters from one table, each with a description and an explicit type.

A table is a sequence of ``(name, default, description, type)`` rows; ``type`` is one of
``"string"``, ``"int"``, ``"double"``, ``"bool"``, ``"string_array"``, ``"int_array"``,
``"double_array"``, ``"bool_array"``. The same table documents the node (docs, config file
checks): see ``PARAMETERS`` in ``ros2_mvpose.nodes.detector_node``.

``rclpy`` is imported lazily so the tables and :func:`table_defaults` work without ROS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple


class ParamSpec(NamedTuple):
    """One parameter: name, default value, one-line description, type name."""

    name: str
    default: Any
    description: str
    type: str


_TYPES = ("string", "int", "double", "bool", "string_array", "int_array", "double_array", "bool_array")


def as_specs(table: Sequence[Sequence]) -> list[ParamSpec]:
    """Normalize a table of rows into ``ParamSpec`` (checks types and unique names)."""
    specs = [r if isinstance(r, ParamSpec) else ParamSpec(*r) for r in table]
    names = [s.name for s in specs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"duplicate parameter name(s): {sorted(dup)}")
    for s in specs:
        if s.type not in _TYPES:
            raise ValueError(f"parameter {s.name!r}: unknown type {s.type!r}; one of {_TYPES}")
        if not s.description:
            raise ValueError(f"parameter {s.name!r} has no description")
    return specs


def table_defaults(table: Sequence[Sequence]) -> dict[str, Any]:
    """``{name: default}`` of a parameter table."""
    return {s.name: s.default for s in as_specs(table)}


def _rclpy_type(type_name: str):
    from rclpy.parameter import Parameter

    return {
        "string": Parameter.Type.STRING,
        "int": Parameter.Type.INTEGER,
        "double": Parameter.Type.DOUBLE,
        "bool": Parameter.Type.BOOL,
        "string_array": Parameter.Type.STRING_ARRAY,
        "int_array": Parameter.Type.INTEGER_ARRAY,
        "double_array": Parameter.Type.DOUBLE_ARRAY,
        "bool_array": Parameter.Type.BOOL_ARRAY,
    }[type_name]


def declare_parameters(
    node, table: Sequence[Sequence], read_only: bool = True, known: Iterable[str] = ()
) -> dict[str, Any]:
    """Declare every parameter of ``table`` on ``node`` and return ``{name: value}``.

    Each parameter gets a ``ParameterDescriptor`` with its description and type. Empty-list
    defaults are declared by type (rclpy cannot infer a type from ``[]``) and read back as
    ``[]`` when nobody set them. An override of the wrong type raises ``ValueError`` naming the
    parameter and the expected type. Array values are returned as Python lists.
    """
    from rcl_interfaces.msg import ParameterDescriptor

    values: dict[str, Any] = {}
    for spec in as_specs(table):
        ptype = _rclpy_type(spec.type)
        desc = ParameterDescriptor(
            name=spec.name, type=int(ptype.value), description=spec.description, read_only=read_only
        )
        default = spec.default
        if spec.type == "double" and isinstance(default, int) and not isinstance(default, bool):
            default = float(default)
        try:
            if isinstance(default, (list, tuple)) and len(default) == 0:
                param = node.declare_parameter(spec.name, ptype, desc)
            else:
                param = node.declare_parameter(
                    spec.name, list(default) if isinstance(default, tuple) else default, desc
                )
        except Exception as exc:  # rclpy raises its own exception types for type mismatches
            if type(exc).__name__ in ("InvalidParameterTypeException", "InvalidParameterValueException"):
                raise ValueError(f"parameter {spec.name!r} must be of type {spec.type}: {exc}") from exc
            raise
        value = param.value
        if value is None:
            value = list(default) if isinstance(default, (list, tuple)) else default
        elif spec.type.endswith("_array"):
            value = list(value)
        values[spec.name] = value
    unknown_overrides(node, table, known)
    return values


#: former parameter names -> the name that replaced them (None: no longer needed)
RENAMED = {"dead_after": "camera_timeout", "tick_period": None}


def unknown_overrides(node, table: Sequence[Sequence], known: Iterable[str] = ()) -> list[str]:
    """Warn about parameters set for ``node`` (parameters file, ``-p``, overrides) that neither it
    declares nor are in ``known`` (e.g. the other node's, set for both): a misspelt or renamed
    setting would otherwise be ignored silently. Returns their names."""
    declared = {s.name for s in as_specs(table)} | {"use_sim_time"} | set(known)
    given = getattr(node, "_parameter_overrides", {}) or {}
    unknown = sorted(n for n in given if n not in declared and not n.startswith("qos_overrides."))
    for name in unknown:
        new = RENAMED.get(name, "")
        hint = f"; it is now {new!r}" if new else ("; it is no longer needed" if name in RENAMED else "")
        node.get_logger().warning(f"parameter {name!r} is not a parameter of this node and is ignored{hint}")
    return unknown


# ------------------------------------------------------------------ dataclass parameter groups
_ANNOTATION_TYPES = {
    "str": "string",
    "int": "int",
    "float": "double",
    "bool": "bool",
    "list[str]": "string_array",
    "list[int]": "int_array",
    "list[float]": "double_array",
    "list[bool]": "bool_array",
}


def param(default: Any, description: str, *, zero_is_none: bool = False):
    """A dataclass field that is also a ROS parameter: its default and one-line description.

    The parameter type comes from the field's annotation (``str``, ``int``, ``float``, ``bool``
    or ``list[...]`` of those). ``zero_is_none``: the consumer takes ``0`` as ``None``
    ("automatic"), see :func:`kwargs_of`.
    """
    from dataclasses import field

    meta = {"description": description, "zero_is_none": zero_is_none}
    if isinstance(default, (list, tuple)):
        items = tuple(default)
        return field(default_factory=lambda: list(items), metadata=meta)
    return field(default=default, metadata=meta)


def specs_of(group: Any, prefix: str = "") -> tuple[ParamSpec, ...]:
    """The ``ParamSpec`` rows of a parameter dataclass (a class, or an instance whose values are
    taken as the defaults), names prefixed with ``prefix``."""
    from dataclasses import fields, is_dataclass

    if not is_dataclass(group):
        raise TypeError(f"{group!r} is not a dataclass")
    instance = group if not isinstance(group, type) else group()
    out = []
    for f in fields(instance):
        if "description" not in f.metadata:
            continue
        ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        ann = ann.replace(" ", "")
        if ann not in _ANNOTATION_TYPES:
            raise TypeError(f"parameter {f.name!r}: unsupported annotation {f.type!r}")
        default = getattr(instance, f.name)
        if isinstance(default, list):
            default = list(default)
        out.append(ParamSpec(prefix + f.name, default, f.metadata["description"], _ANNOTATION_TYPES[ann]))
    return tuple(out)


def from_values(group: Any, values: dict[str, Any], prefix: str = "") -> Any:
    """A parameter dataclass filled from ``{prefixed name: value}`` (missing names keep the
    group's defaults; ``group`` is a class or an instance giving those defaults)."""
    from dataclasses import fields, replace

    instance = group if not isinstance(group, type) else group()
    changes = {}
    for f in fields(instance):
        key = prefix + f.name
        if key in values:
            v = values[key]
            changes[f.name] = list(v) if isinstance(v, (list, tuple)) else v
    return replace(instance, **changes)


def kwargs_of(instance: Any) -> dict[str, Any]:
    """``{field: value}`` of a parameter dataclass, ``0`` -> ``None`` for ``zero_is_none`` fields."""
    from dataclasses import fields

    out = {}
    for f in fields(instance):
        v = getattr(instance, f.name)
        if f.metadata.get("zero_is_none") and v == 0:
            v = None
        out[f.name] = v
    return out
