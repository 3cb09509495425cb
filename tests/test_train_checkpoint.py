"""Tests of run artefacts (colormnet.train.checkpoint): atomic writes, RNG state, checkpoint format,
CSV logs, validation PSNR."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from colormnet.config import ModelConfig
from colormnet.model.network import ColorMNet
from colormnet.train import checkpoint as ck
from colormnet.train.validation import validate
from colormnet.weights import load_state_dict_file


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "state.pth"
    ck.atomic_torch_save({"a": torch.ones(3)}, path)

    def broken(f):
        f.write(b"partial garbage")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        ck.atomic_write(path, broken)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pth"]  # no temporary left
    ck.atomic_write_text(tmp_path / "x.txt", "hello")
    assert (tmp_path / "x.txt").read_text() == "hello"
    assert (tmp_path / "x.txt").stat().st_mode & 0o044  # readable by others (not mkstemp's 0600)


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    gen = torch.Generator().manual_seed(5)
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # leave a cached gaussian in numpy's legacy state
    ck.atomic_torch_save(ck.capture_rng_state(gen), tmp_path / "rng.pth")
    expected = (random.random(), np.random.rand(), np.random.randn(), torch.rand(2), torch.rand(2, generator=gen))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    gen.manual_seed(9)
    ck.restore_rng_state(torch.load(tmp_path / "rng.pth", weights_only=True), gen)
    got = (random.random(), np.random.rand(), np.random.randn(), torch.rand(2), torch.rand(2, generator=gen))
    assert got[:3] == expected[:3]
    assert torch.equal(got[3], expected[3]) and torch.equal(got[4], expected[4])


def test_training_state_file_format(tmp_path):
    torch.manual_seed(0)
    net = ColorMNet(ModelConfig.tiny())
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    for p in net.parameters():  # a fake gradient, so AdamW has moments to save
        p.grad = torch.ones_like(p)
    opt.step()
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [3], 0.1)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    path = tmp_path / ck.CHECKPOINT_NAME
    ck.save_training_state(path, model=net, optimizer=opt, scheduler=sched, scaler=scaler, iteration=7,
                           data_epoch=2, rng=ck.capture_rng_state(), config={"lr": 1e-3}, best_psnr=None)
    state = ck.load_training_state(path)
    assert state["iteration"] == 7 and state["data_epoch"] == 2 and state["config"] == {"lr": 1e-3}
    assert state["optimizer"]["state"]  # AdamW moments are in
    weights = load_state_dict_file(path)  # inference code can read the network straight out of it
    assert weights.keys() == net.state_dict().keys()
    ck.save_model_weights(tmp_path / "m.pth", net, iteration=7)
    assert load_state_dict_file(tmp_path / "m.pth").keys() == net.state_dict().keys()
    with pytest.raises(Exception, match="not a training checkpoint"):
        ck.load_training_state(tmp_path / "m.pth")


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_log_appends_and_truncates_on_resume(tmp_path):
    path = tmp_path / "log.csv"
    log = ck.CsvLog(path, ["iteration", "loss"])
    for i in range(1, 6):
        log.append({"iteration": i, "loss": 1.0 / i, "ignored": "x"})
    assert [r["loss"] for r in _rows(path)][:2] == ["1.0", "0.5"]
    resumed = ck.CsvLog(path, ["iteration", "loss"], keep_until=3)
    resumed.append({"iteration": 4, "loss": 0.125})
    assert [(r["iteration"], r["loss"]) for r in _rows(path)] == [
        ("1", "1.0"), ("2", "0.5"), ("3", "0.3333333333333333"), ("4", "0.125")]
    assert float(_rows(path)[2]["loss"]) == 1.0 / 3  # repr keeps floats exact


def _write_clip(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    img = skdata.coffee()
    for i in range(count):
        Image.fromarray(np.ascontiguousarray(img[50 + 2 * i:146 + 2 * i, 100 + 3 * i:228 + 3 * i])).save(
            folder / f"{i:04d}.png")


def test_validation_psnr_over_strided_frames(tmp_path):
    _write_clip(tmp_path / "val" / "a", 7)
    _write_clip(tmp_path / "val" / "short", 1)  # too short: ignored
    torch.manual_seed(0)
    net = ColorMNet(ModelConfig.tiny()).train()
    result = validate(net, tmp_path / "val", frame_stride=2)
    assert not net.training
    assert result["clips"] == 1 and result["frames"] == 3  # frames 0, 2, 4, 6; frame 0 is the exemplar
    assert 10.0 < result["psnr"] < 100.0
    capped = validate(net, tmp_path / "val", frame_stride=1, max_frames=3, max_side=64)
    assert capped["frames"] == 2 and np.isfinite(capped["psnr"])
