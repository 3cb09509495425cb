"""Devices and precision: resolving ``--device``, mapping ``--precision`` to an autocast dtype, and
the autocast context every stage runs under. The torch-level helpers that everything above the
network uses; the torch-free list of precision names is :data:`colormnet.config.PRECISIONS`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys

import torch

from colormnet.config import PRECISIONS
from colormnet.errors import InputError

__all__ = ["PRECISIONS", "autocast", "autocast_dtype", "model_device", "resolve_device", "return_freed_host_memory"]


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def resolve_device(name: str | torch.device = "auto", local_rank: int | None = None) -> torch.device:
    """'auto' -> cuda, else mps, else cpu. An unavailable explicit device raises InputError.

    ``local_rank`` (distributed training) pins a bare ``cuda`` to that process's GPU.
    """
    if isinstance(name, torch.device):
        device = name
    elif name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except (RuntimeError, ValueError, TypeError):
            raise InputError(f"unknown device {name!r} (--device): use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {str(name)!r} requested but this torch build has no usable CUDA "
                         f"(torch {torch.__version__}); use --device cpu or install a CUDA build of torch")
    if device.type == "mps" and not _mps_available():
        raise InputError(f"device {str(name)!r} requested but MPS is not available; use --device cpu")
    if device.type == "cuda" and device.index is None and local_rank is not None:
        device = torch.device("cuda", local_rank)
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """Map --precision (fp32 / fp16 / bf16) to an autocast dtype (None = plain float32)."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None
    if precision == "fp16" and device.type == "cpu":
        raise InputError("fp16 needs a GPU; on the CPU use --precision fp32 (or bf16, usually slower)")
    return torch.float16 if precision == "fp16" else torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` on ``device``'s type; with ``dtype`` None autocast is switched
    off inside (float32 maths even within an outer autocast region). Nothing on the ``meta`` device
    (shape-only runs such as FLOP counting), which autocast does not know. The cast weights are
    not cached for the region: each is used once per stage, and the cache would hold a reduced
    copy of every weight of the stage until it ends (~250 MB more resident memory)."""
    if device.type == "meta":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None,
                          cache_enabled=False)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's (first) parameter."""
    return next(model.parameters()).device


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)
HEAP_RETURN_BYTES = 1 << 20
"""Host allocations of at least this size are mapped and unmapped on their own (see
:func:`return_freed_host_memory`)."""


@functools.cache
def return_freed_host_memory() -> bool:
    """Make freed activations go back to the system at once (Linux with glibc; elsewhere a no-op).

    By default glibc raises its mmap threshold up to 32 MiB as large blocks are freed, after which
    the network's activation maps (1-60 MiB each) come from the heap and freed ones stay resident,
    fragmented: the process's peak RSS grows by ~250 MiB at 832x480 without holding more data. A
    fixed threshold of :data:`HEAP_RETURN_BYTES` keeps every large tensor in its own mapping, so
    RSS follows the tensors alive. An ``MALLOC_MMAP_THRESHOLD_`` set in the environment wins.
    Returns whether the setting was applied. The price is page faults: every large tensor is
    mapped afresh, 25-45 % more wall time per frame on a 2-core CPU (peak RSS of a 10-frame 832x480
    ``colorize`` 1.21-1.27 instead of ~1.6 GiB), so the commands apply it only with ``--memory low-memory``.
    """
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is not None or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, HEAP_RETURN_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, HEAP_RETURN_BYTES))
