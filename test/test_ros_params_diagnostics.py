"""Tests of the parameter-table and diagnostics helpers (ros2_mvpose.ros.params / .diagnostics)."""

from __future__ import annotations

import math

import pytest

from ros2_mvpose.ros.diagnostics import LatencyStats, RateMeter
from ros2_mvpose.ros.params import as_specs, table_defaults

TABLE = [
    ("name", "cam", "a string", "string"),
    ("topics", [], "a list of topics", "string_array"),
    ("slop", 0.05, "seconds", "double"),
    ("size", 512, "pixels", "int"),
    ("flag", True, "a switch", "bool"),
    ("weights", [1.0, 2.0], "some numbers", "double_array"),
]


def test_table_defaults_and_validation():
    assert table_defaults(TABLE)["slop"] == 0.05
    with pytest.raises(ValueError, match="duplicate"):
        as_specs(TABLE + [("slop", 1.0, "again", "double")])
    with pytest.raises(ValueError, match="unknown type"):
        as_specs([("x", 1, "d", "float")])
    with pytest.raises(ValueError, match="no description"):
        as_specs([("x", 1, "", "int")])


@pytest.fixture
def make_node():
    """``make_node(name, **overrides)``: rclpy nodes with parameter overrides on a fresh context
    (random domain id); destroyed and shut down afterwards."""
    rclpy = pytest.importorskip("rclpy")
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from ros_helpers import random_domain_id

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=random_domain_id())
    nodes = []

    def make(name: str, **overrides):
        nodes.append(Node(name, context=ctx,
                          parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()]))
        return nodes[-1]

    try:
        yield make
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.shutdown(context=ctx)


def test_declare_parameters_on_a_real_node(make_node):
    from ros2_mvpose.ros.params import declare_parameters

    node = make_node("params_test", topics=["/a/image", "/b/image"], size=7)
    values = declare_parameters(node, TABLE)
    assert values == {
        "name": "cam",
        "topics": ["/a/image", "/b/image"],
        "slop": 0.05,
        "size": 7,
        "flag": True,
        "weights": [1.0, 2.0],
    }
    desc = node.describe_parameter("slop")
    assert desc.description == "seconds" and desc.read_only
    with pytest.raises(ValueError, match="'size' must be of type int"):
        declare_parameters(make_node("params_bad", size="big"), TABLE)
    assert declare_parameters(make_node("params_empty"), TABLE)["topics"] == []


def test_rate_meter():
    r = RateMeter(window=2.0)
    assert r.rate(0.0) == 0.0
    for k in range(60):
        r.tick(k / 30)
    assert r.rate(59 / 30) == pytest.approx(30.0, abs=0.6)
    assert r.rate(10.0) == 0.0  # nothing in the last 2 s
    assert r.count == 60


def test_latency_stats():
    s = LatencyStats(maxlen=100)
    assert math.isnan(s.summary_ms()["median"])
    for k in range(1, 101):
        s.add(k / 1000)
    out = s.summary_ms()
    assert out["median"] == pytest.approx(50.5)
    assert out["p99"] == pytest.approx(99.01)
    assert out["max"] == pytest.approx(100.0) and out["n"] == 100
    s.add(1.0)  # bounded: the oldest value goes
    assert s.summary_ms()["n"] == 100


def test_unknown_and_renamed_parameters_are_named_not_ignored_silently(capfd, make_node):
    from ros2_mvpose.ros.params import declare_parameters

    node = make_node("params_unknown", dead_after=0.5, slpo=0.1, world_frame="w", tick_period=0.05)
    values = declare_parameters(node, TABLE, known=["world_frame"])  # the other node's: no warning
    assert values["slop"] == 0.05
    err = capfd.readouterr().err
    assert (
        "parameter 'dead_after' is not a parameter of this node and is ignored; it is now 'camera_timeout'"
        in err
    )
    assert "parameter 'slpo' is not a parameter of this node and is ignored" in err
    assert "'tick_period' is not a parameter of this node and is ignored; it is no longer needed" in err
    assert "world_frame" not in err
