"""Tests of the training dataset (colormnet.train.dataset) and its augmentations (colormnet.train.augment)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata
from torch.utils.data import DataLoader

from colormnet.color import rgb_to_lab_norm
from colormnet.errors import InputError
from colormnet.train import augment
from colormnet.train.dataset import (
    VideoDatasetConfig,
    VideoFrameDataset,
    max_jump_for,
    pick_frame_indices,
    sample_generator,
    usable_clips,
)

SMALL = VideoDatasetConfig(crop_size=64)
# Only the clip-level augmentation stays random.
CLIP_ONLY = VideoDatasetConfig(crop_size=64, frame_jitter=(0.0, 0.0, 0.0), finetune=True)


def _write_clip(folder: Path, frames: list[np.ndarray], ext: str = "png") -> None:
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i:05d}.{ext}")


def _moving(image: np.ndarray, count: int, top: int, left: int) -> list[np.ndarray]:
    """``count`` 96x128 windows of ``image``, shifted 4 px right and 2 px down per frame."""
    return [image[top + 2 * i:top + 2 * i + 96, left + 4 * i:left + 4 * i + 128].copy() for i in range(count)]


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    _write_clip(root / "astronaut", _moving(skdata.astronaut(), 10, 100, 150))
    _write_clip(root / "coffee", _moving(skdata.coffee(), 10, 150, 200), ext="jpg")
    _write_clip(root / "short", _moving(skdata.astronaut(), 5, 0, 0))
    (root / "notes.txt").write_text("not a clip")
    return root


@pytest.fixture(scope="module")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clip of 10 identical 96x128 frames."""
    root = tmp_path_factory.mktemp("static")
    _write_clip(root / "still", [skdata.astronaut()[100:196, 150:278].copy()] * 10)
    return root


@pytest.fixture(scope="module")
def square_frame() -> np.ndarray:
    return skdata.coffee()[100:164, 200:264].copy()


@pytest.fixture(scope="module")
def square_root(tmp_path_factory: pytest.TempPathFactory, square_frame: np.ndarray) -> Path:
    root = tmp_path_factory.mktemp("square")
    _write_clip(root / "still", [square_frame] * 8)
    return root


# ------------------------------------------------------------------ dataset: contents and errors


def test_sample_shapes_dtypes_and_ranges(video_root: Path) -> None:
    ds = VideoFrameDataset(video_root, SMALL)
    assert len(ds) == 2
    assert [name for name, _ in ds.clips] == ["astronaut", "coffee"]
    for index in range(len(ds)):
        s = ds[index]
        l, ab = s["l"], s["ab"]
        assert l.shape == (8, 3, 64, 64) and l.dtype == torch.float32
        assert ab.shape == (8, 2, 64, 64) and ab.dtype == torch.float32
        assert torch.equal(l[:, 0], l[:, 1]) and torch.equal(l[:, 0], l[:, 2])
        assert l.min() >= -1.0 and l.max() <= 1.0 and l.std() > 0.05
        assert ab.abs().max() <= 1.0 and ab.abs().mean() > 0.02  # real colour, not grey
        assert s["clip"] == ds.clips[index][0]
        frames = s["frames"]
        assert isinstance(frames, list) and len(frames) == 8 and len(set(frames)) == 8
        assert all(isinstance(f, int) and 0 <= f < 10 for f in frames)


def test_lab_matches_color_module(square_root: Path, square_frame: np.ndarray) -> None:
    cfg = VideoDatasetConfig(crop_size=64, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_p=0.0,
                             clip_jitter=(0.0, 0.0, 0.0), frame_jitter=(0.0, 0.0, 0.0), finetune=True)
    s = VideoFrameDataset(square_root, cfg)[0]
    lab = torch.from_numpy(rgb_to_lab_norm(square_frame))
    for t in range(8):
        assert torch.equal(s["l"][t], lab[:1].repeat(3, 1, 1))
        assert torch.equal(s["ab"][t], lab[1:])


def test_short_clips_skipped_and_logged(video_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="colormnet.train.dataset"):
        ds = VideoFrameDataset(video_root, SMALL)
    assert ds.skipped == 1
    assert "short" not in [name for name, _ in ds.clips]
    messages = [r.getMessage() for r in caplog.records]
    assert any("skipped 1 clip" in m and str(video_root) in m for m in messages)
    # With 5-frame samples the short clip is usable and nothing is skipped.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="colormnet.train.dataset"):
        ds5 = VideoFrameDataset(video_root, VideoDatasetConfig(num_frames=5, crop_size=64))
    assert len(ds5) == 3 and ds5.skipped == 0
    assert not [r for r in caplog.records if "skipped" in r.getMessage()]


def test_empty_or_unusable_root_raises(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(InputError, match="missing"):
        VideoFrameDataset(missing, SMALL)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="empty"):
        VideoFrameDataset(empty, SMALL)
    only_short = tmp_path / "only_short"
    _write_clip(only_short / "a", _moving(skdata.astronaut(), 7, 0, 0))
    with pytest.raises(InputError, match="only_short"):
        VideoFrameDataset(only_short, SMALL)


def test_unreadable_frame_raises_input_error(tmp_path: Path) -> None:
    _write_clip(tmp_path / "root" / "clip", _moving(skdata.astronaut(), 8, 0, 0))
    bad = tmp_path / "root" / "clip" / "00003.png"
    bad.write_bytes(b"not an image")
    ds = VideoFrameDataset(tmp_path / "root", VideoDatasetConfig(crop_size=32, max_jump=1))
    with pytest.raises(InputError, match="00003.png"):
        ds[0]


def test_frames_sorted_naturally(tmp_path: Path) -> None:
    clip = tmp_path / "clip"
    clip.mkdir()
    for i in (1, 2, 10, 9):
        Image.new("RGB", (8, 8)).save(clip / f"f{i}.JPG")
    (clip / "readme.md").write_text("x")
    clips, skipped = usable_clips(tmp_path, 4)
    assert skipped == 0
    assert [Path(p).name for p in clips[0][1]] == ["f1.JPG", "f2.JPG", "f9.JPG", "f10.JPG"]


# ------------------------------------------------------------------ augmentation consistency


def test_clip_level_augmentation_identical_across_frames(static_root: Path) -> None:
    ds = VideoFrameDataset(static_root, CLIP_ONLY)
    outputs = []
    for epoch in range(4):
        s = ds.sample(0, epoch=epoch)
        for t in range(1, 8):
            assert torch.equal(s["l"][t], s["l"][0]) and torch.equal(s["ab"][t], s["ab"][0])
        outputs.append(s["ab"][0])
    # ... while the clip-level augmentation does change between samples.
    assert not any(torch.equal(outputs[0], other) for other in outputs[1:])


def test_per_frame_augmentation_differs_across_frames(static_root: Path) -> None:
    warped = VideoFrameDataset(static_root, VideoDatasetConfig(crop_size=64, frame_jitter=(0.0, 0.0, 0.0)))[0]
    assert all((warped["l"][t] - warped["l"][0]).abs().mean() > 0.05 for t in range(1, 8))
    # The 1 % jitter is small: some frames may even round to the same uint8 image.
    jittered = VideoFrameDataset(static_root, VideoDatasetConfig(crop_size=64, finetune=True))[0]
    distinct = {jittered["l"][t].numpy().tobytes() for t in range(8)}
    assert len(distinct) >= 5
    assert (jittered["l"][1:] - jittered["l"][0]).abs().mean() < 0.02


@pytest.mark.parametrize("hflip_p", [0.0, 1.0])
def test_flip_forced(square_root: Path, square_frame: np.ndarray, hflip_p: float) -> None:
    cfg = VideoDatasetConfig(crop_size=64, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_p=hflip_p,
                             clip_jitter=(0.0, 0.0, 0.0), frame_jitter=(0.0, 0.0, 0.0), finetune=True)
    ds = VideoFrameDataset(square_root, cfg)
    expected_rgb = square_frame[:, ::-1].copy() if hflip_p else square_frame
    lab = torch.from_numpy(rgb_to_lab_norm(expected_rgb))
    for epoch in range(3):
        s = ds.sample(0, epoch=epoch)
        assert torch.equal(s["l"][:, 0], lab[0].expand(8, -1, -1))
        assert torch.equal(s["ab"], lab[1:].expand(8, -1, -1, -1))


# ------------------------------------------------------------------ randomness


def test_reproducible_from_seed_and_index(video_root: Path) -> None:
    a = VideoFrameDataset(video_root, SMALL)
    b = VideoFrameDataset(video_root, SMALL)
    for index in range(2):
        sa, sb = a[index], b[index]
        assert torch.equal(sa["l"], sb["l"]) and torch.equal(sa["ab"], sb["ab"])
        assert sa["frames"] == sb["frames"]
    assert not torch.equal(a[0]["ab"], a[1]["ab"])
    # A different epoch or base seed gives a different sample of the same clip.
    assert not torch.equal(a.sample(0, epoch=1)["ab"], a[0]["ab"])
    assert torch.equal(a.sample(0, epoch=1)["ab"], b.sample(0, epoch=1)["ab"])
    other_seed = VideoFrameDataset(video_root, VideoDatasetConfig(crop_size=64, seed=1))
    assert not torch.equal(other_seed[0]["ab"], b[0]["ab"])


def test_different_index_differs_on_identical_clips(tmp_path: Path) -> None:
    frames = [skdata.astronaut()[100:196, 150:278].copy()] * 8
    _write_clip(tmp_path / "a", frames)
    _write_clip(tmp_path / "b", frames)
    ds = VideoFrameDataset(tmp_path, VideoDatasetConfig(crop_size=64))
    assert not torch.equal(ds[0]["ab"], ds[1]["ab"])
    assert torch.equal(ds[1]["ab"], ds[1]["ab"])


def test_sample_generator_streams() -> None:
    draw = sample_generator(5, 0, 3).random(4)
    assert np.array_equal(draw, sample_generator(5, 0, 3).random(4))
    for args in ((5, 0, 4), (5, 1, 3), (6, 0, 3)):
        assert not np.array_equal(draw, sample_generator(*args).random(4))


# ------------------------------------------------------------------ temporal sampling


@pytest.mark.parametrize(("available", "max_jump"), [(8, 1), (10, 1), (30, 2), (30, 5), (100, 15), (12, 40)])
def test_pick_frame_indices_respects_jump(available: int, max_jump: int) -> None:
    seen_reversed = seen_forward = False
    largest_gap = 0
    for trial in range(200):
        frames = pick_frame_indices(np.random.default_rng(trial), available, 8, max_jump)
        assert len(frames) == 8 and len(set(frames)) == 8
        assert all(0 <= f < available for f in frames)
        ordered = sorted(frames)
        if frames == ordered:
            seen_forward = True
        else:
            assert frames == ordered[::-1]
            seen_reversed = True
        gaps = np.diff(ordered)
        assert gaps.max() <= max_jump
        largest_gap = max(largest_gap, int(gaps.max()))
    assert seen_forward and seen_reversed
    assert largest_gap == min(max_jump, available - 7)  # the bound is reached, not just respected


def test_pick_frame_indices_reverse_probability_and_errors() -> None:
    rng = np.random.default_rng(0)
    never = [pick_frame_indices(np.random.default_rng(i), 20, 8, 3, reverse_p=0.0) for i in range(20)]
    always = [pick_frame_indices(np.random.default_rng(i), 20, 8, 3, reverse_p=1.0) for i in range(20)]
    assert all(f == sorted(f) for f in never) and all(f == sorted(f, reverse=True) for f in always)
    with pytest.raises(ValueError):
        pick_frame_indices(rng, 7, 8, 5)
    with pytest.raises(ValueError):
        pick_frame_indices(rng, 10, 8, 0)


def test_dataset_max_jump(video_root: Path) -> None:
    ds = VideoFrameDataset(video_root, SMALL)
    assert ds.max_jump == 5
    ds.set_max_jump(1)
    for epoch in range(10):
        frames = sorted(ds.sample(0, epoch=epoch)["frames"])
        assert frames == list(range(frames[0], frames[0] + 8))
    ds.set_max_jump(max_jump_for(0.5))
    assert ds.max_jump == 15
    with pytest.raises(ValueError):
        ds.set_max_jump(0)


def test_max_jump_schedule() -> None:
    expected = {0.0: 5, 0.05: 5, 0.0999: 5, 0.1: 10, 0.29: 10, 0.3: 15, 0.5: 15, 0.899: 15,
                0.9: 5, 1.0: 5, 1.5: 5}
    for progress, jump in expected.items():
        assert max_jump_for(progress) == jump, progress
    assert max_jump_for(0.6, ((0.0, 2), (0.5, 7))) == 7
    with pytest.raises(ValueError):
        max_jump_for(-0.1)
    with pytest.raises(ValueError):
        max_jump_for(float("nan"))


def test_config_validation() -> None:
    cfg = VideoDatasetConfig()
    assert (cfg.num_frames, cfg.crop_size, cfg.crop_scale, cfg.max_jump) == (8, 448, (0.36, 1.0), 5)
    assert cfg.clip_jitter == (0.1, 0.03, 0.03) and cfg.frame_jitter == (0.01, 0.01, 0.01)
    assert (cfg.affine_degrees, cfg.affine_shear, cfg.affine_fill) == (15.0, 10.0, (124, 116, 104))
    for bad in ({"crop_scale": (0.5, 0.2)}, {"num_frames": 0}, {"hflip_p": 1.5}, {"max_jump": 0},
                {"frame_jitter": (0.1, -0.1, 0.0)}, {"crop_ratio": (0.0, 1.0)}):
        with pytest.raises(ValueError):
            VideoDatasetConfig(**bad)
    with pytest.raises(AttributeError):
        cfg.crop_size = 10  # type: ignore[misc]


# ------------------------------------------------------------------ DataLoader


def test_dataloader_spawn_workers_match_single_process(video_root: Path) -> None:
    ds = VideoFrameDataset(video_root, SMALL)
    order = [0, 1, 1, 0, 1, 0]

    def collect(**kwargs: object) -> list[dict[str, object]]:
        return list(DataLoader(ds, batch_size=2, sampler=order, **kwargs))

    single = collect(num_workers=0)
    spawned = collect(num_workers=2, multiprocessing_context="spawn")
    assert len(single) == len(spawned) == 3
    for a, b in zip(single, spawned, strict=True):
        assert a["l"].shape == (2, 8, 3, 64, 64)
        assert torch.equal(a["l"], b["l"]) and torch.equal(a["ab"], b["ab"])
        assert a["clip"] == b["clip"]
        assert [t.tolist() for t in a["frames"]] == [t.tolist() for t in b["frames"]]
    # The same index drawn twice within an epoch gives the same sample (the sampler's job is to vary it).
    assert torch.equal(single[0]["ab"][1], single[1]["ab"][0])


# ------------------------------------------------------------------ augment.py


def test_affine_fill_identity_and_direction() -> None:
    black = Image.new("RGB", (64, 64))
    out = np.asarray(augment.apply_affine(black, 45.0, 0.0, (124, 116, 104)))
    assert out[0, 0].tolist() == [124, 116, 104] and out[32, 32].tolist() == [0, 0, 0]
    img = Image.fromarray(skdata.astronaut()[:64, :80])
    assert np.array_equal(np.asarray(augment.apply_affine(img, 0.0, 0.0, (1, 2, 3))), np.asarray(img))
    dot = np.zeros((21, 21, 3), np.uint8)
    dot[10, 15] = 255  # right of the centre
    rotated = np.asarray(augment.apply_affine(Image.fromarray(dot), 90.0, 0.0, (0, 0, 0)))
    assert np.argwhere(rotated[..., 0] > 128).tolist() == [[5, 10]]  # counter-clockwise: now above
    sheared = np.asarray(augment.apply_affine(Image.fromarray(np.roll(dot, 4, axis=0)), 0.0, 45.0, (0, 0, 0)))
    assert np.argwhere(sheared[..., 0] > 128).tolist() == [[14, 19]]  # 4 px below -> 4 px right


def test_jitter_factors_and_application() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = augment.sample_jitter(rng, (0.1, 0.03, 0.0))
        assert 0.9 <= p.factors[0] <= 1.1 and 0.97 <= p.factors[1] <= 1.03 and p.factors[2] == 1.0
        assert sorted(p.order) == [0, 1, 2]
    grey = Image.new("RGB", (8, 8), (100, 100, 100))
    brighter = augment.apply_jitter(grey, augment.JitterParams((1.1, 1.0, 1.0), (0, 1, 2)))
    assert np.asarray(brighter)[0, 0].tolist() == [110, 110, 110]
    colour = Image.fromarray(skdata.coffee()[:32, :32])
    desaturated = np.asarray(augment.apply_jitter(colour, augment.JitterParams((1.0, 1.0, 0.0), (2, 0, 1))))
    assert np.abs(desaturated[..., 0].astype(int) - desaturated[..., 2]).max() <= 1
    same = augment.apply_jitter(colour, augment.JitterParams((1.0, 1.0, 1.0), (0, 1, 2)))
    assert np.array_equal(np.asarray(same), np.asarray(colour))


def test_crop_box_bounds_and_fallback() -> None:
    rng = np.random.default_rng(1)
    areas, ratios = [], []
    for _ in range(300):
        left, top, w, h = augment.sample_crop_box(rng, 128, 96, (0.36, 1.0), (3 / 4, 4 / 3))
        assert left >= 0 and left + w <= 128 and top >= 0 and top + h <= 96
        areas.append(w * h / (128 * 96))
        ratios.append(w / h)
    assert 0.33 < min(areas) < 0.45 and max(areas) <= 1.0
    assert min(ratios) > 0.7 and max(ratios) < 1.4
    # Impossible boxes (a 1:1 box of 90 % of a 200x10 strip) -> centred fallback clamped to the ratio.
    assert augment.sample_crop_box(rng, 200, 10, (0.9, 1.0), (1.0, 1.0)) == (95, 0, 10, 10)
    crop = augment.resized_crop(Image.new("RGB", (128, 96)), (10, 5, 60, 40), 32)
    assert crop.size == (32, 32)
