"""Tests of the training configuration (colormnet.train.config) and the 'colormnet train' CLI parsing."""

from __future__ import annotations

import dataclasses
import json

import pytest

from colormnet.cli import main as cli_main
from colormnet.errors import InputError
from colormnet.train.config import TrainConfig, config_from_dict, load_config, parse_overrides


def test_defaults_are_the_paper_recipe():
    cfg = TrainConfig()
    assert (cfg.lr, cfg.weight_decay, cfg.lr_milestones, cfg.lr_gamma) == (2e-5, 0.05, (120000,), 0.1)
    assert (cfg.num_frames, cfg.crop_size, cfg.batch_size, cfg.iterations) == (8, 448, 2, 160000)
    assert (cfg.forward.num_ref_frames, cfg.forward.deep_update_prob, cfg.forward.top_k) == (3, 0.2, 0)
    assert cfg.seed == 14159265
    assert cfg.freeze_dino and cfg.model_eval_mode and cfg.amp == "fp16" and cfg.grad_clip == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]


def test_json_file_then_typed_overrides(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"data_root": "d", "lr": 1e-4, "lr_milestones": [10, 20], "amp": "bf16",
                                "iterations": 30}))
    cfg = load_config(path, ["lr=3e-4", "iterations=1e3", "freeze_dino=no", "lr_milestones=5,7",
                             "model=tiny", "crop_size=224", "out_dir=a=b"])
    assert cfg.data_root == "d" and cfg.amp == "bf16"
    assert cfg.lr == 3e-4 and isinstance(cfg.lr, float)
    assert cfg.iterations == 1000 and isinstance(cfg.iterations, int)
    assert cfg.freeze_dino is False and cfg.model == "tiny" and cfg.crop_size == 224
    assert cfg.lr_milestones == (5, 7) and cfg.out_dir == "a=b"
    assert load_config(path, ["lr_milestones=[]"]).lr_milestones == ()
    assert load_config(path, ["lr_milestones=[3, 4]"]).lr_milestones == (3, 4)
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_toml_file_plain_and_nested(tmp_path):
    flat = tmp_path / "a.toml"
    flat.write_text('data_root = "x"\nbatch_size = 4\ngrad_clip = 1\nlr_milestones = [100]\n')
    cfg = load_config(flat)
    assert (cfg.data_root, cfg.batch_size, cfg.grad_clip, cfg.lr_milestones) == ("x", 4, 1.0, (100,))
    nested = tmp_path / "b.toml"
    nested.write_text('[train]\ndata_root = "y"\nmodel_eval_mode = false\n')
    cfg = load_config(nested)
    assert cfg.data_root == "y" and cfg.model_eval_mode is False


@pytest.mark.parametrize("override, message", [
    ("learning_rate=1", "unknown training option 'learning_rate'"),
    ("lr=fast", "expected a number"),
    ("iterations=1.5", "expected an integer"),
    ("freeze_dino=maybe", "expected true/false"),
    ("crop_size=100", "multiple of 112"),
    ("amp=fp8", "amp='fp8'"),
    ("num_frames=1", "num_frames=1"),
    ("lr_milestones=20,10", "increasing"),
    ("novalue", "key=value"),
])
def test_bad_values_are_input_errors(override, message):
    with pytest.raises(InputError, match=message):
        load_config(None, [override])


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="cannot be parsed"):
        load_config(bad)
    yaml = tmp_path / "c.yaml"
    yaml.write_text("lr: 1")
    with pytest.raises(InputError, match="use .json or .toml"):
        load_config(yaml)
    wrong_type = tmp_path / "d.json"
    wrong_type.write_text('{"batch_size": "two"}')
    with pytest.raises(InputError, match="batch_size"):
        load_config(wrong_type)


def test_parse_overrides_splits_on_first_equals():
    assert parse_overrides(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}


def test_cli_print_config(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('data_root = "clips"\n')
    assert cli_main(["train", "--config", str(path), "--print-config", "lr=1e-3", "model=tiny"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["data_root"] == "clips" and shown["lr"] == 1e-3 and shown["model"] == "tiny"
    assert cli_main(["train", "--print-config", "lr=abc"]) == 2
    assert "expected a number" in capsys.readouterr().err


def test_nested_forward_config_from_files_and_overrides(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('data_root = "x"\n[forward]\ntop_k = 30\nnum_ref_frames = 2\n')
    cfg = load_config(toml, ["forward.deep_update_prob=0.5"])
    assert (cfg.forward.top_k, cfg.forward.num_ref_frames, cfg.forward.deep_update_prob) == (30, 2, 0.5)
    assert cfg.to_dict()["forward"] == {"num_ref_frames": 2, "deep_update_prob": 0.5, "top_k": 30}
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(InputError, match="forward.nope"):
        load_config(None, ["forward.nope=1"])
    with pytest.raises(InputError, match="group of options"):
        load_config(None, ["forward=3"])
    with pytest.raises(InputError, match="invalid training configuration"):
        load_config(None, ["forward.deep_update_prob=2"])
    with pytest.raises(InputError, match="lr.x"):
        load_config(None, ["lr.x=1"])
