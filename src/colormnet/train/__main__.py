"""``python -m colormnet.train --config FILE [key=value ...]``, also the torchrun entry point:
``torchrun --nproc_per_node N -m colormnet.train --config FILE [key=value ...]``."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from colormnet.errors import ColormnetError


def main(argv: list[str] | None = None) -> int:
    from colormnet.cli.train import add_arguments, run

    parser = argparse.ArgumentParser(prog="python -m colormnet.train",
                                     description="Train ColorMNet (single process or under torchrun).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    add_arguments(parser)
    args = parser.parse_args(argv)
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format=f"%(levelname)s [rank {rank}]: %(message)s")
    try:
        return run(args)
    except ColormnetError as err:
        print(f"colormnet.train: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
