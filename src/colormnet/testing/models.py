"""Model factories for tests and offline demos (``colormnet ui --model-factory MODULE:FUNC``)."""

from __future__ import annotations

from colormnet.model.network import ColorMNet
from colormnet.models import build_model


def recipe_model() -> ColorMNet:
    """The full-size network with the parity fixtures' deterministic recipe weights (eval mode, CPU)."""
    return build_model("recipe")


def tiny_model() -> ColorMNet:
    """A small network with the full structure, random weights from seed 0 (eval mode, CPU)."""
    return build_model("tiny", seed=0)
