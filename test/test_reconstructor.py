"""End-to-end multi-view reconstruction (ros2_mvpose.geometry.Reconstructor) on synthetic scenes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ros2_mvpose.geometry import Camera, Reconstructor, Skeleton3D
from ros2_mvpose.geometry.synthetic import posed_skeleton, render_views, ring_rig, walking_people

DIST = (-0.25, 0.08, 0.001, -0.0015, -0.01)
EMPTY = np.zeros((0, 17, 3))


def match(gt: np.ndarray, people: list[Skeleton3D]) -> dict[int, tuple[Skeleton3D, float]]:
    """Ground-truth index -> (person, mean joint error m) by nearest mean joint distance."""
    out = {}
    for p in people:
        d = np.nanmean(np.linalg.norm(gt - p.joints[None], axis=-1), axis=-1)
        k = int(np.argmin(d))
        assert k not in out, "two people matched one ground-truth person"
        out[k] = (p, float(d[k]))
    return out


@pytest.mark.parametrize("distortion", [None, DIST])
def test_noise_free_recovery_is_exact(distortion):
    cams = ring_rig(5, distortion=distortion, jitter=0.05, seed=0)
    seq = walking_people(3, 8, seed=0)
    rec = Reconstructor(cams)
    scale = np.mean([np.linalg.norm(c.center) for c in cams])
    for f in range(seq.n_frames):
        views, _ = render_views(cams, seq.joints[f], rng=f)
        people = rec.update(views, seq.stamps[f])
        assert [p.id for p in people] == [0, 1, 2]
        m = match(seq.joints[f], people)
        assert sorted(m) == [0, 1, 2]
        for k, (p, _) in m.items():
            assert isinstance(p, Skeleton3D) and p.joints.shape == (17, 3)
            np.testing.assert_allclose(p.joints, seq.joints[f][k], rtol=0, atol=1e-6 * scale)
            assert np.all(p.reprojection_error < 1e-4)  # raw pixels, through the distortion
            assert (p.n_views == 5).all() and p.stamp == seq.stamps[f]
            assert np.all((p.scores >= 0.6) & (p.scores <= 1.0))


@pytest.mark.parametrize("distortion", [None, DIST])
def test_noise_and_outliers_bounded_error(distortion):
    cams = ring_rig(5, jitter=0.05, seed=1, distortion=distortion)
    seq = walking_people(4, 40, seed=1)
    rec = Reconstructor(cams)
    rng = np.random.default_rng(1)
    errs, reproj = [], []
    for f in range(seq.n_frames):
        views, _ = render_views(cams, seq.joints[f], rng=rng, noise_px=2.0, outlier_rate=0.1)
        people = rec.update(views, seq.stamps[f])
        assert len(people) == 4
        for k, (p, _) in match(seq.joints[f], people).items():
            d = np.linalg.norm(p.joints - seq.joints[f][k], axis=-1)
            errs.append(d[np.isfinite(d)])
            reproj.append(p.reprojection_error[np.isfinite(d)])
    errs = np.concatenate(errs)
    assert errs.size > 0.97 * 40 * 4 * 17  # nearly every joint reconstructed
    assert np.median(errs) < 0.015 and np.mean(errs) < 0.03
    assert np.mean(np.concatenate(reproj)) < 4.0  # ~ 2 px noise, outliers excluded


@pytest.mark.parametrize("distortion", [None, DIST])
def test_crossing_people_keep_their_ids(distortion):
    cams = ring_rig(5, jitter=0.05, seed=2, distortion=distortion)
    seq = walking_people(4, 150, seed=2)
    # The paths do cross: every pair swaps sides along some direction during the sequence.
    c = seq.joints.mean(axis=2)[..., :2]  # (T, N, 2)
    for a in range(4):
        for b in range(a + 1, 4):
            rel = c[:, a] - c[:, b]
            assert np.linalg.norm(rel, axis=-1).min() > 0.4  # no collision...
            assert (np.sign(rel[0]) != np.sign(rel[-1])).any() or (np.sign(rel) != np.sign(rel[0])).any()
    rec = Reconstructor(cams)
    rng = np.random.default_rng(2)
    ident: dict[int, int] = {}
    for f in range(seq.n_frames):
        views, _ = render_views(cams, seq.joints[f], rng=rng, noise_px=2.0, outlier_rate=0.05)
        people = rec.update(views, seq.stamps[f])
        assert len(people) == 4
        for k, (p, err) in match(seq.joints[f], people).items():
            assert err < 0.05
            assert ident.setdefault(k, p.id) == p.id, f"id switch at frame {f}"
    assert sorted(ident.values()) == [0, 1, 2, 3]


def test_partial_sets_and_empty_views():
    cams = ring_rig(4, jitter=0.05, seed=3)
    gt = walking_people(2, 3, seed=3).joints
    rec = Reconstructor(cams)
    views, _ = render_views(cams, gt[0], rng=0)
    people = rec.update(views, 0.0)
    assert len(people) == 2
    # One camera empty, one camera missing from the set (None): still reconstructed.
    views, _ = render_views(cams, gt[1], rng=1)
    views[1] = EMPTY
    views[3] = None
    people = rec.update(views, 0.033)
    assert len(people) == 2
    for p, err in match(gt[1], people).values():
        assert err < 1e-6 and (p.n_views == 2).all()
    # Nothing seen at all.
    assert rec.update([EMPTY] * 4, 0.066) == []
    assert rec.update([np.zeros((0,))] * 4, 0.1) == []
    # Only one camera sees anybody: nothing can be triangulated.
    views, _ = render_views(cams, gt[2], rng=2)
    assert rec.update([views[0], EMPTY, EMPTY, None], 0.133) == []


def test_joint_with_too_few_views_is_nan():
    cams = ring_rig(3, seed=4)
    gt = posed_skeleton((0.2, -0.1), 1.0)
    views, _ = render_views(cams, gt[None], rng=4)
    views[1][0, 9, 2] = 0.0  # left wrist: seen by cameras 0 and 2
    views[2][0, 9, 2] = 0.0  # ... and now only by camera 0
    views[1][0, 10, 2] = 0.05  # right wrist: score below min_score in camera 1
    views[2][0, 10, :2] += 200.0  # ... and wrong in camera 2: two views disagree
    rec = Reconstructor(cams)
    (p,) = rec.update(views, 0.0)
    assert np.isnan(p.joints[9]).all() and p.n_views[9] == 0 and p.scores[9] == 0
    assert np.isnan(p.reprojection_error[9])
    assert np.isnan(p.joints[10]).all()
    ok = np.ones(17, dtype=bool)
    ok[[9, 10]] = False
    np.testing.assert_allclose(p.joints[ok], gt[ok], atol=1e-6)
    assert p.num_valid == 15 and p.valid.sum() == 15


def test_births_and_deaths_with_hysteresis():
    cams = ring_rig(5, jitter=0.05, seed=5)
    seq = walking_people(2, 60, seed=5)
    rec = Reconstructor(cams, n_init=3, max_age=0.3)
    out = []
    for f in range(60):
        people = seq.joints[f][:1] if (f < 10 or 20 <= f < 25 or f >= 45) else seq.joints[f]
        if 30 <= f < 45:  # person 0 gone for 0.5 s > max_age
            people = seq.joints[f][1:]
        views, _ = render_views(cams, people, rng=f, noise_px=1.0)
        got = match(people, rec.update(views, seq.stamps[f]))
        out.append({k: p.id for k, (p, _) in got.items()})
    assert out[0] == {0: 0}
    # Person 1 appears at frame 10: reported from its third frame set on.
    assert out[10] == {0: 0} and out[11] == {0: 0} and out[12] == {0: 0, 1: 1}
    # Person 1 leaves at 20 for 0.17 s (< max_age) and keeps its id when back at 25.
    assert out[20] == {0: 0} and out[25] == {0: 0, 1: 1}
    # From 30 to 44 only person 1 (listed first there); person 0 is back at 45 after 0.5 s:
    # a new track, a new id after n_init frame sets, never a reused one.
    assert out[30] == {0: 1} and out[44] == {0: 1}
    assert out[45] == {} and out[47] == {0: 2}


def test_single_frame_reports_people_at_once():
    """Start-up: people seen by >= 3 cameras are reported from the first frame set."""
    cams = ring_rig(5, seed=6)
    gt = walking_people(3, 1, seed=6).joints[0]
    views, _ = render_views(cams, gt, rng=6, noise_px=1.0)
    people = Reconstructor(cams).update(views, 12.5)
    assert [p.id for p in people] == [0, 1, 2]


def test_smoothing_and_set_camera():
    cams = ring_rig(4, seed=7)
    seq = walking_people(1, 30, seed=7)
    rec = Reconstructor(cams, smoothing=True, min_cutoff=1.0, beta=0.5)
    raw = Reconstructor(cams)
    rng = np.random.default_rng(7)
    tracks_s, tracks_r = [], []
    for f in range(30):
        views, _ = render_views(cams, seq.joints[f], rng=rng, noise_px=4.0)
        (ps,), (pr,) = rec.update(views, seq.stamps[f]), raw.update(views, seq.stamps[f])
        tracks_s.append(ps.joints)
        tracks_r.append(pr.joints)
    tracks_s, tracks_r = np.array(tracks_s), np.array(tracks_r)
    jitter_s = np.abs(np.diff(tracks_s, 2, axis=0)).mean()
    jitter_r = np.abs(np.diff(tracks_r, 2, axis=0)).mean()
    assert jitter_s < 0.5 * jitter_r  # smoother...
    assert np.abs(tracks_s - seq.joints[:, 0]).max() < 0.2  # ...and still close to the truth
    # New intrinsics for camera 2 (e.g. from CameraInfo): detections now follow them.
    K = cams[2].K.copy()
    K[0, 0] = K[1, 1] = 1200.0
    cam2 = cams[2].with_intrinsics(K=K, dist=list(DIST))
    raw.set_camera(2, cam2)
    assert raw.cameras[2] is cam2
    new = list(cams)
    new[2] = cam2
    raw.reset()
    views, _ = render_views(new, seq.joints[0], rng=0)
    (p,) = raw.update(views, 0.0)
    np.testing.assert_allclose(p.joints, seq.joints[0][0], atol=1e-6)


def test_bad_input_raises_value_error_naming_the_problem():
    cams = ring_rig(3, seed=8)
    rec = Reconstructor(cams)
    good, _ = render_views(cams, posed_skeleton((0.0, 0.0), 0.0)[None], rng=8)
    with pytest.raises(ValueError, match="2 entries but the reconstructor has 3 cameras"):
        rec.update(good[:2], 0.0)
    with pytest.raises(ValueError, match=r"keypoints2d\[1\] \(camera 'cam1'\): expected shape"):
        rec.update([good[0], good[1][0], good[2]], 0.0)
    with pytest.raises(ValueError, match="expected shape"):
        rec.update([good[0], good[1][..., :2], good[2]], 0.0)
    bad = good[2].copy()
    bad[0, 4, 2] = np.nan
    with pytest.raises(ValueError, match=r"keypoints2d\[2\] \(camera 'cam2'\): score contains NaN"):
        rec.update([good[0], good[1], bad], 0.0)
    bad = good[0].copy()
    bad[0, 3, 0] = np.inf
    with pytest.raises(ValueError, match=r"keypoints2d\[0\].*u, v contain NaN or inf where score > 0"):
        rec.update([bad, good[1], good[2]], 0.0)
    bad[0, 3, 2] = 0.0  # a NaN/inf position with score 0 is fine (joint not seen)
    assert len(rec.update([bad, good[1], good[2]], 0.0)) == 1
    with pytest.raises(ValueError, match="not a numeric array"):
        rec.update([good[0], "abc", good[2]], 0.1)
    with pytest.raises(ValueError, match="list of 3 arrays"):
        rec.update(5, 0.1)
    for stamp in (np.nan, "t", None):
        with pytest.raises(ValueError, match="stamp"):
            rec.update(good, stamp)


def test_time_going_backwards_resets_tracks():
    cams = ring_rig(3, seed=9)
    good, _ = render_views(cams, posed_skeleton((0.0, 0.0), 0.0)[None], rng=9)
    rec = Reconstructor(cams)
    assert [p.id for p in rec.update(good, 10.0)] == [0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [p.id for p in rec.update(good, 5.0)] == [1]  # tracks reset, ids not reused
    assert any("earlier than the previous" in str(w.message) for w in caught)
    rec.reset()
    assert [p.id for p in rec.update(good, 1.0)] == [2]


def test_bad_calibration_and_parameters():
    cams = ring_rig(3, seed=10)
    with pytest.raises(ValueError, match="at least 2 cameras"):
        Reconstructor(cams[:1])
    twin = Camera("twin", cams[0].K, [], cams[0].R, cams[0].t, 1280, 720)
    with pytest.raises(ValueError, match=r"degenerate calibration: cameras 0 \('cam0'\) and 3 \('twin'\)"):
        Reconstructor([*cams, twin])
    rec = Reconstructor(cams)
    with pytest.raises(ValueError, match="degenerate"):
        rec.set_camera(1, twin)
    assert rec.cameras[1] is cams[1]  # unchanged after the failed replacement
    with pytest.raises(ValueError, match="index"):
        rec.set_camera(3, cams[0])
    with pytest.raises(ValueError, match="not a Camera"):
        Reconstructor([cams[0], object()])
    for kw in (
        {"min_views": 1},
        {"min_score": 1.5},
        {"reprojection_threshold": -2.0},
        {"association_threshold": 0.0},
        {"min_affinity": 2.0},
        {"min_joints": 0},
        {"track_max_distance": 0.0},
        {"n_init": 0},
        {"max_age": -1.0},
        {"min_views": 2.5},
    ):
        with pytest.raises(ValueError):
            Reconstructor(cams, **kw)
    for bad in (-0.1, float("nan"), float("inf"), "far", None, [0.2]):
        with pytest.raises(ValueError, match=r"single_view_distance \(metres, 0 = off\) must be"):
            Reconstructor(cams, single_view_distance=bad)
    assert Reconstructor(cams, single_view_distance=0).single_view_distance == 0.0


def test_units_free_association_on_a_large_scene():
    """World units other than metres (the origin's sample is ~ 1/10 m): association and
    triangulation thresholds are in pixels, so a scaled scene reconstructs the same."""
    s = 11.0
    base = ring_rig(5, jitter=0.05, seed=11)
    cams = [Camera(c.name, c.K, [], c.R, c.t * s, c.width, c.height) for c in base]
    gt = walking_people(2, 1, seed=11).joints[0] * s
    views, _ = render_views(cams, gt, rng=11, noise_px=1.0)
    people = Reconstructor(cams, track_max_distance=0.5 * s).update(views, 0.0)
    assert len(people) == 2
    for _k, (_p, err) in match(gt, people).items():
        assert err < 0.01 * s


def test_a_flood_of_detections_is_capped_per_view():
    """A broken 2D model or a crowd: 400 spurious detections per view next to one real person
    stay fast (at most max_people_per_view per camera reach association) and the person is found."""
    import time

    from ros2_mvpose.geometry import Reconstructor
    from ros2_mvpose.geometry.synthetic import ring_rig, walking_people

    cams = ring_rig(5, image_size=(640, 480), focal=500.0)
    seq = walking_people(1, 3, fps=10.0, seed=4)
    rng = np.random.default_rng(0)
    rec = Reconstructor(cams, max_people_per_view=20)
    t0 = time.process_time()
    for f in range(3):
        kps = []
        for cam in cams:
            real = np.concatenate([cam.project(seq.joints[f]), np.full((1, 17, 1), 0.95)], axis=-1)
            junk = np.concatenate(
                [rng.uniform(0, 640, (400, 17, 2)), rng.uniform(0.1, 0.3, (400, 17, 1))], axis=-1
            )
            kps.append(np.concatenate([junk[:200], real, junk[200:]]))
        people = rec.update(kps, float(f) / 10)
    assert time.process_time() - t0 < 20.0
    assert len(people) >= 1
    best = min(np.nanmean(np.linalg.norm(p.joints - seq.joints[2][0], axis=1)) for p in people)
    assert best < 0.01
    with pytest.raises(ValueError, match="max_people_per_view"):
        Reconstructor(cams, max_people_per_view=0)


def test_input_forms_and_ignored_detections_give_the_same_people():
    """Lists, float32 arrays, arrays that are views into wider ones (not contiguous) in a tuple,
    and a detection below min_score in one view (a second detection in that camera) change
    nothing: the same people, frame by frame, with distortion on every camera, noise, outliers,
    a camera without a frame and a person who leaves for a moment."""
    cams = ring_rig(5, jitter=0.05, seed=12, distortion=DIST)
    seq = walking_people(2, 40, seed=12)
    rng = np.random.default_rng(12)
    recs = [Reconstructor(cams) for _ in range(5)]

    def strided(v: np.ndarray) -> np.ndarray:
        wide = np.full(v.shape[:2] + (5,), -7.0)
        wide[..., 1:4] = v
        return wide[..., 1:4]

    n_seen = 0
    faint = np.zeros((1, 17, 3))
    faint[..., 0], faint[..., 1], faint[..., 2] = 600.0, 300.0, 0.05  # below min_score
    for f in range(40):
        views, _ = render_views(cams, seq.joints[f][: 1 if 20 <= f < 24 else 2], rng=rng,
                                noise_px=2.0, outlier_rate=0.05)
        views = [v.astype(np.float32).astype(float) for v in views]  # exact in float32 too
        if f % 7 == 3:
            views[f % 5] = None
        forms = [
            views,
            [None if v is None else v.tolist() for v in views],
            [None if v is None else v.astype(np.float32) for v in views],
            [v if c or v is None else np.concatenate([faint, v]) for c, v in enumerate(views)],
            tuple(None if v is None else strided(v) for v in views),
        ]
        outs = [r.update(v, seq.stamps[f]) for r, v in zip(recs, forms, strict=True)]
        for other in outs[1:]:
            assert [p.id for p in other] == [p.id for p in outs[0]]
            for pa, pb in zip(outs[0], other, strict=True):
                np.testing.assert_array_equal(pa.n_views, pb.n_views)
                for name in ("joints", "scores", "reprojection_error"):
                    np.testing.assert_allclose(getattr(pa, name), getattr(pb, name), rtol=1e-9, atol=1e-9)
        n_seen += len(outs[0])
    assert n_seen > 60  # the people were reported (two from the first frame set on)


@pytest.mark.parametrize("single_view_distance", [0.0, 0.2])
def test_output_invariants_on_random_frame_sets(single_view_distance):
    """Property over random frame sets (1-4 people, 2-6 cameras, random lens distortion, noise,
    outliers, missing joints and cameras): never an error; a joint is NaN exactly where it has
    no supporting view, otherwise it has >= min_views views (or exactly one view, on whose ray
    it lies to within 0.5 px, when single-view joints of tracked people are on), a finite error
    and a score in (0, 1]; ids are unique; no person has fewer than min_joints joints."""
    rng = np.random.default_rng(99)
    n_single = 0
    for trial in range(12):
        n_cams = int(rng.integers(2, 7))
        dist = tuple(rng.uniform(-1, 1, 5) * [0.2, 0.05, 0.002, 0.002, 0.01]) if trial % 2 else None
        cams = ring_rig(n_cams, jitter=0.1, seed=trial, distortion=dist)
        seq = walking_people(int(rng.integers(1, 5)), 6, seed=trial)
        rec = Reconstructor(cams, min_views=2 + trial % 2, single_view_distance=single_view_distance)
        for f in range(6):
            views, _ = render_views(cams, seq.joints[f], rng=rng, noise_px=float(rng.uniform(0, 4)),
                                    outlier_rate=float(rng.uniform(0, 0.3)))
            for c in range(n_cams):
                if rng.random() < 0.15:
                    views[c] = None if rng.random() < 0.5 else EMPTY
                elif views[c].size:
                    views[c][..., 2] *= rng.random(views[c].shape[:2]) > 0.2
            people = rec.update(views, seq.stamps[f])
            assert len({p.id for p in people}) == len(people)
            for p in people:
                ok = np.isfinite(p.joints).all(-1)
                assert ok.sum() >= rec.min_joints
                np.testing.assert_array_equal(ok, p.n_views > 0)
                single = p.n_views == 1
                n_single += int(single.sum())
                assert (single[ok] | (p.n_views[ok] >= rec.min_views)).all() and (p.n_views <= n_cams).all()
                assert (p.reprojection_error[single] < 0.5).all()
                err = p.reprojection_error
                assert np.isfinite(err[ok]).all() and np.isnan(err[~ok]).all()
                assert ((p.scores[ok] > 0) & (p.scores[ok] <= 1)).all() and (p.scores[~ok] == 0).all()
    assert (n_single > 0) == (single_view_distance > 0), n_single  # (with min_views 2, one view
    # joints exist only when placed from a track)


def test_tracked_joint_seen_by_one_view_lies_on_its_ray_near_the_truth():
    """A tracked person's wrist seen by one camera only is placed on that camera's ray near the
    track's prediction (n_views 1, close to the truth); an untracked person's, a wrong detection
    far from the prediction, or the option turned off leave it undefined."""
    cams = ring_rig(5, distortion=(-0.2, 0.05, 0.001, -0.001, 0.0), seed=3)
    seq = walking_people(1, 12, seed=3)
    wrist = 9

    def frame(f, rec, shift_px=0.0, rng=None):
        views, _ = render_views(cams, seq.joints[f], rng=rng if rng is not None else f, noise_px=0.5)
        for c in range(1, 5):
            views[c][:, wrist, 2] = 0.0  # only camera 0 sees the wrist...
        views[0][:, wrist, :2] += shift_px  # ...possibly somewhere wrong
        return rec.update(views, seq.stamps[f])

    for distance, shift, expect in ((0.2, 0.0, True), (0.2, 150.0, False), (0.0, 0.0, False)):
        rec = Reconstructor(cams, single_view_distance=distance)
        for f in range(8):  # tracked, wrist seen by all cameras
            views, _ = render_views(cams, seq.joints[f], rng=f, noise_px=0.5)
            people = rec.update(views, seq.stamps[f])
        assert len(people) == 1 and people[0].n_views[wrist] == 5
        for f in range(8, 12):
            (p,) = frame(f, rec, shift)
            if expect:
                assert p.n_views[wrist] == 1 and p.reprojection_error[wrist] < 0.5
                assert np.linalg.norm(p.joints[wrist] - seq.joints[f, 0, wrist]) < 0.05
            else:
                assert np.isnan(p.joints[wrist]).all() and p.n_views[wrist] == 0
    # A joint the track never had (no prediction): the one-view wrist stays undefined.
    rec = Reconstructor(cams)
    for f in range(2):
        for p in frame(f, rec):
            assert np.isnan(p.joints[wrist]).all()
