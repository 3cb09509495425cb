"""Memory policies: bounds and selection rules of usage/random/decay/stack/recurrent; exemplars untouched."""

from __future__ import annotations

import logging

import pytest
import torch

from colormnet.config import MEMORY_POLICIES, MemoryConfig
from colormnet.memory.manager import ColorMemory

CK, CV, H, W = 8, 4, 5, 5
HW = H * W


def _frame(gen: torch.Generator):
    key = torch.randn(1, CK, H, W, generator=gen)
    shrinkage = torch.rand(1, 1, H, W, generator=gen) + 1
    selection = torch.rand(1, CK, H, W, generator=gen)
    value = torch.randn(1, 2, CV, H, W, generator=gen)
    return key, shrinkage, value, selection


def _run(cfg: MemoryConfig, frames: int = 30, seed: int = 0):
    """Add 2 exemplars, then read + write ``frames`` frames; returns memory, outputs, sizes per step."""
    gen = torch.Generator().manual_seed(seed)
    mem = ColorMemory(cfg)
    for _ in range(2):
        mem.add(*_frame(gen), permanent=True)
    outs, sizes = [], []
    for _ in range(frames):
        key, shrinkage, value, selection = _frame(gen)
        outs.append(mem.read(key, selection))
        mem.add(key, shrinkage, value, selection)
        sizes.append(dict(mem.sizes))
    return mem, outs, sizes


SMALL = dict(mem_every=1, max_mid_term_frames=4, min_mid_term_frames=2, max_long_term_elements=60,
             num_prototypes=10, top_k=8)


@pytest.mark.parametrize("policy", MEMORY_POLICIES)
def test_permanent_memory_untouched_by_every_policy(policy):
    gen = torch.Generator().manual_seed(5)
    exemplars = [_frame(gen) for _ in range(2)]
    mem = ColorMemory(MemoryConfig(policy=policy, max_memory_frames=3, **SMALL))
    for f in exemplars:
        mem.add(*f, permanent=True)
    before = {n: getattr(mem.permanent, n).clone() for n in ("key", "shrinkage", "selection", "value",
                                                             "use_count", "life_count", "log_weight")}
    for _ in range(25):
        key, shrinkage, value, selection = _frame(gen)
        assert torch.isfinite(mem.read(key, selection)).all()
        mem.add(key, shrinkage, value, selection)
    for name, tensor in before.items():
        assert torch.equal(getattr(mem.permanent, name), tensor), (policy, name)
    assert mem.sizes["permanent"] == 2 * HW


def test_usage_and_random_share_bounds_but_random_selects_differently():
    usage, out_u, sizes_u = _run(MemoryConfig(policy="usage", **SMALL))
    rand, out_r, sizes_r = _run(MemoryConfig(policy="random", **SMALL))
    # same bookkeeping: bounds and consolidation times are the policy-independent part
    assert sizes_u == sizes_r
    for s in sizes_r:
        assert s["working"] <= 3 * HW and s["long_term"] <= 60
    first = next(i for i, s in enumerate(sizes_u) if s["long_term"])
    # identical until the first consolidation, different afterwards
    assert all(torch.equal(a, b) for a, b in zip(out_u[:first + 1], out_r[:first + 1], strict=True))
    assert not torch.equal(usage.long_term.key, rand.long_term.key)
    assert not torch.allclose(out_u[-1], out_r[-1])


def test_random_is_reproducible_with_its_seed():
    a, out_a, _ = _run(MemoryConfig(policy="random", policy_seed=3, **SMALL))
    b, out_b, _ = _run(MemoryConfig(policy="random", policy_seed=3, **SMALL))
    c, out_c, _ = _run(MemoryConfig(policy="random", policy_seed=4, **SMALL))
    assert torch.equal(a.long_term.key, b.long_term.key) and torch.equal(out_a[-1], out_b[-1])
    assert not torch.equal(a.long_term.key, c.long_term.key)


def test_usage_prototypes_are_the_most_used_candidates():
    """Regression of the default rule: the first consolidation's prototype keys are the top-usage keys."""
    cfg = MemoryConfig(policy="usage", **SMALL)
    gen = torch.Generator().manual_seed(0)
    mem = ColorMemory(cfg)
    mem.add(*_frame(gen), permanent=True)
    while True:
        key, shrinkage, value, selection = _frame(gen)
        mem.read(key, selection)
        if mem.working.size == 0:
            mem.add(key, shrinkage, value, selection)
            continue
        candidates_key = mem.working.key.clone()
        usage = mem.working.usage().flatten().clone()
        mem.add(key, shrinkage, value, selection)
        if mem.sizes["long_term"]:
            break
    end = mem.working.size  # working memory kept (min_mid_term - 1) frames; the rest were candidates
    n_cand = candidates_key.shape[-1] + HW - end
    top = torch.topk(usage[:n_cand], 10).indices
    assert torch.equal(mem.long_term.key, candidates_key[..., top])


def test_decay_weights_decay_and_change_the_readout():
    cfg = MemoryConfig(policy="decay", decay=0.5, **{**SMALL, "max_mid_term_frames": 8})
    mem, outs, _ = _run(cfg, frames=5)
    lw = mem.working.log_weight.flatten()
    # newest frame weight 1, each older frame one more factor 0.5
    expected = torch.cat([torch.full((HW,), float(k)) for k in range(4, -1, -1)]) * torch.log(torch.tensor(0.5))
    assert torch.allclose(lw, expected)
    assert torch.equal(mem.permanent.log_weight, torch.zeros_like(mem.permanent.log_weight))
    _, outs_usage, _ = _run(MemoryConfig(policy="usage", **{**SMALL, "max_mid_term_frames": 8}), frames=5)
    assert torch.equal(outs[0], outs_usage[0])  # nothing to decay before the first write
    assert not torch.allclose(outs[-1], outs_usage[-1])  # the weights change the readout
    # decay = 1 is usage's readout (log-weight 0 everywhere)
    _, outs_one, _ = _run(MemoryConfig(policy="decay", decay=1.0, **{**SMALL, "max_mid_term_frames": 8}), frames=5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(outs_one, outs_usage, strict=True))


def test_decay_consolidation_keeps_heaviest_and_bounds_hold():
    mem, _, sizes = _run(MemoryConfig(policy="decay", decay=0.8, **SMALL), frames=40)
    assert max(s["long_term"] for s in sizes) <= 60 and max(s["working"] for s in sizes) <= 3 * HW
    assert mem.sizes["long_term"] > 0
    # long-term log-weights are non-positive and the working frames are newer (heavier) than all of them
    assert mem.long_term.log_weight.max() < mem.working.log_weight.min() + 1e-6


def test_stack_grows_without_consolidation_up_to_its_cap():
    _, _, sizes = _run(MemoryConfig(policy="stack", max_memory_frames=12, **SMALL), frames=20)
    working = [s["working"] for s in sizes]
    assert working[:12] == [HW * (i + 1) for i in range(12)]  # grows one frame per write
    assert working[12:] == [12 * HW] * 8  # then capped
    assert all(s["long_term"] == 0 for s in sizes)


def test_stack_warns_and_caps_by_available_memory(caplog):
    with caplog.at_level(logging.WARNING):
        mem, _, sizes = _run(MemoryConfig(policy="stack", **SMALL), frames=6)
    assert sizes[-1]["working"] == 6 * HW  # tiny frames: far below any memory cap
    assert mem.policy.cap > 6
    assert any("stack" in r.getMessage() and "memory" in r.getMessage() for r in caplog.records)


def test_recurrent_keeps_only_the_latest_frame():
    gen = torch.Generator().manual_seed(2)
    mem = ColorMemory(MemoryConfig(policy="recurrent", **SMALL))
    mem.add(*_frame(gen), permanent=True)
    last = None
    for _ in range(7):
        last = _frame(gen)
        mem.add(*last)
        assert mem.sizes == {"permanent": HW, "working": HW, "long_term": 0}
    assert torch.equal(mem.working.key, last[0].flatten(2))


def test_policy_settings_are_validated():
    with pytest.raises(ValueError, match="unknown memory policy"):
        MemoryConfig(policy="lru")
    with pytest.raises(ValueError, match="decay"):
        MemoryConfig(decay=0.0)
    with pytest.raises(ValueError, match="max_memory_frames"):
        MemoryConfig(max_memory_frames=-1)


def test_cli_memory_policy_options():
    import argparse

    from colormnet.cli.options import add_memory_arguments, memory_from_args
    from colormnet.errors import InputError

    parser = argparse.ArgumentParser()
    add_memory_arguments(parser)
    cfg = memory_from_args(parser.parse_args(["--memory-policy", "decay", "--decay", "0.5", "--mem-every", "2"]))
    assert (cfg.policy, cfg.decay, cfg.mem_every) == ("decay", 0.5, 2)
    assert memory_from_args(parser.parse_args([])) == MemoryConfig()  # default = the paper's
    cfg = memory_from_args(parser.parse_args(["--memory-policy", "stack", "--max-memory-frames", "40"]))
    assert (cfg.policy, cfg.max_memory_frames) == ("stack", 40)
    with pytest.raises(InputError, match="one policy"):
        memory_from_args(parser.parse_args(["--memory-policy", "usage,random"]))
    with pytest.raises(InputError, match="unknown policy"):
        memory_from_args(parser.parse_args(["--memory-policy", "fifo"]))


def test_batch_jobs_take_the_policy_options():
    from colormnet.batch.execute import colorize_kwargs
    from colormnet.batch.jobs import OPTION_NAMES

    assert {"memory_policy", "policy_seed", "decay", "max_memory_frames"} <= set(OPTION_NAMES)
    memory = colorize_kwargs({"memory_policy": "decay", "decay": 0.5, "mem_every": 2})["memory"]
    assert (memory.policy, memory.decay, memory.mem_every) == ("decay", 0.5, 2)
