"""A vectorised, NaN-aware One Euro filter for skeleton joints (the tracker's optional smoothing)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["OneEuroFilter"]


class OneEuroFilter:
    """One Euro filter (Casiez et al., CHI 2012) on arrays of points, NaN-aware.

    Filters (J, D) arrays (J points of dimension D, e.g. 17 joints x 3 metres) sampled at
    arbitrary times. The cutoff of each point adapts to the norm of its speed:
    ``cutoff = min_cutoff + beta * |dx/dt|``.

    Args:
        min_cutoff: minimum cutoff frequency, Hz (lower = smoother at rest).
        beta: speed coefficient, Hz per (unit/s) (higher = less lag when moving).
        d_cutoff: cutoff frequency for the speed estimate, Hz.

    A point that is NaN in the input is NaN in the output and its state restarts when it
    comes back. A repeated or earlier time stamp returns the previous output unchanged.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0) -> None:
        for label, v in (("min_cutoff", min_cutoff), ("d_cutoff", d_cutoff)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"OneEuroFilter: {label} must be a positive number (Hz), got {v!r}")
        if not (math.isfinite(beta) and beta >= 0):
            raise ValueError(f"OneEuroFilter: beta must be >= 0, got {beta!r}")
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter one sample ``x`` (J, D) taken at time ``t`` seconds; returns (J, D)."""
        x = np.asarray(x, dtype=float)
        if x.ndim == 1:
            return self(x[:, None], t)[:, 0]
        if self._x is None or self._x.shape != x.shape:
            self._x = x.copy()
            self._dx = np.zeros_like(x)
            self._t = float(t)
            return x.copy()
        dt = float(t) - self._t
        if not dt > 0:
            return self._x.copy()
        fresh = np.isnan(self._x).any(-1) & ~np.isnan(x).any(-1)
        dx = (x - self._x) / dt
        dx[fresh] = 0.0
        edx = self._alpha(self.d_cutoff, dt) * dx + (1.0 - self._alpha(self.d_cutoff, dt)) * self._dx
        speed = np.sqrt(np.einsum("jd,jd->j", edx, edx))
        a = self._alpha(self.min_cutoff + self.beta * speed, dt)[:, None]
        out = a * x + (1.0 - a) * self._x
        out[fresh] = x[fresh]
        self._x = out
        self._dx = np.where(np.isnan(edx), 0.0, edx)
        self._t = float(t)
        return out.copy()
