"""Training-step cost: seconds per iteration and peak memory of one full training step.

    python benchmarks/train_step.py                                  # CPU, full model, 448x448, B=1, T=8
    python benchmarks/train_step.py --device cuda --amp fp16 --steps 10 --warmup 3
    python benchmarks/train_step.py --crop 224 --frames 4 --steps 2  # smaller, when 448 is out of reach
    python benchmarks/train_step.py --model tiny --crop 112 --frames 3 --steps 2   # smoke test

One step = what ``colormnet.train.trainer.Trainer`` does per iteration: the training forward
(:func:`colormnet.train.forward.training_forward`: keys of all T frames, frame-0 value from ground
truth, T-1 recurrent frames with memory readout over up to 3 reference frames + local attention,
value encoding of predictions), L1 loss, backward, AdamW step (lr 2e-5, wd 0.05) through a
GradScaler (enabled for fp16), with the DINOv2 branch frozen and the network in eval mode, as in the
authors' recipe. Random weights (seeded) and random clips: cost does not depend on values, except on
the CPU where subnormal floats slow kernels (``--flush-denormal``).

Timing: ``--warmup`` steps (not timed: allocator and kernel start-up), then ``--steps`` timed steps
(CUDA synchronised). Peak memory: CUDA ``max_memory_allocated`` over the timed steps; CPU peak
resident set (VmHWM, reset before the warm-up, so it includes weights, optimizer state and the
Python runtime). The JSON goes to ``benchmarks/results/train-step-<device>-<date>.json``
(or ``--out``) with the environment record of ``common.py`` (device, torch version, git commit, load).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (sibling helper module)

from colormnet.config import ModelConfig  # noqa: E402
from colormnet.model.network import ColorMNet  # noqa: E402
from colormnet.train.forward import ForwardConfig, TrainingModule  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Seconds per training step and peak memory.")
    p.add_argument("--model", choices=("full", "tiny"), default="full")
    p.add_argument("--crop", type=int, default=448, help="square crop side, a multiple of 112 (default 448)")
    p.add_argument("--frames", type=int, default=8, help="frames per clip T (default 8)")
    p.add_argument("--batch", type=int, default=1, help="clips per step (default 1)")
    p.add_argument("--steps", type=int, default=3, help="timed steps (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--amp", choices=("off", "fp16", "bf16"), default="off",
                   help="autocast on CUDA (fp16 uses a GradScaler, as the authors); CPU runs float32")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--flush-denormal", action="store_true", help="treat subnormal floats as zero (CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="result JSON path (default under benchmarks/results/)")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    if args.crop % 112 or args.crop < 112 or args.frames < 2 or args.batch < 1 or args.steps < 1:
        p.error("need --crop a multiple of 112, --frames >= 2, --batch >= 1, --steps >= 1")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    common.check_out(args.out, args.overwrite)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    name = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(args.amp) if device.type == "cuda" else None

    torch.manual_seed(args.seed)
    net = ColorMNet(ModelConfig.tiny() if args.model == "tiny" else ModelConfig()).to(device).eval()
    for p in net.key_encoder.network2.parameters():
        p.requires_grad_(False)
    params = [p for p in net.parameters() if p.requires_grad]
    module = TrainingModule(net, ForwardConfig())
    optimizer = torch.optim.AdamW(params, lr=2e-5, weight_decay=0.05)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype is torch.float16)
    generator = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, args.frames)
    images = (torch.rand(*shape, 1, args.crop, args.crop, generator=generator) * 2 - 1).expand(
        -1, -1, 3, -1, -1).contiguous().to(device)
    target = ((torch.rand(*shape, 2, args.crop, args.crop, generator=generator) - 0.5) * 0.6).to(device)

    def step() -> float:
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            losses, _ = module(images, target, generator)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(losses["total"]).backward()
        scaler.step(optimizer)
        scaler.update()
        return float(losses["total"].detach())

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    before = common.current_memory(device)
    common.reset_peak_memory(device)
    load_before = common.load_average()
    warm = []
    for _ in range(args.warmup):
        t0 = time.perf_counter()
        step()
        sync()
        warm.append(time.perf_counter() - t0)
    if device.type == "cuda":
        common.reset_peak_memory(device)
    times, cpu_times, losses = [], [], []
    for _ in range(args.steps):
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        losses.append(step())
        sync()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    peak = common.peak_memory(device)
    result = {
        "benchmark": "train_step",
        "environment": common.environment(device, flush_denormal=args.flush_denormal),
        "settings": {"model": args.model, "crop": args.crop, "frames": args.frames, "batch": args.batch,
                     "amp": args.amp if amp_dtype is not None else "off", "warmup": args.warmup,
                     "steps": args.steps, "trainable_parameters": sum(p.numel() for p in params),
                     "parameters": sum(p.numel() for p in net.parameters())},
        "s_per_step": {"mean": statistics.mean(times), "median": statistics.median(times),
                       "min": min(times), "max": max(times), "all": times, "warmup": warm,
                       "cpu_time_all": cpu_times},
        "peak_memory": {**peak, "gib": peak["bytes"] / 2**30, "before_bytes": before},
        "load_average_before_after": [load_before, common.load_average()],
        "losses": losses,
    }
    path = common.save_json(result, args.out, "train-step", common.device_slug(device), args.overwrite)
    print(f"{args.model} {args.crop}x{args.crop} B={args.batch} T={args.frames} on {device} "
          f"({result['environment']['device_name']}, amp {result['settings']['amp']}): "
          f"{result['s_per_step']['mean']:.3f} s/step (median {result['s_per_step']['median']:.3f}, "
          f"{args.steps} steps after {args.warmup} warm-up), peak memory {result['peak_memory']['gib']:.2f} GiB "
          f"({peak['kind']}) -> {path}")
    return result


if __name__ == "__main__":
    main()
