"""config/multi_cam.yaml, launch/multi_cam.launch.py, config/mvpose.rviz and ``mvpose run``."""

from __future__ import annotations

import ast
import os
import py_compile
import signal
import subprocess
import sys
from pathlib import Path

import launch_stubs
import pytest
import ros_helpers
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from ros2_mvpose.nodes import detector_node, triangulator_node
from ros2_mvpose.nodes.detector_groups import flatten_parameters
from ros2_mvpose.ros.params import as_specs, declare_parameters

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "multi_cam.yaml"
LAUNCH = ROOT / "launch" / "multi_cam.launch.py"
RVIZ = ROOT / "config" / "mvpose.rviz"
NODES = {"detector_node": detector_node, "triangulator_node": triangulator_node}
# deliberate differences between the file and the nodes' built-in defaults
FILE_VALUES = {"rig_file": "sample/rig.yaml"}

ros_context = ros_helpers.ros_context  # pytest fixture: fresh context on a random domain id


def _file_params() -> dict[str, dict]:
    data = yaml.safe_load(CONFIG.read_text())
    assert set(data) == set(NODES), f"sections {sorted(data)}; expected {sorted(NODES)}"
    return {node: flatten_parameters(data[node]["ros__parameters"]) for node in NODES}


_PY_TYPES = {"string": str, "int": int, "double": float, "bool": bool}


@pytest.mark.parametrize("node", sorted(NODES))
def test_config_lists_every_parameter_with_its_default(node):
    specs = as_specs(NODES[node].PARAMETERS)
    file = _file_params()[node]
    declared = {s.name for s in specs} | {"use_sim_time"}
    assert set(file) == declared, (
        f"{node}: missing from the file {sorted(declared - set(file))}, "
        f"unknown in the file {sorted(set(file) - declared)}"
    )
    assert file["use_sim_time"] is False
    for s in specs:
        expected = FILE_VALUES.get(s.name, s.default)
        value = file[s.name]
        if s.type.endswith("_array"):
            assert list(value) == list(expected), f"{node}.{s.name}: {value!r} != default {expected!r}"
            assert all(type(v) is _PY_TYPES[s.type[:-6]] for v in value), f"{node}.{s.name}: element types"
        else:
            assert value == expected, f"{node}.{s.name}: {value!r} != default {expected!r}"
            assert type(value) is _PY_TYPES[s.type], f"{node}.{s.name}: {type(value).__name__}, not {s.type}"
        assert s.description.strip(), f"{node}.{s.name} has no description"


def test_config_is_read_by_rcl_with_the_declared_types(ros_context):
    """The same parser and declarations as the nodes: every value arrives, with the table's type
    (a wrong type, e.g. ``1`` for a double, raises ValueError in ``declare_parameters``)."""
    for name, module in NODES.items():
        node = Node(name, context=ros_context, cli_args=["--ros-args", "--params-file", str(CONFIG)])
        try:
            values = declare_parameters(node, module.PARAMETERS)
            for s in as_specs(module.PARAMETERS):
                expected = FILE_VALUES.get(s.name, s.default)
                assert values[s.name] == (list(expected) if s.type.endswith("_array") else expected), s.name
            # a value that differs from the default really comes from the file
            if "rig_file" in FILE_VALUES and any(s.name == "rig_file" for s in as_specs(module.PARAMETERS)):
                assert values["rig_file"] == FILE_VALUES["rig_file"]
            assert node.get_parameter("use_sim_time").value is False
        finally:
            node.destroy_node()


def test_launch_file_compiles_and_references_existing_files():
    py_compile.compile(str(LAUNCH), doraise=True)
    tree = ast.parse(LAUNCH.read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    # executables: exactly the console scripts setup.py installs
    setup_src = (ROOT / "setup.py").read_text()
    for exe in ("detector_node", "triangulator_node"):
        assert exe in strings and f"{exe} = ros2_mvpose.nodes.{exe}:main" in setup_src
    # parameters and RViz files exist and are installed under share/ros2_mvpose/config
    assert "multi_cam.yaml" in strings and CONFIG.exists()
    assert "mvpose.rviz" in strings and RVIZ.exists()
    assert '"config/*.yaml"' in setup_src and '"config/*.rviz"' in setup_src and '"launch/*.py"' in setup_src
    declared = {
        call.args[0].value
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "DeclareLaunchArgument"
    }
    assert declared == {"params_file", "rig_file", "checkpoint", "use_sim_time", "rviz", "detector_groups"}
    # the parameter names the launch file overrides exist in the nodes
    for name in ("rig_file", "checkpoint"):
        assert name in strings
    assert "checkpoint" in {s.name for s in as_specs(detector_node.PARAMETERS)}
    assert {"rig_file"} <= {s.name for s in as_specs(triangulator_node.PARAMETERS)}
    assert "rviz2" in strings and "OpaqueFunction(function=_rviz)" in LAUNCH.read_text()


# ------------------------------------------------------------------ the launch file's logic
@pytest.mark.parametrize("installed", [True, False])
def test_launch_starts_rviz_only_when_the_package_exists(monkeypatch, tmp_path, caplog, installed):
    pytest.importorskip("ament_index_python")
    packages = ["ros2_mvpose", "rviz2"] if installed else ["ros2_mvpose"]
    mod = launch_stubs.load_launch_module(monkeypatch, tmp_path, packages)
    prefix = tmp_path / "ament_prefix"
    entities = mod.generate_launch_description()
    functions = [e.kwargs["function"] for e in entities if "function" in e.kwargs]
    assert functions == [mod._nodes, mod._rviz]  # RViz decided at launch time, not at import
    defaults = {e.args[0]: e.kwargs["default_value"] for e in entities if e.args}
    assert defaults["rviz"] == "false"
    assert defaults["params_file"] == str(prefix / "share" / "ros2_mvpose" / "config" / "multi_cam.yaml")

    ctx = {**defaults, "rviz": "true", "use_sim_time": "True"}
    with caplog.at_level("WARNING"):
        started = mod._rviz(ctx)
    if installed:
        (node,) = started
        assert node.kwargs["package"] == "rviz2" and node.kwargs["executable"] == "rviz2"
        rviz_config = prefix / "share" / "ros2_mvpose" / "config" / "mvpose.rviz"
        assert node.kwargs["arguments"] == ["-d", str(rviz_config)]
        assert node.kwargs["parameters"] == [{"use_sim_time": True}]
        assert "rviz2" not in caplog.text
    else:
        assert started == []
        assert "rviz:=true, but the rviz2 package is not installed" in caplog.text
    assert mod._rviz({**ctx, "rviz": "false"}) == []
    # the pipeline nodes start either way
    nodes = mod._nodes({**ctx, "detector_groups": "", "rig_file": "", "checkpoint": ""})
    assert [n.kwargs["executable"] for n in nodes] == ["detector_node", "triangulator_node"]


def test_launch_without_an_ament_index_warns_instead_of_failing(monkeypatch, tmp_path, caplog):
    pytest.importorskip("ament_index_python")
    mod = launch_stubs.load_launch_module(monkeypatch, tmp_path)
    monkeypatch.delenv("AMENT_PREFIX_PATH")
    with caplog.at_level("WARNING"):
        assert mod._rviz({"rviz": "1", "use_sim_time": "false"}) == []
    assert "rviz2 package is not installed" in caplog.text


def test_launch_description_when_launch_ros_is_installed():
    pytest.importorskip("launch_ros", reason="launch_ros is not installed (pip-only environment)")
    import importlib.util

    from launch import LaunchDescription

    spec = importlib.util.spec_from_file_location("multi_cam_launch", LAUNCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    try:
        ld = mod.generate_launch_description()
    except Exception as exc:  # package not installed into an ament index here
        if "PackageNotFound" in type(exc).__name__:
            pytest.skip(f"ros2_mvpose is not installed in an ament index: {exc}")
        raise
    assert isinstance(ld, LaunchDescription)


def test_rviz_config_matches_the_triangulator_topics():
    rviz = yaml.safe_load(RVIZ.read_text())
    vm = rviz["Visualization Manager"]
    assert vm["Global Options"]["Fixed Frame"] == "world"
    displays = {d["Class"]: d for d in vm["Displays"]}
    topics = {d["Topic"]["Value"]: d for d in vm["Displays"] if "Topic" in d}
    assert "rviz_default_plugins/Grid" in displays
    assert topics["/skeletons/markers"]["Class"] == "rviz_default_plugins/MarkerArray"
    assert topics["/skeletons/points"]["Class"] == "rviz_default_plugins/PointCloud2"
    cams = topics["/skeletons/cameras"]
    assert cams["Class"] == "rviz_default_plugins/MarkerArray"
    assert cams["Topic"]["Durability Policy"] == "Transient Local"  # latched frustums
    src = Path(triangulator_node.__file__).read_text()
    for t in ("skeletons/markers", "skeletons/points", "skeletons/cameras"):
        assert f'"{t}"' in src


# ------------------------------------------------------------------ mvpose run over DDS
def _tiny_rig(path: Path) -> Path:
    from ros2_mvpose.geometry.rig import Rig, RigCamera, save_rig
    from ros2_mvpose.geometry.synthetic import ring_rig

    ns = ros_helpers.unique_ns()
    cams = ring_rig(2)
    save_rig(Rig("world", [RigCamera.from_camera(c, topic_prefix=ns) for c in cams]), path)
    return path


@pytest.mark.ros
@pytest.mark.parametrize(
    "mode,executor", [("inprocess", "single"), ("inprocess", "multi"), ("processes", "single")]
)
def test_mvpose_run_starts_both_nodes_from_the_config(ros_context, tmp_path, mode, executor):
    rig = _tiny_rig(tmp_path / "rig.yaml")
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_context.test_domain_id),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "ros2_mvpose", "run", "--params", str(CONFIG), "--rig", str(rig),
           "--mode", mode, "--executor", executor,
           "-p", "detector_node:backend:=timing", "-p", "slop:=0.031"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    probe = Node("launch_probe", context=ros_context)
    ex = SingleThreadedExecutor(context=ros_context)
    ex.add_node(probe)
    try:
        def names():
            return {n for n, _ in probe.get_node_names_and_namespaces()}

        ok = ros_helpers.spin_until(ex, lambda: {"detector_node", "triangulator_node"} <= names()
                                    or proc.poll() is not None, timeout=40.0)
        assert ok and proc.poll() is None, f"nodes not on the graph: {names()}; output:\n{_output(proc)}"
        # topics from the rig passed with --rig: the detector publishes and the triangulator reads them
        from ros2_mvpose.geometry.rig import load_rig

        kp_topic = load_rig(rig).cameras[0].image_topic.rsplit("/", 1)[0] + "/keypoints2d"
        # in one process the detector hands its keypoints over directly (nodes.inprocess): the
        # triangulator does not subscribe to them; between processes it does
        subs = 1 if mode == "processes" else 0
        def counts():
            return probe.count_publishers(kp_topic), probe.count_subscribers(kp_topic)

        assert ros_helpers.spin_until(ex, lambda: counts()[0] >= 1 and counts()[1] == subs, 10.0), (
            f"{kp_topic}: (publishers, subscribers) {counts()}")
        # values come from the file, with the command line overrides on top
        values = _remote_params(ex, probe, "triangulator_node", ["slop", "queue_size", "rig_file"])
        assert values["slop"] == pytest.approx(0.031)
        assert values["queue_size"] == yaml.safe_load(CONFIG.read_text())["triangulator_node"][
            "ros__parameters"]["queue_size"]
        assert Path(values["rig_file"]) == rig.resolve()
        det = _remote_params(ex, probe, "detector_node", ["backend"])
        assert det["backend"] == "timing"
    finally:
        ex.shutdown()
        probe.destroy_node()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    out = _output(proc)
    assert proc.returncode == 0, f"mvpose run exited with {proc.returncode}:\n{out}"
    # rcl never sees the CLI's own options (it would take `-p slop:=0.031` for a remap rule)
    assert "deprecated" not in out and "remap" not in out, out


def _output(proc) -> str:
    if proc.poll() is None:
        return "(still running)"
    return proc.stdout.read() if proc.stdout else ""


def _remote_params(ex, node, target: str, names: list[str]) -> dict:
    from rclpy.parameter import parameter_value_to_python
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(node, target)
    assert ros_helpers.spin_until(ex, lambda: client.services_are_ready(), timeout=10.0)
    fut = client.get_parameters(names)
    assert ros_helpers.spin_until(ex, fut.done, timeout=10.0)
    return {n: parameter_value_to_python(v) for n, v in zip(names, fut.result().values)}


def test_node_arguments_and_overrides(tmp_path):
    from ros2_mvpose.nodes.launcher import LaunchConfig, node_arguments

    rig = _tiny_rig(tmp_path / "rig.yaml")
    cfg = LaunchConfig(params_file=CONFIG, rig=str(rig), checkpoint="w32.pth", use_sim_time=True,
                       extra_params=["slop:=0.02", "detector_node:backend:=timing"])
    det = node_arguments(cfg, "detector_node")
    tri = node_arguments(cfg, "triangulator_node")
    assert det[:3] == ["--ros-args", "--params-file", str(CONFIG)] == tri[:3]
    assert f"rig_file:={rig.resolve()}" in det and f"rig_file:={rig.resolve()}" in tri
    assert any(a.startswith("checkpoint:=") for a in det)
    assert not any(a.startswith("checkpoint:=") for a in tri)
    assert "use_sim_time:=true" in det and "use_sim_time:=true" in tri
    assert "backend:=timing" in det and "backend:=timing" not in tri
    assert "slop:=0.02" in det and "slop:=0.02" in tri
    with pytest.raises(ValueError, match="unknown node"):
        node_arguments(LaunchConfig(params_file=CONFIG, extra_params=["foo_node:x:=1"]), "detector_node")
    with pytest.raises(ValueError, match="name:=value"):
        node_arguments(LaunchConfig(params_file=CONFIG, extra_params=["slop=1"]), "detector_node")
    with pytest.raises(FileNotFoundError):
        node_arguments(LaunchConfig(params_file=tmp_path / "missing.yaml"), "detector_node")
    from ros2_mvpose.nodes.launcher import run_inprocess

    with pytest.raises(ValueError, match="unknown executor 'events'"):
        run_inprocess(LaunchConfig(params_file=CONFIG, executor="events"))
