"""DINOv2 ViT (S/14 by default), written from the published architecture.

Attribute names match the official DINOv2 state_dict (``cls_token``, ``pos_embed``, ``mask_token``,
``patch_embed.proj``, ``blocks.K.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}``,
``norm``). Only what ColorMNet uses is implemented: the intermediate outputs of the last blocks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_LN_EPS = 1e-6
_POS_OFFSET = 0.1  # DINOv2 adds 0.1 to the target grid when computing the bicubic scale factor


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, H/p * W/p, dim), row-major patch order."""
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim: int, init: float = 1.0) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=_LN_EPS)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=_LN_EPS)
        self.mlp = Mlp(dim, mlp_ratio * dim)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """DINOv2 ViT without registers. ``pos_grid`` is the side of the stored position grid (37)."""

    def __init__(self, dim: int = 384, depth: int = 12, heads: int = 6, patch: int = 14,
                 pos_grid: int = 37) -> None:
        super().__init__()
        self.patch = patch
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, pos_grid * pos_grid + 1, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # unused at inference; kept for the state_dict
        self.patch_embed = PatchEmbed(patch, dim)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=_LN_EPS)
        self._init_weights()

    def _init_weights(self) -> None:
        if self.pos_embed.is_meta:  # built to be loaded: nothing to initialise (see init_resnet_)
            return
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def position_embedding(self, grid_h: int, grid_w: int) -> torch.Tensor:
        """Position embedding (1, 1 + grid_h*grid_w, dim) for a grid_h x grid_w patch grid.

        As DINOv2: the stored square grid is resized bicubically (no antialias) with scale factors
        (grid + 0.1) / stored_side, in float32; the stored table is used as is for the square
        grid it was made for.
        """
        side = math.isqrt(self.pos_embed.shape[1] - 1)
        if grid_h == grid_w == side:
            return self.pos_embed
        pos = self.pos_embed.float()
        cls_pos, grid_pos = pos[:, :1], pos[:, 1:]
        dim = pos.shape[-1]
        grid_pos = grid_pos.reshape(1, side, side, dim).permute(0, 3, 1, 2)
        scale = ((grid_h + _POS_OFFSET) / side, (grid_w + _POS_OFFSET) / side)
        grid_pos = F.interpolate(grid_pos, scale_factor=scale, mode="bicubic", antialias=False)
        if grid_pos.shape[-2:] != (grid_h, grid_w):
            raise RuntimeError(f"position grid resize gave {tuple(grid_pos.shape[-2:])}, "
                               f"expected {(grid_h, grid_w)}")
        grid_pos = grid_pos.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim)
        return torch.cat([cls_pos, grid_pos], dim=1).to(self.pos_embed.dtype)

    def last_layers(self, x: torch.Tensor, n: int) -> list[torch.Tensor]:
        """Outputs of the last ``n`` blocks, each through the final norm, as maps.

        x: (B, 3, H, W) with H, W multiples of the patch size -> n tensors (B, dim, H/p, W/p).
        """
        b, _, h, w = x.shape
        if h % self.patch or w % self.patch:
            raise ValueError(f"input {h}x{w} is not a multiple of the patch size {self.patch}")
        gh, gw = h // self.patch, w // self.patch
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)
        tokens = tokens + self.position_embedding(gh, gw)
        first_kept = len(self.blocks) - n
        outputs = []
        for i, block in enumerate(self.blocks):
            tokens = block(tokens)
            if i >= first_kept:
                outputs.append(self.norm(tokens)[:, 1:])
        return [o.transpose(1, 2).reshape(b, -1, gh, gw) for o in outputs]
