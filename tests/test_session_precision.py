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


def test_dinov2_branch_runs_in_float32_under_bf16_autocast(tiny_model):
    """Where the bf16 error entered: the DINOv2 branch gives the fp32 result under autocast."""
    from colormnet.device import autocast

    image = torch.rand(1, 3, 112, 112, generator=torch.Generator().manual_seed(1))
    branch = tiny_model.key_encoder.network2
    with torch.inference_mode():
        ref = branch(image)
        with autocast(torch.device("cpu"), torch.bfloat16):
            reduced = branch(image)
            conv = tiny_model.key_encoder.conv1(image)
    assert conv.dtype == torch.bfloat16  # autocast is really on around it
    assert reduced.dtype == torch.float32
    torch.testing.assert_close(reduced, ref, rtol=0, atol=0)


def test_channel_attention_logits_are_float32_under_bf16_autocast(monkeypatch):
    """The cross-channel attention's (d x d) logits and softmax stay float32 under bf16 autocast (the
    largest error left after the DINOv2 branch) and equal the float64 maths on the bf16 q and k."""
    from colormnet.device import autocast
    from colormnet.model.key_encoder import CrossChannelAttention

    torch.manual_seed(0)
    attn_module = CrossChannelAttention(8, heads=2).eval()
    with torch.no_grad():
        attn_module.temperature.fill_(20.0)  # a sharp softmax, where rounded logits show
    x, y = torch.randn(2, 1, 8, 24, 20).unbind(0)
    seen = []
    original = torch.Tensor.softmax

    def recording_softmax(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        seen.append((self.dtype, out))
        return out

    monkeypatch.setattr(torch.Tensor, "softmax", recording_softmax)
    cpu = torch.device("cpu")
    with torch.inference_mode(), autocast(cpu, torch.bfloat16):
        attn_module(x, y)
        q = attn_module.to_q_dw(attn_module.to_q(x))  # the bf16 maps the module builds
        k = attn_module.to_k_dw(attn_module.to_k(y))
    assert q.dtype == torch.bfloat16
    assert len(seen) == 1 and seen[0][0] == torch.float32
    q = q.double().flatten(2).view(1, 2, 8, -1)  # (B, heads, d, HW)
    k = k.double().flatten(2).view(1, 2, 8, -1)
    q = q / q.norm(dim=-1, keepdim=True)
    k = k / k.norm(dim=-1, keepdim=True)
    expected = (q @ k.transpose(-2, -1) * 20.0).softmax(dim=-1)
    torch.testing.assert_close(seen[0][1].double(), expected, rtol=0, atol=1e-5)
