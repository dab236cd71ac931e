"""What both nodes share: per-camera input bookkeeping
(health, rates, throttled problem logs, the topic-type check) and per-camera diagnostics.

Keys of diagnostic values are snake_case everywhere (``input_rate_hz``, ``bad_inputs``...).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from ros2_mvpose.ros import diagnostics as diag
from ros2_mvpose.ros.node_utils import Throttle
from ros2_mvpose.stages.health import CameraHealth
from ros2_mvpose.stages.problems import Problem

#: Seconds (steady clock) between checks of the graph's topic types.
TOPIC_CHECK_PERIOD = 2.0


def min_inputs(min_cameras: int, n: int) -> int:
    """``min_cameras`` as the synchronizer's ``min_inputs``: 0 = all, clamped to 1..n."""
    return n if min_cameras <= 0 else max(1, min(int(min_cameras), n))


def steady_timer(node: Any, period: float, fn: Callable, on_error: Callable[[BaseException], None]):
    """A timer of ``node`` on the steady clock (a paused ``/clock`` must not stall liveness or
    diagnostics) calling ``guarded(fn)``; None when ``period <= 0`` (disabled)."""
    from rclpy.clock import Clock, ClockType

    if not period > 0:
        return None
    return node.create_timer(period, guarded(fn, on_error), clock=Clock(clock_type=ClockType.STEADY_TIME))


def make_sync(n: int, callback: Callable, sync: Any, on_event: Callable) -> Any:
    """The package's synchronizer over ``n`` inputs with a node's ``SyncParams``."""
    from ros2_mvpose.ros.sync import ApproximateTimeSync

    return ApproximateTimeSync(
        n,
        callback,
        queue_size=sync.queue_size,
        slop=sync.slop,
        min_inputs=min_inputs(sync.min_cameras, n),
        dead_after=sync.camera_timeout,
        max_offset=sync.max_stamp_offset,
        on_event=on_event,
    )


def locked(lock: Any, fn: Callable) -> Callable:
    """``fn`` called with ``lock`` held."""

    def call(*args):
        with lock:
            return fn(*args)

    return call


def internal_problem(exc: BaseException) -> Problem:
    """The problem an unexpected exception in a callback is reported as."""
    return Problem(None, f"internal:{type(exc).__name__}", f"unexpected {type(exc).__name__}: {exc}")


def log_sync_event(node: Any, event: Any, names: Sequence[str], suffix: str = "") -> None:
    """Log a ``ros2_mvpose.ros.sync.SyncEvent`` (the synchronizer reports each once): back in sync
    as info, out of sync and resets as warnings."""
    text = event.describe(names) + suffix
    if event.kind == "in_sync":
        node.get_logger().info(text)
    else:
        node.get_logger().warning(text)


def guarded(fn: Callable, on_error: Callable[[BaseException], None]) -> Callable:
    """``fn`` that never raises: an exception goes to ``on_error`` (no message ends a node)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - callbacks of a node must never raise
            on_error(exc)
            return None

    return wrapper


class CameraInputs:
    """Per-camera input bookkeeping of one node (one input topic per camera).

    Args:
        node: the rclpy node (logger, graph queries).
        names: camera names, rig order.
        topics: the input topic per camera.
        expected_type: ROS type name the topics must carry, e.g. ``sensor_msgs/msg/Image``.
        msg_type: the message class the topics must carry (e.g. ``sensor_msgs.msg.Image``).
        sync: its ``camera_timeout`` is how long a camera may send nothing (usable) before it
            counts as dead (undecodable); None = never.
        reporting: its ``error_throttle`` is the least time between two error logs for one
            camera and problem.
    """

    def __init__(
        self, node: Any, names: Sequence[str], topics: Sequence[str], msg_type: Any, sync: Any, reporting: Any
    ):
        self.node = node
        self.names = list(names)
        self.topics = list(topics)
        self.expected_type = f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"
        timeout = sync.camera_timeout if sync is not None else float("inf")
        bad_window = max(2.0, 2 * timeout) if sync is not None else 5.0
        self.health = [CameraHealth(timeout=timeout, bad_window=bad_window) for _ in names]
        self.rates = [diag.RateMeter(window=2.0) for _ in names]
        self.wrong_type: list[str | None] = [None] * len(names)
        self.problem_counts: dict[str, int] = {}
        self.throttle = Throttle(reporting.error_throttle)

    def received(self, index: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.rates[index].tick(now)
        self.health[index].on_received(now)

    def usable(self, index: int, now: float | None = None) -> None:
        self.health[index].on_usable(time.monotonic() if now is None else now)

    def report(self, problem: Problem, what: str = "", warn: bool = False) -> None:
        """Count ``problem``, note it in the camera's health and log it (throttled per camera and
        problem); ``what`` names the input kind (``image``, ``CameraInfo``...)."""
        self.problem_counts[problem.key] = self.problem_counts.get(problem.key, 0) + 1
        if problem.camera is not None:
            self.health[problem.camera].on_bad(time.monotonic(), problem)
        if not self.throttle.allow((problem.camera, problem.key)):
            return
        if problem.camera is None:
            text = problem.text
        else:
            i = problem.camera
            text = f"camera {self.names[i]} ({self.topics[i]}): {what + ': ' if what else ''}{problem.text}"
        if warn:  # rclpy: one severity per call site
            self.node.get_logger().warning(text)
        else:
            self.node.get_logger().error(text)

    def check_topic_types(self) -> None:
        """Compare the types of the input topics' publishers in the graph with the expected one;
        log a mismatch (throttled) naming the topic and the type, and remember it for diagnostics."""
        for i, topic in enumerate(self.topics):
            infos = self.node.get_publishers_info_by_topic(self.node.resolve_topic_name(topic))
            types = sorted({info.topic_type for info in infos})
            wrong = ", ".join(types) if types and self.expected_type not in types else None
            self.wrong_type[i] = wrong
            if wrong and self.throttle.allow((i, "wrong_type")):
                self.node.get_logger().error(
                    f"camera {self.names[i]}: topic {topic} carries {wrong}, expected {self.expected_type}; "
                    "nothing from it can be received"
                )

    def statuses(
        self,
        prefix: str,
        now: float,
        in_sets: Callable[[int], bool],
        sync_offset: Callable[[int], float | None],
        extra: Callable[[int], dict] | None = None,
    ) -> list:
        """One ``DiagnosticStatus`` per camera, ``<prefix>: camera <name>``, with its current state."""
        out = []
        for i, name in enumerate(self.names):
            h = self.health[i]
            st = h.state(now, in_sets=in_sets(i), sync_offset=sync_offset(i), wrong_type=self.wrong_type[i])
            values: dict[str, Any] = {
                "topic": self.topics[i],
                "state": st.state,
                "alive": st.usable,
                "input_rate_hz": self.rates[i].rate(now),
                "received": h.received,
                "bad_inputs": h.bad,
                "last_problem": h.last_problem,
            }
            if extra is not None:
                values.update(extra(i))
            out.append(diag.make_status(f"{prefix}: camera {name}", name, st.level, st.message, values))
        return out


def add_latency(values: dict[str, Any], latency: dict[str, diag.LatencyStats]) -> None:
    """``latency_<stage>_median_ms`` and ``latency_<stage>_p99_ms`` for every stage with data."""
    for stage, stats in latency.items():
        s = stats.summary_ms()
        if s["n"]:
            values[f"latency_{stage}_median_ms"] = s["median"]
            values[f"latency_{stage}_p99_ms"] = s["p99"]
