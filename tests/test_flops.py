"""FLOP counting per stage (colormnet.inference.flops) on the tiny architecture."""

from __future__ import annotations

import pytest

from colormnet.config import ModelConfig
from colormnet.inference.flops import STAGES, flops_table, model_flops


@pytest.fixture(scope="module")
def small():
    return model_flops(224, 224, ModelConfig.tiny())


@pytest.fixture(scope="module")
def large():
    return model_flops(448, 448, ModelConfig.tiny())


def test_every_stage_positive_and_totals_consistent(small):
    s = {k: v["flops"] for k, v in small["stages"].items()}
    assert set(s) == set(STAGES)
    assert all(n > 0 for n in s.values()), s
    assert small["padded"] == [224, 224] and small["grid"] == [14, 14]
    assert small["memory_elements"] == 10 * 14 * 14
    f = small["frames"]
    assert f["non_memory"] == s["encode_key"] + s["memory_readout"] + s["local_attention"] + s["decode"]
    assert f["memory"] > f["non_memory"] > f["exemplar"] > 0
    assert f["non_memory"] < f["clip_mean"] < f["memory"]
    parts = small["encode_key_parts"]
    assert all(parts[p] > 0 for p in ("resnet", "dinov2", "fusion", "key_proj"))
    assert sum(parts.values()) == s["encode_key"]
    # the decoder's GRU update costs something
    assert s["decode"] > s["decode_no_update"]
    # the window aggregation is not seen by FlopCounterMode and is added analytically
    la = small["stages"]["local_attention"]
    assert la["analytic"] == 2 * 15 * 15 * 14 * 14 * (16 + 2 * 32)
    assert la["flops"] == la["counted"] + la["analytic"] and la["counted"] > 0


def test_scaling_with_pixel_count(small, large):
    """4x the pixels: convolutional stages ~4x (ViT attention makes encode_key a bit more);
    the memory readout between 4x and 16x: its similarity grows with N x M (16x), the gathered
    top-k sum only with M (4x)."""
    ratio = {k: large["stages"][k]["flops"] / small["stages"][k]["flops"] for k in STAGES}
    for stage in ("encode_key", "local_attention", "decode", "encode_value", "shrinkage"):
        assert 3.0 < ratio[stage] < 5.0, (stage, ratio[stage])
    assert ratio["encode_key"] > ratio["decode"]  # quadratic ViT attention
    assert 4.0 < ratio["memory_readout"] < 16.0


def test_readout_linear_in_memory_size():
    one = model_flops(224, 224, ModelConfig.tiny(), memory_frames=2)
    two = model_flops(224, 224, ModelConfig.tiny(), memory_frames=4)
    lt = model_flops(224, 224, ModelConfig.tiny(), memory_frames=2, long_term_elements=2 * 196)
    r1, r2 = one["stages"]["memory_readout"]["flops"], two["stages"]["memory_readout"]["flops"]
    assert r1 < r2 < 2 * r1  # the similarity doubles with N; the top-k gather does not grow
    assert lt["stages"]["memory_readout"]["flops"] == r2  # same N
    assert one["stages"]["decode"]["flops"] == two["stages"]["decode"]["flops"]


def test_real_device_counts_equal_meta(small):
    """On the CPU the ViT's fused attention runs a kernel FlopCounterMode does not know; the module
    registers it, so counting with real tensors gives exactly the meta-device numbers."""
    cpu = model_flops(224, 224, ModelConfig.tiny(), device="cpu")
    for stage in STAGES:
        assert cpu["stages"][stage]["flops"] == small["stages"][stage]["flops"], stage
    assert cpu["encode_key_parts"] == small["encode_key_parts"]


def test_table_and_argument_checks(small, large):
    table = flops_table([small, large])
    assert "| encode_key |" in table and "224x224" in table and "448x448" in table
    assert "**mean per frame (r)**" in table
    with pytest.raises(ValueError):
        model_flops(0, 224, ModelConfig.tiny())
