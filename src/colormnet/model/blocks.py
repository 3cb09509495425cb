"""Building blocks shared by the value encoder and the decoder.

Group tensors carry the two chroma channels as a "group" axis: B x G x C x H x W with G = 2
(a and b). Group convolutions fold G into the batch and share weights across groups.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def group_conv(conv: nn.Conv2d, g: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D conv to every group: (B, G, C, H, W) -> (B, G, C', H', W')."""
    b, n = g.shape[:2]
    out = conv(g.flatten(0, 1))
    return out.view(b, n, *out.shape[1:])


def resize_groups(g: torch.Tensor, scale: float, mode: str) -> torch.Tensor:
    """Resize (B, G, C, H, W) spatially by ``scale`` ('bilinear' without corner alignment, or 'area')."""
    b, n = g.shape[:2]
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    out = F.interpolate(g.flatten(0, 1), scale_factor=scale, mode=mode, **kwargs)
    return out.view(b, n, *out.shape[1:])


def gru_update(values: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """XMem's gated update. values: (B, G, 3*Ch, H, W) = [forget, update, candidate]; h: (B, G, Ch, H, W).

    new_h = sigmoid(f) * h * (1 - sigmoid(u)) + sigmoid(u) * tanh(n)
    """
    ch = h.shape[2]
    forget = torch.sigmoid(values[:, :, :ch])
    update = torch.sigmoid(values[:, :, ch:2 * ch])
    candidate = torch.tanh(values[:, :, 2 * ch:])
    return forget * h * (1 - update) + update * candidate


class GroupResBlock(nn.Module):
    """Pre-activation residual block on group tensors: two 3x3 convs, 3x3 conv shortcut if dims differ."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        # registration order matters for the state_dict order: shortcut first
        self.downsample = nn.Conv2d(in_dim, out_dim, 3, padding=1) if in_dim != out_dim else None
        self.conv1 = nn.Conv2d(in_dim, out_dim, 3, padding=1)
        self.conv2 = nn.Conv2d(out_dim, out_dim, 3, padding=1)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        out = group_conv(self.conv1, F.relu(g))
        out = group_conv(self.conv2, F.relu(out))
        shortcut = g if self.downsample is None else group_conv(self.downsample, g)
        return out + shortcut

    def forward_shared(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``forward`` of [x, g_i] concatenated per group, with x (B, Cx, H, W) shared by every group
        of g (B, G, Cg, H, W) -> (B, G, out_dim, H, W).

        The input convs are linear in their input channels, so their x half is computed once per
        image (not once per group) and broadcast; the concatenation is never materialised.
        """
        if self.downsample is None:
            return self.forward(torch.cat([x.unsqueeze(1).expand(-1, g.shape[1], -1, -1, -1), g], dim=2))
        out = _split_input_conv(self.conv1, F.relu(x), F.relu(g))
        out = group_conv(self.conv2, F.relu(out))
        return out + _split_input_conv(self.downsample, x, g)


def _split_input_conv(conv: nn.Conv2d, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``conv`` of [x, g_i] per group = conv_x(x) (once, with the bias) + conv_g(g_i)."""
    cx = x.shape[1]
    shared = F.conv2d(x, conv.weight[:, :cx], conv.bias, conv.stride, conv.padding, conv.dilation)
    per_group = F.conv2d(g.flatten(0, 1), conv.weight[:, cx:], None, conv.stride, conv.padding, conv.dilation)
    return per_group.view(*g.shape[:2], *per_group.shape[1:]) + shared.unsqueeze(1)


class _ChannelGate(nn.Module):
    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        # indices 1 and 3 carry weights (0 = flatten, 2 = ReLU), as in the checkpoint
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, channels // reduction), nn.ReLU(),
                                 nn.Linear(channels // reduction, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3)))
        mx = self.mlp(x.amax(dim=(2, 3)))
        return x * torch.sigmoid(avg + mx)[:, :, None, None]


class _SpatialConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3)


class _SpatialGate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.spatial = _SpatialConv()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial.conv(pooled))


class CBAM(nn.Module):
    """Channel gate (shared MLP on avg- and max-pooled vectors) followed by a 7x7 spatial gate."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ChannelGate = _ChannelGate(channels)
        self.SpatialGate = _SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class FeatureFusionBlock(nn.Module):
    """Fuse a shared image feature (B, Cx, H, W) into every group (B, G, Cg, H, W).

    Concatenate [image feature, group feature] -> GroupResBlock -> + CBAM(.) -> GroupResBlock.
    """

    def __init__(self, x_dim: int, g_dim: int, mid_dim: int, out_dim: int) -> None:
        super().__init__()
        self.block1 = GroupResBlock(x_dim + g_dim, mid_dim)
        self.attention = CBAM(mid_dim)
        self.block2 = GroupResBlock(mid_dim, out_dim)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        g = self.block1.forward_shared(x, g)
        r = self.attention(g.flatten(0, 1)).view_as(g)
        return self.block2(g + r)


class HiddenReinforcer(nn.Module):
    """Value-encoder GRU ("deep update"): 3x3 conv on [value, hidden] -> gated hidden update."""

    def __init__(self, value_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.transform = nn.Conv2d(value_dim + hidden_dim, 3 * hidden_dim, 3, padding=1)

    def forward(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """g: (B, G, Cv, H, W), h: (B, G, Ch, H, W) -> new h."""
        return gru_update(group_conv(self.transform, torch.cat([g, h], dim=2)), h)


class HiddenUpdater(nn.Module):
    """Decoder GRU: multi-scale decoder features (1/16, 1/8, 1/4 + logit) -> gated hidden update."""

    def __init__(self, dims: tuple[int, int, int], mid_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.g16_conv = nn.Conv2d(dims[0], mid_dim, 1)
        self.g8_conv = nn.Conv2d(dims[1], mid_dim, 1)
        self.g4_conv = nn.Conv2d(dims[2], mid_dim, 1)
        self.transform = nn.Conv2d(mid_dim + hidden_dim, 3 * hidden_dim, 3, padding=1)

    def forward(self, g16: torch.Tensor, g8: torch.Tensor, g4: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        g = (group_conv(self.g16_conv, g16)
             + group_conv(self.g8_conv, resize_groups(g8, 0.5, "area"))
             + group_conv(self.g4_conv, resize_groups(g4, 0.25, "area")))
        return gru_update(group_conv(self.transform, torch.cat([g, h], dim=2)), h)
