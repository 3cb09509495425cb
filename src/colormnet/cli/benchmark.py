"""``colormnet benchmark``: colourise a DAVIS-layout dataset with the paper's protocol and evaluate it."""

from __future__ import annotations

import argparse
from pathlib import Path

from colormnet.cli.options import (
    add_device_arguments,
    add_lpips_argument,
    add_memory_arguments,
    lpips_weights_from_args,
    memory_from_args,
    memory_policies_from_args,
    metrics_from_arg,
)
from colormnet.config import OLD_PROTOCOL_NAMES, PROTOCOLS

_EPILOG = """\
dataset: <DATA>/<clip>/<frame>.jpg|png holding the COLOUR ground truth (e.g. DAVIS JPEGImages/480p).
The network sees only the luma of each frame; frame 0 provides the colours:
  --protocol keyframe        the paper's protocol (authors' default): frame 0's colours are the
                             keyframe exemplar of frame 0, which is output as given; later frames predicted
  --protocol free-reference  frame 0's colour image is a free reference (authors'
                             --FirstFrameIsNotExemplar); every frame, frame 0 included, is predicted
  (the old names first-frame and reference-not-first are still accepted)
Output: <OUT>/<clip>/<frame>.png, then <OUT>/benchmark.json and <OUT>/benchmark.md (metrics as in
'colormnet eval'; frame 0 is included, as in the authors' evaluation script).

weights: --weights FILE, else $COLORMNET_WEIGHTS, else the cache ('colormnet weights path'); nothing is
downloaded here (run 'colormnet weights download' first). --recipe-weights runs the full-size network
with deterministic pseudo-random weights to try the pipeline without the checkpoint: its numbers are
NOT meaningful and the report says so.

memory presets (--memory): balanced (the paper's settings), low-memory, quality; the flags below
override single settings.

analyses (supplement section 5 and Fig. 2): --memory-policy usage,random,decay,stack,recurrent runs
the protocol once per policy; --sweep NAME=V1,V2,... (repeatable; NAME one of mem_every,
num_prototypes, max_mid_term_frames, min_mid_term_frames, max_long_term_elements, top_k, decay,
max_memory_frames, policy_seed) runs it for every value, one parameter at a time, for every policy.
Each run goes to <OUT>/<policy>/<NAME>=<V>/; the table goes to <OUT>/sweep.json and <OUT>/sweep.md
and the figure (PSNR and memory against each parameter; needs matplotlib, the 'analysis' extra) to
<OUT>/sweep.png.
  colormnet benchmark --data DAVIS/JPEGImages/480p --out sweep/ --sweep mem_every=1,3,5,7 \
      --sweep num_prototypes=64,128,256 --memory-policy usage,random

trained variants: a weights file written by 'colormnet train' records its network configuration
(e.g. key_encoder=resnet, local_window=0); --weights FILE builds that variant.
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` command."""
    p = sub.add_parser("benchmark", help="colourise a DAVIS-layout dataset from its first frames and evaluate",
                       description="Colourise every clip of a colour dataset from its luma, with frame 0's "
                                   "colours as the exemplar (the paper's protocol), then evaluate the result "
                                   "against the dataset.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, metavar="DIR", help="colour clips, <DIR>/<clip>/<frame>")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (frames and reports)")
    p.add_argument("--clips", metavar="LIST", help="comma-separated clip names (default: all)")
    p.add_argument("--protocol", default="keyframe", type=lambda n: OLD_PROTOCOL_NAMES.get(n, n), choices=PROTOCOLS,
                   help="exemplar mode of frame 0's colours (default: keyframe, the paper's)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--weights", metavar="FILE", help="checkpoint (default: $COLORMNET_WEIGHTS or the cache)")
    w.add_argument("--recipe-weights", action="store_true",
                   help="deterministic pseudo-random weights (pipeline test only; results not meaningful)")
    add_device_arguments(p)
    add_memory_arguments(p, several_policies=True)
    a = p.add_argument_group("analyses")
    a.add_argument("--sweep", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="run the protocol for every value of a memory setting (repeatable)")
    a.add_argument("--no-figure", action="store_true", help="no sweep.png (no matplotlib needed)")
    e = p.add_argument_group("evaluation")
    e.add_argument("--metrics", metavar="LIST", help="comma-separated metrics (see 'colormnet eval --help')")
    add_lpips_argument(e)
    e.add_argument("--inception-weights", metavar="FILE", help="Inception-v3 checkpoint (for fid)")
    e.add_argument("--json", metavar="OUT", help="JSON report (default <OUT>/benchmark.json)")
    e.add_argument("--markdown", metavar="OUT", help="Markdown report (default <OUT>/benchmark.md)")
    p.add_argument("--overwrite", action="store_true", help="replace existing clip folders and reports")
    p.add_argument("--resume", action="store_true", help="keep clip folders that already hold every frame")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from colormnet.benchmark import run_benchmark
    from colormnet.device import autocast_dtype, resolve_device
    from colormnet.models import build_model

    policies = memory_policies_from_args(args)
    several = len(policies) > 1 or bool(args.sweep)
    if several:
        from colormnet.sweep import parse_sweeps

        sweeps = parse_sweeps(args.sweep)  # bad --sweep values fail before the model is loaded
        args.memory_policy = policies[0]
    memory = memory_from_args(args)
    if several:
        from colormnet.sweep import sweep_grid

        sweep_grid(memory, policies, sweeps)  # invalid combinations fail before the model is loaded
    device = resolve_device(args.device)
    autocast_dtype(args.precision, device)  # reject fp16 on the CPU before loading anything
    clips = [c.strip() for c in args.clips.split(",") if c.strip()] if args.clips else None
    metrics = metrics_from_arg(args.metrics)
    lpips = lpips_weights_from_args(args.lpips_weights)
    # a weights file from 'colormnet train' rebuilds the variant it records (build_model reads it)
    model = build_model("recipe" if args.recipe_weights else "colormnet", weights=args.weights, device=device)
    if several:
        from colormnet.sweep import run_sweep

        result = run_sweep(Path(args.data), Path(args.out), model, base=memory, policies=policies, sweeps=sweeps,
                           overwrite=args.overwrite, figure=not args.no_figure, protocol=args.protocol,
                           clips=clips, precision=args.precision, metrics=metrics, lpips_weights=lpips,
                           progress=not args.quiet)
        if not args.quiet:
            print(result["markdown"], end="")
        print(f"\nreports: {result['json_path']}, {result['markdown_path']}"
              + (f", {result['figure_path']}" if result["figure_path"] else ""))
        return 0
    report = run_benchmark(Path(args.data), Path(args.out), model, memory=memory, protocol=args.protocol,
                           clips=clips, precision=args.precision, metrics=metrics, lpips_weights=lpips,
                           inception_weights=args.inception_weights, json_path=args.json,
                           markdown_path=args.markdown, overwrite=args.overwrite,
                           resume=args.resume, progress=not args.quiet)
    if not args.quiet:
        print(report["markdown"], end="")
        print(f"\nreports: {report['json_path']}, {report['markdown_path']}")
    return 0
