"""Memory: bounded size, permanent exemplars untouched, XMem consolidation/eviction maths."""

from __future__ import annotations

import pytest
import torch

from colormnet.config import MEMORY_PRESETS, MemoryConfig, memory_preset
from colormnet.memory import readout as mm
from colormnet.memory.manager import ColorMemory

CK, CV, H, W = 8, 4, 7, 7


def _frame(gen: torch.Generator):
    key = torch.randn(1, CK, H, W, generator=gen)
    shrinkage = torch.rand(1, 1, H, W, generator=gen) + 1
    selection = torch.rand(1, CK, H, W, generator=gen)
    value = torch.randn(1, 2, CV, H, W, generator=gen)
    return key, shrinkage, value, selection


def test_memory_bounded_over_2000_frames_and_permanent_untouched():
    cfg = MemoryConfig(mem_every=1, max_mid_term_frames=4, min_mid_term_frames=2, max_long_term_elements=150,
                       num_prototypes=20, top_k=10)
    gen = torch.Generator().manual_seed(0)
    mem = ColorMemory(cfg)
    exemplars = [_frame(gen) for _ in range(3)]
    for key, shrinkage, value, selection in exemplars:
        mem.add(key, shrinkage, value, selection, permanent=True)
    perm_key = mem.permanent.key.clone()
    perm_value = mem.permanent.value.clone()
    hw = H * W
    bound = 3 * hw + (cfg.max_mid_term_frames - 1) * hw + cfg.max_long_term_elements
    peak = 0
    for _ in range(2000):
        key, shrinkage, value, selection = _frame(gen)
        out = mem.read(key, selection)
        assert out.shape == (1, 2, CV, H, W) and torch.isfinite(out).all()
        mem.add(key, shrinkage, value, selection)
        sizes = mem.sizes
        assert sizes["working"] <= (cfg.max_mid_term_frames - 1) * hw
        assert sizes["long_term"] <= cfg.max_long_term_elements
        peak = max(peak, sum(sizes.values()))
    assert peak <= bound
    assert mem.sizes["long_term"] > cfg.max_long_term_elements // 2  # consolidation really happened
    assert torch.equal(mem.permanent.key, perm_key) and torch.equal(mem.permanent.value, perm_value)


def test_working_memory_fifo_without_long_term():
    cfg = MemoryConfig(max_mid_term_frames=3, min_mid_term_frames=2, enable_long_term=False)
    gen = torch.Generator().manual_seed(1)
    mem = ColorMemory(cfg)
    mem.add(*_frame(gen), permanent=True)
    frames = [_frame(gen) for _ in range(5)]
    for f in frames:
        mem.add(*f)
    assert mem.sizes == {"permanent": H * W, "working": 2 * H * W, "long_term": 0}
    assert torch.equal(mem.working.key[..., -H * W:], frames[-1][0].flatten(2))


def test_similarity_is_negative_weighted_distance():
    gen = torch.Generator().manual_seed(2)
    mk, qk = torch.randn(1, CK, 5, generator=gen), torch.randn(1, CK, 3, generator=gen)
    ms, qe = torch.rand(1, 1, 5, generator=gen) + 1, torch.rand(1, CK, 3, generator=gen)
    sim = mm.similarity(mk, ms, qk, qe)
    direct = -(qe[:, :, None, :] * (mk[:, :, :, None] - qk[:, :, None, :]) ** 2).sum(1)
    direct = direct * ms[0, 0][:, None] / CK ** 0.5
    torch.testing.assert_close(sim, direct, rtol=1e-5, atol=1e-5)


def test_topk_weights_keep_k_and_normalise():
    sim = torch.tensor([[[0.0], [-1.0], [-2.0], [-30.0]]])
    weights, indices = mm.topk_weights(sim, 2)
    assert indices[:, 0].tolist() == [0, 1]
    e = torch.exp(torch.tensor([0.0, -1.0]))
    torch.testing.assert_close(weights[:, 0], e / e.sum())
    # very negative similarities must not turn into 0/0
    assert torch.isfinite(mm.topk_weights(sim - 1e4, 2)[0]).all()


def test_sparse_readout_equals_dense_topk_product():
    gen = torch.Generator().manual_seed(4)
    sim = torch.randn(1, 50, 37, generator=gen)
    value = torch.randn(2, 6, 50, generator=gen)
    weights, indices = mm.topk_weights(sim, 5)
    dense = torch.zeros(50, 37).scatter_(0, indices, weights)[None]
    torch.testing.assert_close(mm.topk_readout(weights, indices, value, chunk_elements=100),
                               mm.readout(dense, value))
    assert (dense > 0).sum(1).eq(5).all()


def test_long_term_eviction_keeps_most_used():
    cfg = MemoryConfig(max_long_term_elements=10, num_prototypes=2)
    mem = ColorMemory(cfg)
    gen = torch.Generator().manual_seed(3)
    mem.long_term.append(torch.randn(1, CK, 8, generator=gen), torch.ones(1, 1, 8), torch.zeros(2, CV, 8))
    mem.long_term.add_usage(torch.tensor([5.0, 1.0, 7.0, 0.5, 3.0, 2.0, 6.0, 4.0]))
    mem.policy.evict(mem.long_term, 5)
    assert mem.long_term.size == 5
    torch.testing.assert_close(mem.long_term.use_count.flatten(), torch.tensor([5.0, 7.0, 3.0, 6.0, 4.0]))


def test_presets_valid_and_balanced_is_paper():
    assert memory_preset("balanced") == MemoryConfig()
    assert MemoryConfig() == MemoryConfig(mem_every=5, deep_update_every=-1, max_mid_term_frames=10,
                                          min_mid_term_frames=5, max_long_term_elements=10000,
                                          num_prototypes=128, top_k=30)
    assert set(MEMORY_PRESETS) == {"balanced", "low-memory", "quality"}
    with pytest.raises(ValueError, match="unknown memory preset"):
        memory_preset("huge")
    with pytest.raises(ValueError):
        MemoryConfig(max_mid_term_frames=3, min_mid_term_frames=3)
