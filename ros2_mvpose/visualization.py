"""Pictures for people: 2D keypoint overlays and a 3D view of skeletons, drawn with OpenCV only.

All images are ``(H, W, 3)`` uint8 BGR.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ros2_mvpose.skeleton import COCO17_LIMBS

_PALETTE = np.array(
    [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ],
    dtype=np.float64,
)


def track_color(track_id: int) -> tuple[float, float, float]:
    """A stable RGB colour in [0, 1] for a track id (same palette in RViz markers and pictures)."""
    return tuple((_PALETTE[int(track_id) % len(_PALETTE)] / 255.0).tolist())


def _bgr(track_id: int) -> tuple[int, int, int]:
    r, g, b = _PALETTE[int(track_id) % len(_PALETTE)]
    return int(b), int(g), int(r)


def draw_keypoints(
    image: np.ndarray,
    keypoints: np.ndarray,
    ids: Sequence[int] | None = None,
    min_score: float = 0.2,
    label: str | None = None,
) -> np.ndarray:
    """Draw ``(P, 17, 3)`` keypoints (u, v, score in raw pixels) on a copy of ``image``.

    Joints with a score below ``min_score`` are not drawn; ``ids`` colours people (default: index).
    """
    out = image.copy()
    if out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
    thick = max(1, round(max(out.shape[:2]) / 400))
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, 17, 3)
    for p, kp in enumerate(kps):
        col = _bgr(ids[p] if ids is not None else p)
        ok = (kp[:, 2] >= min_score) & np.all(np.isfinite(kp[:, :2]), axis=1)
        for a, b in COCO17_LIMBS:
            if ok[a] and ok[b]:
                cv2.line(out, _pt(kp[a]), _pt(kp[b]), col, thick, cv2.LINE_AA)
        for j in np.nonzero(ok)[0]:
            cv2.circle(out, _pt(kp[j]), thick + 2, col, -1, cv2.LINE_AA)
    if label:
        cv2.putText(
            out,
            label,
            (8, 8 + 14 * thick),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * thick,
            (255, 255, 255),
            thick,
            cv2.LINE_AA,
        )
    return out


def _pt(p) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def render_3d_view(
    skeletons: Sequence[tuple[int, np.ndarray]],
    camera_centers: np.ndarray | None = None,
    ground_truth: Sequence[np.ndarray] = (),
    size: tuple[int, int] = (800, 600),
    up: str = "z",
    title: str | None = None,
    trails: dict[int, np.ndarray] | None = None,
) -> np.ndarray:
    """A perspective 3D view of skeletons over a ground grid, looking obliquely from above.

    Args:
        skeletons: ``(track_id, joints (17, 3))`` pairs in world metres (NaN joints skipped).
        camera_centers: ``(C, 3)`` camera positions to draw as small squares (optional).
        ground_truth: ``(17, 3)`` skeletons drawn thin and grey for comparison.
        size: ``(width, height)`` of the picture in pixels.
        up: world axis pointing up, ``"z"`` or ``"y"`` or ``"-y"``.
        trails: optional ``{track_id: (T, 3)}`` past positions (e.g. pelvis) drawn as polylines.
    """
    w, h = size
    pts_all = [j for _, j in skeletons] + list(ground_truth)
    if not pts_all and camera_centers is not None and len(camera_centers):
        pts_all.append(np.asarray(camera_centers, dtype=np.float64))  # nobody: frame the rig
    cloud = (
        np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in pts_all])
        if pts_all
        else np.zeros((0, 3))
    )
    cloud = cloud[np.all(np.isfinite(cloud), axis=1)]
    up_vec = {
        "z": np.array([0.0, 0.0, 1.0]),
        "y": np.array([0.0, 1.0, 0.0]),
        "-y": np.array([0.0, -1.0, 0.0]),
    }[up]
    center = cloud.mean(axis=0) if len(cloud) else np.zeros(3)
    radius = max(1.2, float(np.percentile(np.linalg.norm(cloud - center, axis=1), 95)) if len(cloud) else 1.5)
    # horizontal axes
    a1 = np.cross(up_vec, [1.0, 0.0, 0.0] if abs(up_vec[0]) < 0.9 else [0.0, 1.0, 0.0])
    a1 /= np.linalg.norm(a1)
    a2 = np.cross(up_vec, a1)
    # oblique view; with several people, looking across the line they stand along (not down it,
    # where they would hide each other)
    look = 1.6 * a2 - 1.2 * a1
    cents = [np.nanmean(np.asarray(j, dtype=np.float64).reshape(-1, 3), axis=0) for _, j in skeletons
             if np.isfinite(np.asarray(j, dtype=np.float64)).all(axis=-1).any()]
    if len(cents) >= 2:
        flat = np.array(cents) - np.outer(np.array(cents) @ up_vec, up_vec)
        flat -= flat.mean(axis=0)
        along = np.linalg.svd(flat, full_matrices=False)[2][0]
        if np.linalg.norm(flat @ along, ord=np.inf) > 0.3:  # spread over more than ~0.6 m
            across = np.cross(up_vec, along)
            look = np.linalg.norm(look) * across * (1.0 if across @ look >= 0 else -1.0)
    eye = center + radius * (look + 1.3 * up_vec)
    fwd = center - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, up_vec)
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])
    t = -R @ eye
    f = 0.9 * min(w, h)
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])

    def proj(X):
        X = np.asarray(X, dtype=np.float64).reshape(-1, 3)
        xc = X @ R.T + t
        with np.errstate(invalid="ignore", divide="ignore"):
            uv = (xc @ K.T)[:, :2] / xc[:, 2:3]
        uv[xc[:, 2] <= 1e-6] = np.nan
        return uv

    img = np.full((h, w, 3), 250, np.uint8)
    # ground grid on the plane through the lowest point, perpendicular to up
    floor = float(np.min(cloud @ up_vec)) if len(cloud) else 0.0
    base = center - (center @ up_vec - floor) * up_vec
    ext = np.ceil(radius * 1.5)
    for s in np.arange(-ext, ext + 0.5, 0.5):
        for u_, v_ in ((a1, a2), (a2, a1)):
            seg = proj([base + s * u_ - ext * v_, base + s * u_ + ext * v_])
            if np.all(np.isfinite(seg)):
                cv2.line(img, _pt(seg[0]), _pt(seg[1]), (215, 215, 215), 1, cv2.LINE_AA)
    if camera_centers is not None:
        for i, c in enumerate(np.asarray(camera_centers, dtype=np.float64).reshape(-1, 3)):
            p = proj(c)[0]
            if np.all(np.isfinite(p)) and 0 <= p[0] < w and 0 <= p[1] < h:
                cv2.rectangle(
                    img, (int(p[0]) - 5, int(p[1]) - 5), (int(p[0]) + 5, int(p[1]) + 5), (60, 60, 60), 2
                )
                cv2.putText(
                    img,
                    f"cam{i + 1}",
                    (int(p[0]) + 7, int(p[1]) - 7),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.45,
                    (60, 60, 60),
                    1,
                    cv2.LINE_AA,
                )
    for gt in ground_truth:
        uv = proj(gt)
        for a, b in COCO17_LIMBS:
            if np.all(np.isfinite(uv[[a, b]])):
                cv2.line(img, _pt(uv[a]), _pt(uv[b]), (150, 150, 150), 1, cv2.LINE_AA)
    if trails:
        for tid, tr in trails.items():
            uv = proj(tr)
            uv = uv[np.all(np.isfinite(uv), axis=1)]
            if len(uv) > 1:
                cv2.polylines(img, [np.round(uv).astype(np.int32)], False, _bgr(tid), 1, cv2.LINE_AA)
    for tid, joints in skeletons:
        uv = proj(joints)
        col = _bgr(tid)
        for a, b in COCO17_LIMBS:
            if np.all(np.isfinite(uv[[a, b]])):
                cv2.line(img, _pt(uv[a]), _pt(uv[b]), col, 2, cv2.LINE_AA)
        ok = np.all(np.isfinite(uv), axis=1)
        for j in np.nonzero(ok)[0]:
            cv2.circle(img, _pt(uv[j]), 3, col, -1, cv2.LINE_AA)
        if ok.any():
            top = uv[ok][np.argmin(uv[ok][:, 1])]
            cv2.putText(
                img,
                f"id {tid}",
                (int(top[0]) - 15, int(top[1]) - 12),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.6,
                col,
                2,
                cv2.LINE_AA,
            )
    if title:
        cv2.putText(img, title, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (30, 30, 30), 1, cv2.LINE_AA)
    return img


def tile_images(images: Sequence[np.ndarray], cols: int = 3, width: int = 480) -> np.ndarray:
    """Tile images (resized to ``width`` pixels wide) into one mosaic, row-major."""
    tiles = []
    for im in images:
        s = width / im.shape[1]
        tiles.append(cv2.resize(im, (width, max(1, round(im.shape[0] * s))), interpolation=cv2.INTER_AREA))
    th = max(t.shape[0] for t in tiles)
    rows = []
    for r in range(0, len(tiles), cols):
        row = [np.pad(t, ((0, th - t.shape[0]), (0, 0), (0, 0))) for t in tiles[r : r + cols]]
        row += [np.zeros((th, width, 3), np.uint8)] * (cols - len(row))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)
