"""Reduced precision in the session: which stages run under autocast, and the state stays float32."""

from __future__ import annotations

import torch

from colormnet.inference.session import ColorizationSession


def _frames(n: int = 4, size: int = 112):
    gen = torch.Generator().manual_seed(1)
    base = torch.rand(size, size, generator=gen) * 2 - 1
    frames = [(base + 0.05 * t).clamp(-1, 1) for t in range(n)]
    return frames, torch.rand(2, size, size, generator=gen) * 0.6 - 0.3


def _run(session: ColorizationSession, frames, ab0) -> list[torch.Tensor]:
    return [session.step(f, ab0 if t == 0 else None, is_last=t == len(frames) - 1) for t, f in enumerate(frames)]


def test_bf16_keeps_the_state_in_float32(tiny_model):
    frames, ab0 = _frames()
    session = ColorizationSession(tiny_model, None, torch.bfloat16)
    outs = _run(session, frames, ab0)
    assert all(o.dtype == torch.float32 for o in outs)
    assert session.hidden.dtype == torch.float32
    key, value = session.la_ref
    assert key.dtype == value.dtype == torch.float32
    ref = _run(ColorizationSession(tiny_model), frames, ab0)
    diff = max((a - b).abs().max().item() for a, b in zip(outs, ref, strict=True))
    assert 0 < diff < 0.1  # bf16 really ran, and stayed close


def test_no_reduced_stage_is_exactly_fp32(tiny_model):
    frames, ab0 = _frames()
    ref = _run(ColorizationSession(tiny_model), frames, ab0)
    got = _run(ColorizationSession(tiny_model, None, torch.bfloat16, reduced_stages=frozenset()), frames, ab0)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    key_only = _run(ColorizationSession(tiny_model, None, torch.bfloat16, reduced_stages=frozenset({"key"})),
                    frames, ab0)
    assert any((a - b).abs().max() > 0 for a, b in zip(key_only, ref, strict=True))
