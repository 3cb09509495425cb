"""Evaluate a folder of colourised clips against ground truth: ``<root>/<clip>/<frame>`` layouts.

:func:`evaluate_dirs` returns a JSON-serialisable dict of per-clip and overall numbers;
:func:`to_markdown` renders it as a table. Metrics needing weights (LPIPS, FID) are skipped with a
note when their files are not given. Frames are matched by file name without extension (so
``00001.png`` matches ``00001.jpg``); every clip in ``pred_dir`` must exist in ``gt_dir`` with the
same frame names and sizes. A directory holding images directly (no clip sub-folders) is one clip
named ``"."``.

Aggregation follows the authors' script: per-frame metrics (PSNR, SSIM, LPIPS, colourfulness) are
averaged over all frames of all clips (clips weighted by length); CDC is computed per clip and
averaged over clips; FID is computed per clip and averaged over clips (``fid``, the paper's way),
and also over all frames pooled (``fid_pooled``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from colormnet.errors import InputError
from colormnet.eval import metrics as M
from colormnet.eval.fid import fid_from_features, fid_pooled
from colormnet.io.frames import list_frames, scan_clips
from colormnet.io.images import load_frame_rgb

__all__ = ["ALL_METRICS", "DEFAULT_METRICS", "evaluate_dirs", "to_markdown"]

log = logging.getLogger(__name__)

DEFAULT_METRICS: tuple[str, ...] = ("psnr", "ssim", "lpips", "colourfulness", "cdc", "fid")
ALL_METRICS: tuple[str, ...] = (*DEFAULT_METRICS, "psnr_legacy")
_ALIASES = {"colorfulness": "colourfulness"}
_FRAME_METRICS = ("psnr", "psnr_legacy", "ssim", "lpips", "colourfulness", "colourfulness_gt")

PathLike = str | Path


def _normalise_metrics(metrics: Iterable[str]) -> list[str]:
    out: list[str] = []
    for m in metrics:
        name = _ALIASES.get(m.lower(), m.lower())
        if name not in ALL_METRICS:
            raise InputError(f"unknown metric {m!r}; choose from {', '.join(ALL_METRICS)}")
        if name not in out:
            out.append(name)
    return out


def _by_stem(frames: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in frames:
        if p.stem in found:
            raise InputError(f"two frames named {p.stem!r} in {p.parent} ({found[p.stem].name}, {p.name})")
        found[p.stem] = p
    return found


def _clips(root: Path) -> dict[str, dict[str, Path]]:
    """Clip -> {frame stem: path}: :func:`colormnet.io.frames.scan_clips` (other files skipped), or the
    images directly in ``root`` as the one clip ``"."``."""
    clips = {name: _by_stem(frames) for name, frames in scan_clips(root, strict=False, what="folder").items()}
    if not clips:
        direct = list_frames(root, strict=False)
        if direct:
            clips = {".": _by_stem(direct)}
    if not clips:
        raise InputError(f"no images found in {root} (expected <clip>/<frame> image files)")
    return clips


def _pair_clips(pred_dir: Path, gt_dir: Path, notes: list[str]) -> dict[str, list[tuple[Path, Path]]]:
    pred, gt = _clips(pred_dir), _clips(gt_dir)
    pairs: dict[str, list[tuple[Path, Path]]] = {}
    for clip, frames in pred.items():
        if clip not in gt:
            raise InputError(f"clip {clip!r} of {pred_dir} has no ground truth folder in {gt_dir}")
        gframes = gt[clip]
        missing_gt = sorted(set(frames) - set(gframes))
        missing_pred = sorted(set(gframes) - set(frames))
        if missing_gt or missing_pred:
            raise InputError(
                f"clip {clip!r}: frame names differ between {pred_dir / clip} and {gt_dir / clip} "
                f"(no ground truth for {missing_gt[:5]}, no prediction for {missing_pred[:5]})"
            )
        pairs[clip] = [(frames[s], gframes[s]) for s in sorted(frames)]
    unused = sorted(set(gt) - set(pred))
    if unused:
        notes.append(
            f"{len(unused)} ground-truth clip(s) without predictions were not evaluated: {unused[:5]}"
        )
    return pairs


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _load_models(
    wanted: list[str],
    lpips_weights: PathLike | tuple[PathLike, PathLike] | None,
    inception_weights: PathLike | None,
    device: str,
    skipped: dict[str, str],
) -> tuple[Any, Any]:
    lpips_model = inception_model = None
    if "lpips" in wanted:
        if lpips_weights is None:
            skipped["lpips"] = "no LPIPS weights given (AlexNet checkpoint + LPIPS v0.1 alex.pth)"
        else:
            from colormnet.eval.lpips import load_lpips

            if isinstance(lpips_weights, (tuple, list)):
                lpips_model = load_lpips(lpips_weights[0], lpips_weights[1], device=device)
            else:
                lpips_model = load_lpips(lpips_weights, device=device)
    if "fid" in wanted:
        if inception_weights is None:
            skipped["fid"] = "no Inception-v3 weights given (torchvision inception_v3_google-*.pth)"
        else:
            from colormnet.eval.inception import load_inception

            inception_model = load_inception(inception_weights, device=device)
    return lpips_model, inception_model


def evaluate_dirs(
    pred_dir: PathLike,
    gt_dir: PathLike,
    metrics: Iterable[str] = DEFAULT_METRICS,
    lpips_weights: PathLike | tuple[PathLike, PathLike] | None = None,
    inception_weights: PathLike | None = None,
    *,
    device: str = "cpu",
    fid_input_norm: str = "colormnet",
    batch_size: int = 16,
    progress: bool = False,
) -> dict[str, Any]:
    """Compute ``metrics`` for every clip of ``pred_dir`` against ``gt_dir``.

    Args:
        pred_dir, gt_dir: ``<root>/<clip>/<frame>`` folders of RGB images (see module docstring).
        metrics: any of ``psnr``, ``psnr_legacy`` (authors' wrapping PSNR), ``ssim``, ``lpips``,
            ``colourfulness`` (alias ``colorfulness``; also reports the ground truth's), ``cdc``
            (also reports the ground truth's), ``fid``.
        lpips_weights: AlexNet checkpoint path and LPIPS heads path as a pair, or one file with both;
            ``None`` skips LPIPS with a note.
        inception_weights: torchvision ``inception_v3_google-*.pth``; ``None`` skips FID with a note.
        device: torch device for LPIPS / Inception.
        fid_input_norm: ``"colormnet"`` (authors' FID pre-processing) or ``"tf"``; see
            :mod:`colormnet.eval.inception`.
        batch_size: Inception batch size.
        progress: show a progress bar over the frames (tqdm, on stderr).
    Returns:
        ``{"pred_dir", "gt_dir", "metrics", "clips": {clip: {...}}, "overall": {...},
        "skipped": {metric: reason}, "notes": [...]}``; values are floats, ``None`` where a value
        cannot be computed, PSNR may be ``inf`` for identical frames.
    Raises:
        InputError: bad folders, unmatched frames, unreadable images, size mismatches.
        WeightsError: a given weights file is missing or does not match.
    """
    wanted = _normalise_metrics(metrics)
    if fid_input_norm not in ("colormnet", "tf"):
        raise InputError(f"fid_input_norm must be 'colormnet' or 'tf', got {fid_input_norm!r}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    pred_root, gt_root = Path(pred_dir), Path(gt_dir)
    notes: list[str] = []
    skipped: dict[str, str] = {}
    pairs = _pair_clips(pred_root, gt_root, notes)
    lpips_model, inception_model = _load_models(wanted, lpips_weights, inception_weights, device, skipped)
    if lpips_model is not None:
        from colormnet.eval.lpips import lpips_distance
    if inception_model is not None:
        from colormnet.eval.inception import extract_features

    from tqdm.auto import tqdm

    bar = tqdm(total=sum(len(p) for p in pairs.values()), unit="frame", desc="evaluating", disable=not progress)
    per_frame: dict[str, list[float]] = {k: [] for k in _FRAME_METRICS}
    clips_out: dict[str, dict[str, Any]] = {}
    feats_pred: list[np.ndarray] = []
    feats_gt: list[np.ndarray] = []
    for clip, frame_pairs in pairs.items():
        log.debug("evaluating clip %s (%d frames)", clip, len(frame_pairs))
        bar.set_postfix_str(clip)
        vals: dict[str, list[float]] = {k: [] for k in _FRAME_METRICS}
        hists_pred, hists_gt, imgs_pred, imgs_gt = [], [], [], []
        fp_clip: list[np.ndarray] = []
        fg_clip: list[np.ndarray] = []
        for pred_path, gt_path in frame_pairs:
            pred, gt = load_frame_rgb(pred_path), load_frame_rgb(gt_path)
            bar.update()
            if pred.shape != gt.shape:
                raise InputError(
                    f"size differs: {pred_path} is {pred.shape[1]}x{pred.shape[0]}, "
                    f"{gt_path} is {gt.shape[1]}x{gt.shape[0]}"
                )
            if "psnr" in wanted:
                vals["psnr"].append(M.psnr(pred, gt))
            if "psnr_legacy" in wanted:
                vals["psnr_legacy"].append(M.psnr(pred, gt, legacy=True))
            if "ssim" in wanted:
                vals["ssim"].append(M.ssim(pred, gt))
            if lpips_model is not None:
                vals["lpips"].append(lpips_distance(lpips_model, pred, gt))
            if "colourfulness" in wanted:
                vals["colourfulness"].append(M.colourfulness(pred))
                vals["colourfulness_gt"].append(M.colourfulness(gt))
            if "cdc" in wanted:
                hists_pred.append(M.channel_histograms(pred))
                hists_gt.append(M.channel_histograms(gt))
            if inception_model is not None:
                imgs_pred.append(pred)
                imgs_gt.append(gt)
                if len(imgs_pred) >= batch_size:
                    fp_clip.append(extract_features(inception_model, imgs_pred, fid_input_norm, batch_size))
                    fg_clip.append(extract_features(inception_model, imgs_gt, fid_input_norm, batch_size))
                    imgs_pred, imgs_gt = [], []
        if inception_model is not None and imgs_pred:
            fp_clip.append(extract_features(inception_model, imgs_pred, fid_input_norm, batch_size))
            fg_clip.append(extract_features(inception_model, imgs_gt, fid_input_norm, batch_size))

        entry: dict[str, Any] = {"frames": len(frame_pairs)}
        for k, v in vals.items():
            if v:
                entry[k] = _mean(v)
                per_frame[k].extend(v)
        if "cdc" in wanted:
            if len(frame_pairs) >= 2:
                entry["cdc"] = M.cdc_from_histograms(hists_pred)
                entry["cdc_gt"] = M.cdc_from_histograms(hists_gt)
            else:
                entry["cdc"] = entry["cdc_gt"] = None
                notes.append(f"clip {clip!r}: CDC needs at least 2 frames")
        if inception_model is not None:
            fp, fg = np.concatenate(fp_clip), np.concatenate(fg_clip)
            if len(fp) >= 2:
                entry["fid"] = fid_from_features(fp, fg)
                feats_pred.append(fp)
                feats_gt.append(fg)
            else:
                entry["fid"] = None
                notes.append(f"clip {clip!r}: FID needs at least 2 frames; clip left out of FID")
        clips_out[clip] = entry
    bar.close()

    overall: dict[str, Any] = {"clips": len(clips_out), "frames": sum(len(p) for p in pairs.values())}
    for k, v in per_frame.items():
        if v:
            overall[k] = _mean(v)
    if "cdc" in wanted:
        for key in ("cdc", "cdc_gt"):
            cvals = [c[key] for c in clips_out.values() if c.get(key) is not None]
            overall[key] = _mean(cvals)
    if inception_model is not None:
        fvals = [c["fid"] for c in clips_out.values() if c.get("fid") is not None]
        overall["fid"] = _mean(fvals)  # = fid_per_clip_mean over the clips with >= 2 frames
        overall["fid_pooled"] = fid_pooled(feats_pred, feats_gt) if feats_pred else None
    n_inf = sum(1 for x in per_frame["psnr"] if math.isinf(x))
    if n_inf:
        notes.append(f"{n_inf} frame(s) are identical to the ground truth (PSNR = inf), so mean PSNR is inf")
    if "psnr_legacy" in wanted:
        notes.append("psnr_legacy is the authors' uint8-wrapping PSNR, not standard PSNR")
    for metric, reason in skipped.items():
        notes.append(f"{metric} skipped: {reason}")
    return {
        "pred_dir": str(pred_root),
        "gt_dir": str(gt_root),
        "metrics": [m for m in wanted if m not in skipped],
        "clips": clips_out,
        "overall": overall,
        "skipped": skipped,
        "notes": notes,
    }


_COLUMNS = (
    ("psnr", "PSNR (dB) ↑", "{:.2f}"),
    ("psnr_legacy", "PSNR legacy ↑", "{:.2f}"),
    ("ssim", "SSIM ↑", "{:.4f}"),
    ("lpips", "LPIPS ↓", "{:.4f}"),
    ("colourfulness", "Colourfulness", "{:.2f}"),
    ("colourfulness_gt", "Colourfulness (GT)", "{:.2f}"),
    ("cdc", "CDC ↓", "{:.5f}"),
    ("cdc_gt", "CDC (GT)", "{:.5f}"),
    ("fid", "FID ↓", "{:.2f}"),
    ("fid_pooled", "FID pooled ↓", "{:.2f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    return "inf" if isinstance(value, float) and math.isinf(value) else fmt.format(value)


def to_markdown(result: dict[str, Any]) -> str:
    """Render :func:`evaluate_dirs` output as a Markdown table (one row per clip, then the overall row)."""
    rows = [*result["clips"].values(), result["overall"]]
    cols = [c for c in _COLUMNS if any(c[0] in r for r in rows)]
    lines = [
        f"Evaluation of `{result['pred_dir']}` against `{result['gt_dir']}`",
        "",
        "| clip | frames | " + " | ".join(c[1] for c in cols) + " |",
        "|---|---:|" + "---:|" * len(cols),
    ]
    for name, entry in result["clips"].items():
        cells = [_cell(entry.get(k), fmt) for k, _, fmt in cols]
        lines.append(f"| {name} | {entry['frames']} | " + " | ".join(cells) + " |")
    ov = result["overall"]
    cells = [_cell(ov.get(k), fmt) for k, _, fmt in cols]
    lines.append(f"| **overall** ({ov['clips']} clips) | {ov['frames']} | " + " | ".join(cells) + " |")
    if result.get("notes"):
        lines += ["", "Notes:"] + [f"- {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"
