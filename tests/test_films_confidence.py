"""Confidence maps, the run report and the bidirectional pass (tiny model, real spliced clip)."""

from __future__ import annotations

import csv
import json
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from colormnet.api import colorize_video, confidence_csv_path, report_path
from colormnet.inference.bidirectional import iter_colorize_bidirectional
from colormnet.inference.engine import ColorizeOptions, iter_colorize
from colormnet.inference.exemplars import Exemplar
from tests.film_media import decoded, needs_clips, spliced

pytestmark = needs_clips
OPTS = ColorizeOptions(max_side=0)


def test_confidence_is_in_0_1_and_drops_after_an_unseen_cut(tiny_model):
    frames, cut = spliced(30, 30, 96, 64)
    res = list(iter_colorize(tiny_model, frames, [Exemplar(frames[0], 0, "bikes")], OPTS))
    conf = np.stack([r.confidence for r in res])
    assert conf.shape == (60, 64, 96) and conf.min() >= 0 and conf.max() <= 1
    assert np.all(conf[0] == 1)  # the exemplar's own frame
    before, after = conf[1:cut].mean(), conf[cut:].mean()
    assert after < 0.6 * before, (before, after)
    # an exemplar of the second scene restores it
    fixed = list(iter_colorize(tiny_model, frames, [Exemplar(frames[0], 0, "a"), Exemplar(frames[cut], cut, "b")],
                               OPTS))
    assert np.mean([r.confidence.mean() for r in fixed[cut:]]) > 1.5 * after


def test_confidence_outputs_and_report(tiny_model, tmp_path):
    frames, cut = spliced(20, 20, 64, 48)
    src = tmp_path / "film"
    src.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(src / f"{i}.png")
    ref = tmp_path / "ref.png"
    Image.fromarray(frames[0]).save(ref)
    out = colorize_video(src, [f"{ref}@0"], tmp_path / "out", model=tiny_model, device="cpu", progress=False,
                         confidence=tmp_path / "conf", scene_cuts="report", report=True)
    conf_pngs = sorted((tmp_path / "conf").glob("*.png"))
    assert len(conf_pngs) == 40 and np.asarray(Image.open(conf_pngs[0])).min() == 255  # frame 0: exemplar
    with open(confidence_csv_path(tmp_path / "conf")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 40 and float(rows[0]["mean_confidence"]) == 1.0
    assert [int(r["frame"]) for r in rows if r["is_cut"] == "1"] == [cut]
    report = json.loads(report_path(out).read_text())
    assert report["scene_cuts"] == [cut] and report["scene_detector"]["detector"] == "AdaptiveDetector"
    assert [s["first_frame"] for s in report["shots"]] == [0, cut]
    # the unseen second shot is the one that needs an exemplar
    assert report["would_benefit_from_exemplar"][0]["index"] == 1 or report["shots"][1]["mean_confidence"] < \
        report["shots"][0]["mean_confidence"]


def test_bidirectional_equals_forward_with_only_a_frame0_exemplar(tiny_model):
    frames = list(decoded("bikes", 46, 58, 64, 48))
    ex = [Exemplar(frames[0], 0, "first")]
    fwd = list(iter_colorize(tiny_model, frames, ex, OPTS))
    both = list(iter_colorize_bidirectional(tiny_model, lambda: iter(frames), ex, OPTS))
    for a, b in zip(fwd, both, strict=True):
        np.testing.assert_array_equal(a.rgb, b.rgb)


def test_bidirectional_uses_the_late_exemplar_before_it(tiny_model, tmp_path):
    frames = list(decoded("bikes", 46, 62, 64, 48))
    late = 12
    ex = [Exemplar(frames[0], 0, "first"), Exemplar(frames[late], late, "late")]
    fwd = list(iter_colorize(tiny_model, frames, ex, OPTS))
    both = list(iter_colorize_bidirectional(tiny_model, lambda: iter(frames), ex, OPTS, workdir=tmp_path))
    assert not any(tmp_path.iterdir())  # temporary files removed
    assert np.abs(both[late - 1].ab - fwd[late - 1].ab).max() > 1e-3  # the backward pass reaches back
    assert both[late - 1].confidence.mean() > fwd[late - 1].confidence.mean()
    for t in (0, late, late + 1, len(frames) - 1):  # exemplar frames and frames after the last one: forward
        np.testing.assert_array_equal(both[t].rgb, fwd[t].rgb)


def _peak_python_memory(tiny_model, n: int) -> int:
    frame = decoded("bikes", 46, 47, 128, 96)[0]
    ex = [Exemplar(frame, 0, "first"), Exemplar(frame, n - 1, "last")]

    def frames():
        rng = np.random.default_rng(0)
        for _ in range(n):
            yield np.clip(frame.astype(np.int16) + rng.integers(-3, 4, frame.shape), 0, 255).astype(np.uint8)
    tracemalloc.start()
    for _ in iter_colorize_bidirectional(tiny_model, frames, ex, ColorizeOptions(max_side=0)):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


@pytest.mark.slow
def test_bidirectional_memory_does_not_grow_with_length(tiny_model):
    # frames, chroma and confidence go to disk: 4x the frames must not need more memory (numpy
    # allocations are traced; keeping every 128x96 frame's results would add > 2 MB). A first short
    # run pays the one-time allocations (imports, caches).
    _peak_python_memory(tiny_model, 3)
    short, long = _peak_python_memory(tiny_model, 20), _peak_python_memory(tiny_model, 80)
    assert long < short + 1_000_000, (short, long)
