"""PSNR / SSIM / colourfulness / CDC / FID against scikit-image, scipy and hand-computed values."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image
from skimage import data, filters
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from colormnet.errors import InputError
from colormnet.eval import fid as F
from colormnet.eval import metrics as M

# ---------------------------------------------------------------- real images and degradations


def _noise(img: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(img.astype(np.float64) + rng.normal(0, 12, img.shape), 0, 255).round().astype(np.uint8)


def _jpeg(img: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=20)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _blur(img: np.ndarray) -> np.ndarray:
    out = filters.gaussian(img, sigma=2.0, channel_axis=2, preserve_range=True)
    return np.clip(out, 0, 255).round().astype(np.uint8)


IMAGES = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee}
DEGRADE = {"noise": _noise, "jpeg": _jpeg, "blur": _blur}


@pytest.fixture(scope="module", params=sorted(IMAGES))
def image(request) -> np.ndarray:
    return IMAGES[request.param]()


@pytest.mark.parametrize("how", sorted(DEGRADE))
def test_psnr_and_ssim_match_scikit_image(image: np.ndarray, how: str) -> None:
    pred = DEGRADE[how](image)
    assert pred.shape == image.shape and pred.dtype == np.uint8
    ours = M.psnr(pred, image)
    assert ours == pytest.approx(peak_signal_noise_ratio(image, pred), rel=1e-12)
    assert 15.0 < ours < 50.0
    assert M.ssim(pred, image) == pytest.approx(structural_similarity(image, pred, channel_axis=2), rel=1e-12)


def test_psnr_identical_is_inf_and_ssim_one() -> None:
    img = data.chelsea()
    assert M.psnr(img, img) == math.inf
    assert M.ssim(img, img) == pytest.approx(1.0)


def test_stronger_degradation_scores_worse() -> None:
    img = data.coffee()
    rng = np.random.default_rng(1)
    mild = np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
    strong = np.clip(img + rng.normal(0, 30, img.shape), 0, 255).astype(np.uint8)
    assert M.psnr(mild, img) > M.psnr(strong, img) + 10
    assert M.ssim(mild, img) > M.ssim(strong, img)


def test_legacy_psnr_wraps_where_standard_does_not() -> None:
    gt = np.full((8, 8, 3), 5, np.uint8)
    pred = np.full((8, 8, 3), 250, np.uint8)
    # standard: |250 - 5| = 245; authors': (5 - 250) mod 256 = 11, 11^2 = 121 < 256 (no second wrap)
    assert M.psnr(pred, gt) == pytest.approx(20 * math.log10(255 / 245))
    assert M.psnr(pred, gt, legacy=True) == pytest.approx(20 * math.log10(255 / 11))
    # difference 16: 256 mod 256 = 0 -> the legacy variant reports a perfect match
    assert M.psnr(gt + 16, gt, legacy=True) == math.inf
    assert M.psnr(gt + 16, gt) == pytest.approx(20 * math.log10(255 / 16))


def test_legacy_psnr_equals_explicit_modular_formula() -> None:
    gt = data.astronaut()
    pred = _noise(gt)
    d = (gt.astype(np.int64) - pred.astype(np.int64)) % 256
    mse = np.mean((d * d) % 256)
    assert M.psnr(pred, gt, legacy=True) == pytest.approx(20 * math.log10(255 / math.sqrt(mse)), rel=1e-12)
    assert abs(M.psnr(pred, gt, legacy=True) - M.psnr(pred, gt)) > 1.0


def test_bad_inputs_raise_input_error() -> None:
    img = data.chelsea()
    with pytest.raises(InputError, match="differ in size"):
        M.psnr(img[:-1], img)
    with pytest.raises(InputError, match="uint8"):
        M.ssim(img.astype(np.float32), img)
    with pytest.raises(InputError, match="uint8"):
        M.colourfulness(img[..., 0])


# ---------------------------------------------------------------- colourfulness


def test_colourfulness_gray_is_zero() -> None:
    gray = np.repeat(data.camera()[..., None], 3, axis=2)
    assert M.colourfulness(gray) == 0.0
    assert M.colourfulness(data.astronaut()) > 20.0


def test_colourfulness_hand_cases() -> None:
    img = np.zeros((4, 4, 3), np.uint8)
    img[:2, :, 0] = 255  # top half pure red: rg = 255, yb = 127.5
    img[2:, :, 1] = 255  # bottom half pure green: rg = -255, yb = 127.5
    # mean rg 0, std rg 255; mean yb 127.5, std yb 0 -> 255 + 0.3 * 127.5
    assert M.colourfulness(img) == pytest.approx(255 + 0.3 * 127.5)
    red = np.zeros((3, 3, 3), np.uint8)
    red[..., 0] = 255
    assert M.colourfulness(red) == pytest.approx(0.3 * math.hypot(255, 127.5))
    # authors' variant: channels read as BGR and |rg|, |yb|:
    # red pixel -> rg = |0 - 0| = 0, yb = |0 - 255| = 255; green pixel -> rg = 255, yb = 127.5
    expect = math.hypot(127.5, 63.75) + 0.3 * math.hypot(127.5, 191.25)
    assert M.colourfulness(img, legacy=True) == pytest.approx(expect)


# ---------------------------------------------------------------- JS divergence and CDC


def test_js_divergence_hand_values() -> None:
    p = np.array([0.5, 0.0, 0.5])
    q = np.array([1.0, 0.0, 0.0])
    # m = (0.75, 0, 0.25): KL(p||m) = 0.5 ln(2/3) + 0.5 ln 2, KL(q||m) = ln(4/3)
    assert float(M.js_divergence(p, q)) == pytest.approx(0.75 * math.log(4 / 3))
    assert float(M.js_divergence(p, p)) == 0.0
    assert float(M.js_divergence([1, 0], [0, 1])) == pytest.approx(math.log(2))


def test_js_divergence_matches_scipy() -> None:
    jensenshannon = pytest.importorskip("scipy.spatial.distance").jensenshannon
    rng = np.random.default_rng(2)
    p, q = rng.random(256), rng.random(256)
    p[:40] = 0  # zero bins on one side
    assert float(M.js_divergence(p, q)) == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-10)


def test_channel_histograms() -> None:
    img = data.coffee()
    h = M.channel_histograms(img)
    assert h.shape == (3, 256)
    np.testing.assert_allclose(h.sum(axis=1), 1.0)
    assert h[1, 17] == pytest.approx(np.mean(img[..., 1] == 17))


def _frame(r_half_white: bool, b_value: int) -> np.ndarray:
    f = np.zeros((6, 8, 3), np.uint8)
    if r_half_white:
        f[:3, :, 0] = 255
    f[..., 1] = 100  # G constant over the clip
    f[..., 2] = b_value
    return f


def test_cdc_hand_computed_clip() -> None:
    # frames A B A B A: R histogram {0: .5, 255: .5} vs {0: 1}; B channel all-10 vs all-20 (disjoint)
    a, b = _frame(True, 10), _frame(False, 20)
    clip = [a, b, a, b, a]
    j_r = 0.75 * math.log(4 / 3)
    j_b = math.log(2)
    # d = 1: every pair differs; d = 2 and d = 4: pairs are equal -> 0
    expect = ((j_r + 0 + 0) / 3 + 0.0 + (j_b + 0 + 0) / 3) / 3
    assert M.cdc(clip) == pytest.approx(expect, rel=1e-12)
    assert M.cdc([a] * 5) == 0.0


def test_cdc_short_clip_uses_available_distances() -> None:
    a, b = _frame(True, 10), _frame(False, 20)
    j = (0.75 * math.log(4 / 3) + math.log(2)) / 3  # channel mean of the per-pair JS
    # 3 frames A B B: d=1 pairs (A,B), (B,B) -> j/2; d=2 pair (A,B) -> j; d=4 none -> mean of the two
    assert M.cdc([a, b, b]) == pytest.approx((j / 2 + j) / 2, rel=1e-12)
    with pytest.raises(InputError, match="at least 2 frames"):
        M.cdc([a])


def test_cdc_on_real_frames_is_small_for_similar_frames() -> None:
    base = data.astronaut()[:128, :128]
    similar = [np.roll(base, s, axis=1) for s in range(5)]
    different = [base, data.coffee()[:128, :128]] * 3
    assert 0 <= M.cdc(similar) < M.cdc(different) <= math.log(2)


# ---------------------------------------------------------------- FID


def _gaussian_features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / math.sqrt(d)
    return rng.normal(size=(n, d)) @ mix + shift + rng.normal(size=d)


def _direct_fid(x: np.ndarray, y: np.ndarray) -> float:
    linalg = pytest.importorskip("scipy.linalg")
    m1, m2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = linalg.sqrtm(s1 @ s2).real
    return float(np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * root))


@pytest.mark.parametrize("method", ["auto", "eigh", "gram", "scipy"])
def test_fid_matches_direct_formula(method: str) -> None:
    x = _gaussian_features(400, 24, seed=3)
    y = _gaussian_features(300, 24, seed=4, shift=0.5)
    expect = _direct_fid(x, y)
    assert expect > 1.0
    assert F.fid_from_features(x, y, method=method) == pytest.approx(expect, rel=1e-8)


def test_fid_of_identical_sets_is_zero_and_shift_gives_mean_term() -> None:
    x = _gaussian_features(200, 32, seed=5)
    assert abs(F.fid_from_features(x, x)) < 1e-9
    assert abs(F.fid_from_features(x, x, method="eigh")) < 1e-6
    c = np.linspace(-1, 1, 32)
    assert F.fid_from_features(x, x + c) == pytest.approx(float(c @ c), rel=1e-9)


def test_fid_rank_deficient_methods_agree() -> None:
    # fewer samples than dimensions (the per-clip case): covariances are singular
    x = _gaussian_features(30, 100, seed=6)
    y = _gaussian_features(40, 100, seed=7, shift=0.2)
    gram = F.fid_from_features(x, y, method="gram")
    assert F.fid_from_features(x, y) == gram  # auto picks gram here
    assert F.fid_from_features(x, y, method="eigh") == pytest.approx(gram, rel=1e-6)
    assert F.fid_from_features(x, y, method="scipy") == pytest.approx(gram, rel=1e-4)


def test_fid_per_clip_mean_and_pooled() -> None:
    preds = [_gaussian_features(50, 8, seed=10 + k, shift=k) for k in range(3)]
    gts = [_gaussian_features(60, 8, seed=20 + k, shift=k) for k in range(3)]
    per = F.fid_per_clip(preds, gts)
    assert len(per) == 3
    assert F.fid_per_clip_mean(preds, gts) == pytest.approx(np.mean(per))
    pooled = F.fid_pooled(preds, gts)
    assert pooled == pytest.approx(F.fid_from_features(np.concatenate(preds), np.concatenate(gts)))
    assert pooled != pytest.approx(np.mean(per))


def test_fid_bad_inputs() -> None:
    x = _gaussian_features(10, 4, seed=0)
    with pytest.raises(InputError, match="N >= 2"):
        F.fid_from_features(x[:1], x)
    with pytest.raises(InputError, match="feature sizes differ"):
        F.fid_from_features(x, x[:, :3])
    with pytest.raises(InputError, match="clips"):
        F.fid_per_clip([x], [x, x])
