"""Command-line options shared by several subcommands (memory settings, device, precision)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from colormnet.config import MEMORY_POLICIES, MEMORY_PRESETS, PRECISIONS, MemoryConfig, memory_preset
from colormnet.errors import InputError

_MEMORY_FIELDS = ("mem_every", "max_mid_term_frames", "min_mid_term_frames", "max_long_term_elements",
                  "num_prototypes", "top_k", "policy_seed", "decay", "max_memory_frames")


def add_device_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """--device and --precision; returns their group so a command can add its own speed options."""
    g = parser.add_argument_group("device and speed")
    g.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps")
    g.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="network precision; fp16/bf16 use autocast (fp16 needs a GPU). Default fp32")
    return g


def add_weights_arguments(parser: argparse.ArgumentParser,
                          weights_help: str = "checkpoint file (default: $COLORMNET_WEIGHTS or cache)"
                          ) -> argparse._ArgumentGroup:
    """--weights PATH and --no-download; returns their group for a command's own weight options."""
    w = parser.add_argument_group("weights")
    w.add_argument("--weights", metavar="PATH", help=weights_help)
    w.add_argument("--no-download", action="store_true", help="never download the checkpoint")
    return w


def add_memory_arguments(parser: argparse.ArgumentParser, several_policies: bool = False) -> None:
    """The memory options; ``several_policies`` lets --memory-policy take a comma-separated list."""
    m = parser.add_argument_group("memory")
    m.add_argument("--memory", default="balanced", choices=list(MEMORY_PRESETS),
                   help="memory preset; low-memory also returns freed activations to the system at once "
                   "(peak RSS of a 10-frame 832x480 run ~1.25 instead of ~1.6 GiB, 25-45%% slower on the CPU)")
    m.add_argument("--mem-every", type=int, help="write a memory frame every N frames")
    m.add_argument("--max-mid-term-frames", type=int, help="working-memory capacity in frames (T_max)")
    m.add_argument("--min-mid-term-frames", type=int, help="frames kept after consolidation (T_min)")
    m.add_argument("--max-long-term-elements", type=int, help="long-term memory capacity (LT_max)")
    m.add_argument("--num-prototypes", type=int, help="prototypes per consolidation (P)")
    m.add_argument("--top-k", type=int, help="top-k of the memory readout")
    m.add_argument("--no-long-term", action="store_true",
                   help="no long-term memory: working memory drops its oldest frame instead")
    names = "|".join(MEMORY_POLICIES)
    m.add_argument("--memory-policy", default="usage", metavar=f"{{{names}}}" + ("[,...]" if several_policies else ""),
                   help="what bounds the memory: usage (default, the paper's), random, decay, stack, recurrent"
                        + (" (comma-separated: run each)" if several_policies else ""))
    m.add_argument("--policy-seed", type=int, help="seed of the random policy (default 0)")
    m.add_argument("--decay", type=float, help="decay policy: weight factor per memory write (default 0.9)")
    m.add_argument("--max-memory-frames", type=int,
                   help="stack policy: at most this many memory frames (default: what half the free memory holds)")


def memory_policies_from_args(args: argparse.Namespace) -> list[str]:
    """The policy names of --memory-policy (a comma-separated list where the command allows one)."""
    names = [n.strip() for n in args.memory_policy.split(",") if n.strip()]
    bad = [n for n in names if n not in MEMORY_POLICIES]
    if bad or not names:
        raise InputError(f"--memory-policy: unknown policy {', '.join(bad) or repr(args.memory_policy)}; "
                         f"choose from {', '.join(MEMORY_POLICIES)}")
    return names


def memory_from_args(args: argparse.Namespace) -> MemoryConfig:
    """The preset named by --memory with the explicitly given flags applied on top."""
    overrides = {n: getattr(args, n) for n in _MEMORY_FIELDS if getattr(args, n) is not None}
    policies = memory_policies_from_args(args)
    if len(policies) > 1:
        raise InputError(f"--memory-policy: give one policy here, got {args.memory_policy!r}")
    overrides["policy"] = policies[0]
    if args.no_long_term:
        overrides["enable_long_term"] = False
    try:
        return replace(memory_preset(args.memory), **overrides)
    except ValueError as err:
        raise InputError(f"memory settings: {err}") from None


def add_lpips_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--lpips-weights, the same for ``eval`` and ``benchmark``."""
    parser.add_argument("--lpips-weights", nargs="+", metavar="FILE",
                        help="torchvision AlexNet checkpoint and LPIPS v0.1 alex.pth (or one file holding both)")


def lpips_weights_from_args(files: list[str] | None) -> str | tuple[str, str] | None:
    """The --lpips-weights value as evaluate_dirs takes it; more than two files is an InputError."""
    if not files:
        return None
    if len(files) > 2:
        raise InputError("--lpips-weights takes one or two files (AlexNet checkpoint, LPIPS heads)")
    return files[0] if len(files) == 1 else (files[0], files[1])


def metrics_from_arg(text: str | None) -> tuple[str, ...] | None:
    """--metrics "psnr,ssim" -> ("psnr", "ssim"); None when not given; an empty list is an InputError."""
    if text is None:
        return None
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    if not names:
        raise InputError("--metrics is empty; give e.g. --metrics psnr,ssim")
    return names
