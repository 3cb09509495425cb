"""``colormnet weights list|path|download|verify``: manage the ColorMNet checkpoint."""

from __future__ import annotations

import argparse
import os
import sys

from colormnet import weights as W
from colormnet.errors import WeightsError

_EPILOG = (f"Lookup order: --weights PATH > ${W.ENV_WEIGHTS} > cache directory (${W.ENV_CACHE}, "
           "else $XDG_CACHE_HOME/colormnet, else ~/.cache/colormnet). Nothing is downloaded unless you run "
           "'colormnet weights download'. The authors' checkpoint is licensed CC BY-NC-SA 4.0 "
           "(non-commercial research use).")


def _add_name(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="colormnet", choices=sorted(W.CHECKPOINTS),
                   help="which known checkpoint (default: %(default)s)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``weights`` command and its subcommands."""
    parser = subparsers.add_parser(
        "weights", help="list, locate, download or verify checkpoints", epilog=_EPILOG,
        description="Manage checkpoints: list the known ones, print the path that would be used, "
                    "download into the cache, verify a file.")
    sub = parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="known checkpoints, their licence and whether present locally",
                       description="Show every known checkpoint with its licence and URL, and where it "
                                   "was found locally (without downloading).", epilog=_EPILOG)
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("path", help="print the checkpoint path that would be used (exit 2 if missing)",
                       description="Print the path of the checkpoint that would be loaded. Exits with "
                                   "status 2 and instructions if it is not available.", epilog=_EPILOG)
    _add_name(p)
    p.add_argument("--weights", metavar="PATH", help="explicit checkpoint file (overrides everything)")
    p.set_defaults(func=_cmd_path)

    p = sub.add_parser("download", help="download a checkpoint into the cache directory",
                       description="Download a checkpoint into the cache directory (atomically: a "
                                   "partial file never takes the final name). An existing file is kept "
                                   "unless --force.", epilog=_EPILOG)
    _add_name(p)
    p.add_argument("--force", action="store_true", help="download again even if the file is present")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("verify", help="print size and sha256 and compare with the known values",
                       description="Compute size and sha256 of a checkpoint and compare them with the "
                                   "published values, else with the values recorded in the cache's "
                                   "checksums.json at the first download or verification (trust on "
                                   "first use; verifying the cached copy records them when nothing is "
                                   "known). Exits with status 1 when the file is truncated or altered.",
                       epilog=_EPILOG)
    _add_name(p)
    p.add_argument("path", nargs="?", metavar="PATH",
                   help="file to check (default: the one 'colormnet weights path' prints)")
    p.set_defaults(func=_cmd_verify)


def _local_copy(name: str) -> str:
    try:
        found = W.find_local(name=name)
    except WeightsError as err:  # $COLORMNET_WEIGHTS points at nothing
        return str(err).splitlines()[0]
    return str(found) if found is not None else f"not found (expected at {W.cached_path(name)})"


def _cmd_list(args: argparse.Namespace) -> int:
    print(f"cache directory: {W.cache_dir()}")
    env = os.environ.get(W.ENV_WEIGHTS)
    if env:
        print(f"${W.ENV_WEIGHTS}: {env}")
    for ckpt in W.CHECKPOINTS.values():
        exp_size, exp_sha, origin = W.expected_values(ckpt.name)
        size = "unknown" if exp_size is None else f"{exp_size} bytes ({origin})"
        print(f"\n{ckpt.name}\n  file:        {ckpt.filename}\n  description: {ckpt.description}\n"
              f"  licence:     {ckpt.licence}\n  url:         {ckpt.url}\n"
              f"  size:        {size}\n  sha256:      {exp_sha or 'unknown'}\n"
              f"  local:       {_local_copy(ckpt.name)}")
    return 0


def _cmd_path(args: argparse.Namespace) -> int:
    print(W.resolve_weights(args.weights, name=args.name))
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    print(W.download_checkpoint(args.name, force=args.force, progress=not args.no_progress))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    path = args.path if args.path is not None else W.resolve_weights(name=args.name)
    info = W.verify(path, args.name)
    print(f"path:    {info['path']}\nsize:    {info['size_bytes']} bytes"
          f" (expected {info['expected_size_bytes'] or 'unknown'})\nsha256:  {info['sha256']}"
          f" (expected {info['expected_sha256'] or 'unknown'})\nchecked against: {info['expected_from']}"
          f"\nstatus:  {info['status']}")
    if info["status"] == "mismatch":
        print(f"colormnet: error: {info['path']} does not match the '{args.name}' checkpoint "
              f"({info['expected_from']}): it is truncated or altered; delete it and run "
              "'colormnet weights download --force'", file=sys.stderr)
        return 1
    if info["status"] == "recorded":
        print(f"note:    no size/sha256 is published for this checkpoint; recorded these in "
              f"{info['trust_file']} (trust on first use): later checks compare against them")
    elif info["status"] == "unknown":
        print("note:    no size/sha256 is published or recorded for this checkpoint; verify the cached "
              "copy (or download it) to record them")
    return 0
