"""Inference speed and peak memory of the full ColorMNet network, frame by frame.

For every size and precision a fresh :class:`ColorizationSession` colourises ``warmup + max(frames)``
frames in the paper's first-frame protocol (frame 0 carries the exemplar; the last frame is not
written to memory). Each ``session.step`` is timed (device synchronised); reading and colour
conversion are done beforehand and are not timed. Frames ``0 .. warmup-1`` are warm-up: frame 0's
time is reported separately as ``first_frame_s``; the steady state is the frames after the warm-up.

Weights: the parity recipe (deterministic, no checkpoint needed; speed does not depend on weight
values). Frames: ``--clip DIR`` (any frame folder, resized to each size with bilinear filtering;
played back and forth when too short) with ``--exemplar`` (default: the clip's first frame), or
by default a camera pan over scikit-image's astronaut photo.

    python benchmarks/speed.py --sizes 832x480,960x536 --frames 6 --warmup 2
    python benchmarks/speed.py --device cuda --precision fp32,fp16,bf16 --frames 50,200
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import common
import numpy as np
import torch
from PIL import Image

from colormnet.color import rgb_to_lab_norm
from colormnet.config import MemoryConfig, ModelConfig
from colormnet.eval.dataset_run import build_model, new_session
from colormnet.pretrained import autocast_dtype

log = logging.getLogger("speed")


def _resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))


def source_frames(clip: Path | None, exemplar: Path | None, size: tuple[int, int], count: int
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` uint8 RGB frames at ``size`` (w, h) and the exemplar's a'b' (2, h, w) float32."""
    if clip is None:
        from skimage import data

        photo = data.astronaut()
        w, h = size
        scale = max((w + count * 2) / photo.shape[1], h / photo.shape[0], 1.0)
        big = _resize(photo, (int(np.ceil(photo.shape[1] * scale)) + count * 2, int(np.ceil(photo.shape[0] * scale))))
        frames = [big[:h, 2 * t:2 * t + w] for t in range(count)]  # camera pan, 2 px per frame
    else:
        from colormnet.io.frames import list_frames
        from colormnet.io.images import load_frame_rgb

        paths = list_frames(clip)
        order = list(range(len(paths))) + list(range(len(paths) - 2, 0, -1)) or [0]  # back and forth
        frames = [_resize(load_frame_rgb(paths[order[t % len(order)]]), size) for t in range(count)]
    if exemplar is not None:
        from colormnet.io.images import load_frame_rgb

        ref = _resize(load_frame_rgb(exemplar), size)
    else:
        ref = frames[0]
    return frames, rgb_to_lab_norm(np.ascontiguousarray(ref))[1:]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_one(model: torch.nn.Module, size: tuple[int, int], precision: str, frames_rgb: list[np.ndarray],
            exemplar_ab: np.ndarray, warmup: int, counts: list[int], memory: MemoryConfig) -> dict[str, Any]:
    """Time one session over all frames; return the summary for one (size, precision)."""
    device = next(model.parameters()).device
    dtype = autocast_dtype(precision, device)
    l_maps = [torch.from_numpy(rgb_to_lab_norm(np.ascontiguousarray(f))[0]).to(device) for f in frames_rgb]
    ab0 = torch.from_numpy(exemplar_ab).to(device)
    common.reset_peak_memory(device)
    before = common.current_memory(device)
    session = new_session(model, memory, dtype)
    times, cpu_times, memory_frames = [], [], []
    n = len(l_maps)
    load_before = common.load_average()
    for t, l_norm in enumerate(l_maps):
        _sync(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        session.step(l_norm, ab0 if t == 0 else None, is_last=t == n - 1)
        _sync(device)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        info = session.last_info
        if info is not None and info.is_memory_frame:
            memory_frames.append(t)
        log.info("%dx%d %s frame %d: %.3f s%s", *size, precision, t, times[-1],
                 " (memory frame)" if t in memory_frames else "")
    peak = common.peak_memory(device)
    steady = times[warmup:]
    steady_idx = range(warmup, n)
    non_mem = [times[t] for t in steady_idx if t not in memory_frames]
    mem = [times[t] for t in steady_idx if t in memory_frames]
    mean = statistics.fmean(steady) if steady else None
    return {
        "size": list(size),
        "padded": [-(-size[0] // 112) * 112, -(-size[1] // 112) * 112],
        "precision": precision,
        "frames": n,
        "warmup": warmup,
        "first_frame_s": times[0],
        "warmup_s": times[:warmup],
        "steady": {
            "frames": len(steady),
            "mean_s": mean,
            "median_s": statistics.median(steady) if steady else None,
            "min_s": min(steady) if steady else None,
            "max_s": max(steady) if steady else None,
            "fps": 1.0 / mean if mean else None,
            "non_memory_mean_s": statistics.fmean(non_mem) if non_mem else None,
            "memory_mean_s": statistics.fmean(mem) if mem else None,
            # ~threads when the CPU was ours alone; much lower = other processes took CPU time
            "cpu_per_wall": (sum(cpu_times[warmup:]) / sum(steady)) if steady and device.type == "cpu" else None,
        },
        "by_frame_count": {str(c): statistics.fmean(times[warmup:warmup + c]) for c in counts
                           if warmup + c <= n and c > 0},
        "per_frame_s": times,
        "per_frame_cpu_s": cpu_times,
        "load_average_before_after": [load_before, common.load_average()],
        "memory_frame_indices": memory_frames,
        "peak_memory": {**peak, "before_bytes": before},
    }


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        s = r["steady"]
        rows.append([f"{r['size'][0]}x{r['size'][1]}", r["precision"], _fmt(r["first_frame_s"]),
                     f"{_fmt(s['mean_s'])} (n={s['frames']})", _fmt(s["fps"], 3), _fmt(s["non_memory_mean_s"]),
                     _fmt(s["memory_mean_s"]), _fmt(s["cpu_per_wall"], 2),
                     f"{r['peak_memory']['bytes'] / 2**20:,.0f}"])
    return common.markdown_table(["size", "precision", "first frame (s)", "steady s/frame", "frames/s",
                                  "non-memory frame (s)", "memory frame (s)", "CPU/wall", "peak memory (MiB)"], rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", help="WIDTHxHEIGHT list (default 832x480,960x536; 112x112 with --tiny)")
    p.add_argument("--frames", default="6", help="steady-state frame counts, comma separated (default 6); "
                                                 "one session runs warmup + the largest")
    p.add_argument("--warmup", type=int, default=2, help="warm-up frames excluded from the steady state "
                                                          "(frame 0, the exemplar, is one of them; default 2)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    p.add_argument("--precision", default="fp32", help="fp32,fp16,bf16 list (autocast; fp16 needs CUDA)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--clip", type=Path, help="frame folder to take frames from (default: astronaut pan)")
    p.add_argument("--exemplar", type=Path, help="colour exemplar image (default: the first frame)")
    p.add_argument("--flush-denormal", action="store_true",
                   help="torch.set_flush_denormal(True): treat subnormal floats as 0 (x86 CPUs); the tiny "
                        "network's recipe weights produce subnormals that slow CPU kernels a lot")
    p.add_argument("--tiny", action="store_true", help="tiny random-architecture model (smoke test)")
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/speed-<device>-<date>.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-frame log")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")

    common.check_out(args.out, args.overwrite)
    sizes = common.parse_sizes(args.sizes or ("112x112" if args.tiny else "832x480,960x536"))
    try:
        counts = sorted({int(c) for c in args.frames.split(",")})
    except ValueError:
        p.error(f"--frames: expected integers, got {args.frames!r}")
    if args.warmup < 1 or counts[0] < 1:
        p.error("--warmup and --frames must be >= 1 (frame 0, the exemplar, is always warm-up)")
    precisions = [x.strip() for x in args.precision.split(",") if x.strip()]
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.flush_denormal and not torch.set_flush_denormal(True):
        log.warning("this CPU does not support flushing denormals; --flush-denormal ignored")
        args.flush_denormal = False
    device = torch.device(args.device)
    for prec in precisions:
        autocast_dtype(prec, device)  # validate before the long part
    config = ModelConfig.tiny() if args.tiny else None
    start = time.perf_counter()
    model, _ = build_model(recipe=True, device=device, config=config)
    build_s = time.perf_counter() - start
    memory = MemoryConfig()
    total = args.warmup + counts[-1]
    results = []
    for size in sizes:
        frames, ab = source_frames(args.clip, args.exemplar, size, total)
        for prec in precisions:
            results.append(run_one(model, size, prec, frames, ab, args.warmup, counts, memory))
    report = {
        "benchmark": "speed",
        "environment": common.environment(device, flush_denormal=args.flush_denormal),
        "settings": {"sizes": [list(s) for s in sizes], "frame_counts": counts, "warmup": args.warmup,
                     "precisions": precisions, "model": "tiny" if args.tiny else "full",
                     "parameters": sum(p.numel() for p in model.parameters()),
                     "weights": "recipe (deterministic; speed does not depend on the values)",
                     "memory": dataclasses.asdict(memory),
                     "source": str(args.clip) if args.clip else "skimage astronaut pan",
                     "protocol": "first-frame (frame 0 = exemplar; last frame not memorised)",
                     "timed": "ColorizationSession.step only (no I/O, no colour conversion)",
                     "model_build_s": build_s},
        "results": results,
    }
    path = common.save_json(report, args.out, "speed", common.device_slug(device), overwrite=args.overwrite)
    print(table(results), end="")
    print(f"\n{report['environment']['device_name']}, torch {torch.__version__}, "
          f"{report['environment']['threads']} threads; written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
