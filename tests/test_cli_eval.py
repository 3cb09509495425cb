"""``colormnet eval`` on small clips cut from scikit-image photos, against JPEG/noise-degraded copies."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from colormnet.cli import main


def _strict_load(path: Path) -> dict:
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def _clip(photo: np.ndarray, n: int, top: int, left: int) -> list[np.ndarray]:
    """n frames of 64x80 sliding over the photo (a small camera pan)."""
    return [np.ascontiguousarray(photo[top + 2 * i:top + 2 * i + 64, left + 3 * i:left + 3 * i + 80])
            for i in range(n)]


def _degrade(frame: np.ndarray, seed: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=30)
    jpeg = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).astype(int)
    noise = np.random.default_rng(seed).integers(-6, 7, jpeg.shape)
    return np.clip(jpeg + noise, 0, 255).astype(np.uint8)


def _write(root: Path, clips: dict[str, list[np.ndarray]]) -> None:
    for name, frames in clips.items():
        (root / name).mkdir(parents=True)
        for i, f in enumerate(frames):
            Image.fromarray(f).save(root / name / f"{i:05d}.png")


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    gt_clips = {"astronaut": _clip(data.astronaut(), 4, 60, 150), "coffee": _clip(data.coffee(), 3, 100, 200)}
    pred_clips = {k: [_degrade(f, i) for i, f in enumerate(v)] for k, v in gt_clips.items()}
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    _write(gt, gt_clips)
    _write(pred, pred_clips)
    return pred, gt


def test_eval_writes_json_and_table(dirs, tmp_path, capsys):
    pred, gt = dirs
    js, md = tmp_path / "r.json", tmp_path / "r.md"
    rc = main(["eval", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr,ssim,cdc,colourfulness,lpips",
               "--json", str(js), "--markdown", str(md)])
    out, err = capsys.readouterr()
    assert rc == 0
    result = _strict_load(js)
    assert set(result["clips"]) == {"astronaut", "coffee"}
    assert result["clips"]["astronaut"]["frames"] == 4 and result["clips"]["coffee"]["frames"] == 3
    ov = result["overall"]
    assert ov["frames"] == 7 and ov["clips"] == 2
    # values recomputed independently with scikit-image from the files on disk (PSNR/SSIM per frame,
    # mean per clip, overall = mean over all frames)
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    per_frame: dict[str, list[tuple[float, float]]] = {}
    for clip in ("astronaut", "coffee"):
        for f in sorted((gt / clip).glob("*.png")):
            a, b = np.asarray(Image.open(f)), np.asarray(Image.open(pred / clip / f.name))
            per_frame.setdefault(clip, []).append(
                (peak_signal_noise_ratio(a, b), structural_similarity(a, b, channel_axis=2)))
    for clip, values in per_frame.items():
        assert result["clips"][clip]["psnr"] == pytest.approx(np.mean([v[0] for v in values]), rel=1e-9)
        assert result["clips"][clip]["ssim"] == pytest.approx(np.mean([v[1] for v in values]), rel=1e-9)
    every = [v for values in per_frame.values() for v in values]
    assert ov["psnr"] == pytest.approx(np.mean([v[0] for v in every]), rel=1e-9)
    assert ov["ssim"] == pytest.approx(np.mean([v[1] for v in every]), rel=1e-9)
    assert ov["cdc"] >= 0 and ov["colourfulness"] > 0
    # overall PSNR is the mean over all 7 frames, so it lies between the clip means
    clip_psnr = [c["psnr"] for c in result["clips"].values()]
    assert min(clip_psnr) <= ov["psnr"] <= max(clip_psnr)
    assert "lpips" in result["skipped"] and any("lpips skipped" in n for n in result["notes"])
    table = md.read_text()
    assert table.startswith("Evaluation of") and "| clip | frames |" in table
    assert "| astronaut | 4 |" in table and "| coffee | 3 |" in table and "**overall**" in table
    assert "PSNR (dB)" in table and "LPIPS" not in table.split("Notes:")[0]
    assert out == table  # the same table is printed
    assert "evaluating" in err and "7/7" in err  # progress bar over frames


def test_identical_dirs_give_inf_psnr_and_ssim_one(dirs, tmp_path):
    _, gt = dirs
    js = tmp_path / "same.json"
    assert main(["eval", "--pred", str(gt), "--gt", str(gt), "--metrics", "psnr,ssim",
                 "--json", str(js), "--quiet"]) == 0
    result = _strict_load(js)  # strict JSON: inf is the string "inf"
    assert result["overall"]["psnr"] == "inf"
    assert all(c["psnr"] == "inf" for c in result["clips"].values())
    assert result["overall"]["ssim"] == pytest.approx(1.0)
    assert math.isinf(float(result["overall"]["psnr"]))


def test_refuses_to_clobber_outputs(dirs, tmp_path, capsys):
    pred, gt = dirs
    js = tmp_path / "r.json"
    js.write_text("keep me")
    rc = main(["eval", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr", "--json", str(js), "--quiet"])
    assert rc == 2
    assert "already exists" in capsys.readouterr().err
    assert js.read_text() == "keep me"
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr", "--json", str(js),
                 "--quiet", "--overwrite"]) == 0
    assert "overall" in _strict_load(js)
    assert not list(tmp_path.glob(".*partial*"))  # no temporary file left behind


def test_clear_errors(dirs, tmp_path, capsys):
    pred, gt = dirs
    assert main(["eval", "--pred", str(tmp_path / "nope"), "--gt", str(gt)]) == 2
    assert "--pred folder" in capsys.readouterr().err
    (pred / "coffee" / "00002.png").unlink()
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "frame names differ" in err and "00002" in err
    assert main(["eval", "--pred", str(gt), "--gt", str(gt), "--metrics", "psnr,bogus"]) == 2
    assert "unknown metric" in capsys.readouterr().err
