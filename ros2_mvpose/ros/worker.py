"""A worker thread with a one-slot mailbox: it always processes the newest submitted item.

When items arrive faster than ``process`` handles them, the pending item is *replaced* by the
newer one and counted in ``dropped``; nothing is ever queued beyond one pending item. Pure
Python (no rclpy).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class LatestWorker:
    """Run ``process(item)`` in a background thread on the newest submitted item.

    Args:
        process: called with each item taken from the mailbox, in the worker thread.
        on_error: called with the exception when ``process`` raises (the worker goes on);
            default: the exception is only counted.
        name: thread name.
    """

    def __init__(
        self,
        process: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
        name: str = "latest-worker",
    ):
        self._process = process
        self._on_error = on_error
        self._name = name
        self._cond = threading.Condition()
        self._item: Any = None
        self._has_item = False
        self._busy = False
        self._stop = False
        self._thread: threading.Thread | None = None
        #: items handed to ``submit``
        self.submitted = 0
        #: items replaced in the mailbox before being processed
        self.dropped = 0
        #: items whose processing finished (with or without an exception)
        self.processed = 0
        #: items whose processing raised
        self.errors = 0

    def start(self) -> LatestWorker:
        """Start the thread (idempotent); returns self."""
        with self._cond:
            if self._thread is None:
                self._stop = False
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        return self

    def submit(self, item: Any) -> bool:
        """Put ``item`` in the mailbox; returns True if it replaced an unprocessed item."""
        with self._cond:
            replaced = self._has_item
            if replaced:
                self.dropped += 1
            self._item, self._has_item = item, True
            self.submitted += 1
            self._cond.notify_all()
        return replaced

    @property
    def pending(self) -> bool:
        """Whether an item waits in the mailbox."""
        with self._cond:
            return self._has_item

    @property
    def busy(self) -> bool:
        """Whether ``process`` is running now."""
        with self._cond:
            return self._busy

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the mailbox is empty and nothing is being processed; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._has_item and not self._busy, timeout)

    def stop(self, timeout: float | None = 5.0) -> bool:
        """Ask the thread to finish (the pending item, if any, is discarded); True if it ended."""
        with self._cond:
            self._stop = True
            if self._has_item:
                self._has_item, self._item = False, None
                self.dropped += 1
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        alive = thread.is_alive()
        if not alive:
            with self._cond:
                self._thread = None
        return not alive

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._has_item or self._stop)
                if self._stop:
                    return
                item, self._item, self._has_item = self._item, None, False
                self._busy = True
            try:
                self._process(item)
            except Exception as exc:  # noqa: BLE001 - a worker must survive any item
                with self._cond:
                    self.errors += 1
                if self._on_error is not None:
                    try:
                        self._on_error(exc)
                    except Exception:  # noqa: BLE001
                        pass
            finally:
                with self._cond:
                    self._busy = False
                    self.processed += 1
                    self._cond.notify_all()
