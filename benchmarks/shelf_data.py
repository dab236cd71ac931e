"""Shelf benchmark helpers: read the data, group BODY25 peaks into people, score PCP.

Benchmark code only (the data is research data and never goes into the package). Formats are
those of the 4D Association repository's Shelf files (see the data folder's README):

* ``calibration.json``: per camera ``K`` (3x3), ``RT`` (3x4, ``x_cam = R X + t``, metres),
  ``imgSize``;
* ``detection/{k}.txt``: per frame, per BODY25 joint the heatmap peaks (x, y normalised by
  (width - 1, height - 1), score), then per part-affinity pair the matrix of PAF scores;
* ``gt.txt``: per frame the annotated actors (id 0..3, 15 Shelf joints, metres);
* ``skel_4da_*.txt``: the 4D Association output, SKEL19 joints.

Scoring (PCP) follows the usual evaluation of mvpose / VoxelPose: per annotated actor and
frame the reported skeleton with the smallest mean joint distance; a part (9 limbs + torso) is
correct when the mean of its two endpoint errors is at most half the true part length.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ros2_mvpose.geometry import Camera
from ros2_mvpose.geometry.camera import nearest_rotation
from ros2_mvpose.geometry.triangulation import triangulate_dlt

#: Part-affinity pairs (BODY25 joints a -> b) in file order.
PAF_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 8), (9, 10), (10, 11), (8, 9), (8, 12), (12, 13), (13, 14), (1, 2), (2, 3), (3, 4),
    (2, 17), (1, 5), (5, 6), (6, 7), (5, 18), (1, 0), (0, 15), (0, 16), (15, 17), (16, 18),
    (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
)
#: COCO-17 joint k is BODY25 joint BODY25_TO_COCO[k].
BODY25_TO_COCO = np.array([0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11])
#: SKEL19 -> the 15 Shelf joints (14 + pelvis), index by index.
SKEL19_TO_SHELF = np.array([13, 7, 2, 3, 8, 14, 15, 11, 5, 6, 12, 16, 1, 4, 0])
SKEL19_EARS = (9, 10)  # SKEL19: 0 pelvis, 1 neck, 5/6 r/l shoulder, 9/10 r/l ear
#: COCO-17 -> the 12 Shelf limb joints (r-ankle, r-knee, r-hip, l-hip, l-knee, l-ankle,
#: r-wrist, r-elbow, r-shoulder, l-shoulder, l-elbow, l-wrist).
COCO_TO_SHELF12 = np.array([16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9])
#: The 9 Shelf limbs (joint pairs); the 10th part is the torso (hip centre - bottom of head).
SHELF_LIMBS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8), (9, 10), (10, 11), (12, 13),
)
PART_NAMES: tuple[str, ...] = (
    "r-lower-leg", "r-upper-leg", "l-upper-leg", "l-lower-leg", "r-lower-arm", "r-upper-arm",
    "l-upper-arm", "l-lower-arm", "head", "torso",
)
N_BODY25 = 25


# ---------------------------------------------------------------------------- reading
def _tokens(path: Path) -> Iterator[float]:
    for line in path.read_text().split("\n"):
        for tok in line.split():
            yield float(tok)


def _header(it: Iterator[float], path: Path, n_joints: int) -> int:
    try:
        kind, frames = next(it), next(it)
    except StopIteration:
        raise ValueError(f"{path}: empty file") from None
    if int(kind) != n_joints:
        raise ValueError(f"{path}: header says {int(kind)}, expected {n_joints}")
    return int(frames)


def read_cameras(path: Path) -> list[Camera]:
    """Cameras of ``calibration.json`` (rotation orthonormalised, no distortion)."""
    data = json.loads(Path(path).read_text())
    cams = []
    for key in sorted(data, key=int):
        d = data[key]
        K = np.array(d["K"], dtype=float).reshape(3, 3)
        RT = np.array(d["RT"], dtype=float).reshape(3, 4)
        w, h = (int(v) for v in d["imgSize"])
        cams.append(Camera(key, K, [], nearest_rotation(RT[:, :3]), RT[:, 3], w, h))
    return cams


@dataclass
class Body25Frame:
    """Bottom-up BODY25 output of one camera and frame.

    ``peaks[j]``: (n_j, 3) x, y (pixels) and score of joint j's heatmap peaks;
    ``pafs[p]``: (n_a, n_b) PAF scores of pair ``PAF_PAIRS[p]``.
    """

    peaks: list[np.ndarray]
    pafs: list[np.ndarray] = field(default_factory=list)


def parse_body25(tokens: Iterator[float], width: int, height: int) -> Body25Frame:
    """One frame of a detection file from its token stream; x, y scaled to pixels."""
    peaks = []
    for _ in range(N_BODY25):
        n = int(next(tokens))
        a = np.array([next(tokens) for _ in range(3 * n)], dtype=float).reshape(3, n).T.copy()
        a[:, 0] *= width - 1
        a[:, 1] *= height - 1
        peaks.append(a)
    pafs = []
    for a, b in PAF_PAIRS:
        na, nb = len(peaks[a]), len(peaks[b])
        pafs.append(np.array([next(tokens) for _ in range(na * nb)], dtype=float).reshape(na, nb))
    return Body25Frame(peaks, pafs)


def read_detections(path: Path, width: int, height: int) -> list[Body25Frame]:
    """Every frame of one camera's ``detection/{k}.txt``."""
    path = Path(path)
    it = _tokens(path)
    n = _header(it, path, 4)  # 4 = BODY25 in the 4D Association format
    try:
        return [parse_body25(it, width, height) for _ in range(n)]
    except StopIteration:
        raise ValueError(f"{path}: truncated (expected {n} frames)") from None


def read_skeletons(path: Path, n_joints: int) -> list[dict[int, np.ndarray]]:
    """Per frame ``{id: (n_joints, 3)}`` of a ``gt.txt`` / ``skel_*.txt`` file (4 x n_joints
    matrices; the 4th row is dropped)."""
    path = Path(path)
    it = _tokens(path)
    n = _header(it, path, n_joints)
    frames = []
    try:
        for _ in range(n):
            people = {}
            for _ in range(int(next(it))):
                pid = int(next(it))
                m = np.array([next(it) for _ in range(4 * n_joints)]).reshape(4, n_joints)
                people[pid] = m[:3].T.copy()
            frames.append(people)
    except StopIteration:
        raise ValueError(f"{path}: truncated (expected {n} frames)") from None
    return frames


# ---------------------------------------------------------------------------- grouping
def _tree_order() -> list[int]:
    """PAF pair indices of the BODY25 tree, breadth-first from the neck (the two redundant
    ear pairs (2,17), (5,18) last)."""
    extra = {PAF_PAIRS.index((2, 17)), PAF_PAIRS.index((5, 18))}
    order, seen, frontier = [], {1}, [1]
    while frontier:
        nxt = []
        for j in frontier:
            for p, (a, b) in enumerate(PAF_PAIRS):
                if p not in extra and a == j and b not in seen:
                    order.append(p)
                    seen.add(b)
                    nxt.append(b)
        frontier = nxt
    return order + sorted(extra)


_ORDER = _tree_order()


def group_body25(frame: Body25Frame, min_paf: float = 0.05, min_joints: int = 3) -> np.ndarray:
    """OpenPose-style greedy bipartite assembly of one view's peaks into people.

    For every PAF pair, breadth-first from the neck, candidate connections (PAF score >
    ``min_paf``) are taken best first, each peak at most once per pair; a connection extends
    the person that holds its parent peak (or starts a new person). The two redundant ear pairs
    only fill an ear still missing. People with fewer than ``min_joints`` joints are dropped.

    Returns:
        (P, 25, 3) x, y (pixels), score per person; score 0 where a joint is missing.
    """
    people: list[np.ndarray] = []  # (25,) peak index per joint, -1 = none
    owner: list[dict[int, int]] = [dict() for _ in range(N_BODY25)]  # joint -> peak -> person
    for p in _ORDER:
        a, b = PAF_PAIRS[p]
        S = frame.pafs[p]
        if S.size == 0:
            continue
        ia, ib = np.nonzero(S > min_paf)
        order = np.argsort(-S[ia, ib], kind="stable")
        used_a, used_b = set(), set()
        for k in order:
            i, j = int(ia[k]), int(ib[k])
            if i in used_a or j in used_b:
                continue
            pa, pb = owner[a].get(i), owner[b].get(j)
            if pa is not None and pb is not None:
                continue  # both placed already (the redundant pairs): nothing to add
            if pa is not None:
                if people[pa][b] >= 0:
                    continue
                people[pa][b] = j
                owner[b][j] = pa
            elif pb is not None:
                if people[pb][a] >= 0:
                    continue
                people[pb][a] = i
                owner[a][i] = pb
            else:
                person = np.full(N_BODY25, -1, dtype=int)
                person[a], person[b] = i, j
                owner[a][i] = owner[b][j] = len(people)
                people.append(person)
            used_a.add(i)
            used_b.add(j)
    out = []
    for person in people:
        if np.count_nonzero(person >= 0) < min_joints:
            continue
        kp = np.zeros((N_BODY25, 3))
        for j in np.flatnonzero(person >= 0):
            kp[j] = frame.peaks[j][person[j]]
        out.append(kp)
    return np.array(out).reshape(-1, N_BODY25, 3)


def body25_to_coco(people: np.ndarray) -> np.ndarray:
    """(P, 25, 3) BODY25 keypoints -> (P, 17, 3) COCO-17."""
    return people[:, BODY25_TO_COCO]


# ---------------------------------------------------------------------------- scoring
def head_4da(
    face: np.ndarray, neck: np.ndarray, pelvis: np.ndarray, r_sho: np.ndarray, l_sho: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bottom and top of head (3,) as the 4D Association evaluation derives them (world z up,
    metres): bottom = shoulder centre moved halfway to ``face`` (the ear centre); top = bottom
    + 0.125 m along the facing direction (normalised (neck - pelvis) x (r_sho - l_sho)) + 0.145 m
    up."""
    mid = 0.5 * (r_sho + l_sho)
    bottom = mid + 0.5 * (face - mid)
    fd = np.cross(neck - pelvis, r_sho - l_sho)
    with np.errstate(invalid="ignore", divide="ignore"):  # degenerate torso: NaN head
        fd = fd / np.linalg.norm(fd)
    return bottom, bottom + 0.125 * fd + np.array([0.0, 0.0, 0.145])


def head_mvpose(nose: np.ndarray, r_sho: np.ndarray, l_sho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bottom and top of head (3,) as mvpose derives them (world z up): bottom = shoulder centre
    moved halfway to the nose; top = shoulder centre + (nose - shoulder centre) x (0.75, 0.75,
    1.5)."""
    mid = 0.5 * (r_sho + l_sho)
    return mid + 0.5 * (nose - mid), mid + (nose - mid) * np.array([0.75, 0.75, 1.5])


#: COCO -> Shelf head conversions accepted by :func:`coco_to_shelf`.
HEADS = ("4da", "4da-ears", "4da-mean", "mvpose")


def coco_face(coco: np.ndarray, rule: str = "4da") -> np.ndarray:
    """Face centre (3,) of a (17, 3) COCO-17 skeleton: the ear centre when both ears are
    defined, else the mean of its defined nose and ears (NaN when none is defined); with
    ``rule`` ``4da-ears`` always the ear centre (NaN unless both are), with ``4da-mean`` always
    the mean of the defined nose and ears."""
    if rule == "4da-ears" or (rule == "4da" and np.isfinite(coco[[3, 4]]).all()):
        return 0.5 * (coco[3] + coco[4])
    face = coco[[0, 3, 4]]
    ok = np.isfinite(face).all(-1)
    return face[ok].mean(0) if ok.any() else np.full(3, np.nan)


def coco_to_shelf(coco: np.ndarray, head: str = "4da") -> np.ndarray:
    """(17, 3) COCO-17 joints -> (14, 3) Shelf joints. ``head``: ``4da`` (:func:`head_4da` on
    the :func:`coco_face` centre, neck = shoulder centre, pelvis = hip centre; ``4da-ears`` and
    ``4da-mean``: the same with that face rule) or ``mvpose`` (:func:`head_mvpose`)."""
    shelf = np.empty((14, 3))
    shelf[:12] = coco[COCO_TO_SHELF12]
    r_sho, l_sho = coco[6], coco[5]
    if head == "mvpose":
        shelf[12], shelf[13] = head_mvpose(coco[0], r_sho, l_sho)
    elif head in ("4da", "4da-ears", "4da-mean"):
        face = coco_face(coco, head)
        neck, pelvis = 0.5 * (r_sho + l_sho), 0.5 * (coco[11] + coco[12])
        shelf[12], shelf[13] = head_4da(face, neck, pelvis, r_sho, l_sho)
    else:
        raise ValueError(f"unknown head conversion {head!r} (expected one of {HEADS})")
    return shelf


def skel19_to_shelf(skel: np.ndarray) -> np.ndarray:
    """(19, 3) SKEL19 joints (4D Association) -> (14, 3) Shelf joints: limbs by
    ``SKEL19_TO_SHELF``, head by :func:`head_4da` (ear centre, neck, pelvis, shoulders), as
    the 4D Association evaluation does."""
    shelf = skel[SKEL19_TO_SHELF[:14]].copy()
    face = 0.5 * (skel[SKEL19_EARS[0]] + skel[SKEL19_EARS[1]])
    shelf[12], shelf[13] = head_4da(face, skel[1], skel[0], skel[5], skel[6])
    return shelf


@dataclass
class Score:
    """PCP and per-joint errors of one method, per actor."""

    correct: np.ndarray  # (A, 10) correct parts per actor and part
    frames: np.ndarray  # (A,) annotated frames per actor
    err_sum: np.ndarray  # (A,) summed per-joint errors (metres) over the defined joints
    err_n: np.ndarray  # (A,) number of defined joints summed
    undefined: np.ndarray  # (A,) joints left undefined (NaN) in matched skeletons
    missed: np.ndarray  # (A,) annotated frames with no reported skeleton
    part_ok: dict[int, list[np.ndarray]] = field(default_factory=dict)  # actor -> per frame (10,)

    @property
    def pcp(self) -> np.ndarray:
        """(A,) share of correct parts per actor (NaN for an actor never annotated)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.correct.sum(1) / (10.0 * self.frames)

    @property
    def mean_error(self) -> np.ndarray:
        """(A,) mean per-joint error (metres) over the defined joints of matched skeletons."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.err_sum / self.err_n


def parts_correct(pred: np.ndarray, gt: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """(10,) bool: which parts of the (14, 3) skeleton ``pred`` are correct against ``gt``
    (9 limbs, then the torso hip centre - bottom of head). NaN joints make their parts wrong."""
    ends = [(pred[a], pred[b], gt[a], gt[b]) for a, b in SHELF_LIMBS]
    ends.append((0.5 * (pred[2] + pred[3]), pred[12], 0.5 * (gt[2] + gt[3]), gt[12]))
    ok = np.zeros(10, dtype=bool)
    for k, (pa, pb, ga, gb) in enumerate(ends):
        e = 0.5 * (np.linalg.norm(pa - ga) + np.linalg.norm(pb - gb))
        ok[k] = bool(e <= alpha * np.linalg.norm(ga - gb))  # NaN compares False
    return ok


def score(
    predictions: Sequence[Sequence[np.ndarray]],
    truth: Sequence[dict[int, np.ndarray]],
    n_actors: int = 4,
    alpha: float = 0.5,
) -> Score:
    """Score per-frame predictions ((14, 3) Shelf skeletons, NaN allowed) against the truth
    (per frame ``{actor: (>= 14, 3)}``; only the first 14 joints are used)."""
    A = n_actors
    s = Score(np.zeros((A, 10)), np.zeros(A), np.zeros(A), np.zeros(A), np.zeros(A), np.zeros(A))
    for preds, gts in zip(predictions, truth, strict=True):
        for actor, g in gts.items():
            g = g[:14]
            s.frames[actor] += 1
            if not len(preds):
                s.missed[actor] += 1
                s.part_ok.setdefault(actor, []).append(np.zeros(10, dtype=bool))
                continue
            P = np.asarray(preds)
            d = np.linalg.norm(P - g[None], axis=-1)  # (N, 14)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN skeletons
                md = np.nanmean(d, axis=1)
            best = int(np.argmin(np.where(np.isfinite(md), md, np.inf)))
            ok = parts_correct(P[best], g, alpha)
            s.correct[actor] += ok
            s.part_ok.setdefault(actor, []).append(ok)
            db = d[best]
            fin = np.isfinite(db)
            s.err_sum[actor] += db[fin].sum()
            s.err_n[actor] += fin.sum()
            s.undefined[actor] += (~fin).sum()
    return s


def format_score(name: str, s: Score, actors: Sequence[int] = (0, 1, 2)) -> str:
    """One markdown table row: name, PCP per actor, average over ``actors``, error per actor."""
    pcp = 100 * s.pcp
    err = 1000 * s.mean_error
    cells = [f"{pcp[a]:.1f}" if s.frames[a] else "-" for a in range(len(pcp))]
    avg = float(np.mean(pcp[list(actors)]))
    errs = [f"{err[a]:.0f}" if s.frames[a] else "-" for a in range(len(err))]
    und = int(s.undefined[list(actors)].sum())
    return f"| {name} | " + " | ".join(cells) + f" | **{avg:.1f}** | " + " / ".join(errs) + f" | {und} |"


# ---------------------------------------------------------------------------- ceiling
def ceiling_limbs(
    cams: Sequence[Camera], frames: Sequence[Body25Frame], truth: np.ndarray, min_score: float = 0.1
) -> np.ndarray:
    """(12, 3) best 3D limb joints (Shelf order 0..11) any triangulation of these detections can
    give, chosen with the ground truth (an upper bound, not a method): per view the heatmap peak
    of the joint nearest to the true joint's projection (score >= ``min_score``, any grouping),
    then of every subset of >= 2 such views the DLT point nearest to the truth (NaN with fewer
    than 2 views). ``frames``: the views' BODY25 output of one frame; ``truth``: (>= 12, 3)."""
    C = len(cams)
    P = np.array([c.projection_matrix for c in cams])
    subsets = [s for r in range(2, C + 1) for s in itertools.combinations(range(C), r)]
    mask = np.zeros((len(subsets), C))
    for k, sub in enumerate(subsets):
        mask[k, list(sub)] = 1.0
    out = np.full((12, 3), np.nan)
    for sj, cj in enumerate(COCO_TO_SHELF12):
        uv = np.zeros((C, 2))
        w = np.zeros(C)
        for c, (cam, f) in enumerate(zip(cams, frames, strict=True)):
            pk = f.peaks[BODY25_TO_COCO[cj]]
            pk = pk[pk[:, 2] >= min_score]
            if len(pk):
                k = int(np.argmin(np.linalg.norm(pk[:, :2] - cam.project(truth[sj][None])[0], axis=1)))
                uv[c], w[c] = pk[k, :2], 1.0
        W = mask * w
        X = triangulate_dlt(P, np.broadcast_to(uv, (len(subsets), C, 2)), W)
        e = np.linalg.norm(X - truth[sj], axis=1)  # NaN where fewer than 2 views
        if np.isfinite(e).any():
            out[sj] = X[int(np.nanargmin(e))]
    return out
