"""Colourise a DAVIS-layout dataset with the paper's protocol, then evaluate it.

Dataset layout: ``<data>/<clip>/<frame>.jpg|png`` holding the *colour* ground truth. For every clip
the input of the network is the luma (L' of :func:`colormnet.color.rgb_to_lab_norm`) of each ground
truth frame and the exemplar is taken from frame 0:

* ``first-frame`` (the paper's protocol, the authors' default ``test.py`` mode): frame 0's a'b' is the
  keyframe exemplar of frame 0, which is therefore returned as given (its output equals the ground
  truth up to the Lab -> RGB round trip); every later frame is predicted.
* ``reference-not-first`` (the authors' ``--FirstFrameIsNotExemplar`` mode): frame 0's colour image is
  added as a free reference (:meth:`ColorizationSession.add_reference`) and *every* frame, frame 0
  included, is predicted.

Outputs are PNG frames ``<out>/<clip>/<frame stem>.png`` written atomically per clip, then
:func:`colormnet.eval.runner.evaluate_dirs` compares ``<out>`` with ``<data>`` and a JSON report and a
Markdown table are written next to the frames (``<out>/benchmark.json``, ``<out>/benchmark.md``).

Reports are strict JSON: non-finite floats (PSNR of identical frames is ``inf``) are written as the
strings ``"inf"``, ``"-inf"``, ``"nan"``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from colormnet.color import lab_norm_to_rgb, rgb_to_lab_norm
from colormnet.config import MemoryConfig
from colormnet.device import autocast_dtype
from colormnet.errors import InputError, OutputError
from colormnet.inference.session import ColorizationSession
from colormnet.io.atomic import check_output_path
from colormnet.io.frames import FrameFolderReader, FrameFolderWriter, list_frames, natural_key
from colormnet.io.reports import json_text, write_text
from colormnet.model.network import ColorMNet

__all__ = [
    "PROTOCOLS",
    "RECIPE_LABEL",
    "colorize_dataset",
    "find_clips",
    "run_benchmark",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
PROTOCOLS: tuple[str, ...] = ("first-frame", "reference-not-first")
RECIPE_LABEL = "recipe (deterministic pseudo-random weights; results are NOT meaningful)"


# ------------------------------------------------------------------------------------------ clips
def find_clips(data_dir: PathLike, clips: Sequence[str] | None = None) -> dict[str, list[Path]]:
    """Clip name -> frame paths (natural order) of a ``<data>/<clip>/<frame>`` dataset.

    Hidden folders are ignored. ``clips`` selects a subset (unknown names raise InputError).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"dataset folder {root} does not exist or is not a folder")
    names = sorted((d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                   key=natural_key)
    if not names:
        hint = " (it holds frames directly; put them in a sub-folder named after the clip)" if any(
            p.is_file() and not p.name.startswith(".") for p in root.iterdir()) else ""
        raise InputError(f"dataset folder {root} has no clip folders: expected <data>/<clip>/<frame>.jpg{hint}")
    if clips is not None:
        unknown = [c for c in clips if c not in names]
        if unknown:
            raise InputError(f"clip(s) {unknown} not found in {root}; it has {names[:10]}"
                             + (" ..." if len(names) > 10 else ""))
        names = [n for n in names if n in set(clips)]
    return {name: list_frames(root / name) for name in names}


def _complete_output(folder: Path, frames: Sequence[Path]) -> bool:
    if not folder.is_dir():
        return False
    have = {p.name for p in folder.iterdir() if p.is_file()}
    return all(f"{p.stem}.png" in have for p in frames)


def _prepare_out_dir(out_root: Path, data_root: Path, clips: dict[str, list[Path]],
                     overwrite: bool, resume: bool) -> set[str]:
    """Check the output root before any work; return the clips to skip (already complete, resume)."""
    if out_root.resolve() == data_root.resolve() or out_root.resolve().is_relative_to(data_root.resolve()):
        raise OutputError(f"output folder {out_root} is (inside) the dataset {data_root}; choose another one")
    if data_root.resolve().is_relative_to(out_root.resolve()):
        raise OutputError(f"output folder {out_root} contains the dataset {data_root}; choose another one")
    if out_root.exists() and not out_root.is_dir():
        raise OutputError(f"output {out_root} exists and is not a folder")
    skip: set[str] = set()
    if not out_root.exists():
        return skip
    stray = sorted(d.name for d in out_root.iterdir() if d.is_dir() and d.name not in clips)
    if stray:
        raise OutputError(f"output folder {out_root} holds folders that are not clips of this run: {stray[:5]}; "
                          "they would be evaluated too. Remove them or choose an empty output folder")
    for name, frames in clips.items():
        folder = out_root / name
        if resume and _complete_output(folder, frames):
            skip.add(name)
        elif folder.exists() and any(folder.iterdir()) and not overwrite:
            raise OutputError(f"output clip folder {folder} already exists; pass --overwrite to replace it"
                              + ("" if resume else " or --resume to keep complete clips"))
    return skip


def _colorize_clip(model: ColorMNet, frames: Sequence[Path], writer: FrameFolderWriter, *,
                   memory: MemoryConfig | None, protocol: str, dtype: torch.dtype | None,
                   bar: Any) -> float:
    """Colourise one clip into ``writer``; returns the seconds spent in the network/memory."""
    session = ColorizationSession(model, memory, dtype)
    reader = FrameFolderReader(frames[0].parent)
    if [p.name for p in frames] != reader.names:
        raise InputError(f"frames of {frames[0].parent} changed while running; start again")
    net_seconds = 0.0
    n = len(frames)
    for t, (name, rgb) in enumerate(reader.items()):
        lab = rgb_to_lab_norm(rgb)
        l_norm = torch.from_numpy(lab[0])
        start = time.perf_counter()
        if protocol == "first-frame":
            ab = session.step(l_norm, torch.from_numpy(lab[1:]) if t == 0 else None, is_last=t == n - 1)
        else:
            if t == 0:
                session.add_reference(l_norm, torch.from_numpy(lab[1:]))
            ab = session.step(l_norm, None, is_last=t == n - 1)
        ab_np = ab.float().cpu().numpy()
        net_seconds += time.perf_counter() - start
        writer.write(lab_norm_to_rgb(lab[0], ab_np), name)
        bar.update(1)
    return net_seconds


def colorize_dataset(data_dir: PathLike, out_dir: PathLike, model: ColorMNet, *,
                     memory: MemoryConfig | None = None, protocol: str = "first-frame",
                     clips: Sequence[str] | None = None, precision: str = "fp32",
                     overwrite: bool = False, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Colourise every clip of ``data_dir`` into ``out_dir/<clip>/<frame stem>.png`` (see module doc).

    Args:
        data_dir: ``<data>/<clip>/<frame>`` colour ground truth (any image format Pillow reads).
        out_dir: output root (created if missing); must not be inside ``data_dir`` or contain it.
        model: the network (eval mode, on the device to use).
        memory: memory settings (default: the paper's).
        protocol: one of :data:`PROTOCOLS`.
        clips: subset of clip names (default: all).
        precision: ``fp32`` / ``fp16`` / ``bf16`` (autocast; memory maths stays float32).
        overwrite: replace existing clip folders. resume: keep clip folders that already hold every frame.
        progress: show a tqdm bar over all frames.
    Returns:
        ``{"protocol", "clips": [{"name", "frames", "seconds", "network_seconds", "skipped"}],
        "frames", "seconds", "network_seconds", "fps", "network_fps"}`` (skipped clips not counted in times).
    """
    from tqdm.auto import tqdm

    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    device = next(model.parameters()).device
    dtype = autocast_dtype(precision, device)
    data_root, out_root = Path(data_dir), Path(out_dir)
    found = find_clips(data_root, clips)
    skip = _prepare_out_dir(out_root, data_root, found, overwrite, resume)
    out_root.mkdir(parents=True, exist_ok=True)
    todo = sum(len(f) for c, f in found.items() if c not in skip)
    entries: list[dict[str, Any]] = []
    with tqdm(total=todo, unit="frame", disable=not progress, desc="colourising") as bar:
        for name, frames in found.items():
            if name in skip:
                log.info("clip %s: complete output exists, skipped (resume)", name)
                entries.append({"name": name, "frames": len(frames), "seconds": 0.0,
                                "network_seconds": 0.0, "skipped": True})
                continue
            bar.set_postfix_str(name)
            start = time.perf_counter()
            with FrameFolderWriter(out_root / name, overwrite=overwrite, inputs=[data_root / name]) as writer:
                net = _colorize_clip(model, frames, writer, memory=memory, protocol=protocol, dtype=dtype,
                                     bar=bar)
            seconds = time.perf_counter() - start
            log.info("clip %s: %d frames in %.1f s", name, len(frames), seconds)
            entries.append({"name": name, "frames": len(frames), "seconds": seconds,
                            "network_seconds": net, "skipped": False})
    done = [e for e in entries if not e["skipped"]]
    frames_done = sum(e["frames"] for e in done)
    seconds = sum(e["seconds"] for e in done)
    network_seconds = sum(e["network_seconds"] for e in done)
    return {
        "protocol": protocol,
        "clips": entries,
        "frames": sum(e["frames"] for e in entries),
        "frames_processed": frames_done,
        "seconds": seconds,
        "network_seconds": network_seconds,
        "fps": frames_done / seconds if seconds > 0 else None,
        "network_fps": frames_done / network_seconds if network_seconds > 0 else None,
    }


def run_benchmark(data_dir: PathLike, out_dir: PathLike, model: ColorMNet, *,
                  memory: MemoryConfig | None = None, protocol: str = "first-frame",
                  clips: Sequence[str] | None = None, precision: str = "fp32",
                  metrics: Iterable[str] | None = None, lpips_weights: Any = None,
                  inception_weights: PathLike | None = None,
                  json_path: PathLike | None = None, markdown_path: PathLike | None = None,
                  overwrite: bool = False, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """:func:`colorize_dataset`, then :func:`evaluate_dirs` of ``out_dir`` against ``data_dir``.

    Writes the report as JSON (default ``<out>/benchmark.json``) and Markdown (``<out>/benchmark.md``);
    both are checked before any work (existing files need ``overwrite``; ``resume`` replaces them).
    Where the weights came from (``model.weights_source``, set by :func:`colormnet.models.build_model`)
    goes into the report; with the recipe weights the report is marked as not meaningful.
    Returns ``{"benchmark": {...run info...}, "evaluation": {...evaluate_dirs result...}}``.
    """
    from colormnet.eval.runner import DEFAULT_METRICS, evaluate_dirs, to_markdown

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
                     "as in the authors' evaluation)") if protocol == "first-frame" else
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
