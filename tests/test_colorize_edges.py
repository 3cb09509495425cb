"""Issue 9 items 7 and 9 beyond the bad-input matrix: ``colorize .``, and keyframe exemplars when
the container's frame count is wrong (decode to the real end; warn about a keyframe never reached)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import colormnet.io.video as video
from colormnet.cli import main
from colormnet.io.video import probe
from tests.media import make_gray_clip


@pytest.fixture()
def use_tiny(monkeypatch, tiny_model):
    monkeypatch.setattr("colormnet.api.build_model", lambda *a, **k: tiny_model)
    return tiny_model


@pytest.fixture()
def ref(tmp_path) -> Path:
    p = tmp_path / "ref.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(p)
    return p


def _claimed_count(monkeypatch, count: int) -> None:
    """Make the container report ``count`` frames whatever the file really holds."""
    real = video.probe
    monkeypatch.setattr(video, "probe", lambda p: dataclasses.replace(real(p), num_frames=count))


def test_colorize_dot_names_the_output_after_the_folder(use_tiny, ref, tmp_path, monkeypatch, capsys):
    frames = tmp_path / "shot"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((24, 40), 30 * i, np.uint8)).save(frames / f"{i}.png")
    monkeypatch.chdir(frames)
    assert main(["colorize", ".", "-e", str(ref), "--quiet", "--device", "cpu"]) == 0
    out = tmp_path / "shot_colorized"
    assert capsys.readouterr().out.strip().endswith("shot_colorized")
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".png") == ["0.png", "1.png", "2.png"]


def test_output_not_truncated_at_an_understated_frame_count(use_tiny, ref, tmp_path, monkeypatch):
    clip = make_gray_clip(tmp_path / "clip.mp4", n=8, w=40, h=24, fps=24)
    _claimed_count(monkeypatch, 5)
    out = tmp_path / "out.mp4"
    assert main(["colorize", str(clip), "-e", f"{ref}@0", "-o", str(out), "--quiet", "--device", "cpu"]) == 0
    monkeypatch.undo()
    assert probe(out).num_frames == 8  # every decoded frame, not the container's 5


def test_keyframe_never_reached_is_warned_at_the_end(use_tiny, ref, tmp_path, monkeypatch, caplog):
    clip = make_gray_clip(tmp_path / "clip.mp4", n=8, w=40, h=24, fps=24)
    _claimed_count(monkeypatch, 12)  # the container overstates: frame 10 looks valid before the run
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING):
        assert main(["colorize", str(clip), "-e", f"{ref}@0", "-e", f"{ref}@10", "-o", str(out), "--quiet",
                     "--device", "cpu"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("frame 10 was never used" in m and "ended after 8 frames" in m for m in warnings), warnings


def test_keyframe_within_a_known_count_is_checked_before_the_model_loads(ref, tmp_path, monkeypatch, capsys):
    clip = make_gray_clip(tmp_path / "clip.mp4", n=8, w=40, h=24, fps=24)

    def no_model(*a, **k):
        raise AssertionError("the model must not be loaded for a bad keyframe")

    monkeypatch.setattr("colormnet.api.build_model", no_model)
    assert main(["colorize", str(clip), "-e", f"{ref}@9", "--quiet"]) == 2
    assert "frame 9" in capsys.readouterr().err
