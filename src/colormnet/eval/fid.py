"""Frechet Inception Distance from feature arrays (numpy; scipy optional).

FID between two sets of feature vectors, each summarised by its mean ``mu`` and sample covariance
``S`` (``numpy.cov``, ddof = 1)::

    FID = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr(sqrt(S1 S2))

``Tr(sqrt(S1 S2))`` is computed without a general (non-symmetric) matrix square root:

- ``"eigh"``: ``S1 S2`` is similar to the symmetric PSD matrix ``sqrt(S1) S2 sqrt(S1)``, so its
  principal square root has trace ``sum(sqrt(eig(sqrt(S1) S2 sqrt(S1))))``; both steps use
  ``numpy.linalg.eigh`` and clip round-off negative eigenvalues to 0.
- ``"gram"`` (features only): with centred, scaled features ``A = X1c / sqrt(n1 - 1)`` and
  ``B = X2c / sqrt(n2 - 1)`` (so ``S1 = A^T A``, ``S2 = B^T B``), the non-zero eigenvalues of
  ``S1 S2`` are the squared singular values of ``A B^T``, so the trace is the nuclear norm of the
  n1 x n2 matrix ``A B^T``. Exact and cheap when there are fewer frames than feature dimensions
  (the per-clip case: ~100 frames vs 2048 dimensions).
- ``"scipy"``: ``scipy.linalg.sqrtm(S1 @ S2)`` with the usual retry adding 1e-6 to the diagonals when
  the result is not finite, real part kept - what the authors' ``fid.py`` does.

``"auto"`` picks ``"gram"`` when both sets have no more vectors than dimensions, else ``"eigh"``.
All methods agree to round-off on well-conditioned input (tested).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np

from colormnet.errors import InputError

__all__ = [
    "activation_statistics",
    "fid_from_features",
    "fid_per_clip",
    "fid_per_clip_mean",
    "fid_pooled",
    "frechet_distance",
]

log = logging.getLogger(__name__)

Method = Literal["auto", "eigh", "gram", "scipy"]


def _as_features(f: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(f, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise InputError(f"{name}: FID needs a (N, D) feature array with N >= 2, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: features contain NaN or inf")
    return arr


def activation_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and sample covariance (D, D) (ddof = 1, as ``numpy.cov``) of (N, D) features, N >= 2."""
    f = _as_features(features, "features")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; negative round-off eigenvalues become 0."""
    w, v = np.linalg.eigh(0.5 * (s + s.T))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_eigh(s1: np.ndarray, s2: np.ndarray) -> float:
    r1 = _sqrt_psd(s1)
    m = r1 @ s2 @ r1
    w = np.linalg.eigvalsh(0.5 * (m + m.T))
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def _trace_sqrt_scipy(s1: np.ndarray, s2: np.ndarray) -> float:
    try:
        from scipy import linalg
    except ImportError as exc:  # pragma: no cover - scipy comes with scikit-image
        raise InputError("FID method 'scipy' needs scipy: pip install 'colormnet[eval]'") from exc
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.all(np.isfinite(covmean)):
        log.warning("FID: singular covariance product; adding 1e-6 to the diagonals")
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if imag > 1e-3:
            raise InputError(f"FID: matrix square root has an imaginary diagonal component of {imag:.3g}")
        covmean = covmean.real
    return float(np.trace(covmean))


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    method: Literal["eigh", "scipy"] = "eigh",
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (see module docstring).

    Args:
        mu1, mu2: (D,) means. sigma1, sigma2: (D, D) symmetric PSD covariances.
        method: ``"eigh"`` (default, numpy only) or ``"scipy"`` (``scipy.linalg.sqrtm``).
    Returns:
        The squared Frechet distance (float; tiny negative round-off is possible for equal inputs).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise InputError(f"FID: shape mismatch mu {mu1.shape}/{mu2.shape}, sigma {s1.shape}/{s2.shape}")
    if method == "eigh":
        tr = _trace_sqrt_eigh(s1, s2)
    elif method == "scipy":
        tr = _trace_sqrt_scipy(s1, s2)
    else:
        raise InputError(f"unknown FID method {method!r} for covariances (use 'eigh' or 'scipy')")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr)


def _fid_gram(f1: np.ndarray, f2: np.ndarray) -> float:
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    a = (f1 - mu1) / np.sqrt(f1.shape[0] - 1)
    b = (f2 - mu2) / np.sqrt(f2.shape[0] - 1)
    nuclear = float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.sum(a * a) + np.sum(b * b) - 2.0 * nuclear)


def fid_from_features(f1: np.ndarray, f2: np.ndarray, method: Method = "auto") -> float:
    """FID between two feature sets.

    Args:
        f1, f2: (N1, D) and (N2, D) arrays (e.g. 2048-d Inception pool features), N >= 2 each.
        method: ``"auto"``, ``"gram"``, ``"eigh"`` or ``"scipy"`` (see module docstring).
    Returns:
        FID (float, >= 0 up to round-off; 0 for identical sets).
    """
    a, b = _as_features(f1, "first feature set"), _as_features(f2, "second feature set")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"FID: feature sizes differ ({a.shape[1]} vs {b.shape[1]})")
    if method == "auto":
        method = "gram" if max(a.shape[0], b.shape[0]) <= a.shape[1] else "eigh"
    if method == "gram":
        return _fid_gram(a, b)
    mu1, s1 = activation_statistics(a)
    mu2, s2 = activation_statistics(b)
    return frechet_distance(mu1, s1, mu2, s2, method=method)  # type: ignore[arg-type]


def fid_per_clip(
    pred_clips: Sequence[np.ndarray], gt_clips: Sequence[np.ndarray], method: Method = "auto"
) -> list[float]:
    """FID of each clip: ``fid_from_features(pred_clips[k], gt_clips[k])`` for every k."""
    if len(pred_clips) != len(gt_clips):
        raise InputError(f"FID: {len(pred_clips)} predicted clips but {len(gt_clips)} ground-truth clips")
    return [fid_from_features(p, g, method) for p, g in zip(pred_clips, gt_clips, strict=True)]


def fid_per_clip_mean(
    pred_clips: Sequence[np.ndarray], gt_clips: Sequence[np.ndarray], method: Method = "auto"
) -> float:
    """The paper's FID: FID computed per clip (each clip's frames as one set), then averaged over clips.

    Args:
        pred_clips, gt_clips: one (N_k, D) feature array per clip, same order, N_k >= 2.
    """
    values = fid_per_clip(pred_clips, gt_clips, method)
    if not values:
        raise InputError("FID: no clips given")
    return float(np.mean(values))


def fid_pooled(
    pred_clips: Sequence[np.ndarray], gt_clips: Sequence[np.ndarray], method: Method = "auto"
) -> float:
    """FID over all frames of all clips pooled into one set per side (the usual image-set FID)."""
    if not pred_clips or not gt_clips:
        raise InputError("FID: no clips given")
    return fid_from_features(np.concatenate(list(pred_clips)), np.concatenate(list(gt_clips)), method)
