"""Ablation variants of the key encoder (paper Table 3, supplement sections 2 and 4).

``ModelConfig.key_encoder`` picks one; every variant returns (g16, g8, g4) with the PVGFE's channels,
so the rest of the network is unchanged. Module names follow the released checkpoint wherever a part
is shared, so a variant can load what it shares from it (:func:`colormnet.model.variants.load_shared`):

- ``pvgfe`` (default, :class:`~colormnet.model.key_encoder.KeyEncoder`): ResNet-50 stages fused with
  DINOv2 features by cross-channel attention.
- ``resnet``: the ResNet-50 stages only (``conv1``, ``bn1``, ``res2``, ``layer2``, ``layer3``).
- ``dino``: DINOv2 only (``network2``); each scale is ``fuseN``: ReLU(LN(conv3x3(dino))) with the
  checkpoint's ``encode_enc`` conv and ``norm3`` LayerNorm (the cross-attention path removed).
- ``concat``: both, concatenated per scale without cross-channel attention:
  ReLU(LN(conv1x1([resnet, conv3x3(dino)]))), with a new ``merge`` conv.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from colormnet.config import ModelConfig
from colormnet.model.key_encoder import DinoBranch, KeyEncoder, LayerNorm2d
from colormnet.model.resnet import Bottleneck, init_resnet_, make_stage


def _resnet_stages(module: nn.Module, cfg: ModelConfig) -> None:
    """Add the ResNet-50 stem and layer1..3 to ``module`` under the checkpoint's names."""
    w = cfg.width
    _, c8, c4 = cfg.key_channels
    module.conv1 = nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False)
    module.bn1 = nn.BatchNorm2d(w)
    module.relu = nn.ReLU(inplace=True)
    module.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
    module.res2 = make_stage(Bottleneck, w, w, cfg.key_blocks[0], 1)
    module.layer2 = make_stage(Bottleneck, c4, 2 * w, cfg.key_blocks[1], 2)
    module.layer3 = make_stage(Bottleneck, c8, 4 * w, cfg.key_blocks[2], 2)
    init_resnet_(module)


def _run_resnet(module: nn.Module, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = module.maxpool(module.relu(module.bn1(module.conv1(image))))
    f4 = module.res2(x)
    f8 = module.layer2(f4)
    return module.layer3(f8), f8, f4


def _dino_scales(dino: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DINOv2 map at 1/16 -> the same at 1/16, 1/8, 1/4 (bilinear)."""
    up = [F.interpolate(dino, scale_factor=s, mode="bilinear", align_corners=False) for s in (2, 4)]
    return dino, up[0], up[1]


class ResNetKeyEncoder(nn.Module):
    """Key encoder without DINOv2: (B, 3, H, W) -> ResNet-50 (f16, f8, f4)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        _resnet_stages(self, cfg)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return _run_resnet(self, image)


class DinoProjection(nn.Module):
    """DINOv2 map (B, Cd, H, W) -> (B, C, H, W) = ReLU(LN(conv3x3(dino)))."""

    def __init__(self, dino_channels: int, channels: int) -> None:
        super().__init__()
        self.encode_enc = nn.Conv2d(dino_channels, channels, 3, padding=1)
        self.norm3 = LayerNorm2d(channels)

    def forward(self, dino: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm3(self.encode_enc(dino)))


class DinoKeyEncoder(nn.Module):
    """Key encoder without ResNet-50: DINOv2 features projected to the three scales."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.network2 = DinoBranch(cfg)
        c16, c8, c4 = cfg.key_channels
        self.fuse1 = DinoProjection(cfg.dino_channels, c16)
        self.fuse2 = DinoProjection(cfg.dino_channels, c8)
        self.fuse3 = DinoProjection(cfg.dino_channels, c4)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d16, d8, d4 = _dino_scales(self.network2(image))
        return self.fuse1(d16), self.fuse2(d8), self.fuse3(d4)


class ConcatFusion(nn.Module):
    """(dino (B, Cd, H, W), resnet (B, C, H, W)) -> ReLU(LN(conv1x1([resnet, conv3x3(dino)]))) (B, C, H, W)."""

    def __init__(self, dino_channels: int, channels: int) -> None:
        super().__init__()
        self.encode_enc = nn.Conv2d(dino_channels, channels, 3, padding=1)
        self.merge = nn.Conv2d(2 * channels, channels, 1)
        self.norm3 = LayerNorm2d(channels)

    def forward(self, dino: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm3(self.merge(torch.cat([feat, self.encode_enc(dino)], 1))))


class ConcatKeyEncoder(nn.Module):
    """ResNet-50 and DINOv2 features concatenated per scale (no cross-channel attention)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        _resnet_stages(self, cfg)
        self.network2 = DinoBranch(cfg)
        c16, c8, c4 = cfg.key_channels
        self.fuse1 = ConcatFusion(cfg.dino_channels, c16)
        self.fuse2 = ConcatFusion(cfg.dino_channels, c8)
        self.fuse3 = ConcatFusion(cfg.dino_channels, c4)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f16, f8, f4 = _run_resnet(self, image)
        d16, d8, d4 = _dino_scales(self.network2(image))
        return self.fuse1(d16, f16), self.fuse2(d8, f8), self.fuse3(d4, f4)


def make_key_encoder(cfg: ModelConfig) -> nn.Module:
    """The key encoder named by ``cfg.key_encoder``."""
    classes = {"pvgfe": KeyEncoder, "resnet": ResNetKeyEncoder, "dino": DinoKeyEncoder, "concat": ConcatKeyEncoder}
    return classes[cfg.key_encoder](cfg)
