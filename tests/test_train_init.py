"""Tests of training initialisation (colormnet.train.init_weights) with synthetic backbone files that
use the standard torchvision / DINOv2-hub key names (shapes of the tiny network)."""

from __future__ import annotations

import pytest
import torch

from colormnet.config import ModelConfig
from colormnet.errors import WeightsError
from colormnet.model.network import ColorMNet
from colormnet.train.init_weights import (
    DINOV2_PREFIX,
    RESNET18_MAP,
    RESNET50_MAP,
    init_from_colormnet,
    init_from_dinov2,
    init_from_resnet18,
    init_from_resnet50,
    initialise,
)


def _net(seed: int) -> ColorMNet:
    torch.manual_seed(seed)
    return ColorMNet(ModelConfig.tiny())


def _backbone_file(net: ColorMNet, mapping, seed: int) -> dict[str, torch.Tensor]:
    """A torchvision-named state_dict with the network's shapes and fresh random values."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in net.state_dict().items():
        for theirs, ours in mapping:
            if key.startswith(ours):
                new = torch.randn(value.shape, generator=g) if value.is_floating_point() else value.clone()
                out[theirs + key[len(ours):]] = new
    return out


def test_resnet50_maps_onto_the_key_encoder_trunk(tmp_path):
    net = _net(0)
    sd = _backbone_file(net, RESNET50_MAP, 1)
    sd["layer4.0.conv1.weight"] = torch.zeros(3, 3, 1, 1)
    sd["fc.weight"] = torch.zeros(10, 2048)
    assert "layer1.0.conv1.weight" in sd and "conv1.weight" in sd and "bn1.running_var" in sd
    path = tmp_path / "resnet50.pth"
    torch.save({f"module.{k}": v for k, v in sd.items()}, path)  # DDP-style prefix is stripped
    before = {k: v.clone() for k, v in net.state_dict().items()}
    report = init_from_resnet50(net, path)
    own = net.state_dict()
    assert len(report.loaded) == len(sd) - 2 and not report.not_covered
    assert {k for k, _ in report.skipped} == {"layer4.0.conv1.weight", "fc.weight"}
    torch.testing.assert_close(own["key_encoder.res2.0.conv1.weight"], sd["layer1.0.conv1.weight"])
    torch.testing.assert_close(own["key_encoder.layer3.0.bn2.running_mean"], sd["layer3.0.bn2.running_mean"])
    untouched = [k for k in own if not k.startswith(("key_encoder.conv1", "key_encoder.bn1", "key_encoder.res2",
                                                     "key_encoder.layer2", "key_encoder.layer3"))]
    assert all(torch.equal(own[k], before[k]) for k in untouched)


@pytest.mark.parametrize("mode", ["zero", "orthogonal"])
def test_resnet18_widens_conv1_to_five_channels(mode):
    net = _net(0)
    sd = _backbone_file(net, RESNET18_MAP, 2)
    sd["conv1.weight"] = torch.randn(net.value_encoder.conv1.weight.shape[0], 3, 7, 7)
    report = init_from_resnet18(net, sd, extra_channels=mode)
    assert "value_encoder.conv1.weight" in report.loaded and not report.not_covered
    w = net.value_encoder.conv1.weight.detach()
    assert w.shape[1] == 5
    torch.testing.assert_close(w[:, :3], sd["conv1.weight"])
    extra = w[:, 3:].flatten(1)
    if mode == "zero":
        assert torch.count_nonzero(extra) == 0
    else:  # orthogonal rows (out 8 <= 2*49 columns)
        torch.testing.assert_close(extra @ extra.T, torch.eye(extra.shape[0]), atol=1e-5, rtol=0)


def test_dinov2_hub_keys_map_onto_the_backbone():
    net = _net(0)
    names = [k[len(DINOV2_PREFIX):] for k in net.state_dict() if k.startswith(DINOV2_PREFIX)]
    sd = {k: torch.full_like(net.state_dict()[DINOV2_PREFIX + k], 0.5) for k in names}
    sd["register_tokens"] = torch.zeros(1, 4, 24)
    report = init_from_dinov2(net, sd)
    assert len(report.loaded) == len(names) and report.skipped == [
        (DINOV2_PREFIX + "register_tokens", "no such tensor in the network")]
    assert torch.all(net.key_encoder.network2.backbone.blocks[3].mlp.fc2.weight == 0.5)


def test_wrong_files_raise(tmp_path):
    net = _net(0)
    with pytest.raises(WeightsError, match="no tensor matches"):
        init_from_resnet50(net, {"conv1.weight": torch.zeros(64, 3, 7, 7)})  # full-size shape, tiny net
    with pytest.raises(WeightsError, match="does not exist"):
        init_from_dinov2(net, tmp_path / "nope.pth")


def test_colormnet_checkpoint_is_loaded_strictly(tmp_path):
    source, target = _net(0), _net(1)
    path = tmp_path / "ckpt.pth"
    torch.save(source.state_dict(), path)
    reports = initialise(target, "colormnet", weights=str(path))
    assert len(reports[0].loaded) == len(source.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), target.state_dict().values(),
                                                  strict=True))
    partial = dict(source.state_dict())
    partial.pop("decoder.pred.weight")
    torch.save(partial, path)
    with pytest.raises(WeightsError, match="missing keys"):
        init_from_colormnet(target, path)
    assert initialise(target, "random") == []
