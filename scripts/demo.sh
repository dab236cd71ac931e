#!/usr/bin/env bash
# Sets up the environment if needed, then runs the full pipeline on the built-in sample.
# Usage: bash scripts/demo.sh [mvpose demo args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
VENV=${MVPOSE_VENV:-.venv}
exec "$VENV/bin/mvpose" demo "$@"
