"""Confidence maps, the run report and the bidirectional pass (tiny model, real spliced clip)."""

from __future__ import annotations

import csv
import gc
import json
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from colormnet.api import colorize_video, confidence_csv_path, report_path
from colormnet.config import MemoryConfig
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


def _bytes_held_by(root: object) -> tuple[int, int]:
    """(torch tensor storage bytes, numpy array bytes) reachable from ``root`` (e.g. a suspended
    generator: its frame, locals, the objects they hold, ...), each counted once; the walk does not
    enter modules' globals, classes, code or networks (the weights are not the driver's state)."""
    module_dicts = {id(vars(m)) for m in list(sys.modules.values()) if hasattr(m, "__dict__")}
    stop = (types.ModuleType, type, types.CodeType, torch.nn.Module)
    seen, stack, storages, arrays = set(), [root], {}, {}
    while stack:
        obj = stack.pop()
        if id(obj) in seen or id(obj) in module_dicts or issubclass(type(obj), stop):
            continue
        seen.add(id(obj))
        if type(obj) is np.ndarray:
            arrays[id(obj)] = obj.nbytes
        elif issubclass(type(obj), torch.Tensor):
            st = obj.untyped_storage()
            storages[st.data_ptr()] = st.nbytes()
        else:
            stack.extend(gc.get_referents(obj))
    return sum(storages.values()), sum(arrays.values())


@pytest.mark.slow
def test_bidirectional_long_run_holds_nothing_per_frame(tiny_model, tmp_path):
    # 200 frames, late exemplar at the last one (so the backward pass covers them all), a small memory
    # that fills within the first frames. The torch tensors and numpy arrays the running driver holds
    # are counted while its forward pass is at frame 20 and at frame 199: the first pass's chroma and
    # confidence are on disk (one file per frame), not in memory (at least 3 x 112 x 48 x 2 bytes =
    # 32 KB per frame, 6.4 MB in all), and nothing grows with the frames done.
    n, early = 200, 20
    frame = decoded("bikes", 46, 47, 112, 48)[0]
    ex = [Exemplar(frame, 0, "first"), Exemplar(frame, n - 1, "last")]
    memory = MemoryConfig(mem_every=2, max_mid_term_frames=4, min_mid_term_frames=2, max_long_term_elements=100,
                          num_prototypes=16)
    opts = ColorizeOptions(memory, max_side=0, scene_cuts="off")

    def frames():
        rng = np.random.default_rng(0)
        for _ in range(n):
            yield np.clip(frame.astype(np.int16) + rng.integers(-3, 4, frame.shape), 0, 255).astype(np.uint8)
    samples = {}
    run = iter_colorize_bidirectional(tiny_model, frames, ex, opts, workdir=tmp_path)
    for t, res in enumerate(run):
        if t in (early, n - 1):
            (store,) = tmp_path.iterdir()
            stored = sorted(p.name for p in store.glob("b_*.npz"))
            assert stored == [f"b_{k:07d}.npz" for k in range(n)]  # the whole backward pass, on disk
            del res
            samples[t] = _bytes_held_by(run)
    (tensors_early, arrays_early), (tensors_late, arrays_late) = samples[early], samples[n - 1]
    assert tensors_early > 0 and arrays_early > 0, samples  # the walk finds the session's memory, the frames
    assert tensors_early + arrays_early < 1_000_000, samples  # the backward results are not held
    # nothing per frame: the small memory still fills a little after frame 20 (about 50 KB of keys)
    assert tensors_late + arrays_late <= tensors_early + arrays_early + 300_000, samples
    assert not any(tmp_path.iterdir())  # the store is removed at the end
