"""Running one job on a loaded model: the same :func:`colormnet.api.colorize_video` as ``colorize``."""

from __future__ import annotations

import importlib
import logging
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

from colormnet.batch.jobs import Job
from colormnet.errors import ColormnetError

log = logging.getLogger(__name__)

_ENCODE_OPTIONS = ("precision", "max_side", "max_frames", "codec", "pix_fmt", "crf", "fps")
_MEMORY_FLAGS = ("mem_every", "max_mid_term_frames", "min_mid_term_frames", "max_long_term_elements",
                 "num_prototypes", "top_k", "policy_seed", "decay", "max_memory_frames")


@dataclass(frozen=True)
class ModelSource:
    """How a worker gets its network (picklable, so Ray actors can build their own copy).

    weights: checkpoint path (None: $COLORMNET_WEIGHTS, else the cache, else a download when
    ``download``). factory: ``"module:function"`` naming ``function() -> ColorMNet``, used
    instead of the checkpoint (tests use ``colormnet.testing.models:tiny_model``).
    """

    weights: str | None = None
    download: bool = True
    factory: str | None = None

    def build(self, device):
        """The network in eval mode on ``device`` (a torch.device or its name)."""
        if self.factory:
            module, _, name = self.factory.partition(":")
            return getattr(importlib.import_module(module), name)().to(device).eval()
        from colormnet.models import build_model

        return build_model("colormnet", weights=self.weights, device=device, download=self.download)


@dataclass(frozen=True)
class JobResult:
    """One row of the summary. status: ``done``, ``skipped`` (output existed), ``failed``, ``not run``."""

    input: str
    output: str
    status: str
    frames: int | None = None
    seconds: float | None = None
    error: str = ""
    worker: str = ""

    @property
    def seconds_per_frame(self) -> float | None:
        if self.frames and self.seconds is not None:
            return self.seconds / self.frames
        return None


def count_frames(path: Path) -> int:
    """Frames of a finished output (video: from the container; folder: its PNG files)."""
    if path.is_dir():
        return sum(1 for p in path.iterdir() if p.suffix.lower() == ".png")
    from colormnet.io.video import probe

    return probe(path).num_frames


def colorize_kwargs(options: dict) -> dict:
    """Per-job options -> keyword arguments of :func:`colormnet.api.colorize_video`."""
    from colormnet.config import MemoryConfig, memory_preset

    kwargs = {k: options[k] for k in _ENCODE_OPTIONS if k in options}
    overrides = {k: options[k] for k in _MEMORY_FLAGS if k in options}
    if options.get("no_long_term"):
        overrides["enable_long_term"] = False
    if "memory_policy" in options:
        overrides["policy"] = options["memory_policy"]
    if "memory" in options or overrides:
        base: MemoryConfig = memory_preset(options.get("memory", "balanced"))
        kwargs["memory"] = replace(base, **overrides)
    return kwargs


def run_job(job: Job, model, device, *, overwrite: bool = False, worker: str = "") -> JobResult:
    """Colorize one job; never raises for a bad input or a failure (the result says ``failed``)."""
    from colormnet.api import colorize_video

    start = time.perf_counter()
    try:
        kwargs = colorize_kwargs(job.options)
        out = colorize_video(job.input, list(job.exemplars), job.output, model=model, device=str(device),
                             overwrite=overwrite, progress=False, **kwargs)
        seconds = time.perf_counter() - start
        frames = count_frames(out)
    except ColormnetError as err:
        log.warning("%s failed: %s", job.input, err)
        return JobResult(str(job.input), str(job.output), "failed", error=str(err), worker=worker)
    except Exception as err:  # any failure of one input must not stop the batch
        log.warning("%s failed: %s: %s", job.input, type(err).__name__, err)
        log.debug("%s", traceback.format_exc())
        return JobResult(str(job.input), str(job.output), "failed", error=f"{type(err).__name__}: {err}",
                         worker=worker)
    log.info("%s -> %s: %d frames, %.2f s/frame", job.input, out, frames, seconds / max(frames, 1))
    return JobResult(str(job.input), str(out), "done", frames, seconds, worker=worker)
