"""The model registry and build_model (colormnet.models), and the device helpers (colormnet.device)."""

from __future__ import annotations

import pytest
import torch

from colormnet.config import ModelConfig
from colormnet.device import autocast_dtype, resolve_device
from colormnet.errors import InputError, WeightsError
from colormnet.models import MODELS, build_model


def test_registry_names_config_and_source():
    assert MODELS["colormnet"].config == ModelConfig() and MODELS["colormnet"].checkpoint == "colormnet"
    assert MODELS["recipe"].source == "recipe" and MODELS["tiny"].config == ModelConfig.tiny()


def test_tiny_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, b = build_model("tiny", seed=0), build_model("tiny", seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert not a.training and a.weights_source == "random"
    c = build_model("tiny", seed=1)
    assert not torch.equal(a.state_dict()["key_proj.key_proj.weight"], c.state_dict()["key_proj.key_proj.weight"])


def test_user_file_loads_into_the_entry_config(tmp_path):
    src = build_model("tiny", seed=3)
    path = tmp_path / "tiny.pth"
    torch.save({"model": src.state_dict()}, path)
    loaded = build_model("tiny", weights=path)
    assert loaded.weights_source == str(path)
    for k, v in src.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    with pytest.raises(WeightsError, match="does not match the network"):
        build_model("colormnet", weights=path)  # a tiny file does not fit the released shape


def test_missing_checkpoint_and_bad_combinations(tmp_path, monkeypatch):
    monkeypatch.delenv("COLORMNET_WEIGHTS", raising=False)
    monkeypatch.setenv("COLORMNET_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsError, match="not found"):
        build_model("colormnet")
    with pytest.raises(InputError, match="not both"):
        build_model("recipe", weights=tmp_path / "x.pth")
    with pytest.raises(InputError, match="unknown model"):
        build_model("large")
    with pytest.raises(InputError, match="different config"):
        build_model("colormnet", config=ModelConfig.tiny())


def test_device_helpers():
    assert resolve_device("cpu") == torch.device("cpu")
    assert autocast_dtype("fp32", torch.device("cpu")) is None
    assert autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    with pytest.raises(InputError, match="fp16 needs a GPU"):
        autocast_dtype("fp16", torch.device("cpu"))
    with pytest.raises(InputError, match="unknown precision"):
        autocast_dtype("int8", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no usable CUDA"):
            resolve_device("cuda")


def test_loaded_networks_run_channels_last_with_the_same_outputs(tmp_path):
    """Weights loaded for inference get the channels_last conv layout; a network filled with the same
    weights in the default layout gives the same key features (up to float rounding)."""
    trained = build_model("tiny")
    torch.save(trained.state_dict(), tmp_path / "w.pth")
    loaded = build_model("tiny", weights=tmp_path / "w.pth")
    convs = [m.weight for m in loaded.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                         for w in convs if w.shape[-2:] != (1, 1) and w.shape[1] > 1)
    image = torch.rand(1, 3, 112, 112, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        a, b = trained.encode_key(image), loaded.encode_key(image)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)


def test_meta_build_skips_random_initialisers(monkeypatch):
    """A network built on ``meta`` to be loaded runs none of the random initialisers (their first use
    there costs ~1 s per process); one built on the CPU still gets them (orthogonal key projection)."""
    from torch import nn

    from colormnet.model.network import ColorMNet

    original, calls = {}, []
    for name in ("kaiming_normal_", "trunc_normal_", "normal_", "orthogonal_"):
        original[name] = getattr(nn.init, name)

        def wrapper(tensor, *args, _name=name, **kwargs):
            calls.append(_name)
            if tensor.is_meta:
                raise AssertionError(f"{_name} on a meta tensor")
            return original[_name](tensor, *args, **kwargs)

        monkeypatch.setattr(nn.init, name, wrapper)
    cfg = MODELS["tiny"].config
    with torch.device("meta"):
        ColorMNet(cfg)
    assert calls == []
    model = ColorMNet(cfg)
    assert set(calls) == {"kaiming_normal_", "trunc_normal_", "normal_", "orthogonal_"}
    w = model.key_proj.key_proj.weight.flatten(1)
    torch.testing.assert_close(w @ w.T, torch.eye(w.shape[0]), atol=1e-5, rtol=0)
