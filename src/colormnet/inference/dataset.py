"""Colourise a DAVIS-layout dataset with the paper's protocol, through the engine.

Dataset layout: ``<data>/<clip>/<frame>.jpg|png`` holding the *colour* ground truth. Every clip goes
through :func:`colormnet.inference.engine.iter_colorize` at native size (the network sees the
lightness of each ground-truth frame), with frame 0's colour image as the one exemplar, in one of the
two exemplar modes (:data:`PROTOCOLS`):

* ``keyframe`` (the paper's protocol, the authors' default ``test.py`` mode): frame 0's colour image
  is the keyframe exemplar of frame 0, which is therefore returned as given (its output equals the
  ground truth up to the Lab -> RGB round trip); every later frame is predicted.
* ``free-reference`` (the authors' ``--FirstFrameIsNotExemplar`` mode): frame 0's colour image is a
  free reference and *every* frame, frame 0 included, is predicted.

Outputs are PNG frames ``<out>/<clip>/<frame stem>.png`` written atomically per clip.
:func:`colormnet.benchmark.run_benchmark` then evaluates them and writes the reports.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from colormnet.config import OLD_PROTOCOL_NAMES, PROTOCOLS, MemoryConfig
from colormnet.device import autocast_dtype, model_device
from colormnet.errors import InputError, OutputError
from colormnet.inference.engine import ColorizeOptions, iter_colorize
from colormnet.inference.exemplars import Exemplar
from colormnet.io.frames import FrameFolderReader, FrameFolderWriter, scan_clips
from colormnet.model.network import ColorMNet

__all__ = ["PROTOCOLS", "colorize_dataset", "find_clips", "protocol_name"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def protocol_name(name: str) -> str:
    """The protocol ``name`` (one of :data:`PROTOCOLS`, or its old name); InputError otherwise."""
    name = OLD_PROTOCOL_NAMES.get(name, name)
    if name not in PROTOCOLS:
        raise InputError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return name


# ------------------------------------------------------------------------------------------ clips
def find_clips(data_dir: PathLike, clips: Sequence[str] | None = None) -> dict[str, list[Path]]:
    """Clip name -> frame paths of a ``<data>/<clip>/<frame>`` dataset (:func:`colormnet.io.frames.scan_clips`,
    strict), restricted to ``clips`` when given (unknown names raise InputError)."""
    root = Path(data_dir)
    found = scan_clips(root, what="dataset folder")
    if not found:
        hint = " (it holds frames directly; put them in a sub-folder named after the clip)" if any(
            p.is_file() and not p.name.startswith(".") for p in root.iterdir()) else ""
        raise InputError(f"dataset folder {root} has no clip folders: expected <data>/<clip>/<frame>.jpg{hint}")
    if clips is None:
        return found
    unknown = [c for c in clips if c not in found]
    if unknown:
        names = list(found)
        raise InputError(f"clip(s) {unknown} not found in {root}; it has {names[:10]}"
                         + (" ..." if len(names) > 10 else ""))
    return {name: frames for name, frames in found.items() if name in set(clips)}


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
                   options: ColorizeOptions, protocol: str, bar: Any) -> tuple[float, int]:
    """Colourise one clip into ``writer`` with the engine; returns the seconds spent in the network/memory
    and the peak number of memory elements."""
    reader = FrameFolderReader(frames[0].parent)
    if [p.name for p in frames] != reader.names:
        raise InputError(f"frames of {frames[0].parent} changed while running; start again")
    first = next(iter(reader))
    exemplar = Exemplar(first, 0 if protocol == "keyframe" else None, str(frames[0]))
    seconds = 0.0
    peak_elements = 0
    for name, result in zip(reader.names, iter_colorize(model, reader, [exemplar], options), strict=True):
        seconds += result.seconds
        peak_elements = max(peak_elements, sum(result.info.memory_sizes.values()))
        writer.write(result.rgb, name)
        bar.update(1)
    return seconds, peak_elements


def colorize_dataset(data_dir: PathLike, out_dir: PathLike, model: ColorMNet, *,
                     memory: MemoryConfig | None = None, protocol: str = "keyframe",
                     clips: Sequence[str] | None = None, precision: str = "fp32",
                     overwrite: bool = False, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Colourise every clip of ``data_dir`` into ``out_dir/<clip>/<frame stem>.png`` (see module doc).

    Args:
        data_dir: ``<data>/<clip>/<frame>`` colour ground truth (any image format Pillow reads).
        out_dir: output root (created if missing); must not be inside ``data_dir`` or contain it.
        model: the network (eval mode, on the device to use).
        memory: memory settings (default: the paper's).
        protocol: one of :data:`PROTOCOLS` (the old names first-frame / reference-not-first are accepted).
        clips: subset of clip names (default: all).
        precision: ``fp32`` / ``fp16`` / ``bf16`` (autocast; memory maths stays float32).
        overwrite: replace existing clip folders. resume: keep clip folders that already hold every frame.
        progress: show a tqdm bar over all frames.
    Returns:
        ``{"protocol", "clips": [{"name", "frames", "seconds", "network_seconds", "peak_memory_elements",
        "skipped"}],
        "frames", "seconds", "network_seconds", "fps", "network_fps"}`` (skipped clips not counted in times).
    """
    from tqdm.auto import tqdm

    protocol = protocol_name(protocol)
    options = ColorizeOptions(memory or MemoryConfig(), max_side=0,
                              autocast_dtype=autocast_dtype(precision, model_device(model)),
                              colour_input_notice=False)
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
                net, peak_elements = _colorize_clip(model, frames, writer, options=options, protocol=protocol,
                                                    bar=bar)
            seconds = time.perf_counter() - start
            log.info("clip %s: %d frames in %.1f s", name, len(frames), seconds)
            entries.append({"name": name, "frames": len(frames), "seconds": seconds,
                            "network_seconds": net, "peak_memory_elements": peak_elements, "skipped": False})
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
