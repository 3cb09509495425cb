"""Key look-ahead: the engine encodes the keys of the next K frames in one batch; the output must be
the frame-by-frame output (up to float rounding), with keyframes mid-stream, scene-cut resets and the
last frame, and the engine must hold at most K frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from colormnet.inference.engine import _OUTPUT_DEPTH as OUTPUT_DEPTH
from colormnet.inference.engine import ColorizeOptions, iter_colorize, resolve_lookahead
from colormnet.inference.exemplars import Exemplar
from colormnet.inference.session import ColorizationSession

# observed max |ab| difference on this CPU: 2.7e-7 (tiny model), 1.9e-6 (recipe model), RGB <= 1 level:
# batched convolutions sum in another order; float32 rounding, far below one 8-bit level (~4e-3 in ab)
AB_ATOL = 1e-5


def _frames(n: int, w: int, h: int) -> list[np.ndarray]:
    """A gray camera pan (1 px per frame) with a hard cut to another picture at frame n // 2 + 1."""
    a, b = data.camera(), (data.astronaut()[..., 1])
    return [np.ascontiguousarray((a if t <= n // 2 else b)[20:20 + h, 3 * t:3 * t + w]) for t in range(n)]


def _assert_same(got, ref, atol, rgb_levels=1):
    assert len(got) == len(ref)
    for t, (a, b) in enumerate(zip(got, ref, strict=True)):
        assert a.info == b.info, t
        assert a.is_cut == b.is_cut
        np.testing.assert_allclose(a.ab, b.ab, rtol=0, atol=atol, err_msg=f"frame {t}")
        np.testing.assert_allclose(a.confidence, b.confidence, rtol=0, atol=10 * atol, err_msg=f"frame {t}")
        assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max() <= rgb_levels, t


@pytest.mark.parametrize("lookahead", [2, 3, 16])
def test_lookahead_same_output_tiny(tiny_model, lookahead):
    # 9 frames, 100x70 (padded to the model's multiple): keyframe exemplars at 0 and 4, a cut at 5
    # with memory reset; batches of 3 end mid-shot, at the keyframe and at the last frame (8)
    frames = _frames(9, 100, 70)
    astro, coffee = data.astronaut(), data.coffee()
    exemplars = [Exemplar(astro, 0, "astro"), Exemplar(coffee, 4, "coffee"), Exemplar(coffee, None, "free")]
    ref = list(iter_colorize(tiny_model, frames, exemplars,
                             ColorizeOptions(max_side=0, lookahead=0, scene_cuts="reset"), cuts=[5]))
    got = list(iter_colorize(tiny_model, frames, exemplars,
                             ColorizeOptions(max_side=0, lookahead=lookahead, scene_cuts="reset"), cuts=[5]))
    assert [r.is_cut for r in ref] == [t == 5 for t in range(9)]
    assert ref[-1].info.is_memory_frame is False  # the last frame is not memorised, with or without look-ahead
    assert sum(r.info.is_memory_frame for r in ref) >= 3  # exemplars, the first frame after the cut, ...
    _assert_same(got, ref, AB_ATOL)


def test_lookahead_same_output_recipe(recipe_model):
    frames = _frames(5, 112, 112)
    exemplars = [Exemplar(data.astronaut(), 0, "astro"), Exemplar(data.coffee(), 3, "coffee")]
    ref = list(iter_colorize(recipe_model, frames, exemplars, ColorizeOptions(max_side=0, lookahead=0)))
    got = list(iter_colorize(recipe_model, frames, exemplars, ColorizeOptions(max_side=0, lookahead=4)))
    _assert_same(got, ref, AB_ATOL)


def test_encode_keys_matches_per_frame_features(tiny_model):
    gen = torch.Generator().manual_seed(3)
    frames = [torch.rand(70, 100, generator=gen) * 2 - 1 for _ in range(3)]
    # observed: fp32 <= 3.1e-6 absolute; bf16 one bf16 ulp (2^-8 relative) where they differ
    for dtype, rtol, atol in ((None, 0, 1e-5), (torch.bfloat16, 2 ** -6, 2 ** -8)):
        session = ColorizationSession(tiny_model, None, dtype)
        batched = session.encode_keys(frames)
        for l_norm, feats in zip(frames, batched, strict=True):
            one = session._encode_key(session._prepare(l_norm)[0], need_shrinkage=True, need_selection=True)
            for name in one._fields:
                a, b = getattr(feats, name), getattr(one, name)
                assert a.shape == b.shape and a.dtype == b.dtype, name
                torch.testing.assert_close(a.float(), b.float(), rtol=rtol, atol=atol, msg=name)
        # the stored parts are copies: no frame keeps the whole batch alive in memory
        assert batched[1].key.untyped_storage().nbytes() == batched[1].key.numel() * batched[1].key.element_size()


def test_lookahead_holds_at_most_k_frames(tiny_model):
    frames = _frames(10, 64, 64)
    pulled = []

    def source():
        for t, f in enumerate(frames):
            pulled.append(t)
            yield f

    k = 3
    for output_thread, behind in ((False, 0), (True, OUTPUT_DEPTH)):
        pulled.clear()
        seen = []
        options = ColorizeOptions(max_side=0, lookahead=k, output_thread=output_thread)
        for t, _ in enumerate(iter_colorize(tiny_model, source(), [Exemplar(data.astronaut(), 0, "a")], options)):
            seen.append(len(pulled) - t)
        # frames read but not yet returned: up to k (the batch) + 1 (to know which frame is the last),
        # + those whose output the worker thread is making
        assert max(seen) == k + 1 + behind and min(seen) >= 1


def test_lookahead_option_and_defaults():
    assert resolve_lookahead(None, torch.device("cpu")) == 0
    assert resolve_lookahead(None, torch.device("cuda")) == 4
    assert resolve_lookahead(None, torch.device("mps")) == 4
    assert resolve_lookahead(2, torch.device("cuda")) == 2
    assert resolve_lookahead(0, torch.device("cuda")) == 0
    with pytest.raises(ValueError, match="lookahead"):
        ColorizeOptions(lookahead=-1)


def test_to_device_on_cpu_is_a_plain_tensor():
    from colormnet.inference.engine import to_device

    a = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::-1]  # not contiguous
    t = to_device(a, torch.device("cpu"))
    assert t.device.type == "cpu" and not t.is_pinned()
    np.testing.assert_array_equal(t.numpy(), a)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", [None, torch.bfloat16, torch.float16])
def test_lookahead_on_gpu_matches_frame_by_frame(tiny_model, precision):
    import copy

    from colormnet.inference.engine import to_device

    a = np.random.default_rng(0).random((50, 60), dtype=np.float32)
    np.testing.assert_array_equal(to_device(a, torch.device("cuda")).cpu().numpy(), a)  # pinned, async copy
    model = copy.deepcopy(tiny_model).cuda()
    frames = _frames(9, 100, 70)
    exemplars = [Exemplar(data.astronaut(), 0, "astro"), Exemplar(data.coffee(), 4, "coffee")]
    runs = [list(iter_colorize(model, frames, exemplars, ColorizeOptions(max_side=0, lookahead=k,
                                                                         autocast_dtype=precision,
                                                                         scene_cuts="reset"), cuts=[5]))
            for k in (0, 4)]
    # fp32: float rounding; reduced precision: batched kernels may round differently in bf16/fp16
    _assert_same(runs[1], runs[0], *((AB_ATOL, 1) if precision is None else (2e-2, 12)))
