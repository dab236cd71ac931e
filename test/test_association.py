"""Cross-view association (ros2_mvpose.geometry.association) and its use by the Reconstructor."""

from __future__ import annotations

import numpy as np
import pytest

from ros2_mvpose.geometry import Reconstructor
from ros2_mvpose.geometry.association import (
    assign_to_tracks,
    greedy_clusters,
    match_tracks,
    pairwise_affinities,
    ray_directions,
    track_affinities,
)
from ros2_mvpose.geometry.synthetic import posed_skeleton, render_views, ring_rig, walking_people


def flat(cams, views):
    uv = np.concatenate([c.undistort(v[..., :2]) for c, v in zip(cams, views, strict=True)])
    w = np.concatenate([v[..., 2] for v in views])
    cam = np.concatenate([np.full(len(v), i) for i, v in enumerate(views)])
    return uv, w, cam


def rig_arrays(cams):
    P = np.stack([c.projection_matrix for c in cams])
    M_inv = np.linalg.inv(P[:, :, :3])
    centers = np.stack([c.center for c in cams])
    focal = np.array([c.K[0, 0] for c in cams])
    thr = np.full(len(cams), 60.0)
    return P, M_inv, centers, focal, thr


def test_pairwise_affinity_separates_people():
    cams = ring_rig(4, jitter=0.05, seed=0)
    gt = walking_people(3, 10, seed=0).joints[4]
    views, labels = render_views(cams, gt, rng=0, noise_px=2.0)
    uv, w, cam = flat(cams, views)
    lab = np.concatenate(labels)
    _, M_inv, centers, focal, thr = rig_arrays(cams)
    dirs = ray_directions(uv, cam, M_inv)
    a, b = np.nonzero(cam[:, None] < cam[None, :])
    aff = pairwise_affinities(a, b, dirs, w, cam, centers, focal, thr)
    same = lab[a] == lab[b]
    assert same.sum() == 3 * 6
    assert aff[same].min() > 0.8
    # Two views alone leave ghosts possible (upright people at similar image heights can be
    # epipolar-consistent), but true pairs always score higher and most others are far lower.
    assert np.nanmax(aff[~same]) < aff[same].min()
    assert np.nanmean(aff[~same]) < 0.2


def test_pairwise_affinity_is_unknown_without_common_joints():
    cams = ring_rig(2, seed=1)
    gt = posed_skeleton((0.0, 0.0), 0.3)
    views, _ = render_views(cams, gt[None], rng=1)
    uv, w, cam = flat(cams, views)
    w[0, :15] = 0.0  # detection 0 sees joints 15, 16 only
    _, M_inv, centers, focal, thr = rig_arrays(cams)
    aff = pairwise_affinities(
        np.array([0]), np.array([1]), ray_directions(uv, cam, M_inv), w, cam, centers, focal, thr
    )
    assert np.isnan(aff[0])


def test_track_affinity_and_assignment_one_per_camera():
    cams = ring_rig(3, seed=2)
    seq = walking_people(2, 10, seed=2)
    views, labels = render_views(cams, seq.joints[5], rng=2, noise_px=1.0)
    uv, w, cam = flat(cams, views)
    lab = np.concatenate(labels)
    P, *_ = rig_arrays(cams)
    h = np.einsum("cij,tkj->tkci", P[:, :, :3], seq.joints[4]) + P[:, :, 3]
    # (T, 17, C, 3) homogeneous projections: tracks = last frame's people
    aff = track_affinities(h, uv, w, cam, np.full(3, 60.0))
    assert aff.shape == (len(uv), 2)
    assert (aff[np.arange(len(uv)), lab] > 0.7).all()
    assert (aff[np.arange(len(uv)), 1 - lab] < 0.1).all()
    np.testing.assert_array_equal(assign_to_tracks(aff, cam, 0.5), lab)
    # Two detections of one camera preferring the same track: Hungarian keeps one per track.
    aff2 = np.array([[0.9, 0.8], [0.95, 0.1], [0.2, 0.3]])
    out = assign_to_tracks(aff2, np.array([0, 0, 1]), 0.5)
    np.testing.assert_array_equal(out, [1, 0, -1])
    assert (assign_to_tracks(np.zeros((3, 0)), np.zeros(3, dtype=int), 0.5) == -1).all()


@pytest.mark.parametrize("seed", range(40))
def test_match_tracks_is_the_assignment_of_the_affinities(seed: int) -> None:
    """match_tracks (one compiled call) gives exactly assign_to_tracks(track_affinities(...)),
    also where detections of one camera contest a track (Hungarian) and with bonuses."""
    rng = np.random.default_rng(seed)
    cams = ring_rig(int(rng.integers(2, 6)), jitter=0.05, seed=seed)
    P, *_ = rig_arrays(cams)
    seq = walking_people(int(rng.integers(1, 5)), 6, seed=seed)
    views, _ = render_views(cams, seq.joints[3], rng=rng, noise_px=3.0, outlier_rate=0.1, false_rate=0.5)
    uv, w, cam = flat(cams, views)
    T = int(rng.integers(0, 2 * seq.joints.shape[1] + 2))  # duplicates: contested tracks
    tracks = seq.joints[2][rng.integers(0, seq.joints.shape[1], T)] + rng.normal(0, 0.05, (T, 1, 3))
    tracks[rng.random((T, 17)) < 0.1] = np.nan
    h = np.einsum("cij,tkj->tkci", P[:, :, :3], tracks) + P[:, :, 3]
    thr = rng.uniform(30, 90, len(cams))
    bonus = None if seed % 3 == 0 else rng.choice([0.0, 0.1], T)
    min_aff = float(rng.uniform(0.2, 0.7))
    expect = assign_to_tracks(track_affinities(h, uv, w, cam, thr), cam, min_aff, bonus)
    np.testing.assert_array_equal(match_tracks(h, uv, w, cam, thr, min_aff, bonus), expect)


def test_greedy_clusters_constraints():
    cam = np.array([0, 1, 2, 0, 1])
    pa = np.array([0, 0, 1, 3, 3, 0, 2])
    pb = np.array([1, 2, 2, 4, 2, 4, 4])
    aff = np.array([0.9, 0.8, 0.85, 0.9, 0.7, 0.6, 0.1])
    clusters = greedy_clusters(5, cam, pa, pb, aff, 0.5)
    assert sorted(map(sorted, clusters)) == [[0, 1, 2], [3, 4]]
    # One detection per camera: 3 (cam 0) cannot join {0, 1, 2} although 3-2 is strong.
    for c in clusters:
        assert len(set(cam[c])) == len(c)
    # Average linkage: a chain with one weak cross pair is not merged.
    clusters = greedy_clusters(3, np.array([0, 1, 2]), np.array([0, 1, 0]), np.array([1, 2, 2]),
                               np.array([0.9, 0.9, 0.0]), 0.7)
    assert sorted(map(len, clusters)) == [1, 2]
    # Seeds never merge with each other and come first.
    clusters = greedy_clusters(4, np.array([0, 1, 2, 3]), np.array([0, 2]), np.array([2, 3]),
                               np.array([0.9, 0.9]), 0.5, seeds=[[1], [0]])
    assert clusters[0] == [1] and sorted(clusters[1]) == [0, 2, 3]
    with pytest.raises(ValueError, match="one camera"):
        greedy_clusters(2, np.array([0, 0]), pa[:0], pb[:0], aff[:0], 0.5, seeds=[[0, 1]])


def test_reconstructor_associates_shuffled_people_without_tracks():
    """Cold association (no tracking prior) of 4 people in 5 views, shuffled, noisy."""
    cams = ring_rig(5, jitter=0.05, seed=3)
    seq = walking_people(4, 30, seed=3)
    rec = Reconstructor(cams, use_track_prior=False, n_init=1)
    rng = np.random.default_rng(3)
    for f in range(0, 30, 3):
        views, _ = render_views(cams, seq.joints[f], rng=rng, noise_px=3.0, outlier_rate=0.05)
        people = rec.update(views, seq.stamps[f])
        assert len(people) == 4
        for p in people:
            d = np.nanmean(np.linalg.norm(seq.joints[f] - p.joints[None], axis=-1), axis=-1)
            assert np.sort(d)[0] < 0.03 and np.sort(d)[1] > 0.3


def test_false_detections_do_not_create_people():
    cams = ring_rig(5, jitter=0.05, seed=4)
    seq = walking_people(3, 60, seed=4)
    rng = np.random.default_rng(4)
    rec = Reconstructor(cams)
    seen_ids = set()
    for f in range(seq.n_frames):
        views, labels = render_views(cams, seq.joints[f], rng=rng, noise_px=2.0, false_rate=0.6)
        people = rec.update(views, seq.stamps[f])
        assert len(people) == 3
        seen_ids |= {p.id for p in people}
    assert seen_ids == {0, 1, 2}


def test_person_seen_by_a_subset_of_cameras():
    cams = ring_rig(5, jitter=0.05, seed=5)
    seq = walking_people(2, 10, seed=5)
    rec = Reconstructor(cams)
    for f in range(10):
        views, labels = render_views(cams, seq.joints[f], rng=f, noise_px=1.0)
        # Person 1 only in cameras 0 and 2 (occluded elsewhere).
        for c in (1, 3, 4):
            views[c] = views[c][labels[c] != 1]
        people = rec.update(views, seq.stamps[f])
        # Seen by two cameras only (weak evidence), person 1 is born after 2 n_init = 4 sets.
        assert len(people) == (1 if f < 3 else 2)
    by_dist = {}
    for p in people:
        d = np.nanmean(np.linalg.norm(seq.joints[9] - p.joints[None], axis=-1), axis=-1)
        by_dist[int(np.argmin(d))] = (p, d.min())
    p1, err1 = by_dist[1]
    assert err1 < 0.02
    assert p1.n_views.max() == 2 and by_dist[0][0].n_views.max() == 5
