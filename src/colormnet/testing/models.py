"""Model factories for tests and examples that must not need the released checkpoint.

Named as ``"colormnet.testing.models:tiny_model"`` where a picklable model source is wanted
(e.g. :class:`colormnet.batch.execute.ModelSource`, built inside Ray actors).
"""

from __future__ import annotations

import torch

from colormnet.config import ModelConfig
from colormnet.model.network import ColorMNet


def tiny_model(device: str | torch.device = "cpu") -> ColorMNet:
    """The small random network of :meth:`ModelConfig.tiny`, seeded (same weights every call)."""
    torch.manual_seed(0)
    return ColorMNet(ModelConfig.tiny()).eval().to(device)
