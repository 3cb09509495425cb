"""Value encoder: 5-channel ResNet-18 stages per chroma group, fused with the key feature g16,
plus the optional GRU "deep update" of the hidden state."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from colormnet.config import ModelConfig
from colormnet.model.blocks import FeatureFusionBlock, HiddenReinforcer
from colormnet.model.resnet import BasicBlock, init_resnet_, make_stage


class ValueEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w = cfg.width
        self.conv1 = nn.Conv2d(5, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_stage(BasicBlock, w, w, cfg.value_blocks[0], 1)
        self.layer2 = make_stage(BasicBlock, w, 2 * w, cfg.value_blocks[1], 2)
        self.layer3 = make_stage(BasicBlock, 2 * w, 4 * w, cfg.value_blocks[2], 2)
        init_resnet_(self)
        self.fuser = FeatureFusionBlock(cfg.key_channels[0], 4 * w, cfg.value_dim, cfg.value_dim)
        self.hidden_reinforce = HiddenReinforcer(cfg.value_dim, cfg.hidden_dim)

    def forward(self, image: torch.Tensor, g16: torch.Tensor, hidden: torch.Tensor, ab: torch.Tensor,
                deep_update: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode the chroma of one frame into memory values.

        image: (B, 3, H, W) L' repeated; g16: (B, 16w, H/16, W/16); hidden: (B, 2, Ch, H/16, W/16);
        ab: (B, 2, H, W) normalised chroma. Returns value (B, 2, Cv, H/16, W/16) and the hidden
        state (updated by the GRU when ``deep_update``, else the input one).
        Group i sees [L', L', L', own channel, other channel] (5 channels).
        """
        b, n = ab.shape[:2]
        own_other = torch.stack([ab, ab.flip(1)], dim=2)  # (B, 2, 2, H, W)
        x = torch.cat([image.unsqueeze(1).expand(-1, n, -1, -1, -1), own_other], dim=2).flatten(0, 1)
        x = self.relu(self.maxpool(self.bn1(self.conv1(x))))  # maxpool before ReLU, as trained
        x = self.layer3(self.layer2(self.layer1(x)))
        if x.shape[-2:] != g16.shape[-2:]:
            x = F.interpolate(x, size=g16.shape[-2:], mode="bilinear", align_corners=False)
        value = self.fuser(g16, x.view(b, n, *x.shape[1:]))
        if deep_update:
            hidden = self.hidden_reinforce(value, hidden)
        return value, hidden
