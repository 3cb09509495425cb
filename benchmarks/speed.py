"""Speed and peak memory of the real streaming engine, whole and per stage.

For every size and precision, :func:`colormnet.inference.engine.iter_colorize` colourises
``warmup + max(frames)`` frames in the paper's first-frame protocol (frame 0 carries the exemplar;
the last frame is not written to memory), exactly as ``colormnet colorize`` does: frame decoding,
Lab conversion, the network and its memory, RGB conversion and output encoding are all inside the
timed loop. Per-stage times come from forward hooks on the network's modules (key-encoder parts,
key projection, decoder, value encoder, local attention), from timing wrappers around the memory
readout/write and the engine's colour-conversion and resizing helpers, and from timing the frame
source (decode) and the output writer (encode). Without stage hooks (``--no-stages``) decoding and
encoding run on the worker threads ``colormnet colorize`` uses (and the engine makes the full-size
output on its output thread); with hooks everything runs in line so that each stage can be timed.
Frames ``0 .. warmup-1`` are warm-up; frame 0's time
is reported as ``first_frame_s``; the steady state is the frames after the warm-up.

Weights: the parity recipe (deterministic, no checkpoint needed; speed does not depend on weight
values). Frames: ``--clip`` (a frame folder or a video, played back and forth when too short and
resized to each size) with ``--exemplar`` (default: the first frame), or by default a camera pan over
scikit-image's astronaut photo (encoded to PNG in memory so that decoding is still measured).
Output: H.264 into a temporary file (``--encode png`` for PNG bytes, ``none`` to skip), deleted
afterwards.

The script only uses names that have existed since the engine was written, so it can time an older
checkout too: ``PYTHONPATH=/tmp/old/src python benchmarks/speed.py`` (the JSON records which source
tree and commit were timed).

    python benchmarks/speed.py --sizes 832x480 --frames 6 --warmup 2 --precision fp32,bf16
    python benchmarks/speed.py --device cuda --precision fp32,fp16,bf16 --frames 50 --no-stages
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import logging
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import common
import numpy as np
import torch
from PIL import Image

import colormnet
from colormnet.config import MemoryConfig, ModelConfig

try:
    from colormnet.device import autocast_dtype
    from colormnet.models import build_model
except ImportError:  # an older checkout (before the model registry), e.g. 04ef717 for before/after tables
    from colormnet.eval.dataset_run import build_model as _build_recipe
    from colormnet.pretrained import autocast_dtype

    def build_model(name: str, *, device: torch.device, config: ModelConfig | None = None) -> torch.nn.Module:
        return _build_recipe(recipe=True, device=device, config=config)[0]

log = logging.getLogger("speed")

# (stage name, start module, end module): time from the start module's forward pre-hook to the end
# module's forward hook (or, when the end name starts with "<", to the end module's pre-hook).
SPANS: list[tuple[str, str, str]] = [
    ("key_encoder", "key_encoder", "key_encoder"),
    ("key.resnet_stem_res2", "key_encoder.conv1", "key_encoder.res2"),
    ("key.resnet_layer2", "key_encoder.layer2", "key_encoder.layer2"),
    ("key.resnet_layer3", "key_encoder.layer3", "key_encoder.layer3"),
    ("key.dinov2", "key_encoder.network2", "key_encoder.network2"),
    ("key.fuse1", "key_encoder.fuse1", "key_encoder.fuse1"),
    ("key.fuse1.encode_enc", "key_encoder.fuse1", "<key_encoder.fuse1.norm1"),
    ("key.fuse1.crossattn", "key_encoder.fuse1.crossattn", "key_encoder.fuse1.crossattn"),
    ("key.fuse2", "key_encoder.fuse2", "key_encoder.fuse2"),
    ("key.fuse2.encode_enc", "key_encoder.fuse2", "<key_encoder.fuse2.norm1"),
    ("key.fuse2.crossattn", "key_encoder.fuse2.crossattn", "key_encoder.fuse2.crossattn"),
    ("key.fuse3", "key_encoder.fuse3", "key_encoder.fuse3"),
    ("key.fuse3.encode_enc", "key_encoder.fuse3", "<key_encoder.fuse3.norm1"),
    ("key.fuse3.crossattn", "key_encoder.fuse3.crossattn", "key_encoder.fuse3.crossattn"),
    ("key_projection", "key_proj", "key_proj"),
    ("local_attention", "short_term_attn", "short_term_attn"),
    ("decoder", "decoder", "decoder"),
    ("decoder.fuser", "decoder.fuser", "decoder.fuser"),
    ("value_encoder", "value_encoder", "value_encoder"),
    ("value_encoder.fuser", "value_encoder.fuser", "value_encoder.fuser"),
]
# (stage name, module, attribute): functions wrapped with a timer while the benchmark runs
WRAPPED: list[tuple[str, str, str]] = [
    ("memory_readout", "colormnet.memory.manager", "ColorMemory.read"),
    ("memory_write", "colormnet.memory.manager", "ColorMemory.add"),
    ("colour.rgb_to_L", "colormnet.inference.engine", "lightness_norm"),
    ("colour.rgb_to_lab_exemplar", "colormnet.inference.engine", "rgb_to_lab_norm"),
    ("colour.lab_to_rgb", "colormnet.inference.engine", "lab_norm_to_rgb"),
    ("colour.resize", "colormnet.inference.engine", "_resize_plane"),
]


class StageTimer:
    """Accumulates wall and process-CPU seconds per stage for the current frame (CUDA: synchronised)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.frame: dict[str, float] = defaultdict(float)
        self.frame_cpu: dict[str, float] = defaultdict(float)
        self._open: dict[str, tuple[float, float]] = {}
        self._undo: list[Callable[[], None]] = []

    def _now(self) -> tuple[float, float]:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter(), time.process_time()

    def start(self, name: str) -> None:
        self._open[name] = self._now()

    def stop(self, name: str) -> None:
        began = self._open.pop(name, None)
        if began is not None:
            wall, cpu = self._now()
            self.frame[name] += wall - began[0]
            self.frame_cpu[name] += cpu - began[1]

    def take(self) -> tuple[dict[str, float], dict[str, float]]:
        """(wall, CPU) seconds per stage since the last call."""
        frame, self.frame = dict(self.frame), defaultdict(float)
        frame_cpu, self.frame_cpu = dict(self.frame_cpu), defaultdict(float)
        return frame, frame_cpu

    def hook_modules(self, model: torch.nn.Module) -> list[str]:
        """Register the spans whose modules exist; returns the stage names hooked."""
        modules = dict(model.named_modules())
        hooked = []
        for name, first, last in SPANS:
            at_pre = last.startswith("<")
            last = last.lstrip("<")
            if first not in modules or last not in modules:
                continue
            h1 = modules[first].register_forward_pre_hook(lambda m, a, n=name: self.start(n))
            if at_pre:
                h2 = modules[last].register_forward_pre_hook(lambda m, a, n=name: self.stop(n))
            else:
                h2 = modules[last].register_forward_hook(lambda m, a, o, n=name: self.stop(n))
            self._undo += [h1.remove, h2.remove]
            hooked.append(name)
        return hooked

    def wrap_functions(self) -> list[str]:
        import importlib

        wrapped = []
        for name, module_name, attr in WRAPPED:
            owner: Any = importlib.import_module(module_name)
            *path, leaf = attr.split(".")
            for part in path:
                owner = getattr(owner, part, None)
            if owner is None or not hasattr(owner, leaf):
                continue
            original = getattr(owner, leaf)

            def timed(*args, _f=original, _n=name, **kwargs):
                self.start(_n)
                try:
                    return _f(*args, **kwargs)
                finally:
                    self.stop(_n)

            setattr(owner, leaf, timed)
            self._undo.append(lambda o=owner, k=leaf, f=original: setattr(o, k, f))
            wrapped.append(name)
        return wrapped

    def remove(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def _resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))


def source_frames(clip: Path | None, size: tuple[int, int], count: int) -> list[bytes] | list[np.ndarray]:
    """The frames as encoded PNG bytes (decoded inside the timed loop), ``count`` of them at ``size``."""
    if clip is None:
        try:
            from skimage import data

            photo = data.astronaut()
        except ImportError:  # a bare GPU machine: a smooth synthetic picture instead
            yy, xx = np.mgrid[0:512, 0:512].astype(np.float32) / 512
            photo = (np.stack([yy, xx, (np.sin(12 * xx) * np.cos(9 * yy) + 1) / 2], -1) * 255).astype(np.uint8)
        w, h = size
        scale = max((w + count * 2) / photo.shape[1], h / photo.shape[0], 1.0)
        big = _resize(photo, (int(np.ceil(photo.shape[1] * scale)) + count * 2, int(np.ceil(photo.shape[0] * scale))))
        rgbs = [np.ascontiguousarray(big[:h, 2 * t:2 * t + w]) for t in range(count)]  # pan, 2 px per frame
    else:
        if clip.is_dir():
            from colormnet.io.frames import list_frames
            from colormnet.io.images import load_frame_rgb

            paths = list_frames(clip)
            frames = [load_frame_rgb(p) for p in paths[:count]]
        else:
            from colormnet.io.video import VideoReader

            with VideoReader(clip) as reader:
                frames = []
                for f in reader:
                    frames.append(f.rgb)
                    if len(frames) == count:
                        break
        order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1)) or [0]  # back and forth
        rgbs = [_resize(frames[order[t % len(order)]], size) for t in range(count)]
    out = []
    for rgb in rgbs:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
        out.append(buf.getvalue())
    return out


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


class _Encoder:
    """Consumes output frames: H.264 into a temporary file, PNG bytes, or nothing."""

    def __init__(self, kind: str, size: tuple[int, int], tmp: Path) -> None:
        self.kind = kind
        self.writer = None
        if kind == "h264":
            from colormnet.io.video import VideoInfo, VideoWriter

            self.writer = VideoWriter(tmp / "out.mp4", VideoInfo.for_size(*size, 25))

    def write(self, rgb: np.ndarray) -> None:
        if self.kind == "h264":
            self.writer.write(rgb)
        elif self.kind == "png":
            Image.fromarray(rgb).save(io.BytesIO(), format="PNG")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def run_one(model: torch.nn.Module, size: tuple[int, int], precision: str, encoded: list[bytes],
            exemplar_rgb: np.ndarray, warmup: int, memory: MemoryConfig, stages: bool,
            encode: str, lookahead: int | None = None) -> dict[str, Any]:
    """Colourise all frames through the engine; return the summary for one (size, precision).
    ``lookahead``: the engine's key look-ahead (None: the engine's default, or an older engine)."""
    from colormnet.inference.engine import ColorizeOptions, iter_colorize
    from colormnet.inference.exemplars import Exemplar

    device = next(model.parameters()).device
    extra = {} if lookahead is None else {"lookahead": lookahead}  # older engines have no look-ahead
    if stages and "output_thread" in getattr(ColorizeOptions, "__dataclass_fields__", {}):
        extra["output_thread"] = False  # stage timers are per thread of work: keep the colour stages in line
    options = ColorizeOptions(memory=memory, max_side=0, autocast_dtype=autocast_dtype(precision, device), **extra)
    timer = StageTimer(device)
    hooked = (timer.hook_modules(model) + timer.wrap_functions()) if stages else []

    # without stage hooks, decode and encode run on worker threads as in 'colormnet colorize' (when the
    # checkout has them); with hooks they stay in line so that they can be timed
    workers = None if stages else _io_workers()

    def frames() -> Iterator[np.ndarray]:
        for data in encoded:
            if workers is not None:
                yield _decode(data)
                continue
            timer.start("decode")
            rgb = _decode(data)
            timer.stop("decode")
            yield rgb

    common.reset_peak_memory(device)
    before = common.current_memory(device)
    n = len(encoded)
    times, cpu_times, per_stage, per_stage_cpu, memory_frames = [], [], [], [], []
    load_before = common.load_average()
    with tempfile.TemporaryDirectory(prefix="colormnet-speed-") as tmp, contextlib.ExitStack() as stack:
        writer = _Encoder(encode, size, Path(tmp))
        try:
            source: Iterator[np.ndarray] = frames()
            behind = None
            if workers is not None:
                read_ahead, write_behind = workers
                source = stack.enter_context(read_ahead(source, depth=3))
                behind = stack.enter_context(write_behind(depth=3))
            results = iter_colorize(model, source, [Exemplar(exemplar_rgb, 0, "exemplar")], options)
            stack.enter_context(contextlib.closing(results))
            start, cpu_start = time.perf_counter(), time.process_time()
            for t, result in enumerate(results):
                if behind is not None:
                    behind.submit(writer.write, result.rgb)
                else:
                    timer.start("encode")
                    writer.write(result.rgb)
                    timer.stop("encode")
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                now, cpu_now = time.perf_counter(), time.process_time()
                times.append(now - start)
                cpu_times.append(cpu_now - cpu_start)
                start, cpu_start = now, cpu_now
                wall, cpu = timer.take()
                per_stage.append(wall)
                per_stage_cpu.append(cpu)
                if result.info.is_memory_frame:
                    memory_frames.append(t)
                log.info("%dx%d %s frame %d: %.3f s (CPU %.3f s)%s", *size, precision, t, times[-1],
                         cpu_times[-1], " (memory frame)" if t in memory_frames else "")
            if behind is not None:
                behind.finish()
            writer.close()
        finally:
            timer.remove()
    peak = common.peak_memory(device)
    # with the engine's output thread, result t leaves after step t + lag: the interval before result t
    # times step t + lag, and the last lag results leave at once when the stream ends (not steady)
    lag = _output_lag(options)
    steady = times[warmup:n - lag]
    steady_cpu = cpu_times[warmup:n - lag]
    non_mem = [times[t] for t in range(warmup, n - lag) if t + lag not in memory_frames]
    mem = [times[t] for t in range(warmup, n - lag) if t + lag in memory_frames]
    mean = statistics.fmean(steady) if steady else None
    names = sorted({k for d in per_stage for k in d})
    stage_means = {k: statistics.fmean(d.get(k, 0.0) for d in per_stage[warmup:]) for k in names} if steady else {}
    stage_cpu = {k: statistics.fmean(d.get(k, 0.0) for d in per_stage_cpu[warmup:]) for k in names} if steady else {}
    return {
        "size": list(size),
        "padded": [-(-size[0] // 112) * 112, -(-size[1] // 112) * 112],
        "precision": precision,
        "lookahead": getattr(options, "lookahead", None),
        "lookahead_used": _resolved_lookahead(options, device),
        "frames": n,
        "warmup": warmup,
        "output_lag": lag,
        "io_threads": workers is not None,
        "first_frame_s": times[0],
        "warmup_s": times[:warmup],
        "steady": {
            "frames": len(steady),
            "mean_s": mean,
            "median_s": statistics.median(steady) if steady else None,
            "min_s": min(steady) if steady else None,
            "max_s": max(steady) if steady else None,
            "fps": 1.0 / mean if mean else None,
            "cpu_mean_s": statistics.fmean(steady_cpu) if steady else None,
            "non_memory_mean_s": statistics.fmean(non_mem) if non_mem else None,
            "memory_mean_s": statistics.fmean(mem) if mem else None,
            # ~threads when the CPU was ours alone; much lower = other processes took CPU time
            "cpu_per_wall": (sum(steady_cpu) / sum(steady)) if steady and device.type == "cpu" else None,
        },
        "stages_mean_s": stage_means,
        "stages_cpu_mean_s": stage_cpu,
        "stages_hooked": hooked,
        "per_frame_s": times,
        "per_frame_cpu_s": cpu_times,
        "per_frame_stages_s": per_stage,
        "per_frame_stages_cpu_s": per_stage_cpu,
        "load_average_before_after": [load_before, common.load_average()],
        "memory_frame_indices": memory_frames,
        "peak_memory": {**peak, "before_bytes": before},
    }


def _io_workers() -> tuple[Any, Any] | None:
    """(ReadAhead, WriteBehind) of colormnet.io.workers, or None in a checkout without them."""
    try:
        from colormnet.io.workers import ReadAhead, WriteBehind
    except ImportError:
        return None
    return ReadAhead, WriteBehind


def _output_lag(options: Any) -> int:
    """Frames between a step and its result leaving the engine (its output thread), 0 without one."""
    if not getattr(options, "output_thread", False):
        return 0
    from colormnet.inference.engine import _OUTPUT_DEPTH

    return _OUTPUT_DEPTH


def _resolved_lookahead(options: Any, device: torch.device) -> int | None:
    try:
        from colormnet.inference.engine import resolve_lookahead
    except ImportError:
        return None
    return resolve_lookahead(options.lookahead, device)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        s = r["steady"]
        rows.append([f"{r['size'][0]}x{r['size'][1]}", r["precision"], str(r.get("lookahead_used", "-")),
                     _fmt(r["first_frame_s"]),
                     f"{_fmt(s['mean_s'])} (n={s['frames']})", _fmt(s["cpu_mean_s"]), _fmt(s["fps"], 3),
                     _fmt(s["cpu_per_wall"], 2), f"{r['peak_memory']['bytes'] / 2**20:,.0f}"])
    text = common.markdown_table(["size", "precision", "look-ahead", "first frame (s)", "steady s/frame", "CPU s/frame",
                                  "frames/s", "CPU/wall", "peak memory (MiB)"], rows)
    names = [k for k in dict.fromkeys(k for r in results for k in r["stages_mean_s"])]
    if names:
        order = {name: i for i, (name, *_rest) in enumerate(SPANS + WRAPPED)}
        names.sort(key=lambda k: order.get(k, len(order)))
        heads = [f"{r['size'][0]}x{r['size'][1]} {r['precision']} K={r.get('lookahead_used', '-')}" for r in results]
        rows = [[k] + [f"{_fmt(r['stages_mean_s'].get(k))} / {_fmt(r['stages_cpu_mean_s'].get(k))}"
                       for r in results] for k in names]
        text += ("\nSteady-state seconds per frame by stage, wall / process CPU (nested: key.* are parts "
                 "of key_encoder):\n\n")
        text += common.markdown_table(["stage"] + heads, rows)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", help="WIDTHxHEIGHT list (default 832x480,960x536; 112x112 with --tiny)")
    p.add_argument("--frames", type=int, default=6, help="steady-state frames after the warm-up (default 6)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up frames excluded from the steady state "
                                                          "(frame 0, the exemplar, is one of them; default 2)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    p.add_argument("--precision", default="fp32", help="fp32,fp16,bf16 list (fp16 needs CUDA)")
    p.add_argument("--lookahead", help="key look-ahead K list, e.g. 0,4 (each run for every size and "
                   "precision; 0 = frame by frame; default: the engine's default for the device)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--clip", type=Path, help="frame folder or video to take frames from (default: astronaut pan)")
    p.add_argument("--exemplar", type=Path, help="colour exemplar image (default: the first frame)")
    p.add_argument("--encode", choices=["h264", "png", "none"], default="h264",
                   help="how output frames are encoded (timed as stage 'encode'; default h264 to a temp file)")
    p.add_argument("--no-stages", action="store_true",
                   help="no per-stage hooks (on a GPU they synchronise the device and slow the whole)")
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
    if args.warmup < 1 or args.frames < 1:
        p.error("--warmup and --frames must be >= 1 (frame 0, the exemplar, is always warm-up)")
    precisions = [x.strip() for x in args.precision.split(",") if x.strip()]
    lookaheads: list[int | None] = [int(x) for x in args.lookahead.split(",")] if args.lookahead else [None]
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
    model = build_model("recipe", device=device, config=config)
    build_s = time.perf_counter() - start
    memory = MemoryConfig()
    total = args.warmup + args.frames
    results = []
    for size in sizes:
        encoded = source_frames(args.clip, size, total)
        if args.exemplar is not None:
            from colormnet.io.images import load_frame_rgb

            exemplar = _resize(load_frame_rgb(args.exemplar), size)
        else:
            exemplar = _decode(encoded[0])
        for prec in precisions:
            for k in lookaheads:
                results.append(run_one(model, size, prec, encoded, exemplar, args.warmup, memory,
                                       not args.no_stages, args.encode, k))
    source_root = Path(colormnet.__file__).resolve().parents[2]
    report = {
        "benchmark": "speed",
        "environment": common.environment(device, flush_denormal=args.flush_denormal,
                                          colormnet_source=str(source_root),
                                          colormnet_commit=common.git_commit(source_root)),
        "settings": {"sizes": [list(s) for s in sizes], "frames": args.frames, "warmup": args.warmup,
                     "precisions": precisions, "lookaheads": lookaheads, "model": "tiny" if args.tiny else "full",
                     "parameters": sum(p.numel() for p in model.parameters()),
                     "weights": "recipe (deterministic; speed does not depend on the values)",
                     "memory": dataclasses.asdict(memory),
                     "source": str(args.clip) if args.clip else "skimage astronaut pan (PNG in memory)",
                     "protocol": "first-frame (frame 0 = exemplar; last frame not memorised)",
                     "timed": "whole engine: decode + colour conversion + network + memory + encode",
                     "encode": args.encode, "stages": not args.no_stages,
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
