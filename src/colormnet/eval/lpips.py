"""LPIPS perceptual distance (AlexNet trunk, v0.1 linear heads), loaded from user-supplied files.

Two files are needed; nothing is downloaded:

- the torchvision ImageNet AlexNet checkpoint (e.g. ``alexnet-owt-7be5be79.pth``): the keys
  ``features.{0,3,6,8,10}.{weight,bias}`` are loaded strictly; its ``classifier.*`` keys are ignored;
- the LPIPS v0.1 AlexNet heads (``alex.pth``): keys ``lin{0..4}.model.1.weight``, shapes
  [1,64,1,1], [1,192,1,1], [1,384,1,1], [1,256,1,1], [1,256,1,1].

A single file holding both key sets also works. Inputs are uint8 RGB images mapped to [-1, 1]
(``x / 127.5 - 1``), which is what LPIPS expects. The authors' script fed raw 0..255 values instead;
that mistake is not reproduced, so our numbers are the standard LPIPS.

Forward pass: ``(x - shift) / scale`` with LPIPS's constants; AlexNet features tapped after each of
the 5 ReLUs; each tap unit-normalised over channels (``f / (||f||_2 + 1e-10)``); squared difference
of the two images' taps; 1x1 linear head (no bias) -> one channel; mean over space; sum over taps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from colormnet.errors import WeightsError

__all__ = [
    "LPIPS",
    "AlexNetTrunk",
    "load_lpips",
    "lpips_distance",
    "read_weights_file",
    "to_lpips_input",
]

log = logging.getLogger(__name__)

LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
TAP_CHANNELS = (64, 192, 384, 256, 256)
NORM_EPS = 1e-10


def read_weights_file(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """Load a tensor state_dict from ``path`` (``torch.load``, ``weights_only=True``, on CPU).

    Raises:
        WeightsError: the file is missing, unreadable, or not a mapping of names to tensors.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{what} weights file not found: {p}. Download it and pass its path.")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise WeightsError(f"cannot read {what} weights file {p}: {exc}") from exc
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{what} weights file {p} does not hold a state_dict of tensors")
    return {str(k): v for k, v in obj.items()}


def select_keys(
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Size],
    path: str | Path,
    what: str,
    ignore_prefixes: Iterable[str] = (),
) -> dict[str, torch.Tensor]:
    """Pick the ``expected`` keys from ``state``, checking presence and shapes.

    Keys starting with one of ``ignore_prefixes`` are dropped silently; other extra keys are
    logged at debug level and dropped. Floating-point tensors are returned as float32.

    Raises:
        WeightsError: naming ``path`` and the missing keys or mismatched shapes.
    """
    ignore = tuple(ignore_prefixes)
    missing = [k for k in expected if k not in state]
    if missing:
        shown = ", ".join(missing[:8]) + (f" (+{len(missing) - 8} more)" if len(missing) > 8 else "")
        raise WeightsError(
            f"{what} weights file {path} lacks {len(missing)} of {len(expected)} expected keys: {shown}. "
            "Is it the right file?"
        )
    bad = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(s)})"
        for k, s in expected.items()
        if tuple(state[k].shape) != tuple(s)
    ]
    if bad:
        raise WeightsError(f"{what} weights file {path} has wrong shapes: " + "; ".join(bad[:8]))
    extra = [k for k in state if k not in expected and not k.startswith(ignore)]
    if extra:
        log.debug("%s weights file %s: ignoring %d unused keys, e.g. %s", what, path, len(extra), extra[:4])
    # float32 (no copy when already float32), so half-precision files still run on float32 inputs
    return {k: state[k].float() if state[k].is_floating_point() else state[k] for k in expected}


class AlexNetTrunk(nn.Module):
    """The convolutional part of torchvision's AlexNet; ``state_dict`` keys ``features.N.*``.

    ``features`` indices 0..11: conv 3->64 k11 s4 p2, ReLU, maxpool 3/2, conv 64->192 k5 p2, ReLU,
    maxpool 3/2, conv 192->384 k3 p1, ReLU, conv 384->256 k3 p1, ReLU, conv 256->256 k3 p1, ReLU.
    (torchvision's final maxpool, index 12, is not needed by LPIPS and omitted.)
    """

    RELU_INDICES = (1, 4, 7, 9, 11)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) float -> the 5 post-ReLU feature maps (64, 192, 384, 256, 256 channels)."""
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.RELU_INDICES:
                taps.append(x)
        return taps


class _LinearHead(nn.Module):
    """1x1 conv C -> 1 without bias, stored as ``model.1`` (index 0 is LPIPS's dropout, a no-op here)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LPIPS(nn.Module):
    """LPIPS v0.1 with an AlexNet trunk. ``alexnet.*`` holds the trunk, ``lin0..lin4`` the heads.

    ``forward(x0, x1)`` takes two (B, 3, H, W) float tensors in [-1, 1] and returns (B,) distances.
    """

    def __init__(self) -> None:
        super().__init__()
        self.alexnet = AlexNetTrunk()
        for k, c in enumerate(TAP_CHANNELS):
            self.add_module(f"lin{k}", _LinearHead(c))
        # constants, not in the state_dict; explicit CPU so that building on the meta device keeps them
        shift = torch.tensor(LPIPS_SHIFT, device="cpu").view(1, 3, 1, 1)
        self.register_buffer("shift", shift, persistent=False)
        self.register_buffer(
            "scale", torch.tensor(LPIPS_SCALE, device="cpu").view(1, 3, 1, 1), persistent=False
        )

    def heads(self) -> list[nn.Module]:
        return [getattr(self, f"lin{k}") for k in range(len(TAP_CHANNELS))]

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = self.alexnet((x - self.shift) / self.scale)
        return [t / (torch.sqrt(torch.sum(t * t, dim=1, keepdim=True)) + NORM_EPS) for t in taps]

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        if x0.shape != x1.shape or x0.ndim != 4 or x0.shape[1] != 3:
            raise ValueError(
                f"LPIPS expects two (B, 3, H, W) tensors of equal shape, got {x0.shape}, {x1.shape}"
            )
        total = x0.new_zeros(x0.shape[0])
        for head, t0, t1 in zip(self.heads(), self._taps(x0), self._taps(x1), strict=True):
            total = total + head((t0 - t1) ** 2).mean(dim=(1, 2, 3))
        return total


def _expected_shapes(module: nn.Module, prefix: str = "") -> dict[str, torch.Size]:
    return {prefix + k: v.shape for k, v in module.state_dict().items()}


def load_lpips(
    trunk_path: str | Path,
    heads_path: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> LPIPS:
    """Build :class:`LPIPS` from the torchvision AlexNet checkpoint and the LPIPS v0.1 ``alex.pth``.

    Args:
        trunk_path: file with ``features.{0,3,6,8,10}.{weight,bias}`` (``classifier.*`` ignored).
        heads_path: file with ``lin{0..4}.model.1.weight``; ``None`` = look for them in ``trunk_path``.
        device: where the returned (eval-mode, grad-free) module lives.
    Raises:
        WeightsError: a file is missing/unreadable or lacks keys / has wrong shapes (named in the message).
    """
    with torch.device("meta"):  # no random init; every parameter comes from the files
        model = LPIPS()
    trunk_state = read_weights_file(trunk_path, "AlexNet (LPIPS trunk)")
    trunk = select_keys(
        trunk_state, _expected_shapes(model.alexnet), trunk_path, "AlexNet (LPIPS trunk)", ("classifier.",)
    )
    heads_src = trunk_path if heads_path is None else heads_path
    heads_state = trunk_state if heads_path is None else read_weights_file(heads_path, "LPIPS heads")
    head_shapes = {k: v for k, v in _expected_shapes(model).items() if k.startswith("lin")}
    heads = select_keys(heads_state, head_shapes, heads_src, "LPIPS heads")
    model.load_state_dict(
        {**{f"alexnet.{k}": v for k, v in trunk.items()}, **heads}, strict=True, assign=True
    )
    model.eval().requires_grad_(False)
    return model.to(device)


def to_lpips_input(images: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 RGB (H, W, 3) or (B, H, W, 3) -> float32 (B, 3, H, W) in [-1, 1] (``x / 127.5 - 1``)."""
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or arr.shape[-1] != 3:
        raise ValueError(f"expected uint8 RGB (.., H, W, 3), got {arr.dtype} {arr.shape}")
    t = torch.from_numpy(np.array(arr)).to(device)  # copy: inputs may be read-only
    if t.ndim == 3:
        t = t.unsqueeze(0)
    return t.permute(0, 3, 1, 2).float() / 127.5 - 1.0


@torch.no_grad()
def lpips_distance(model: LPIPS, pred: np.ndarray, gt: np.ndarray) -> float:
    """LPIPS between two uint8 RGB images (H, W, 3) of the same size (0 for identical images)."""
    dev = model.shift.device
    return float(model(to_lpips_input(gt, dev), to_lpips_input(pred, dev))[0])
