"""Tests of the one-slot-mailbox worker (ros2_mvpose.ros.worker)."""

from __future__ import annotations

import threading
import time

from ros2_mvpose.ros.worker import LatestWorker


def test_processes_every_item_when_fast_enough():
    seen = []
    w = LatestWorker(seen.append).start()
    try:
        for k in range(20):
            w.submit(k)
            assert w.wait_idle(2.0)
        assert seen == list(range(20))
        assert w.dropped == 0 and w.processed == 20 and w.submitted == 20
    finally:
        assert w.stop()


def test_slow_process_keeps_only_the_newest_item():
    gate = threading.Event()
    started = threading.Event()
    seen = []

    def process(item):
        seen.append(item)
        started.set()
        gate.wait(5.0)

    w = LatestWorker(process).start()
    try:
        w.submit("first")
        assert started.wait(2.0)  # the worker holds "first"
        replaced = [w.submit(k) for k in range(100)]
        assert replaced == [False] + [True] * 99  # one pending slot, replaced 99 times
        assert w.pending and w.busy and w.dropped == 99
        gate.set()
        assert w.wait_idle(2.0)
        assert seen == ["first", 99]  # only the newest of the burst was processed
        assert w.processed == 2 and w.submitted == 101
        assert w.processed + w.dropped == w.submitted
    finally:
        gate.set()
        assert w.stop()


def test_exceptions_are_reported_and_worker_survives():
    errors = []

    def process(item):
        if item % 2:
            raise RuntimeError(f"bad item {item}")

    w = LatestWorker(process, on_error=errors.append).start()
    try:
        for k in range(6):
            w.submit(k)
            assert w.wait_idle(2.0)
        assert w.errors == 3 and w.processed == 6
        assert [str(e) for e in errors] == ["bad item 1", "bad item 3", "bad item 5"]
    finally:
        assert w.stop()


def test_stop_discards_pending_and_ends_thread():
    gate = threading.Event()
    w = LatestWorker(lambda item: gate.wait(5.0), name="t-worker").start()
    w.submit(1)
    time.sleep(0.05)
    w.submit(2)
    gate.set()
    assert w.stop(2.0)
    assert not any(t.name == "t-worker" for t in threading.enumerate())
    assert w.processed + w.dropped == w.submitted
