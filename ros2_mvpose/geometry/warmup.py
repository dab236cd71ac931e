"""Compile (or load from numba's cache) every geometry kernel before the first real frame set.

The geometry core runs as numba kernels compiled on first use: ~30 s of CPU after a fresh
install, well under a second once numba's on-disk cache holds them. A live node that compiled
them on its first frame set would sit silent for that long with cameras streaming; the triangulator node calls
:func:`warm_up_geometry` at start-up instead, where a log line can say what is happening.
"""

from __future__ import annotations

import time

import numpy as np

from ros2_mvpose.geometry.synthetic import render_views, ring_rig, walking_people

#: the lens models whose kernels a warm-up compiles (every model the Camera supports)
_LENSES = (
    ("plumb_bob", (-0.2, 0.05, 0.001, -0.001, 0.0)),
    ("rational_polynomial", (-0.2, 0.05, 0.001, -0.001, 0.0, 0.01, 0.0, 0.0)),
    ("equidistant", (0.01, -0.002, 0.0, 0.0)),
)


def warm_up_geometry(frames: int = 4) -> float:
    """Run a small synthetic scene (2 people, 3 cameras per lens model, outliers, missed joints
    and a phantom) through a throw-away Reconstructor so that every geometry kernel is compiled
    or loaded.

    Returns the wall time it took in seconds. Touches no global state besides numba's cache.
    """
    from ros2_mvpose.geometry.reconstructor import Reconstructor

    t0 = time.perf_counter()
    seq = walking_people(2, frames, seed=0)
    rng = np.random.default_rng(0)
    for model, dist in _LENSES:
        cams = ring_rig(3, distortion=dist, distortion_model=model)
        rec = Reconstructor(cams)
        for f in range(frames):
            views, _ = render_views(cams, seq.joints[f], rng, noise_px=1.0, outlier_rate=0.1,
                                    drop_rate=0.2, false_rate=0.5)
            rec.update(views, float(seq.stamps[f]))
    return time.perf_counter() - t0
