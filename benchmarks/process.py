"""Whole-process ``colormnet colorize``: wall time, CPU time and peak RSS of the command, A/B.

Runs the command as a child process once per (tree, precision, repeat), alternating the trees so
that both see the same machine conditions, and reads each child's peak RSS and CPU time from
``os.wait4``. Each tree is a source folder put first on ``PYTHONPATH`` (``src`` of a checkout), so
the same script times an older commit of ours::

    git worktree add /tmp/old 04ef717
    python benchmarks/process.py --tree old=/tmp/old/src --tree now=src \\
        --input ../shared/data/official_example/input/blackswan \\
        --exemplar ../shared/data/official_example/ref/blackswan/00000.png \\
        --weights /tmp/recipe.pth --frames 10 --precision fp32,bf16 --repeats 2

Outputs are written as PNG folders (in a temporary folder, removed at the end) and compared with
the first tree's output of the same precision: the share of RGB values that differ by more than
one level, and the RGB PSNR. ``--weights`` takes any checkpoint ``colorize`` loads; speed does not
depend on the weight values (``python -c`` with ``colormnet.models.build_model('recipe')`` and
``torch.save(model.state_dict(), path)`` makes one without a download).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def run_once(src: Path, args: argparse.Namespace, precision: str, out: Path) -> dict:
    """One ``colormnet colorize`` child; wall/CPU seconds and peak RSS (bytes) of it."""
    cmd = [sys.executable, "-c", "import sys; from colormnet.cli import main; sys.exit(main())", "colorize",
           str(args.input), "-e", str(args.exemplar), "-o", str(out), "--max-frames", str(args.frames),
           "--max-side", str(args.max_side),
           "--precision", precision, "--device", args.device, "--weights", str(args.weights),
           "--quiet", *args.extra]
    env = dict(os.environ, PYTHONPATH=str(src.resolve()))
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{src}: colorize exited {code}:\n{output.decode(errors='replace')[-3000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_bytes": usage.ru_maxrss * 1024}


def compare(a: Path, b: Path) -> dict:
    """RGB agreement of two PNG folders: share of values off by > 1 level, max difference, PSNR."""
    files = sorted(p.name for p in a.glob("*.png"))
    if files != sorted(p.name for p in b.glob("*.png")):
        return {"error": "different frame files"}
    over1 = total = 0
    worst = 0
    sq = 0.0
    for name in files:
        x = np.asarray(Image.open(a / name).convert("RGB"), dtype=np.int16)
        y = np.asarray(Image.open(b / name).convert("RGB"), dtype=np.int16)
        d = np.abs(x - y)
        over1 += int((d > 1).sum())
        total += d.size
        worst = max(worst, int(d.max()))
        sq += float((d.astype(np.float64) ** 2).sum())
    mse = sq / max(total, 1)
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)
    return {"frames": len(files), "share_over_1_level": over1 / max(total, 1), "max_level_diff": worst,
            "psnr_db": psnr}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", action="append", required=True, metavar="LABEL=SRC",
                   help="a source folder to time (repeat; the first is the reference for outputs)")
    p.add_argument("--input", type=Path, required=True)
    p.add_argument("--exemplar", type=Path, required=True)
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--max-side", type=int, default=0)
    p.add_argument("--precision", default="fp32", help="comma-separated: fp32,bf16,fp16")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for the child (0: unset)")
    p.add_argument("--extra", nargs="*", default=[], help="more colorize options, given to every tree")
    p.add_argument("--out", type=Path, help="result JSON (default benchmarks/results/process-...)")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args()
    common.check_out(args.out, args.overwrite)
    trees = []
    for item in args.tree:
        label, _, src = item.partition("=")
        if not src or not Path(src).is_dir():
            raise SystemExit(f"--tree {item!r}: expected LABEL=SRC_FOLDER")
        trees.append((label, Path(src)))
    precisions = [x.strip() for x in args.precision.split(",") if x.strip()]

    runs: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="colormnet-process-"))
    try:
        for rep in range(args.repeats):
            for precision in precisions:
                order = trees if rep % 2 == 0 else list(reversed(trees))
                for label, src in order:
                    out = work / f"{label}-{precision}-{rep}"
                    rec = run_once(src, args, precision, out)
                    rec.update(tree=label, src=str(src), commit=common.git_commit(src), precision=precision,
                               repeat=rep, load_after=os.getloadavg()[0])
                    ref = work / f"{trees[0][0]}-{precision}-{rep}"
                    if label != trees[0][0] and ref.is_dir():
                        rec["vs_first_tree"] = compare(ref, out)
                    if precision != "fp32" and (work / f"{label}-fp32-{rep}").is_dir():
                        rec["vs_fp32_same_tree"] = compare(work / f"{label}-fp32-{rep}", out)
                    runs.append(rec)
                    print(f"{label:>8} {precision:>5} rep {rep}: wall {rec['wall_s']:.1f} s, "
                          f"cpu {rec['cpu_s']:.1f} s, peak RSS {rec['peak_rss_bytes'] / 2**30:.2f} GiB"
                          + (f", vs {trees[0][0]}: {rec['vs_first_tree']}" if "vs_first_tree" in rec else "")
                          + (f", vs fp32: {rec['vs_fp32_same_tree']}" if "vs_fp32_same_tree" in rec else ""),
                          flush=True)
                # pair the later trees' outputs with the reference of the same repeat
                for label, _src in trees[1:]:
                    for rec in runs:
                        if (rec["tree"], rec["precision"], rec["repeat"]) == (label, precision, rep) \
                                and "vs_first_tree" not in rec:
                            rec["vs_first_tree"] = compare(work / f"{trees[0][0]}-{precision}-{rep}",
                                                           work / f"{label}-{precision}-{rep}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    summary = {}
    for label, _ in trees:
        for precision in precisions:
            sel = [r for r in runs if r["tree"] == label and r["precision"] == precision]
            summary[f"{label}/{precision}"] = {
                "wall_s_min": min(r["wall_s"] for r in sel), "wall_s_mean": float(np.mean([r["wall_s"] for r in sel])),
                "cpu_s_mean": float(np.mean([r["cpu_s"] for r in sel])),
                "peak_rss_gib_max": max(r["peak_rss_bytes"] for r in sel) / 2**30}
    base = trees[0][0]
    for key, val in summary.items():
        ref = summary.get(f"{base}/{key.split('/')[1]}")
        if ref:
            val["wall_ratio_vs_" + base] = val["wall_s_mean"] / ref["wall_s_mean"]
            val["rss_ratio_vs_" + base] = val["peak_rss_gib_max"] / ref["peak_rss_gib_max"]
    for key, val in summary.items():
        print(key, {k: round(v, 3) for k, v in val.items()})
    import torch

    record = {"kind": "process", "env": common.environment(torch.device(args.device), child_threads=args.threads),
              "args": {k: str(v) for k, v in vars(args).items()}, "runs": runs, "summary": summary}
    print("wrote", common.save_json(record, args.out, "process", args.device, args.overwrite))


if __name__ == "__main__":
    main()
