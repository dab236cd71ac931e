"""The one exception type for a received message that cannot be used.

Every reader of incoming data (``Image``, ``CompressedImage``, ``CameraInfo``, ``PointCloud2``,
serialized or not) raises :class:`BadMessage` and nothing else for malformed input, so a node
can catch one type, log the message, skip it and go on. ``problem`` is a short, stable key
(e.g. ``"encoding"``, ``"truncated"``, ``"layout"``) for throttling logs per camera and problem;
``str(exc)`` is the human-readable description.
"""

from __future__ import annotations

__all__ = ["BadMessage"]


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
