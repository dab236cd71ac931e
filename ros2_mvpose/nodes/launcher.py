"""Start the detector and triangulator nodes from one parameters file, without ``ros2 launch``.

The pip-install equivalent of ``ros2 launch ros2_mvpose multi_cam.launch.py``:

- ``mode="inprocess"``: both nodes in this process, on one executor (``executor``:
  ``single``, rclpy's SingleThreadedExecutor, the default; ``multi``, a MultiThreadedExecutor;
  rclpy's experimental EventsExecutor hung with these nodes in Jazzy and is not offered). The
  nodes' callbacks are short (the 2D model runs in the detector's own worker thread), so one
  executor thread is the fastest: Python threads share one interpreter lock, and a
  MultiThreadedExecutor only adds hand-over cost (with five 1080p cameras at 30 Hz it took in
  a third of the images, BENCHMARKS.md);
- ``mode="processes"``: one child process per node,
  ``python -m ros2_mvpose.nodes.<node> --ros-args --params-file FILE [-p ...]``.

Either way every node reads its section (``detector_node:`` / ``triangulator_node:``, or
``/**:``) of the same standard ROS 2 parameters file, with the same rcl argument parser as
``ros2 launch``; ``rig``, ``checkpoint`` and ``use_sim_time`` become ``-p name:=value``
overrides (``checkpoint`` for the detector only), and ``extra_params`` adds more
(``name:=value`` for both nodes, ``node_name:name:=value`` for one).

Detector groups (``detector_groups``, e.g. ``[["cam1", "cam2"], ["cam3", "cam4", "cam5"]]``):
one detector node per group instead of one for all cameras, named ``detector_node_0``,
``detector_node_1``, ... (``ros2_mvpose.nodes.detector_groups``), each with the file's
``detector_node`` section, its own section when the file has one, and ``cameras`` set to its
group; ``detector_node:name:=value`` overrides apply to every detector,
``detector_node_1:name:=value`` to one (e.g. its ``device``). With ``mode="processes"`` each
group is its own process (one per GPU); the triangulator takes every camera's keypoints over DDS
whichever process publishes them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ros2_mvpose.nodes.detector_groups import (
    group_node_names,
    group_parameters,
    is_detector_name,
    parse_detector_groups,
)

DETECTOR = "detector_node"
TRIANGULATOR = "triangulator_node"
NODE_MODULES = {
    DETECTOR: "ros2_mvpose.nodes.detector_node",
    TRIANGULATOR: "ros2_mvpose.nodes.triangulator_node",
}
DEFAULT_PARAMS = "config/multi_cam.yaml"


@dataclass
class LaunchConfig:
    """What to start.

    Attributes:
        params_file: standard ROS 2 parameters YAML (resolved like the nodes' data files).
        rig: rig file override (``rig_file`` of both nodes), or None.
        checkpoint: HigherHRNet checkpoint override (the detector's ``checkpoint``), or None.
        use_sim_time: set ``use_sim_time`` on both nodes (replay from bags with /clock).
        extra_params: more overrides, ``name:=value`` (both nodes) or ``node:name:=value``.
        nodes: which nodes to start (default both).
        executor: in-process executor, ``single`` or ``multi``.
        detector_groups: camera-name groups, one detector node per group (empty: one detector
            for all cameras); a string ``"cam1,cam2;cam3"`` or a list of name lists.
        keypoints: in-process runs only: ``direct`` hands each detector's keypoints to the
            triangulator in this process directly (``ros2_mvpose.nodes.inprocess``; the clouds
            are still published), ``dds`` sends them only through DDS.
    """

    params_file: str | os.PathLike = DEFAULT_PARAMS
    rig: str | None = None
    checkpoint: str | None = None
    use_sim_time: bool = False
    extra_params: Sequence[str] = ()
    nodes: Sequence[str] = field(default_factory=lambda: [DETECTOR, TRIANGULATOR])
    executor: str = "single"
    detector_groups: Sequence[Sequence[str]] | str = ()
    keypoints: str = "direct"

    def groups(self) -> list[list[str]]:
        """The detector groups as lists of camera names (checked: none empty, none repeated)."""
        return parse_detector_groups(self.detector_groups)

    def node_names(self) -> list[str]:
        """The ROS names of the nodes to start: ``nodes`` with the detector expanded to one node
        per detector group."""
        out: list[str] = []
        for name in self.nodes:
            out += group_node_names(self.groups()) if name == DETECTOR else [name]
        return out


EXECUTORS = ("single", "multi")
KEYPOINT_PATHS = ("direct", "dds")


def make_executor(kind: str = "single", context=None):
    """An rclpy executor: ``single`` (SingleThreadedExecutor) or ``multi`` (MultiThreadedExecutor)."""
    if kind == "single":
        from rclpy.executors import SingleThreadedExecutor

        return SingleThreadedExecutor(context=context)
    if kind == "multi":
        from rclpy.executors import MultiThreadedExecutor

        return MultiThreadedExecutor(num_threads=3, context=context)
    raise ValueError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")


def _resolve(path: str | os.PathLike) -> Path:
    from ros2_mvpose.resources import find_data_file as resolve_data_path

    return resolve_data_path(path).resolve()


def _param_arg(name: str, value) -> list[str]:
    """``["-p", "name:=value"]`` with the value written as YAML (what rcl parses), or [] for an
    empty list (no type to give it: the node's default stays)."""
    import yaml

    if isinstance(value, (list, tuple)) and not value:
        return []
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    elif text.endswith("..."):
        text = text[:-3].strip()
    return ["-p", f"{name}:={text}"]


def _module(node: str) -> str:
    return NODE_MODULES[DETECTOR if is_detector_name(node) else node]


def node_arguments(cfg: LaunchConfig, node: str) -> list[str]:
    """The ``--ros-args ...`` list for one node (``detector_node``, ``triangulator_node``, or a
    detector group's ``detector_node_<k>``)."""
    groups = cfg.groups()
    names = group_node_names(groups) + [TRIANGULATOR]
    if node not in names:
        raise ValueError(f"unknown node {node!r}; known: {names}")
    params_file = _resolve(cfg.params_file)
    args = ["--ros-args", "--params-file", str(params_file)]
    if node != DETECTOR and is_detector_name(node):  # a group: its own name, the detector's section
        args[1:1] = ["-r", f"__node:={node}"]
        for name, value in group_parameters(params_file, node, groups[int(node.rsplit("_", 1)[1])]).items():
            args += _param_arg(name, value)
    if cfg.rig:
        args += ["-p", f"rig_file:={_resolve(cfg.rig)}"]
    if cfg.checkpoint and is_detector_name(node):
        args += ["-p", f"checkpoint:={Path(cfg.checkpoint).expanduser().resolve()}"]
    if cfg.use_sim_time:
        args += ["-p", "use_sim_time:=true"]
    for item in cfg.extra_params:
        if ":=" not in item:
            raise ValueError(f"parameter override {item!r} must look like name:=value or node:name:=value")
        name, value = item.split(":=", 1)
        if ":" in name:
            target, name = name.split(":", 1)
            if target not in names and target != DETECTOR:
                raise ValueError(f"parameter override {item!r} names unknown node {target!r}; "
                                 f"known: {names}")
            if target != node and not (target == DETECTOR and is_detector_name(node)):
                continue
        args += ["-p", f"{name}:={value}"]
    return args


def _node_class(node: str):
    if is_detector_name(node):
        from ros2_mvpose.nodes.detector_node import DetectorNode

        return DetectorNode
    from ros2_mvpose.nodes.triangulator_node import TriangulatorNode

    return TriangulatorNode


def run_inprocess(
    cfg: LaunchConfig,
    stop: threading.Event | None = None,
    on_started: Callable[[list], None] | None = None,
    context=None,
) -> int:
    """Run the nodes in this process until Ctrl-C / SIGTERM (or ``stop`` is set).

    Args:
        cfg: what to start.
        stop: optional event that ends the run when set (for embedding and tests).
        on_started: called with the list of node objects once they are constructed.
        context: an initialized rclpy context to use (default: init the global one here).

    Returns:
        0 on a clean stop, 2 when a node could not be constructed (bad parameters).
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    if cfg.executor not in EXECUTORS:
        raise ValueError(f"unknown executor {cfg.executor!r}; choose one of {', '.join(EXECUTORS)}")
    if cfg.keypoints not in KEYPOINT_PATHS:
        raise ValueError(f"unknown keypoints path {cfg.keypoints!r}; choose one of "
                         f"{', '.join(KEYPOINT_PATHS)}")
    own_context = context is None
    if own_context:
        from ros2_mvpose.ros.dds import apply_large_image_profile

        apply_large_image_profile()
        rclpy.init(args=["mvpose"])  # not sys.argv: rcl would take `-p node:name:=value` for remaps
        context = rclpy.get_default_context()
    nodes = []
    executor = make_executor(cfg.executor, context)
    try:
        try:  # start-up: a bad parameter or file is exit code 2
            for name in cfg.node_names():
                node = _node_class(name)(node_name=name, cli_args=node_arguments(cfg, name), context=context)
                nodes.append(node)
                executor.add_node(node)
        except (ValueError, FileNotFoundError) as exc:
            print(f"mvpose run: {exc}", file=sys.stderr)
            return 2
        if cfg.keypoints == "direct":
            from ros2_mvpose.nodes.inprocess import link_nodes

            linked = link_nodes(nodes)
            if linked:
                print(f"mvpose run: keypoints of {linked} handed to the triangulator in this process "
                      "(the clouds are still published)", file=sys.stderr)
        if on_started is not None:
            on_started(nodes)
        spin_until_stopped(executor, lambda: context.ok() and not (stop is not None and stop.is_set()))
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in nodes:
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()
        if own_context and context.ok():
            rclpy.shutdown(context=context)
    return 0


def spin_until_stopped(executor, running: Callable[[], bool]) -> None:
    """Spin ``executor`` while ``running()``. An exception escaping a callback at run time (the
    nodes' callbacks catch their own; this is the last line of defence) is logged, once per kind,
    and spinning goes on: a message must never end the nodes, and it is not a start-up error."""
    from rclpy.executors import ExternalShutdownException

    seen: set[str] = set()
    while running():
        try:
            executor.spin_once(timeout_sec=0.1)
        except (KeyboardInterrupt, ExternalShutdownException):
            raise
        except Exception as exc:  # noqa: BLE001 - see the docstring
            kind = type(exc).__name__
            if kind not in seen:
                seen.add(kind)
                print(f"mvpose run: error in a callback, going on: {kind}: {exc}", file=sys.stderr)


def start_processes(cfg: LaunchConfig, env: dict | None = None, **popen_kw) -> list[subprocess.Popen]:
    """Start one child process per node (``python -m <module> --ros-args ...``); returns them."""
    procs = []
    for name in cfg.node_names():
        cmd = [sys.executable, "-m", _module(name), *node_arguments(cfg, name)]
        procs.append(subprocess.Popen(cmd, env=env, **popen_kw))
    return procs


def stop_processes(procs: Sequence[subprocess.Popen], timeout: float = 10.0) -> list[int]:
    """SIGINT every child still running, wait up to ``timeout`` s, then kill; return exit codes."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return [p.returncode for p in procs]


def run_processes(cfg: LaunchConfig) -> int:
    """Run the nodes as child processes until one exits or Ctrl-C / SIGTERM; returns an exit code."""
    names = cfg.node_names()
    for name in names:  # fail early, in this process, on a bad file name
        node_arguments(cfg, name)
    procs = start_processes(cfg)
    stopping = threading.Event()

    def on_term(_sig, _frame):
        stopping.set()

    old = signal.signal(signal.SIGTERM, on_term)
    rc = 0
    try:
        while not stopping.is_set():
            done = [(p, n) for p, n in zip(procs, names) if p.poll() is not None]
            if done:
                rc = done[0][0].returncode
                print(f"mvpose run: {done[0][1]} exited with code {rc}; stopping the others",
                      file=sys.stderr)
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        codes = stop_processes(procs)
        signal.signal(signal.SIGTERM, old)
    if rc == 0:
        rc = next((c for c in codes if c not in (0, -signal.SIGINT, 130)), 0)
    return int(rc)


def check_detector_groups(cfg: LaunchConfig) -> list[str]:
    """Check the detector groups against the rig (``--rig``, else the detector's ``rig_file``
    in the parameters file) before anything starts: ValueError for a camera the rig lacks.
    Returns the rig cameras no group serves ([] without groups, or when the detector takes its
    topics from ``image_topics``)."""
    groups = cfg.groups()
    if not groups or DETECTOR not in cfg.nodes:
        return []
    file_params = group_parameters(_resolve(cfg.params_file), DETECTOR + "_0", [])
    if any(file_params.get("image_topics") or []):
        return []
    rig_file = cfg.rig or file_params.get("rig_file") or ""
    if not rig_file:
        return []
    from ros2_mvpose.geometry.rig import load_rig
    from ros2_mvpose.nodes.detector_groups import check_groups_against

    path = _resolve(rig_file)
    return check_groups_against(groups, load_rig(path).names, str(path))


def run(cfg: LaunchConfig, mode: str = "inprocess") -> int:
    """Start the nodes in ``mode`` (``inprocess`` or ``processes``) and block until stopped."""
    unserved = check_detector_groups(cfg)
    if unserved:
        print(f"mvpose run: warning: no detector group serves camera(s) {unserved}; the "
              "triangulator gets no keypoints from them", file=sys.stderr)
    if mode == "inprocess":
        return run_inprocess(cfg)
    if mode == "processes":
        return run_processes(cfg)
    raise ValueError(f"unknown mode {mode!r}; use 'inprocess' or 'processes'")
