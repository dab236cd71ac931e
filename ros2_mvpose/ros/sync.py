"""Approximate time synchronization of N message streams: partial sets, bad clocks, replay loops.

Pure Python (no rclpy): the nodes feed it ``(index, msg, stamp, now)`` and get sets back
through a callback, and clock events through ``on_event`` or :meth:`ApproximateTimeSync.drain_events`,
so the policy is tested without DDS. Stamps are header stamps in seconds; ``now`` is the receive
time in seconds on any monotonic clock (the nodes pass ``time.monotonic()``, offline readers the
bag's receive timestamps).

API (what the nodes use)::

    sync = ApproximateTimeSync(n, callback, queue_size=10, slop=DEFAULT_SLOP, min_inputs=None,
                               dead_after=1.0, max_offset=1.0, confirm_after=0.3, on_event=None)
    sync.add(index, msg, stamp, now)   # one message of input ``index``
    sync.tick(now)                     # periodically: liveness, out-of-sync declarations
    sync.flush()                       # end of input: the remaining (partial) sets
    callback(msgs, stamp)              # a set: one msg (or None) per input, stamp = latest member
    on_event(SyncEvent)                # or, without on_event: sync.drain_events() -> [SyncEvent]
    sync.state(index)                  # "ok" | "dead" | "out_of_sync" (for diagnostics)
    sync.in_sets(index, now)           # alive and in sync: the input is in the sets
    sync.offset(index)                 # its stamp offset from the others while out of sync, else None
    sync.is_alive(index), sync.reset(), sync.queue_lengths()
    sync.emitted / dropped / partial / resets   # counters

Events (:class:`SyncEvent`, ``kind``, ``index``, ``offset`` seconds, ``stamp``), each reported once:

- ``"out_of_sync"``: input ``index`` sends stamps that disagree with the other inputs by
  ``offset = its stamp - the others'`` (``|offset| > max_offset``: stamps far in the future,
  stamp 0, a clock that jumped back) and has done so for ``confirm_after`` seconds. Its messages
  are left out of sets from its first disagreeing stamp on (partial sets go on with the others
  when ``min_inputs`` allows); it never stalls the others.
- ``"in_sync"``: that input's stamps agree again; it is back in the sets.
- ``"reset"``: the stamps of every input jumped back by ``-offset`` seconds (a bag replayed in a
  loop, a clock reset): queues and history were cleared (``resets`` counts them) and sets start
  over from the new stamps. Whoever keeps state across sets (a tracker) should reset too.

Set policy:

- Each input has a queue, sorted by header stamp (out-of-order arrivals are placed by stamp),
  bounded by ``queue_size`` (the oldest message is dropped when it overflows).
- Only *active* inputs (alive and in sync) take part; a set needs every active input and at
  least ``min_inputs`` of them.
- The *pivot* is the latest of the active queue heads: the earliest moment by which every active
  input has delivered something. Among the sets that contain the pivot message and whose stamp
  spread (max - min) is ``<= slop``, the tightest is emitted (ties: the earliest), so each input's
  message is the one closest in time to the others' (a 30 Hz camera's frame that matches a 15 Hz
  camera's frame, not the one before it). A set whose spread exceeds ``slop`` is never emitted.
- When no such set exists yet, the synchronizer waits, keeping older messages: an input's
  delayed message may still complete an earlier set. The pivot message is discarded once every
  other active input has delivered a stamp beyond ``pivot + slop`` (plus the lateness of recent
  out-of-order arrivals, below): it can no longer be matched.
- A valid set is held back (the synchronizer waits for the next message) in two cases, so that
  each capture frame gives one set and frames do not mix:
  an input of the set has sent nothing from the pivot's frame yet (its newest stamp is more than
  half its frame period, the median step of its stamps, before the pivot: possible only when
  ``slop`` exceeds half a frame period), so its chosen message is from an earlier frame and its
  message of the pivot's frame is likely on its way; or, when images have recently arrived out of
  stamp order (on any input, by up to ``L`` seconds), an earlier set could still be completed by
  a late image (every active input has a queued message near its time or a newest stamp within
  ``slop + L`` of it). With in-order arrival and ``slop`` under half a frame period neither
  applies: the set goes out as soon as it is complete.
- Emitted messages and everything older in their queues are removed (older ones counted in
  ``dropped``); a message whose stamp is not newer than what its input last contributed, or
  more than ``slop`` older than the last set's stamp, is dropped on arrival (it could only form a
  set going back in time). Emitted set stamps strictly increase.

A set's stamp is the **latest** stamp among its messages (the moment by which every member had
been captured).

Dead inputs: an input is *dead* when it has received nothing for ``dead_after`` seconds of
``now`` (receive time), **and** its newest stamp lags the others' newest stamp by more than
``dead_after``, **and** it has been behind (the others holding a stamp more than ``slop`` newer
than its newest) for ``dead_after`` seconds of ``now``. Then its queue is cleared and sets are
formed from the remaining active inputs, with ``None`` in the dead inputs' slots, provided at least
``min_inputs`` are active. All three are needed: after a pause of the whole stream (a paused bag,
a stalled network) every input is silent by the wall clock, yet none lags in stamps; and when the
upstream is slow (a detector producing a set every second, its messages arriving within
milliseconds of each other) every input is silent and lags in stamps the moment the first message
of the next set arrives, yet none has been behind for long. An input that was never heard from is
compared with the first stamp and the first ``add``/``tick`` call. A dead input rejoins on its
next message (that first message is usually dropped: the others already formed a partial set for
its time). With the default ``min_inputs = n_inputs`` no partial set is ever emitted.

Out-of-sync inputs: a message agrees with the others (the other inputs alive, in sync and heard
from) when its stamp is not more than ``max_offset`` behind their median latest stamp, nor more
than ``max_offset`` ahead of it once extrapolated at real-time rate to ``now`` (so a slow
upstream, whose stamps jump with receive time, and a paused stream agree). A message that
disagrees is still followed when more than half of the live inputs' latest stamps agree with it
(they all moved: a replay loop, a clock jump); if that majority went back by more than
``max_offset``, it is a ``"reset"``. Otherwise its input is out of sync: its messages are dropped
until one agrees again. An input that has merely not delivered since the others moved on is not
out of sync (the dead-input rule applies to it). A clock off by less than ``max_offset`` but more
than the queues bridge also stops every set: when no set has formed for ``dead_after`` seconds
although at least ``min_inputs`` (and 2) active inputs all kept sending, the input whose newest
stamp is farthest (beyond ``slop``) from the others' median is out of sync too (reported at once),
until one of its stamps is within ``slop`` of another input's.

Default ``slop`` (:data:`DEFAULT_SLOP`, 15 ms) fits cameras up to 30 Hz: shorter than half a frame
period (16.7 ms) so that images of two capture frames never form a set, and longer than the spread
of one frame's stamps when cameras are not hardware-triggered (a few ms). For other rates use at
most half the frame period minus the stamp jitter.
"""

from __future__ import annotations

import bisect
import collections
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

SetCallback = Callable[[list, float], None]

#: Default maximum stamp spread within a set, seconds (see the module docstring).
DEFAULT_SLOP = 0.015
#: Default stamp disagreement beyond which an input is out of sync, seconds.
DEFAULT_MAX_OFFSET = 1.0
#: Default time an input must disagree (receive time) before it is reported out of sync, seconds.
DEFAULT_CONFIRM_AFTER = 0.3

EVENT_KINDS = ("out_of_sync", "in_sync", "reset")


@dataclass(frozen=True)
class SyncEvent:
    """A clock event of the synchronizer.

    Attributes:
        kind: ``"out_of_sync"``, ``"in_sync"`` or ``"reset"`` (see the module docstring).
        index: input index (None for ``"reset"``, which concerns every input).
        offset: seconds; ``out_of_sync``: the input's stamp minus the others' (> 0: ahead);
            ``in_sync``: the same, now within ``max_offset``; ``reset``: the jump (< 0).
        stamp: the stamp (seconds) that triggered the event.
    """

    kind: str
    index: int | None
    offset: float
    stamp: float

    def describe(self, names: Sequence[str] | None = None) -> str:
        """One log line, naming the input by ``names[index]`` when given."""
        who = ""
        if self.index is not None:
            who = f"camera {names[self.index]!r}" if names is not None else f"input {self.index}"
        if self.kind == "out_of_sync":
            way = "ahead of" if self.offset > 0 else "behind"
            return (f"{who} is out of sync: its stamps are {abs(self.offset):.3f} s {way} the other "
                    f"cameras' (stamp {self.stamp:.3f} s); left out of sets until they agree again")
        if self.kind == "in_sync":
            return (f"{who} is back in sync (offset {self.offset:+.3f} s, stamp {self.stamp:.3f} s); "
                    "back in the sets")
        return (f"stamps of every camera jumped back by {-self.offset:.3f} s (to {self.stamp:.3f} s: "
                "a replayed bag or a clock reset); synchronization restarted")


class ApproximateTimeSync:
    """Approximate-time synchronizer over ``n_inputs`` streams (see the module docstring).

    Args:
        n_inputs: number of input streams (>= 1).
        callback: called as ``callback(msgs, stamp)`` with one message (or ``None`` for a left-out
            input) per input and the set's stamp in seconds; called outside the internal lock,
            in the thread that called ``add``/``tick``.
        queue_size: maximum messages kept per input (>= 1).
        slop: maximum spread of a set's stamps, seconds (>= 0).
        min_inputs: minimum number of active inputs to form a (partial) set; default
            ``n_inputs`` (no partial sets).
        dead_after: seconds without a message after which an input is dead (> 0).
        max_offset: seconds of stamp disagreement beyond which an input is out of sync (> 0).
        confirm_after: seconds (receive time) an input must disagree before ``"out_of_sync"`` is
            reported (>= 0); it is left out of sets at once.
        on_event: called with each :class:`SyncEvent` (outside the lock, before the sets of the
            same call); when None, events are kept (the latest 1000) for :meth:`drain_events`.
    """

    def __init__(
        self,
        n_inputs: int,
        callback: SetCallback,
        queue_size: int = 10,
        slop: float = DEFAULT_SLOP,
        min_inputs: int | None = None,
        dead_after: float = 1.0,
        max_offset: float = DEFAULT_MAX_OFFSET,
        confirm_after: float = DEFAULT_CONFIRM_AFTER,
        on_event: Callable[[SyncEvent], None] | None = None,
    ):
        if int(n_inputs) < 1:
            raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")
        if int(queue_size) < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not float(slop) >= 0.0:
            raise ValueError(f"slop must be >= 0 seconds, got {slop}")
        if not float(dead_after) > 0.0:
            raise ValueError(f"dead_after must be > 0 seconds, got {dead_after}")
        if not float(max_offset) > 0.0:
            raise ValueError(f"max_offset must be > 0 seconds, got {max_offset}")
        if not float(confirm_after) >= 0.0:
            raise ValueError(f"confirm_after must be >= 0 seconds, got {confirm_after}")
        min_inputs = int(n_inputs) if min_inputs is None else int(min_inputs)
        if not 1 <= min_inputs <= int(n_inputs):
            raise ValueError(f"min_inputs must be in 1..{n_inputs}, got {min_inputs}")
        self.n_inputs = int(n_inputs)
        self.callback = callback
        self.queue_size = int(queue_size)
        self.slop = float(slop)
        self.min_inputs = min_inputs
        self.dead_after = float(dead_after)
        self.max_offset = float(max_offset)
        self.confirm_after = float(confirm_after)
        self.on_event = on_event
        #: number of sets passed to the callback
        self.emitted = 0
        #: number of messages discarded without being part of an emitted set
        self.dropped = 0
        #: number of emitted sets that had at least one ``None`` (input left out)
        self.partial = 0
        #: number of resets after every input's stamps jumped back
        self.resets = 0
        self._events: collections.deque[SyncEvent] = collections.deque(maxlen=1000)
        self._lock = threading.Lock()
        self._clear_state()

    # ------------------------------------------------------------------ public API
    def add(self, index: int, msg: Any, stamp: float, now: float) -> None:
        """Add a message of input ``index`` with header ``stamp`` received at ``now`` (seconds).

        A message whose stamp or receive time is not finite is counted in ``dropped`` and ignored.
        """
        if not 0 <= index < self.n_inputs:
            raise IndexError(f"input index {index} out of range 0..{self.n_inputs - 1}")
        stamp = float(stamp)
        now = float(now)
        if not (math.isfinite(stamp) and math.isfinite(now)):
            with self._lock:
                self.dropped += 1  # no time to place it by: never in a set
            return
        with self._lock:
            events: list[SyncEvent] = []
            self._begin(now)
            self._last_seen[index] = now
            self._alive[index] = True
            in_sync = self._vote(index, stamp, now, events)
            if in_sync:
                self._note_order(index, stamp)
            if self._first_stamp is None:
                self._first_stamp = stamp
            self._update_behind(now)
            if not in_sync:
                self.dropped += 1  # out of sync: left out of sets
            elif stamp <= self._last_used[index] or stamp < self._last_set_stamp - self.slop:
                self.dropped += 1  # late or duplicate: could only form a set going back in time
            else:
                pos = bisect.bisect_right(self._stamps[index], stamp)
                self._stamps[index].insert(pos, stamp)
                self._msgs[index].insert(pos, msg)
                while len(self._stamps[index]) > self.queue_size:
                    self._pop_front(index)
                    self.dropped += 1
            sets = self._process(now, events)
        self._deliver(events, sets)

    def tick(self, now: float) -> None:
        """Re-evaluate liveness and clocks at ``now`` and emit any set that became possible."""
        with self._lock:
            events: list[SyncEvent] = []
            self._begin(float(now))
            sets = self._process(float(now), events)
        self._deliver(events, sets)

    def flush(self) -> None:
        """End of input (a bag read to its end): emit every set the queued messages still form.

        Nothing is held back any more, and inputs with nothing queued are left out (partial sets,
        when ``min_inputs`` allows), e.g. the last frame of a bag that lacks one camera's image.
        """
        with self._lock:
            sets = self._emit(final=True)
        self._deliver([], sets)

    def drain_events(self) -> list[SyncEvent]:
        """Events since the last call (only when no ``on_event`` callback was given)."""
        with self._lock:
            out = list(self._events)
            self._events.clear()
            return out

    def is_alive(self, index: int, now: float | None = None) -> bool:
        """Whether input ``index`` is alive (as of the last ``add``/``tick``, or at ``now``)."""
        with self._lock:
            if now is None:
                return self._alive[index]
            return self._is_alive_at(index, float(now))

    def is_in_sync(self, index: int) -> bool:
        """Whether input ``index``'s stamps agree with the others' (as of the last call)."""
        with self._lock:
            return self._suspect_since[index] is None

    def in_sets(self, index: int, now: float | None = None) -> bool:
        """Whether input ``index`` takes part in sets: alive (as of the last call, or at ``now``)
        and in sync."""
        return self.state(index, now) == "ok"

    def offset(self, index: int) -> float | None:
        """Seconds by which input ``index``'s stamps disagree with the others' while it is out of
        sync (> 0: ahead); None while it agrees."""
        with self._lock:
            return self._offset[index] if self._suspect_since[index] is not None else None

    def state(self, index: int, now: float | None = None) -> str:
        """``"out_of_sync"``, ``"dead"`` or ``"ok"`` for input ``index`` (diagnostics)."""
        with self._lock:
            if self._suspect_since[index] is not None:
                return "out_of_sync"
            alive = self._alive[index] if now is None else self._is_alive_at(index, float(now))
            return "ok" if alive else "dead"

    def queue_lengths(self) -> list[int]:
        """Current number of queued messages per input."""
        with self._lock:
            return [len(s) for s in self._stamps]

    def reset(self) -> None:
        """Forget all queued messages and history (counters are kept), e.g. on a clock jump."""
        with self._lock:
            self._clear_state()

    # ------------------------------------------------------------------ state
    def _clear_state(self) -> None:
        n = self.n_inputs
        self._stamps: list[list[float]] = [[] for _ in range(n)]
        self._msgs: list[list[Any]] = [[] for _ in range(n)]
        self._last_seen: list[float | None] = [None] * n  # receive time of the last message
        self._last_used: list[float] = [float("-inf")] * n  # stamp last contributed to a set
        self._last_set_stamp = float("-inf")
        self._alive = [True] * n
        self._start: float | None = None
        self._newest: list[float | None] = [None] * n  # newest stamp accepted per input
        self._first_stamp: float | None = None
        self._behind_since: list[float | None] = [None] * n  # receive time
        self._latest: list[float | None] = [None] * n  # stamp of the last message received
        self._latest_recv: list[float | None] = [None] * n  # its receive time
        self._suspect_since: list[float | None] = [None] * n  # receive time it started to disagree
        self._declared = [False] * n  # "out_of_sync" reported
        self._offset = [0.0] * n
        self._gaps = [collections.deque(maxlen=15) for _ in range(n)]  # stamp steps, in order
        self._lags = [collections.deque(maxlen=32) for _ in range(n)]  # how late out-of-order ones were
        self._stalled = [False] * n  # left out for never matching the others (rejoins on a match)
        self._progress_recv: float | None = None  # receive time of the last set (or of the start)

    def _begin(self, now: float) -> None:
        if self._start is None:
            self._start = now
        if self._progress_recv is None:
            self._progress_recv = now

    # ------------------------------------------------------------------ clocks
    def _vote(self, index: int, stamp: float, now: float, events: list[SyncEvent]) -> bool:
        """Classify input ``index``'s new stamp against the others'; True when it is in sync.

        The others (alive, in sync, heard from) say where the stamps are: a stamp agrees when it
        is not more than ``max_offset`` behind their median latest stamp nor ahead of it, once
        extrapolated at real-time rate to ``now``, by more than ``max_offset`` (a slow upstream
        or a paused stream agree). A stamp that disagrees is still followed when more than half
        of the live inputs' latest stamps agree with it (they all moved: a replay loop, a jump).
        """
        others = [k for k in range(self.n_inputs)
                  if k != index and self._alive[k] and self._suspect_since[k] is None
                  and self._latest[k] is not None]
        if others:
            lo = _median_low([self._latest[k] for k in others])
            hi = _median_low([self._latest[k] + max(0.0, now - self._latest_recv[k]) for k in others])
            agree = lo - self.max_offset <= stamp <= hi + self.max_offset
        lead = self._lead()
        if not others:
            agree = lead is None or stamp >= lead - self.max_offset
        self._latest[index] = stamp
        self._latest_recv[index] = now
        if agree and not (self._stalled[index] and not self._matches_others(index, stamp)):
            self._agree(index, stamp, events)
            return True
        if not self._stalled[index]:  # (a stalled input is back only once a stamp matches the others')
            voters = [k for k in range(self.n_inputs)
                      if self._latest[k] is not None and (k == index or self._alive[k])]
            group = [k for k in voters if abs(self._latest[k] - stamp) <= self.max_offset]
            if 2 * len(group) > len(voters):  # the majority moved: follow it
                new_ref = max(self._latest[k] for k in group)
                if lead is not None and new_ref < lead - self.max_offset:
                    self._jump_back(new_ref - lead, new_ref, group, events)
                else:
                    for k in group:
                        self._agree(k, self._latest[k], events)
                return True
        self._offset[index] = stamp - (lo if others else lead)
        if self._suspect_since[index] is None:
            self._suspect_since[index] = now
            self._forget_queue(index)
        return False

    def _agree(self, i: int, stamp: float, events: list[SyncEvent]) -> None:
        if self._suspect_since[i] is None:
            return
        if self._declared[i]:
            lead = self._lead()
            events.append(SyncEvent("in_sync", i, stamp - (lead if lead is not None else stamp), stamp))
        self._suspect_since[i] = None
        self._declared[i] = False
        self._stalled[i] = False
        self._newest[i] = stamp  # its history belongs to the other clock
        self._gaps[i].clear()
        self._lags[i].clear()
        self._last_used[i] = float("-inf")
        self._behind_since[i] = None

    def _forget_queue(self, i: int) -> None:
        self.dropped += len(self._stamps[i])
        self._stamps[i].clear()
        self._msgs[i].clear()

    def _jump_back(self, jump: float, new_ref: float, group: list[int], events: list[SyncEvent]) -> None:
        """The majority of the live inputs went back in time: start over from the new stamps."""
        keep = (list(self._latest), list(self._latest_recv), list(self._alive), list(self._last_seen),
                list(self._suspect_since), list(self._declared), list(self._offset), self._start)
        for i in range(self.n_inputs):
            self._forget_queue(i)
        self._clear_state()
        latest, latest_recv, alive, last_seen, suspect, declared, offset, self._start = keep
        self._latest, self._latest_recv, self._alive, self._last_seen = latest, latest_recv, alive, last_seen
        self._first_stamp = new_ref
        self.resets += 1
        events.append(SyncEvent("reset", None, jump, new_ref))
        for i in range(self.n_inputs):
            if i in group:
                self._newest[i] = latest[i]
                if declared[i]:
                    events.append(SyncEvent("in_sync", i, latest[i] - new_ref, latest[i]))
            else:  # not jumped yet (late) or out of sync: keeps its state
                self._suspect_since[i], self._declared[i] = suspect[i], declared[i]
                self._offset[i] = offset[i]

    def _declare(self, now: float, events: list[SyncEvent]) -> None:
        for i in range(self.n_inputs):
            since = self._suspect_since[i]
            if since is not None and not self._declared[i] and now - since >= self.confirm_after:
                self._declared[i] = True
                events.append(SyncEvent("out_of_sync", i, self._offset[i], self._latest[i]))

    # ------------------------------------------------------------------ liveness
    def _lead(self) -> float | None:
        """Newest stamp of the inputs in sync (None before any)."""
        vals = [s for s, q in zip(self._newest, self._suspect_since) if s is not None and q is None]
        return max(vals) if vals else None
    def _update_behind(self, now: float) -> None:
        """Note when each input fell behind the reference stamp (by more than ``slop``). Lock held."""
        lead = self._lead()
        for i in range(self.n_inputs):
            newest = self._newest[i] if self._newest[i] is not None else self._first_stamp
            if newest is None or lead is None or lead - newest <= self.slop:
                self._behind_since[i] = None
            elif self._behind_since[i] is None:
                self._behind_since[i] = now

    def _is_alive_at(self, i: int, now: float) -> bool:
        seen = self._last_seen[i]
        ref = seen if seen is not None else self._start
        if ref is None or now - ref <= self.dead_after:
            return True
        newest = self._newest[i] if self._newest[i] is not None else self._first_stamp
        lead = self._lead()
        if newest is None or lead is None or lead - newest <= self.dead_after:
            return True
        behind = self._behind_since[i]
        return behind is None or now - behind <= self.dead_after

    # ------------------------------------------------------------------ sets
    def _pop_front(self, i: int) -> None:
        del self._stamps[i][0]
        del self._msgs[i][0]

    def _process(self, now: float, events: list[SyncEvent]) -> list[tuple[list, float]]:
        """Update liveness and clock states, then emit every set that can be formed. Lock held."""
        self._declare(now, events)
        for i in range(self.n_inputs):
            alive = self._is_alive_at(i, now)
            if not alive and self._alive[i]:
                self._forget_queue(i)  # stale backlog of an input that went silent
            self._alive[i] = alive
        self._check_stall(now, events)
        return self._emit(final=False, now=now)

    def _check_stall(self, now: float, events: list[SyncEvent]) -> None:
        """No set for ``dead_after`` seconds although every active input keeps sending: the input
        whose newest stamp is farthest (beyond ``slop``) from the others' (their median; with two
        inputs, the last set's stamp moved on at real-time rate) never matches them, e.g. its clock
        jumped by less than ``max_offset`` but more than the queues span. It is out of sync until
        one of its stamps matches a stamp of the others again. Lock held."""
        active = [i for i in range(self.n_inputs) if self._alive[i] and self._suspect_since[i] is None]
        possible = len(active) >= max(2, self.min_inputs) and all(
            self._newest[i] is not None and self._last_seen[i] is not None
            and now - self._last_seen[i] <= 0.5 * self.dead_after
            for i in active
        )
        if not possible:  # too few inputs, or one is silent (the dead-input rule decides): no stall
            self._progress_recv = now
            return
        if self._progress_recv is None or now - self._progress_recv <= self.dead_after:
            return
        if len(active) >= 3:
            ref = _median_low([self._newest[i] for i in active])
        elif math.isfinite(self._last_set_stamp):
            ref = self._last_set_stamp + (now - self._progress_recv)
        else:
            return
        self._progress_recv = now  # the next check comes dead_after later
        culprit = max(active, key=lambda i: abs(self._newest[i] - ref))
        offset = self._newest[culprit] - ref
        if abs(offset) <= self.slop:
            return
        self._suspect_since[culprit] = now
        self._declared[culprit] = True
        self._stalled[culprit] = True
        self._offset[culprit] = offset
        self._forget_queue(culprit)
        events.append(SyncEvent("out_of_sync", culprit, offset, self._newest[culprit]))

    def _matches_others(self, index: int, stamp: float) -> bool:
        """Whether ``stamp`` is within ``slop`` of a queued or newest stamp of another active input."""
        others = [k for k in range(self.n_inputs) if k != index and self._alive[k]
                  and self._suspect_since[k] is None and self._newest[k] is not None]
        return not others or any(
            abs(s - stamp) <= self.slop for k in others for s in [*self._stamps[k], self._newest[k]]
        )

    def _emit(self, final: bool, now: float | None = None) -> list[tuple[list, float]]:
        """Emit every set that can be formed now; ``final``: no more messages will come. Lock held."""
        active = [i for i in range(self.n_inputs) if self._alive[i] and self._suspect_since[i] is None]
        out: list[tuple[list, float]] = []
        while True:
            if final:  # inputs with nothing left are out of the remaining sets
                active = [i for i in active if self._stamps[i]]
            if len(active) < self.min_inputs or not all(self._stamps[i] for i in active):
                break
            pivot_input = max(active, key=lambda i: self._stamps[i][0])
            pivot = self._stamps[pivot_input][0]
            choice = self._tightest_set(active, pivot_input, pivot)
            if choice is None and final:  # the heads too old for the pivot can never be matched now
                old = [i for i in active if pivot - self._stamps[i][0] > self.slop] or [pivot_input]
                for i in old:
                    self._pop_front(i)
                    self.dropped += 1
                continue
            if choice is None:
                if self._unmatchable(active, pivot_input, pivot):
                    self._pop_front(pivot_input)
                    self.dropped += 1
                    continue
                break  # wait: another input may still deliver a match
            if not final and (
                self._frame_pending(choice, pivot_input, pivot) or self._earlier_set_pending(active, pivot)
            ):
                break  # wait: an image that completes a better or earlier set may be on its way
            stamps = [self._stamps[i][k] for i, k in choice.items()]
            stamp = max(stamps)
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
            if now is not None:
                self._progress_recv = now
            self.emitted += 1
            if len(choice) < self.n_inputs:
                self.partial += 1
            out.append((msgs, stamp))
        return out

    def _note_order(self, i: int, stamp: float) -> None:
        """Track input ``i``'s stamp steps (frame period) and out-of-order lateness. Lock held."""
        newest = self._newest[i]
        if newest is None:
            self._newest[i] = stamp
        elif stamp > newest:
            self._gaps[i].append(stamp - newest)
            self._lags[i].append(0.0)
            self._newest[i] = stamp
        else:
            self._lags[i].append(newest - stamp)

    def _lateness(self) -> float:
        """How late (in stamp) out-of-order images recently arrived, on any input; 0 when in order."""
        return max((max(lags, default=0.0) for lags in self._lags), default=0.0)

    def _unmatchable(self, active: Sequence[int], pivot_input: int, pivot: float) -> bool:
        """No set with the pivot can form any more: every other input delivered beyond its window.

        "Beyond" allows for the inputs' recent out-of-order lateness (a delayed image of the pivot's
        time may still be on its way after newer ones arrived).
        """
        late = self._lateness()
        for i in active:
            if i == pivot_input:
                continue
            newest = self._newest[i]
            if newest is None or newest <= pivot + self.slop + late:
                return False
        return True

    def _earlier_set_pending(self, active: Sequence[int], pivot: float) -> bool:
        """Whether a set earlier than the pivot's may still complete with a late, out-of-order image.

        An earlier set around a queued stamp ``t < pivot - slop`` is pending when every active input
        either has a queued image within ``slop`` of ``t`` or may still deliver one: its newest
        stamp is within ``slop`` plus the recent out-of-order lateness (any input's) of ``t``. When
        images arrive in order, no set is ever held back.
        """
        late = self._lateness()
        if late <= 0.0:
            return False
        for t in sorted({t for i in active for t in self._stamps[i] if t < pivot - self.slop}):
            pending = True
            for k in active:
                q = self._stamps[k]
                j = bisect.bisect_left(q, t - self.slop)
                if j < len(q) and q[j] <= t + self.slop:
                    continue
                if self._newest[k] is None or self._newest[k] > t + self.slop + late:
                    pending = False
                    break
            if pending:
                return True
        return False

    def _frame_pending(self, choice: dict[int, int], pivot_input: int, pivot: float) -> bool:
        """Whether an input of ``choice`` has not yet delivered anything of the pivot's frame.

        Input ``k`` (frame period ``T``: median stamp step) whose newest stamp is more than ``T/2``
        before the pivot has sent nothing from the pivot's capture frame yet: its chosen image is
        from an earlier frame, and its image of the pivot's frame is likely on its way. Only
        possible when ``slop > T/2``; the wait ends with its next image (or when it is dead).
        """
        for k in choice:
            if k == pivot_input or len(self._gaps[k]) < 3:
                continue
            period = _median_low(self._gaps[k])
            if self._newest[k] < pivot - 0.5 * period:
                return True
        return False

    def _tightest_set(self, active: Sequence[int], pivot_input: int, pivot: float) -> dict[int, int] | None:
        """Queue positions of the smallest-spread set containing the pivot (ties: earliest), or None.

        Only sets whose spread is ``<= slop`` are considered.
        """
        others = [i for i in active if i != pivot_input]
        lo_bound = pivot - self.slop
        # candidate minimum stamps of the set: queued stamps in [pivot - slop, pivot]
        lows = sorted({s for i in others for s in self._stamps[i] if lo_bound <= s <= pivot} | {pivot})
        best: tuple[float, float] | None = None
        best_choice: dict[int, int] | None = None
        for low in lows:
            choice = {pivot_input: 0}
            high = pivot
            for i in others:
                k = bisect.bisect_left(self._stamps[i], low)
                if k == len(self._stamps[i]):
                    break
                choice[i] = k
                high = max(high, self._stamps[i][k])
            else:
                spread = high - low
                if spread > self.slop:
                    continue
                key = (spread, low)
                if best is None or key < best:
                    best, best_choice = key, choice
        return best_choice

    def _deliver(self, events: list[SyncEvent], sets: list[tuple[list, float]]) -> None:
        for ev in events:
            if self.on_event is not None:
                self.on_event(ev)
            else:
                with self._lock:
                    self._events.append(ev)
        for msgs, stamp in sets:
            self.callback(msgs, stamp)


def _median_low(values: Sequence[float]) -> float:
    """The lower median of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def message_filters_available() -> bool:
    """Whether the ROS ``message_filters`` package can be imported."""
    try:
        import message_filters  # noqa: F401
    except ImportError:
        return False
    return True


class MessageFiltersSync:
    """Thin adapter over ``message_filters.ApproximateTimeSynchronizer`` (full sets only).

    Used by the detector on request (``use_message_filters``) when ``message_filters`` imports and
    no partial sets are wanted (``min_cameras`` equals the number of cameras); it subscribes
    itself. ``callback`` gets the same ``(msgs, stamp)`` as with :class:`ApproximateTimeSync`
    (stamp = latest header stamp), and ``on_message(index, msg)`` is called for every single
    message (for rate diagnostics).
    Note message_filters' Python policy differs: it matches each new message with the queued
    ones closest to it, may emit sets out of stamp order, has no notion of dead or out-of-sync
    inputs and does not count dropped messages (``dropped`` stays 0).
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
        self.resets = 0
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

    def in_sets(self, index: int, now: float | None = None) -> bool:
        return True

    def offset(self, index: int) -> float | None:
        return None

    def drain_events(self) -> list[SyncEvent]:
        return []
