"""Video probe/read/write with PyAV: timing, audio copy, atomicity, bad inputs. CPU, offline."""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from colormnet.errors import InputError, OutputError
from colormnet.io import VideoInfo, VideoReader, VideoWriter, is_grayscale_rgb, probe
from tests.media import BUNNY, gray_frame, make_gray_clip, make_wav, needs_bunny

FAST = {"preset": "ultrafast"}


def audio_duration(path: Path) -> float:
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        return float(a.duration * a.time_base)


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    """24 lossless gray frames, 33x17, 24 fps, FFV1 in Matroska (frame count not stored: counted)."""
    return make_gray_clip(tmp_path / "gray.mkv")


# -- probe / read ---------------------------------------------------------------------------------

def test_probe_synthetic_gray(clip: Path) -> None:
    info = probe(clip)
    assert (info.width, info.height) == (33, 17)
    assert info.fps == 24 and info.num_frames == 24
    assert info.pix_fmt == "gray"
    assert info.has_audio is False and info.audio_codec is None
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert info.path == clip


def test_reader_yields_rgb_frames_with_pts(clip: Path) -> None:
    with VideoReader(clip) as reader:
        frames = list(reader)
        info = reader.info
    assert len(frames) == 24 == len(reader)
    for i, f in enumerate(frames):
        assert f.index == i and f.rgb.dtype == np.uint8 and f.rgb.shape == (17, 33, 3)
        assert np.array_equal(f.rgb[..., 0], f.rgb[..., 1]) and np.array_equal(f.rgb[..., 1], f.rgb[..., 2])
        assert np.array_equal(f.rgb[..., 0], gray_frame(i))  # FFV1 gray is lossless
        assert f.time == pytest.approx(i / 24, abs=1e-3)  # Matroska stores milliseconds
        assert f.pts * info.time_base == Fraction(round(1000 * i / 24), 1000)


def test_mp4_gray_h264(tmp_path: Path) -> None:
    """MP4 stores the frame count; FFmpeg decodes 4:0:0 H.264 as yuv420p."""
    p = make_gray_clip(tmp_path / "gray.mp4", n=7)
    info = probe(p)
    assert info.num_frames == 7 and info.fps == 24 and info.time_base == Fraction(1, 12288)
    frames = list(VideoReader(p))
    assert len(frames) == 7 and all(is_grayscale_rgb(f.rgb) for f in frames)
    # x264 got full-range gray tagged as unspecified: decoded as limited range, so only roughly equal
    assert np.corrcoef(frames[3].rgb[..., 0].ravel(), gray_frame(3).ravel())[0, 1] > 0.99


# -- write ----------------------------------------------------------------------------------------

def test_odd_size_roundtrip_pads_when_yuv420_is_forced(clip: Path, tmp_path: Path, caplog) -> None:
    info = probe(clip)
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING), VideoReader(clip) as r, \
            VideoWriter(out, info, pix_fmt="yuv420p", encoder_options=FAST) as w:
        assert w.encoded_size == (34, 18)
        for f in r:
            w.write(f.rgb, f.pts)
    assert "padded" in caplog.text and "--pix-fmt yuv444p" in caplog.text
    got = probe(out)
    assert (got.width, got.height) == (34, 18)
    # Matroska's millisecond pts are carried over, so MP4's measured average rate is 24 within 0.1 %
    assert got.num_frames == info.num_frames and float(got.fps) == pytest.approx(24, rel=1e-3)
    assert not got.has_audio
    for f, g in zip(VideoReader(clip), VideoReader(out), strict=True):
        assert g.time == pytest.approx(f.time, abs=1e-3)
        assert np.abs(g.rgb[:17, :33].astype(int) - f.rgb).mean() < 3
        assert np.abs(g.rgb[17, :33].astype(int) - f.rgb[16]).mean() < 6  # replicated edge row
    assert sorted(os.listdir(tmp_path)) == ["gray.mkv", "out.mp4"]  # no partial file left


def test_yuv444_keeps_exact_size(clip: Path, tmp_path: Path) -> None:
    info = probe(clip)
    out = tmp_path / "out444.mkv"
    with VideoWriter(out, info, pix_fmt="yuv444p", encoder_options=FAST) as w:
        for f in VideoReader(clip):
            w.write(f.rgb)  # default pts: nominal rate
    got = probe(out)
    assert (got.width, got.height, got.num_frames, got.fps) == (33, 17, 24, 24)
    assert [round(f.time * 24) for f in VideoReader(out)] == list(range(24))


def test_colour_matrix_is_consistent(tmp_path: Path) -> None:
    """Saturated colours survive encode+decode: the written BT.709 tags match the conversion used."""
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [40, 90, 200]])
    img = np.repeat(np.repeat(colours[None].astype(np.uint8), 32, axis=0), 32, axis=1)  # 32 x 192
    out = tmp_path / "colours.mp4"
    with VideoWriter(out, VideoInfo.for_size(192, 32, fps=10), encoder_options=FAST) as w:
        for _ in range(3):
            w.write(img)
    got = next(iter(VideoReader(out))).rgb
    centres = got[16, 16::32].astype(int)
    assert np.abs(centres - colours).max() <= 6, centres


@needs_bunny
def test_bigbuckbunny_roundtrip_keeps_timing_and_audio(tmp_path: Path) -> None:
    info = probe(BUNNY)
    assert info.has_audio and info.audio_codec == "aac" and info.num_frames == 132
    out = tmp_path / "bunny_out.mp4"
    with VideoReader(BUNNY) as r, VideoWriter(out, info, streams_from=BUNNY, encoder_options=FAST) as w:
        for f in r:
            w.write(f.rgb, f.pts)
    got = probe(out)
    assert got.fps == info.fps and got.time_base == info.time_base
    assert got.num_frames == info.num_frames and (got.width, got.height) == (info.width, info.height)
    assert got.has_audio and got.audio_codec == info.audio_codec
    assert audio_duration(out) == pytest.approx(audio_duration(BUNNY), abs=0.05)
    with av.open(str(out)) as c:  # audio is interleaved, not appended after all video
        kinds = [p.stream.type for _, p in zip(range(40), c.demux(), strict=False) if p.size]
        assert "audio" in kinds
    ins = [f for _, f in zip(range(5), VideoReader(BUNNY), strict=False)]
    outs = [f for _, f in zip(range(5), VideoReader(out), strict=False)]
    for a, b in zip(ins, outs, strict=True):
        assert a.pts == b.pts
        assert np.abs(a.rgb.astype(int) - b.rgb).mean() < 4


@needs_bunny
def test_partial_run_trims_audio(tmp_path: Path) -> None:
    info = probe(BUNNY)
    out = tmp_path / "first25.mp4"
    with VideoReader(BUNNY) as r, VideoWriter(out, info, streams_from=BUNNY, trim_audio=True,
                                              encoder_options=FAST) as w:
        for f in r:
            if f.index == 25:
                break
            w.write(f.rgb, f.pts)
    assert probe(out).num_frames == 25
    assert audio_duration(out) == pytest.approx(1.0, abs=0.05)


def test_audio_reencoded_when_container_cannot_hold_it(clip: Path, tmp_path: Path) -> None:
    wav = make_wav(tmp_path / "tone.wav", seconds=1.0)
    out = tmp_path / "with_audio.mp4"
    with VideoWriter(out, probe(clip), streams_from=wav, encoder_options=FAST) as w:
        for f in VideoReader(clip):
            w.write(f.rgb, f.pts)
    got = probe(out)
    assert got.has_audio and got.audio_codec == "aac" and got.num_frames == 24
    assert audio_duration(out) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_writer_failure_leaves_nothing(clip: Path, tmp_path: Path, exc_type) -> None:
    out = tmp_path / "never.mp4"
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(exc_type), VideoWriter(out, probe(clip), streams_from=None, encoder_options=FAST) as w:
        for f in VideoReader(clip):
            w.write(f.rgb, f.pts)
            if f.index == 5:
                raise exc_type("stop")
    assert sorted(os.listdir(tmp_path)) == before


def test_no_frames_written_is_an_error(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty.mp4"
    with pytest.raises(OutputError, match="no frames"), VideoWriter(out, probe(clip)):
        pass
    assert sorted(os.listdir(tmp_path)) == ["gray.mkv"]


def test_write_checks_shape_and_pts(clip: Path, tmp_path: Path) -> None:
    w = VideoWriter(tmp_path / "o.mp4", probe(clip))
    try:
        with pytest.raises(ValueError, match="shape"):
            w.write(np.zeros((16, 33, 3), np.uint8))
        w.write(np.zeros((17, 33, 3), np.uint8), pts=5)
        with pytest.raises(ValueError, match="increase"):
            w.write(np.zeros((17, 33, 3), np.uint8), pts=5)
    finally:
        w.abort()
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".o.partial*"))


# -- bad inputs / outputs -------------------------------------------------------------------------

def test_missing_video(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(InputError, match="nope.mp4"):
        VideoReader(tmp_path / "nope.mp4")


@pytest.mark.parametrize("content", [np.random.default_rng(0).bytes(4096), b"hello, not a video\n", b""])
def test_corrupt_or_text_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(InputError, match="bad.mp4"):
        VideoReader(bad)


def test_zero_frame_videos(tmp_path: Path) -> None:
    for name in ("zero.mp4", "zero.mkv"):
        p = tmp_path / name
        with av.open(str(p), "w") as c:
            s = c.add_stream("libx264" if name.endswith("mp4") else "ffv1", rate=24)
            s.width, s.height, s.pix_fmt = 32, 16, "yuv420p"
            c.start_encoding()
        with pytest.raises(InputError, match=name):
            VideoReader(p)


def test_audio_only_file_has_no_video(tmp_path: Path) -> None:
    wav = make_wav(tmp_path / "tone.wav", seconds=0.2)
    with pytest.raises(InputError, match="no video stream"):
        probe(wav)


def test_output_same_as_input(clip: Path) -> None:
    with pytest.raises(OutputError, match="same as the input"):
        VideoWriter(clip, probe(clip), overwrite=True)
    with pytest.raises(OutputError, match="same as the input"):
        VideoWriter(clip.parent / "." / clip.name, VideoInfo.for_size(33, 17), streams_from=clip,
                    overwrite=True)


def test_existing_output_refused_then_overwritten(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="already exists"):
        VideoWriter(out, probe(clip))
    assert out.read_bytes() == b"keep me"
    with VideoWriter(out, probe(clip), overwrite=True, encoder_options=FAST) as w:
        for f in VideoReader(clip):
            w.write(f.rgb, f.pts)
    assert probe(out).num_frames == 24


def test_output_directory_problems(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        VideoWriter(tmp_path / "missing_dir" / "o.mp4", probe(clip))
    with pytest.raises(InputError, match="unknown video suffix '.notavideoext'"):
        VideoWriter(tmp_path / "o.notavideoext", probe(clip))
    assert not list(tmp_path.glob(".o.partial*"))
    with pytest.raises(InputError, match="--codec no-such-codec: .* no video encoder"):
        VideoWriter(tmp_path / "o.mp4", probe(clip), codec="no-such-codec")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_directory(clip: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            VideoWriter(locked / "o.mp4", probe(clip))
    finally:
        locked.chmod(0o700)


def test_unwritable_directory_reported_before_work(clip: Path, tmp_path: Path, monkeypatch) -> None:
    """Same check as above, simulated so it also runs as root: the probe file cannot be created."""
    import colormnet.io.atomic as atomic

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", deny)
    with pytest.raises(OutputError, match="not writable"):
        VideoWriter(tmp_path / "o.mp4", probe(clip))
    assert not list(tmp_path.glob(".o.partial*"))
