"""``colormnet benchmark`` as a function: colourise a colour dataset from its first frames with the
paper's protocol (:func:`colormnet.inference.dataset.colorize_dataset`), evaluate the result against
the dataset (:func:`colormnet.eval.runner.evaluate_dirs`) and write a JSON and a Markdown report
(``<out>/benchmark.json``, ``<out>/benchmark.md``; strict JSON, see :mod:`colormnet.io.reports`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from colormnet.config import MemoryConfig
from colormnet.errors import InputError, OutputError
from colormnet.eval.runner import DEFAULT_METRICS, evaluate_dirs, to_markdown
from colormnet.inference.dataset import colorize_dataset, protocol_name
from colormnet.io.atomic import check_output_path
from colormnet.io.reports import json_text, write_text
from colormnet.model.network import ColorMNet

__all__ = ["RECIPE_LABEL", "run_benchmark"]

PathLike = str | os.PathLike
RECIPE_LABEL = "recipe (deterministic pseudo-random weights; results are NOT meaningful)"


def run_benchmark(data_dir: PathLike, out_dir: PathLike, model: ColorMNet, *,
                  memory: MemoryConfig | None = None, protocol: str = "keyframe",
                  clips: Sequence[str] | None = None, precision: str = "fp32",
                  metrics: Iterable[str] | None = None, lpips_weights: Any = None,
                  inception_weights: PathLike | None = None,
                  json_path: PathLike | None = None, markdown_path: PathLike | None = None,
                  overwrite: bool = False, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """:func:`colorize_dataset`, then :func:`~colormnet.eval.runner.evaluate_dirs` of ``out_dir`` against ``data_dir``.

    Writes the report as JSON (default ``<out>/benchmark.json``) and Markdown (``<out>/benchmark.md``);
    both are checked before any work (existing files need ``overwrite``; ``resume`` replaces them).
    Where the weights came from (``model.weights_source``, set by :func:`colormnet.models.build_model`)
    goes into the report; with the recipe weights the report is marked as not meaningful.
    Returns ``{"benchmark": {...run info...}, "evaluation": {...evaluate_dirs result...}}``.
    """
    protocol = protocol_name(protocol)
    out_root = Path(out_dir)
    json_out = Path(json_path) if json_path is not None else out_root / "benchmark.json"
    md_out = Path(markdown_path) if markdown_path is not None else out_root / "benchmark.md"
    replace_reports = overwrite or resume  # resuming a run replaces its report
    for path in (json_out, md_out):  # fail now rather than after hours of work
        if (path.exists() or path.is_symlink()) and not replace_reports:
            raise OutputError(f"report {path} already exists; pass --overwrite (or --resume) to replace it")
    for path, explicit in ((json_out, json_path), (md_out, markdown_path)):
        if explicit is not None:
            check_output_path(path, inputs=[data_dir], overwrite=replace_reports)
    lp_files = [] if lpips_weights is None else (
        [lpips_weights] if isinstance(lpips_weights, (str, os.PathLike)) else list(lpips_weights))
    for f in [*lp_files, *([] if inception_weights is None else [inception_weights])]:
        if not Path(f).is_file():
            raise InputError(f"metric weights file {f} does not exist")
    source = getattr(model, "weights_source", "unknown")
    weights_label = RECIPE_LABEL if source == "recipe" else source
    meaningful = source != "recipe"
    run = colorize_dataset(data_dir, out_root, model, memory=memory, protocol=protocol, clips=clips,
                           precision=precision, overwrite=overwrite, resume=resume, progress=progress)
    evaluation = evaluate_dirs(out_root, data_dir, DEFAULT_METRICS if metrics is None else metrics,
                               lpips_weights, inception_weights, device=str(next(model.parameters()).device))
    info = {
        **run,
        "data_dir": str(data_dir),
        "out_dir": str(out_root),
        "weights": weights_label,
        "meaningful": meaningful,
        "memory": dataclasses.asdict(memory or MemoryConfig()),
        "precision": precision,
        "device": str(next(model.parameters()).device),
        "torch": torch.__version__,
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "exemplar": ("frame 0's colours as the keyframe exemplar of frame 0 (included in the metrics, "
                     "as in the authors' evaluation)") if protocol == "keyframe" else
                    "frame 0's colour image as a free reference; every frame predicted",
    }
    report = {"benchmark": info, "evaluation": evaluation}
    title = f"# ColorMNet benchmark: `{data_dir}`, protocol `{protocol}`"
    lines = [title, "", f"- weights: {weights_label}", f"- precision: {precision}, device: {info['device']}",
             f"- frames: {run['frames']} in {len(run['clips'])} clips; "
             + (f"{run['fps']:.2f} frames/s end to end" if run["fps"] else "nothing colourised (resumed)"), ""]
    if not meaningful:
        lines[0] += " — NOT MEANINGFUL (recipe weights, no checkpoint)"
    markdown = "\n".join(lines) + "\n" + to_markdown(evaluation)
    write_text(json_out, json_text(report), overwrite=replace_reports, inputs=[data_dir])
    write_text(md_out, markdown, overwrite=replace_reports, inputs=[data_dir])
    report["markdown"] = markdown
    report["json_path"], report["markdown_path"] = str(json_out), str(md_out)
    return report
