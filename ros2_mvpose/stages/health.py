"""The current state of each camera input, for diagnostics: what a camera is doing *now*.

Pure Python (no rclpy). A node tells :class:`CameraHealth` when a message arrives, whether it
was usable, and asks for the state at diagnostics time. States, most severe first:

=================== ===== ==================================================================
state               level meaning
=================== ===== ==================================================================
``wrong_type``      ERROR the topic carries another message type (nothing can arrive)
``waiting``         WARN  nothing received yet
``dead``            WARN  nothing received for ``timeout`` seconds
``undecodable``     ERROR messages arrive but none was usable for ``timeout`` seconds
``out_of_sync``     WARN  its stamps disagree with the other cameras'; left out of sets
``left_out``        WARN  the synchronizer leaves it out of sets (stamps behind the others)
``bad_input``       WARN  usable input, but a bad message within the last ``bad_window`` s
``ok``              OK    usable input, nothing wrong recently
=================== ===== ==================================================================

Every state clears by itself when the camera recovers: the state is computed from the
latest events, not from cumulative counters.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ros2_mvpose.stages.problems import Problem

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


@dataclass
class CameraState:
    """One camera's state at one moment (see the module docstring)."""

    state: str
    level: int
    message: str

    @property
    def usable(self) -> bool:
        """Whether the camera currently contributes (``ok`` or ``bad_input``)."""
        return self.state in ("ok", "bad_input")


@dataclass
class CameraHealth:
    """Events of one camera input; :meth:`state` says what it is doing now.

    Args:
        timeout: seconds without any message (``dead``) or without a usable one
            (``undecodable``).
        bad_window: seconds a bad message keeps the state at ``bad_input``.
    """

    timeout: float = 1.0
    bad_window: float = 5.0
    received: int = 0
    usable: int = 0
    bad: int = 0
    bad_by_key: dict[str, int] = field(default_factory=dict)
    last_problem: str = ""
    _t_received: float | None = None
    _t_usable: float | None = None
    _t_bad: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def on_received(self, now: float) -> None:
        """Any message arrived at ``now`` (monotonic seconds), usable or not."""
        with self._lock:
            self.received += 1
            self._t_received = now

    def on_usable(self, now: float) -> None:
        """A message was usable (decoded, validated)."""
        with self._lock:
            self.usable += 1
            self._t_usable = now

    def on_bad(self, now: float, problem: Problem) -> None:
        """A message had to be skipped because of ``problem``."""
        with self._lock:
            self.bad += 1
            self.bad_by_key[problem.key] = self.bad_by_key.get(problem.key, 0) + 1
            self.last_problem = problem.text
            self._t_bad = now

    def state(
        self,
        now: float,
        *,
        in_sets: bool = True,
        sync_offset: float | None = None,
        wrong_type: str | None = None,
    ) -> CameraState:
        """The state at ``now``.

        Args:
            in_sets: whether the synchronizer currently puts the camera in sets.
            sync_offset: seconds by which the camera's stamps disagree with the others' when
                the synchronizer holds it out of sync, else None.
            wrong_type: the message type its topic carries when that is not the expected one.
        """
        with self._lock:
            t_rx, t_ok, t_bad, problem = self._t_received, self._t_usable, self._t_bad, self.last_problem
        if wrong_type:
            return CameraState("wrong_type", ERROR, f"topic carries {wrong_type}; nothing from it is used")
        if t_rx is None:
            return CameraState("waiting", WARN, "nothing received yet")
        if now - t_rx > self.timeout:
            return CameraState("dead", WARN, f"nothing received for {now - t_rx:.1f} s")
        if t_ok is None or now - t_ok > self.timeout:
            since = "yet" if t_ok is None else f"for {now - t_ok:.1f} s"
            return CameraState("undecodable", ERROR, f"no usable message {since}: {problem}")
        if sync_offset is not None:
            return CameraState(
                "out_of_sync", WARN, f"stamps off by {sync_offset:+.3f} s from the others; left out of sets"
            )
        if not in_sets:
            return CameraState("left_out", WARN, "left out of sets (its stamps are behind the others')")
        if t_bad is not None and now - t_bad <= self.bad_window:
            return CameraState("bad_input", WARN, f"bad input {now - t_bad:.1f} s ago: {problem}")
        return CameraState("ok", OK, "ok")
