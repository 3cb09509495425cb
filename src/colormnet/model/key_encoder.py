"""Key encoder = PVGFE: ResNet-50 stages fused with DINOv2 features at 1/16, 1/8 and 1/4,
plus the key projection (key, shrinkage, selection)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from colormnet.config import ModelConfig
from colormnet.model.dinov2 import VisionTransformer
from colormnet.model.resnet import Bottleneck, init_resnet_, make_stage


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of every pixel: (B, C, H, W) -> same, eps 1e-6, affine."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class CrossChannelAttention(nn.Module):
    """Channel-to-channel ("transposed") attention: queries from one map, keys/values from another.

    Each of q, k, v: 1x1 conv C -> 2C then depthwise 3x3 conv. Per head (2C/heads channels), q and k
    are L2-normalised over space; attention = softmax over channels of (q k^T) * temperature[head].
    Output: attn @ v, 1x1 conv 2C -> C.
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        inner = 2 * channels
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.to_q = nn.Conv2d(channels, inner, 1)
        self.to_q_dw = nn.Conv2d(inner, inner, 3, padding=1, groups=inner)
        self.to_k = nn.Conv2d(channels, inner, 1)
        self.to_k_dw = nn.Conv2d(inner, inner, 3, padding=1, groups=inner)
        self.to_v = nn.Conv2d(channels, inner, 1)
        self.to_v_dw = nn.Conv2d(inner, inner, 3, padding=1, groups=inner)
        self.to_out = nn.Sequential(nn.Conv2d(inner, channels, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x (queries), y (keys/values): (B, C, H, W) -> (B, C, H, W)."""
        b, _, h, w = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, self.heads, -1, h * w)

        q = F.normalize(heads(self.to_q_dw(self.to_q(x))), dim=-1)
        k = F.normalize(heads(self.to_k_dw(self.to_k(y))), dim=-1)
        v = heads(self.to_v_dw(self.to_v(y)))
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)
        return self.to_out((attn @ v).reshape(b, -1, h, w))


class FusionBlock(nn.Module):
    """Fuse a DINOv2 map (B, Cd, H, W) with a ResNet map (B, C, H, W) -> (B, C, H, W).

    d = conv3x3(dino); out = ReLU(LN3(crossattn(LN1(d), LN2(resnet)) + d)).
    """

    def __init__(self, dino_channels: int, channels: int, heads: int) -> None:
        super().__init__()
        self.encode_enc = nn.Conv2d(dino_channels, channels, 3, padding=1)
        self.norm1 = LayerNorm2d(channels)
        self.norm2 = LayerNorm2d(channels)
        self.crossattn = CrossChannelAttention(channels, heads)
        self.norm3 = LayerNorm2d(channels)

    def forward(self, dino: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        d = self.encode_enc(dino)
        out = self.crossattn(self.norm1(d), self.norm2(feat)) + d
        return F.relu(self.norm3(out))


class DinoBranch(nn.Module):
    """DINOv2 features at 1/16: last-4-block maps (concatenated) -> 1x1 conv -> BN -> ReLU -> resize.

    In the authors' code this branch runs without gradients (its weights never train).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_layers = cfg.vit_layers
        self.backbone = VisionTransformer(cfg.vit_dim, cfg.vit_depth, cfg.vit_heads, cfg.vit_patch,
                                          cfg.vit_pos_grid)
        self.conv3 = nn.Conv2d(cfg.dino_channels, cfg.dino_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cfg.dino_channels)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image: (B, 3, H, W), H and W multiples of 112 -> (B, 4*vit_dim, H/16, W/16)."""
        with torch.no_grad():
            x = torch.cat(self.backbone.last_layers(image, self.n_layers), dim=1)
            x = F.relu(self.bn3(self.conv3(x)))
            size = (image.shape[-2] // 16, image.shape[-1] // 16)
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class KeyEncoder(nn.Module):
    """ResNet-50 stem + layer1..3 (named res2, layer2, layer3) and the DINOv2 branch (network2),
    fused by fuse1 (1/16), fuse2 (1/8), fuse3 (1/4)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w = cfg.width
        c16, c8, c4 = cfg.key_channels
        self.conv1 = nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.res2 = make_stage(Bottleneck, w, w, cfg.key_blocks[0], 1)
        self.layer2 = make_stage(Bottleneck, c4, 2 * w, cfg.key_blocks[1], 2)
        self.layer3 = make_stage(Bottleneck, c8, 4 * w, cfg.key_blocks[2], 2)
        init_resnet_(self)
        self.network2 = DinoBranch(cfg)
        self.fuse1 = FusionBlock(cfg.dino_channels, c16, cfg.fusion_heads)
        self.fuse2 = FusionBlock(cfg.dino_channels, c8, cfg.fusion_heads)
        self.fuse3 = FusionBlock(cfg.dino_channels, c4, cfg.fusion_heads)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """image: (B, 3, H, W) -> fused (g16, g8, g4) at 1/16, 1/8, 1/4."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(image))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        dino = self.network2(image)
        g16 = self.fuse1(dino, f16)
        g8 = self.fuse2(F.interpolate(dino, scale_factor=2, mode="bilinear", align_corners=False), f8)
        g4 = self.fuse3(F.interpolate(dino, scale_factor=4, mode="bilinear", align_corners=False), f4)
        return g16, g8, g4


class KeyProjection(nn.Module):
    """3x3 convs on g16: key, shrinkage d = conv(.)^2 + 1, selection e = sigmoid(conv(.))."""

    def __init__(self, in_dim: int, key_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Conv2d(in_dim, key_dim, 3, padding=1)
        self.d_proj = nn.Conv2d(in_dim, 1, 3, padding=1)
        self.e_proj = nn.Conv2d(in_dim, key_dim, 3, padding=1)
        nn.init.orthogonal_(self.key_proj.weight)
        nn.init.zeros_(self.key_proj.bias)

    def forward(self, g16: torch.Tensor, need_shrinkage: bool, need_selection: bool
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        shrinkage = self.d_proj(g16) ** 2 + 1 if need_shrinkage else None
        selection = torch.sigmoid(self.e_proj(g16)) if need_selection else None
        return self.key_proj(g16), shrinkage, selection


class KeyFeatures(NamedTuple):
    """Everything the key encoder gives for one frame (B = 1 at inference).

    key (B, Ck, h, w); shrinkage (B, 1, h, w) or None; selection (B, Ck, h, w) or None;
    g16 (B, 16w, h, w), g8 (B, 8w, 2h, 2w), g4 (B, 4w, 4h, 4w) with h, w = H/16, W/16.
    """

    key: torch.Tensor
    shrinkage: torch.Tensor | None
    selection: torch.Tensor | None
    g16: torch.Tensor
    g8: torch.Tensor
    g4: torch.Tensor
