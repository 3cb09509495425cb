"""``colormnet train --config FILE [key=value ...]``: train or fine-tune ColorMNet.

The same arguments work with ``torchrun --nproc_per_node N -m colormnet train`` for multi-process
(DDP) training; see :mod:`colormnet.train.trainer`.
"""

from __future__ import annotations

import argparse
import json
import os

_EPILOG = ("Options come from the defaults (the authors' recipe), then --config (JSON or TOML), then "
           "key=value overrides, e.g. 'data_root=data/train iterations=2000 model=tiny amp=bf16'. "
           "Run with --print-config to see every option. Fine-tuning from the released checkpoint "
           "(init=colormnet) needs it locally ('colormnet weights download'); its licence is CC BY-NC-SA 4.0. "
           "Multi-GPU: torchrun --nproc_per_node N -m colormnet train --config FILE [key=value ...].")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``colormnet train``."""
    parser.add_argument("--config", metavar="FILE", help="training config (.json or .toml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override a config option")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in out_dir from its checkpoint.pth (exactly: same samples, "
                             "random draws and optimizer state)")
    parser.add_argument("--resume-from", metavar="CHECKPOINT",
                        help="continue from this training checkpoint file instead (implies --resume)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start a new run in an out_dir that already holds one (its files are replaced)")
    parser.add_argument("--max-steps", type=int, metavar="N",
                        help="stop (and save) after N more iterations, e.g. to split a run into jobs")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def run(args: argparse.Namespace) -> int:
    """Resolve the config and train; returns the exit code."""
    from colormnet.train.config import load_config

    cfg = load_config(args.config, args.overrides)
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    from colormnet.train.trainer import run_training

    resume = args.resume_from or ("auto" if args.resume else None)
    summary = run_training(cfg, resume=resume, overwrite=args.overwrite, max_steps=args.max_steps)
    last = summary.get("last_log") or {}
    if os.environ.get("RANK", "0") == "0":  # one line per run, not per DDP process
        print(f"stopped at iteration {summary['iteration']}; last logged loss {last.get('loss', 'n/a')}; "
              f"best validation PSNR {summary.get('best_psnr')}; run folder {cfg.out_dir}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` command."""
    parser = subparsers.add_parser(
        "train", help="train or fine-tune the network on folders of colour video frames",
        description="Train ColorMNet (SPEC section 5): 8-frame clips, L1 loss on a'b', AdamW, checkpoints "
                    "with exact resume, CSV (and TensorBoard) logs, validation PSNR with best checkpoint.",
        epilog=_EPILOG)
    add_arguments(parser)
    parser.set_defaults(func=run)
