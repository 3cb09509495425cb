"""Training dataset: 8-frame samples from folders of colour frames (DAVIS / Videvo layout).

Layout: ``<root>/<clip>/<frame>.jpg|png|...``, listed by :func:`colormnet.io.frames.scan_clips` (the
image extensions and natural order of inference; other files are skipped) and read by
:func:`colormnet.io.images.load_frame_rgb`. Clips with fewer than ``num_frames`` frames are skipped
(their count is logged); hidden folders and loose files in ``root`` are ignored.

One sample (SPEC section 5), for clip ``index``:

1. ``num_frames`` distinct frames picked with :func:`pick_frame_indices` under the current maximum
   temporal jump, sorted, reversed with probability ``reverse_p``;
2. clip-level augmentation, identical for all frames: horizontal flip, random resized crop to
   ``crop_size`` (bilinear), colour jitter (0.1, 0.03, 0.03);
3. per-frame augmentation: random affine (rotation, x-shear; off when ``finetune``) then colour
   jitter (0.01, 0.01, 0.01);
4. normalised Lab (:func:`colormnet.color.rgb_to_lab_norm`) of the augmented RGB: the input is
   L' repeated to 3 channels, the target is a'b'.

Randomness: each sample uses its own ``numpy.random.Generator`` from
:func:`sample_generator` ``(seed, epoch, index)`` and nothing else, so a sample is a pure function of
(config, epoch, max_jump, index): reproducible, independent of which DataLoader worker builds it,
and safe with the ``spawn`` start method (no global RNG state is read or shared).

``len(dataset)`` is the number of usable clips; the trainer samples indices with replacement over
iterations. Mutable state (``set_max_jump``) lives in the Dataset
object, which DataLoader copies into its workers when an iterator is created: change it before
creating the iterator (``persistent_workers=False``), or call :meth:`VideoFrameDataset.sample`
directly with explicit arguments.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from colormnet.color import rgb_to_lab_norm
from colormnet.errors import InputError
from colormnet.io.frames import IMAGE_EXTENSIONS, scan_clips
from colormnet.io.images import load_frame_rgb
from colormnet.train import augment

logger = logging.getLogger(__name__)

DEFAULT_MAX_JUMP_SCHEDULE: tuple[tuple[float, int], ...] = ((0.0, 5), (0.1, 10), (0.3, 15), (0.9, 5))
"""(progress fraction from which it applies, max jump): the authors' schedule over the iterations."""


def max_jump_for(progress: float, schedule: Sequence[tuple[float, int]] = DEFAULT_MAX_JUMP_SCHEDULE) -> int:
    """Maximum temporal jump at ``progress`` = iteration / total iterations (>= 0).

    Default schedule: 5 before 10 %, 10 from 10 %, 15 from 30 %, 5 from 90 % (boundaries inclusive).
    Progress beyond 1 keeps the last value.
    """
    if not math.isfinite(progress) or progress < 0:
        raise ValueError(f"progress must be a finite fraction >= 0, got {progress}")
    jump = None
    for start, value in schedule:
        if progress >= start:
            jump = value
    if jump is None:
        raise ValueError(f"schedule {tuple(schedule)} does not cover progress {progress}")
    return int(jump)


@dataclass(frozen=True)
class VideoDatasetConfig:
    """Sampling and augmentation settings. Defaults = the authors' DAVIS+Videvo stage (SPEC section 5).

    Attributes:
        num_frames: frames per sample (clips with fewer are skipped).
        crop_size: side of the square output crop, in pixels.
        crop_scale: range of the crop area as a fraction of the frame area.
        crop_ratio: range of the crop aspect ratio (width / height), sampled log-uniformly.
        max_jump: initial maximum gap between neighbouring picked frames (see ``max_jump_schedule``).
        max_jump_schedule: (progress fraction, max jump) steps the trainer applies (:func:`max_jump_for`).
        reverse_p: probability of reversing the temporal order of a sample.
        hflip_p: probability of the clip-level horizontal flip.
        clip_jitter: clip-level (brightness, contrast, saturation) jitter magnitudes.
        frame_jitter: per-frame (brightness, contrast, saturation) jitter magnitudes.
        affine_degrees: per-frame rotation range +- degrees.
        affine_shear: per-frame x-shear range +- degrees.
        affine_fill: RGB value of the area uncovered by the affine warp (ImageNet mean x 255).
        finetune: fine-tune phase: the per-frame affine is switched off.
        seed: base seed of the per-sample generators.
    """

    num_frames: int = 8
    crop_size: int = 448
    crop_scale: tuple[float, float] = (0.36, 1.0)
    crop_ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    max_jump: int = 5
    max_jump_schedule: tuple[tuple[float, int], ...] = DEFAULT_MAX_JUMP_SCHEDULE
    reverse_p: float = 0.5
    hflip_p: float = 0.5
    clip_jitter: tuple[float, float, float] = (0.1, 0.03, 0.03)
    frame_jitter: tuple[float, float, float] = (0.01, 0.01, 0.01)
    affine_degrees: float = 15.0
    affine_shear: float = 10.0
    affine_fill: tuple[int, int, int] = (124, 116, 104)
    finetune: bool = False
    seed: int = 14159265

    def __post_init__(self) -> None:
        problems = []
        if self.num_frames < 1:
            problems.append(f"num_frames={self.num_frames} (need >= 1)")
        if self.crop_size < 1:
            problems.append(f"crop_size={self.crop_size} (need >= 1)")
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            problems.append(f"crop_scale={self.crop_scale} (need 0 < lo <= hi <= 1)")
        if not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            problems.append(f"crop_ratio={self.crop_ratio} (need 0 < lo <= hi)")
        if self.max_jump < 1:
            problems.append(f"max_jump={self.max_jump} (need >= 1)")
        for name in ("reverse_p", "hflip_p"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name}={getattr(self, name)} (need a probability)")
        for name in ("clip_jitter", "frame_jitter"):
            if len(getattr(self, name)) != 3 or min(getattr(self, name)) < 0:
                problems.append(f"{name}={getattr(self, name)} (need three magnitudes >= 0)")
        if self.affine_degrees < 0 or not 0 <= self.affine_shear < 90:
            problems.append(f"affine_degrees={self.affine_degrees}, affine_shear={self.affine_shear}")
        if self.seed < 0:
            problems.append(f"seed={self.seed} (need >= 0)")
        if problems:
            raise ValueError("invalid VideoDatasetConfig: " + "; ".join(problems))


def sample_generator(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample: PCG64 seeded by ``SeedSequence([seed, epoch, index])``.

    All three must be >= 0. ``epoch`` may be any counter the trainer advances (epoch, or the
    iteration at which the loader was built) so that a clip is augmented differently each time.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index]))


def pick_frame_indices(
    rng: np.random.Generator, num_available: int, num_frames: int, max_jump: int, reverse_p: float = 0.5
) -> list[int]:
    """Pick ``num_frames`` distinct frame positions in ``range(num_available)``.

    The first position is uniform; each further one is uniform among the not-yet-picked positions
    within ``max_jump`` of any picked one. The result is sorted (so neighbouring gaps are at most
    ``max_jump``) and then reversed with probability ``reverse_p``.
    """
    if num_frames > num_available:
        raise ValueError(f"cannot pick {num_frames} frames out of {num_available}")
    if max_jump < 1:
        raise ValueError(f"max_jump must be >= 1, got {max_jump}")
    picked = np.zeros(num_available, dtype=bool)
    reachable = np.zeros(num_available, dtype=bool)
    position = int(rng.integers(num_available))
    for count in range(1, num_frames + 1):
        picked[position] = True
        if count == num_frames:
            break
        reachable[max(0, position - max_jump):position + max_jump + 1] = True
        candidates = np.flatnonzero(reachable & ~picked)  # never empty: the picked set is connected
        position = int(candidates[rng.integers(candidates.size)])
    order = [int(i) for i in np.flatnonzero(picked)]
    if rng.random() < reverse_p:
        order.reverse()
    return order


def usable_clips(root: Path, min_frames: int) -> tuple[list[tuple[str, tuple[str, ...]]], int]:
    """``(clip name, frame paths)`` of the clips under ``root`` with at least ``min_frames`` frames
    (:func:`colormnet.io.frames.scan_clips`, other files skipped), and how many were too short."""
    clips = scan_clips(root, strict=False, what="training data root")
    usable = [(name, tuple(str(p) for p in frames)) for name, frames in clips.items() if len(frames) >= min_frames]
    folders = sum(1 for d in Path(root).iterdir() if d.is_dir() and not d.name.startswith("."))
    return usable, folders - len(usable)


def _load_rgb(path: str) -> Image.Image:
    return Image.fromarray(load_frame_rgb(path))


class VideoFrameDataset(Dataset):
    """Samples of ``num_frames`` augmented frames from one clip each (see the module docstring).

    ``dataset[i]`` -> dict:
        ``"l"``: float32 (T, 3, S, S), L' in [-1, 1] repeated 3x (the encoders' input);
        ``"ab"``: float32 (T, 2, S, S), a' b' (= a/110, b/110, within about [-1, 1]; the target);
        ``"clip"``: str, clip folder name;
        ``"frames"``: list[int], positions of the picked frames in the clip's sorted frame list,
        in sample order.
    with T = ``config.num_frames`` and S = ``config.crop_size``.
    """

    def __init__(self, root: str | Path, config: VideoDatasetConfig | None = None) -> None:
        self.root = Path(root)
        self.config = config if config is not None else VideoDatasetConfig()
        self.clips, self.skipped = usable_clips(self.root, self.config.num_frames)
        if self.skipped:
            logger.warning("%s: skipped %d clip(s) with fewer than %d frames",
                           self.root, self.skipped, self.config.num_frames)
        if not self.clips:
            raise InputError(
                f"training data root {self.root} has no clip folder with at least {self.config.num_frames} "
                f"frames ({', '.join(sorted(IMAGE_EXTENSIONS))}); expected <root>/<clip>/<frame>.jpg"
            )
        logger.info("%s: %d usable clip(s)", self.root, len(self.clips))
        self.max_jump = self.config.max_jump

    def __len__(self) -> int:
        """Number of usable clips."""
        return len(self.clips)

    def set_max_jump(self, max_jump: int) -> None:
        """Set the maximum temporal jump used by later samples (>= 1)."""
        if max_jump < 1:
            raise ValueError(f"max_jump must be >= 1, got {max_jump}")
        self.max_jump = int(max_jump)

    def __getitem__(self, index: int) -> dict[str, object]:
        return self.sample(index)

    def sample(
        self, index: int, *, epoch: int = 0, max_jump: int | None = None
    ) -> dict[str, object]:
        """Build the sample of clip ``index`` in data epoch ``epoch``; ``max_jump`` defaults to the stored one."""
        if not 0 <= index < len(self.clips):
            raise IndexError(f"clip index {index} out of range for {len(self.clips)} clips")
        cfg = self.config
        rng = sample_generator(cfg.seed, epoch, index)
        name, paths = self.clips[index]
        positions = pick_frame_indices(rng, len(paths), cfg.num_frames,
                                       self.max_jump if max_jump is None else max_jump, cfg.reverse_p)

        first = _load_rgb(paths[positions[0]])
        width, height = first.size
        flip = augment.sample_flip(rng, cfg.hflip_p)
        box = augment.sample_crop_box(rng, width, height, cfg.crop_scale, cfg.crop_ratio)
        clip_jitter = augment.sample_jitter(rng, cfg.clip_jitter)

        l_frames, ab_frames = [], []
        for k, position in enumerate(positions):
            img = first if k == 0 else _load_rgb(paths[position])
            if img.size != (width, height):
                logger.debug("%s: resizing %s from %s to %s", name, paths[position], img.size, first.size)
                img = img.resize((width, height), Image.Resampling.BILINEAR)
            if flip:
                img = augment.hflip(img)
            img = augment.resized_crop(img, box, cfg.crop_size)
            img = augment.apply_jitter(img, clip_jitter)
            angle, shear = augment.sample_affine(rng, cfg.affine_degrees, cfg.affine_shear)
            frame_jitter = augment.sample_jitter(rng, cfg.frame_jitter)
            if not cfg.finetune:
                img = augment.apply_affine(img, angle, shear, cfg.affine_fill)
            img = augment.apply_jitter(img, frame_jitter)
            lab = rgb_to_lab_norm(np.asarray(img, dtype=np.uint8))
            l_frames.append(np.repeat(lab[:1], 3, axis=0))
            ab_frames.append(lab[1:])
        return {
            "l": torch.from_numpy(np.stack(l_frames)),
            "ab": torch.from_numpy(np.stack(ab_frames)),
            "clip": name,
            "frames": positions,
        }
