"""Publish a rosbag2's messages live with their original timing and ``/clock``.

For pip installs, where ``ros2 bag play`` does not exist. Streaming: one message in memory at a
time. Timing follows the bag's receive timestamps, scaled by ``rate``; ``/clock``
(rosgraph_msgs/Clock) carries the bag time so nodes started with ``use_sim_time:=true`` follow it.
At the end it waits (``ack_timeout``) until reliable subscribers have acknowledged every message,
like ``ros2 bag play --wait-for-all-acked``: a process that exits right after its last publish
can otherwise take the last messages, or ones still being resent, with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ros2_mvpose.io.rosbag_io import bag_topics, msg_class, ns_to_stamp, read_bag


def wait_for_subscribers_of(
    counts: Callable[[], Mapping[str, int]],
    timeout: float,
    settle: float = 1.0,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Wait until the subscribers of the topics that have any are discovered; return the others.

    DDS discovery takes a moment, and messages published before it completes are lost. Returns as
    soon as every topic has a subscriber; once some topics have subscribers, returns when no
    further topic has gained one for ``settle`` seconds (topics nobody subscribes to do not hold
    playback up); in any case after ``timeout`` seconds.

    Args:
        counts: topic -> current subscriber count (e.g. from ``Publisher.get_subscription_count``).
        timeout, settle: seconds.

    Returns:
        The topics without a subscriber when the wait ended.
    """
    start = clock()
    served: set[str] = set()
    last_change = start
    current = dict(counts())
    while True:
        now = clock()
        newly = {t for t, n in current.items() if n > 0} - served
        if newly:
            served |= newly
            last_change = now
        idle = [t for t, n in current.items() if n <= 0]
        if not idle or should_stop() or now - start >= timeout:
            return idle
        if served and now - last_change >= settle:
            return idle
        sleep(0.02)
        current = dict(counts())


def play_bag(
    node,
    path: str | Path,
    *,
    rate: float = 1.0,
    topics: Sequence[str] | None = None,
    publish_clock: bool = True,
    clock_hz: float = 100.0,
    should_stop: Callable[[], bool] = lambda: False,
    wait_for_subscribers: float = 0.0,
    ack_timeout: float = 1.0,
) -> int:
    """Publish the bag's messages from ``node`` (an rclpy Node); returns the number published.

    Args:
        rate: playback speed factor (2.0 = twice as fast).
        topics: only these topics (default all whose message types are installed).
        publish_clock: publish ``/clock`` with the bag time, at ``clock_hz`` and before each message.
        wait_for_subscribers: wait up to this many seconds for the subscribers of the data topics
            to be discovered (see :func:`wait_for_subscribers_of`: topics nobody subscribes to do
            not hold playback up).
        ack_timeout: at the end, wait up to this many seconds in all until the reliable
            subscribers have acknowledged every message (see :func:`wait_until_acked`); 0: not.
    """
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    if not 0 <= ack_timeout < float("inf"):
        raise ValueError(f"ack timeout (--ack-wait) must be finite seconds >= 0, got {ack_timeout}")
    from rosgraph_msgs.msg import Clock

    info = bag_topics(path)
    pubs = {}
    for topic, (msgtype, _count) in info.items():
        if topics is not None and topic not in topics:
            continue
        try:
            pubs[topic] = node.create_publisher(msg_class(msgtype), topic, 10)
        except ValueError:
            node.get_logger().warning(f"topic {topic}: type {msgtype} is not installed; skipped")
    clock_pub = node.create_publisher(Clock, "/clock", 10) if publish_clock else None
    if wait_for_subscribers > 0 and pubs:
        idle = wait_for_subscribers_of(
            lambda: {t: p.get_subscription_count() for t, p in pubs.items()},
            wait_for_subscribers, should_stop=should_stop,
        )
        if idle:
            node.get_logger().info(f"no subscriber for {', '.join(sorted(idle))}; published anyway")
    t_bag0 = None
    t_wall0 = time.monotonic()
    next_clock = 0.0
    count = 0
    for m in read_bag(path, topics=list(pubs)):
        if should_stop():
            break
        if t_bag0 is None:
            t_bag0 = m.timestamp_ns
        due = (m.timestamp_ns - t_bag0) * 1e-9 / rate
        while True:
            now = time.monotonic() - t_wall0
            if clock_pub is not None and now >= next_clock:
                bag_now = t_bag0 + int(min(now, due) * rate * 1e9)
                clock_pub.publish(Clock(clock=ns_to_stamp(bag_now)))
                next_clock = now + 1.0 / clock_hz
            if now >= due or should_stop():
                break
            time.sleep(min(due - now, 1.0 / clock_hz if clock_pub is not None else due - now))
        if clock_pub is not None:
            clock_pub.publish(Clock(clock=ns_to_stamp(m.timestamp_ns)))
        pubs[m.topic].publish(m.msg)
        count += 1
    if ack_timeout > 0 and count:
        unacked = wait_until_acked(pubs, ack_timeout)
        if unacked:
            node.get_logger().warning(
                f"not acknowledged within {ack_timeout:g} s by every subscriber of "
                f"{', '.join(unacked)}: their last messages may not have arrived"
            )
    return count


def wait_until_acked(pubs: Mapping[str, object], timeout: float) -> list[str]:
    """Wait up to ``timeout`` seconds in all until each publisher's messages are acknowledged.

    Args:
        pubs: topic -> rclpy Publisher. Best-effort publishers count as acknowledged at once.
        timeout: seconds, shared by all publishers.

    Returns:
        The topics whose messages were still unacknowledged when the time ran out.
    """
    from rclpy.duration import Duration

    deadline = time.monotonic() + timeout
    unacked = []
    for topic, pub in pubs.items():
        left = max(0.0, deadline - time.monotonic())
        if not pub.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9))):
            unacked.append(topic)
    return unacked
