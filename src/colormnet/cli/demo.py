"""``colormnet demo``: colorize the bundled example clip, so a first run needs no files of one's own."""

from __future__ import annotations

import argparse

from colormnet.cli.options import add_device_arguments, add_weights_arguments

_EPILOG = """\
The clip (48 grayscale frames, 384x256, 2 s) is a camera move over scikit-image's CC0 'coffee'
photograph; its colour exemplar is the colour version of frame 0. It is the same as running
  colormnet colorize DEMO_CLIP -e DEMO_EXEMPLAR@0 -o colormnet_demo.mp4
('colormnet demo --where' prints both paths).

weights: the authors' checkpoint (CC BY-NC-SA 4.0, non-commercial research use) is taken from
--weights, else $COLORMNET_WEIGHTS, else the cache (see 'colormnet weights path'), else downloaded
once (~0.5 GB, unless --no-download). On a CPU the demo takes a few minutes; on a GPU seconds.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="colorize a bundled example clip (no files needed)",
                       description="Colorize the short grayscale clip bundled with colormnet, guided by its "
                                   "colour exemplar, and write the result in the current folder.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="colormnet_demo.mp4",
                   help="output video (default: colormnet_demo.mp4 in the current folder)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--max-frames", type=int, metavar="N", help="only the first N of the 48 frames")
    p.add_argument("--where", action="store_true", help="print the bundled clip and exemplar paths and exit")
    add_device_arguments(p)
    add_weights_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from colormnet.demo import demo_media, open_command, run_demo

    if args.where:
        print("\n".join(map(str, demo_media())))
        return 0
    print("ColorMNet weights by Yang et al., CC BY-NC-SA 4.0 (non-commercial research use).")
    out = run_demo(args.output, weights=args.weights, download=not args.no_download, device=args.device,
                   precision=args.precision, overwrite=args.overwrite, max_frames=args.max_frames,
                   progress=not args.quiet)
    print(f"wrote {out}\nopen it with:  {open_command(out)}")
    return 0
