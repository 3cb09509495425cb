"""`colormnet colorize` end to end on media questions of issue 9 (items 3-6, 8 and unknown suffixes), with
the tiny model. Each test fails on 04ef717: AVI timing, rotation, odd sizes, WebM, streams, suffixes."""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

import colormnet.inference.engine as engine
from colormnet.cli import main
from colormnet.io import VideoReader
from tests.media import make_clip, make_gray_clip


@pytest.fixture()
def calls(monkeypatch, tiny_model):
    """The CLI gets the tiny model; the list records each time the model was requested."""
    seen: list[int] = []

    def load(*args, **kwargs):
        seen.append(1)
        return tiny_model

    monkeypatch.setattr("colormnet.api.build_model", load)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny frames: threads only add overhead on a shared CPU
    yield seen
    torch.set_num_threads(threads)


@pytest.fixture()
def ref(tmp_path):
    p = tmp_path / "ref.png"
    Image.new("RGB", (40, 24), (200, 120, 40)).save(p)
    return p


def colorize(*args: str) -> int:
    return main(["colorize", *map(str, args), "--quiet", "--device", "cpu"])


def test_avi_output_has_input_count_and_rate(calls, ref, tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=4, fps=24)  # time base 1/12288
    out = tmp_path / "o.avi"
    assert colorize(src, "-e", ref, "-o", out) == 0
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        times = [float(f.time) for f in c.decode(s)]
        assert (s.frames, s.average_rate, s.time_base) == (4, 24, Fraction(1, 24))
    assert np.allclose(np.diff(times), 1 / 24)


def test_webm_default_is_vp9(calls, ref, tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=2, audio=(("aac", 8000, "mono", "eng"),))
    out = tmp_path / "o.webm"
    assert colorize(src, "-e", ref, "-o", out) == 0
    with av.open(str(out)) as c:
        assert [s.codec_context.name for s in c.streams] == ["vp9", "opus"]  # AAC re-encoded to Opus
        assert len(list(c.decode(video=0))) == 2


def test_impossible_codec_rejected_before_model(calls, ref, tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", n=2)
    assert colorize(src, "-e", ref, "-o", tmp_path / "o.webm", "--codec", "libx264") == 2
    assert "--codec libx264" in capsys.readouterr().err and not calls
    assert not (tmp_path / "o.webm").exists()


def test_odd_size_kept_exactly(calls, ref, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    src = make_gray_clip(tmp_path / "gray.mkv", n=2, w=33, h=17)
    out = tmp_path / "o.mp4"
    assert colorize(src, "-e", ref, "-o", out) == 0
    with av.open(str(out)) as c:
        f = next(c.decode(video=0))
        assert (f.width, f.height, f.format.name) == (33, 17, "yuv444p")
    assert "--pix-fmt yuv420p" in caplog.text and "pix_fmt yuv444p" not in caplog.text  # no dead advice


def test_pix_fmt_flag(calls, ref, tmp_path, caplog, capsys):
    caplog.set_level(logging.WARNING)
    src = make_gray_clip(tmp_path / "gray.mkv", n=2, w=33, h=17)
    out = tmp_path / "o.mp4"
    assert colorize(src, "-e", ref, "-o", out, "--pix-fmt", "yuv420p") == 0
    with av.open(str(out)) as c:
        f = next(c.decode(video=0))
        assert (f.width, f.height, f.format.name) == (34, 18, "yuv420p")
    assert "padded" in caplog.text and "--pix-fmt yuv444p" in caplog.text
    assert colorize(src, "-e", ref, "-o", tmp_path / "x.mp4", "--pix-fmt", "yuv9") == 2
    assert "--pix-fmt yuv9" in capsys.readouterr().err and len(calls) == 1  # the second run loaded nothing


def test_rotated_clip_colorized_upright_and_exemplar_sized_to_display(calls, ref, tmp_path, monkeypatch):
    sizes = []
    original = engine.resize_exemplar

    def spy(rgb, size):
        sizes.append(tuple(size))
        return original(rgb, size)

    monkeypatch.setattr(engine, "resize_exemplar", spy)
    src = make_clip(tmp_path / "phone.mp4", n=2, w=32, h=16, rotation=-90)
    out = tmp_path / "o.mp4"
    assert colorize(src, "-e", f"{ref}@0", "-o", out, "--max-side", "0") == 0
    with av.open(str(out)) as c:
        f = next(c.decode(video=0))
        assert (f.width, f.height, f.rotation) == (16, 32, 0)
    assert sizes and all(s == (16, 32) for s in sizes)  # (width, height) as displayed


def test_all_streams_kept(calls, ref, tmp_path):
    src = make_clip(tmp_path / "in.mkv", n=3, audio=(("aac", 8000, "mono", "eng"), ("libopus", 48000, "mono", "fra")),
                    subtitles=(("subrip", "deu"),), chapters=2, metadata={"title": "Film"})
    out = tmp_path / "o.mkv"
    assert colorize(src, "-e", ref, "-o", out) == 0
    with av.open(str(out)) as c:
        assert [(s.type, s.metadata.get("language")) for s in c.streams] == [
            ("video", None), ("audio", "eng"), ("audio", "fra"), ("subtitle", "deu")]
        assert c.metadata["title"] == "Film" and len(c.chapters()) == 2


@pytest.mark.parametrize("suffix", [".ts", ".mpg"])
def test_other_writable_containers(calls, ref, tmp_path, suffix):
    src = make_clip(tmp_path / "in.mp4", n=3, fps=25)
    out = tmp_path / f"o{suffix}"
    assert colorize(src, "-e", ref, "-o", out) == 0
    assert len(list(VideoReader(out))) == 3  # (FFmpeg needs the format named for a TS this short)


@pytest.mark.parametrize("name", ["out.gif", "out.xyz"])
def test_unknown_or_refused_suffix_is_not_a_folder(calls, ref, tmp_path, capsys, name):
    src = make_clip(tmp_path / "in.mp4", n=2)
    assert colorize(src, "-e", ref, "-o", tmp_path / name) == 2
    assert name in capsys.readouterr().err and not calls
    assert not (tmp_path / name).exists()


def test_folder_output_by_trailing_slash(calls, ref, tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=2)
    assert colorize(src, "-e", ref, "-o", f"{tmp_path / 'frames.v2'}/") == 0
    pngs = sorted(p.name for p in (tmp_path / "frames.v2").iterdir() if p.suffix == ".png")
    assert pngs == ["00000.png", "00001.png"]


def test_help_documents_media_flags(capsys):
    with pytest.raises(SystemExit):
        main(["colorize", "--help"])
    text = capsys.readouterr().out
    for word in ("--pix-fmt", "--codec", ".webm", "libvpx-vp9", ".avi", "constant rate", "rotation", "subtitles"):
        assert word in text
