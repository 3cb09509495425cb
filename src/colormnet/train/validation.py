"""Validation PSNR, which selects ``best.pth``: the validation clips colourised by the engine.

Every clip of ``root`` (``<clip>/<frames>``, colour; listed by :func:`colormnet.io.frames.scan_clips`)
is shortened to every ``frame_stride``-th frame (at most ``max_frames``; 0 = all) and colourised by
:func:`colormnet.inference.engine.iter_colorize` (default memory settings, network at most
``max_side`` pixels on the long side, 0 = native) with frame 0's own colours as its keyframe exemplar.
PSNR (:func:`colormnet.eval.metrics.psnr`, capped at 100 dB) between the 8-bit RGB output and the
ground truth is averaged over all frames except frame 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from colormnet.eval.metrics import psnr
from colormnet.inference.engine import ColorizeOptions, iter_colorize
from colormnet.inference.exemplars import Exemplar
from colormnet.io.frames import scan_clips
from colormnet.io.images import load_frame_rgb


def validate(net: torch.nn.Module, root: str | Path, frame_stride: int = 10, max_frames: int = 0,
             max_side: int = 0) -> dict[str, Any]:
    """Mean validation PSNR (see the module doc). The network is put in eval mode (callers restore
    their mode). Returns {"psnr": float | None, "frames": int, "clips": int}."""
    options = ColorizeOptions(max_side=max_side, colour_input_notice=False)
    net.eval()
    scores: list[float] = []
    used = 0
    for paths in scan_clips(root, strict=False, what="validation root").values():
        paths = paths[::frame_stride][:max_frames or None]
        if len(paths) < 2:
            continue
        used += 1
        truth: dict[int, np.ndarray] = {}

        def frames(clip: list[Path] = paths, seen: dict[int, np.ndarray] = truth):
            for k, path in enumerate(clip):
                seen[k] = load_frame_rgb(path)
                yield seen[k]

        first = load_frame_rgb(paths[0])
        for k, result in enumerate(iter_colorize(net, frames(), [Exemplar(first, 0, str(paths[0]))], options)):
            gt = truth.pop(k)
            if k:
                scores.append(min(psnr(result.rgb, gt), 100.0))
    return {"psnr": float(np.mean(scores)) if scores else None, "frames": len(scores), "clips": used}
