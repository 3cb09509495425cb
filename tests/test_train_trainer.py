"""Tests of the training loop (colormnet.train.trainer): exact resume, frozen parts, run-folder
safety, data epochs and a 2-process gloo DDP run through torchrun."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from colormnet.errors import OutputError
from colormnet.train import checkpoint as ck
from colormnet.train.config import ForwardConfig, TrainConfig
from colormnet.train.dataset import DEFAULT_MAX_JUMP_SCHEDULE, max_jump_for
from colormnet.train.trainer import EpochBatchSampler, Trainer, build_train_model, epoch_boundaries, seed_everything


def _write_clips(root: Path) -> None:
    images = {"astro": skdata.astronaut(), "coffee": skdata.coffee()}
    for name, img in images.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(6):
            crop = np.ascontiguousarray(img[60 + 3 * i:196 + 3 * i, 80 + 4 * i:240 + 4 * i])
            Image.fromarray(crop).save(folder / f"{i:03d}.png")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    _write_clips(root)
    return root


def _cfg(data_root: Path, out: Path, **kw) -> TrainConfig:
    base = dict(data_root=str(data_root), out_dir=str(out), model="tiny", init="random", num_frames=4,
                forward=ForwardConfig(num_ref_frames=2, deep_update_prob=0.5), crop_size=112, batch_size=1,
                num_workers=0, iterations=6, loader_chunk=2, lr=3e-4, lr_milestones=(4,), log_every=1, save_every=100,
                keep_snapshots=False, tensorboard=False, device="cpu", flush_denormal=False)
    base.update(kw)
    return TrainConfig(**base)


def _losses(out: Path) -> list[dict[str, str]]:
    """Rows of train_log.csv without the timing column (the exact text, to compare bitwise)."""
    with open(out / ck.TRAIN_LOG_NAME, newline="", encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if k != "sec_per_iter"} for row in csv.DictReader(f)]


def test_epochs_follow_schedule_and_samplers_split_ranks():
    cfg = TrainConfig(data_root="x", iterations=160000)
    bounds = epoch_boundaries(cfg, DEFAULT_MAX_JUMP_SCHEDULE)
    for start in (16000, 48000, 144000, 150000):
        assert start in bounds
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):  # one max jump and one phase per epoch
        assert max_jump_for(a / 160000) == max_jump_for((b - 1) / 160000)
        assert (a >= 150000) == (b - 1 >= 150000)
    full = list(EpochBatchSampler(5, 1, 3, 10, 0, 6, 4))  # epoch 3 starts at iteration 10
    ranks = [list(EpochBatchSampler(5, 1, 3, 10, 0, 6, 4, rank=r, world_size=2)) for r in range(2)]
    assert [a + b for a, b in zip(*ranks, strict=True)] == full
    keys = sum(full, [])
    assert sorted(k[0] for k in keys[:5]) == [0, 1, 2, 3, 4]  # a permutation before repeats
    assert [k[1] for k in keys] == list(range(40, 64))  # unique per-sample draws, continuing the run's count
    assert list(EpochBatchSampler(5, 1, 3, 10, 2, 4, 4)) == full[2:]  # resuming mid-epoch skips exactly


def test_a_clip_drawn_again_gets_new_frames_and_crop(data_root):
    from colormnet.train.dataset import VideoDatasetConfig, VideoFrameDataset
    from colormnet.train.trainer import SampleDraws

    draws = SampleDraws(VideoFrameDataset(data_root, VideoDatasetConfig(num_frames=3, crop_size=112)))
    a, b, again = draws[(0, 7)], draws[(0, 8)], draws[(0, 7)]
    assert torch.equal(a["ab"], again["ab"]) and not torch.equal(a["ab"], b["ab"])


def test_resume_reproduces_the_uninterrupted_loss_trajectory(data_root, tmp_path):
    whole = tmp_path / "whole"
    summary = Trainer(_cfg(data_root, whole)).fit()
    assert summary["iteration"] == 6
    split = tmp_path / "split"
    assert Trainer(_cfg(data_root, split)).fit(max_steps=3)["iteration"] == 3  # stops mid-epoch [2, 4)
    assert ck.load_training_state(split / ck.CHECKPOINT_NAME)["iteration"] == 3
    Trainer(_cfg(data_root, split), resume="auto").fit()
    expected, got = _losses(whole), _losses(split)
    assert len(expected) == 6 and got == expected  # bitwise-equal losses, same epochs, lr, max jump
    assert [row["lr"] for row in expected] == ["0.0003"] * 4 + ["2.9999999999999997e-05"] * 2
    assert [int(row["max_jump"]) for row in expected] == [5, 10, 15, 15, 15, 15]
    assert [int(row["epoch"]) for row in expected] == [0, 1, 2, 2, 3, 3]
    a = ck.load_training_state(whole / ck.CHECKPOINT_NAME)["model"]
    b = ck.load_training_state(split / ck.CHECKPOINT_NAME)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    seed_everything(TrainConfig().seed)  # frozen DINOv2 branch and BatchNorm statistics never moved
    fresh = build_train_model(_cfg(data_root, whole)).state_dict()
    moved = [k for k in a if not torch.equal(a[k], fresh[k])]
    assert moved and not [k for k in moved if k.startswith("key_encoder.network2.") or "running_" in k]


def test_new_run_refuses_an_existing_run_folder(data_root, tmp_path):
    out = tmp_path / "run"
    Trainer(_cfg(data_root, out, iterations=1, keep_snapshots=True)).fit()
    assert (out / ck.snapshot_name(1)).is_file()
    with pytest.raises(OutputError, match="already holds a training run"):
        Trainer(_cfg(data_root, out, iterations=1))
    Trainer(_cfg(data_root, out, iterations=1), overwrite=True).fit()
    assert len(_losses(out)) == 1 and not (out / ck.snapshot_name(1)).exists()  # old run's files gone
    assert json.loads((out / ck.CONFIG_NAME).read_text())["keep_snapshots"] is False


def test_torchrun_two_process_gloo_ddp_replicas_and_exact_resume(data_root, tmp_path):
    """A 2-process gloo DDP run through torchrun keeps the replicas identical, and (issue 9.11) one
    stopped after 2 of 4 iterations and resumed gives bitwise the losses and weights of the
    uninterrupted run (each rank's RNG saved and restored, not rank 0's)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def torchrun(out: Path, *extra: str) -> None:
        cfg = tmp_path / f"{out.name}.json"
        cfg.write_text(json.dumps(_cfg(data_root, out, batch_size=2, iterations=4, num_frames=3,
                                       forward=ForwardConfig(num_ref_frames=2, deep_update_prob=0.5)).to_dict()))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "colormnet", "train", "--config", str(cfg), *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    whole, split = tmp_path / "whole", tmp_path / "split"
    torchrun(whole)
    summary = json.loads((whole / "summary.json").read_text())  # replicas stay identical
    sums = summary["replica_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]
    assert summary["iteration"] == 4 and len(_losses(whole)) == 4
    net = build_train_model(_cfg(data_root, whole))  # the saved weights are the replicas' weights
    net.load_state_dict(ck.load_training_state(whole / ck.CHECKPOINT_NAME)["model"])
    with torch.no_grad():
        assert float(sum(p.double().sum() for p in net.parameters())) == sums[0][0]
    torchrun(split, "--max-steps", "2")
    state = ck.load_training_state(split / ck.CHECKPOINT_NAME)
    assert state["iteration"] == 2 and len(state["rng_per_rank"]) == 2
    assert not torch.equal(state["rng_per_rank"][0]["generator"], state["rng_per_rank"][1]["generator"])
    torchrun(split, "--resume")
    expected, got = _losses(whole), _losses(split)
    assert len(expected) == 4 and got == expected
    a = ck.load_training_state(whole / ck.CHECKPOINT_NAME)["model"]
    b = ck.load_training_state(split / ck.CHECKPOINT_NAME)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_runs_stops_and_resumes(data_root, tmp_path, capsys):
    from colormnet.cli import main as cli_main

    out = tmp_path / "cli"
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(_cfg(data_root, out, iterations=2, num_frames=3).to_dict()))
    assert cli_main(["train", "--config", str(cfg), "--max-steps", "1", "log_every=1"]) == 0
    assert "stopped at iteration 1" in capsys.readouterr().out
    assert cli_main(["train", "--config", str(cfg), "log_every=1"]) == 2  # refuses to clobber the run
    assert "already holds a training run" in capsys.readouterr().err
    assert cli_main(["train", "--config", str(cfg), "--resume", "log_every=1"]) == 0
    assert [row["iteration"] for row in _losses(out)] == ["1", "2"]


def test_cpu_training_flushes_subnormals_when_asked(data_root, tmp_path):
    subnormal = torch.tensor([1e-39])
    try:
        Trainer(_cfg(data_root, tmp_path / "a"))
        assert float(subnormal * 1.0) != 0.0
        Trainer(_cfg(data_root, tmp_path / "b", flush_denormal=True))
        assert float(subnormal * 1.0) == 0.0
    finally:
        torch.set_flush_denormal(False)
