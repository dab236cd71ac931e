"""What a stage reports about an input it had to skip."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One skipped input.

    Attributes:
        camera: camera index in rig order, or None when the problem is not one camera's.
        key: short stable name of the kind of problem (``encoding``, ``truncated``, ``k``...),
            used to throttle logs per camera and problem and to count problems.
        text: human-readable description (what was wrong and what was done about it).
    """

    camera: int | None
    key: str
    text: str


_NUMBERS = re.compile(r"[-+]?\d[\d.,eE+-]*")


def problem_key(exc: BaseException) -> str:
    """A stable key for an input error: the exception's ``problem`` attribute when it has one,
    else its type and message with the numbers removed (so ``step 10 < 64`` and ``step 12 < 64``
    share a key but ``truncated`` and ``step`` do not)."""
    key = getattr(exc, "problem", None)
    if isinstance(key, str) and key:
        return key
    text = _NUMBERS.sub("#", str(exc))[:80]
    return f"{type(exc).__name__}:{text}"
