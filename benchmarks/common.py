"""Shared helpers of the benchmark scripts: environment record, peak memory, result files, tables.

Imported by ``speed.py`` and ``flops.py`` as a sibling module (run the scripts as
``python benchmarks/<name>.py``).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from colormnet.errors import OutputError
from colormnet.io.atomic import check_output_path

try:
    from colormnet.io.reports import json_text, write_text
except ImportError:  # an older checkout timed for a before/after table
    from colormnet.eval.dataset_run import json_text, write_text

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"832x480,960x536"`` -> ``[(832, 480), (960, 536)]`` (width x height)."""
    sizes = []
    for item in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", item)
        if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
            raise SystemExit(f"bad size {item!r}: expected WIDTHxHEIGHT, e.g. 832x480")
        sizes.append((int(m.group(1)), int(m.group(2))))
    return sizes


def git_commit(where: Path = HERE) -> str | None:
    """HEAD of the repository holding ``where`` (default: this file), with ``-dirty`` if tracked files
    changed; None if no git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def cpu_name() -> str:
    """CPU model from /proc/cpuinfo, else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """Human-readable name: the GPU's (CUDA) or the CPU model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def device_slug(device: torch.device) -> str:
    """Short file-name-safe device label: ``cpu`` or ``cuda-nvidia-h100-80gb-hbm3``."""
    if device.type != "cuda":
        return device.type
    return "cuda-" + re.sub(r"[^a-z0-9]+", "-", device_name(device).lower()).strip("-")


def load_average() -> list[float] | None:
    """The system's 1/5/15-minute load averages (other work on the machine skews CPU timings)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def environment(device: torch.device, **extra: Any) -> dict[str, Any]:
    """What a result depends on: device, software versions, threads, machine load, git commit, date.

    ``extra`` items are added as given (e.g. ``flush_denormal=True``).
    """
    env = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "device": str(device),
        "device_name": device_name(device),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "load_average_1_5_15min": load_average(),
        "git_commit": git_commit(),
        "argv": sys.argv[1:],
        **extra,
    }
    if device.type == "cuda":
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
    return env


# ------------------------------------------------------------------------------------ peak memory
def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak_memory(device: torch.device) -> bool:
    """Reset the peak counter; returns False when it cannot be reset (CPU peak then = since start).

    CUDA: ``torch.cuda.reset_peak_memory_stats``. CPU: writing ``5`` to ``/proc/self/clear_refs``
    resets this process's VmHWM (Linux >= 4.0).
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_memory(device: torch.device) -> dict[str, Any]:
    """Peak memory since the last reset: CUDA max allocated, or CPU resident set (VmHWM) in bytes."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return {"kind": "cuda_max_memory_allocated", "bytes": int(torch.cuda.max_memory_allocated(device)),
                "reserved_bytes": int(torch.cuda.max_memory_reserved(device))}
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return {"kind": "cpu_rss_peak_VmHWM", "bytes": hwm * 1024}
    # ru_maxrss is KiB on Linux, bytes on macOS; it cannot be reset
    scale = 1 if sys.platform == "darwin" else 1024
    return {"kind": "cpu_ru_maxrss_since_start", "bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale}


def current_memory(device: torch.device) -> int | None:
    """Bytes in use now: CUDA allocated, or CPU resident set (VmRSS)."""
    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    rss = _status_kib("VmRSS")
    return None if rss is None else rss * 1024


# ---------------------------------------------------------------------------------------- outputs
def default_result_path(kind: str, device_label: str) -> Path:
    """``benchmarks/results/<kind>-<device>-<YYYYMMDD>.json``, with ``-2``, ``-3``... if taken."""
    stem = f"{kind}-{device_label}-{_dt.date.today():%Y%m%d}"
    path = RESULTS_DIR / f"{stem}.json"
    n = 2
    while path.exists():
        path = RESULTS_DIR / f"{stem}-{n}.json"
        n += 1
    return path


def check_out(path: Path | None, overwrite: bool = False) -> None:
    """Fail before any work when ``path`` exists (and not ``overwrite``) or its folder is missing."""
    if path is not None:
        try:
            check_output_path(path, overwrite=overwrite)
        except OutputError as err:
            raise SystemExit(f"error: {err}") from None


def save_json(obj: Any, path: Path | None, kind: str, device_label: str, overwrite: bool = False) -> Path:
    """Write ``obj`` as strict JSON, atomically; default path from :func:`default_result_path`."""
    if path is None:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = default_result_path(kind, device_label)
    return write_text(path, json_text(obj), overwrite=overwrite)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
