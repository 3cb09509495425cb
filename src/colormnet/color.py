"""Colour conversions and padding, exactly as the authors' reader and writer do them.

Normalised Lab ("L' a' b'"): L' = (L - 50) / 50 in [-1, 1], a' = a / 110, b' = b / 110, computed
with scikit-image's D65 ``rgb2lab`` in float32.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from skimage import color as skcolor

_LAB_MEAN = np.array([50.0, 0.0, 0.0], dtype=np.float32)
_LAB_STD = np.array([50.0, 110.0, 110.0], dtype=np.float32)


def rgb_to_lab_norm(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> normalised Lab (3, H, W) float32 (L' in [-1, 1], a', b' ~ [-1, 1])."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 RGB of shape (H, W, 3), got {rgb.dtype} {rgb.shape}")
    lab = skcolor.rgb2lab(rgb).astype(np.float32)
    lab = (lab - _LAB_MEAN) / _LAB_STD
    return np.ascontiguousarray(lab.transpose(2, 0, 1))


@functools.cache
def _gray_l_table() -> np.ndarray:
    """L' of the 256 gray levels (R = G = B), computed by :func:`rgb_to_lab_norm` itself."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    return rgb_to_lab_norm(ramp)[0, 0]


def gray_to_l_norm(gray: np.ndarray) -> np.ndarray:
    """uint8 luma (H, W) -> L' (H, W) float32, exactly as ``rgb_to_lab_norm`` of RGB = (g, g, g)
    (the authors' reader), via a 256-entry table."""
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"expected uint8 grayscale of shape (H, W), got {gray.dtype} {gray.shape}")
    return _gray_l_table()[gray]


def lightness_norm(rgb: np.ndarray) -> np.ndarray:
    """L' (H, W) float32 of uint8 RGB (H, W, 3); the fast table path when the image is gray."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if np.array_equal(r, g) and np.array_equal(g, b):
        return gray_to_l_norm(np.ascontiguousarray(r))
    return rgb_to_lab_norm(rgb)[0]


def lab_norm_to_rgb(l_norm: np.ndarray, ab_norm: np.ndarray) -> np.ndarray:
    """L' (H, W) and a'b' (2, H, W) float32 -> uint8 RGB (H, W, 3).

    Same arithmetic as the authors' writer: float32 de-normalisation, ``lab2rgb``, clip to [0, 1],
    x255 and truncation (not rounding) to uint8.
    """
    l_norm = np.asarray(l_norm, dtype=np.float32)
    ab_norm = np.asarray(ab_norm, dtype=np.float32)
    lab = np.empty((*l_norm.shape, 3), dtype=np.float32)
    lab[..., 0] = (l_norm + np.float32(1.0)) / np.float32(1.0 / 50.0)
    lab[..., 1] = ab_norm[0] / np.float32(1.0 / 110.0)
    lab[..., 2] = ab_norm[1] / np.float32(1.0 / 110.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "negative Z values clipped": expected for saturated ab
        rgb = skcolor.lab2rgb(lab)
    return (np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pad the last two dims of ``x`` (..., H, W) up to a multiple, split evenly.

    Returns the padded tensor and ``(left, right, top, bottom)``; the odd pixel goes right/bottom.
    """
    h, w = x.shape[-2:]
    extra_h, extra_w = -h % multiple, -w % multiple
    pad = (extra_w // 2, extra_w - extra_w // 2, extra_h // 2, extra_h - extra_h // 2)
    if extra_h == 0 and extra_w == 0:
        return x, pad
    return F.pad(x, pad), pad


def unpad(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Crop what :func:`pad_to_multiple` added."""
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    return x[..., top:h - bottom, left:w - right]
