"""Frozen configuration dataclasses with the paper's defaults.

`ModelConfig` describes the network's shape. Its defaults are the released ColorMNet checkpoint
(123,609,281 parameters); :meth:`ModelConfig.tiny` is a small random-weight variant for tests.
`MemoryConfig` holds the XMem-style memory settings of the authors' ``test.py``. Torch-free, so the
command line can read these names without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16")
"""Network precisions: fp32, or autocast to fp16 / bf16 (see :func:`colormnet.device.autocast_dtype`)."""

PROTOCOLS: tuple[str, ...] = ("keyframe", "free-reference")
"""The two exemplar modes as dataset protocols: frame 0's colours as its keyframe exemplar (the paper's),
or as a free reference (every frame predicted)."""

OLD_PROTOCOL_NAMES = {"first-frame": "keyframe", "reference-not-first": "free-reference"}

DEFAULT_MAX_SIDE = 1280
"""Frames whose longer side exceeds this run the network at a reduced size (0 = always native).

At 1280 a 720p frame still runs natively; 1080p and 4K run at 1280 pixels on the long side, which
keeps the memory readout (elements x elements per frame) within a few hundred MB."""

KEY_ENCODERS: tuple[str, ...] = ("pvgfe", "resnet", "dino", "concat")
"""Key-encoder variants (see :mod:`colormnet.model.key_variants`); ``pvgfe`` is the paper's."""


@dataclass(frozen=True)
class ModelConfig:
    """Network dimensions. Defaults = the released checkpoint.

    Attributes:
        key_dim: C^k, channels of the memory key (and local-attention query/key).
        value_dim: C^v, channels of one chroma group's memory value.
        hidden_dim: C^h, channels of the GRU hidden state per chroma group.
        width: base width of both ResNets. The ResNet-50 key trunk gives 4/8/16 x width channels
            at 1/4, 1/8, 1/16 (256/512/1024); the ResNet-18 value trunk ends at 4 x width (256).
        key_blocks: bottleneck blocks in the three ResNet-50 stages kept (layer1..layer3).
        value_blocks: basic blocks in the three ResNet-18 stages kept.
        vit_dim, vit_depth, vit_heads, vit_patch: DINOv2 ViT-S/14 shape.
        vit_pos_grid: side of the ViT's stored position-embedding grid (37 for 518x518 / 14).
        vit_layers: how many final ViT blocks are concatenated (4 -> 4 x vit_dim channels).
        fusion_heads: heads of the cross-channel attention in the fusion blocks.
        local_window: side of the local-attention window at 1/16 resolution, 2 x lambda + 1 (15: the
            paper's lambda = 7); 0 = no local attention (ablation).
        key_encoder: "pvgfe" (the paper's), or the ablations "resnet" (ResNet-50 only), "dino"
            (DINOv2 only), "concat" (both concatenated, no cross-channel attention).
        pad_multiple: every image is zero-padded to a multiple of this (lcm of 14 and 16 = 112).
    """

    key_dim: int = 64
    value_dim: int = 512
    hidden_dim: int = 64
    width: int = 64
    key_blocks: tuple[int, int, int] = (3, 4, 6)
    value_blocks: tuple[int, int, int] = (2, 2, 2)
    vit_dim: int = 384
    vit_depth: int = 12
    vit_heads: int = 6
    vit_patch: int = 14
    vit_pos_grid: int = 37
    vit_layers: int = 4
    fusion_heads: int = 8
    local_window: int = 15
    pad_multiple: int = 112
    key_encoder: str = "pvgfe"

    def __post_init__(self) -> None:
        if self.key_encoder not in KEY_ENCODERS:
            raise ValueError(f"unknown key encoder {self.key_encoder!r}; choose one of {', '.join(KEY_ENCODERS)}")
        if self.local_window < 0 or (self.local_window and self.local_window % 2 != 1):
            raise ValueError(f"local_window must be 0 (off) or odd (2 x radius + 1), got {self.local_window}")

    @property
    def is_variant(self) -> bool:
        """True for an ablation variant (another key encoder or local-attention window)."""
        return self.key_encoder != "pvgfe" or self.local_window != 15

    @property
    def key_channels(self) -> tuple[int, int, int]:
        """Channels of the fused key-encoder features (g16, g8, g4)."""
        return (16 * self.width, 8 * self.width, 4 * self.width)

    @property
    def dino_channels(self) -> int:
        return self.vit_layers * self.vit_dim

    @classmethod
    def tiny(cls) -> ModelConfig:
        """A few-hundred-thousand-parameter variant with the same structure, for tests."""
        return cls(key_dim=16, value_dim=32, hidden_dim=8, width=8, key_blocks=(1, 1, 1),
                   value_blocks=(1, 1, 1), vit_dim=24, vit_depth=4, vit_heads=2, fusion_heads=2)


MEMORY_POLICIES: tuple[str, ...] = ("usage", "random", "decay", "stack", "recurrent")
"""Memory policies (see :mod:`colormnet.memory.policies`); ``usage`` is the paper's."""


@dataclass(frozen=True)
class MemoryConfig:
    """XMem-style memory settings (defaults = the authors' ``test.py`` = the paper).

    Attributes:
        mem_every: r; a frame is written to memory when it is this many frames after the last
            memory frame (the last frame of a clip is never written).
        deep_update_every: -1 = run the value encoder's GRU ("deep update") on memory frames only;
            otherwise every this many frames.
        max_mid_term_frames: T_max; working-memory capacity in frames, counting one permanent
            exemplar frame as XMem does. Consolidation starts when the non-permanent frames reach
            T_max - 1.
        min_mid_term_frames: T_min; after consolidation the newest T_min - 1 non-permanent frames
            stay in working memory.
        max_long_term_elements: LT_max; long-term memory capacity in 1/16-grid elements.
        num_prototypes: P; prototypes made per consolidation.
        top_k: k of the top-k softmax of the memory readout.
        enable_long_term: off = no consolidation; working memory then drops its oldest
            non-permanent frame instead (our choice: XMem would grow without bound).
        policy: what bounds the non-permanent memory (:data:`MEMORY_POLICIES`): ``usage`` (the
            paper's, XMem's usage-based consolidation/eviction), ``random``, ``decay``, ``stack``,
            ``recurrent``; see :mod:`colormnet.memory.policies`.
        policy_seed: seed of the ``random`` policy's draws.
        decay: the ``decay`` policy's factor in (0, 1]: every older non-permanent element's weight is
            multiplied by it at each memory write.
        max_memory_frames: the ``stack`` policy's cap in memory frames (0 = what fits in half the
            available memory).
    """

    mem_every: int = 5
    deep_update_every: int = -1
    max_mid_term_frames: int = 10
    min_mid_term_frames: int = 5
    max_long_term_elements: int = 10000
    num_prototypes: int = 128
    top_k: int = 30
    enable_long_term: bool = True
    policy: str = "usage"
    policy_seed: int = 0
    decay: float = 0.9
    max_memory_frames: int = 0

    def __post_init__(self) -> None:
        if self.mem_every < 1:
            raise ValueError(f"mem_every must be >= 1, got {self.mem_every}")
        if not 1 <= self.min_mid_term_frames < self.max_mid_term_frames:
            raise ValueError("need 1 <= min_mid_term_frames < max_mid_term_frames, got "
                             f"{self.min_mid_term_frames} and {self.max_mid_term_frames}")
        if self.num_prototypes < 1 or self.max_long_term_elements <= self.num_prototypes:
            raise ValueError("need 1 <= num_prototypes < max_long_term_elements, got "
                             f"{self.num_prototypes} and {self.max_long_term_elements}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.policy not in MEMORY_POLICIES:
            raise ValueError(f"unknown memory policy {self.policy!r}; choose one of {', '.join(MEMORY_POLICIES)}")
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {self.decay}")
        if self.max_memory_frames < 0:
            raise ValueError(f"max_memory_frames must be >= 0, got {self.max_memory_frames}")


MEMORY_PRESETS: dict[str, MemoryConfig] = {
    # paper / authors' test.py defaults
    "balanced": MemoryConfig(),
    # fewer working frames and a smaller long-term store: less RAM/VRAM and a cheaper readout
    "low-memory": MemoryConfig(max_mid_term_frames=6, min_mid_term_frames=3, max_long_term_elements=4000,
                               num_prototypes=64),
    # memory frames more often and more of them kept: slower, follows fast changes more closely
    "quality": MemoryConfig(mem_every=3, max_mid_term_frames=15, min_mid_term_frames=7,
                            max_long_term_elements=20000, num_prototypes=256),
}


def memory_preset(name: str) -> MemoryConfig:
    """A named :class:`MemoryConfig` (``balanced`` = the paper's settings)."""
    try:
        return MEMORY_PRESETS[name]
    except KeyError:
        choices = ", ".join(MEMORY_PRESETS)
        raise ValueError(f"unknown memory preset {name!r}; choose one of {choices}") from None
