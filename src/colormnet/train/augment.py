"""Image augmentations for training, written on PIL with explicit random generators.

Every ``sample_*`` function takes a :class:`numpy.random.Generator` and returns plain parameters;
every ``apply_*`` function is deterministic given those parameters. Drawing the parameters once and
applying them to several frames gives clip-consistent augmentation; drawing them per frame gives
per-frame augmentation. Images are ``PIL.Image.Image`` in mode ``"RGB"`` (uint8).

Semantics (SPEC section 5; the same maths as the usual torchvision transforms, re-implemented here):

- colour jitter: brightness, contrast and saturation factors each uniform in
  ``[max(0, 1 - m), 1 + m]`` for magnitude ``m``, applied in a random order with
  ``PIL.ImageEnhance`` (brightness blends with black, contrast with the mean grey level,
  saturation with the greyscale image); a factor of exactly 1 is skipped.
- horizontal flip with probability ``p``.
- random resized crop: a box covering a fraction of the area uniform in ``scale`` and with an
  aspect ratio (w / h) log-uniform in ``ratio`` (10 tries, then a centre crop with the ratio
  clamped into ``ratio``), resized bilinearly to ``size x size``.
- random affine: rotation uniform in ``[-degrees, degrees]`` (positive = counter-clockwise) and
  x-shear uniform in ``[-shear, shear]`` degrees about the image centre, bilinear, the uncovered
  area filled with ``fill``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance

_ENHANCERS = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)


@dataclass(frozen=True)
class JitterParams:
    """Drawn colour-jitter parameters.

    Attributes:
        factors: (brightness, contrast, saturation) enhancement factors; 1.0 = unchanged.
        order: permutation of (0, 1, 2): the order in which the three factors are applied.
    """

    factors: tuple[float, float, float]
    order: tuple[int, int, int]


def sample_jitter(rng: np.random.Generator, magnitudes: Sequence[float]) -> JitterParams:
    """Draw (brightness, contrast, saturation) factors for the magnitudes ``(mb, mc, ms)`` (each >= 0).

    Always consumes the same number of random values, whatever the magnitudes.
    """
    if len(magnitudes) != 3 or any(m < 0 for m in magnitudes):
        raise ValueError(f"jitter magnitudes must be three values >= 0, got {tuple(magnitudes)}")
    factors = tuple(float(rng.uniform(max(0.0, 1.0 - m), 1.0 + m)) for m in magnitudes)
    order = tuple(int(i) for i in rng.permutation(3))
    return JitterParams(factors=factors, order=order)  # type: ignore[arg-type]


def apply_jitter(img: Image.Image, params: JitterParams) -> Image.Image:
    """Apply brightness/contrast/saturation factors in ``params.order``; factors equal to 1 are skipped."""
    for i in params.order:
        factor = params.factors[i]
        if factor != 1.0:
            img = _ENHANCERS[i](img).enhance(factor)
    return img


def sample_flip(rng: np.random.Generator, p: float) -> bool:
    """True with probability ``p`` (one uniform draw, also when p is 0 or 1)."""
    return bool(rng.random() < p)


def hflip(img: Image.Image) -> Image.Image:
    """Mirror left-right."""
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def sample_crop_box(
    rng: np.random.Generator,
    width: int,
    height: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    tries: int = 10,
) -> tuple[int, int, int, int]:
    """Draw a crop box ``(left, top, box_width, box_height)`` inside a ``width x height`` image.

    The box area is a fraction uniform in ``scale`` of the image area and its aspect ratio
    (width / height) is log-uniform in ``ratio``. After ``tries`` boxes that do not fit, falls back
    to the largest centred box whose ratio is ``width / height`` clamped into ``ratio``.
    """
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(tries):
        target = area * float(rng.uniform(scale[0], scale[1]))
        aspect = math.exp(float(rng.uniform(log_lo, log_hi)))
        box_w = int(round(math.sqrt(target * aspect)))
        box_h = int(round(math.sqrt(target / aspect)))
        if 0 < box_w <= width and 0 < box_h <= height:
            top = int(rng.integers(0, height - box_h + 1))
            left = int(rng.integers(0, width - box_w + 1))
            return left, top, box_w, box_h
    image_ratio = width / height
    if image_ratio < ratio[0]:
        box_w, box_h = width, int(round(width / ratio[0]))
    elif image_ratio > ratio[1]:
        box_w, box_h = int(round(height * ratio[1])), height
    else:
        box_w, box_h = width, height
    box_w, box_h = max(1, min(box_w, width)), max(1, min(box_h, height))
    return (width - box_w) // 2, (height - box_h) // 2, box_w, box_h


def resized_crop(img: Image.Image, box: tuple[int, int, int, int], size: int) -> Image.Image:
    """Cut ``box = (left, top, box_width, box_height)`` and resize it bilinearly to ``size x size``."""
    left, top, box_w, box_h = box
    return img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + box_w, top + box_h))


def sample_affine(rng: np.random.Generator, degrees: float, shear: float) -> tuple[float, float]:
    """Draw ``(angle, shear)`` in degrees, uniform in ``[-degrees, degrees]`` and ``[-shear, shear]``."""
    angle = float(rng.uniform(-degrees, degrees))
    shear_x = float(rng.uniform(-shear, shear))
    return angle, shear_x


def affine_matrix(angle: float, shear: float) -> np.ndarray:
    """2x2 forward map (pixel offsets from the centre, x right, y down): rotation after x-shear.

    Positive ``angle`` rotates the picture counter-clockwise as displayed; ``shear`` (degrees)
    moves a point right by ``tan(shear) * dy``.
    """
    a, s = math.radians(angle), math.radians(shear)
    rotation = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    shearing = np.array([[1.0, math.tan(s)], [0.0, 1.0]])
    return rotation @ shearing


def apply_affine(
    img: Image.Image, angle: float, shear: float, fill: tuple[int, int, int]
) -> Image.Image:
    """Rotate by ``angle`` and x-shear by ``shear`` degrees about the centre (bilinear, same size).

    Pixels whose source lies outside the image get ``fill``. ``(0, 0)`` returns an unchanged copy.
    """
    if angle == 0.0 and shear == 0.0:
        return img.copy()
    width, height = img.size
    centre = np.array([width * 0.5, height * 0.5])  # PIL's continuous coordinates (pixel centres at +0.5)
    inverse = np.linalg.inv(affine_matrix(angle, shear))
    offset = centre - inverse @ centre  # source = inverse @ target + offset
    data = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    return img.transform(
        (width, height), Image.Transform.AFFINE, data=tuple(float(v) for v in data),
        resample=Image.Resampling.BILINEAR, fillcolor=tuple(fill),
    )
