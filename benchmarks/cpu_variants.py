"""int8 dynamic quantisation and ``torch.compile`` against the eager float32 network, frame by frame.

The two CPU speed-ups the product does *not* ship, measured so the decision can be checked again on
another CPU or torch version. Each variant runs the streaming engine (what ``colormnet colorize``
runs) over the same frames as the eager float32 network and is compared frame by frame the way
``precision.py`` compares bf16 (RGB PSNR, max level, max / mean |ab|), plus its speed.

Variants:
  int8       ``torch.ao.quantization.quantize_dynamic`` of every ``nn.Linear`` (DINOv2's q/k/v,
             projection and MLP layers, the CBAM gates): int8 weights, activations quantised per call
  compile    ``torch.compile`` (inductor, default mode) of the key encoder and the decoder, the two
             stages that hold 95 % of the time; compilation happens on the first frames and is
             reported apart (``first_frames_s``)

    python benchmarks/cpu_variants.py --frames 8                       # official example, 832x480
    python benchmarks/cpu_variants.py --frames 6 --size 416x240 --variants int8

Output: a summary line per variant and JSON (``benchmarks/results/cpu_variants-<device>-<date>.json``).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from precision import clip_arguments, compare, load_clip, run  # noqa: E402

VARIANTS = ("int8", "compile")


def make_variant(model: nn.Module, name: str) -> nn.Module:
    """A copy of ``model`` changed as ``name`` says (the reference stays untouched)."""
    variant = copy.deepcopy(model)
    if name == "int8":
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():  # torch marks its quantised tensor types deprecated
            warnings.simplefilter("ignore")
            return quantize_dynamic(variant, {nn.Linear}, dtype=torch.qint8)
    if name == "compile":
        variant.key_encoder = torch.compile(variant.key_encoder)
        variant.decoder = torch.compile(variant.decoder)
        return variant
    raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    clip_arguments(p, frames=8)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    p.add_argument("--warmup", type=int, default=2,
                   help="frames left out of the speed mean (compilation happens in the first ones)")
    args = p.parse_args()
    device = torch.device("cpu")
    frames, exemplar, model = load_clip(args, device)
    if len(frames) <= args.warmup:
        raise SystemExit(f"--frames must exceed --warmup ({args.warmup})")

    ref_rgb, ref_ab, ref_s, ref_cpu = run(model, frames, exemplar, None)
    steady = slice(args.warmup, None)
    results = {"fp32": {"seconds_per_frame": ref_s, "steady_s": float(np.mean(ref_s[steady])), "cpu_seconds": ref_cpu}}
    print(f"eager fp32: {np.mean(ref_s[steady]):.3f} s/frame (frames {args.warmup}..)")
    for name in [x.strip() for x in args.variants.split(",") if x.strip()]:
        start = time.perf_counter()
        variant = make_variant(model, name)
        prepare_s = time.perf_counter() - start
        rgb, ab, secs, cpu = run(variant, frames, exemplar, None)
        per_frame, summary = compare(ref_rgb, ref_ab, ref_s, rgb, ab, secs)
        summary.update(prepare_s=prepare_s, first_frames_s=float(sum(secs[: args.warmup])),
                       steady_s=float(np.mean(secs[steady])), fp32_steady_s=float(np.mean(ref_s[steady])),
                       cpu_seconds=cpu, fp32_cpu_seconds=ref_cpu)
        results[name] = {"summary": summary, "per_frame": per_frame}
        print(f"{name}: {summary['steady_s']:.3f} s/frame vs eager fp32 {summary['fp32_steady_s']:.3f} "
              f"(x{summary['steady_s'] / summary['fp32_steady_s']:.2f}; first {args.warmup} frames "
              f"{summary['first_frames_s']:.1f} s, preparing {prepare_s:.1f} s); worst frame "
              f"{summary['worst_frame']} at {summary['worst_psnr_db']:.1f} dB, mean {summary['mean_psnr_db']:.1f} dB, "
              f"max |ab| {summary['max_ab_diff']:.2f}")
        del variant
    record = {"kind": "cpu_variants", "env": common.environment(device), "clip": str(args.clip),
              "size": list(frames[0].shape[1::-1]), "weights": str(args.weights or "recipe"),
              "warmup": args.warmup, "results": results}
    print("wrote", common.save_json(record, args.out, "cpu_variants", common.device_slug(device), args.overwrite))


if __name__ == "__main__":
    main()
