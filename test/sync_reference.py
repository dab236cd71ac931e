"""Comparison oracle and stream generator for the synchronizer (test and benchmark helper).

:class:`MessageFiltersApproxSync` re-states, without rclpy, the algorithm of message_filters'
Python ``ApproximateTimeSynchronizer.add`` (ros2/message_filters, ``src/message_filters/__init__.py``
at commit 3ad0d001592ce0f09af75421f41b6c671d1e8d02; unchanged in later versions apart from the
optional ``queue_offset``/``sync_arrival_time``/``time_getter`` arguments). It is the reference
that ``ros2_mvpose.ros.sync.ApproximateTimeSync`` is compared with, not package code.

:func:`realistic_stream` generates camera streams as a rig delivers them: ``n`` cameras at a
common frame rate, per-image stamp jitter, independent drops, arrival delays and one camera
silent for a while.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class MessageFiltersApproxSync:
    """message_filters' Python ApproximateTimeSynchronizer (see the module docstring).

    Per input a dict ``stamp_ns -> msg`` bounded by ``queue_size`` (the smallest stamp goes). On
    each message: store it; for every other input list the queued stamps within ``slop`` of the new
    one (``|s - t| <= slop``), nearest first; give up when an input has none; otherwise walk the
    Cartesian product of those lists in order and emit the first combination (with the new
    message) whose spread is strictly below ``slop``, deleting only its messages. Older unmatched
    messages stay until the queue overflows; sets may come out of stamp order.
    """

    def __init__(self, n_inputs: int, callback: Callable[[list], None], queue_size: int, slop: float):
        self.queues: list[dict[int, object]] = [{} for _ in range(n_inputs)]
        self.callback = callback
        self.queue_size = queue_size
        self.slop_ns = int(round(slop * 1e9))  # rclpy Duration(seconds=slop)

    def add(self, index: int, msg: object, stamp: float) -> None:
        t = int(round(stamp * 1e9))  # Time.from_msg(header.stamp).nanoseconds
        my_queue = self.queues[index]
        my_queue[t] = msg
        while len(my_queue) > self.queue_size:
            del my_queue[min(my_queue)]
        search_queues = self.queues[:index] + self.queues[index + 1:]
        stamps = []
        for queue in search_queues:
            topic_stamps = []
            for s in queue:
                delta = abs(s - t)
                if delta > self.slop_ns:
                    continue  # far over the slop
                topic_stamps.append((s, delta))
            if not topic_stamps:
                return
            topic_stamps.sort(key=lambda x: x[1])
            stamps.append(topic_stamps)
        for vv in itertools.product(*[[s for s, _ in ts] for ts in stamps]):
            vv = list(vv)
            vv.insert(index, t)
            qt = list(zip(self.queues, vv))
            if max(vv) - min(vv) < self.slop_ns and all(s in q for q, s in qt):
                msgs = [q[s] for q, s in qt]
                self.callback(msgs)
                for q, s in qt:
                    del q[s]
                break  # fast finish after the synchronization


@dataclass(frozen=True)
class StreamSpec:
    """A rig's camera streams; times in seconds."""

    n_cameras: int = 5
    rate: float = 30.0
    seconds: float = 20.0
    jitter: float = 0.005  # stamp = frame time + uniform(-jitter, jitter)
    drop: float = 0.05  # each image lost with this probability
    delay: tuple[float, float] = (0.001, 0.060)  # arrival = stamp + uniform(*delay)
    fifo: bool = False  # True: each camera's images arrive in stamp order (one DDS writer)
    silent_camera: int | None = 2
    silent: tuple[float, float] = (8.0, 10.0)  # that camera sends nothing in this time span


def realistic_stream(spec: StreamSpec, seed: int) -> list[tuple[float, int, tuple[int, int], float]]:
    """``(arrival, camera, (camera, frame), stamp)`` tuples sorted by arrival."""
    rng = random.Random(seed)
    out = []
    t0 = 1000.0
    for c in range(spec.n_cameras):
        last_arrival = 0.0
        for f in range(int(spec.seconds * spec.rate)):
            t = f / spec.rate
            stamp = t0 + t + rng.uniform(-spec.jitter, spec.jitter)
            arrival = stamp + rng.uniform(*spec.delay)
            if rng.random() < spec.drop:
                continue
            if c == spec.silent_camera and spec.silent[0] <= t < spec.silent[1]:
                continue
            if spec.fifo:
                arrival = max(arrival, last_arrival + 1e-6)
                last_arrival = arrival
            out.append((arrival, c, (c, f), stamp))
    out.sort()
    return out


@dataclass
class SetCounts:
    single_frame: int = 0  # every image of the set from one capture frame
    mixed: int = 0  # images of two or more capture frames
    partial: int = 0  # sets with a camera left out (counted in single_frame/mixed too)
    latency: list[float] = field(default_factory=list)  # receive time of the set - its stamp, s
    seconds: float = 0.0  # processing time of the whole stream

    @property
    def total(self) -> int:
        return self.single_frame + self.mixed


def count_sets(sets: list[tuple[list, float]], seconds: float = 0.0) -> SetCounts:
    """Classify ``(msgs, latency)`` sets of ``(camera, frame)`` messages (None = camera left out)."""
    counts = SetCounts(seconds=seconds)
    for msgs, latency in sets:
        frames = {m[1] for m in msgs if m is not None}
        if len(frames) == 1:
            counts.single_frame += 1
        else:
            counts.mixed += 1
        counts.partial += any(m is None for m in msgs)
        counts.latency.append(latency)
    return counts


def run_message_filters(stream, n: int, slop: float, queue_size: int = 10) -> SetCounts:
    """message_filters' policy on ``stream``; a set's latency counts from its newest stamp."""
    sets: list[tuple[list, float]] = []
    stamps = {msg: stamp for _a, _c, msg, stamp in stream}
    clock = [0.0]
    sync = MessageFiltersApproxSync(
        n, lambda msgs: sets.append((msgs, clock[0] - max(stamps[m] for m in msgs))), queue_size, slop
    )
    t0 = time.perf_counter()
    for arrival, cam, msg, stamp in stream:
        clock[0] = arrival
        sync.add(cam, msg, stamp)
    return count_sets(sets, time.perf_counter() - t0)


def run_package(stream, n: int, slop: float, queue_size: int = 10, min_inputs: int | None = None,
                dead_after: float = 1.0, tick: float = 0.05) -> SetCounts:
    """The package synchronizer on the same stream, ticked every ``tick`` s as the nodes do."""
    from ros2_mvpose.ros.sync import ApproximateTimeSync

    sets: list[tuple[list, float]] = []
    clock = [0.0]
    sync = ApproximateTimeSync(n, lambda msgs, stamp: sets.append((msgs, clock[0] - stamp)),
                               queue_size=queue_size, slop=slop, min_inputs=min_inputs, dead_after=dead_after)
    next_tick = stream[0][0] if stream else 0.0
    t0 = time.perf_counter()
    for arrival, cam, msg, stamp in stream:
        while next_tick <= arrival:
            clock[0] = next_tick
            sync.tick(next_tick)
            next_tick += tick
        clock[0] = arrival
        sync.add(cam, msg, stamp, arrival)
    return count_sets(sets, time.perf_counter() - t0)
