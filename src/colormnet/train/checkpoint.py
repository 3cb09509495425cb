"""What a training run writes: checkpoints (atomic), RNG states, the config snapshot, CSV and
optional TensorBoard logs.

Run folder layout (``TrainConfig.out_dir``):

- ``config.json``: the configuration of the (latest) run, written at start;
- ``checkpoint.pth``: the full training state of the latest save (see :func:`save_training_state`),
  loadable with ``torch.load(weights_only=True)`` and by :func:`colormnet.weights.load_state_dict_file`
  (its network weights are under ``"model"``);
- ``model_<iteration>.pth``: model-only snapshots (``{"model": state_dict, "iteration": ...}``);
- ``best.pth``: model-only, the snapshot with the best validation PSNR so far;
- ``train_log.csv`` / ``val_log.csv``: one row per logging window / validation; ``tensorboard/``.

Every file is written with :mod:`colormnet.io.atomic` (temporary name in the same folder, fsync,
rename), so an interrupted save never leaves a truncated file under the final name.
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from colormnet.errors import InputError
from colormnet.io.atomic import atomic_write, atomic_write_text

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pth"
BEST_NAME = "best.pth"
CONFIG_NAME = "config.json"
TRAIN_LOG_NAME = "train_log.csv"
VAL_LOG_NAME = "val_log.csv"
FORMAT_VERSION = 1


def snapshot_name(iteration: int) -> str:
    """File name of the model-only snapshot at ``iteration``."""
    return f"model_{iteration:07d}.pth"


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def capture_rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Python, numpy, torch (CPU and all CUDA devices) global RNG states, plus ``generator``'s.

    Only tensors and plain Python values, so the result survives ``torch.load(weights_only=True)``.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def restore_rng_state(state: Mapping[str, Any], generator: torch.Generator | None = None) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only when the device count matches)."""
    random.setstate(_as_tuple(state["python"]))
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            log.warning("checkpoint holds %d CUDA RNG states, this machine has %d devices: not restored",
                        len(cuda), torch.cuda.device_count())
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list | tuple) else x


def save_training_state(path: str | Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        scheduler: Any, scaler: Any, iteration: int, data_epoch: int,
                        rng: Mapping[str, Any], config: Mapping[str, Any],
                        best_psnr: float | None, rng_per_rank: list[Mapping[str, Any]] | None = None) -> Path:
    """Save everything needed to continue a run exactly; returns the path.

    Keys: ``model`` (the network's state_dict, released-checkpoint key names), ``optimizer``,
    ``scheduler``, ``scaler``, ``iteration`` (completed iterations), ``data_epoch``, ``rng``
    (:func:`capture_rng_state` of rank 0), ``rng_per_rank`` (one such state per process of a
    distributed run, in rank order; ``[rng]`` otherwise), ``config`` (``TrainConfig.to_dict()``),
    ``best_psnr``, ``format``.
    """
    state = {
        "format": FORMAT_VERSION,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "iteration": int(iteration),
        "data_epoch": int(data_epoch),
        "rng": dict(rng),
        "rng_per_rank": [dict(r) for r in (rng_per_rank or [rng])],
        "config": dict(config),
        "best_psnr": best_psnr,
    }
    return atomic_torch_save(state, path)


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read a file written by :func:`save_training_state` (on the CPU, ``weights_only=True``)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"training checkpoint {p} does not exist; start without --resume or give "
                         "the path of a checkpoint.pth")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling and zip errors come in many types
        raise InputError(f"cannot read training checkpoint {p}: {str(err).splitlines()[0][:200]}") from err
    missing = [k for k in ("model", "optimizer", "scheduler", "scaler", "iteration", "rng")
               if not isinstance(state, dict) or k not in state]
    if missing:
        raise InputError(f"{p} is not a training checkpoint (missing {', '.join(missing)}); "
                         "to start from network weights use init=colormnet weights=PATH instead")
    return state


def save_model_weights(path: str | Path, model: torch.nn.Module, **meta: Any) -> Path:
    """Model-only file: ``{"model": state_dict, "model_config": {...}, **meta}`` (readable by
    ``load_state_dict_file``; the network configuration, when the model has one, lets the inference
    commands rebuild the same variant from the file: :func:`colormnet.model.variants.config_from_file`)."""
    from colormnet.config import ModelConfig
    from colormnet.model.variants import model_config_dict

    cfg = getattr(model, "cfg", None)
    if isinstance(cfg, ModelConfig):
        meta = {"model_config": model_config_dict(cfg), **meta}
    return atomic_torch_save({"model": model.state_dict(), **meta}, path)


class CsvLog:
    """A CSV file with a fixed header, appended to row by row (each row flushed).

    ``keep_until`` (on resume) rewrites the file atomically, keeping only rows whose ``iteration``
    is at most that value, so a resumed run's log has no rows from after the checkpoint.
    """

    def __init__(self, path: str | Path, fields: Iterable[str], keep_until: int | None = None) -> None:
        self.path = Path(path)
        self.fields = list(fields)
        rows: list[dict[str, str]] = []
        if keep_until is not None and self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if _int_or(r.get("iteration"), 1 << 62) <= keep_until]
        atomic_write_text(self.path, self._render(rows))

    def _render(self, rows: list[Mapping[str, Any]]) -> str:
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, self.fields, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()

    def append(self, row: Mapping[str, Any]) -> None:
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, self.fields, extrasaction="ignore", lineterminator="\n").writerow(
                {k: _fmt(v) for k, v in row.items()})


def _int_or(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _fmt(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value  # repr: shortest exact round trip


class TensorBoardLog:
    """Scalars to TensorBoard when the ``tensorboard`` package is installed (extra ``train``);
    otherwise a no-op (logged once)."""

    def __init__(self, folder: str | Path, enabled: bool = True) -> None:
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.info("tensorboard is not installed (pip install 'colormnet[train]'); logging to CSV only")
            return
        self.writer = SummaryWriter(log_dir=str(folder))

    def scalars(self, prefix: str, values: Mapping[str, float], step: int) -> None:
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"{prefix}/{key}", value, step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
