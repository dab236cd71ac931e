"""3D multi-person tracking with stable ids (optional smoothing: :mod:`.smoothing`).

The tracker assigns each frame's 3D skeletons to live tracks by the Hungarian method on the mean
joint distance (metres), gated by ``max_distance``. A new track is *tentative* until it has been
matched in ``n_init`` consecutive frame sets (birth hysteresis; a tentative track that misses
one frame is dropped; ``2 n_init`` when it never had strong evidence, e.g. only two cameras,
whose epipolar geometry alone can pair up detections of different people) and then gets the
next public id; a confirmed track survives ``max_age``
seconds without a match (death hysteresis). Ids are never reused. During the first ``n_init``
frame sets after construction or :meth:`Tracker.reset`, new tracks marked ``strong`` (e.g. seen
by three or more cameras) are confirmed at once (as SORT does at start-up), so that the people
present at start-up are reported from the first frame set.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.optimize import linear_sum_assignment

from ros2_mvpose.geometry.smoothing import OneEuroFilter

__all__ = ["Track", "Tracker"]

_F64 = np.dtype(np.float64)
_NO_INDEX = np.zeros(0, dtype=np.intp)


class Track:
    """One tracked person (internal state of :class:`Tracker`).

    Attributes:
        key: internal, unique per tracker (tentative tracks have one too).
        id: public id once confirmed, else None.
        joints: (17, 3) last matched skeleton, metres (NaN where unknown).
        output: (17, 3) last reported skeleton (smoothed when smoothing is on).
        velocity: (3,) centroid velocity, metres/second.
        last_stamp: time of the last match, seconds.
        hits: matched frame sets (consecutive until confirmed).
        strong: seen at least once with strong evidence (e.g. by three or more cameras).
    """

    __slots__ = ("key", "id", "joints", "output", "velocity", "last_stamp", "hits", "filter", "strong")

    def __init__(self, key: int, joints: np.ndarray, stamp: float, filt: OneEuroFilter | None) -> None:
        self.key = key
        self.id: int | None = None
        self.joints = joints.copy()
        self.velocity = np.zeros(3)
        self.last_stamp = stamp
        self.hits = 1
        self.strong = False
        self.filter = filt
        self.output = filt(joints, stamp) if filt is not None else self.joints

    @property
    def confirmed(self) -> bool:
        return self.id is not None


def _assign_min(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment (rows, cols) of a (T, N) matrix (Hungarian, with a fast path)."""
    T, N = cost.shape
    if T <= N:
        best = np.argmin(cost, axis=1)
        if np.bincount(best, minlength=1).max() <= 1:  # every row gets its minimum: optimal
            return np.arange(T), best
    else:
        best = np.argmin(cost, axis=0)
        if np.bincount(best, minlength=1).max() <= 1:
            return best, np.arange(N)
    return linear_sum_assignment(cost)


def _pose_distances(a: np.ndarray, b: np.ndarray, min_common: int) -> np.ndarray:
    """Mean joint distance (T, N) between poses a (T, 17, 3) and b (N, 17, 3); inf if < min_common."""
    d = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))  # (T, N, 17), NaN where either unknown
    ok = np.isfinite(d)
    n = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, d, 0.0).sum(-1) / n
    return np.where(n >= min_common, mean, np.inf)


@njit(cache=True, error_model="numpy")
def _predict(last: np.ndarray, vel: np.ndarray, stamps: np.ndarray, stamp: float, max_age: float
             ) -> np.ndarray:
    """``last`` (T, 17, 3) moved by ``vel`` (T, 3) over ``stamp - stamps`` (T,) clipped to [0, max_age]."""
    out = np.empty_like(last)
    for k in range(last.shape[0]):
        dt = min(max(stamp - stamps[k], 0.0), max_age)
        for j in range(last.shape[1]):
            for i in range(3):
                out[k, j, i] = last[k, j, i] + vel[k, i] * dt
    return out


@njit(cache=True, error_model="numpy")
def _velocities(new: np.ndarray, last: np.ndarray, vel: np.ndarray, stamps: np.ndarray, stamp: float
                ) -> np.ndarray:
    """Centroid velocities (T, 3) m/s smoothed by an EMA of 0.5: mean displacement over the joints
    known in both ``new`` and ``last`` (T, 17, 3) divided by ``stamp - stamps`` (T,) seconds;
    ``vel`` (T, 3) where no joint is shared or dt <= 0."""
    out = vel.copy()
    for k in range(new.shape[0]):
        sx = sy = sz = 0.0
        n = 0
        for j in range(new.shape[1]):
            dx = new[k, j, 0] - last[k, j, 0]
            if dx == dx:
                sx += dx
                sy += new[k, j, 1] - last[k, j, 1]
                sz += new[k, j, 2] - last[k, j, 2]
                n += 1
        dt = stamp - stamps[k]
        if n and dt > 0:
            q = n * dt
            out[k, 0] = 0.5 * vel[k, 0] + 0.5 * (sx / q)
            out[k, 1] = 0.5 * vel[k, 1] + 0.5 * (sy / q)
            out[k, 2] = 0.5 * vel[k, 2] + 0.5 * (sz / q)
    return out


class Tracker:
    """Stable-id tracker for 3D skeletons.

    Args:
        max_distance: gate on the mean joint distance between a track and a skeleton, metres
            (distance to the constant-velocity prediction or to the last position, whichever
            is smaller).
        n_init: consecutive matches before a track is confirmed and gets an id (>= 1).
        max_age: seconds a confirmed track survives without a match.
        smoothing: apply a :class:`OneEuroFilter` per track to the reported joints.
        min_cutoff, beta, d_cutoff: One Euro parameters (Hz, Hz/(m/s), Hz).
        min_common_joints: joints two skeletons must share to be compared.
    """

    def __init__(
        self,
        max_distance: float = 0.5,
        n_init: int = 2,
        max_age: float = 1.0,
        smoothing: bool = False,
        min_cutoff: float = 1.0,
        beta: float = 0.5,
        d_cutoff: float = 1.0,
        min_common_joints: int = 3,
    ) -> None:
        if not (math.isfinite(max_distance) and max_distance > 0):
            raise ValueError(f"Tracker: max_distance must be > 0 metres, got {max_distance!r}")
        if isinstance(n_init, bool) or int(n_init) != n_init or n_init < 1:
            raise ValueError(f"Tracker: n_init must be an integer >= 1, got {n_init!r}")
        if not (max_age >= 0 and math.isfinite(max_age)):
            raise ValueError(f"Tracker: max_age must be >= 0 seconds, got {max_age!r}")
        mcj = min_common_joints
        if isinstance(mcj, bool) or int(mcj) != mcj or mcj < 1:
            raise ValueError(f"Tracker: min_common_joints must be an integer >= 1, got {min_common_joints!r}")
        self.max_distance = float(max_distance)
        self.n_init = int(n_init)
        self.max_age = float(max_age)
        self.smoothing = bool(smoothing)
        self._filter_args = (min_cutoff, beta, d_cutoff)
        if self.smoothing:
            OneEuroFilter(*self._filter_args)  # validate now
        self.min_common_joints = int(min_common_joints)
        self._next_id = 0
        self._next_key = 0
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (ids keep increasing: they are never reused)."""
        self.tracks: list[Track] = []
        self._frames = 0
        self._cache()

    def _cache(self) -> None:
        """Stack the live tracks' state into arrays (used by predict and update)."""
        tr = self.tracks
        if tr:
            self._last = np.stack([t.joints for t in tr])
            self._vel = np.stack([t.velocity for t in tr])
            self._stamps = np.array([t.last_stamp for t in tr], dtype=float)
        else:
            self._last = np.zeros((0, 17, 3))
            self._vel = np.zeros((0, 3))
            self._stamps = np.zeros(0)
        self._index = np.arange(len(tr))
        self._index_list = self._index.tolist()

    def predict(self, stamp: float) -> np.ndarray:
        """(T, 17, 3) constant-velocity predictions of the live tracks (order of :attr:`tracks`), metres.

        The extrapolation interval is clipped to [0, max_age].
        """
        return _predict(self._last, self._vel, self._stamps, float(stamp), self.max_age)

    def update(
        self,
        poses: np.ndarray,
        stamp: float,
        strong: np.ndarray | None = None,
        hints: np.ndarray | None = None,
    ) -> list[Track | None]:
        """Match ``poses`` (N, 17, 3) observed at ``stamp`` seconds to tracks.

        Args:
            poses: (N, 17, 3) skeletons, metres (NaN joints allowed).
            stamp: seconds.
            strong: (N,) bool, poses with strong evidence (default: all). A track confirms
                after ``n_init`` consecutive matches if it was ever strong, else after
                ``2 n_init``; during the start-up frame sets strong poses confirm at once.
            hints: (N,) int, index into :attr:`tracks` (as they were before this call) that
                a pose is already known to belong to (e.g. from 2D association), or -1.
                Hinted poses take their track directly; the others are assigned by distance.

        Returns:
            For each pose, its track when that track is confirmed, else None.
        """
        if type(poses) is not np.ndarray or poses.dtype is not _F64:
            poses = np.asarray(poses, dtype=float)
        N = poses.shape[0]
        tracks = self.tracks
        T = len(tracks)
        out: list[Track | None] = [None] * N
        rows = cols = _NO_INDEX  # matched (track, pose) pairs
        if T and N:
            if hints is not None:
                if type(hints) is not np.ndarray:
                    hints = np.asarray(hints, dtype=np.intp)
                if N == T and hints.tolist() == self._index_list:  # the steady state
                    rows = cols = self._index
                else:
                    hints = np.asarray(hints, dtype=np.intp)
                    cols = np.flatnonzero((hints >= 0) & (hints < T))
                    rows = hints[cols]
                    if np.bincount(rows, minlength=1).max() > 1:
                        raise ValueError("Tracker.update: two poses hinted to the same track")
            if rows.size < min(T, N):  # the others by distance
                ft = np.setdiff1d(self._index, rows)
                fp = np.setdiff1d(np.arange(N), cols)
                Tf = ft.size
                d = _pose_distances(np.concatenate([self.predict(stamp)[ft], self._last[ft]]), poses[fp],
                                    self.min_common_joints)
                gated = np.minimum(d[:Tf], d[Tf:])
                gated[~(gated <= self.max_distance)] = 1e6
                r, c = _assign_min(gated)
                good = gated[r, c] < 1e6
                rows = np.concatenate([rows, ft[r[good]]])
                cols = np.concatenate([cols, fp[c[good]]])
        if rows.size:
            # (a copy: the tracks' state must not alias the caller's array)
            if rows is self._index:
                new = poses.copy()
                vel = _velocities(new, self._last, self._vel, self._stamps, stamp)
            else:
                new = poses[cols]
                vel = _velocities(new, self._last[rows], self._vel[rows], self._stamps[rows], stamp)
            n_init = self.n_init
            strong_l = None if strong is None else np.asarray(strong, dtype=bool).tolist()
            rl = self._index_list if rows is self._index else rows.tolist()
            for k, (r, c) in enumerate(zip(rl, rl if cols is rows else cols.tolist(), strict=True)):
                trk = tracks[r]
                trk.velocity = vel[k]
                trk.joints = x = new[k]
                trk.last_stamp = stamp
                trk.hits += 1
                trk.output = trk.filter(x, stamp) if trk.filter is not None else x
                if strong_l is None or strong_l[c]:
                    trk.strong = True
                if trk.id is None and trk.hits >= (n_init if trk.strong else 2 * n_init):
                    trk.id = self._new_id()
                out[c] = trk if trk.id is not None else None
        changed = rows.size < T
        # Deaths: tentative tracks die on their first miss, confirmed ones after max_age seconds.
        if changed:
            matched = set(rows.tolist())
            self.tracks = [
                t
                for i, t in enumerate(tracks)
                if i in matched or (t.id is not None and stamp - t.last_stamp <= self.max_age)
            ]
        if cols.size < N:  # births
            warm_up = self._frames < self.n_init
            taken = set(cols.tolist())
            for i in range(N):
                if i in taken:
                    continue
                changed = True
                filt = OneEuroFilter(*self._filter_args) if self.smoothing else None
                trk = Track(self._next_key, poses[i], stamp, filt)
                trk.strong = strong is None or bool(strong[i])
                self._next_key += 1
                if self.n_init <= 1 or (warm_up and trk.strong):
                    trk.id = self._new_id()
                    out[i] = trk
                self.tracks.append(trk)
        self._frames += 1
        if changed:
            self._cache()
        elif rows is self._index:  # same tracks in the same order, all matched
            self._last, self._vel = new, vel
            self._stamps.fill(stamp)
        elif rows.size:  # same tracks, all matched: update the stacked state in place
            self._last[rows] = new
            self._vel[rows] = vel
            self._stamps[rows] = stamp
        return out

    def _new_id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i
