"""Inception-v3 trunk for FID features, loading torchvision's ``inception_v3_google-*.pth``.

Module and parameter names follow torchvision's ``inception_v3`` (``Conv2d_1a_3x3`` ... ``Mixed_7c``,
each conv unit ``<name>.conv.weight`` + ``<name>.bn.{weight,bias,running_mean,running_var}``), so
that checkpoint loads strictly on the trunk keys. Its ``fc.*`` (classifier) and ``AuxLogits.*``
(auxiliary head) keys are ignored: FID only needs the 2048-d global-average-pooled features.

Pre-processing (:func:`preprocess`): uint8 RGB -> float in [0, 1] -> bilinear resize to 299x299
(``align_corners=False``, no antialiasing) -> per-channel affine map chosen by ``input_norm``:

- ``"colormnet"`` (default): ``x * (std_c / 0.5) + (mean_c - 0.5) / 0.5`` with the ImageNet
  ``mean = (0.485, 0.456, 0.406)``, ``std = (0.229, 0.224, 0.225)``. This is torchvision's
  ``transform_input`` formula for the google weights, applied - as the authors' FID script does -
  directly to [0, 1] pixels. It reproduces the published ColorMNet FID pipeline.
- ``"tf"``: ``2 x - 1``. The google weights were trained on [-1, 1] inputs; torchvision's
  ``transform_input`` yields exactly this when it is given ImageNet-normalised ``(x - mean) / std``
  input. Use it for FID values comparable with other Inception-v3 FID implementations (but the trunk
  still uses torchvision's layers, not pytorch-fid's TF-specific ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from colormnet.eval.lpips import read_weights_file, select_keys

__all__ = ["InceptionV3Trunk", "extract_features", "load_inception", "preprocess"]

InputNorm = Literal["colormnet", "tf"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 299
FEATURE_DIM = 2048


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 0.001) -> ReLU; parameters ``conv.weight``, ``bn.*``."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    """3x3 average pool, stride 1, padding 1, zeros counted in the average (torchvision's choice)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionA(nn.Module):
    """35x35 block: 1x1 (64) | 1x1 48 -> 5x5 64 | 1x1 64 -> 3x3 96 -> 3x3 96 | avgpool -> 1x1 (pool)."""

    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_avg3(x))
        return torch.cat([a, b, c, d], dim=1)


class InceptionB(nn.Module):
    """35 -> 17 reduction: 3x3/2 (384) | 1x1 64 -> 3x3 96 -> 3x3/2 96 | maxpool 3/2 (input channels)."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], dim=1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convs (c7 inner channels); 4 x 192 = 768 output channels."""

    def __init__(self, cin: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            c = layer(c)
        d = self.branch_pool(_avg3(x))
        return torch.cat([a, b, c, d], dim=1)


class InceptionD(nn.Module):
    """17 -> 8 reduction: 1x1 192 -> 3x3/2 320 | 1x1 192 -> 1x7 -> 7x1 -> 3x3/2 192 | maxpool 3/2."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b = layer(b)
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], dim=1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3 / 3x1 outputs: 320 + 768 + 768 + 192 = 2048 output channels."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b0 = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b0), self.branch3x3_2b(b0)], dim=1)
        c0 = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c0), self.branch3x3dbl_3b(c0)], dim=1)
        d = self.branch_pool(_avg3(x))
        return torch.cat([a, b, c, d], dim=1)


class InceptionV3Trunk(nn.Module):
    """Inception-v3 up to the global average pool (no aux head, no classifier).

    ``forward``: (B, 3, 299, 299) float, already normalised (see :func:`preprocess`) -> (B, 2048).
    Spatial sizes for 299 input: 149, 147, 147, pool 73, 73, 71, pool 35, Mixed_5x 35,
    Mixed_6x 17, Mixed_7x 8, then the mean over the 8x8 grid.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = block(x)
        return x.mean(dim=(2, 3))


def load_inception(path: str | Path, device: str | torch.device = "cpu") -> InceptionV3Trunk:
    """Build :class:`InceptionV3Trunk` from torchvision's ``inception_v3_google-*.pth``.

    All trunk keys must be present with the right shapes (``bn.num_batches_tracked`` may be absent,
    as in older checkpoints); ``fc.*`` and ``AuxLogits.*`` are ignored.

    Raises:
        WeightsError: the file is missing/unreadable or lacks trunk keys (named in the message).
    """
    with torch.device("meta"):  # no random init; every tensor comes from the file
        trunk = InceptionV3Trunk()
    own = trunk.state_dict()
    expected = {k: v.shape for k, v in own.items() if not k.endswith("num_batches_tracked")}
    state = read_weights_file(path, "Inception-v3")
    selected = select_keys(state, expected, path, "Inception-v3", ("fc.", "AuxLogits."))
    for k in own:
        if k.endswith("num_batches_tracked"):
            selected[k] = state.get(k, torch.tensor(0, dtype=torch.long))
    trunk.load_state_dict(selected, strict=True, assign=True)
    trunk.eval().requires_grad_(False)
    return trunk.to(device)


def preprocess(
    images: np.ndarray | Sequence[np.ndarray],
    input_norm: InputNorm = "colormnet",
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """uint8 RGB image(s) -> (B, 3, 299, 299) float32 trunk input (see the module docstring).

    Args:
        images: one (H, W, 3) uint8 array, a (B, H, W, 3) array, or a sequence of (H_i, W_i, 3) arrays.
        input_norm: ``"colormnet"`` (authors' FID pipeline, default) or ``"tf"`` (``2x - 1``).
    """
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    out = []
    for img in images:
        arr = np.asarray(img)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"expected uint8 RGB (H, W, 3), got {arr.dtype} {arr.shape}")
        t = torch.from_numpy(np.array(arr)).to(device).permute(2, 0, 1)[None].float() / 255.0
        out.append(F.interpolate(t, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False))
    x = torch.cat(out)
    if input_norm == "colormnet":
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        return x * (std / 0.5) + (mean - 0.5) / 0.5
    if input_norm == "tf":
        return x * 2.0 - 1.0
    raise ValueError(f"unknown input_norm {input_norm!r} (use 'colormnet' or 'tf')")


@torch.no_grad()
def extract_features(
    trunk: InceptionV3Trunk,
    images: Sequence[np.ndarray],
    input_norm: InputNorm = "colormnet",
    batch_size: int = 16,
) -> np.ndarray:
    """2048-d pool features of uint8 RGB images, computed ``batch_size`` at a time.

    Returns:
        (N, 2048) float32 array, row i for ``images[i]``.
    """
    device = next(trunk.parameters()).device
    feats = [np.zeros((0, FEATURE_DIM), dtype=np.float32)]
    for start in range(0, len(images), batch_size):
        x = preprocess(images[start : start + batch_size], input_norm, device)
        feats.append(trunk(x).float().cpu().numpy())
    return np.concatenate(feats)
