"""Tests of the pure-Python approximate time synchronizer (ros2_mvpose.ros.sync)."""

from __future__ import annotations

import random

import pytest

from ros2_mvpose.ros.sync import DEFAULT_SLOP, ApproximateTimeSync, SyncEvent


class Recorder:
    """Callback collecting the emitted sets."""

    def __init__(self):
        self.sets: list[tuple[list, float]] = []

    def __call__(self, msgs, stamp):
        self.sets.append((list(msgs), stamp))


def make(n=3, **kw):
    rec = Recorder()
    return ApproximateTimeSync(n, rec, **kw), rec


def camera_stream(n_cams, n_frames, period, jitter, rng, t0=10.0, latency=0.004):
    """Messages ``(arrival, cam, (cam, frame), stamp)`` sorted by arrival time."""
    events = []
    for f in range(n_frames):
        for c in range(n_cams):
            stamp = t0 + f * period + rng.uniform(-jitter, jitter)
            arrival = stamp + latency + rng.uniform(0.0, 0.01)
            events.append((arrival, c, (c, f), stamp))
    events.sort()
    return events


def test_jittered_full_sets_match_frames():
    rng = random.Random(1)
    sync, rec = make(3, slop=0.02, queue_size=5)
    for arrival, cam, msg, stamp in camera_stream(3, 60, 1 / 30, 0.006, rng):
        sync.add(cam, msg, stamp, arrival)
    assert len(rec.sets) == 60
    assert sync.emitted == 60 and sync.dropped == 0 and sync.partial == 0
    for f, (msgs, stamp) in enumerate(rec.sets):
        assert [m[1] for m in msgs] == [f, f, f]
        assert [m[0] for m in msgs] == [0, 1, 2]
        assert stamp == pytest.approx(10.0 + f / 30, abs=0.0061)
    assert sync.queue_lengths() == [0, 0, 0]


def test_set_stamp_is_latest_member_stamp():
    sync, rec = make(3, slop=0.05)
    sync.add(0, "a", 1.00, 1.1)
    sync.add(1, "b", 1.03, 1.1)
    assert rec.sets == []
    sync.add(2, "c", 0.99, 1.1)
    assert rec.sets == [(["a", "b", "c"], 1.03)]


def test_different_rates_pick_the_matching_frame():
    # cam0 at 30 Hz, cam1 at 15 Hz: every cam1 frame pairs with the cam0 frame of the same time,
    # not with the older cam0 frame that is also within slop.
    sync, rec = make(2, slop=0.05, queue_size=10)
    events = []
    for f in range(30):
        events.append((f / 30 + 0.005, 0, ("c0", f), f / 30))
    for f in range(15):
        events.append((2 * f / 30 + 0.006, 1, ("c1", f), 2 * f / 30))
    for arrival, cam, msg, stamp in sorted(events):
        sync.add(cam, msg, stamp, arrival)
    assert len(rec.sets) == 15
    for k, (msgs, _) in enumerate(rec.sets):
        assert msgs == [("c0", 2 * k), ("c1", k)]
    # every odd cam0 frame was skipped; the last one (frame 29) may still be queued
    assert sync.dropped + sum(sync.queue_lengths()) == 15


def test_no_set_beyond_slop_and_old_messages_dropped():
    sync, rec = make(2, slop=0.01)
    sync.add(0, "a0", 1.000, 1.0)
    sync.add(1, "b0", 1.020, 1.0)  # 20 ms apart: no set; a0 is kept (a late b may still match it)
    assert rec.sets == [] and sync.dropped == 0
    sync.add(0, "a1", 1.025, 1.0)
    assert rec.sets == [(["a1", "b0"], 1.025)]
    assert sync.dropped == 1 and sync.queue_lengths() == [0, 0]  # a0 skipped by the set


def test_slop_boundary_is_inclusive():
    sync, rec = make(2, slop=0.25)
    sync.add(0, "a", 1.0, 0.0)
    sync.add(1, "b", 1.25, 0.0)  # spread == slop (exact in binary): a set
    assert rec.sets == [(["a", "b"], 1.25)]
    sync2, rec2 = make(2, slop=0.25)
    sync2.add(0, "a", 1.0, 0.0)
    sync2.add(1, "b", 1.25 + 1e-9, 0.0)  # just beyond slop: no set
    assert rec2.sets == [] and sync2.queue_lengths() == [1, 1]


def test_zero_slop_needs_equal_stamps():
    sync, rec = make(2, slop=0.0)
    sync.add(0, "a", 2.0, 0.0)
    sync.add(1, "b", 2.0, 0.0)
    sync.add(0, "c", 3.0, 0.0)
    sync.add(1, "d", 3.001, 0.0)
    assert rec.sets == [(["a", "b"], 2.0)]


def test_queue_is_bounded_and_overflow_counted():
    sync, rec = make(2, queue_size=4, slop=0.01)
    for k in range(20):
        sync.add(0, k, 1.0 + k, 0.1 * k)
        assert sync.queue_lengths()[0] <= 4
    assert sync.queue_lengths() == [4, 0]
    assert sync.dropped == 16
    sync.add(1, "x", 20.0, 2.0)  # matches the newest queued message only
    assert rec.sets == [([19, "x"], 20.0)]
    assert sync.dropped == 19 and sync.queue_lengths() == [0, 0]


def test_out_of_order_stamps_are_sorted_and_late_ones_dropped():
    sync, rec = make(2, slop=0.01)
    sync.add(0, "a2", 2.0, 0.0)
    sync.add(0, "a1", 1.0, 0.0)  # arrives after a newer stamp: placed first
    sync.add(1, "b1", 1.0, 0.0)
    assert rec.sets == [(["a1", "b1"], 1.0)]
    sync.add(1, "b0", 0.5, 0.0)  # older than what cam1 already contributed: late
    assert sync.dropped == 1 and sync.queue_lengths() == [1, 0]
    sync.add(1, "b2", 2.0, 0.0)
    assert rec.sets[-1] == (["a2", "b2"], 2.0)


def test_duplicate_stamp_is_dropped():
    sync, rec = make(2, slop=0.01)
    sync.add(0, "a", 1.0, 0.0)
    sync.add(1, "b", 1.0, 0.0)
    sync.add(0, "a-again", 1.0, 0.0)
    assert len(rec.sets) == 1 and sync.dropped == 1 and sync.queue_lengths() == [0, 0]


def test_tightest_set_around_pivot():
    sync, rec = make(3, slop=0.06)
    sync.add(1, "b0", 0.97, 0.0)
    sync.add(1, "b1", 1.03, 0.0)
    sync.add(2, "c0", 0.98, 0.0)
    sync.add(2, "c1", 1.033, 0.0)
    sync.add(0, "a0", 1.00, 0.0)
    # sets containing a0: (b0,c0) spread .03, (b1,c0) .05, (b1,c1) .033 -> the tightest wins
    assert rec.sets == [(["a0", "b0", "c0"], 1.00)]
    assert sync.queue_lengths() == [0, 1, 1]


def test_silent_input_gives_partial_sets_then_rejoins():
    period, dead_after = 0.05, 0.3
    sync, rec = make(3, slop=0.01, queue_size=20, min_inputs=2, dead_after=dead_after)
    t = 0.0
    frame = 0

    def step(cams):
        nonlocal t, frame
        for c in cams:
            sync.add(c, (c, frame), t, t + 0.002)
        frame += 1
        t += period

    for _ in range(10):
        step([0, 1, 2])
    assert len(rec.sets) == 10 and all(None not in m for m, _ in rec.sets)
    silent_from = t
    n_before = len(rec.sets)
    # camera 2 goes silent: nothing is emitted until it is declared dead
    while t - silent_from <= dead_after - period:
        step([0, 1])
        sync.tick(t)
    assert len(rec.sets) == n_before
    assert sync.is_alive(2)
    for _ in range(10):
        step([0, 1])
        sync.tick(t)
    assert not sync.is_alive(2)
    partial = rec.sets[n_before:]
    assert len(partial) == frame - 10  # every frame of cams 0 and 1 while 2 was silent, none lost
    for msgs, _stamp in partial:
        assert msgs[2] is None and msgs[0][1] == msgs[1][1]
    assert sync.partial == len(partial)
    stamps = [s for _, s in rec.sets]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    # camera 2 comes back: full sets again
    n_partial_end = len(rec.sets)
    for _ in range(5):
        step([0, 1, 2])
    assert sync.is_alive(2)
    assert len(rec.sets) == n_partial_end + 5
    # its first frame comes after cams 0 and 1 already formed a partial set for that time, so it
    # is dropped (it cannot go back in time); from the next frame on the sets are full again
    assert rec.sets[n_partial_end][0][2] is None
    assert all(None not in m and m[0][1] == m[1][1] == m[2][1] for m, _ in rec.sets[-4:])


def test_tick_emits_partial_sets_without_new_messages():
    sync, rec = make(2, slop=0.01, min_inputs=1, dead_after=0.5, max_offset=10.0)
    sync.add(0, "a", 1.0, 100.0)
    sync.add(1, "b", 5.0, 100.0)  # no match for a; b is the pivot, unmatched (input 0 may catch up)
    assert rec.sets == []
    sync.tick(100.4)
    assert rec.sets == []
    sync.add(0, "a2", 5.6, 100.45)
    sync.tick(100.55)  # silent since 100.0 and 0.6 s behind in stamps, but behind only since 100.45
    assert sync.is_alive(1) and rec.sets == []
    sync.tick(100.96)  # input 1 dead: behind for more than dead_after; input 0 alone
    assert not sync.is_alive(1) and sync.is_alive(0)
    # input 0's queued messages come out as partial sets ("a" had no partner within slop)
    assert rec.sets == [(["a", None], 1.0), (["a2", None], 5.6)]


def test_whole_stream_pause_does_not_cut_the_next_set_into_pieces():
    """After every input was silent (e.g. the publisher stalled behind a slow model), the next set's
    images trickle in one by one: none is a partial set of its own, the full set comes out."""
    sync, rec = make(3, slop=0.01, min_inputs=1, dead_after=0.5)
    for i in range(3):
        sync.add(i, ("s0", i), 10.0, 100.0 + 0.001 * i)
    sync.tick(105.0)  # a 5 s pause of everything
    assert all(sync.is_alive(i) for i in range(3))
    for i in range(3):
        sync.add(i, ("s1", i), 10.1, 105.0 + 0.01 * i)
    assert [m for m, _ in rec.sets] == [[("s0", i) for i in range(3)], [("s1", i) for i in range(3)]]
    assert sync.partial == 0


def test_slow_upstream_with_stamp_jumps_gives_full_sets():
    """A slow detector: one set every 0.7 s (stamps jumping 0.7 s > dead_after), its messages
    arriving a few ms apart. Every input is silent and 0.7 s behind when the first message of
    the next set arrives, but only for milliseconds: no input dies, every set is full."""
    sync, rec = make(5, slop=0.05, min_inputs=2, dead_after=0.5)
    for k in range(8):
        stamp, t = 10.0 + 0.7 * k, 100.0 + 0.7 * k
        for i in (3, 0, 4, 1, 2):
            t += 0.003
            sync.tick(t)
            sync.add(i, (k, i), stamp, t)
    assert [m for m, _ in rec.sets] == [[(k, i) for i in range(5)] for k in range(8)]
    assert sync.partial == 0 and sync.dropped == 0
    # and a detector output that really stops for one camera still cuts it out after dead_after
    for k in range(8, 12):
        stamp, t = 10.0 + 0.7 * k, 100.0 + 0.7 * k
        for i in range(4):
            sync.add(i, (k, i), stamp, t + 0.003 * i)
        sync.tick(t + 0.1)
    assert not sync.is_alive(4)
    assert rec.sets[-1][0] == [(11, i) for i in range(4)] + [None]


def test_never_seen_input_dies_after_dead_after_from_start():
    sync, rec = make(3, slop=0.01, min_inputs=2, dead_after=1.0)
    for k in range(5):
        sync.add(0, ("a", k), k * 0.1, 50.0 + k * 0.1)
        sync.add(1, ("b", k), k * 0.1, 50.0 + k * 0.1)
    assert rec.sets == [] and sync.is_alive(2)
    sync.tick(51.05)  # silent by the wall clock, but the others' stamps moved only 0.4 s: alive
    assert sync.is_alive(2) and rec.sets == []
    for k in range(5, 12):
        sync.add(0, ("a", k), k * 0.1, 51.05 + k * 0.01)
        sync.add(1, ("b", k), k * 0.1, 51.05 + k * 0.01)
    # stamps now 1.1 s past the first one: input 2 is dead, queued pairs come out as partial sets
    assert not sync.is_alive(2)
    sets = [m for m, _ in rec.sets]
    assert sets and sets[-1] == [("a", 11), ("b", 11), None]
    assert all(m[2] is None and m[0][1] == m[1][1] for m in sets)


def test_min_inputs_default_means_no_partial_sets():
    sync, rec = make(3, slop=0.01, dead_after=0.1, queue_size=3)
    for k in range(20):
        sync.add(0, k, k * 0.05, k * 0.05)
        sync.add(1, k, k * 0.05, k * 0.05)
        sync.tick(k * 0.05)
    assert rec.sets == [] and not sync.is_alive(2)
    assert max(sync.queue_lengths()) <= 3


def test_accounting_invariant_random_streams():
    """Every added message is emitted, dropped or still queued; sets are valid and ordered."""
    rng = random.Random(7)
    for trial in range(30):
        n = rng.randint(1, 4)
        slop = rng.choice([0.0, 0.005, 0.02, 0.05])
        sync, rec = make(
            n,
            slop=slop,
            queue_size=rng.randint(1, 6),
            min_inputs=rng.randint(1, n),
            dead_after=rng.choice([0.05, 0.2, 1.0]),
        )
        added = 0
        now = 0.0
        for k in range(300):
            now += rng.uniform(0.0, 0.02)
            cam = rng.randrange(n)
            if rng.random() < 0.3:
                sync.tick(now)
                continue
            stamp = round(now - rng.uniform(0.0, 0.05), 3)
            sync.add(cam, (cam, k), stamp, now)
            added += 1
        used = sum(m is not None for msgs, _ in rec.sets for m in msgs)
        assert used + sync.dropped + sum(sync.queue_lengths()) == added, trial
        assert sync.emitted == len(rec.sets)
        last = float("-inf")
        seen_ids = set()
        for msgs, stamp in rec.sets:
            present = [m for m in msgs if m is not None]
            assert len(present) >= sync.min_inputs
            assert all(m[0] == i for i, m in enumerate(msgs) if m is not None)
            ids = [m[1] for m in present]
            assert not seen_ids.intersection(ids)
            seen_ids.update(ids)
            assert stamp > last
            last = stamp


def test_callback_may_reenter():
    seen = []

    def cb(msgs, stamp):
        seen.append(sync.queue_lengths())  # would deadlock if called under the lock

    sync = ApproximateTimeSync(2, cb, slop=0.01)
    sync.add(0, "a", 1.0, 0.0)
    sync.add(1, "b", 1.0, 0.0)
    assert seen == [[0, 0]]


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(n_inputs=0), "n_inputs"),
        (dict(queue_size=0), "queue_size"),
        (dict(slop=-0.1), "slop"),
        (dict(slop=float("nan")), "slop"),
        (dict(dead_after=0.0), "dead_after"),
        (dict(min_inputs=4), "min_inputs"),
        (dict(min_inputs=0), "min_inputs"),
    ],
)
def test_invalid_parameters(kw, match):
    args = dict(n_inputs=3, callback=lambda m, s: None)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        ApproximateTimeSync(**args)


def test_bad_index():
    sync, _ = make(2)
    with pytest.raises(IndexError):
        sync.add(2, "x", 0.0, 0.0)


# ---------------------------------------------------------------------- property tests
def random_stream(rng: random.Random, n: int) -> list[tuple[float, int, tuple, float]]:
    """Hostile random streams: ``(arrival, input, msg, stamp)`` sorted by arrival.

    Per input: its own rate, jitter, drop rate and delays (arrival out of stamp order), duplicate
    stamps, clock offsets; some inputs dead from the start or falling silent for a while.
    """
    events = []
    t_end = rng.uniform(0.3, 3.0)
    for i in range(n):
        period = rng.choice([1 / 60, 1 / 30, 1 / 15, 0.1, rng.uniform(0.005, 0.3)])
        jitter = rng.choice([0.0, 0.001, 0.005, period])
        drop = rng.choice([0.0, 0.05, 0.3])
        delay_max = rng.choice([0.001, 0.06, 0.3])
        offset = rng.choice([0.0, 0.0, rng.uniform(-0.05, 0.05)])
        dead = rng.random() < 0.1
        silent = sorted(rng.uniform(0, t_end) for _ in range(2)) if rng.random() < 0.2 else None
        t, k = rng.uniform(0, period), 0
        while t < t_end and not dead:
            if rng.random() >= drop and not (silent and silent[0] <= t <= silent[1]):
                stamp = round(t + offset + rng.uniform(-jitter, jitter), rng.choice([3, 6, 9]))
                for _ in range(2 if rng.random() < 0.05 else 1):  # duplicate stamps
                    events.append((t + rng.uniform(0.0005, delay_max), i, (i, k), stamp))
                    k += 1
            t += period
    events.sort()
    return events


class Log(Recorder):
    """Recorder that also notes each reset event, in order with the sets."""

    def __init__(self):
        super().__init__()
        self.order: list = []  # ("set", index into sets) or ("reset", event)

    def __call__(self, msgs, stamp):
        super().__call__(msgs, stamp)
        self.order.append(("set", len(self.sets) - 1))

    def event(self, ev):
        self.order.append((ev.kind, ev))


def check_sets(sync: ApproximateTimeSync, log: Log, stamps_of: dict, added: int) -> None:
    """Invariants of every emitted set (see the module docstring)."""
    used = sum(m is not None for msgs, _ in log.sets for m in msgs)
    assert used + sync.dropped + sum(sync.queue_lengths()) == added
    assert sync.emitted == len(log.sets)
    last = float("-inf")
    seen_ids = set()
    for kind, what in log.order:
        if kind == "reset":
            last = float("-inf")  # set stamps start over after every input jumped back
            continue
        if kind != "set":
            continue
        msgs, stamp = log.sets[what]
        present = [m for m in msgs if m is not None]
        assert len(present) >= sync.min_inputs
        assert all(m[0] == i for i, m in enumerate(msgs) if m is not None)
        member_stamps = [stamps_of[m] for m in present]
        assert max(member_stamps) - min(member_stamps) <= sync.slop, (msgs, member_stamps, sync.slop)
        assert stamp == max(member_stamps)
        assert stamp > last
        last = stamp
        assert not seen_ids.intersection(present)
        seen_ids.update(present)


def test_property_spread_never_exceeds_slop():
    """Thousands of hostile random streams: no set ever spreads beyond slop; accounting holds."""
    rng = random.Random(20261203)
    n_sets = 0
    for _trial in range(2000):
        n = rng.randint(2, 10)
        slop = rng.choice([0.0, 0.001, 0.005, 0.015, 0.02, 0.05, rng.uniform(0.0, 0.1)])
        log = Log()
        sync = ApproximateTimeSync(
            n,
            log,
            slop=slop,
            queue_size=rng.randint(1, 12),
            min_inputs=rng.randint(1, n),
            dead_after=rng.choice([0.05, 0.2, 1.0]),
            max_offset=rng.choice([0.2, 1.0, 5.0]),
            on_event=log.event,
        )
        stream = random_stream(rng, n)
        stamps_of = {}
        for arrival, i, msg, stamp in stream:
            stamps_of[msg] = stamp
            sync.add(i, msg, stamp, arrival)
            if rng.random() < 0.1:
                sync.tick(arrival + rng.uniform(0, 0.1))
        if rng.random() < 0.5:
            sync.tick(stream[-1][0] + 5.0 if stream else 5.0)
        sync.flush()  # end of input: nothing may be left that could still form a set
        check_sets(sync, log, stamps_of, len(stream))
        assert sum(n_queued > 0 for n_queued in sync.queue_lengths()) < sync.min_inputs
        n_sets += len(log.sets)
    assert n_sets > 5000  # the streams do form sets: the check is not vacuous


def test_regression_spread_after_pruning():
    """b@0.90, b@1.10, a@1.00 with slop 0.01: no set (a@1.00 and b@1.10 are 0.1 s apart)."""
    sync, rec = make(2, slop=0.01)
    sync.add(1, "b0", 0.90, 0.0)
    sync.add(1, "b1", 1.10, 0.0)
    sync.add(0, "a", 1.00, 0.0)
    assert rec.sets == []
    sync.add(0, "a1", 1.105, 0.0)
    assert rec.sets == [(["a1", "b1"], 1.105)]


# ---------------------------------------------------------------------- clocks: out of sync, replay loops
def rig_stream(sync, frames, n=5, t0=100.0, period=1 / 30, bad=None, now0=0.0):
    """Feed ``frames`` 30 Hz frames of ``n`` cameras; ``bad(cam, frame, stamp)`` may change a stamp."""
    for f in frames:
        for c in range(n):
            stamp = t0 + f * period
            if bad is not None:
                stamp = bad(c, f, stamp)
            sync.add(c, (c, f), stamp, now0 + f * period + 0.002 * c)
        sync.tick(now0 + f * period + 0.02)


@pytest.mark.parametrize(
    "bad_stamp, sign",
    [
        (lambda s: s + 1e6, +1),  # far future
        (lambda s: 0.0, -1),  # stamp 0
        (lambda s: s - 30.0, -1),  # clock jumped back
    ],
    ids=["far-future", "stamp-0", "jumped-back"],
)
def test_out_of_sync_camera_is_reported_once_left_out_and_rejoins(bad_stamp, sign):
    log = Log()
    sync = ApproximateTimeSync(5, log, slop=DEFAULT_SLOP, min_inputs=2, dead_after=1.0, on_event=log.event)
    rig_stream(sync, range(0, 30))
    assert len(log.sets) == 30
    # camera 3's clock goes wrong for 2 s (60 frames): the others go on with partial sets at once
    rig_stream(sync, range(30, 90), bad=lambda c, f, s: bad_stamp(s) if c == 3 else s)
    events = [e for k, e in log.order if k != "set"]
    assert [(e.kind, e.index) for e in events] == [("out_of_sync", 3)]
    # reported confirm_after (0.3 s) after its first bad stamp, with its offset and latest stamp
    assert sign * events[0].offset > 1.0 and events[0].stamp == pytest.approx(bad_stamp(101.3), abs=0.05)
    assert sync.state(3) == "out_of_sync" and sync.state(0) == "ok"
    bad_sets = log.sets[30:90]
    assert len(bad_sets) == 60  # no frame lost, no stall
    for k, (m, _) in enumerate(bad_sets):
        assert m[3] is None and all(m[c] == (c, 30 + k) for c in (0, 1, 2, 4))
    # its clock recovers: reported once, full sets again
    rig_stream(sync, range(90, 120))
    events = [e for k, e in log.order if k != "set"]
    assert [(e.kind, e.index) for e in events] == [("out_of_sync", 3), ("in_sync", 3)]
    assert abs(events[1].offset) < 0.1
    assert sync.state(3) == "ok"
    assert all(None not in m for m, _ in log.sets[-25:])
    line = events[0].describe([f"cam{i}" for i in range(5)])
    assert "out of sync" in line and "'cam3'" in line


def test_far_future_stamp_never_stalls_full_sets_of_the_others():
    """One far-future message (a glitch) is dropped and not reported; the full sets go on."""
    log = Log()
    sync = ApproximateTimeSync(3, log, slop=DEFAULT_SLOP, on_event=log.event)
    rig_stream(sync, range(0, 10), n=3, bad=lambda c, f, s: s + 1e9 if (c, f) == (1, 5) else s)
    assert [m for m, _ in log.sets] == [[(c, f) for c in range(3)] for f in range(10) if f != 5]
    assert [k for k, _ in log.order if k != "set"] == []  # a glitch shorter than confirm_after


def test_replay_loop_resets_once_and_sets_go_on():
    """Every camera's stamps jump back (``ros2 bag play -l``): one reset event, sets start over."""
    log = Log()
    sync = ApproximateTimeSync(5, log, slop=DEFAULT_SLOP, min_inputs=2, on_event=log.event)
    for loop in range(3):
        rig_stream(sync, range(0, 45), now0=loop * 1.6)  # a 1.5 s bag, played three times
    kinds = [k for k, _ in log.order]
    assert kinds.count("reset") == 2 and set(kinds) == {"set", "reset"}
    resets = [e for k, e in log.order if k == "reset"]
    for e in resets:
        assert e.offset < -1.0 and e.index is None and e.stamp == pytest.approx(100.0, abs=0.1)
    assert sync.resets == 2
    assert len(log.sets) >= 3 * 45 - 2 * 2  # at most a frame or two lost at each loop
    full = [m for m, _ in log.sets if None not in m]
    assert len(full) >= 3 * 45 - 2 * 3
    assert "jumped back" in resets[0].describe()


def test_single_input_replay_loop_resets():
    log = Log()
    sync = ApproximateTimeSync(1, log, slop=DEFAULT_SLOP, on_event=log.event)
    for loop in range(2):
        rig_stream(sync, range(0, 60), n=1, now0=loop * 2.1)
    assert [k for k, _ in log.order].count("reset") == 1 and len(log.sets) == 120


def test_slow_upstream_with_big_stamp_jumps_is_not_out_of_sync():
    """A slow detector: a set every 3 s of receive time, stamps 3 s apart (> max_offset): all agree."""
    log = Log()
    sync = ApproximateTimeSync(4, log, slop=DEFAULT_SLOP, min_inputs=2, dead_after=0.5, on_event=log.event)
    for k in range(5):
        for i in (2, 0, 3, 1):
            sync.add(i, (k, i), 50.0 + 3.0 * k, 10.0 + 3.0 * k + 0.001 * i)
    assert [m for m, _ in log.sets] == [[(k, i) for i in range(4)] for k in range(5)]
    assert [k for k, _ in log.order if k != "set"] == []


def test_events_are_drained_without_callback():
    sync, rec = make(3, slop=DEFAULT_SLOP, min_inputs=2, confirm_after=0.0)
    rig_stream(sync, range(0, 5), n=3, bad=lambda c, f, s: 0.0 if c == 2 and f >= 3 else s)
    events = sync.drain_events()
    assert events == [SyncEvent("out_of_sync", 2, events[0].offset, 0.0)] and events[0].offset < -99
    assert sync.drain_events() == []


def test_default_slop_fits_30hz():
    assert 0.005 < DEFAULT_SLOP < 0.5 / 30


# ---------------------------------------------------------------------- against message_filters
@pytest.mark.parametrize("fifo", [False, True], ids=["independent-arrival", "in-order-arrival"])
@pytest.mark.parametrize("slop", [DEFAULT_SLOP, 0.05])
def test_realistic_streams_at_least_as_good_as_message_filters(slop, fifo):
    """5 cameras at 30 Hz, +-5 ms jitter, 5 % drops, 1-60 ms delays, one camera silent for 2 s:
    at least as many single-frame sets as message_filters' policy, and no more mixed ones."""
    from sync_reference import StreamSpec, realistic_stream, run_message_filters, run_package

    spec = StreamSpec(seconds=12.0, fifo=fifo, silent=(4.0, 6.0))
    for seed in range(3):
        stream = realistic_stream(spec, seed)
        mf = run_message_filters(stream, spec.n_cameras, slop)
        ours = run_package(stream, spec.n_cameras, slop)
        assert ours.single_frame >= mf.single_frame and ours.mixed <= mf.mixed, (seed, ours, mf)
        assert ours.partial == 0 and ours.single_frame > 0.5 * 12 * 30  # full sets of most frames
        if slop == DEFAULT_SLOP:
            assert ours.mixed == 0
        # with partial sets, the frames of the four other cameras go on while one is silent
        partial = run_package(stream, spec.n_cameras, slop, min_inputs=2)
        assert partial.single_frame > ours.single_frame + 20 and partial.mixed <= mf.mixed


def test_message_filters_oracle_follows_its_policy():
    """The re-stated message_filters policy: nearest candidates first, strict slop, out-of-order sets."""
    from sync_reference import MessageFiltersApproxSync

    sets = []
    mf = MessageFiltersApproxSync(2, sets.append, queue_size=10, slop=0.05)
    mf.add(0, "a1", 1.00)
    mf.add(0, "a2", 1.04)
    mf.add(1, "b", 1.03)  # nearest first: a2 (0.01 away), not a1
    assert sets == [["a2", "b"]]
    mf.add(1, "b0", 0.98)  # a1 is still queued: a set going back in time
    assert sets[-1] == ["a1", "b0"]
    mf.add(0, "c", 2.00)
    mf.add(1, "d", 2.05)  # spread == slop is not below slop: no set
    assert len(sets) == 2


def test_flush_emits_the_last_partial_set_and_held_sets():
    sync, rec = make(3, slop=0.015, min_inputs=2)
    for f in range(5):
        for c in range(3):
            if (f, c) != (4, 2):  # the last frame lacks camera 2
                sync.add(c, (c, f), 10.0 + f / 30, 20.0 + f / 30 + 0.01 * c)
    assert [m[0][1] for m, _ in rec.sets] == [0, 1, 2, 3]  # frame 4 waits for camera 2
    sync.flush()
    assert rec.sets[-1] == ([(0, 4), (1, 4), None], pytest.approx(10.0 + 4 / 30))
    assert sync.queue_lengths() == [0, 0, 0]
    sync.flush()  # idempotent
    assert len(rec.sets) == 5


def test_flush_without_partial_sets_keeps_incomplete_frames_out():
    sync, rec = make(2, slop=0.015)
    sync.add(0, "a", 1.0, 0.0)
    sync.flush()
    assert rec.sets == [] and sync.queue_lengths() == [1, 0]


def test_non_finite_stamps_are_dropped_and_change_nothing():
    sync, rec = make(2, slop=0.015)
    sync.add(0, "a", 1.0, 0.0)
    for bad in (float("nan"), float("inf"), float("-inf")):
        sync.add(1, "x", bad, 0.0)
        sync.add(1, "y", 1.0, bad)
    assert sync.dropped == 6 and sync.queue_lengths() == [1, 0] and sync.state(1) == "ok"
    sync.add(1, "b", 1.001, 0.01)
    assert rec.sets == [(["a", "b"], 1.001)]


@pytest.mark.parametrize("shift", [-0.5, -0.9, 0.6], ids=["back-0.5s", "back-0.9s", "ahead-0.6s"])
def test_clock_off_by_less_than_max_offset_but_more_than_the_queues_never_stalls_for_good(shift):
    """A camera's clock jumps by 0.5-0.9 s (within max_offset, beyond what 10-image queues bridge):
    its images never match the others'. Once no set has formed for dead_after while every camera
    kept sending, it is reported out of sync once and left out; it is back when its clock is."""
    log = Log()
    sync = ApproximateTimeSync(5, log, slop=DEFAULT_SLOP, min_inputs=2, dead_after=1.0, on_event=log.event)
    rig_stream(sync, range(0, 30))
    rig_stream(sync, range(30, 150), bad=lambda c, f, s: s + shift if c == 3 else s)
    events = [e for k, e in log.order if k != "set"]
    assert [(e.kind, e.index) for e in events] == [("out_of_sync", 3)]
    assert events[0].offset == pytest.approx(shift, abs=0.05)
    late = [m for m, _ in log.sets if m[0] is not None and m[0][1] >= 70]
    assert len(late) == 80 and all(m[3] is None and None not in m[:3] for m in late)  # the others go on
    rig_stream(sync, range(150, 180))
    events = [e for k, e in log.order if k != "set"]
    assert [(e.kind, e.index) for e in events] == [("out_of_sync", 3), ("in_sync", 3)]
    assert all(None not in m for m, _ in log.sets[-25:])
