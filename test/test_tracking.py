"""3D tracker (stable ids, hysteresis: geometry.tracking) and One Euro filter (geometry.smoothing)."""

from __future__ import annotations

import numpy as np
import pytest

from ros2_mvpose.geometry.smoothing import OneEuroFilter
from ros2_mvpose.geometry.synthetic import posed_skeleton, walking_people
from ros2_mvpose.geometry.tracking import Tracker


def ids(out):
    return [None if t is None else t.id for t in out]


# ------------------------------------------------------------------ One Euro filter
def test_one_euro_constant_signal_is_unchanged():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    x = np.arange(51.0).reshape(17, 3)
    for k in range(10):
        np.testing.assert_allclose(f(x, k / 30.0), x)


def test_one_euro_smooths_noise_and_beta_reduces_lag():
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30.0
    truth = np.zeros((300, 17, 3))
    noisy = truth + rng.normal(0.0, 0.01, truth.shape)
    f = OneEuroFilter(min_cutoff=0.5, beta=0.0)
    out = np.array([f(noisy[i], t[i]) for i in range(300)])
    assert out[30:].std() < 0.4 * noisy[30:].std()
    # A ramp at 1 m/s: with beta the filter follows with less lag.
    ramp = np.broadcast_to(t[:, None, None], (300, 17, 3)).copy()
    lags = []
    for beta in (0.0, 5.0):
        f = OneEuroFilter(min_cutoff=0.5, beta=beta)
        out = np.array([f(ramp[i], t[i]) for i in range(300)])
        lags.append(np.abs(out[-1] - ramp[-1]).max())
    assert lags[1] < 0.3 * lags[0]
    assert lags[0] < 0.5  # min_cutoff 0.5 Hz: lag ~ 1 / (2 pi 0.5) s at 1 m/s


def test_one_euro_nan_points_restart():
    f = OneEuroFilter(min_cutoff=0.1, beta=0.0)
    x = np.zeros((17, 3))
    f(x, 0.0)
    y = x.copy()
    y[3] = np.nan
    out = f(y, 0.1)
    assert np.isnan(out[3]).all() and np.isfinite(out[4]).all()
    z = np.ones((17, 3))
    out = f(z, 0.2)
    np.testing.assert_allclose(out[3], 1.0)  # restarted from the new value
    assert (out[4] < 0.5).all()  # still smoothed
    # Same or earlier stamp: previous output.
    np.testing.assert_allclose(f(np.full((17, 3), 9.0), 0.2), out)


@pytest.mark.parametrize("kw", [{"min_cutoff": 0.0}, {"beta": -1.0}, {"d_cutoff": np.nan}])
def test_one_euro_bad_parameters(kw):
    with pytest.raises(ValueError):
        OneEuroFilter(**kw)


# ------------------------------------------------------------------ tracker
def test_ids_stable_for_crossing_people():
    seq = walking_people(4, 150, seed=1)
    tr = Tracker(n_init=2)
    first = None
    rng = np.random.default_rng(0)
    for f in range(seq.n_frames):
        order = rng.permutation(4)
        out = tr.update(seq.joints[f][order], seq.stamps[f])
        got = {int(order[i]): t.id for i, t in enumerate(out)}
        if first is None:
            first = got
        assert got == first
    assert sorted(first.values()) == [0, 1, 2, 3]


def test_birth_hysteresis_and_no_id_for_ghosts():
    seq = walking_people(2, 40, seed=2)
    tr = Tracker(n_init=3, max_age=0.5)
    ghost = posed_skeleton((3.0, 3.0), 0.0)
    for f in range(10):  # warm-up: both confirmed at once
        out = tr.update(seq.joints[f], seq.stamps[f])
    assert ids(out) == [0, 1]
    # A ghost for two frames never gets an id; a newcomer gets one on its third frame.
    for f in range(10, 12):
        out = tr.update(np.concatenate([seq.joints[f], ghost[None]]), seq.stamps[f])
        assert ids(out) == [0, 1, None]
    newcomer = posed_skeleton((-3.0, -3.0), 0.0)
    seen = []
    for f in range(12, 16):
        out = tr.update(np.concatenate([seq.joints[f], newcomer[None]]), seq.stamps[f])
        seen.append(ids(out)[2])
    assert seen == [None, None, 2, 2]  # the ghost consumed no id


def test_death_after_max_age_and_ids_never_reused():
    seq = walking_people(1, 60, seed=3)
    tr = Tracker(n_init=1, max_age=0.2)
    tr.update(seq.joints[0], seq.stamps[0])
    # Gone for 4 frames (0.13 s < max_age): same id when back.
    for f in range(1, 5):
        tr.update(np.zeros((0, 17, 3)), seq.stamps[f])
    assert ids(tr.update(seq.joints[5], seq.stamps[5])) == [0]
    # Gone for 0.3 s > max_age: the track dies; the person comes back with a new id.
    for f in range(6, 15):
        tr.update(np.zeros((0, 17, 3)), seq.stamps[f])
    assert tr.tracks == []
    assert ids(tr.update(seq.joints[15], seq.stamps[15])) == [1]
    tr.reset()
    assert ids(tr.update(seq.joints[16], seq.stamps[16])) == [2]


def test_gating_and_prediction():
    tr = Tracker(n_init=1, max_distance=0.3)
    a = posed_skeleton((0.0, 0.0), 0.0)
    tr.update(a[None], 0.0)
    # Moving at 1.5 m/s: matched every frame thanks to the gate and the velocity.
    for k in range(1, 30):
        out = tr.update(posed_skeleton((0.05 * k, 0.0), 0.0)[None], k / 30.0)
        assert ids(out) == [0]
    np.testing.assert_allclose(tr.tracks[0].velocity[0], 1.5, rtol=0.05)
    # After a 0.2 s gap it is predicted 0.3 m further: still matched.
    assert ids(tr.update(posed_skeleton((0.05 * 35, 0.0), 0.0)[None], 35 / 30.0)) == [0]
    # A jump of 2 m is a different person.
    assert ids(tr.update(posed_skeleton((4.0, 0.0), 0.0)[None], 36 / 30.0)) == [1]


def test_hints_assign_directly_and_smoothing():
    seq = walking_people(2, 20, seed=4)
    tr = Tracker(n_init=1, smoothing=True, min_cutoff=1.0, beta=0.0)
    out = tr.update(seq.joints[0], seq.stamps[0])
    assert ids(out) == [0, 1]
    swapped = seq.joints[1][::-1]
    # Hints override the distance assignment.
    out = tr.update(swapped, seq.stamps[1], hints=np.array([0, 1]))
    assert ids(out) == [0, 1]
    np.testing.assert_allclose(tr.tracks[0].joints, seq.joints[1][1])
    # Smoothed output lags the raw joints.
    assert np.abs(out[0].output - out[0].joints).max() > 0
    with pytest.raises(ValueError, match="same track"):
        tr.update(seq.joints[2], seq.stamps[2], hints=np.array([0, 0]))


def test_partial_skeletons_and_bad_parameters():
    tr = Tracker(n_init=1)
    a = posed_skeleton((0.0, 0.0), 0.0)
    tr.update(a[None], 0.0)
    b = a.copy()
    b[5:] = np.nan  # only the head seen
    assert ids(tr.update(b[None], 0.033)) == [0]
    c = a.copy()
    c[2:] = np.nan  # two joints: too few to compare -> a new track
    assert ids(tr.update(c[None], 0.066)) == [1]
    for kw in ({"max_distance": 0.0}, {"n_init": 0}, {"max_age": -1.0}, {"min_common_joints": 0},
               {"smoothing": True, "beta": -1.0}):
        with pytest.raises(ValueError):
            Tracker(**kw)
