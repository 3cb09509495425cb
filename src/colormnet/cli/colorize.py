"""``colormnet colorize``: a video or frame folder + colour exemplars -> colour video / frames."""

from __future__ import annotations

import argparse
from pathlib import Path

from colormnet.cli.options import add_device_arguments, add_memory_arguments, add_weights_arguments, memory_from_args
from colormnet.cli.scenes import add_detector_arguments, detector_from_args
from colormnet.config import DEFAULT_MAX_SIDE

_EPILOG = """\
exemplars:
  -e IMAGE@N   IMAGE is the colour version of frame N (0-based); it is injected when the
               video reaches frame N. IMAGE@0 is the authors' default mode.
  --exemplar-dir DIR  every coloured DIR/<frame>.png is the keyframe exemplar of that frame, and
               so is each image DIR/shots.json lists for a shot's keyframe (see 'colormnet scenes');
               combines with -e.
  -e IMAGE     a free reference: any colour picture of the scene, used from the first frame
               (the authors' --FirstFrameIsNotExemplar mode).
  Any number of both kinds can be combined; all of them stay in permanent memory.
  Exemplars of another size are resized to the frame size (bilinear), as the authors do.

memory presets (--memory):
  balanced    the paper's settings (memory frame every 5, working memory 5..10 frames,
              128 prototypes, 10,000 long-term elements, top-k 30)
  low-memory  working memory 3..6 frames, 64 prototypes, 4,000 long-term elements
  quality     memory frame every 3, working memory 7..15 frames, 256 prototypes, 20,000
              long-term elements (slower)
  Individual flags below override the preset.

confidence (--confidence): 1 on exemplars; elsewhere how well the frame's keys match the memory
  and local-attention sources it reads its colour from, times those sources' own confidence (see
  colormnet.memory.confidence). Not calibrated: compare frames of one run.

examples:
  colormnet colorize old_film.mp4 -e frame0_coloured.png@0 -o film_colour.mp4
  colormnet scenes old_film.mp4 -o shots/    # then colour shots/*.png
  colormnet colorize old_film.mp4 --exemplar-dir shots/ --scene-cuts reset --confidence -o film_colour.mp4
  colormnet colorize frames/ -e ref1.jpg -e ref2.jpg@120 -o out_frames/ --device cuda --precision fp16

output (-o): a video by its suffix, or a folder of PNG frames (a name without suffix, or ending in /).
  suffix      default codec         timing
  .mp4 .m4v   libx264 (H.264)       the input's timestamps, exactly
  .mov        libx264               the input's timestamps, exactly
  .mkv        libx264               the input's timestamps (1 ms units)
  .webm       libvpx-vp9 (VP9)      the input's timestamps (1 ms units)
  .ts         libx264               the input's timestamps (1/90000 s units)
  .avi        mpeg4 (MPEG-4 part 2) constant rate = the input's average
  .mpg .mpeg  mpeg2video            constant rate = the input's average (standard rates only)
  The output keeps the input's size, orientation (rotation metadata is applied: the output is upright),
  frame count and rate, every audio track (copied, or re-encoded when the container cannot hold it),
  subtitles the container can hold, chapters and metadata; what is dropped is named in a warning.
  Pixel format: yuv420p; an odd width/height switches to yuv444p (exact size, less widely playable)
  unless --pix-fmt is given. --codec/--pix-fmt are checked before the model loads.

weights: the authors' checkpoint (CC BY-NC-SA 4.0, non-commercial research use) is taken from
--weights, else $COLORMNET_WEIGHTS, else the cache (see 'colormnet weights path'), else downloaded
once (unless --no-download).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("colorize", help="colorize a video or a folder of frames with colour exemplars",
                       description="Colorize a black-and-white video (any FFmpeg-readable file) or a folder "
                                   "of frames, guided by one or more colour exemplars. Video output keeps "
                                   "the size, orientation, frame rate, frame count, audio, subtitles, "
                                   "chapters and metadata of the input.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="video file or folder of frames (png/jpg/tif/bmp/webp, natural order)")
    p.add_argument("-e", "--exemplar", action="append", default=[], metavar="IMAGE[@N]",
                   help="colour exemplar; repeat for several (see below)")
    p.add_argument("--exemplar-dir", metavar="DIR",
                   help="folder of coloured <frame>.png keyframes (as written by 'colormnet scenes'): each is the "
                        "exemplar of its frame, as are the images its shots.json maps to keyframes; gray "
                        "(uncoloured) ones are skipped")
    p.add_argument("-o", "--output",
                   help="output video (.mp4 .m4v .mov .mkv .webm .ts .avi .mpg .mpeg) or folder of PNG "
                        "frames (default: INPUT_colorized.<same suffix> or INPUT_colorized/)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--max-frames", type=int, metavar="N", help="only the first N frames (a quick preview)")
    g = add_device_arguments(p)
    g.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE, metavar="PIXELS",
                   help="run the network with the longer frame side at most this many pixels and "
                        "upsample the colour onto the full-size frame "
                        f"(default {DEFAULT_MAX_SIDE}; 0 = always native)")
    g.add_argument("--lookahead", type=int, metavar="K",
                   help="encode the keys of the next K frames in one batch (same output up to float rounding; "
                        "holds K frames). Default: 4 on CUDA/MPS, 0 (off, frame by frame) on the CPU, where "
                        "batching does not pay")
    g.add_argument("--no-io-threads", action="store_true",
                   help="decode, encode and convert the output to RGB on the main thread instead of worker "
                        "threads that overlap them with the network (same output; for debugging)")
    add_memory_arguments(p)
    f = p.add_argument_group("films: shots, confidence, bidirectional pass")
    f.add_argument("--scene-cuts", default="report", choices=["off", "report", "reset"],
                   help="report (default): detect shot cuts and list them at the end and in OUTPUT.report.json; "
                        "reset: also start each shot afresh (memory, local-attention reference and hidden state "
                        "cleared; exemplars kept); off: no detection. Needs PySceneDetect "
                        "(pip install 'colormnet[scenes]'); without it 'report' is skipped with a notice")
    add_detector_arguments(p)
    f.add_argument("--confidence", nargs="?", const="", metavar="OUT",
                   help="also write the per-pixel confidence (white = sure) as a grayscale video or PNG folder "
                        "(by OUT's suffix; default OUTPUT_confidence.mp4 / OUTPUT_confidence/) and a per-frame "
                        "CSV beside it (OUT.csv)")
    f.add_argument("--low-confidence", type=float, default=0.5, metavar="X",
                   help="shots with mean confidence below X are listed as needing an exemplar (default 0.5)")
    f.add_argument("--bidirectional", action="store_true",
                   help="also run backward from later keyframe exemplars and blend both passes by confidence "
                        "(about 2x the time; temporary files on disk; skipped when the only keyframe is frame 0)")
    f.add_argument("--no-report", action="store_true", help="do not write OUTPUT.report.json")
    o = p.add_argument_group("output encoding (video output)")
    o.add_argument("--codec", metavar="ENCODER",
                   help="FFmpeg video encoder, e.g. libx264, libx265, libvpx-vp9, libsvtav1, ffv1 (default: "
                        "the container's, see below)")
    o.add_argument("--pix-fmt", metavar="FMT",
                   help="pixel format, e.g. yuv420p (most playable), yuv444p (full colour, any size), "
                        "yuv420p10le (default: yuv420p, or yuv444p for an odd size)")
    o.add_argument("--crf", type=int, default=18,
                   help="quality for x264/x265/VP9/AV1 (lower = better; 18). MPEG-2/4 use quantizer 2")
    o.add_argument("--fps", type=float, default=25.0, help="frame rate when the input is a frame folder")
    add_weights_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from colormnet.api import colorize_video, default_output  # heavy imports only when the command runs
    from colormnet.errors import InputError

    if not args.exemplar and not args.exemplar_dir:
        raise InputError("no exemplar given: pass -e IMAGE[@N] and/or --exemplar-dir DIR")
    confidence = args.confidence
    if confidence == "":
        out = Path(args.output) if args.output else default_output(args.input)
        is_video = out.suffix != "" and not out.is_dir()
        confidence = str(out.with_name(f"{out.stem}_confidence{out.suffix}" if is_video else f"{out.name}_confidence"))
    out = colorize_video(args.input, args.exemplar, args.output, weights=args.weights,
                         download=not args.no_download, device=args.device, precision=args.precision,
                         memory=memory_from_args(args), max_side=args.max_side, overwrite=args.overwrite,
                         codec=args.codec, crf=args.crf, pix_fmt=args.pix_fmt, fps=args.fps,
                         max_frames=args.max_frames, progress=not args.quiet, exemplar_dir=args.exemplar_dir,
                         scene_cuts=args.scene_cuts, scene_detector=detector_from_args(args), confidence=confidence,
                         low_confidence=args.low_confidence, bidirectional=args.bidirectional,
                         report=not args.no_report, lookahead=args.lookahead,
                         io_threads=not args.no_io_threads)
    print(out)
    return 0
