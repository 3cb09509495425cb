"""``colormnet eval``: compare colourised clips with ground truth (PSNR, SSIM, LPIPS, FID, CDC, ...)."""

from __future__ import annotations

import argparse
from pathlib import Path

from colormnet.cli.options import add_lpips_argument, lpips_weights_from_args, metrics_from_arg

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
    add_lpips_argument(p)
    p.add_argument("--inception-weights", metavar="FILE", help="torchvision inception_v3_google-*.pth (for FID)")
    p.add_argument("--fid-input-norm", default="colormnet", choices=("colormnet", "tf"),
                   help="FID input pre-processing: the authors' (default) or TF-Inception style")
    p.add_argument("--device", default="auto", help="torch device for LPIPS/Inception: auto (cuda > mps > cpu), "
                                                    "cpu, cuda, cuda:N or mps")
    p.add_argument("--batch-size", type=int, default=16, help="Inception batch size (default 16)")
    p.add_argument("--json", metavar="OUT", help="write the full result as JSON")
    p.add_argument("--markdown", metavar="OUT", help="write the table as Markdown")
    p.add_argument("--overwrite", action="store_true", help="replace existing --json/--markdown files")
    p.add_argument("--quiet", action="store_true", help="do not print the table; no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from colormnet.device import resolve_device
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
    lpips = lpips_weights_from_args(args.lpips_weights)
    metrics = metrics_from_arg(args.metrics) or DEFAULT_METRICS
    result = evaluate_dirs(pred, gt, metrics, lpips, args.inception_weights, device=str(resolve_device(args.device)),
                           fid_input_norm=args.fid_input_norm, batch_size=args.batch_size, progress=not args.quiet)
    table = to_markdown(result)
    if args.json:
        write_text(args.json, json_text(result), overwrite=args.overwrite, inputs=[pred, gt])
    if args.markdown:
        write_text(args.markdown, table, overwrite=args.overwrite, inputs=[pred, gt])
    if not args.quiet:
        print(table, end="")
    return 0
