"""The ``mvpose`` command line: one subcommand per module in this package.

Each subcommand module exposes ``register(subparsers)`` which adds its parser and sets
``func`` to a callable ``func(args) -> int``. To add a subcommand, add a module and list it in
``_SUBCOMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, subcommand name); a module that fails to import leaves a clear error at use time.
_SUBCOMMAND_MODULES: tuple[tuple[str, str], ...] = (
    ("ros2_mvpose.cli.calib", "calib"),
    ("ros2_mvpose.cli.images", "images"),
    ("ros2_mvpose.cli.bag", "bag"),
    ("ros2_mvpose.cli.play", "play"),
    ("ros2_mvpose.cli.export", "export"),
    ("ros2_mvpose.cli.sample", "sample"),
    ("ros2_mvpose.cli.run", "run"),
    ("ros2_mvpose.cli.demo", "demo"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mvpose", description="Markerless multi-camera 3D human pose (ros2_mvpose)."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name, cmd in _SUBCOMMAND_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name == mod_name:  # subcommand not present in this build
                continue
            p = sub.add_parser(cmd, help=f"(unavailable: {exc})")
            p.set_defaults(func=_unavailable(cmd, exc))
            continue
        mod.register(sub)
    return parser


def _unavailable(cmd: str, exc: Exception):
    def run(_args) -> int:
        print(f"mvpose {cmd}: unavailable because a dependency is missing: {exc}", file=sys.stderr)
        return 2

    return run


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
