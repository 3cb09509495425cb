"""High-level Python API: colorize a video file or a frame folder with one or more exemplars.

>>> from colormnet.api import colorize_video
>>> colorize_video("bw.mp4", ["first_frame_colour.png@0", "another_shot.jpg"], "colour.mp4")

The authors' weights (CC BY-NC-SA 4.0, non-commercial) are used unless ``model`` is given.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from tqdm import tqdm

from colormnet.config import DEFAULT_MAX_SIDE, MemoryConfig
from colormnet.device import autocast_dtype, resolve_device
from colormnet.errors import InputError
from colormnet.inference.bidirectional import iter_colorize_bidirectional
from colormnet.inference.engine import ColorizeOptions, iter_colorize
from colormnet.inference.exemplars import Exemplar, check_exemplars, exemplars_from_dir, parse_exemplar
from colormnet.inference.scenes import SceneDetectorConfig
from colormnet.inference.summary import DEFAULT_LOW_CONFIDENCE, RunSummary, write_frame_csv, write_json
from colormnet.io.atomic import check_output_path
from colormnet.io.containers import CONTAINERS, check_pix_fmt, output_container, plan_video
from colormnet.io.frames import FrameFolderReader, FrameFolderWriter
from colormnet.io.video import VideoInfo, VideoReader, VideoWriter
from colormnet.io.workers import ReadAhead, WriteBehind
from colormnet.model.network import ColorMNet
from colormnet.models import build_model

log = logging.getLogger(__name__)

_IO_DEPTH = 3  # frames decoded ahead of the network / waiting to be encoded, with io_threads


def default_output(input_path: str | Path) -> Path:
    """``clip.mp4`` -> ``clip_colorized.mp4``; frame folder ``clip/`` -> ``clip_colorized/``.

    An input whose suffix is not a container we write (``.flv``, ``.wmv``, ...) gives ``.mp4``.
    """
    p = Path(input_path)
    if p.name in ("", ".", ".."):  # "." or "..": name the output after the folder itself
        p = p.absolute()
        p = p.parent if p.name == ".." else p
        p = Path(os.path.normpath(p))
    if p.is_dir():
        return p.with_name(p.name + "_colorized")
    return p.with_name(f"{p.stem}_colorized{p.suffix if p.suffix.lower() in CONTAINERS else '.mp4'}")


def _check_output_names(folder: Path, names: Sequence[str]) -> None:
    """Frames are written as ``<stem>.png``: two inputs with one stem (``0.png`` and ``0.jpg``) would
    collide. Raise :class:`InputError` naming them, before any work."""
    seen: dict[str, str] = {}
    for name in names:
        stem = Path(name).stem
        if stem in seen:
            raise InputError(f"frame folder {folder} holds both {seen[stem]} and {name}; their outputs would "
                             f"both be named {Path(name).stem}.png. Keep one of them (or write a video)")
        seen[stem] = name


def report_path(output_path: str | Path) -> Path:
    """The run's sidecar JSON beside the output: ``out.mp4`` -> ``out.report.json``, ``out/`` -> ``out.report.json``."""
    p = Path(output_path)
    return p.with_name(f"{p.stem if p.suffix.lower() in CONTAINERS and not p.is_dir() else p.name}.report.json")


def confidence_csv_path(confidence_path: str | Path) -> Path:
    """Per-frame confidence CSV beside the confidence video/folder: ``conf.mp4`` / ``conf/`` -> ``conf.csv``."""
    p = Path(confidence_path)
    return p.with_name(f"{p.stem if p.suffix.lower() in CONTAINERS and not p.is_dir() else p.name}.csv")


def colorize_video(input_path: str | Path, exemplars: Sequence[str | Path | Exemplar],
                   output_path: str | Path | None = None, *, model: ColorMNet | None = None,
                   weights: str | Path | None = None, download: bool = True, device: str = "auto",
                   precision: str = "fp32", memory: MemoryConfig | None = None,
                   max_side: int = DEFAULT_MAX_SIDE, overwrite: bool = False, codec: str | None = None,
                   crf: int = 18, pix_fmt: str | None = None, fps: float = 25.0,
                   max_frames: int | None = None, progress: bool = True,
                   on_frame: Callable[[int, int, np.ndarray], None] | None = None,
                   exemplar_dir: str | Path | None = None, scene_cuts: str = "report",
                   scene_detector: SceneDetectorConfig | None = None, confidence: str | Path | None = None,
                   low_confidence: float = DEFAULT_LOW_CONFIDENCE, bidirectional: bool = False,
                   report: bool = False, lookahead: int | None = None, io_threads: bool = True) -> Path:
    """Colorize a video file or a folder of frames; returns the output path.

    input_path: any FFmpeg-decodable video, or a folder of frames (png/jpg/tif..., natural order).
    exemplars: ``"img.png@N"`` (colour version of frame N), ``"img.png"`` (free reference) or
    :class:`Exemplar` objects. output_path: a video file (suffix .mp4 .m4v .mov .mkv .webm .avi .ts
    .mpg .mpeg; size, orientation, frame rate, frame count, timing, audio, subtitles, chapters and
    metadata of a video input are kept as far as the container can hold them, see
    :mod:`colormnet.io.containers`) or a folder of PNG frames (a name without suffix); default
    :func:`default_output`. ``codec`` / ``pix_fmt``: video encoder and pixel format (default: the
    container's); impossible choices raise :class:`InputError` before the model loads. Output is
    written under a temporary name and renamed when complete; an existing output is refused unless
    ``overwrite``. ``fps`` only applies to folder -> video. ``max_frames`` processes only the first N
    frames (a preview; audio is cut to match).
    ``on_frame(done, total, rgb)`` is called after each frame is colorized and handed to the writer
    (``rgb`` uint8 (H, W, 3)); an exception it raises stops the run and no output is left (how the
    web app cancels).

    Films: ``exemplar_dir`` adds every coloured ``<frame>.png`` of a folder as the keyframe exemplar
    of that frame, and the images its ``shots.json`` maps to keyframes (see ``colormnet scenes`` and
    :func:`~colormnet.inference.exemplars.exemplars_from_dir`). ``scene_cuts``: ``report`` (detect shot cuts and list
    them), ``reset`` (also start each shot afresh: memory, local-attention reference and hidden state
    cleared, exemplars kept) or ``off``. ``confidence``: also write the per-pixel confidence as a
    grayscale video (by suffix) or PNG folder, plus a per-frame CSV beside it
    (:func:`confidence_csv_path`). ``bidirectional``: add a backward pass seeded by the later keyframe
    exemplars and blend both by confidence (about 2x the time; see
    :mod:`colormnet.inference.bidirectional`). ``report``: write the cuts, per-shot confidence and the
    shots whose mean confidence is below ``low_confidence`` to :func:`report_path` (the CLI does by
    default); they are logged at the end in any case. ``lookahead``: see
    :attr:`~colormnet.inference.engine.ColorizeOptions.lookahead` (None: by device). ``io_threads``
    (default): decode, encode (:mod:`colormnet.io.workers`) and make the full-size output
    (``ColorizeOptions.output_thread``) on worker threads, overlapping them with the network; False
    does all of it on the calling thread (for debugging). Same output either way.
    """
    input_path = Path(input_path)
    if max_frames is not None and max_frames < 1:
        raise InputError(f"--max-frames must be at least 1, got {max_frames}")
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"--fps must be a positive frame rate, got {fps:g}")
    if str(input_path) == "" or not input_path.exists():
        raise InputError(f"input {str(input_path)!r} does not exist; give a video file or a folder of frames")
    output_path = output_path if output_path is not None else default_output(input_path)
    container = output_container(output_path)  # before Path() drops a trailing "/"
    output_path = Path(output_path)
    if pix_fmt is not None:
        check_pix_fmt(pix_fmt)
    exs = [ex if isinstance(ex, Exemplar) else parse_exemplar(ex) for ex in exemplars]
    if exemplar_dir is not None:
        exs += exemplars_from_dir(exemplar_dir)
    if input_path.is_dir():
        folder, video = FrameFolderReader(input_path), None
        num_frames, info, names = len(folder), None, folder.names
    else:
        folder, names = None, None
        video = VideoReader(input_path)  # probes once (warnings about the file are logged here)
        info = video.info
        num_frames = info.num_frames  # the container's count: checked against the frames really decoded
    if max_frames is not None:
        for ex in exs:
            if ex.frame is not None and ex.frame >= max_frames:
                raise InputError(f"--max-frames {max_frames} stops after frame {max_frames - 1}, so exemplar "
                                 f"{ex.source}@{ex.frame} would never be used; raise --max-frames above "
                                 f"{ex.frame} or leave this exemplar out")
        num_frames = min(num_frames, max_frames)
    check_exemplars(exs, num_frames, str(input_path))
    to_video = container is not None
    if names is not None and not to_video:
        _check_output_names(input_path, names)
    if to_video:
        if info is None:
            w, h = folder.size
            info = VideoInfo.for_size(w, h, Fraction(fps).limit_denominator(1001))
        plan_video(output_path, info.width, info.height, info.fps, info.time_base, codec, pix_fmt)
    elif codec is not None or pix_fmt is not None:
        log.warning("--codec/--pix-fmt apply to video output only; %s is a folder of PNG frames", output_path)
    sources = [Path(ex.source) for ex in exs if Path(ex.source).exists()]
    check_output_path(output_path, inputs=(input_path, *sources), overwrite=overwrite,
                      is_dir=not to_video)
    conf_path = Path(confidence) if confidence is not None else None
    conf_to_video = confidence is not None and output_container(confidence) is not None
    extra_outputs = [report_path(output_path)] if report else []
    if conf_path is not None:
        if conf_path.resolve() == output_path.resolve():
            raise InputError(f"the confidence output {conf_path} is the colour output; choose another path")
        check_output_path(conf_path, inputs=(input_path, *sources), overwrite=overwrite, is_dir=not conf_to_video)
        extra_outputs.append(confidence_csv_path(conf_path))
    for extra in extra_outputs:
        check_output_path(extra, inputs=(input_path, *sources), overwrite=overwrite)
    dev = resolve_device(device)
    try:
        options = ColorizeOptions(memory or MemoryConfig(), max_side, autocast_dtype(precision, dev),
                                  scene_cuts=scene_cuts, scene_detector=scene_detector or SceneDetectorConfig(),
                                  lookahead=lookahead, output_thread=io_threads)
    except ValueError as err:
        raise InputError(str(err)) from None
    if model is None:
        model = build_model("colormnet", weights=weights, device=dev, download=download)
    model = model.to(dev).eval()

    pts: deque[int] = deque()

    def source() -> Iterator[np.ndarray]:
        pts.clear()  # a bidirectional run reads the input twice (the reader reopens the file)
        if folder is not None:
            yield from itertools.islice(folder, num_frames)
            return
        with video as reader:  # to the real end: the container's count may be wrong
            for frame in itertools.islice(reader, max_frames):
                pts.append(frame.pts)
                yield frame.rgb

    keyframes = {ex.frame for ex in exs if ex.is_keyframe}
    summary = RunSummary(low_confidence, keyframes)
    bar = tqdm(total=num_frames, unit="frame", desc=input_path.name, disable=not progress, dynamic_ncols=True)
    try:
        with contextlib.ExitStack() as stack:
            if to_video:
                if info is None:
                    w, h = folder.size
                    info = VideoInfo.for_size(w, h, Fraction(fps).limit_denominator(1001))
                streams = input_path if folder is None else None
                writer = stack.enter_context(VideoWriter(output_path, info, streams_from=streams, codec=codec,
                                                         crf=crf, pix_fmt=pix_fmt, overwrite=overwrite,
                                                         trim_audio=max_frames is not None))
            else:
                writer = stack.enter_context(FrameFolderWriter(output_path, overwrite=overwrite, inputs=(input_path,)))
            conf_writer = None
            if conf_path is not None and conf_to_video:
                if info is None:
                    w, h = folder.size
                    info = VideoInfo.for_size(w, h, Fraction(fps).limit_denominator(1001))
                conf_writer = stack.enter_context(VideoWriter(conf_path, info, crf=crf, overwrite=overwrite))
            elif conf_path is not None:
                conf_writer = stack.enter_context(FrameFolderWriter(conf_path, overwrite=overwrite,
                                                                    inputs=(input_path,)))

            def write(i: int, rgb: np.ndarray, confidence: np.ndarray, frame_pts: int | None) -> None:
                if to_video:
                    writer.write(rgb, frame_pts)
                else:
                    writer.write(rgb, names[i] if names else None)
                if conf_writer is not None:
                    gray = np.round(confidence * 255).astype(np.uint8)
                    if conf_to_video:
                        conf_writer.write(np.repeat(gray[:, :, None], 3, axis=2), frame_pts)
                    else:
                        conf_writer.write(gray, names[i] if names else None)

            def frames() -> Iterator[np.ndarray]:  # read ahead on a worker thread, stopped when the run ends
                return stack.enter_context(ReadAhead(source(), depth=_IO_DEPTH)) if io_threads else source()

            # entered after the outputs, so left before them: pending writes finish (or are dropped) first
            behind = stack.enter_context(WriteBehind(depth=_IO_DEPTH)) if io_threads else None
            if bidirectional:
                results = iter_colorize_bidirectional(model, frames, exs, options)
            else:
                results = iter_colorize(model, frames(), exs, options)
            stack.enter_context(contextlib.closing(results))  # its worker thread stops on any exit
            for i, result in enumerate(results):
                summary.add(result)
                frame_pts = pts.popleft() if pts else None
                if behind is not None:
                    behind.submit(write, i, result.rgb, result.confidence, frame_pts)
                else:
                    write(i, result.rgb, result.confidence, frame_pts)
                bar.update()
                if on_frame is not None:
                    on_frame(i + 1, num_frames, result.rgb)
    finally:
        bar.close()
    if conf_path is not None:
        write_frame_csv(summary, confidence_csv_path(conf_path), overwrite)
    if report:
        write_json({"input": str(input_path), "output": str(output_path),
                    "scene_cut_mode": scene_cuts, "scene_detector": _detector_description(options),
                    "bidirectional": bidirectional, **summary.to_dict()}, report_path(output_path), overwrite)
    for line in summary.lines():
        log.info("%s", line)
    log.info("wrote %s", output_path)
    return output_path


def _detector_description(options: ColorizeOptions) -> dict | None:
    from colormnet.inference.scenes import CutDetector, scenedetect_available

    if options.scene_cuts == "off" or not scenedetect_available():
        return None
    return CutDetector(options.scene_detector).describe()
