"""ResNet trunks (no torchvision): the ResNet-50 stages of the key encoder and the 5-channel
ResNet-18 stages of the value encoder. Attribute names follow torchvision's so ImageNet files map
onto them key by key."""

from __future__ import annotations

import torch
from torch import nn


def _downsample(in_ch: int, out_ch: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (carries the stride) -> 1x1 with 4x expansion, BN after each conv."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN; the first carries the stride."""

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(in_ch, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


def make_stage(block: type[Bottleneck] | type[BasicBlock], in_ch: int, planes: int, blocks: int,
               stride: int) -> nn.Sequential:
    """A ResNet stage: ``blocks`` blocks, the first with ``stride``. Output channels planes * expansion."""
    layers = [block(in_ch, planes, stride)]
    out_ch = planes * block.expansion
    layers += [block(out_ch, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def init_resnet_(module: nn.Module) -> None:
    """He-normal conv init, BN weight 1 / bias 0 (the usual ResNet initialisation).

    Skipped for a network built on the ``meta`` device to be loaded (``models.build_model``): these
    random initialisers have no fast meta path, and their first use there costs ~1 s of one-time
    set-up in torch per process, for values that are never kept.
    """
    if any(p.is_meta for p in module.parameters()):
        return
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
