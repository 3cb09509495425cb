"""Building the network with the released weights, and picking a device/precision.

The authors' checkpoint is licensed CC BY-NC-SA 4.0 (non-commercial research use); see
:mod:`colormnet.weights`. Nothing is downloaded unless ``download=True``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from colormnet.errors import InputError
from colormnet.model.network import ColorMNet
from colormnet.weights import load_into, load_state_dict_file, resolve_weights

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "bf16")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda, else mps, else cpu. An unavailable explicit device raises InputError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(f"unknown device {name!r} (--device): use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but this torch build has no usable CUDA "
                         f"(torch {torch.__version__}); use --device cpu or install a CUDA build of torch")
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps and mps.is_available()):
        raise InputError(f"device {name!r} requested but MPS is not available; use --device cpu")
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """Map --precision to an autocast dtype (None = plain float32)."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None
    if precision == "fp16" and device.type == "cpu":
        raise InputError("fp16 needs a GPU; on the CPU use --precision fp32 (or bf16, usually slower)")
    return torch.float16 if precision == "fp16" else torch.bfloat16


def load_model(weights: str | Path | None = None, device: str | torch.device = "cpu",
               download: bool = False) -> ColorMNet:
    """The network with the authors' released weights, in eval mode on ``device``.

    weights: explicit checkpoint path; else $COLORMNET_WEIGHTS, else the cache, else (only with
    ``download``) the release URL. Raises WeightsError with instructions when none is found.
    """
    path = resolve_weights(weights, download=download)
    state_dict = load_state_dict_file(path)
    with torch.device("meta"):
        model = ColorMNet()
    model = model.to_empty(device="cpu")
    load_into(model, state_dict, source=str(path), take_over=True)
    log.info("loaded %s", path)
    return model.eval().to(device)
