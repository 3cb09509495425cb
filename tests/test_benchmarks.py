"""Dataset runner (colormnet.inference.dataset), benchmark (colormnet.benchmark, ``colormnet benchmark``)
and the benchmark scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from colormnet.benchmark import run_benchmark
from colormnet.cli import main
from colormnet.errors import OutputError
from colormnet.inference.dataset import colorize_dataset

REPO = Path(__file__).resolve().parents[1]


def _strict_load(path: Path) -> dict:
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    """Two DAVIS-like colour clips of 112x112: 3 PNG frames (astronaut) and 2 JPEG frames (coffee)."""
    root = tmp_path / "davis"
    for name, photo, n, ext in (("astro", data.astronaut(), 3, ".png"), ("coffee", data.coffee(), 2, ".jpg")):
        (root / name).mkdir(parents=True)
        for i in range(n):
            crop = np.ascontiguousarray(photo[40 + 3 * i:152 + 3 * i, 120 + 4 * i:232 + 4 * i])
            Image.fromarray(crop).save(root / name / f"{i:05d}{ext}", quality=95)
    return root


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_benchmark_end_to_end_keyframe(dataset, tmp_path, tiny_model):
    out = tmp_path / "out"
    report = run_benchmark(dataset, out, tiny_model, metrics=["psnr", "ssim", "cdc"], progress=False)
    for clip, n in (("astro", 3), ("coffee", 2)):
        names = sorted(p.name for p in (out / clip).iterdir() if not p.name.startswith("."))
        assert names == [f"{i:05d}.png" for i in range(n)]
        # frame 0 is the exemplar frame: its colours come back up to the Lab round trip
        diff = np.abs(_rgb(out / clip / "00000.png") - _rgb(next((dataset / clip).glob("00000.*"))))
        assert diff.max() <= 3 and diff.mean() < 1.0
    # predicted frames keep the input luma but not the colours of a random network
    pred = _rgb(out / "astro" / "00002.png")
    assert np.abs(pred - _rgb(dataset / "astro" / "00002.png")).mean() > 1.0
    saved = _strict_load(out / "benchmark.json")
    ev = saved["evaluation"]
    assert set(ev["clips"]) == {"astro", "coffee"} and ev["overall"]["frames"] == 5
    psnr = ev["overall"]["psnr"]
    assert isinstance(psnr, float) and 5.0 < psnr < 60.0
    assert isinstance(ev["clips"]["astro"]["psnr"], float)
    assert -1.0 <= ev["overall"]["ssim"] <= 1.0 and ev["overall"]["cdc"] >= 0
    info = saved["benchmark"]
    assert info["protocol"] == "keyframe" and info["frames"] == 5 and info["meaningful"] is True
    assert info["memory"]["mem_every"] == 5 and info["weights"] == "random"
    assert [c["name"] for c in info["clips"]] == ["astro", "coffee"]
    md = (out / "benchmark.md").read_text()
    assert "| astro | 3 |" in md and "| coffee | 2 |" in md and "NOT MEANINGFUL" not in md
    assert report["evaluation"]["overall"]["frames"] == 5


def test_free_reference_predicts_frame0(dataset, tmp_path, tiny_model):
    first = colorize_dataset(dataset, tmp_path / "a", tiny_model, progress=False, clips=["astro"])
    free = colorize_dataset(dataset, tmp_path / "b", tiny_model, protocol="free-reference",
                            progress=False, clips=["astro"])
    assert first["frames"] == free["frames"] == 3 and [c["name"] for c in free["clips"]] == ["astro"]
    gt0 = _rgb(dataset / "astro" / "00000.png")
    assert np.abs(_rgb(tmp_path / "a" / "astro" / "00000.png") - gt0).mean() < 1.0
    assert np.abs(_rgb(tmp_path / "b" / "astro" / "00000.png") - gt0).mean() > 1.0  # predicted
    assert not (tmp_path / "b" / "coffee").exists()


def test_output_checks_and_resume(dataset, tmp_path, tiny_model):
    out = tmp_path / "out"
    colorize_dataset(dataset, out, tiny_model, progress=False)
    before = (out / "astro" / "00001.png").stat().st_mtime_ns
    with pytest.raises(OutputError, match="already exists"):
        colorize_dataset(dataset, out, tiny_model, progress=False)
    resumed = colorize_dataset(dataset, out, tiny_model, progress=False, resume=True)
    assert all(c["skipped"] for c in resumed["clips"]) and resumed["frames_processed"] == 0
    assert (out / "astro" / "00001.png").stat().st_mtime_ns == before
    (out / "stray").mkdir()
    with pytest.raises(OutputError, match="not clips of this run"):
        colorize_dataset(dataset, out, tiny_model, progress=False, overwrite=True)
    with pytest.raises(OutputError, match="inside"):
        colorize_dataset(dataset, dataset / "astro" / "x", tiny_model, progress=False)


def test_cli_benchmark_without_weights_fails_clearly(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("COLORMNET_WEIGHTS", raising=False)
    monkeypatch.setenv("COLORMNET_CACHE", str(tmp_path / "empty-cache"))
    rc = main(["benchmark", "--data", str(dataset), "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "not found" in err and "--weights" in err
    assert not (tmp_path / "o").exists()


def test_cli_benchmark_recipe_label(dataset, tmp_path, monkeypatch, capsys, tiny_model):
    """--recipe-weights reports are labelled not meaningful (model swapped for the tiny one for speed)."""
    calls = {}

    def fake_build(name, *, weights=None, device="cpu", config=None):
        calls.update(name=name, weights=weights)
        return tiny_model

    monkeypatch.setattr("colormnet.models.build_model", fake_build)
    monkeypatch.setattr(tiny_model, "weights_source", "recipe", raising=False)
    out = tmp_path / "o"
    rc = main(["benchmark", "--data", str(dataset), "--out", str(out), "--recipe-weights", "--device", "cpu",
               "--metrics", "psnr", "--clips", "coffee", "--memory", "low-memory", "--mem-every", "2"])
    assert rc == 0 and calls == {"name": "recipe", "weights": None}
    printed = capsys.readouterr().out
    assert "NOT MEANINGFUL" in printed and "| coffee | 2 |" in printed
    saved = _strict_load(out / "benchmark.json")
    assert saved["benchmark"]["meaningful"] is False
    assert saved["benchmark"]["memory"]["mem_every"] == 2
    assert any("not evaluated" in n for n in saved["evaluation"]["notes"])  # astro was not run


def _run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=240)


def test_speed_script_tiny(tmp_path):
    out = tmp_path / "speed.json"
    proc = _run_script(str(REPO / "benchmarks" / "speed.py"), "--tiny", "--sizes", "112x112", "--frames", "2",
                       "--warmup", "1", "--flush-denormal", "--threads", "1", "-q", "--out", str(out),
                       cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = _strict_load(out)
    env = report["environment"]
    assert env["torch"] == torch.__version__ and env["threads"] == 1 and "git_commit" in env
    assert env["device"] == "cpu" and env["device_name"]
    (r,) = report["results"]
    assert r["size"] == [112, 112] and r["precision"] == "fp32" and r["frames"] == 3
    assert len(r["per_frame_s"]) == 3 and r["first_frame_s"] == r["per_frame_s"][0] > 0
    assert r["steady"]["frames"] == 2
    assert r["steady"]["mean_s"] == pytest.approx(sum(r["per_frame_s"][1:]) / 2)
    assert r["steady"]["fps"] == pytest.approx(1 / r["steady"]["mean_s"])
    assert r["memory_frame_indices"] == [0]  # frame 0 (exemplar) only; the last frame is never stored
    assert r["peak_memory"]["bytes"] > 50 * 2**20
    assert "| 112x112 | fp32 |" in proc.stdout
    # the real engine ran, with every stage timed (frame 2 is the last: no value encoder)
    stages = r["stages_mean_s"]
    for name in ("key_encoder", "key.dinov2", "key.fuse3.encode_enc", "decoder", "local_attention",
                 "memory_readout", "colour.rgb_to_L", "colour.lab_to_rgb", "decode", "encode"):
        assert stages[name] > 0, name
    assert r["per_frame_stages_s"][0]["value_encoder"] > 0  # the exemplar frame is encoded into memory
    assert stages["key_encoder"] > stages["key.dinov2"]
    assert sum(r["per_frame_cpu_s"]) > 0 and env["colormnet_commit"]
    # an existing file is not replaced
    again = _run_script(str(REPO / "benchmarks" / "speed.py"), "--tiny", "--sizes", "112x112", "--frames", "1",
                        "--warmup", "1", "-q", "--out", str(out), cwd=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_flops_script_tiny(tmp_path):
    out = tmp_path / "flops.json"
    proc = _run_script(str(REPO / "benchmarks" / "flops.py"), "--tiny", "--sizes", "224x224,448x448",
                       "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = _strict_load(out)
    small, large = report["results"]
    ratio = large["frames"]["non_memory"] / small["frames"]["non_memory"]
    assert 3.0 < ratio < 6.0
    assert "| encode_key |" in proc.stdout and "Not counted" in proc.stdout


def test_precision_handling(dataset, tmp_path, tiny_model):
    from colormnet.errors import InputError

    with pytest.raises(InputError, match="fp16"):
        colorize_dataset(dataset, tmp_path / "fp16", tiny_model, precision="fp16", progress=False)
    assert not (tmp_path / "fp16").exists()  # rejected before any output
    run = colorize_dataset(dataset, tmp_path / "bf16", tiny_model, precision="bf16", clips=["coffee"],
                           progress=False)
    assert run["frames_processed"] == 2
    out1 = _rgb(tmp_path / "bf16" / "coffee" / "00001.png")
    assert out1.shape == (112, 112, 3)
    # bf16 really ran (the result differs from float32) and stays close to float32
    colorize_dataset(dataset, tmp_path / "fp32", tiny_model, precision="fp32", clips=["coffee"], progress=False)
    ref1 = _rgb(tmp_path / "fp32" / "coffee" / "00001.png")
    diff = np.abs(out1.astype(np.int16) - ref1.astype(np.int16))
    assert diff.max() > 0 and diff.mean() < 2.0, (diff.max(), diff.mean())


def test_speed_script_lookahead_and_output_lag(tmp_path):
    out = tmp_path / "speed.json"
    proc = _run_script(str(REPO / "benchmarks" / "speed.py"), "--tiny", "--sizes", "112x112", "--frames", "3",
                       "--warmup", "1", "--flush-denormal", "--threads", "1", "--no-stages", "--lookahead", "2",
                       "--encode", "png", "-q", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (r,) = _strict_load(out)["results"]
    assert r["lookahead_used"] == 2 and r["frames"] == 4
    # the output thread returns results 2 frames late: the last 2 are not steady-state intervals
    assert r["output_lag"] == 2 and r["steady"]["frames"] == 1
    assert r["io_threads"] is True  # without stage hooks decode/encode run on worker threads, as in colorize
    assert r["steady"]["mean_s"] == pytest.approx(r["per_frame_s"][1])
    assert "| 112x112 | fp32 | 2 |" in proc.stdout


def test_precision_compare_per_frame_numbers():
    """benchmarks/precision.compare (also used by cpu_variants.py): per-frame PSNR, level and |ab|
    differences against the fp32 run, frame 0 (the exemplar's own colour) left out of the summary."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from precision import compare
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    ref = [np.full((4, 5, 3), 100, np.uint8) for _ in range(3)]
    got = [ref[0].copy(), ref[1] + 1, ref[2].copy()]
    got[2][0, 0, 0] = 110  # one value 10 levels off out of 60
    ab_ref = [np.zeros((2, 4, 5), np.float32) for _ in range(3)]
    ab_got = [ab_ref[0], ab_ref[1] + 0.01, ab_ref[2] - 0.02]
    per_frame, summary = compare(ref, ab_ref, [1.0, 2.0, 2.0], got, ab_got, [0.5, 1.0, 1.5])
    assert per_frame[0]["rgb_psnr_db"] == float("inf")
    assert per_frame[1]["rgb_psnr_db"] == pytest.approx(20 * np.log10(255))  # MSE 1
    assert per_frame[2]["rgb_psnr_db"] == pytest.approx(10 * np.log10(255 ** 2 / (100 / 60)))
    assert [f["max_rgb_level_diff"] for f in per_frame] == [0, 1, 10]
    assert per_frame[1]["max_ab_diff"] == pytest.approx(1.1) and per_frame[2]["mean_ab_diff"] == pytest.approx(2.2)
    assert summary["worst_frame"] == 2 and summary["frames"] == 3
    assert summary["max_ab_diff"] == pytest.approx(2.2)
    assert summary["seconds_per_frame"] == pytest.approx(1.25) and summary["fp32_seconds_per_frame"] == 2.0
