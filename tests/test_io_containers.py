"""Every container we write: frame count, order, rate, time base, size, orientation and the other streams
(issue 9, items 3-6 and 8). Writer-level round trips with small synthetic clips; CPU, offline."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from colormnet.errors import InputError
from colormnet.io import VideoReader, VideoWriter, probe
from colormnet.io.containers import CONTAINERS, output_container, plan_video
from colormnet.io.video import orient
from tests.media import frame_index, level_frame, make_clip

VIDEO_SUFFIXES = sorted(CONTAINERS)


def transcode(src: Path, out: Path, **kw) -> Path:
    """Decode ``src`` and write every frame to ``out`` with its pts, copying the other streams."""
    info = probe(src)
    with VideoReader(src) as r, VideoWriter(out, info, streams_from=src, **kw) as w:
        for f in r:
            w.write(f.rgb, f.pts)
    return out


def decoded(path: Path) -> tuple[list[int], list[float], dict]:
    """(frame indices read from the pixels, frame times in s, stream facts) of the first video stream."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        facts = {"time_base": s.time_base, "size": (s.codec_context.width, s.codec_context.height),
                 "codec": s.codec_context.name}
        frames = list(c.decode(s))
        return [frame_index(f.to_ndarray(format="rgb24")) for f in frames], [float(f.time) for f in frames], facts


@pytest.mark.parametrize("suffix", VIDEO_SUFFIXES)
@pytest.mark.parametrize("size", [(32, 16), (33, 17)])
def test_every_container_keeps_count_order_rate_and_size(tmp_path, suffix, size):
    """With an 8 kHz AAC track (priming at -128 ms; MP2 cannot take 8 kHz) and odd/even sizes."""
    src = make_clip(tmp_path / "in.mp4", n=10, w=size[0], h=size[1], fps=24, pix_fmt="yuv444p",
                    audio=(("aac", 8000, "mono", "eng"),))
    out = transcode(src, tmp_path / f"out{suffix}")
    idx, times, stream = decoded(out)
    assert idx == list(range(10)), idx  # every frame, in order
    steps = np.diff(times)
    assert np.allclose(steps, 1 / 24, atol=1.1e-3), steps  # 24 fps (Matroska: 1 ms units)
    assert stream["size"] == size  # exact size, odd too
    got = probe(out)
    assert got.num_frames == 10 and float(got.fps) == pytest.approx(24, rel=2e-3)
    if suffix == ".avi":
        assert stream["time_base"] == Fraction(1, 24)  # a time base AVI can hold
    assert got.has_audio


@pytest.mark.parametrize("suffix", [".avi", ".mpg", ".mp4", ".mkv", ".ts"])
def test_input_starting_late_keeps_count(tmp_path, suffix):
    """Video starting at 1 s (a cut from a broadcast): AVI has no start offset and must not pad frames."""
    src = make_clip(tmp_path / "late.mkv", n=5, fps=25, pts=[1000, 1040, 1080, 1120, 1160],
                    time_base=Fraction(1, 1000), audio=(("aac", 8000, "mono", None),))
    out = transcode(src, tmp_path / f"out{suffix}")
    idx, times, _ = decoded(out)
    assert idx == list(range(5)) and np.allclose(np.diff(times), 0.04, atol=1.1e-3)
    assert probe(out).num_frames == 5


def test_avi_from_fine_time_base_is_not_inflated(tmp_path):
    """04ef717 gave AVI the input's 1/12288 time base: 10 frames came out as 250 at 600 fps."""
    src = make_clip(tmp_path / "in.mp4", n=10, fps=24)
    assert probe(src).time_base == Fraction(1, 12288)
    out = transcode(src, tmp_path / "out.avi")
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.frames == 10 and s.average_rate == 24 and s.time_base == Fraction(1, 24)
        assert s.codec_context.name == "mpeg4"


def test_ntsc_rate_kept_in_constant_rate_container(tmp_path):
    rate = Fraction(30000, 1001)
    src = make_clip(tmp_path / "in.mkv", n=5, fps=rate)
    out = transcode(src, tmp_path / "out.avi")
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == rate and c.streams.video[0].frames == 5


VFR_PTS = [0, 40, 100, 120, 200, 210, 300, 340]  # ms


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".ts", ".webm"])
def test_variable_rate_timestamps_kept(tmp_path, suffix):
    src = make_clip(tmp_path / "vfr.mkv", n=8, fps=25, pts=VFR_PTS, time_base=Fraction(1, 1000))
    out = transcode(src, tmp_path / f"out{suffix}")
    idx, times, _ = decoded(out)
    assert idx == list(range(8))
    assert np.allclose(np.array(times) - times[0], np.array(VFR_PTS) / 1000, atol=1.1e-3), times


@pytest.mark.parametrize("suffix", [".avi", ".mpg"])
def test_variable_rate_into_constant_rate_container_warns(tmp_path, suffix, caplog):
    src = make_clip(tmp_path / "vfr.mkv", n=8, fps=25, pts=VFR_PTS, time_base=Fraction(1, 1000))
    info = probe(src)
    assert info.fps == 25  # the average: 8 frames in 0.32 s
    with caplog.at_level(logging.WARNING):
        out = transcode(src, tmp_path / f"out{suffix}")
    assert "variable frame rate" in caplog.text and "average" in caplog.text
    idx, times, s = decoded(out)
    assert idx == list(range(8))
    assert np.allclose(np.diff(times), float(1 / info.fps), atol=1e-3)  # constant, at the average rate
    if suffix == ".avi":
        assert s["time_base"] == 1 / info.fps


# -- odd sizes and pixel formats (item 5) -------------------------------------------------------------

def test_odd_size_uses_444_with_notice(tmp_path, caplog):
    src = make_clip(tmp_path / "in.mp4", n=3, w=33, h=17, codec="libx264", pix_fmt="yuv444p")
    with caplog.at_level(logging.WARNING):
        out = transcode(src, tmp_path / "out.mp4")
    assert "yuv444p to keep the exact size" in caplog.text and "--pix-fmt yuv420p" in caplog.text
    got = probe(out)
    assert (got.width, got.height, got.pix_fmt) == (33, 17, "yuv444p")


def test_vp9_keeps_odd_size_in_420(tmp_path, caplog):
    src = make_clip(tmp_path / "in.mkv", n=3, w=33, h=17, codec="ffv1", pix_fmt="yuv444p")
    with caplog.at_level(logging.WARNING):
        out = transcode(src, tmp_path / "out.webm")
    got = probe(out)
    assert (got.width, got.height, got.pix_fmt, got.codec) == (33, 17, "yuv420p", "vp9")
    assert "yuv444p" not in caplog.text


def test_explicit_pix_fmt(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=3)
    out = transcode(src, tmp_path / "out.mkv", pix_fmt="yuv444p")
    assert probe(out).pix_fmt == "yuv444p"
    out = transcode(src, tmp_path / "out10.mkv", pix_fmt="yuv420p10le")
    assert probe(out).pix_fmt == "yuv420p10le"


@pytest.mark.parametrize(("name", "codec", "pix_fmt", "match"), [
    ("o.webm", "libx264", None, r"--codec libx264: \.webm files \(o.webm\) cannot hold h264"),
    ("o.mp4", "no-such-encoder", None, "--codec no-such-encoder: this FFmpeg build has no video encoder"),
    ("o.mp4", "aac", None, "--codec aac: this FFmpeg build has no video encoder"),
    ("o.avi", None, "nope", "--pix-fmt nope: unknown pixel format"),
    ("o.mp4", None, "pal8", r"--pix-fmt pal8: encoder libx264 \(for o.mp4\) does not take it"),
    ("o.mpg", "libx264", None, r"--codec libx264: \.mpg files \(o.mpg\) cannot hold h264"),
    ("o.gif", None, None, "256 colours"),
    ("o.xyz", None, None, "unknown video suffix '.xyz'"),
])
def test_impossible_choices_are_input_errors(name, codec, pix_fmt, match):
    with pytest.raises(InputError, match=match):
        plan_video(name, 32, 16, Fraction(24), Fraction(1, 12288), codec, pix_fmt)


def test_default_codec_per_container():
    got = {s: plan_video(f"o{s}", 32, 16, Fraction(24), Fraction(1, 12288)).codec for s in VIDEO_SUFFIXES}
    assert got == {".avi": "mpeg4", ".m4v": "libx264", ".mkv": "libx264", ".mov": "libx264",
                   ".mp4": "libx264", ".mpeg": "mpeg2video", ".mpg": "mpeg2video", ".ts": "libx264",
                   ".webm": "libvpx-vp9"}


def test_webm_falls_back_to_av1_without_vp9(monkeypatch):
    import colormnet.io.containers as containers

    real = containers._video_encoder
    monkeypatch.setattr(containers, "_video_encoder", lambda n: None if n == "libvpx-vp9" else real(n))
    plan = plan_video("o.webm", 32, 16, Fraction(24), Fraction(1, 1000))
    assert plan.codec in ("libsvtav1", "libaom-av1") and plan.pix_fmt == "yuv420p"


def test_output_kind_by_suffix(tmp_path):
    assert output_container("x.MP4") is CONTAINERS[".mp4"]
    assert output_container(tmp_path / "frames") is None
    assert output_container(str(tmp_path / "run.v2") + "/") is None  # trailing slash: a folder
    (tmp_path / "old.v1").mkdir()
    assert output_container(tmp_path / "old.v1") is None  # an existing folder stays a folder
    for bad in ("out.gif", "out.png", "out.xyz"):
        with pytest.raises(InputError, match=bad):
            output_container(tmp_path / bad)


# -- orientation (item 4) ---------------------------------------------------------------------------

@pytest.mark.parametrize(("rotation", "hflip"), [(90, False), (-90, False), (180, False), (90, True)])
def test_display_matrix_applied(tmp_path, rotation, hflip):
    src = make_clip(tmp_path / "rot.mp4", n=3, w=32, h=16, rotation=rotation, hflip=hflip)
    info = probe(src)
    quarter = rotation % 180 != 0
    assert (info.width, info.height) == ((16, 32) if quarter else (32, 16))
    stored = level_frame(0, 32, 16)
    expected = np.rot90(stored, k=rotation // 90)  # rotation is counter-clockwise, as np.rot90
    if hflip:
        expected = expected[:, ::-1]
    got = next(iter(VideoReader(src))).rgb
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected).mean() < 6  # bright block where a player shows it
    out = transcode(src, tmp_path / "upright.mp4")
    with av.open(str(out)) as c:
        f = next(c.decode(video=0))
        assert (f.width, f.height) == (info.width, info.height) and not f.rotation  # upright, no matrix
        assert np.abs(f.to_ndarray(format="rgb24").astype(int) - expected).mean() < 8


def test_orient_all_eight():
    a = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    assert np.array_equal(orient(a, None), a)
    assert np.array_equal(orient(a, (0, -1, 1, 0)), np.rot90(a, 1))  # 90 ccw
    assert np.array_equal(orient(a, (0, 1, -1, 0)), np.rot90(a, -1))  # 90 cw
    assert np.array_equal(orient(a, (-1, 0, 0, -1)), np.rot90(a, 2))
    assert np.array_equal(orient(a, (-1, 0, 0, 1)), a[:, ::-1])
    assert np.array_equal(orient(a, (1, 0, 0, -1)), a[::-1])
    assert np.array_equal(orient(a, (0, 1, 1, 0)), a.transpose(1, 0, 2))
    assert np.array_equal(orient(a, (0, -1, -1, 0)), np.rot90(a, 1)[:, ::-1])


# -- other streams (item 8) ---------------------------------------------------------------------------

def rich_clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "rich.mkv", n=6,
                     audio=(("aac", 8000, "mono", "eng"), ("libopus", 48000, "stereo", "fra")),
                     subtitles=(("subrip", "deu"),), chapters=2, attachment=True,
                     metadata={"title": "My film", "creation_time": "2020-01-02T03:04:05.000000Z"})


def streams_of(path: Path) -> list[tuple[str, str | None, str | None]]:
    with av.open(str(path)) as c:
        return [(s.type, s.codec_context.codec.canonical_name if s.codec_context else None,
                 s.metadata.get("language")) for s in c.streams]


def test_mkv_keeps_every_stream_chapters_and_metadata(tmp_path):
    out = transcode(rich_clip(tmp_path), tmp_path / "out.mkv")
    assert streams_of(out) == [("video", "h264", None), ("audio", "aac", "eng"), ("audio", "opus", "fra"),
                               ("subtitle", "subrip", "deu"), ("attachment", None, None)]
    with av.open(str(out)) as c:
        assert c.metadata["title"] == "My film"
        assert c.metadata["creation_time"].startswith("2020-01-02T03:04:05")
        assert [ch["metadata"]["title"] for ch in c.chapters()] == ["Chapter 1", "Chapter 2"]
        assert c.streams[4].metadata["filename"] == "font.ttf"
        subs = [p for p in c.demux(c.streams.subtitles[0]) if p.size]
        assert len(subs) == 1 and bytes(subs[0]) == b"Hello"
        audio_s = [float(s.duration * s.time_base) for s in c.streams.audio if s.duration]
    assert all(d > 0.2 for d in audio_s)


def test_mp4_keeps_what_it_can_and_says_what_it_drops(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        out = transcode(rich_clip(tmp_path), tmp_path / "out.mp4")
    kept = [k for k in streams_of(out) if k[0] != "data"]  # MP4 stores chapters in a text ("data") track
    assert kept == [("video", "h264", "und"), ("audio", "aac", "eng"), ("audio", "opus", "fra")]
    with av.open(str(out)) as c:
        assert c.metadata["title"] == "My film" and len(c.chapters()) == 2
        assert c.metadata["creation_time"].startswith("2020-01-02T03:04:05")
    assert "subtitle, subrip, deu" in caplog.text and "cannot hold subrip" in caplog.text
    assert "attachment" in caplog.text and "only .mkv" in caplog.text


def test_avi_reencodes_opus_and_drops_chapters(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        out = transcode(rich_clip(tmp_path), tmp_path / "out.avi")
    kinds = streams_of(out)
    assert [k[:2] for k in kinds] == [("video", "mpeg4"), ("audio", "aac"), ("audio", "mp3")]
    assert "re-encoded to libmp3lame" in caplog.text and "2 chapters: avi files cannot hold chapters" in caplog.text


def test_truncated_matroska_warns(tmp_path, caplog):
    src = make_clip(tmp_path / "cut.mkv", n=20, w=64, h=32)
    src.write_bytes(src.read_bytes()[: int(src.stat().st_size * 0.6)])
    with caplog.at_level(logging.WARNING):
        info = probe(src)
    assert 0 < info.num_frames < 20 and len(list(VideoReader(src))) == info.num_frames
    assert "cut.mkv: its header says" in caplog.text and "truncated" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        probe(make_clip(tmp_path / "whole.mkv", n=20, w=64, h=32, audio=(("aac", 8000, "mono", None),)))
    assert caplog.text == ""  # an intact file (audio a little longer than video) is not flagged


def test_surround_audio_downmixed_for_mp2(tmp_path, caplog):
    src = make_clip(tmp_path / "in.mp4", n=4, fps=25, audio=(("aac", 48000, "5.1", None),))
    with caplog.at_level(logging.INFO):
        out = transcode(src, tmp_path / "out.mpg")
    with av.open(str(out)) as c:
        a = c.streams.audio[0].codec_context
        assert (a.name, a.layout.name, a.sample_rate) == ("mp2", "stereo", 48000)
    assert "downmixing to stereo" in caplog.text
    assert probe(out).num_frames == 4


def test_mov_text_subtitles_copied_into_mp4(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=4, audio=(("aac", 8000, "mono", "eng"),), subtitles=(("mov_text", "eng"),))
    out = transcode(src, tmp_path / "out.mov")
    assert [k[:2] for k in streams_of(out)] == [("video", "h264"), ("audio", "aac"), ("subtitle", "mov_text")]


def test_trim_applies_to_every_track(tmp_path):
    src = make_clip(tmp_path / "in.mkv", n=10, audio=(("aac", 8000, "mono", None), ("libopus", 48000, "mono", None)))
    info = probe(src)
    out = tmp_path / "first4.mkv"
    with VideoReader(src) as r, VideoWriter(out, info, streams_from=src, trim_audio=True) as w:
        for f in r:
            if f.index == 4:
                break
            w.write(f.rgb, f.pts)
    def starts(path: Path) -> list[float]:
        with av.open(str(path)) as c:
            packets = [p for p in c.demux(c.streams.audio) if p.size]
            return [max(float(p.pts * p.time_base) for p in packets if p.stream.index == s.index)
                    for s in c.streams.audio]

    assert all(t >= 0.3 for t in starts(src))
    assert all(t < 4 / 24 for t in starts(out))  # no packet starts after the last written frame
