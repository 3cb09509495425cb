"""Shot lists of a film: where each shot starts, with one keyframe per shot to colour by hand.

``find_shots(video, out_dir)`` writes into ``out_dir``:

* ``shots.json``: the detector and its settings, the input, and per shot its index, first and last
  frame, start/end time (seconds and ``HH:MM:SS.mmm``) and keyframe image;
* ``shots.csv``: the same table;
* ``<frame>.png`` (six digits, e.g. ``000137.png``): the keyframe of each shot, its first frame
  (``keyframe="first"``) or its sharpest one (``keyframe="sharpest"``: the highest :func:`focus_measure`
  in the shot; the earliest such frame on ties).

Colour those PNGs (keep the names, or record new ones in ``shots.json``) and pass the folder to
``colormnet colorize --exemplar-dir``: each coloured keyframe becomes the keyframe exemplar of its frame.
The sharpest frame is found streaming: only the best frame of the current shot so far is kept.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from colormnet.errors import InputError
from colormnet.inference.scenes import CutDetector, SceneDetectorConfig, mark_cuts
from colormnet.io.atomic import check_output_path, commit_dir, make_partial_dir, remove_quietly
from colormnet.io.frames import FrameFolderReader
from colormnet.io.video import VideoReader

log = logging.getLogger(__name__)


KEYFRAME_CHOICES = ("first", "sharpest")
FOCUS_MEASURE = ("variance of the 4-neighbour Laplacian (0 1 0 / 1 -4 1 / 0 1 0) of the Rec. 601 luma "
                 "Y = 0.299 R + 0.587 G + 0.114 B (8-bit units; a gray frame is its own luma), over the "
                 "frame's interior pixels at full resolution")


def focus_measure(frame: np.ndarray) -> float:
    """Sharpness of a frame (see :data:`FOCUS_MEASURE`); frame: uint8 (H, W) gray or (H, W, 3) RGB,
    at least 3x3. Higher = more fine detail (in focus, no motion blur)."""
    y = frame.astype(np.float64)
    if y.ndim == 3:
        y = y @ np.array([0.299, 0.587, 0.114])
    lap = y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4 * y[1:-1, 1:-1]
    return float(lap.var()) if lap.size else 0.0


@dataclass(frozen=True)
class Shot:
    """One shot: frames first_frame..last_frame (inclusive); times in seconds from the first frame;
    keyframe: the frame written as ``image``; keyframe_focus: its :func:`focus_measure`."""

    index: int
    first_frame: int
    last_frame: int
    start_time: float
    end_time: float
    start_timecode: str
    end_timecode: str
    keyframe: int
    image: str
    keyframe_focus: float


def timecode(seconds: float) -> str:
    """Seconds -> ``HH:MM:SS.mmm``."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def keyframe_name(frame: int) -> str:
    """File name of a frame's keyframe image: ``000137.png``."""
    return f"{frame:06d}.png"


def _frames(input_path: Path, fps: float) -> tuple[Iterator[tuple[np.ndarray, float]], int, float]:
    """(rgb, time in seconds) per frame, the frame count and the frame rate."""
    if input_path.is_dir():
        folder = FrameFolderReader(input_path)
        return ((rgb, i / fps) for i, rgb in enumerate(folder)), len(folder), fps
    info = VideoReader(input_path).info
    rate = float(info.fps) if info.fps else fps

    def gen() -> Iterator[tuple[np.ndarray, float]]:
        with VideoReader(input_path) as reader:
            for frame in reader:
                yield frame.rgb, frame.time
    return gen(), info.num_frames, rate


def find_shots(input_path: str | Path, output_dir: str | Path, *, config: SceneDetectorConfig | None = None,
               overwrite: bool = False, fps: float = 25.0, max_frames: int | None = None,
               progress: bool = True, keyframe: str = "first") -> list[Shot]:
    """Detect the shots of a video (or frame folder) and write the shot list and keyframes.

    keyframe: ``first`` (each shot's first frame) or ``sharpest`` (its frame with the highest
    :func:`focus_measure`). The folder is written under a temporary name and renamed when complete; an
    existing non-empty ``output_dir`` is refused unless ``overwrite``. ``fps`` is used for a frame
    folder's times.
    """
    input_path, output_dir = Path(input_path), Path(output_dir)
    if keyframe not in KEYFRAME_CHOICES:
        raise InputError(f"keyframe must be one of {', '.join(KEYFRAME_CHOICES)}, got {keyframe!r}")
    if not input_path.exists():
        raise InputError(f"input {input_path} does not exist")
    detector = CutDetector(config)  # fails early when PySceneDetect is missing
    frames, num_frames, rate = _frames(input_path, fps)
    detector.fps = rate
    if max_frames is not None:
        num_frames = min(num_frames, max_frames)
        frames = itertools.islice(frames, max_frames)
    check_output_path(output_dir, inputs=(input_path,), overwrite=overwrite, is_dir=True)
    tmp = make_partial_dir(output_dir)
    starts: list[tuple[int, float]] = []
    picks: list[tuple[int, float]] = []  # (keyframe, focus) per shot
    best: tuple[int, float, np.ndarray] | None = None  # the current shot's keyframe so far
    last = (-1, 0.0)

    def write_keyframe() -> None:
        Image.fromarray(best[2]).save(tmp / keyframe_name(best[0]), format="PNG")
        picks.append((best[0], best[1]))
    try:
        times: deque[float] = deque()  # times of the frames the detector holds back

        def rgb_only() -> Iterator[np.ndarray]:
            for rgb, time in frames:
                times.append(time)
                yield rgb
        bar = tqdm(total=num_frames, unit="frame", desc=input_path.name, disable=not progress, dynamic_ncols=True)
        with bar:
            for t, (rgb, is_cut) in enumerate(mark_cuts(rgb_only(), detector)):
                time = times.popleft()
                if t == 0 or is_cut:
                    if best is not None:
                        write_keyframe()
                    starts.append((t, time))
                    best = (t, focus_measure(rgb), rgb)
                elif keyframe == "sharpest":
                    focus = focus_measure(rgb)
                    if focus > best[1]:
                        best = (t, focus, rgb)
                last = (t, time)
                bar.update()
        if last[0] < 0:
            raise InputError(f"{input_path} has no frames")
        write_keyframe()
        frame_dt = 1.0 / rate
        shots = []
        for i, (first, start) in enumerate(starts):
            end_frame = starts[i + 1][0] - 1 if i + 1 < len(starts) else last[0]
            end = (starts[i + 1][1] if i + 1 < len(starts) else last[1] + frame_dt)
            key, focus = picks[i]
            shots.append(Shot(i, first, end_frame, round(start, 6), round(end, 6), timecode(start), timecode(end),
                              key, keyframe_name(key), round(focus, 3)))
        report = {"input": str(input_path), "frames": last[0] + 1, "fps": rate, "detector": detector.describe(),
                  "keyframe": {"choice": keyframe, "focus_measure": FOCUS_MEASURE},
                  "how_to_use": "colour the keyframe images (keep their names, or change 'image' here), then: "
                                "colormnet colorize INPUT --exemplar-dir THIS_FOLDER --scene-cuts reset"
                                + (" --bidirectional" if keyframe == "sharpest" else ""),
                  "shots": [asdict(s) for s in shots]}
        (tmp / "shots.json").write_text(json.dumps(report, indent=2) + "\n")
        with open(tmp / "shots.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(list(asdict(shots[0])))
            writer.writerows([list(asdict(s).values()) for s in shots])
        commit_dir(tmp, output_dir, overwrite=overwrite)
    except BaseException:
        remove_quietly(tmp)
        raise
    log.info("%d shots in %d frames; keyframes and shot list in %s", len(shots), last[0] + 1, output_dir)
    return shots
