#!/usr/bin/env bash
# Proves that colcon builds ros2_mvpose as an ament_python package and installs the layout that
# `ros2 run`, `ros2 launch` and the ament index expect, in both install modes (copy and
# --symlink-install). Needs no ROS install: colcon and catkin_pkg come from PyPI into a throwaway
# venv (first run only; PyPI or the configured index must be reachable then).
#
# Usage: bash scripts/check_colcon.sh
# Env:   MVPOSE_COLCON_VENV  venv for colcon             (default /tmp/mvpose-colcon-venv)
#        SETUPTOOLS_VERSION  setuptools in that venv     (default 68.1.2 = Ubuntu 24.04's, what Jazzy uses)
#        MVPOSE_VENV         project venv for the smoke run of the installed package (default .venv;
#                            skipped when missing)
#        KEEP_WS=1           keep the temporary workspaces (printed) instead of deleting them
# Exit status 0 when every check passed; the first failed check is printed with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
PKG=ros2_mvpose
CVENV=${MVPOSE_COLCON_VENV:-/tmp/mvpose-colcon-venv}
SETUPTOOLS_VERSION=${SETUPTOOLS_VERSION:-68.1.2}
PVENV=${MVPOSE_VENV:-.venv}
case "$PVENV" in /*) ;; *) PVENV=$SRC/$PVENV ;; esac
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

fail() { echo "[check_colcon] FAIL: $*" >&2; exit 1; }
say() { echo "[check_colcon] $*"; }

# 1. colcon in its own venv (never the project's)
WANT="colcon-common-extensions catkin_pkg setuptools==$SETUPTOOLS_VERSION"
if [ ! -x "$CVENV/bin/colcon" ] || [ "$(cat "$CVENV/.stamp" 2>/dev/null)" != "$WANT" ]; then
  say "creating $CVENV ($WANT)"
  rm -rf "$CVENV"
  "$PY" -m venv "$CVENV"
  # shellcheck disable=SC2086
  "$CVENV/bin/python" -m pip install -q $WANT 2>&1 | grep -v "^WARNING: Location" || true
  [ -x "$CVENV/bin/colcon" ] || fail "colcon did not install into $CVENV"
  echo "$WANT" > "$CVENV/.stamp"
fi
say "colcon-core $("$CVENV/bin/python" -c 'import colcon_core; print(colcon_core.__version__)'), setuptools $("$CVENV/bin/python" -c 'import setuptools; print(setuptools.__version__)')"

# 2. package.xml as colcon and rosdep read it (catkin_pkg, strict format-3 validation)
"$CVENV/bin/python" - "$SRC/package.xml" <<'EOF' || fail "package.xml does not validate"
import sys
from catkin_pkg.package import parse_package
warnings = []
pkg = parse_package(sys.argv[1], warnings=warnings)
pkg.validate(warnings=warnings)
assert not warnings, warnings
assert pkg.package_format == 3 and pkg.get_build_type() == "ament_python", (pkg.package_format, pkg.get_build_type())
print(f"[check_colcon] package.xml: format {pkg.package_format}, {pkg.name} {pkg.version}, "
      f"{len(pkg.exec_depends)} exec / {len(pkg.test_depends)} test dependencies")
EOF

# the files a clone of the repository has: tracked plus untracked-but-not-ignored
FILES=$(mktemp)
WS=""
cleanup() {
  rm -f "$FILES"
  if [ -n "$WS" ] && [ "${KEEP_WS:-0}" != 1 ]; then rm -rf "$WS"; fi
}
trap cleanup EXIT
if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$SRC" ls-files -z --cached --others --exclude-standard > "$FILES"
else
  (cd "$SRC" && find . -path ./.venv -prune -o -path ./.git -prune -o -type f -print0 | sed -z 's|^\./||') > "$FILES"
fi

for MODE in copy symlink; do
  WS=$(mktemp -d /tmp/mvpose-colcon-ws.XXXXXX)
  mkdir -p "$WS/src/$PKG"
  (cd "$SRC" && xargs -0 -a "$FILES" cp --parents -t "$WS/src/$PKG" 2>/dev/null) || true
  ARGS=(build --packages-select "$PKG")
  [ "$MODE" = symlink ] && ARGS+=(--symlink-install)
  say "[$MODE] colcon ${ARGS[*]} in $WS"
  # 3. colcon finds it as a ROS ament_python package
  (cd "$WS" && "$CVENV/bin/colcon" list) | grep -qE "^$PKG\s.*\(ros\.ament_python\)" \
    || fail "colcon list does not see $PKG as ros.ament_python"
  (cd "$WS" && "$CVENV/bin/colcon" "${ARGS[@]}" > "$WS/build.out" 2>&1) \
    || { cat "$WS/build.out" >&2; fail "[$MODE] colcon build failed (log above)"; }
  I=$WS/install/$PKG
  # 4. installed layout
  for exe in detector_node triangulator_node mvpose; do
    [ -x "$I/lib/$PKG/$exe" ] || fail "[$MODE] missing executable lib/$PKG/$exe"
  done
  [ -f "$I/share/ament_index/resource_index/packages/$PKG" ] || fail "[$MODE] missing ament index marker"
  [ -f "$I/share/$PKG/package.xml" ] || fail "[$MODE] missing share/$PKG/package.xml"
  # every data file of the source tree is installed under share/ros2_mvpose at the same path
  n=0
  while IFS= read -r -d '' f; do
    case "$f" in
      launch/*.py | config/*.yaml | config/*.rviz | checkpoints/*.md | sample/*) ;;
      *) continue ;;
    esac
    case "/$f" in */__pycache__/* | */.*) continue ;; esac
    [ -f "$I/share/$PKG/$f" ] || fail "[$MODE] $f is not installed as share/$PKG/$f"
    if [ "$MODE" = symlink ]; then [ -L "$I/share/$PKG/$f" ] || fail "[$MODE] share/$PKG/$f is not a symlink"; fi
    n=$((n + 1))
  done < "$FILES"
  for f in launch/multi_cam.launch.py config/multi_cam.yaml; do
    [ -f "$I/share/$PKG/$f" ] || fail "[$MODE] share/$PKG/$f missing"
  done
  say "[$MODE] layout ok: lib/$PKG/{detector_node,triangulator_node,mvpose}, ament index marker, $n data files under share/$PKG"

  # 5. smoke run with the project's Python (colcon's venv has no numpy/rclpy): what `ros2 run`
  #    resolves (prefix from the ament index + lib/<pkg>/<exe>) and imports from the install space
  if [ -x "$PVENV/bin/python" ]; then
    (
      set +u
      # shellcheck disable=SC1091
      source "$WS/install/setup.bash"
      set -u
      cd /tmp
      "$PVENV/bin/python" - "$WS" <<'EOF'
import os, subprocess, sys
from pathlib import Path
from ament_index_python.packages import get_package_prefix, get_package_share_directory
ws = Path(sys.argv[1])
prefix = Path(get_package_prefix("ros2_mvpose"))
assert prefix == ws / "install" / "ros2_mvpose", prefix
import ros2_mvpose
from ros2_mvpose.cli.common import find_sample_dir
from ros2_mvpose.nodes import detector_node, triangulator_node
assert callable(detector_node.main) and callable(triangulator_node.main)
mod = Path(ros2_mvpose.__file__).resolve()
src = ws / "src" / "ros2_mvpose"
assert str(mod).startswith(str(prefix)) or str(mod).startswith(str(src)) or \
    str(mod).startswith(str(ws / "build")), f"imported {mod}, not the workspace's copy"
share = Path(get_package_share_directory("ros2_mvpose"))
if (share / "sample" / "rig.yaml").exists():
    # same files (a symlink install resolves to the source tree's sample)
    found = (find_sample_dir() / "rig.yaml").resolve()
    assert found == (share / "sample" / "rig.yaml").resolve(), found
out = subprocess.run([sys.executable, str(prefix / "lib/ros2_mvpose/mvpose"), "--help"],
                     capture_output=True, text=True, check=True).stdout
assert out.startswith("usage: mvpose"), out[:200]
print(f"[check_colcon] smoke ok: ros2_mvpose from {mod.parent}, share {share}, `mvpose --help` runs")
EOF
    ) || fail "[$MODE] smoke run of the installed package failed"
  else
    say "[$MODE] no project venv at $PVENV: smoke run skipped"
  fi
  if [ "${KEEP_WS:-0}" = 1 ]; then say "[$MODE] kept $WS"; else rm -rf "$WS"; fi
  WS=""
done
say "all checks passed"
