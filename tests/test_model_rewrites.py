"""The network's fast formulations give the numbers of the straightforward ones.

Each reference below is the textbook form of the layer (as the authors wrote it); the product uses a
cheaper but mathematically equal form. Compared in float64 so that only rounding can differ.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from colormnet.model.blocks import FeatureFusionBlock, GroupResBlock
from colormnet.model.key_encoder import (
    CrossChannelAttention,
    FusionBlock,
    LayerNorm2d,
    conv3x3_of_upsampled,
)


def _randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.3)
    return module.double().eval()


def _layer_norm_ref(m: LayerNorm2d, x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(1, keepdim=True)
    var = (x - mean).pow(2).mean(1, keepdim=True)
    return m.weight[:, None, None] * (x - mean) / torch.sqrt(var + m.eps) + m.bias[:, None, None]


def _cross_attention_ref(m: CrossChannelAttention, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    b, _, h, w = x.shape

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(b, m.heads, -1, h * w)

    q = F.normalize(heads(m.to_q_dw(m.to_q(x))), dim=-1)
    k = F.normalize(heads(m.to_k_dw(m.to_k(y))), dim=-1)
    v = heads(m.to_v_dw(m.to_v(y)))
    attn = ((q @ k.transpose(-2, -1)) * m.temperature).softmax(dim=-1)
    return m.to_out((attn @ v).reshape(b, -1, h, w))


def _fusion_ref(m: FusionBlock, dino: torch.Tensor, feat: torch.Tensor, scale: int) -> torch.Tensor:
    if scale != 1:
        dino = F.interpolate(dino, scale_factor=scale, mode="bilinear", align_corners=False)
    d = m.encode_enc(dino)
    out = _cross_attention_ref(m.crossattn, _layer_norm_ref(m.norm1, d), _layer_norm_ref(m.norm2, feat)) + d
    return F.relu(_layer_norm_ref(m.norm3, out))


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_of_upsampled_equals_conv_after_upsampling(scale, bias):
    conv = _randomise(nn.Conv2d(6, 5, 3, padding=1, bias=bias))
    x = torch.randn(2, 6, 3, 5, dtype=torch.float64)  # odd sizes: every border case
    want = conv(F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False))
    got = conv3x3_of_upsampled(conv, x, scale)
    assert got.shape == want.shape == (2, 5, 3 * scale, 5 * scale)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_conv_of_upsampled_rejects_other_convs():
    with pytest.raises(ValueError, match="3x3"):
        conv3x3_of_upsampled(nn.Conv2d(4, 4, 3, padding=0), torch.randn(1, 4, 4, 4), 2)


def test_layer_norm_matches_reference():
    m = _randomise(LayerNorm2d(7))
    x = torch.randn(2, 7, 4, 5, dtype=torch.float64) * 3 + 1
    torch.testing.assert_close(m(x), _layer_norm_ref(m, x), rtol=1e-12, atol=1e-12)
    xc = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(m(xc), _layer_norm_ref(m, x), rtol=1e-12, atol=1e-12)


def test_cross_attention_matches_reference():
    m = _randomise(CrossChannelAttention(8, 4))
    x, y = torch.randn(2, 2, 8, 5, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(m(x, y), _cross_attention_ref(m, x, y), rtol=1e-10, atol=1e-12)
        # a zero query map: the clamped norm keeps it finite, as F.normalize does
        torch.testing.assert_close(m(x * 0, y), _cross_attention_ref(m, x * 0, y), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_fusion_block_matches_reference(scale):
    m = _randomise(FusionBlock(12, 8, 2), seed=scale)
    dino = torch.randn(1, 12, 3, 4, dtype=torch.float64)
    feat = torch.randn(1, 8, 3 * scale, 4 * scale, dtype=torch.float64)
    with torch.no_grad():
        got = m(dino, feat, scale=scale)
        assert got.is_contiguous()
        torch.testing.assert_close(got, _fusion_ref(m, dino, feat, scale), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("same_dims", [False, True])
def test_group_fuser_shares_the_image_half(same_dims):
    """FeatureFusionBlock: the image-feature half of block1's convs is computed once for all groups."""
    x_dim, g_dim = 16, 8  # CBAM reduces channels 16-fold: keep >= 16
    mid = x_dim + g_dim if same_dims else 20
    m = _randomise(FeatureFusionBlock(x_dim, g_dim, mid, 17))
    x = torch.randn(2, x_dim, 5, 6, dtype=torch.float64)
    g = torch.randn(2, 2, g_dim, 5, 6, dtype=torch.float64)
    with torch.no_grad():
        cat = torch.cat([x.unsqueeze(1).expand(-1, 2, -1, -1, -1), g], dim=2)
        want = GroupResBlock.forward(m.block1, cat)
        torch.testing.assert_close(m.block1.forward_shared(x, g), want, rtol=1e-12, atol=1e-12)
        want = m.block2(want + m.attention(want.flatten(0, 1)).view_as(want))
        torch.testing.assert_close(m(x, g), want, rtol=1e-12, atol=1e-12)


def test_key_encoder_matches_reference(tiny_model):
    enc = tiny_model.key_encoder
    image = torch.randn(1, 3, 112, 224)
    with torch.no_grad():
        g16, g8, g4 = enc(image)
        x = enc.maxpool(enc.relu(enc.bn1(enc.conv1(image))))
        f4 = enc.res2(x)
        f8 = enc.layer2(f4)
        f16 = enc.layer3(f8)
        dino = enc.network2(image)
        want = [_fusion_ref(enc.fuse1, dino, f16, 1), _fusion_ref(enc.fuse2, dino, f8, 2),
                _fusion_ref(enc.fuse3, dino, f4, 4)]
    for got, ref in zip((g16, g8, g4), want, strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_fusion_block_on_gpu(dtype):
    m = _randomise(FusionBlock(64, 32, 4)).float().cuda()
    dino = torch.randn(1, 64, 6, 8, device="cuda")
    feat = torch.randn(1, 32, 24, 32, device="cuda")
    with torch.no_grad():
        want = _fusion_ref(m, dino, feat, 4)
        with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            got = m(dino, feat, scale=4).float()
    tol = 1e-2 if dtype == torch.float32 else 5e-2  # cuDNN may use TF32 for fp32 convs
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)


def test_cosine_gram_over_chunks_matches_normalised_product():
    """The attention logits summed over pixel chunks (here 3 chunks) equal F.normalize(q) F.normalize(k)^T
    over all pixels; bf16 inputs are summed in float32, exactly as their float64 values would be."""
    from colormnet.model import key_encoder

    n = 2 * key_encoder._GRAM_CHUNK + 123
    q, k = torch.randn(2, 1, 3, n, 8, dtype=torch.float64).unbind(0)
    q[:, 1, :, 2] = 0  # a zero channel: clamped norm, finite zeros
    want = F.normalize(q, dim=-2).transpose(-2, -1) @ F.normalize(k, dim=-2)
    torch.testing.assert_close(key_encoder._cosine_gram(q, k), want, rtol=1e-12, atol=1e-12)
    qb, kb = q.bfloat16(), k.bfloat16()
    got = key_encoder._cosine_gram(qb, kb)
    assert got.dtype == torch.float32
    want = F.normalize(qb.double(), dim=-2).transpose(-2, -1) @ F.normalize(kb.double(), dim=-2)
    torch.testing.assert_close(got.double(), want, rtol=0, atol=1e-5)
