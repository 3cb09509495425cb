"""Keyframes of a film's shots: ``colormnet scenes --keyframe sharpest`` on a real clip, and
``--exemplar-dir`` reading the shot list's keyframe -> image mapping."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from colormnet.cli import main
from colormnet.errors import InputError
from colormnet.inference.exemplars import exemplars_from_dir
from colormnet.io.video import VideoReader
from tests.film_media import BIKES, needs_clips

N_FRAMES = 187  # bikes.mp4 frames 0..186: cuts at 30, 76 and 137


def _reference_focus(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the Rec. 601 luma over the interior pixels (scipy's 5-point
    Laplacian; its border values depend on the padding mode and are left out)."""
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return float(ndimage.laplace(luma)[1:-1, 1:-1].var())


@needs_clips
@pytest.mark.parametrize("choice", ["sharpest", "first"])
def test_scenes_keyframe_choice_on_a_real_clip(tmp_path, choice, capsys):
    pytest.importorskip("scenedetect")
    out = tmp_path / "shots"
    args = ["scenes", str(BIKES), "-o", str(out), "--quiet", "--max-frames", str(N_FRAMES)]
    assert main([*args, "--keyframe", choice] if choice != "first" else args) == 0
    report = json.loads((out / "shots.json").read_text())
    assert report["keyframe"]["choice"] == choice and "Laplacian" in report["keyframe"]["focus_measure"]
    shots = report["shots"]
    assert [(s["first_frame"], s["last_frame"]) for s in shots] == [(0, 29), (30, 75), (76, 136), (137, 186)]
    with VideoReader(BIKES) as reader:
        frames = [f.rgb for f in itertools.islice(reader, N_FRAMES)]
    focus = np.array([_reference_focus(f) for f in frames])
    expected = [s["first_frame"] + (int(np.argmax(focus[s["first_frame"]:s["last_frame"] + 1]))
                                    if choice == "sharpest" else 0) for s in shots]
    assert [s["keyframe"] for s in shots] == expected
    if choice == "sharpest":
        assert expected != [0, 30, 76, 137]  # the test tells the two choices apart on this clip
    for s in shots:
        assert s["image"] == f"{s['keyframe']:06d}.png"
        assert s["keyframe_focus"] == pytest.approx(focus[s["keyframe"]], abs=1e-3)
        np.testing.assert_array_equal(np.asarray(Image.open(out / s["image"])), frames[s["keyframe"]])
    assert sorted(p.name for p in out.glob("*.png")) == [f"{k:06d}.png" for k in expected]
    assert f"keyframe {expected[1]:06d}.png" in capsys.readouterr().out
    # --exemplar-dir places each keyframe at its own frame (the PNGs are in colour already)
    exs = exemplars_from_dir(out)
    assert [e.frame for e in exs] == expected
    for e in exs:
        np.testing.assert_array_equal(e.rgb, frames[e.frame])


def _colour(seed: int, w: int = 24, h: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _shot_list(folder: Path, shots: list[dict]) -> None:
    (folder / "shots.json").write_text(json.dumps({"shots": shots}))


def test_exemplar_dir_follows_the_shot_list(tmp_path, caplog):
    d = tmp_path / "keys"
    d.mkdir()
    Image.fromarray(_colour(0)).save(d / "000000.png")
    Image.fromarray(_colour(1)).save(d / "shot 2, coloured.png")  # renamed in the editor: listed for frame 57
    Image.fromarray(_colour(2)).convert("L").save(d / "000090.png")  # listed, still gray
    Image.fromarray(_colour(3)).save(d / "000120.png")  # not listed: found by its <frame> name
    Image.fromarray(_colour(4)).save(d / "000030.png")  # the old name of the renamed one: not listed
    _shot_list(d, [{"keyframe": 0, "image": "000000.png"}, {"keyframe": 57, "image": "shot 2, coloured.png"},
                   {"keyframe": 90, "image": "000090.png"}])
    exs = exemplars_from_dir(d)
    assert [(e.frame, Path(e.source).name) for e in exs] == [
        (0, "000000.png"), (30, "000030.png"), (57, "shot 2, coloured.png"), (120, "000120.png")]
    np.testing.assert_array_equal(exs[2].rgb, _colour(1))
    assert "000090.png: not coloured" in caplog.text
    # without the shot list only the <frame> names count
    (d / "shots.json").unlink()
    assert [e.frame for e in exemplars_from_dir(d)] == [0, 30, 120]


@pytest.mark.parametrize("text, problem", [
    ("{not json", "cannot be read as a shot list"),
    ('["000000.png"]', "not a shot list"),
    ('{"shots": [{"keyframe": "0", "image": "000000.png"}]}', "shot 0 needs a 'keyframe'"),
    ('{"shots": [{"keyframe": 0}]}', "shot 0 needs a 'keyframe'"),
    ('{"shots": [{"keyframe": 0, "image": "000000.png"}, {"keyframe": 7, "image": "gone.png"}]}',
     "gone.png, which does not exist"),
])
def test_exemplar_dir_rejects_a_bad_shot_list(tmp_path, text, problem):
    d = tmp_path / "keys"
    d.mkdir()
    Image.fromarray(_colour(0)).save(d / "000000.png")
    (d / "shots.json").write_text(text)
    with pytest.raises(InputError) as err:
        exemplars_from_dir(d)
    assert str(d / "shots.json") in str(err.value) and problem in str(err.value)


def test_colorize_exits_2_on_a_bad_shot_list(tmp_path, capsys):
    d = tmp_path / "keys"
    d.mkdir()
    Image.fromarray(_colour(0)).save(d / "000000.png")
    _shot_list(d, [{"keyframe": 0, "image": "000000 (coloured).png"}])
    frames = tmp_path / "film"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(_colour(10 + i)).convert("L").save(frames / f"{i}.png")
    code = main(["colorize", str(frames), "--exemplar-dir", str(d), "-o", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "000000 (coloured).png" in err and "does not exist" in err
    assert not (tmp_path / "out").exists()
