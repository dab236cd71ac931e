"""Scale-out: several detectors, each for a subset of the cameras, feed one triangulator.

Unit level: group parsing, the detector's ``cameras`` parameter, ``mvpose run``'s node arguments
per group and the launch file's group expansion. Over DDS: two real detector processes started
by ``mvpose run --mode processes --detector-groups`` (BlazePose, the built-in sample bag) and
one triangulator node that reconstructs the person from all five cameras.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import launch_stubs
import numpy as np
import pytest
import rclpy
import ros_helpers
import yaml
from rclpy.parameter import Parameter

from ros2_mvpose.nodes.detector_groups import (
    check_groups_against,
    group_node_names,
    group_parameters,
    is_detector_name,
    parse_detector_groups,
    select_cameras,
)
from ros2_mvpose.nodes.launcher import LaunchConfig, check_detector_groups, node_arguments, stop_processes

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "multi_cam.yaml"
SAMPLE = ROOT / "sample"
ros_context = ros_helpers.ros_context


# ------------------------------------------------------------------ groups
def test_parse_groups_forms_and_errors():
    expected = [["cam1", "cam2"], ["cam3", "cam4", "cam5"]]
    assert parse_detector_groups("cam1,cam2;cam3,cam4,cam5") == expected
    assert parse_detector_groups("cam1,cam2 cam3,cam4,cam5") == expected
    assert parse_detector_groups(["cam1,cam2", "cam3, cam4,cam5"]) == expected
    assert parse_detector_groups(expected) == expected
    assert parse_detector_groups("") == parse_detector_groups(None) == parse_detector_groups([]) == []
    with pytest.raises(ValueError, match=r"'cam2' is named in groups 0 and group 1"):
        parse_detector_groups("cam1,cam2;cam2,cam3")
    with pytest.raises(ValueError, match="twice in group 0"):
        parse_detector_groups("cam1,cam1")
    with pytest.raises(ValueError, match="empty camera name"):
        parse_detector_groups("cam1,,cam2")
    assert group_node_names(expected) == ["detector_node_0", "detector_node_1"]
    assert group_node_names([]) == ["detector_node"]
    assert is_detector_name("detector_node") and is_detector_name("detector_node_12")
    assert not is_detector_name("triangulator_node") and not is_detector_name("detector_node_x")


def test_groups_partition_property():
    """Random partitions of random camera names round-trip through the string form, select
    exactly their cameras in rig order, and together serve every camera once."""
    rng = random.Random(7)
    for _ in range(300):
        names = [f"c{k}_{rng.randrange(1000)}" for k in range(rng.randint(1, 12))]
        shuffled = rng.sample(names, len(names))
        n_cuts = rng.randint(0, len(names) - 1)
        cuts = sorted(rng.sample(range(1, len(names)), n_cuts)) if n_cuts else []
        groups = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(names)])]
        text = ";".join(",".join(g) for g in groups)
        assert parse_detector_groups(text) == groups
        assert check_groups_against(groups, names, "rig.yaml") == []
        served = []
        for g in groups:
            idx = select_cameras(names, g, "rig.yaml")
            assert idx == sorted(idx) and [names[i] for i in idx] == [n for n in names if n in g]
            served += idx
        assert sorted(served) == list(range(len(names)))
        if len(groups) > 1:  # leave one group out: exactly its cameras are reported unserved
            assert sorted(check_groups_against(groups[1:], names, "rig.yaml")) == sorted(groups[0])


def test_select_cameras_errors_name_the_source():
    names = ["cam1", "cam2", "cam3"]
    assert select_cameras(names, [""], "rig.yaml") == [0, 1, 2]
    assert select_cameras(names, [], "rig.yaml") == [0, 1, 2]
    with pytest.raises(ValueError, match=r"\['cam9'\], not cameras of rig.yaml; its cameras: \['cam1'"):
        select_cameras(names, ["cam1", "cam9"], "rig.yaml")
    with pytest.raises(ValueError, match="more than once"):
        select_cameras(names, ["cam1", "cam1"], "rig.yaml")
    with pytest.raises(ValueError, match=r"camera\(s\) \['camX'\] that r.yaml does not have"):
        check_groups_against([["cam1"], ["camX"]], names, "r.yaml")


def test_detector_node_serves_only_its_cameras(ros_context, tmp_path):
    from ros2_mvpose.nodes.detector_node import DetectorNode

    rig = str(SAMPLE / "rig.yaml")
    node = DetectorNode(context=ros_context, parameter_overrides=[
        Parameter("rig_file", value=rig), Parameter("backend", value="timing"),
        Parameter("cameras", value=["cam4", "cam2"])])
    try:
        assert node.camera_names == ["cam2", "cam4"]  # rig order
        assert node.image_topics == ["/cam2/image_raw", "/cam4/image_raw"]
        assert node.keypoint_topics == ["/cam2/keypoints2d", "/cam4/keypoints2d"]
        assert len(node._subs) == 2
    finally:
        node.destroy_node()
    topics = Parameter("image_topics", value=["/a/image", "/b/image", "/c/image"])
    node = DetectorNode(context=ros_context, parameter_overrides=[
        topics, Parameter("backend", value="timing"), Parameter("cameras", value=["c"])])
    try:
        assert node.image_topics == ["/c/image"]
    finally:
        node.destroy_node()
    with pytest.raises(ValueError, match=r"\['cam7'\], not cameras of .*rig.yaml"):
        DetectorNode(context=ros_context, parameter_overrides=[
            Parameter("rig_file", value=rig), Parameter("backend", value="timing"),
            Parameter("cameras", value=["cam7"])])


# ------------------------------------------------------------------ mvpose run
def test_node_arguments_per_group(tmp_path):
    params = tmp_path / "params.yaml"
    data = yaml.safe_load(CONFIG.read_text())
    data["detector_node_1"] = {"ros__parameters": {"device": "cuda:1"}}
    params.write_text(yaml.safe_dump(data))
    cfg = LaunchConfig(params_file=params, rig=str(SAMPLE / "rig.yaml"),
                       detector_groups="cam1,cam2;cam3,cam4,cam5",
                       extra_params=["detector_node:backend:=timing", "detector_node_0:input_size:=256",
                                     "slop:=0.02"])
    assert cfg.node_names() == ["detector_node_0", "detector_node_1", "triangulator_node"]
    a0, a1 = node_arguments(cfg, "detector_node_0"), node_arguments(cfg, "detector_node_1")
    tri = node_arguments(cfg, "triangulator_node")
    assert a0[:3] == ["--ros-args", "-r", "__node:=detector_node_0"]
    assert "cameras:=[cam1, cam2]" in a0 and "cameras:=[cam3, cam4, cam5]" in a1
    assert "device:=cpu" in a0 and a1.index("device:=cuda:1") > a1.index("--params-file")
    assert "device:=cpu" not in a1  # its own section replaces the detector's value
    assert "input_size:=256" in a0 and "input_size:=256" not in a1
    assert "backend:=timing" in a0 and "backend:=timing" in a1 and "backend:=timing" not in tri
    assert "slop:=0.02" in a0 and "slop:=0.02" in tri
    # --rig comes after the file's rig_file, so it wins (rcl: the last -p of a name)
    assert max(i for i, a in enumerate(a0) if a.startswith("rig_file:=")) == a0.index(
        f"rig_file:={(SAMPLE / 'rig.yaml').resolve()}")
    assert not any(a.startswith("cameras:=") for a in tri)
    with pytest.raises(ValueError, match="unknown node 'detector_node'"):
        node_arguments(cfg, "detector_node")
    with pytest.raises(ValueError, match="unknown node 'detector_node_5'"):
        node_arguments(dataclasses.replace(cfg, extra_params=["detector_node_5:device:=cpu"]),
                       "detector_node_0")
    assert check_detector_groups(cfg) == []
    unserved = check_detector_groups(dataclasses.replace(cfg, detector_groups="cam1;cam3"))
    assert unserved == ["cam2", "cam4", "cam5"]
    with pytest.raises(ValueError, match="'cam9'"):
        check_detector_groups(dataclasses.replace(cfg, detector_groups="cam1;cam9"))


def test_group_parameters_are_read_with_the_declared_types(ros_context, tmp_path):
    """What the launcher passes a group node is what rcl parses into the declared types."""
    from rclpy.node import Node

    from ros2_mvpose.nodes import detector_node
    from ros2_mvpose.ros.params import declare_parameters

    cfg = LaunchConfig(params_file=CONFIG, detector_groups="cam1;cam2,cam3")
    node = Node("detector_node_1", context=ros_context, cli_args=node_arguments(cfg, "detector_node_1"))
    try:
        values = declare_parameters(node, detector_node.PARAMETERS)
        section = group_parameters(CONFIG, "detector_node_1", ["cam2", "cam3"])
        for name, value in section.items():
            got = node.get_parameter("use_sim_time").value if name == "use_sim_time" else values[name]
            assert got == value, name
        assert values["cameras"] == ["cam2", "cam3"]
    finally:
        node.destroy_node()


def test_launch_file_starts_one_detector_per_group(monkeypatch, tmp_path):
    launch = launch_stubs.load_launch_module(monkeypatch, tmp_path)
    actions = launch.generate_launch_description()
    defaults = {a.args[0]: a.kwargs["default_value"] for a in actions if "default_value" in a.kwargs}
    assert defaults["detector_groups"] == ""
    context = dict(defaults, params_file=str(CONFIG), rig_file="/r/rig.yaml")

    def nodes(groups):
        built = launch._nodes(dict(context, detector_groups=groups))
        return {n.kwargs["name"]: n.kwargs for n in built}

    single = nodes("")
    assert set(single) == {"detector_node", "triangulator_node"}
    grouped = nodes("cam1,cam2;cam3,cam4,cam5")
    assert set(grouped) == {"detector_node_0", "detector_node_1", "triangulator_node"}
    for name, cams in (("detector_node_0", ["cam1", "cam2"]), ("detector_node_1", ["cam3", "cam4", "cam5"])):
        node = grouped[name]
        assert node["executable"] == "detector_node"
        file, section, overrides = node["parameters"]
        assert file == str(CONFIG) and section == group_parameters(CONFIG, name, cams)
        assert overrides["rig_file"] == "/r/rig.yaml"  # launch arguments override the file
    assert grouped["triangulator_node"] == single["triangulator_node"]


# ------------------------------------------------------------------ over DDS
def _sample_sets(rig):
    """The sample bag's images as ``[(stamp_ns, [Image per rig camera])]`` in stamp order."""
    from ros2_mvpose.io.rosbag_io import read_bag

    topics = [c.image_topic for c in rig.cameras]
    by_stamp: dict[int, dict[str, object]] = {}
    for m in read_bag(SAMPLE / "sample_bag", topics):
        s = m.msg.header.stamp
        by_stamp.setdefault(s.sec * 1_000_000_000 + s.nanosec, {})[m.topic] = m.msg
    return [(k, [v[t] for t in topics]) for k, v in sorted(by_stamp.items()) if len(v) == len(topics)]


@pytest.mark.ros
@pytest.mark.slow
def test_two_detector_processes_feed_one_triangulator(ros_context, tmp_path):
    pytest.importorskip("mediapipe", reason="mediapipe not installed (scripts/requirements-blazepose.txt)")
    from rclpy.node import NodeNameNonExistentError
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image, PointCloud2

    from ros2_mvpose.evaluation import ErrorStats
    from ros2_mvpose.geometry.rig import Rig, load_rig, save_rig
    from ros2_mvpose.nodes.triangulator_node import TriangulatorNode
    from ros2_mvpose.ros.pointcloud import cloud_to_skeletons

    t_start = time.monotonic()
    sample_rig = load_rig(SAMPLE / "rig.yaml")
    ns = ros_helpers.unique_ns()
    rig = Rig(sample_rig.world_frame, [
        dataclasses.replace(c, image_topic=ns + c.image_topic, camera_info_topic=ns + c.camera_info_topic)
        for c in sample_rig.cameras])
    rig_file = tmp_path / "rig.yaml"
    save_rig(rig, rig_file)
    sets = _sample_sets(sample_rig)
    truth = {f["stamp_ns"]: [np.array(p["joints"]) for p in f["people"]]
             for f in json.loads((SAMPLE / "ground_truth.json").read_text())["frames"]}

    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_context.test_domain_id),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "ros2_mvpose", "run", "--params", str(CONFIG), "--rig", str(rig_file),
           "--mode", "processes", "--nodes", "detector_node",
           "--detector-groups", "cam1,cam2", "cam3,cam4,cam5",
           "-p", "detector_node:backend:=blazepose", "-p", "detector_node:diagnostics_period:=0.0"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    tri = TriangulatorNode(context=ros_context, parameter_overrides=[
        Parameter("rig_file", value=str(rig_file)), Parameter("diagnostics_period", value=0.0),
        Parameter("min_cameras", value=5), Parameter("camera_timeout", value=30.0)])
    io = rclpy.create_node("groups_io", context=ros_context)
    rel = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pubs = [io.create_publisher(Image, c.image_topic, rel) for c in rig.cameras]
    clouds: list[PointCloud2] = []
    io.create_subscription(PointCloud2, "skeletons/points", clouds.append, rel)
    ex = ros_helpers.make_executor(ros_context, [tri, io])
    try:
        kp_topics = tri.keypoint_topics
        ok = ros_helpers.spin_until(ex, lambda: proc.poll() is not None or (
            all(p.get_subscription_count() for p in pubs)
            and tri.pub_points.get_subscription_count()
            and all(io.count_publishers(t) == 1 for t in kp_topics)), timeout=60.0)
        assert ok and proc.poll() is None, f"detectors not up: {_output(proc)}"
        # two detector nodes, each publishing exactly its group's keypoint topics. A node's own
        # graph entry can be discovered after its publishers' endpoints: wait until both are.
        served: dict = {}

        def both_nodes_known() -> bool:
            try:
                for name in ("detector_node_0", "detector_node_1"):
                    pubs_of = io.get_publisher_names_and_types_by_node(name, "/")
                    served[name] = sorted({t for t, _ in pubs_of if t.startswith(ns)})
            except NodeNameNonExistentError:
                return False
            return sum(len(v) for v in served.values()) >= len(kp_topics)

        ros_helpers.spin_until(ex, both_nodes_known, timeout=20.0)
        assert served == {"detector_node_0": kp_topics[:2], "detector_node_1": kp_topics[2:]}, served
        assert "detector_node" not in {n for n, _ in io.get_node_names_and_namespaces()}

        stats = ErrorStats()
        for k, (stamp_ns, images) in enumerate(sets):
            for pub, msg, cam in zip(pubs, images, rig.cameras):
                msg.header.frame_id = cam.frame_id
                pub.publish(msg)
            assert ros_helpers.spin_until(ex, lambda k=k: len(clouds) > k, timeout=20.0), (
                f"set {k}: triangulator {tri.stats}; detectors: {_output(proc)}")
            people = cloud_to_skeletons(clouds[k])
            assert ros_helpers.stamp_to_float(clouds[k].header.stamp) == pytest.approx(stamp_ns * 1e-9)
            if k >= 1:  # the tracker confirms a person on its second hit
                stats.add_frame(truth[stamp_ns], [j for j, _ in people.values()])
    finally:
        ex.shutdown()
        tri.destroy_node()
        io.destroy_node()
        stop_processes([proc], timeout=20)
    # every set had all five cameras, from the two processes, and gave the person
    assert tri.stats["sets"] == len(sets) and tri.stats["partial_sets"] == 0, tri.stats
    assert stats.recall == 1.0 and stats.false_people == 0, (stats.matched_people, stats.false_people)
    assert stats.mean_mm <= 60.0, stats.table()  # the demo's bound on the same sample
    assert proc.returncode == 0, _output(proc)
    assert time.monotonic() - t_start < 120.0


def _output(proc) -> str:
    if proc.poll() is None:
        return "(still running)"
    return proc.stdout.read() if proc.stdout else ""
