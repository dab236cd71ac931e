"""The official HigherHRNet ``HeatmapParser``, stated plainly: the definition of the grouping.

A loop-style restatement of ``HeatmapParser.parse`` of HRNet/HigherHRNet-Human-Pose-Estimation
(``lib/core/group.py``) with the COCO test defaults, for one image, in numpy:

1. ``top_k``: a pixel is a peak when it equals the maximum of its ``nms_kernel`` x ``nms_kernel``
   window (max-pool, -inf padding); per joint the ``max_num_people`` strongest peaks are kept
   (ties in row-major pixel order), then those above ``detection_threshold``.
2. ``match_by_tag``: joints are visited in ``JOINT_ORDER``; each joint's peaks are assigned to
   the people found so far by a minimum-cost assignment on ``round(|tag - mean person tag|) *
   100 - score`` (L2 over the tag dimensions); a peak joins its person when the tag distance is
   below ``tag_threshold``, else it starts a new person. People are keyed by the first tag value
   of the peak that started them, like the official dictionary (collisions included).
3. ``adjust``: every found joint moves a quarter pixel towards its higher neighbour, plus 0.5.
4. person score: the mean of the J joint scores (0 for missing joints), before refine.
5. ``refine``: each missing joint of a person is taken at the first maximum of
   ``heatmap - round(|tag - mean person tag|)`` (quarter-pixel offset, +0.5) when its heatmap
   value there is > 0. Unlike the official code (first image of a batch only) this is done for
   the image given.

The assignment is SciPy's ``linear_sum_assignment`` on the rectangular cost (the official code
pads it with 1e10 columns for ``munkres``): both give a minimum-cost assignment, so results agree
except where several assignments of equal cost differ in outcome.

:func:`.grouping.parse_heatmaps` computes exactly this with compiled kernels (numba); this module
is what it runs when numba is missing (about 100x slower) and what the tests compare it with.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["JOINT_ORDER", "assign", "joint_order", "parse", "top_k"]

#: Official matching order of the COCO joints (head, shoulders, hips, arms, legs).
JOINT_ORDER: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)


def joint_order(n_joints: int) -> tuple[int, ...]:
    """:data:`JOINT_ORDER` for the 17 COCO joints, else the joints in index order."""
    return JOINT_ORDER if n_joints == len(JOINT_ORDER) else tuple(range(n_joints))


def top_k(det: np.ndarray, tag: np.ndarray, max_num_people: int, nms_kernel: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Official ``top_k``: NMS by max-pool, then the ``max_num_people`` strongest per joint.

    Args:
        det: ``(J, H, W)`` float32 heatmaps; tag: ``(J, H, W, D)`` float32 tags.

    Returns:
        ``tag_k (J, K, D)``, ``loc_k (J, K, 2)`` integer ``(x, y)``, ``val_k (J, K)`` (NMS value:
        0 where a pixel is not a peak), strongest first.
    """
    n_joints, h, w = det.shape
    pad = nms_kernel // 2
    padded = np.full((n_joints, h + 2 * pad, w + 2 * pad), -np.inf, np.float32)
    padded[:, pad:pad + h, pad:pad + w] = det
    window_max = np.full_like(det, -np.inf)
    for dy in range(nms_kernel):
        for dx in range(nms_kernel):
            window_max = np.maximum(window_max, padded[:, dy:dy + h, dx:dx + w])
    nms = (det * (window_max == det)).reshape(n_joints, -1)
    ind = np.argsort(-nms, axis=1, kind="stable")[:, :max_num_people]
    val_k = np.take_along_axis(nms, ind, axis=1)
    tag_k = np.take_along_axis(tag.reshape(n_joints, h * w, -1), ind[:, :, None], axis=1)
    loc_k = np.stack([ind % w, ind // w], axis=2)
    return tag_k, loc_k, val_k


def assign(cost: np.ndarray, dist: np.ndarray, tag_threshold: float) -> np.ndarray:
    """The person each peak joins: ``(n,)`` column of ``cost (n, P)`` in a minimum-cost
    assignment when its tag distance ``dist`` is below ``tag_threshold``, else -1 (a new
    person)."""
    rows, cols = linear_sum_assignment(cost)
    out = np.full(len(cost), -1)
    joins = dist[rows, cols] < tag_threshold
    out[rows[joins]] = cols[joins]
    return out


def match_by_tag(tag_k: np.ndarray, loc_k: np.ndarray, val_k: np.ndarray,
                 detection_threshold: float, tag_threshold: float, max_num_people: int,
                 use_detection_val: bool, ignore_too_much: bool) -> np.ndarray:
    """Official ``match_by_tag``: people ``(P, J, 3 + D)`` float32 rows ``(x, y, score, tags)``
    in order of creation."""
    n_joints, _, dim = tag_k.shape
    default = np.zeros((n_joints, 3 + dim))
    joint_dict: dict[float, np.ndarray] = {}
    tag_dict: dict[float, list[np.ndarray]] = {}
    for i, idx in enumerate(joint_order(n_joints)):
        tags = tag_k[idx]
        joints = np.concatenate((loc_k[idx], val_k[idx, :, None], tags), 1)
        mask = joints[:, 2] > detection_threshold
        tags, joints = tags[mask], joints[mask]
        if len(joints) == 0:
            continue
        if i == 0 or len(joint_dict) == 0:
            for t, jt in zip(tags, joints):
                joint_dict.setdefault(t[0], np.copy(default))[idx] = jt
                tag_dict[t[0]] = [t]
            continue
        grouped_keys = list(joint_dict.keys())[:max_num_people]
        if ignore_too_much and len(grouped_keys) == max_num_people:
            continue
        grouped_tags = np.array([np.mean(tag_dict[k], axis=0) for k in grouped_keys])
        dist = np.linalg.norm(joints[:, None, 3:] - grouped_tags[None, :, :], ord=2, axis=2)
        cost = np.round(dist) * 100 - joints[:, 2:3] if use_detection_val else dist
        for row, col in enumerate(assign(cost, dist, tag_threshold)):
            if col >= 0:
                key = grouped_keys[col]
                joint_dict[key][idx] = joints[row]
                tag_dict[key].append(tags[row])
            else:
                key = tags[row][0]
                joint_dict.setdefault(key, np.copy(default))[idx] = joints[row]
                tag_dict[key] = [tags[row]]
    if not joint_dict:
        return np.zeros((0, n_joints, 3 + dim), np.float32)
    return np.array([joint_dict[k] for k in joint_dict]).astype(np.float32)


def _quarter_step(m: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """+-0.25 towards the higher horizontal / vertical neighbour of ``m[y, x]`` (ties -0.25)."""
    h, w = m.shape
    dx = 0.25 if m[y, min(x + 1, w - 1)] > m[y, max(x - 1, 0)] else -0.25
    dy = 0.25 if m[min(y + 1, h - 1), x] > m[max(y - 1, 0), x] else -0.25
    return dx, dy


def adjust_people(people: np.ndarray, det: np.ndarray) -> None:
    """Official ``adjust`` in place: quarter-pixel shift of every found joint, plus 0.5."""
    for person in people:
        for j, joint in enumerate(person):
            if joint[2] > 0:
                x, y = joint[0:2]
                dx, dy = _quarter_step(det[j], int(x), int(y))
                joint[0:2] = (x + dx + 0.5, y + dy + 0.5)


def refine_person(det: np.ndarray, tag: np.ndarray, keypoints: np.ndarray) -> None:
    """Official ``refine`` of one person ``keypoints (J, 3 + D)`` in place: fill its missing
    joints from the maps."""
    tags = [tag[j, int(y), int(x)] for j, (x, y) in enumerate(keypoints[:, :2].astype(np.int32))
            if keypoints[j, 2] > 0]
    prev_tag = np.mean(tags, axis=0)
    for j in range(len(keypoints)):
        if keypoints[j, 2] > 0:
            continue  # the official code computes it too, then keeps the found joint
        m = det[j]
        dist = ((tag[j] - prev_tag[None, None, :]) ** 2).sum(axis=2) ** 0.5
        y, x = np.unravel_index(np.argmax(m - np.round(dist)), m.shape)
        if m[y, x] > 0:
            dx, dy = _quarter_step(m, x, y)
            keypoints[j, :3] = (x + 0.5 + dx, y + 0.5 + dy, m[y, x])


def parse(det: np.ndarray, tag: np.ndarray, detection_threshold: float = 0.1,
          tag_threshold: float = 1.0, max_num_people: int = 30, nms_kernel: int = 5,
          use_detection_val: bool = True, ignore_too_much: bool = False, adjust: bool = True,
          refine: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Official ``HeatmapParser.parse`` of one image (parameters: see
    :func:`.grouping.parse_heatmaps`).

    Args:
        det: ``(J, H, W)`` float32 heatmaps; tag: ``(J, H, W, D)`` float32 tags.

    Returns:
        ``people (P, J, 3 + D)`` float32 and ``person_scores (P,)`` float32.
    """
    people = match_by_tag(*top_k(det, tag, max_num_people, nms_kernel), detection_threshold,
                          tag_threshold, max_num_people, use_detection_val, ignore_too_much)
    if adjust:
        adjust_people(people, det)
    scores = np.array([p[:, 2].mean() for p in people], np.float32)
    if refine:
        for person in people:
            refine_person(det, tag, person)
    return people, scores
