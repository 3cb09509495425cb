"""``colormnet scenes``: list the shots of a film and write one keyframe per shot to colour."""

from __future__ import annotations

import argparse

_EPILOG = """\
output folder:
  shots.json   detector and settings, and per shot: index, first/last frame, start/end time
  shots.csv    the same table
  NNNNNN.png   the keyframe of each shot (--keyframe), named by its frame number (000137.png = frame 137)

colouring a film:
  colormnet scenes film.mp4 -o film_shots/
  (colour the PNGs in film_shots/ in any image editor, keeping their names; a file saved under
   another name is found when shots.json's "image" for its shot says so)
  colormnet colorize film.mp4 --exemplar-dir film_shots/ --scene-cuts reset -o film_colour.mp4

--keyframe sharpest picks, per shot, the frame with the highest focus measure: the variance of the
Laplacian (4-neighbour) of the frame's luma Y = 0.299 R + 0.587 G + 0.114 B at full resolution. It is
usually not the shot's first frame: colorize with --bidirectional so the frames before it get its
colours too.

Detection uses PySceneDetect (pip install 'colormnet[scenes]') on each frame's lightness, so a
colour and a black-and-white copy of a film give the same shots.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scenes", help="find the shots of a video and write one keyframe per shot",
                       description="Detect shot boundaries (scene cuts) and write a shot list (JSON, CSV) "
                                   "and one keyframe of each shot as PNG, ready to be coloured and used "
                                   "with 'colorize --exemplar-dir'.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="video file or folder of frames")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--keyframe", choices=["first", "sharpest"], default="first",
                   help="which frame of each shot to write: its first (default) or its sharpest (highest "
                        "variance of the luma's Laplacian)")
    add_detector_arguments(p)
    p.add_argument("--fps", type=float, default=25.0, help="frame rate of a frame-folder input (for times)")
    p.add_argument("--max-frames", type=int, metavar="N", help="only the first N frames")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def add_detector_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("shot detection (PySceneDetect; for colorize: with --scene-cuts report/reset)")
    g.add_argument("--detector", default="adaptive", choices=["adaptive", "content"],
                   help="adaptive: change relative to neighbouring frames, robust to camera motion "
                        "(default); content: absolute change")
    g.add_argument("--cut-threshold", type=float, metavar="X",
                   help="detector threshold (adaptive default 3.0, content default 27.0; lower = more cuts)")
    g.add_argument("--min-shot-length", type=int, default=15, metavar="FRAMES",
                   help="shortest shot in frames (default 15)")


def detector_from_args(args: argparse.Namespace):
    from colormnet.errors import InputError
    from colormnet.inference.scenes import SceneDetectorConfig

    try:
        return SceneDetectorConfig(detector=args.detector, threshold=args.cut_threshold,
                                   min_scene_len=args.min_shot_length)
    except ValueError as err:
        raise InputError(f"shot detection settings: {err}") from None


def run(args: argparse.Namespace) -> int:
    from colormnet.shots import find_shots

    shots = find_shots(args.input, args.output, config=detector_from_args(args), overwrite=args.overwrite,
                       fps=args.fps, max_frames=args.max_frames, progress=not args.quiet, keyframe=args.keyframe)
    for s in shots:
        print(f"shot {s.index:3d}: frames {s.first_frame}-{s.last_frame}  {s.start_timecode} - {s.end_timecode}"
              f"  keyframe {s.image}")
    print(args.output)
    return 0
