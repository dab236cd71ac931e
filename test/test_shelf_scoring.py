"""The Shelf benchmark's own parts on synthetic data: BODY25 parsing, PAF grouping, PCP scoring."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import shelf_data as sd  # noqa: E402

W, H = 1032, 776


def _frame_tokens(people: np.ndarray, rng: np.random.Generator) -> tuple[list[float], list[np.ndarray]]:
    """Token stream of one frame for ``people`` (P, 25, 2) pixels, peaks shuffled per joint;
    PAF scores high within a person, low across people. Returns tokens and each joint's
    permutation (peak index -> person)."""
    P = people.shape[0]
    toks: list[float] = []
    perms = []
    for j in range(25):
        perm = rng.permutation(P)
        perms.append(perm)
        toks.append(P)
        toks += list(people[perm, j, 0] / (W - 1))
        toks += list(people[perm, j, 1] / (H - 1))
        toks += list(rng.uniform(0.5, 1.0, P))
    for a, b in sd.PAF_PAIRS:
        S = np.where(perms[a][:, None] == perms[b][None, :], rng.uniform(0.6, 0.9, (P, P)),
                     rng.uniform(0.0, 0.3, (P, P)))
        toks += list(S.ravel())
    return toks, perms


@pytest.mark.parametrize("seed", range(20))
def test_grouping_recovers_people(seed: int) -> None:
    rng = np.random.default_rng(seed)
    P = int(rng.integers(1, 5))
    people = rng.uniform([0, 0], [W - 1, H - 1], (P, 25, 2))
    toks, _ = _frame_tokens(people, rng)
    frame = sd.parse_body25(iter(toks), W, H)
    got = sd.group_body25(frame)
    assert got.shape == (P, 25, 3)
    # Every grouped person is one true person, all 25 joints, in pixels.
    for g in got:
        k = int(np.argmin(np.abs(people[:, 0] - g[0, :2]).sum(-1)))
        np.testing.assert_allclose(g[:, :2], people[k], atol=1e-6)
    coco = sd.body25_to_coco(got)
    np.testing.assert_array_equal(coco[:, 5], got[:, 5])  # COCO left shoulder = BODY25 5
    np.testing.assert_array_equal(coco[:, 6], got[:, 2])  # COCO right shoulder = BODY25 2


def _skeleton(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1, 1, (14, 3)) + np.array([0, 0, 1.0])


@pytest.mark.parametrize("seed", range(20))
def test_pcp_scoring(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt = [{0: _skeleton(rng), 1: _skeleton(rng)} for _ in range(4)]
    exact = [[f[1], f[0]] for f in gt]
    s = sd.score(exact, gt)
    np.testing.assert_array_equal(s.pcp[:2], [1.0, 1.0])
    np.testing.assert_allclose(s.mean_error[:2], 0.0, atol=1e-12)
    assert np.isnan(s.pcp[2])  # never annotated

    # One wrist moved by more than the lower arm's length: only that part is wrong (actor 0,
    # frame 0); a NaN elbow breaks both arm parts it ends (frame 1); nothing reported (frame 2).
    pred = [[f[0].copy(), f[1].copy()] for f in gt]
    la = np.linalg.norm(gt[0][0][6] - gt[0][0][7])
    pred[0][0][6] += np.array([1.01 * la, 0, 0])
    pred[1][0][7] = np.nan
    pred[2] = []
    s = sd.score(pred, gt)
    assert s.correct[0].sum() == 40 - 1 - 2 - 10
    assert s.correct[1].sum() == 40 - 10
    assert s.missed[0] == 1 and s.undefined[0] == 1
    ok = sd.parts_correct(pred[0][0], gt[0][0])
    assert list(np.flatnonzero(~ok)) == [sd.PART_NAMES.index("r-lower-arm")]


def test_head_conversions_are_consistent() -> None:
    """COCO and SKEL19 give the same Shelf skeleton for the same body (4D Association rule)."""
    rng = np.random.default_rng(0)
    coco = rng.uniform(-1, 1, (17, 3))
    skel = np.zeros((19, 3))
    # SKEL19 from COCO: pelvis, neck, hips, nose, shoulders, knees, ears, elbows, ankles, wrists.
    skel[0] = 0.5 * (coco[11] + coco[12])
    skel[1] = 0.5 * (coco[5] + coco[6])
    for s19, c in ((2, 12), (3, 11), (4, 0), (5, 6), (6, 5), (7, 14), (8, 13), (9, 4), (10, 3),
                   (11, 8), (12, 7), (13, 16), (14, 15), (15, 10), (16, 9)):
        skel[s19] = coco[c]
    np.testing.assert_allclose(sd.coco_to_shelf(coco, "4da-ears"), sd.skel19_to_shelf(skel), atol=1e-12)
    # Both ears defined: the default rule is the 4D Association's own (ear centre).
    np.testing.assert_allclose(sd.coco_to_shelf(coco), sd.skel19_to_shelf(skel), atol=1e-12)
    coco[3] = np.nan  # one ear undefined: the nose and the other ear make the face centre
    assert np.isfinite(sd.coco_to_shelf(coco)).all()
    assert np.isnan(sd.coco_to_shelf(coco, "4da-ears")[12:]).all()
    np.testing.assert_allclose(sd.coco_face(coco), 0.5 * (coco[0] + coco[4]))
    coco[3] = coco[4] + 0.1  # both ears again: "4da-mean" still averages nose and ears
    np.testing.assert_allclose(sd.coco_face(coco, "4da-mean"), coco[[0, 3, 4]].mean(0))
    np.testing.assert_allclose(sd.coco_face(coco), 0.5 * (coco[3] + coco[4]))


@pytest.mark.parametrize("seed", range(5))
def test_ceiling_picks_the_true_peaks_and_views(seed: int) -> None:
    """Peaks at the true projections in 3 views, far distractors and a wrong 4th view: the
    ceiling returns the truth; a joint seen by one view only stays undefined."""
    from ros2_mvpose.geometry.synthetic import posed_skeleton, ring_rig

    rng = np.random.default_rng(seed)
    cams = ring_rig(4, seed=seed)
    coco = posed_skeleton(rng.uniform(-1, 1, 2), rng.uniform(-3, 3))
    truth = coco[sd.COCO_TO_SHELF12]
    frames = []
    for c, cam in enumerate(cams):
        peaks = [np.zeros((0, 3)) for _ in range(25)]
        for k in range(17):
            uv = cam.project(coco[k][None])[0]
            if c == 3:
                uv = uv + 60.0  # a wrong view
            if k == 9 and c > 0:  # left wrist: seen by view 0 only
                continue
            peaks[sd.BODY25_TO_COCO[k]] = np.array([[*uv, 0.9], [*(uv + 300.0), 0.9]])
        frames.append(sd.Body25Frame(peaks))
    X = sd.ceiling_limbs(cams, frames, truth)
    lw = list(sd.COCO_TO_SHELF12).index(9)
    assert np.isnan(X[lw]).all()
    np.testing.assert_allclose(np.delete(X, lw, 0), np.delete(truth, lw, 0), atol=1e-6)
