"""Key encoder = PVGFE: ResNet-50 stages fused with DINOv2 features at 1/16, 1/8 and 1/4,
plus the key projection (key, shrinkage, selection)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from colormnet.config import ModelConfig
from colormnet.device import autocast
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
        # F.layer_norm over the last axis of the (B, H, W, C) view: no copy for channels_last input,
        # and the result is channels_last (the layout the fusion blocks run in)
        return F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


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
        """x (queries), y (keys/values): (B, C, H, W) -> (B, C, H, W), channels_last.

        Runs in channels_last layout (the depthwise convs are several times faster in it on CPU).
        The L2 normalisation of q and k over space is applied to the (d x d) products instead of
        the full maps: <q/|q|, k/|k|> = <q, k> / (|q| |k|), norms clamped at 1e-12 as F.normalize does.
        The logits and their softmax are float32 under any autocast.
        """
        b, _, h, w = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:  # (B, 2C, H, W) -> (B, heads, HW, d), a view if NHWC
            return t.permute(0, 2, 3, 1).reshape(b, h * w, self.heads, -1).transpose(1, 2)

        # the order keeps at most three full-size maps alive (peak memory): x is dropped once q is
        # made, q and k once the (d x d) attention is, y once v is
        q = heads(self.to_q_dw(self.to_q(x.contiguous(memory_format=torch.channels_last))))
        del x
        y = y.contiguous(memory_format=torch.channels_last)
        k = heads(self.to_k_dw(self.to_k(y)))
        # the attention logits in float32 also under fp16/bf16 autocast: rounding the (d x d) sums
        # over all pixels to bf16 before the temperature and softmax was the largest error left in
        # bf16 output (worst of the official example's 50 frames 39.6 -> 42.6 dB against fp32)
        with autocast(q.device, None):
            cosine = _cosine_gram(q, k)
            attn = (cosine * self.temperature.to(cosine.dtype)).softmax(dim=-1)  # (B, heads, d, d)
        del q, k
        v = heads(self.to_v_dw(self.to_v(y)))
        del y
        out = v @ attn.transpose(-2, -1)  # (B, heads, HW, d)
        del v
        out = out.transpose(1, 2).reshape(b, h, w, -1).permute(0, 3, 1, 2)
        return self.to_out(out)


_GRAM_CHUNK = 4096  # pixels per step of the attention logits' sums


def _cosine_gram(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """q, k: (B, heads, N, d) -> (B, heads, d, d) cosine similarities over the N pixels,
    <q_i, k_j> / (|q_i| |k_j|), norms clamped at 1e-12 as F.normalize does; in at least float32.

    Summed over chunks of pixels, so reduced-precision q and k are widened a chunk at a time (no
    full-size float32 copies), and the squared norms come from the same chunks (a plain sum of
    squares over contiguous pixel rows: ~2x faster than ``vector_norm`` over the strided pixel axis).
    """
    wide = torch.promote_types(q.dtype, torch.float32)
    n, d = q.shape[-2:]
    gram = q.new_zeros(*q.shape[:-2], d, d, dtype=wide)
    q_sq = q.new_zeros(*q.shape[:-2], d, dtype=wide)
    k_sq = q.new_zeros(*q.shape[:-2], d, dtype=wide)
    for start in range(0, n, _GRAM_CHUNK):
        qc = q[..., start:start + _GRAM_CHUNK, :].to(wide)
        kc = k[..., start:start + _GRAM_CHUNK, :].to(wide)
        gram += qc.transpose(-2, -1) @ kc
        q_sq += qc.square().sum(dim=-2)
        k_sq += kc.square().sum(dim=-2)
    q_norm = q_sq.sqrt().clamp_min(1e-12)  # not in place: training differentiates through this
    k_norm = k_sq.sqrt().clamp_min(1e-12)
    return gram / (q_norm[..., :, None] * k_norm[..., None, :])


def _shift_add_(out: torch.Tensor, src: torch.Tensor, dy: int, dx: int) -> None:
    """out[..., y, x] += src[..., y + dy, x + dx] where both are inside (zero outside); in place."""
    h, w = out.shape[-2:]
    out[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] += \
        src[..., max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]


def conv3x3_of_upsampled(conv: nn.Conv2d, x: torch.Tensor, scale: int) -> torch.Tensor:
    """``conv(interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False))`` without
    ever upsampling x: (B, Cin, h, w) -> (B, Cout, scale*h, scale*w).

    Bilinear resizing is linear and acts on each channel alone, so it commutes with the channel mixing
    of each of the conv's nine taps: the taps are applied as one 1x1 conv (Cin -> 9 Cout) at x's
    resolution, and only Cout-channel maps are upsampled and summed, each shifted by its tap offset
    (the conv's zero padding becomes missing terms at the border). Resizing is separable, so the
    three taps of a kernel row are upsampled along x, shifted and summed before the y resize.
    Equal to the direct form up to float rounding, with ~scale^2 fewer multiply-adds. ``conv`` must be a
    3x3, stride 1, padding 1, undilated, ungrouped conv.
    """
    if conv.kernel_size != (3, 3) or conv.stride != (1, 1) or conv.padding != (1, 1) \
            or conv.dilation != (1, 1) or conv.groups != 1:
        raise ValueError("conv3x3_of_upsampled needs a plain 3x3 conv with padding 1")
    b, _, h, w = x.shape
    cout = conv.out_channels
    big_h, big_w = scale * h, scale * w
    # (Cout, Cin, ky, kx) -> (ky, kx, Cout, Cin): tap-major output channels of one 1x1 conv
    taps = conv.weight.permute(2, 3, 0, 1).reshape(9 * cout, -1, 1, 1)
    proj = F.conv2d(x, taps).view(b, 3, 3 * cout, h, w)
    acc_dtype = torch.promote_types(proj.dtype, torch.float32)  # accumulate the nine taps in >= fp32
    out = torch.zeros(b, cout, big_h, big_w, dtype=acc_dtype, device=x.device)
    if conv.bias is not None:
        out += conv.bias.to(acc_dtype).view(1, cout, 1, 1)
    for ky in range(3):
        # size (h, W): the y axis maps onto itself exactly, so this is the x pass of the bilinear resize
        ux = F.interpolate(proj[:, ky], size=(h, big_w), mode="bilinear", align_corners=False)
        ux = ux.view(b, 3, cout, h, big_w)
        row = ux[:, 1].to(acc_dtype, copy=True)
        _shift_add_(row, ux[:, 0], 0, -1)
        _shift_add_(row, ux[:, 2], 0, 1)
        row = F.interpolate(row, size=(big_h, big_w), mode="bilinear", align_corners=False)
        _shift_add_(out, row, ky - 1, 0)
    return out.to(proj.dtype)


class FusionBlock(nn.Module):
    """Fuse a DINOv2 map (B, Cd, h, w) with a ResNet map (B, C, s*h, s*w) -> (B, C, s*h, s*w).

    d = conv3x3(bilinear_upsample_s(dino)); out = ReLU(LN3(crossattn(LN1(d), LN2(resnet)) + d)).
    """

    def __init__(self, dino_channels: int, channels: int, heads: int) -> None:
        super().__init__()
        self.encode_enc = nn.Conv2d(dino_channels, channels, 3, padding=1)
        self.norm1 = LayerNorm2d(channels)
        self.norm2 = LayerNorm2d(channels)
        self.crossattn = CrossChannelAttention(channels, heads)
        self.norm3 = LayerNorm2d(channels)

    def forward(self, dino: torch.Tensor, feat: torch.Tensor, scale: int = 1) -> torch.Tensor:
        """``scale``: integer factor from dino's grid to feat's (bilinear, no corner alignment)."""
        d = self.encode_enc(dino) if scale == 1 else conv3x3_of_upsampled(self.encode_enc, dino, scale)
        d = d.contiguous(memory_format=torch.channels_last)
        feat = feat.contiguous(memory_format=torch.channels_last)
        out = self.crossattn(self.norm1(d), self.norm2(feat))
        del feat
        out += d
        del d
        return F.relu_(self.norm3(out)).contiguous()


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
        """image: (B, 3, H, W), H and W multiples of 112 -> (B, 4*vit_dim, H/16, W/16), float32.

        Always computed in float32, also under fp16/bf16 autocast: DINOv2 in bfloat16 is where most
        of the bf16 output's difference from fp32 entered (its q/k/v projections above all; the
        attention softmax amplifies their rounding); it is 290 of the key encoder's 933 GFLOP at 960x536.
        """
        with torch.no_grad(), autocast(image.device, None):
            x = torch.cat(self.backbone.last_layers(image.float(), self.n_layers), dim=1)
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
        del x
        # largest first, each ResNet map dropped once fused (peak memory)
        g4 = self.fuse3(dino, f4, scale=4)
        del f4
        g8 = self.fuse2(dino, f8, scale=2)
        del f8
        g16 = self.fuse1(dino, f16)
        return g16, g8, g4


class KeyProjection(nn.Module):
    """3x3 convs on g16: key, shrinkage d = conv(.)^2 + 1, selection e = sigmoid(conv(.))."""

    def __init__(self, in_dim: int, key_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Conv2d(in_dim, key_dim, 3, padding=1)
        self.d_proj = nn.Conv2d(in_dim, 1, 3, padding=1)
        self.e_proj = nn.Conv2d(in_dim, key_dim, 3, padding=1)
        if not self.key_proj.weight.is_meta:  # built to be loaded: nothing to initialise (see init_resnet_)
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
