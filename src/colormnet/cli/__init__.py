"""The ``colormnet`` command. Each subcommand lives in its own module of this package and
exposes ``register(subparsers)``; the module names are listed in ``_COMMANDS``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from colormnet.errors import ColormnetError

_COMMANDS: tuple[str, ...] = ("batch", "benchmark", "colorize", "eval", "study", "train", "weights")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colormnet",
        description="ColorMNet exemplar-based video colorization. "
                    "Run 'colormnet COMMAND --help' for details.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMANDS:
        importlib.import_module(f"colormnet.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1 runtime error, 2 bad usage/input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("colormnet: interrupted; no output was written under its final name", file=sys.stderr)
        return 130
    except ColormnetError as err:
        print(f"colormnet: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
