"""`colormnet demo`: the bundled clip is valid and small, and the command colourises it (tiny model)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from colormnet.cli import main
from colormnet.color import rgb_to_lab_norm
from colormnet.demo import demo_media, open_command
from colormnet.io.video import VideoReader, probe


def test_bundled_media_are_small_gray_and_match():
    clip, exemplar = demo_media()
    assert clip.stat().st_size + exemplar.stat().st_size < 400_000
    info = probe(clip)
    assert (info.width, info.height, info.num_frames) == (384, 256, 48)
    with VideoReader(clip) as reader:
        frames = [f.rgb for f in reader]
    first = frames[0].astype(int)
    assert np.abs(first[..., 0] - first[..., 1]).max() <= 3  # grayscale content
    ref = np.asarray(Image.open(exemplar).convert("RGB"))
    assert ref.shape == (256, 384, 3)
    # the exemplar is the colour version of frame 0: same lightness
    l_ref = rgb_to_lab_norm(ref)[0]
    l_first, l_last = (rgb_to_lab_norm(f)[0] for f in (frames[0], frames[-1]))
    assert np.abs(l_ref - l_first).mean() < 0.08 < np.abs(l_ref - l_last).mean()  # and the camera moves


def test_demo_writes_colour_video_in_cwd(tiny_model, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("colormnet.api.build_model", lambda *a, **k: tiny_model)
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--max-frames", "3", "--device", "cpu", "--quiet"]) == 0
    out = tmp_path / "colormnet_demo.mp4"
    printed = capsys.readouterr().out
    assert open_command(out.name) in printed and "CC BY-NC-SA 4.0" in printed
    assert probe(out).num_frames == 3
    with VideoReader(out) as reader:
        frame0 = next(iter(reader)).rgb
    ref = np.asarray(Image.open(demo_media()[1]).convert("RGB"))
    ab_out, ab_ref = rgb_to_lab_norm(frame0)[1:], rgb_to_lab_norm(ref)[1:]
    assert np.abs(ab_out).mean() > 0.05  # coloured, not gray
    assert np.abs(ab_out - ab_ref).mean() < 0.03  # frame 0 takes the exemplar's colours
    # a second run refuses to clobber the result
    assert main(["demo", "--max-frames", "1", "--device", "cpu", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_demo_without_weights_says_what_to_do(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COLORMNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COLORMNET_WEIGHTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--no-download", "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "colormnet weights" in err or "download" in err
    assert not (tmp_path / "colormnet_demo.mp4").exists()


def test_demo_where_prints_bundled_paths(capsys):
    assert main(["demo", "--where"]) == 0
    assert capsys.readouterr().out.split() == [str(p) for p in demo_media()]
