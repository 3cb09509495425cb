"""FLOPs of one ColorMNet frame, stage by stage, counted with ``torch.utils.flop_counter``.

A frame of a video costs (SPEC section 4; H, W padded to a multiple of 112, hw = the 1/16 grid):

* every frame: ``encode_key`` (ResNet-50 stages + DINOv2 ViT-S/14 + three fusion blocks + key
  projection), ``memory_readout`` against N memory elements (similarity N x hw, top-k softmax,
  readout of 2 x C^v channels), ``local_attention`` against the last memory frame and ``decode``;
* a memory frame (every ``mem_every``-th) also the shrinkage projection and ``encode_value`` (with
  the value encoder's GRU deep update); its decoder skips the GRU update;
* the exemplar frame 0 only ``encode_key`` (with shrinkage) and ``encode_value``.

Counting convention: one multiply-add = 2 FLOPs (``FlopCounterMode``'s); GMACs = GFLOPs / 2.

``FlopCounterMode`` counts matrix products and convolutions only (``mm``, ``bmm``, ``addmm``,
``baddbmm``, ``convolution`` and the fused scaled-dot-product attention kernels). It does not count
element-wise arithmetic, normalisation (BatchNorm, the LayerNorm2d, the ViT LayerNorm), activations,
softmax, ``topk``, pooling, interpolation, padding or reductions. It also misses the CPU flash
attention kernel (``aten._scaled_dot_product_flash_attention_for_cpu``), which this module
registers itself (same formula as the GPU kernels), and the local attention's 15x15 window
aggregation, which this implementation computes with element-wise products and sums: that part
is added analytically (``2 * window^2 * hw * (C^k + 2 C^v)``) and reported separately as
``analytic``. By default the network runs on the ``meta`` device (shapes only, no arithmetic,
fractions of a second even at full size); any real device gives the same counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from colormnet.config import MemoryConfig, ModelConfig
from colormnet.memory.manager import ColorMemory
from colormnet.model.network import ColorMNet

__all__ = ["STAGES", "count_frame_flops", "flops_table", "model_flops"]

STAGES: tuple[str, ...] = ("encode_key", "shrinkage", "memory_readout", "local_attention", "decode",
                           "decode_no_update", "encode_value")
_KEY_PARTS = {"conv1": "resnet", "res2": "resnet", "layer2": "resnet", "layer3": "resnet",
              "network2": "dinov2", "fuse1": "fusion", "fuse2": "fusion", "fuse3": "fusion"}


def _cpu_flash_sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _custom_mapping() -> dict[Any, Callable[..., int]]:
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    return {} if op is None else {op: _cpu_flash_sdpa}


class _Count:
    """Run a callable under FlopCounterMode; keep the total, per-op and per-module counts."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        with FlopCounterMode(display=False, custom_mapping=_custom_mapping()) as counter:
            self.result = fn()
        self.total = int(counter.get_total_flops())
        counts = counter.get_flop_counts()
        self.ops = {str(op).replace("aten.", ""): int(n) for op, n in counts.get("Global", {}).items()}
        self.modules = {name: int(sum(ops.values())) for name, ops in counts.items() if name != "Global"}


def _padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def count_frame_flops(model: ColorMNet, width: int, height: int, *, memory_frames: int = 10,
                      long_term_elements: int = 0, mem_every: int = 5, top_k: int = 30) -> dict[str, Any]:
    """FLOPs of each stage for one ``width`` x ``height`` frame (see module docstring).

    Args:
        model: the network (any device, ``meta`` included; weights are irrelevant).
        width, height: frame size before padding.
        memory_frames: frames in memory at readout time (exemplar + working memory; the paper's
            working memory holds up to T_max = 10). N = memory_frames * hw + long_term_elements.
        long_term_elements: extra long-term prototypes (up to LT_max = 10000 with the paper's settings).
        mem_every: r, for the clip average (one memory frame every r frames).
        top_k: k of the memory readout, which is the session's own
            (:meth:`colormnet.memory.manager.ColorMemory.read` over N stored elements).
    Returns:
        JSON-ready dict: ``size``, ``padded``, ``grid``, ``memory_elements``, ``stages`` (name ->
        {"flops", "counted", "analytic", "ops"}), ``encode_key_parts`` (resnet, dinov2, fusion,
        key_proj, other -> FLOPs), ``frames`` (non_memory, memory, exemplar, clip_mean -> FLOPs),
        ``not_counted`` (text).
    """
    if width < 1 or height < 1 or memory_frames < 1 or long_term_elements < 0 or mem_every < 1:
        raise ValueError("need width, height, memory_frames, mem_every >= 1 and long_term_elements >= 0")
    cfg = model.cfg
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    ph, pw = _padded(height, cfg.pad_multiple), _padded(width, cfg.pad_multiple)
    h, w = ph // 16, pw // 16
    hw = h * w
    n_mem = memory_frames * hw + long_term_elements
    g, cv, ck = 2, cfg.value_dim, cfg.key_dim
    image = torch.zeros(1, 3, ph, pw, device=device, dtype=dtype)

    with torch.inference_mode():
        key = _Count(lambda: model.encode_key(image, need_shrinkage=False, need_selection=True))
        key_mem = _Count(lambda: model.encode_key(image, need_shrinkage=True, need_selection=True))
        feats = key.result
        memory = ColorMemory(MemoryConfig(top_k=top_k))
        memory.add(torch.zeros(1, ck, 1, n_mem, device=device), torch.ones(1, 1, 1, n_mem, device=device),
                   torch.zeros(1, g, cv, 1, n_mem, device=device), torch.ones(1, ck, 1, n_mem, device=device),
                   permanent=True)  # N elements, never consolidated
        readout = _Count(lambda: memory.read(feats.key, feats.selection))
        value = torch.zeros(1, g, cv, h, w, device=device, dtype=dtype)
        local = _Count(lambda: model.local_attention(feats.key, feats.key, value))
        hidden = model.zero_hidden(feats.key)
        decode = _Count(lambda: model.decode(feats, readout.result.to(dtype), hidden, update_hidden=True))
        decode_no = _Count(lambda: model.decode(feats, readout.result.to(dtype), hidden, update_hidden=False))
        ab = torch.zeros(1, g, ph, pw, device=device, dtype=dtype)
        encode_value = _Count(lambda: model.encode_value(image, feats.g16, hidden, ab, deep_update=True))

    la_analytic = 2 * cfg.local_window ** 2 * hw * (ck + g * cv)
    counted = {"encode_key": key, "shrinkage": None, "memory_readout": readout, "local_attention": local,
               "decode": decode, "decode_no_update": decode_no, "encode_value": encode_value}
    stages: dict[str, dict[str, Any]] = {}
    for name, c in counted.items():
        if name == "shrinkage":
            n = key_mem.total - key.total
            stages[name] = {"flops": n, "counted": n, "analytic": 0, "ops": {"convolution": n}}
            continue
        extra = la_analytic if name == "local_attention" else 0
        stages[name] = {"flops": c.total + extra, "counted": c.total, "analytic": extra, "ops": c.ops}

    parts: dict[str, int] = defaultdict(int)
    for name, n in key.modules.items():
        bits = name.split(".")
        if len(bits) == 2 and bits[0] == type(model.key_encoder).__name__ and bits[1] in _KEY_PARTS:
            parts[_KEY_PARTS[bits[1]]] += n
    parts["key_proj"] = key.modules.get(type(model.key_proj).__name__, 0)
    parts["other"] = key.total - sum(parts.values())

    s = {k: v["flops"] for k, v in stages.items()}
    non_memory = s["encode_key"] + s["memory_readout"] + s["local_attention"] + s["decode"]
    memory = (s["encode_key"] + s["shrinkage"] + s["memory_readout"] + s["local_attention"]
              + s["decode_no_update"] + s["encode_value"])
    exemplar = s["encode_key"] + s["shrinkage"] + s["encode_value"]
    return {
        "size": [width, height],
        "padded": [pw, ph],
        "grid": [w, h],
        "memory_frames": memory_frames,
        "long_term_elements": long_term_elements,
        "memory_elements": n_mem,
        "mem_every": mem_every,
        "stages": stages,
        "encode_key_parts": dict(parts),
        "frames": {
            "non_memory": non_memory,
            "memory": memory,
            "exemplar": exemplar,
            "clip_mean": ((mem_every - 1) * non_memory + memory) / mem_every,
        },
        "not_counted": ("element-wise ops, normalisation, activations, softmax, top-k, pooling, "
                        "interpolation, padding and reductions; the local attention's window "
                        "aggregation is added analytically"),
    }


def model_flops(width: int, height: int, config: ModelConfig | None = None, *, device: str = "meta",
                **kwargs: Any) -> dict[str, Any]:
    """:func:`count_frame_flops` of a freshly built network (on ``meta`` by default: no weights needed)."""
    with torch.device(device):
        model = ColorMNet(config).eval()
    result = count_frame_flops(model, width, height, **kwargs)
    result["parameters"] = sum(p.numel() for p in model.parameters())
    return result


def flops_table(results: list[dict[str, Any]]) -> str:
    """Markdown table, one column per result (GFLOPs; 1 multiply-add = 2 FLOPs)."""
    def gf(n: float) -> str:
        return f"{n / 1e9:,.2f}"

    head = "| stage | " + " | ".join(
        f"{r['size'][0]}x{r['size'][1]} (pad {r['padded'][0]}x{r['padded'][1]}, N={r['memory_elements']})"
        for r in results) + " |"
    lines = [head, "|---|" + "---:|" * len(results)]
    for stage in STAGES:
        lines.append(f"| {stage} | " + " | ".join(gf(r["stages"][stage]["flops"]) for r in results) + " |")
        if stage == "encode_key":
            for part in ("resnet", "dinov2", "fusion", "key_proj", "other"):
                lines.append(f"| &nbsp;&nbsp;{part} | "
                             + " | ".join(gf(r["encode_key_parts"].get(part, 0)) for r in results) + " |")
        if stage == "local_attention":
            lines.append("| &nbsp;&nbsp;of which window (analytic) | "
                         + " | ".join(gf(r["stages"][stage]["analytic"]) for r in results) + " |")
    for key, label in (("non_memory", "**non-memory frame**"), ("memory", "**memory frame**"),
                       ("exemplar", "**exemplar frame 0**"), ("clip_mean", "**mean per frame (r)**")):
        lines.append(f"| {label} | " + " | ".join(gf(r["frames"][key]) for r in results) + " |")
    return "\n".join(lines) + "\n"
