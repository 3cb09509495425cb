"""colormnet inspect features: PCA panels exist, are not constant, and the figure is written."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from colormnet.cli import main
from colormnet.config import ModelConfig
from colormnet.inference.features import key_feature_maps, pca_rgb
from colormnet.model.network import ColorMNet
from colormnet.train.checkpoint import save_model_weights


def _image(h: int = 60, w: int = 90) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // w), (y * 255 // h), ((x // 15 + y // 15) % 2) * 200], -1)
    return img.astype(np.uint8)


def test_pca_rgb_recovers_structure():
    feats = torch.zeros(5, 4, 6)
    feats[0, :, :3] = 1.0  # one direction of variance: left vs right half
    rgb, explained = pca_rgb(feats, (8, 12))
    assert rgb.shape == (8, 12, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert explained == pytest.approx(1.0)
    assert abs(rgb[:, 0, 0].mean() - rgb[:, -1, 0].mean()) > 0.9  # halves map to opposite ends


def test_feature_panels(tiny_model):
    panels = key_feature_maps(tiny_model, _image())
    assert [p.title for p in panels] == ["ResNet-50 stage 3 (1/16)", "DINOv2 (1/16)",
                                         "concatenation ResNet-50 + DINOv2", "PVGFE fused output g16"]
    cfg = tiny_model.cfg
    assert [p.channels for p in panels] == [16 * cfg.width, cfg.dino_channels,
                                            16 * cfg.width + cfg.dino_channels, 16 * cfg.width]
    for p in panels:
        assert p.rgb.shape == (60, 90, 3)
        assert p.rgb.std() > 0.05  # not constant
    resnet_only = ColorMNet(dataclasses.replace(ModelConfig.tiny(), key_encoder="resnet")).eval()
    titles = [p.title for p in key_feature_maps(resnet_only, _image(), "resnet")]
    assert titles == ["resnet: ResNet-50 stage 3 (1/16)", "resnet: key encoder output (ResNet-50 only)"]


def test_inspect_cli_writes_figure(tmp_path, capsys):
    Image.fromarray(_image()).save(tmp_path / "img.png")
    torch.manual_seed(0)
    w1 = save_model_weights(tmp_path / "a.pth", ColorMNet(ModelConfig.tiny()))
    w2 = save_model_weights(tmp_path / "b.pth", ColorMNet(dataclasses.replace(ModelConfig.tiny(), key_encoder="dino")))
    out = tmp_path / "pca.png"
    assert main(["inspect", "features", str(tmp_path / "img.png"), "-o", str(out), "--weights", str(w1),
                 "--weights", str(w2)]) == 0
    img = np.asarray(Image.open(out).convert("RGB")).astype(float)
    assert img.shape[1] > 900  # 4 panels per row
    assert img.std() > 20
    assert main(["inspect", "features", str(tmp_path / "img.png"), "-o", str(out), "--weights", str(w1)]) != 0
    assert "exists" in capsys.readouterr().err
    # a variant built from a file: loads what it shares
    assert main(["inspect", "features", str(tmp_path / "img.png"), "-o", str(tmp_path / "v.png"),
                 "--weights", str(w1), "--variant", "concat"]) == 0
