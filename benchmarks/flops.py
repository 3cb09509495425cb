"""FLOPs per frame of the full ColorMNet network, stage by stage (see colormnet.inference.flops).

Counts run on the ``meta`` device (shapes only), so the full-size network at 960x536 takes about a
second and no weights are needed. One multiply-add = 2 FLOPs.

    python benchmarks/flops.py                       # 960x536 and 832x480, 10 memory frames
    python benchmarks/flops.py --sizes 1920x1080 --memory-frames 5 --long-term-elements 10000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import common

from colormnet.config import ModelConfig
from colormnet.inference.flops import flops_table, model_flops


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default=None, help="WIDTHxHEIGHT list (default 960x536,832x480)")
    p.add_argument("--memory-frames", type=int, default=10,
                   help="frames in memory at readout (exemplar + working memory; paper max 10)")
    p.add_argument("--long-term-elements", type=int, default=0, help="extra long-term elements (<= 10000)")
    p.add_argument("--mem-every", type=int, default=5, help="r, for the per-frame clip average (default 5)")
    p.add_argument("--tiny", action="store_true", help="tiny architecture (smoke test)")
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/flops-<model>-<date>.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = p.parse_args(argv)
    common.check_out(args.out, args.overwrite)
    sizes = common.parse_sizes(args.sizes or ("224x224" if args.tiny else "960x536,832x480"))
    config = ModelConfig.tiny() if args.tiny else None
    results = [model_flops(w, h, config, memory_frames=args.memory_frames,
                           long_term_elements=args.long_term_elements, mem_every=args.mem_every)
               for w, h in sizes]
    import torch

    report = {"benchmark": "flops", "environment": common.environment(torch.device("cpu")),
              "model": "tiny" if args.tiny else "full", "unit": "FLOPs (1 multiply-add = 2 FLOPs)",
              "results": results}
    path = common.save_json(report, args.out, "flops", "tiny" if args.tiny else "full", overwrite=args.overwrite)
    print(f"GFLOPs per frame (memory readout against {args.memory_frames} frames"
          f"{f' + {args.long_term_elements} long-term elements' if args.long_term_elements else ''}; "
          f"mean per frame with a memory frame every {args.mem_every}):\n")
    print(flops_table(results))
    print(f"Not counted: {results[0]['not_counted']}.")
    print(f"parameters: {results[0]['parameters']:,}; written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
