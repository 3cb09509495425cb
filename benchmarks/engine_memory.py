"""Streaming-engine benchmark: s/frame and peak memory versus clip length and resolution.

Runs the real engine (``colorize_frames``: Lab conversion, network, memory, RGB output) on the
official blackswan frames (832x480, ping-ponged to any length; upscaled for larger sizes), with the
first frame's colour version as the exemplar. Memory is sampled every ``--sample-every`` frames so
a growing footprint would show; the memory stores' element counts are recorded too.

    python benchmarks/engine_memory.py --frames 50 --size 832x480            # full network
    python benchmarks/engine_memory.py --frames 1000 --model tiny            # RSS plateau, quick
    python benchmarks/engine_memory.py --frames 5 --size 3840x2160 --max-side 1280

Weights: the fixtures' deterministic recipe (same cost as the released checkpoint) unless
``--weights`` is given. Results: printed and written to benchmarks/results/engine-*.json.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    current_memory,
    device_slug,
    environment,
    markdown_table,
    parse_sizes,
    peak_memory,
    reset_peak_memory,
    save_json,
)

from colormnet.config import memory_preset  # noqa: E402
from colormnet.device import autocast_dtype, resolve_device  # noqa: E402
from colormnet.inference.engine import ColorizeOptions, iter_colorize  # noqa: E402
from colormnet.inference.exemplars import Exemplar  # noqa: E402
from colormnet.model.network import ColorMNet  # noqa: E402
from colormnet.models import build_model  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "official_example"


def clip_frames(size: tuple[int, int], n: int):
    """n uint8 gray frames of the blackswan clip at ``size`` (w, h), ping-pong looped."""
    paths = sorted((DATA / "input" / "blackswan").glob("*.png"))
    if not paths:
        raise SystemExit(f"blackswan frames not found under {DATA}")
    order = paths + paths[-2:0:-1]
    cache: dict[Path, np.ndarray] = {}
    for path in itertools.islice(itertools.cycle(order), n):
        if path not in cache:
            if len(cache) > 100:
                cache.clear()
            img = Image.open(path).convert("L")
            cache[path] = np.asarray(img if img.size == size else img.resize(size, Image.BICUBIC))
        yield cache[path]


def run(args: argparse.Namespace, size: tuple[int, int], n: int, model: ColorMNet, device: torch.device) -> dict:
    exemplar = Exemplar(np.asarray(Image.open(DATA / "ref" / "blackswan" / "00000.png").convert("RGB")), 0)
    options = ColorizeOptions(memory_preset(args.memory), args.max_side, autocast_dtype(args.precision, device))
    reset_peak_memory(device)
    times, samples = [], []
    start = time.perf_counter()
    last = start
    result = None
    for t, result in enumerate(iter_colorize(model, clip_frames(size, n), [exemplar], options)):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        now = time.perf_counter()
        times.append(now - last)
        last = now
        if t % args.sample_every == 0 or t == n - 1:
            samples.append({"frame": t, "bytes": current_memory(device), **result.info.memory_sizes})
            print(f"  frame {t}: {np.mean(times[-args.sample_every:]):.3f} s/frame, "
                  f"{samples[-1]['bytes'] / 2**20:.0f} MiB, memory {result.info.memory_sizes}", flush=True)
    total = time.perf_counter() - start
    steady = times[args.warmup:] or times
    return {
        "size_wh": list(size), "frames": n, "model": args.model, "memory_preset": args.memory,
        "max_side": args.max_side, "precision": args.precision,
        "first_frame_s": times[0], "s_per_frame": float(np.mean(steady)), "frames_per_s": 1 / float(np.mean(steady)),
        "total_s": total, "peak_memory": peak_memory(device), "memory_samples": samples,
        "final_memory_elements": result.info.memory_sizes,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="832x480", help="WIDTHxHEIGHT[,WxH...] of the input frames")
    p.add_argument("--frames", default="50", help="clip lengths, comma-separated (e.g. 50,1000)")
    p.add_argument("--model", choices=("full", "tiny"), default="full")
    p.add_argument("--weights", help="released checkpoint instead of the recipe weights")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--memory", default="balanced", help="memory preset")
    p.add_argument("--max-side", type=int, default=0, help="engine working size limit (0 = native)")
    p.add_argument("--warmup", type=int, default=2, help="frames excluded from s/frame")
    p.add_argument("--sample-every", type=int, default=25)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/engine-<device>-<date>.json)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = build_model("tiny" if args.model == "tiny" else "recipe" if args.weights is None else "colormnet",
                        weights=args.weights, device=device)
    runs = []
    for size in parse_sizes(args.size):
        for n in (int(x) for x in args.frames.split(",")):
            r = run(args, size, n, model, device)
            runs.append(r)
            print(f"{size[0]}x{size[1]} {n} frames: {r['s_per_frame']:.3f} s/frame, "
                  f"peak {r['peak_memory']['bytes'] / 2**20:.0f} MiB", flush=True)
    rows = [[f"{r['size_wh'][0]}x{r['size_wh'][1]}", r["frames"], r["model"], r["max_side"] or "native",
             f"{r['s_per_frame']:.3f}", f"{r['frames_per_s']:.2f}", f"{r['first_frame_s']:.2f}",
             f"{r['peak_memory']['bytes'] / 2**20:.0f}",
             f"{r['memory_samples'][0]['bytes'] / 2**20:.0f} -> {r['memory_samples'][-1]['bytes'] / 2**20:.0f}"]
            for r in runs]
    print(markdown_table(["input", "frames", "model", "max side", "s/frame", "frames/s", "first frame s",
                          "peak MiB", "memory first -> last MiB"], rows))
    path = save_json({"environment": environment(device), "runs": runs}, args.out, "engine", device_slug(device))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
