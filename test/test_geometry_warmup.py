"""The geometry warm-up compiles every kernel a real reconstruction uses.

Run in a fresh interpreter with an empty numba cache, so that "compiled" means compiled by the
warm-up and not by an earlier test in this process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import importlib, json, pkgutil
import numpy as np
from numba.core.registry import CPUDispatcher
import ros2_mvpose.geometry as g
from ros2_mvpose.geometry.warmup import warm_up_geometry

def dispatchers():
    out = {}
    for m in pkgutil.iter_modules(g.__path__):
        mod = importlib.import_module(f"ros2_mvpose.geometry.{m.name}")
        for name, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher):
                out[f"{m.name}.{name}"] = obj
    return out

took = warm_up_geometry()
before = {k: len(d.signatures) for k, d in dispatchers().items()}

# a real rig (the sample: plumb_bob lenses, 5 cameras) with 4 people, float32 and list inputs
from ros2_mvpose.geometry import load_rig, Reconstructor
from ros2_mvpose.geometry.synthetic import render_views, walking_people
cams = load_rig("sample/rig.yaml").to_cameras()
seq = walking_people(4, 12, seed=3)
rec = Reconstructor(cams, smoothing=True)
rng = np.random.default_rng(1)
for f in range(seq.n_frames):
    views, _ = render_views(cams, seq.joints[f], rng, noise_px=2.0, outlier_rate=0.1,
                            drop_rate=0.1, false_rate=0.3)
    if f % 2:
        views = [v.astype(np.float32) for v in views]
    if f % 3 == 0:
        views = [v.tolist() for v in views]
    rec.update(views, float(seq.stamps[f]))
after = {k: len(d.signatures) for k, d in dispatchers().items()}
print(json.dumps({"took": took, "before": before, "after": after}))
"""


def test_warm_up_compiles_every_kernel_a_reconstruction_uses(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["before"], "no numba kernel found in ros2_mvpose.geometry"
    new = {k: (res["before"].get(k, 0), n) for k, n in res["after"].items() if n != res["before"].get(k, 0)}
    assert not new, f"kernels compiled after the warm-up (name: before, after signatures): {new}"
    ran = [k for k, n in res["before"].items() if n > 0]
    assert len(ran) >= 5, f"the warm-up compiled almost nothing: {ran}"
    for kernel in ("triangulation._ray_kernel", "anatomy._reject", "triangulation._robust_kernel"):
        assert res["before"].get(kernel, 0) > 0, f"the warm-up did not run {kernel}: {ran}"
