"""The network's state_dict is the released checkpoint's, and the recipe weights are bit-exact."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from colormnet.config import ModelConfig
from colormnet.model.network import ColorMNet
from colormnet.testing.recipe import recipe_state_dict, recipe_tensor, state_dict_sha256
from tests.conftest import require_fixtures_root


@pytest.fixture(scope="module")
def full_model():
    return ColorMNet()


def test_state_dict_matches_official_keys_order_shapes_dtypes(full_model):
    root = require_fixtures_root("state_dict_keys.json")
    spec = json.loads((root / "state_dict_keys.json").read_text())
    entries = spec["entries"]
    sd = full_model.state_dict()
    assert len(sd) == len(entries) == 667
    for (key, tensor), entry in zip(sd.items(), entries, strict=True):
        assert key == entry["key"]
        assert list(tensor.shape) == entry["shape"], key
        assert str(tensor.dtype).removeprefix("torch.") == entry["dtype"], key
    params = dict(full_model.named_parameters())
    kinds = ["parameter" if e["key"] in params else "buffer" for e in entries]
    assert kinds == [e["kind"] for e in entries]


def test_parameter_count(full_model):
    assert sum(p.numel() for p in full_model.parameters()) == 123_609_281


def test_recipe_weights_bit_exact(full_model):
    root = require_fixtures_root("init_check.json")
    check = json.loads((root / "init_check.json").read_text())
    for item in check["checks"]:
        value = recipe_tensor(item["key"], tuple(item["shape"]))
        assert hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest() == item["sha256_of_bytes"]
        assert float(value.astype(np.float64).sum()) == pytest.approx(item["sum_float64"], rel=0, abs=1e-9)
    assert state_dict_sha256(recipe_state_dict(full_model)) == check["whole_state_dict_sha256"]


def test_tiny_config_has_same_key_structure():
    full = [k.split(".")[0] for k in ColorMNet().state_dict()]
    tiny = [k.split(".")[0] for k in ColorMNet(ModelConfig.tiny()).state_dict()]
    assert sorted(set(full)) == sorted(set(tiny)) == ["decoder", "key_encoder", "key_proj", "short_term_attn",
                                                      "value_encoder"]
