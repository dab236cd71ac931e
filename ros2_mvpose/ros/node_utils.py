"""Small helpers shared by the nodes: header stamps and throttled error reporting."""

from __future__ import annotations

import threading
import time
from typing import Any


def stamp_to_sec(stamp) -> float:
    """builtin_interfaces/Time -> float seconds."""
    return float(stamp.sec) + 1e-9 * float(stamp.nanosec)


class Throttle:
    """Allows one event per ``key`` every ``period`` seconds (monotonic), counting the rest
    in ``suppressed``. Thread-safe (callbacks and the detector's worker share it)."""

    def __init__(self, period: float):
        self.period = float(period)
        self._last: dict[Any, float] = {}
        self.suppressed: dict[Any, int] = {}
        self._lock = threading.Lock()

    def allow(self, key: Any, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else float(now)
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period:
                self.suppressed[key] = self.suppressed.get(key, 0) + 1
                return False
            self._last[key] = now
            return True
