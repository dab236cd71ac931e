"""Helpers for tests that run real rclpy nodes over DDS on loopback.

Isolation: every test gets its own ``rclpy.Context`` initialised with a random
``ROS_DOMAIN_ID`` (1..100) and discovery limited to localhost, plus a random topic namespace
(:func:`unique_ns`) so that tests running at the same time on the same machine (other test
files, other checkouts) cannot see each other's messages even if two domain ids collide.

Usage::

    from ros_helpers import ros_context, spin_until  # noqa: F401  (ros_context is a fixture)

    def test_x(ros_context):
        node = rclpy.create_node("n", context=ros_context)
        ...
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Iterable

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs rclpy (ROS 2 Jazzy)")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402


def random_domain_id() -> int:
    """A random DDS domain id in 1..100 (the range safe for Fast DDS ports on Linux)."""
    return random.SystemRandom().randint(1, 100)


def unique_ns() -> str:
    """A random topic namespace such as ``/t3f9a1c2d`` (no trailing slash)."""
    return "/t" + uuid.uuid4().hex[:8]


@pytest.fixture
def ros_context():
    """A fresh, initialised ``rclpy.Context`` on a random domain id; shut down afterwards."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    ctx = rclpy.Context()
    domain = random_domain_id()
    rclpy.init(context=ctx, domain_id=domain)
    ctx.test_domain_id = domain  # for messages in failing tests
    try:
        yield ctx
    finally:
        if ctx.ok():
            rclpy.shutdown(context=ctx)


def make_executor(ctx, nodes: Iterable = ()) -> SingleThreadedExecutor:
    """A single-threaded executor on ``ctx`` with ``nodes`` added."""
    ex = SingleThreadedExecutor(context=ctx)
    for n in nodes:
        ex.add_node(n)
    return ex


def spin_for(executor, seconds: float) -> None:
    """Spin ``executor`` for ``seconds`` of wall time."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=min(0.01, max(0.0, end - time.monotonic())))


def spin_until(executor, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Spin until ``predicate()`` is true; returns False if ``timeout`` seconds passed first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.01)
    return bool(predicate())


def wait_for_subscribers(executor, publisher, count: int = 1, timeout: float = 5.0) -> bool:
    """Spin until ``publisher`` has at least ``count`` matched subscriptions."""
    return spin_until(executor, lambda: publisher.get_subscription_count() >= count, timeout)


def wait_for_publishers(executor, subscription, count: int = 1, timeout: float = 5.0) -> bool:
    """Spin until ``subscription`` has at least ``count`` matched publishers."""
    return spin_until(executor, lambda: subscription.get_publisher_count() >= count, timeout)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, period: float = 0.005) -> bool:
    """Poll ``predicate`` without spinning (for nodes spun by another thread)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(period)
    return bool(predicate())


def stamp_msg(seconds: float):
    """A ``builtin_interfaces/Time`` for ``seconds``."""
    from builtin_interfaces.msg import Time

    sec, nanosec = divmod(int(round(seconds * 1e9)), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def stamp_to_float(stamp) -> float:
    """``builtin_interfaces/Time`` -> seconds."""
    return stamp.sec + 1e-9 * stamp.nanosec
