"""The fast paths of the geometry core agree with the general code they shortcut.

* ``Triangulator._solve_p`` / ``_errors2_p`` (planar layout, used by ``Reconstructor.update``)
  against the public ``solve`` (with its singularity check) and ``errors2``;
* ``Tracker`` steady-state update (every pose hinted to its own track) against the general
  distance-based matching of the same poses;
* ``Reconstructor`` with one person seen by every camera (no scatter into views) against the
  same frames with a false detection added (general scatter path), and frames given as lists.
"""

from __future__ import annotations

import numpy as np

from ros2_mvpose.geometry import Reconstructor
from ros2_mvpose.geometry.synthetic import render_views, ring_rig, walking_people
from ros2_mvpose.geometry.tracking import Tracker
from ros2_mvpose.geometry.triangulation import Triangulator


def test_planar_solve_and_errors_match_public_primitives():
    cams = ring_rig(6, jitter=0.1, seed=3)
    tri = Triangulator(np.stack([c.projection_matrix for c in cams]))
    rng = np.random.default_rng(0)
    X = rng.uniform([-1.5, -1.5, 0.0], [1.5, 1.5, 2.0], (40, 3))
    h = tri.project(X)
    uv = h[..., :2] / h[..., 2:] + rng.normal(0.0, 2.0, (40, 6, 2))
    w = rng.uniform(0.0, 1.0, (40, 6)) * (rng.random((40, 6)) > 0.3)
    depth = h[..., 2] * rng.uniform(0.9, 1.1, (40, 6))
    for d in (None, depth):
        ref, ok = tri.solve(uv, w, d, check=True)
        UV = np.ascontiguousarray(uv.transpose(2, 1, 0))
        got = tri._solve_p(UV, np.ascontiguousarray(w.T), None if d is None else np.ascontiguousarray(d.T)).T
        assert ok.sum() > 30  # most points have two or more weighted views
        np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-9, atol=1e-9)
        e2_ref, z_ref = tri.errors2(ref, uv)
        e2, z = tri._errors2_p(np.ascontiguousarray(ref.T), UV)
        np.testing.assert_allclose(e2.T, e2_ref, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(z.T, z_ref, rtol=1e-12)


def test_tracker_steady_update_matches_general_matching():
    seq = walking_people(3, 40, seed=5)
    fast, general = Tracker(n_init=2), Tracker(n_init=2)
    hints = np.arange(3)
    for f in range(40):
        poses = seq.joints[f].copy()
        poses[f % 3, f % 17] = np.nan  # a missing joint now and then
        a = fast.update(poses, seq.stamps[f], hints=hints if f else None)
        b = general.update(poses, seq.stamps[f])
        assert [t and t.id for t in a] == [t and t.id for t in b]
        assert len(fast.tracks) == len(general.tracks) == 3
        for ta, tb in zip(fast.tracks, general.tracks, strict=True):
            np.testing.assert_array_equal(ta.joints, tb.joints)
            np.testing.assert_allclose(ta.velocity, tb.velocity, rtol=1e-12, atol=1e-15)
            assert ta.hits == tb.hits and ta.last_stamp == tb.last_stamp
        np.testing.assert_allclose(fast.predict(seq.stamps[f] + 0.05), general.predict(seq.stamps[f] + 0.05))
    # The track state is a copy: editing the caller's array changes nothing.
    poses = seq.joints[0].copy()
    fast.update(poses, 10.0, hints=hints)
    before = fast.tracks[0].joints.copy()
    poses[:] = 0.0
    np.testing.assert_array_equal(fast.tracks[0].joints, before)


def test_reconstructor_single_person_shortcut_matches_general_path():
    cams = ring_rig(5, jitter=0.05, seed=2)
    seq = walking_people(1, 30, seed=2)
    rng = np.random.default_rng(4)
    fast, general, listed = Reconstructor(cams), Reconstructor(cams), Reconstructor(cams)
    far = np.zeros((1, 17, 3))
    far[..., 0], far[..., 1], far[..., 2] = 5.0, 5.0, 0.05  # below min_score: never used
    for f in range(30):
        views, _ = render_views(cams, seq.joints[f], rng=rng, noise_px=2.0, outlier_rate=0.05)
        a = fast.update(views, seq.stamps[f])
        padded = [v if c else np.concatenate([v, far]) for c, v in enumerate(views)]
        b = general.update(padded, seq.stamps[f])
        c = listed.update([v.tolist() for v in views], seq.stamps[f])
        assert [p.id for p in a] == [p.id for p in b] == [p.id for p in c] == [0]
        for pa, pb, pc in zip(a, b, c, strict=True):
            for name in ("joints", "scores", "reprojection_error", "n_views"):
                np.testing.assert_allclose(getattr(pa, name), getattr(pb, name), rtol=1e-9, atol=1e-9)
                np.testing.assert_array_equal(getattr(pa, name), getattr(pc, name))
        assert np.nanmean(np.linalg.norm(a[0].joints - seq.joints[f][0], axis=-1)) < 0.05


def _same_people(a, b):
    assert [p.id for p in a] == [p.id for p in b]
    for pa, pb in zip(a, b, strict=True):
        assert pa.stamp == pb.stamp
        np.testing.assert_array_equal(pa.n_views, pb.n_views)
        for name in ("joints", "scores", "reprojection_error"):
            np.testing.assert_allclose(getattr(pa, name), getattr(pb, name), rtol=1e-12, atol=1e-12)


def test_reconstructor_single_track_fast_path_matches_general_path():
    """One tracked person, at most one detection per camera: the dedicated steady-state update
    gives the same people, frame by frame, as the general path (private switch off), through
    noise, gross outliers, missing cameras, a distorted camera, smoothing and a person who
    leaves and comes back."""
    cams = ring_rig(5, jitter=0.05, seed=7)
    cams[2] = cams[2].with_intrinsics(dist=np.array([-0.12, 0.03, 0.001, -0.0005, 0.0]))
    n = 160
    seq = walking_people(1, n, seed=8)
    rng = np.random.default_rng(9)
    for smoothing in (False, True):
        fast, general = Reconstructor(cams, smoothing=smoothing), Reconstructor(cams, smoothing=smoothing)
        general._single_fast_path = False
        taken = []
        single = fast._update_single

        def counted(*args, _single=single, _taken=taken):
            out = _single(*args)
            _taken.append(out is not None)
            return out

        fast._update_single = counted
        for f in range(n):
            views, _ = render_views(cams, seq.joints[f], rng=rng, noise_px=2.0, outlier_rate=0.08)
            if f % 7 == 3:
                views[f % 5] = np.zeros((0, 17, 3))  # a camera sees nobody
            if f % 11 == 5:
                views[(f + 1) % 5] = None  # a camera without a frame
            if 60 <= f < 64:
                views = [np.zeros((0, 17, 3))] * 5  # the person is gone for a moment
            if f % 13 == 0:
                v = views[1]
                v[:, f % 17, 2] = 0.0  # a joint missed in one view
            a = fast.update(views, seq.stamps[f])
            b = general.update(views, seq.stamps[f])
            _same_people(a, b)
            assert len(fast._tracker.tracks) == len(general._tracker.tracks)
        assert sum(taken) > n // 2  # the fast path ran most of the time
        assert not all(taken)  # and fell back to the general path at times
