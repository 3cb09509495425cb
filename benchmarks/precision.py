"""Reduced precision against float32, frame by frame: quality and speed of ``--precision bf16/fp16``.

Runs the streaming engine (what ``colormnet colorize`` runs) over every frame of a clip once in
float32 and once per reduced precision, with the same weights and exemplar, and compares each frame:
RGB PSNR against the float32 output, max and mean |ab| difference (CIE a*b* units), plus the
network time of every frame. Errors that enter early and are carried by the memory and the hidden
state show up as a PSNR falling with the frame index, so the per-frame list matters more than the
mean.

    python benchmarks/precision.py                      # official example (50 frames, 832x480), bf16
    python benchmarks/precision.py --frames 10 --size 416x240 --precision bf16

Weights: the parity recipe by default (``--weights FILE`` for a checkpoint). Output: a table of
the worst frames and a summary, and JSON (``benchmarks/results/precision-<device>-<date>.json``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from colormnet.device import autocast_dtype, resolve_device  # noqa: E402
from colormnet.inference.engine import ColorizeOptions, iter_colorize  # noqa: E402
from colormnet.inference.exemplars import Exemplar  # noqa: E402
from colormnet.io.frames import list_frames  # noqa: E402
from colormnet.io.images import load_frame_rgb, resize_exemplar  # noqa: E402
from colormnet.models import build_model  # noqa: E402

OFFICIAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "official_example"


def _load(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """A frame or exemplar file as uint8 RGB, resized (Pillow bilinear) to ``size`` when given."""
    rgb = load_frame_rgb(path)
    return rgb if size is None else resize_exemplar(rgb, size)


def run(model: torch.nn.Module, frames: list[np.ndarray], exemplar: np.ndarray, dtype: torch.dtype | None
        ) -> tuple[list[np.ndarray], list[np.ndarray], list[float], float]:
    """RGB (H, W, 3) and normalised ab (2, H, W) per frame, network seconds per frame, CPU seconds."""
    rgbs, abs_, secs = [], [], []
    cpu = time.process_time()
    options = ColorizeOptions(max_side=0, autocast_dtype=dtype, colour_input_notice=False)
    for result in iter_colorize(model, frames, [Exemplar(exemplar, 0, "exemplar")], options):
        rgbs.append(result.rgb)
        abs_.append(result.ab)
        secs.append(result.seconds)
    return rgbs, abs_, secs, time.process_time() - cpu


def compare(ref_rgb: list[np.ndarray], ref_ab: list[np.ndarray], ref_s: list[float],
            rgb: list[np.ndarray], ab: list[np.ndarray], secs: list[float]) -> tuple[list[dict], dict]:
    """Per-frame comparison of a run with the float32 reference (RGB PSNR, max level difference,
    max / mean |ab| in CIE units, seconds) and the summary over frames 1.. (worst, means)."""
    per_frame = []
    for t, (r0, r1, a0, a1) in enumerate(zip(ref_rgb, rgb, ref_ab, ab, strict=True)):
        mse = float(((r0.astype(np.float64) - r1) ** 2).mean())
        dab = np.abs(a0 - a1) * 110.0
        per_frame.append({"frame": t, "rgb_psnr_db": float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse),
                          "max_rgb_level_diff": int(np.abs(r0.astype(np.int16) - r1).max()),
                          "max_ab_diff": float(dab.max()), "mean_ab_diff": float(dab.mean()),
                          "seconds": secs[t], "fp32_seconds": ref_s[t]})
    predicted = per_frame[1:]  # frame 0 is the exemplar's own colour in every variant
    psnr = [f["rgb_psnr_db"] for f in predicted]
    worst = min(predicted, key=lambda f: f["rgb_psnr_db"])
    summary = {"frames": len(per_frame), "worst_frame": worst["frame"], "worst_psnr_db": worst["rgb_psnr_db"],
               "mean_psnr_db": float(np.mean(psnr)),
               "mean_psnr_first10_db": float(np.mean(psnr[:10])), "mean_psnr_last10_db": float(np.mean(psnr[-10:])),
               "max_ab_diff": max(f["max_ab_diff"] for f in predicted),
               "mean_ab_diff": float(np.mean([f["mean_ab_diff"] for f in predicted])),
               "seconds_per_frame": float(np.mean(secs[1:])), "fp32_seconds_per_frame": float(np.mean(ref_s[1:]))}
    return per_frame, summary


def clip_arguments(p: argparse.ArgumentParser, frames: int) -> None:
    """The clip, exemplar, size, weights and output options shared with ``cpu_variants.py``."""
    p.add_argument("--clip", type=Path, default=OFFICIAL / "input" / "blackswan", help="frame folder")
    p.add_argument("--exemplar", type=Path, default=OFFICIAL / "ref" / "blackswan" / "00000.png",
                   help="colour exemplar of frame 0")
    p.add_argument("--frames", type=int, default=frames, help=f"first N frames (0 = all; default {frames})")
    p.add_argument("--size", help="WIDTHxHEIGHT to resize to (default: native)")
    p.add_argument("--weights", type=Path, help="checkpoint (default: the recipe weights)")
    p.add_argument("--out", type=Path)
    p.add_argument("--overwrite", action="store_true")


def load_clip(args: argparse.Namespace, device: torch.device
              ) -> tuple[list[np.ndarray], np.ndarray, torch.nn.Module]:
    """Frames (uint8 RGB), the exemplar at their size and the network, as the options say."""
    common.check_out(args.out, args.overwrite)
    size = common.parse_sizes(args.size)[0] if args.size else None
    frames = [_load(q, size) for q in list_frames(args.clip)[: args.frames or None]]
    exemplar = _load(args.exemplar, (frames[0].shape[1], frames[0].shape[0]))
    model = build_model("recipe" if args.weights is None else "colormnet", weights=args.weights, device=device)
    return frames, exemplar, model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    clip_arguments(p, frames=0)
    p.add_argument("--precision", default="bf16", help="comma-separated reduced precisions (bf16, fp16)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    device = resolve_device(args.device)
    frames, exemplar, model = load_clip(args, device)

    ref_rgb, ref_ab, ref_s, ref_cpu = run(model, frames, exemplar, None)
    results = {"fp32": {"seconds_per_frame": ref_s, "cpu_seconds": ref_cpu}}
    print(f"fp32: {np.mean(ref_s[1:]):.3f} s/frame (frames 1..), {ref_cpu:.1f} CPU s in all")
    for precision in [x.strip() for x in args.precision.split(",") if x.strip()]:
        rgb, ab, secs, cpu = run(model, frames, exemplar, autocast_dtype(precision, device))
        per_frame, summary = compare(ref_rgb, ref_ab, ref_s, rgb, ab, secs)
        summary.update(cpu_seconds=cpu, fp32_cpu_seconds=ref_cpu)
        results[precision] = {"summary": summary, "per_frame": per_frame}
        print(common.markdown_table(["frame", "RGB PSNR dB", "max level", "max |ab|", "mean |ab|"],
                                    [[f["frame"], f"{f['rgb_psnr_db']:.1f}", f["max_rgb_level_diff"],
                                      f"{f['max_ab_diff']:.2f}", f"{f['mean_ab_diff']:.3f}"] for f in per_frame]))
        print(f"{precision}: worst frame {summary['worst_frame']} at {summary['worst_psnr_db']:.1f} dB, mean "
              f"{summary['mean_psnr_db']:.1f} dB (first 10 {summary['mean_psnr_first10_db']:.1f}, last 10 "
              f"{summary['mean_psnr_last10_db']:.1f}); max |ab| {summary['max_ab_diff']:.2f}; "
              f"{summary['seconds_per_frame']:.3f} s/frame vs fp32 {summary['fp32_seconds_per_frame']:.3f}")
    record = {"kind": "precision", "env": common.environment(device), "clip": str(args.clip),
              "size": list(frames[0].shape[1::-1]), "weights": str(args.weights or "recipe"), "results": results}
    print("wrote", common.save_json(record, args.out, "precision", common.device_slug(device), args.overwrite))


if __name__ == "__main__":
    main()
