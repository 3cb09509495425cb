"""Ablation variants: every key encoder / local-attention setting builds, runs forward+backward, trains
a few steps, keeps checkpoint names, and loads what it shares from another checkpoint."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from colormnet.config import KEY_ENCODERS, ModelConfig
from colormnet.model.network import ColorMNet
from colormnet.model.variants import config_from_file, load_shared, parse_variant, variant_name
from colormnet.train.forward import ForwardConfig, TrainingModule

VARIANTS = [*[(k, 15) for k in KEY_ENCODERS], ("pvgfe", 0), ("pvgfe", 5)]


def _batch(gen: torch.Generator, b: int = 1, t: int = 3, size: int = 112):
    images = torch.rand(b, t, 1, size, size, generator=gen).mul(2).sub(1).expand(b, t, 3, size, size)
    ab = torch.rand(b, t, 2, size, size, generator=gen).mul(1.6).sub(0.8)
    return images.contiguous(), ab


@pytest.mark.parametrize(("key_encoder", "window"), VARIANTS)
def test_variant_builds_trains_and_changes_the_output(key_encoder, window):
    cfg = dataclasses.replace(ModelConfig.tiny(), key_encoder=key_encoder, local_window=window)
    torch.manual_seed(0)
    net = ColorMNet(cfg)
    keys = set(net.state_dict())
    assert ("key_encoder.network2.backbone.cls_token" in keys) == (key_encoder != "resnet")
    assert ("key_encoder.layer3.0.conv1.weight" in keys) == (key_encoder != "dino")
    assert ("key_encoder.fuse1.crossattn.temperature" in keys) == (key_encoder == "pvgfe")
    assert ("short_term_attn.relative_emb_k.weight" in keys) == (window > 0)
    if window:
        assert net.short_term_attn.relative_emb_k.out_channels == window * window
    module = TrainingModule(net, ForwardConfig(num_ref_frames=1))
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    images, ab = _batch(gen, t=2)
    trainable = {n: p.detach().clone() for n, p in net.key_encoder.named_parameters()
                 if "network2" not in n}  # the DINOv2 branch is frozen (no_grad), as in the paper
    for _ in range(2):
        losses, _ = module(images, ab, torch.Generator().manual_seed(2))
        opt.zero_grad()
        losses["total"].backward()
        assert torch.isfinite(losses["total"])
        grads = [p.grad for p in net.key_proj.parameters()]
        assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
        opt.step()
    moved = [n for n, p in net.key_encoder.named_parameters() if n in trainable and not torch.equal(p, trainable[n])]
    assert trainable and len(moved) > len(trainable) // 2  # the variant's own key path is trained


def test_default_config_is_not_a_variant_and_keeps_released_keys(tiny_model):
    assert not ModelConfig().is_variant and ModelConfig(key_encoder="dino").is_variant
    assert ModelConfig(local_window=0).is_variant
    names = set(tiny_model.state_dict())
    assert "key_encoder.fuse1.crossattn.to_q.weight" in names and "short_term_attn.projection.weight" in names


def test_variant_loads_shared_tensors_and_reports_the_rest(tiny_model):
    released = tiny_model.state_dict()
    variant = ColorMNet(dataclasses.replace(ModelConfig.tiny(), key_encoder="dino", local_window=5))
    report = load_shared(variant, released, source="tiny")
    own = variant.state_dict()
    assert "key_encoder.fuse1.encode_enc.weight" in report.loaded
    assert torch.equal(own["key_encoder.fuse1.encode_enc.weight"], released["key_encoder.fuse1.encode_enc.weight"])
    assert torch.equal(own["decoder.pred.weight"], released["decoder.pred.weight"])
    skipped = dict(report.skipped)
    assert skipped["key_encoder.layer3.0.conv1.weight"] == "not in this variant"
    assert skipped["short_term_attn.relative_emb_k.weight"].startswith("shape")
    assert "short_term_attn.relative_emb_k.weight" in report.not_covered
    assert len(report.loaded) + len(report.not_covered) == len(own)


def test_trained_weights_file_records_its_variant(tmp_path):
    from colormnet.train.checkpoint import save_model_weights
    from colormnet.weights import load_into, load_state_dict_file

    cfg = dataclasses.replace(ModelConfig.tiny(), key_encoder="concat", local_window=0)
    net = ColorMNet(cfg)
    path = save_model_weights(tmp_path / "m.pth", net, iteration=3)
    assert config_from_file(path) == cfg
    again = ColorMNet(config_from_file(path))
    load_into(again, load_state_dict_file(path))  # strict
    assert variant_name(cfg) == "concat, no LA"
    # every command builds through build_model, which rebuilds the recorded variant from the file
    from colormnet.models import build_model

    built = build_model("colormnet", weights=path)
    assert built.cfg == cfg
    assert torch.equal(built.state_dict()["key_proj.key_proj.weight"], net.state_dict()["key_proj.key_proj.weight"])


def test_parse_variant():
    assert parse_variant("resnet").key_encoder == "resnet"
    assert parse_variant("dino,la=3").local_window == 7
    assert parse_variant("key_encoder=concat,no-la").local_window == 0
    assert parse_variant(None) == ModelConfig()
    from colormnet.errors import InputError

    with pytest.raises(InputError, match="unknown key encoder"):
        parse_variant("vit")
    with pytest.raises(InputError, match="unknown setting"):
        parse_variant("width=3")


def test_train_config_builds_variants():
    from colormnet.errors import InputError
    from colormnet.train.config import load_config
    from colormnet.train.trainer import build_train_model

    cfg = load_config(None, ["model=tiny", "model.key_encoder=resnet", "model.local_window=0"])
    assert (cfg.key_encoder, cfg.local_window) == ("resnet", 0)
    net = build_train_model(cfg)
    assert net.cfg.key_encoder == "resnet" and net.short_term_attn is None
    assert not hasattr(net.key_encoder, "network2")
    with pytest.raises(InputError, match="key_encoder"):
        load_config(None, ["model.key_encoder=vit"])
    with pytest.raises(InputError, match="local_window"):
        load_config(None, ["local_window=4"])
