"""Streaming engine and Python API with a tiny random-weight network."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from colormnet.api import colorize_video, default_output
from colormnet.color import lab_norm_to_rgb, rgb_to_lab_norm
from colormnet.config import MemoryConfig
from colormnet.errors import InputError
from colormnet.inference.engine import ColorizeOptions, colorize_frames, iter_colorize, working_size
from colormnet.inference.exemplars import Exemplar, parse_exemplar
from colormnet.io.images import resize_exemplar
from colormnet.io.video import probe
from tests.media import BUNNY, make_gray_clip, needs_bunny


def _gray_frames(n: int, w: int, h: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = (data.camera()[:h, :w]).astype(np.int16)
    return [np.clip(base + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def astro() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return data.coffee()


def test_working_size():
    assert working_size(832, 480, 1280) == (832, 480)
    assert working_size(3840, 2160, 1280) == (1280, 720)
    assert working_size(2160, 3840, 960) == (540, 960)
    assert working_size(3840, 2160, 0) == (3840, 2160)


def test_keyframe_injected_at_its_frame(tiny_model, astro, coffee):
    frames = _gray_frames(6, 120, 90)
    free = Exemplar(astro, None, "astro")
    key = Exemplar(coffee, 3, "coffee")
    both = list(iter_colorize(tiny_model, frames, [free, key], ColorizeOptions(max_side=0)))
    only_free = list(iter_colorize(tiny_model, frames, [free], ColorizeOptions(max_side=0)))
    # frame 3 is the keyframe exemplar's own colour on the frame's lightness
    ab = rgb_to_lab_norm(resize_exemplar(coffee, (120, 90)))[1:]
    l3 = rgb_to_lab_norm(np.repeat(frames[3][:, :, None], 3, 2))[0]
    np.testing.assert_array_equal(both[3].rgb, lab_norm_to_rgb(l3, ab))
    # the keyframe is unknown before frame 3, then changes the prediction
    for t in range(3):
        np.testing.assert_array_equal(both[t].rgb, only_free[t].rgb)
    assert not np.array_equal(both[4].ab, only_free[4].ab)
    hw = 1 * 1 * 7 * 7 * 2  # 112x224 padded -> 7x14 grid = 98 elements
    assert [r.info.memory_sizes["permanent"] for r in both] == [hw] * 3 + [2 * hw] * 3
    assert both[3].info.is_memory_frame


def test_keyframe_only_later_frame_is_also_reference(tiny_model, coffee, caplog):
    frames = _gray_frames(4, 64, 48)
    with caplog.at_level(logging.INFO):
        out = list(iter_colorize(tiny_model, frames, [Exemplar(coffee, 2, "coffee")], ColorizeOptions()))
    assert "also used as a free reference" in caplog.text
    assert [r.info.memory_sizes["permanent"] for r in out] == [49, 49, 98, 98]


def _session_reference(model, frames, exemplar_rgb, size_wh):
    """Independent reference of the engine: a bare session fed L' of each frame resized (bilinear,
    antialiased) to ``size_wh``, its ab upsampled (bilinear) back to the frame size."""
    import torch.nn.functional as F

    from colormnet.inference.session import ColorizationSession

    w, h = size_wh
    session = ColorizationSession(model)
    lab = torch.from_numpy(rgb_to_lab_norm(resize_exemplar(exemplar_rgb, (w, h))))
    session.add_reference(lab[0], lab[1:])
    out = []
    for t, f in enumerate(frames):
        full = torch.from_numpy(rgb_to_lab_norm(np.repeat(f[:, :, None], 3, 2))[0])
        work = full if full.shape == (h, w) else F.interpolate(
            full[None, None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0, 0]
        ab = session.step(work, is_last=t == len(frames) - 1)
        if ab.shape[-2:] != full.shape:
            ab = F.interpolate(ab[None], size=tuple(full.shape), mode="bilinear", align_corners=False)[0]
        out.append(ab.numpy())
    return out


def _composed(gray: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """The frame's own L' with chroma ``ab``, converted to uint8 RGB."""
    return lab_norm_to_rgb(rgb_to_lab_norm(np.repeat(gray[:, :, None], 3, 2))[0], ab).astype(np.int16)


@pytest.mark.parametrize("size", [(13, 7), (33, 17), (113, 1)])
def test_tiny_and_odd_frames(tiny_model, astro, size):
    """Odd and tiny sizes (padding inside the network): the output is the network's own prediction for
    every pixel (equal to a bare session's), keeps each frame's lightness, and has real colour."""
    w, h = size
    rng = np.random.default_rng(1)
    frames = [rng.integers(60, 200, (h, w), dtype=np.uint8) for _ in range(3)]
    out = list(iter_colorize(tiny_model, frames, [Exemplar(astro)]))
    ref = _session_reference(tiny_model, frames, astro, (w, h))
    for o, r, f in zip(out, ref, frames, strict=True):
        assert o.rgb.shape == (h, w, 3) and o.rgb.dtype == np.uint8
        np.testing.assert_allclose(o.ab, r, rtol=0, atol=1e-6)
        assert np.isfinite(o.ab).all() and np.abs(o.ab).max() > 1e-3  # not a gray/empty result
        assert np.abs(o.rgb - _composed(f, r)).max() <= 1  # the frame's lightness + the reference chroma


def test_max_side_keeps_full_size_and_lightness(tiny_model, astro):
    frames = [np.asarray(Image.fromarray(data.camera()).resize((640, 360)))] * 2
    out = list(iter_colorize(tiny_model, frames, [Exemplar(astro)], ColorizeOptions(max_side=128)))
    assert out[0].rgb.shape == (360, 640, 3) and out[0].ab.shape == (2, 360, 640)
    # the chroma is the 128x72 prediction upsampled bilinearly (a nearest-neighbour or misaligned
    # upsampling differs by far more than 1e-5)
    ref = _session_reference(tiny_model, frames, astro, (128, 72))
    for o, r in zip(out, ref, strict=True):
        np.testing.assert_allclose(o.ab, r, rtol=0, atol=1e-5)
    # smooth at full size: no 5x5 blocks of equal chroma as nearest-neighbour would give
    dx = np.abs(np.diff(out[1].ab, axis=2))
    assert dx.max() < 0.2 and (dx < 1e-7).mean() < 0.2
    # the output is the full-size frame's own lightness with the reference chroma (not the engine's ab)
    assert np.abs(out[1].rgb - _composed(frames[1], ref[1])).max() <= 1


def test_colour_input_is_reduced_to_lightness(tiny_model, astro, coffee, caplog):
    frames = [coffee[:100, :150]] * 2
    with caplog.at_level(logging.WARNING):
        out = list(colorize_frames(tiny_model, frames, [Exemplar(astro)]))
    assert "only their lightness" in caplog.text and out[0].shape == (100, 150, 3)


def test_no_exemplar_and_mixed_sizes(tiny_model, astro):
    with pytest.raises(InputError):
        list(colorize_frames(tiny_model, _gray_frames(2, 32, 32), []))
    frames = [np.zeros((32, 32), np.uint8), np.zeros((32, 40), np.uint8)]
    with pytest.raises(InputError, match="frame 1 is 40x32"):
        list(colorize_frames(tiny_model, frames, [Exemplar(astro)]))


def test_parse_exemplar(tmp_path, astro):
    p = tmp_path / "ref.png"
    Image.fromarray(astro).save(p)
    assert parse_exemplar(f"{p}@12").frame == 12
    assert parse_exemplar(p).frame is None
    odd = tmp_path / "shot@3"
    Image.fromarray(astro).save(odd, format="PNG")
    assert parse_exemplar(odd).frame is None  # an existing file name wins over the @N reading


def test_video_roundtrip_synthetic(tiny_model, tmp_path, astro):
    src = make_gray_clip(tmp_path / "in.mp4", n=12, w=48, h=32, fps=24)
    ref = tmp_path / "ref.png"
    Image.fromarray(astro).save(ref)
    out = colorize_video(src, [f"{ref}@0"], tmp_path / "out.mp4", model=tiny_model, device="cpu", progress=False)
    info_in, info_out = probe(src), probe(out)
    assert (info_out.num_frames, info_out.fps, info_out.width, info_out.height) == (12, info_in.fps, 48, 32)
    assert not list(tmp_path.glob(".*partial*"))


@needs_bunny
def test_real_clip_keeps_timing_and_audio(tiny_model, tmp_path, astro):
    ref = tmp_path / "ref.png"
    Image.fromarray(astro).save(ref)
    out = colorize_video(BUNNY, [str(ref)], tmp_path / "bunny.mp4", model=tiny_model, device="cpu",
                         max_side=112, max_frames=20, progress=False)
    src, got = probe(BUNNY), probe(out)
    assert (got.width, got.height, got.fps, got.time_base) == (src.width, src.height, src.fps, src.time_base)
    assert got.num_frames == 20
    assert got.has_audio and got.audio_codec == src.audio_codec
    assert got.duration == pytest.approx(20 / 25, abs=0.1)


def test_folder_to_folder_keeps_names(tiny_model, tmp_path, astro):
    src = tmp_path / "frames"
    src.mkdir()
    for i, f in enumerate(_gray_frames(3, 40, 30)):
        Image.fromarray(f).save(src / f"f{i * 5}.png")
    ref = tmp_path / "ref.jpg"
    Image.fromarray(astro).save(ref)
    out = colorize_video(src, [str(ref)], model=tiny_model, device="cpu", progress=False)
    assert out == default_output(src) == tmp_path / "frames_colorized"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["f0.png", "f10.png", "f5.png"]
    assert np.asarray(Image.open(out / "f5.png")).shape == (30, 40, 3)


def test_free_reference_mode_session_matches_engine(tiny_model, astro):
    """The engine's free-reference path is exactly session.add_reference + step."""
    from colormnet.inference.session import ColorizationSession

    frames = _gray_frames(3, 56, 56)
    engine = [r.ab for r in iter_colorize(tiny_model, frames, [Exemplar(astro)], ColorizeOptions(MemoryConfig()))]
    session = ColorizationSession(tiny_model)
    lab = torch.from_numpy(rgb_to_lab_norm(resize_exemplar(astro, (56, 56))))
    session.add_reference(lab[0], lab[1:])
    for t, f in enumerate(frames):
        ab = session.step(torch.from_numpy(rgb_to_lab_norm(np.repeat(f[:, :, None], 3, 2))[0]), is_last=t == 2)
        np.testing.assert_array_equal(ab.numpy(), engine[t])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", [torch.float16, torch.bfloat16])
def test_autocast_on_gpu_close_to_fp32(tiny_model, astro, precision):
    import copy

    model = copy.deepcopy(tiny_model).cuda()
    frames = _gray_frames(6, 120, 90)
    ref = [r.ab for r in iter_colorize(model, frames, [Exemplar(astro, 0)], ColorizeOptions())]
    low = [r.ab for r in iter_colorize(model, frames, [Exemplar(astro, 0)], ColorizeOptions(autocast_dtype=precision))]
    for a, b in zip(ref, low, strict=True):
        assert np.isfinite(b).all() and np.abs(a - b).mean() < 2e-2


def test_engine_validates_exemplars_and_calls_hooks(tiny_model, astro, coffee):
    frames = _gray_frames(3, 64, 48)
    with pytest.raises(InputError, match="both for frame 1"):
        list(iter_colorize(tiny_model, frames, [Exemplar(astro, 1, "a.png"), Exemplar(coffee, 1, "c.png")]))
    with pytest.raises(InputError, match="no exemplar"):
        list(iter_colorize(tiny_model, frames, []))
    seen = []
    results = list(iter_colorize(tiny_model, frames, [Exemplar(astro, None, "a.png")],
                                 on_frame=lambda t, r: seen.append((t, r.seconds, r.cpu_seconds))))
    assert [t for t, _, _ in seen] == [0, 1, 2]
    assert all(s > 0 and c > 0 for _, s, c in seen)
    assert [r.seconds for r in results] == [s for _, s, _ in seen]
