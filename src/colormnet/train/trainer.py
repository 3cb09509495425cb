"""The training loop: data epochs, AdamW + MultiStepLR, AMP, DDP, logging, checkpoints, validation.

Reproducibility: every random choice is a function of the config and the iteration. Samples come
from :class:`VideoFrameDataset` (pure in (epoch, index, max_jump)); the clip indices of a data epoch
come from a seeded permutation stream (:class:`EpochBatchSampler`); the forward pass draws from its
own ``torch.Generator`` (seeded with seed + rank) whose state is checkpointed with the global RNGs.
A resumed run therefore continues with exactly the same samples and draws (bitwise equal losses on
the CPU).

Data epochs (:func:`epoch_boundaries`): the iterations are cut every ``loader_chunk`` iterations and
at the iterations where the max-jump schedule or the fine-tune phase changes. Before each epoch's
``iter(loader)`` the trainer calls ``dataset.set_max_jump(max_jump_for(start / iterations))`` (workers
are not persistent, so they see it). Clips are drawn with replacement, so instead of ``set_epoch`` every
sample gets its own counter as the dataset's epoch argument (:class:`SampleDraws`): no two samples of
a run share frames and augmentation by construction.

Distributed: under ``torchrun`` (``WORLD_SIZE`` > 1) each rank takes its slice of every global batch
from the same index stream; DDP uses NCCL on CUDA and gloo on the CPU; only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from colormnet.device import resolve_device
from colormnet.errors import InputError, OutputError
from colormnet.io.atomic import remove_quietly
from colormnet.model.network import ColorMNet
from colormnet.models import build_model, get_model_spec
from colormnet.train import checkpoint as ck
from colormnet.train.config import TrainConfig
from colormnet.train.dataset import VideoDatasetConfig, VideoFrameDataset, max_jump_for
from colormnet.train.forward import TrainingModule
from colormnet.train.init_weights import initialise
from colormnet.train.validation import validate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Process-group facts of this process (world_size 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto") -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment (no-op when WORLD_SIZE <= 1).

    Backend: NCCL when training on CUDA, gloo otherwise.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        use_cuda = device != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def build_train_model(cfg: TrainConfig) -> ColorMNet:
    """:func:`colormnet.models.build_model` of ``cfg.model`` ("full" = the released shape) with the variant
    fields ``key_encoder`` and ``local_window``, randomly initialised from the global generator, with the
    DINOv2 branch frozen when ``cfg.freeze_dino``."""
    name = "tiny" if cfg.model == "tiny" else "colormnet"
    config = dataclasses.replace(get_model_spec(name).config, key_encoder=cfg.key_encoder,
                                 local_window=cfg.local_window)
    net = build_model(name, pretrained=False, seed=None, config=config)
    dino = getattr(net.key_encoder, "network2", None)  # the "resnet" variant has none
    if cfg.freeze_dino and dino is not None:
        for p in dino.parameters():
            p.requires_grad_(False)
    return net


def set_training_mode(net: ColorMNet, cfg: TrainConfig) -> None:
    """Whole network in eval mode (``model_eval_mode``, the authors' choice), or train mode with the
    frozen DINOv2 branch kept in eval mode (so its BatchNorm statistics never move)."""
    net.train(not cfg.model_eval_mode)
    dino = getattr(net.key_encoder, "network2", None)
    if cfg.freeze_dino and dino is not None:
        dino.eval()


def epoch_boundaries(cfg: TrainConfig, schedule: tuple[tuple[float, int], ...]) -> list[int]:
    """Start iterations of the data epochs, followed by ``cfg.iterations``."""
    total = cfg.iterations
    points = set(range(0, total, cfg.loader_chunk))
    for start, _ in schedule:
        first = max(0, int(start * total) - 1)
        while first / total < start:
            first += 1
        points.add(first)
    if cfg.finetune_from >= 0:
        points.add(cfg.finetune_from)
    return sorted(p for p in points if 0 <= p < total) + [total]


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """Sample keys ``(clip index, draw)`` of this rank for iterations ``first .. first+count-1`` of the
    data epoch ``epoch`` (which starts at iteration ``epoch_start``).

    Clip indices: the epoch's global stream is a concatenation of permutations of ``range(num_clips)``
    from ``SeedSequence([seed, epoch])``; iteration i of the epoch uses entries
    ``i*global_batch .. (i+1)*global_batch-1`` and rank r the r-th ``local_batch`` of them. So every clip
    is seen once before any repeats, ranks never share a sample within a global batch, and skipping the
    first iterations (resume) costs nothing.

    ``draw`` = the sample's position in the whole run, ``(epoch_start + i) * global_batch + slot``: unique,
    so a clip drawn again gets new frames and augmentation (see :class:`SampleDraws`).
    """

    def __init__(self, num_clips: int, seed: int, epoch: int, epoch_start: int, first: int, count: int,
                 global_batch: int, rank: int = 0, world_size: int = 1) -> None:
        if global_batch % world_size:
            raise InputError(f"batch_size={global_batch} is not divisible by the {world_size} processes")
        self.num_clips, self.seed, self.epoch, self.epoch_start = num_clips, seed, epoch, epoch_start
        self.first, self.count, self.global_batch = first, count, global_batch
        self.local_batch = global_batch // world_size
        self.rank = rank

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch]))
        need = (self.first + self.count) * self.global_batch
        stream = np.concatenate([rng.permutation(self.num_clips)
                                 for _ in range(-(-need // self.num_clips))]) if need else np.zeros(0, int)
        for i in range(self.first, self.first + self.count):
            start = i * self.global_batch + self.rank * self.local_batch
            base = (self.epoch_start + i) * self.global_batch + self.rank * self.local_batch
            yield [(int(stream[start + j]), base + j) for j in range(self.local_batch)]


class SampleDraws(Dataset):
    """Map ``(clip index, draw)`` keys to ``dataset.sample(index, epoch=draw)``.

    :class:`VideoFrameDataset` samples are pure functions of (epoch, index, max_jump); the trainer
    draws clips with replacement, so it passes a per-sample counter as the epoch instead of calling
    ``set_epoch``, or a clip drawn twice in one data epoch would repeat the same frames and crop.
    The max jump is still the dataset's (``set_max_jump`` before each ``iter(loader)``).
    """

    def __init__(self, dataset: VideoFrameDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        index, draw = key
        return self.dataset.sample(index, epoch=draw)


class Trainer:
    """One training run. ``fit(max_steps)`` trains until ``cfg.iterations`` (or ``max_steps`` more)."""

    def __init__(self, cfg: TrainConfig, ctx: DistContext | None = None, resume: str | Path | None = None,
                 overwrite: bool = False) -> None:
        self.cfg, self.ctx = cfg, ctx or DistContext()
        self.device = resolve_device(cfg.device, local_rank=self.ctx.local_rank)
        if self.device.type == "cpu" and cfg.flush_denormal and not torch.set_flush_denormal(True):
            log.info("this CPU cannot flush subnormal floats to zero; training may slow down on them")
        self.out = Path(cfg.out_dir).expanduser()
        if not cfg.data_root:
            raise InputError("data_root is not set; pass data_root=FOLDER (clips as <data_root>/<clip>/<frames>)")
        self._prepare_out_dir(resume, overwrite)

        seed_everything(cfg.seed)
        self.net = build_train_model(cfg).to(self.device)
        self.generator = torch.Generator().manual_seed(cfg.seed + self.ctx.rank)
        self.iteration, self.best_psnr = 0, None
        params = [p for p in self.net.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, list(cfg.lr_milestones),
                                                              cfg.lr_gamma)
        use_cuda = self.device.type == "cuda"
        self.amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(cfg.amp) if use_cuda else None
        if cfg.amp != "off" and not use_cuda:
            log.info("amp=%s applies to CUDA only; training in float32 on %s", cfg.amp, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype is torch.float16)

        if resume is not None:
            self._load(resume)
        else:
            initialise(self.net, cfg.init, weights=cfg.weights, resnet50=cfg.resnet50, resnet18=cfg.resnet18,
                       dinov2=cfg.dinov2, extra_channels=cfg.extra_channel_init)
        module = TrainingModule(self.net, cfg.forward)
        if self.ctx.enabled:
            module = torch.nn.parallel.DistributedDataParallel(
                module, device_ids=[self.device.index] if use_cuda else None,
                find_unused_parameters=cfg.ddp_find_unused or cfg.num_frames < 3 or not cfg.freeze_dino)
        self.module = module
        self.datasets: dict[bool, VideoFrameDataset] = {}
        self.schedule = self._dataset(False).config.max_jump_schedule
        self.boundaries = epoch_boundaries(cfg, self.schedule)
        self._open_logs(resume is not None)

    # ----------------------------------------------------------------- setup
    def _prepare_out_dir(self, resume: str | Path | None, overwrite: bool) -> None:
        if not self.ctx.is_main:
            return
        if resume is None and (self.out / ck.CHECKPOINT_NAME).exists() and not overwrite:
            raise OutputError(f"{self.out} already holds a training run ({ck.CHECKPOINT_NAME}); pass --resume to "
                              "continue it, --overwrite to start again there, or choose another out_dir")
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create the run folder {self.out}: {err.strerror or err}") from err
        if resume is None and overwrite:  # drop the previous run's artefacts (logs are rewritten anyway)
            stale = [self.out / n for n in (ck.CHECKPOINT_NAME, ck.BEST_NAME, "summary.json", "tensorboard")]
            for path in stale + sorted(self.out.glob("model_[0-9]*.pth")):
                remove_quietly(path)

    def _load(self, resume: str | Path) -> None:
        path = self.out / ck.CHECKPOINT_NAME if str(resume) == "auto" else Path(resume)
        state = ck.load_training_state(path)
        saved = state.get("config", {})
        changed = {k: (saved.get(k), v) for k, v in self.cfg.to_dict().items() if saved.get(k, v) != v}
        if changed:
            log.warning("resuming with changed options (saved -> now): %s",
                        ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items()))
        self.net.load_state_dict(state["model"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"] and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        self.best_psnr = state.get("best_psnr")
        per_rank = state.get("rng_per_rank") or [state["rng"]]
        if len(per_rank) == self.ctx.world_size:
            ck.restore_rng_state(per_rank[self.ctx.rank], self.generator)
        else:
            log.warning("%s was saved by %d process(es), this run has %d: the random streams restart from "
                        "the seed (the run continues, but not bit-exactly)", path, len(per_rank),
                        self.ctx.world_size)
            ck.restore_rng_state(per_rank[0])
        log.info("resumed %s at iteration %d", path, self.iteration)

    def _open_logs(self, resumed: bool) -> None:
        self.train_log = self.val_log = self.tb = None
        if not self.ctx.is_main:
            return
        ck.atomic_write_text(self.out / ck.CONFIG_NAME, json.dumps(self.cfg.to_dict(), indent=2) + "\n")
        keep = self.iteration if resumed else -1
        fields = (["iteration", "epoch", "loss"] + [f"l1_{t}" for t in range(1, self.cfg.num_frames)]
                  + ["lr", "max_jump", "grad_norm", "loss_scale", "sec_per_iter"])
        self.train_log = ck.CsvLog(self.out / ck.TRAIN_LOG_NAME, fields, keep_until=keep)
        self.val_log = ck.CsvLog(self.out / ck.VAL_LOG_NAME, ["iteration", "psnr", "best_psnr", "frames"],
                                 keep_until=keep)
        self.tb = ck.TensorBoardLog(self.out / "tensorboard", self.cfg.tensorboard)

    def _dataset(self, finetune: bool) -> VideoFrameDataset:
        if finetune not in self.datasets:
            dcfg = VideoDatasetConfig(num_frames=self.cfg.num_frames, crop_size=self.cfg.crop_size,
                                      finetune=finetune, seed=self.cfg.seed)
            self.datasets[finetune] = VideoFrameDataset(self.cfg.data_root, dcfg)
        return self.datasets[finetune]

    def _loader(self, epoch: int, start: int, end: int) -> tuple[DataLoader, int]:
        """DataLoader for iterations ``self.iteration .. end-1`` of the epoch starting at ``start``."""
        cfg = self.cfg
        dataset = self._dataset(0 <= cfg.finetune_from <= start)
        max_jump = max_jump_for(start / cfg.iterations, self.schedule)
        dataset.set_max_jump(max_jump)
        sampler = EpochBatchSampler(len(dataset), cfg.seed, epoch, start, self.iteration - start,
                                    end - self.iteration, cfg.batch_size, self.ctx.rank, self.ctx.world_size)
        loader = DataLoader(SampleDraws(dataset), batch_sampler=sampler, num_workers=cfg.num_workers,
                            pin_memory=self.device.type == "cuda", persistent_workers=False,
                            generator=torch.Generator().manual_seed(cfg.seed + epoch))
        return loader, max_jump

    # ----------------------------------------------------------------- loop
    def fit(self, max_steps: int | None = None) -> dict[str, Any]:
        """Train until ``cfg.iterations`` completed iterations, or ``max_steps`` more; save at the end.

        Returns a summary (iteration, last logged loss, best PSNR, replica checksums).
        """
        cfg = self.cfg
        stop = cfg.iterations if max_steps is None else min(cfg.iterations, self.iteration + max_steps)
        window: dict[str, float] = {}
        count, last_row, tick = 0, None, time.perf_counter()
        started = time.perf_counter()
        while self.iteration < stop:
            epoch = max(i for i, b in enumerate(self.boundaries[:-1]) if b <= self.iteration)
            start, end = self.boundaries[epoch], min(self.boundaries[epoch + 1], stop)
            loader, max_jump = self._loader(epoch, start, end)
            for batch in loader:
                losses, grad_norm = self._step(batch)
                for key, value in losses.items():
                    window[key] = window.get(key, 0.0) + value
                count += 1
                self.iteration += 1
                it = self.iteration
                if it % cfg.log_every == 0 or it == stop:
                    seconds = (time.perf_counter() - tick) / count
                    last_row = self._log(window, count, epoch, max_jump, grad_norm, seconds)
                    window, count, tick = {}, 0, time.perf_counter()
                if cfg.val_root and cfg.val_every and it % cfg.val_every == 0:
                    self._validate()
                if it % cfg.save_every == 0 or it == stop:
                    self.save(epoch)
        summary = {"iteration": self.iteration, "last_log": last_row, "best_psnr": self.best_psnr,
                   "elapsed_s": time.perf_counter() - started, "replica_checksums": self.replica_checksums()}
        if self.ctx.is_main:
            ck.atomic_write_text(self.out / "summary.json", json.dumps(summary, indent=2) + "\n")
            self.tb.close()
        return summary

    def _step(self, batch: dict[str, Any]) -> tuple[dict[str, float], float | None]:
        cfg = self.cfg
        set_training_mode(self.net, cfg)
        images = batch["l"].to(self.device, non_blocking=True)
        target = batch["ab"].to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            losses, _ = self.module(images, target, self.generator)
        loss = losses["total"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss {loss.item()} at iteration {self.iteration + 1}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        grad_norm = None
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            params = [p for p in self.net.parameters() if p.requires_grad]
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
        self.step_lr = self.optimizer.param_groups[0]["lr"]  # the rate this step used
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {k: float(v.detach()) for k, v in losses.items()}, grad_norm

    def _log(self, window: dict[str, float], count: int, epoch: int, max_jump: int, grad_norm: float | None,
             seconds: float) -> dict[str, Any]:
        keys = sorted(window)
        sums = torch.tensor([window[k] for k in keys], dtype=torch.float64)
        if self.ctx.enabled:
            sums = sums.to(self.device)
            dist.all_reduce(sums)
        means = {k: float(v) / (count * self.ctx.world_size) for k, v in zip(keys, sums.cpu(), strict=True)}
        row = {"iteration": self.iteration, "epoch": epoch, "loss": means.pop("total"), **means,
               "lr": self.step_lr, "max_jump": max_jump,
               "grad_norm": "" if grad_norm is None else grad_norm,
               "loss_scale": self.scaler.get_scale() if self.scaler.is_enabled() else "",
               "sec_per_iter": seconds}
        if self.ctx.is_main:
            self.train_log.append(row)
            self.tb.scalars("train", {k: v for k, v in row.items() if isinstance(v, float)}, self.iteration)
            log.info("it %d  loss %.5f  lr %.3g  jump %d  %.3f s/it", self.iteration, row["loss"], row["lr"],
                     max_jump, seconds)
        return row

    def _validate(self) -> None:
        if self.ctx.is_main:
            cfg = self.cfg
            result = validate(self.net, cfg.val_root, cfg.val_frame_stride, cfg.val_max_frames, cfg.val_max_side)
            set_training_mode(self.net, cfg)
            psnr = result["psnr"]
            improved = psnr is not None and (self.best_psnr is None or psnr > self.best_psnr)
            if improved:
                self.best_psnr = psnr
                ck.save_model_weights(self.out / ck.BEST_NAME, self.net, iteration=self.iteration, psnr=psnr)
            self.val_log.append({"iteration": self.iteration, "psnr": psnr, "best_psnr": self.best_psnr,
                                 "frames": result["frames"]})
            if psnr is not None:
                self.tb.scalars("val", {"psnr": psnr}, self.iteration)
            log.info("validation at %d: PSNR %s dB over %d frames (best %s)", self.iteration,
                     "n/a" if psnr is None else f"{psnr:.3f}", result["frames"], self.best_psnr)
        if self.ctx.enabled:
            dist.barrier()

    def save(self, epoch: int) -> None:
        """Write ``checkpoint.pth`` (and a model snapshot) on rank 0."""
        rng = ck.capture_rng_state(self.generator)
        per_rank = [rng]
        if self.ctx.enabled:  # every rank's RNG streams, so a resumed run continues each one exactly
            per_rank = [None] * self.ctx.world_size
            dist.all_gather_object(per_rank, rng)
        if self.ctx.is_main:
            ck.save_training_state(self.out / ck.CHECKPOINT_NAME, model=self.net, optimizer=self.optimizer,
                                   scheduler=self.scheduler, scaler=self.scaler, iteration=self.iteration,
                                   data_epoch=epoch, rng=rng, rng_per_rank=per_rank,
                                   config=self.cfg.to_dict(), best_psnr=self.best_psnr)
            if self.cfg.keep_snapshots:
                ck.save_model_weights(self.out / ck.snapshot_name(self.iteration), self.net,
                                      iteration=self.iteration)
        if self.ctx.enabled:
            dist.barrier()

    def replica_checksums(self) -> list[list[float]]:
        """[sum, sum of |.|] of all parameters (float64) on every rank; identical replicas agree exactly."""
        with torch.no_grad():
            mine = torch.stack([sum(p.double().sum() for p in self.net.parameters()),
                                sum(p.double().abs().sum() for p in self.net.parameters())])
        if not self.ctx.enabled:
            return [mine.tolist()]
        gathered = [torch.zeros_like(mine) for _ in range(self.ctx.world_size)]
        dist.all_gather(gathered, mine)
        return [g.tolist() for g in gathered]


def run_training(cfg: TrainConfig, resume: str | Path | None = None, overwrite: bool = False,
                 max_steps: int | None = None) -> dict[str, Any]:
    """Set up (distributed when launched by torchrun), train, tear down. ``resume``: None, "auto"
    (``out_dir/checkpoint.pth``) or a checkpoint path."""
    ctx = setup_distributed(cfg.device)
    if not ctx.is_main:
        logging.getLogger("colormnet").setLevel(logging.WARNING)
    try:
        return Trainer(cfg, ctx, resume, overwrite).fit(max_steps)
    finally:
        if ctx.enabled and dist.is_initialized():
            dist.destroy_process_group()
