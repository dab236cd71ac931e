"""The one exception type for a received message that cannot be used.

Every reader of incoming data (``Image``, ``CompressedImage``, ``CameraInfo``, ``PointCloud2``,
serialized or not) raises :class:`BadMessage` and nothing else for malformed input, so a node
can catch one type, log the message, skip it and go on. ``problem`` is a short, stable key
(e.g. ``"encoding"``, ``"truncated"``, ``"layout"``) for throttling logs per camera and problem;
``str(exc)`` is the human-readable description.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BadMessage", "byte_array", "uint_field"]


class BadMessage(ValueError):
    """A message that cannot be used.

    Args:
        message: what is wrong, in words (the exception's text).
        problem: short key naming the kind of problem, stable across messages of that kind.
    """

    def __init__(self, message: str, problem: str = "malformed") -> None:
        super().__init__(message)
        self.problem = problem

    def __reduce__(self):  # keep ``problem`` across pickling (process pools, logging handlers)
        return (type(self), (str(self), self.problem))


def byte_array(data, what: str = "message", error: type[BadMessage] = BadMessage) -> np.ndarray:
    """A message's ``uint8[]`` field as a 1-D uint8 array (no copy for buffer-protocol objects).

    Accepts ``bytes``, ``bytearray``, ``memoryview``, ``array.array`` (what rclpy gives), numpy
    arrays and lists of ints (what some bag readers give).

    Raises:
        error: anything that is not a sequence of bytes (problem ``"data"``).
    """
    try:
        if isinstance(data, np.ndarray):
            return data.reshape(-1).view(np.uint8) if data.dtype.itemsize == 1 else data.astype(np.uint8)
        try:
            return np.frombuffer(data, dtype=np.uint8)
        except (TypeError, ValueError):
            return np.asarray(data, dtype=np.uint8).reshape(-1)
    except (TypeError, ValueError, OverflowError) as exc:
        raise error(f"{what} data is not a byte sequence ({type(data).__name__})", "data") from exc


def uint_field(msg, name: str, what: str, error: type[BadMessage] = BadMessage) -> int:
    """``msg.<name>`` as a non-negative int; ``error`` (problem ``"layout"``) naming ``what`` otherwise."""
    try:
        value = int(getattr(msg, name))
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise error(f"{what} field {name} is missing or not an integer", "layout") from exc
    if value < 0:
        raise error(f"{what} field {name} is negative ({value})", "layout")
    return value
