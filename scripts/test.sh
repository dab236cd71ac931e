#!/usr/bin/env bash
# Sets up the environment if needed, then runs lint and the whole test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
VENV=${MVPOSE_VENV:-.venv}
"$VENV/bin/ruff" check .
exec "$VENV/bin/python" -m pytest -q -ra "$@"
