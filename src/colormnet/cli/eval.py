"""``colormnet eval``: compare colourised clips with ground truth (PSNR, SSIM, LPIPS, FID, CDC, ...)."""

from __future__ import annotations

import argparse
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_EPILOG = """\
layout: PRED and GT are folders of clips, <root>/<clip>/<frame>; frames are paired by file name
without extension (00001.png matches 00001.jpg). Every clip of PRED needs the same frames in GT;
GT clips without predictions are listed in the notes. A folder holding images directly is one clip.

metrics (--metrics, comma separated; default psnr,ssim,lpips,colourfulness,cdc,fid):
  psnr           standard PSNR on 8-bit RGB (inf for identical frames), mean over all frames
  psnr_legacy    the authors' uint8-wrapping PSNR (only to compare with their numbers)
  ssim           scikit-image SSIM on RGB (7x7 window), mean over all frames
  lpips          LPIPS (AlexNet); needs --lpips-weights, otherwise skipped with a note
  colourfulness  Hasler & Suesstrunk colourfulness of predictions and of GT
  cdc            colour distribution consistency (lower = temporally steadier), mean over clips
  fid            FID per clip, averaged (and pooled); needs --inception-weights, else skipped

JSON is strict: non-finite values (PSNR of identical frames) are written as the string "inf".
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``eval`` command."""
    p = sub.add_parser("eval", help="evaluate colourised clips against ground truth",
                       description="Compute per-clip and overall colourisation metrics of PRED against GT and "
                                   "print them as a Markdown table (optionally also written as JSON/Markdown).",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pred", required=True, metavar="DIR", help="colourised clips, <DIR>/<clip>/<frame>")
    p.add_argument("--gt", required=True, metavar="DIR", help="ground-truth clips, same layout")
    p.add_argument("--metrics", default=None, metavar="LIST",
                   help="comma-separated metrics (default: all except psnr_legacy)")
    p.add_argument("--lpips-weights", nargs="+", metavar="FILE",
                   help="torchvision AlexNet checkpoint and LPIPS v0.1 alex.pth (or one file holding both)")
    p.add_argument("--inception-weights", metavar="FILE", help="torchvision inception_v3_google-*.pth (for FID)")
    p.add_argument("--fid-input-norm", default="colormnet", choices=("colormnet", "tf"),
                   help="FID input pre-processing: the authors' (default) or TF-Inception style")
    p.add_argument("--device", default="cpu", help="torch device for LPIPS/Inception (default cpu)")
    p.add_argument("--batch-size", type=int, default=16, help="Inception batch size (default 16)")
    p.add_argument("--json", metavar="OUT", help="write the full result as JSON")
    p.add_argument("--markdown", metavar="OUT", help="write the table as Markdown")
    p.add_argument("--overwrite", action="store_true", help="replace existing --json/--markdown files")
    p.add_argument("--quiet", action="store_true", help="do not print the table; no progress bar")
    p.set_defaults(func=run)


@contextmanager
def clip_progress(pred_dir: Path, enabled: bool):
    """A tqdm bar over frames, advanced clip by clip while :func:`evaluate_dirs` runs.

    The runner logs ``evaluating clip NAME (N frames)`` at INFO before each clip; a filter on its
    logger turns those records into bar updates (and keeps them off the console while the bar shows).
    """
    from tqdm.auto import tqdm

    if not enabled:
        yield
        return
    from colormnet.eval import runner

    total = sum(len([f for f in d.iterdir() if f.suffix.lower() in runner.IMAGE_EXTS])
                for d in pred_dir.iterdir() if d.is_dir()) if pred_dir.is_dir() else 0
    logger = logging.getLogger(runner.__name__)
    bar = tqdm(total=total or None, unit="frame", desc="evaluating")
    pending = [0]

    def on_record(record: logging.LogRecord) -> bool:
        if record.msg == "evaluating clip %s (%d frames)" and isinstance(record.args, tuple):
            bar.update(pending[0])
            name, pending[0] = record.args[0], int(record.args[1])
            bar.set_postfix_str(str(name))
            return False
        return True

    old_level = logger.level
    logger.setLevel(min(logging.INFO, logger.getEffectiveLevel()))
    logger.addFilter(on_record)
    try:
        yield
        bar.update(pending[0])
    finally:
        logger.removeFilter(on_record)
        logger.setLevel(old_level)
        bar.close()


def _metrics(arg: str | None) -> tuple[str, ...] | None:
    if arg is None:
        return None
    names = tuple(m.strip() for m in arg.split(",") if m.strip())
    if not names:
        from colormnet.errors import InputError
        raise InputError("--metrics is empty; give e.g. --metrics psnr,ssim")
    return names


def run(args: argparse.Namespace) -> int:
    from colormnet.errors import InputError
    from colormnet.eval.runner import DEFAULT_METRICS, evaluate_dirs, to_markdown
    from colormnet.io.atomic import check_output_path
    from colormnet.io.reports import json_text, write_text

    pred, gt = Path(args.pred), Path(args.gt)
    for what, folder in (("--pred", pred), ("--gt", gt)):
        if not folder.is_dir():
            raise InputError(f"{what} folder {folder} does not exist or is not a folder")
    outputs = [Path(p) for p in (args.json, args.markdown) if p]
    for out in outputs:  # before any work
        check_output_path(out, inputs=[pred, gt], overwrite=args.overwrite)
    if args.lpips_weights is not None and len(args.lpips_weights) > 2:
        raise InputError("--lpips-weights takes one or two files (AlexNet checkpoint, LPIPS heads)")
    lpips: Any = None
    if args.lpips_weights:
        lpips = args.lpips_weights[0] if len(args.lpips_weights) == 1 else tuple(args.lpips_weights)
    metrics = _metrics(args.metrics) or DEFAULT_METRICS
    with clip_progress(pred, enabled=not args.quiet):
        result = evaluate_dirs(pred, gt, metrics, lpips, args.inception_weights, device=args.device,
                               fid_input_norm=args.fid_input_norm, batch_size=args.batch_size)
    table = to_markdown(result)
    if args.json:
        write_text(args.json, json_text(result), overwrite=args.overwrite, inputs=[pred, gt])
    if args.markdown:
        write_text(args.markdown, table, overwrite=args.overwrite, inputs=[pred, gt])
    if not args.quiet:
        print(table, end="")
    return 0
