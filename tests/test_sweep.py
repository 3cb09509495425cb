"""colormnet benchmark --sweep / several --memory-policy: one run per value, table + figure written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from colormnet.cli import main
from colormnet.config import ModelConfig
from colormnet.model.network import ColorMNet
from colormnet.sweep import parse_sweeps
from colormnet.train.checkpoint import save_model_weights


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(0)
    clip = root / "data" / "clip"
    clip.mkdir(parents=True)
    base = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    for t in range(6):  # a slowly moving colour pattern
        Image.fromarray(np.roll(base, t, axis=1)).save(clip / f"{t:05d}.png")
    torch.manual_seed(0)
    weights = save_model_weights(root / "tiny.pth", ColorMNet(ModelConfig.tiny()), iteration=0)
    return root, weights


def test_sweep_writes_table_and_figure(setup):
    root, weights = setup
    out = root / "out"
    rc = main(["benchmark", "--data", str(root / "data"), "--out", str(out), "--weights", str(weights),
               "--device", "cpu", "--metrics", "psnr,cdc", "--quiet", "--memory-policy", "usage,recurrent",
               "--sweep", "mem_every=1,2", "--max-mid-term-frames", "3", "--min-mid-term-frames", "2",
               "--num-prototypes", "4", "--max-long-term-elements", "40"])
    assert rc == 0
    result = json.loads((out / "sweep.json").read_text())
    rows = result["rows"]
    assert [(r["policy"], r["parameter"], r["value"]) for r in rows] == [
        ("usage", "mem_every", 1), ("usage", "mem_every", 2), ("recurrent", "mem_every", 1),
        ("recurrent", "mem_every", 2)]
    for r in rows:
        assert np.isfinite(r["psnr"]) and r["psnr"] > 5 and r["cdc"] is not None and r["s_per_frame"] > 0
        assert r["memory"]["mem_every"] == r["value"] and r["memory"]["policy"] == r["policy"]
        assert (out / r["policy"] / f"mem_every={r['value']}" / "clip" / "00005.png").is_file()
    # recurrent keeps exemplar + 1 frame; usage with mem_every=1 holds more (24x40 -> 112x112 padded = 49/frame)
    elements = {(r["policy"], r["value"]): r["peak_memory_elements"] for r in rows}
    assert elements[("recurrent", 1)] == 2 * 49
    assert elements[("usage", 1)] > elements[("recurrent", 1)]
    md = (out / "sweep.md").read_text()
    assert "| usage | mem_every=1 |" in md and "PSNR" in md
    png = out / "sweep.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = np.asarray(Image.open(png).convert("L"))
    assert img.std() > 10  # a drawn figure, not a blank canvas
    # refuses to clobber without --overwrite
    assert main(["benchmark", "--data", str(root / "data"), "--out", str(out), "--weights", str(weights),
                 "--device", "cpu", "--quiet", "--sweep", "mem_every=1"]) != 0


def test_sweep_arguments_are_checked(setup, capsys):
    root, weights = setup
    args = ["benchmark", "--data", str(root / "data"), "--out", str(root / "bad"), "--weights", str(weights),
            "--device", "cpu", "--quiet"]
    assert main([*args, "--sweep", "width=1,2"]) == 2
    assert "cannot sweep" in capsys.readouterr().err
    assert main([*args, "--memory-policy", "usage,lru"]) == 2
    assert "unknown policy lru" in capsys.readouterr().err
    assert main([*args, "--sweep", "mem_every=0"]) == 2
    assert not (root / "bad").exists()
    assert parse_sweeps(["decay=0.5,0.9", "num-prototypes=8"]) == {"decay": [0.5, 0.9], "num_prototypes": [8]}
