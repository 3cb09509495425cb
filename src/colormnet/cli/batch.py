"""``colormnet batch``: many videos (or frame folders), locally or on a Ray cluster, resumably."""

from __future__ import annotations

import argparse

from colormnet.cli.options import add_memory_arguments, add_weights_arguments
from colormnet.config import DEFAULT_MAX_SIDE

_EPILOG = """\
exemplars of each input:
  with --manifest, from its 'exemplar' column(s); otherwise (and for a row without exemplars) the
  images beside the input: for films/a.mp4 or the frame folder films/a/, films/a.png is a free
  reference and films/a@N.png the colour version of frame N (.png/.jpg/.jpeg/.webp).

manifest (CSV with a header row, or JSON Lines .jsonl):
  input,exemplar,output,options
  reel1.mp4,reel1_first.png@0;reel1_shot2.png@480,reel1_colour.mp4,max_side=960 memory=low-memory
  reel2/,reel2_ref.jpg,,
  {"input": "reel3.mkv", "exemplar": ["r3.png@0", "r3b.png"], "options": {"precision": "fp16"}}
  Several exemplars: split by ';', or more columns exemplar2, exemplar3, ... Relative inputs and
  exemplars are relative to the manifest, relative outputs to --out. Empty output: OUT/<input name>.
  options: memory, precision, max_side, max_frames, codec, pix_fmt, crf, fps, mem_every, max_mid_term_frames,
  min_mid_term_frames, max_long_term_elements, num_prototypes, top_k, no_long_term, memory_policy,
  policy_seed, decay, max_memory_frames (as KEY=VALUE
  separated by spaces or ';', or a JSON object); they override the command-line defaults.

resuming: outputs that exist are skipped (re-running finishes what is missing; --overwrite redoes
all). A failing input is reported and the others go on. OUT/batch_summary.csv and .md list input,
output, frames, s/frame, status (done/skipped/failed/not run), error and worker; the exit status is 1 when a
job failed.

where it runs:
  locally   one worker per GPU (--device auto/cuda: all visible GPUs; cuda:0,cuda:2: those),
            or one on the CPU / MPS.
  --ray     a Ray cluster: one actor per GPU, each holding one model (--ray-workers N to change;
            N CPU actors on a cluster without GPUs, default 1). Without ADDRESS a local cluster
            is started for the run; otherwise ADDRESS is 'auto' (the cluster of 'ray start' on
            this machine) or ray://HOST:10001. On several nodes the paths must be visible on
            every node (shared file system). Needs pip install 'colormnet[dist]'.

examples:
  colormnet batch films/*.mp4 --out coloured/
  colormnet batch --manifest jobs.csv --out coloured/ --device cuda --precision fp16
  ray start --head && colormnet batch --manifest jobs.jsonl --out /shared/coloured --ray auto
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="colorize many videos, locally or on a Ray cluster (resumable)",
                       description="Colorize many videos or frame folders with their exemplars: locally with "
                                   "one worker per GPU, or on a Ray cluster with one actor per GPU. Finished "
                                   "outputs are skipped, so an interrupted batch resumes where it stopped.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="videos or frame folders, exemplars beside each (see below)")
    p.add_argument("--manifest", metavar="FILE", help="CSV or JSON Lines job list (see below)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; holds the summary)")
    p.add_argument("--overwrite", action="store_true", help="redo inputs whose output exists")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster (no ADDRESS: a local cluster for this run)")
    p.add_argument("--ray-workers", type=int, metavar="N", help="Ray actors (default: one per GPU, else 1)")
    g = p.add_argument_group("defaults for every job (a manifest's options override them)")
    g.add_argument("--device", default="auto",
                   help="local run: auto (every GPU, else MPS, else CPU), cpu, mps, cuda, cuda:N or a "
                        "comma-separated list")
    g.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"),
                   help="network precision; fp16/bf16 use autocast (fp16 needs a GPU)")
    g.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE, metavar="PIXELS",
                   help=f"network working size (default {DEFAULT_MAX_SIDE}; 0 = native)")
    g.add_argument("--max-frames", type=int, metavar="N", help="only the first N frames of each input")
    g.add_argument("--codec", metavar="ENCODER",
                   help="FFmpeg video encoder (default: the output container's, as colorize)")
    g.add_argument("--pix-fmt", metavar="FMT", help="output pixel format (default as colorize)")
    g.add_argument("--crf", type=int, default=18, help="encoder quality (default 18)")
    g.add_argument("--fps", type=float, default=25.0, help="frame rate for frame-folder inputs")
    add_memory_arguments(p)
    w = add_weights_arguments(p, "checkpoint file (default: $COLORMNET_WEIGHTS or cache; on Ray, as seen by each "
                                 "node)")
    w.add_argument("--model-factory", metavar="MODULE:FUNC",
                   help="build the network with this Python function instead of loading the checkpoint, e.g. "
                        "colormnet.testing.models:tiny_model for a dry run of a cluster set-up (random colours)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _default_options(args: argparse.Namespace) -> dict:
    from colormnet.batch.jobs import OPTION_NAMES

    options = {"precision": args.precision, "max_side": args.max_side, "crf": args.crf, "fps": args.fps,
               "memory": args.memory}
    for name in ("codec", "pix_fmt"):
        if getattr(args, name):
            options[name] = getattr(args, name)
    if args.max_frames is not None:
        options["max_frames"] = args.max_frames
    if args.no_long_term:
        options["no_long_term"] = True
    for name in OPTION_NAMES:
        if name not in options and getattr(args, name, None) is not None and name != "no_long_term":
            options[name] = getattr(args, name)
    return options


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from colormnet.batch.execute import ModelSource, colorize_kwargs
    from colormnet.batch.jobs import jobs_from_inputs, load_manifest
    from colormnet.batch.runner import run_batch
    from colormnet.errors import InputError

    if args.ray and Path(args.ray).exists():  # "--ray clip.mp4 ...": argparse took an input for the address
        args.inputs.insert(0, args.ray)
        args.ray = ""
    if bool(args.inputs) == bool(args.manifest):
        raise InputError("give either INPUT... or --manifest FILE (not both, not neither)")
    out = Path(args.out)
    defaults = _default_options(args)
    try:
        colorize_kwargs(defaults)  # check the memory flags once, before any work
    except ValueError as err:
        raise InputError(f"memory settings: {err}") from None
    if args.manifest:
        jobs = [replace(job, options={**defaults, **job.options}) for job in load_manifest(args.manifest, out)]
    else:
        jobs = jobs_from_inputs(args.inputs, out, defaults)
    if args.model_factory and ":" not in args.model_factory:
        raise InputError(f"--model-factory {args.model_factory!r}: expected MODULE:FUNCTION")
    source = ModelSource(weights=args.weights, download=not args.no_download, factory=args.model_factory)
    results = run_batch(jobs, out, source=source, devices=args.device, ray=args.ray is not None,
                        ray_address=args.ray or None, ray_workers=args.ray_workers, overwrite=args.overwrite,
                        progress=not args.quiet)
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed", "not run")}
    print(", ".join(f"{n} {s}" for s, n in counts.items() if n) + f"; summary: {out / 'batch_summary.md'}")
    return 1 if counts["failed"] or counts["not run"] else 0
