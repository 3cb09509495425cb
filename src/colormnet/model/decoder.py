"""Decoder: memory readout + hidden state + multi-scale key features -> a'b' logits per group."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from colormnet.config import ModelConfig
from colormnet.model.blocks import FeatureFusionBlock, GroupResBlock, HiddenUpdater, group_conv, resize_groups


class UpsampleBlock(nn.Module):
    """Skip conv on the finer key feature, x2 bilinear upsampling of the group feature, sum, res block."""

    def __init__(self, skip_dim: int, up_dim: int, out_dim: int) -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_dim, up_dim, 3, padding=1)
        self.out_conv = GroupResBlock(up_dim, out_dim)

    def forward(self, skip: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        g = resize_groups(g, 2, "bilinear") + self.skip_conv(skip).unsqueeze(1)
        return self.out_conv(g)


class Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c16, c8, c4 = cfg.key_channels
        self.fuser = FeatureFusionBlock(c16, cfg.value_dim + cfg.hidden_dim, c8, c8)
        self.hidden_update = HiddenUpdater((c8, c4, c4 + 1), c4, cfg.hidden_dim)
        self.up_16_8 = UpsampleBlock(c8, c8, c4)
        self.up_8_4 = UpsampleBlock(c4, c4, c4)
        self.pred = nn.Conv2d(c4, 1, 3, padding=1)

    def forward(self, g16: torch.Tensor, g8: torch.Tensor, g4: torch.Tensor, readout: torch.Tensor,
                hidden: torch.Tensor, update_hidden: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """readout: (B, 2, Cv, h, w); hidden: (B, 2, Ch, h, w).

        Returns ab (B, 2, 16h, 16w) = tanh of the x4-upsampled logits, and the hidden state
        (the GRU update when ``update_hidden``, else the input one).
        """
        b, n = readout.shape[:2]
        x16 = self.fuser(g16, torch.cat([readout, hidden], dim=2))
        x8 = self.up_16_8(g8, x16)
        x4 = self.up_8_4(g4, x8)
        logits = group_conv(self.pred, F.relu(x4))  # (B, 2, 1, 4h, 4w)
        if update_hidden:
            hidden = self.hidden_update(x16, x8, torch.cat([x4, logits], dim=2), hidden)
        logits = F.interpolate(logits.flatten(0, 2).unsqueeze(1), scale_factor=4, mode="bilinear",
                               align_corners=False)
        return torch.tanh(logits.view(b, n, *logits.shape[-2:])), hidden
