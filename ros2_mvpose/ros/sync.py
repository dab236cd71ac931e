"""Approximate time synchronization of N message streams, with partial sets for dead inputs.

Pure Python (no rclpy): the nodes feed it ``(index, msg, stamp, now)`` and get sets back
through a callback, so the policy is tested without DDS.

Policy (full sets: the semantics of message_filters' ``ApproximateTimeSynchronizer``):

- Each input has a queue, sorted by header stamp (out-of-order arrivals are placed by stamp)
  and bounded by ``queue_size`` (the oldest message is dropped when it overflows).
- A set is emitted eagerly, as soon as one can be formed: every participating queue is
  non-empty and a choice of one message per input has a spread (max stamp - min stamp)
  ``<= slop``.
- Which set: let the *pivot* be the latest of the queue heads. Messages older than
  ``pivot - slop`` can never be matched with the pivot input's messages and are dropped; the
  remaining heads always form a valid set. Among the sets that contain the pivot message, the
  one with the smallest spread is emitted (ties: the earliest). So the earliest possible set is
  emitted, with each input's message chosen as close in time to the others as the queues allow
  (e.g. a 30 Hz camera's frame that matches a 15 Hz camera's frame, not the one before it).
- Emitted messages and everything older in their queues are removed (older ones counted in
  ``dropped``); a message whose stamp is not newer than what its input last contributed is
  dropped on arrival (late or duplicate). Emitted set stamps strictly increase; a candidate
  set that would go back in time (possible only around a dead input rejoining) is discarded.

Extension (dead inputs): an input is *dead* when it has received nothing for ``dead_after``
seconds of ``now`` (receive time), **and** its newest stamp lags the newest stamp of any input
by more than ``dead_after`` (the other streams moved on without it), **and** it has been behind
(the others holding a stamp more than ``slop`` newer than its newest) for ``dead_after`` seconds
of ``now``. Then its queue is cleared and sets are formed from the alive inputs only, with
``None`` in the dead inputs' slots, provided at least ``min_inputs`` are alive. All three are
needed: after a pause of the whole stream (a paused bag, a stalled network) every input is
silent by the wall clock, yet none lags in stamps; and when the upstream is slow (a detector
producing a set every second, each set's messages arriving within milliseconds of each other,
stamps jumping by more than ``dead_after`` between sets) every input is silent and lags in
stamps the moment the first message of the next set arrives, yet none has been behind for
long. In both cases the next set waits for all inputs instead of being cut into one-input
pieces as its messages trickle in. An input that was never heard from is compared with the
first stamp and the first ``add``/``tick`` call. A dead input rejoins on its next message (that
first message is usually dropped: the alive inputs already formed a partial set for its time,
and sets never go back in time; the input is in the sets from its next message on). With the
default ``min_inputs = n_inputs`` no partial set is ever emitted (pure message_filters
behaviour).

A set's stamp is the **latest** stamp among its messages (the moment by which every member had
been captured).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from typing import Any

SetCallback = Callable[[list, float], None]


class ApproximateTimeSync:
    """Approximate-time synchronizer over ``n_inputs`` streams (see the module docstring).

    Args:
        n_inputs: number of input streams (>= 1).
        callback: called as ``callback(msgs, stamp)`` with one message (or ``None`` for a dead
            input) per input and the set's stamp in seconds; called outside the internal lock,
            in the thread that called ``add``/``tick``.
        queue_size: maximum messages kept per input (>= 1).
        slop: maximum spread of a set's stamps, seconds (>= 0).
        min_inputs: minimum number of alive inputs to form a (partial) set; default
            ``n_inputs`` (no partial sets).
        dead_after: seconds without a message after which an input is dead (> 0).
    """

    def __init__(
        self,
        n_inputs: int,
        callback: SetCallback,
        queue_size: int = 10,
        slop: float = 0.05,
        min_inputs: int | None = None,
        dead_after: float = 1.0,
    ):
        if int(n_inputs) < 1:
            raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")
        if int(queue_size) < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not float(slop) >= 0.0:
            raise ValueError(f"slop must be >= 0 seconds, got {slop}")
        if not float(dead_after) > 0.0:
            raise ValueError(f"dead_after must be > 0 seconds, got {dead_after}")
        min_inputs = int(n_inputs) if min_inputs is None else int(min_inputs)
        if not 1 <= min_inputs <= int(n_inputs):
            raise ValueError(f"min_inputs must be in 1..{n_inputs}, got {min_inputs}")
        self.n_inputs = int(n_inputs)
        self.callback = callback
        self.queue_size = int(queue_size)
        self.slop = float(slop)
        self.min_inputs = min_inputs
        self.dead_after = float(dead_after)
        #: number of sets passed to the callback
        self.emitted = 0
        #: number of messages discarded without being part of an emitted set
        self.dropped = 0
        #: number of emitted sets that had at least one ``None`` (dead input)
        self.partial = 0
        self._stamps: list[list[float]] = [[] for _ in range(self.n_inputs)]
        self._msgs: list[list[Any]] = [[] for _ in range(self.n_inputs)]
        self._last_seen: list[float | None] = [None] * self.n_inputs
        self._last_used: list[float] = [float("-inf")] * self.n_inputs
        self._last_set_stamp = float("-inf")
        self._alive = [True] * self.n_inputs
        self._start: float | None = None
        self._newest: list[float | None] = [None] * self.n_inputs  # newest stamp added per input
        self._first_stamp: float | None = None
        self._newest_any = float("-inf")
        self._behind_since: list[float | None] = [None] * self.n_inputs  # receive time
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public API
    def add(self, index: int, msg: Any, stamp: float, now: float) -> None:
        """Add a message of input ``index`` with header ``stamp`` received at ``now`` (seconds)."""
        if not 0 <= index < self.n_inputs:
            raise IndexError(f"input index {index} out of range 0..{self.n_inputs - 1}")
        stamp = float(stamp)
        with self._lock:
            self._begin(now)
            self._last_seen[index] = float(now)
            self._alive[index] = True
            if self._newest[index] is None or stamp > self._newest[index]:
                self._newest[index] = stamp
            if self._first_stamp is None:
                self._first_stamp = stamp
            self._newest_any = max(self._newest_any, stamp)
            self._update_behind(float(now))
            if stamp <= self._last_used[index]:
                self.dropped += 1  # late or duplicate: this input already contributed a newer one
            else:
                pos = bisect.bisect_right(self._stamps[index], stamp)
                self._stamps[index].insert(pos, stamp)
                self._msgs[index].insert(pos, msg)
                while len(self._stamps[index]) > self.queue_size:
                    self._pop_front(index)
                    self.dropped += 1
            sets = self._process(now)
        self._deliver(sets)

    def tick(self, now: float) -> None:
        """Re-evaluate which inputs are alive at ``now`` and emit any set that became possible."""
        with self._lock:
            self._begin(now)
            sets = self._process(now)
        self._deliver(sets)

    def is_alive(self, index: int, now: float | None = None) -> bool:
        """Whether input ``index`` is alive (as of the last ``add``/``tick``, or at ``now``)."""
        with self._lock:
            if now is None:
                return self._alive[index]
            return self._is_alive_at(index, float(now))

    def queue_lengths(self) -> list[int]:
        """Current number of queued messages per input."""
        with self._lock:
            return [len(s) for s in self._stamps]

    def reset(self) -> None:
        """Forget all queued messages and history (counters are kept), e.g. on a clock jump."""
        with self._lock:
            for i in range(self.n_inputs):
                self._stamps[i].clear()
                self._msgs[i].clear()
            self._last_seen = [None] * self.n_inputs
            self._last_used = [float("-inf")] * self.n_inputs
            self._last_set_stamp = float("-inf")
            self._alive = [True] * self.n_inputs
            self._start = None
            self._newest = [None] * self.n_inputs
            self._first_stamp = None
            self._newest_any = float("-inf")
            self._behind_since = [None] * self.n_inputs

    # ------------------------------------------------------------------ internals
    def _begin(self, now: float) -> None:
        if self._start is None:
            self._start = float(now)

    def _update_behind(self, now: float) -> None:
        """Note when each input fell behind the newest stamp (by more than ``slop``). Lock held."""
        for i in range(self.n_inputs):
            newest = self._newest[i] if self._newest[i] is not None else self._first_stamp
            if newest is None or self._newest_any - newest <= self.slop:
                self._behind_since[i] = None
            elif self._behind_since[i] is None:
                self._behind_since[i] = now

    def _is_alive_at(self, i: int, now: float) -> bool:
        seen = self._last_seen[i]
        ref = seen if seen is not None else self._start
        if ref is None or now - ref <= self.dead_after:
            return True
        newest = self._newest[i] if self._newest[i] is not None else self._first_stamp
        if newest is None or self._newest_any - newest <= self.dead_after:
            return True
        behind = self._behind_since[i]
        return behind is None or now - behind <= self.dead_after

    def _pop_front(self, i: int) -> None:
        del self._stamps[i][0]
        del self._msgs[i][0]

    def _process(self, now: float) -> list[tuple[list, float]]:
        """Update liveness, then emit every set that can be formed. Lock held."""
        now = float(now)
        for i in range(self.n_inputs):
            alive = self._is_alive_at(i, now)
            if not alive and self._alive[i]:
                self.dropped += len(self._stamps[i])  # stale backlog of a camera that went silent
                self._stamps[i].clear()
                self._msgs[i].clear()
            self._alive[i] = alive
        active = [i for i in range(self.n_inputs) if self._alive[i]]
        out: list[tuple[list, float]] = []
        if len(active) < self.min_inputs:
            return out
        while all(self._stamps[i] for i in active):
            pivot_input = max(active, key=lambda i: self._stamps[i][0])
            pivot = self._stamps[pivot_input][0]
            lower = pivot - self.slop
            for i in active:
                while self._stamps[i] and self._stamps[i][0] < lower:
                    self._pop_front(i)
                    self.dropped += 1
            if not all(self._stamps[i] for i in active):
                break
            choice = self._tightest_set(active, pivot_input, pivot)
            stamp = max(self._stamps[i][k] for i, k in choice.items())
            if stamp <= self._last_set_stamp:
                # would go back in time (only possible after inputs died/rejoined): discard pivot
                self._pop_front(pivot_input)
                self.dropped += 1
                continue
            msgs: list = [None] * self.n_inputs
            for i, k in choice.items():
                msgs[i] = self._msgs[i][k]
                self._last_used[i] = self._stamps[i][k]
                self.dropped += k  # older messages of this input skipped by the set
                del self._stamps[i][: k + 1]
                del self._msgs[i][: k + 1]
            self._last_set_stamp = stamp
            self.emitted += 1
            if len(choice) < self.n_inputs:
                self.partial += 1
            out.append((msgs, stamp))
        return out

    def _tightest_set(self, active: Sequence[int], pivot_input: int, pivot: float) -> dict[int, int]:
        """Queue positions of the smallest-spread set containing the pivot (ties: earliest).

        Every queue head is in ``[pivot - slop, pivot]``, so the heads are a valid fallback.
        """
        others = [i for i in active if i != pivot_input]
        # Candidate minimum stamps of the set: every queued stamp in [pivot - slop, pivot].
        lows = sorted({s for i in others for s in self._stamps[i] if s <= pivot} | {pivot})
        best: tuple[float, float] | None = None
        best_choice: dict[int, int] = {}
        for low in lows:
            choice = {pivot_input: 0}
            high = pivot
            ok = True
            for i in others:
                k = bisect.bisect_left(self._stamps[i], low)
                if k == len(self._stamps[i]):
                    ok = False
                    break
                choice[i] = k
                high = max(high, self._stamps[i][k])
            if not ok:
                continue
            spread = high - low
            if spread > self.slop:
                continue
            key = (spread, low)
            if best is None or key < best:
                best, best_choice = key, choice
        if best is None:  # cannot happen after pruning, but keep the heads as a safe fallback
            return {i: 0 for i in active}
        return best_choice

    def _deliver(self, sets: list[tuple[list, float]]) -> None:
        for msgs, stamp in sets:
            self.callback(msgs, stamp)


def message_filters_available() -> bool:
    """Whether the ROS ``message_filters`` package can be imported."""
    try:
        import message_filters  # noqa: F401
    except ImportError:
        return False
    return True


class MessageFiltersSync:
    """Thin adapter over ``message_filters.ApproximateTimeSynchronizer`` (full sets only).

    Used by the nodes when ``message_filters`` imports and no partial sets are wanted
    (``min_cameras`` equals the number of cameras); it subscribes itself. ``callback`` gets the
    same ``(msgs, stamp)`` as with :class:`ApproximateTimeSync` (stamp = latest header stamp),
    and ``on_message(index, msg)`` is called for every single message (for rate diagnostics).
    Note message_filters' Python policy differs slightly: it matches each new message with the
    queued ones closest to it and it does not count dropped messages (``dropped`` stays 0).
    """

    def __init__(
        self,
        node,
        msg_type,
        topics,
        qos,
        callback: SetCallback,
        queue_size: int,
        slop: float,
        on_message: Callable[[int, Any], None] | None = None,
    ):
        import message_filters

        self.emitted = 0
        self.dropped = 0
        self.partial = 0
        self._callback = callback
        self._subs = [message_filters.Subscriber(node, msg_type, t, qos_profile=qos) for t in topics]
        if on_message is not None:
            for i, sub in enumerate(self._subs):
                sub.registerCallback(lambda msg, i=i: on_message(i, msg))
        self._sync = message_filters.ApproximateTimeSynchronizer(self._subs, queue_size, slop)
        self._sync.registerCallback(self._on_set)

    def _on_set(self, *msgs) -> None:
        stamp = max(m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec for m in msgs)
        self.emitted += 1
        self._callback(list(msgs), stamp)

    def tick(self, now: float) -> None:  # message_filters has no notion of dead inputs
        pass

    def is_alive(self, index: int, now: float | None = None) -> bool:
        return True
