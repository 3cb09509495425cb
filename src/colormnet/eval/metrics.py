"""Per-image and per-clip colour metrics on uint8 RGB arrays (numpy / scikit-image only).

All images are ``numpy.ndarray`` of shape (H, W, 3), dtype uint8, channels in RGB order.
A clip is a sequence of such frames in temporal order.

- :func:`psnr` - peak signal-to-noise ratio (standard, or the authors' wrapping variant).
- :func:`ssim` - structural similarity, exactly as the authors' script calls scikit-image.
- :func:`colourfulness` - Hasler & Suesstrunk (2003) colourfulness.
- :func:`cdc` - colour distribution consistency of a clip (TCVC's definition, lower is better).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from colormnet.errors import InputError

__all__ = [
    "cdc",
    "cdc_from_histograms",
    "channel_histograms",
    "colourfulness",
    "js_divergence",
    "psnr",
    "ssim",
]

log = logging.getLogger(__name__)

CDC_DILATIONS: tuple[int, ...] = (1, 2, 4)


def _check_rgb(img: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise InputError(
            f"{name}: expected a uint8 RGB array of shape (H, W, 3), got {arr.dtype} {arr.shape}"
        )
    return arr


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = _check_rgb(pred, "prediction")
    gt = _check_rgb(gt, "ground truth")
    if pred.shape != gt.shape:
        raise InputError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
    return pred, gt


def psnr(pred: np.ndarray, gt: np.ndarray, legacy: bool = False) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 RGB images, peak value 255.

    Standard (``legacy=False``): ``MSE = mean((gt - pred)^2)`` over all pixels and the three channels,
    computed in float64, and ``PSNR = 10 * log10(255^2 / MSE)``. Identical images (MSE == 0) give
    ``float('inf')`` (no cap), as scikit-image's ``peak_signal_noise_ratio`` and the authors' helper do.

    ``legacy=True`` is NOT standard PSNR. It reproduces the authors' ``calculate_psnr``, which
    subtracts and squares the uint8 arrays directly: the difference wraps modulo 256 and so does its
    square (``((gt - pred) mod 256)^2 mod 256``), then the mean is taken in float64 and
    ``20 * log10(255 / sqrt(MSE))`` is returned (inf when that wrapped MSE is 0, which happens whenever
    every difference is a multiple of 16). Because the wrapped squares are below 256, legacy PSNR is
    never below ~24 dB. Use it only to compare with numbers produced by the authors' script.

    Args:
        pred, gt: (H, W, 3) uint8 RGB, same shape.
    Returns:
        PSNR in dB (float, possibly inf).
    """
    pred, gt = _check_pair(pred, gt)
    if legacy:
        with np.errstate(over="ignore"):
            wrapped = (gt - pred) ** 2  # uint8 arithmetic on purpose: wraps modulo 256 twice
        mse = float(wrapped.mean(dtype=np.float64))
    else:
        diff = gt.astype(np.float64) - pred.astype(np.float64)
        mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return float(10.0 * np.log10(255.0**2 / mse))


def ssim(pred: np.ndarray, gt: np.ndarray) -> float:
    """Structural similarity, ``skimage.metrics.structural_similarity(gt, pred, channel_axis=2)``.

    scikit-image defaults: 7x7 uniform window, K1=0.01, K2=0.03, no Gaussian weighting, data range
    255 (inferred from uint8), SSIM averaged over the three RGB channels. This is the authors' call.

    Args:
        pred, gt: (H, W, 3) uint8 RGB, same shape, each side at least 7 pixels.
    Returns:
        Mean SSIM in [-1, 1] (1 for identical images).
    """
    from skimage.metrics import structural_similarity

    pred, gt = _check_pair(pred, gt)
    if min(pred.shape[:2]) < 7:
        raise InputError(f"SSIM needs images at least 7x7 pixels, got {pred.shape[1]}x{pred.shape[0]}")
    return float(structural_similarity(gt, pred, channel_axis=2, data_range=255))


def colourfulness(rgb: np.ndarray, legacy: bool = False) -> float:
    """Hasler & Suesstrunk (2003) colourfulness of one uint8 RGB image, in 0..255 pixel units.

    With R, G, B as float64: ``rg = R - G``, ``yb = 0.5 * (R + G) - B``;
    ``sigma = sqrt(std(rg)^2 + std(yb)^2)``, ``mu = sqrt(mean(rg)^2 + mean(yb)^2)`` (population
    standard deviation over all pixels); result ``sigma + 0.3 * mu``. A gray image (R = G = B) gives 0.

    ``legacy=True`` is NOT the published definition: it reproduces the authors' script, which takes
    the absolute values ``|rg|`` and ``|yb|`` and splits the RGB array as if it were BGR (so R and B
    are swapped in the formulas above).

    Args:
        rgb: (H, W, 3) uint8 RGB.
    Returns:
        Colourfulness (float, >= 0).
    """
    arr = _check_rgb(rgb, "image").astype(np.float64)
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    if legacy:
        r, b = b, r
    rg = r - g
    yb = 0.5 * (r + g) - b
    if legacy:
        rg, yb = np.abs(rg), np.abs(yb)
    sigma = math.hypot(float(rg.std()), float(yb.std()))
    mu = math.hypot(float(rg.mean()), float(yb.mean()))
    return sigma + 0.3 * mu


def channel_histograms(rgb: np.ndarray) -> np.ndarray:
    """Per-channel 256-bin histograms of a uint8 RGB image, normalised by the pixel count.

    Args:
        rgb: (H, W, 3) uint8.
    Returns:
        (3, 256) float64; row c is the histogram of channel c, each row sums to 1.
    """
    arr = _check_rgb(rgb, "frame")
    n = arr.shape[0] * arr.shape[1]
    hist = np.stack([np.bincount(arr[..., c].ravel(), minlength=256) for c in range(3)])
    return hist.astype(np.float64) / n


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (natural log) between distributions along the last axis.

    ``JS(p, q) = 0.5 * KL(p || m) + 0.5 * KL(q || m)`` with ``m = (p + q) / 2`` and
    ``KL(a || b) = sum a * ln(a / b)`` over bins where ``a > 0``. Inputs are renormalised to sum 1
    (as ``scipy.stats.entropy`` does). Range [0, ln 2].

    Args:
        p, q: (..., K) non-negative arrays with positive sums, same shape.
    Returns:
        (...) float64 array (a 0-d array for 1-D inputs).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = 0.5 * (p + q)

    def _kl(a: np.ndarray) -> np.ndarray:
        pos = a > 0
        terms = np.zeros_like(a)
        terms[pos] = a[pos] * np.log(a[pos] / m[pos])
        return terms.sum(axis=-1)

    return 0.5 * _kl(p) + 0.5 * _kl(q)


def cdc_from_histograms(
    hists: np.ndarray | Sequence[np.ndarray], dilations: Sequence[int] = CDC_DILATIONS
) -> float:
    """:func:`cdc` from precomputed :func:`channel_histograms` of each frame, shape (T, 3, 256)."""
    h = np.asarray(hists, dtype=np.float64)
    if h.ndim != 3 or h.shape[1:] != (3, 256):
        raise InputError(f"expected histograms of shape (T, 3, 256), got {h.shape}")
    t = h.shape[0]
    per_distance = []  # each entry: (3,) mean JS per channel for one dilation
    for d in dilations:
        if d < 1:
            raise InputError(f"CDC dilation must be >= 1, got {d}")
        if t <= d:
            continue
        per_distance.append(js_divergence(h[:-d], h[d:]).mean(axis=0))
    if not per_distance:
        raise InputError(f"CDC needs at least 2 frames in a clip, got {t}")
    if len(per_distance) < len(dilations):
        skipped = [d for d in dilations if t <= d]
        log.warning(
            "CDC: clip has %d frames, no frame pairs at distance(s) %s; averaging the other distances "
            "with equal weights (the authors' script would return NaN)",
            t,
            skipped,
        )
    per_channel = np.mean(per_distance, axis=0)  # equal weights 1/len over distances
    return float(per_channel.mean())


def cdc(frames: Sequence[np.ndarray], dilations: Sequence[int] = CDC_DILATIONS) -> float:
    """Colour distribution consistency of one clip (TCVC; lower means temporally more consistent).

    For each frame, per-channel 256-bin histograms normalised by the pixel count. For each distance
    d in ``dilations`` (default 1, 2, 4): the Jensen-Shannon divergence (natural log) between the
    histograms of frames i and i + d, averaged over all pairs (i = 0 .. T-1-d), separately per
    channel. The distances are averaged with equal weights (1/3 each for the default), then the three
    channels are averaged. The channel order does not matter for the result.

    A distance with no pair (T <= d) is left out and the remaining distances share the weight equally
    (logged as a warning); the authors' script returns NaN there.

    Args:
        frames: T >= 2 frames, each (H, W, 3) uint8 RGB (sizes may differ between frames).
    Returns:
        CDC (float, in [0, ln 2]).
    """
    return cdc_from_histograms([channel_histograms(f) for f in frames], dilations)
