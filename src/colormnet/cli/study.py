"""``colormnet study make|serve|report``: a blind user study of colorization results."""

from __future__ import annotations

import argparse

_EPILOG = """\
workflow:
  1. colormnet study make STUDY --clip bw1.mp4 ref1.png colormnet=ours/1.mp4 other=theirs/1.mp4 \\
                                --clip bw2.mp4 ref2.png colormnet=ours/2.mp4 other=theirs/2.mp4
     (or --manifest clips.csv with the header input,exemplar,METHOD1,METHOD2,...)
  2. colormnet study serve STUDY            observers open http://127.0.0.1:8765/, enter their id
                                            and pick the best result of each clip
  3. colormnet study report STUDY           selection % per method, 95 % CI, bar chart
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="blind user study: build, serve to observers, report (as the paper's Fig. 4a)",
                       description="A blind user study as in the paper's supplement: observers see each clip's "
                                   "black-and-white input and exemplar and the methods' results, anonymised and "
                                   "shuffled afresh for every observer, and choose the most pleasing one.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ss = p.add_subparsers(dest="study_command", metavar="STEP", required=True)

    m = ss.add_parser("make", help="build a study folder from clips and the methods' outputs",
                      description="Copy each clip's input, exemplar and the methods' outputs (unchanged, under "
                                  "random names) into a new study folder.",
                      formatter_class=argparse.RawDescriptionHelpFormatter,
                      epilog="manifest: CSV with the header input,exemplar,METHOD1,METHOD2[,...][,name], or JSON "
                             "Lines {\"input\", \"exemplar\", \"outputs\": {METHOD: path}, \"name\"}; relative "
                             "paths are relative to the manifest.\nMedia: videos (.mp4 H.264 or .webm play in "
                             "every browser) or images; every clip must compare the same methods.")
    m.add_argument("folder", metavar="STUDY", help="study folder to create")
    m.add_argument("--clip", nargs="+", action="append", default=[], metavar="ITEM",
                   help="INPUT EXEMPLAR METHOD=OUTPUT METHOD=OUTPUT ... (repeat for each clip)")
    m.add_argument("--manifest", metavar="FILE", help="CSV or JSON Lines list of clips (see below)")
    m.add_argument("--title", default="Which colorization looks best?", help="page title")
    m.add_argument("--question", default="", help="instruction shown above every clip")
    m.add_argument("--overwrite", action="store_true", help="replace an existing study folder (never one with votes)")
    m.set_defaults(func=run_make)

    s = ss.add_parser("serve", help="serve the study page to observers and record their choices",
                      description="Run a small local web server for the observers. Each observer enters an id, "
                                  "then judges every clip once, in random order; the results are shuffled and "
                                  "labelled A, B, C... afresh on every page. Choices are appended to "
                                  "STUDY/votes.jsonl; a second choice of one observer on one clip is refused.")
    s.add_argument("folder", metavar="STUDY")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: the network)")
    s.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    s.set_defaults(func=run_serve)

    r = ss.add_parser("report", help="selection percentage per method with 95 %% CI and a bar chart",
                      description="Count the votes: each method's share of the choices with a Wilson score "
                                  "confidence interval (each vote an independent trial), written as "
                                  "PREFIX.csv, PREFIX.md and the bar chart PREFIX.png.")
    r.add_argument("folder", metavar="STUDY")
    r.add_argument("-o", "--output", metavar="PREFIX", help="output prefix (default STUDY/report)")
    r.add_argument("--confidence", type=float, default=0.95, help="interval confidence (default 0.95)")
    r.add_argument("--no-chart", action="store_true", help="no PNG (needs no matplotlib)")
    r.set_defaults(func=run_report)


def run_make(args: argparse.Namespace) -> int:
    from colormnet.study.folder import load_clip_manifest, make_study, parse_clip_args

    clips = [parse_clip_args(values) for values in args.clip]
    if args.manifest:
        clips += load_clip_manifest(args.manifest)
    out = make_study(clips, args.folder, title=args.title, question=args.question, overwrite=args.overwrite)
    print(f"{out}: {len(clips)} clips; next: colormnet study serve {out}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from colormnet.errors import InputError
    from colormnet.study.server import serve

    try:
        serve(args.folder, args.host, args.port)
    except OSError as exc:
        raise InputError(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
                         "choose another --port") from exc
    return 0


def run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from colormnet.errors import InputError
    from colormnet.study.report import study_report, write_report

    if not 0 < args.confidence < 1:
        raise InputError(f"--confidence must be between 0 and 1, got {args.confidence}")
    report = study_report(args.folder, args.confidence)
    if report.votes == 0:
        raise InputError(f"{args.folder} has no votes yet; run 'colormnet study serve {args.folder}' first")
    prefix = Path(args.output) if args.output else Path(args.folder) / "report"
    written = write_report(report, prefix, chart=not args.no_chart)
    print(report.to_markdown())
    print("written: " + ", ".join(map(str, written)))
    return 0
