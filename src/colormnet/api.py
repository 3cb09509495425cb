"""High-level Python API: colorize a video file or a frame folder with one or more exemplars.

>>> from colormnet.api import colorize_video
>>> colorize_video("bw.mp4", ["first_frame_colour.png@0", "another_shot.jpg"], "colour.mp4")

The authors' weights (CC BY-NC-SA 4.0, non-commercial) are used unless ``model`` is given.
"""

from __future__ import annotations

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
from colormnet.inference.engine import ColorizeOptions, colorize_frames
from colormnet.inference.exemplars import Exemplar, check_exemplars, parse_exemplar
from colormnet.io.atomic import check_output_path
from colormnet.io.containers import CONTAINERS, check_pix_fmt, output_container, plan_video
from colormnet.io.frames import FrameFolderReader, FrameFolderWriter
from colormnet.io.video import VideoInfo, VideoReader, VideoWriter
from colormnet.model.network import ColorMNet
from colormnet.models import build_model

log = logging.getLogger(__name__)

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


def colorize_video(input_path: str | Path, exemplars: Sequence[str | Path | Exemplar],
                   output_path: str | Path | None = None, *, model: ColorMNet | None = None,
                   weights: str | Path | None = None, download: bool = True, device: str = "auto",
                   precision: str = "fp32", memory: MemoryConfig | None = None,
                   max_side: int = DEFAULT_MAX_SIDE, overwrite: bool = False, codec: str | None = None,
                   crf: int = 18, pix_fmt: str | None = None, fps: float = 25.0,
                   max_frames: int | None = None, progress: bool = True,
                   on_frame: Callable[[int, int, np.ndarray], None] | None = None) -> Path:
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
    ``on_frame(done, total, rgb)`` is called after each frame is written (``rgb`` uint8 (H, W, 3));
    an exception it raises stops the run and no output is left (how the web app cancels).
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
    dev = resolve_device(device)
    options = ColorizeOptions(memory or MemoryConfig(), max_side, autocast_dtype(precision, dev))
    if model is None:
        model = build_model("colormnet", weights=weights, device=dev, download=download)
    model = model.to(dev).eval()

    pts: deque[int] = deque()

    def source() -> Iterator[np.ndarray]:
        if folder is not None:
            yield from itertools.islice(folder, num_frames)
            return
        with video as reader:  # to the real end: the container's count may be wrong
            for frame in itertools.islice(reader, max_frames):
                pts.append(frame.pts)
                yield frame.rgb

    bar = tqdm(total=num_frames, unit="frame", desc=input_path.name, disable=not progress, dynamic_ncols=True)
    try:
        if to_video:
            streams = input_path if folder is None else None
            with VideoWriter(output_path, info, streams_from=streams, codec=codec, crf=crf, pix_fmt=pix_fmt,
                             overwrite=overwrite, trim_audio=max_frames is not None) as writer:
                for i, rgb in enumerate(colorize_frames(model, source(), exs, options)):
                    writer.write(rgb, pts.popleft() if pts else None)
                    bar.update()
                    if on_frame is not None:
                        on_frame(i + 1, num_frames, rgb)
        else:
            with FrameFolderWriter(output_path, overwrite=overwrite, inputs=(input_path,)) as writer:
                for i, rgb in enumerate(colorize_frames(model, source(), exs, options)):
                    writer.write(rgb, names[i] if names else None)
                    bar.update()
                    if on_frame is not None:
                        on_frame(i + 1, num_frames, rgb)
    finally:
        bar.close()
    log.info("wrote %s", output_path)
    return output_path
