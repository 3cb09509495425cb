"""LPIPS (AlexNet) and Inception-v3 trunks: standard key names, loading, and forward behaviour.

No real weights are used: random state_dicts are generated from our own modules' state_dicts (so
the key names are the standard ones, nothing renamed) and written to temporary files.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as tF
from skimage import data

from colormnet.errors import WeightsError
from colormnet.eval.inception import InceptionV3Trunk, extract_features, load_inception, preprocess
from colormnet.eval.lpips import LPIPS, AlexNetTrunk, load_lpips, lpips_distance, to_lpips_input

# ---------------------------------------------------------------- helpers


def _randomised(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Random values of a plausible scale for every tensor of ``state`` (same keys and shapes)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(0)
        elif k.endswith("running_var") or (k.endswith("bn.weight")):
            out[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif v.ndim == 4:  # conv weight: He-scaled so activations stay O(1) through the depth
            fan_in = v.shape[1] * v.shape[2] * v.shape[3]
            out[k] = torch.randn(v.shape, generator=g) * math.sqrt(2.0 / fan_in)
        else:  # biases, running means
            out[k] = 0.1 * torch.randn(v.shape, generator=g)
    return out


def _crop(img: np.ndarray, size: int = 96) -> np.ndarray:
    return np.ascontiguousarray(img[:size, :size])


# ---------------------------------------------------------------- LPIPS


LPIPS_TRUNK_SHAPES = {
    "features.0.weight": (64, 3, 11, 11),
    "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5),
    "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3),
    "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3),
    "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3),
    "features.10.bias": (256,),
}
LPIPS_HEAD_SHAPES = {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate((64, 192, 384, 256, 256))}


@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory) -> tuple[Path, Path, dict, dict]:
    d = tmp_path_factory.mktemp("lpips")
    trunk = _randomised(AlexNetTrunk().state_dict(), seed=0)
    heads = {k: v.abs() for k, v in _randomised(LPIPS().state_dict(), seed=1).items() if k.startswith("lin")}
    trunk_file = {**trunk, "classifier.1.weight": torch.zeros(4, 9216), "classifier.1.bias": torch.zeros(4)}
    torch.save(trunk_file, d / "alexnet.pth")
    torch.save(heads, d / "alex.pth")
    return d / "alexnet.pth", d / "alex.pth", trunk, heads


def test_alexnet_and_head_keys_are_the_standard_ones() -> None:
    got = {k: tuple(v.shape) for k, v in AlexNetTrunk().state_dict().items()}
    assert got == LPIPS_TRUNK_SHAPES
    got = {k: tuple(v.shape) for k, v in LPIPS().state_dict().items() if k.startswith("lin")}
    assert got == LPIPS_HEAD_SHAPES
    assert sum(p.numel() for p in AlexNetTrunk().parameters()) == 2_469_696  # torchvision alexnet.features


def test_lpips_loads_and_behaves(lpips_files) -> None:
    trunk_path, heads_path, trunk, heads = lpips_files
    model = load_lpips(trunk_path, heads_path)
    sd = model.state_dict()
    for k, v in trunk.items():
        assert torch.equal(sd[f"alexnet.{k}"], v)
    for k, v in heads.items():
        assert torch.equal(sd[k], v)
    assert not model.training and not any(p.requires_grad for p in model.parameters())

    a, b, c = _crop(data.astronaut()), _crop(data.coffee()), _crop(data.chelsea())
    assert lpips_distance(model, a, a) == 0.0
    d_ab, d_ba = lpips_distance(model, a, b), lpips_distance(model, b, a)
    assert d_ab > 0 and math.isfinite(d_ab)
    assert d_ab == pytest.approx(d_ba, rel=1e-6)
    noisy = np.clip(a.astype(int) + np.random.default_rng(0).integers(-8, 9, a.shape), 0, 255).astype(
        np.uint8
    )
    assert 0 < lpips_distance(model, noisy, a) < d_ab
    batch = model(to_lpips_input(np.stack([a, b])), to_lpips_input(np.stack([c, c])))
    assert batch.shape == (2,) and torch.all(torch.isfinite(batch))


def _reference_lpips(trunk: dict, heads: dict, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """Independent functional re-computation of LPIPS from the raw tensors."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    convs = [(0, 4, 2), (3, 1, 2), (6, 1, 1), (8, 1, 1), (10, 1, 1)]  # (index, stride, padding)

    def taps(x):
        x = (x - shift) / scale
        out = []
        for n, (i, s, p) in enumerate(convs):
            if n in (1, 2):
                x = tF.max_pool2d(x, 3, 2)
            x = tF.relu(tF.conv2d(x, trunk[f"features.{i}.weight"], trunk[f"features.{i}.bias"], s, p))
            out.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    total = 0
    for k, (t0, t1) in enumerate(zip(taps(x0), taps(x1), strict=True)):
        total = total + tF.conv2d((t0 - t1) ** 2, heads[f"lin{k}.model.1.weight"]).mean(dim=(1, 2, 3))
    return total


def test_lpips_value_matches_functional_reference(lpips_files) -> None:
    trunk_path, heads_path, trunk, heads = lpips_files
    model = load_lpips(trunk_path, heads_path)
    x0 = to_lpips_input(np.stack([_crop(data.astronaut(), 80), _crop(data.coffee(), 80)]))
    x1 = to_lpips_input(np.stack([_crop(data.chelsea(), 80), _crop(data.astronaut(), 80)]))
    with torch.no_grad():
        torch.testing.assert_close(
            model(x0, x1), _reference_lpips(trunk, heads, x0, x1), rtol=1e-5, atol=1e-7
        )


def test_lpips_input_range() -> None:
    img = np.zeros((2, 3, 3), np.uint8)
    img[1] = 255
    x = to_lpips_input(img)
    assert x.shape == (1, 3, 2, 3)
    assert x[0, :, 0].eq(-1).all() and x[0, :, 1].eq(1).all()


def test_lpips_single_file_and_errors(lpips_files, tmp_path: Path) -> None:
    trunk_path, heads_path, trunk, heads = lpips_files
    torch.save({**trunk, **heads}, tmp_path / "both.pth")
    model = load_lpips(tmp_path / "both.pth")
    assert torch.equal(model.state_dict()["lin2.model.1.weight"], heads["lin2.model.1.weight"])

    with pytest.raises(WeightsError, match="not found.*nope.pth"):
        load_lpips(tmp_path / "nope.pth", heads_path)
    partial = {k: v for k, v in trunk.items() if k != "features.8.weight"}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match=r"partial\.pth.*features\.8\.weight"):
        load_lpips(tmp_path / "partial.pth", heads_path)
    with pytest.raises(WeightsError, match=r"lin0\.model\.1\.weight"):
        load_lpips(trunk_path)  # heads looked up in the trunk file, which lacks them
    bad = dict(heads)
    bad["lin1.model.1.weight"] = torch.zeros(1, 64, 1, 1)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="wrong shapes"):
        load_lpips(trunk_path, tmp_path / "bad.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_lpips(tmp_path / "junk.pth", heads_path)


# ---------------------------------------------------------------- Inception-v3


@pytest.fixture(scope="module")
def inception_state() -> dict[str, torch.Tensor]:
    return _randomised(InceptionV3Trunk().state_dict(), seed=2)


def test_inception_keys_are_torchvision_names() -> None:
    sd = InceptionV3Trunk().state_dict()
    assert len(sd) == 94 * 6  # 94 conv units, each conv.weight + 5 bn tensors
    assert sum(p.numel() for p in InceptionV3Trunk().parameters()) == 21_785_568  # 27,161,264 - fc - aux
    expect = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_4a_3x3.bn.running_var": (192,),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6b.branch7x7dbl_5.conv.weight": (192, 128, 1, 7),
        "Mixed_6e.branch7x7_3.conv.weight": (192, 192, 7, 1),
        "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
        "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
        "Mixed_7c.branch3x3_2b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch_pool.bn.bias": (192,),
    }
    for k, shape in expect.items():
        assert tuple(sd[k].shape) == shape, k
    assert all(m.eps == 0.001 for m in InceptionV3Trunk().modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_inception_loads_ignoring_fc_and_aux(inception_state, tmp_path: Path) -> None:
    ckpt = {k: v for k, v in inception_state.items() if not k.endswith("num_batches_tracked")}
    ckpt["fc.weight"], ckpt["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    ckpt["AuxLogits.conv0.conv.weight"] = torch.zeros(128, 768, 1, 1)
    torch.save(ckpt, tmp_path / "inception_v3_google-test.pth")
    trunk = load_inception(tmp_path / "inception_v3_google-test.pth")
    sd = trunk.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in ckpt.items() if k in sd)
    assert not trunk.training

    imgs = [data.astronaut(), data.coffee()]
    feats = extract_features(trunk, imgs, batch_size=2)
    assert feats.shape == (2, 2048) and feats.dtype == np.float32
    assert np.all(np.isfinite(feats)) and np.all(feats >= 0)  # mean of post-ReLU maps
    assert np.abs(feats[0] - feats[1]).max() > 1e-3 * np.abs(feats).max()

    # same numbers from a module given the state_dict directly, one image per batch
    reference = InceptionV3Trunk().eval()
    reference.load_state_dict(inception_state)
    with torch.no_grad():
        ref = reference(preprocess(imgs[1])).numpy()
    np.testing.assert_allclose(feats[1], ref[0], rtol=1e-4, atol=1e-5 * np.abs(ref).max())


def test_inception_missing_keys(inception_state, tmp_path: Path) -> None:
    ckpt = {k: v for k, v in inception_state.items() if not k.startswith("Mixed_7c.")}
    torch.save(ckpt, tmp_path / "short.pth")
    with pytest.raises(WeightsError, match=r"short\.pth lacks 45 of 470 .*Mixed_7c\."):
        load_inception(tmp_path / "short.pth")
    with pytest.raises(WeightsError, match="not found"):
        load_inception(tmp_path / "absent.pth")


def test_inception_preprocessing_values() -> None:
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, 10:] = 255  # left half black, right half white
    x = preprocess(img)
    assert x.shape == (1, 3, 299, 299)
    std, mean = np.array([0.229, 0.224, 0.225]), np.array([0.485, 0.456, 0.406])
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), (mean - 0.5) / 0.5, atol=1e-6)  # black pixel
    np.testing.assert_allclose(x[0, :, 0, -1].numpy(), std / 0.5 + (mean - 0.5) / 0.5, atol=1e-6)  # white
    tf = preprocess(img, input_norm="tf")
    assert tf[0, :, 0, 0].eq(-1).all() and tf[0, :, 0, -1].eq(1).all()
    flat = np.full((7, 7, 3), 128, np.uint8)
    np.testing.assert_allclose(preprocess(flat, input_norm="tf").numpy(), 128 / 255 * 2 - 1, atol=1e-6)
    with pytest.raises(ValueError, match="input_norm"):
        preprocess(img, input_norm="imagenet")  # type: ignore[arg-type]


def test_inception_matches_a_functional_reference_of_its_first_blocks(inception_state) -> None:
    """Independent check (not the module against itself): the stem, Mixed_5b-5d (InceptionA) and
    Mixed_6a (InceptionB) written out with F.conv2d/F.batch_norm from the published Inception-v3 layout
    (conv without bias -> BN eps 1e-3 -> ReLU; branch order 1x1, 5x5, 3x3dbl, pool / 3x3, 3x3dbl,
    pool; zero-counting 3x3 average pool) give the trunk's own Mixed_6a output."""
    import torch.nn.functional as F

    sd = {k: v.double() for k, v in inception_state.items() if not k.endswith("num_batches_tracked")}

    def unit(x, name, stride=1, padding=0):
        x = F.conv2d(x, sd[f"{name}.conv.weight"], stride=stride, padding=padding)
        x = F.batch_norm(x, sd[f"{name}.bn.running_mean"], sd[f"{name}.bn.running_var"],
                         sd[f"{name}.bn.weight"], sd[f"{name}.bn.bias"], training=False, eps=1e-3)
        return F.relu(x)

    x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 3, 299, 299)))
    y = unit(x, "Conv2d_1a_3x3", stride=2)
    y = unit(unit(y, "Conv2d_2a_3x3"), "Conv2d_2b_3x3", padding=1)
    y = F.max_pool2d(y, 3, 2)
    y = unit(unit(y, "Conv2d_3b_1x1"), "Conv2d_4a_3x3")
    y = F.max_pool2d(y, 3, 2)
    for m in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
        y = torch.cat([
            unit(y, f"{m}.branch1x1"),
            unit(unit(y, f"{m}.branch5x5_1"), f"{m}.branch5x5_2", padding=2),
            unit(unit(unit(y, f"{m}.branch3x3dbl_1"), f"{m}.branch3x3dbl_2", padding=1),
                 f"{m}.branch3x3dbl_3", padding=1),
            unit(F.avg_pool2d(y, 3, 1, 1), f"{m}.branch_pool"),
        ], 1)
    m = "Mixed_6a"
    y = torch.cat([
        unit(y, f"{m}.branch3x3", stride=2),
        unit(unit(unit(y, f"{m}.branch3x3dbl_1"), f"{m}.branch3x3dbl_2", padding=1), f"{m}.branch3x3dbl_3",
             stride=2),
        F.max_pool2d(y, 3, 2),
    ], 1)
    assert tuple(y.shape) == (1, 768, 17, 17)

    trunk = InceptionV3Trunk().eval()
    trunk.load_state_dict(inception_state)
    seen = {}
    trunk.Mixed_6a.register_forward_hook(lambda mod, inp, out: seen.setdefault("6a", out))
    with torch.no_grad():
        trunk.double()(x)
    torch.testing.assert_close(seen["6a"], y, rtol=1e-9, atol=1e-9)
