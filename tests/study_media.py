"""Small browser-playable clips (H.264 yuv420p) and images for the study tests and screenshots."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


def color_frames(n: int, w: int, h: int, tint: tuple[float, float, float]) -> list[np.ndarray]:
    """A moving diagonal pattern tinted by ``tint`` (RGB gains); uint8 (h, w, 3) frames."""
    y, x = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(n):
        base = (np.sin((x + 2 * y + 6 * i) / 7.0) * 0.5 + 0.5) * 200 + 30
        frames.append(np.clip(base[..., None] * np.array(tint)[None, None], 0, 255).astype(np.uint8))
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 12) -> Path:
    """Encode RGB frames as H.264 yuv420p (even sizes), which every browser plays."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.options = {"preset": "ultrafast", "crf": "20", "movflags": "+faststart"}
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


METHODS = {"colormnet": (1.0, 0.8, 0.5), "deoldify": (0.6, 0.9, 1.0), "bistnet": (0.9, 1.0, 0.6)}


def make_study_clips(folder: Path, groups: int = 2, n: int = 6, w: int = 96, h: int = 64) -> list[list[str]]:
    """``--clip`` argument lists for ``groups`` clips, each with the three METHODS' outputs."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for g in range(groups):
        gray = [np.repeat(f.mean(-1, keepdims=True), 3, -1).astype(np.uint8)
                for f in color_frames(n, w, h, (1, 1, 1))]
        inp = write_clip(folder / f"clip{g}.mp4", gray)
        ex = folder / f"clip{g}_ref.png"
        Image.fromarray(color_frames(1, w, h, (1.0, 0.75, 0.45))[0]).save(ex)
        args = [str(inp), str(ex)]
        for m, tint in METHODS.items():
            args.append(f"{m}={write_clip(folder / f'clip{g}_{m}.mp4', color_frames(n, w, h, tint))}")
        clips.append(args)
    return clips
