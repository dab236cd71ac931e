"""Rate/latency bookkeeping and diagnostic_msgs/DiagnosticArray building for the nodes.

``RateMeter`` and ``LatencyStats`` are pure Python (thread-safe, bounded memory);
``make_status`` / ``make_array`` import the ROS message types lazily.
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Iterable, Mapping
from typing import Any

OK, WARN, ERROR, STALE = 0, 1, 2, 3  # diagnostic_msgs/DiagnosticStatus levels


class RateMeter:
    """Events per second over a sliding window of ``window`` seconds (bounded to ``maxlen`` events)."""

    def __init__(self, window: float = 2.0, maxlen: int = 1000):
        if not window > 0:
            raise ValueError(f"window must be > 0 seconds, got {window}")
        self.window = float(window)
        self._times: collections.deque[float] = collections.deque(maxlen=int(maxlen))
        self._lock = threading.Lock()
        self.count = 0

    def tick(self, now: float) -> None:
        """Record one event at time ``now`` (seconds, any monotonic clock)."""
        with self._lock:
            self._times.append(float(now))
            self.count += 1

    def rate(self, now: float) -> float:
        """Events per second during ``(now - window, now]``."""
        with self._lock:
            lo = float(now) - self.window
            while self._times and self._times[0] <= lo:
                self._times.popleft()
            n = len(self._times)
            if n == 0:
                return 0.0
            if n == self._times.maxlen:  # window overflowed: use the span of the kept events
                span = float(now) - self._times[0]
                return n / span if span > 0 else 0.0
            return n / self.window

    def last(self) -> float | None:
        """Time of the latest event, or None."""
        with self._lock:
            return self._times[-1] if self._times else None


class LatencyStats:
    """The last ``maxlen`` durations (seconds); summaries in milliseconds."""

    def __init__(self, maxlen: int = 500):
        self._values: collections.deque[float] = collections.deque(maxlen=int(maxlen))
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(float(seconds))

    def summary_ms(self) -> dict[str, float]:
        """``{"median": .., "p99": .., "max": .., "n": ..}`` in milliseconds (NaN when empty)."""
        with self._lock:
            vals = sorted(self._values)
        n = len(vals)
        if n == 0:
            return {"median": math.nan, "p99": math.nan, "max": math.nan, "n": 0}

        def q(p: float) -> float:
            pos = p * (n - 1)
            lo = int(math.floor(pos))
            hi = min(lo + 1, n - 1)
            return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)

        return {"median": 1e3 * q(0.5), "p99": 1e3 * q(0.99), "max": 1e3 * vals[-1], "n": n}


def format_value(v: Any) -> str:
    """Diagnostic value text: floats with 3 decimals, everything else ``str``."""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def make_status(name: str, hardware_id: str, level: int, message: str, values: Mapping[str, Any]):
    """A ``diagnostic_msgs/DiagnosticStatus`` with ``values`` as key/value strings."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    st = DiagnosticStatus()
    st.level = bytes([int(level)])
    st.name = name
    st.hardware_id = hardware_id
    st.message = message
    st.values = [KeyValue(key=str(k), value=format_value(v)) for k, v in values.items()]
    return st


def make_array(statuses: Iterable, stamp=None):
    """A ``diagnostic_msgs/DiagnosticArray`` holding ``statuses``; ``stamp`` a builtin_interfaces/Time."""
    from diagnostic_msgs.msg import DiagnosticArray

    arr = DiagnosticArray()
    if stamp is not None:
        arr.header.stamp = stamp
    arr.status = list(statuses)
    return arr


def status_values(status) -> dict[str, str]:
    """``{key: value}`` of a DiagnosticStatus (handy in tests and tools)."""
    return {kv.key: kv.value for kv in status.values}
