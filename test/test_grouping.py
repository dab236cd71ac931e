"""Associative-embedding grouping (``parse_heatmaps``) on synthetic maps and against the reference.

The reference (:mod:`ros2_mvpose.pose2d.grouping_reference`) states the official
``HeatmapParser.parse`` plainly; the compiled kernels must give exactly its result. The official
code solves each assignment with ``munkres``; here the reference's :func:`assign` is replaced by
an enumeration of every assignment of the official padded cost matrix (:func:`oracle_parse`),
which declares a case ambiguous when two minimum-cost assignments lead to different groupings
(there the official result depends on munkres' scan order); such cases are regenerated. Without
numba ``parse_heatmaps`` runs the reference itself (tests at the end).
"""

from __future__ import annotations

import itertools
import logging
import math
from contextlib import contextmanager

import numpy as np
import pytest

from ros2_mvpose.pose2d import grouping_reference as reference
from ros2_mvpose.pose2d.grouping import find_peaks, parse_heatmaps

J = 17


@pytest.fixture
def compiled(monkeypatch):
    """The compiled kernels run the grouping (skipped when numba is not installed)."""
    import ros2_mvpose.pose2d.grouping as grouping

    kernels = pytest.importorskip("ros2_mvpose.pose2d.grouping_kernels",
                                  reason="numba is not installed (the compiled grouping needs it)")
    monkeypatch.setattr(grouping, "_KERNELS", kernels)
    monkeypatch.setattr(grouping, "_KERNELS_TRIED", True)
    return kernels


# ----------------------------------------------------------------------------------------------
# Oracle: the reference with every optimal assignment enumerated
# ----------------------------------------------------------------------------------------------
class Ambiguous(Exception):
    """Several optimal assignments with different outcomes (official result not unique)."""


_PERMS: dict[tuple[int, int], np.ndarray] = {}


def _all_assignments(n_cols: int, n_rows: int) -> np.ndarray:
    key = (n_cols, n_rows)
    if key not in _PERMS:
        _PERMS[key] = np.array(list(itertools.permutations(range(n_cols), n_rows)), dtype=int)
    return _PERMS[key]


def oracle_assign(cost: np.ndarray, dist: np.ndarray, thr: float) -> np.ndarray:
    """:func:`reference.assign` by enumeration of the official padded cost matrix; raises
    Ambiguous on decisive ties."""
    n_added, n_grouped = cost.shape
    if n_grouped < n_added:  # official: pad with 1e10 columns (munkres pads rows with 0 itself)
        cost = np.concatenate([cost, np.zeros((n_added, n_added - n_grouped)) + 1e10], axis=1)
    if math.perm(cost.shape[1], n_added) > 200_000:
        raise Ambiguous("too large to enumerate")
    perms = _all_assignments(cost.shape[1], n_added)
    real = perms < n_grouped
    # Every assignment uses the same number of padding columns: compare the real part only.
    totals = np.where(real, cost[np.arange(n_added), np.minimum(perms, n_grouped - 1)], 0).sum(1)
    best = totals.min()
    optimal = perms[totals <= best + 1e-9 * max(1.0, abs(best))]
    outcomes = {tuple(int(c) if (c < n_grouped and dist[r, c] < thr) else -1
                      for r, c in enumerate(assignment)) for assignment in optimal}
    if len(outcomes) > 1:
        raise Ambiguous(str(outcomes))
    return np.array(outcomes.pop())


@contextmanager
def enumerated_assignments():
    saved = reference.assign
    reference.assign = oracle_assign
    try:
        yield
    finally:
        reference.assign = saved


def as_float32_4d(det, tag):
    tag = tag if tag.ndim == 4 else tag[..., None]
    return np.ascontiguousarray(det, np.float32), np.ascontiguousarray(tag, np.float32)


def oracle_parse(det, tag, **params):
    """The official result: the reference with enumerated assignments (raises Ambiguous)."""
    with enumerated_assignments():
        return reference.parse(*as_float32_4d(det, tag), **params)


# ----------------------------------------------------------------------------------------------
# Synthetic maps
# ----------------------------------------------------------------------------------------------
def blob(h, w, cx, cy, amp, sigma=1.5):
    ys, xs = np.mgrid[0:h, 0:w]
    return amp * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2))


def make_maps(h, w, people, dim=1, noise=0.0, rng=None, bg_tag=None):
    """people: list of dicts {'joints': {j: (cx, cy, amp)}, 'tag': (D,)}; tags set in a radius 3."""
    rng = rng or np.random.default_rng(0)
    det = np.zeros((J, h, w), np.float64)
    if noise:
        det += rng.uniform(0, noise, det.shape)
    tag = (np.zeros((J, h, w, dim)) if bg_tag is None
           else rng.uniform(-bg_tag, bg_tag, (J, h, w, dim)))
    ys, xs = np.mgrid[0:h, 0:w]
    for p in people:
        for j, (cx, cy, amp) in p["joints"].items():
            det[j] = np.maximum(det[j], blob(h, w, cx, cy, amp, p.get("sigma", 1.5)))
            near = (xs - cx) ** 2 + (ys - cy) ** 2 <= 9
            tag[j][near] = np.asarray(p["tag"], float) + p.get("tag_noise", 0.0) * rng.normal(
                size=(int(near.sum()), dim))
    return det.astype(np.float32), tag.astype(np.float32)


def expected_xy(det_j, cx, cy):
    """Official adjusted coordinate of the blob at (cx, cy): argmax pixel +0.5 +-0.25."""
    x, y = int(round(cx)), int(round(cy))
    h, w = det_j.shape
    ex = x + 0.5 + (0.25 if det_j[y, min(x + 1, w - 1)] > det_j[y, max(x - 1, 0)] else -0.25)
    ey = y + 0.5 + (0.25 if det_j[min(y + 1, h - 1), x] > det_j[max(y - 1, 0), x] else -0.25)
    return ex, ey


def person_grid(rng, n, h, w, amp=(0.5, 1.0), tags=None, dim=1):
    people = []
    for k in range(n):
        ox, oy = rng.uniform(8, w - 8), rng.uniform(8, h - 8)
        joints = {}
        for j in range(J):
            joints[j] = (np.clip(ox + rng.uniform(-6, 6), 2, w - 3) + 0.3,
                         np.clip(oy + rng.uniform(-6, 6), 2, h - 3) - 0.2,
                         rng.uniform(*amp))
        tag = tags[k] if tags is not None else rng.uniform(-5, 5, dim)
        people.append({"joints": joints, "tag": np.atleast_1d(tag)})
    return people


def match_people(found, people):
    """Index of the found person whose nose is nearest to each true person's nose."""
    out = []
    for p in people:
        cx, cy, _ = p["joints"][0]
        d = np.hypot(found[:, 0, 0] - cx, found[:, 0, 1] - cy)
        out.append(int(np.argmin(d)))
    return out


# ----------------------------------------------------------------------------------------------
# Known people
# ----------------------------------------------------------------------------------------------
def test_known_people_exact_positions_scores_and_tags(compiled):
    h, w = 60, 90
    people = []
    for k, (ox, oy) in enumerate([(15, 15), (45, 30), (75, 45)]):
        joints = {j: (ox + (j % 5) * 2.5 - 5 + 0.3, oy + (j // 5) * 3.0 - 4 - 0.2, 0.4 + 0.03 * j)
                  for j in range(J)}
        people.append({"joints": joints, "tag": [k * 3.0 - 3.0]})
    det, tag = make_maps(h, w, people)
    found, scores = parse_heatmaps(det, tag)
    assert found.shape == (3, J, 4) and scores.shape == (3,)
    for p, i in zip(people, match_people(found, people)):
        for j, (cx, cy, _amp) in p["joints"].items():
            ex, ey = expected_xy(det[j], cx, cy)
            assert found[i, j, 0] == pytest.approx(ex)
            assert found[i, j, 1] == pytest.approx(ey)
            assert abs(found[i, j, 0] - (cx + 0.5)) <= 0.3 and abs(found[i, j, 1] - (cy + 0.5)) <= 0.3
            assert found[i, j, 2] == pytest.approx(det[j, int(round(cy)), int(round(cx))])
            assert found[i, j, 3] == pytest.approx(p["tag"][0])
        assert scores[i] == pytest.approx(found[i, :, 2].mean(), abs=1e-6)
    # people are in the official creation order: the order of the nose peaks by strength
    assert sorted(match_people(found, people)) == [0, 1, 2]


def test_no_people_gives_empty_arrays():
    det = np.random.default_rng(1).uniform(0, 0.09, (J, 40, 50)).astype(np.float32)
    for dim in (1, 2):
        found, scores = parse_heatmaps(det, np.zeros((J, 40, 50, dim), np.float32))
        assert found.shape == (0, J, 3 + dim) and found.dtype == np.float32
        assert scores.shape == (0,)
    found, _ = parse_heatmaps(np.zeros((J, 40, 50), np.float32), np.zeros((J, 40, 50), np.float32))
    assert found.shape == (0, J, 4)


def test_missing_joints_are_zero_without_refine_and_filled_by_refine(compiled):
    h, w = 64, 64
    rng = np.random.default_rng(2)
    people = person_grid(rng, 2, h, w, tags=[[-2.0], [2.0]])
    weak = {}
    for j in (9, 10, 15):  # wrists and an ankle of person 0: below the detection threshold
        cx, cy, _ = people[0]["joints"][j]
        weak[j] = (cx, cy, 0.06)
        people[0]["joints"][j] = weak[j]
    det, tag = make_maps(h, w, people)
    raw, scores_raw = parse_heatmaps(det, tag, refine=False)
    found, scores = parse_heatmaps(det, tag)
    i0, i1 = match_people(found, people)
    assert len(found) == 2
    for j in weak:
        assert np.all(raw[i0, j] == 0)
        cx, cy, _ = weak[j]
        ex, ey = expected_xy(det[j], cx, cy)
        assert found[i0, j, 0] == pytest.approx(ex) and found[i0, j, 1] == pytest.approx(ey)
        assert found[i0, j, 2] == pytest.approx(det[j, int(round(cy)), int(round(cx))])
        assert found[i0, j, 2] < 0.1
        assert np.all(found[i0, j, 3:] == 0)  # refine does not write tags
    # person score: mean over all 17 joints before refine (missing joints count as 0)
    assert scores[i0] == pytest.approx(raw[i0, :, 2].sum() / J, abs=1e-6)
    np.testing.assert_array_equal(scores, scores_raw)
    np.testing.assert_array_equal(found[i1], raw[i1])  # complete person unchanged


def test_close_pairs_with_different_tags_are_separated():
    h, w = 48, 64
    a = {j: (20.3 + j % 4, 20.0 + j // 4 * 1.0 - 0.2, 0.8) for j in range(J)}
    # person b: every joint 6 px to the right (outside the 5x5 NMS window), other tag
    b = {j: (cx + 6.0, cy, 0.7) for j, (cx, cy, _) in a.items()}
    people = [{"joints": a, "tag": [0.0]}, {"joints": b, "tag": [1.6]}]
    det, tag = make_maps(h, w, people)
    found, _ = parse_heatmaps(det, tag, refine=False)
    assert len(found) == 2
    for p, i in zip(people, match_people(found, people)):
        np.testing.assert_allclose(found[i, :, 3], p["tag"][0], atol=1e-6)
        xs = np.array([p["joints"][j][0] for j in range(J)])
        assert np.all(np.abs(found[i, :, 0] - (xs + 0.5)) <= 0.3)
    # with tags closer than the tag threshold every peak still lands in one of the two people
    people[1]["tag"] = [0.4]
    det, tag = make_maps(h, w, people)
    found, _ = parse_heatmaps(det, tag, refine=False)
    assert len(found) == 2
    assert np.count_nonzero(found[:, :, 2] > 0) == 2 * J


def test_more_people_than_max_num_people():
    h, w = 96, 96
    rng = np.random.default_rng(3)
    people = person_grid(rng, 5, h, w, tags=[[-6.0], [-3.0], [0.0], [3.0], [6.0]])
    for k, p in enumerate(people):  # strictly decreasing strength by person
        p["joints"] = {j: (cx, cy, 0.9 - 0.15 * k) for j, (cx, cy, _) in p["joints"].items()}
    det, tag = make_maps(h, w, people)
    found, _ = parse_heatmaps(det, tag, max_num_people=3)
    assert len(found) == 3  # only the 3 strongest peaks per joint are considered
    assert match_people(found, people[:3]) == [0, 1, 2]
    assert np.all(found[:, :, 2] > 0.5)  # the 4th person peaks at 0.45
    found_all, _ = parse_heatmaps(det, tag)
    assert len(found_all) == 5


def test_two_dimensional_tags_separate_what_one_dimension_merges():
    h, w = 64, 64
    rng = np.random.default_rng(4)
    people = person_grid(rng, 2, h, w, tags=[[1.0, 0.0], [1.3, 3.0]], dim=2)
    det, tag2 = make_maps(h, w, people, dim=2)
    found2, _ = parse_heatmaps(det, tag2, refine=False)
    assert len(found2) == 2
    for p, i in zip(people, match_people(found2, people)):
        np.testing.assert_allclose(found2[i, :, 3:], np.broadcast_to(p["tag"], (J, 2)), atol=1e-6)
    # first dimension alone: 0.3 apart (< tag threshold) -> joints compete for one person
    found1, _ = parse_heatmaps(det, tag2[..., :1], refine=False)
    assert found1.shape[2] == 4
    assert np.count_nonzero(found1[0, :, 2] > 0) == J and len(found1) == 2
    assert not np.allclose(found1[0, :, 3], found1[0, 0, 3])  # mixed tags: the people merged


def test_find_peaks_nms_window_and_top_k(compiled):
    det = np.zeros((J, 30, 30), np.float32)
    det[0, 10, 10] = 0.9
    det[0, 10, 12] = 0.5  # inside the 5x5 window of the stronger peak: suppressed
    det[0, 10, 13] = 0.4  # 3 px away: outside the window of 0.9, but inside 0.5's -> kept? no
    det[0, 20, 20] = 0.3
    det[0, 0, 0] = 0.2  # border peak
    det[0, 25, 25] = 0.05  # below threshold
    peaks = find_peaks(det, 0.1, 30, 5)
    v, x, y = peaks[0]
    # 0.4 at (13,10) is not the max of its window (0.5 at (12,10) is in it)
    np.testing.assert_allclose(v, [0.9, 0.3, 0.2])
    np.testing.assert_array_equal(x, [10, 20, 0])
    np.testing.assert_array_equal(y, [10, 20, 0])
    v, x, y = find_peaks(det, 0.1, 2, 5)[0]
    np.testing.assert_allclose(v, [0.9, 0.3])
    assert all(len(p[0]) == 0 for p in peaks[1:])
    # dense maps (many pixels above threshold): the official top-k of the NMS map
    rng = np.random.default_rng(5)
    dense = rng.uniform(0, 1, (J, 40, 40)).astype(np.float32)
    for kernel, k in ((5, 30), (3, 7), (1, 5)):
        _, loc_k, val_k = reference.top_k(dense, dense[..., None], k, kernel)
        for j, (v, x, y) in enumerate(find_peaks(dense, 0.1, k, kernel)):
            keep = val_k[j] > 0.1
            np.testing.assert_array_equal(v, val_k[j][keep])
            np.testing.assert_array_equal(x, loc_k[j, keep, 0])
            np.testing.assert_array_equal(y, loc_k[j, keep, 1])


def test_bad_input_raises_value_error():
    det = np.zeros((J, 10, 10), np.float32)
    with pytest.raises(ValueError, match="heatmaps"):
        parse_heatmaps(det[0], det[0])
    with pytest.raises(ValueError, match="tags"):
        parse_heatmaps(det, det[:, :5])
    with pytest.raises(ValueError, match="nms_kernel"):
        parse_heatmaps(det, det, nms_kernel=4)
    with pytest.raises(ValueError, match="max_num_people"):
        parse_heatmaps(det, det, max_num_people=0)
    with pytest.raises(ValueError, match="floating"):
        parse_heatmaps(det.astype(np.uint8), det)


# ----------------------------------------------------------------------------------------------
# Equality with the oracle on random cases
# ----------------------------------------------------------------------------------------------
def random_case(rng):
    h, w = int(rng.integers(32, 80)), int(rng.integers(32, 80))
    dim = int(rng.integers(1, 3))
    n = int(rng.integers(0, 6))
    people = []
    # person tags ~2 apart in the first dimension (ties in round(distance) stay possible)
    first = rng.permutation(np.arange(-5.0, 5.5, 2.0))[:n] + rng.uniform(-0.4, 0.4, n)
    for k in range(n):
        ox, oy = rng.uniform(0, w), rng.uniform(0, h)
        joints = {}
        for j in range(J):
            if rng.uniform() < 0.8:
                joints[j] = (np.clip(ox + rng.normal(0, 6), 0, w - 1),
                             np.clip(oy + rng.normal(0, 6), 0, h - 1), rng.uniform(0.12, 1.0))
        tag = np.concatenate([[first[k]], rng.uniform(-4, 4, dim - 1)])
        people.append({"joints": joints, "tag": tag,
                       "tag_noise": rng.uniform(0, 0.3), "sigma": rng.uniform(1.0, 2.5)})
    for _ in range(int(rng.integers(0, 8))):  # spurious single peaks with random tags
        people.append({"joints": {int(rng.integers(0, J)): (rng.uniform(0, w - 1),
                                                           rng.uniform(0, h - 1),
                                                           rng.uniform(0.05, 0.5))},
                       "tag": rng.uniform(-4, 4, dim), "sigma": 1.2})
    det, tag = make_maps(h, w, people, dim=dim, noise=0.08, rng=rng, bg_tag=5.0)
    params = {}
    if rng.uniform() < 0.3:
        params["max_num_people"] = int(rng.integers(1, 5))
    if rng.uniform() < 0.2:
        params["ignore_too_much"] = True
    if rng.uniform() < 0.15:
        params["use_detection_val"] = False
    if rng.uniform() < 0.15:
        params["adjust"] = False
    if rng.uniform() < 0.15:
        params["refine"] = False
    if rng.uniform() < 0.2:
        params["detection_threshold"] = float(rng.uniform(0.05, 0.3))
        params["tag_threshold"] = float(rng.uniform(0.5, 2.0))
    if rng.uniform() < 0.1:
        params["nms_kernel"] = 3
    return det, (tag if dim > 1 or rng.uniform() < 0.5 else tag[..., 0]), params


def test_parse_heatmaps_equals_official_oracle_on_random_cases(compiled):
    rng = np.random.default_rng(20240611)
    compared = ambiguous = people_seen = refined = 0
    while compared < 100:
        det, tag, params = random_case(rng)
        try:
            want, want_scores = oracle_parse(det, tag, **params)
        except Ambiguous:
            ambiguous += 1
            continue
        got, got_scores = parse_heatmaps(det, tag, **params)
        assert got.shape == want.shape, params
        np.testing.assert_array_equal(got, want, err_msg=str(params))
        np.testing.assert_array_equal(got_scores, want_scores)
        compared += 1
        people_seen += len(got)
        if params.get("refine", True) and len(got):
            raw, _ = parse_heatmaps(det, tag, **{**params, "refine": False})
            refined += int(np.count_nonzero((got[:, :, 2] > 0) & (raw[:, :, 2] == 0)))
    assert ambiguous < compared, ambiguous  # the generator mostly makes well-defined cases
    assert people_seen > 200 and refined > 100  # the cases exercise grouping and refine


# ----------------------------------------------------------------------------------------------
# Realistic size: 10 people on 512x512 maps (and a size that is not a multiple of 8)
# ----------------------------------------------------------------------------------------------
def realistic_maps(rng, h, w, n_people=10, dim=2, noise=0.0):
    """Network-like maps: smooth background tags (built at 1/4 and upsampled), person tags
    around each joint, Gaussian joint blobs, ~20 % of the joints missing."""
    from scipy.ndimage import gaussian_filter, zoom

    hq, wq = -(-h // 4), -(-w // 4)
    tagq = gaussian_filter(rng.uniform(-3, 3, (J, hq, wq, dim)), (0, 3, 3, 0))
    det = rng.uniform(-noise, noise, (J, h, w)) if noise else np.zeros((J, h, w))
    ys, xs = np.mgrid[0:h, 0:w]
    for k in range(n_people):
        ox, oy = rng.uniform(40, w - 40), rng.uniform(40, h - 40)
        tag = np.concatenate([[k * 1.5 - 7], rng.uniform(-3, 3, dim - 1)])
        for j in range(J):
            if rng.uniform() < 0.8:
                cx, cy = np.clip(ox + rng.normal(0, 25), 0, w - 1), np.clip(oy + rng.normal(0, 40),
                                                                            0, h - 1)
                g = rng.uniform(0.3, 0.9) * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 32.0)
                det[j] = np.maximum(det[j], g)
                qx, qy = int(cx / 4), int(cy / 4)
                tagq[j, max(qy - 2, 0):qy + 3, max(qx - 2, 0):qx + 3] = tag
    tags = zoom(tagq, (1, h / hq, w / wq, 1), order=1)[:, :h, :w]
    return det.astype(np.float32), tags.astype(np.float32)


@pytest.mark.parametrize("h, w, dim, noise", [(512, 512, 2, 0.0), (512, 512, 2, 0.03),
                                              (300, 452, 1, 0.01)])
def test_ten_people_realistic_maps_equal_the_reference(compiled, h, w, dim, noise):
    rng = np.random.default_rng(h + w + dim)
    det, tag = realistic_maps(rng, h, w, dim=dim, noise=noise)
    want, want_scores = reference.parse(*as_float32_4d(det, tag))  # too large to enumerate
    got, got_scores = parse_heatmaps(det, tag)
    assert len(got) >= 10
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_scores, want_scores)
    raw, _ = parse_heatmaps(det, tag, refine=False)
    assert np.count_nonzero((got[:, :, 2] > 0) & (raw[:, :, 2] == 0)) > 10  # refine ran


# ----------------------------------------------------------------------------------------------
# Block extrema: heatmap maxima, exact tag boxes, boxes from the low-resolution network outputs
# ----------------------------------------------------------------------------------------------
def test_block_maxima_and_tag_boxes_are_the_exact_block_extrema(compiled):
    from ros2_mvpose.pose2d.grouping import block_bounds

    rng = np.random.default_rng(11)
    det = rng.normal(size=(3, 21, 30)).astype(np.float32)  # partial blocks at both edges
    tag = rng.normal(size=(3, 21, 30, 2)).astype(np.float32)
    b = block_bounds(det, tag)
    heat_max, _, _ = compiled.block_max_peaks(det, np.float32(0.5), 2)
    assert heat_max.shape == (3, 3, 4) and b.tag_min.shape == (3, 3, 4, 2)
    for by in range(3):
        for bx in range(4):
            sl = (slice(None), slice(8 * by, 8 * by + 8), slice(8 * bx, 8 * bx + 8))
            np.testing.assert_array_equal(heat_max[:, by, bx], det[sl].max(axis=(1, 2)))
            np.testing.assert_array_equal(b.tag_min[:, by, bx], tag[sl].min(axis=(1, 2)))
            np.testing.assert_array_equal(b.tag_max[:, by, bx], tag[sl].max(axis=(1, 2)))


def upsample_like_the_estimator(o0, o1, flip_index):
    """Final maps from low-resolution outputs exactly as HigherHRNetEstimator builds them:
    o0 (2, 2J, h/4, w/4) and o1 (2, J, h/2, w/2) for the image and its flipped copy."""
    import torch
    import torch.nn.functional as F

    o0, o1 = torch.from_numpy(o0), torch.from_numpy(o1)
    nj = o1.shape[1]
    up0 = F.interpolate(o0, size=o1.shape[2:], mode="bilinear", align_corners=False)
    heat = (up0[0:1, :nj] + o1[0:1]) / 2
    f0, f1 = torch.flip(up0[1:2], [3]), torch.flip(o1[1:2], [3])
    heat_f = (f0[:, :nj][:, flip_index] + f1[:, :nj][:, flip_index]) / 2
    tags = [up0[0:1, nj:], f0[:, nj:][:, flip_index]]
    size = (2 * o1.shape[2], 2 * o1.shape[3])
    proj = F.interpolate(torch.cat([heat, heat_f, *tags], 0), size=size, mode="bilinear",
                         align_corners=False)
    final_heat = ((proj[0] + proj[1]) / 2.0).numpy()
    final_tags = torch.stack([proj[2], proj[3]], dim=3).numpy()
    heat_half = torch.cat([heat, heat_f], 0).numpy()  # (2, J, h/2, w/2)
    return final_heat, final_tags, heat_half


def low_res_outputs(rng, h, w, n_people=4, scale=1.0):
    """Network-like low-resolution outputs with people (blobs + tags) and noise."""
    from scipy.ndimage import gaussian_filter

    hq, wq = h // 4, w // 4
    o0 = np.zeros((2, 2 * J, hq, wq), np.float32)
    o1 = np.zeros((2, J, h // 2, w // 2), np.float32)
    o0[:, J:] = gaussian_filter(rng.uniform(-3, 3, (2, J, hq, wq)), (0, 0, 2, 2))
    for k in range(n_people):
        ox, oy = rng.uniform(0, wq), rng.uniform(0, hq)
        for f in range(2):
            for j in range(J):
                if rng.uniform() < 0.75:
                    x = int(np.clip(ox + rng.normal(0, 4), 0, wq - 1))
                    y = int(np.clip(oy + rng.normal(0, 4), 0, hq - 1))
                    amp = rng.uniform(0.2, 1.0)
                    o0[f, j, y, x] = max(o0[f, j, y, x], amp)
                    o1[f, j, 2 * y:2 * y + 2, 2 * x:2 * x + 2] = amp
                    o0[f, J + j, max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = 2.0 * k - 3
    o0[:, :J] += rng.normal(0, 0.02, o0[:, :J].shape)
    o1 += rng.normal(0, 0.02, o1.shape).astype(np.float32)
    return (o0 * scale).astype(np.float32), (o1 * scale).astype(np.float32)


@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_upsampled_block_bounds_bound_every_pixel_of_the_projected_maps(compiled, scale):
    from ros2_mvpose.pose2d.grouping import block_bounds, upsampled_block_bounds
    from ros2_mvpose.skeleton import COCO17_FLIP_INDEX

    flip = list(COCO17_FLIP_INDEX)
    rng = np.random.default_rng(12)
    for h, w in ((64, 128), (128, 64), (96, 96)):
        o0, o1 = low_res_outputs(rng, h, w, scale=scale)
        heat, tags, heat_half = upsample_like_the_estimator(o0, o1, flip)
        # the flipped image's stage-0 tags as the network gave them: flipped back as a view,
        # joints permuted (the estimator permutes the bounds instead; same boxes)
        tq = [o0[0, J:], o0[1, J:][flip][:, :, ::-1]]
        b = upsampled_block_bounds(tq)
        exact = block_bounds(heat, tags)
        assert b.tag_min.shape == exact.tag_min.shape == (J, h // 8, w // 8, 2)
        assert np.all(b.tag_min <= exact.tag_min) and np.all(b.tag_max >= exact.tag_max)
        # and not loose beyond the low-resolution windows: close to the exact extrema
        assert np.median(b.tag_max - exact.tag_max) < 0.5 * scale
        # the same boxes from a contiguous copy of the mirrored view (read in place above)
        b2 = upsampled_block_bounds([np.ascontiguousarray(t) for t in tq])
        np.testing.assert_array_equal(b2.tag_min, b.tag_min)
        np.testing.assert_array_equal(b2.tag_max, b.tag_max)
    with pytest.raises(ValueError, match="tags_quarter"):
        upsampled_block_bounds([t[:, :-1] for t in tq])
    with pytest.raises(ValueError, match="tags_quarter"):
        upsampled_block_bounds([])


def test_precomputed_bounds_give_the_same_people_as_the_oracle(compiled):
    """Pipeline-made maps: parse with low-resolution bounds == plain parse == the official
    re-statement, and any valid bounds, however loose, give the same result."""
    from ros2_mvpose.pose2d.grouping import BlockBounds, block_bounds, upsampled_block_bounds
    from ros2_mvpose.skeleton import COCO17_FLIP_INDEX

    flip = list(COCO17_FLIP_INDEX)
    rng = np.random.default_rng(13)
    compared = refined = 0
    while compared < 8:
        h, w = (64, 96) if compared % 2 else (96, 64)
        o0, o1 = low_res_outputs(rng, h, w, n_people=int(rng.integers(1, 5)))
        heat, tags, _ = upsample_like_the_estimator(o0, o1, flip)
        params = {"detection_threshold": float(rng.uniform(0.05, 0.3))}
        try:
            want, want_scores = oracle_parse(heat, tags, **params)
        except Ambiguous:
            continue
        b = upsampled_block_bounds([o0[0, J:], o0[1, J:][flip][:, :, ::-1]])
        got, got_scores = parse_heatmaps(heat, tags, **params, bounds=b)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_scores, want_scores)
        np.testing.assert_array_equal(parse_heatmaps(heat, tags, **params)[0], want)
        exact = block_bounds(heat, tags)
        np.testing.assert_array_equal(parse_heatmaps(heat, tags, **params, bounds=exact)[0], want)
        loose = BlockBounds(b.tag_min - 3.0, b.tag_max + 0.5)
        np.testing.assert_array_equal(parse_heatmaps(heat, tags, **params, bounds=loose)[0], want)
        raw, _ = parse_heatmaps(heat, tags, **params, refine=False)
        refined += int(np.count_nonzero((got[:, :, 2] > 0) & (raw[:, :, 2] == 0)))
        compared += 1
    assert refined > 20


def test_three_dimensional_tags_equal_the_oracle(compiled):
    rng = np.random.default_rng(14)
    compared = 0
    while compared < 10:
        det, tag, params = random_case(rng)
        tag = tag if tag.ndim == 4 else tag[..., None]
        tag3 = np.concatenate([tag, rng.uniform(-1, 1, tag.shape[:3] + (3 - tag.shape[3],))
                               .astype(np.float32)], axis=3)
        try:
            want, want_scores = oracle_parse(det, tag3, **params)
        except Ambiguous:
            continue
        got, got_scores = parse_heatmaps(det, tag3, **params)
        np.testing.assert_array_equal(got, want, err_msg=str(params))
        compared += 1


def test_bad_bounds_raise_value_error(compiled):
    from ros2_mvpose.pose2d.grouping import BlockBounds, block_bounds

    rng = np.random.default_rng(15)
    det = rng.uniform(0, 1, (J, 16, 24)).astype(np.float32)
    tag = rng.normal(size=(J, 16, 24, 2)).astype(np.float32)
    good = block_bounds(det, tag)
    with pytest.raises(ValueError, match="BlockBounds"):
        parse_heatmaps(det, tag, bounds=(good.tag_min, good.tag_max))
    with pytest.raises(ValueError, match="tag_min"):
        parse_heatmaps(det, tag, bounds=BlockBounds(good.tag_min[..., :1], good.tag_max))
    with pytest.raises(ValueError, match="tag_max"):
        parse_heatmaps(det, tag, bounds=BlockBounds(good.tag_min, good.tag_max[:, :1]))
    nan = good.tag_min.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        parse_heatmaps(det, tag, bounds=BlockBounds(nan, good.tag_max))
    with pytest.raises(ValueError, match="tag_min must be <="):
        parse_heatmaps(det, tag, bounds=BlockBounds(good.tag_max + 1, good.tag_max))
    with pytest.raises(ValueError, match="floating"):
        parse_heatmaps(det, tag, bounds=BlockBounds(good.tag_min.astype(int), good.tag_max))
    # positional use is not possible: bounds is keyword-only
    with pytest.raises(TypeError):
        parse_heatmaps(det, tag, 0.1, 1.0, 30, 5, True, False, True, True, good)


def test_refine_ties_take_the_first_row_major_maximum(compiled):
    """Quantized maps (many equal scores): refine and NMS break ties like the official
    first argmax / stable top-k."""
    rng = np.random.default_rng(17)
    compared = refined = 0
    while compared < 12:
        det, tag, params = random_case(rng)
        det = np.round(det * 4) / 4  # plateaus: equal heatmap values
        tag = np.round(tag)  # integer tags: equal rounded distances
        params.update(refine=True)
        try:
            want, want_scores = oracle_parse(det, tag, **params)
        except Ambiguous:
            continue
        got, got_scores = parse_heatmaps(det, tag, **params)
        np.testing.assert_array_equal(got, want, err_msg=str(params))
        np.testing.assert_allclose(got_scores, want_scores, atol=1e-6, rtol=0)
        raw, _ = parse_heatmaps(det, tag, **{**params, "refine": False})
        refined += int(np.count_nonzero((got[:, :, 2] > 0) & (raw[:, :, 2] == 0)))
        compared += 1
    assert refined > 10




def test_threshold_is_compared_in_float64_like_the_official_rows(compiled):
    """The official code thresholds float64 joint rows: a float32 peak of exactly
    ``float32(0.1)`` (0.10000000149...) is above the threshold 0.1."""
    det = np.zeros((J, 24, 24), np.float32)
    det[:, 12, 12] = np.float32(0.1)
    tag = np.zeros((J, 24, 24, 1), np.float32)
    got, _ = parse_heatmaps(det, tag, detection_threshold=0.1)
    assert got.shape == (1, J, 4) and np.all(got[0, :, 2] == np.float32(0.1))
    np.testing.assert_array_equal(got, oracle_parse(det, tag, detection_threshold=0.1)[0])
    assert len(parse_heatmaps(det, tag, detection_threshold=float(np.float32(0.1)))[0]) == 0


@pytest.mark.parametrize("dim", [1, 2, 3, 7])
def test_kernel_mean_tags_equal_numpys_mean(compiled, dim):
    """The kernels' mean of a person's tags is numpy's, bit for bit (pairwise sums for one tag
    dimension), for any count; values spanning magnitudes make the summation order matter."""
    rng = np.random.default_rng(dim)
    out = np.empty(dim, np.float32)
    for n in list(range(1, 40)) + [127, 128]:  # counts: at most one tag per joint
        rows = (rng.normal(size=(n, dim)) * 10.0 ** rng.uniform(-3, 4, (n, 1))).astype(np.float32)
        compiled._mean_rows(rows, n, out)
        np.testing.assert_array_equal(out, np.mean(list(rows), axis=0), err_msg=str(n))


def test_quarter_window_extrema_are_the_window_extrema(compiled):
    """Min / max over the windows [2b - 1, 2b + 2] (clipped) of both axes, mirrored input read
    in place."""
    rng = np.random.default_rng(18)
    x = rng.normal(size=(3, 12, 20)).astype(np.float32)
    for flip in (False, True):
        src = np.ascontiguousarray(x[:, :, ::-1]) if flip else x
        lo = np.empty((3, 6, 10), np.float32)
        hi = np.empty_like(lo)
        compiled.quarter_window_extrema(x, flip, lo, hi)  # reads x mirrored when flip
        for by in range(6):
            for bx in range(10):
                win = src[:, max(2 * by - 1, 0):2 * by + 3, max(2 * bx - 1, 0):2 * bx + 3]
                np.testing.assert_array_equal(lo[:, by, bx], win.min(axis=(1, 2)))
                np.testing.assert_array_equal(hi[:, by, bx], win.max(axis=(1, 2)))


def test_eight_tag_dimensions_run_the_reference(compiled):
    rng = np.random.default_rng(21)
    compared = 0
    while compared < 3:
        det, tag, params = random_case(rng)
        tag8 = np.repeat(as_float32_4d(det, tag)[1][..., :1], 8, axis=3)
        try:
            want = oracle_parse(det, tag8, **params)
        except Ambiguous:
            continue
        got = parse_heatmaps(det, tag8, **params)
        np.testing.assert_array_equal(got[0], want[0])
        compared += 1


# ----------------------------------------------------------------------------------------------
# Without numba: the reference runs, and says so
# ----------------------------------------------------------------------------------------------
def test_without_numba_the_reference_runs_and_warns_once(monkeypatch, caplog):
    import sys

    import ros2_mvpose.pose2d as pose2d
    import ros2_mvpose.pose2d.grouping as grouping

    monkeypatch.setitem(sys.modules, "ros2_mvpose.pose2d.grouping_kernels", None)  # no import
    monkeypatch.delattr(pose2d, "grouping_kernels", raising=False)
    monkeypatch.setattr(grouping, "_KERNELS", None)
    monkeypatch.setattr(grouping, "_KERNELS_TRIED", False)
    with caplog.at_level(logging.WARNING, logger="ros2_mvpose.pose2d.grouping"):
        assert grouping.accelerator() == "reference"
        rng = np.random.default_rng(22)
        for _ in range(5):
            det, tag, params = random_case(rng)
            got = parse_heatmaps(det, tag, **params)
            want = reference.parse(*as_float32_4d(det, tag), **params)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            assert len(find_peaks(det)) == J
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "numba" in warnings[0] and "slow" in warnings[0]
    with pytest.raises(RuntimeError, match="numba"):
        grouping.block_bounds(det, tag)


def test_find_peaks_equal_with_and_without_numba(monkeypatch, compiled):
    import ros2_mvpose.pose2d.grouping as grouping

    rng = np.random.default_rng(23)
    for _ in range(10):
        det, _, _ = random_case(rng)
        k, thr = int(rng.choice([1, 3, 5])), float(rng.uniform(0, 0.5))
        fast = find_peaks(det, thr, 7, k)
        monkeypatch.setattr(grouping, "_KERNELS", None)
        slow = find_peaks(det, thr, 7, k)
        monkeypatch.setattr(grouping, "_KERNELS", compiled)
        for a, b in zip(fast, slow):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)
