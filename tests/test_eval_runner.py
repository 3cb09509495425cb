"""evaluate_dirs / to_markdown over small <clip>/<frame> folders written from scikit-image photos."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from colormnet.errors import InputError
from colormnet.eval import metrics as M
from colormnet.eval.inception import InceptionV3Trunk
from colormnet.eval.lpips import LPIPS
from colormnet.eval.runner import evaluate_dirs, to_markdown


def _frames(n: int, offset: int) -> list[np.ndarray]:
    src = data.astronaut()
    return [
        np.ascontiguousarray(src[100 + 3 * i : 132 + 3 * i, offset + 2 * i : offset + 40 + 2 * i])
        for i in range(n)
    ]


def _noisy(img: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)


def _write(root: Path, clips: dict[str, list[np.ndarray]], ext: str) -> None:
    for clip, frames in clips.items():
        (root / clip).mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(frames):
            Image.fromarray(f).save(root / clip / f"{i:05d}{ext}")


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple[Path, Path, dict, dict]:
    gt = {"bear": _frames(5, 50), "car": _frames(3, 200)}
    pred = {k: [_noisy(f, i) for i, f in enumerate(v)] for k, v in gt.items()}
    _write(tmp_path / "gt", gt, ".png")
    _write(tmp_path / "pred", pred, ".bmp")  # lossless, different extension: matched by stem
    return tmp_path / "pred", tmp_path / "gt", pred, gt


def test_numpy_metrics_per_clip_and_overall(dirs) -> None:
    pred_dir, gt_dir, pred, gt = dirs
    res = evaluate_dirs(
        pred_dir, gt_dir, metrics=["psnr", "psnr_legacy", "ssim", "colorfulness", "cdc", "lpips"]
    )
    assert set(res["clips"]) == {"bear", "car"}
    assert res["skipped"].keys() == {"lpips"} and any("lpips skipped" in n for n in res["notes"])
    assert res["metrics"] == ["psnr", "psnr_legacy", "ssim", "colourfulness", "cdc"]
    bear = res["clips"]["bear"]
    assert bear["frames"] == 5
    assert bear["psnr"] == pytest.approx(
        np.mean([M.psnr(p, g) for p, g in zip(pred["bear"], gt["bear"], strict=True)])
    )
    assert bear["ssim"] == pytest.approx(
        np.mean([M.ssim(p, g) for p, g in zip(pred["bear"], gt["bear"], strict=True)])
    )
    assert bear["cdc"] == pytest.approx(M.cdc(pred["bear"]))
    assert bear["cdc_gt"] == pytest.approx(M.cdc(gt["bear"]))
    assert bear["colourfulness_gt"] == pytest.approx(np.mean([M.colourfulness(g) for g in gt["bear"]]))
    assert bear["psnr_legacy"] != pytest.approx(bear["psnr"])
    all_psnr = [M.psnr(p, g) for c in ("bear", "car") for p, g in zip(pred[c], gt[c], strict=True)]
    ov = res["overall"]
    assert ov["frames"] == 8 and ov["clips"] == 2
    assert ov["psnr"] == pytest.approx(np.mean(all_psnr))  # frame-weighted, like the authors
    assert ov["cdc"] == pytest.approx((bear["cdc"] + res["clips"]["car"]["cdc"]) / 2)  # clip mean
    assert "fid" not in ov and "lpips" not in ov

    md = to_markdown(res)
    assert "| bear | 5 |" in md and "**overall**" in md and f"{ov['psnr']:.2f}" in md
    assert "LPIPS" not in md.split("Notes:")[0]


def test_weight_metrics_skipped_by_default_and_identical_frames(tmp_path: Path) -> None:
    frames = {"a": _frames(2, 10)}
    _write(tmp_path / "gt", frames, ".png")
    _write(tmp_path / "pred", frames, ".png")
    res = evaluate_dirs(tmp_path / "pred", tmp_path / "gt")
    assert set(res["skipped"]) == {"lpips", "fid"}
    assert res["overall"]["psnr"] == math.inf and res["overall"]["ssim"] == pytest.approx(1.0)
    assert any("PSNR = inf" in n for n in res["notes"])
    assert "inf" in to_markdown(res)


def test_lpips_and_fid_with_weight_files(dirs, tmp_path: Path) -> None:
    pred_dir, gt_dir, pred, gt = dirs
    torch.manual_seed(0)
    lp = {k: v.abs() if k.startswith("lin") else v for k, v in LPIPS().state_dict().items()}
    torch.save(
        {k.removeprefix("alexnet."): v for k, v in lp.items() if k.startswith("alexnet.")},
        tmp_path / "an.pth",
    )
    torch.save({k: v for k, v in lp.items() if k.startswith("lin")}, tmp_path / "alex.pth")
    inc = InceptionV3Trunk().state_dict()
    for v in inc.values():  # keep activations O(1) through the random network
        if v.ndim == 4:
            v.normal_(0, math.sqrt(2.0 / v[0].numel()))
    torch.save(inc, tmp_path / "inc.pth")
    # keep FID cheap: a single 3-frame clip
    for d in (pred_dir, gt_dir):
        for f in (d / "bear").iterdir():
            f.unlink()
        (d / "bear").rmdir()
    res = evaluate_dirs(
        pred_dir,
        gt_dir,
        metrics=["lpips", "fid"],
        lpips_weights=(tmp_path / "an.pth", tmp_path / "alex.pth"),
        inception_weights=tmp_path / "inc.pth",
        batch_size=2,
    )
    car = res["clips"]["car"]
    assert res["skipped"] == {} and car["lpips"] > 0 and math.isfinite(car["fid"]) and car["fid"] > 0
    # the runner's numbers are the per-frame LPIPS mean and the FID of this clip's features, recomputed
    # here from the same weight files and frames (so a wrong pairing, order or average fails)
    from colormnet.eval.fid import fid_from_features
    from colormnet.eval.inception import extract_features, load_inception
    from colormnet.eval.lpips import load_lpips, lpips_distance

    model = load_lpips(tmp_path / "an.pth", tmp_path / "alex.pth")
    want = np.mean([lpips_distance(model, p, g) for p, g in zip(pred["car"], gt["car"], strict=True)])
    assert car["lpips"] == pytest.approx(want, rel=1e-5)
    trunk = load_inception(tmp_path / "inc.pth")
    f_pred, f_gt = extract_features(trunk, pred["car"]), extract_features(trunk, gt["car"])
    assert car["fid"] == pytest.approx(fid_from_features(f_pred, f_gt), rel=1e-4)
    assert res["overall"]["fid"] == pytest.approx(car["fid"])
    assert res["overall"]["fid_pooled"] == pytest.approx(car["fid"])  # one clip: pooled == per-clip
    md = to_markdown(res)
    assert "LPIPS" in md and "FID" in md


def test_flat_layout_and_errors(tmp_path: Path) -> None:
    frames = _frames(3, 0)
    for root in ("p", "g"):
        (tmp_path / root).mkdir()
        for i, f in enumerate(frames):
            Image.fromarray(f).save(tmp_path / root / f"{i}.png")
    res = evaluate_dirs(tmp_path / "p", tmp_path / "g", metrics=["psnr"])
    assert list(res["clips"]) == ["."] and res["overall"]["frames"] == 3

    with pytest.raises(InputError, match="unknown metric"):
        evaluate_dirs(tmp_path / "p", tmp_path / "g", metrics=["nope"])
    with pytest.raises(InputError, match="not a directory"):
        evaluate_dirs(tmp_path / "missing", tmp_path / "g")
    (tmp_path / "p" / "0.png").unlink()
    with pytest.raises(InputError, match="frame names differ"):
        evaluate_dirs(tmp_path / "p", tmp_path / "g", metrics=["psnr"])
    Image.fromarray(frames[0][:-2]).save(tmp_path / "p" / "0.png")
    with pytest.raises(InputError, match="size differs"):
        evaluate_dirs(tmp_path / "p", tmp_path / "g", metrics=["psnr"])


def test_missing_clip_in_ground_truth(dirs) -> None:
    pred_dir, gt_dir, _, _ = dirs
    (pred_dir / "extra").mkdir()
    Image.fromarray(_frames(1, 0)[0]).save(pred_dir / "extra" / "0.png")
    with pytest.raises(InputError, match="'extra'.*no ground truth"):
        evaluate_dirs(pred_dir, gt_dir, metrics=["psnr"])
