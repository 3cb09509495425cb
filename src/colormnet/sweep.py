"""Parameter sweeps of the benchmark protocol (supplement Fig. 2: mem_every, prototypes, memory sizes)
over one or more memory policies.

Every run is :func:`colormnet.benchmark.run_benchmark` into ``<out>/<policy>/<param>=<value>/``
(``<out>/<policy>/base/`` when nothing is swept). Parameters are swept one at a time, the others
staying at the base settings, as in the supplement. Results: ``<out>/sweep.json``, ``<out>/sweep.md``
(one row per run: PSNR, SSIM, LPIPS when weights are given, CDC, s/frame, peak process memory, peak
memory elements and their size) and ``<out>/sweep.png`` (matplotlib, the ``analysis`` extra): PSNR
and memory against each swept parameter, one line per policy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from colormnet.config import MemoryConfig
from colormnet.errors import InputError, OutputError
from colormnet.inference.features import matplotlib_pyplot
from colormnet.model.network import ColorMNet

log = logging.getLogger(__name__)

SWEEPABLE = ("mem_every", "max_mid_term_frames", "min_mid_term_frames", "max_long_term_elements",
             "num_prototypes", "top_k", "decay", "max_memory_frames", "policy_seed")
_COLUMNS = (("psnr", "PSNR", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"), ("lpips", "LPIPS", "{:.4f}"),
            ("cdc", "CDC", "{:.5f}"), ("s_per_frame", "s/frame", "{:.3f}"),
            ("peak_process_mb", "peak mem (MB)", "{:.0f}"), ("peak_memory_elements", "mem elements", "{:d}"),
            ("peak_memory_mb", "memory store (MB)", "{:.2f}"))


def parse_sweeps(items: Sequence[str]) -> dict[str, list]:
    """``["mem_every=1,3,5", "decay=0.8,0.9"]`` -> ``{"mem_every": [1, 3, 5], "decay": [0.8, 0.9]}``."""
    types = {f.name: f.type for f in dataclasses.fields(MemoryConfig)}
    out: dict[str, list] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise InputError(f"--sweep {item!r}: expected NAME=V1,V2,... e.g. mem_every=1,3,5")
        if name not in SWEEPABLE:
            raise InputError(f"--sweep {item!r}: cannot sweep {name!r}; choose from {', '.join(SWEEPABLE)}")
        cast = float if types[name] in (float, "float") else int
        try:
            out[name] = [cast(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"--sweep {item!r}: values must be {cast.__name__}s") from None
    return out


def sweep_grid(base: MemoryConfig, policies: Sequence[str], sweeps: dict[str, list]
               ) -> list[tuple[str, str | None, Any, MemoryConfig]]:
    """(policy, parameter or None, value, config) for every run; invalid combinations raise InputError."""
    runs = []
    for policy in policies:
        if not sweeps:
            runs.append((policy, None, None, _replace(base, policy=policy)))
        for name, values in sweeps.items():
            for value in values:
                runs.append((policy, name, value, _replace(base, policy=policy, **{name: value})))
    return runs


def _replace(base: MemoryConfig, **changes: Any) -> MemoryConfig:
    try:
        return dataclasses.replace(base, **changes)
    except ValueError as err:
        raise InputError(f"sweep settings {changes}: {err}") from None


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux)


def _peak_mb(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def element_bytes(model: ColorMNet) -> int:
    """Bytes of one memory element: key, selection, shrinkage, 2 value groups, 3 statistics (float32)."""
    cfg = model.cfg
    return 4 * (2 * cfg.key_dim + 1 + 2 * cfg.value_dim + 3)


def run_sweep(data_dir: str | Path, out_dir: str | Path, model: ColorMNet, *, base: MemoryConfig,
              policies: Sequence[str] = ("usage",), sweeps: dict[str, list] | None = None,
              overwrite: bool = False, figure: bool = True, **benchmark_args: Any) -> dict[str, Any]:
    """Run the benchmark for every (policy, parameter value) and write the table and figure.

    ``benchmark_args`` go to :func:`run_benchmark` (protocol, clips, precision, metrics, lpips_weights,
    progress). Returns ``{"rows": [...], "json_path", "markdown_path", "figure_path",
    "markdown"}``.
    """
    from colormnet.benchmark import run_benchmark
    from colormnet.io.reports import json_text, write_text

    out = Path(out_dir)
    sweeps = sweeps or {}
    grid = sweep_grid(base, policies, sweeps)
    reports = {name: out / f"sweep.{name}" for name in ("json", "md", "png")}
    for path in reports.values():
        if path.exists() and not overwrite:
            raise OutputError(f"{path} already exists; pass --overwrite to replace it")
    if figure:
        matplotlib_pyplot()  # fail before hours of work when the extra is missing
    out.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    rows = []
    for i, (policy, name, value, memory) in enumerate(grid):
        folder = out / policy / ("base" if name is None else f"{name}={value}")
        log.info("sweep run %d/%d: policy %s%s", i + 1, len(grid), policy,
                 "" if name is None else f", {name}={value}")
        _reset_peak(device)
        start = time.perf_counter()
        report = run_benchmark(data_dir, folder, model, memory=memory, overwrite=overwrite, **benchmark_args)
        bench, overall = report["benchmark"], report["evaluation"].get("overall", {})
        frames = max(1, bench["frames_processed"])
        elements = max((c.get("peak_memory_elements", 0) for c in bench["clips"]), default=0)
        rows.append({
            "policy": policy, "parameter": name, "value": value,
            "psnr": overall.get("psnr"), "ssim": overall.get("ssim"), "lpips": overall.get("lpips"),
            "cdc": overall.get("cdc"),
            "s_per_frame": bench["network_seconds"] / frames,
            "peak_process_mb": _peak_mb(device),
            "peak_memory_elements": elements,
            "peak_memory_mb": elements * element_bytes(model) / 2**20,
            "wall_seconds": time.perf_counter() - start,
            "memory": dataclasses.asdict(memory), "run_dir": str(folder),
        })
    result = {"data_dir": str(data_dir), "weights": getattr(model, "weights_source", "unknown"),
              "device": str(device), "policies": list(policies), "sweeps": sweeps,
              "base_memory": dataclasses.asdict(base), "rows": rows}
    markdown = to_markdown(result)
    write_text(reports["json"], json_text(result), overwrite=overwrite)
    write_text(reports["md"], markdown, overwrite=overwrite)
    if figure:
        plot_sweep(result, reports["png"])
    return {**result, "markdown": markdown, "json_path": str(reports["json"]),
            "markdown_path": str(reports["md"]), "figure_path": str(reports["png"]) if figure else None}


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–" if value is None else str(value)
    return spec.format(value)


def to_markdown(result: dict[str, Any]) -> str:
    """The sweep table (one row per run; columns without any value are left out)."""
    rows = result["rows"]
    cols = [c for c in _COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    head = ["policy", "parameter", *[c[1] for c in cols]]
    lines = [f"Sweep on `{result['data_dir']}` with weights {result['weights']} ({result['device']})", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        param = "base" if r["parameter"] is None else f"{r['parameter']}={r['value']}"
        lines.append("| " + " | ".join([r["policy"], param, *[_fmt(r.get(k), f) for k, _, f in cols]]) + " |")
    return "\n".join(lines) + "\n"


def plot_sweep(result: dict[str, Any], path: str | Path) -> Path:
    """PSNR (solid) and memory-store size (dashed, right axis) against each swept parameter, one colour
    per policy; with nothing swept, one bar pair per policy. Written atomically as PNG."""
    from colormnet.io.atomic import commit_file, partial_file_path

    plt = matplotlib_pyplot()
    rows = result["rows"]
    params = list(dict.fromkeys(r["parameter"] for r in rows))
    fig, axes = plt.subplots(1, len(params), figsize=(4.2 * len(params), 3.4), squeeze=False)
    colours = {p: f"C{i}" for i, p in enumerate(result["policies"])}
    for ax, param in zip(axes[0], params, strict=True):
        mem_ax = ax.twinx()
        sel = [r for r in rows if r["parameter"] == param]
        if param is None:
            x = range(len(sel))
            ax.bar([i - 0.2 for i in x], [r["psnr"] or 0 for r in sel], 0.4, color="C0", label="PSNR")
            mem_ax.bar([i + 0.2 for i in x], [r["peak_memory_mb"] for r in sel], 0.4, color="C1", label="memory")
            ax.set_xticks(list(x), [r["policy"] for r in sel])
            lo = min((r["psnr"] for r in sel if r["psnr"] is not None), default=0)
            ax.set_ylim(bottom=max(0.0, lo - 2))
            handles = ax.get_legend_handles_labels()[0] + mem_ax.get_legend_handles_labels()[0]
            ax.legend(handles, ["PSNR", "memory store"], fontsize=7, loc="upper left")
        else:
            for policy in result["policies"]:
                pr = [r for r in sel if r["policy"] == policy]
                xs = [r["value"] for r in pr]
                ax.plot(xs, [r["psnr"] for r in pr], "o-", color=colours[policy], label=f"{policy} PSNR")
                mem_ax.plot(xs, [r["peak_memory_mb"] for r in pr], "s--", color=colours[policy], alpha=0.6)
            ax.set_xlabel(param)
            ax.legend(fontsize=7, loc="best")
        ax.set_ylabel("PSNR (dB)")
        mem_ax.set_ylabel("peak memory store (MB" + (")" if param is None else ", dashed)"))
        ax.grid(alpha=0.3)
    fig.suptitle(f"weights: {Path(str(result['weights'])).name}", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    tmp = partial_file_path(out)
    try:
        fig.savefig(tmp, format="png", dpi=90)
    finally:
        plt.close(fig)
    return commit_file(tmp, out, overwrite=True)
