"""PCA maps of the key encoder's features (supplement Fig. 1).

For one image, the features on the 1/16 grid are captured with forward hooks (so they are whatever
the network really computes): the ResNet-50 stage (``key_encoder.layer3``), the DINOv2 branch
(``key_encoder.network2``), their concatenation, and the key encoder's output at 1/16 (the fused
PVGFE feature, or a variant's own). Each is reduced to its first three principal components over
the grid positions, shown as RGB (each component stretched between its 1st and 99th percentile)
and upsampled to the image size.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from colormnet.color import lightness_norm, pad_to_multiple
from colormnet.errors import InputError
from colormnet.model.network import ColorMNet


def matplotlib_pyplot():
    """``matplotlib.pyplot`` on the Agg backend; InputError naming the extra when it is missing."""
    try:
        import matplotlib
    except ImportError:
        raise InputError("figures need matplotlib: pip install 'colormnet[analysis]' (or pass --no-figure "
                         "where there is one)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@dataclass
class FeaturePanel:
    """title: what the panel is; rgb: (H, W, 3) float in [0, 1]; channels: feature channels reduced;
    explained: fraction of the variance carried by the 3 components."""

    title: str
    rgb: np.ndarray
    channels: int
    explained: float


def pca_rgb(features: torch.Tensor, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """features (C, h, w) -> (RGB (H, W, 3) in [0, 1] at ``size`` = (H, W), explained variance fraction)."""
    c, h, w = features.shape
    x = features.double().reshape(c, h * w).t()
    x = x - x.mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    k = min(3, vh.shape[0])
    proj = x @ vh[:k].t()  # (hw, k)
    if k < 3:
        proj = torch.cat([proj, proj.new_zeros(h * w, 3 - k)], 1)
    lo = torch.quantile(proj, 0.01, dim=0)
    hi = torch.quantile(proj, 0.99, dim=0)
    proj = ((proj - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    grid = proj.t().reshape(1, 3, h, w).float()
    rgb = F.interpolate(grid, size=size, mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
    total = s.pow(2).sum()
    explained = float(s[:k].pow(2).sum() / total) if total > 0 else 0.0
    return rgb.clamp(0, 1).numpy(), explained


@torch.inference_mode()
def key_feature_maps(model: ColorMNet, rgb: np.ndarray, label: str = "") -> list[FeaturePanel]:
    """PCA panels of one image's key features; ``label`` prefixes the titles (e.g. the variant).

    rgb: uint8 (H, W, 3); the network sees its lightness, padded as in inference. Returns, for the
    parts the network has: ResNet-50 stage 1/16, DINOv2 1/16, their concatenation, key-encoder output.
    """
    device = next(model.parameters()).device
    l_norm = torch.from_numpy(lightness_norm(rgb)).to(device, next(model.parameters()).dtype)
    h, w = l_norm.shape
    image, pad = pad_to_multiple(l_norm.expand(1, 3, h, w), model.cfg.pad_multiple)
    captured: dict[str, torch.Tensor] = {}
    hooks = []
    enc = model.key_encoder
    for name in ("layer3", "network2"):
        module = getattr(enc, name, None)
        if module is not None:
            hooks.append(module.register_forward_hook(
                lambda _m, _i, out, name=name: captured.__setitem__(name, out.detach())))
    try:
        g16 = enc(image)[0]
    finally:
        for hook in hooks:
            hook.remove()

    def crop(t: torch.Tensor) -> torch.Tensor:
        # drop the grid cells that cover only padding: (C, h16, w16) of the unpadded area
        left, right, top, bottom = pad
        scale = image.shape[-1] / t.shape[-1]
        y0, x0 = int(top // scale), int(left // scale)
        y1 = t.shape[-2] - int(bottom // scale)
        x1 = t.shape[-1] - int(right // scale)
        return t[0, :, y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)].float().cpu()

    parts: list[tuple[str, torch.Tensor]] = []
    if "layer3" in captured:
        parts.append(("ResNet-50 stage 3 (1/16)", crop(captured["layer3"])))
    if "network2" in captured:
        parts.append(("DINOv2 (1/16)", crop(captured["network2"])))
    if "layer3" in captured and "network2" in captured:
        parts.append(("concatenation ResNet-50 + DINOv2", torch.cat([parts[0][1], parts[1][1]], 0)))
    kind = {"pvgfe": "PVGFE fused output g16", "resnet": "key encoder output (ResNet-50 only)",
            "dino": "key encoder output (DINOv2 only)", "concat": "key encoder output (concat fusion)"}
    parts.append((kind[model.cfg.key_encoder], crop(g16)))
    panels = []
    for title, feats in parts:
        rgb_map, explained = pca_rgb(feats, (h, w))
        panels.append(FeaturePanel(f"{label}: {title}" if label else title, rgb_map, feats.shape[0], explained))
    return panels


def feature_figure(image_rgb: np.ndarray, panels: list[FeaturePanel], path: str | Path, caption: str) -> Path:
    """Input + panels in one row (up to 5, else 4 per row) with a caption; written atomically as PNG (matplotlib)."""
    from colormnet.io.atomic import commit_file, partial_file_path

    plt = matplotlib_pyplot()
    n = len(panels) + 1
    cols = n if n <= 5 else 4
    rows = (n + cols - 1) // cols
    h, w = image_rgb.shape[:2]
    cell = 3.2
    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols, cell * rows * h / w + 0.9), squeeze=False)
    gray = lightness_norm(image_rgb)
    items = [("input (lightness seen by the network)", (gray + 1) / 2, "gray")] + [
        (f"{p.title}\n{p.channels} ch, PCA-3 = {100 * p.explained:.0f}% var", p.rgb, None) for p in panels]
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, img, cmap) in zip(axes.flat, items, strict=False):
        ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
        ax.set_title(title, fontsize=7)
    fig.text(0.01, 0.01, textwrap.fill(caption, int(cell * cols * 19)), fontsize=6.5, va="bottom", ha="left")
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    out = Path(path)
    tmp = partial_file_path(out)
    try:
        fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return commit_file(tmp, out, overwrite=True)
