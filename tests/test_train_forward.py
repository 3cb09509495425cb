"""Tests of the training forward pass (colormnet.train.forward) on the tiny network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data as skdata

from colormnet.color import rgb_to_lab_norm
from colormnet.config import ModelConfig
from colormnet.memory import readout as mm
from colormnet.model.network import ColorMNet
from colormnet.train.forward import (
    ForwardConfig,
    TrainingModule,
    choose_reference_frames,
    read_memory,
    training_forward,
)


def _tiny(seed: int = 0) -> ColorMNet:
    torch.manual_seed(seed)
    net = ColorMNet(ModelConfig.tiny()).eval()
    for p in net.key_encoder.network2.parameters():
        p.requires_grad_(False)
    return net


def _clip(frames: int = 3, size: int = 112, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A real colour clip (astronaut, panning): L' x3 (1, T, 3, S, S) and a'b' (1, T, 2, S, S)."""
    img = skdata.astronaut()
    crops = [np.ascontiguousarray(img[100 + offset + 4 * i:100 + offset + 4 * i + size,
                                      150 + 6 * i:150 + 6 * i + size]) for i in range(frames)]
    lab = np.stack([rgb_to_lab_norm(c) for c in crops])
    return torch.from_numpy(np.repeat(lab[:, :1], 3, axis=1))[None], torch.from_numpy(lab[:, 1:])[None]


def test_reference_frames_follow_xmem_rule():
    g = torch.Generator().manual_seed(3)
    assert choose_reference_frames(1, 2, 3, g).tolist() == [[0], [0]]
    assert choose_reference_frames(3, 1, 3, g).tolist() == [[0, 1, 2]]
    seen = set()
    for _ in range(50):
        refs = choose_reference_frames(7, 4, 3, g)
        assert refs.shape == (4, 3)
        for row in refs.tolist():
            assert row[0] == 0 and len(set(row)) == 3 and all(1 <= r <= 6 for r in row[1:])
            seen.update(row[1:])
    assert seen == {1, 2, 3, 4, 5, 6}  # every earlier frame gets drawn


def test_batched_readout_matches_per_sample_memory_maths():
    torch.manual_seed(0)
    b, r, ck, g, cv, h, w = 2, 3, 8, 2, 5, 4, 3
    qk, qe = torch.randn(b, ck, h, w), torch.rand(b, ck, h, w)
    rk, rs, rv = torch.randn(b, r, ck, h, w), 1 + torch.rand(b, r, 1, h, w), torch.randn(b, r, g, cv, h, w)
    for top_k in (0, 7):
        out = read_memory(qk, qe, rk, rs, rv, top_k)
        for i in range(b):
            mk = rk[i].transpose(0, 1).flatten(1)[None]
            ms = rs[i].transpose(0, 1).flatten(1)[None]
            sim = mm.similarity(mk, ms, qk[i:i + 1].flatten(2), qe[i:i + 1].flatten(2))
            aff = mm.topk_softmax(sim, top_k) if top_k else torch.softmax(sim, dim=1)
            ref = mm.readout(aff, rv[i].permute(1, 2, 0, 3, 4).flatten(2))
            torch.testing.assert_close(out[i], ref.view(g, cv, h, w), rtol=1e-5, atol=1e-5)


def test_gradients_reach_every_trainable_parameter_and_no_frozen_one():
    net = _tiny()
    l0, ab0 = _clip(3)
    l1, ab1 = _clip(3, offset=40)
    result = training_forward(net, torch.cat([l0, l1]), torch.cat([ab0, ab1]), ForwardConfig(),
                              torch.Generator().manual_seed(0))
    assert set(result.losses) == {"l1_1", "l1_2", "total"}
    assert result.pred_ab.shape == (2, 2, 2, 112, 112)
    assert float(result.pred_ab.detach().abs().max()) < 1
    torch.testing.assert_close(result.losses["total"], result.losses["l1_1"] + result.losses["l1_2"])
    result.losses["total"].backward()
    trainable = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    frozen = [(n, p) for n, p in net.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith("key_encoder.network2.") for n, _ in frozen)
    assert all(p.grad is None for _, p in frozen)
    no_grad = [n for n, p in trainable if p.grad is None]
    assert not no_grad, no_grad
    bad = [n for n, p in trainable if not torch.isfinite(p.grad).all() or not p.grad.abs().sum() > 0]
    assert not bad, bad
    assert all(b.grad is None for b in net.buffers())


def test_batch_elements_do_not_interact():
    net = _tiny()
    (l0, ab0), (l1, ab1) = _clip(3), _clip(3, offset=40)
    cfg = ForwardConfig(deep_update_prob=0.0)  # T = 3: no random choice left
    with torch.no_grad():
        both = training_forward(net, torch.cat([l0, l1]), torch.cat([ab0, ab1]), cfg)
        one = training_forward(net, l0, ab0, cfg)
        two = training_forward(net, l1, ab1, cfg)
    torch.testing.assert_close(both.pred_ab, torch.cat([one.pred_ab, two.pred_ab]), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(both.losses["total"], (one.losses["total"] + two.losses["total"]) / 2)


def test_a_few_dozen_steps_reduce_the_loss_on_a_fixed_clip():
    net = _tiny()
    images, target = _clip(3)
    module = TrainingModule(net, ForwardConfig())
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=3e-4, weight_decay=0.05)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(24):
        loss = module(images, target, generator)[0]["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses))
    assert min(losses[-3:]) < 0.7 * losses[0], losses


def test_deep_update_probability_and_input_checks():
    net = _tiny()
    images, target = _clip(4)
    with torch.no_grad():
        always = training_forward(net, images, target, ForwardConfig(deep_update_prob=1.0))
        never = training_forward(net, images, target, ForwardConfig(deep_update_prob=0.0))
    assert always.deep_updates == [True, True] and never.deep_updates == [False, False]
    assert not torch.equal(always.pred_ab[:, 1:], never.pred_ab[:, 1:])  # the GRU update matters
    torch.testing.assert_close(always.pred_ab[:, 0], never.pred_ab[:, 0])  # frame 1 precedes any draw
    with pytest.raises(ValueError, match="multiples of 112"):
        training_forward(net, images[..., :100], target[..., :100])
    with pytest.raises(ValueError, match="expected images"):
        training_forward(net, images[:, :, :2], target)
