"""Anatomical plausibility check: real bodies pass, a displaced joint is the one blamed."""

from __future__ import annotations

import numpy as np
import pytest

from ros2_mvpose.geometry.anatomy import implausible_joints
from ros2_mvpose.geometry.synthetic import posed_skeleton

SEEDS = range(50)


def _bodies(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 17, 3) walking people 1.0-2.1 m tall, anywhere, with 2 cm joint noise (per axis)."""
    out = [
        posed_skeleton(rng.uniform(-5, 5, 2), rng.uniform(-np.pi, np.pi), rng.uniform(0, 2 * np.pi),
                       height=rng.uniform(1.0, 2.1), stride=rng.uniform(0.0, 0.8))
        for _ in range(n)
    ]
    return np.array(out) + rng.normal(0, 0.02, (n, 17, 3))


@pytest.mark.parametrize("seed", SEEDS)
def test_real_bodies_pass(seed: int) -> None:
    """Children to tall adults, any posture of the walk, in metres, millimetres or any unit."""
    rng = np.random.default_rng(seed)
    X = _bodies(rng, 4)
    X[rng.random((4, 17)) < 0.2] = np.nan  # undefined joints are ignored
    nv = rng.integers(2, 6, (4, 17))
    for unit in (1.0, 1000.0, rng.uniform(0.01, 100)):
        assert not implausible_joints(X * unit, nv, rng.uniform(0, 20, (4, 17))).any()


@pytest.mark.parametrize("seed", SEEDS)
def test_displaced_joint_is_blamed(seed: int) -> None:
    """A joint moved 1.5-3 m (every one of its bones then exceeds every limit) is the only one
    blamed when all joints have the same views and errors; with fewer views it is blamed even
    where it is the proximal end."""
    rng = np.random.default_rng(seed)
    X = _bodies(rng, 2)
    n, j = int(rng.integers(2)), int(rng.integers(17))
    d = rng.normal(size=3)
    X[n, j] += rng.uniform(1.5, 3.0) * d / np.linalg.norm(d)
    nv = np.full((2, 17), 3)
    err = np.full((2, 17), 5.0)
    blame = implausible_joints(X, nv, err)
    expect = np.zeros((2, 17), dtype=bool)
    expect[n, j] = True
    np.testing.assert_array_equal(blame, expect)
    np.testing.assert_array_equal(implausible_joints(X * 1000.0, nv, err), expect)  # millimetres
    # What stays passes.
    assert not implausible_joints(np.where(blame[..., None], np.nan, X), nv, err).any()


def test_too_few_bones_are_not_judged() -> None:
    """Without 4 defined body bones there is no scale: nothing is blamed."""
    X = np.full((1, 17, 3), np.nan)
    X[0, [0, 1, 3, 5, 7]] = [[0, 0, 1.6], [0, 0.03, 1.64], [0, 3.0, 1.6], [0, 0.2, 1.4], [0, 0.2, 1.1]]
    assert not implausible_joints(X, np.full((1, 17), 2), np.ones((1, 17))).any()


@pytest.mark.parametrize("seed", SEEDS)
def test_weaker_end_is_blamed(seed: int) -> None:
    """A bone too long because of one of its ends: the end with fewer views, or with equal views
    the larger reprojection error, is blamed."""
    rng = np.random.default_rng(seed)
    X = _bodies(rng, 1)
    a, b = (7, 9) if seed % 2 else (13, 15)  # elbow-wrist or knee-ankle
    X[0, b] = X[0, a] + (X[0, b] - X[0, a]) * 3.0  # the distal joint moved out along the bone
    nv = np.full((1, 17), 4)
    err = np.full((1, 17), 3.0)
    if seed % 3 == 0:
        nv[0, b] = 2
    else:
        err[0, b] = 9.0
    blame = implausible_joints(X, nv, err)
    assert blame[0, b] and blame.sum() == 1


def test_shape_error() -> None:
    with pytest.raises(ValueError, match="expected"):
        implausible_joints(np.zeros((17, 3)), np.zeros(17), np.zeros(17))


@pytest.mark.parametrize("seed", range(10))
def test_reconstructor_leaves_a_wrong_consensus_undefined(seed: int) -> None:
    """Three of five views agree on a wrist 1-2 m from the elbow (another body part seen
    consistently): the Reconstructor reports that wrist undefined or at the true place, never at
    the wrong point; every other joint is reconstructed near the truth."""
    from ros2_mvpose.geometry import Reconstructor
    from ros2_mvpose.geometry.synthetic import ring_rig

    rng = np.random.default_rng(seed)
    cams = ring_rig(5, seed=seed)
    truth = posed_skeleton(rng.uniform(-1, 1, 2), rng.uniform(-np.pi, np.pi), rng.uniform(0, 6))
    j = int(rng.choice([9, 10, 15, 16]))  # a wrist or an ankle
    d = rng.normal(size=3)
    wrong = truth[j] + rng.uniform(1.0, 2.0) * d / np.linalg.norm(d)
    liars = rng.choice(5, 3, replace=False)
    kp = []
    for c, cam in enumerate(cams):
        uv = cam.project(truth)
        if c in liars:
            uv[j] = cam.project(wrong[None])[0]
        kp.append(np.concatenate([uv, np.full((17, 1), 0.9)], 1)[None])
    people = Reconstructor(cams).update(kp, 0.0)
    assert len(people) == 1
    X = people[0].joints
    others = np.delete(np.arange(17), j)
    np.testing.assert_allclose(X[others], truth[others], atol=0.01)
    assert np.isnan(X[j]).all() or np.linalg.norm(X[j] - truth[j]) < 0.01
    assert people[0].n_views[j] in ((0,) if np.isnan(X[j]).all() else (2, 3, 4, 5))
