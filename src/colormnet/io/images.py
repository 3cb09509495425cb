"""Still images: the colour exemplar and single video frames, read with Pillow.

Conventions (SPEC section 1): the authors read every image with ``PIL.Image.open(...).convert('RGB')``
and feed ``skimage.color.rgb2lab`` of that to the network, using only L of the frames. This module
therefore returns uint8 RGB arrays; callers convert with :func:`colormnet.color.rgb_to_lab_norm`.

Deviations from a bare ``convert('RGB')``, all for inputs where the authors' reader is wrong:

- 16-bit single-channel images (Pillow modes ``I;16*``, ``I``) are scaled to 8 bit with
  ``round(v * 255 / 65535)``; ``convert('RGB')`` would clip every value above 255 to white.
  48-bit RGB PNGs are reduced by Pillow itself to their high byte (``v // 256``), which is a proper
  scaling (at most one level away from rounding), so they are taken as Pillow delivers them.
- The exemplar (not the frames) gets its EXIF orientation applied, since it is typically a photo.
- ICC profiles are ignored (as by the authors): pixel values are taken as sRGB.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from colormnet.errors import InputError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


def _open_image(path: PathLike, what: str) -> Image.Image:
    """Open and fully decode ``path`` with Pillow; every failure becomes an :class:`InputError`."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} {p} does not exist")
    if p.is_dir():
        raise InputError(f"{what} {p} is a folder, expected an image file")
    try:
        img = Image.open(p)
        img.load()
    except Image.DecompressionBombError as exc:
        raise InputError(f"{what} {p} is too large to decode safely ({exc.args[0].split(',')[0]}); "
                         "downscale it (the network uses at most the frame size)") from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"{what} {p} is not an image Pillow can read (unknown format)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{what} {p} could not be decoded ({exc}); is the file complete?") from exc
    return img


def _high_depth_to_uint8(img: Image.Image) -> np.ndarray:
    """Single-channel 16/32-bit integer or float image -> uint8 (H, W), scaled (not clipped).

    Integer data is taken as 16 bit (0..65535, as written by 16-bit PNG/TIFF); float data as
    0..1 when its maximum is at most 1, else as 0..255.
    """
    arr = np.asarray(img)
    if arr.dtype.kind == "f":
        a = np.nan_to_num(arr.astype(np.float64))
        scale = 255.0 if a.size and a.max() <= 1.0 else 1.0
        return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)
    a = np.clip(arr.astype(np.int64), 0, 65535)
    return ((a * 255 + 32767) // 65535).astype(np.uint8)


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any Pillow mode -> contiguous uint8 RGB (H, W, 3); alpha is dropped, 16-bit scaled."""
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        gray = _high_depth_to_uint8(img)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode != "RGB":
        img = img.convert("RGB")
    return np.array(img, dtype=np.uint8)


def _alpha_is_opaque(img: Image.Image) -> bool:
    """True unless the image has an alpha channel (or palette transparency) with a non-opaque pixel."""
    if img.mode in ("P", "PA"):
        if img.mode == "P" and "transparency" not in img.info:
            return True
        img = img.convert("RGBA")
    if img.mode not in _ALPHA_MODES:
        return True
    lo, _hi = img.getchannel(img.getbands()[-1]).getextrema()
    return lo == 255


def is_grayscale_rgb(rgb: np.ndarray, tolerance: int = 2) -> bool:
    """True when an RGB image (H, W, 3) uint8 has (almost) no colour: all channels within ``tolerance``.

    Useful to tell a black-and-white video stored as yuv420p (flat chroma) from a colour one.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        return True
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    return bool(max(np.abs(r - g).max(initial=0), np.abs(g - b).max(initial=0)) <= tolerance)


def load_exemplar(path: PathLike) -> np.ndarray:
    """Read the colour reference image -> uint8 RGB (H, W, 3).

    Any Pillow-readable file (PNG incl. 16 bit, JPEG, WebP, TIFF, BMP, GIF first frame, ...). EXIF
    orientation is applied. Transparency is dropped (colour channels kept as stored) with a warning
    when the image is not fully opaque. A grayscale exemplar is accepted with a warning, since it
    carries no colour to propagate. Missing/unreadable files raise :class:`InputError`.
    """
    img = _open_image(path, "exemplar image")
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as exc:  # malformed EXIF must not make a valid image unusable
        log.warning("exemplar %s: could not apply EXIF orientation (%s); using the stored orientation",
                    path, exc)
    mode = img.mode
    if (mode in _ALPHA_MODES or mode == "P") and not _alpha_is_opaque(img):
        log.warning("exemplar %s has transparent pixels; the alpha channel is ignored "
                    "(colours under transparent areas are used as stored)", path)
    rgb = _to_rgb_array(img)
    if mode in _GRAY_MODES or is_grayscale_rgb(rgb):
        log.warning("exemplar %s is grayscale: it carries no colour, the result will be (nearly) "
                    "colourless; use a colour reference image", path)
    return rgb


def resize_exemplar(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 RGB (H, W, 3) to ``size = (width, height)`` with Pillow bilinear, as the authors do.

    Equivalent to ``np.asarray(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))``; returns a copy
    unchanged when the size already matches.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 RGB of shape (H, W, 3), got {rgb.dtype} {rgb.shape}")
    width, height = int(size[0]), int(size[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"target size must be positive, got {size}")
    if rgb.shape[0] == height and rgb.shape[1] == width:
        return rgb.copy()
    resized = Image.fromarray(np.ascontiguousarray(rgb)).resize((width, height), Image.Resampling.BILINEAR)
    return np.array(resized, dtype=np.uint8)


def load_frame_rgb(path: PathLike) -> np.ndarray:
    """Read one video frame image -> uint8 RGB (H, W, 3), like the authors' ``convert('RGB')``.

    EXIF orientation is not applied (as upstream); 16-bit grayscale is scaled rather than clipped.
    Take L from it with :func:`colormnet.color.rgb_to_lab_norm`.
    """
    return _to_rgb_array(_open_image(path, "frame image"))


def image_size(path: PathLike) -> tuple[int, int]:
    """(width, height) of an image file from its header only (no pixel decoding); EXIF ignored."""
    p = Path(path)
    try:
        with Image.open(p) as img:
            return img.size
    except FileNotFoundError as exc:
        raise InputError(f"frame image {p} does not exist") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"frame image {p} is not an image Pillow can read ({exc})") from exc
