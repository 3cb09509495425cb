"""Model factories for tests and offline demos (``colormnet ui --model-factory MODULE:FUNC``)."""

from __future__ import annotations

import torch

from colormnet.config import ModelConfig
from colormnet.model.network import ColorMNet
from colormnet.testing.recipe import recipe_state_dict


def recipe_model() -> ColorMNet:
    """The full-size network with the parity fixtures' deterministic recipe weights (eval mode, CPU)."""
    with torch.device("meta"):
        model = ColorMNet()
    model = model.to_empty(device="cpu")
    model.load_state_dict(recipe_state_dict(model), strict=True)
    return model.eval()


def tiny_model() -> ColorMNet:
    """A small network with the full structure, random weights from seed 0 (eval mode, CPU)."""
    torch.manual_seed(0)
    return ColorMNet(ModelConfig.tiny()).eval()
