"""Robust, confidence-weighted triangulation (ros2_mvpose.geometry.triangulation) on synthetic rigs."""

from __future__ import annotations

import numpy as np
import pytest

from ros2_mvpose.geometry.synthetic import render_views, ring_rig, walking_people
from ros2_mvpose.geometry.triangulation import Triangulator, triangulate_dlt, triangulate_robust

DIST = (-0.25, 0.08, 0.001, -0.0015, -0.01)


def stack(cams, views):
    """(M, C, 2) ideal pixels and (M, C) scores from per-camera (P, 17, 3) raw detections (same order)."""
    uv = np.stack([c.undistort(v[..., :2]) for c, v in zip(cams, views, strict=True)], axis=2)
    w = np.stack([v[..., 2] for v in views], axis=2)
    return uv.reshape(-1, len(cams), 2), w.reshape(-1, len(cams))


def scene(n_people=3, distortion=None, seed=0, **render):
    cams = ring_rig(5, distortion=distortion, jitter=0.05, seed=seed)
    gt = walking_people(n_people, 12, seed=seed).joints[7]
    views, labels = render_views(cams, gt, rng=seed, shuffle=False, **render)
    assert all(v.shape[0] == n_people for v in views)
    P = np.stack([c.projection_matrix for c in cams])
    uv, w = stack(cams, views)
    return cams, P, uv, w, gt.reshape(-1, 3)


@pytest.mark.parametrize("distortion", [None, DIST])
def test_noise_free_recovery_is_exact(distortion):
    cams, P, uv, w, X = scene(distortion=distortion)
    visible = (w > 0).sum(-1) >= 2
    assert visible.all()
    scale = np.mean([np.linalg.norm(c.center) for c in cams])
    res = triangulate_robust(P, uv, w, threshold=20.0)
    assert np.all(np.isfinite(res.points))
    np.testing.assert_allclose(res.points, X, rtol=0, atol=1e-6 * scale)
    assert (res.n_views == 5).all()
    assert np.nanmax(res.errors) < 1e-4
    np.testing.assert_allclose(triangulate_dlt(P, uv, w), X, rtol=0, atol=1e-6 * scale)


def test_noise_gives_bounded_error_and_errors_report_it():
    _, P, uv, w, X = scene(noise_px=2.0)
    res = Triangulator(P).robust(uv, w, 25.0)
    err = np.linalg.norm(res.points - X, axis=-1)
    # 2 px at ~5 m with f = 1000 px is ~1 cm per view; five views average it down.
    assert np.mean(err) < 0.015 and np.max(err) < 0.05
    assert 1.0 < np.nanmean(res.errors) < 3.5  # ~ the 2D noise


def test_scores_weight_the_views():
    """A view with large noise but a low score barely moves the point."""
    _, P, uv, w, X = scene(n_people=2, seed=3)
    rng = np.random.default_rng(3)
    noisy = uv.copy()
    noisy[:, 0] += rng.normal(0.0, 12.0, noisy[:, 0].shape)
    w_low = w.copy()
    w_low[:, 0] = 0.05
    e_equal = np.linalg.norm(triangulate_dlt(P, noisy, np.ones_like(w)) - X, axis=-1).mean()
    e_weighted = np.linalg.norm(triangulate_dlt(P, noisy, w_low) - X, axis=-1).mean()
    assert e_weighted < 0.3 * e_equal


def test_gross_outliers_are_rejected():
    _, P, uv, w, X = scene(n_people=4, seed=1, noise_px=2.0)
    _, _, uv_o, _, _ = scene(n_people=4, seed=1, noise_px=2.0, outlier_rate=0.15)
    tri = Triangulator(P)
    clean = np.linalg.norm(tri.robust(uv, w, 25.0).points - X, axis=-1)
    res = tri.robust(uv_o, w, 25.0)
    robust = np.linalg.norm(res.points - X, axis=-1)
    plain = np.linalg.norm(triangulate_dlt(P, uv_o, w) - X, axis=-1)
    assert np.isfinite(robust).mean() > 0.95
    assert np.nanmedian(robust) < 1.5 * np.median(clean) + 0.002
    assert np.nanmean(robust) < 0.3 * np.mean(plain)
    # The outlier views are the ones left out (except where most views of a joint are wrong).
    moved = np.linalg.norm(uv_o - uv, axis=-1) > 30
    assert moved.sum() > 20
    assert (res.inliers & moved).sum() <= 0.05 * moved.sum()
    assert not (res.inliers & moved)[moved.sum(-1) <= 2].any()


def test_two_outliers_out_of_five_views():
    _, P, uv, w, X = scene(n_people=1, seed=2)
    uv = uv.copy()
    uv[:, 1] += [80.0, -60.0]
    uv[:, 3] += [-120.0, 40.0]
    res = triangulate_robust(P, uv, w, 20.0)
    np.testing.assert_allclose(res.points, X, atol=1e-6)
    assert (res.n_views == 3).all()
    assert not res.inliers[:, [1, 3]].any()


def test_too_few_views_is_nan_never_a_guess():
    _, P, uv, w, X = scene(n_people=1, seed=4)
    w = w.copy()
    w[0, 1:] = 0.0  # joint 0: one view
    w[1, 2:] = 0.0  # joint 1: two views...
    uv = uv.copy()
    uv[1, 1] += [0.0, 90.0]  # ...that disagree
    w[2, 3:] = 0.0  # joint 2: three consistent views, but min_views=4 below
    res = triangulate_robust(P, uv, w, 20.0)
    assert np.isnan(res.points[:2]).all() and (res.n_views[:2] == 0).all()
    assert not res.inliers[:2].any()
    np.testing.assert_allclose(res.points[2:], X[2:], atol=1e-6)
    res4 = triangulate_robust(P, uv, w, 20.0, min_views=4)
    assert np.isnan(res4.points[2]).all()
    assert np.isfinite(res4.points[5:]).all()
    # A view without a score, or with NaN coordinates, is simply not used.
    uv[3, 0] = np.nan
    res = triangulate_robust(P, uv, w, 20.0)
    assert res.n_views[3] == 4 and not res.inliers[3, 0]
    assert np.isnan(triangulate_dlt(P, uv, w)[0]).all()


def test_points_behind_a_camera_are_rejected():
    """An observation that only fits a point behind its camera is not an inlier."""
    _, P, uv, w, X = scene(n_people=1, seed=5)
    # Mirror camera 0's observations through its centre: the rays then meet only behind it.
    h = np.einsum("ij,mj->mi", P[0], np.c_[X, np.ones(len(X))])
    c = P[0][:, :3]
    centre = -np.linalg.solve(c, P[0][:, 3])
    Xb = 2 * centre - X  # behind camera 0, on the same line
    hb = np.einsum("ij,mj->mi", P[0], np.c_[Xb, np.ones(len(X))])
    assert (hb[:, 2] < 0).all() and (h[:, 2] > 0).all()
    np.testing.assert_allclose(hb[:, :2] / hb[:, 2:], uv[:, 0], atol=1e-6)  # same pixels
    # Camera 0 alone with camera 1 on the mirrored point: camera 1 sees Xb's projection.
    uv2 = uv.copy()
    hb1 = np.einsum("ij,mj->mi", P[1], np.c_[Xb, np.ones(len(X))])
    uv2[:, 1] = hb1[:, :2] / hb1[:, 2:]
    w2 = np.zeros_like(w)
    w2[:, :2] = 1.0
    front1 = hb1[:, 2] > 0
    res = triangulate_robust(P, uv2, w2, 20.0)
    # Where Xb is in front of camera 1, the two rays meet at Xb, behind camera 0: rejected.
    assert front1.any()
    assert np.isnan(res.points[front1]).all()


def test_per_camera_thresholds_and_depth_prior():
    _, P, uv, w, X = scene(n_people=2, seed=6, noise_px=1.0)
    tri = Triangulator(P)
    depth = np.einsum("cj,mj->mc", P[:, 2], np.c_[X, np.ones(len(X))])
    a = tri.robust(uv, w, np.full(5, 15.0), depth=depth)
    b = tri.robust(uv, w, 15.0)
    np.testing.assert_allclose(a.points, b.points, atol=2e-3)
    assert np.nanmean(np.linalg.norm(a.points - X, axis=-1)) < 0.01
    # A tiny threshold on one camera removes it.
    thr = np.full(5, 15.0)
    thr[2] = 1e-3
    c = tri.robust(uv, w, thr)
    assert not c.inliers[:, 2].any()


def test_bad_arguments_raise():
    _, P, uv, w, _ = scene(n_people=1)
    with pytest.raises(ValueError, match="shape"):
        Triangulator(P[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        Triangulator(np.full((2, 3, 4), np.nan))
    tri = Triangulator(P)
    with pytest.raises(ValueError, match="must be"):
        tri.robust(uv[:, :3], w, 20.0)
    with pytest.raises(ValueError, match="min_views"):
        tri.robust(uv, w, 20.0, min_views=1)
    with pytest.raises(ValueError, match="threshold"):
        tri.robust(uv, w, -1.0)
    with pytest.raises(ValueError, match="threshold"):
        tri.robust(uv, w, [20.0, 20.0, np.nan, 20.0, 20.0])
    with pytest.raises(ValueError, match="depth"):
        tri.robust(uv, w, 20.0, depth=np.ones((3, 5)))


def test_large_batch_matches_small_batches():
    """Vectorised over people x joints: one call equals per-point calls."""
    cams = ring_rig(8, jitter=0.05, seed=7)
    gt = walking_people(6, 5, area_radius=2.0, seed=7).joints[2]
    views, _ = render_views(cams, gt, rng=7, shuffle=False, noise_px=1.5, outlier_rate=0.1)
    P = np.stack([c.projection_matrix for c in cams])
    keep = [i for i in range(len(cams)) if views[i].shape[0] == 6]
    P = P[keep]
    uv, w = stack([cams[i] for i in keep], [views[i] for i in keep])
    tri = Triangulator(P)
    full = tri.robust(uv, w, 20.0)
    for m in range(0, len(uv), 13):
        one = tri.robust(uv[m : m + 1], w[m : m + 1], 20.0)
        np.testing.assert_allclose(one.points[0], full.points[m], atol=1e-9, equal_nan=True)
        assert (one.inliers[0] == full.inliers[m]).all()


def test_place_on_rays_uses_the_view_nearest_the_expected_position():
    """An undefined point with an expectation goes on the ray of the view passing nearest it, at
    the ray's point nearest it (never a point no view sees, never beyond ``max_distance``, never
    behind the camera); defined points are untouched."""
    cams, P, uv, w, X = scene(n_people=1, seed=7)
    tri = Triangulator(P)
    w = w.copy()
    w[:4, 1:] = 0.0  # joints 0..3: one view only
    w[4, :] = 0.0  # joint 4: no view
    res = tri.robust(uv, w, 20.0)
    before = res.points.copy()
    assert np.isnan(res.points[:5]).all()
    rng = np.random.default_rng(7)
    offset = rng.normal(size=(len(X), 3))
    offset *= 0.05 / np.linalg.norm(offset, axis=1, keepdims=True)  # 5 cm off the truth
    expected = X + offset
    expected[3] = np.nan  # joint 3: nothing expected
    expected[2] = X[2] + 10 * offset[2]  # joint 2: expected 0.5 m away
    placed = tri.place_on_rays(uv, w, expected, 0.2, res)
    assert placed == 2
    for j in (0, 1):  # on camera 0's ray through uv, and nearest the expectation
        x = res.points[j]
        h = P[0] @ np.append(x, 1.0)
        np.testing.assert_allclose(h[:2] / h[2], uv[j, 0], atol=1e-6)
        assert np.linalg.norm(x - expected[j]) <= 0.05 + 1e-9
        assert np.linalg.norm(x - X[j]) <= 0.05 + 1e-9  # the truth is on the ray too
        assert res.n_views[j] == 1 and res.inliers[j].tolist() == [True] + [False] * (P.shape[0] - 1)
        assert res.errors[j, 0] == 0.0
    assert np.isnan(res.points[2:5]).all() and (res.n_views[2:5] == 0).all() and not res.inliers[2:5].any()
    np.testing.assert_array_equal(res.points[5:], before[5:])
    # Several views: the one whose ray passes nearest wins; the others stay outliers.
    w2 = np.zeros_like(w)
    w2[0, :] = 1.0
    uv2 = uv.copy()
    uv2[0, 1:] += 40.0  # every view but camera 0 is off by 40 px (rays ~0.2 m away)
    uv2[0, 0] += 2.0
    res2 = tri.robust(uv2[:1], w2[:1], 1.0, min_views=len(P))  # forced undefined
    assert tri.place_on_rays(uv2[:1], w2[:1], X[:1], 0.5, res2) == 1
    assert res2.inliers[0].tolist() == [True] + [False] * (P.shape[0] - 1)
    # Behind the camera: the ray's nearest point would be behind it, so nothing is placed.
    centre = tri.centers[0]
    behind = 2 * centre - X[:1]
    res3 = tri.robust(uv[:1], np.eye(P.shape[0])[:1], 20.0)
    assert tri.place_on_rays(uv[:1], np.eye(P.shape[0])[:1], behind, 10.0, res3) == 0
    assert np.isnan(res3.points).all()
