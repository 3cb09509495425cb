"""Exemplar / frame image loading: modes, bit depths, formats, EXIF, errors, bilinear resize."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colormnet.errors import InputError
from colormnet.io import is_grayscale_rgb, load_exemplar, load_frame_rgb, resize_exemplar


def colour_image(h: int = 24, w: int = 32) -> np.ndarray:
    """Deterministic colourful uint8 RGB (h, w, 3)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 4 % 256], axis=2).astype(np.uint8)


def write_png16(path: Path, arr: np.ndarray) -> Path:
    """Minimal 16-bit PNG writer (gray (H, W) or RGB (H, W, 3) uint16), independent of Pillow."""
    h, w = arr.shape[:2]
    colour_type = 2 if arr.ndim == 3 else 0
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))
    return path


def test_rgb_png_exact(tmp_path: Path, caplog) -> None:
    rgb = colour_image()
    Image.fromarray(rgb).save(tmp_path / "c.png")
    with caplog.at_level(logging.WARNING):
        got = load_exemplar(tmp_path / "c.png")
    assert got.dtype == np.uint8 and got.shape == (24, 32, 3) and got.flags.c_contiguous
    assert np.array_equal(got, rgb)
    assert caplog.text == ""


def test_rgba_alpha_dropped(tmp_path: Path, caplog) -> None:
    rgb = colour_image()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "opaque.png")
    with caplog.at_level(logging.WARNING):
        assert np.array_equal(load_exemplar(tmp_path / "opaque.png"), rgb)
    assert "transparent" not in caplog.text
    alpha[0, 0] = 10
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "transp.png")
    with caplog.at_level(logging.WARNING):
        assert np.array_equal(load_exemplar(tmp_path / "transp.png"), rgb)
    assert "transparent" in caplog.text and "transp.png" in caplog.text


def test_palette_image(tmp_path: Path) -> None:
    rgb = colour_image()
    pal = Image.fromarray(rgb).quantize(colors=16)
    pal.save(tmp_path / "p.png")
    assert np.array_equal(load_exemplar(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_grayscale_exemplar_warns(tmp_path: Path, caplog, mode: str) -> None:
    gray = colour_image()[..., 0]
    img = Image.fromarray(gray)
    if mode == "LA":
        img = Image.merge("LA", [img, Image.new("L", img.size, 255)])
    img.save(tmp_path / "g.png")
    with caplog.at_level(logging.WARNING, logger="colormnet.io.images"):
        got = load_exemplar(tmp_path / "g.png")
    assert got.shape == (24, 32, 3)
    assert np.array_equal(got[..., 1], gray) and np.array_equal(got[..., 2], gray)
    assert "grayscale" in caplog.text and "g.png" in caplog.text


def test_gray_looking_rgb_also_warns(tmp_path: Path, caplog) -> None:
    g = colour_image()[..., :1]
    Image.fromarray(np.repeat(g, 3, axis=2)).save(tmp_path / "rgbgray.png")
    with caplog.at_level(logging.WARNING):
        load_exemplar(tmp_path / "rgbgray.png")
    assert "grayscale" in caplog.text
    assert is_grayscale_rgb(np.repeat(g, 3, axis=2)) and not is_grayscale_rgb(colour_image())


def test_16bit_gray_png_scaled_not_clipped(tmp_path: Path) -> None:
    vals = np.array([[0, 257, 32896, 65535, 1000, 65278]], dtype=np.uint16)
    p = write_png16(tmp_path / "g16.png", vals)
    assert Image.open(p).mode.startswith("I")
    got = load_exemplar(p)
    assert got[0, :, 0].tolist() == [0, 1, 128, 255, 4, 254]  # round(v * 255 / 65535)
    assert np.array_equal(load_frame_rgb(p), got)  # frames too (convert('RGB') would give 255s)
    # 16-bit data written by Pillow itself (mode I;16)
    Image.fromarray(vals).save(tmp_path / "pil16.png")
    assert load_exemplar(tmp_path / "pil16.png")[0, :, 1].tolist() == [0, 1, 128, 255, 4, 254]


def test_48bit_rgb_png_scaled(tmp_path: Path) -> None:
    vals = np.array([[[0, 32896, 65535], [257, 1000, 40000]]], dtype=np.uint16)
    got = load_exemplar(write_png16(tmp_path / "rgb16.png", vals)).astype(int)
    assert got.shape == (1, 2, 3)
    assert np.abs(got - np.rint(vals / 257)).max() <= 1 and got[0, 0, 2] == 255


@pytest.mark.parametrize(("ext", "tol"), [("jpg", 3.0), ("webp", 3.0), ("bmp", 0), ("tif", 0)])
def test_other_formats(tmp_path: Path, ext: str, tol: float) -> None:
    rgb = colour_image(48, 64)
    p = tmp_path / f"c.{ext}"
    Image.fromarray(rgb).save(p, **({"quality": 95} if ext in ("jpg", "webp") else {}))
    got = load_exemplar(p)
    assert got.shape == rgb.shape and np.abs(got.astype(int) - rgb).mean() <= tol
    assert np.array_equal(got, np.asarray(Image.open(p).convert("RGB")))


def test_exif_orientation_applied_to_exemplar_only(tmp_path: Path) -> None:
    rgb = colour_image(24, 32)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    Image.fromarray(rgb).save(tmp_path / "rot.jpg", exif=exif, quality=98)
    ex = load_exemplar(tmp_path / "rot.jpg")
    assert ex.shape == (32, 24, 3)
    assert np.abs(ex.astype(int) - np.rot90(rgb, k=-1)).mean() < 4
    assert load_frame_rgb(tmp_path / "rot.jpg").shape == (24, 32, 3)  # frames: as stored, like upstream


@pytest.mark.parametrize("loader", [load_exemplar, load_frame_rgb])
def test_bad_files(tmp_path: Path, loader) -> None:
    (tmp_path / "notes.png").write_text("this is text, not an image")
    Image.fromarray(colour_image(64, 64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    for name, pattern in [("notes.png", "not an image"), ("cut.png", "could not be decoded"),
                          ("missing.jpg", "does not exist")]:
        with pytest.raises(InputError, match=pattern) as err:
            loader(tmp_path / name)
        assert name in str(err.value)
    with pytest.raises(InputError, match="folder"):
        loader(tmp_path)


def test_resize_matches_pil_bilinear() -> None:
    rgb = colour_image(24, 32)
    for size in [(64, 48), (17, 11), (832, 480)]:
        expect = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
        got = resize_exemplar(rgb, size)
        assert got.shape == (size[1], size[0], 3) and np.array_equal(got, expect)
    same = resize_exemplar(rgb, (32, 24))
    assert np.array_equal(same, rgb) and same is not rgb and not np.shares_memory(same, rgb)
    with pytest.raises(ValueError):
        resize_exemplar(rgb.astype(np.float32), (10, 10))


def test_frame_loader_matches_authors_convert(tmp_path: Path) -> None:
    rgb = colour_image()
    Image.fromarray(rgb).save(tmp_path / "f.png")
    Image.fromarray(rgb[..., 1]).save(tmp_path / "g.png")
    assert np.array_equal(load_frame_rgb(tmp_path / "f.png"), rgb)
    assert np.array_equal(load_frame_rgb(tmp_path / "g.png"), np.asarray(Image.open(tmp_path / "g.png")
                                                                        .convert("RGB")))
