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
    """

    params_file: str | os.PathLike = DEFAULT_PARAMS
    rig: str | None = None
    checkpoint: str | None = None
    use_sim_time: bool = False
    extra_params: Sequence[str] = ()
    nodes: Sequence[str] = field(default_factory=lambda: [DETECTOR, TRIANGULATOR])
    executor: str = "single"


EXECUTORS = ("single", "multi")


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
    from ros2_mvpose.nodes.triangulator_node import resolve_data_path

    return resolve_data_path(path).resolve()


def node_arguments(cfg: LaunchConfig, node: str) -> list[str]:
    """The ``--ros-args ...`` list for one node (``node`` = ``detector_node``/``triangulator_node``)."""
    if node not in NODE_MODULES:
        raise ValueError(f"unknown node {node!r}; known: {sorted(NODE_MODULES)}")
    params_file = _resolve(cfg.params_file)
    args = ["--ros-args", "--params-file", str(params_file)]
    if cfg.rig:
        args += ["-p", f"rig_file:={_resolve(cfg.rig)}"]
    if cfg.checkpoint and node == DETECTOR:
        args += ["-p", f"checkpoint:={Path(cfg.checkpoint).expanduser().resolve()}"]
    if cfg.use_sim_time:
        args += ["-p", "use_sim_time:=true"]
    for item in cfg.extra_params:
        if ":=" not in item:
            raise ValueError(f"parameter override {item!r} must look like name:=value or node:name:=value")
        name, value = item.split(":=", 1)
        if ":" in name:
            target, name = name.split(":", 1)
            if target not in NODE_MODULES:
                raise ValueError(f"parameter override {item!r} names unknown node {target!r}")
            if target != node:
                continue
        args += ["-p", f"{name}:={value}"]
    return args


def _node_class(node: str):
    if node == DETECTOR:
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
    own_context = context is None
    if own_context:
        from ros2_mvpose.ros.dds import apply_large_image_profile

        apply_large_image_profile()
        rclpy.init()
        context = rclpy.get_default_context()
    nodes = []
    executor = make_executor(cfg.executor, context)
    try:
        for name in cfg.nodes:
            node = _node_class(name)(cli_args=node_arguments(cfg, name), context=context)
            nodes.append(node)
            executor.add_node(node)
        if on_started is not None:
            on_started(nodes)
        while context.ok() and not (stop is not None and stop.is_set()):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, FileNotFoundError) as exc:
        print(f"mvpose run: {exc}", file=sys.stderr)
        return 2
    finally:
        for node in nodes:
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()
        if own_context and context.ok():
            rclpy.shutdown(context=context)
    return 0


def start_processes(cfg: LaunchConfig, env: dict | None = None, **popen_kw) -> list[subprocess.Popen]:
    """Start one child process per node (``python -m <module> --ros-args ...``); returns them."""
    procs = []
    for name in cfg.nodes:
        cmd = [sys.executable, "-m", NODE_MODULES[name], *node_arguments(cfg, name)]
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
    for name in cfg.nodes:  # fail early, in this process, on a bad file name
        node_arguments(cfg, name)
    procs = start_processes(cfg)
    stopping = threading.Event()

    def on_term(_sig, _frame):
        stopping.set()

    old = signal.signal(signal.SIGTERM, on_term)
    rc = 0
    try:
        while not stopping.is_set():
            done = [p for p in procs if p.poll() is not None]
            if done:
                rc = done[0].returncode
                print(f"mvpose run: {done[0].args[2]} exited with code {rc}; stopping the others",
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


def run(cfg: LaunchConfig, mode: str = "inprocess") -> int:
    """Start the nodes in ``mode`` (``inprocess`` or ``processes``) and block until stopped."""
    if mode == "inprocess":
        return run_inprocess(cfg)
    if mode == "processes":
        return run_processes(cfg)
    raise ValueError(f"unknown mode {mode!r}; use 'inprocess' or 'processes'")
