"""Bad and unusual media through ``colormnet colorize`` (issue 9): a table of cases, each asserting the
exit code, a message naming the file or flag, no traceback, and that no input (or other file) changed.

Each row: case id, how to build the input, extra arguments, expected exit code, expected message
substring, and for exit 0 what the output must be. The tiny random model stands in for the weights; a
case that must fail before the model loads also asserts the model was never requested.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest
import torch
from PIL import Image

from colormnet.api import report_path
from colormnet.cli import main
from tests.media import make_clip, make_wav


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[Path], Path]  # builds the input in a folder, returns its path
    output: str  # -o value, relative to the folder
    args: tuple[str, ...]
    code: int
    message: str  # substring of stderr + log (names the file or flag)
    before_model: bool = False  # the error comes before the model is loaded
    frames: int | None = None  # exit 0: frames in the output video
    size: tuple[int, int] | None = None  # exit 0: (w, h) of the output video


def _truncate(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _faststart_truncated(folder: Path) -> Path:
    """An MP4 with its index in front (as web/phone files are) cut at 60 %: the header promises 20
    frames, fewer are there."""
    plain = make_clip(folder / "plain.mp4", n=20, w=64, h=32)
    out = folder / "cut_fast.mp4"
    with av.open(str(plain)) as src, av.open(str(out), "w", options={"movflags": "faststart"}) as dst:
        s = dst.add_stream_from_template(src.streams.video[0])
        for pkt in src.demux(src.streams.video[0]):
            if pkt.dts is not None:
                pkt.stream = s
                dst.mux(pkt)
    plain.unlink()
    return _truncate(out, 0.6)


def _cover_art_only(folder: Path) -> Path:
    """An audio file whose only picture is cover art (an attached picture, not a video)."""
    wav = make_wav(folder / "tone.wav", seconds=0.3, codec="pcm_s16le")
    out = folder / "song.mkv"
    with av.open(str(wav)) as src, av.open(str(out), "w") as dst:
        dst.add_attachment("cover.png", "image/png", b"\x89PNG not really")
        s = dst.add_stream_from_template(src.streams.audio[0])
        for pkt in src.demux(src.streams.audio[0]):
            if pkt.dts is not None:
                pkt.stream = s
                dst.mux(pkt)
    wav.unlink()
    return out


CASES = [
    Case("truncated mp4 (index lost)", lambda d: _truncate(make_clip(d / "cut.mp4", n=20, w=64, h=32), 0.6),
         "o.mp4", (), 2, "cut.mp4 is not a video FFmpeg can read", before_model=True),
    Case("truncated mp4 (index first)", _faststart_truncated, "o.mp4", (), 0,
         "cut_fast.mp4: its container announces 20 frames but only", frames=None, size=(64, 32)),
    Case("truncated mkv", lambda d: _truncate(make_clip(d / "cut.mkv", n=20, w=64, h=32), 0.6),
         "o.mkv", (), 0, "cut.mkv: its header says 0.83 s but the streams end at", size=(64, 32)),
    Case("audio only (wav)", lambda d: make_wav(d / "tone.wav", seconds=0.3), "o.mp4", (), 2,
         "tone.wav has no video stream (only audio)", before_model=True),
    Case("audio with cover art only", _cover_art_only, "o.mp4", (), 2,
         "song.mkv has no video stream (only audio and cover art)",
         before_model=True),
    Case("1-frame video", lambda d: make_clip(d / "one.mp4", n=1), "o.mp4", (), 0, "wrote", frames=1,
         size=(32, 16)),
    Case("1-frame video to avi", lambda d: make_clip(d / "one.mp4", n=1), "o.avi", (), 0, "wrote", frames=1,
         size=(32, 16)),
    Case("10-bit input", lambda d: make_clip(d / "ten.mkv", n=3, pix_fmt="yuv420p10le"), "o.mp4", (), 0,
         "wrote", frames=3, size=(32, 16)),
    Case("4:4:4 input, odd size", lambda d: make_clip(d / "full.mp4", n=3, w=33, h=17, pix_fmt="yuv444p"),
         "o.mp4", (), 0, "o.mp4: libx264 cannot store 33x17", frames=3, size=(33, 17)),
    Case("interlaced input", lambda d: make_clip(d / "tff.mp4", n=3, w=32, h=32, interlaced=True), "o.mp4", (),
         0, "tff.mp4 is interlaced", frames=3, size=(32, 32)),
    Case("rotated input (90)", lambda d: make_clip(d / "phone.mp4", n=3, w=32, h=16, rotation=90), "o.mp4", (),
         0, "phone.mp4 is displayed rotated", frames=3, size=(16, 32)),
    Case("variable rate into avi", lambda d: make_clip(d / "vfr.mkv", n=6, fps=25, pts=[0, 40, 100, 120, 200, 210],
                                                      time_base=Fraction(1, 1000)),
         "o.avi", (), 0, "o.avi: the input has a variable frame rate", frames=6, size=(32, 16)),
    Case("output .gif", lambda d: make_clip(d / "in.mp4", n=2), "o.gif", (), 2, "-o/--output o.gif: GIF",
         before_model=True),
    Case("output .xyz", lambda d: make_clip(d / "in.mp4", n=2), "o.xyz", (), 2,
         "-o/--output o.xyz: unknown video suffix", before_model=True),
    Case("output .png", lambda d: make_clip(d / "in.mp4", n=2), "o.png", (), 2, "-o/--output o.png",
         before_model=True),
    Case("webm with libx264", lambda d: make_clip(d / "in.mp4", n=2), "o.webm", ("--codec", "libx264"), 2,
         "--codec libx264: .webm files (o.webm) cannot hold h264", before_model=True),
    Case("unknown codec", lambda d: make_clip(d / "in.mp4", n=2), "o.mp4", ("--codec", "x999"), 2,
         "--codec x999: this FFmpeg build has no video encoder", before_model=True),
    Case("unknown pix fmt", lambda d: make_clip(d / "in.mp4", n=2), "o.mp4", ("--pix-fmt", "yuv999"), 2,
         "--pix-fmt yuv999: unknown pixel format", before_model=True),
    Case("pix fmt the encoder lacks", lambda d: make_clip(d / "in.mp4", n=2), "o.mp4", ("--pix-fmt", "pal8"), 2,
         "--pix-fmt pal8: encoder libx264 (for o.mp4) does not take it", before_model=True),
    Case("mpg at a non-MPEG rate", lambda d: make_clip(d / "odd.mp4", n=2, fps=Fraction(47, 2)), "o.mpg", (), 2,
         "--codec mpeg2video: the encoder refuses 32x16 frames at 23.5 fps", before_model=True),
]


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def model_calls(monkeypatch, tiny_model):
    """The CLI gets the tiny model; ``calls`` counts how often it was requested."""
    calls: list[int] = []

    def load(*args, **kwargs):
        calls.append(1)
        return tiny_model

    monkeypatch.setattr("colormnet.api.build_model", load)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny frames: threads only add overhead on a shared CPU
    yield calls
    torch.set_num_threads(threads)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_media(case: Case, tmp_path, model_calls, capsys, caplog):
    caplog.set_level(logging.INFO)
    work = tmp_path / "work"
    work.mkdir()
    src = case.make(work)
    ref = work / "ref.png"
    Image.new("RGB", (40, 20), (200, 120, 40)).save(ref)
    before = _hashes(work)
    out = work / case.output
    code = main(["colorize", str(src), "-e", str(ref), "-o", str(out), "--quiet", "--device", "cpu", *case.args])
    captured = capsys.readouterr()
    text = captured.err + caplog.text
    assert code == case.code, text
    assert case.message in text, text
    assert "Traceback" not in captured.err + captured.out
    after = _hashes(work)
    assert {k: after[k] for k in before} == before  # inputs unchanged
    if case.before_model:
        assert not model_calls
    if code != 0:
        assert set(after) == set(before)  # nothing written, no partial file left
        return
    assert set(after) == set(before) | {case.output, report_path(out).name}  # + the run report
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
    if case.frames is not None:
        assert len(frames) == case.frames
    assert (frames[0].width, frames[0].height) == case.size
    assert not frames[0].rotation
