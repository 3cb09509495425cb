"""Colour conversions: the fast gray path equals scikit-image, padding splits like the authors'."""

from __future__ import annotations

import numpy as np
import torch
from skimage import data

from colormnet.color import gray_to_l_norm, lab_norm_to_rgb, lightness_norm, pad_to_multiple, rgb_to_lab_norm, unpad


def test_gray_table_equals_skimage_for_every_level():
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(gray_to_l_norm(gray), rgb_to_lab_norm(np.repeat(gray[:, :, None], 3, 2))[0])
    camera = data.camera()
    np.testing.assert_array_equal(lightness_norm(np.repeat(camera[:, :, None], 3, 2)),
                                  rgb_to_lab_norm(np.repeat(camera[:, :, None], 3, 2))[0])


def test_colour_lightness_and_round_trip():
    rgb = data.astronaut()[::4, ::4]
    lab = rgb_to_lab_norm(rgb)
    np.testing.assert_array_equal(lightness_norm(rgb), lab[0])
    assert lab[0].min() >= -1 and lab[0].max() <= 1
    back = lab_norm_to_rgb(lab[0], lab[1:])
    assert np.abs(back.astype(int) - rgb).max() <= 1  # truncation to uint8 loses at most one level


def test_padding_split_and_crop():
    x = torch.arange(200 * 300, dtype=torch.float32).view(1, 1, 200, 300)
    padded, pad = pad_to_multiple(x, 112)
    assert padded.shape[-2:] == (224, 336) and pad == (18, 18, 12, 12)
    assert torch.equal(unpad(padded, pad), x)
    _, pad = pad_to_multiple(torch.zeros(1, 1, 7, 13), 112)
    assert pad == (49, 50, 52, 53)  # odd extra pixel goes right / bottom
