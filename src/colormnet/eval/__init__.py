"""Evaluation metrics: PSNR, SSIM, colourfulness, CDC (numpy), LPIPS and FID (torch, user weights).

Numpy-only metrics are importable from here directly; the torch models and the folder runner are
loaded on first access (``colormnet.eval.load_lpips``, ``colormnet.eval.evaluate_dirs``, ...).
Nothing is downloaded: LPIPS and FID need weight files supplied by the user.
"""

from __future__ import annotations

import importlib
from typing import Any

from colormnet.eval.fid import (
    fid_from_features,
    fid_per_clip,
    fid_per_clip_mean,
    fid_pooled,
    frechet_distance,
)
from colormnet.eval.metrics import cdc, channel_histograms, colourfulness, js_divergence, psnr, ssim

_LAZY = {
    "LPIPS": "colormnet.eval.lpips",
    "load_lpips": "colormnet.eval.lpips",
    "lpips_distance": "colormnet.eval.lpips",
    "InceptionV3Trunk": "colormnet.eval.inception",
    "load_inception": "colormnet.eval.inception",
    "extract_features": "colormnet.eval.inception",
    "evaluate_dirs": "colormnet.eval.runner",
    "to_markdown": "colormnet.eval.runner",
}

__all__ = [
    "cdc",
    "channel_histograms",
    "colourfulness",
    "fid_from_features",
    "fid_per_clip",
    "fid_per_clip_mean",
    "fid_pooled",
    "frechet_distance",
    "js_divergence",
    "psnr",
    "ssim",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
