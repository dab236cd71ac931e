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
import pytest

from ros2_mvpose.geometry import Reconstructor
from ros2_mvpose.geometry.synthetic import render_views, ring_rig, walking_people
from ros2_mvpose.geometry.tracking import Tracker
from ros2_mvpose.geometry.triangulation import Triangulator, _SolveWorkspace


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


def test_solve_workspace_matches_public_solve():
    """The allocation-free solve of the single-person path against ``Triangulator.solve``
    (with its singularity check), with and without depth weights, repeatedly on the same
    buffers; noise-free points are recovered to 1e-9 relative."""
    cams = ring_rig(5, jitter=0.1, seed=4)
    tri = Triangulator(np.stack([c.projection_matrix for c in cams]))
    ws = _SolveWorkspace(tri, 17)
    rng = np.random.default_rng(1)
    out = np.empty((3, 17))
    for trial in range(6):
        X = rng.uniform([-1.5, -1.5, 0.0], [1.5, 1.5, 2.0], (17, 3))
        h = tri.project(X)
        noise = 0.0 if trial == 0 else 3.0
        uv = h[..., :2] / h[..., 2:] + rng.normal(0.0, noise, (17, 5, 2))
        w = rng.uniform(0.1, 1.0, (17, 5)) * (rng.random((17, 5)) > 0.25)
        w[:3, 2:] = 0.0  # two views only
        depth = h[..., 2] * rng.uniform(0.9, 1.1, (17, 5))
        ws.UV[:] = uv.transpose(2, 1, 0)
        for d in (np.ones((17, 5)), depth):
            ref, ok = tri.solve(uv, w, d, check=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                ws.solve(np.ascontiguousarray(w.T), np.ascontiguousarray(d.T), out)
            assert ok.sum() >= 15
            np.testing.assert_allclose(out.T[ok], ref[ok], rtol=1e-9, atol=1e-9)
            if noise == 0.0:
                np.testing.assert_allclose(out.T[ok], X[ok], rtol=1e-9, atol=1e-9)


def test_tracker_single_track_update_matches_steady_update():
    """``Tracker._update_one`` (one track, used by the single-person path) against
    ``_update_steady``: joints, velocity, output, ids, hits, predictions; with joints
    missing on either side, a repeated stamp, smoothing and a weak (two-view) track."""
    seq = walking_people(1, 40, seed=6)
    for smoothing in (False, True):
        one, steady = Tracker(n_init=2, smoothing=smoothing), Tracker(n_init=2, smoothing=smoothing)
        for f in range(40):
            poses = seq.joints[f].copy()
            if f % 4 == 1:
                poses[0, f % 17] = np.nan
            if f % 9 == 3:
                poses[0] = np.nan  # nothing known: velocity kept
            stamp = seq.stamps[f] if f != 7 else seq.stamps[6]  # a repeated stamp
            strong = f > 10
            if f == 0:
                a = one.update(poses, stamp, np.array([False]))
                b = steady.update(poses, stamp, np.array([False]))
            else:
                a = [one._update_one(poses[0], stamp, strong)]
                with np.errstate(invalid="ignore"):  # (as in Tracker.update's callers)
                    b = steady._update_steady(poses, stamp, np.array([strong]))
            assert [t and t.id for t in a] == [t and t.id for t in b]
            ta, tb = one.tracks[0], steady.tracks[0]
            np.testing.assert_array_equal(ta.joints, tb.joints)
            np.testing.assert_array_equal(ta.output, tb.output)
            np.testing.assert_allclose(ta.velocity, tb.velocity, rtol=1e-12, atol=1e-15)
            assert (ta.hits, ta.last_stamp, ta.strong) == (tb.hits, tb.last_stamp, tb.strong)
            np.testing.assert_allclose(one.predict(stamp + 0.05), steady.predict(stamp + 0.05), rtol=1e-12)
        assert one.tracks[0].id == 0
    poses = seq.joints[0].copy()
    one._update_one(poses[0], 100.0, True)
    poses[:] = 0.0  # the track's state is a copy
    assert not np.array_equal(one.tracks[0].joints, poses[0])


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
                np.testing.assert_allclose(getattr(pa, name), getattr(pc, name), rtol=1e-12, atol=1e-12)
        assert np.nanmean(np.linalg.norm(a[0].joints - seq.joints[f][0], axis=-1)) < 0.05


def _same_people(a, b):
    assert [p.id for p in a] == [p.id for p in b]
    for pa, pb in zip(a, b, strict=True):
        assert pa.stamp == pb.stamp
        np.testing.assert_array_equal(pa.n_views, pb.n_views)
        for name in ("joints", "scores", "reprojection_error"):
            np.testing.assert_allclose(getattr(pa, name), getattr(pb, name), rtol=1e-12, atol=1e-12)


def _count_outcomes(rec):
    """Wrap ``rec._update_one`` to record its outcomes: 'people', 'other input' (None) or
    'general' (False)."""
    seen = []
    single = rec._update_one

    def counted(*args, _single=single, _seen=seen):
        out = _single(*args)
        _seen.append("other input" if out is None else "general" if out is False else "people")
        return out

    rec._update_one = counted
    return seen


def _count_calls(rec, name):
    calls = []
    fn = getattr(rec, name)

    def counted(*args, _fn=fn, _calls=calls):
        _calls.append(1)
        return _fn(*args)

    setattr(rec, name, counted)
    return calls


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
        seen = _count_outcomes(fast)
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
        assert seen.count("people") > n // 2  # the fast path ran most of the time
        assert seen.count("people") < len(seen)  # and fell back to the general path at times


def _scene(cams, seq, f, rng, noise=2.0, outliers=0.0):
    views, _ = render_views(cams, seq.joints[f], rng=rng, noise_px=noise, outlier_rate=outliers)
    return views


def test_single_track_fast_path_edge_cases_match_general_path():
    """Frame by frame against the general path (fast path switched off), with the cheap
    sufficient tests of the fast path on both sides of their decisions: joints seen by fewer
    than min_views cameras, a joint unknown to the track, views below min_common_joints, a
    detection that does not gate to the track, gross outliers (RANSAC), two people (the path
    switches off and back on), a camera behind which a joint is predicted, and inputs the fast
    path hands over (lists, float32, NaN coordinates with score 0)."""
    cams = ring_rig(5, jitter=0.05, seed=11)
    n = 150
    seq = walking_people(2, n, seed=12)
    rng = np.random.default_rng(13)
    fast, general = Reconstructor(cams), Reconstructor(cams)
    general._single_fast_path = False
    seen = _count_outcomes(fast)
    gate_exact = _count_calls(fast, "_gate_exact")
    inliers_exact = _count_calls(fast, "_inliers_exact")
    for f in range(n):
        views, _ = render_views(cams, seq.joints[f][:1], rng=rng, noise_px=2.0,
                                outlier_rate=0.1 if f % 3 == 0 else 0.0)
        if 40 <= f < 55:  # a second person walks in and out again
            other, _ = render_views(cams, seq.joints[f][1:], rng=rng, noise_px=2.0)
            views = [np.concatenate([v, o]) for v, o in zip(views, other, strict=True)]
        if f % 5 == 1:
            for c in range(1, 5):
                views[c][0, f % 17, 2] = 0.0  # joint f % 17 seen by camera 0 only: NaN
        if f % 5 == 2:
            views[0][0, :15, 2] = 0.0  # camera 0 sees 2 joints (< min_common_joints)
        if f % 17 == 4:
            views[3][0, :, :2] += 150.0  # camera 3's detection does not gate to the track
        if f % 19 == 6:
            views[4][0, 2, :2] = np.nan  # unknown coordinates with score 0 are normal input
            views[4][0, 2, 2] = 0.0
        if f % 23 == 7:
            views = [v.tolist() for v in views]
        if f % 29 == 8:
            views = [np.asarray(v, dtype=np.float32) for v in views]
        if f % 31 == 9:
            views[2] = np.zeros((0, 17, 3))
            views[3] = None
            views[4] = np.zeros((0, 17, 3))  # two cameras left: min_views
        a = fast.update(views, seq.stamps[f])
        b = general.update(views, seq.stamps[f])
        _same_people(a, b)
        assert len(fast._tracker.tracks) == len(general._tracker.tracks)
    assert seen.count("people") > n // 3
    assert {"other input", "general"} <= set(seen)
    assert gate_exact and inliers_exact  # the exact decisions ran too
    assert len(gate_exact) < len(seen) and len(inliers_exact) < seen.count("people")


def test_single_track_fast_path_rejects_bad_input_naming_the_camera():
    cams = ring_rig(4, seed=1)
    seq = walking_people(1, 3, seed=1)
    rec = Reconstructor(cams)
    rng = np.random.default_rng(0)
    for f in range(2):
        rec.update(_scene(cams, seq, f, rng), seq.stamps[f])
    assert len(rec.tracker.tracks) == 1  # the fast path is active
    good = _scene(cams, seq, 2, rng)
    for c, fix, match in (
        (2, lambda a: a.__setitem__((0, 3, 2), np.nan), "score contains NaN"),
        (1, lambda a: a.__setitem__((0, 5, 0), np.inf), "u, v contain NaN or inf"),
    ):
        views = [v.copy() for v in good]
        fix(views[c])
        with pytest.raises(ValueError, match=match) as exc:
            rec.update(views, seq.stamps[2])
        assert cams[c].name in str(exc.value)
    views = [v.copy() for v in good]
    views[3] = views[3][..., :2]
    with pytest.raises(ValueError, match=r"keypoints2d\[3\].*expected shape"):
        rec.update(views, seq.stamps[2])
    with pytest.raises(ValueError, match="4 cameras"):
        rec.update(good[:3], seq.stamps[2])
    people = rec.update(good, seq.stamps[2])  # still working after the errors
    assert [p.id for p in people] == [0]


def test_single_track_fast_path_with_lens_distortion_and_no_tracking_prior():
    """Every camera distorted (undistortion and raw-pixel errors in the fast path), against the
    general path; with use_track_prior=False the fast path is never taken."""
    cams = ring_rig(5, jitter=0.05, seed=21, distortion=(-0.1, 0.02, 0.001, -0.001, 0.0))
    seq = walking_people(1, 40, seed=22)
    rng = np.random.default_rng(23)
    fast, general = Reconstructor(cams), Reconstructor(cams)
    noprior = Reconstructor(cams, use_track_prior=False)
    general._single_fast_path = False
    seen = _count_outcomes(fast)
    never = _count_outcomes(noprior)
    for f in range(40):
        views = _scene(cams, seq, f, rng, outliers=0.05)
        a = fast.update(views, seq.stamps[f])
        _same_people(a, general.update(views, seq.stamps[f]))
        noprior.update(views, seq.stamps[f])
        assert np.nanmean(np.linalg.norm(a[0].joints - seq.joints[f][0], axis=-1)) < 0.05
    assert seen.count("people") == 39 and not never


def test_single_track_fast_path_follows_parameter_changes():
    """Changing min_score / min_affinity on a live reconstructor, or replacing a camera, is
    taken into account by the fast path (its constants are rebuilt)."""
    cams = ring_rig(5, jitter=0.05, seed=31)
    seq = walking_people(1, 30, seed=32)
    rng = np.random.default_rng(33)
    fast, general = Reconstructor(cams), Reconstructor(cams)
    general._single_fast_path = False
    seen = _count_outcomes(fast)
    gate_exact = _count_calls(fast, "_gate_exact")
    for f in range(30):
        views = _scene(cams, seq, f, rng, outliers=0.05)
        if f == 10:
            for r in (fast, general):
                r.min_score = 0.75  # about a third of the joints' views unusable
        if f == 15:
            for r in (fast, general):
                r.min_affinity = 0.9  # gate radius ~6 px: the exact gate decides more often
        if f == 20:
            for r in (fast, general):
                r.min_affinity = 0.5
                r.set_camera(1, cams[1].with_intrinsics(dist=np.array([0.05, 0.0, 0.0, 0.0, 0.0])))
        _same_people(fast.update(views, seq.stamps[f]), general.update(views, seq.stamps[f]))
    assert seen.count("people") >= 20 and gate_exact
